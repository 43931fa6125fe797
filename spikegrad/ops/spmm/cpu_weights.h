/* Native CPU kernel of the spike-event product, which reads weights: included by the native
 * build once per float type and weight storage (SG_W, SG_WGET, SG_WFN: ops/lif/cpu_weights.h). */

/* Spike-event product (ops/spmm/twin.py: spike_matmul): out[r] = sum of w[i] over the units i of
 * row r of the 0/1 CSR pattern (indptr, indices); out (R, m), w (C, m). */
void SG_WFN(spike_matmul)(const int64_t *indptr, const int32_t *indices, int64_t n_rows,
                          const SG_W *w, int64_t m, SG_T *out) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n_rows; ++r) {
        SG_T *restrict o = out + r * m;
        for (int64_t j = 0; j < m; ++j) o[j] = 0;
        for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) {
            const SG_W *restrict wi = w + (int64_t)indices[k] * m;
            for (int64_t j = 0; j < m; ++j) o[j] += SG_WGET(wi[j]);
        }
    }
}
