// lif.cu: the LIF forward scan, dense and fused-sparse (CUDA twin of spikegrad/ops/lif/twin.py).
//
// Equation (ALGORITHM.md §2, §3), per column c = (b, j), h the input current (T, B, N):
//   V[0] = 0,  S[t] = V[t] > theta,  V[t+1] = alpha_j V[t] + h[t] - theta S[t]
//   active(t)  <=>  |V[t] - theta| < b_th,   sigma'(V) = 1 / (beta_s |V - theta| + 1)^2
//
// Thread mapping: one thread per column c = b * N + j in [0, B*N), looping over t inside the
// kernel, so V lives in a register; consecutive threads are consecutive j of one b.
// alpha (n_alpha,): one value per neuron (n_alpha = N, ALGORITHM.md §2's heterogeneous time
// constants) or one for all (n_alpha = 1); column c reads alpha[c % n_alpha] once.
//
// Kernels
//   lif_forward_kernel<T>         dense mode: overwrites h with V, writes spikes s (uint8/bool)
//   lif_spikes_count_kernel<T, I> the sparse forward, pass 1: spikes and active entries per
//                                 column
//   lif_spikes_emit_kernel<T, I>  pass 2 (after an exclusive prefix sum of the counts on the
//                                 host side): writes the spike keys t * n_col + c and the active
//                                 set (flat index, sigma') into per-column buckets. No V and no
//                                 h is ever stored: the input spikes come as CSR (ptr, ind) over
//                                 rows r = t * B + b, and each thread computes its own current
//                                 h[t, b, j] = sum of w[i, j] over the events i of row r, in
//                                 event order (the twin spike_matmul's order). The threads of one
//                                 b walk the same events, so ptr/ind reads are broadcasts and
//                                 the reads of a w row coalesce.
// Both passes run the same scan code (count_column, emit_column), so they agree
// exactly. Keys and active entries come out grouped by column; the host then sorts both by
// flat index (the ActiveSet contract: ascending), so that the backward's delta_scatter
// writes and gather_rowdot reads go row (t, b) by row.
//
// Cost of the fused sparse forward: each pass reads nnz(x) * N entries of w (a few MB at most
// at the engine's layer sizes, so mostly L2 hits) and as many CSR indices (warp broadcasts),
// and writes only the outputs; no (T, B, N) buffer exists (an spmm followed by a scan would
// write h once and read it twice). Its parallelism is B * N threads, each walking T rows of
// events in turn, as the other scans here; not yet timed against spmm + scan on a GPU.
// Two passes rather than one: the output sizes are unknown until counted, and a single pass
// would need either an output buffer of the worst-case size T * B * N (what this path avoids)
// or a global atomic cursor (contended, and a run-to-run varying order). Recomputing h in the
// second pass costs one more nnz(x) * N reads of w; the count pass writes two ints per column.
//
// Check: pytest tests/kernels -k lif   (NVRTC compile, CPU emulation vs the NumPy twin;
//        GPU parity with -m gpu)
#include "common.cuh"
#include "lif.h"

// One step of the scan: returns V[t+1]; sets *spike = S[t]. The update is the neuron kind's
// piece (spikegrad/neurons/lif.h: alpha V + h - theta S, in the NumPy twin's order).
template <typename T>
__device__ __forceinline__ T lif_step(T v, T h, T alpha, T theta, bool* spike) {
    *spike = v > theta;
    return SG_KIND_UPDATE(v, h, alpha, theta, *spike);
}

// Pass 1 on one column: h_at(t) returns h[t] of the column. Counts spikes and active entries.
template <typename T, typename H>
__device__ __forceinline__ void count_column(H h_at, sg_i64 n_t, T alpha, T theta, T b_th,
                                             int* n_spk, int* n_act) {
    T v = T(0);
    int ns = 0, na = 0;
    for (sg_i64 t = 0; t < n_t; ++t) {
        bool spike;
        if (sg_abs(v - theta) < b_th) ++na;
        v = lif_step(v, h_at(t), alpha, theta, &spike);
        ns += spike;
    }
    *n_spk = ns;
    *n_act = na;
}

// Pass 2 on column c: writes its spike keys from keys[ks] on and its active entries from
// act_idx[ka], act_sp[ka] on, t ascending (the slots pass 1 counted).
template <typename T, typename I, typename H>
__device__ __forceinline__ void emit_column(H h_at, sg_i64 n_t, sg_i64 n_col, sg_i64 c, T alpha,
                                            T theta, T beta_s, T b_th, I ks, I ka, I* keys,
                                            I* act_idx, T* act_sp) {
    T v = T(0);
    for (sg_i64 t = 0; t < n_t; ++t) {
        const sg_i64 k = t * n_col + c;
        const T d = sg_abs(v - theta);
        if (d < b_th) {
            const T q = beta_s * d + T(1);
            act_idx[ka] = (I)k;
            act_sp[ka] = T(1) / (q * q);
            ++ka;
        }
        bool spike;
        v = lif_step(v, h_at(t), alpha, theta, &spike);
        if (spike) keys[ks++] = (I)k;
    }
}

// h[t, b, j] of the fused path: the sum of w[i, j] over the events of row t * B + b.
template <typename T, typename I>
__device__ __forceinline__ T spike_current(const I* __restrict__ ptr, const I* __restrict__ ind,
                                           const T* __restrict__ w, sg_i64 n_n, sg_i64 r,
                                           sg_i64 j) {
    T acc = T(0);
    for (I q = ptr[r]; q < ptr[r + 1]; ++q) acc += w[(sg_i64)ind[q] * n_n + j];
    return acc;
}

// h (T, B, N): in the input current, out V.  s (T, B, N) uint8: spikes.
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
lif_forward_kernel(T* h, unsigned char* s, sg_i64 n_t, sg_i64 n_col, const T* __restrict__ alpha,
                   sg_i64 n_alpha, T theta) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        const T a = alpha[c % n_alpha];
        T v = T(0);
        for (sg_i64 t = 0; t < n_t; ++t) {
            const sg_i64 k = t * n_col + c;
            bool spike;
            const T nxt = lif_step(v, h[k], a, theta, &spike);
            h[k] = v;
            s[k] = spike ? 1 : 0;
            v = nxt;
        }
    }
}

// ptr (T*B + 1,), ind (nnz,): input spikes, CSR over rows t * B + b.  w (N_in, N).
// alpha (n_alpha,).  n_spk, n_act (B*N,): counts per column.
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
lif_spikes_count_kernel(const I* __restrict__ ptr, const I* __restrict__ ind,
                        const T* __restrict__ w, sg_i64 n_t, sg_i64 n_b, sg_i64 n_n,
                        const T* __restrict__ alpha, sg_i64 n_alpha, T theta, T b_th,
                        int* __restrict__ n_spk, int* __restrict__ n_act) {
    const sg_i64 n_col = n_b * n_n;
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        const sg_i64 b = c / n_n, j = c - b * n_n;
        auto h_at = [&](sg_i64 t) { return spike_current(ptr, ind, w, n_n, t * n_b + b, j); };
        count_column(h_at, n_t, alpha[c % n_alpha], theta, b_th, n_spk + c, n_act + c);
    }
}

// As lif_spikes_count_kernel, then emits: keys (n_spikes,) and act_idx, act_sp
// (A,) grouped by column, t ascending, at the offsets spk_off, act_off (B*N,).
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
lif_spikes_emit_kernel(const I* __restrict__ ptr, const I* __restrict__ ind,
                       const T* __restrict__ w, sg_i64 n_t, sg_i64 n_b, sg_i64 n_n,
                       const T* __restrict__ alpha, sg_i64 n_alpha, T theta, T beta_s, T b_th,
                       const I* __restrict__ spk_off,
                       const I* __restrict__ act_off, I* __restrict__ keys,
                       I* __restrict__ act_idx, T* __restrict__ act_sp) {
    const sg_i64 n_col = n_b * n_n;
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        const sg_i64 b = c / n_n, j = c - b * n_n;
        auto h_at = [&](sg_i64 t) { return spike_current(ptr, ind, w, n_n, t * n_b + b, j); };
        emit_column(h_at, n_t, n_col, c, alpha[c % n_alpha], theta, beta_s, b_th, spk_off[c],
                    act_off[c], keys, act_idx, act_sp);
    }
}

#define SG_INST_T(T)                                                                          \
    template __global__ void lif_forward_kernel<T>(T*, unsigned char*, sg_i64, sg_i64, const T*, \
                                                   sg_i64, T);
#define SG_INST_TI(T, I)                                                                       \
    template __global__ void lif_spikes_count_kernel<T, I>(const I*, const I*, const T*, sg_i64, \
                                                           sg_i64, sg_i64, const T*, sg_i64, T,  \
                                                           T, int*, int*);                       \
    template __global__ void lif_spikes_emit_kernel<T, I>(const I*, const I*, const T*, sg_i64,  \
                                                          sg_i64, sg_i64, const T*, sg_i64, T, T, \
                                                          T, const I*, const I*, I*, I*, T*);
SG_INST_T(float)
SG_INST_T(double)
SG_INST_TI(float, int)
SG_INST_TI(float, long long)
SG_INST_TI(double, int)
SG_INST_TI(double, long long)
#undef SG_INST_T
#undef SG_INST_TI
