// adam.cu: Adam with bias correction and decoupled weight decay (CUDA twin of
// spikegrad/ops/adam/twin.py).
//
// Equation (ALGORITHM.md §6), elementwise, step t >= 1:
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p = p decay,   decay = 1 - lr wd (AdamW; 1 when wd = 0)
//   p -= lr (m / bc1) / (sqrt(v / bc2) + eps),   bc1 = 1 - b1^t, bc2 = 1 - b2^t
// The host computes 1 - b1, 1 - b2, bc1, bc2 and decay in double and casts them to T, as the
// twin does.
//
// Kernels
//   adam_update_multi_kernel<T>  every parameter in one launch: ptrs holds 4 device pointers
//                                (p, g, m, v) per tensor, offs (n_tensors+1,) the prefix sum of
//                                their sizes; each thread finds its tensor by binary search
//
// Check: pytest tests/kernels -k adam
#include "common.cuh"

template <typename T>
__device__ __forceinline__ void adam_elem(T* p, const T* g, T* m, T* v, sg_i64 k, T lr, T b1,
                                          T omb1, T b2, T omb2, T bc1, T bc2, T eps, T decay) {
    const T gk = g[k];
    const T mk = b1 * m[k] + omb1 * gk;
    const T vk = b2 * v[k] + omb2 * (gk * gk);
    m[k] = mk;
    v[k] = vk;
    const T pk = p[k] * decay;
    p[k] = pk - lr * (mk / bc1) / (sg_sqrt(vk / bc2) + eps);
}

// ptrs (4 * n_tensors,): p0, g0, m0, v0, p1, ...; offs (n_tensors + 1,), offs[n_tensors] = total.
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
adam_update_multi_kernel(const unsigned long long* __restrict__ ptrs, const sg_i64* __restrict__ offs,
                         sg_i64 n_tensors, T lr, T b1, T omb1, T b2, T omb2, T bc1, T bc2, T eps,
                         T decay) {
    const sg_i64 total = offs[n_tensors];
    for (sg_i64 k = sg_tid(); k < total; k += sg_stride()) {
        sg_i64 lo = 0, hi = n_tensors - 1;  // last tensor with offs[q] <= k
        while (lo < hi) {
            const sg_i64 mid = (lo + hi + 1) / 2;
            if (offs[mid] <= k) lo = mid; else hi = mid - 1;
        }
        const unsigned long long* q = ptrs + 4 * lo;
        adam_elem((T*)q[0], (const T*)q[1], (T*)q[2], (T*)q[3], k - offs[lo], lr, b1, omb1, b2,
                  omb2, bc1, bc2, eps, decay);
    }
}

#define SG_INST(T)                                                                            \
    template __global__ void adam_update_multi_kernel<T>(const unsigned long long*, const sg_i64*, \
                                                         sg_i64, T, T, T, T, T, T, T, T, T);
SG_INST(float)
SG_INST(double)
#undef SG_INST
