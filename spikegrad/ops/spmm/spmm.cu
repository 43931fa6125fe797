// spmm.cu: spike-event x dense products (CUDA twin of spikegrad/ops/spmm/twin.py).
//
// A spike matrix is CSR with all values 1 (ptr (R+1,), ind (nnz,)), so a product is a sum of
// dense rows:
//   out[r, j] = sum_{k in ptr[r] .. ptr[r+1]} dense[ind[k], j]          (spmm_csr_kernel)
// It serves both products of the engine:
//   h = x W       (ALGORITHM.md §2): x's CSR (rows t*B+b) against W (N_in, N)
//   dW = x^T e1   (ALGORITHM.md §4): three variants, chosen by spikegrad.kernels.host:
//     atomic     from the CSR, atomicAdd into a zeroed output (order varies run to run)
//     segmented  the events in column order (CSC: colptr, rows; built on the device by a sort
//                of unique keys), cut into segments of a fixed number of events; a thread per
//                (segment, j) sums each run of equal columns in its segment; a run that is a
//                whole column is written straight to out, a run cut by a segment edge goes to
//                head/tail partials that a second pass adds in segment order. Balanced (a
//                heavy column is spread over many segments), no float atomics. For wide
//                outputs (the hidden layers' dW).
//     chunked    no transpose: the CSR events are cut into chunks of a fixed number of events;
//                thread (chunk, j) owns column j of a private (C, M) partial of its chunk and
//                adds its events in CSR order; a second pass sums the partials in chunk order.
//                For narrow outputs (the readout's dW_out, N_L x K with K ~ 20), where
//                n_chunk * C * M partials stay below the product's own nnz * M terms.
//   Deterministic variants: every output is a sum in an order fixed by the data and the
//   segment / chunk length alone (not the grid): bitwise reproducible on any grid.
//
// Thread mapping: one thread per output entry or per (segment | chunk, j), j fastest, so a
// warp reads a contiguous run of a dense row.
//
// Kernels
//   spmm_csr_kernel<T, W, I>        out = X dense, sequential sum per entry: deterministic;
//                                   dense: the weights, of storage W (common.cuh: sg_wload)
//   spmm_csr_t_atomic_kernel<T, I>  out += X^T dense by atomicAdd from each (row, j) of the dense
//                                   operand (zero rows skipped); out zeroed by the host
//   spmm_t_seg_kernel<T, I>         segmented, pass 1: whole-column runs to out, cut runs to
//                                   head (n_seg, M) / tail (n_seg, M)
//   spmm_t_seg_fix_kernel<T, I>     segmented, pass 2: cut columns = tail of the first segment
//                                   + heads of the later ones, in order; empty columns = 0
//   spmm_t_chunk_kernel<T, I>       chunked, pass 1: part (n_chunk, C, M), each chunk's slab
//                                   written whole (zeros, then its events in order)
//   sum_leading_kernel<T>           chunked, pass 2: out[o] = sum_c part[c, o], c ascending
//
// Check: pytest tests/kernels -k "spike or spmm or tmatmul"
#include "common.cuh"

// ptr (R+1,), ind (nnz,), dense (C, M) -> out (R, M).
template <typename T, typename W, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
spmm_csr_kernel(const I* __restrict__ ptr, const I* __restrict__ ind, const W* __restrict__ dense,
                sg_i64 n_rows, sg_i64 m, T* __restrict__ out) {
    const sg_i64 n = n_rows * m;
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const sg_i64 r = k / m, j = k - r * m;
        T acc = T(0);
        for (I q = ptr[r]; q < ptr[r + 1]; ++q) acc += sg_wload(dense[(sg_i64)ind[q] * m + j]);
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

// The last p in [0, n) with ptr[p] <= q (ptr non-decreasing, ptr[0] <= q < ptr[n]): the row
// (or column) holding event q.
template <typename I>
__device__ __forceinline__ sg_i64 sg_owner(const I* ptr, sg_i64 n, sg_i64 q) {
    sg_i64 lo = 0, hi = n;  // ptr[lo] <= q < ptr[hi]
    while (hi - lo > 1) {
        const sg_i64 mid = lo + (hi - lo) / 2;
        if ((sg_i64)ptr[mid] <= q) lo = mid;
        else hi = mid;
    }
    return lo;
}

// colptr (C+1,), rows (nnz,) of X's CSC; dense (R, M) -> out (C, M) for columns inside one
// segment, head/tail (n_seg, M) for runs cut by a segment edge. seg: events per segment.
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
spmm_t_seg_kernel(const I* __restrict__ colptr, const I* __restrict__ rows,
                  const T* __restrict__ dense, sg_i64 n_cols, sg_i64 m, sg_i64 nnz, sg_i64 seg,
                  T* __restrict__ out, T* __restrict__ head, T* __restrict__ tail) {
    const sg_i64 n_seg = (nnz + seg - 1) / seg, n = n_seg * m;
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const sg_i64 s = k / m, j = k - s * m;
        const sg_i64 q0 = s * seg, q1 = q0 + seg < nnz ? q0 + seg : nnz;
        sg_i64 c = sg_owner(colptr, n_cols, q0);
        bool first = true;  // the run of column c is the segment's first
        T acc = T(0);
        for (sg_i64 q = q0; q < q1; ++q) {
            if (q == (sg_i64)colptr[c + 1]) {  // column c ends inside the segment
                if (first && (sg_i64)colptr[c] < q0) head[k] = acc;
                else out[c * m + j] = acc;
                first = false;
                acc = T(0);
                do ++c;
                while ((sg_i64)colptr[c + 1] == q);  // skip empty columns
            }
            acc += dense[(sg_i64)rows[q] * m + j];
        }
        if (first && (sg_i64)colptr[c] < q0) head[k] = acc;  // cut on the left (maybe both)
        else if ((sg_i64)colptr[c + 1] > q1) tail[k] = acc;  // cut on the right only
        else out[c * m + j] = acc;
    }
}

// colptr (C+1,), head/tail (n_seg, M) -> out (C, M) for the cut and the empty columns.
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
spmm_t_seg_fix_kernel(const I* __restrict__ colptr, sg_i64 n_cols, sg_i64 m, sg_i64 seg,
                      const T* __restrict__ head, const T* __restrict__ tail,
                      T* __restrict__ out) {
    const sg_i64 n = n_cols * m;
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const sg_i64 c = k / m, j = k - c * m;
        const sg_i64 lo = colptr[c], hi = colptr[c + 1];
        if (lo == hi) {
            out[k] = T(0);
            continue;
        }
        const sg_i64 s0 = lo / seg, s1 = (hi - 1) / seg;
        if (s0 == s1) continue;  // inside one segment: written by pass 1
        T acc = tail[s0 * m + j];
        for (sg_i64 s = s0 + 1; s <= s1; ++s) acc += head[s * m + j];
        out[k] = acc;
    }
}

// ptr (R+1,), ind (nnz,), dense (R, M) -> part (n_chunk, C, M); chunk: events per chunk.
template <typename T, typename I>
__global__ void __launch_bounds__(SG_BLOCK)
spmm_t_chunk_kernel(const I* __restrict__ ptr, const I* __restrict__ ind,
                    const T* __restrict__ dense, sg_i64 n_rows, sg_i64 m, sg_i64 n_cols,
                    sg_i64 nnz, sg_i64 chunk, T* __restrict__ part) {
    const sg_i64 n_chunk = (nnz + chunk - 1) / chunk, n = n_chunk * m;
    for (sg_i64 k = sg_tid(); k < n; k += sg_stride()) {
        const sg_i64 ch = k / m, j = k - ch * m;
        T* slab = part + ch * n_cols * m + j;
        for (sg_i64 i = 0; i < n_cols; ++i) slab[i * m] = T(0);
        const sg_i64 q0 = ch * chunk, q1 = q0 + chunk < nnz ? q0 + chunk : nnz;
        sg_i64 r = sg_owner(ptr, n_rows, q0);
        for (sg_i64 q = q0; q < q1; ++q) {
            while ((sg_i64)ptr[r + 1] <= q) ++r;
            slab[(sg_i64)ind[q] * m] += dense[r * m + j];
        }
    }
}

// part (n_lead, n) -> out (n,): out[o] = part[0, o] + part[1, o] + ... in that order.
template <typename T>
__global__ void __launch_bounds__(SG_BLOCK)
sum_leading_kernel(const T* __restrict__ part, sg_i64 n_lead, sg_i64 n, T* __restrict__ out) {
    for (sg_i64 o = sg_tid(); o < n; o += sg_stride()) {
        T acc = T(0);
        for (sg_i64 c = 0; c < n_lead; ++c) acc += part[c * n + o];
        out[o] = acc;
    }
}

#define SG_INST_TWI(T, W, I)                                                                  \
    template __global__ void spmm_csr_kernel<T, W, I>(const I*, const I*, const W*, sg_i64, sg_i64, \
                                                      T*);
#define SG_INST_TW(X, T, W) SG_INST_TWI(T, W, int) SG_INST_TWI(T, W, long long)
SG_WEIGHT_PAIRS(SG_INST_TW, _)
#undef SG_INST_TW
#undef SG_INST_TWI
#define SG_INST(T, I)                                                                         \
    template __global__ void spmm_csr_t_atomic_kernel<T, I>(const I*, const I*, const T*, sg_i64,   \
                                                            sg_i64, T*);                      \
    template __global__ void spmm_t_seg_kernel<T, I>(const I*, const I*, const T*, sg_i64, sg_i64, \
                                                     sg_i64, sg_i64, T*, T*, T*);             \
    template __global__ void spmm_t_seg_fix_kernel<T, I>(const I*, sg_i64, sg_i64, sg_i64,      \
                                                         const T*, const T*, T*);             \
    template __global__ void spmm_t_chunk_kernel<T, I>(const I*, const I*, const T*, sg_i64,    \
                                                       sg_i64, sg_i64, sg_i64, sg_i64, T*);
SG_INST(float, int)
SG_INST(float, long long)
SG_INST(double, int)
SG_INST(double, long long)
#undef SG_INST
template __global__ void sum_leading_kernel<float>(const float*, sg_i64, sg_i64, float*);
template __global__ void sum_leading_kernel<double>(const double*, sg_i64, sg_i64, double*);
