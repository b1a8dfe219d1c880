/* The PAL model: configuration, the parameter table, initialisation, and forward/backward over
 * packed batches of sequences. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "layers_internal.h"
#include "pal_internal.h"

lr_pal_config lr_towers_pal_config_default(void) {
    /* one layer: on Scientific it beat two in quality and costs half (docs/benchmarks.md) */
    lr_pal_config c = {.content_dim = 0, .n_items = 0, .hidden = 256, .layers = 1, .heads = 4,
                       .out_dim = 64, .max_len = 50, .pos_emb = LR_POS_NEWEST, .mode = LR_PAL_CONTENT,
                       .dropout = 0.1f};
    return c;
}

const char *lr_towers_pal_mode_name(lr_pal_mode m) {
    return m == LR_PAL_ID ? "id" : m == LR_PAL_BOTH ? "both" : "content";
}

static int check_config(const lr_pal_config *c, lr_err *err) {
    if (c->mode != LR_PAL_CONTENT && c->mode != LR_PAL_ID && c->mode != LR_PAL_BOTH)
        return lr_err_set(err, LR_EINVAL, "PAL: unknown mode %d", (int)c->mode);
    if (c->mode != LR_PAL_ID && (c->content_dim < 1 || c->content_dim > 65536))
        return lr_err_set(err, LR_EINVAL, "PAL: content_dim must be 1 to 65536 in %s mode, got %zu",
                          lr_towers_pal_mode_name(c->mode), c->content_dim);
    if (c->mode != LR_PAL_CONTENT && (c->n_items < 1 || c->n_items > 100000000))
        return lr_err_set(err, LR_EINVAL, "PAL: n_items must be 1 to 1e8 in %s mode, got %zu",
                          lr_towers_pal_mode_name(c->mode), c->n_items);
    if (c->hidden < 1 || c->hidden > 4096 || c->heads < 1 || c->hidden % c->heads)
        return lr_err_set(err, LR_EINVAL, "PAL: hidden (%zu) must be 1 to 4096 and divisible by "
                          "heads (%zu)", c->hidden, c->heads);
    if (c->layers > LR_PAL_MAX_LAYERS)
        return lr_err_set(err, LR_EINVAL, "PAL: at most %d layers, got %zu", LR_PAL_MAX_LAYERS,
                          c->layers);
    if (c->pos_emb != LR_POS_NONE && c->pos_emb != LR_POS_NEWEST && c->pos_emb != LR_POS_OLDEST)
        return lr_err_set(err, LR_EINVAL, "PAL: unknown position mode %d", c->pos_emb);
    if (c->out_dim < 1 || c->out_dim > 4096 || c->max_len < 1 || c->max_len > 4096)
        return lr_err_set(err, LR_EINVAL, "PAL: out_dim and max_len must be 1 to 4096 (got %zu, %zu)",
                          c->out_dim, c->max_len);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return lr_err_set(err, LR_EINVAL, "PAL: dropout must be in [0, 1), got %g", (double)c->dropout);
    return LR_OK;
}

static void add_tensor(lr_pal *m, const char *name, size_t d0, size_t d1, int decay) {
    lr_pal_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->numel = d1 ? d0 * d1 : d0;
    t->offset = m->n_params;
    t->decay = decay;
    m->n_params += t->numel;
}

/* The one table of tensors: its order is the file order and the order of the blocks. */
static void build_table(lr_pal *m) {
    const lr_pal_config *c = &m->cfg;
    size_t H = c->hidden;
    char name[40];
    m->n_tensors = 0;
    m->n_params = 0;
    if (c->mode != LR_PAL_ID) {
        add_tensor(m, "adapter.weight", H, c->content_dim, 1);
        add_tensor(m, "adapter.bias", H, 0, 0);
    }
    if (c->mode != LR_PAL_CONTENT) add_tensor(m, "item_emb", c->n_items, H, 1);
    if (c->pos_emb) add_tensor(m, "pos_emb", c->max_len, H, 1);
    static const char *const parts[12] = {"ln1.weight", "ln1.bias", "qkv.weight", "qkv.bias",
                                          "proj.weight", "proj.bias", "ln2.weight", "ln2.bias",
                                          "fc.weight", "fc.bias", "fcproj.weight", "fcproj.bias"};
    const size_t d0[12] = {H, H, 3 * H, 3 * H, H, H, H, H, 4 * H, 4 * H, H, H};
    const size_t d1[12] = {0, 0, H, 0, H, 0, 0, 0, H, 0, 4 * H, 0};
    for (size_t l = 0; l < c->layers; l++)
        for (int k = 0; k < 12; k++) {
            snprintf(name, sizeof name, "layers.%zu.%s", l, parts[k]);
            add_tensor(m, name, d0[k], d1[k], d1[k] != 0);
        }
    add_tensor(m, "lnf.weight", H, 0, 0);
    add_tensor(m, "lnf.bias", H, 0, 0);
    add_tensor(m, "out.weight", c->out_dim, H, 1);
    add_tensor(m, "out.bias", c->out_dim, 0, 0);
}

/* Points the named slots of `p` into `block`, following the table's order. */
static void point(const lr_pal *m, float *block, lr_pal_params *p) {
    memset(p, 0, sizeof *p);
    size_t k = 0;
    const lr_pal_config *c = &m->cfg;
#define NEXT (block + m->tensors[k++].offset)
    if (c->mode != LR_PAL_ID) {
        p->adapt_w = NEXT;
        p->adapt_b = NEXT;
    }
    if (c->mode != LR_PAL_CONTENT) p->item_emb = NEXT;
    if (c->pos_emb) p->pos_emb = NEXT;
    for (size_t l = 0; l < c->layers; l++) {
        lr_pal_layer *L = &p->layer[l];
        L->ln1_w = NEXT; L->ln1_b = NEXT; L->qkv_w = NEXT; L->qkv_b = NEXT;
        L->proj_w = NEXT; L->proj_b = NEXT; L->ln2_w = NEXT; L->ln2_b = NEXT;
        L->fc_w = NEXT; L->fc_b = NEXT; L->fcp_w = NEXT; L->fcp_b = NEXT;
    }
    p->lnf_w = NEXT;
    p->lnf_b = NEXT;
    p->out_w = NEXT;
    p->out_b = NEXT;
#undef NEXT
}

float lr_towers_rand_normal(uint64_t *state) {
    float u1 = lr_towers_rand_uniform(state), u2 = lr_towers_rand_uniform(state);
    if (u1 < 1e-7f) u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

/* GPT-2's initialisation: N(0, 0.02) for matrices and embeddings, residual projections scaled
 * down by sqrt(2L) so the residual stream's variance does not grow with depth. */
static void init_params(lr_pal *m, uint64_t seed) {
    uint64_t rng = seed * 0x9e3779b97f4a7c15ULL + 1;
    float *b = m->params_block;
    memset(b, 0, m->n_params * sizeof *b);
    for (size_t k = 0; k < m->n_tensors; k++) {
        const lr_pal_tensor *t = &m->tensors[k];
        float *x = b + t->offset;
        const char *dot = strrchr(t->name, '.');
        if (t->ndim == 2) {
            float std = 0.02f;
            if (dot && (strstr(t->name, ".proj.weight") || strstr(t->name, ".fcproj.weight")))
                std /= sqrtf(2.0f * (float)(m->cfg.layers ? m->cfg.layers : 1));
            for (size_t i = 0; i < t->numel; i++) x[i] = std * lr_towers_rand_normal(&rng);
        } else if (dot && strcmp(dot, ".weight") == 0) { /* layer norm gains */
            for (size_t i = 0; i < t->numel; i++) x[i] = 1.0f;
        }
    }
}

int lr_towers_pal_new(const lr_pal_config *cfg, uint64_t seed, lr_pal **out, lr_err *err) {
    *out = NULL;
    int rc = check_config(cfg, err);
    if (rc) return rc;
    lr_pal *m = calloc(1, sizeof *m);
    if (!m) return lr_err_set(err, LR_ENOMEM, "PAL: out of memory");
    m->cfg = *cfg;
    build_table(m);
    m->params_block = malloc(m->n_params * sizeof *m->params_block);
    if (!m->params_block) {
        size_t n = m->n_params;
        free(m);
        return lr_err_set(err, LR_ENOMEM, "PAL: out of memory for %zu parameters", n);
    }
    point(m, m->params_block, &m->p);
    init_params(m, seed);
    *out = m;
    return LR_OK;
}

int lr_towers_pal_alloc_grads(lr_pal *m, lr_err *err) {
    if (m->grads_block) return LR_OK;
    m->grads_block = calloc(m->n_params, sizeof *m->grads_block);
    if (!m->grads_block) return lr_err_set(err, LR_ENOMEM, "PAL: out of memory for gradients");
    point(m, m->grads_block, &m->g);
    return LR_OK;
}

void lr_towers_pal_zero_grads(lr_pal *m) {
    if (m->grads_block) memset(m->grads_block, 0, m->n_params * sizeof *m->grads_block);
}

lr_pal_config lr_towers_pal_get_config(const lr_pal *m) { return m->cfg; }
size_t lr_towers_pal_num_params(const lr_pal *m) { return m->n_params; }

void lr_towers_pal_free(lr_pal *m) {
    if (!m) return;
    free(m->params_block);
    free(m->grads_block);
    free(m->cache);
    free(m->vp);
    free(m);
}

int lr_towers_pal_fold_values(lr_pal *m, lr_err *err) {
    size_t H = m->cfg.hidden, L = m->cfg.layers, per = H * H + H;
    free(m->vp);
    m->vp = L ? malloc(L * per * sizeof *m->vp) : NULL;
    if (L && !m->vp) return lr_err_set(err, LR_ENOMEM, "PAL: out of memory for the folded value projections");
    for (size_t l = 0; l < L; l++) {
        const lr_pal_layer *ly = &m->p.layer[l];
        const float *wv = ly->qkv_w + 2 * H * H, *bv = ly->qkv_b + 2 * H;
        float *w = m->vp + l * per, *b = w + H * H;
        /* proj(v(x)) = x (Wp Wv)^T + (Wp bv + bp): weights are (out, in) rows */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)H, (int)H, (int)H, 1.0f, ly->proj_w, (int)H, wv,
                    (int)H, 0.0f, w, (int)H);
        memcpy(b, ly->proj_b, H * sizeof *b);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)H, (int)H, 1.0f, ly->proj_w, (int)H, bv, 1, 1.0f, b, 1);
    }
    return LR_OK;
}

/* ---- passes -------------------------------------------------------------------------------- */

void lr_towers_pal_pass_free(lr_pal_pass *ps) {
    free(ps->seq_off); free(ps->att_off); free(ps->out_tok); free(ps->ids); free(ps->pos);
    free(ps->content); free(ps->uniq); free(ps->tok_u); free(ps->slot); free(ps->emb_u); free(ps->demb_u);
    free(ps->emb); free(ps->emb_mask); free(ps->x0); free(ps->id_kept);
    for (size_t l = 0; l < LR_PAL_MAX_LAYERS; l++) {
        free(ps->l[l].ln1); free(ps->l[l].ln1_mean); free(ps->l[l].ln1_rstd); free(ps->l[l].qkv);
        free(ps->l[l].att); free(ps->l[l].atty); free(ps->l[l].attproj);
        free(ps->l[l].attproj_mask); free(ps->l[l].res2); free(ps->l[l].ln2);
        free(ps->l[l].ln2_mean); free(ps->l[l].ln2_rstd); free(ps->l[l].fch);
        free(ps->l[l].fch_gelu); free(ps->l[l].fcproj); free(ps->l[l].fcproj_mask);
        free(ps->l[l].res3);
    }
    free(ps->sel); free(ps->lnf); free(ps->lnf_mean); free(ps->lnf_rstd); free(ps->proj);
    free(ps->norm); free(ps->out); free(ps->fold);
    free(ps->dres); free(ps->dres2); free(ps->dH1); free(ps->dH4a); free(ps->dH4b);
    free(ps->dqkv); free(ps->datt); free(ps->dsel); free(ps->dlnf); free(ps->dproj);
    memset(ps, 0, sizeof *ps);
}

static int grow(void *pp, size_t n, size_t elem) {
    void **p = pp;
    void *q = realloc(*p, (n ? n : 1) * elem);
    if (!q) return -1;
    *p = q;
    return 0;
}

/* Makes every buffer big enough for M tokens, P outputs, S sequences and `att` floats. A
 * capacity is raised only when every buffer so far grew: a pass is kept and reused, and after
 * a failure the next call must grow them again, not write past the ones that did not grow. */
static int reserve(const lr_pal *m, lr_pal_pass *ps, size_t S, size_t M, size_t P, size_t att) {
    const lr_pal_config *c = &m->cfg;
    size_t H = c->hidden, D = c->out_dim, L = c->layers, F = sizeof(float);
    int bad = 0;
    if (S + 1 > ps->cap_S) {
        bad |= grow(&ps->seq_off, S + 1, sizeof(size_t)) | grow(&ps->att_off, S + 1, sizeof(size_t));
        if (!bad) ps->cap_S = S + 1;
    }
    if (M > ps->cap_M) {
        bad |= grow(&ps->ids, M, sizeof(int32_t)) | grow(&ps->pos, M, sizeof(size_t));
        if (c->mode != LR_PAL_ID)
            bad |= grow(&ps->content, M * c->content_dim, F) | grow(&ps->emb_u, M * H, F) |
                   grow(&ps->demb_u, M * H, F);
        bad |= grow(&ps->uniq, M, sizeof(int32_t)) | grow(&ps->tok_u, M, sizeof(uint32_t)) |
               grow(&ps->id_kept, M, 1);
        bad |= grow(&ps->emb, M * H, F) | grow(&ps->emb_mask, M * H, F) | grow(&ps->x0, M * H, F);
        for (size_t l = 0; l < L; l++) {
            bad |= grow(&ps->l[l].ln1, M * H, F) | grow(&ps->l[l].ln1_mean, M, F) |
                   grow(&ps->l[l].ln1_rstd, M, F) | grow(&ps->l[l].qkv, M * 3 * H, F) |
                   grow(&ps->l[l].atty, M * H, F) | grow(&ps->l[l].attproj, M * H, F) |
                   grow(&ps->l[l].attproj_mask, M * H, F) | grow(&ps->l[l].res2, M * H, F) |
                   grow(&ps->l[l].ln2, M * H, F) | grow(&ps->l[l].ln2_mean, M, F) |
                   grow(&ps->l[l].ln2_rstd, M, F) | grow(&ps->l[l].fch, M * 4 * H, F) |
                   grow(&ps->l[l].fch_gelu, M * 4 * H, F) | grow(&ps->l[l].fcproj, M * H, F) |
                   grow(&ps->l[l].fcproj_mask, M * H, F) | grow(&ps->l[l].res3, M * H, F);
        }
        bad |= grow(&ps->dres, M * H, F) | grow(&ps->dres2, M * H, F) | grow(&ps->dH1, M * H, F) |
               grow(&ps->dH4a, M * 4 * H, F) | grow(&ps->dH4b, M * 4 * H, F) |
               grow(&ps->dqkv, M * 3 * H, F);
        if (!bad) ps->cap_M = M;
    }
    if (att > ps->cap_att) {
        for (size_t l = 0; l < L; l++) bad |= grow(&ps->l[l].att, att, F);
        bad |= grow(&ps->datt, att, F);
        if (!bad) ps->cap_att = att;
    }
    if (P > ps->cap_P) {
        bad |= grow(&ps->out_tok, P, sizeof(size_t)) | grow(&ps->sel, P * H, F) |
               grow(&ps->lnf, P * H, F) | grow(&ps->lnf_mean, P, F) | grow(&ps->lnf_rstd, P, F) |
               grow(&ps->proj, P * D, F) | grow(&ps->norm, P, F) | grow(&ps->out, P * D, F) |
               grow(&ps->dsel, P * H, F) | grow(&ps->dlnf, P * H, F) | grow(&ps->dproj, P * D, F);
        if (!bad) ps->cap_P = P;
    }
    return bad ? -1 : 0;
}

/* The tokens' distinct ids into ps->uniq / ps->tok_u: for a request's few tokens by looking
 * through the ones found so far (no map: a serving pass over a 1M-item catalogue would keep 4 MB
 * for it), for a batch through an id-indexed map grown to the largest id seen (and left all -1
 * again afterwards). */
#define DISTINCT_BY_SEARCH 64

static int find_distinct(lr_pal_pass *ps) {
    if (ps->M <= DISTINCT_BY_SEARCH) {
        ps->U = 0;
        for (size_t t = 0; t < ps->M; t++) {
            size_t u = 0;
            while (u < ps->U && ps->uniq[u] != ps->ids[t]) u++;
            if (u == ps->U) ps->uniq[ps->U++] = ps->ids[t];
            ps->tok_u[t] = (uint32_t)u;
        }
        return 0;
    }
    int32_t top = -1;
    for (size_t t = 0; t < ps->M; t++) top = ps->ids[t] > top ? ps->ids[t] : top;
    size_t need = (size_t)top + 2; /* slot 0: id -1 */
    if (need > ps->cap_slot) {
        if (grow(&ps->slot, need, sizeof(int32_t))) return -1;
        for (size_t i = ps->cap_slot; i < need; i++) ps->slot[i] = -1;
        ps->cap_slot = need;
    }
    ps->U = 0;
    for (size_t t = 0; t < ps->M; t++) {
        int32_t *sl = &ps->slot[(size_t)(ps->ids[t] + 1)];
        if (*sl < 0) {
            *sl = (int32_t)ps->U;
            ps->uniq[ps->U++] = ps->ids[t];
        }
        ps->tok_u[t] = (uint32_t)*sl;
    }
    for (size_t u = 0; u < ps->U; u++) ps->slot[(size_t)(ps->uniq[u] + 1)] = -1;
    return 0;
}

int lr_towers_pal_pass_setup_ex(const lr_pal *m, lr_pal_pass *ps, const int32_t *items,
                         const size_t *offsets, size_t S, const uint32_t *n_out, lr_err *err) {
    size_t maxlen = m->cfg.max_len, M = 0, att = 0, P = 0;
    int several = 0; /* some sequence outputs at more than its last token */
    for (size_t s = 0; s < S; s++) {
        size_t T = offsets[s + 1] - offsets[s], want = n_out && n_out[s] > 1 ? n_out[s] : 1;
        if (T > maxlen) T = maxlen;
        M += T;
        P += T < want ? T : want;
        several |= T > 1 && want > 1;
        att += m->cfg.heads * T * T;
    }
    if (reserve(m, ps, S, M, P, att))
        return lr_err_set(err, LR_ENOMEM, "PAL: out of memory for a batch of %zu tokens", M);
    ps->S = S;
    ps->M = M;
    ps->P = 0;
    ps->last_only = !several;
    /* the folded attention's scratch, only where inference may take the shortcut (outputs at
     * the last tokens only, and not one token per sequence): P is one row per sequence there,
     * where a pass with outputs at every position would have one per token */
    size_t fold = ps->last_only && M != S ? 2 * P * m->cfg.heads * m->cfg.hidden : 0;
    if (fold > ps->cap_fold) {
        if (grow(&ps->fold, fold, sizeof(float)))
            return lr_err_set(err, LR_ENOMEM, "PAL: out of memory for a batch of %zu sequences", P);
        ps->cap_fold = fold;
    }
    size_t t = 0;
    ps->seq_off[0] = 0;
    ps->att_off[0] = 0;
    for (size_t s = 0; s < S; s++) {
        size_t T = offsets[s + 1] - offsets[s], skip = T > maxlen ? T - maxlen : 0;
        T -= skip;
        size_t want = n_out && n_out[s] > 1 ? n_out[s] : 1, first_out = T > want ? T - want : 0;
        for (size_t i = 0; i < T; i++, t++) {
            ps->ids[t] = items[offsets[s] + skip + i];
            ps->pos[t] = m->cfg.pos_emb == LR_POS_NEWEST ? T - 1 - i : i;
            if (i >= first_out) ps->out_tok[ps->P++] = t;
        }
        ps->seq_off[s + 1] = t;
        ps->att_off[s + 1] = ps->att_off[s] + m->cfg.heads * T * T;
    }
    if (find_distinct(ps)) return lr_err_set(err, LR_ENOMEM, "PAL: out of memory for the batch's item map");
    return LR_OK;
}

int lr_towers_pal_pass_setup(const lr_pal *m, lr_pal_pass *ps, const int32_t *items,
                      const size_t *offsets, size_t S, lr_err *err) {
    return lr_towers_pal_pass_setup_ex(m, ps, items, offsets, S, NULL, err);
}

/* The last layer when only each sequence's last token is wanted (inference): layer norm for every
 * token, but the query, attention (keys and values folded, see lr_towers_attention_last_forward),
 * projection and MLP for the S last tokens only.
 * x (M,H) is the layer's input; the result lands in ps->sel (S,H). Backward scratch buffers
 * (unused outside training) hold the intermediate rows. */
static void last_layer_for_outputs(const lr_pal *m, lr_pal_pass *ps, const float *x) {
    const lr_pal_config *c = &m->cfg;
    const lr_pal_layer *L = &m->p.layer[c->layers - 1];
    lr_pal_layer_acts *a = &ps->l[c->layers - 1];
    size_t H = c->hidden, M = ps->M, P = ps->P;
    float *qin = ps->dres, *q = ps->dres2, *y = ps->dH1, *h4 = ps->dH4a;
    lr_towers_layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, L->ln1_w, L->ln1_b, M, H);
    for (size_t i = 0; i < P; i++) memcpy(qin + i * H, a->ln1 + ps->out_tok[i] * H, H * sizeof *qin);
    lr_towers_linear_forward(q, qin, L->qkv_w, L->qkv_b, P, H, H);
    lr_towers_attention_last_forward(y, q, a->ln1, L->qkv_w + H * H, L->qkv_w + 2 * H * H, L->qkv_b + 2 * H,
                              ps->fold, a->atty, ps->out_tok, P, H, c->heads);
    lr_towers_linear_forward(a->attproj, y, L->proj_w, L->proj_b, P, H, H);
    for (size_t i = 0; i < P; i++) /* res2 for the output rows only */
        for (size_t j = 0; j < H; j++) a->res2[i * H + j] = x[ps->out_tok[i] * H + j] + a->attproj[i * H + j];
    lr_towers_layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, L->ln2_w, L->ln2_b, P, H);
    lr_towers_linear_forward(a->fch, a->ln2, L->fc_w, L->fc_b, P, H, 4 * H);
    lr_towers_gelu_forward(h4, a->fch, P * 4 * H);
    lr_towers_linear_forward(a->fcproj, h4, L->fcp_w, L->fcp_b, P, 4 * H, H);
    for (size_t i = 0; i < P * H; i++) ps->sel[i] = a->res2[i] + a->fcproj[i];
}

/* The transformer from the input embeddings onwards. With `cached`, ps->emb starts from the
 * model's item cache; otherwise from the adaptor over ps->content, the U distinct items' rows,
 * each token taking its item's row. */
static void forward_from_content(const lr_pal *m, lr_pal_pass *ps, int cached) {
    const lr_pal_config *c = &m->cfg;
    const lr_pal_params *p = &m->p;
    size_t H = c->hidden, M = ps->M, P = ps->P, D = c->out_dim;
    float drop = ps->training ? c->dropout : 0.0f;
    int singles = ps->S == M; /* the item tower's passes */
    /* emb (M,H) = (content (U,Dc) adapt_w^T + adapt_b)[item] [+ item_emb[id]] [+ pos_emb[pos]] */
    /* rows by item id: the model's cache (id embeddings included), or the caller's adaptor table */
    const float *by_id = cached ? m->cache : c->mode != LR_PAL_ID ? ps->table : NULL;
    if (by_id) {
        for (size_t t = 0; t < M; t++)
            memcpy(ps->emb + t * H, by_id + (size_t)ps->ids[t] * H, H * sizeof *ps->emb);
    } else if (c->mode != LR_PAL_ID) {
        lr_towers_linear_forward(ps->emb_u, ps->content, p->adapt_w, p->adapt_b, ps->U, c->content_dim, H);
        for (size_t t = 0; t < M; t++)
            memcpy(ps->emb + t * H, ps->emb_u + (size_t)ps->tok_u[t] * H, H * sizeof *ps->emb);
    } else {
        memset(ps->emb, 0, M * H * sizeof *ps->emb);
    }
    float id_drop = ps->training && c->mode == LR_PAL_BOTH ? ps->id_dropout : 0.0f;
    for (size_t t = 0; t < M; t++) {
        float *e = ps->emb + t * H;
        ps->id_kept[t] = id_drop == 0.0f || lr_towers_rand_uniform(&ps->rng) >= id_drop;
        if (p->item_emb && ps->ids[t] >= 0 && !cached && ps->id_kept[t]) {
            const float *ie = p->item_emb + (size_t)ps->ids[t] * H;
            for (size_t j = 0; j < H; j++) e[j] += ie[j];
        }
        if (p->pos_emb) {
            const float *pe = p->pos_emb + ps->pos[t] * H;
            for (size_t j = 0; j < H; j++) e[j] += pe[j];
        }
    }
    const float *x = ps->emb;
    if (drop > 0.0f) {
        lr_towers_dropout_forward(ps->x0, ps->emb_mask, ps->emb, M * H, drop, &ps->rng);
        x = ps->x0;
    }
    int shortcut = !ps->training && ps->last_only && !singles && c->layers > 0;
    size_t full_layers = shortcut ? c->layers - 1 : c->layers;
    for (size_t l = 0; l < full_layers; l++) {
        const lr_pal_layer *L = &p->layer[l];
        lr_pal_layer_acts *a = &ps->l[l];
        lr_towers_layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, L->ln1_w, L->ln1_b, M, H);
        if (singles && m->vp && !ps->training) { /* value and projection folded (lr_towers_pal_fold_values) */
            const float *vp = m->vp + l * (H * H + H);
            lr_towers_linear_forward(a->attproj, a->ln1, vp, vp + H * H, M, H, H);
        } else {
            if (singles) { /* one token per sequence: attention returns its value, q and k unused */
                lr_towers_linear_forward(a->atty, a->ln1, L->qkv_w + 2 * H * H, L->qkv_b + 2 * H, M, H, H);
            } else {
                lr_towers_linear_forward(a->qkv, a->ln1, L->qkv_w, L->qkv_b, M, H, 3 * H);
                lr_towers_attention_forward(a->atty, a->att, a->qkv, ps->seq_off, ps->att_off, ps->S, H, c->heads);
            }
            lr_towers_linear_forward(a->attproj, a->atty, L->proj_w, L->proj_b, M, H, H);
        }
        if (drop > 0.0f) lr_towers_dropout_forward(a->attproj, a->attproj_mask, a->attproj, M * H, drop, &ps->rng);
        for (size_t i = 0; i < M * H; i++) a->res2[i] = x[i] + a->attproj[i];
        lr_towers_layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, L->ln2_w, L->ln2_b, M, H);
        lr_towers_linear_forward(a->fch, a->ln2, L->fc_w, L->fc_b, M, H, 4 * H);
        lr_towers_gelu_forward(a->fch_gelu, a->fch, M * 4 * H);
        lr_towers_linear_forward(a->fcproj, a->fch_gelu, L->fcp_w, L->fcp_b, M, 4 * H, H);
        if (drop > 0.0f) lr_towers_dropout_forward(a->fcproj, a->fcproj_mask, a->fcproj, M * H, drop, &ps->rng);
        for (size_t i = 0; i < M * H; i++) a->res3[i] = a->res2[i] + a->fcproj[i];
        x = a->res3;
    }
    ps->shortcut = shortcut;
    if (shortcut) last_layer_for_outputs(m, ps, x);
    else
        for (size_t i = 0; i < P; i++) memcpy(ps->sel + i * H, x + ps->out_tok[i] * H, H * sizeof *x);
    lr_towers_layernorm_forward(ps->lnf, ps->lnf_mean, ps->lnf_rstd, ps->sel, p->lnf_w, p->lnf_b, P, H);
    lr_towers_linear_forward(ps->proj, ps->lnf, p->out_w, p->out_b, P, H, D);
    lr_towers_l2norm_forward(ps->out, ps->norm, ps->proj, P, D);
}

void lr_towers_pal_forward(const lr_pal *m, lr_pal_pass *ps, const float *content) {
    size_t Dc = m->cfg.content_dim;
    int cached = !ps->training && m->cache && content == m->cache_src;
    for (size_t t = 0; cached && t < ps->M; t++)
        cached = ps->ids[t] >= 0 && (size_t)ps->ids[t] < m->cache_rows;
    if (m->cfg.mode != LR_PAL_ID && !cached && !ps->table)
        for (size_t u = 0; u < ps->U; u++) {
            if (ps->uniq[u] >= 0) memcpy(ps->content + u * Dc, content + (size_t)ps->uniq[u] * Dc, Dc * sizeof(float));
            else memset(ps->content + u * Dc, 0, Dc * sizeof(float));
        }
    forward_from_content(m, ps, cached);
}

void lr_towers_pal_forward_rows(const lr_pal *m, lr_pal_pass *ps, const float *rows) {
    if (m->cfg.mode != LR_PAL_ID) memcpy(ps->content, rows, ps->M * m->cfg.content_dim * sizeof(float));
    ps->U = ps->M;
    for (size_t t = 0; t < ps->M; t++) ps->tok_u[t] = (uint32_t)t;
    forward_from_content(m, ps, 0);
}

int lr_towers_pal_cache_content(lr_pal *m, const lr_content *content, lr_err *err) {
    free(m->cache);
    m->cache = NULL;
    m->cache_rows = 0;
    m->cache_src = NULL;
    if (m->cfg.mode == LR_PAL_ID) return LR_OK; /* id embeddings are already a table */
    size_t n = lr_data_matrix_rows(content), H = m->cfg.hidden;
    if (lr_data_matrix_dim(content) != m->cfg.content_dim)
        return lr_err_set(err, LR_EMISMATCH, "the content has dimension %zu, the model reads %zu",
                          lr_data_matrix_dim(content), m->cfg.content_dim);
    if (m->cfg.mode == LR_PAL_BOTH && n > m->cfg.n_items) n = m->cfg.n_items;
    float *cache = malloc(n * H * sizeof *cache);
    if (!cache) return lr_err_set(err, LR_ENOMEM, "out of memory for a %zu x %zu item cache", n, H);
    lr_towers_linear_forward(cache, lr_data_matrix_data(content), m->p.adapt_w, m->p.adapt_b, n,
                      m->cfg.content_dim, H);
    if (m->p.item_emb)
        for (size_t i = 0; i < n * H; i++) cache[i] += m->p.item_emb[i];
    m->cache = cache;
    m->cache_rows = n;
    m->cache_src = lr_data_matrix_data(content);
    return LR_OK;
}

/* The input embedding's backward from demb (M,H): the adaptor (through the pass's distinct items,
 * or into the caller's table), the id and the position embeddings. */
static void embedding_backward(lr_pal *m, lr_pal_pass *ps, const float *demb) {
    const lr_pal_config *c = &m->cfg;
    const lr_pal_params *p = &m->p;
    lr_pal_params *g = &m->g;
    size_t H = c->hidden, M = ps->M;
    if (c->mode != LR_PAL_ID && ps->dtable) { /* the caller's table: its rows collect the gradients */
        for (size_t t = 0; t < M; t++) {
            float *du = ps->dtable + (size_t)ps->ids[t] * H;
            const float *d = demb + t * H;
            for (size_t j = 0; j < H; j++) du[j] += d[j];
        }
    } else if (c->mode != LR_PAL_ID) { /* each item's adaptor row took the gradients of its tokens */
        memset(ps->demb_u, 0, ps->U * H * sizeof(float));
        for (size_t t = 0; t < M; t++) {
            float *du = ps->demb_u + (size_t)ps->tok_u[t] * H;
            const float *d = demb + t * H;
            for (size_t j = 0; j < H; j++) du[j] += d[j];
        }
        lr_towers_linear_backward(NULL, g->adapt_w, g->adapt_b, ps->demb_u, ps->content, p->adapt_w, ps->U,
                                  c->content_dim, H);
    }
    for (size_t t = 0; t < M; t++) {
        const float *d = demb + t * H;
        if (g->item_emb && ps->ids[t] >= 0 && ps->id_kept[t]) {
            float *ge = g->item_emb + (size_t)ps->ids[t] * H;
            for (size_t j = 0; j < H; j++) ge[j] += d[j];
        }
        if (g->pos_emb) {
            float *gp = g->pos_emb + ps->pos[t] * H;
            for (size_t j = 0; j < H; j++) gp[j] += d[j];
        }
    }
}

void lr_towers_pal_backward(lr_pal *m, lr_pal_pass *ps, const float *dout) {
    const lr_pal_config *c = &m->cfg;
    const lr_pal_params *p = &m->p;
    lr_pal_params *g = &m->g;
    size_t H = c->hidden, M = ps->M, P = ps->P, D = c->out_dim;
    float drop = ps->training ? c->dropout : 0.0f;
    assert(!ps->shortcut);
    /* output head: l2norm <- linear <- final layer norm <- selected rows */
    memset(ps->dproj, 0, P * D * sizeof(float));
    lr_towers_l2norm_backward(ps->dproj, dout, ps->out, ps->norm, P, D);
    memset(ps->dlnf, 0, P * H * sizeof(float));
    lr_towers_linear_backward(ps->dlnf, g->out_w, g->out_b, ps->dproj, ps->lnf, p->out_w, P, H, D);
    memset(ps->dsel, 0, P * H * sizeof(float));
    lr_towers_layernorm_backward(ps->dsel, g->lnf_w, g->lnf_b, ps->dlnf, ps->sel, p->lnf_w, ps->lnf_mean,
                          ps->lnf_rstd, P, H);
    float *dres = ps->dres; /* gradient with respect to the residual stream */
    memset(dres, 0, M * H * sizeof(float));
    for (size_t i = 0; i < P; i++) {
        float *d = dres + ps->out_tok[i] * H;
        for (size_t j = 0; j < H; j++) d[j] += ps->dsel[i * H + j];
    }
    for (size_t l = c->layers; l-- > 0;) {
        const lr_pal_layer *L = &p->layer[l];
        lr_pal_layer *G = &g->layer[l];
        lr_pal_layer_acts *a = &ps->l[l];
        const float *x = l ? ps->l[l - 1].res3 : (drop > 0.0f ? ps->x0 : ps->emb);
        /* res3 = res2 + fcproj: the MLP branch */
        float *dbranch = ps->dH1;
        memcpy(dbranch, dres, M * H * sizeof(float));
        if (drop > 0.0f) for (size_t i = 0; i < M * H; i++) dbranch[i] *= a->fcproj_mask[i];
        memset(ps->dH4a, 0, M * 4 * H * sizeof(float));
        lr_towers_linear_backward(ps->dH4a, G->fcp_w, G->fcp_b, dbranch, a->fch_gelu, L->fcp_w, M, 4 * H, H);
        memset(ps->dH4b, 0, M * 4 * H * sizeof(float));
        lr_towers_gelu_backward(ps->dH4b, a->fch, ps->dH4a, M * 4 * H);
        memset(dbranch, 0, M * H * sizeof(float));
        lr_towers_linear_backward(dbranch, G->fc_w, G->fc_b, ps->dH4b, a->ln2, L->fc_w, M, H, 4 * H);
        float *dres2 = ps->dres2;
        memcpy(dres2, dres, M * H * sizeof(float));
        lr_towers_layernorm_backward(dres2, G->ln2_w, G->ln2_b, dbranch, a->res2, L->ln2_w, a->ln2_mean,
                              a->ln2_rstd, M, H);
        /* res2 = x + attproj: the attention branch */
        memcpy(dbranch, dres2, M * H * sizeof(float));
        if (drop > 0.0f) for (size_t i = 0; i < M * H; i++) dbranch[i] *= a->attproj_mask[i];
        float *datty = ps->dH4a; /* reuse: (M,H) fits in (M,4H) */
        memset(datty, 0, M * H * sizeof(float));
        lr_towers_linear_backward(datty, G->proj_w, G->proj_b, dbranch, a->atty, L->proj_w, M, H, H);
        memset(dbranch, 0, M * H * sizeof(float));
        if (ps->S == M) { /* single tokens: the gradient of v is datty itself */
            lr_towers_linear_backward(dbranch, G->qkv_w + 2 * H * H, G->qkv_b + 2 * H, datty, a->ln1,
                               L->qkv_w + 2 * H * H, M, H, H);
        } else {
            memset(ps->dqkv, 0, M * 3 * H * sizeof(float));
            lr_towers_attention_backward(ps->dqkv, ps->datt, datty, a->qkv, a->att, ps->seq_off,
                                  ps->att_off, ps->S, H, c->heads);
            lr_towers_linear_backward(dbranch, G->qkv_w, G->qkv_b, ps->dqkv, a->ln1, L->qkv_w, M, H, 3 * H);
        }
        memcpy(dres, dres2, M * H * sizeof(float));
        lr_towers_layernorm_backward(dres, G->ln1_w, G->ln1_b, dbranch, x, L->ln1_w, a->ln1_mean,
                              a->ln1_rstd, M, H);
    }
    /* dres is now the gradient of x0 (after the embedding dropout) */
    if (drop > 0.0f) for (size_t i = 0; i < M * H; i++) dres[i] *= ps->emb_mask[i];
    embedding_backward(m, ps, dres);
}
