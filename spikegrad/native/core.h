/* The generic part of the native CPU library: headers, the thread setting, small helpers.
 *
 * spikegrad/native/build.py compiles one translation unit: this file, then every op family's
 * C source (spikegrad/ops/<family>/cpu*.h): the untyped ones once, the typed ones once per
 * float type (typed.h first), and loads it with ctypes. The math of each function is the
 * docstring of its NumPy twin.
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

/* Threads of the kernels called from the calling thread from now on (spikegrad.native). */
void sg_set_num_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : 1);
#else
    (void)n;
#endif
}

/* Masks are bool arrays: bytes 0 or 1, read 8 at a time (a zero word is skipped whole). */
static uint64_t sg_word(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* First position of a sorted array a[0, n) whose value is >= key (n if none). */
static int64_t sg_lower_bound(const int64_t *a, int64_t n, int64_t key) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* 64-byte vectors of each float type (GCC/Clang vector extensions), for unaligned access. */
typedef float sg_vec_f32 __attribute__((vector_size(64), aligned(4)));
typedef double sg_vec_f64 __attribute__((vector_size(64), aligned(8)));

/* The name of a typed function's instance: SG_FN(name) is name_f32 or name_f64 (SG_SUF); of a
 * neuron kind's driver: SG_KFN(name) is <kind>_name_f32 / _f64 (SG_KIND_NAME). */
#define SG_CAT2(a, b) a##b
#define SG_CAT(a, b) SG_CAT2(a, b)
#define SG_FN(name) SG_CAT(name, SG_SUF)
#define SG_KFN(name) SG_FN(SG_CAT(SG_CAT(SG_KIND_NAME, _), name))

/* The arithmetic of the kinds' pieces (spikegrad/neurons/<kind>.h): plain IEEE operations here
 * (-ffp-contract=off: no fused multiply-add); the CUDA drivers define them as sg_add_rn and
 * sg_mul_rn. */
#define SG_ADD(a, b) ((a) + (b))
#define SG_MUL(a, b) ((a) * (b))
