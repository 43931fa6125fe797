/* The LIF family's untyped C: the sample chunks of the fused kernels and the fused forward's
 * result lists (included once, before the typed cpu.h). */
#define SG_BACKWARD_CHUNKS 8 /* see sg_backward_chunks */

/* Chunks of samples of the fused forward: enough for the dynamic schedule to balance threads
 * that share their cores with other work (the output does not depend on the chunking). */
int64_t sg_forward_chunks(int64_t nb) {
    int64_t k = 4 * (int64_t)sg_threads();
    return nb < k ? nb : k;
}

/* Chunks of samples of the fused backward, fixed by nb alone (not by the thread count), so
 * that the weight gradient's partial sums, one per chunk, are added in the same order on any
 * number of threads. The caller provides (chunks - 1) partial-gradient buffers. */
int64_t sg_backward_chunks(int64_t nb) { return nb < SG_BACKWARD_CHUNKS ? nb : SG_BACKWARD_CHUNKS; }

/* What one chunk of the fused forward emits, in key order: spike keys, and active keys with
 * their sigma' values (elsize bytes each). */
typedef struct {
    int64_t *spk, *act;
    unsigned char *val;
    int64_t n_spk, cap_spk, n_act, cap_act, elsize;
    char pad[64]; /* the lists of two work items (two threads) share no cache line */
} sg_list;

/* The fused forward's result until sg_forward_take copies it out: a list per work item (chunk
 * c of samples, block k of neurons: list c * nblk + k) and the number of entries each emitted
 * at each step in each group of samples and block, cnt[sg_seg(r, t, g, k)]; the groups are the
 * chunks (one block) or the samples (n_groups = nb: several blocks, whose keys interleave
 * sample by sample). */
typedef struct {
    int64_t nt, nb, n_chunks, nblk, n_groups;
    int64_t *cnt_spk, *cnt_act;
    sg_list *lists;
} sg_forward;

/* The counter of step t, group g and block k: a work item's counters lie together, a step
 * after another, so that two threads do not write one cache line (key order is (t, g, k)). */
static inline int64_t sg_seg(const sg_forward *r, int64_t t, int64_t g, int64_t k) {
    return (k * r->n_groups + g) * r->nt + t;
}

void sg_forward_free(sg_forward *r) {
    if (r == NULL) return;
    if (r->lists != NULL)
        for (int64_t c = 0; c < r->n_chunks * r->nblk; ++c) {
            free(r->lists[c].spk);
            free(r->lists[c].act);
            free(r->lists[c].val);
        }
    free(r->lists);
    free(r->cnt_spk);
    free(r->cnt_act);
    free(r);
}

static sg_forward *sg_forward_new(int64_t nt, int64_t nb, int64_t n_chunks, int64_t nblk,
                                  int64_t elsize) {
    sg_forward *r = (sg_forward *)calloc(1, sizeof(sg_forward));
    if (r == NULL) return NULL;
    int64_t n_groups = nblk > 1 ? nb : n_chunks, n_seg = nt * n_groups * nblk;
    int64_t n_lists = n_chunks * nblk;
    r->nt = nt;
    r->nb = nb;
    r->n_chunks = n_chunks;
    r->nblk = nblk;
    r->n_groups = n_groups;
    r->cnt_spk = (int64_t *)calloc((size_t)n_seg, sizeof(int64_t));
    r->cnt_act = (int64_t *)calloc((size_t)n_seg, sizeof(int64_t));
    r->lists = (sg_list *)calloc((size_t)n_lists, sizeof(sg_list));
    if (r->cnt_spk == NULL || r->cnt_act == NULL || r->lists == NULL) {
        sg_forward_free(r);
        return NULL;
    }
    for (int64_t c = 0; c < n_lists; ++c) r->lists[c].elsize = elsize;
    return r;
}

/* Make room in o for k more spike keys and k more active entries; -1 when out of memory. */
static int sg_reserve(sg_list *o, int64_t k) {
    if (o->n_spk + k > o->cap_spk) {
        int64_t c = 2 * o->cap_spk > o->n_spk + k ? 2 * o->cap_spk : o->n_spk + k + 1024;
        int64_t *p = (int64_t *)realloc(o->spk, (size_t)c * sizeof(int64_t));
        if (p == NULL) return -1;
        o->spk = p;
        o->cap_spk = c;
    }
    if (o->n_act + k > o->cap_act) {
        int64_t c = 2 * o->cap_act > o->n_act + k ? 2 * o->cap_act : o->n_act + k + 1024;
        int64_t *p = (int64_t *)realloc(o->act, (size_t)c * sizeof(int64_t));
        if (p == NULL) return -1;
        o->act = p;
        unsigned char *v = (unsigned char *)realloc(o->val, (size_t)(c * o->elsize));
        if (v == NULL) return -1;
        o->val = v;
        o->cap_act = c;
    }
    return 0;
}

/* Copy a fused forward's result out in key order and free it: spike keys into keys (int64),
 * active keys into idx (int64 when idx64, else int32) and their values into val. The
 * segments of (t, group, block) are laid out in that order: ascending keys. Returns 0, or -1
 * when out of memory (the result is freed either way). */
int sg_forward_take(sg_forward *r, int64_t *keys, void *idx, int idx64, void *val) {
    int64_t nt = r->nt, nb = r->nb, nc = r->n_chunks, nk = r->nblk, ng = r->n_groups;
    int64_t n_seg = nt * ng * nk, es = r->lists[0].elsize, os = 0, oa = 0;
    int64_t *dst = (int64_t *)malloc((size_t)(2 * n_seg) * sizeof(int64_t));
    if (dst == NULL) {
        sg_forward_free(r);
        return -1;
    }
    for (int64_t t = 0; t < nt; ++t) /* where each segment goes, in key order */
        for (int64_t g = 0; g < ng; ++g)
            for (int64_t k = 0; k < nk; ++k) {
                int64_t q = sg_seg(r, t, g, k);
                dst[2 * q] = os;
                dst[2 * q + 1] = oa;
                os += r->cnt_spk[q];
                oa += r->cnt_act[q];
            }
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t l = 0; l < nc * nk; ++l) {
        const sg_list *o = r->lists + l;
        int64_t c = l / nk, ps = 0, pa = 0; /* the groups of chunk c: [g0, g1) */
        int64_t g0 = ng == nb ? c * nb / nc : c, g1 = ng == nb ? (c + 1) * nb / nc : c + 1;
        for (int64_t t = 0; t < nt; ++t)
            for (int64_t g = g0; g < g1; ++g) {
                int64_t q = sg_seg(r, t, g, l % nk), ns = r->cnt_spk[q], na = r->cnt_act[q];
                int64_t wa = dst[2 * q + 1];
                memcpy(keys + dst[2 * q], o->spk + ps, (size_t)ns * sizeof(int64_t));
                if (idx64)
                    memcpy((int64_t *)idx + wa, o->act + pa, (size_t)na * sizeof(int64_t));
                else
                    for (int64_t k = 0; k < na; ++k)
                        ((int32_t *)idx)[wa + k] = (int32_t)o->act[pa + k];
                memcpy((unsigned char *)val + wa * es, o->val + pa * es, (size_t)(na * es));
                ps += ns;
                pa += na;
            }
    }
    free(dst);
    sg_forward_free(r);
    return 0;
}
