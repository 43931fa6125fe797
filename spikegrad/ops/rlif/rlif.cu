// rlif.cu: the recurrent layer of any neuron kind, fused sparse forward and sparse backward
// (CUDA twin of rlif_forward_sparse_spikes and rlif_backward_sparse in
// spikegrad/ops/rlif/twin.py for LIF, of forward_sparse_spikes / backward_sparse with r in
// spikegrad/ops/kind_twin.py for every kind). Templated on the kind K (kinds.cuh).
//
// Equations (ALGORITHM.md §2 event form, §4, §8), per sample b, state x[0] = 0 (x[0] = V),
// adjoint y[T] = 0, thr = K::threshold(x) (LIF: theta):
//   S[t,j] = V[t,j] > thr;  active(t,j) <=> |V[t,j] - thr| < b_th,
//   sigma' = 1 / (beta_s |V - thr| + 1)^2
//   acc[j] = sum of w[i, j] over the input events i of CSR row t * B + b (CSR order), then
//            + r[k, j] for each k with S[t,k] = 1, k ascending
//   x[t+1,j] = K::update(x[t,j], acc[j], S[t,j])        (LIF: (alpha_j V + acc) - theta S; bit
//                                                        for bit the twin's order)
//   backward, t = T-1 .. 0, e1[t] = dL/dh[t] = y[t+1][K::DH]:
//            u[t,j] = g[t,j] + r[j,:] . e1[t]   (active only; sigma' 0 elsewhere)
//            y[t,j] = flush(K::adjoint(y[t+1,j], K::delta(y[t+1,j], u, sigma')))
//   the products use e1: dW = x^T e1, dR = S^T e1 (spmm.cu), dL/dx at the previous
//   layer's active entries (gather_rowdot, lif_backward.cu); the host chains them.
//
// Thread mapping: one thread block per sample b (grid-stride over b), the whole time loop
// inside the kernel; thread tid owns the neurons j = tid, tid + BLOCK, ... (V in the scratch
// v (B, K::NS N), read and written by its owner only). Per forward step the spiking k of the sample
// are compacted in ascending order (per tile of BLOCK neurons: __ballot_sync, popc of the lower
// lanes, warp offsets from a shared prefix), into a list in shared memory (global scratch for
// N > SG_RLIF_SHARED or when the host says so); then every thread adds the input rows and the
// listed R rows to its neurons' currents. Per backward step one warp per active entry of row
// (t, b) computes r[j,:] . eps[t+1,:] (lanes stride over k, shuffle tree), eps[t+1] of the
// sample in shared memory (the e1 row in global memory in the fallback; the kind's other
// adjoint variables in a global scratch), then every thread steps its neurons' adjoint.
// cons (n_args, n_c): the kind's constants; neuron j reads entry j % n_c of each row.
//
// Kernels
//   rlif_spikes_count_kernel<K, T, W, I>  forward pass 1: spikes and active entries per (b, thread)
//   rlif_spikes_emit_kernel<K, T, W, I>   pass 2 (after an exclusive prefix sum of the counts): spike
//                                   keys (t * B + b) * N + j and the active set (flat index,
//                                   sigma') into per-(b, thread) buckets; the host sorts them.
//                                   Both passes run rlif_sample, so they agree exactly.
//   rlif_backward_kernel<K, T, W, I>      e1 (T, B, N) from g at the active entries; rowptr (T*B + 1,)
//                                   bounds each row's entries in the sorted active set.
// The block size must be a multiple of 32 (warp collectives; every lane reaches them: tile and
// entry loops are block- or warp-uniform). Nothing of size (T, B, N) is made by the forward;
// the backward's e1 is the transient buffer of the products, as in lif_backward.cu.
//
// Check: pytest tests/kernels -k rlif   (NVRTC compile, CPU emulation vs the NumPy twin;
//        GPU parity with -m gpu)
#include "common.cuh"
#include "kinds.cuh"  // the neuron kinds' updates and adjoints

#ifndef SG_RLIF_SHARED
#define SG_RLIF_SHARED 2048  // neurons up to which the spike list / eps row sit in shared memory
#endif

// The state of neuron j of a sample (v: K::NS planes of n_n) into x, and back.
template <typename K, typename T>
__device__ __forceinline__ void load_state(T* x, const T* v, sg_i64 n_n, sg_i64 j) {
    for (int q = 0; q < K::NS; ++q) x[q] = v[q * n_n + j];
}

// The forward scan of sample b. out.active(k, d) and out.spike(k) see the entries of thread
// tid in (t, tile) order; list: the compaction buffer (N ints) of this sample.
template <typename K, typename T, typename W, typename I, typename Out>
__device__ __forceinline__ void rlif_sample(const I* __restrict__ ptr, const I* __restrict__ ind,
                                            const W* __restrict__ w, const W* __restrict__ r,
                                            const T* __restrict__ cons, sg_i64 n_args,
                                            sg_i64 n_c, sg_i64 n_t, sg_i64 n_b, sg_i64 n_n,
                                            sg_i64 b, T b_th, T* v, int* list, Out& out) {
    __shared__ int warp_cnt[2][SG_BLOCK / 32];
    const unsigned tid = threadIdx.x, lane = tid & 31u, warp = tid >> 5;
    const unsigned n_warp = blockDim.x >> 5;
    const sg_i64 n_tile = (n_n + blockDim.x - 1) / blockDim.x;
    for (sg_i64 j = tid; j < n_n; j += blockDim.x)
        for (int q = 0; q < K::NS; ++q) v[q * n_n + j] = T(0);
    for (sg_i64 t = 0; t < n_t; ++t) {
        const sg_i64 row = t * n_b + b;
        int n_spk = 0;  // the same in every thread: the list's length so far
        for (sg_i64 m = 0; m < n_tile; ++m) {
            const sg_i64 j = m * blockDim.x + tid;
            bool spike = false;
            if (j < n_n) {
                T k[K::NC], x[K::NS];
                K::load(k, cons, n_args, n_c, j);
                load_state<K>(x, v, n_n, j);
                const T thr = K::threshold(k, x);
                const T d = sg_abs(x[0] - thr);
                if (d < b_th) out.active(row * n_n + j, d);
                spike = x[0] > thr;
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
            for (I q = ptr[row]; q < ptr[row + 1]; ++q) acc += sg_wload(w[(sg_i64)ind[q] * n_n + j]);
            for (int q = 0; q < n_spk; ++q) acc += sg_wload(r[(sg_i64)list[q] * n_n + j]);
            T k[K::NC], x[K::NS];
            K::load(k, cons, n_args, n_c, j);
            load_state<K>(x, v, n_n, j);
            const T thr = K::threshold(k, x);
            K::update(k, x, acc, x[0] > thr, thr);
            for (int q = 0; q < K::NS; ++q) v[q * n_n + j] = x[q];
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
// cons (n_args, n_c); v (B, K::NS N) and list_g (B, N) scratch; n_spk, n_act (B * BLOCK,):
// counts per (b, thread). shared: use shared memory for the list when N <= SG_RLIF_SHARED.
template <typename K, typename T, typename W, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
rlif_spikes_count_kernel(const I* __restrict__ ptr, const I* __restrict__ ind,
                         const W* __restrict__ w, const W* __restrict__ r,
                         const T* __restrict__ cons, sg_i64 n_args, sg_i64 n_c, sg_i64 n_t,
                         sg_i64 n_b, sg_i64 n_n, T b_th, T* __restrict__ v,
                         int* __restrict__ list_g, int shared, int* __restrict__ n_spk,
                         int* __restrict__ n_act) {
    __shared__ int list_s[SG_RLIF_SHARED];
    int* list0 = shared && n_n <= SG_RLIF_SHARED ? list_s : nullptr;
    for (sg_i64 b = blockIdx.x; b < n_b; b += gridDim.x) {
        int* list = list0 ? list0 : list_g + b * n_n;
        RlifCount out;
        rlif_sample<K, T>(ptr, ind, w, r, cons, n_args, n_c, n_t, n_b, n_n, b, b_th,
                       v + b * K::NS * n_n, list, out);
        n_spk[b * blockDim.x + threadIdx.x] = out.n_spk;
        n_act[b * blockDim.x + threadIdx.x] = out.n_act;
    }
}

// As rlif_spikes_count_kernel, then emits keys (S,) and act_idx, act_sp (A,) at the offsets
// spk_off, act_off (B * BLOCK,) of each (b, thread).
template <typename K, typename T, typename W, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
rlif_spikes_emit_kernel(const I* __restrict__ ptr, const I* __restrict__ ind,
                        const W* __restrict__ w, const W* __restrict__ r,
                        const T* __restrict__ cons, sg_i64 n_args, sg_i64 n_c, sg_i64 n_t,
                        sg_i64 n_b, sg_i64 n_n, T beta_s, T b_th, T* __restrict__ v,
                        int* __restrict__ list_g, int shared, const I* __restrict__ spk_off,
                        const I* __restrict__ act_off, I* __restrict__ keys,
                        I* __restrict__ act_idx, T* __restrict__ act_sp) {
    __shared__ int list_s[SG_RLIF_SHARED];
    int* list0 = shared && n_n <= SG_RLIF_SHARED ? list_s : nullptr;
    for (sg_i64 b = blockIdx.x; b < n_b; b += gridDim.x) {
        int* list = list0 ? list0 : list_g + b * n_n;
        const sg_i64 c = b * blockDim.x + threadIdx.x;
        RlifEmit<T, I> out{spk_off[c], act_off[c], keys, act_idx, act_sp, beta_s};
        rlif_sample<K, T>(ptr, ind, w, r, cons, n_args, n_c, n_t, n_b, n_n, b, b_th,
                       v + b * K::NS * n_n, list, out);
    }
}

// g, sp, idx (A,): dL/dS, sigma' and sorted flat indices of the active set; rowptr (T*B + 1,):
// entries of row t * B + b are [rowptr[row], rowptr[row + 1]); r (N, N); cons (n_args, n_c);
// d (B, 2 N) zeroed scratch (u, then sigma', of the active entries of a step; left zeroed);
// ya (B, K::NADJ N) scratch: the adjoint variables other than K::DH; e1 (T, B, N) out: e1[t] =
// y[t+1][K::DH]. shared: that row in shared memory when N <= SG_RLIF_SHARED, else read from e1.
template <typename K, typename T, typename W, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
rlif_backward_kernel(const T* __restrict__ g, const T* __restrict__ sp, const I* __restrict__ idx,
                     const I* __restrict__ rowptr, const W* __restrict__ r,
                     const T* __restrict__ cons, sg_i64 n_args, sg_i64 n_c, sg_i64 n_t,
                     sg_i64 n_b, sg_i64 n_n, T* __restrict__ d, T* __restrict__ ya, int shared,
                     T* __restrict__ e1) {
    __shared__ T eps_s[SG_RLIF_SHARED];
    const bool in_shared = shared && n_n <= SG_RLIF_SHARED;
    const unsigned tid = threadIdx.x, lane = tid & 31u, warp = tid >> 5;
    const unsigned n_warp = blockDim.x >> 5;
    for (sg_i64 b = blockIdx.x; b < n_b; b += gridDim.x) {
        T* db = d + b * 2 * n_n;
        T* yb = ya + b * K::NADJ * n_n;
        for (sg_i64 j = tid; j < n_n; j += blockDim.x) {
            e1[((n_t - 1) * n_b + b) * n_n + j] = T(0);  // y[T] = 0
            if (in_shared) eps_s[j] = T(0);
            for (int q = 0; q < K::NADJ; ++q) yb[q * n_n + j] = T(0);
        }
        __syncthreads();
        for (sg_i64 t = n_t - 1; t >= 0; --t) {
            const sg_i64 row = t * n_b + b;
            const T* en = in_shared ? eps_s : e1 + row * n_n;  // e1[t] = y[t+1][K::DH]
            for (sg_i64 q = (sg_i64)rowptr[row] + warp; q < (sg_i64)rowptr[row + 1]; q += n_warp) {
                const sg_i64 j = (sg_i64)idx[q] - row * n_n;
                const W* rj = r + j * n_n;
                T acc = T(0);
                for (sg_i64 k = lane; k < n_n; k += 32) acc += sg_wload(rj[k]) * en[k];
                for (unsigned off = 16; off > 0; off >>= 1)
                    acc += __shfl_down_sync(0xffffffffu, acc, off);
                if (lane == 0) {
                    db[j] = sg_add_rn(g[q], acc);
                    db[n_n + j] = sp[q];
                }
            }
            __syncthreads();  // u and sigma' complete; every read of e1[t] done
            for (sg_i64 j = tid; j < n_n; j += blockDim.x) {
                T k[K::NC], y[K::NADJ];
                K::load(k, cons, n_args, n_c, j);
                for (int q = 0; q < K::NADJ; ++q) y[q] = q == K::DH ? en[j] : yb[q * n_n + j];
                const T delta = K::delta(k, y, db[j], db[n_n + j]);
                db[j] = T(0);
                db[n_n + j] = T(0);
                K::adjoint(k, y, delta);
                for (int q = 0; q < K::NADJ; ++q) y[q] = sg_flush(y[q]);
                for (int q = 0; q < K::NADJ; ++q)
                    if (q != K::DH) yb[q * n_n + j] = y[q];
                if (in_shared) eps_s[j] = y[K::DH];
                if (t > 0) e1[(row - n_b) * n_n + j] = y[K::DH];
            }
            __syncthreads();  // y[t] complete
        }
    }
}

#define SG_INST_KTWI(K, T, W, I)                                                               \
    template __global__ void rlif_spikes_count_kernel<K, T, W, I>(                             \
        const I*, const I*, const W*, const W*, const T*, sg_i64, sg_i64, sg_i64, sg_i64,      \
        sg_i64, T, T*, int*, int, int*, int*);                                                 \
    template __global__ void rlif_spikes_emit_kernel<K, T, W, I>(                              \
        const I*, const I*, const W*, const W*, const T*, sg_i64, sg_i64, sg_i64, sg_i64,      \
        sg_i64, T, T, T*, int*, int, const I*, const I*, I*, I*, T*);                          \
    template __global__ void rlif_backward_kernel<K, T, W, I>(                                 \
        const T*, const T*, const I*, const I*, const W*, const T*, sg_i64, sg_i64, sg_i64,    \
        sg_i64, sg_i64, T*, T*, int, T*);
#define SG_INST_KTW(K, T, W) SG_INST_KTWI(K, T, W, int) SG_INST_KTWI(K, T, W, long long)
#define SG_INST_K(K) SG_WEIGHT_PAIRS(SG_INST_KTW, K)
SG_INST_K(sg_lif)
SG_INST_K(sg_cuba)
SG_INST_K(sg_alif)
#undef SG_INST_K
#undef SG_INST_KTW
#undef SG_INST_KTWI
