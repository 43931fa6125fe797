// rlif.cu: the recurrent LIF layer, fused sparse forward and sparse backward (CUDA twin of
// rlif_forward_sparse_spikes and rlif_backward_sparse in spikegrad/ops/rlif/twin.py).
//
// Equations (ALGORITHM.md §2 event form, §4), per sample b, V[0] = 0, eps[T] = 0:
//   S[t,j] = V[t,j] > theta;  active(t,j) <=> |V[t,j] - theta| < b_th,
//   sigma' = 1 / (beta_s |V - theta| + 1)^2
//   acc[j] = sum of w[i, j] over the input events i of CSR row t * B + b (CSR order), then
//            + r[k, j] for each k with S[t,k] = 1, k ascending
//   V[t+1,j] = (alpha_j V[t,j] + acc[j]) - theta S[t,j]            (bit for bit the twin's order)
//   backward, t = T-1 .. 0:  delta[t,j] = (g[t,j] + r[j,:] . eps[t+1,:]) sigma'  (active only)
//                            eps[t,j] = flush(delta[t,j] + alpha_j eps[t+1,j])
//   the products use e1[t] = eps[t+1]: dW = x^T e1, dR = S^T e1 (spmm.cu), dL/dx at the previous
//   layer's active entries (gather_rowdot, lif_backward.cu); the host chains them.
//
// Thread mapping: one thread block per sample b (grid-stride over b), the whole time loop
// inside the kernel; thread tid owns the neurons j = tid, tid + BLOCK, ... (V in the scratch
// v (B, N), read and written by its owner only). Per forward step the spiking k of the sample
// are compacted in ascending order (per tile of BLOCK neurons: __ballot_sync, popc of the lower
// lanes, warp offsets from a shared prefix), into a list in shared memory (global scratch for
// N > SG_RLIF_SHARED or when the host says so); then every thread adds the input rows and the
// listed R rows to its neurons' currents. Per backward step one warp per active entry of row
// (t, b) computes r[j,:] . eps[t+1,:] (lanes stride over k, shuffle tree), eps[t+1] of the
// sample in shared memory (the e1 row in global memory in the fallback), then every thread
// steps its neurons' eps. alpha (n_alpha,): neuron j reads alpha[j % n_alpha].
//
// Kernels
//   rlif_spikes_count_kernel<T, I>  forward pass 1: spikes and active entries per (b, thread)
//   rlif_spikes_emit_kernel<T, I>   pass 2 (after an exclusive prefix sum of the counts): spike
//                                   keys (t * B + b) * N + j and the active set (flat index,
//                                   sigma') into per-(b, thread) buckets; the host sorts them.
//                                   Both passes run rlif_sample, so they agree exactly.
//   rlif_backward_kernel<T, I>      e1 (T, B, N) from g at the active entries; rowptr (T*B + 1,)
//                                   bounds each row's entries in the sorted active set.
// The block size must be a multiple of 32 (warp collectives; every lane reaches them: tile and
// entry loops are block- or warp-uniform). Nothing of size (T, B, N) is made by the forward;
// the backward's e1 is the transient buffer of the products, as in lif_backward.cu.
//
// Check: pytest tests/kernels -k rlif   (NVRTC compile, CPU emulation vs the NumPy twin;
//        GPU parity with -m gpu)
#include "common.cuh"
#include "lif.h"  // the neuron kind's update and adjoint

#ifndef SG_RLIF_SHARED
#define SG_RLIF_SHARED 2048  // neurons up to which the spike list / eps row sit in shared memory
#endif

// The forward scan of sample b. out.active(k, d) and out.spike(k) see the entries of thread
// tid in (t, tile) order; list: the compaction buffer (N ints) of this sample.
template <typename T, typename I, typename Out>
__device__ __forceinline__ void rlif_sample(const I* __restrict__ ptr, const I* __restrict__ ind,
                                            const T* __restrict__ w, const T* __restrict__ r,
                                            const T* __restrict__ alpha, sg_i64 n_alpha,
                                            sg_i64 n_t, sg_i64 n_b, sg_i64 n_n, sg_i64 b,
                                            T theta, T b_th, T* v, int* list, Out& out) {
    __shared__ int warp_cnt[2][SG_BLOCK / 32];
    const unsigned tid = threadIdx.x, lane = tid & 31u, warp = tid >> 5;
    const unsigned n_warp = blockDim.x >> 5;
    const sg_i64 n_tile = (n_n + blockDim.x - 1) / blockDim.x;
    for (sg_i64 j = tid; j < n_n; j += blockDim.x) v[j] = T(0);
    for (sg_i64 t = 0; t < n_t; ++t) {
        const sg_i64 row = t * n_b + b;
        int n_spk = 0;  // the same in every thread: the list's length so far
        for (sg_i64 m = 0; m < n_tile; ++m) {
            const sg_i64 j = m * blockDim.x + tid;
            bool spike = false;
            if (j < n_n) {
                const T d = sg_abs(v[j] - theta);
                if (d < b_th) out.active(row * n_n + j, d);
                spike = v[j] > theta;
                if (spike) out.spike(row * n_n + j);
            }
            const unsigned bits = __ballot_sync(0xffffffffu, spike);
            int* cnt = warp_cnt[m & 1];
            if (lane == 0) cnt[warp] = __popc(bits);
            __syncthreads();
            int before = 0, total = 0;
            for (unsigned q = 0; q < n_warp; ++q) {
                before += q < warp ? cnt[q] : 0;
                total += cnt[q];
            }
            if (spike) list[n_spk + before + __popc(bits & ((1u << lane) - 1u))] = (int)j;
            n_spk += total;
        }
        __syncthreads();  // the list is complete
        for (sg_i64 j = tid; j < n_n; j += blockDim.x) {
            T acc = T(0);
            for (I q = ptr[row]; q < ptr[row + 1]; ++q) acc += w[(sg_i64)ind[q] * n_n + j];
            for (int q = 0; q < n_spk; ++q) acc += r[(sg_i64)list[q] * n_n + j];
            const T vj = v[j];
            v[j] = SG_KIND_UPDATE(vj, acc, alpha[j % n_alpha], theta, vj > theta);
        }
    }
}

struct RlifCount {
    int n_spk = 0, n_act = 0;
    template <typename T>
    __device__ __forceinline__ void active(sg_i64, T) { ++n_act; }
    __device__ __forceinline__ void spike(sg_i64) { ++n_spk; }
};

template <typename T, typename I>
struct RlifEmit {
    I ks, ka;
    I* keys;
    I* act_idx;
    T* act_sp;
    T beta_s;
    __device__ __forceinline__ void active(sg_i64 k, T d) {
        const T q = beta_s * d + T(1);
        act_idx[ka] = (I)k;
        act_sp[ka] = T(1) / (q * q);
        ++ka;
    }
    __device__ __forceinline__ void spike(sg_i64 k) { keys[ks++] = (I)k; }
};

// ptr (T*B + 1,), ind (nnz,): input spikes, CSR over rows t * B + b; w (N_in, N); r (N, N);
// alpha (n_alpha,); v (B, N) and list_g (B, N) scratch; n_spk, n_act (B * BLOCK,): counts per
// (b, thread). shared: use shared memory for the list when N <= SG_RLIF_SHARED.
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
rlif_spikes_count_kernel(const I* __restrict__ ptr, const I* __restrict__ ind,
                         const T* __restrict__ w, const T* __restrict__ r,
                         const T* __restrict__ alpha, sg_i64 n_alpha, sg_i64 n_t, sg_i64 n_b,
                         sg_i64 n_n, T theta, T b_th, T* __restrict__ v, int* __restrict__ list_g,
                         int shared, int* __restrict__ n_spk, int* __restrict__ n_act) {
    __shared__ int list_s[SG_RLIF_SHARED];
    int* list0 = shared && n_n <= SG_RLIF_SHARED ? list_s : nullptr;
    for (sg_i64 b = blockIdx.x; b < n_b; b += gridDim.x) {
        int* list = list0 ? list0 : list_g + b * n_n;
        RlifCount out;
        rlif_sample(ptr, ind, w, r, alpha, n_alpha, n_t, n_b, n_n, b, theta, b_th, v + b * n_n,
                    list, out);
        n_spk[b * blockDim.x + threadIdx.x] = out.n_spk;
        n_act[b * blockDim.x + threadIdx.x] = out.n_act;
    }
}

// As rlif_spikes_count_kernel, then emits keys (S,) and act_idx, act_sp (A,) at the offsets
// spk_off, act_off (B * BLOCK,) of each (b, thread).
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
rlif_spikes_emit_kernel(const I* __restrict__ ptr, const I* __restrict__ ind,
                        const T* __restrict__ w, const T* __restrict__ r,
                        const T* __restrict__ alpha, sg_i64 n_alpha, sg_i64 n_t, sg_i64 n_b,
                        sg_i64 n_n, T theta, T beta_s, T b_th, T* __restrict__ v,
                        int* __restrict__ list_g, int shared, const I* __restrict__ spk_off,
                        const I* __restrict__ act_off, I* __restrict__ keys,
                        I* __restrict__ act_idx, T* __restrict__ act_sp) {
    __shared__ int list_s[SG_RLIF_SHARED];
    int* list0 = shared && n_n <= SG_RLIF_SHARED ? list_s : nullptr;
    for (sg_i64 b = blockIdx.x; b < n_b; b += gridDim.x) {
        int* list = list0 ? list0 : list_g + b * n_n;
        const sg_i64 c = b * blockDim.x + threadIdx.x;
        RlifEmit<T, I> out{spk_off[c], act_off[c], keys, act_idx, act_sp, beta_s};
        rlif_sample(ptr, ind, w, r, alpha, n_alpha, n_t, n_b, n_n, b, theta, b_th, v + b * n_n,
                    list, out);
    }
}

// g, sp, idx (A,): dL/dS, sigma' and sorted flat indices of the active set; rowptr (T*B + 1,):
// entries of row t * B + b are [rowptr[row], rowptr[row + 1]); r (N, N); alpha (n_alpha,);
// d (B, N) zeroed scratch (left zeroed); e1 (T, B, N) out: e1[t] = eps[t+1]. shared: eps[t+1]
// in shared memory when N <= SG_RLIF_SHARED, else read from e1.
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
rlif_backward_kernel(const T* __restrict__ g, const T* __restrict__ sp, const I* __restrict__ idx,
                     const I* __restrict__ rowptr, const T* __restrict__ r,
                     const T* __restrict__ alpha, sg_i64 n_alpha, sg_i64 n_t, sg_i64 n_b,
                     sg_i64 n_n, T* __restrict__ d, int shared, T* __restrict__ e1) {
    __shared__ T eps_s[SG_RLIF_SHARED];
    const bool in_shared = shared && n_n <= SG_RLIF_SHARED;
    const unsigned tid = threadIdx.x, lane = tid & 31u, warp = tid >> 5;
    const unsigned n_warp = blockDim.x >> 5;
    for (sg_i64 b = blockIdx.x; b < n_b; b += gridDim.x) {
        T* db = d + b * n_n;
        for (sg_i64 j = tid; j < n_n; j += blockDim.x) {
            e1[((n_t - 1) * n_b + b) * n_n + j] = T(0);  // eps[T] = 0
            if (in_shared) eps_s[j] = T(0);
        }
        __syncthreads();
        for (sg_i64 t = n_t - 1; t >= 0; --t) {
            const sg_i64 row = t * n_b + b;
            const T* en = in_shared ? eps_s : e1 + row * n_n;  // eps[t+1]
            for (sg_i64 q = (sg_i64)rowptr[row] + warp; q < (sg_i64)rowptr[row + 1]; q += n_warp) {
                const sg_i64 j = (sg_i64)idx[q] - row * n_n;
                const T* rj = r + j * n_n;
                T acc = T(0);
                for (sg_i64 k = lane; k < n_n; k += 32) acc += rj[k] * en[k];
                for (unsigned off = 16; off > 0; off >>= 1)
                    acc += __shfl_down_sync(0xffffffffu, acc, off);
                if (lane == 0) db[j] = sg_mul_rn(sg_add_rn(g[q], acc), sp[q]);
            }
            __syncthreads();  // delta complete; every read of eps[t+1] done
            for (sg_i64 j = tid; j < n_n; j += blockDim.x) {
                const T delta = db[j];
                db[j] = T(0);
                const T e = sg_flush(SG_KIND_ADJOINT(delta, en[j], alpha[j % n_alpha]));
                if (in_shared) eps_s[j] = e;
                if (t > 0) e1[(row - n_b) * n_n + j] = e;
            }
            __syncthreads();  // eps[t] complete
        }
    }
}

#define SG_INST_TI(T, I)                                                                       \
    template __global__ void rlif_spikes_count_kernel<T, I>(                                   \
        const I*, const I*, const T*, const T*, const T*, sg_i64, sg_i64, sg_i64, sg_i64, T, T, \
        T*, int*, int, int*, int*);                                                            \
    template __global__ void rlif_spikes_emit_kernel<T, I>(                                    \
        const I*, const I*, const T*, const T*, const T*, sg_i64, sg_i64, sg_i64, sg_i64, T, T, \
        T, T*, int*, int, const I*, const I*, I*, I*, T*);                                     \
    template __global__ void rlif_backward_kernel<T, I>(const T*, const T*, const I*, const I*, \
                                                        const T*, const T*, sg_i64, sg_i64,    \
                                                        sg_i64, sg_i64, T*, int, T*);
SG_INST_TI(float, int)
SG_INST_TI(float, long long)
SG_INST_TI(double, int)
SG_INST_TI(double, long long)
#undef SG_INST_TI
