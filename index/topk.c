/* The best k of scored candidates: a min-heap on score, ties to the smaller id, so results do
 * not depend on the order candidates arrive in. */
#include <math.h>

#include "index_internal.h"

static int worse(const lr_index_topk *h, size_t a, size_t b) { /* a ranks below b */
    return h->scores[a] < h->scores[b] || (h->scores[a] == h->scores[b] && h->ids[a] > h->ids[b]);
}

static void swap_at(lr_index_topk *h, size_t a, size_t b) {
    int64_t i = h->ids[a];
    float s = h->scores[a];
    h->ids[a] = h->ids[b], h->scores[a] = h->scores[b];
    h->ids[b] = i, h->scores[b] = s;
}

static void sift_down(lr_index_topk *h, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && worse(h, l, m)) m = l;
        if (r < h->n && worse(h, r, m)) m = r;
        if (m == i) return;
        swap_at(h, i, m);
        i = m;
    }
}

void lr_index_topk_push(lr_index_topk *h, int64_t id, float s) {
    if (h->n < h->k) {
        size_t i = h->n++;
        h->ids[i] = id, h->scores[i] = s;
        while (i && worse(h, i, (i - 1) / 2)) {
            swap_at(h, i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
    } else if (s > h->scores[0] || (s == h->scores[0] && id < h->ids[0])) {
        h->ids[0] = id, h->scores[0] = s;
        sift_down(h, 0);
    }
}

void lr_index_topk_finish(lr_index_topk *h) {
    size_t n = h->n;
    while (h->n > 1) {
        swap_at(h, 0, h->n - 1);
        h->n--;
        sift_down(h, 0);
    }
    for (size_t j = n; j < h->k; j++) h->ids[j] = -1, h->scores[j] = -INFINITY;
    h->n = n;
}
