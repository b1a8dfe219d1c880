/* learnrec content llm / tokenize, and content encode --llm: the in-engine LLM (towers/llm) from
 * the command line. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "journal.h"
#include "lr_data.h"
#include "lr_llm.h"
#include "texts.h"

static const lr_cli_choice weight_modes[] = {
    {"mapped", LR_LLM_WEIGHTS_MAPPED}, {"f32", LR_LLM_WEIGHTS_F32}, {NULL, 0}};

/* ---- the job's fingerprint: what must be equal for a partial output to be continued ---------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

/* The model directory's files by name, size and modification time (not their gigabytes). */
static uint64_t fingerprint_dir(uint64_t h, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return h;
    struct dirent *e;
    uint64_t sum = 0; /* order-free: readdir's order is not stable */
    while ((e = readdir(d))) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        uint64_t f = fnv(1469598103934665603ull, e->d_name, strlen(e->d_name));
        f = fnv(f, &st.st_size, sizeof st.st_size);
        f = fnv(f, &st.st_mtim, sizeof st.st_mtim);
        sum += f;
    }
    closedir(d);
    return fnv(h, &sum, sizeof sum);
}

static uint64_t fingerprint(const char *model, const char *const *texts, size_t n, size_t max_tokens,
                            const char *tmpl) {
    uint64_t h = fingerprint_dir(1469598103934665603ull, model);
    h = fnv(h, &max_tokens, sizeof max_tokens);
    h = fnv(h, tmpl ? tmpl : "", tmpl ? strlen(tmpl) + 1 : 1);
    for (size_t i = 0; i < n; i++) h = fnv(h, texts[i] ? texts[i] : "", texts[i] ? strlen(texts[i]) + 1 : 1);
    return h;
}

/* ---- prompts ----------------------------------------------------------------------------------- */

/* A template's placeholders: {text} and {id}, and the dataset's fields by name. */
enum { PH_TEXT = LR_DATA_NUM_FIELDS, PH_ID, PH_COUNT };

static int placeholder(const char *p, size_t *len) {
    for (int f = 0; f < PH_COUNT; f++) {
        const char *name = f == PH_TEXT ? "text" : f == PH_ID ? "id" : lr_data_field_name((lr_data_field)f);
        size_t n = strlen(name);
        if (p[0] == '{' && !strncmp(p + 1, name, n) && p[n + 1] == '}') {
            *len = n + 2;
            return f;
        }
    }
    return -1;
}

/* The template with each placeholder replaced by values[placeholder] (NULL: empty). */
static char *render(const char *tmpl, const char *const values[PH_COUNT]) {
    size_t need = 1, len;
    for (const char *p = tmpl; *p;) {
        int f = placeholder(p, &len);
        if (f >= 0) need += values[f] ? strlen(values[f]) : 0, p += len;
        else need++, p++;
    }
    char *out = malloc(need), *o = out;
    if (!out) return NULL;
    for (const char *p = tmpl; *p;) {
        int f = placeholder(p, &len);
        if (f < 0) {
            *o++ = *p++;
            continue;
        }
        size_t n = values[f] ? strlen(values[f]) : 0;
        memcpy(o, values[f] ? values[f] : "", n);
        o += n;
        p += len;
    }
    *o = '\0';
    return out;
}

static char *render_item(const char *tmpl, const lr_data *d, size_t item) {
    const char *values[PH_COUNT];
    for (int f = 0; f < LR_DATA_NUM_FIELDS; f++) values[f] = lr_data_item_field(d, item, (lr_data_field)f);
    values[PH_TEXT] = lr_data_item_text(d, item);
    values[PH_ID] = lr_data_item_token(d, item);
    return render(tmpl, values);
}

/* Every item's prompt: its text (the dataset's LEARN prompt) or the template filled in. */
static int dataset_prompts(const char *data, const char *tmpl, lr_cli_texts *t, lr_err *err) {
    lr_data *d = NULL;
    *t = (lr_cli_texts){0};
    int rc = lr_data_load(data, &d, err);
    if (rc) return rc;
    size_t n = lr_data_num_items(d);
    t->v = calloc(n ? n : 1, sizeof *t->v);
    t->len = calloc(n ? n : 1, sizeof *t->len);
    rc = t->v && t->len ? LR_OK : lr_err_set(err, LR_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++, t->n++) {
        const char *text = lr_data_item_text(d, i);
        t->v[i] = tmpl ? render_item(tmpl, d, i) : strdup(text ? text : "");
        if (!t->v[i]) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
        else t->len[i] = strlen(t->v[i]);
    }
    lr_data_free(d);
    if (rc) lr_cli_texts_free(t);
    return rc;
}

/* ---- content llm ------------------------------------------------------------------------------- */

typedef struct {
    const char *model, *data, *texts, *out, *tmpl;
    lr_npy_dtype dtype;
    size_t threads;
    lr_llm_encoder_options eo;
} llm_opts;

static int llm_args(int argc, char **argv, llm_opts *o) {
    static const lr_cli_choice dtypes[] = {{"f32", LR_NPY_F32}, {"f16", LR_NPY_F16}, {NULL, 0}};
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("model", &o->model, "DIR", "a Hugging Face model directory"), .required = 1},
        {LR_OPT_STRING("data", &o->data, "DIR", "encode this dataset's items (row i = item i)")},
        {LR_OPT_STRING("texts", &o->texts, "FILE", "or these texts: a .json array of strings,\n"
                                                   "else one text per line (row i = text i)")},
        {LR_OPT_STRING("out", &o->out, "content.npy", "the pooled, L2-normalised embeddings"),
         .required = 1},
        {LR_OPT_STRING("template", &o->tmpl, "STR",
                       "the prompt: {title}, {brand}, {category}, {text}, {id}\n"
                       "filled in (an absent field: empty); default: the\n"
                       "item's text, which is LEARN's \"Title: {title}. Brand:\n"
                       "{brand}. Category: {category}\" without absent parts\n"
                       "where the dataset has fields"), .dflt = ""},
        {LR_OPT_SIZE("batch", &o->eo.batch, 1, 4096, "N", "texts per forward pass")},
        {LR_OPT_SIZE("max-tokens", &o->eo.max_tokens, 1, 1 << 20, "N", "cut each text after N tokens")},
        {LR_OPT_CHOICE("dtype", LR_CLI_ENUM(&o->dtype), dtypes, "how the .npy stores the values")},
        {LR_OPT_CHOICE("weights", LR_CLI_ENUM(&o->eo.model.weights), weight_modes,
                       "mapped: widened to float32 layer by layer; f32: all at load")},
        {LR_OPT_SIZE("threads", &o->threads, 1, 1024, "N", "cores to use (default: all)"), .dflt = ""},
    };
    const lr_cli_spec spec = {
        .cmd = "content llm",
        .usage = "learnrec content llm --model DIR (--data DIR | --texts FILE) --out content.npy\n"
                 "                            [--batch N] [--max-tokens N] [--dtype f32|f16]\n"
                 "                            [--template STR] [--weights mapped|f32] [--threads N]",
        .description =
            "Encodes a catalogue with an LLM inside learnrec, as LEARN's content extractor:\n"
            "the last hidden states after the final norm, averaged over the text's tokens and\n"
            "L2-normalised. DIR holds config.json, model.safetensors (or its shards) and\n"
            "tokenizer.json or tokenizer.model. An interrupted run leaves OUT.partial; the\n"
            "same command again continues it. OUT appears only when every row is made.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p == LR_CLI_RUN && !o->data == !o->texts)
        p = lr_cli_usage_error(spec.cmd, "give exactly one of --data and --texts");
    return p;
}

/* A bar redrawn in place on a terminal; a line per tenth of the job otherwise. */
static void progress(size_t done, size_t total, size_t start, double t0, int tty, size_t *shown) {
    double dt = lr_cli_now() - t0, rate = dt > 0 ? (double)(done - start) / dt : 0;
    char eta[32];
    lr_cli_fmt_duration(rate > 0 ? (double)(total - done) / rate : 0, eta, sizeof eta);
    size_t tenth = total ? done * 10 / total : 10;
    if (!tty && tenth == *shown) return;
    *shown = tenth;
    int width = 30, fill = (int)(total ? done * (size_t)width / total : (size_t)width);
    fprintf(stderr, "%s[%.*s%.*s] %zu/%zu items  %.1f items/s  ETA %s%s", tty ? "\r\033[K" : "",
            fill, "##############################", width - fill, "..............................",
            done, total, rate, eta, tty ? "" : "\n");
}

static int llm_run(const llm_opts *o, const lr_cli_texts *t, lr_err *err) {
    lr_llm_encoder *e = NULL;
    lr_cli_journal j = {.fd = -1};
    float *buf = NULL;
    int rc = lr_llm_encoder_open(o->model, &o->eo, &e, err);
    if (rc) return rc;
    size_t dim = lr_llm_encoder_dim(e), n = t->n, b = o->eo.batch;
    uint64_t job = fingerprint(o->model, (const char *const *)t->v, n, lr_llm_encoder_max_tokens(e), o->tmpl);
    if (!(rc = lr_cli_journal_open(o->out, job, n, dim, &j, err)) && j.rows_done)
        fprintf(stderr, "content llm: continuing %s: %zu of %zu rows were made\n", j.path, j.rows_done, n);
    if (!rc && !(buf = malloc(b * dim * sizeof *buf))) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
    double t0 = lr_cli_now();
    size_t start = j.rows_done, shown = (size_t)-1;
    int tty = isatty(2);
    for (size_t s = j.rows_done; !rc && s < n; s += b) {
        size_t m = n - s < b ? n - s : b;
        rc = lr_llm_encode(e, (const char *const *)t->v + s, m, buf, err);
        if (!rc) rc = lr_cli_journal_append(&j, buf, m, err);
        if (!rc) progress(s + m, n, start, t0, tty, &shown);
    }
    if (tty && !rc) fprintf(stderr, "\n");
    if (!rc) rc = lr_cli_journal_finish(&j, o->out, o->dtype, err);
    if (!rc) {
        double dt = lr_cli_now() - t0;
        printf("encoded %zu texts with %s (dim %zu) in %.1f s (%.1f texts/s); wrote %s\n",
               n - start, lr_llm_model_get_info(lr_llm_encoder_model(e)).architecture, dim, dt,
               dt > 0 ? (double)(n - start) / dt : 0, o->out);
    }
    lr_cli_journal_close(&j);
    lr_llm_encoder_free(e);
    free(buf);
    return rc;
}

int lr_cmd_content_llm(int argc, char **argv) {
    llm_opts o = {.dtype = LR_NPY_F32, .eo = lr_llm_encoder_options_default()};
    int p = llm_args(argc, argv, &o);
    if (p != LR_CLI_RUN) return p;
    lr_cli_set_threads(o.threads, o.threads);
    lr_err err = {0};
    lr_cli_texts t = {0};
    int rc = o.data ? dataset_prompts(o.data, o.tmpl, &t, &err) : lr_cli_texts_read(o.texts, &t, &err);
    if (!rc && o.texts && o.tmpl)
        for (size_t i = 0; !rc && i < t.n; i++) {
            char id[32], *s;
            snprintf(id, sizeof id, "%zu", i);
            const char *values[PH_COUNT] = {[PH_TEXT] = t.v[i], [PH_ID] = id};
            if (!(s = render(o.tmpl, values))) rc = lr_err_set(&err, LR_ENOMEM, "out of memory");
            else free(t.v[i]), t.v[i] = s, t.len[i] = strlen(s);
        }
    if (!rc) rc = llm_run(&o, &t, &err);
    lr_cli_texts_free(&t);
    return rc ? lr_cli_fail("content llm", &err) : LR_EXIT_OK;
}

/* ---- content tokenize -------------------------------------------------------------------------- */

static json_t *ids_json(const int32_t *ids, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(ids[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static int tokenize_all(const lr_llm_tokenizer *tok, const lr_cli_texts *t, json_t *all, size_t *total,
                        lr_err *err) {
    for (size_t i = 0; i < t->n; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = lr_llm_tokenize(tok, t->v[i], t->len[i], &ids, &n, err);
        if (rc) {
            lr_err inner = *err;
            return lr_err_set(err, rc, "text %zu: %s", i, inner.msg);
        }
        json_t *row = ids_json(ids, n);
        free(ids);
        if (!row || json_array_append_new(all, row)) return lr_err_set(err, LR_ENOMEM, "out of memory");
        *total += n;
    }
    return LR_OK;
}

int lr_cmd_content_tokenize(int argc, char **argv) {
    const char *cmd = "content tokenize", *model = NULL, *texts = NULL, *jp = NULL;
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("model", &model, "DIR", "a model directory, a folder with only a tokenizer,\n"
                                               "or a tokenizer.json / tokenizer.model file"), .required = 1},
        {LR_OPT_STRING("texts", &texts, "FILE", "a .json array of strings, else one text per line"),
         .required = 1},
        {LR_OPT_STRING("json", &jp, "F", "write the ids there: a list of lists (default: stdout)")},
    };
    const lr_cli_spec spec = {
        .cmd = cmd,
        .usage = "learnrec content tokenize --model DIR --texts FILE [--json F]",
        .description = "Token ids of each text as the model's tokenizer makes them, BOS/EOS included\n"
                       "as its files say: one list per text, in order.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_err err = {0};
    lr_llm_tokenizer *tok = NULL;
    lr_cli_texts t = {0};
    json_t *all = json_array();
    size_t total = 0;
    int rc = all ? LR_OK : lr_err_set(&err, LR_ENOMEM, "out of memory");
    if (!rc) rc = lr_llm_tokenizer_load(model, &tok, &err);
    if (!rc) rc = lr_cli_texts_read(texts, &t, &err);
    if (!rc) rc = tokenize_all(tok, &t, all, &total, &err);
    if (!rc && jp && json_dump_file(all, jp, JSON_COMPACT))
        rc = lr_err_set(&err, LR_EIO, "%s: cannot write the ids", jp);
    if (!rc && !jp) {
        json_dumpf(all, stdout, JSON_COMPACT);
        printf("\n");
    }
    if (!rc && jp) printf("tokenized %zu texts: %zu tokens; wrote %s\n", t.n, total, jp);
    json_decref(all);
    lr_cli_texts_free(&t);
    lr_llm_tokenizer_free(tok);
    return rc ? lr_cli_fail(cmd, &err) : LR_EXIT_OK;
}

/* ---- content encode --llm ---------------------------------------------------------------------- */

int lr_cli_llm_encode(const char *dir, const char *const *texts, size_t n, float **out, size_t *dim,
                      lr_err *err) {
    lr_llm_encoder *e = NULL;
    *out = NULL;
    int rc = lr_llm_encoder_open(dir, NULL, &e, err);
    if (rc) return rc;
    *dim = lr_llm_encoder_dim(e);
    if (!(*out = malloc(n * *dim * sizeof **out))) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
    if (!rc) rc = lr_llm_encode(e, texts, n, *out, err);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    lr_llm_encoder_free(e);
    return rc;
}
