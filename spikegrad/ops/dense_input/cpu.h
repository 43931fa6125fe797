/* Dense 0/1 engine input to the engine's spike matrix (ops/dense_input/twin.py: dense_to_csr),
 * included once by the native build (spikegrad/native/build.py).
 *
 * x is a (B, T, N) array in any layout: element (b, t, j) lies at x[b * sb + t * st + j * sn]
 * (strides in elements, any sign; 0 along an axis of length 1). CSR row t * B + b (time-major)
 * is the slice x[b, t, :]; its column indices are the j with x[b, t, j] != 0, ascending. A
 * value is valid when it is 0 or 1 (-0.0 is 0; NaN is invalid).
 *
 * Pass 1, sg_dense_count_<E>(x, B, T, N, sb, st, sn, indptr): indptr (T * B + 1,) int64
 * receives the row pointers (indptr[0] = 0, indptr[T * B] = nnz); returns the first slice
 * b * T + t in C order holding a value other than 0 and 1 (so the first such value in C order
 * lies in it), or -1 when every value is valid; indptr is complete either way.
 * Pass 2, sg_dense_fill_<E>(x, B, T, N, sb, st, sn, indptr, indices): indices (nnz,) int32
 * receives the column indices (an empty row is not read).
 * Row kernels (above; for units that are the fastest axis): threads take slices in memory
 * order; contiguous slices (sn = 1) are read in blocks whose tests vectorise (count) and as
 * 8-byte words, four at a time (fill: spikes are rare, a zero word is skipped whole).
 * Column kernels sg_dense_{count,fill}_cols_<E> (same arguments; for units that are not the
 * fastest axis, e.g. F order or time-last storage): threads take the slower of b and t, and
 * run over units, then the faster of b and t innermost; they return -2 when a thread's row
 * of counters cannot be allocated (fill: 0 otherwise).
 * <E>: u8 (bool, int8, uint8 as bytes), u16, u32, u64 (integers as their unsigned bits: 0 and 1
 * have the same bits), f32, f64. */
#define SG_DBLK 128 /* elements per block of the count: a block's count fits in a byte */

/* (b, t) of the r-th slice in memory order. */
static void sg_slice(int64_t r, int64_t B, int64_t T, int64_t sb, int64_t st, int64_t *b,
                     int64_t *t) {
    if ((st < 0 ? -st : st) > (sb < 0 ? -sb : sb)) {
        *t = r / B;
        *b = r - *t * B;
    } else {
        *b = r / T;
        *t = r - *b * T;
    }
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    !defined(SG_NO_CTZ)
#define SG_CTZ 1 /* count trailing zeros; element e of a word is its bits 8 size e .. */
/* Bit e set when element e (of 8 / size) of the word w is non-zero. */
static uint64_t sg_word_flags(uint64_t w, int64_t size) {
    if (size == 8) return w != 0;
    if (size == 4) return ((w & 0xffffffffULL) != 0) | ((uint64_t)((w >> 32) != 0) << 1);
    if (size == 2) {
        uint64_t f = 0;
        for (int e = 0; e < 4; ++e) f |= (uint64_t)(((w >> (16 * e)) & 0xffff) != 0) << e;
        return f;
    }
    uint64_t t = w | (w >> 4); /* bytes: fold each byte onto its bit 0 ... */
    t |= t >> 2;
    t |= t >> 1;
    t &= 0x0101010101010101ULL;
    return (t * 0x0102040810204080ULL) >> 56; /* ... and gather those 8 bits */
}
#endif

/* Append to indices[k...] the non-zero elements among 4 consecutive words w[0..3] (the bytes
 * of 4 * 8 / size elements, the first being unit j; sign bits of floats cleared, so -0.0 is 0),
 * ascending; returns the new k. With SG_CTZ: one step per spike, no test per element. */
static int64_t sg_words_spikes(const uint64_t *w, int64_t size, int64_t j, int32_t *indices,
                               int64_t k) {
    int64_t per = 8 / size;
#ifdef SG_CTZ
    uint64_t m = 0;
    for (int i = 0; i < 4; ++i) m |= sg_word_flags(w[i], size) << (i * per);
    for (; m; m &= m - 1) indices[k++] = (int32_t)(j + __builtin_ctzll(m));
#else
    for (int64_t i = 0; i < 4; ++i)
        for (int64_t e = 0; w[i] && e < per; ++e) {
            uint64_t v = 0;
            memcpy(&v, (const uint8_t *)&w[i] + e * size, (size_t)size); /* element e's bytes */
            if (v) indices[k++] = (int32_t)(j + i * per + e);
        }
#endif
    return k;
}

/* The axes of the column kernels: a, the one of b and t with the smaller stride (innermost),
 * and o, the other; slice (o, a) is CSR row o * ro + a * ra. */
#define SG_COLS_AXES                                                                          \
    int a_is_b = B > 1 && (T == 1 || (sb < 0 ? -sb : sb) <= (st < 0 ? -st : st));            \
    int64_t A = a_is_b ? B : T, O = a_is_b ? T : B, sa = a_is_b ? sb : st;                    \
    int64_t so = a_is_b ? st : sb, ra = a_is_b ? 1 : B, ro = a_is_b ? B : 1

/* C: an unsigned type as wide as E (a block's counter); BAD(v): v is neither 0 nor 1;
 * KEEP: the bits of a word that make an element non-zero. */
#define SG_DENSE(SUF, E, C, BAD, KEEP)                                                        \
    int64_t sg_dense_count_##SUF(const E *x, int64_t B, int64_t T, int64_t N, int64_t sb,    \
                                 int64_t st, int64_t sn, int64_t *indptr) {                   \
        int64_t n_rows = B * T, first_bad = n_rows;                                           \
        _Pragma("omp parallel for schedule(static) reduction(min : first_bad)")               \
        for (int64_t r = 0; r < n_rows; ++r) {                                                \
            int64_t b, t, c = 0, j0 = 0;                                                      \
            sg_slice(r, B, T, sb, st, &b, &t);                                                \
            const E *p = x + b * sb + t * st;                                                 \
            int bad = 0;                                                                      \
            if (sn == 1)                                                                      \
                for (; j0 + SG_DBLK <= N; j0 += SG_DBLK) {                                    \
                    const E *q = p + j0;                                                      \
                    C cb = 0, badb = 0;                                                       \
                    for (int j = 0; j < SG_DBLK; ++j) {                                       \
                        cb += q[j] != 0;                                                      \
                        badb |= BAD(q[j]);                                                    \
                    }                                                                         \
                    c += cb;                                                                  \
                    bad |= badb != 0;                                                         \
                }                                                                             \
            for (; j0 < N; ++j0) {                                                            \
                E v = p[j0 * sn];                                                             \
                c += v != 0;                                                                  \
                bad |= BAD(v);                                                                \
            }                                                                                 \
            indptr[1 + t * B + b] = c;                                                        \
            if (bad && b * T + t < first_bad) first_bad = b * T + t;                          \
        }                                                                                     \
        indptr[0] = 0;                                                                        \
        for (int64_t r = 0; r < n_rows; ++r) indptr[r + 1] += indptr[r];                     \
        return first_bad < n_rows ? first_bad : -1;                                           \
    }                                                                                         \
                                                                                              \
    void sg_dense_fill_##SUF(const E *x, int64_t B, int64_t T, int64_t N, int64_t sb,         \
                             int64_t st, int64_t sn, const int64_t *indptr,                   \
                             int32_t *indices) {                                              \
        int64_t n_rows = B * T, per = 8 / (int64_t)sizeof(E); /* elements per word */         \
        _Pragma("omp parallel for schedule(static)")                                          \
        for (int64_t r = 0; r < n_rows; ++r) {                                                \
            int64_t b, t, j0 = 0;                                                             \
            sg_slice(r, B, T, sb, st, &b, &t);                                                \
            int64_t k = indptr[t * B + b];                                                    \
            const E *p = x + b * sb + t * st;                                                 \
            if (k == indptr[t * B + b + 1]) continue;                                         \
            if (sn == 1)                                                                      \
                for (; j0 + 4 * per <= N; j0 += 4 * per) {                                    \
                    const uint8_t *q = (const uint8_t *)(p + j0);                             \
                    uint64_t w[4];                                                            \
                    for (int i = 0; i < 4; ++i) w[i] = sg_word(q + 8 * i) & (KEEP);           \
                    if (w[0] | w[1] | w[2] | w[3])                                            \
                        k = sg_words_spikes(w, sizeof(E), j0, indices, k);                    \
                }                                                                             \
            for (; j0 < N; ++j0)                                                              \
                if (p[j0 * sn] != 0) indices[k++] = (int32_t)j0;                              \
        }                                                                                     \
    }                                                                                         \
                                                                                              \
    int64_t sg_dense_count_cols_##SUF(const E *x, int64_t B, int64_t T, int64_t N, int64_t sb, \
                                      int64_t st, int64_t sn, int64_t *indptr) {              \
        SG_COLS_AXES;                                                                         \
        int64_t ca = a_is_b ? T : 1, co = a_is_b ? 1 : T; /* C-order slice o * co + a * ca */ \
        int64_t first_bad = B * T, failed = 0;                                                \
        _Pragma("omp parallel reduction(min : first_bad) reduction(+ : failed)") {            \
            int64_t *cnt = (int64_t *)malloc((size_t)A * sizeof(int64_t));                    \
            failed += cnt == NULL;                                                            \
            _Pragma("omp for schedule(static)")                                               \
            for (int64_t o = 0; o < O; ++o) {                                                 \
                if (cnt == NULL) continue;                                                    \
                int64_t a_bad = A;                                                            \
                for (int64_t a = 0; a < A; ++a) cnt[a] = 0;                                   \
                for (int64_t j = 0; j < N; ++j) {                                             \
                    const E *p = x + o * so + j * sn;                                         \
                    C badj = 0;                                                               \
                    if (sa == 1)                                                              \
                        for (int64_t a = 0; a < A; ++a) {                                     \
                            cnt[a] += p[a] != 0;                                              \
                            badj |= BAD(p[a]);                                                \
                        }                                                                     \
                    else                                                                      \
                        for (int64_t a = 0; a < A; ++a) {                                     \
                            cnt[a] += p[a * sa] != 0;                                         \
                            badj |= BAD(p[a * sa]);                                           \
                        }                                                                     \
                    if (badj)                                                                 \
                        for (int64_t a = 0; a < a_bad; ++a)                                   \
                            if (BAD(p[a * sa])) a_bad = a;                                    \
                }                                                                             \
                for (int64_t a = 0; a < A; ++a) indptr[1 + o * ro + a * ra] = cnt[a];         \
                int64_t c_bad = o * co + a_bad * ca;                                          \
                if (a_bad < A && c_bad < first_bad) first_bad = c_bad;                        \
            }                                                                                 \
            free(cnt);                                                                        \
        }                                                                                     \
        if (failed) return -2;                                                                \
        indptr[0] = 0;                                                                        \
        for (int64_t r = 0; r < B * T; ++r) indptr[r + 1] += indptr[r];                       \
        return first_bad < B * T ? first_bad : -1;                                            \
    }                                                                                         \
                                                                                              \
    int64_t sg_dense_fill_cols_##SUF(const E *x, int64_t B, int64_t T, int64_t N, int64_t sb, \
                                     int64_t st, int64_t sn, const int64_t *indptr,           \
                                     int32_t *indices) {                                      \
        SG_COLS_AXES;                                                                         \
        int64_t failed = 0;                                                                   \
        _Pragma("omp parallel reduction(+ : failed)") {                                       \
            int64_t *cur = (int64_t *)malloc((size_t)A * sizeof(int64_t));                    \
            failed += cur == NULL;                                                            \
            _Pragma("omp for schedule(static)")                                               \
            for (int64_t o = 0; o < O; ++o) {                                                 \
                if (cur == NULL) continue;                                                    \
                for (int64_t a = 0; a < A; ++a) cur[a] = indptr[o * ro + a * ra];            \
                for (int64_t j = 0; j < N; ++j) {                                             \
                    const E *p = x + o * so + j * sn;                                         \
                    for (int64_t a = 0; a < A; ++a)                                           \
                        if (p[a * sa] != 0) indices[cur[a]++] = (int32_t)j;                   \
                }                                                                             \
            }                                                                                 \
            free(cur);                                                                        \
        }                                                                                     \
        return failed ? -2 : 0;                                                               \
    }

#define SG_BAD_INT(v) ((v) > 1)
#define SG_BAD_FLOAT(v) (((v) != 0) & ((v) != 1))
#define SG_ALL (~(uint64_t)0)
SG_DENSE(u8, uint8_t, uint8_t, SG_BAD_INT, SG_ALL)
SG_DENSE(u16, uint16_t, uint16_t, SG_BAD_INT, SG_ALL)
SG_DENSE(u32, uint32_t, uint32_t, SG_BAD_INT, SG_ALL)
SG_DENSE(u64, uint64_t, uint64_t, SG_BAD_INT, SG_ALL)
SG_DENSE(f32, float, uint32_t, SG_BAD_FLOAT, 0x7fffffff7fffffffULL)
SG_DENSE(f64, double, uint64_t, SG_BAD_FLOAT, 0x7fffffffffffffffULL)
