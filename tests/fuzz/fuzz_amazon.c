/* The Amazon Reviews 2018 loader on arbitrary files, through lr_data_load on a directory: the
 * reviews (Cat_5.json.gz) and, when given, the meta file (meta_Cat.json.gz), JSON lines.
 *
 * Input: the files as sections (fuzz_sections.h), e.g.
 *     ==> Cat_5.json.gz <==
 *     {"reviewerID": "U1", "asin": "B01", "unixReviewTime": 1441324800, ...}
 *     ==> meta_Cat.json.gz <==
 *     {"asin": "B01", "title": "Gloves", "brand": "Walnov", "category": ["Lab", "Safety"], ...}
 * NAME is one of those two; others are ignored. A section is written as it is: zlib reads a
 * file without a gzip header as plain text, so seeds can be readable JSON lines, and a section
 * that is a gzip stream (seeds have one) is decompressed, which fuzzes the stream's checks too.
 *
 * Asserted: a refusal has a message, and a malformed file's names the file; a dataset that loads
 * is whole (fuzz_dataset.h) and survives lr_data_write_recbole and a reload unchanged; every
 * token, text and field is valid UTF-8 (the JSON parser's promise, which cutting a long title
 * must keep); texts and fields hold no control characters; a title is at most 1000 bytes; an
 * item's text is its fields as lr_data.h writes them ("Title: t. Brand: b. Category: c1 > c2"),
 * or it has neither text nor fields.
 * LR_FUZZ_VERBOSE=1 prints each refusal's message (why a seed does not load). */
#include "data_internal.h"
#include "fuzz_dataset.h"
#include "fuzz_sections.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"Cat_5.json.gz", "meta_Cat.json.gz", NULL};

/* Whether s is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static int utf8_ok(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        unsigned n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (n == 9 || (n == 1 && c < 0xC2)) return 0;
        unsigned cp = n ? c & (0x3F >> n) : c;
        for (unsigned k = 1; k <= n; k++) {
            if ((s[k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[k] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        s += n + 1;
    }
    return 1;
}

static int has_control(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F) return 1;
    return 0;
}

static void check_item(const lr_data *d, size_t i) {
    const char *text = lr_data_item_text(d, i), *f[LR_DATA_NUM_FIELDS];
    for (int k = 0; k < LR_DATA_NUM_FIELDS; k++) f[k] = lr_data_item_field(d, i, (lr_data_field)k);
    LR_FUZZ_REQUIRE(utf8_ok(lr_data_item_token(d, i)), "item %zu: the id is not UTF-8", i);
    LR_FUZZ_REQUIRE(!text || (utf8_ok(text) && !has_control(text)), "item %zu: text '%s'", i, text);
    for (int k = 0; k < LR_DATA_NUM_FIELDS; k++)
        LR_FUZZ_REQUIRE(!f[k] || (utf8_ok(f[k]) && !has_control(f[k])), "item %zu: field %d '%s'", i, k,
                        f[k]);
    LR_FUZZ_REQUIRE(!f[LR_FIELD_TITLE] || strlen(f[LR_FIELD_TITLE]) <= 1000, "item %zu: a title of %zu bytes",
                    i, strlen(f[LR_FIELD_TITLE]));
    if (!text) {
        LR_FUZZ_REQUIRE(!f[0] && !f[1] && !f[2], "item %zu: fields without a text", i);
        return;
    }
    char *want = lr_data_prompt_text(f[LR_FIELD_TITLE], f[LR_FIELD_BRAND], f[LR_FIELD_CATEGORY]);
    if (!want) abort();
    LR_FUZZ_REQUIRE(strcmp(want, text) == 0, "item %zu: text '%s', its fields make '%s'", i, text, want);
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char dir[256];
    lr_fuzz_path("amazon", dir, sizeof dir);
    mkdir(dir, 0700);
    if (lr_fuzz_write_sections(dir, names, data, size) <= 0) return 0;
    lr_data *d = NULL;
    lr_err err = {0, ""};
    int rc = lr_data_load(dir, &d, &err);
    if (rc) {
        if (getenv("LR_FUZZ_VERBOSE")) fprintf(stderr, "refused: %s\n", err.msg);
        lr_fuzz_check_refusal(rc, &err, "Cat");
        LR_FUZZ_REQUIRE(!d, "refused, but a dataset came out");
        return 0;
    }
    LR_FUZZ_REQUIRE(lr_data_get_format(d) == LR_DATA_AMAZON_RAW, "format %d", (int)lr_data_get_format(d));
    lr_fuzz_check_dataset(d);
    for (size_t i = 0; i < lr_data_num_items(d); i++) check_item(d, i);
    for (size_t u = 0; u < lr_data_num_users(d); u++)
        LR_FUZZ_REQUIRE(utf8_ok(lr_data_user_token(d, u)), "user %zu: the id is not UTF-8", u);
    lr_fuzz_check_round_trip(d);
    lr_data_free(d);
    return 0;
}
