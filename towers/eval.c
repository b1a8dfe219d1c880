/* Full-ranking evaluation: Recall@K, NDCG@K and MRR of each target among all items. */
#include <math.h>
#include <stdlib.h>

#include <cblas.h>

#include "lr_towers.h"

typedef struct {
    double r10, n10, r50, n50, mrr;
    size_t users;
} acc;

/* With g items scoring above the target and e others tied with it, the target's 0-based rank is
 * g + U, U uniform on 0..e. Each metric is its expectation over U. */
static void add_rank(acc *a, size_t g, size_t e) {
    double r10 = 0, n10 = 0, r50 = 0, n50 = 0, mrr = 0;
    size_t stop = e;
    if (g + stop > 50 + 1000) stop = 50 + 1000 > g ? 50 + 1000 - g : 0; /* MRR tail: see below */
    for (size_t u = 0; u <= stop; u++) {
        size_t rank = g + u;
        double dcg = 1.0 / log2((double)rank + 2.0);
        if (rank < 10) r10 += 1, n10 += dcg;
        if (rank < 50) r50 += 1, n50 += dcg;
        mrr += 1.0 / ((double)rank + 1.0);
    }
    /* Ranks past g+1050 add < 1e-3 each to MRR: sum the rest in closed form (harmonic numbers). */
    if (stop < e) mrr += log(((double)(g + e) + 1.5) / ((double)(g + stop) + 1.5));
    double k = (double)e + 1.0;
    a->r10 += r10 / k;
    a->n10 += n10 / k;
    a->r50 += r50 / k;
    a->n50 += n50 / k;
    a->mrr += mrr / k;
    a->users++;
}

/* Where target lands in one row of scores. */
static lr_eval_rank rank_in(const float *scores, size_t n_items, int32_t target) {
    float t = scores[target];
    size_t g = 0, e = 0;
    for (size_t i = 0; i < n_items; i++) {
        g += scores[i] > t;
        e += scores[i] == t;
    }
    return (lr_eval_rank){g, e - 1};
}

static void rank_row(acc *a, const float *scores, size_t n_items, int32_t target) {
    lr_eval_rank r = rank_in(scores, n_items, target);
    add_rank(a, r.above, r.ties);
}

static void finish(const acc *a, lr_eval_metrics *out) {
    double n = a->users ? (double)a->users : 1.0;
    *out = (lr_eval_metrics){a->users, a->r10 / n, a->n10 / n, a->r50 / n, a->n50 / n, a->mrr / n};
}

static int check_targets(const int32_t *targets, size_t n_users, size_t n_items, lr_err *err) {
    for (size_t u = 0; u < n_users; u++)
        if (targets[u] >= 0 && (size_t)targets[u] >= n_items)
            return lr_err_set(err, LR_ERANGE, "eval: target %d of user %zu is outside the %zu items",
                              (int)targets[u], u, n_items);
    return LR_OK;
}

int lr_towers_eval_vectors(const float *users, size_t n_users, const int32_t *targets,
                           const float *items, size_t n_items, size_t dim, lr_eval_metrics *out,
                           lr_err *err) {
    lr_eval_rank *ranks = malloc((n_users ? n_users : 1) * sizeof *ranks);
    if (!ranks) return lr_err_set(err, LR_ENOMEM, "eval: out of memory for %zu users", n_users);
    int rc = lr_towers_eval_ranks(users, n_users, targets, items, n_items, dim, NULL, NULL, ranks, 0, NULL, err);
    if (!rc) lr_towers_eval_summarize(ranks, targets, NULL, n_users, out);
    free(ranks);
    return rc;
}

int lr_towers_eval_scores(const float *scores, size_t n_items, const int32_t *targets,
                          size_t n_users, lr_eval_metrics *out, lr_err *err) {
    int rc = check_targets(targets, n_users, n_items, err);
    if (rc) return rc;
    acc a = {0};
    for (size_t u = 0; u < n_users; u++)
        if (targets[u] >= 0) rank_row(&a, scores, n_items, targets[u]);
    finish(&a, out);
    return LR_OK;
}

/* The best k of one score row into top (k ids, best first, ties by lower id). */
static void top_of_row(const float *scores, size_t n_items, size_t k, int32_t *top) {
    size_t m = 0; /* top[0..m) sorted best first */
    for (size_t i = 0; i < n_items; i++) {
        float s = scores[i];
        if (m == k && !(s > scores[top[k - 1]])) continue;
        size_t at = m < k ? m++ : k - 1;
        while (at > 0 && s > scores[top[at - 1]]) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = (int32_t)i;
    }
    for (size_t j = m; j < k; j++) top[j] = -1;
}

int lr_towers_eval_ranks(const float *users, size_t n_users, const int32_t *targets, const float *items,
                         size_t n_items, size_t dim, const size_t *ex_off, const int32_t *ex_items,
                         lr_eval_rank *ranks, size_t top_k, int32_t *top, lr_err *err) {
    int rc = check_targets(targets, n_users, n_items, err);
    if (rc) return rc;
    if (top && (top_k == 0 || top_k > n_items))
        return lr_err_set(err, LR_EINVAL, "eval: top %zu of %zu items", top_k, n_items);
    /* Users in blocks so the score block stays near 64 MB whatever the catalogue size. */
    size_t block = (16u << 20) / (n_items ? n_items : 1);
    if (block < 1) block = 1;
    if (block > 1024) block = 1024;
    float *scores = malloc(block * n_items * sizeof *scores);
    if (!scores) return lr_err_set(err, LR_ENOMEM, "eval: out of memory for %zu x %zu scores", block, n_items);
    for (size_t start = 0; start < n_users; start += block) {
        size_t m = n_users - start < block ? n_users - start : block;
        /* scores (m, n_items) = users (m, dim) @ items (n_items, dim)^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n_items, (int)dim, 1.0f,
                    users + start * dim, (int)dim, items, (int)dim, 0.0f, scores, (int)n_items);
        for (size_t r = 0; r < m; r++) {
            size_t u = start + r;
            float *row = scores + r * n_items;
            for (size_t x = ex_off ? ex_off[u] : 0; ex_off && x < ex_off[u + 1]; x++)
                if (ex_items[x] >= 0 && (size_t)ex_items[x] < n_items) row[ex_items[x]] = -INFINITY;
            ranks[u] = (lr_eval_rank){SIZE_MAX, 0};
            if (targets[u] < 0) {
                for (size_t j = 0; top && j < top_k; j++) top[u * top_k + j] = -1;
                continue;
            }
            ranks[u] = rank_in(row, n_items, targets[u]);
            if (top) top_of_row(row, n_items, top_k, top + u * top_k);
        }
    }
    free(scores);
    return LR_OK;
}

void lr_towers_eval_summarize(const lr_eval_rank *ranks, const int32_t *targets, const unsigned char *in_slice,
                              size_t n_users, lr_eval_metrics *out) {
    acc a = {0};
    for (size_t u = 0; u < n_users; u++)
        if (targets[u] >= 0 && ranks[u].above != SIZE_MAX && (!in_slice || in_slice[u]))
            add_rank(&a, ranks[u].above, ranks[u].ties);
    finish(&a, out);
}
