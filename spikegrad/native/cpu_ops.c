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
#define SG_BACKWARD_CHUNKS 8 /* see sg_backward_chunks */

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

/* Chunks of samples of the fused forward: enough for the dynamic schedule to balance threads
 * that share their cores with other work (the output does not depend on the chunking). */
int64_t sg_forward_chunks(int64_t nb) {
    int64_t k = 4 * (int64_t)sg_threads();
    return nb < k ? nb : k;
}

/* Chunks of samples of the fused backward, fixed by nb alone (not by the thread count), so
 * that the weight gradient's partial sums, one per chunk, are added in the same order on any
 * number of threads. The caller provides (chunks - 1) partial-gradient buffers. */
int64_t sg_backward_chunks(int64_t nb) { return nb < SG_BACKWARD_CHUNKS ? nb : SG_BACKWARD_CHUNKS; }

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

/* What one chunk of the fused forward emits, in key order: spike keys, and active keys with
 * their sigma' values (elsize bytes each). */
typedef struct {
    int64_t *spk, *act;
    unsigned char *val;
    int64_t n_spk, cap_spk, n_act, cap_act, elsize;
} sg_list;

/* The fused forward's result until sg_forward_take copies it out: a list per chunk and the
 * number of entries each chunk emitted at each step, cnt[t * n_chunks + c]. */
typedef struct {
    int64_t nt, n_chunks;
    int64_t *cnt_spk, *cnt_act;
    sg_list *lists;
} sg_forward;

void sg_forward_free(sg_forward *r) {
    if (r == NULL) return;
    if (r->lists != NULL)
        for (int64_t c = 0; c < r->n_chunks; ++c) {
            free(r->lists[c].spk);
            free(r->lists[c].act);
            free(r->lists[c].val);
        }
    free(r->lists);
    free(r->cnt_spk);
    free(r->cnt_act);
    free(r);
}

static sg_forward *sg_forward_new(int64_t nt, int64_t n_chunks, int64_t elsize) {
    sg_forward *r = (sg_forward *)calloc(1, sizeof(sg_forward));
    if (r == NULL) return NULL;
    r->nt = nt;
    r->n_chunks = n_chunks;
    r->cnt_spk = (int64_t *)calloc((size_t)(nt * n_chunks), sizeof(int64_t));
    r->cnt_act = (int64_t *)calloc((size_t)(nt * n_chunks), sizeof(int64_t));
    r->lists = (sg_list *)calloc((size_t)n_chunks, sizeof(sg_list));
    if (r->cnt_spk == NULL || r->cnt_act == NULL || r->lists == NULL) {
        sg_forward_free(r);
        return NULL;
    }
    for (int64_t c = 0; c < n_chunks; ++c) r->lists[c].elsize = elsize;
    return r;
}

static int sg_push_spike(sg_list *o, int64_t key) {
    if (o->n_spk == o->cap_spk) {
        int64_t c = o->cap_spk ? 2 * o->cap_spk : 1024;
        int64_t *p = (int64_t *)realloc(o->spk, (size_t)c * sizeof(int64_t));
        if (p == NULL) return -1;
        o->spk = p;
        o->cap_spk = c;
    }
    o->spk[o->n_spk++] = key;
    return 0;
}

static int sg_push_active(sg_list *o, int64_t key, const void *val) {
    if (o->n_act == o->cap_act) {
        int64_t c = o->cap_act ? 2 * o->cap_act : 1024;
        int64_t *p = (int64_t *)realloc(o->act, (size_t)c * sizeof(int64_t));
        if (p == NULL) return -1;
        o->act = p;
        unsigned char *v = (unsigned char *)realloc(o->val, (size_t)(c * o->elsize));
        if (v == NULL) return -1;
        o->val = v;
        o->cap_act = c;
    }
    memcpy(o->val + o->n_act * o->elsize, val, (size_t)o->elsize);
    o->act[o->n_act++] = key;
    return 0;
}

/* Copy a fused forward's result out in key order and free it: spike keys into keys (int64),
 * active keys into idx (int64 when idx64, else int32) and their values into val. The
 * segments of (t, chunk) are laid out t-major, chunk-minor: ascending keys. Returns 0, or -1
 * when out of memory (the result is freed either way). */
int sg_forward_take(sg_forward *r, int64_t *keys, void *idx, int idx64, void *val) {
    int64_t nt = r->nt, nc = r->n_chunks, es = r->lists[0].elsize, os = 0, oa = 0;
    int64_t *dst = (int64_t *)malloc((size_t)(2 * nt * nc) * sizeof(int64_t));
    if (dst == NULL) {
        sg_forward_free(r);
        return -1;
    }
    for (int64_t q = 0; q < nt * nc; ++q) { /* where segment (t, c) goes */
        dst[2 * q] = os;
        dst[2 * q + 1] = oa;
        os += r->cnt_spk[q];
        oa += r->cnt_act[q];
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t c = 0; c < nc; ++c) {
        const sg_list *o = r->lists + c;
        int64_t ps = 0, pa = 0;
        for (int64_t t = 0; t < nt; ++t) {
            int64_t q = t * nc + c, ns = r->cnt_spk[q], na = r->cnt_act[q], wa = dst[2 * q + 1];
            memcpy(keys + dst[2 * q], o->spk + ps, (size_t)ns * sizeof(int64_t));
            if (idx64)
                memcpy((int64_t *)idx + wa, o->act + pa, (size_t)na * sizeof(int64_t));
            else
                for (int64_t k = 0; k < na; ++k) ((int32_t *)idx)[wa + k] = (int32_t)o->act[pa + k];
            memcpy((unsigned char *)val + wa * es, o->val + pa * es, (size_t)(na * es));
            ps += ns;
            pa += na;
        }
    }
    free(dst);
    sg_forward_free(r);
    return 0;
}

/* 64-byte vectors of each float type (GCC/Clang vector extensions), for unaligned access. */
typedef float sg_vec_f32 __attribute__((vector_size(64), aligned(4)));
typedef double sg_vec_f64 __attribute__((vector_size(64), aligned(8)));

#define SG_T float
#define SG_SQRT sqrtf
#define SG_V sg_vec_f32
#define SG_SUF _f32
#define SG_TINY FLT_MIN
#include "cpu_ops.h"
#undef SG_T
#undef SG_SUF
#undef SG_TINY

#undef SG_V
#undef SG_SQRT
#define SG_T double
#define SG_SQRT sqrt
#define SG_V sg_vec_f64
#define SG_SUF _f64
#define SG_TINY DBL_MIN
#include "cpu_ops.h"
#include "cpu_input.h"
#include "cpu_events.h"
