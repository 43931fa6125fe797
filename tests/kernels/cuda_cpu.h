// cuda_cpu.h: the CUDA built-ins a spikegrad kernel uses, for compiling a .cu file as C++ (g++)
// and running its grid on the CPU. A test tool, not a backend.
//
// Two ways to run a grid:
// - sg_launch: block after block, thread after thread, in one OS thread. Exact for kernels
//   without block cooperation: their threads are independent, and atomicAdd is a plain
//   read-modify-write, which is atomic when threads run one after another.
// - sg_launch_threads: for the kernels listed in spikegrad.kernels.COOPERATIVE. Blocks run one
//   after another; inside a block every CUDA thread is an OS thread, so __syncthreads is a
//   block-wide std::barrier and __shfl_down_sync exchanges values through a per-warp buffer
//   between two warp-wide barriers (all 32 lanes must reach it, as CUDA requires for a full
//   mask). Such kernels abort under sg_launch.
#pragma once
#include <math.h>

#include <barrier>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct dim3 {
    unsigned x, y, z;
};
inline thread_local dim3 threadIdx{0, 0, 0}, blockIdx{0, 0, 0};
inline dim3 blockDim{1, 1, 1}, gridDim{1, 1, 1};

template <typename T>
inline T atomicAdd(T* address, T val) {
    T old = *address;
    *address = old + val;
    return old;
}

struct sg_warp {
    std::barrier<> bar{32};
    alignas(8) unsigned char lane[32][8];
};
inline thread_local sg_warp* sg_this_warp = nullptr;
inline thread_local std::barrier<>* sg_this_block = nullptr;

[[noreturn]] inline void sg_not_concurrent(const char* what) {
    std::fprintf(stderr, "%s in a kernel launched sequentially: add it to COOPERATIVE\n", what);
    std::abort();
}

inline void __syncthreads() {
    if (!sg_this_block) sg_not_concurrent("__syncthreads");
    sg_this_block->arrive_and_wait();
}

template <typename T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta) {
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    if (!sg_this_warp) sg_not_concurrent("__shfl_down_sync");
    const unsigned lane = threadIdx.x & 31u;
    std::memcpy(sg_this_warp->lane[lane], &v, sizeof(T));
    sg_this_warp->bar.arrive_and_wait();
    T out = v;
    if (lane + delta < 32) std::memcpy(&out, sg_this_warp->lane[lane + delta], sizeof(T));
    sg_this_warp->bar.arrive_and_wait();
    return out;
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

// args follows the CUDA driver's kernelParams convention: args[k] points at parameter k.
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

template <typename... A>
void sg_launch_threads(void (*kernel)(A...), unsigned grid, unsigned block, void** args) {
    if (block % 32 != 0) {
        std::fprintf(stderr, "sg_launch_threads: block size %u is not a multiple of 32\n", block);
        std::abort();
    }
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned b = 0; b < grid; ++b) {
        std::barrier<> block_bar(block);
        std::vector<sg_warp> warps(block / 32);
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; ++t) {
            threads.emplace_back([&, b, t] {
                blockIdx = {b, 0, 0};
                threadIdx = {t, 0, 0};
                sg_this_block = &block_bar;
                sg_this_warp = &warps[t / 32];
                sg_invoke(kernel, args, std::index_sequence_for<A...>{});
            });
        }
        for (auto& th : threads) th.join();
    }
}
