/* Tests of towers/text_features.c, text_encoder.c, text_fit.c and text_encoder_io.c. */
#include <math.h>
#include <stdint.h>

#include "lr_data.h"
#include "lr_test.h"
#include "lr_towers.h"
#include "text_features.h"

#define SCI LR_SHARED_DIR "/datasets/amazon-scientific"

static const char *k_texts[] = {
    "Title: Nitrile Gloves, Large. Brand: SafeHands. Category: Safety > Gloves",
    "Title: Nitrile Gloves, Small. Brand: SafeHands. Category: Safety > Gloves",
    "Title: Latex Gloves. Brand: Gripper. Category: Safety > Gloves",
    "Title: Digital Caliper 6-Inch. Brand: Mitutoyo. Category: Test & Measurement > Calipers",
    "Title: Dial Caliper. Brand: Mitutoyo. Category: Test & Measurement > Calipers",
    "Title: Glass Beaker 250 ml. Brand: Pyrex. Category: Lab Supplies > Beakers",
    "Title: Glass Beaker 500 ml. Brand: Pyrex. Category: Lab Supplies > Beakers",
    "Title: Plastic Beaker. Brand: Nalgene. Category: Lab Supplies > Beakers",
};
#define N_TEXTS (sizeof k_texts / sizeof k_texts[0])

static lr_text_encoder_config small_config(void) {
    lr_text_encoder_config c = lr_towers_text_encoder_config_default();
    c.dim = 64;
    c.min_df = 1;
    return c;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

LR_TEST(features_count_words_bigrams_and_char_ngrams) {
    lr_feat_buf fb = {0};
    CHECK_EQ(lr_towers_feat_extract("Ab ab, AB!", 3, 3, &fb), 0);
    /* word "ab" x3 (case folded) = 1 distinct; bigram "ab ab" x2 = 1; char 3-grams of " ab ":
     * " ab", "ab " = 2 distinct, each x3 */
    size_t groups[LR_FEAT_GROUPS] = {0}, counts[LR_FEAT_GROUPS] = {0};
    for (size_t i = 0; i < fb.n; i++) {
        groups[lr_towers_feat_group(fb.v[i].hash)]++;
        counts[lr_towers_feat_group(fb.v[i].hash)] += fb.v[i].count;
    }
    CHECK_EQ(groups[LR_FEAT_WORD], 1);
    CHECK_EQ(counts[LR_FEAT_WORD], 3);
    CHECK_EQ(groups[LR_FEAT_BIGRAM], 1);
    CHECK_EQ(counts[LR_FEAT_BIGRAM], 2);
    CHECK_EQ(groups[LR_FEAT_CHAR], 2);
    CHECK_EQ(counts[LR_FEAT_CHAR], 6);
    CHECK_EQ(lr_towers_feat_extract("  ,;  ", 3, 5, &fb), 0);
    CHECK_EQ(fb.n, 0);
    CHECK_EQ(lr_towers_feat_extract(NULL, 3, 5, &fb), 0);
    CHECK_EQ(fb.n, 0);
    lr_towers_feat_buf_free(&fb);
}

LR_TEST(encoded_rows_are_unit_length_and_unknown_text_is_zero) {
    lr_err err = {0};
    lr_text_encoder *e;
    lr_text_encoder_config c = small_config();
    CHECK_OK(lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &e, &err), err);
    const char *probe[] = {k_texts[0], "", "zzzqqq"};
    float v[3 * 64];
    CHECK_OK(lr_towers_text_encoder_encode(e, probe, 3, v, &err), err);
    CHECK_NEAR(dot(v, v, 64), 1.0, 1e-5);
    CHECK_NEAR(dot(v + 64, v + 64, 64), 0.0, 0);
    /* "zzzqqq" shares no feature with the fitted texts but the char n-grams " zz"... are unknown */
    CHECK_NEAR(dot(v + 128, v + 128, 64), 0.0, 0);
    lr_towers_text_encoder_free(e);
}

LR_TEST(similar_texts_are_closer_than_unrelated_ones) {
    lr_err err = {0};
    lr_text_encoder *e;
    lr_text_encoder_config c = small_config();
    c.dim = 512;
    CHECK_OK(lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &e, &err), err);
    float v[N_TEXTS * 512];
    CHECK_OK(lr_towers_text_encoder_encode(e, k_texts, N_TEXTS, v, &err), err);
    double gloves = dot(v, v + 512, 512), cross = dot(v, v + 5 * 512, 512);
    CHECK(gloves > cross + 0.3);
    lr_towers_text_encoder_free(e);
}

LR_TEST(fit_is_deterministic) {
    lr_err err = {0};
    lr_text_encoder *a, *b;
    lr_text_encoder_config c = small_config();
    CHECK_OK(lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &a, &err), err);
    CHECK_OK(lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &b, &err), err);
    float va[N_TEXTS * 64], vb[N_TEXTS * 64];
    CHECK_OK(lr_towers_text_encoder_encode(a, k_texts, N_TEXTS, va, &err), err);
    CHECK_OK(lr_towers_text_encoder_encode(b, k_texts, N_TEXTS, vb, &err), err);
    CHECK(memcmp(va, vb, sizeof va) == 0);
    CHECK_EQ(lr_towers_text_encoder_num_features(a), lr_towers_text_encoder_num_features(b));
    lr_towers_text_encoder_free(a);
    lr_towers_text_encoder_free(b);
}

/* Saves, loads, and checks that new text encodes identically: the cold-start path. */
static void round_trip(lr_test_ctx *lr_t_, lr_text_projection proj) {
    lr_err err = {0};
    lr_text_encoder *a, *b;
    lr_text_encoder_config c = small_config();
    c.projection = proj;
    c.svd_input_dim = 128;
    CHECK_OK(lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &a, &err), err);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/enc.bin", dir);
    int rc = lr_towers_text_encoder_save(a, path, &err);
    int rc2 = rc ? rc : lr_towers_text_encoder_load(path, &b, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    const char *fresh[] = {"Title: Nitrile Gloves, Medium. Brand: SafeHands", k_texts[3]};
    float va[2 * 64], vb[2 * 64];
    CHECK_OK(lr_towers_text_encoder_encode(a, fresh, 2, va, &err), err);
    CHECK_OK(lr_towers_text_encoder_encode(b, fresh, 2, vb, &err), err);
    CHECK(memcmp(va, vb, sizeof va) == 0);
    CHECK_NEAR(dot(va, va, 64), 1.0, 1e-5);
    lr_text_encoder_config cb = lr_towers_text_encoder_get_config(b);
    CHECK_EQ(cb.projection, proj);
    CHECK_EQ(cb.dim, 64);
    lr_towers_text_encoder_free(a);
    lr_towers_text_encoder_free(b);
}

LR_TEST(random_projection_encoder_round_trips) { round_trip(lr_t_, LR_PROJ_RANDOM); }
LR_TEST(learned_projection_encoder_round_trips) { round_trip(lr_t_, LR_PROJ_SVD); }

LR_TEST(bad_config_is_refused) {
    lr_err err = {0};
    lr_text_encoder *e = (lr_text_encoder *)&e;
    lr_text_encoder_config c = small_config();
    c.dim = 0;
    CHECK_ERR(lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &e, &err), err, LR_EINVAL,
              "dim must be 1 to 65536");
    CHECK(e == NULL);
    c = small_config();
    c.char_ngram_min = 6;
    c.char_ngram_max = 3;
    CHECK_ERR(lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &e, &err), err, LR_EINVAL,
              "character n-grams");
    c = small_config();
    c.projection = LR_PROJ_SVD;
    c.svd_input_dim = 32;
    CHECK_ERR(lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &e, &err), err, LR_EINVAL,
              "dim <= svd_input_dim");
    c = small_config();
    c.min_df = 100;
    CHECK_ERR(lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &e, &err), err, LR_EINVAL,
              "lower min_df");
    CHECK_ERR(lr_towers_text_encoder_fit(&c, k_texts, 0, &e, &err), err, LR_EINVAL, "no texts");
}

/* Writes a valid encoder file, lets `damage` change its bytes, and loads it. */
static int load_damaged(void (*damage)(unsigned char *b, size_t *len), lr_err *err) {
    lr_text_encoder *e, *back = NULL;
    lr_text_encoder_config c = small_config();
    if (lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &e, err)) return 999;
    char *dir = lr_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/enc.bin", dir);
    int rc = lr_towers_text_encoder_save(e, path, err);
    lr_towers_text_encoder_free(e);
    if (rc) return 998;
    FILE *f = fopen(path, "rb");
    static unsigned char buf[1 << 22];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    damage(buf, &len);
    f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    rc = lr_towers_text_encoder_load(path, &back, err);
    lr_test_rmdir(dir);
    if (back) {
        lr_towers_text_encoder_free(back);
        return rc ? 997 : rc;
    }
    return rc;
}

static void bad_magic(unsigned char *b, size_t *len) { (void)len; b[0] = 'X'; }
static void truncate_half(unsigned char *b, size_t *len) { (void)b; *len /= 2; }
static void flip_byte(unsigned char *b, size_t *len) { b[*len / 2] ^= 0x40; }
static void bump_version(unsigned char *b, size_t *len) { (void)len; b[8] = 9; }
static void add_bytes(unsigned char *b, size_t *len) { b[(*len)++] = 0; }

LR_TEST(damaged_encoder_files_are_refused) {
    lr_err err = {0};
    CHECK_ERR(load_damaged(bad_magic, &err), err, LR_EFORMAT, "not a learnrec text encoder");
    CHECK_ERR(load_damaged(truncate_half, &err), err, LR_EFORMAT, "truncated");
    CHECK_ERR(load_damaged(flip_byte, &err), err, LR_EFORMAT, "checksum mismatch");
    CHECK_ERR(load_damaged(bump_version, &err), err, LR_EFORMAT, "format version 9");
    CHECK_ERR(load_damaged(add_bytes, &err), err, LR_EFORMAT, "trailing bytes");
    lr_text_encoder *e;
    CHECK_ERR(lr_towers_text_encoder_load("/nonexistent/enc.bin", &e, &err), err, LR_ENOTFOUND,
              "/nonexistent/enc.bin");
}

/* The category path is the second-to-last ". "-separated part of a Scientific text. */
static size_t category_of(const char *text, char *out, size_t cap) {
    const char *parts[16];
    size_t n = 0;
    parts[n++] = text;
    for (const char *p = text; (p = strstr(p, ". ")) && n < 16; p += 2) parts[n++] = p + 2;
    if (n < 3) return 0;
    const char *s = parts[n - 3], *e = strstr(s, ". ");
    size_t len = (size_t)(e - s) < cap - 1 ? (size_t)(e - s) : cap - 1;
    memcpy(out, s, len);
    out[len] = '\0';
    return len;
}

/* The category path of a synthetic item: what follows "Category: " (the last field). */
static size_t synth_category_of(const char *text, char *out, size_t cap) {
    const char *s = strstr(text, "Category: ");
    out[0] = '\0';
    if (!s) return 0;
    snprintf(out, cap, "%s", s + 10);
    return strlen(out);
}

/* Fits the default encoder on every item of d and compares the mean cosine of same-category
 * pairs with that of random pairs (200,000 draws). */
static void check_categories_cluster(lr_test_ctx *lr_t_, const lr_data *d,
                                     size_t (*category)(const char *, char *, size_t)) {
    lr_err err = {0};
    size_t n = lr_data_num_items(d);
    const char **texts = malloc(n * sizeof *texts);
    CHECK(texts);
    for (size_t i = 0; i < n; i++) texts[i] = lr_data_item_text(d, i);
    lr_text_encoder_config c = lr_towers_text_encoder_config_default();
    lr_text_encoder *e;
    int rc = lr_towers_text_encoder_fit(&c, texts, n, &e, &err);
    if (rc) free(texts);
    CHECK_OK(rc, err);
    float *v = malloc(n * c.dim * sizeof *v);
    char (*cat)[160] = malloc(n * sizeof *cat);
    rc = v && cat ? lr_towers_text_encoder_encode(e, texts, n, v, &err) : LR_ENOMEM;
    double same = 0, rnd = 0;
    size_t n_same = 0, n_rnd = 0;
    if (!rc) {
        for (size_t i = 0; i < n; i++) category(texts[i], cat[i], sizeof cat[i]);
        uint64_t x = 12345;
        for (size_t k = 0; k < 200000; k++) {
            x = lr_mix64(x + k);
            size_t i = x % n, j = (x >> 32) % n;
            if (i == j) continue;
            double s = dot(v + i * c.dim, v + j * c.dim, c.dim);
            rnd += s, n_rnd++;
            if (cat[i][0] && strcmp(cat[i], cat[j]) == 0) same += s, n_same++;
        }
        same /= (double)(n_same ? n_same : 1);
        rnd /= (double)n_rnd;
        printf("  same-category pairs %zu: mean cosine %.3f; random pairs: %.3f\n", n_same, same, rnd);
    }
    free(cat);
    free(v);
    free(texts);
    lr_towers_text_encoder_free(e);
    CHECK_OK(rc, err);
    CHECK(n_same > 500);
    CHECK(same > rnd + 0.2);
    CHECK(same > 2.5 * rnd);
}

/* On Scientific with the default encoder, pairs of items in the same category path are much
 * closer than random pairs. Measured 2026-11-29: same-category mean cosine 0.449, random 0.036
 * (dim 1024, random projection, the default then); the bound leaves room for changes to the
 * encoder, and holds for today's default (the learned projection to 2,048). */
LR_TEST(scientific_items_of_one_category_are_closer_than_random_pairs) {
    lr_err err = {0};
    lr_data *d;
    CHECK_OK(lr_data_load(SCI, &d, &err), err);
    check_categories_cluster(lr_t_, d, category_of);
    lr_data_free(d);
}

/* The same on a synthetic catalogue (no shared data needed). */
LR_TEST(synthetic_items_of_one_category_are_closer_than_random_pairs) {
    lr_synth_config sc = lr_data_synth_config_default();
    sc.items = 3000;
    sc.users = 10;
    lr_err err = {0};
    lr_data *d;
    CHECK_OK(lr_data_synth(&sc, &d, &err), err);
    check_categories_cluster(lr_t_, d, synth_category_of);
    lr_data_free(d);
}

LR_TEST_MAIN(LR_CASE(features_count_words_bigrams_and_char_ngrams),
             LR_CASE(encoded_rows_are_unit_length_and_unknown_text_is_zero),
             LR_CASE(similar_texts_are_closer_than_unrelated_ones), LR_CASE(fit_is_deterministic),
             LR_CASE(random_projection_encoder_round_trips),
             LR_CASE(learned_projection_encoder_round_trips), LR_CASE(bad_config_is_refused),
             LR_CASE(damaged_encoder_files_are_refused),
             LR_CASE(synthetic_items_of_one_category_are_closer_than_random_pairs),
             LR_SHARED_CASE(scientific_items_of_one_category_are_closer_than_random_pairs,
                            "datasets/amazon-scientific"))
