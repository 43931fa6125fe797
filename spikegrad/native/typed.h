/* Typed helpers of every family's typed C, included once per float type before them. */
/* alpha of the columns c0 .. c0 + w - 1 of rows whose last axis has n_alpha entries: dst[c] =
 * alpha[(c0 + c) % n_alpha] (n_alpha = 1: one alpha for every neuron). */
static void SG_FN(sg_alpha_fill)(SG_T *restrict dst, const SG_T *restrict alpha, int64_t n_alpha,
                                 int64_t c0, int64_t w) {
    for (int64_t c = 0; c < w; ++c) dst[c] = alpha[n_alpha == 1 ? 0 : (c0 + c) % n_alpha];
}

