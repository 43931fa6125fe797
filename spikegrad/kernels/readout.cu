// readout.cu: leaky time filters of the readout (CUDA twin of leaky_scan and
// leaky_scan_reverse in spikegrad/ops/lif.py, used by spikegrad/ops/readout.py).
//
// Equations (ALGORITHM.md §2 readout, §4 readout backward), per column c of a (T, ...) array:
//   leaky_scan:          y[0] = 0,  y[t+1] = alpha y[t] + gain x[t]     (u from S^L W_out)
//   leaky_scan_reverse:  e[t] += alpha e[t+1] for t = T-2 .. 0, in place (the filter's adjoint)
// The class scores (max / sum / last over t), the cross-entropy and the spike-count
// regulariser act on (B, K) and (B, N) arrays and run as CuPy array expressions.
//
// Thread mapping: one thread per column, looping over t (the state stays in a register).
//
// Check: pytest tests/kernels -k readout
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

// e (T, n_col), in place.
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
leaky_scan_reverse_kernel(T* e, sg_i64 n_t, sg_i64 n_col, T alpha) {
    for (sg_i64 c = sg_tid(); c < n_col; c += sg_stride()) {
        if (n_t == 0) continue;
        T acc = e[(n_t - 1) * n_col + c];
        for (sg_i64 t = n_t - 2; t >= 0; --t) {
            const sg_i64 k = t * n_col + c;
            acc = e[k] + alpha * acc;
            e[k] = acc;
        }
    }
}

template __global__ void leaky_scan_kernel<float>(const float*, float*, sg_i64, sg_i64, float, float);
template __global__ void leaky_scan_kernel<double>(const double*, double*, sg_i64, sg_i64, double, double);
template __global__ void leaky_scan_reverse_kernel<float>(float*, sg_i64, sg_i64, float);
template __global__ void leaky_scan_reverse_kernel<double>(double*, sg_i64, sg_i64, double);
