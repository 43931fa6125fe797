// common.cuh: helpers shared by every spikegrad kernel file.
//
// Conventions (all kernels):
// - Arrays are C-contiguous and time-major: an entry (b, t, j) of a (T, B, N) array sits at flat
//   index (t * B + b) * N + j = t * n_col + c with column c = b * N + j and n_col = B * N.
// - Kernels are templated on the float type T (float, double) and, where they read or write
//   flat indices, on the index type I (int, long long). Every .cu file ends with explicit
//   instantiations, so a standalone compile checks every body.
// - Sizes are passed as long long (sg_i64); the host casts every scalar to the exact type.
// - Loops are grid-stride, so any grid size is correct; the host caps the grid.
// - Write contract: every kernel writes its outputs with `=`, except the *_atomic kernels,
//   which accumulate with atomicAdd into a zeroed output.
// - Kernels that use block cooperation (warp shuffles, __syncthreads, shared memory) are listed
//   in spikegrad.kernels.COOPERATIVE; the CPU emulation in tests/kernels runs those with one OS
//   thread per CUDA thread, every other kernel's threads in ascending, reversed or shuffled order,
//   also spread over concurrent OS threads (a test checks the list).
#pragma once

#ifndef SG_BLOCK
#define SG_BLOCK 256
#endif

typedef long long sg_i64;

__device__ __forceinline__ sg_i64 sg_tid() { return (sg_i64)blockIdx.x * blockDim.x + threadIdx.x; }

__device__ __forceinline__ sg_i64 sg_stride() { return (sg_i64)gridDim.x * blockDim.x; }

__device__ __forceinline__ float sg_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double sg_abs(double x) { return fabs(x); }
__device__ __forceinline__ float sg_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double sg_sqrt(double x) { return sqrt(x); }

// The reverse scans' denormal policy, the same in the NumPy twin, the C kernel and CUDA: after
// each step, a value whose magnitude is below the smallest normal number of its type is set to
// +0 (sg_flush). The arithmetic before the flush is IEEE, with gradual underflow, in float32
// too: CuPy compiles with -ftz=true, so sg_add_rn / sg_mul_rn issue PTX without .ftz (and
// without contraction); the C++ emulation uses the plain operators.
__device__ __forceinline__ float sg_tiny(float) { return 0x1p-126f; }
__device__ __forceinline__ double sg_tiny(double) { return 0x1p-1022; }
template <typename T>
__device__ __forceinline__ T sg_flush(T v) { return sg_abs(v) < sg_tiny(v) ? T(0) : v; }

__device__ __forceinline__ float sg_add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    float r;
    asm("add.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
#else
    return a + b;
#endif
}
__device__ __forceinline__ float sg_mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
    float r;
    asm("mul.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
#else
    return a * b;
#endif
}
__device__ __forceinline__ double sg_add_rn(double a, double b) { return a + b; }
__device__ __forceinline__ double sg_mul_rn(double a, double b) { return a * b; }

// The arithmetic of the neuron kinds' pieces (spikegrad/neurons/<kind>.h: SG_KIND_ADJOINT).
#define SG_ADD(a, b) sg_add_rn((a), (b))
#define SG_MUL(a, b) sg_mul_rn((a), (b))

// 16-bit weight copies (spikegrad/ops/half): a kernel that reads weights takes their storage
// W as a template parameter: T itself, or for T = float the 16-bit copies sg_f16 (IEEE binary16)
// and sg_bf16 (the upper half of a float32), and reads each element through sg_wload, which
// converts it exactly to float (then the arithmetic is float's, as in the twin on the copy's
// values). On the GPU float16 converts with cvt.f32.f16; the C++ emulation by its bits.
struct sg_f16 {
    unsigned short bits;
};
struct sg_bf16 {
    unsigned short bits;
};
__device__ __forceinline__ float sg_wload(float w) { return w; }
__device__ __forceinline__ double sg_wload(double w) { return w; }
__device__ __forceinline__ float sg_bits_float(unsigned int u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
#endif
}
__device__ __forceinline__ float sg_wload(sg_bf16 w) {
    return sg_bits_float((unsigned int)w.bits << 16);
}
__device__ __forceinline__ float sg_wload(sg_f16 w) {
#ifdef __CUDA_ARCH__
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(w.bits));
    return f;
#else
    const unsigned int sign = (unsigned int)(w.bits & 0x8000u) << 16, em = w.bits & 0x7fffu;
    if (em < 0x400u) {  // zero or subnormal: em 2^-24, exact in float
        const float f = (float)em * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    if (em >= 0x7c00u) return sg_bits_float(sign | 0x7f800000u | ((em & 0x3ffu) << 13));
    return sg_bits_float(sign | ((em << 13) + 0x38000000u));  // rebias the exponent by 112
#endif
}
// M(X, T, W) for every (float type T, weight storage W) pair a weight-reading kernel is
// instantiated for (spikegrad.kernels.WEIGHT_PAIRS).
#define SG_WEIGHT_PAIRS(M, X) \
    M(X, float, float) M(X, double, double) M(X, float, sg_f16) M(X, float, sg_bf16)
