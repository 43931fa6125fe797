/* The LIF family's drivers, written once over a neuron kind's pieces (SG_KIND_*: the
 * interface is described in spikegrad/neurons/lif.h, each kind's in spikegrad/neurons/<kind>.h):
 * the neuron scan and the row step here; the fused sparse forward and backward, which read
 * weights, in cpu_kind_weights.h. Included by the native build once per float type and neuron
 * kind, after cpu.h: SG_KFN(name) is <kind>_<name>_f32 / _f64 (lif_forward_f32, ...).
 *
 * The kind's constants come as cons (n_args, n_c): row q holds the q-th of the op's constant
 * arguments (FORWARD_ARGS, or the backward's ADJOINT_ARGS), n_c = 1 (one value per layer) or
 * the number of neurons (one each); a neuron's slots k[] are filled from them, the slots past
 * n_args zeroed, then SG_KIND_DERIVE. Per-neuron state lives in planes: a row of n neurons of
 * each state (adjoint) variable in turn. */

/* dst (SG_KIND_NC, w): the constant slots of columns c0 .. c0 + w - 1 (column c reads entry
 * c % n_c of each row of cons). */
static void SG_KFN(const_fill)(SG_T *restrict dst, const SG_T *restrict cons, int64_t n_args,
                               int64_t n_c, int64_t c0, int64_t w) {
    for (int64_t q = 0; q < SG_KIND_NC; ++q) {
        if (q < n_args)
            SG_FN(sg_alpha_fill)(dst + q * w, cons + q * n_c, n_c, c0, w);
        else
            for (int64_t c = 0; c < w; ++c) dst[q * w + c] = 0;
    }
    for (int64_t c = 0; c < w; ++c) {
        SG_T k[SG_KIND_NC];
        for (int q = 0; q < SG_KIND_NC; ++q) k[q] = dst[q * w + c];
        SG_KIND_DERIVE(k);
        for (int q = 0; q < SG_KIND_NC; ++q) dst[q * w + c] = k[q];
    }
}

/* The neuron scan (ops/kind_twin.py: forward_dense; LIF: ops/lif/twin.py: lif_forward): h
 * (nt, m) holds the input current and is overwritten with the kind's record (LIF, CuBa: V; ALIF:
 * V - A); s (nt, m) bytes receives the spikes S[t] = V[t] > threshold, from the zero state and
 * the kind's update; cons (n_args, n_c) as above, broadcast along the last axis (n_c divides
 * m). */
void SG_KFN(forward)(SG_T *h, uint8_t *s, int64_t nt, int64_t m, const SG_T *cons,
                     int64_t n_args, int64_t n_c) {
    int64_t n_tiles = (m + SG_TILE - 1) / SG_TILE;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
        int64_t c0 = tile * SG_TILE, w = m - c0 < SG_TILE ? m - c0 : SG_TILE;
        SG_T st[SG_KIND_NS * SG_TILE], kc[SG_KIND_NC * SG_TILE];
        SG_KFN(const_fill)(kc, cons, n_args, n_c, c0, w);
        for (int64_t c = 0; c < SG_KIND_NS * w; ++c) st[c] = 0;
        for (int64_t t = 0; t < nt; ++t) {
            SG_T *ht = h + t * m + c0;
            uint8_t *stt = s + t * m + c0;
            for (int64_t c = 0; c < w; ++c) {
                SG_T x[SG_KIND_NS], k[SG_KIND_NC];
                for (int q = 0; q < SG_KIND_NS; ++q) x[q] = st[q * w + c];
                for (int q = 0; q < SG_KIND_NC; ++q) k[q] = kc[q * w + c];
                SG_T thr = SG_KIND_THRESHOLD(k, x);
                uint8_t spike = x[0] > thr;
                SG_T rec = SG_KIND_RECORD(x, thr);
                SG_KIND_UPDATE(k, x, ht[c], spike, thr);
                stt[c] = spike;
                ht[c] = rec;
                for (int q = 0; q < SG_KIND_NS; ++q) st[q * w + c] = x[q];
            }
        }
    }
}

/* One step of a row of n neurons: the flags of V (f: bit 0 spike, bit 1 |V - threshold| <
 * b_th), dist = |V - threshold|, then the state (xs: SG_KIND_NS planes of n) <- the kind's
 * update with the current h, as in the scan (kc: SG_KIND_NC planes of n). Returns whether any
 * flag is set. */
static inline int SG_KFN(step_row)(SG_T *restrict xs, const SG_T *restrict h,
                                   uint8_t *restrict f, SG_T *restrict dist, int64_t n,
                                   const SG_T *restrict kc, SG_T b_th) {
    int any = 0;
    for (int64_t j = 0; j < n; ++j) {
        SG_T x[SG_KIND_NS], k[SG_KIND_NC];
        for (int q = 0; q < SG_KIND_NS; ++q) x[q] = xs[q * n + j];
        for (int q = 0; q < SG_KIND_NC; ++q) k[q] = kc[q * n + j];
        SG_T thr = SG_KIND_THRESHOLD(k, x);
        int spike = x[0] > thr;
        SG_T d = x[0] - thr;
        d = d < 0 ? -d : d;
        int active = d < b_th;
        SG_KIND_UPDATE(k, x, h[j], spike, thr);
        f[j] = (uint8_t)(spike | (active << 1));
        dist[j] = d;
        any |= spike | active;
        for (int q = 0; q < SG_KIND_NS; ++q) xs[q * n + j] = x[q];
    }
    return any;
}
