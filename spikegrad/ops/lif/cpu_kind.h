/* The LIF family's drivers, written once over a neuron kind's pieces (SG_KIND_UPDATE,
 * SG_KIND_ADJOINT: spikegrad/neurons/<kind>.h): the neuron scan, the fused sparse forward and
 * the fused sparse backward (of a feed-forward layer, and of a recurrent one: r not NULL).
 * Included by the native build once per float type and neuron kind, after cpu.h: SG_KFN(name)
 * is <kind>_<name>_f32 / _f64 (for LIF: lif_forward_f32, lif_spike_forward_f32, ...). */

/* The neuron scan (ops/lif/twin.py: lif_forward for LIF): h (nt, m) holds the input current and is
 * overwritten with V; s (nt, m) bytes receives the spikes S[t] = V[t] > theta, with V[0] = 0
 * and V[t+1] = the kind's update (LIF: alpha V[t] + h[t] - theta S[t]); alpha (n_alpha,) is broadcast along the last
 * axis (n_alpha = 1, or the length of the last axis, which divides m). */
void SG_KFN(forward)(SG_T *h, uint8_t *s, int64_t nt, int64_t m, const SG_T *alpha,
                        int64_t n_alpha, SG_T theta) {
    int64_t n_tiles = (m + SG_TILE - 1) / SG_TILE;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
        int64_t c0 = tile * SG_TILE, w = m - c0 < SG_TILE ? m - c0 : SG_TILE;
        SG_T v[SG_TILE], a[SG_TILE];
        SG_FN(sg_alpha_fill)(a, alpha, n_alpha, c0, w);
        for (int64_t c = 0; c < w; ++c) v[c] = 0;
        for (int64_t t = 0; t < nt; ++t) {
            SG_T *ht = h + t * m + c0;
            uint8_t *st = s + t * m + c0;
            for (int64_t c = 0; c < w; ++c) {
                uint8_t spike = v[c] > theta;
                SG_T nv = SG_KIND_UPDATE(v[c], ht[c], a[c], theta, spike);
                st[c] = spike;
                ht[c] = v[c];
                v[c] = nv;
            }
        }
    }
}

/* One step of a row: flags of V (fs: V > theta, fa: |V - theta| < b_th), dist = |V -
 * theta|, then V <- the kind's update, as in the scan (alpha (n,): one per
 * neuron). Returns whether any flag is set. */
static inline int SG_KFN(step_row)(SG_T *restrict v, const SG_T *restrict h,
                                     uint8_t *restrict fs, uint8_t *restrict fa,
                                     SG_T *restrict dist, int64_t n, const SG_T *restrict alpha,
                                     SG_T theta, SG_T b_th) {
    int any = 0;
    for (int64_t j = 0; j < n; ++j) {
        SG_T vj = v[j];
        int spike = vj > theta;
        SG_T d = vj - theta;
        d = d < 0 ? -d : d;
        int active = d < b_th;
        SG_T nv = SG_KIND_UPDATE(vj, h[j], alpha[j], theta, spike);
        fs[j] = (uint8_t)spike;
        fa[j] = (uint8_t)active;
        dist[j] = d;
        any |= spike | active;
        v[j] = nv;
    }
    return any;
}

/* The sparse mode's forward of one layer from its input spikes (ops/lif/twin.py:
 * lif_forward_sparse_spikes; with r, ops/rlif/twin.py: rlif_forward_sparse_spikes): h[t, b] = the
 * sum of w[i] over the input spikes i of row t * nb + b of the CSR pattern (indptr, indices),
 * summed from 0 in pattern order as spike_matmul does, then (r not NULL: the recurrent layer)
 * plus r[k] for each k with V[t, b, k] > theta, k ascending, then the LIF step of lif_forward;
 * neither h nor V is stored. alpha (n_alpha,): one alpha (n_alpha = 1) or one per neuron
 * (n_alpha = n); r (n, n) or NULL. Emitted per (t, b): the spike keys (t * nb + b) * n + j
 * with V[t] > theta, and the active keys with |V[t] - theta| < b_th and sigma' = 1 / (beta_s
 * |V - theta| + 1)^2 there. Chunks of samples run in parallel (each holds its samples' V);
 * each chunk appends to its own lists, counted per (t, chunk), so sg_forward_take can lay them
 * out in key order. Returns NULL when out of memory; counts[0], counts[1] receive the numbers
 * of spikes and active entries. */
sg_forward *SG_KFN(spike_forward)(const int64_t *indptr, const int32_t *indices,
                                     const SG_T *w, const SG_T *r, int64_t nt, int64_t nb,
                                     int64_t n, const SG_T *alpha, int64_t n_alpha, SG_T theta,
                                     SG_T beta_s, SG_T b_th, int64_t *counts) {
    int64_t n_chunks = sg_forward_chunks(nb);
    sg_forward *res = sg_forward_new(nt, n_chunks, (int64_t)sizeof(SG_T));
    if (res == NULL) return NULL;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : failed)
    for (int64_t c = 0; c < n_chunks; ++c) {
        int64_t b0 = c * nb / n_chunks, b1 = (c + 1) * nb / n_chunks;
        sg_list *out = res->lists + c;
        SG_T *v = (SG_T *)calloc((size_t)((b1 - b0) * n + 3 * n), sizeof(SG_T));
        uint8_t *flags = (uint8_t *)calloc((size_t)(2 * n + 16), 1);
        int32_t *spk = (int32_t *)malloc((size_t)n * sizeof(int32_t) + 1);
        if (v == NULL || flags == NULL || spk == NULL) {
            failed = 1;
            free(v);
            free(flags);
            free(spk);
            continue;
        }
        SG_T *h = v + (b1 - b0) * n, *dist = h + n, *a = dist + n;
        uint8_t *fs = flags, *fa = flags + n + 8;
        SG_FN(sg_alpha_fill)(a, alpha, n_alpha, 0, n);
        for (int64_t t = 0; t < nt && !failed; ++t) {
            int64_t s0 = out->n_spk, a0 = out->n_act;
            for (int64_t b = b0; b < b1; ++b) {
                int64_t row = t * nb + b, ns = 0;
                SG_T *vb = v + (b - b0) * n;
                if (r != NULL)
                    for (int64_t k = 0; k < n; ++k)
                        if (vb[k] > theta) spk[ns++] = (int32_t)k;
                SG_FN(sg_sum_rows)(h, w, indices + indptr[row], indptr[row + 1] - indptr[row], r,
                                   spk, ns, n);
                if (!SG_KFN(step_row)(vb, h, fs, fa, dist, n, a, theta, b_th)) continue;
                int64_t base = row * n;
                for (int64_t j = 0; j < n; j += 8) {
                    if (sg_word(fs + j) == 0 && sg_word(fa + j) == 0) continue;
                    for (int64_t q = j; q < j + 8 && q < n; ++q) {
                        if (fs[q] && sg_push_spike(out, base + q)) failed = 1;
                        if (fa[q]) {
                            SG_T qq = beta_s * dist[q];
                            qq += 1;
                            SG_T sp = (SG_T)1 / (qq * qq);
                            if (sg_push_active(out, base + q, &sp)) failed = 1;
                        }
                    }
                }
            }
            res->cnt_spk[t * n_chunks + c] = out->n_spk - s0;
            res->cnt_act[t * n_chunks + c] = out->n_act - a0;
        }
        free(v);
        free(flags);
        free(spk);
    }
    if (failed) {
        sg_forward_free(res);
        return NULL;
    }
    counts[0] = counts[1] = 0;
    for (int64_t c = 0; c < n_chunks; ++c) {
        counts[0] += res->lists[c].n_spk;
        counts[1] += res->lists[c].n_act;
    }
    return res;
}

/* The sparse mode's backward of one layer (ops/lif/twin.py: lif_backward_sparse; with r,
 * ops/rlif/twin.py: rlif_backward_sparse) in one reverse sweep over time, never storing eps: the
 * chunk of samples [b0, b1) holds eps[t + 1] of its samples; at step t, for row q = t * nb + b,
 *   dW[i] += eps[t + 1, b]                for every input spike i of row q (x_indptr/x_indices),
 *   dR[k] += eps[t + 1, b]                for every own spike k of row q (s_indptr/s_indices),
 *   dx[p]  = eps[t + 1, b] . w[i]         for every previous-layer active key p of row q,
 *   eps[t, b] = delta[t, b] + alpha eps[t + 1, b], then the denormal flush of
 *                                         leaky_scan_reverse,
 * with, on the active keys (idx, sorted), delta = g sp (feed-forward: r NULL) or
 * delta = (g + r[j] . eps[t + 1, b]) sp (recurrent: r (n, n), the recurrent term only at the
 * active entries), and 0 elsewhere; alpha (n_alpha,) as in lif_spike_forward. The chunks
 * follow sg_backward_chunks(nb), fixed by nb alone: chunk 0 sums into dw (and dr), chunk
 * c > 0 into part + (c - 1) (n_in n + n n) (dW, then dR when r), and the partial sums are
 * added in chunk order, so the result does not depend on the number of threads. prev_idx
 * NULL: no dx. Returns 0, or -1 when out of memory. */
int SG_KFN(spike_backward)(const SG_T *g, const SG_T *sp, const int64_t *idx, int64_t n_act,
                              const int64_t *x_indptr, const int32_t *x_indices, const SG_T *w,
                              const SG_T *r, const int64_t *s_indptr, const int32_t *s_indices,
                              int64_t n_in, int64_t n, const int64_t *prev_idx, int64_t n_prev,
                              int64_t nt, int64_t nb, const SG_T *alpha, int64_t n_alpha,
                              SG_T *dw, SG_T *dr, SG_T *dx, SG_T *part) {
    int64_t n_chunks = sg_backward_chunks(nb), wsize = n_in * n, rsize = r != NULL ? n * n : 0;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : failed)
    for (int64_t c = 0; c < n_chunks; ++c) {
        int64_t b0 = c * nb / n_chunks, b1 = (c + 1) * nb / n_chunks;
        SG_T *restrict acc = c == 0 ? dw : part + (c - 1) * (wsize + rsize);
        SG_T *restrict acc_r = c == 0 ? dr : acc + wsize;
        SG_T *e = (SG_T *)calloc((size_t)((b1 - b0 + 2) * n), sizeof(SG_T));
        if (e == NULL) {
            failed = 1;
            continue;
        }
        SG_T *delta = e + (b1 - b0) * n; /* one row: the deltas of (t, b), 0 elsewhere */
        SG_T *a = delta + n;
        SG_FN(sg_alpha_fill)(a, alpha, n_alpha, 0, n);
        memset(acc, 0, (size_t)wsize * sizeof(SG_T));
        if (r != NULL) memset(acc_r, 0, (size_t)rsize * sizeof(SG_T));
        for (int64_t t = nt - 1; t >= 0; --t) {
            int64_t ka = sg_lower_bound(idx, n_act, (t * nb + b0) * n);
            int64_t kp = prev_idx ? sg_lower_bound(prev_idx, n_prev, (t * nb + b0) * n_in) : 0;
            for (int64_t b = b0; b < b1; ++b) {
                int64_t q = t * nb + b;
                SG_T *restrict es = e + (b - b0) * n;
                for (int64_t k = x_indptr[q]; k < x_indptr[q + 1]; ++k) {
                    SG_T *restrict ai = acc + (int64_t)x_indices[k] * n;
                    for (int64_t j = 0; j < n; ++j) ai[j] += es[j];
                }
                if (r != NULL)
                    for (int64_t k = s_indptr[q]; k < s_indptr[q + 1]; ++k) {
                        SG_T *restrict ak = acc_r + (int64_t)s_indices[k] * n;
                        for (int64_t j = 0; j < n; ++j) ak[j] += es[j];
                    }
                if (prev_idx)
                    for (; kp < n_prev && prev_idx[kp] < (q + 1) * n_in; ++kp)
                        dx[kp] = SG_FN(sg_dot)(es, w + (prev_idx[kp] - q * n_in) * n, n);
                int64_t k0 = ka;
                for (; ka < n_act && idx[ka] < (q + 1) * n; ++ka) {
                    int64_t j = idx[ka] - q * n;
                    SG_T u = g[ka];
                    if (r != NULL) u += SG_FN(sg_dot)(es, r + j * n, n);
                    delta[j] = u * sp[ka];
                }
                for (int64_t j = 0; j < n; ++j) {
                    SG_T u = SG_KIND_ADJOINT(delta[j], es[j], a[j]);
                    es[j] = (u < SG_TINY && u > -SG_TINY) ? (SG_T)0 : u;
                }
                for (int64_t k = k0; k < ka; ++k) delta[idx[k] - q * n] = 0;
            }
        }
        free(e);
    }
    if (failed) return -1;
    SG_FN(sg_add_parts)(dw, part, wsize + rsize, n_chunks - 1, wsize);
    if (r != NULL) SG_FN(sg_add_parts)(dr, part + wsize, wsize + rsize, n_chunks - 1, rsize);
    return 0;
}

