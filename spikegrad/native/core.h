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

/* The 8 bytes at p as a little-endian word on any machine (byte e: bits 8e ..). */
static inline uint64_t sg_le_word(const uint8_t *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
           (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
           (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* The number of trailing zero bits of x (not 0). */
static inline int sg_ctz(uint64_t x) {
#ifdef __GNUC__
    return __builtin_ctzll(x);
#else
    int k = 0;
    for (; !(x & 1); x >>= 1) ++k;
    return k;
#endif
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
/* ... and of a weight-reading one: SG_WSUF appended ("" when it reads SG_T weights, "h" float16,
 * "b" bfloat16: name_f32h, lif_spike_forward_f32b). */
#define SG_WFN(name) SG_CAT(SG_FN(name), SG_WSUF)
#define SG_KWFN(name) SG_CAT(SG_KFN(name), SG_WSUF)

/* 16-bit weight copies (spikegrad/ops/half), stored as uint16_t bits and converted exactly to
 * float as they are read (SG_WGET, SG_WVEC of native/build.py: WEIGHT_MACROS): bfloat16 by a
 * 16-bit shift; float16 by F16C (_cvtsh_ss, _cvtph_ps) where the compiler targets it (x86 with
 * -march=native), else by its bits. A vector of 16 is converted with one AVX-512 instruction
 * where there is one. */
#if defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
typedef uint16_t sg_vec_u16 __attribute__((vector_size(32), aligned(2)));
typedef uint32_t sg_vec_u32 __attribute__((vector_size(64)));

static inline float sg_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The 16 floats of the bfloat16 weights at p. */
static inline sg_vec_f32 sg_bf16_vec(const uint16_t *p) {
#ifdef __AVX512F__
    __m512i u = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16);
    sg_vec_f32 v;
    memcpy(&v, &u, sizeof v);
    return v;
#else
    sg_vec_u16 h;
    memcpy(&h, p, sizeof h);
    return (sg_vec_f32)(__builtin_convertvector(h, sg_vec_u32) << 16);
#endif
}

#ifdef __F16C__
static inline float sg_fp16(uint16_t h) { return _cvtsh_ss(h); }

/* The 16 floats of the float16 weights at p. */
static inline sg_vec_f32 sg_fp16_vec(const uint16_t *p) {
#ifdef __AVX512F__
    __m512 f = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
#else
    __m256 f[2] = {_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)),
                   _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 8)))};
#endif
    sg_vec_f32 v;
    memcpy(&v, &f, sizeof v);
    return v;
}
#else
static inline float sg_fp16(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, em = h & 0x7fffu, u;
    float f;
    if (em < 0x400u) { /* zero or subnormal: em 2^-24, exact in float */
        f = (float)em * 5.9604644775390625e-8f;
        memcpy(&u, &f, sizeof u);
        u |= sign;
    } else if (em >= 0x7c00u) { /* inf or NaN */
        u = sign | 0x7f800000u | ((em & 0x3ffu) << 13);
    } else { /* normal: rebias the exponent by 127 - 15 */
        u = sign | ((em << 13) + 0x38000000u);
    }
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline sg_vec_f32 sg_fp16_vec(const uint16_t *p) {
    sg_vec_f32 v;
    for (int l = 0; l < 16; ++l) v[l] = sg_fp16(p[l]);
    return v;
}
#endif

/* The arithmetic of the kinds' pieces (spikegrad/neurons/<kind>.h): plain IEEE operations here
 * (-ffp-contract=off: no fused multiply-add); the CUDA drivers define them as sg_add_rn and
 * sg_mul_rn. */
#define SG_ADD(a, b) ((a) + (b))
#define SG_MUL(a, b) ((a) * (b))
