// cuda_cpu.h: the CUDA built-ins a spikegrad kernel uses, for compiling a .cu file as C++ (g++)
// and running its grid sequentially on the CPU. A test tool, not a backend.
//
// Sequential execution is exact for spikegrad's kernels because none of them uses block
// cooperation (shared memory, __syncthreads, warp shuffles); test_emulation.py checks that the
// sources stay so. atomicAdd is a plain read-modify-write, which is atomic when threads run one
// after another.
#pragma once
#include <math.h>
#include <cstddef>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct dim3 {
    unsigned x, y, z;
};
inline dim3 threadIdx{0, 0, 0}, blockIdx{0, 0, 0}, blockDim{1, 1, 1}, gridDim{1, 1, 1};

template <typename T>
inline T atomicAdd(T* address, T val) {
    T old = *address;
    *address = old + val;
    return old;
}

// Kernel signature codes, checked by the Python side against the arguments it passes:
// scalars f d i q (float double int long long); pointers F D I Q B U (to float double int
// long long unsigned-char unsigned-long-long).
template <typename X>
constexpr char sg_code() {
    if constexpr (std::is_pointer_v<X>) {
        using E = std::remove_cv_t<std::remove_pointer_t<X>>;
        if constexpr (std::is_same_v<E, float>) return 'F';
        else if constexpr (std::is_same_v<E, double>) return 'D';
        else if constexpr (std::is_same_v<E, int>) return 'I';
        else if constexpr (std::is_same_v<E, long long>) return 'Q';
        else if constexpr (std::is_same_v<E, unsigned char>) return 'B';
        else if constexpr (std::is_same_v<E, unsigned long long>) return 'U';
        else return '?';
    } else if constexpr (std::is_same_v<X, float>) return 'f';
    else if constexpr (std::is_same_v<X, double>) return 'd';
    else if constexpr (std::is_same_v<X, int>) return 'i';
    else if constexpr (std::is_same_v<X, long long>) return 'q';
    else return '?';
}

template <typename... A>
const char* sg_signature(void (*)(A...)) {
    static const char codes[] = {sg_code<std::remove_cv_t<A>>()..., 0};
    return codes;
}

template <typename... A, std::size_t... K>
void sg_invoke(void (*kernel)(A...), void** args, std::index_sequence<K...>) {
    kernel(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[K])...);
}

// Run every thread of a 1-D grid, block after block, thread after thread. args follows the
// CUDA driver's kernelParams convention: args[k] points at the value of parameter k.
template <typename... A>
void sg_launch(void (*kernel)(A...), unsigned grid, unsigned block, void** args) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned b = 0; b < grid; ++b) {
        blockIdx = {b, 0, 0};
        for (unsigned t = 0; t < block; ++t) {
            threadIdx = {t, 0, 0};
            sg_invoke(kernel, args, std::index_sequence_for<A...>{});
        }
    }
}
