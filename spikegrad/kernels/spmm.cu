// spmm.cu: spike-event x dense products (CUDA twin of spikegrad/ops/spmm.py).
//
// A spike matrix is CSR with all values 1 (ptr (R+1,), ind (nnz,)), so a product is a sum of
// dense rows:
//   out[r, j] = sum_{k in ptr[r] .. ptr[r+1]} dense[ind[k], j]          (spmm_csr_kernel)
// It serves both products of the engine:
//   h = x W       (ALGORITHM.md §2): x's CSR (rows t*B+b) against W (N_in, N)
//   dW = x^T e1   (ALGORITHM.md §4): x's CSC (built on the host by a deterministic sort)
//                 against e1 (T*B, N), or the atomic variant straight from the CSR.
//
// Thread mapping: one thread per output entry (r, j), j fastest, so a warp reads a contiguous
// run of a dense row; work O(nnz * M).
//
// Kernels
//   spmm_csr_kernel<T, I>           out = X dense, sequential sum per entry: deterministic
//   spmm_csr_t_atomic_kernel<T, I>  out += X^T dense by atomicAdd from each (row, j) of the dense
//                                   operand (zero rows skipped); out zeroed by the host. Order of
//                                   the float additions varies run to run (the default; the
//                                   deterministic mode uses the CSC + spmm_csr_kernel path)
//
// Check: pytest tests/kernels -k spmm
#include "common.cuh"

// ptr (R+1,), ind (nnz,), dense (C, M) -> out (R, M).
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
spmm_csr_kernel(const I* __restrict__ ptr, const I* __restrict__ ind, const T* __restrict__ dense,
                sg_i64 n_rows, sg_i64 m, T* __restrict__ out) {
    const sg_i64 n = n_rows * m;
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const sg_i64 r = k / m, j = k - r * m;
        T acc = T(0);
        for (I q = ptr[r]; q < ptr[r + 1]; ++q) acc += dense[(sg_i64)ind[q] * m + j];
        out[k] = acc;
    }
}

// ptr (R+1,), ind (nnz,), dense (R, M) -> out (C, M) += X^T dense.
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
spmm_csr_t_atomic_kernel(const I* __restrict__ ptr, const I* __restrict__ ind,
                         const T* __restrict__ dense, sg_i64 n_rows, sg_i64 m, T* out) {
    const sg_i64 n = n_rows * m;
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const T x = dense[k];
        if (x == T(0)) continue;
        const sg_i64 r = k / m, j = k - r * m;
        for (I q = ptr[r]; q < ptr[r + 1]; ++q) atomicAdd(out + (sg_i64)ind[q] * m + j, x);
    }
}

#define SG_INST(T, I)                                                                         \
    template __global__ void spmm_csr_kernel<T, I>(const I*, const I*, const T*, sg_i64, sg_i64, T*); \
    template __global__ void spmm_csr_t_atomic_kernel<T, I>(const I*, const I*, const T*, sg_i64,   \
                                                            sg_i64, T*);
SG_INST(float, int)
SG_INST(float, long long)
SG_INST(double, int)
SG_INST(double, long long)
#undef SG_INST
