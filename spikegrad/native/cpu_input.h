/* Dense 0/1 engine input to the engine's spike matrix (ops/dense_input.py: dense_to_csr),
 * included once at the end of cpu_ops.c.
 *
 * x is a (B, T, N) array whose last axis is contiguous: element (b, t, j) lies at
 * x[b * sb + t * st + j] (sb, st in elements, any sign). CSR row r = t * B + b (time-major) is
 * the slice x[b, t, :]; its column indices are the j with x[b, t, j] != 0, ascending.
 * A value is valid when it is 0 or 1 (-0.0 is 0; NaN is invalid). Threads take (b, t) slices
 * in memory order; each slice is read in blocks of SG_DBLK elements whose tests vectorise.
 *
 * Pass 1, sg_dense_count_<E>(x, B, T, N, sb, st, indptr): indptr (T * B + 1,) int64 receives
 * the row pointers (indptr[0] = 0, indptr[T * B] = nnz); returns the first slice b * T + t (in
 * memory order, so the first invalid value in C order lies in it) holding a value other than
 * 0 and 1, or -1 when every value is valid (indptr is complete either way).
 * Pass 2, sg_dense_fill_<E>(x, B, T, N, sb, st, indptr, indices): indices (nnz,) int32
 * receives the column indices (an empty row is not read).
 * <E>: u8 (bool, int8, uint8 as bytes), u16, u32, u64 (integers as their unsigned bits: 0 and 1
 * have the same bits), f32, f64. */
#define SG_DBLK 32 /* elements per block of the tests */

#define SG_DENSE(SUF, E, BAD)                                                                 \
    int64_t sg_dense_count_##SUF(const E *x, int64_t B, int64_t T, int64_t N, int64_t sb,    \
                                 int64_t st, int64_t *indptr) {                               \
        int64_t n_rows = B * T, first_bad = n_rows;                                           \
        _Pragma("omp parallel for schedule(static) reduction(min : first_bad)")               \
        for (int64_t r = 0; r < n_rows; ++r) {                                                \
            int64_t b = r / T, t = r - b * T, c = 0;                                          \
            const E *p = x + b * sb + t * st;                                                 \
            int bad = 0;                                                                      \
            for (int64_t j0 = 0; j0 < N; j0 += SG_DBLK) {                                     \
                int64_t hi = j0 + SG_DBLK < N ? j0 + SG_DBLK : N;                             \
                int32_t cb = 0, badb = 0;                                                     \
                for (int64_t j = j0; j < hi; ++j) {                                           \
                    E v = p[j];                                                               \
                    cb += v != 0;                                                             \
                    badb |= BAD(v);                                                           \
                }                                                                             \
                c += cb;                                                                      \
                bad |= badb;                                                                  \
            }                                                                                 \
            indptr[1 + t * B + b] = c;                                                        \
            if (bad && r < first_bad) first_bad = r;                                          \
        }                                                                                     \
        indptr[0] = 0;                                                                        \
        for (int64_t r = 0; r < n_rows; ++r) indptr[r + 1] += indptr[r];                     \
        return first_bad < n_rows ? first_bad : -1;                                           \
    }                                                                                         \
                                                                                              \
    void sg_dense_fill_##SUF(const E *x, int64_t B, int64_t T, int64_t N, int64_t sb,         \
                             int64_t st, const int64_t *indptr, int32_t *indices) {           \
        int64_t n_rows = B * T;                                                               \
        _Pragma("omp parallel for schedule(static)")                                          \
        for (int64_t r = 0; r < n_rows; ++r) {                                                \
            int64_t b = r / T, t = r - b * T, k = indptr[t * B + b], j0 = 0;                  \
            const E *p = x + b * sb + t * st;                                                 \
            if (k == indptr[t * B + b + 1]) continue;                                         \
            for (; j0 + SG_DBLK <= N; j0 += SG_DBLK) {                                        \
                const E *q = p + j0;                                                          \
                int any = 0;                                                                  \
                for (int j = 0; j < SG_DBLK; ++j) any |= q[j] != 0;                           \
                if (any)                                                                      \
                    for (int j = 0; j < SG_DBLK; ++j)                                         \
                        if (q[j] != 0) indices[k++] = (int32_t)(j0 + j);                      \
            }                                                                                 \
            for (; j0 < N; ++j0)                                                              \
                if (p[j0] != 0) indices[k++] = (int32_t)j0;                                   \
        }                                                                                     \
    }

#define SG_BAD_INT(v) ((v) > 1)
#define SG_BAD_FLOAT(v) (((v) != 0) & ((v) != 1))
SG_DENSE(u8, uint8_t, SG_BAD_INT)
SG_DENSE(u16, uint16_t, SG_BAD_INT)
SG_DENSE(u32, uint32_t, SG_BAD_INT)
SG_DENSE(u64, uint64_t, SG_BAD_INT)
SG_DENSE(f32, float, SG_BAD_FLOAT)
SG_DENSE(f64, double, SG_BAD_FLOAT)
