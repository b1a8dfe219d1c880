/* Tests for the tokenizer (towers/llm/tokenizer.c, tok_*.c, spm_shim.cc): small tokenizer.json
 * files written here, each checking one stage of the pipeline against ids worked out by hand
 * from its tiny vocabulary; refusals; and the reference fixtures id for id. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "lr_llm.h"
#include "lr_test.h"
#include "llm/tok_fixture.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static int load_file(const char *dir, const char *name, lr_llm_tokenizer **t, lr_err *err) {
    char path[4200];
    lr_test_path(path, sizeof path, dir, name);
    return lr_llm_tokenizer_load(path, t, err);
}

/* 0 when text[0..len) tokenizes to want[0..nw); else 1 with the first difference in why. */
static int ids_differ(const lr_llm_tokenizer *t, const char *text, size_t len, const int32_t *want,
                      size_t nw, char *why, size_t cap) {
    int32_t *got = NULL;
    size_t n = 0;
    lr_err err = {0, ""};
    int rc = lr_llm_tokenize(t, text, len, &got, &n, &err);
    if (rc) {
        snprintf(why, cap, "tokenize failed with %d: %s", rc, err.msg);
        return 1;
    }
    size_t k = 0;
    while (k < n && k < nw && got[k] == want[k]) k++;
    int bad = k != n || k != nw;
    if (bad)
        snprintf(why, cap, "text \"%.*s\": at position %zu expected %d, got %d (%zu ids vs %zu)",
                 (int)len, text, k, k < nw ? want[k] : -1, k < n ? got[k] : -1, nw, n);
    free(got);
    return bad;
}

#define CHECK_IDS(t, text, ...)                                                                \
    do {                                                                                       \
        const int32_t w_[] = {__VA_ARGS__};                                                    \
        char why_[512];                                                                        \
        if (ids_differ(t, text, strlen(text), w_, sizeof w_ / sizeof w_[0], why_, sizeof why_)) \
            LR_FAIL_("%.400s", why_);                                                              \
    } while (0)

#define ID(tok) vid(V, sizeof V / sizeof V[0], tok)
#define NV (sizeof V / sizeof V[0])

/* ---- BPE and pre-tokenizers ------------------------------------------------------------------ */

LR_TEST(bytelevel_bpe_merges_lowest_rank_first) {
    static const char *const V[] = {"h", "e", "l", "o", "Ġ", "w", "r", "d", "he", "ll", "hell",
                                    "hello", "Ġw", "el", "Ā"};
    char *dir = lr_test_tmpdir(), pre_f[256], pre_t[256];
    CHECK(dir);
    snprintf(pre_f, sizeof pre_f, BYTELEVEL, "false");
    snprintf(pre_t, sizeof pre_t, BYTELEVEL, "true");
    const char *m1 = "[\"h\",\"e\"],[\"l\",\"l\"],[\"he\",\"ll\"],[\"hell\",\"o\"],[\"Ġ\",\"w\"]";
    const char *m2 = "\"e l\",\"h e\",\"l l\",\"he ll\",\"hell o\""; /* "a b" form, e+l first */
    spec s1 = {.pretok = pre_f, .merges = m1}, s2 = {.pretok = pre_f, .merges = m2},
         s3 = {.pretok = pre_t, .merges = m1};
    CHECK(write_tok(dir, "a.json", V, NV, &s1) == 0 && write_tok(dir, "b.json", V, NV, &s2) == 0 &&
          write_tok(dir, "c.json", V, NV, &s3) == 0);
    lr_err err = {0, ""};
    lr_llm_tokenizer *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(load_file(dir, "a.json", &a, &err), err);
    CHECK_OK(load_file(dir, "b.json", &b, &err), err);
    CHECK_OK(load_file(dir, "c.json", &c, &err), err);
    lr_test_rmdir(dir);
    CHECK_IDS(a, "hello world", ID("hello"), ID("Ġw"), ID("o"), ID("r"), ID("l"), ID("d"));
    CHECK_IDS(b, "hello", ID("h"), ID("el"), ID("l"), ID("o")); /* e+l first blocks h+e, l+l */
    CHECK_IDS(c, "hello", ID("Ġ"), ID("hello"));                /* add_prefix_space */
    const int32_t w[] = {ID("h"), ID("Ā"), ID("e")};            /* byte 0 is Ā */
    char why[512];
    if (ids_differ(a, "h\0e", 3, w, 3, why, sizeof why)) LR_FAIL_("%.400s", why);
    CHECK_EQ(lr_llm_tokenizer_vocab_size(a), NV);
    lr_llm_tokenizer_free(a);
    lr_llm_tokenizer_free(b);
    lr_llm_tokenizer_free(c);
}

LR_TEST(split_regex_keeps_merges_inside_each_piece) {
    static const char *const V[] = {"a", "b", "1", "2", "ab", "b1"};
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    const char *merges = "[\"b\",\"1\"],[\"a\",\"b\"]";
    spec split = {.merges = merges,
                  .pretok = "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
                            "\"pattern\":{\"Regex\":\"\\\\p{N}\"},\"behavior\":\"Isolated\","
                            "\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                            "\"trim_offsets\":false,\"use_regex\":false}]}"};
    spec whole = {.merges = merges,
                  .pretok = "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                            "\"trim_offsets\":false,\"use_regex\":false}"};
    CHECK(write_tok(dir, "split.json", V, NV, &split) == 0);
    CHECK(write_tok(dir, "whole.json", V, NV, &whole) == 0);
    lr_err err = {0, ""};
    lr_llm_tokenizer *a = NULL, *b = NULL;
    CHECK_OK(load_file(dir, "split.json", &a, &err), err);
    CHECK_OK(load_file(dir, "whole.json", &b, &err), err);
    lr_test_rmdir(dir);
    CHECK_IDS(a, "ab12", ID("ab"), ID("1"), ID("2"));
    CHECK_IDS(b, "ab12", ID("a"), ID("b1"), ID("2")); /* b+1 ranks first when nothing splits */
    lr_llm_tokenizer_free(a);
    lr_llm_tokenizer_free(b);
}

static lr_llm_tokenizer *split_tok(const char *dir, const char *behavior, int invert) {
    static const char *const V[] = {"a", "b", "c", "-", "a-", "b-", "-b", "-c", "--"};
    char pre[256];
    snprintf(pre, sizeof pre, "{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":"
             "\"%s\",\"invert\":%s}", behavior, invert ? "true" : "false");
    spec s = {.pretok = pre,
              .merges = "[\"a\",\"-\"],[\"b\",\"-\"],[\"-\",\"b\"],[\"-\",\"c\"],[\"-\",\"-\"]"};
    lr_llm_tokenizer *t = NULL;
    lr_err err = {0, ""};
    if (write_tok(dir, "s.json", V, NV, &s) || load_file(dir, "s.json", &t, &err)) return NULL;
    return t;
}

LR_TEST(split_behaviours_cut_as_tokenizers_does) {
    static const char *const V[] = {"a", "b", "c", "-", "a-", "b-", "-b", "-c", "--"};
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_llm_tokenizer *iso = split_tok(dir, "Isolated", 0), *rem = split_tok(dir, "Removed", 0),
                     *prev = split_tok(dir, "MergedWithPrevious", 0),
                     *next = split_tok(dir, "MergedWithNext", 0),
                     *cont = split_tok(dir, "Contiguous", 0), *inv = split_tok(dir, "Removed", 1);
    lr_test_rmdir(dir);
    CHECK(iso && rem && prev && next && cont && inv);
    CHECK_IDS(iso, "a-b-c", ID("a"), ID("-"), ID("b"), ID("-"), ID("c"));
    CHECK_IDS(iso, "a--b", ID("a"), ID("-"), ID("-"), ID("b"));
    CHECK_IDS(rem, "a-b-c", ID("a"), ID("b"), ID("c"));
    CHECK_IDS(prev, "a-b-c", ID("a-"), ID("b-"), ID("c"));
    CHECK_IDS(next, "a-b-c", ID("a"), ID("-b"), ID("-c"));
    CHECK_IDS(cont, "a--b", ID("a"), ID("--"), ID("b"));
    CHECK_IDS(inv, "a-b-c", ID("-"), ID("-")); /* inverted: the text between is removed */
    lr_llm_tokenizer *all[] = {iso, rem, prev, next, cont, inv};
    for (int i = 0; i < 6; i++) lr_llm_tokenizer_free(all[i]);
}

/* ---- normalizers ----------------------------------------------------------------------------- */

LR_TEST(nfc_gives_composed_and_decomposed_accents_the_same_ids) {
    static const char *const V[] = {"c", "a", "f", "\xC3\xA9", "e", "\xCC\x81"};
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    spec nfc = {.normalizer = "{\"type\":\"NFC\"}"}, none = {0}, nfd = {.normalizer = "{\"type\":\"NFD\"}"};
    CHECK(write_tok(dir, "nfc.json", V, NV, &nfc) == 0 && write_tok(dir, "none.json", V, NV, &none) == 0 &&
          write_tok(dir, "nfd.json", V, NV, &nfd) == 0);
    lr_err err = {0, ""};
    lr_llm_tokenizer *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(load_file(dir, "nfc.json", &a, &err), err);
    CHECK_OK(load_file(dir, "none.json", &b, &err), err);
    CHECK_OK(load_file(dir, "nfd.json", &c, &err), err);
    lr_test_rmdir(dir);
    CHECK_IDS(a, "caf\xC3\xA9", ID("c"), ID("a"), ID("f"), ID("\xC3\xA9"));
    CHECK_IDS(a, "cafe\xCC\x81", ID("c"), ID("a"), ID("f"), ID("\xC3\xA9"));
    CHECK_IDS(b, "cafe\xCC\x81", ID("c"), ID("a"), ID("f"), ID("e"), ID("\xCC\x81"));
    CHECK_IDS(c, "caf\xC3\xA9", ID("c"), ID("a"), ID("f"), ID("e"), ID("\xCC\x81"));
    lr_llm_tokenizer_free(a);
    lr_llm_tokenizer_free(b);
    lr_llm_tokenizer_free(c);
}

LR_TEST(prepend_replace_and_metaspace_fall_back_to_bytes) {
    size_t nv = 0;
    const char **V = byte_vocab(&nv);
    char *dir = lr_test_tmpdir();
    CHECK(V && dir);
    const char *added = "{\"id\":300,\"content\":\"<s>\",\"single_word\":false,\"lstrip\":false,"
                        "\"rstrip\":false,\"normalized\":false,\"special\":true}";
    spec llama = {.normalizer = "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\","
                                "\"prepend\":\"\xE2\x96\x81\"},{\"type\":\"Replace\",\"pattern\":"
                                "{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}]}",
                  .model = "\"byte_fallback\":true,", .merges = SP_MERGES, .added = added};
    spec always = {.pretok = METASPACE("always"), .model = "\"byte_fallback\":true,",
                   .merges = SP_MERGES, .added = added};
    spec first = {.pretok = METASPACE("first"), .model = "\"byte_fallback\":true,",
                  .merges = SP_MERGES, .added = added};
    int w = write_tok(dir, "l.json", V, nv, &llama) || write_tok(dir, "a.json", V, nv, &always) ||
            write_tok(dir, "f.json", V, nv, &first);
    lr_err err = {0, ""};
    lr_llm_tokenizer *l = NULL, *a = NULL, *f = NULL;
    int rc = w ? -1 : load_file(dir, "l.json", &l, &err);
    if (!rc) rc = load_file(dir, "a.json", &a, &err);
    if (!rc) rc = load_file(dir, "f.json", &f, &err);
    lr_test_rmdir(dir);
    int32_t sp = vid(V, nv, "\xE2\x96\x81"), hi = vid(V, nv, "\xE2\x96\x81hi"),
            h = vid(V, nv, "h"), i = vid(V, nv, "i");
    free_byte_vocab(V);
    CHECK_OK(rc, err);
    CHECK_IDS(l, "hi \xC3\xBC", hi, sp, 0xC3, 0xBC); /* ü is not in the vocabulary */
    CHECK_IDS(a, "hi \xC3\xBC", hi, sp, 0xC3, 0xBC);
    CHECK_IDS(a, "hi<s>hi", hi, 300, hi);
    CHECK_IDS(f, "hi<s>hi", hi, 300, h, i); /* "first": only the text's start gets ▁ */
    CHECK_EQ(lr_llm_tokenizer_vocab_size(l), 301);
    lr_llm_tokenizer_free(l);
    lr_llm_tokenizer_free(a);
    lr_llm_tokenizer_free(f);
}

/* Found by the tokenizer harness (tests/fuzz/regress/tokenizer_json/replace_chain_*): Replaces in
 * a Sequence multiply a text; a tokenizer file cannot make one grow without bound. */
LR_TEST(chained_replaces_cannot_grow_a_text_without_bound) {
    size_t nv = 0;
    const char **V = byte_vocab(&nv);
    char *dir = lr_test_tmpdir();
    CHECK(V && dir);
    /* each Replace makes a space 64 spaces: four of them make one space 16 million */
    char norm[2048], rep[256], sp64[65];
    memset(sp64, ' ', 64), sp64[64] = '\0';
    snprintf(rep, sizeof rep, "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"%s\"}", sp64);
    snprintf(norm, sizeof norm, "{\"type\":\"Sequence\",\"normalizers\":[%s,%s,%s,%s]}", rep, rep, rep, rep);
    spec chain = {.normalizer = norm, .model = "\"byte_fallback\":true,", .merges = SP_MERGES};
    int w = write_tok(dir, "c.json", V, nv, &chain);
    lr_err err = {0, ""}, e2 = {0, ""};
    lr_llm_tokenizer *t = NULL;
    int rc = w ? -1 : load_file(dir, "c.json", &t, &err);
    lr_test_rmdir(dir);
    free_byte_vocab(V);
    CHECK_OK(rc, err);
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_ERR(lr_llm_tokenize(t, "a b c d e", 9, &ids, &n, &e2), e2, LR_ERANGE, "would grow past 64 MiB");
    CHECK(ids == NULL);
    CHECK_OK(lr_llm_tokenize(t, "abc", 3, &ids, &n, &e2), e2); /* no space: nothing to multiply */
    free(ids);
    lr_llm_tokenizer_free(t);
}

/* ---- added tokens, post-processor, unk ------------------------------------------------------- */

LR_TEST(added_tokens_are_matched_longest_first_in_the_text) {
    static const char *const V[] = {"a", "b", " ", "<", "|", "x", ">", "y"};
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    spec s = {.normalizer = "{\"type\":\"Lowercase\"}",
              .added = ADDED(10, "<|x|>", "false", "false", "true") ","
                       ADDED(11, "<|x|>b", "false", "false", "false") ","
                       ADDED(12, "<m>", "true", "false", "true") ","
                       ADDED(13, "<n>", "false", "false", "true") ","
                       ADDED(14, "XY", "false", "true", "false")};
    CHECK(write_tok(dir, "t.json", V, NV, &s) == 0);
    lr_err err = {0, ""};
    lr_llm_tokenizer *t = NULL;
    CHECK_OK(load_file(dir, "t.json", &t, &err), err);
    lr_test_rmdir(dir);
    CHECK_IDS(t, "a<|x|>a", ID("a"), 10, ID("a"));
    CHECK_IDS(t, "a<|x|>b", ID("a"), 11);
    CHECK_IDS(t, "a<b", ID("a"), ID("<"), ID("b"));
    CHECK_IDS(t, "a <m> b", ID("a"), 12, ID("b"));                   /* lstrip and rstrip */
    CHECK_IDS(t, "a <n> b", ID("a"), ID(" "), 13, ID(" "), ID("b")); /* neither */
    CHECK_IDS(t, "aXYb", ID("a"), 14, ID("b")); /* normalized: matched as "xy" after Lowercase */
    CHECK_EQ(lr_llm_tokenizer_vocab_size(t), 15);
    lr_llm_tokenizer_free(t);
}

LR_TEST(template_processing_adds_bos_and_eos) {
    static const char *const V[] = {"a", "b"};
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    const char *tmpl = "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":"
                       "\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                       "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],\"pair\":[],"
                       "\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[5],\"tokens\":[\"<s>\"]},"
                       "\"</s>\":{\"id\":\"</s>\",\"ids\":[6],\"tokens\":[\"</s>\"]}}}";
    char seq[2048];
    snprintf(seq, sizeof seq, "{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\","
             "\"add_prefix_space\":true,\"trim_offsets\":false,\"use_regex\":true},%s]}", tmpl);
    const char *added = ADDED(5, "<s>", "false", "false", "true") ","
                        ADDED(6, "</s>", "false", "false", "true");
    spec s = {.post = tmpl, .added = added}, q = {.post = seq, .added = added};
    CHECK(write_tok(dir, "t.json", V, NV, &s) == 0 && write_tok(dir, "q.json", V, NV, &q) == 0);
    lr_err err = {0, ""};
    lr_llm_tokenizer *t = NULL, *u = NULL;
    CHECK_OK(load_file(dir, "t.json", &t, &err), err);
    CHECK_OK(load_file(dir, "q.json", &u, &err), err);
    lr_test_rmdir(dir);
    CHECK_IDS(t, "ab", 5, ID("a"), ID("b"), 6);
    CHECK_IDS(t, "", 5, 6);
    CHECK_IDS(u, "ab", 5, ID("a"), ID("b"), 6);
    CHECK_EQ(lr_llm_tokenizer_vocab_size(t), 7);
    lr_llm_tokenizer_free(t);
    lr_llm_tokenizer_free(u);
}

LR_TEST(unknown_characters_become_unk_fused_or_not) {
    static const char *const V[] = {"<unk>", "a"};
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    spec apart = {.model = "\"unk_token\":\"<unk>\",\"fuse_unk\":false,"},
         fused = {.model = "\"unk_token\":\"<unk>\",\"fuse_unk\":true,"}, none = {0};
    CHECK(write_tok(dir, "a.json", V, NV, &apart) == 0 &&
          write_tok(dir, "f.json", V, NV, &fused) == 0 && write_tok(dir, "n.json", V, NV, &none) == 0);
    lr_err err = {0, ""};
    lr_llm_tokenizer *a = NULL, *f = NULL, *n = NULL;
    CHECK_OK(load_file(dir, "a.json", &a, &err), err);
    CHECK_OK(load_file(dir, "f.json", &f, &err), err);
    CHECK_OK(load_file(dir, "n.json", &n, &err), err);
    lr_test_rmdir(dir);
    CHECK_IDS(a, "azza", ID("a"), ID("<unk>"), ID("<unk>"), ID("a"));
    CHECK_IDS(f, "azza", ID("a"), ID("<unk>"), ID("a"));
    CHECK_IDS(n, "aza", ID("a"), ID("a")); /* without an unk token tokenizers drops the character */
    int32_t *ids = (int32_t *)(uintptr_t)1;
    size_t cnt = 7;
    CHECK_OK(lr_llm_tokenize(a, "", 0, &ids, &cnt, &err), err);
    CHECK(ids == NULL && cnt == 0);
    lr_llm_tokenizer_free(a);
    lr_llm_tokenizer_free(f);
    lr_llm_tokenizer_free(n);
}

/* ---- a model directory's BOS / EOS ------------------------------------------------------------ */

LR_TEST(directory_adds_bos_as_the_python_tokenizer_would) {
    static const char *const V[] = {"a", "b"};
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    spec s = {.added = ADDED(2, "<s>", "false", "false", "true") ","
                       ADDED(3, "</s>", "false", "false", "true")};
    CHECK(write_tok(dir, "tokenizer.json", V, NV, &s) == 0);
    lr_err err = {0, ""};
    lr_llm_tokenizer *t = NULL;
    CHECK(lr_test_write_file(dir, "config.json", "{\"model_type\":\"llama\"}") == 0);
    int rc = lr_llm_tokenizer_load(dir, &t, &err);
    char why[512] = "";
    const int32_t bos_a[] = {2, 0}, a_eos[] = {0, 3}, a_only[] = {0};
    int bad = rc || ids_differ(t, "a", 1, bos_a, 2, why, sizeof why);
    lr_llm_tokenizer_free(t);
    t = NULL;
    if (!bad && lr_test_write_file(dir, "tokenizer_config.json",
                                   "{\"add_bos_token\":false,\"add_eos_token\":true}") == 0) {
        rc = lr_llm_tokenizer_load(dir, &t, &err);
        bad = rc || ids_differ(t, "a", 1, a_eos, 2, why, sizeof why);
        lr_llm_tokenizer_free(t);
        t = NULL;
    }
    if (!bad && lr_test_write_file(dir, "config.json", "{\"model_type\":\"qwen2\"}") == 0 &&
        lr_test_write_file(dir, "tokenizer_config.json", "{}") == 0) {
        rc = lr_llm_tokenizer_load(dir, &t, &err); /* not Llama's class: the file decides */
        bad = rc || ids_differ(t, "a", 1, a_only, 1, why, sizeof why);
        lr_llm_tokenizer_free(t);
    }
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    if (bad) LR_FAIL_("%.400s", why);
}

/* ---- refusals -------------------------------------------------------------------------------- */

/* Writes a one-off tokenizer.json and returns the code of loading it (message in *err). */
static int load_spec(const spec *s, lr_err *err) {
    static const char *const V[] = {"a", "b", "<unk>"};
    char *dir = lr_test_tmpdir();
    if (!dir) return 1;
    lr_llm_tokenizer *t = (lr_llm_tokenizer *)(uintptr_t)1;
    int rc = write_tok(dir, "t.json", V, NV, s) ? 1 : load_file(dir, "t.json", &t, err);
    lr_test_rmdir(dir);
    if (rc == LR_OK) lr_llm_tokenizer_free(t);
    else if (t) return 2; /* a failed load must leave *out NULL */
    return rc;
}

LR_TEST(unsupported_parts_are_refused_by_name) {
    lr_err err = {0, ""};
    spec bert = {.normalizer = "{\"type\":\"BertNormalizer\",\"lowercase\":true}"};
    CHECK_ERR(load_spec(&bert, &err), err, LR_EUNSUPPORTED, "BertNormalizer");
    spec ws = {.pretok = "{\"type\":\"Whitespace\"}"};
    CHECK_ERR(load_spec(&ws, &err), err, LR_EUNSUPPORTED, "Whitespace");
    spec roberta = {.post = "{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",0]}"};
    CHECK_ERR(load_spec(&roberta, &err), err, LR_EUNSUPPORTED, "RobertaProcessing");
    spec dropout = {.model = "\"dropout\":0.1,"};
    CHECK_ERR(load_spec(&dropout, &err), err, LR_EUNSUPPORTED, "dropout");
    spec single = {.added = "{\"id\":5,\"content\":\"<x>\",\"single_word\":true,\"lstrip\":false,"
                            "\"rstrip\":false,\"normalized\":false,\"special\":true}"};
    CHECK_ERR(load_spec(&single, &err), err, LR_EUNSUPPORTED, "single_word");
    spec trunc = {.top = "\"truncation\":{\"max_length\":8},"};
    CHECK_ERR(load_spec(&trunc, &err), err, LR_EUNSUPPORTED, "truncation");
    spec unknown = {.model = "\"shiny_option\":1,"};
    CHECK_ERR(load_spec(&unknown, &err), err, LR_EUNSUPPORTED, "shiny_option");
    spec hexre = {.pretok = "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\h+\"},"
                            "\"behavior\":\"Isolated\",\"invert\":false}"};
    CHECK_ERR(load_spec(&hexre, &err), err, LR_EUNSUPPORTED, "\\h");
    spec bad_merge = {.merges = "[\"a\",\"q\"]"};
    CHECK_ERR(load_spec(&bad_merge, &err), err, LR_EFORMAT, "\"q\" is not in the vocabulary");
}

LR_TEST(other_model_types_are_refused_by_name) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_file(dir, "w.json", "{\"added_tokens\":[],\"normalizer\":null,"
                             "\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
                             "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
                             "\"vocab\":{\"[UNK]\":0}}}") == 0);
    CHECK(lr_test_write_file(dir, "u.json", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}") == 0);
    lr_err err = {0, ""};
    lr_llm_tokenizer *t = NULL;
    int rw = load_file(dir, "w.json", &t, &err);
    lr_err err2 = {0, ""};
    int ru = load_file(dir, "u.json", &t, &err2);
    lr_test_rmdir(dir);
    CHECK_ERR(rw, err, LR_EUNSUPPORTED, "WordPiece");
    CHECK_CONTAINS(err.msg, "w.json");
    CHECK_ERR(ru, err2, LR_EUNSUPPORTED, "Unigram");
    CHECK(t == NULL);
}

LR_TEST(malformed_json_names_the_file) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_file(dir, "broken.json", "{\"model\": {\"type\": \"BPE\",") == 0);
    lr_err err = {0, ""};
    lr_llm_tokenizer *t = NULL;
    int rc = load_file(dir, "broken.json", &t, &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "broken.json");
    CHECK(t == NULL);
}

LR_TEST(invalid_utf8_text_is_refused) {
    static const char *const V[] = {"a", "b"};
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    spec s = {0};
    CHECK(write_tok(dir, "t.json", V, NV, &s) == 0);
    lr_err err = {0, ""};
    lr_llm_tokenizer *t = NULL;
    CHECK_OK(load_file(dir, "t.json", &t, &err), err);
    lr_test_rmdir(dir);
    int32_t *ids = NULL;
    size_t n = 0;
    const char *bad[] = {"a\xC3(", "\xED\xA0\x80", "\xC0\xAF", "ab\xF4\x90\x80\x80", "a\x80"};
    for (int i = 0; i < 5; i++) {
        int rc = lr_llm_tokenize(t, bad[i], strlen(bad[i]), &ids, &n, &err);
        if (rc != LR_EINVAL || ids || n) {
            lr_llm_tokenizer_free(t);
            LR_FAIL_("text %d: got %d, expected LR_EINVAL", i, rc);
        }
    }
    CHECK_CONTAINS(err.msg, "UTF-8");
    lr_llm_tokenizer_free(t);
}

LR_TEST(sentencepiece_missing_or_garbage_model_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_file(dir, "garbage.model", "this is not a protobuf \x01\x02\xff") == 0);
    char missing[4200], garbage[4200], empty[4200];
    lr_test_path(missing, sizeof missing, dir, "absent.model");
    lr_test_path(garbage, sizeof garbage, dir, "garbage.model");
    lr_test_path(empty, sizeof empty, dir, "empty");
    lr_err e1 = {0, ""}, e2 = {0, ""}, e3 = {0, ""};
    lr_llm_tokenizer *t = NULL;
    int r1 = lr_llm_tokenizer_load(missing, &t, &e1);
    int r2 = lr_llm_tokenizer_load(garbage, &t, &e2);
    int r3 = mkdir(empty, 0700) == 0 ? lr_llm_tokenizer_load(empty, &t, &e3) : 1;
    lr_test_rmdir(dir);
    CHECK_ERR(r1, e1, LR_EIO, "absent.model");
    CHECK_ERR(r2, e2, LR_EFORMAT, "garbage.model");
    CHECK_ERR(r3, e3, LR_ENOTFOUND, "neither tokenizer.json nor tokenizer.model");
    CHECK(t == NULL);
}

/* tests/llm/spm_train.cc: sentencepiece's trainer and encoder, called directly. */
int test_spm_train(const char *corpus, const char *prefix, int vocab);
long test_spm_encode(const char *model, const char *text, size_t len, int32_t *ids, size_t cap);

/* A model trained here: the shim's ids are the library's own; a directory adds BOS (and EOS
 * when tokenizer_config.json asks), with the model's ids for them. */
LR_TEST(sentencepiece_model_trained_here_encodes_as_the_library) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char corpus[4200], prefix[4200], model[4200], in_dir[4200];
    lr_test_path(corpus, sizeof corpus, dir, "corpus.txt");
    lr_test_path(prefix, sizeof prefix, dir, "m");
    lr_test_path(model, sizeof model, dir, "m.model");
    lr_test_path(in_dir, sizeof in_dir, dir, "tokenizer.model");
    FILE *f = fopen(corpus, "w");
    for (int i = 0; f && i < 200; i++)
        fprintf(f, "the quick brown fox %d jumps over the lazy dog near the river bank\n", i % 17);
    CHECK(f && fclose(f) == 0);
    int trained = test_spm_train(corpus, prefix, 320);
    const char *text = "the lazy fox jumps \xC3\xBC 42";
    int32_t want[64];
    long nw = trained == 0 ? test_spm_encode(model, text, strlen(text), want, 64) : -1;
    lr_err err = {0, ""};
    lr_llm_tokenizer *bare = NULL, *d1 = NULL, *d2 = NULL;
    int rc = nw > 0 ? lr_llm_tokenizer_load(model, &bare, &err) : -1;
    if (!rc) rc = rename(model, in_dir) ? -2 : 0;
    if (!rc) rc = lr_llm_tokenizer_load(dir, &d1, &err);
    if (!rc && lr_test_write_file(dir, "tokenizer_config.json",
                                  "{\"add_bos_token\":false,\"add_eos_token\":true}"))
        rc = -3;
    if (!rc) rc = lr_llm_tokenizer_load(dir, &d2, &err);
    lr_test_rmdir(dir);
    CHECK_EQ(trained, 0);
    CHECK(nw > 3 && nw < 64);
    CHECK_OK(rc, err);
    int32_t with_bos[65], with_eos[65];
    with_bos[0] = 1; /* sentencepiece's default ids: <unk> 0, <s> 1, </s> 2 */
    memcpy(with_bos + 1, want, (size_t)nw * sizeof *want);
    memcpy(with_eos, want, (size_t)nw * sizeof *want);
    with_eos[nw] = 2;
    char why[512];
    int bad = ids_differ(bare, text, strlen(text), want, (size_t)nw, why, sizeof why) ||
              ids_differ(d1, text, strlen(text), with_bos, (size_t)nw + 1, why, sizeof why) ||
              ids_differ(d2, text, strlen(text), with_eos, (size_t)nw + 1, why, sizeof why);
    CHECK_EQ(lr_llm_tokenizer_vocab_size(bare), 320);
    lr_llm_tokenizer_free(bare);
    lr_llm_tokenizer_free(d1);
    lr_llm_tokenizer_free(d2);
    if (bad) LR_FAIL_("%.400s", why);
}

/* ---- the reference fixtures ------------------------------------------------------------------ */

/* Every text of `texts` through the tokenizer at `path`, against the reference `ids`. */
static int compare_all(const char *path, const json_t *texts, const json_t *ids, char *why,
                       size_t cap) {
    lr_err err = {0, ""};
    lr_llm_tokenizer *t = NULL;
    if (lr_llm_tokenizer_load(path, &t, &err)) {
        snprintf(why, cap, "%s: %s", path, err.msg);
        return 1;
    }
    if (!json_is_array(texts) || json_array_size(texts) != json_array_size(ids) ||
        json_array_size(texts) == 0) {
        lr_llm_tokenizer_free(t);
        snprintf(why, cap, "%s: texts and token_ids do not pair up", path);
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; !bad && i < json_array_size(texts); i++) {
        const json_t *e = json_array_get(ids, i);
        size_t n = json_array_size(e);
        int32_t *want = malloc((n + 1) * sizeof *want);
        for (size_t k = 0; want && k < n; k++) want[k] = (int32_t)json_integer_value(json_array_get(e, k));
        char w[400];
        bad = !want || ids_differ(t, json_string_value(json_array_get(texts, i)),
                                  json_string_length(json_array_get(texts, i)), want, n, w, sizeof w);
        if (bad) snprintf(why, cap, "%s: text %zu: %s", path, i, want ? w : "out of memory");
        free(want);
    }
    lr_llm_tokenizer_free(t);
    return bad;
}

static int check_tokenizer_fixture(const char *name, const char *file, char *why, size_t cap) {
    char dir[4096], path[4200], p2[4200];
    snprintf(dir, sizeof dir, "%s/fixtures/tokenizers/%s", LR_SHARED_DIR, name);
    json_error_t je;
    lr_test_path(p2, sizeof p2, dir, "texts.json");
    json_t *texts = json_load_file(p2, 0, &je);
    lr_test_path(p2, sizeof p2, dir, "token_ids.json");
    json_t *ids = json_load_file(p2, 0, &je);
    lr_test_path(path, sizeof path, dir, file);
    int bad = compare_all(path, texts, ids, why, cap);
    json_decref(texts);
    json_decref(ids);
    return bad;
}

/* texts.txt: one text per line, only '\n' ends one, nothing trimmed. */
static json_t *read_lines(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    json_t *out = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (out && (n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') n--;
        json_array_append_new(out, json_stringn(line, (size_t)n));
    }
    free(line);
    fclose(f);
    return out;
}

static int check_llm_fixture(const char *name, char *why, size_t cap) {
    char dir[4096], p[4200];
    snprintf(dir, sizeof dir, "%s/fixtures/llm/%s", LR_SHARED_DIR, name);
    lr_test_path(p, sizeof p, dir, "texts.txt");
    json_t *texts = read_lines(p);
    json_error_t je;
    lr_test_path(p, sizeof p, dir, "token_ids.json");
    json_t *ids = json_load_file(p, 0, &je);
    int bad = compare_all(dir, texts, ids, why, cap); /* the directory, as the encoder loads it */
    json_decref(texts);
    json_decref(ids);
    return bad;
}

#define FIXTURE_TEST(fn, call)                                                                 \
    LR_TEST(fn) {                                                                              \
        char why[600];                                                                         \
        if (call) LR_FAIL_("%.400s", why);                                                         \
    }

FIXTURE_TEST(qwen2_pretok_matches_reference_ids,
             check_tokenizer_fixture("qwen2-pretok", "tokenizer.json", why, sizeof why))
FIXTURE_TEST(llama3_pretok_matches_reference_ids,
             check_tokenizer_fixture("llama3-pretok", "tokenizer.json", why, sizeof why))
FIXTURE_TEST(spm_model_matches_reference_ids,
             check_tokenizer_fixture("spm-bpe-bytefallback", "tokenizer.model", why, sizeof why))
FIXTURE_TEST(qwen2_bytelevel_dir_matches_reference_ids,
             check_llm_fixture("qwen2-bytelevel", why, sizeof why))
FIXTURE_TEST(llama_spbpe_dir_matches_reference_ids,
             check_llm_fixture("llama-spbpe", why, sizeof why))
FIXTURE_TEST(baichuan2_wpack_dir_matches_reference_ids,
             check_llm_fixture("baichuan2-wpack", why, sizeof why))

LR_TEST_MAIN(LR_CASE(bytelevel_bpe_merges_lowest_rank_first),
             LR_CASE(split_regex_keeps_merges_inside_each_piece),
             LR_CASE(split_behaviours_cut_as_tokenizers_does),
             LR_CASE(nfc_gives_composed_and_decomposed_accents_the_same_ids),
             LR_CASE(prepend_replace_and_metaspace_fall_back_to_bytes),
             LR_CASE(chained_replaces_cannot_grow_a_text_without_bound),
             LR_CASE(added_tokens_are_matched_longest_first_in_the_text),
             LR_CASE(template_processing_adds_bos_and_eos),
             LR_CASE(unknown_characters_become_unk_fused_or_not),
             LR_CASE(directory_adds_bos_as_the_python_tokenizer_would),
             LR_CASE(unsupported_parts_are_refused_by_name),
             LR_CASE(other_model_types_are_refused_by_name),
             LR_CASE(malformed_json_names_the_file),
             LR_CASE(invalid_utf8_text_is_refused),
             LR_CASE(sentencepiece_missing_or_garbage_model_is_refused),
             LR_CASE(sentencepiece_model_trained_here_encodes_as_the_library),
             LR_SHARED_CASE(qwen2_pretok_matches_reference_ids, "fixtures/tokenizers/qwen2-pretok"),
             LR_SHARED_CASE(llama3_pretok_matches_reference_ids, "fixtures/tokenizers/llama3-pretok"),
             LR_SHARED_CASE(spm_model_matches_reference_ids,
                            "fixtures/tokenizers/spm-bpe-bytefallback"),
             LR_SHARED_CASE(qwen2_bytelevel_dir_matches_reference_ids, "fixtures/llm/qwen2-bytelevel"),
             LR_SHARED_CASE(llama_spbpe_dir_matches_reference_ids, "fixtures/llm/llama-spbpe"),
             LR_SHARED_CASE(baichuan2_wpack_dir_matches_reference_ids,
                            "fixtures/llm/baichuan2-wpack"))
