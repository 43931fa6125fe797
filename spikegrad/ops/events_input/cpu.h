/* Spike events to the engine's spike matrix (ops/events_input/twin.py: events_to_csr), included
 * once by the native build (spikegrad/native/build.py).
 *
 * Events (b[e], t[e], i[e]), e < n_ev, in any order and with repeats, all in range (the caller
 * checks), become the time-major CSR pattern: row r = t * nb + b holds the units i of its
 * events, ascending, each once. Counting sort by row (count, prefix sum, scatter into tmp),
 * then each row's few units sorted and de-duplicated in place (rows in parallel), then the
 * unique units copied out. indptr (nt * nb + 1,) int64 receives the row pointers; indices and
 * tmp hold n_ev int32 each. Returns nnz (<= n_ev), or -1 when out of memory. */
static int sg_cmp_unit(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* Sort a row's units: insertion sort for the usual few, qsort for a long row. */
static void sg_sort_units(int32_t *a, int64_t n) {
    if (n > 32) {
        qsort(a, (size_t)n, sizeof(int32_t), sg_cmp_unit);
        return;
    }
    for (int64_t k = 1; k < n; ++k) {
        int32_t v = a[k];
        int64_t j = k;
        for (; j > 0 && a[j - 1] > v; --j) a[j] = a[j - 1];
        a[j] = v;
    }
}

int64_t sg_events_csr(const int64_t *b, const int64_t *t, const int64_t *i, int64_t n_ev,
                      int64_t nt, int64_t nb, int64_t *indptr, int32_t *indices, int32_t *tmp) {
    int64_t rows = nt * nb;
    int64_t *cur = (int64_t *)malloc((size_t)(rows + 1) * sizeof(int64_t));
    if (cur == NULL) return -1;
    memset(indptr, 0, (size_t)(rows + 1) * sizeof(int64_t));
    for (int64_t e = 0; e < n_ev; ++e) indptr[t[e] * nb + b[e] + 1] += 1;
    for (int64_t r = 0; r < rows; ++r) indptr[r + 1] += indptr[r];
    memcpy(cur, indptr, (size_t)rows * sizeof(int64_t));
    for (int64_t e = 0; e < n_ev; ++e) tmp[cur[t[e] * nb + b[e]]++] = (int32_t)i[e];
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t r = 0; r < rows; ++r) { /* sort and de-duplicate; cur[r]: unique units */
        int32_t *a = tmp + indptr[r];
        int64_t n = indptr[r + 1] - indptr[r], u = 0;
        sg_sort_units(a, n);
        for (int64_t k = 0; k < n; ++k)
            if (u == 0 || a[k] != a[u - 1]) a[u++] = a[k];
        cur[r] = u;
    }
    int64_t nnz = 0;
    for (int64_t r = 0; r < rows; ++r) { /* cur[r] becomes the row's start in the output */
        int64_t u = cur[r];
        cur[r] = nnz;
        nnz += u;
    }
    cur[rows] = nnz;
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t r = 0; r < rows; ++r)
        memcpy(indices + cur[r], tmp + indptr[r], (size_t)(cur[r + 1] - cur[r]) * sizeof(int32_t));
    memcpy(indptr, cur, (size_t)(rows + 1) * sizeof(int64_t));
    free(cur);
    return nnz;
}

/* Sorted unique flat keys (r * n + j, r < rows) to the CSR pattern (ops/events_input/twin.py:
 * keys_to_csr): indptr (rows + 1,) and indices (n_keys,), int32, in one pass, the row found by
 * stepping over the rows' ends (no division per key). */
void sg_keys_csr(const int64_t *keys, int64_t n_keys, int64_t rows, int64_t n, int32_t *indptr,
                 int32_t *indices) {
    int64_t r = 0, end = n; /* row r holds the keys in [end - n, end) */
    indptr[0] = 0;
    for (int64_t k = 0; k < n_keys; ++k) {
        for (; keys[k] >= end; end += n) indptr[++r] = (int32_t)k;
        indices[k] = (int32_t)(keys[k] - (end - n));
    }
    while (r < rows) indptr[++r] = (int32_t)n_keys;
}
