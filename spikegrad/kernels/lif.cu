// lif.cu: the LIF forward scan, dense and fused-sparse (CUDA twin of spikegrad/ops/lif.py).
//
// Equation (ALGORITHM.md §2, §3), per column c = (b, j), h the input current (T, B, N):
//   V[0] = 0,  S[t] = V[t] > theta,  V[t+1] = alpha V[t] + h[t] - theta S[t]
//   active(t)  <=>  |V[t] - theta| < b_th,   sigma'(V) = 1 / (beta_s |V - theta| + 1)^2
//
// Thread mapping: one thread per column c in [0, B*N), looping over t inside the kernel, so
// V lives in a register; consecutive threads read consecutive addresses at every t.
//
// Kernels
//   lif_forward_kernel<T>       dense mode: overwrites h with V, writes spikes s (uint8/bool)
//   lif_count_kernel<T>         sparse pass 1: spikes and active entries per column
//   lif_emit_kernel<T, I>       sparse pass 2 (after an exclusive prefix sum of the counts on
//                               the host side): writes the spike keys t * n_col + c and the
//                               active set (flat index, sigma') into per-column buckets. No V
//                               and nothing dense is written. Keys come out grouped by column;
//                               the host sorts them (the active set may stay in any order).
// Both sparse passes run the same scan code, so their decisions agree exactly.
//
// Check: pytest tests/kernels -k lif   (NVRTC compile, CPU emulation vs the NumPy twin;
//        GPU parity with -m gpu)
#include "common.cuh"

// One step of the scan: returns V[t+1]; sets *spike = S[t].
// Operation order matches the NumPy twin: (alpha * V + h) - theta * S.
template <typename T>
__device__ __forceinline__ T lif_step(T v, T h, T alpha, T theta, bool* spike) {
    *spike = v > theta;
    T nxt = alpha * v + h;
    if (*spike) nxt -= theta;
    return nxt;
}

// h (T, B, N): in the input current, out V.  s (T, B, N) uint8: spikes.
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
lif_forward_kernel(T* h, unsigned char* s, sg_i64 n_t, sg_i64 n_col, T alpha, T theta) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        T v = T(0);
        for (sg_i64 t = 0; t < n_t; ++t) {
            const sg_i64 k = t * n_col + c;
            bool spike;
            const T nxt = lif_step(v, h[k], alpha, theta, &spike);
            h[k] = v;
            s[k] = spike ? 1 : 0;
            v = nxt;
        }
    }
}

// h (T, B, N) read only.  n_spk, n_act (B*N,): counts per column.
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
lif_count_kernel(const T* __restrict__ h, sg_i64 n_t, sg_i64 n_col, T alpha, T theta, T b_th,
                 int* __restrict__ n_spk, int* __restrict__ n_act) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        T v = T(0);
        int ns = 0, na = 0;
        for (sg_i64 t = 0; t < n_t; ++t) {
            bool spike;
            if (sg_abs(v - theta) < b_th) ++na;
            v = lif_step(v, h[t * n_col + c], alpha, theta, &spike);
            ns += spike;
        }
        n_spk[c] = ns;
        n_act[c] = na;
    }
}

// spk_off, act_off (B*N,): exclusive prefix sums of the counts.
// keys (n_spikes,): t * n_col + c per spike, grouped by column, t ascending.
// act_idx, act_sp (A,): flat index and sigma'(V) of every active entry, grouped likewise.
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
lif_emit_kernel(const T* __restrict__ h, sg_i64 n_t, sg_i64 n_col, T alpha, T theta, T beta_s,
                T b_th, const I* __restrict__ spk_off, const I* __restrict__ act_off,
                I* __restrict__ keys, I* __restrict__ act_idx, T* __restrict__ act_sp) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        I ks = spk_off[c], ka = act_off[c];
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
            v = lif_step(v, h[k], alpha, theta, &spike);
            if (spike) keys[ks++] = (I)k;
        }
    }
}

template __global__ void lif_forward_kernel<float>(float*, unsigned char*, sg_i64, sg_i64, float, float);
template __global__ void lif_forward_kernel<double>(double*, unsigned char*, sg_i64, sg_i64, double, double);
template __global__ void lif_count_kernel<float>(const float*, sg_i64, sg_i64, float, float, float, int*, int*);
template __global__ void lif_count_kernel<double>(const double*, sg_i64, sg_i64, double, double, double, int*, int*);
#define SG_INST_EMIT(T, I)                                                                   \
    template __global__ void lif_emit_kernel<T, I>(const T*, sg_i64, sg_i64, T, T, T, T,      \
                                                   const I*, const I*, I*, I*, T*);
SG_INST_EMIT(float, int)
SG_INST_EMIT(float, long long)
SG_INST_EMIT(double, int)
SG_INST_EMIT(double, long long)
#undef SG_INST_EMIT
