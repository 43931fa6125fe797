/* Native CPU kernel of the cochlea front end's hair cells and bushy cells
   (spikegrad/audio/cochlea.py). Untyped: included once by the native build
   (spikegrad/native/build.py, -ffp-contract=off) after core.h; the exported function is
   declared for ctypes in glue.py beside this file.

   One call runs, for every channel of a basilar-membrane velocity array, the Meddis (1986)
   transmitter-pool inner hair cell (forward Euler, pools clipped at 0), draws the spike
   count of n_fib independent auditory nerve fibres per sample (binomial, inverse CDF from one
   counter-based uniform), and feeds it into one current-based LIF bushy cell with a
   refractory period. Output: a dense channel x sample spike mask. Only + - * / and
   comparisons: the NumPy twin (twin.py, hair_bushy_numpy) gives the same bits.

   SG_COCHLEA_LANES channels run at once as the lanes of vectors (GCC/Clang vector
   extensions): time outer, lanes inner, every branch of the scalar model a blend, so each
   lane does the scalar model's IEEE operations in its order (no FMA contraction in the
   build) and the bits do not depend on the lane count. The binomial tail runs while any
   lane still needs a term: in its j-th term every lane still drawing has count j. Channels
   are read and written through small transposed tiles of SG_COCHLEA_TILE steps, each in two
   passes: the hair cells, release probabilities, uniforms and (1 - pr)^n_fib of the tile
   (no branch), then the binomial tails and the bushy cells. The last block's spare lanes run
   on zero input and are not written. */

#ifndef SG_COCHLEA_LANES
#define SG_COCHLEA_LANES 8
#endif
#define SG_COCHLEA_TILE 128
#ifndef SG_COCHLEA_HEAD
#define SG_COCHLEA_HEAD 2
#endif

typedef double sg_cochlea_vd __attribute__((vector_size(8 * SG_COCHLEA_LANES)));
typedef int64_t sg_cochlea_vi __attribute__((vector_size(8 * SG_COCHLEA_LANES)));
typedef uint64_t sg_cochlea_vu __attribute__((vector_size(8 * SG_COCHLEA_LANES)));
typedef int8_t sg_cochlea_vb __attribute__((vector_size(SG_COCHLEA_LANES)));

/* splitmix64's finaliser (twin.py: _mix), on one value and on every lane */
static inline uint64_t sg_cochlea_mix(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline sg_cochlea_vu sg_cochlea_mix_v(sg_cochlea_vu z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Lane-wise conversions (exact for the values here): the compiler's builtin where it has
   one, else a loop (the same values). */
#if !defined(SG_COCHLEA_NO_CONVERT) && defined(__has_builtin)
#if __has_builtin(__builtin_convertvector)
#define SG_COCHLEA_CONVERT(v, type) __builtin_convertvector(v, type)
#endif
#endif
#ifndef SG_COCHLEA_CONVERT
#define SG_COCHLEA_CONVERT(v, type) sg_cochlea_convert_##type(v)
static inline sg_cochlea_vd sg_cochlea_convert_sg_cochlea_vd(sg_cochlea_vi v) {
    sg_cochlea_vd out;
    for (int l = 0; l < SG_COCHLEA_LANES; l++) out[l] = (double)v[l];
    return out;
}
static inline sg_cochlea_vb sg_cochlea_convert_sg_cochlea_vb(sg_cochlea_vi v) {
    sg_cochlea_vb out;
    for (int l = 0; l < SG_COCHLEA_LANES; l++) out[l] = (int8_t)v[l];
    return out;
}
#endif

/* m ? a : b per lane (m: all ones or all zeros) */
static inline sg_cochlea_vd sg_cochlea_sel(sg_cochlea_vi m, sg_cochlea_vd a, sg_cochlea_vd b) {
    return (sg_cochlea_vd)(((sg_cochlea_vi)a & m) | ((sg_cochlea_vi)b & ~m));
}

static inline sg_cochlea_vd sg_cochlea_splat(double v) {
    sg_cochlea_vd out;
    for (int l = 0; l < SG_COCHLEA_LANES; l++) out[l] = v;
    return out;
}

static inline int sg_cochlea_any(sg_cochlea_vi m) {
    int64_t a = 0;
    for (int l = 0; l < SG_COCHLEA_LANES; l++) a |= m[l];
    return a != 0;
}

/* ratio[n] = (n_fib - n) / (n + 1): the binomial's term ratio without a division per draw.
   p: hair cell (11): A B g y l r x M h dt rest (1: start at rest, 0: empty pools);
   b: bushy (5): decay_syn decay_mem w thr refrac */
void sg_cochlea_hair_bushy(const float *bm, int64_t n_ch, int64_t n_t, const double *p,
                           const double *b, const double *ratio, int64_t n_fib, uint64_t seed,
                           uint8_t *out) {
    const double A = p[0], B = p[1], g = p[2], y = p[3], l = p[4], r = p[5], x = p[6];
    const double M = p[7], h = p[8], dt = p[9];
    const double ds = b[0], dm = b[1], w = b[2], thr = b[3], dm1 = 1.0 - dm;
    const int64_t refrac = (int64_t)b[4];
    const double k0 = g * A / (A + B);
    const double c0 = M * y * k0 / (y * (l + r) + k0 * l);
    const double q0 = c0 * (l + r) / k0, w0 = c0 * r / x, at_rest = p[10];
    const sg_cochlea_vd zero = sg_cochlea_splat(0.0), one = sg_cochlea_splat(1.0);
    const sg_cochlea_vi none = {0};
    sg_cochlea_vd tile[SG_COCHLEA_TILE];
    sg_cochlea_vb spikes[SG_COCHLEA_TILE];
    sg_cochlea_vd prob[SG_COCHLEA_TILE], p0[SG_COCHLEA_TILE], unif[SG_COCHLEA_TILE];
    for (int64_t ch0 = 0; ch0 < n_ch; ch0 += SG_COCHLEA_LANES) {
        const int64_t lanes = n_ch - ch0 < SG_COCHLEA_LANES ? n_ch - ch0 : SG_COCHLEA_LANES;
        sg_cochlea_vd q = sg_cochlea_splat(at_rest * q0), c = sg_cochlea_splat(at_rest * c0);
        sg_cochlea_vd wr = sg_cochlea_splat(at_rest * w0), I = zero, V = zero;
        sg_cochlea_vi hold = none;
        sg_cochlea_vu key;
        for (int i = 0; i < SG_COCHLEA_LANES; i++)
            key[i] = sg_cochlea_mix(seed ^ sg_cochlea_mix((uint64_t)(ch0 + i)));
        for (int64_t t0 = 0; t0 < n_t; t0 += SG_COCHLEA_TILE) {
            const int64_t steps = n_t - t0 < SG_COCHLEA_TILE ? n_t - t0 : SG_COCHLEA_TILE;
            for (int i = 0; i < SG_COCHLEA_LANES; i++) {
                const float *s = bm + (ch0 + i) * n_t + t0;
                if (i < lanes)
                    for (int64_t t = 0; t < steps; t++) tile[t][i] = (double)s[t];
                else
                    for (int64_t t = 0; t < steps; t++) tile[t][i] = 0.0;
            }
            for (int64_t t = 0; t < steps; t++) {
                const sg_cochlea_vd st = tile[t] + A;
                const sg_cochlea_vi open = (sg_cochlea_vi)(st > 0.0);
                const sg_cochlea_vd k = sg_cochlea_sel(open, g * st / (st + B), zero);
                const sg_cochlea_vd dq = y * (M - q) + x * wr - k * q;
                const sg_cochlea_vd dc = k * q - l * c - r * c;
                const sg_cochlea_vd dw = r * c - x * wr;
                q += dt * dq;
                c += dt * dc;
                wr += dt * dw;
                q = sg_cochlea_sel((sg_cochlea_vi)(q > 0.0), q, zero); /* pools stay >= 0 */
                c = sg_cochlea_sel((sg_cochlea_vi)(c > 0.0), c, zero);
                wr = sg_cochlea_sel((sg_cochlea_vi)(wr > 0.0), wr, zero);
                sg_cochlea_vd pr = h * c * dt;
                pr = sg_cochlea_sel((sg_cochlea_vi)(pr < 0.0), zero,
                                    sg_cochlea_sel((sg_cochlea_vi)(pr > 1.0), one, pr));
                /* the fibres' uniform; (1 - pr)^n_fib by repeated products */
                const sg_cochlea_vi bits =
                    (sg_cochlea_vi)(sg_cochlea_mix_v(key + (uint64_t)(t0 + t)) >> 11);
                const sg_cochlea_vd u = SG_COCHLEA_CONVERT(bits, sg_cochlea_vd) * 0x1.0p-53;
                sg_cochlea_vd qq = one - pr, pk = one;
                for (int64_t e = n_fib; e; e >>= 1) {
                    if (e & 1) pk *= qq;
                    qq *= qq;
                }
                prob[t] = pr;
                p0[t] = pk;
                unif[t] = u;
            }
            for (int64_t t = 0; t < steps; t++) {
                /* binomial(n_fib, pr) by inverse CDF from P(0) = (1 - pr)^n_fib */
                const sg_cochlea_vd pr = prob[t], u = unif[t];
                sg_cochlea_vd pk = p0[t], cdf = pk;
                sg_cochlea_vi n = none;
                sg_cochlea_vi go = (sg_cochlea_vi)(u >= cdf) & (sg_cochlea_vi)(pr < 1.0);
                const sg_cochlea_vd odds = pr / (one - pr);
                /* the first terms without a branch (rarely any lane needs more); in term j
                   every lane in go has n == j */
                for (int64_t j = 0; j < n_fib; j++) {
                    if (j >= SG_COCHLEA_HEAD && !sg_cochlea_any(go)) break;
                    pk = sg_cochlea_sel(go, pk * ratio[j] * odds, pk);
                    cdf = sg_cochlea_sel(go, cdf + pk, cdf);
                    n -= go;
                    go &= (sg_cochlea_vi)(u >= cdf);
                }
                const sg_cochlea_vi full = (sg_cochlea_vi)(pr >= 1.0);
                n = (full & n_fib) | (~full & n);
                I = I * ds + w * SG_COCHLEA_CONVERT(n, sg_cochlea_vd);
                const sg_cochlea_vi busy = (sg_cochlea_vi)(hold > 0);
                const sg_cochlea_vd Vn = V * dm + dm1 * I;
                const sg_cochlea_vi fire = ~busy & (sg_cochlea_vi)(Vn >= thr);
                V = sg_cochlea_sel(busy | fire, zero, Vn);
                hold = (busy & (hold - 1)) | (fire & refrac);
                spikes[t] = SG_COCHLEA_CONVERT(fire & 1, sg_cochlea_vb);
            }
            for (int64_t i = 0; i < lanes; i++) {
                uint8_t *o = out + (ch0 + i) * n_t + t0;
                for (int64_t t = 0; t < steps; t++) o[t] = (uint8_t)spikes[t][i];
            }
        }
    }
}
