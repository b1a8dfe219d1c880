/* learnrec content: content embeddings (CEX) — fit the built-in encoder, import an LLM's output,
 * encode new text, describe a file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "lr_data.h"
#include "lr_towers.h"

/* --dtype of fit and import: how the .npy stores the values. */
static const lr_cli_choice dtypes[] = {{"f32", LR_NPY_F32}, {"f16", LR_NPY_F16}, {NULL, 0}};

static int content_fit(int argc, char **argv) {
    static const lr_cli_choice projections[] = {{"random", LR_PROJ_RANDOM}, {"svd", LR_PROJ_SVD}, {NULL, 0}};
    const char *cmd = "content fit", *data = NULL, *out = NULL, *enc_out = NULL;
    lr_text_encoder_config cfg = lr_towers_text_encoder_config_default();
    lr_npy_dtype dtype = LR_NPY_F32;
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("data", &data, "DIR", "the dataset whose item texts to fit on"), .required = 1},
        {LR_OPT_STRING("out", &out, "content.npy", "every item's content embedding"), .required = 1},
        {LR_OPT_STRING("encoder-out", &enc_out, "encoder.bin", "the fitted encoder"), .required = 1},
        {LR_OPT_SIZE("dim", &cfg.dim, 1, 65536, "N", "content dimension")},
        {LR_OPT_CHOICE("projection", LR_CLI_ENUM(&cfg.projection), projections,
                       "random: sparse random projection; svd: learned")},
        {LR_OPT_SIZE("min-df", &cfg.min_df, 1, 1000000, "N", "drop features found in fewer than N items")},
        {LR_OPT_CHOICE("dtype", LR_CLI_ENUM(&dtype), dtypes, "how the .npy stores the values")},
    };
    const lr_cli_spec spec = {
        .cmd = cmd,
        .usage = "learnrec content fit --data DIR --out content.npy --encoder-out encoder.bin\n"
                 "                            [--dim N] [--projection random|svd] [--min-df N]\n"
                 "                            [--dtype f32|f16]",
        .description =
            "Fits the built-in text encoder on the dataset's item texts (TF-IDF over words,\n"
            "word bigrams and character 3-5-grams, projected to N dimensions), writes every\n"
            "item's content embedding (row i = item i) and saves the encoder, so that new\n"
            "items' text encodes later into the same space (learnrec content encode).",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;

    lr_err err = {0};
    lr_data *d = NULL;
    lr_text_encoder *enc = NULL;
    const char **texts = NULL;
    float *emb = NULL;
    int rc = LR_EXIT_ERROR;
    if (lr_data_load(data, &d, &err)) goto fail;
    size_t n = lr_data_num_items(d);
    texts = malloc(n * sizeof *texts);
    emb = malloc(n * cfg.dim * sizeof *emb);
    if (!texts || !emb) {
        lr_err_set(&err, LR_ENOMEM, "out of memory for %zu x %zu embeddings", n, cfg.dim);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) texts[i] = lr_data_item_text(d, i);
    double t0 = lr_cli_now();
    if (lr_towers_text_encoder_fit(&cfg, texts, n, &enc, &err)) goto fail;
    double t1 = lr_cli_now();
    if (lr_towers_text_encoder_encode(enc, texts, n, emb, &err)) goto fail;
    double t2 = lr_cli_now();
    if (lr_data_npy_write(out, emb, n, cfg.dim, dtype, &err) ||
        lr_towers_text_encoder_save(enc, enc_out, &err))
        goto fail;
    size_t missing = lr_data_get_stats(d).items_without_text;
    printf("fitted on %zu item texts: %zu features, dim %zu, %s projection, fit %.2f s\n", n,
           lr_towers_text_encoder_num_features(enc), cfg.dim,
           cfg.projection == LR_PROJ_SVD ? "learned (svd)" : "random", t1 - t0);
    printf("encoded %zu items in %.2f s (%.0f items/s)\n", n, t2 - t1,
           (double)n / (t2 - t1 > 0 ? t2 - t1 : 1e-9));
    if (missing) printf("note: %zu items have no text; their rows are zero\n", missing);
    printf("wrote %s and %s\n", out, enc_out);
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    lr_towers_text_encoder_free(enc);
    lr_data_free(d);
    free(texts);
    free(emb);
    return rc;
}

static int content_import(int argc, char **argv) {
    const char *cmd = "content import", *from = NULL, *data = NULL, *out = NULL;
    lr_npy_dtype dtype = LR_NPY_F32;
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("from", &from, "llm.npy", "the LLM's embeddings: .npy or .fvecs"), .required = 1},
        {LR_OPT_STRING("data", &data, "DIR", "the dataset they embed, row i = item i"), .required = 1},
        {LR_OPT_STRING("out", &out, "content.npy", "the checked, L2-normalised rows"), .required = 1},
        {LR_OPT_CHOICE("dtype", LR_CLI_ENUM(&dtype), dtypes, "how the .npy stores the values")},
    };
    const lr_cli_spec spec = {
        .cmd = cmd,
        .usage = "learnrec content import --from llm.npy --data DIR --out content.npy\n"
                 "                               [--dtype f32|f16]",
        .description =
            "Takes content embeddings written by any LLM (for example by\n"
            "tools/llm_export.py): a .npy of float32 or float16 in C order, or an .fvecs\n"
            "file, with row i for item i of the dataset. Checks the row count against the\n"
            "dataset and every value, L2-normalises the rows and writes them.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_err err = {0};
    lr_data *d = NULL;
    lr_content *ct = NULL;
    float *x = NULL;
    int rc = LR_EXIT_ERROR;
    if (lr_data_load(data, &d, &err)) goto fail;
    if (lr_data_matrix_open(from, lr_data_num_items(d), &ct, &err)) goto fail;
    size_t rows = lr_data_matrix_rows(ct), dim = lr_data_matrix_dim(ct), zero = 0;
    x = malloc(rows * dim * sizeof *x);
    if (!x) {
        lr_err_set(&err, LR_ENOMEM, "out of memory for %zu x %zu floats", rows, dim);
        goto fail;
    }
    memcpy(x, lr_data_matrix_data(ct), rows * dim * sizeof *x);
    lr_data_l2_normalize_rows(x, rows, dim);
    for (size_t i = 0; i < rows; i++) {
        size_t j = 0;
        while (j < dim && x[i * dim + j] == 0.0f) j++;
        zero += j == dim;
    }
    if (lr_data_npy_write(out, x, rows, dim, dtype, &err)) goto fail;
    printf("imported %s (%s): %zu rows x %zu, L2-normalised, wrote %s\n", from,
           lr_data_matrix_source(ct), rows, dim, out);
    if (zero) printf("note: %zu rows are all zero (items without text?)\n", zero);
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    lr_data_matrix_free(ct);
    lr_data_free(d);
    free(x);
    return rc;
}

static int content_encode(int argc, char **argv) {
    const char *cmd = "content encode", *encp = NULL, *llm = NULL, *out = NULL;
    lr_cli_strings list = {calloc((size_t)argc, sizeof(char *)), 0, (size_t)argc};
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("encoder", &encp, "encoder.bin", "the encoder content fit saved")},
        {LR_OPT_STRING("llm", &llm, "DIR", "or an LLM's model directory (as content llm)")},
        {LR_OPT_STRINGS("text", &list, "TEXT", "a text to encode; give it once per text")},
        {LR_OPT_STRING("out", &out, "one.npy", "write the vectors there instead")},
    };
    const lr_cli_spec spec = {
        .cmd = cmd,
        .usage = "learnrec content encode (--encoder encoder.bin | --llm DIR) --text \"...\"\n"
                 "                               [--text ...] [--out one.npy]",
        .description =
            "Encodes new text with a fitted encoder, or with the LLM whose output the\n"
            "catalogue's content came from, into the same space as the catalogue: the\n"
            "cold-start path for a new item. One --text gives a 1-d .npy, several a\n"
            "2-d one; without --out the vectors are printed as JSON arrays, one per line.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    if (!list.v) return LR_EXIT_ERROR;
    int p = lr_cli_parse(&spec, argc, argv);
    if (p == LR_CLI_RUN && (!encp == !llm || list.n == 0))
        p = lr_cli_usage_error(cmd, "one of --encoder and --llm, and at least one --text, are required");
    if (p != LR_CLI_RUN) {
        free(list.v);
        return p;
    }
    const char **texts = list.v;
    size_t n = list.n;
    lr_err err = {0};
    lr_text_encoder *enc = NULL;
    float *v = NULL;
    int rc = LR_EXIT_ERROR;
    size_t dim = 0;
    if (llm) {
        if (lr_cli_llm_encode(llm, texts, n, &v, &dim, &err)) goto fail;
    } else {
        if (lr_towers_text_encoder_load(encp, &enc, &err)) goto fail;
        dim = lr_towers_text_encoder_dim(enc);
        v = malloc(n * dim * sizeof *v);
        if (!v) {
            lr_err_set(&err, LR_ENOMEM, "out of memory");
            goto fail;
        }
        if (lr_towers_text_encoder_encode(enc, texts, n, v, &err)) goto fail;
    }
    if (out) {
        /* one text: a 1-d array of dim values; several: (n, dim) */
        if (lr_data_npy_write(out, v, n == 1 ? dim : n, n == 1 ? 0 : dim, LR_NPY_F32, &err))
            goto fail;
    } else {
        for (size_t r = 0; r < n; r++) {
            for (size_t j = 0; j < dim; j++) printf("%s%.7g", j ? ", " : "[", (double)v[r * dim + j]);
            printf("]\n");
        }
    }
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    lr_towers_text_encoder_free(enc);
    free(v);
    free(texts);
    return rc;
}

static int content_info(int argc, char **argv) {
    const char *cmd = "content info", *path = NULL;
    const lr_cli_spec spec = {
        .cmd = cmd, .usage = "learnrec content info FILE",
        .description =
            "Describes a content matrix (.npy or .fvecs: rows, dimension, storage, row norms)\n"
            "or a saved text encoder (features, dimension, projection).",
        .positional = "FILE", .positional_dest = &path};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_err err = {0};
    lr_text_encoder *enc = NULL;
    if (lr_towers_text_encoder_load(path, &enc, &err) == LR_OK) {
        lr_text_encoder_config c = lr_towers_text_encoder_get_config(enc);
        printf("file: %s\nkind: text encoder\nfeatures: %zu\ndim: %zu\nprojection: %s\n"
               "char n-grams: %zu-%zu\nmin_df: %zu\n", path,
               lr_towers_text_encoder_num_features(enc), c.dim,
               c.projection == LR_PROJ_SVD ? "learned (svd)" : "random", c.char_ngram_min,
               c.char_ngram_max, c.min_df);
        lr_towers_text_encoder_free(enc);
        return LR_EXIT_OK;
    }
    lr_content *ct = NULL;
    lr_err err2 = {0};
    if (lr_data_matrix_open(path, 0, &ct, &err2)) {
        /* Neither kind: report the content reader's complaint unless the file is an encoder. */
        return lr_cli_fail(cmd, err.code == LR_EFORMAT && strstr(err.msg, "magic") ? &err2 : &err);
    }
    size_t rows = lr_data_matrix_rows(ct), dim = lr_data_matrix_dim(ct), zero = 0;
    const float *x = lr_data_matrix_data(ct);
    double mn = INFINITY, mx = 0, sum = 0;
    for (size_t i = 0; i < rows; i++) {
        double s = 0;
        for (size_t j = 0; j < dim; j++) s += (double)x[i * dim + j] * x[i * dim + j];
        double norm = sqrt(s);
        zero += norm == 0;
        mn = norm < mn ? norm : mn;
        mx = norm > mx ? norm : mx;
        sum += norm;
    }
    printf("file: %s\nkind: content matrix\nstorage: %s\nrows: %zu\ndim: %zu\n", path,
           lr_data_matrix_source(ct), rows, dim);
    printf("row norm: min %.4f, mean %.4f, max %.4f\nzero rows: %zu\n", mn, sum / (double)rows, mx,
           zero);
    lr_data_matrix_free(ct);
    return LR_EXIT_OK;
}

int lr_cmd_content(int argc, char **argv) {
    static const lr_cli_command cmds[] = {
        {"fit", content_fit, "fit the built-in text encoder and embed every item"},
        {"import", content_import, "take an LLM's embeddings (.npy / .fvecs) for a dataset"},
        {"llm", lr_cmd_content_llm, "encode a catalogue with an LLM (Hugging Face model directory)"},
        {"tokenize", lr_cmd_content_tokenize, "token ids of texts, as an LLM's tokenizer makes them"},
        {"encode", content_encode, "encode new text with a fitted encoder or an LLM (cold start)"},
        {"info", content_info, "describe a content matrix or an encoder file"},
    };
    return lr_cli_dispatch(cmds, sizeof cmds / sizeof cmds[0], "learnrec content <command> [options]",
                           argc - 1, argv + 1);
}
