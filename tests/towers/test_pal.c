/* Tests of towers/layers.c, pal.c and infer.c: gradients against finite differences, the BLAS
 * layers against naive loops, and the towers' contracts. */
#include <math.h>

#include "layers_internal.h"
#include "lr_test.h"
#include "pal_internal.h"

/* A tiny model in `mode`, dropout off so the function is deterministic. */
static lr_pal *tiny(lr_pal_mode mode, int pos, size_t layers) {
    lr_pal_config c = lr_towers_pal_config_default();
    c.content_dim = 6;
    c.n_items = 7;
    c.hidden = 8;
    c.heads = 2;
    c.layers = layers;
    c.out_dim = 4;
    c.max_len = 5;
    c.pos_emb = pos;
    c.mode = mode;
    c.dropout = 0.0f;
    lr_pal *m = NULL;
    lr_err err;
    if (lr_towers_pal_new(&c, 3, &m, &err)) return NULL;
    /* Move every parameter off its initial value (layer norms start at exactly 1 and 0) so that
     * every term of every gradient is exercised. */
    uint64_t rng = 99;
    for (size_t i = 0; i < m->n_params; i++) m->params_block[i] += 0.3f * lr_towers_rand_normal(&rng);
    return m;
}

static const float k_content[7 * 6] = {
    0.1f, -0.4f, 0.3f, 0.8f, -0.2f, 0.5f,  0.7f, 0.2f, -0.6f, 0.1f, 0.4f, -0.3f,
    -0.5f, 0.6f, 0.2f, -0.1f, 0.9f, 0.3f,  0.3f, 0.3f, 0.3f, -0.7f, -0.2f, 0.6f,
    0.9f, -0.8f, 0.1f, 0.2f, 0.5f, -0.4f,  -0.2f, -0.1f, 0.8f, 0.6f, -0.5f, 0.2f,
    0.4f, 0.5f, -0.3f, -0.9f, 0.1f, 0.7f};
/* three histories of lengths 3, 1 and 6 (the last is cut to max_len 5) */
static const int32_t k_items[] = {0, 3, 5, 2, 6, 1, 4, 4, 0, 3};
static const size_t k_off[] = {0, 3, 4, 10};

/* A fixed linear read-out of the outputs: loss = sum_p sum_j r[p][j] * out[p][j]. */
static double loss_of(lr_pal *m, lr_pal_pass *ps, const float *r) {
    ps->rng = 99; /* the same modality-dropout draws in every forward */
    lr_towers_pal_forward(m, ps, k_content);
    double s = 0.0;
    for (size_t i = 0; i < ps->P * m->cfg.out_dim; i++) s += (double)r[i] * ps->out[i];
    return s;
}

/* Every parameter's analytic gradient against a central difference. float32 forward passes
 * with step h = 1e-2 carry about 1e-6 / h = 1e-4 of rounding noise in the quotient, and the
 * truncation error h^2 f''' / 6 stays under 1e-4 at these scales, so |analytic - numeric| must
 * be below 2e-3 + 2e-2 |analytic|; a wrong term in a backward is off by far more. */
static void gradient_check(lr_test_ctx *lr_t_, lr_pal_mode mode, int pos, size_t layers, const uint32_t *n_out,
                           size_t want_P, float id_dropout) {
    lr_pal *m = tiny(mode, pos, layers);
    CHECK(m);
    lr_err err = {0};
    CHECK_OK(lr_towers_pal_alloc_grads(m, &err), err);
    lr_pal_pass ps = {0};
    CHECK_OK(lr_towers_pal_pass_setup_ex(m, &ps, k_items, k_off, 3, n_out, &err), err);
    ps.training = 1; /* the full forward that backward needs (dropout is 0 here) */
    ps.id_dropout = id_dropout;
    CHECK_EQ(ps.P, want_P);
    CHECK_EQ(ps.M, 9);
    float r[6 * 4];
    uint64_t rng = 41;
    for (size_t i = 0; i < want_P * 4; i++) r[i] = lr_towers_rand_normal(&rng);
    loss_of(m, &ps, r);
    size_t kept = 0;
    for (size_t t = 0; t < ps.M; t++) kept += ps.id_kept[t];
    if (id_dropout > 0) CHECK(kept > 0 && kept < ps.M); /* the draws left some ids out, not all */
    else CHECK_EQ(kept, ps.M);
    lr_towers_pal_zero_grads(m);
    lr_towers_pal_backward(m, &ps, r);
    size_t checked = 0, worst_k = 0;
    double worst = 0.0;
    for (size_t k = 0; k < m->n_tensors; k++) {
        const lr_pal_tensor *t = &m->tensors[k];
        for (size_t i = 0; i < t->numel; i++) {
            float *w = m->params_block + t->offset + i, keep = *w;
            const float h = 1e-2f;
            *w = keep + h;
            double up = loss_of(m, &ps, r);
            *w = keep - h;
            double down = loss_of(m, &ps, r);
            *w = keep;
            double num = (up - down) / (2.0 * h), ana = m->grads_block[t->offset + i];
            double excess = fabs(num - ana) - (2e-3 + 2e-2 * fabs(ana));
            if (excess > worst) worst = excess, worst_k = k;
            if (excess > 0)
                LR_FAIL_("%s[%zu]: analytic %.6g, numeric %.6g", t->name, i, ana, num);
            checked++;
        }
    }
    (void)worst_k;
    CHECK_EQ(checked, m->n_params);
    lr_towers_pal_pass_free(&ps);
    lr_towers_pal_free(m);
}

/* The item tower's fast path (every sequence one token: q and k skipped) has its own backward. */
LR_TEST(gradients_match_finite_differences_single_item_sequences) {
    lr_pal *m = tiny(LR_PAL_BOTH, LR_POS_NEWEST, 2);
    CHECK(m);
    lr_err err = {0};
    CHECK_OK(lr_towers_pal_alloc_grads(m, &err), err);
    lr_pal_pass ps = {0};
    const int32_t ids[] = {0, 5, 2, 6};
    const size_t off[] = {0, 1, 2, 3, 4};
    CHECK_OK(lr_towers_pal_pass_setup(m, &ps, ids, off, 4, &err), err);
    float r[4 * 4];
    uint64_t rng = 17;
    for (int i = 0; i < 16; i++) r[i] = lr_towers_rand_normal(&rng);
    loss_of(m, &ps, r);
    lr_towers_pal_zero_grads(m);
    lr_towers_pal_backward(m, &ps, r);
    for (size_t i = 0; i < m->n_params; i++) {
        float *w = m->params_block + i, keep = *w;
        const float h = 1e-2f;
        *w = keep + h;
        double up = loss_of(m, &ps, r);
        *w = keep - h;
        double down = loss_of(m, &ps, r);
        *w = keep;
        double num = (up - down) / (2.0 * h), ana = m->grads_block[i];
        if (fabs(num - ana) > 2e-3 + 2e-2 * fabs(ana))
            LR_FAIL_("parameter %zu: analytic %.6g, numeric %.6g", i, ana, num);
    }
    lr_towers_pal_pass_free(&ps);
    lr_towers_pal_free(m);
}

/* With positions from the oldest item, token t's output in one pass is the output of the
 * prefix ending at t on its own: what lets training cover every prefix in one pass, or the last
 * n of a window. */
LR_TEST(all_position_outputs_equal_separate_prefixes) {
    lr_pal *m = tiny(LR_PAL_CONTENT, LR_POS_OLDEST, 2);
    CHECK(m);
    lr_err err = {0};
    lr_pal_pass all = {0}, one = {0};
    const int32_t seq[] = {3, 0, 6, 2};
    const size_t off[] = {0, 4};
    for (uint32_t n = 2; n <= 5; n++) { /* outputs at the last n tokens (5: more than there are) */
        CHECK_OK(lr_towers_pal_pass_setup_ex(m, &all, seq, off, 1, &n, &err), err);
        size_t first = n >= 4 ? 1 : 5 - n;
        CHECK_EQ(all.P, 5 - first);
        lr_towers_pal_forward(m, &all, k_content);
        for (size_t t = first; t <= 4; t++) {
            const size_t poff[] = {0, t};
            CHECK_OK(lr_towers_pal_pass_setup(m, &one, seq, poff, 1, &err), err);
            lr_towers_pal_forward(m, &one, k_content);
            for (int j = 0; j < 4; j++) CHECK_NEAR(all.out[(t - first) * 4 + j], one.out[j], 1e-5);
        }
    }
    lr_towers_pal_pass_free(&all);
    lr_towers_pal_pass_free(&one);
    lr_towers_pal_free(m);
}

/* The histories repeat items (4 twice, 0 and 3 in two histories): the adaptor's rows, computed
 * once per distinct item, must collect the gradients of every token of theirs. */
LR_TEST(gradients_match_finite_differences_content_mode) {
    gradient_check(lr_t_, LR_PAL_CONTENT, LR_POS_NEWEST, 2, NULL, 3, 0.0f);
}
LR_TEST(gradients_match_finite_differences_both_mode) { gradient_check(lr_t_, LR_PAL_BOTH, LR_POS_OLDEST, 1, NULL, 3, 0.0f); }
/* Modality dropout: a token whose id was left out gives its id embedding no gradient. */
LR_TEST(gradients_match_finite_differences_both_mode_with_id_dropout) {
    gradient_check(lr_t_, LR_PAL_BOTH, LR_POS_OLDEST, 1, NULL, 3, 0.5f);
}
LR_TEST(gradients_match_finite_differences_id_mode_without_positions) {
    gradient_check(lr_t_, LR_PAL_ID, LR_POS_NONE, 2, NULL, 3, 0.0f);
}
/* Windows with outputs at several tokens (2 of 3, 1 of 1, 3 of 5), as training lays them out. */
LR_TEST(gradients_match_finite_differences_with_window_outputs) {
    const uint32_t n_out[3] = {2, 1, 3};
    gradient_check(lr_t_, LR_PAL_CONTENT, LR_POS_OLDEST, 2, n_out, 6, 0.0f);
}

/* Training with the full softmax adapts the whole catalogue once into a table both towers read:
 * a pass reading the table and adding into its gradient, followed by the adaptor's backward over
 * the table, gives every gradient the pass computes on its own. */
LR_TEST(a_shared_item_table_gives_the_same_gradients) {
    lr_pal *m = tiny(LR_PAL_CONTENT, LR_POS_OLDEST, 2);
    CHECK(m);
    lr_err err = {0};
    CHECK_OK(lr_towers_pal_alloc_grads(m, &err), err);
    lr_pal_pass ps = {0};
    const uint32_t n_out[3] = {2, 1, 3};
    CHECK_OK(lr_towers_pal_pass_setup_ex(m, &ps, k_items, k_off, 3, n_out, &err), err);
    ps.training = 1;
    float r[6 * 4], table[7 * 8], dtable[7 * 8] = {0};
    uint64_t rng = 5;
    for (size_t i = 0; i < 6 * 4; i++) r[i] = lr_towers_rand_normal(&rng);
    lr_towers_pal_forward(m, &ps, k_content);
    lr_towers_pal_zero_grads(m);
    lr_towers_pal_backward(m, &ps, r);
    float *own = malloc(m->n_params * sizeof *own), out[6 * 4];
    memcpy(own, m->grads_block, m->n_params * sizeof *own);
    memcpy(out, ps.out, sizeof out);
    CHECK_EQ(m->cfg.hidden, 8);
    lr_towers_linear_forward(table, k_content, m->p.adapt_w, m->p.adapt_b, 7, 6, 8);
    ps.table = table, ps.dtable = dtable;
    lr_towers_pal_forward(m, &ps, k_content);
    for (size_t i = 0; i < 6 * 4; i++) CHECK_NEAR(ps.out[i], out[i], 1e-6);
    lr_towers_pal_zero_grads(m);
    lr_towers_pal_backward(m, &ps, r);
    lr_towers_linear_backward(NULL, m->g.adapt_w, m->g.adapt_b, dtable, k_content, m->p.adapt_w, 7, 6, 8);
    for (size_t i = 0; i < m->n_params; i++) CHECK_NEAR(m->grads_block[i], own[i], 1e-5 + 1e-5 * fabs(own[i]));
    free(own);
    lr_towers_pal_pass_free(&ps);
    lr_towers_pal_free(m);
}

/* A batch finds its distinct items through a map, a request's few tokens by search: the same
 * outputs either way (20 histories of 12 items drawn from 7, each cut to max_len 5, alone and
 * as one batch of 100 tokens). */
LR_TEST(distinct_items_by_map_and_by_search_agree) {
    lr_pal *m = tiny(LR_PAL_CONTENT, LR_POS_NEWEST, 1);
    CHECK(m);
    lr_err err = {0};
    int32_t items[240];
    size_t off[21];
    uint64_t rng = 9;
    for (size_t i = 0; i < 240; i++) items[i] = (int32_t)((lr_towers_rand_normal(&rng) > 0 ? 3 : 0) + i % 4);
    for (size_t s = 0; s <= 20; s++) off[s] = 12 * s;
    lr_pal_pass all = {0}, one = {0};
    CHECK_OK(lr_towers_pal_pass_setup(m, &all, items, off, 20, &err), err);
    CHECK(all.M > 64 && all.U < all.M);
    lr_towers_pal_forward(m, &all, k_content);
    for (size_t s = 0; s < 20; s++) {
        const size_t o[2] = {0, 12};
        CHECK_OK(lr_towers_pal_pass_setup(m, &one, items + 12 * s, o, 1, &err), err);
        lr_towers_pal_forward(m, &one, k_content);
        for (int j = 0; j < 4; j++) CHECK_NEAR(all.out[s * 4 + j], one.out[j], 1e-5);
    }
    lr_towers_pal_pass_free(&all);
    lr_towers_pal_pass_free(&one);
    lr_towers_pal_free(m);
}

LR_TEST(linear_matches_naive_loops) {
    enum { N = 5, C = 7, OC = 3 };
    float inp[N * C], w[OC * C], b[OC], out[N * OC], dout[N * OC];
    float dinp[N * C] = {0}, dw[OC * C] = {0}, db[OC] = {0};
    uint64_t rng = 5;
    for (int i = 0; i < N * C; i++) inp[i] = lr_towers_rand_normal(&rng);
    for (int i = 0; i < OC * C; i++) w[i] = lr_towers_rand_normal(&rng);
    for (int i = 0; i < OC; i++) b[i] = lr_towers_rand_normal(&rng);
    for (int i = 0; i < N * OC; i++) dout[i] = lr_towers_rand_normal(&rng);
    lr_towers_linear_forward(out, inp, w, b, N, C, OC);
    lr_towers_linear_backward(dinp, dw, db, dout, inp, w, N, C, OC);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b[o];
            for (int c = 0; c < C; c++) s += (double)inp[n * C + c] * w[o * C + c];
            CHECK_NEAR(out[n * OC + o], s, 1e-5);
        }
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int o = 0; o < OC; o++) s += (double)dout[n * OC + o] * w[o * C + c];
            CHECK_NEAR(dinp[n * C + c], s, 1e-5);
        }
    for (int o = 0; o < OC; o++) {
        double sb = 0;
        for (int n = 0; n < N; n++) sb += dout[n * OC + o];
        CHECK_NEAR(db[o], sb, 1e-5);
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)dout[n * OC + o] * inp[n * C + c];
            CHECK_NEAR(dw[o * C + c], s, 1e-5);
        }
    }
}

/* The causal mask: changing a later item must not change an earlier position's output. */
LR_TEST(attention_is_causal) {
    enum { T = 4, H = 4, NH = 2 };
    float qkv[T * 3 * H], out1[T * H], out2[T * H], att[NH * T * T];
    size_t seq_off[2] = {0, T}, att_off[2] = {0, NH * T * T};
    uint64_t rng = 8;
    for (int i = 0; i < T * 3 * H; i++) qkv[i] = lr_towers_rand_normal(&rng);
    lr_towers_attention_forward(out1, att, qkv, seq_off, att_off, 1, H, NH);
    for (int i = 0; i < 3 * H; i++) qkv[3 * 3 * H + i] += 1.0f; /* change token 3 */
    lr_towers_attention_forward(out2, att, qkv, seq_off, att_off, 1, H, NH);
    CHECK(memcmp(out1, out2, 3 * H * sizeof(float)) == 0);
    CHECK(memcmp(out1 + 3 * H, out2 + 3 * H, H * sizeof(float)) != 0);
    for (int h = 0; h < NH; h++)
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int u = 0; u < T; u++) s += att[h * T * T + t * T + u];
            CHECK_NEAR(s, 1.0, 1e-6);
        }
}

/* The user tower over a one-item history is the item tower of that item (variant b). */
LR_TEST(one_item_history_equals_the_item_tower) {
    lr_pal *m = tiny(LR_PAL_BOTH, 1, 2);
    CHECK(m);
    lr_err err = {0};
    lr_content *ct;
    CHECK_OK(lr_data_matrix_from_floats(k_content, 7, 6, &ct, &err), err);
    const int32_t hist[] = {4};
    const size_t off[] = {0, 1};
    float u[4], v[7 * 4];
    CHECK_OK(lr_towers_user_embed(m, ct, hist, off, 1, u, &err), err);
    CHECK_OK(lr_towers_item_embed(m, ct, NULL, 7, v, &err), err);
    for (int j = 0; j < 4; j++) CHECK_NEAR(u[j], v[4 * 4 + j], 1e-6);
    double n = 0;
    for (int j = 0; j < 4; j++) n += (double)u[j] * u[j];
    CHECK_NEAR(n, 1.0, 1e-5);
    lr_data_matrix_free(ct);
    lr_towers_pal_free(m);
}

/* Only the newest max_len items count, and batching does not change a user's vector. */
LR_TEST(user_tower_reads_the_newest_items_and_batches_alike) {
    lr_pal *m = tiny(LR_PAL_CONTENT, 1, 2);
    CHECK(m);
    lr_err err = {0};
    lr_content *ct;
    CHECK_OK(lr_data_matrix_from_floats(k_content, 7, 6, &ct, &err), err);
    float all[3 * 4], one[4], empty[4];
    CHECK_OK(lr_towers_user_embed(m, ct, k_items, k_off, 3, all, &err), err);
    const size_t off_last[] = {0, 5}; /* the newest 5 of the third history */
    CHECK_OK(lr_towers_user_embed(m, ct, k_items + 5, off_last, 1, one, &err), err);
    for (int j = 0; j < 4; j++) CHECK_NEAR(all[2 * 4 + j], one[j], 1e-6);
    const size_t off_empty[] = {0, 0};
    CHECK_OK(lr_towers_user_embed(m, ct, k_items, off_empty, 1, empty, &err), err);
    for (int j = 0; j < 4; j++) CHECK_NEAR(empty[j], 0.0, 0);
    const int32_t bad[] = {9};
    const size_t off1[] = {0, 1};
    CHECK_ERR(lr_towers_user_embed(m, ct, bad, off1, 1, one, &err), err, LR_ERANGE,
              "item 9 is not one of the 7 items");
    lr_data_matrix_free(ct);
    lr_towers_pal_free(m);
}

LR_TEST(cold_start_content_rows_match_the_item_tower_in_content_mode) {
    lr_pal *m = tiny(LR_PAL_CONTENT, 1, 1);
    CHECK(m);
    lr_err err = {0};
    lr_content *ct;
    CHECK_OK(lr_data_matrix_from_floats(k_content, 7, 6, &ct, &err), err);
    float a[7 * 4], b[7 * 4];
    CHECK_OK(lr_towers_item_embed(m, ct, NULL, 7, a, &err), err);
    CHECK_OK(lr_towers_item_embed_content(m, k_content, 7, b, &err), err);
    for (int i = 0; i < 7 * 4; i++) CHECK_NEAR(a[i], b[i], 1e-6);
    lr_data_matrix_free(ct);
    lr_towers_pal_free(m);
    m = tiny(LR_PAL_ID, 1, 1);
    CHECK_ERR(lr_towers_item_embed_content(m, k_content, 1, b, &err), err, LR_EUNSUPPORTED,
              "id-mode model");
    lr_towers_pal_free(m);
}

/* Inference computes the last layer for the last tokens only, with the keys and values folded
 * into the query and the mixed inputs; training computes it for all tokens. Both with a few
 * sequences (per-row products) and with more than four (matrix products), one layer and two. */
LR_TEST(last_token_shortcut_matches_the_full_forward) {
    /* eight histories, one of them empty: more than the four rows that switch to sgemm */
    static const int32_t many[] = {0, 3, 5, 2, 6, 1, 4, 4, 0, 3, 5, 5, 1, 6, 2, 0, 1, 2, 3, 4, 5, 6};
    static const size_t many_off[] = {0, 3, 4, 10, 10, 12, 14, 19, 22};
    for (size_t layers = 1; layers <= 2; layers++)
        for (int big = 0; big <= 1; big++) {
            lr_pal *m = tiny(LR_PAL_BOTH, LR_POS_NEWEST, layers);
            CHECK(m);
            lr_err err = {0};
            const int32_t *items = big ? many : k_items;
            const size_t *off = big ? many_off : k_off, S = big ? 8 : 3;
            lr_pal_pass fast = {0}, full = {0};
            CHECK_OK(lr_towers_pal_pass_setup(m, &fast, items, off, S, &err), err);
            CHECK_OK(lr_towers_pal_pass_setup(m, &full, items, off, S, &err), err);
            full.training = 1; /* dropout is 0 in tiny(): training mode only turns the shortcut off */
            lr_towers_pal_forward(m, &fast, k_content);
            lr_towers_pal_forward(m, &full, k_content);
            CHECK(fast.shortcut && !full.shortcut);
            CHECK(fast.P == (big ? 7 : 3) && full.P == fast.P);
            for (size_t i = 0; i < fast.P * 4; i++) CHECK_NEAR(fast.out[i], full.out[i], 1e-5);
            lr_towers_pal_pass_free(&fast);
            lr_towers_pal_pass_free(&full);
            lr_towers_pal_free(m);
        }
}

LR_TEST(item_cache_gives_the_same_vectors) {
    lr_pal *m = tiny(LR_PAL_BOTH, LR_POS_NEWEST, 1);
    CHECK(m);
    lr_err err = {0};
    lr_content *ct;
    CHECK_OK(lr_data_matrix_from_floats(k_content, 7, 6, &ct, &err), err);
    float a[3 * 4], b[3 * 4], va[7 * 4], vb[7 * 4];
    CHECK_OK(lr_towers_user_embed(m, ct, k_items, k_off, 3, a, &err), err);
    CHECK_OK(lr_towers_item_embed(m, ct, NULL, 7, va, &err), err);
    CHECK_OK(lr_towers_pal_cache_content(m, ct, &err), err);
    CHECK(m->cache != NULL);
    CHECK_OK(lr_towers_user_embed(m, ct, k_items, k_off, 3, b, &err), err);
    CHECK_OK(lr_towers_item_embed(m, ct, NULL, 7, vb, &err), err);
    for (int i = 0; i < 3 * 4; i++) CHECK_NEAR(a[i], b[i], 1e-6);
    for (int i = 0; i < 7 * 4; i++) CHECK_NEAR(va[i], vb[i], 1e-6);
    lr_data_matrix_free(ct);
    lr_towers_pal_free(m);
}

LR_TEST(bad_model_config_is_refused) {
    lr_pal_config c = lr_towers_pal_config_default();
    lr_pal *m = (lr_pal *)&m;
    lr_err err = {0};
    CHECK_ERR(lr_towers_pal_new(&c, 1, &m, &err), err, LR_EINVAL, "content_dim must be 1 to 65536");
    CHECK(m == NULL);
    c.content_dim = 16;
    c.heads = 3;
    CHECK_ERR(lr_towers_pal_new(&c, 1, &m, &err), err, LR_EINVAL, "divisible by heads");
    c.heads = 4;
    c.mode = LR_PAL_BOTH;
    CHECK_ERR(lr_towers_pal_new(&c, 1, &m, &err), err, LR_EINVAL, "n_items must be");
    c.n_items = 10;
    c.dropout = 1.0f;
    CHECK_ERR(lr_towers_pal_new(&c, 1, &m, &err), err, LR_EINVAL, "dropout must be in [0, 1)");
}

LR_TEST_MAIN(LR_CASE(gradients_match_finite_differences_content_mode),
             LR_CASE(gradients_match_finite_differences_both_mode_with_id_dropout),
             LR_CASE(gradients_match_finite_differences_single_item_sequences),
             LR_CASE(all_position_outputs_equal_separate_prefixes),
             LR_CASE(gradients_match_finite_differences_both_mode),
             LR_CASE(gradients_match_finite_differences_id_mode_without_positions),
             LR_CASE(gradients_match_finite_differences_with_window_outputs),
             LR_CASE(a_shared_item_table_gives_the_same_gradients), LR_CASE(distinct_items_by_map_and_by_search_agree),
             LR_CASE(linear_matches_naive_loops), LR_CASE(attention_is_causal),
             LR_CASE(one_item_history_equals_the_item_tower),
             LR_CASE(user_tower_reads_the_newest_items_and_batches_alike),
             LR_CASE(cold_start_content_rows_match_the_item_tower_in_content_mode),
             LR_CASE(last_token_shortcut_matches_the_full_forward),
             LR_CASE(item_cache_gives_the_same_vectors), LR_CASE(bad_model_config_is_refused))
