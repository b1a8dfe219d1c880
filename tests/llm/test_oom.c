/* Allocation-failure loops over lr_llm (tests/lr_oom.h): the tokenizer's load and tokenize
 * (tokenizer.json pipelines and a SentencePiece model), the model's load (float32 and bfloat16
 * storage, both weight modes, one file and shards), hidden and embed, and the encoder's open and
 * encode. Every call must fail cleanly at each of its allocations, and the run that follows the
 * failures (on the same tokenizer, model or encoder for the calls on one) must compute what a
 * run without any failure computed, exactly.
 *
 * Shared libraries allocate out of the hook's reach (lr_oom.h). jansson's allocations are
 * routed to it in the last case only (json_set_alloc_funcs; see there for what jansson's own
 * handling of failures allows a test to demand). Never injected: PCRE2's compile of the Split
 * and ByteLevel regexes and its match data (pcre2_compile, pcre2_match_data_create: a NULL
 * there is LR_ENOMEM, untested); utf8proc's normalization buffers (utf8proc_map; freed by
 * lr_llm, they pass the hook untracked); sentencepiece's load and encode (C++ operator new,
 * caught as std::bad_alloc; only the shim's realloc of the id array is injected); OpenBLAS's
 * sgemm buffers. The Asan build's leak checker still covers those libraries' blocks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "lr_data.h"
#include "lr_llm.h"
#include "lr_oom.h"
#include "lr_test.h"
#include "llm/model_fixture.h"
#include "llm/tok_fixture.h"

static char done_; /* a call with nothing to hand out marks success with it */
static void nothing_free(void *p) { (void)p; }

/* ---- jansson's allocations ------------------------------------------------------------------ */

/* jansson allocates inside its shared library, out of the hook's reach, unless this program
 * hands it allocation functions (json_set_alloc_funcs: a process-wide setting, right for a test
 * program, never for the library). The last case does, and fails jansson's allocations alone,
 * from the n-th on, through json_step; the other cases leave jansson alone.
 *
 * Only the sticky mode, and a weaker demand than lr_oom_check's, because of jansson itself:
 * with one allocation failing and the next succeeding, jansson 2.14 can carry on and return a
 * document with a character missing from a key ("add_prefix_spae"), a failure no caller can
 * see; and it reports a string it could not copy as a syntax error ("invalid token", "string or
 * '}' expected"), which no caller can tell from a real one. What it leaves blank (its lexer's
 * first buffer, an object or array it cannot make) lr_llm must call LR_ENOMEM. */
typedef struct {
    size_t calls, fail_at; /* fail_at 0: never */
} json_fail;
static json_fail g_json;

static void *json_malloc_hook(size_t n) {
    if (g_json.fail_at && ++g_json.calls >= g_json.fail_at) return NULL;
    return malloc(n); /* the hook's: tracked while armed */
}

/* One run with jansson's allocations failing from the n-th on, lr_llm's own counted and
 * tracked but never failed. Returns 1 when jansson failed. */
static int json_run(lr_oom_call call, void *ctx, size_t n, void **obj, int *rc, lr_err *err) {
    g_json = (json_fail){0, n};
    lr_oom_arm(0, LR_OOM_FROM);
    *rc = call(ctx, obj, err);
    lr_oom_disarm();
    int failed = g_json.calls >= n;
    g_json.fail_at = 0;
    return failed;
}

/* Each failure must fail the call cleanly: an LR_E* code with a message, *out NULL, nothing
 * left live; LR_ENOMEM when the first of jansson's allocations fails (the lexer's buffer, which
 * jansson leaves blank) or the error has no position (blank), else LR_ENOMEM or jansson's
 * LR_EFORMAT. */
static int json_check(const char *what, lr_oom_call call, void *ctx, lr_oom_free free_fn,
                      size_t *allocs, char *why, size_t cap) {
    for (size_t n = 1;; n++) {
        lr_err err = {0, ""};
        void *obj = LR_OOM_POISON;
        int rc;
        if (!json_run(call, ctx, n, &obj, &rc, &err)) {
            if (rc != LR_OK || obj == LR_OOM_POISON || !obj) {
                snprintf(why, cap, "%s: a run without failures failed: %s", what, err.msg);
                return -1;
            }
            free_fn(obj);
            *allocs = n - 1;
            if (!lr_oom_live()) return 0;
            snprintf(why, cap, "%s: a full run leaves blocks live after its free", what);
            return -1;
        }
        if (rc >= 0 || err.code != rc || !err.msg[0] || obj != NULL || lr_oom_live()) {
            if (obj && obj != LR_OOM_POISON) free_fn(obj);
            snprintf(why, cap, "%s: jansson allocation %zu failed (from it on): returned %s, "
                     "message '%s', *out %s, %zu blocks live", what, n, lr_err_name(rc), err.msg,
                     obj ? "set" : "NULL", lr_oom_live());
            return -1;
        }
        /* No position: jansson left it blank, and the caller took that for bad JSON. */
        int blank = strstr(err.msg, ":-1:") || strstr(err.msg, "line -1");
        if (rc != LR_ENOMEM && (n == 1 || rc != LR_EFORMAT || blank)) {
            snprintf(why, cap, "%s: jansson allocation %zu failed (from it on): %s, not "
                     "LR_ENOMEM: %s", what, n, lr_err_name(rc), err.msg);
            return -1;
        }
    }
}

static int json_step(lr_oom_steps *s, const char *what, lr_oom_call call, void *ctx,
                     lr_oom_free free_fn) {
    size_t allocs = 0;
    if (s->failed) return -1;
    if (json_check(what, call, ctx, free_fn, &allocs, s->why, sizeof s->why)) {
        s->failed = 1;
        return -1;
    }
    if (allocs) printf("     %s: %zu jansson allocations, each failed in turn\n", what, allocs);
    return 0;
}

/* How the rounds below run each call: lr_oom_step, or json_step in the jansson case. */
static int (*g_step)(lr_oom_steps *, const char *, lr_oom_call, void *, lr_oom_free) = lr_oom_step;

/* ---- tokenizers ------------------------------------------------------------------------------ */

/* Byte-level BPE: NFC, digits split off by a regex before ByteLevel's own regex, BOS and EOS by
 * TemplateProcessing, a special added token and a normalized one ("Café", matched after NFC).
 * Ids stay below the tiny model's vocabulary (50): the encoder's directory uses it too. */
static const char *const k_bl_vocab[] = {
    "h", "e", "l", "o", "w", "r", "d", "c", "a", "f", "\xC4\xA0", "4", "2", "\xC3\x83", "\xC2\xA9",
    "he", "ll", "hell", "hello", "\xC4\xA0w", "or", "\xC4\xA0wor", "ld", "\xC4\xA0world", "ca",
    "caf"};
#define BL_NV (sizeof k_bl_vocab / sizeof k_bl_vocab[0])
#define BL_BOS 26
#define BL_X 28
static const char k_bl_added[] =
    ADDED(26, "<s>", "false", "false", "true") "," ADDED(27, "</s>", "false", "false", "true") ","
    ADDED(28, "<|x|>", "false", "false", "true") "," ADDED(29, "Caf\xC3\xA9", "false", "true", "false");
static const char k_bl_pretok[] =
    "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
    "\"\\\\p{N}\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
    "\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":true}]}";
static const char k_bl_post[] =
    "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],"
    "\"pair\":[],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[26],\"tokens\":[\"<s>\"]},"
    "\"</s>\":{\"id\":\"</s>\",\"ids\":[27],\"tokens\":[\"</s>\"]}}}";
static const char k_bl_merges[] =
    "[\"h\",\"e\"],[\"l\",\"l\"],[\"he\",\"ll\"],[\"hell\",\"o\"],[\"\xC4\xA0\",\"w\"],[\"o\",\"r\"],"
    "[\"\xC4\xA0w\",\"or\"],[\"l\",\"d\"],[\"\xC4\xA0wor\",\"ld\"],[\"c\",\"a\"],[\"ca\",\"f\"]";
/* "e" + U+0301 composes to é; "Cafe\xCC\x81" is the added token only after NFC. */
static const char k_bl_text[] = "hello world 42<|x|>cafe\xCC\x81 Cafe\xCC\x81 hello";

static int write_bytelevel(const char *dir, const char *name) {
    spec s = {.added = k_bl_added, .normalizer = "{\"type\":\"NFC\"}", .pretok = k_bl_pretok,
              .post = k_bl_post, .merges = k_bl_merges};
    return write_tok(dir, name, k_bl_vocab, BL_NV, &s);
}

/* Llama-2 style: the 256 byte tokens, byte fallback, <s>; spaces made ▁ by Metaspace (scheme
 * "always", split), by Metaspace (scheme "first", no split) or by the Prepend and Replace
 * normalizers. */
enum { MS_ALWAYS, MS_FIRST, MS_LLAMA };
static int write_metaspace(const char *dir, const char *name, int kind) {
    size_t nv = 0;
    const char **v = byte_vocab(&nv);
    if (!v) return -1;
    spec s = {.model = "\"byte_fallback\":true,", .merges = SP_MERGES,
              .added = ADDED(300, "<s>", "false", "false", "true")};
    if (kind == MS_LLAMA)
        s.normalizer = "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":"
                       "\"\xE2\x96\x81\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
                       "\"content\":\"\xE2\x96\x81\"}]}";
    else if (kind == MS_FIRST)
        s.pretok = "{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\","
                   "\"prepend_scheme\":\"first\",\"split\":false}";
    else
        s.pretok = METASPACE("always");
    int rc = write_tok(dir, name, v, nv, &s);
    free_byte_vocab(v);
    return rc;
}
static const char k_ms_text[] = "hi \xC3\xBC<s>hi hi";

/* The other stages: Strip, Lowercase and a literal Replace; Digits and a literal Split; unk
 * (fused), ignore_merges (a whole word in the vocabulary skips the merges), a 300-byte word
 * (BPE's scratch then comes from the heap); an lstrip/rstrip added token; a Sequence of ByteLevel
 * and TemplateProcessing post-processors. */
static const char *const k_misc_vocab[] = {"<unk>", "a", "b", "c", "ab", "abc", "abcab", "1",
                                           "2", "<b>"};
#define MISC_NV (sizeof k_misc_vocab / sizeof k_misc_vocab[0])
#define MISC_UNK 0
#define MISC_M 10
static int write_misc(const char *dir, const char *name) {
    spec s = {.added = ADDED(10, "<m>", "true", "false", "true"),
              .normalizer = "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Strip\","
                            "\"strip_left\":true,\"strip_right\":true},{\"type\":\"Lowercase\"},"
                            "{\"type\":\"Replace\",\"pattern\":{\"String\":\"-\"},"
                            "\"content\":\" \"}]}",
              .pretok = "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\","
                        "\"individual_digits\":true},{\"type\":\"Split\",\"pattern\":"
                        "{\"String\":\" \"},\"behavior\":\"Removed\",\"invert\":false}]}",
              .post = "{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\","
                      "\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false},"
                      "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":"
                      "\"<b>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
                      "\"pair\":[],\"special_tokens\":{\"<b>\":{\"id\":\"<b>\",\"ids\":[9],"
                      "\"tokens\":[\"<b>\"]}}}]}",
              .model = "\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"ignore_merges\":true,",
              .merges = "[\"a\",\"b\"],[\"ab\",\"c\"],[\"abc\",\"ab\"]"};
    return write_tok(dir, name, k_misc_vocab, MISC_NV, &s);
}
#define AB10 "abababababababababab"
#define AB100 AB10 AB10 AB10 AB10 AB10 AB10 AB10 AB10 AB10 AB10
static const char k_misc_text[] =
    "  ABC-abcabc 12 \xC3\xBFxy <m>  c " AB100 AB100 AB100 "c abcab \t";

/* tests/llm/spm_train.cc: sentencepiece's trainer, called directly. */
int test_spm_train(const char *corpus, const char *prefix, int vocab);

/* A SentencePiece model trained here, as dir/tokenizer.model with a tokenizer_config.json that
 * asks for EOS too. */
static int write_spm_dir(const char *dir) {
    char corpus[4200], prefix[4200], from[4200], to[4200];
    lr_test_path(corpus, sizeof corpus, dir, "corpus.txt");
    lr_test_path(prefix, sizeof prefix, dir, "m");
    lr_test_path(from, sizeof from, dir, "m.model");
    lr_test_path(to, sizeof to, dir, "tokenizer.model");
    FILE *f = fopen(corpus, "w");
    for (int i = 0; f && i < 200; i++)
        fprintf(f, "the quick brown fox %d jumps over the lazy dog near the river bank\n", i % 17);
    if (!f || fclose(f) != 0 || test_spm_train(corpus, prefix, 320) != 0 || rename(from, to))
        return -1;
    return lr_test_write_file(dir, "tokenizer_config.json",
                              "{\"add_bos_token\":true,\"add_eos_token\":true}");
}
static const char k_spm_text[] = "the lazy fox jumps \xC3\xBC 42 over the bank";

/* What a tokenizer must make of its text: ids from a load and a tokenize without failures. */
typedef struct {
    const lr_llm_tokenizer *t; /* for tokenize */
    const char *path, *text;
    int32_t *want;
    size_t nwant, wrong;
} tok_ctx;

static tok_ctx *g_tok; /* the expectation tok_check_free holds a loaded tokenizer to */

static int ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void tok_check_free(void *p) {
    int32_t *ids = NULL;
    size_t n = 0;
    lr_err err = {0, ""};
    if (lr_llm_tokenize(p, g_tok->text, strlen(g_tok->text), &ids, &n, &err) ||
        !ids_equal(ids, n, g_tok->want, g_tok->nwant))
        g_tok->wrong++;
    free(ids);
    lr_llm_tokenizer_free(p);
}

static int tok_load(void *ctx, void **out, lr_err *err) {
    lr_llm_tokenizer *t = *out;
    int rc = lr_llm_tokenizer_load(((tok_ctx *)ctx)->path, &t, err);
    *out = t;
    return rc;
}

static int tok_tokenize(void *ctx, void **out, lr_err *err) {
    tok_ctx *c = ctx;
    int32_t *ids = LR_OOM_POISON;
    size_t n = 0;
    int rc = lr_llm_tokenize(c->t, c->text, strlen(c->text), &ids, &n, err);
    if (!rc && !ids_equal(ids, n, c->want, c->nwant)) c->wrong++;
    *out = ids;
    return rc;
}

static void ids_free(void *p) { free(p); }

/* The reference ids of c->text: c->path loaded and run with no failure injected. */
static int tok_reference(tok_ctx *c, lr_llm_tokenizer **t, lr_err *err) {
    int rc = lr_llm_tokenizer_load(c->path, t, err);
    if (!rc) rc = lr_llm_tokenize(*t, c->text, strlen(c->text), &c->want, &c->nwant, err);
    c->t = *t;
    return rc;
}

static int contains(const int32_t *v, size_t n, int32_t id) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == id) return 1;
    return 0;
}

/* Load and tokenize loops over one tokenizer file or directory; `must` lists ids the reference
 * must contain (the text reaches the merges, added tokens and fallbacks it is meant to). */
static void tok_round(lr_oom_steps *s, const char *path, const char *text,
                      const char *what, const int32_t *must, size_t nmust) {
    tok_ctx c = {NULL, path, text, NULL, 0, 0};
    lr_llm_tokenizer *t = NULL;
    lr_err err = {0, ""};
    int rc = s->failed ? 0 : tok_reference(&c, &t, &err);
    if (rc) {
        s->failed = 1;
        snprintf(s->why, sizeof s->why, "%s: reference run: %s", what, err.msg);
    }
    for (size_t i = 0; i < nmust && !s->failed; i++)
        if (!contains(c.want, c.nwant, must[i])) {
            s->failed = 1;
            snprintf(s->why, sizeof s->why, "%s: the text's %zu ids lack id %d", what, c.nwant,
                     (int)must[i]);
        }
    char name[256];
    g_tok = &c;
    snprintf(name, sizeof name, "lr_llm_tokenizer_load (%s)", what);
    g_step(s, name, tok_load, &c, tok_check_free);
    snprintf(name, sizeof name, "lr_llm_tokenize (%s)", what);
    g_step(s, name, tok_tokenize, &c, ids_free);
    if (!s->failed && c.wrong) {
        s->failed = 1;
        snprintf(s->why, sizeof s->why, "%s: %zu runs after failures made other ids than the "
                 "reference", what, c.wrong);
    }
    g_tok = NULL;
    free(c.want);
    lr_llm_tokenizer_free(t);
}

LR_TEST(tokenizer_json_load_and_tokenize_fail_cleanly_at_every_allocation) {
    char *dir = lr_test_tmpdir();
    char bl[4200] = "", ms[4200] = "", mf[4200] = "", ll[4200] = "", misc[4200] = "";
    lr_oom_steps s = {!dir, "no temporary directory"};
    if (dir) {
        lr_test_path(bl, sizeof bl, dir, "bl.json");
        lr_test_path(ms, sizeof ms, dir, "ms.json");
        lr_test_path(mf, sizeof mf, dir, "mf.json");
        lr_test_path(ll, sizeof ll, dir, "ll.json");
        lr_test_path(misc, sizeof misc, dir, "misc.json");
        if (write_bytelevel(dir, "bl.json") || write_metaspace(dir, "ms.json", MS_ALWAYS) ||
            write_metaspace(dir, "mf.json", MS_FIRST) || write_metaspace(dir, "ll.json", MS_LLAMA) ||
            write_misc(dir, "misc.json"))
            s = (lr_oom_steps){1, "cannot write the tokenizers"};
    }
    const int32_t bl_must[] = {BL_BOS, BL_X, 29, 18 /* hello */, 23 /* Ġworld */, 11, 12};
    const int32_t ms_must[] = {300, 0xC3, 0xBC, 260 /* ▁hi */};
    tok_round(&s, bl, k_bl_text, "byte-level, Split regex, NFC, TemplateProcessing",
              bl_must, sizeof bl_must / sizeof *bl_must);
    tok_round(&s, ms, k_ms_text, "Metaspace, byte fallback", ms_must,
              sizeof ms_must / sizeof *ms_must);
    tok_round(&s, mf, k_ms_text, "Metaspace first without split, byte fallback", ms_must,
              sizeof ms_must / sizeof *ms_must);
    tok_round(&s, ll, k_ms_text, "Prepend and Replace, byte fallback", ms_must,
              sizeof ms_must / sizeof *ms_must);
    const int32_t misc_must[] = {9 /* <b> */, MISC_UNK, MISC_M, 6 /* abcab: whole */, 5 /* abc */,
                                 4 /* ab */, 7, 8};
    tok_round(&s, misc, k_misc_text, "Strip, Lowercase, Replace, Digits, Split, unk", misc_must,
              sizeof misc_must / sizeof *misc_must);
    lr_test_rmdir(dir);
    CHECK_OOM_STEPS(s);
}

/* A directory: BOS and EOS from tokenizer_config.json replace the template's (Llama's class). */
LR_TEST(tokenizer_directory_load_and_tokenize_fail_cleanly_at_every_allocation) {
    char *dir = lr_test_tmpdir();
    lr_oom_steps s = {!dir, "no temporary directory"};
    if (dir && (write_bytelevel(dir, "tokenizer.json") ||
                lr_test_write_file(dir, "tokenizer_config.json",
                                   "{\"tokenizer_class\":\"LlamaTokenizerFast\",\"add_bos_token\":"
                                   "true,\"add_eos_token\":true,\"bos_token\":\"<|x|>\","
                                   "\"eos_token\":{\"content\":\"</s>\"}}")))
        s = (lr_oom_steps){1, "cannot write the tokenizer"};
    const int32_t must[] = {BL_X, 27, 29};
    tok_round(&s, dir, k_bl_text, "directory, Llama class", must, 3);
    lr_test_rmdir(dir);
    CHECK_OOM_STEPS(s);
}

LR_TEST(sentencepiece_load_and_tokenize_fail_cleanly_at_every_allocation) {
    char *dir = lr_test_tmpdir();
    lr_oom_steps s = {!dir, "no temporary directory"};
    if (dir && write_spm_dir(dir)) s = (lr_oom_steps){1, "cannot train the SentencePiece model"};
    const int32_t must[] = {1, 2}; /* sentencepiece's default <s> and </s> */
    tok_round(&s, dir, k_spm_text, "SentencePiece directory, BOS and EOS", must, 2);
    lr_test_rmdir(dir);
    CHECK_OOM_STEPS(s);
}

/* ---- the model ------------------------------------------------------------------------------- */

#define C 32          /* fx_default's hidden size */
#define HID_N 11      /* the ids run through lr_llm_model_hidden */
#define EMB_N 4       /* sequences in the lr_llm_model_embed batch */
static const int32_t k_ids[] = {3, 17, 42, 0, 49, 8, 8, 25, 31, 12, 5, 44, 19, 2, 7, 38, 21};
static const size_t k_lens[EMB_N] = {5, 0, 9, 3}; /* packed from k_ids; one empty */

typedef struct {
    char dir[4200];
    lr_llm_model_options opt;
    const lr_llm_model *m; /* for hidden and embed */
    float want_h[HID_N * C], want_e[EMB_N * C], got_h[HID_N * C], got_e[EMB_N * C];
    size_t wrong;
} model_ctx;

static model_ctx *g_model;

static void seqs(const int32_t *ids[EMB_N]) {
    for (size_t s = 0, at = 0; s < EMB_N; at += k_lens[s++]) ids[s] = k_ids + at;
}

static int run_hidden(const lr_llm_model *m, float *out, lr_err *err) {
    return lr_llm_model_hidden(m, k_ids, HID_N, out, err);
}

static int run_embed(const lr_llm_model *m, float *out, lr_err *err) {
    const int32_t *ids[EMB_N];
    seqs(ids);
    return lr_llm_model_embed(m, ids, k_lens, EMB_N, out, err);
}

static void model_check_free(void *p) {
    model_ctx *c = g_model;
    lr_err err = {0, ""};
    if (run_hidden(p, c->got_h, &err) || memcmp(c->got_h, c->want_h, sizeof c->got_h) ||
        run_embed(p, c->got_e, &err) || memcmp(c->got_e, c->want_e, sizeof c->got_e))
        c->wrong++;
    lr_llm_model_free(p);
}

static int model_load(void *ctx, void **out, lr_err *err) {
    model_ctx *c = ctx;
    lr_llm_model *m = *out;
    int rc = lr_llm_model_load(c->dir, &c->opt, &m, err);
    *out = m;
    return rc;
}

static int model_hidden(void *ctx, void **out, lr_err *err) {
    model_ctx *c = ctx;
    memset(c->got_h, 0, sizeof c->got_h);
    int rc = run_hidden(c->m, c->got_h, err);
    if (!rc && memcmp(c->got_h, c->want_h, sizeof c->got_h)) c->wrong++;
    *out = rc ? NULL : &done_;
    return rc;
}

static int model_embed(void *ctx, void **out, lr_err *err) {
    model_ctx *c = ctx;
    memset(c->got_e, 0, sizeof c->got_e);
    int rc = run_embed(c->m, c->got_e, err);
    if (!rc && memcmp(c->got_e, c->want_e, sizeof c->got_e)) c->wrong++;
    *out = rc ? NULL : &done_;
    return rc;
}

/* The largest |a - b| over n values relative to max |b|. */
static double rel_err(const float *a, const double *b, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

/* Writes a tiny model of spec sp into dir (weights stored as dt, in the layout); its float64
 * reference forward of k_ids[0..HID_N) into ref (HID_N * C) unless ref is NULL. */
static int write_model(const char *dir, const fx_spec *sp, lr_data_st_dtype dt, fx_layout layout,
                       double *ref, lr_err *err) {
    fx_model fm;
    fx_make(&fm, sp, 1234);
    fx_round(&fm, dt);
    int rc = fx_write_config(dir, sp) ? lr_err_set(err, LR_EIO, "%s: cannot write", dir)
                                      : fx_write_weights(dir, &fm, dt, layout, NULL, err);
    if (ref) fx_forward(&fm, k_ids, HID_N, ref);
    fx_free(&fm);
    return rc;
}

/* The reference results of c's model: loaded and run without failures, and close to the
 * float64 forward (so that "equal to the reference" means right). */
static int model_reference(model_ctx *c, const double *ref, lr_llm_model **m, char *why,
                           size_t cap) {
    lr_err err = {0, ""};
    int rc = lr_llm_model_load(c->dir, &c->opt, m, &err);
    if (!rc) rc = run_hidden(*m, c->want_h, &err);
    if (!rc) rc = run_embed(*m, c->want_e, &err);
    if (rc) {
        snprintf(why, cap, "%.200s: reference run: %.280s", c->dir, err.msg);
        return -1;
    }
    double e = rel_err(c->want_h, ref, HID_N * C);
    if (e > 1e-5) {
        snprintf(why, cap, "%.200s: hidden states off the float64 forward by %.3g", c->dir, e);
        return -1;
    }
    c->m = *m;
    return 0;
}

typedef struct {
    const char *what;
    lr_data_st_dtype dt;
    fx_layout layout;
    lr_llm_weights mode;
} model_variant;

static const model_variant k_variants[] = {
    {"F32 file, mapped", LR_DATA_ST_F32, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED},
    {"BF16 file, mapped", LR_DATA_ST_BF16, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED},
    {"BF16 file, widened to F32", LR_DATA_ST_BF16, FX_ONE_FILE, LR_LLM_WEIGHTS_F32},
    {"BF16 shards with an index, mapped", LR_DATA_ST_BF16, FX_SHARDS, LR_LLM_WEIGHTS_MAPPED},
    {"F32 shards with an index, widened to F32", LR_DATA_ST_F32, FX_SHARDS, LR_LLM_WEIGHTS_F32},
    {"BF16 W_pack file, widened to F32", LR_DATA_ST_BF16, FX_WPACK, LR_LLM_WEIGHTS_F32},
};

/* Load, hidden and embed loops over one stored model in one weight mode. */
static void model_round(lr_oom_steps *s, const char *root, size_t k) {
    const model_variant *v = &k_variants[k];
    model_ctx *c = calloc(1, sizeof *c);
    double ref[HID_N * C];
    lr_err err = {0, ""};
    lr_llm_model *m = NULL;
    if (!c) s->failed = 1;
    if (s->failed) goto done;
    snprintf(c->dir, sizeof c->dir, "%s/m%zu", root, k);
    c->opt.weights = v->mode;
    fx_spec sp = fx_default();
    if (v->layout == FX_WPACK) { /* Baichuan2: no q/k/v biases, as many KV heads as heads */
        sp.arch = "BaichuanForCausalLM";
        sp.qkv_bias = 0;
        sp.kv_heads = sp.heads;
    }
    int rc = mkdir(c->dir, 0700) ? lr_err_set(&err, LR_EIO, "%s: cannot make", c->dir)
                                 : write_model(c->dir, &sp, v->dt, v->layout, ref, &err);
    if (rc) {
        s->failed = 1;
        snprintf(s->why, sizeof s->why, "%s: %s", v->what, err.msg);
        goto done;
    }
    if (model_reference(c, ref, &m, s->why, sizeof s->why)) {
        s->failed = 1;
        goto done;
    }
    char name[256];
    g_model = c;
    snprintf(name, sizeof name, "lr_llm_model_load (%s)", v->what);
    g_step(s, name, model_load, c, model_check_free);
    snprintf(name, sizeof name, "lr_llm_model_hidden (%s)", v->what);
    g_step(s, name, model_hidden, c, nothing_free);
    snprintf(name, sizeof name, "lr_llm_model_embed (%s)", v->what);
    g_step(s, name, model_embed, c, nothing_free);
    g_model = NULL;
    if (!s->failed && c->wrong) {
        s->failed = 1;
        snprintf(s->why, sizeof s->why, "%s: %zu runs after failures computed other values than "
                 "the reference", v->what, c->wrong);
    }
done:
    lr_llm_model_free(m);
    free(c);
}

LR_TEST(model_load_hidden_and_embed_fail_cleanly_at_every_allocation) {
    char *dir = lr_test_tmpdir();
    lr_oom_steps s = {!dir, "no temporary directory"};
    for (size_t k = 0; k < sizeof k_variants / sizeof *k_variants; k++) model_round(&s, dir, k);
    lr_test_rmdir(dir);
    CHECK_OOM_STEPS(s);
}

/* ---- the encoder ----------------------------------------------------------------------------- */

#define ENC_N 5
static const char *const k_texts[ENC_N] = {
    "hello world 42", "<|x|>Cafe\xCC\x81 hello", "", "world hello world hello world 2424", "caf"};

typedef struct {
    const char *dir;
    lr_llm_encoder_options opt;
    const lr_llm_encoder *e; /* for encode */
    float want[ENC_N * C], got[ENC_N * C];
    size_t wrong;
} enc_ctx;

static enc_ctx *g_enc;

static void enc_check_free(void *p) {
    lr_err err = {0, ""};
    if (lr_llm_encode(p, (const char *const *)k_texts, ENC_N, g_enc->got, &err) ||
        memcmp(g_enc->got, g_enc->want, sizeof g_enc->got))
        g_enc->wrong++;
    lr_llm_encoder_free(p);
}

static int enc_open(void *ctx, void **out, lr_err *err) {
    enc_ctx *c = ctx;
    lr_llm_encoder *e = *out;
    int rc = lr_llm_encoder_open(c->dir, &c->opt, &e, err);
    *out = e;
    return rc;
}

static int enc_encode(void *ctx, void **out, lr_err *err) {
    enc_ctx *c = ctx;
    memset(c->got, 0, sizeof c->got);
    int rc = lr_llm_encode(c->e, (const char *const *)k_texts, ENC_N, c->got, err);
    if (!rc && memcmp(c->got, c->want, sizeof c->got)) c->wrong++;
    *out = rc ? NULL : &done_;
    return rc;
}

/* Texts in batches of two, cut at six tokens, over the byte-level tokenizer (a Llama-class
 * directory: BOS and EOS from tokenizer_config.json) and a bfloat16 model. */
static void enc_round(lr_oom_steps *s, const char *dir, lr_llm_weights mode, const char *what) {
    enc_ctx *c = calloc(1, sizeof *c);
    lr_llm_encoder *e = NULL;
    lr_err err = {0, ""};
    if (!c || s->failed) {
        s->failed = 1;
        goto done;
    }
    c->dir = dir;
    c->opt = lr_llm_encoder_options_default();
    c->opt.batch = 2;
    c->opt.max_tokens = 6;
    c->opt.model.weights = mode;
    int rc = lr_llm_encoder_open(dir, &c->opt, &e, &err);
    if (!rc) rc = lr_llm_encode(e, (const char *const *)k_texts, ENC_N, c->want, &err);
    if (rc) {
        s->failed = 1;
        snprintf(s->why, sizeof s->why, "%s: reference run: %s", what, err.msg);
        goto done;
    }
    c->e = e;
    char name[256];
    g_enc = c;
    snprintf(name, sizeof name, "lr_llm_encoder_open (%s)", what);
    g_step(s, name, enc_open, c, enc_check_free);
    snprintf(name, sizeof name, "lr_llm_encode (%s)", what);
    g_step(s, name, enc_encode, c, nothing_free);
    g_enc = NULL;
    if (!s->failed && c->wrong) {
        s->failed = 1;
        snprintf(s->why, sizeof s->why, "%s: %zu runs after failures computed other vectors "
                 "than the reference", what, c->wrong);
    }
done:
    lr_llm_encoder_free(e);
    free(c);
}

LR_TEST(encoder_open_and_encode_fail_cleanly_at_every_allocation) {
    char *dir = lr_test_tmpdir();
    lr_oom_steps s = {!dir, "no temporary directory"};
    lr_err err = {0, ""};
    fx_spec sp = fx_default();
    if (dir && (write_bytelevel(dir, "tokenizer.json") ||
                lr_test_write_file(dir, "tokenizer_config.json",
                                   "{\"tokenizer_class\":\"LlamaTokenizerFast\","
                                   "\"add_eos_token\":true}") ||
                write_model(dir, &sp, LR_DATA_ST_BF16, FX_ONE_FILE, NULL, &err))) {
        s.failed = 1;
        snprintf(s.why, sizeof s.why, "cannot write the model directory: %s", err.msg);
    }
    enc_round(&s, dir, LR_LLM_WEIGHTS_MAPPED, "BF16 model, mapped");
    enc_round(&s, dir, LR_LLM_WEIGHTS_F32, "BF16 model, widened to F32");
    lr_test_rmdir(dir);
    CHECK_OOM_STEPS(s);
}

/* ---- jansson --------------------------------------------------------------------------------- */

/* Every JSON file lr_llm reads (tokenizer.json, tokenizer_config.json, config.json, the shard
 * index) with jansson's allocations failing in turn: a blank jansson error is out of memory. */
LR_TEST(jansson_allocation_failures_fail_cleanly) {
    char *dir = lr_test_tmpdir();
    lr_oom_steps s = {!dir, "no temporary directory"};
    char file[4200] = "";
    lr_err err = {0, ""};
    fx_spec sp = fx_default();
    if (dir) {
        lr_test_path(file, sizeof file, dir, "tokenizer.json");
        if (write_bytelevel(dir, "tokenizer.json") ||
            lr_test_write_file(dir, "tokenizer_config.json",
                               "{\"tokenizer_class\":\"LlamaTokenizerFast\"}") ||
            write_model(dir, &sp, LR_DATA_ST_BF16, FX_SHARDS, NULL, &err)) {
            s.failed = 1;
            snprintf(s.why, sizeof s.why, "cannot write the model directory: %s", err.msg);
        }
    }
    json_set_alloc_funcs(json_malloc_hook, free);
    g_step = json_step;
    tok_round(&s, file, k_bl_text, "tokenizer.json", NULL, 0);
    tok_round(&s, dir, k_bl_text, "directory, Llama class", NULL, 0);
    model_round(&s, dir, 0);
    model_round(&s, dir, 3);
    enc_round(&s, dir, LR_LLM_WEIGHTS_MAPPED, "shards");
    g_step = lr_oom_step;
    json_set_alloc_funcs(__real_malloc, __real_free);
    lr_test_rmdir(dir);
    CHECK_OOM_STEPS(s);
}

LR_TEST_MAIN(LR_CASE(tokenizer_json_load_and_tokenize_fail_cleanly_at_every_allocation),
             LR_CASE(tokenizer_directory_load_and_tokenize_fail_cleanly_at_every_allocation),
             LR_CASE(sentencepiece_load_and_tokenize_fail_cleanly_at_every_allocation),
             LR_CASE(model_load_hidden_and_embed_fail_cleanly_at_every_allocation),
             LR_CASE(encoder_open_and_encode_fail_cleanly_at_every_allocation),
             LR_CASE(jansson_allocation_failures_fail_cleanly))
