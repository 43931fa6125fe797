/* Native CPU kernels of the LIF family, the part that is the same for every neuron kind and
 * reads no weights: the partial sums of the fused backward (the weight-reading helpers are in
 * cpu_weights.h, the drivers that take a kind's pieces in cpu_kind.h and cpu_kind_weights.h).
 * Included by the native build (spikegrad/native/build.py) once per float type: SG_T is the
 * float type, SG_FN(name) its instance's name (name_f32, name_f64), SG_TINY its smallest normal
 * number, SG_V its 64-byte vector, SG_SQRT its square root. Exported functions are declared for
 * ctypes in glue.py beside this file. */

/* dst[k] += part[c * stride + k] for k < size, the parts c = 0 .. n_parts-1 added in order. */
static void SG_FN(sg_add_parts)(SG_T *restrict dst, const SG_T *restrict part, int64_t stride,
                                int64_t n_parts, int64_t size) {
#pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < size; q += 4096) {
        int64_t hi = q + 4096 < size ? q + 4096 : size;
        for (int64_t c = 0; c < n_parts; ++c) {
            const SG_T *restrict p = part + c * stride;
            for (int64_t k = q; k < hi; ++k) dst[k] += p[k];
        }
    }
}
