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
