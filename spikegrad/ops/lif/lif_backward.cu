// lif_backward.cu: the backward pieces of a feed-forward layer of any neuron kind, dense and
// sparse (CUDA twin of lif_backward_dense and lif_backward_sparse in spikegrad/ops/lif/twin.py,
// and of backward_dense / backward_sparse in spikegrad/ops/kind_twin.py for every kind).
//
// Equation (ALGORITHM.md §4, §8), per column c = (b, j), reset detached, y the kind's adjoint
// (LIF: eps; CuBa: eps, eps_I; ALIF: eps, eps_a), y[T] = 0:
//   delta[t] = K::delta(y[t+1], g[t], sigma'(V[t]))   (LIF, CuBa: g sigma'; sparse: g and
//              sigma' only on the active set, 0 elsewhere)
//   y[t]     = K::adjoint(y[t+1], delta[t])          (LIF: eps[t] = delta[t] + alpha eps[t+1])
//   cons (n_args, n_c): the kind's constants (ADJOINT_ARGS), per neuron (n_c = N) or one for
//   all (n_c = 1); column c = b N + j reads entry c % n_c of each row
//   the products use e1[t] = dL/dh[t] = y[t+1][K::DH]:  dW = x^T e1 (spmm.cu),
//   dL/dx[b,t,i] = W[i,:] . e1[b,t,:]
// Denormal policy of the eps scan (common.cuh, the same as the twin's leaky_scan_reverse):
// after each step, an eps of magnitude below the smallest normal number is set to +0; delta
// and the step are IEEE in float32 too (sg_mul_rn / sg_add_rn: CuPy compiles with -ftz=true).
// The sparse mode evaluates dL/dx only at the previous layer's active entries
// (gather_rowdot_kernel), which is exact because that layer multiplies by its own sigma'.
//
// Kernels
//   delta_scatter_kernel<T, I>   one thread per active entry: d[idx] = g * sp into a zeroed
//                                (T, B, N) buffer (indices are unique, so no atomics); a kind
//                                whose delta reads its adjoint (K::LOCAL_DELTA false: ALIF)
//                                gets g and sp scattered apart (pair_scatter_kernel)
//   eps_shift_scan_kernel<K, T>  one thread per column, t from T-1 down to 0, in place:
//                                d[t] <- e1[t]   (the buffer becomes e1)
//   dense_eps_kernel<K, T>       the same scan fused with delta = K::delta(g, sp) (dense mode),
//                                into a fresh output; reads g and sp once, writes e1 once
//   gather_rowdot_kernel<T, W, I>   variant 1, one thread per requested entry n:
//                                out[n] = e[rows[n], :] . w[cols[n], :]  (sequential sum over M)
//   gather_rowdot_warp_kernel<T, W, I>  variant 2, one warp per entry: lanes stride over M (coalesced
//                                row reads), then a shuffle tree sum. For M >= 32 (the hidden
//                                layers); variant 1 suits the readout's small K. Needs a block
//                                size that is a multiple of 32, every lane reaching the shuffles
//                                (the entry loop is warp-uniform). W: the weights' storage
//                                (common.cuh: sg_wload).
//
// Check: pytest tests/kernels -k backward   (NVRTC compile, CPU emulation vs the NumPy twin;
//        GPU parity with -m gpu)
#include "common.cuh"
#include "kinds.cuh"  // the neuron kinds' adjoint filters

// g, sp, idx (A,); d (T*B*N,), zeroed by the host.
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
delta_scatter_kernel(const T* __restrict__ g, const T* __restrict__ sp, const I* __restrict__ idx,
                     sg_i64 n, T* __restrict__ d) {
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) d[idx[k]] = sg_mul_rn(g[k], sp[k]);
}

// g, sp, idx (A,); dg, dsp (T*B*N,), zeroed by the host: dg[idx] = g, dsp[idx] = sp.
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
pair_scatter_kernel(const T* __restrict__ g, const T* __restrict__ sp, const I* __restrict__ idx,
                    sg_i64 n, T* __restrict__ dg, T* __restrict__ dsp) {
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        dg[idx[k]] = g[k];
        dsp[idx[k]] = sp[k];
    }
}

// Reverse scan of one column: out[t] = e1[t] = y[t+1][K::DH] with y[t] = K::adjoint(y[t+1],
// delta[t]); delta[t] = K::delta(y[t+1], g[t], sp[t]) when sp is not null, else g[t] (delta
// scattered already). out may alias g (each entry is read first). Every y is flushed by the
// denormal policy (sg_flush).
template <typename K, typename T>
__device__ __forceinline__ void eps_column(const T* g, const T* sp, T* out, sg_i64 n_t,
                                           sg_i64 n_col, sg_i64 c, const T* cons, sg_i64 n_args,
                                           sg_i64 n_c) {
    T k[K::NC], y[K::NADJ] = {};
    K::load(k, cons, n_args, n_c, c);
    for (sg_i64 t = n_t - 1; t >= 0; --t) {
        const sg_i64 key = t * n_col + c;
        const T delta = sp ? K::delta(k, y, g[key], sp[key]) : g[key];
        out[key] = y[K::DH];
        K::adjoint(k, y, delta);  // the kind's adjoint filter
        for (int q = 0; q < K::NADJ; ++q) y[q] = sg_flush(y[q]);
    }
}

// d (T, B, N): in delta (use_sp 0) or g (use_sp 1, sp (T, B, N): sigma', 0 off the active
// set); out e1.
template <typename K, typename T>
__global__ void __launch_bounds__(SG_BLOCK)
eps_shift_scan_kernel(T* d, const T* __restrict__ sp, int use_sp, sg_i64 n_t, sg_i64 n_col,
                      const T* __restrict__ cons, sg_i64 n_args, sg_i64 n_c) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride())
        eps_column<K>(d, use_sp ? sp : nullptr, d, n_t, n_col, c, cons, n_args, n_c);
}

// g, sp (T, B, N) -> e1 (T, B, N).
template <typename K, typename T>
__global__ void __launch_bounds__(SG_BLOCK)
dense_eps_kernel(const T* __restrict__ g, const T* __restrict__ sp, T* __restrict__ e1, sg_i64 n_t,
                 sg_i64 n_col, const T* __restrict__ cons, sg_i64 n_args, sg_i64 n_c) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride())
        eps_column<K>(g, sp, e1, n_t, n_col, c, cons, n_args, n_c);
}

// e (R, M), w (C, M), rows/cols (n,) -> out (n,).
template <typename T, typename W, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
gather_rowdot_kernel(const T* __restrict__ e, const I* __restrict__ rows, const W* __restrict__ w,
                     const I* __restrict__ cols, sg_i64 n, sg_i64 m, T* __restrict__ out) {
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const T* er = e + (sg_i64)rows[k] * m;
        const W* wr = w + (sg_i64)cols[k] * m;
        T acc = T(0);
        for (sg_i64 j = 0; j < m; ++j) acc += er[j] * sg_wload(wr[j]);
        out[k] = acc;
    }
}

// e (R, M), w (C, M), rows/cols (n,) -> out (n,); one warp per entry.
template <typename T, typename W, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
gather_rowdot_warp_kernel(const T* __restrict__ e, const I* __restrict__ rows,
                          const W* __restrict__ w, const I* __restrict__ cols, sg_i64 n, sg_i64 m,
                          T* __restrict__ out) {
    const unsigned lane = threadIdx.x & 31u;
    for (sg_i64 k = sg_tid() >> 5; k < n; k += sg_stride() >> 5) {
        const T* er = e + (sg_i64)rows[k] * m;
        const W* wr = w + (sg_i64)cols[k] * m;
        T acc = T(0);
        for (sg_i64 j = lane; j < m; j += 32) acc += er[j] * sg_wload(wr[j]);
        for (unsigned off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (lane == 0) out[k] = acc;
    }
}

#define SG_INST_KT(K, T)                                                                      \
    template __global__ void eps_shift_scan_kernel<K, T>(T*, const T*, int, sg_i64, sg_i64,    \
                                                         const T*, sg_i64, sg_i64);            \
    template __global__ void dense_eps_kernel<K, T>(const T*, const T*, T*, sg_i64, sg_i64,     \
                                                    const T*, sg_i64, sg_i64);
#define SG_INST_TI(T, I)                                                                      \
    template __global__ void delta_scatter_kernel<T, I>(const T*, const T*, const I*, sg_i64, T*); \
    template __global__ void pair_scatter_kernel<T, I>(const T*, const T*, const I*, sg_i64, T*, \
                                                       T*);
#define SG_INST_TWI(T, W, I)                                                                  \
    template __global__ void gather_rowdot_kernel<T, W, I>(const T*, const I*, const W*,        \
                                                           const I*, sg_i64, sg_i64, T*);     \
    template __global__ void gather_rowdot_warp_kernel<T, W, I>(const T*, const I*, const W*,   \
                                                                const I*, sg_i64, sg_i64, T*);
#define SG_INST_TW(X, T, W) SG_INST_TWI(T, W, int) SG_INST_TWI(T, W, long long)
SG_INST_KT(sg_lif, float)
SG_INST_KT(sg_lif, double)
SG_INST_KT(sg_cuba, float)
SG_INST_KT(sg_cuba, double)
SG_INST_KT(sg_alif, float)
SG_INST_KT(sg_alif, double)
SG_INST_TI(float, int)
SG_INST_TI(float, long long)
SG_INST_TI(double, int)
SG_INST_TI(double, long long)
SG_WEIGHT_PAIRS(SG_INST_TW, _)
#undef SG_INST_KT
#undef SG_INST_TI
#undef SG_INST_TW
#undef SG_INST_TWI
