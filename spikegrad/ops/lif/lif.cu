// lif.cu: the forward scan of a feed-forward layer of any neuron kind, dense and fused-sparse
// (CUDA twin of spikegrad/ops/lif/twin.py for LIF, of spikegrad/ops/kind_twin.py for every
// kind). The kernels are templated on the kind K (kinds.cuh: its pieces, ALGORITHM.md §2, §8).
//
// Equation (ALGORITHM.md §2, §3, §8), per column c = (b, j), h the input current (T, B, N),
// x the neuron's state (x[0] = V; CuBa: I, ALIF: a), thr = K::threshold (LIF: theta):
//   x[0] = 0,  S[t] = V[t] > thr[t],  x[t+1] = K::update(x[t], h[t], S[t])
//   active(t)  <=>  |V[t] - thr[t]| < b_th,   sigma'(V) = 1 / (beta_s |V - thr| + 1)^2
//
// Thread mapping: one thread per column c = b * N + j in [0, B*N), looping over t inside the
// kernel, so the state lives in registers; consecutive threads are consecutive j of one b.
// cons (n_args, n_c): the kind's constants (FORWARD_ARGS), one value per neuron (n_c = N,
// ALGORITHM.md §2's heterogeneous time constants) or one for all (n_c = 1); column c reads
// entry c % n_c of each row once (K::load).
//
// Kernels
//   lif_forward_kernel<K, T>      dense mode: overwrites h with the kind's record (LIF, CuBa:
//                                 V; ALIF: V - A), writes spikes s (uint8/bool)
//   lif_spikes_count_kernel<K, T, W, I> the sparse forward, pass 1: spikes and active entries
//                                 per column (W: the weights' storage, common.cuh: sg_wload)
//   lif_spikes_emit_kernel<K, T, W, I>  pass 2 (after an exclusive prefix sum of the counts on the
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
#include "kinds.cuh"  // the neuron kinds' pieces

// One step of the scan of a neuron with constants k and state x: x <- x[t+1]; returns S[t],
// *d = |V[t] - threshold|, *rec = the kind's record of step t.
template <typename K, typename T>
__device__ __forceinline__ bool kind_step(const T* k, T* x, T h, T* d, T* rec) {
    const T thr = K::threshold(k, x);
    const bool spike = x[0] > thr;
    *d = sg_abs(x[0] - thr);
    *rec = K::record(x, thr);
    K::update(k, x, h, spike, thr);
    return spike;
}

// Pass 1 on one column: h_at(t) returns h[t] of the column. Counts spikes and active entries.
template <typename K, typename T, typename H>
__device__ __forceinline__ void count_column(H h_at, sg_i64 n_t, const T* k, T b_th,
                                             int* n_spk, int* n_act) {
    T x[K::NS] = {};
    int ns = 0, na = 0;
    for (sg_i64 t = 0; t < n_t; ++t) {
        T d, rec;
        const bool spike = kind_step<K>(k, x, h_at(t), &d, &rec);
        if (d < b_th) ++na;
        ns += spike;
    }
    *n_spk = ns;
    *n_act = na;
}

// Pass 2 on column c: writes its spike keys from keys[ks] on and its active entries from
// act_idx[ka], act_sp[ka] on, t ascending (the slots pass 1 counted).
template <typename K, typename T, typename I, typename H>
__device__ __forceinline__ void emit_column(H h_at, sg_i64 n_t, sg_i64 n_col, sg_i64 c,
                                            const T* k, T beta_s, T b_th, I ks, I ka, I* keys,
                                            I* act_idx, T* act_sp) {
    T x[K::NS] = {};
    for (sg_i64 t = 0; t < n_t; ++t) {
        const sg_i64 key = t * n_col + c;
        T d, rec;
        const bool spike = kind_step<K>(k, x, h_at(t), &d, &rec);
        if (d < b_th) {
            const T q = beta_s * d + T(1);
            act_idx[ka] = (I)key;
            act_sp[ka] = T(1) / (q * q);
            ++ka;
        }
        if (spike) keys[ks++] = (I)key;
    }
}

// h[t, b, j] of the fused path: the sum of w[i, j] over the events of row t * B + b.
template <typename T, typename W, typename I>
__device__ __forceinline__ T spike_current(const I* __restrict__ ptr, const I* __restrict__ ind,
                                           const W* __restrict__ w, sg_i64 n_n, sg_i64 r,
                                           sg_i64 j) {
    T acc = T(0);
    for (I q = ptr[r]; q < ptr[r + 1]; ++q) acc += sg_wload(w[(sg_i64)ind[q] * n_n + j]);
    return acc;
}

// h (T, B, N): in the input current, out the record.  s (T, B, N) uint8: spikes.
// cons (n_args, n_c): the kind's constants.
template <typename K, typename T>
__global__ void __launch_bounds__(SG_BLOCK)
lif_forward_kernel(T* h, unsigned char* s, sg_i64 n_t, sg_i64 n_col, const T* __restrict__ cons,
                   sg_i64 n_args, sg_i64 n_c) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        T k[K::NC], x[K::NS] = {};
        K::load(k, cons, n_args, n_c, c);
        for (sg_i64 t = 0; t < n_t; ++t) {
            const sg_i64 key = t * n_col + c;
            T d, rec;
            const bool spike = kind_step<K>(k, x, h[key], &d, &rec);
            h[key] = rec;
            s[key] = spike ? 1 : 0;
        }
    }
}

// ptr (T*B + 1,), ind (nnz,): input spikes, CSR over rows t * B + b.  w (N_in, N).
// cons (n_args, n_c).  n_spk, n_act (B*N,): counts per column.
template <typename K, typename T, typename W, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
lif_spikes_count_kernel(const I* __restrict__ ptr, const I* __restrict__ ind,
                        const W* __restrict__ w, sg_i64 n_t, sg_i64 n_b, sg_i64 n_n,
                        const T* __restrict__ cons, sg_i64 n_args, sg_i64 n_c, T b_th,
                        int* __restrict__ n_spk, int* __restrict__ n_act) {
    const sg_i64 n_col = n_b * n_n;
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        const sg_i64 b = c / n_n, j = c - b * n_n;
        T k[K::NC];
        K::load(k, cons, n_args, n_c, j);
        auto h_at = [&](sg_i64 t) { return spike_current<T>(ptr, ind, w, n_n, t * n_b + b, j); };
        count_column<K>(h_at, n_t, k, b_th, n_spk + c, n_act + c);
    }
}

// As lif_spikes_count_kernel, then emits: keys (n_spikes,) and act_idx, act_sp
// (A,) grouped by column, t ascending, at the offsets spk_off, act_off (B*N,).
template <typename K, typename T, typename W, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
lif_spikes_emit_kernel(const I* __restrict__ ptr, const I* __restrict__ ind,
                       const W* __restrict__ w, sg_i64 n_t, sg_i64 n_b, sg_i64 n_n,
                       const T* __restrict__ cons, sg_i64 n_args, sg_i64 n_c, T beta_s, T b_th,
                       const I* __restrict__ spk_off, const I* __restrict__ act_off,
                       I* __restrict__ keys, I* __restrict__ act_idx, T* __restrict__ act_sp) {
    const sg_i64 n_col = n_b * n_n;
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        const sg_i64 b = c / n_n, j = c - b * n_n;
        T k[K::NC];
        K::load(k, cons, n_args, n_c, j);
        auto h_at = [&](sg_i64 t) { return spike_current<T>(ptr, ind, w, n_n, t * n_b + b, j); };
        emit_column<K>(h_at, n_t, n_col, c, k, beta_s, b_th, spk_off[c], act_off[c], keys,
                       act_idx, act_sp);
    }
}

#define SG_INST_KT(K, T)                                                                      \
    template __global__ void lif_forward_kernel<K, T>(T*, unsigned char*, sg_i64, sg_i64,      \
                                                      const T*, sg_i64, sg_i64);
#define SG_INST_KTWI(K, T, W, I)                                                              \
    template __global__ void lif_spikes_count_kernel<K, T, W, I>(                             \
        const I*, const I*, const W*, sg_i64, sg_i64, sg_i64, const T*, sg_i64, sg_i64, T, int*, \
        int*);                                                                                \
    template __global__ void lif_spikes_emit_kernel<K, T, W, I>(                              \
        const I*, const I*, const W*, sg_i64, sg_i64, sg_i64, const T*, sg_i64, sg_i64, T, T,  \
        const I*, const I*, I*, I*, T*);
#define SG_INST_KTW(K, T, W) SG_INST_KTWI(K, T, W, int) SG_INST_KTWI(K, T, W, long long)
#define SG_INST_K(K)                                                                          \
    SG_INST_KT(K, float)                                                                      \
    SG_INST_KT(K, double)                                                                     \
    SG_WEIGHT_PAIRS(SG_INST_KTW, K)
SG_INST_K(sg_lif)
SG_INST_K(sg_cuba)
SG_INST_K(sg_alif)
#undef SG_INST_K
#undef SG_INST_KT
#undef SG_INST_KTW
#undef SG_INST_KTWI
