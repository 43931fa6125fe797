/* Native CPU kernels of the LIF family, the part that is the same for every neuron kind: the
 * row helpers of the fused kernels and the sampled row dot products (the drivers that take a
 * kind's pieces are in cpu_kind.h).
 * Included by the native build (spikegrad/native/build.py) once per float type: SG_T is the
 * float type, SG_FN(name) its instance's name (name_f32, name_f64), SG_TINY its smallest normal
 * number, SG_V its 64-byte vector, SG_SQRT its square root. Exported functions are declared for
 * ctypes in glue.py beside this file. */

/* Row helpers of the fused kernels, small enough for the compiler to vectorise. */
/* h = the sum of the rows w[idx[k]] (k = 0 .. nk-1), then of the rows r[ridx[k]] (k = 0 ..
 * nr-1), each column summed from 0 in that order (the order of spike_matmul followed by the
 * recurrent rows of rlif_forward_sparse_spikes, so the same bits), four vectors of columns at
 * a time in registers so that only the rows are read (GCC vector extensions: lane-wise IEEE
 * arithmetic). nr = 0 (r unused): the feed-forward current. */
static void SG_FN(sg_sum_rows)(SG_T *restrict h, const SG_T *restrict w, const int32_t *idx,
                               int64_t nk, const SG_T *restrict r, const int32_t *ridx,
                               int64_t nr, int64_t n) {
    const int64_t L = (int64_t)(sizeof(SG_V) / sizeof(SG_T));
    int64_t j = 0;
    for (; j + 4 * L <= n; j += 4 * L) {
        SG_V a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int64_t k = 0; k < nk + nr; ++k) {
            const SG_T *row = k < nk ? w + (int64_t)idx[k] * n : r + (int64_t)ridx[k - nk] * n;
            const SG_V *p = (const SG_V *)(row + j);
            a0 += p[0];
            a1 += p[1];
            a2 += p[2];
            a3 += p[3];
        }
        SG_V *o = (SG_V *)(h + j);
        o[0] = a0;
        o[1] = a1;
        o[2] = a2;
        o[3] = a3;
    }
    for (; j + L <= n; j += L) {
        SG_V a0 = {0};
        for (int64_t k = 0; k < nk + nr; ++k) {
            const SG_T *row = k < nk ? w + (int64_t)idx[k] * n : r + (int64_t)ridx[k - nk] * n;
            a0 += *(const SG_V *)(row + j);
        }
        *(SG_V *)(h + j) = a0;
    }
    for (int64_t q = j; q < n; ++q) {
        SG_T a = 0;
        for (int64_t k = 0; k < nk; ++k) a += w[(int64_t)idx[k] * n + q];
        for (int64_t k = 0; k < nr; ++k) a += r[(int64_t)ridx[k] * n + q];
        h[q] = a;
    }
}

/* a . b over n entries, in a fixed order whatever the alignment: two vector accumulators
 * (lane-wise sums, unaligned loads), their lanes summed, then the tail. */
static inline SG_T SG_FN(sg_dot)(const SG_T *restrict a, const SG_T *restrict b, int64_t n) {
    const int64_t L = (int64_t)(sizeof(SG_V) / sizeof(SG_T));
    SG_V s0 = {0}, s1 = {0};
    int64_t j = 0;
    for (; j + 2 * L <= n; j += 2 * L) {
        s0 += *(const SG_V *)(a + j) * *(const SG_V *)(b + j);
        s1 += *(const SG_V *)(a + j + L) * *(const SG_V *)(b + j + L);
    }
    if (j + L <= n) {
        s0 += *(const SG_V *)(a + j) * *(const SG_V *)(b + j);
        j += L;
    }
    s0 += s1;
    SG_T s = 0;
    for (int64_t l = 0; l < L; ++l) s += s0[l];
    for (; j < n; ++j) s += a[j] * b[j];
    return s;
}

/* dst[k] += part[c * stride + k] for k < size, the parts c = 0 .. n_parts-1 added in order. */
static void SG_FN(sg_add_parts)(SG_T *restrict dst, const SG_T *restrict part, int64_t stride,
                                int64_t n_parts, int64_t size) {
#pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < size; q += 4096) {
        int64_t hi = q + 4096 < size ? q + 4096 : size;
        for (int64_t c = 0; c < n_parts; ++c) {
            const SG_T *restrict p = part + c * stride;
            for (int64_t k = q; k < hi; ++k) dst[k] += p[k];
        }
    }
}

/* Sampled row dot products (ops/lif/twin.py: gather_rowdot): out[n] = e[rows[n]] . w[cols[n]],
 * e (R, m), w (C, m). */
void SG_FN(gather_rowdot)(const SG_T *e, int64_t m, const int64_t *rows, const SG_T *w,
                          const int32_t *cols, int64_t n, SG_T *out) {
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < n; ++k) {
        out[k] = SG_FN(sg_dot)(e + rows[k] * m, w + (int64_t)cols[k] * m, m);
    }
}

