/* Bodies of the native CPU kernels, included by cpu_ops.c once per float type.
 * SG_T: the float type; SG_SUF: the name suffix; SG_TINY: its smallest normal number. */
#define SG_CAT2(a, b) a##b
#define SG_CAT(a, b) SG_CAT2(a, b)
#define SG_FN(name) SG_CAT(name, SG_SUF)

/* LIF forward scan (ops/lif.py: lif_forward and lif_forward_sparse). h (nt, m) holds the
 * input current; s (nt, m) bytes receives the spikes S[t] = V[t] > theta, with V[0] = 0 and
 * V[t+1] = alpha V[t] + h[t] - theta S[t].
 * act == NULL (lif_forward): h is overwritten with V.
 * act != NULL (the sparse mode's fused forward): act receives the active mask
 * |V - theta| < b_th as bytes and h, sigma'(V) = 1 / (beta_s |V - theta| + 1)^2 where active
 * (0 elsewhere); V itself is not stored. */
void SG_FN(lif_forward)(SG_T *h, uint8_t *s, uint8_t *act, int64_t nt, int64_t m, SG_T alpha,
                        SG_T theta, SG_T beta_s, SG_T b_th) {
    int64_t n_tiles = (m + SG_TILE - 1) / SG_TILE;
#pragma omp parallel for schedule(static)
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
        int64_t c0 = tile * SG_TILE, w = m - c0 < SG_TILE ? m - c0 : SG_TILE;
        SG_T v[SG_TILE];
        for (int64_t c = 0; c < w; ++c) v[c] = 0;
        for (int64_t t = 0; t < nt; ++t) {
            SG_T *ht = h + t * m + c0;
            uint8_t *st = s + t * m + c0;
            for (int64_t c = 0; c < w; ++c) {
                uint8_t spike = v[c] > theta;
                SG_T nv = v[c] * alpha;
                nv += ht[c];
                if (spike) nv -= theta;
                st[c] = spike;
                if (act == NULL) {
                    ht[c] = v[c];
                } else {
                    SG_T d = v[c] - theta;
                    d = d < 0 ? -d : d;
                    SG_T q = beta_s * d;
                    q += 1;
                    act[t * m + c0 + c] = d < b_th;
                    ht[c] = d < b_th ? (SG_T)1 / (q * q) : (SG_T)0;
                }
                v[c] = nv;
            }
        }
    }
}

/* Reverse leaky scan in place (ops/lif.py: leaky_scan_reverse): e[t] += alpha e[t+1] for
 * t = nt-2 .. 0, over e (nt, m). Denormal policy (the twin's docstring; the same in CUDA):
 * after each step, a value of magnitude below the smallest normal number is set to +0. */
void SG_FN(leaky_scan_reverse)(SG_T *e, int64_t nt, int64_t m, SG_T alpha) {
    int64_t n_tiles = (m + SG_TILE - 1) / SG_TILE;
#pragma omp parallel for schedule(static)
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
        int64_t c0 = tile * SG_TILE, w = m - c0 < SG_TILE ? m - c0 : SG_TILE;
        for (int64_t t = nt - 2; t >= 0; --t) {
            SG_T *et = e + t * m + c0;
            const SG_T *en = et + m;
            for (int64_t c = 0; c < w; ++c) {
                SG_T v = et[c] + en[c] * alpha;
                et[c] = (v < SG_TINY && v > -SG_TINY) ? (SG_T)0 : v;
            }
        }
    }
}

/* Sampled row dot products (ops/lif.py: gather_rowdot): out[n] = e[rows[n]] . w[cols[n]],
 * e (R, m), w (C, m). */
void SG_FN(gather_rowdot)(const SG_T *e, int64_t m, const int64_t *rows, const SG_T *w,
                          const int32_t *cols, int64_t n, SG_T *out) {
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < n; ++k) {
        const SG_T *restrict a = e + rows[k] * m, *restrict b = w + (int64_t)cols[k] * m;
        SG_T acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < m; ++j) acc += a[j] * b[j];
        out[k] = acc;
    }
}

/* Spike-event product (ops/spmm.py: spike_matmul): out[r] = sum of w[i] over the units i of
 * row r of the 0/1 CSR pattern (indptr, indices); out (R, m), w (C, m). */
void SG_FN(spike_matmul)(const int64_t *indptr, const int32_t *indices, int64_t n_rows,
                         const SG_T *w, int64_t m, SG_T *out) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n_rows; ++r) {
        SG_T *restrict o = out + r * m;
        for (int64_t j = 0; j < m; ++j) o[j] = 0;
        for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) {
            const SG_T *restrict wi = w + (int64_t)indices[k] * m;
            for (int64_t j = 0; j < m; ++j) o[j] += wi[j];
        }
    }
}

/* Transposed spike-event product (ops/spmm.py: spike_tmatmul): out[i] = sum of e[r] over the
 * rows r whose pattern holds unit i; out (n_cols, m), e (R, m). Each thread owns a slice of
 * the m columns, accumulates it in a private buffer (no cache line shared between threads)
 * walking every row in order, and copies it out: the same sums on any thread count.
 * Returns 0, or -1 when a buffer cannot be allocated. */
int SG_FN(spike_tmatmul)(const int64_t *indptr, const int32_t *indices, int64_t n_rows,
                         const SG_T *e, int64_t m, int64_t n_cols, SG_T *out) {
    int64_t per = (m + sg_threads() - 1) / sg_threads();
    per = (per + 15) / 16 * 16; /* whole cache lines per thread */
    int64_t n_slices = (m + per - 1) / per;
    int failed = 0;
#pragma omp parallel for schedule(static) reduction(| : failed)
    for (int64_t q = 0; q < n_slices; ++q) {
        int64_t j0 = q * per, w = j0 + per < m ? per : m - j0;
        SG_T *acc = (SG_T *)calloc((size_t)(n_cols * w), sizeof(SG_T));
        if (acc == NULL) {
            failed = 1;
            continue;
        }
        for (int64_t r = 0; r < n_rows; ++r) {
            const SG_T *restrict er = e + r * m + j0;
            for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) {
                SG_T *restrict a = acc + (int64_t)indices[k] * w;
                for (int64_t j = 0; j < w; ++j) a[j] += er[j];
            }
        }
        for (int64_t i = 0; i < n_cols; ++i)
            memcpy(out + i * m + j0, acc + i * w, (size_t)w * sizeof(SG_T));
        free(acc);
    }
    return failed ? -1 : 0;
}

#undef SG_FN
#undef SG_CAT
#undef SG_CAT2
