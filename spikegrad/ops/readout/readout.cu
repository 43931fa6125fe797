// readout.cu: leaky time filters of the readout (CUDA twin of leaky_scan and
// leaky_scan_reverse in spikegrad/ops/readout/twin.py).
//
// Equations (ALGORITHM.md §2 readout, §4 readout backward), per column c of a (T, ...) array:
//   leaky_scan:          y[0] = 0,  y[t+1] = alpha y[t] + gain x[t]     (u from S^L W_out)
//   leaky_scan_reverse:  e[t] += alpha e[t+1] for t = T-2 .. 0, in place (the filter's adjoint)
// Denormal policy of the reverse scan (common.cuh): after each step, a value of magnitude below
// the smallest normal number is set to +0; the arithmetic before it is IEEE in float32 too.
// The class scores (max / sum / last over t), the cross-entropy and the spike-count
// regulariser act on (B, K) and (B, N) arrays and run as CuPy array expressions.
//
// Two schemes, chosen by spikegrad.kernels.host from T and the number of columns:
//   column   one thread per column, looping over t (the state in a register). Bitwise equal
//            to the twin. Used when the columns alone fill the device.
//   chunked  the readout's few columns (B*K) and many steps: time is cut into n_chunk chunks
//            of len steps (the last one shorter; for the reverse scan counted from the end), a
//            linear-recurrence scan in three passes:
//              reduce  thread (chunk q < n_chunk-1, c): r[q] = the chunk's own contribution to
//                      the state entering chunk q+1 (the scan of the chunk from state 0)
//              carry   thread per column: s <- s A + r[q] in chunk order, A = alpha^len, so
//                      r[q] becomes the state entering chunk q+1
//              chunk   thread (q, c): the sequential scan of chunk q from that state (chunk 0
//                      from the true start), writing the outputs
//            Chunk 0 is bitwise the column scheme; later chunks start from a reassociated
//            state (error bound: spikegrad.kernels.host.leaky_scan). One scalar alpha only: a
//            per-neuron alpha of the reverse scan (hidden layers) takes the column scheme.
//
// Kernels
//   leaky_scan_kernel<T>, leaky_scan_reverse_kernel<T>                         column scheme
//   leaky_scan_reduce_kernel<T>, leaky_scan_reverse_reduce_kernel<T>           chunked: reduce
//   leaky_scan_carry_kernel<T>                                                 chunked: carry
//   leaky_scan_chunk_kernel<T>, leaky_scan_reverse_chunk_kernel<T>             chunked: chunk
//
// Check: pytest tests/kernels -k "leaky or readout"
#include "common.cuh"

// x (T, n_col) -> y (T, n_col).
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
leaky_scan_kernel(const T* __restrict__ x, T* __restrict__ y, sg_i64 n_t, sg_i64 n_col, T alpha,
                  T gain) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        if (n_t == 0) continue;
        T u = T(0);
        y[c] = u;
        for (sg_i64 t = 0; t + 1 < n_t; ++t) {
            u = u * alpha + gain * x[t * n_col + c];
            y[(t + 1) * n_col + c] = u;
        }
    }
}

// e (T, n_col), in place; alpha (n_alpha,): column c reads alpha[c % n_alpha] (one value, or
// one per entry of e's last axis: the hidden layers' per-neuron alpha).
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
leaky_scan_reverse_kernel(T* e, sg_i64 n_t, sg_i64 n_col, const T* __restrict__ alpha,
                          sg_i64 n_alpha) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        if (n_t == 0) continue;
        const T a = alpha[c % n_alpha];
        T acc = e[(n_t - 1) * n_col + c];
        for (sg_i64 t = n_t - 2; t >= 0; --t) {
            const sg_i64 k = t * n_col + c;
            acc = sg_flush(sg_add_rn(e[k], sg_mul_rn(a, acc)));
            e[k] = acc;
        }
    }
}

// x (T, n_col) -> r (n_chunk - 1, n_col): chunk q's scan of x[q len .. (q+1) len) from 0.
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
leaky_scan_reduce_kernel(const T* __restrict__ x, sg_i64 n_col, sg_i64 len, sg_i64 n_red,
                         T alpha, T gain, T* __restrict__ r) {
    const sg_i64 n = n_red * n_col;
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const sg_i64 q = k / n_col, c = k - q * n_col;
        T u = T(0);
        for (sg_i64 t = q * len; t < (q + 1) * len; ++t) u = u * alpha + gain * x[t * n_col + c];
        r[k] = u;
    }
}

// r (n_red, n_col), in place: r[q] <- the state entering chunk q+1 (aL = alpha^len).
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
leaky_scan_carry_kernel(T* r, sg_i64 n_red, sg_i64 n_col, T aL) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        T s = T(0);
        for (sg_i64 q = 0; q < n_red; ++q) {
            s = sg_add_rn(sg_mul_rn(s, aL), r[q * n_col + c]);
            r[q * n_col + c] = s;
        }
    }
}

// x (T, n_col), r (n_chunk - 1, n_col) from the carry pass -> y (T, n_col).
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
leaky_scan_chunk_kernel(const T* __restrict__ x, const T* __restrict__ r, T* __restrict__ y,
                        sg_i64 n_t, sg_i64 n_col, sg_i64 len, T alpha, T gain) {
    const sg_i64 n_chunk = (n_t + len - 1) / len, n = n_chunk * n_col;
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const sg_i64 q = k / n_col, c = k - q * n_col;
        const sg_i64 t0 = q * len, t1 = t0 + len < n_t ? t0 + len : n_t;
        T u = q == 0 ? T(0) : r[(q - 1) * n_col + c];
        y[t0 * n_col + c] = u;
        for (sg_i64 t = t0; t + 1 < t1; ++t) {
            u = u * alpha + gain * x[t * n_col + c];
            y[(t + 1) * n_col + c] = u;
        }
    }
}

// e (T, n_col) -> r (n_chunk - 1, n_col): chunk q (rows [T - (q+1) len, T - q len)) scanned
// downwards from 0, without flushing (r is internal).
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
leaky_scan_reverse_reduce_kernel(const T* __restrict__ e, sg_i64 n_t, sg_i64 n_col, sg_i64 len,
                                 sg_i64 n_red, T alpha, T* __restrict__ r) {
    const sg_i64 n = n_red * n_col;
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const sg_i64 q = k / n_col, c = k - q * n_col;
        const sg_i64 hi = n_t - q * len;
        T acc = T(0);
        for (sg_i64 t = hi - 1; t >= hi - len; --t)
            acc = sg_add_rn(e[t * n_col + c], sg_mul_rn(alpha, acc));
        r[k] = acc;
    }
}

// e (T, n_col) in place, r (n_chunk - 1, n_col) from the carry pass. The top row is not
// written (as in the column scheme).
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
leaky_scan_reverse_chunk_kernel(T* e, const T* __restrict__ r, sg_i64 n_t, sg_i64 n_col,
                                sg_i64 len, T alpha) {
    const sg_i64 n_chunk = (n_t + len - 1) / len, n = n_chunk * n_col;
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const sg_i64 q = k / n_col, c = k - q * n_col;
        const sg_i64 hi = n_t - q * len, lo = hi - len > 0 ? hi - len : 0;
        // chunk 0 starts from the top row itself, a later chunk from the row above it (that
        // row's value, so flushed by the policy)
        T acc = q == 0 ? e[(hi - 1) * n_col + c] : sg_flush(r[(q - 1) * n_col + c]);
        for (sg_i64 t = q == 0 ? hi - 2 : hi - 1; t >= lo; --t) {
            const sg_i64 i = t * n_col + c;
            acc = sg_flush(sg_add_rn(e[i], sg_mul_rn(alpha, acc)));
            e[i] = acc;
        }
    }
}

#define SG_INST(T)                                                                            \
    template __global__ void leaky_scan_kernel<T>(const T*, T*, sg_i64, sg_i64, T, T);        \
    template __global__ void leaky_scan_reverse_kernel<T>(T*, sg_i64, sg_i64, const T*, sg_i64); \
    template __global__ void leaky_scan_reduce_kernel<T>(const T*, sg_i64, sg_i64, sg_i64, T, T, \
                                                         T*);                                 \
    template __global__ void leaky_scan_carry_kernel<T>(T*, sg_i64, sg_i64, T);               \
    template __global__ void leaky_scan_chunk_kernel<T>(const T*, const T*, T*, sg_i64, sg_i64, \
                                                        sg_i64, T, T);                        \
    template __global__ void leaky_scan_reverse_reduce_kernel<T>(const T*, sg_i64, sg_i64, sg_i64, \
                                                                 sg_i64, T, T*);              \
    template __global__ void leaky_scan_reverse_chunk_kernel<T>(T*, const T*, sg_i64, sg_i64,   \
                                                                sg_i64, T);
SG_INST(float)
SG_INST(double)
#undef SG_INST
