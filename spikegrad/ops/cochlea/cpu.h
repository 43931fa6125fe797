/* Native CPU kernel of the cochlea front end's hair cells and bushy cells
   (spikegrad/audio/cochlea.py). Untyped: included once by the native build
   (spikegrad/native/build.py, -ffp-contract=off) after core.h; the exported function is
   declared for ctypes in glue.py beside this file.

   One call runs, for every channel of a basilar-membrane velocity array, the Meddis (1986)
   transmitter-pool inner hair cell (forward Euler, pools clipped at 0), draws the spike
   count of n_fib independent auditory nerve fibres per sample (binomial, inverse CDF from one
   counter-based uniform), and feeds it into one current-based LIF bushy cell with a
   refractory period. Output: a dense channel x sample spike mask. Only + - * / and
   comparisons: the NumPy twin (twin.py, hair_bushy_numpy) gives the same bits. */

/* splitmix64's finaliser (twin.py: _mix) */
static inline uint64_t sg_cochlea_mix(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ratio[n] = (n_fib - n) / (n + 1): the binomial's term ratio without a division per draw.
   p: hair cell (11): A B g y l r x M h dt rest (1: start at rest, 0: empty pools); b: bushy (5): decay_syn decay_mem w thr refrac */
void sg_cochlea_hair_bushy(const float *bm, int64_t n_ch, int64_t n_t, const double *p,
                           const double *b, const double *ratio, int64_t n_fib, uint64_t seed,
                           uint8_t *out) {
    const double A = p[0], B = p[1], g = p[2], y = p[3], l = p[4], r = p[5], x = p[6];
    const double M = p[7], h = p[8], dt = p[9];
    const double ds = b[0], dm = b[1], w = b[2], thr = b[3];
    const int64_t refrac = (int64_t)b[4];
    const double k0 = g * A / (A + B);
    const double c0 = M * y * k0 / (y * (l + r) + k0 * l);
    const double q0 = c0 * (l + r) / k0, w0 = c0 * r / x, at_rest = p[10];
    for (int64_t ch = 0; ch < n_ch; ch++) {
        const float *s = bm + ch * n_t;
        uint8_t *o = out + ch * n_t;
        double q = at_rest * q0, c = at_rest * c0, wr = at_rest * w0, I = 0.0, V = 0.0;
        int64_t hold = 0;
        const uint64_t key = sg_cochlea_mix(seed ^ sg_cochlea_mix((uint64_t)ch));
        for (int64_t t = 0; t < n_t; t++) {
            const double st = (double)s[t] + A;
            const double k = st > 0.0 ? g * st / (st + B) : 0.0;
            const double dq = y * (M - q) + x * wr - k * q;
            const double dc = k * q - l * c - r * c;
            const double dw = r * c - x * wr;
            q += dt * dq;
            c += dt * dc;
            wr += dt * dw;
            q = q > 0.0 ? q : 0.0; /* Euler overshoots at coarse steps: pools stay >= 0 */
            c = c > 0.0 ? c : 0.0;
            wr = wr > 0.0 ? wr : 0.0;
            double pr = h * c * dt;
            pr = pr < 0.0 ? 0.0 : (pr > 1.0 ? 1.0 : pr);
            /* binomial(n_fib, pr) by inverse CDF; (1 - pr)^n_fib by repeated products */
            const double u = (double)(sg_cochlea_mix(key + (uint64_t)t) >> 11) * 0x1.0p-53;
            double qq = 1.0 - pr, pk = 1.0;
            for (int64_t e = n_fib; e; e >>= 1) {
                if (e & 1) pk *= qq;
                qq *= qq;
            }
            double cdf = pk;
            int64_t n = 0;
            if (u >= cdf && pr < 1.0) {
                const double odds = pr / (1.0 - pr);
                while (u >= cdf && n < n_fib) {
                    pk = pk * ratio[n] * odds;
                    n++;
                    cdf += pk;
                }
            }
            if (pr >= 1.0) n = n_fib;
            I = I * ds + w * (double)n;
            if (hold > 0) {
                hold--;
                V = 0.0;
                o[t] = 0;
                continue;
            }
            V = V * dm + (1.0 - dm) * I;
            if (V >= thr) {
                o[t] = 1;
                V = 0.0;
                hold = refrac;
            } else {
                o[t] = 0;
            }
        }
    }
}
