/* Native CPU kernels of the NumPy backend: C twins of the hottest ops of spikegrad/ops.
 *
 * spikegrad/native/__init__.py compiles this file on first use with the system C compiler
 * (-O3 -march=native -ffp-contract=off, OpenMP when the compiler has it) and calls it through
 * ctypes on NumPy buffers. The math of each function is the docstring of its NumPy twin; the
 * bodies are in cpu_ops.h, instantiated here for float (suffix _f32) and double (_f64).
 *
 * Layout: every array is C-contiguous. Row pointers and row numbers are int64, unit (column)
 * indices int32. Elementwise arithmetic keeps the twins' operation order (no FMA contraction),
 * so the forward scan and the spike-event products match them bit for bit; reductions (dot
 * products, the weight-gradient sums) differ only by float rounding.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <float.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define SG_TILE 512 /* columns per tile of the time scans: state for a tile fits in L1 */

static int sg_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int sg_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int sg_num_threads(void) { return sg_threads(); }

/* Masks are bool arrays: bytes 0 or 1, read 8 at a time (a zero word is skipped whole). */
static uint64_t sg_word(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* Non-zero (= 1) bytes of mask[lo, hi). */
static int64_t sg_count_range(const uint8_t *mask, int64_t lo, int64_t hi) {
    int64_t c = 0, i = lo;
    for (; i + 8 <= hi; i += 8) {
        uint64_t w = sg_word(mask + i);
        if (w) c += (int64_t)((w * 0x0101010101010101ULL) >> 56); /* sum of 8 bytes <= 8 */
    }
    for (; i < hi; ++i) c += mask[i];
    return c;
}

/* Number of non-zero bytes of the 0/1 mask (n bytes). */
int64_t sg_count_nonzero(const uint8_t *mask, int64_t n) {
    int64_t per = 1 << 16, n_chunks = (n + per - 1) / per, total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (int64_t q = 0; q < n_chunks; ++q)
        total += sg_count_range(mask, q * per, q * per + per < n ? q * per + per : n);
    return total;
}

/* The positions of the non-zero bytes of the 0/1 mask, ascending, into out (np.flatnonzero):
 * chunks counted in parallel, offsets by a prefix sum, then filled in parallel. Returns the
 * count written, or -1 when the chunk table cannot be allocated. */
#define SG_NONZERO(NAME, I)                                                                   \
    int64_t NAME(const uint8_t *mask, int64_t n, I *out) {                                   \
        int64_t per = 1 << 16, n_chunks = (n + per - 1) / per;                                \
        int64_t *off = (int64_t *)calloc((size_t)n_chunks + 1, sizeof(int64_t));              \
        if (off == NULL) return -1;                                                           \
        _Pragma("omp parallel for schedule(static)") for (int64_t q = 0; q < n_chunks; ++q) { \
            off[q + 1] = sg_count_range(mask, q * per, q * per + per < n ? q * per + per : n); \
        }                                                                                     \
        for (int64_t q = 0; q < n_chunks; ++q) off[q + 1] += off[q];                          \
        _Pragma("omp parallel for schedule(static)") for (int64_t q = 0; q < n_chunks; ++q) { \
            int64_t i = q * per, hi = i + per < n ? i + per : n, k = off[q];                  \
            for (; i + 8 <= hi; i += 8)                                                       \
                if (sg_word(mask + i))                                                        \
                    for (int64_t j = i; j < i + 8; ++j)                                       \
                        if (mask[j]) out[k++] = (I)j;                                         \
            for (; i < hi; ++i)                                                               \
                if (mask[i]) out[k++] = (I)i;                                                 \
        }                                                                                     \
        int64_t total = off[n_chunks];                                                        \
        free(off);                                                                            \
        return total;                                                                         \
    }
SG_NONZERO(sg_nonzero_i32, int32_t)
SG_NONZERO(sg_nonzero_i64, int64_t)

#define SG_T float
#define SG_SUF _f32
#define SG_TINY FLT_MIN
#include "cpu_ops.h"
#undef SG_T
#undef SG_SUF
#undef SG_TINY

#define SG_T double
#define SG_SUF _f64
#define SG_TINY DBL_MIN
#include "cpu_ops.h"
#include "cpu_input.h"
