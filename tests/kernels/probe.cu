// probe.cu: small kernels that test the CPU emulation itself (tests/kernels/test_emulator.py),
// including deliberately broken ones. Built only by the emulator, never by the package.
#include "common.cuh"

// out[k] = the k-th thread to run (its global id): records the emulated thread order.
template <typename T>
__global__ void probe_order_kernel(int* order, int* counter) {
    order[atomicAdd(counter, 1)] = (int)sg_tid();
}

// Every thread adds 1 to out[tid % 2], reps times, atomically (atomic != 0) or with a plain +=.
template <typename T>
__global__ void probe_add_kernel(T* out, int reps, int atomic) {
    T* a = out + (sg_tid() & 1);
    for (int r = 0; r < reps; ++r) {
        if (atomic) atomicAdd(a, T(1));
        else *a += T(1);
    }
}

// One warp per 32 threads; lanes in `mask` sum x over the mask with a shuffle tree (defined
// for contiguous masks starting at lane 0). case_ picks a behaviour, 0 being correct:
//   1 lanes >= 16 skip the shuffle; 2 every lane calls with `mask` (lanes outside it too);
//   3 the two half-warps call different shuffles (two source lines); 4 lanes >= 16 go to
//   __syncthreads instead; 5 out[lane] = __shfl_xor_sync(mask, x, 1) (a lane outside the mask
//   reads NaN); 6 out[lane] = __ballot_sync(mask, x > 0); 7 lanes >= 16 arrive a second late.
template <typename T>
__global__ void probe_warp_kernel(const T* x, T* out, int mask_, int case_) {
    const unsigned lane = threadIdx.x & 31u, mask = (unsigned)mask_;
    const sg_i64 k = sg_tid();
    T acc = x[k];
    if (case_ == 5) {
        if (mask >> lane & 1u) out[k] = __shfl_xor_sync(mask, acc, 1);
        return;
    }
    if (case_ == 6) {
        if (mask >> lane & 1u) out[k] = (T)__ballot_sync(mask, acc > T(0));
        return;
    }
    if (case_ == 4 && lane >= 16) {
        __syncthreads();
        return;
    }
    if (case_ != 2 && !(mask >> lane & 1u)) return;
    if (case_ == 7 && lane >= 16) std::this_thread::sleep_for(std::chrono::seconds(1));
    for (unsigned off = __builtin_popcount(mask) / 2; off > 0; off >>= 1) {
        if (case_ == 1 && lane >= 16) continue;
        if (case_ == 3 && lane >= 16) acc += __shfl_down_sync(mask, acc, off);
        else acc += __shfl_down_sync(mask, acc, off);
    }
    out[k] = acc;
}

// Threads of odd warps return early, the others meet at __syncthreads (a CUDA bug).
template <typename T>
__global__ void probe_barrier_kernel(T* out) {
    if ((threadIdx.x >> 5) & 1u) return;
    __syncthreads();
    out[sg_tid()] = T(1);
}

// __syncthreads in a kernel not declared cooperative.
template <typename T>
__global__ void probe_undeclared_kernel(T* out) {
    __syncthreads();
    out[sg_tid()] = T(1);
}
