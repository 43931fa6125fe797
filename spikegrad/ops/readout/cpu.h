/* Native CPU kernels of the leaky scans (the readout filter and the eps filter).
 * Included by the native build (spikegrad/native/build.py) once per float type: SG_T is the
 * float type, SG_FN(name) its instance's name (name_f32, name_f64), SG_TINY its smallest normal
 * number, SG_V its 64-byte vector, SG_SQRT its square root. Exported functions are declared for
 * ctypes in glue.py beside this file. */

/* Reverse leaky scan in place (ops/readout/twin.py: leaky_scan_reverse): e[t] += alpha e[t+1] for
 * t = nt-2 .. 0, over e (nt, m); alpha (n_alpha,) broadcast along the last axis as in
 * lif_forward. Denormal policy (the twin's docstring; the same in CUDA): after each step, a
 * value of magnitude below the smallest normal number is set to +0. */
void SG_FN(leaky_scan_reverse)(SG_T *e, int64_t nt, int64_t m, const SG_T *alpha,
                               int64_t n_alpha) {
    int64_t n_tiles = (m + SG_TILE - 1) / SG_TILE;
#pragma omp parallel for schedule(static)
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
        int64_t c0 = tile * SG_TILE, w = m - c0 < SG_TILE ? m - c0 : SG_TILE;
        SG_T a[SG_TILE];
        SG_FN(sg_alpha_fill)(a, alpha, n_alpha, c0, w);
        for (int64_t t = nt - 2; t >= 0; --t) {
            SG_T *et = e + t * m + c0;
            const SG_T *en = et + m;
            for (int64_t c = 0; c < w; ++c) {
                SG_T v = et[c] + en[c] * a[c];
                et[c] = (v < SG_TINY && v > -SG_TINY) ? (SG_T)0 : v;
            }
        }
    }
}

/* Leaky scan (ops/readout/twin.py: leaky_scan): y[0] = 0, y[t+1] = alpha y[t] + gain x[t], over x and
 * y (nt, m), in the twin's order of operations (two products, then their sum). */
void SG_FN(leaky_scan)(const SG_T *x, SG_T *y, int64_t nt, int64_t m, SG_T alpha, SG_T gain) {
    int64_t n_tiles = (m + SG_TILE - 1) / SG_TILE;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
        int64_t c0 = tile * SG_TILE, w = m - c0 < SG_TILE ? m - c0 : SG_TILE;
        if (nt > 0)
            for (int64_t c = 0; c < w; ++c) y[c0 + c] = 0;
        for (int64_t t = 0; t + 1 < nt; ++t) {
            const SG_T *restrict xt = x + t * m + c0, *restrict yt = y + t * m + c0;
            SG_T *restrict yn = y + (t + 1) * m + c0;
            for (int64_t c = 0; c < w; ++c) {
                SG_T a = yt[c] * alpha, b = gain * xt[c];
                yn[c] = a + b;
            }
        }
    }
}


/* The maximum over t of u (nt, m) and the first t that holds it (ops/readout/twin.py:
 * time_max): arg[c] the first t where u[t, c] is the maximum or NaN, mx[c] = u[arg[c], c];
 * nt >= 1. A step takes over when it is greater, or NaN while the maximum so far is not. */
void SG_FN(time_max)(const SG_T *u, int64_t nt, int64_t m, SG_T *mx, int64_t *arg) {
    for (int64_t c = 0; c < m; ++c) {
        mx[c] = u[c];
        arg[c] = 0;
    }
    for (int64_t t = 1; t < nt; ++t) {
        const SG_T *ut = u + t * m;
        for (int64_t c = 0; c < m; ++c) {
            SG_T v = ut[c], b = mx[c];
            int take = (v > b) | ((v != v) & (b == b));
            mx[c] = take ? v : b;
            arg[c] = take ? t : arg[c];
        }
    }
}
