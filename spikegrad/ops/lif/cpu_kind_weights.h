/* The LIF family's fused sparse drivers (of a feed-forward layer, and of a recurrent one: r not
 * NULL), written once over a neuron kind's pieces (cpu_kind.h) and the weights' storage:
 * included by the native build once per float type, neuron kind and weight storage (SG_W,
 * SG_WFN: cpu_weights.h), after cpu_kind.h; SG_KWFN(name) is <kind>_<name>_f32,
 * <kind>_<name>_f32h (float16 weights), ..._f32b (bfloat16), ..._f64. Weights are read through
 * the row helpers of cpu_weights.h, everything else is SG_T. */

/* The sparse mode's forward of one layer from its input spikes (ops/kind_twin.py:
 * forward_sparse_spikes): h[t, b] = the sum of w[i] over the input spikes i of row t * nb + b
 * of the CSR pattern (indptr, indices), summed from 0 in pattern order as spike_matmul does,
 * then (r not NULL: the recurrent layer) plus r[k] for each k that spikes at (t, b), k
 * ascending, then the kind's step of the scan; neither h nor the state is stored. cons
 * (n_args, n_c): the kind's FORWARD_ARGS, n_c = 1 or n; r (n, n) or NULL. Emitted per (t, b):
 * the spike keys (t * nb + b) * n + j, and the active keys with |V[t] - threshold| < b_th and
 * sigma' = 1 / (beta_s |V - threshold| + 1)^2 there. The work items, run in parallel, are
 * (chunk of samples, block of bw neurons) (feed-forward only: a recurrent layer needs all of a
 * step's spikes, so its block is the whole row): each holds its samples' state of its columns
 * and reads only its columns of w (bw chosen so that they stay in cache), and appends to its
 * own lists, counted per (t, group of samples), so sg_forward_take can lay them out in key
 * order. A neuron's sums and steps do not depend on the blocks, so neither do the bits.
 * Returns NULL when out of memory; counts[0], counts[1] receive the numbers of spikes and
 * active entries. */
sg_forward *SG_KWFN(spike_forward)(const int64_t *indptr, const int32_t *indices, const SG_W *w,
                                   const SG_W *r, int64_t nt, int64_t nb, int64_t n,
                                  const SG_T *cons, int64_t n_args, int64_t n_c, SG_T beta_s,
                                  SG_T b_th, int64_t bw, int64_t *counts) {
    int64_t n_chunks = sg_forward_chunks(nb);
    if (r != NULL || bw < 1 || bw > n) bw = n;
    int64_t nblk = (n + bw - 1) / bw;
    sg_forward *res = sg_forward_new(nt, nb, n_chunks, nblk, (int64_t)sizeof(SG_T));
    if (res == NULL) return NULL;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : failed)
    for (int64_t it = 0; it < n_chunks * nblk; ++it) {
        int64_t c = it / nblk, kb = it % nblk, j0 = kb * bw, m = n - j0 < bw ? n - j0 : bw;
        int64_t b0 = c * nb / n_chunks, b1 = (c + 1) * nb / n_chunks;
        /* the step runs over mp >= m columns, a multiple of 64 (its vector loop's width, set
         * by the byte flags: no scalar tail); the padding columns see h = 0 and the constants
         * of columns j0 + m .., and their flags are never read */
        int64_t mp = (m + 63) / 64 * 64, plane = SG_KIND_NS * mp; /* one sample's state */
        sg_list *out = res->lists + it;
        SG_T *v = (SG_T *)calloc((size_t)((b1 - b0) * plane + (2 + SG_KIND_NC) * mp), sizeof(SG_T));
        uint8_t *flags = (uint8_t *)calloc((size_t)mp, 1);
        int32_t *spk = (int32_t *)malloc((size_t)m * sizeof(int32_t) + 1);
        if (v == NULL || flags == NULL || spk == NULL) {
            failed = 1;
            free(v);
            free(flags);
            free(spk);
            continue;
        }
        SG_T *h = v + (b1 - b0) * plane, *dist = h + mp, *kc = dist + mp;
        SG_KFN(const_fill)(kc, cons, n_args, n_c, j0, mp);
        int h_zero = 1; /* h holds the current of no spikes, +0.0: a row of none keeps it */
        for (int64_t t = 0; t < nt && !failed; ++t) {
            for (int64_t b = b0; b < b1; ++b) {
                int64_t row = t * nb + b, ns = 0, s0 = out->n_spk, a0 = out->n_act;
                SG_T *xb = v + (b - b0) * plane;
                if (r != NULL) /* m = n */
                    for (int64_t j = 0; j < n; ++j) {
                        SG_T x[SG_KIND_NS], k[SG_KIND_NC];
                        for (int q = 0; q < SG_KIND_NS; ++q) x[q] = xb[q * mp + j];
                        for (int q = 0; q < SG_KIND_NC; ++q) k[q] = kc[q * mp + j];
                        if (x[0] > SG_KIND_THRESHOLD(k, x)) spk[ns++] = (int32_t)j;
                    }
                int64_t nk = indptr[row + 1] - indptr[row];
                if (nk + ns > 0 || !h_zero)
                    SG_WFN(sg_sum_rows)(h, w + j0, indices + indptr[row], nk, r, spk, ns, m, n);
                h_zero = nk + ns == 0;
                if (!SG_KFN(step_row)(xb, h, flags, dist, mp, kc, b_th)) continue;
                int64_t base = row * n + j0;
                if (sg_reserve(out, m)) { /* then the row's keys are stored without checks */
                    failed = 1;
                    break;
                }
                int64_t *ks = out->spk + out->n_spk, *ka = out->act + out->n_act;
                SG_T *va = (SG_T *)out->val + out->n_act;
                for (int64_t j = 0; j < m; j += 8) { /* one step per flag: bit 8e (+ 1) of a word */
                    uint64_t wf = sg_le_word(flags + j), ws, wa;
                    if (wf == 0) continue;
                    if (m - j < 8) wf &= ~0ULL >> (64 - 8 * (m - j)); /* not the padding */
                    ws = wf & 0x0101010101010101ULL;
                    wa = (wf >> 1) & 0x0101010101010101ULL;
                    for (; ws; ws &= ws - 1) *ks++ = base + j + sg_ctz(ws) / 8;
                    for (; wa; wa &= wa - 1) {
                        int64_t q = j + sg_ctz(wa) / 8;
                        SG_T qq = beta_s * dist[q];
                        qq += 1;
                        *va++ = (SG_T)1 / (qq * qq);
                        *ka++ = base + q;
                    }
                }
                int64_t seg = sg_seg(res, t, res->n_groups == nb ? b : c, kb);
                res->cnt_spk[seg] += ks - out->spk - s0;
                res->cnt_act[seg] += ka - out->act - a0;
                out->n_spk = ks - out->spk;
                out->n_act = ka - out->act;
            }
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
    for (int64_t c = 0; c < n_chunks * nblk; ++c) {
        counts[0] += res->lists[c].n_spk;
        counts[1] += res->lists[c].n_act;
    }
    return res;
}

/* The sparse mode's backward of one layer (ops/kind_twin.py: backward_sparse) in one reverse
 * sweep over time, never storing the adjoint: a work item, the chunk of samples [b0, b1) and
 * the block of neurons [j0, j0 + m), holds the kind's adjoint y at step t + 1 of its samples and
 * columns (SG_KIND_NADJ planes of m each), and dh = its plane SG_KIND_DH (dL/dh[t]); at step t,
 * for row q = t * nb + b,
 *   dW[i] += dh[b]                for every input spike i of row q (x_indptr/x_indices),
 *   dR[k] += dh[b]                for every own spike k of row q (s_indptr/s_indices),
 *   dx[p]  = dh[b] . w[i]         for every previous-layer active key p of row q,
 *   y[t, b] = the kind's adjoint of y[t + 1, b] and delta, then the denormal flush of
 *                                 leaky_scan_reverse on every variable,
 * with, on the active keys (idx, sorted), delta = SG_KIND_DELTA of u = g (feed-forward: r NULL)
 * or u = g + r[j] . dh[b] (recurrent: r (n, n), the recurrent term only at the active entries)
 * and sp, and 0 elsewhere; cons (n_args, n_c): the kind's ADJOINT_ARGS. The chunks follow
 * sg_backward_chunks(nb), fixed by nb alone: chunk 0 sums into dw (and dr), chunk c > 0 into
 * part + (c - 1) (n_in n + n n) (dW, then dR when r), and the partial sums are added in chunk
 * order, so the result does not depend on the number of threads. The blocks are bw columns
 * wide (a recurrent layer: one block, the row); dx, a dot over all n columns, is then taken
 * from dh[b] kept for the rows with previous-layer active keys, after the sweep, with the same
 * dot, so neither dW nor dx depends on bw. prev_idx NULL: no dx. Returns 0, or -1 when out of
 * memory. */
int SG_KWFN(spike_backward)(const SG_T *g, const SG_T *sp, const int64_t *idx, int64_t n_act,
                            const int64_t *x_indptr, const int32_t *x_indices, const SG_W *w,
                            const SG_W *r, const int64_t *s_indptr, const int32_t *s_indices,
                           int64_t n_in, int64_t n, const int64_t *prev_idx, int64_t n_prev,
                           int64_t nt, int64_t nb, const SG_T *cons, int64_t n_args,
                           int64_t n_c, SG_T *dw, SG_T *dr, SG_T *dx, SG_T *part, int64_t bw) {
    int64_t n_chunks = sg_backward_chunks(nb), wsize = n_in * n, rsize = r != NULL ? n * n : 0;
    if (r != NULL || bw < 1 || bw > n) bw = n;
    int64_t nblk = (n + bw - 1) / bw, n_seg = nt * nb * nblk, *slot = NULL, *first = NULL;
    SG_T *kept = NULL; /* blocks and dx: dh[b] of row q at kept + slot[q] n (slot -1: none) */
    if (nblk > 1) { /* the active keys of row q in block k: first[q nblk + k] .. the next */
        first = (int64_t *)malloc((size_t)(n_seg + 1) * sizeof(int64_t));
        if (first == NULL) return -1;
        for (int64_t q = 0, p = 0; q <= n_seg; ++q) {
            for (int64_t key = q / nblk * n + q % nblk * bw; p < n_act && idx[p] < key;) ++p;
            first[q] = p;
        }
    }
    if (nblk > 1 && prev_idx != NULL) {
        int64_t n_kept = 0;
        slot = (int64_t *)malloc((size_t)(nt * nb) * sizeof(int64_t));
        if (slot == NULL) {
            free(first);
            return -1;
        }
        for (int64_t q = 0; q < nt * nb; ++q) slot[q] = -1;
        for (int64_t k = 0; k < n_prev; ++k)
            if (slot[prev_idx[k] / n_in] < 0) slot[prev_idx[k] / n_in] = n_kept++;
        kept = (SG_T *)malloc((size_t)(n_kept * n + 1) * sizeof(SG_T));
        if (kept == NULL) {
            free(first);
            free(slot);
            return -1;
        }
    }
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : failed)
    for (int64_t it = 0; it < n_chunks * nblk; ++it) {
        int64_t c = it / nblk, kb = it % nblk, j0 = kb * bw, m = n - j0 < bw ? n - j0 : bw;
        int64_t b0 = c * nb / n_chunks, b1 = (c + 1) * nb / n_chunks;
        int64_t plane = SG_KIND_NADJ * m; /* one sample's adjoint */
        SG_T *restrict acc = (c == 0 ? dw : part + (c - 1) * (wsize + rsize)) + j0;
        SG_T *restrict acc_r = c == 0 ? dr : acc + wsize; /* r: j0 = 0 */
        SG_T *e = (SG_T *)calloc((size_t)((b1 - b0) * plane + (1 + SG_KIND_NC) * m), sizeof(SG_T));
        if (e == NULL) {
            failed = 1;
            continue;
        }
        SG_T *delta = e + (b1 - b0) * plane; /* one row: the deltas of (t, b), 0 elsewhere */
        SG_T *kc = delta + m;
        SG_KFN(const_fill)(kc, cons, n_args, n_c, j0, m);
        if (m == n)
            memset(acc, 0, (size_t)wsize * sizeof(SG_T));
        else
            for (int64_t i = 0; i < n_in; ++i) memset(acc + i * n, 0, (size_t)m * sizeof(SG_T));
        if (r != NULL) memset(acc_r, 0, (size_t)rsize * sizeof(SG_T));
        for (int64_t t = nt - 1; t >= 0; --t) {
            int64_t ka = first ? 0 : sg_lower_bound(idx, n_act, (t * nb + b0) * n);
            int64_t kp = prev_idx ? sg_lower_bound(prev_idx, n_prev, (t * nb + b0) * n_in) : 0;
            for (int64_t b = b0; b < b1; ++b) {
                int64_t q = t * nb + b;
                SG_T *restrict ys = e + (b - b0) * plane;
                SG_T *restrict es = ys + SG_KIND_DH * m;
                for (int64_t k = x_indptr[q]; k < x_indptr[q + 1]; ++k) {
                    SG_T *restrict ai = acc + (int64_t)x_indices[k] * n;
                    for (int64_t j = 0; j < m; ++j) ai[j] += es[j];
                }
                if (r != NULL) /* m = n */
                    for (int64_t k = s_indptr[q]; k < s_indptr[q + 1]; ++k) {
                        SG_T *restrict ak = acc_r + (int64_t)s_indices[k] * n;
                        for (int64_t j = 0; j < n; ++j) ak[j] += es[j];
                    }
                if (kept != NULL) {
                    if (slot[q] >= 0) memcpy(kept + slot[q] * n + j0, es, (size_t)m * sizeof(SG_T));
                } else if (prev_idx)
                    for (; kp < n_prev && prev_idx[kp] < (q + 1) * n_in; ++kp)
                        dx[kp] = SG_WFN(sg_dot)(es, w + (prev_idx[kp] - q * n_in) * n, n);
                int64_t k0 = ka, k1 = ka; /* the row's active keys in the block */
                if (first) {
                    k0 = first[q * nblk + kb];
                    k1 = first[q * nblk + kb + 1];
                } else
                    while (k1 < n_act && idx[k1] < (q + 1) * n) ++k1;
                for (ka = k0; ka < k1; ++ka) {
                    int64_t j = idx[ka] - q * n - j0;
                    SG_T u = g[ka], y[SG_KIND_NADJ], k[SG_KIND_NC];
                    if (r != NULL) u += SG_WFN(sg_dot)(es, r + j * n, n);
                    for (int qq = 0; qq < SG_KIND_NADJ; ++qq) y[qq] = ys[qq * m + j];
                    for (int qq = 0; qq < SG_KIND_NC; ++qq) k[qq] = kc[qq * m + j];
                    delta[j] = SG_KIND_DELTA(k, y, u, sp[ka]);
                }
                for (int64_t j = 0; j < m; ++j) {
                    SG_T y[SG_KIND_NADJ], k[SG_KIND_NC];
                    for (int qq = 0; qq < SG_KIND_NADJ; ++qq) y[qq] = ys[qq * m + j];
                    for (int qq = 0; qq < SG_KIND_NC; ++qq) k[qq] = kc[qq * m + j];
                    SG_KIND_ADJOINT(k, y, delta[j]);
                    for (int qq = 0; qq < SG_KIND_NADJ; ++qq) {
                        SG_T u = y[qq];
                        ys[qq * m + j] = (u < SG_TINY && u > -SG_TINY) ? (SG_T)0 : u;
                    }
                }
                for (int64_t k = k0; k < k1; ++k) delta[idx[k] - q * n - j0] = 0;
            }
        }
        free(e);
    }
    if (kept != NULL && !failed) {
#pragma omp parallel for schedule(static)
        for (int64_t k = 0; k < n_prev; ++k) {
            int64_t q = prev_idx[k] / n_in;
            dx[k] = SG_WFN(sg_dot)(kept + slot[q] * n, w + (prev_idx[k] - q * n_in) * n, n);
        }
    }
    free(first);
    free(slot);
    free(kept);
    if (failed) return -1;
    SG_FN(sg_add_parts)(dw, part, wsize + rsize, n_chunks - 1, wsize);
    if (r != NULL) SG_FN(sg_add_parts)(dr, part + wsize, wsize + rsize, n_chunks - 1, rsize);
    return 0;
}
