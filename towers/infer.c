/* Inference with the two towers: users from their histories, items alone (variant b). */
#include <stdlib.h>
#include <string.h>

#include "pal_internal.h"

#define CHUNK 2048 /* sequences per forward: bounds the activations whatever n is */

static int check_content(const lr_pal *m, const lr_content *content, lr_err *err) {
    if (m->cfg.mode == LR_PAL_ID) return LR_OK;
    if (!content) return lr_err_set(err, LR_EINVAL, "the %s-mode towers need content embeddings",
                                    lr_towers_pal_mode_name(m->cfg.mode));
    if (lr_data_matrix_dim(content) != m->cfg.content_dim)
        return lr_err_set(err, LR_EMISMATCH, "the content has dimension %zu, the model was trained "
                          "on %zu", lr_data_matrix_dim(content), m->cfg.content_dim);
    return LR_OK;
}

static size_t item_limit(const lr_pal *m, const lr_content *content) {
    size_t n = m->cfg.mode == LR_PAL_CONTENT ? SIZE_MAX : m->cfg.n_items;
    if (m->cfg.mode != LR_PAL_ID && content && lr_data_matrix_rows(content) < n)
        n = lr_data_matrix_rows(content);
    return n;
}

struct lr_towers_ws {
    lr_pal_pass ps;
};

int lr_towers_ws_new(lr_towers_ws **out, lr_err *err) {
    *out = calloc(1, sizeof **out);
    return *out ? LR_OK : lr_err_set(err, LR_ENOMEM, "out of memory for a tower workspace");
}

void lr_towers_ws_free(lr_towers_ws *ws) {
    if (!ws) return;
    lr_towers_pal_pass_free(&ws->ps);
    free(ws);
}

int lr_towers_user_embed_ws(const lr_pal *m, lr_towers_ws *ws, const lr_content *content,
                            const int32_t *items, const size_t *offsets, size_t n_users,
                            float *out, lr_err *err) {
    int rc = check_content(m, content, err);
    if (rc) return rc;
    size_t limit = item_limit(m, content), D = m->cfg.out_dim;
    for (size_t u = 0; u < n_users; u++) {
        if (offsets[u + 1] < offsets[u])
            return lr_err_set(err, LR_EINVAL, "user %zu: offsets go backwards", u);
        for (size_t i = offsets[u]; i < offsets[u + 1]; i++)
            if (items[i] < 0 || (size_t)items[i] >= limit)
                return lr_err_set(err, LR_ERANGE, "user %zu: item %d is not one of the %zu items",
                                  u, (int)items[i], limit);
    }
    lr_pal_pass *ps = &ws->ps;
    ps->training = 0;
    const float *cx = content ? lr_data_matrix_data(content) : NULL;
    for (size_t start = 0; start < n_users; start += CHUNK) {
        size_t S = n_users - start < CHUNK ? n_users - start : CHUNK;
        if ((rc = lr_towers_pal_pass_setup(m, ps, items, offsets + start, S, err))) break;
        lr_towers_pal_forward(m, ps, cx);
        for (size_t s = 0, k = 0; s < S; s++) {
            float *o = out + (start + s) * D;
            if (offsets[start + s + 1] == offsets[start + s]) memset(o, 0, D * sizeof *o);
            else memcpy(o, ps->out + (k++) * D, D * sizeof *o);
        }
    }
    return rc;
}

int lr_towers_user_embed(const lr_pal *m, const lr_content *content, const int32_t *items,
                         const size_t *offsets, size_t n_users, float *out, lr_err *err) {
    lr_towers_ws *ws;
    int rc = lr_towers_ws_new(&ws, err);
    if (rc) return rc;
    rc = lr_towers_user_embed_ws(m, ws, content, items, offsets, n_users, out, err);
    lr_towers_ws_free(ws);
    return rc;
}

/* Each item as a sequence of one: offsets 0, 1, 2, ... */
static int item_chunks(const lr_pal *m, const float *cx, const int32_t *ids, const float *rows,
                       size_t n, float *out, lr_err *err) {
    size_t *off = malloc((CHUNK + 1) * sizeof *off);
    int32_t *chunk_ids = malloc(CHUNK * sizeof *chunk_ids);
    lr_pal_pass ps = {0};
    int rc = LR_OK;
    if (!off || !chunk_ids) {
        rc = lr_err_set(err, LR_ENOMEM, "item tower: out of memory");
        goto done;
    }
    for (size_t i = 0; i <= CHUNK; i++) off[i] = i;
    size_t D = m->cfg.out_dim, Dc = m->cfg.content_dim;
    for (size_t start = 0; start < n; start += CHUNK) {
        size_t S = n - start < CHUNK ? n - start : CHUNK;
        for (size_t i = 0; i < S; i++)
            chunk_ids[i] = rows ? -1 : ids ? ids[start + i] : (int32_t)(start + i);
        if ((rc = lr_towers_pal_pass_setup(m, &ps, chunk_ids, off, S, err))) break;
        if (rows) lr_towers_pal_forward_rows(m, &ps, rows + start * Dc);
        else lr_towers_pal_forward(m, &ps, cx);
        memcpy(out + start * D, ps.out, S * D * sizeof *out);
    }
done:
    lr_towers_pal_pass_free(&ps);
    free(off);
    free(chunk_ids);
    return rc;
}

int lr_towers_item_embed(const lr_pal *m, const lr_content *content, const int32_t *items,
                         size_t n, float *out, lr_err *err) {
    int rc = check_content(m, content, err);
    if (rc) return rc;
    size_t limit = item_limit(m, content);
    if (!items && n > limit)
        return lr_err_set(err, LR_ERANGE, "%zu items asked for, the model knows %zu", n, limit);
    for (size_t i = 0; items && i < n; i++)
        if (items[i] < 0 || (size_t)items[i] >= limit)
            return lr_err_set(err, LR_ERANGE, "item %d is not one of the %zu items", (int)items[i], limit);
    return item_chunks(m, content ? lr_data_matrix_data(content) : NULL, items, NULL, n, out, err);
}

int lr_towers_item_embed_content(const lr_pal *m, const float *rows, size_t n, float *out,
                                 lr_err *err) {
    if (m->cfg.mode == LR_PAL_ID)
        return lr_err_set(err, LR_EUNSUPPORTED, "an id-mode model cannot embed new items from "
                          "content: it knows items only by their trained ids");
    return item_chunks(m, NULL, NULL, rows, n, out, err);
}
