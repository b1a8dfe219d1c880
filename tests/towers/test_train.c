/* Tests of towers/train.c: the loss gradient, and training that learns, repeats and refuses. */
#include <math.h>

#include "layers_internal.h"
#include "lr_data.h"
#include "lr_test.h"
#include "pal_internal.h"
#include "train_internal.h"

#define ID_FACTOR 2.5

/* Weighted pairs, two on one row, checked against central differences in float32. The loss is
 * smooth and O(1); step 1e-3 leaves about 1e-7/1e-3 = 1e-4 of rounding noise, hence 1e-3. With
 * shift, the columns' log-Q correction (a constant per column) is in the logits. */
static void infonce_gradient_check(lr_test_ctx *lr_t_, const float *shift, float eps) {
    enum { P = 3, K = 6, D = 4 };
    float U[P * D], V[K * D], dU[P * D], dV[K * D], logits[P * K], scratch[2 * P];
    float aU[P * D], aV[K * D];
    const lr_train_pair pairs[] = {{0, 1, 1.0f}, {1, 3, 0.5f}, {1, 4, 0.25f}, {2, 0, 1.0f}};
    uint64_t rng = 3;
    for (int i = 0; i < P * D; i++) U[i] = lr_towers_rand_normal(&rng);
    for (int i = 0; i < K * D; i++) V[i] = lr_towers_rand_normal(&rng);
    double L = lr_towers_train_infonce(U, P, V, K, D, pairs, 4, 0.5f, eps, shift, logits, scratch, aU, aV);
    CHECK(L > 0);
    for (int i = 0; i < P * D + K * D; i++) {
        float *x = i < P * D ? &U[i] : &V[i - P * D], keep = *x;
        *x = keep + 1e-3f;
        double up = lr_towers_train_infonce(U, P, V, K, D, pairs, 4, 0.5f, eps, shift, logits, scratch, dU, dV);
        *x = keep - 1e-3f;
        double down = lr_towers_train_infonce(U, P, V, K, D, pairs, 4, 0.5f, eps, shift, logits, scratch, dU, dV);
        *x = keep;
        double num = (up - down) / 2e-3, ana = i < P * D ? aU[i] : aV[i - P * D];
        CHECK_NEAR(ana, num, 1e-3);
    }
}

LR_TEST(infonce_gradient_matches_finite_differences) { infonce_gradient_check(lr_t_, NULL, 0.0f); }
LR_TEST(infonce_gradient_matches_finite_differences_with_log_q) {
    const float shift[6] = {-1.5f, 0.3f, -4.0f, 0.0f, 2.2f, -0.7f};
    infonce_gradient_check(lr_t_, shift, 0.0f);
}
LR_TEST(infonce_gradient_matches_finite_differences_with_label_smoothing) {
    const float shift[6] = {-1.5f, 0.3f, -4.0f, 0.0f, 2.2f, -0.7f};
    infonce_gradient_check(lr_t_, NULL, 0.2f);
    infonce_gradient_check(lr_t_, shift, 0.1f);
}

/* Smoothing moves eps of the target's mass onto all K candidates: the loss is the cross-entropy
 * against (1 - eps) onehot + eps / K, here with logits 4 and 2. */
LR_TEST(label_smoothing_is_cross_entropy_against_the_smoothed_target) {
    const float U[] = {1, 0}, V[] = {1, 0, 0.5f, 0.5f};
    const lr_train_pair pair = {0, 0, 1.0f};
    float logits[2], scratch[2], dU[2], dV[4];
    double lse = log(exp(4.0) + exp(2.0));
    double L = lr_towers_train_infonce(U, 1, V, 2, 2, &pair, 1, 0.25f, 0.3f, NULL, logits, scratch, dU, dV);
    CHECK_NEAR(L, (1 - 0.3 + 0.15) * (lse - 4.0) + 0.15 * (lse - 2.0), 1e-5);
}

/* The correction is a shift of each column's logits: a candidate made twice as likely to be
 * drawn (log 2 more) scores as if its logit were log 2 lower. */
LR_TEST(log_q_shift_lowers_a_columns_logit) {
    const float U[] = {1, 0}, V[] = {1, 0, 0.5f, 0.5f}, shift[2] = {0.0f, (float)M_LN2};
    const lr_train_pair pair = {0, 0, 1.0f};
    float logits[2], scratch[2], dU[2], dV[4];
    double L = lr_towers_train_infonce(U, 1, V, 2, 2, &pair, 1, 0.25f, 0.0f, shift, logits, scratch, dU, dV);
    CHECK_NEAR(L, log(1 + exp(2.0 - M_LN2 - 4.0)), 1e-6); /* logits 4 and 2 - log 2 */
}

LR_TEST(infonce_of_a_perfect_match_is_near_zero) {
    const float U[] = {1, 0}, V[] = {1, 0, -1, 0, 0, 1};
    const lr_train_pair pair = {0, 0, 1.0f};
    float logits[3], scratch[2], dU[2], dV[6];
    double L = lr_towers_train_infonce(U, 1, V, 3, 2, &pair, 1, 0.05f, 0.0f, NULL, logits, scratch, dU, dV);
    CHECK_NEAR(L, log(1 + exp(-20.0) + exp(-40.0)), 1e-6); /* logits 20, -20, 0 */
}

/* Every target of a sequence is predicted exactly once, by a window of at most max_len tokens
 * ending right before it; after the first window, with at least max_len - stride tokens before
 * it, and per prefix with the whole (cut) prefix. */
LR_TEST(windows_predict_every_target_once) {
    uint32_t ends[400], preds[400];
    unsigned char seen[401];
    const size_t lens[] = {1, 50, 60}, strides[] = {1, 7, 25, 50};
    for (size_t tl = 2; tl <= 300; tl += 7)
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 4; b++)
                for (int per_prefix = 0; per_prefix < 2; per_prefix++) {
                    size_t max_len = lens[a], stride = strides[b] > max_len ? max_len : strides[b];
                    size_t n = lr_towers_train_windows(tl, max_len, stride, per_prefix, ends, preds);
                    CHECK_EQ(n, lr_towers_train_windows(tl, max_len, stride, per_prefix, NULL, NULL));
                    memset(seen, 0, sizeof seen);
                    for (size_t i = 0; i < n; i++) {
                        size_t start = ends[i] > max_len ? ends[i] - max_len : 0;
                        CHECK(preds[i] >= 1 && preds[i] <= ends[i] - start && ends[i] <= tl - 1);
                        if (per_prefix) CHECK_EQ(preds[i], 1);
                        if (!per_prefix && i > 0) CHECK(preds[i] <= stride);
                        for (size_t j = ends[i] - preds[i]; j < ends[i]; j++) { /* token j predicts j + 1 */
                            CHECK(j + 1 >= 1 && j + 1 < tl);
                            seen[j + 1]++;
                            CHECK(j - start + 1 >= (j + 1 > max_len ? max_len - (per_prefix ? 0 : stride) : j + 1));
                        }
                    }
                    for (size_t j = 1; j < tl; j++) CHECK_EQ(seen[j], 1);
                }
}

/* A small synthetic catalogue and content from its text, shared by the training tests. */
typedef struct {
    lr_data *d;
    lr_content *ct;
} fixture;

static int make_fixture(fixture *f) {
    lr_synth_config sc = lr_data_synth_config_default();
    sc.items = 1000;
    sc.users = 2000;
    sc.seed = 5;
    lr_err err;
    if (lr_data_synth(&sc, &f->d, &err)) return -1;
    size_t n = lr_data_num_items(f->d);
    const char **texts = malloc(n * sizeof *texts);
    float *x = malloc(n * 128 * sizeof *x);
    lr_text_encoder_config ec = lr_towers_text_encoder_config_default();
    ec.dim = 128;
    lr_text_encoder *e = NULL;
    for (size_t i = 0; i < n; i++) texts[i] = lr_data_item_text(f->d, i);
    int rc = lr_towers_text_encoder_fit(&ec, texts, n, &e, &err) ||
             lr_towers_text_encoder_encode(e, texts, n, x, &err) ||
             lr_data_matrix_from_floats(x, n, 128, &f->ct, &err);
    lr_towers_text_encoder_free(e);
    free(texts);
    free(x);
    return rc ? -1 : 0;
}

static void free_fixture(fixture *f) {
    lr_data_matrix_free(f->ct);
    lr_data_free(f->d);
}

static lr_pal *small_model(const fixture *f, lr_pal_mode mode, int pos) {
    lr_pal_config c = lr_towers_pal_config_default();
    c.content_dim = 128;
    c.n_items = lr_data_num_items(f->d);
    c.hidden = 32;
    c.heads = 2;
    c.layers = 1;
    c.out_dim = 16;
    c.mode = mode;
    c.pos_emb = pos;
    lr_pal *m = NULL;
    lr_err err;
    return lr_towers_pal_new(&c, 7, &m, &err) ? NULL : m;
}

static lr_train_config quick(void) {
    lr_train_config t = lr_towers_train_config_default();
    t.epochs = 6;
    t.batch_size = 256;
    t.patience = 0;
    return t;
}

/* Valid Recall@10 of popularity on the fixture: the towers must do clearly better. */
static double popularity_valid_recall(const fixture *f) {
    size_t nu = lr_data_num_users(f->d), ni = lr_data_num_items(f->d);
    float *pop = malloc(ni * sizeof *pop);
    int32_t *tg = malloc(nu * sizeof *tg);
    for (size_t u = 0; u < nu; u++) {
        const int32_t *h;
        size_t len;
        tg[u] = lr_data_user_history(f->d, u, LR_SPLIT_VALID, 50, &h, &len);
    }
    lr_towers_baseline_popularity(f->d, pop);
    lr_eval_metrics m;
    lr_err err;
    lr_towers_eval_scores(pop, ni, tg, nu, &m, &err);
    free(pop);
    free(tg);
    return m.recall10;
}

/* Measured 2026-11-29 on this fixture (valid Recall@10): popularity 0.053; after 6 epochs the
 * content towers 0.105-0.124 (positions from the oldest item the lowest), dense loss 0.122,
 * in-batch negatives 0.112; id embeddings need more passes over 2,000 short histories (after 6
 * epochs 0.056) but reach 0.218 after 20. The bounds sit below those with room for rounding differences between machines. */
static void learns(lr_test_ctx *lr_t_, lr_pal_mode mode, int pos, int dense, lr_negatives neg,
                   size_t epochs, double factor) {
    fixture f;
    CHECK(make_fixture(&f) == 0);
    lr_pal *m = small_model(&f, mode, pos);
    CHECK(m);
    lr_train_config tc = quick();
    tc.dense_all_action = dense;
    tc.negatives = neg;
    tc.epochs = epochs;
    lr_train_report rep;
    lr_err err = {0};
    CHECK_OK(lr_towers_train(m, f.d, f.ct, &tc, &rep, &err), err);
    double pop = popularity_valid_recall(&f);
    printf("  valid R@10 %.4f (popularity %.4f), %zu epochs, %.0f examples/s\n",
           rep.best_valid_recall10, pop, rep.epochs_run, rep.examples_per_s);
    CHECK(isfinite(rep.final_loss));
    CHECK(rep.best_valid_recall10 > factor * pop);
    lr_towers_pal_free(m);
    free_fixture(&f);
}

LR_TEST(content_towers_learn_with_positions_from_the_newest) {
    learns(lr_t_, LR_PAL_CONTENT, LR_POS_NEWEST, 0, LR_NEG_FULL, 6, 1.8);
}
LR_TEST(content_towers_learn_with_positions_from_the_oldest) {
    learns(lr_t_, LR_PAL_CONTENT, LR_POS_OLDEST, 0, LR_NEG_FULL, 6, 1.6);
}
LR_TEST(id_towers_learn) { learns(lr_t_, LR_PAL_ID, LR_POS_NEWEST, 0, LR_NEG_FULL, 20, ID_FACTOR); }
LR_TEST(dense_all_action_loss_learns) { learns(lr_t_, LR_PAL_BOTH, LR_POS_NEWEST, 1, LR_NEG_FULL, 6, 1.8); }
LR_TEST(in_batch_negatives_learn) { learns(lr_t_, LR_PAL_CONTENT, LR_POS_OLDEST, 0, LR_NEG_INBATCH, 6, 1.6); }
LR_TEST(sampled_negatives_learn) { learns(lr_t_, LR_PAL_CONTENT, LR_POS_OLDEST, 0, LR_NEG_SAMPLED, 6, 1.6); }

/* Windows that slide: a user tower reading 4 items, windows ending 2 apart over histories of
 * about 8, so most targets come from a second or third window. */
LR_TEST(sliding_windows_learn) {
    fixture f;
    CHECK(make_fixture(&f) == 0);
    lr_pal_config c = lr_towers_pal_config_default();
    c.content_dim = 128, c.n_items = lr_data_num_items(f.d), c.hidden = 32, c.heads = 2, c.out_dim = 16;
    c.pos_emb = LR_POS_OLDEST, c.max_len = 4;
    lr_pal *m = NULL;
    lr_err err = {0};
    CHECK_OK(lr_towers_pal_new(&c, 7, &m, &err), err);
    lr_train_config tc = quick();
    tc.window_stride = 2;
    lr_train_report rep;
    CHECK_OK(lr_towers_train(m, f.d, f.ct, &tc, &rep, &err), err);
    double pop = popularity_valid_recall(&f);
    printf("  valid R@10 %.4f (popularity %.4f), %.0f examples/s\n", rep.best_valid_recall10, pop, rep.examples_per_s);
    CHECK(rep.best_valid_recall10 > 1.6 * pop);
    lr_towers_pal_free(m);
    free_fixture(&f);
}

LR_TEST(training_is_repeatable_for_a_seed) {
    fixture f;
    CHECK(make_fixture(&f) == 0);
    lr_pal *a = small_model(&f, LR_PAL_BOTH, LR_POS_NEWEST), *b = small_model(&f, LR_PAL_BOTH, LR_POS_NEWEST);
    CHECK(a && b);
    lr_train_config tc = quick();
    tc.epochs = 2;
    lr_err err = {0};
    CHECK_OK(lr_towers_train(a, f.d, f.ct, &tc, NULL, &err), err);
    CHECK_OK(lr_towers_train(b, f.d, f.ct, &tc, NULL, &err), err);
    CHECK(memcmp(a->params_block, b->params_block, a->n_params * sizeof(float)) == 0);
    lr_towers_pal_free(a);
    lr_towers_pal_free(b);
    free_fixture(&f);
}

static void count_epochs(const lr_train_progress *p, void *ctx) {
    if (p->epoch_done) ++*(size_t *)ctx;
}

/* Patience 1 stops after the first epoch that does not improve; the best epoch's weights stay. */
LR_TEST(early_stopping_keeps_the_best_epoch) {
    fixture f;
    CHECK(make_fixture(&f) == 0);
    lr_pal *m = small_model(&f, LR_PAL_CONTENT, LR_POS_OLDEST);
    CHECK(m);
    lr_train_config tc = quick();
    tc.epochs = 40;
    tc.lr = 1e-2f; /* high enough that validation stops improving quickly */
    tc.patience = 1;
    size_t reported = 0;
    tc.progress = count_epochs;
    tc.progress_ctx = &reported;
    lr_train_report rep;
    lr_err err = {0};
    CHECK_OK(lr_towers_train(m, f.d, f.ct, &tc, &rep, &err), err);
    CHECK(rep.epochs_run < 40);
    CHECK_EQ(rep.epochs_run, rep.best_epoch + 1);
    CHECK_EQ(reported, rep.epochs_run);
    /* the model holds the best epoch's weights: validating it again gives the best recall */
    size_t nu = lr_data_num_users(f.d), ni = lr_data_num_items(f.d);
    float *u = malloc(nu * 16 * sizeof *u), *v = malloc(ni * 16 * sizeof *v);
    int32_t *tg = malloc(nu * sizeof *tg);
    lr_eval_metrics met;
    CHECK_OK(lr_towers_embed_split(m, f.d, f.ct, LR_SPLIT_VALID, u, tg, &err), err);
    CHECK_OK(lr_towers_item_embed(m, f.ct, NULL, ni, v, &err), err);
    CHECK_OK(lr_towers_eval_vectors(u, nu, tg, v, ni, 16, &met, &err), err);
    CHECK_NEAR(met.recall10, rep.best_valid_recall10, 1e-9);
    free(u);
    free(v);
    free(tg);
    lr_towers_pal_free(m);
    free_fixture(&f);
}

LR_TEST(bad_training_input_is_refused) {
    fixture f;
    CHECK(make_fixture(&f) == 0);
    lr_pal *m = small_model(&f, LR_PAL_CONTENT, LR_POS_OLDEST);
    lr_train_config tc = quick();
    lr_err err = {0};
    CHECK_ERR(lr_towers_train(m, f.d, NULL, &tc, NULL, &err), err, LR_EINVAL, "needs content embeddings");
    float x[10 * 128] = {0};
    lr_content *small;
    CHECK_OK(lr_data_matrix_from_floats(x, 10, 128, &small, &err), err);
    CHECK_ERR(lr_towers_train(m, f.d, small, &tc, NULL, &err), err, LR_EMISMATCH,
              "content is 10 x 128; the dataset has 1000 items");
    tc.temperature = 0;
    CHECK_ERR(lr_towers_train(m, f.d, f.ct, &tc, NULL, &err), err, LR_EINVAL, "temperature must be > 0");
    lr_data_matrix_free(small);
    lr_towers_pal_free(m);
    free_fixture(&f);
}

LR_TEST_MAIN(LR_CASE(infonce_gradient_matches_finite_differences),
             LR_CASE(infonce_of_a_perfect_match_is_near_zero),
             LR_CASE(infonce_gradient_matches_finite_differences_with_log_q), LR_CASE(windows_predict_every_target_once), LR_CASE(log_q_shift_lowers_a_columns_logit),
             LR_CASE(infonce_gradient_matches_finite_differences_with_label_smoothing),
             LR_CASE(label_smoothing_is_cross_entropy_against_the_smoothed_target),
             LR_CASE(content_towers_learn_with_positions_from_the_newest),
             LR_CASE(content_towers_learn_with_positions_from_the_oldest), LR_CASE(id_towers_learn),
             LR_CASE(dense_all_action_loss_learns), LR_CASE(in_batch_negatives_learn), LR_CASE(sampled_negatives_learn), LR_CASE(sliding_windows_learn),
             LR_CASE(training_is_repeatable_for_a_seed),
             LR_CASE(early_stopping_keeps_the_best_epoch), LR_CASE(bad_training_input_is_refused))
