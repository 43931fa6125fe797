/* Native CPU kernels of the spike-event products.
 * Included by the native build (spikegrad/native/build.py) once per float type: SG_T is the
 * float type, SG_FN(name) its instance's name (name_f32, name_f64), SG_TINY its smallest normal
 * number, SG_V its 64-byte vector, SG_SQRT its square root. Exported functions are declared for
 * ctypes in glue.py beside this file. */

/* Transposed spike-event product (ops/spmm/twin.py: spike_tmatmul): out[i] = sum of e[r] over the
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

