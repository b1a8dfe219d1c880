/* tokenizer.json files for tests/llm (test_tokenizer.c, test_oom.c): a BPE tokenizer written from
 * a vocabulary (id = index), merges and the pipeline's parts as JSON text, and the pieces the tests
 * share (a Llama-2 style byte vocabulary, Metaspace, added-token entries). */
#ifndef LR_TEST_LLM_TOK_FIXTURE_H
#define LR_TEST_LLM_TOK_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lr_test.h"

/* The parts of a tokenizer.json that change from test to test; NULL means null / none. */
typedef struct {
    const char *added;  /* the body of the added_tokens list */
    const char *normalizer, *pretok, *post;
    const char *model;  /* extra BPE fields, each followed by a comma */
    const char *merges; /* the body of the merges list */
    const char *top;    /* extra top-level fields, each followed by a comma */
} spec;

/* Writes dir/name: a BPE tokenizer whose vocabulary is v[0..n) with id = index. */
static inline int write_tok(const char *dir, const char *name, const char *const *v, size_t n,
                     const spec *s) {
    size_t cap = 65536;
    char *buf = malloc(cap), *p = buf;
    if (!buf) return -1;
    p += snprintf(p, cap, "{\"version\":\"1.0\",%s\"added_tokens\":[%s],\"normalizer\":%s,"
                  "\"pre_tokenizer\":%s,\"post_processor\":%s,\"decoder\":null,"
                  "\"model\":{\"type\":\"BPE\",%s\"vocab\":{",
                  s->top ? s->top : "", s->added ? s->added : "",
                  s->normalizer ? s->normalizer : "null", s->pretok ? s->pretok : "null",
                  s->post ? s->post : "null", s->model ? s->model : "");
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - buf), "%s\"%s\":%zu", i ? "," : "", v[i], i);
    snprintf(p, cap - (size_t)(p - buf), "},\"merges\":[%s]}}", s->merges ? s->merges : "");
    int rc = lr_test_write_file(dir, name, buf);
    free(buf);
    return rc;
}

static inline int32_t vid(const char *const *v, size_t n, const char *tok) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], tok) == 0) return (int32_t)i;
    return -1000; /* a token the test forgot: no id equals it */
}

#define BYTELEVEL "{\"type\":\"ByteLevel\",\"add_prefix_space\":%s,\"trim_offsets\":true," \
                  "\"use_regex\":true}"

/* A Llama-2 style vocabulary: the 256 <0xNN> byte tokens (ids 0..255), then a few pieces. */
static inline const char **byte_vocab(size_t *n) {
    static const char *const extra[] = {"\xE2\x96\x81", "h", "i", "\xE2\x96\x81h",
                                        "\xE2\x96\x81hi"};
    const char **v = malloc((256 + 5) * sizeof *v);
    char *names = malloc(256 * 8);
    if (!v || !names) {
        free(v);
        free(names);
        return NULL;
    }
    for (int b = 0; b < 256; b++) {
        snprintf(names + 8 * b, 8, "<0x%02X>", b);
        v[b] = names + 8 * b;
    }
    for (int k = 0; k < 5; k++) v[256 + k] = extra[k];
    *n = 261;
    return v;
}

static inline void free_byte_vocab(const char **v) {
    if (v) free((void *)v[0]);
    free(v);
}

#define SP_MERGES "[\"\xE2\x96\x81\",\"h\"],[\"\xE2\x96\x81h\",\"i\"]"
#define METASPACE(scheme) "{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\"," \
                          "\"prepend_scheme\":\"" scheme "\",\"split\":true}"

#define ADDED(id, content, strip, norm, special)                                            \
    "{\"id\":" #id ",\"content\":\"" content "\",\"single_word\":false,\"lstrip\":" strip      \
    ",\"rstrip\":" strip ",\"normalized\":" norm ",\"special\":" special "}"

#endif
