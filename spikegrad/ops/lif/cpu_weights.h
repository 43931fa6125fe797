/* Native CPU kernels of the LIF family that read weights: the row helpers of the fused kernels
 * and the sampled row dot products. Included by the native build once per float type and weight
 * storage (native/build.py: WEIGHT_MACROS): the weights are SG_W (SG_T, or the 16-bit copies of
 * spikegrad/ops/half for float), SG_WVEC(p) reads a vector of them as SG_V and SG_WGET(x)
 * one as SG_T, exactly; SG_WFN(name) names the instance (name_f32, name_f32h, name_f32b,
 * name_f64). The arithmetic is SG_T's whatever the storage, so a 16-bit copy gives the bits of
 * the float32 kernel on the copy's values. */

/* Row helpers of the fused kernels, small enough for the compiler to vectorise. */
/* h = the sum of the rows w[idx[k]] (k = 0 .. nk-1), then of the rows r[ridx[k]] (k = 0 ..
 * nr-1), over n columns of rows ld apart, each column summed from 0 in that order (the order of
 * spike_matmul followed by the recurrent rows of rlif_forward_sparse_spikes, so the same bits,
 * whatever columns a call covers), four vectors of columns at a time in registers so that only
 * the rows are read (GCC vector extensions: lane-wise IEEE arithmetic). nr = 0 (r unused): the
 * feed-forward current. */
static void SG_WFN(sg_sum_rows)(SG_T *restrict h, const SG_W *restrict w, const int32_t *idx,
                                int64_t nk, const SG_W *restrict r, const int32_t *ridx,
                                int64_t nr, int64_t n, int64_t ld) {
    const int64_t L = (int64_t)(sizeof(SG_V) / sizeof(SG_T));
    int64_t j = 0;
    for (; j + 4 * L <= n; j += 4 * L) {
        SG_V a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int64_t k = 0; k < nk + nr; ++k) {
            const SG_W *row = k < nk ? w + (int64_t)idx[k] * ld : r + (int64_t)ridx[k - nk] * ld;
            a0 += SG_WVEC(row + j);
            a1 += SG_WVEC(row + j + L);
            a2 += SG_WVEC(row + j + 2 * L);
            a3 += SG_WVEC(row + j + 3 * L);
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
            const SG_W *row = k < nk ? w + (int64_t)idx[k] * ld : r + (int64_t)ridx[k - nk] * ld;
            a0 += SG_WVEC(row + j);
        }
        *(SG_V *)(h + j) = a0;
    }
    if (j < n) { /* the last n - j < L columns: the same sums, a row at a time (vectorised) */
        SG_T a[sizeof(SG_V) / sizeof(SG_T)] = {0};
        for (int64_t k = 0; k < nk + nr; ++k) {
            const SG_W *row = k < nk ? w + (int64_t)idx[k] * ld : r + (int64_t)ridx[k - nk] * ld;
            for (int64_t q = 0; q < n - j; ++q) a[q] += SG_WGET(row[j + q]);
        }
        for (int64_t q = 0; q < n - j; ++q) h[j + q] = a[q];
    }
}

/* a . b over n entries (b: weights), in a fixed order whatever the alignment: two vector
 * accumulators (lane-wise sums, unaligned loads), their lanes summed, then the tail. Fewer
 * than a vector's entries (the readout's K): the tail alone, the same sum (the lanes hold
 * zeros). */
static inline SG_T SG_WFN(sg_dot)(const SG_T *restrict a, const SG_W *restrict b, int64_t n) {
    const int64_t L = (int64_t)(sizeof(SG_V) / sizeof(SG_T));
    if (n < L) {
        SG_T s = 0;
        for (int64_t j = 0; j < n; ++j) s += a[j] * SG_WGET(b[j]);
        return s;
    }
    SG_V s0 = {0}, s1 = {0};
    int64_t j = 0;
    for (; j + 2 * L <= n; j += 2 * L) {
        s0 += *(const SG_V *)(a + j) * SG_WVEC(b + j);
        s1 += *(const SG_V *)(a + j + L) * SG_WVEC(b + j + L);
    }
    if (j + L <= n) {
        s0 += *(const SG_V *)(a + j) * SG_WVEC(b + j);
        j += L;
    }
    s0 += s1;
    SG_T s = 0;
    for (int64_t l = 0; l < L; ++l) s += s0[l];
    for (; j < n; ++j) s += a[j] * SG_WGET(b[j]);
    return s;
}

/* Sampled row dot products (ops/lif/twin.py: gather_rowdot): out[n] = e[rows[n]] . w[cols[n]],
 * e (R, m), w (C, m). */
void SG_WFN(gather_rowdot)(const SG_T *e, int64_t m, const int64_t *rows, const SG_W *w,
                           const int32_t *cols, int64_t n, SG_T *out) {
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < n; ++k) {
        out[k] = SG_WFN(sg_dot)(e + rows[k] * m, w + (int64_t)cols[k] * m, m);
    }
}

