/* The Amazon Reviews 2018 loader: {Category}_5.json.gz reviews and meta_{Category}.json.gz text.
 *
 * Both files are gzip'd JSON lines (McAuley lab format). Reviews give the items, the users and
 * each user's sequence; the meta file, when present, gives the item text. Everything is read
 * through zlib and parsed line by line with jansson, so memory holds one line at a time plus
 * 16 bytes per review until the sequences are built. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "data_internal.h"

#define READ_CHUNK (256u * 1024u) /* bytes per gzread: large enough to keep zlib busy */
#define TITLE_MAX 1000            /* some meta titles hold a whole product page */

/* ---- gzip'd lines of any length ---------------------------------------------------------- */

/* gzgets needs a fixed buffer and meta lines pass 1 MB, so lines are cut out of gzread chunks
 * into a buffer that grows to the longest line. */
typedef struct {
    gzFile gz;         /* NULL when closed, or when an optional file is missing */
    const char *name;  /* the file name that every message starts with */
    char *chunk;       /* READ_CHUNK bytes from gzread; [pos, len) not consumed yet */
    size_t pos, len;
    bool eof;          /* gzread has returned the end of a complete stream */
    char *line;        /* the current line, NUL-terminated, without "\n" or "\r\n" */
    size_t line_len, line_cap;
    size_t lineno;     /* 1-based number of the current line */
} line_reader;

/* Opens `path` for reading. A missing file is LR_ENOTFOUND, unless `optional`: then the call
 * succeeds and r->gz stays NULL. */
static int reader_open(line_reader *r, const char *path, const char *name, bool optional,
                       lr_err *err) {
    memset(r, 0, sizeof *r);
    r->name = name;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && optional) return LR_OK;
        int code = errno == ENOENT ? LR_ENOTFOUND : LR_EIO;
        return lr_err_set(err, code, "open(%s): %s", path, strerror(errno));
    }
    r->chunk = malloc(READ_CHUNK);
    if (!r->chunk) {
        close(fd);
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory for a read buffer", name);
    }
    r->gz = gzdopen(fd, "rb"); /* owns fd from here on, also when gzclose fails */
    if (!r->gz) {
        close(fd);
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory opening a gzip stream", name);
    }
    return LR_OK;
}

/* Appends n bytes to the current line. */
static int line_append(line_reader *r, const char *s, size_t n, lr_err *err) {
    if (r->line_len + n + 1 > r->line_cap) {
        size_t cap = r->line_cap ? r->line_cap : 4096;
        while (cap < r->line_len + n + 1) cap *= 2;
        char *p = realloc(r->line, cap);
        if (!p)
            return lr_err_set(err, LR_ENOMEM, "%s:%zu: out of memory for a line of %zu bytes",
                              r->name, r->lineno + 1, r->line_len + n);
        r->line = p;
        r->line_cap = cap;
    }
    memcpy(r->line + r->line_len, s, n);
    r->line_len += n;
    r->line[r->line_len] = '\0';
    return LR_OK;
}

/* zlib's message for the stream's last error, without the "<fd:3>: " that gzdopen puts in front
 * (our messages name the file already). */
static const char *gz_message(gzFile gz, int *errnum) {
    const char *msg = gzerror(gz, errnum);
    const char *colon = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
    return colon ? colon + 2 : msg;
}

/* Reads the next line into r->line. Returns 1 for a line, 0 at the end, or an error code.
 * A stream cut short is an error and not an end: a truncated download must not load as a
 * smaller dataset. The incomplete last line of such a stream is never handed out. */
static int reader_next(line_reader *r, lr_err *err) {
    r->line_len = 0;
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof) {
                if (r->line_len == 0) return 0;
                r->lineno++; /* a last line without "\n" */
                break;
            }
            int n = gzread(r->gz, r->chunk, READ_CHUNK);
            if (n < 0) {
                int errnum;
                const char *msg = gz_message(r->gz, &errnum);
                return lr_err_set(err, LR_EIO, "%s: read error after line %zu: %s", r->name,
                                  r->lineno, errnum == Z_ERRNO ? strerror(errno) : msg);
            }
            if (n == 0) {
                /* gzread reports a stream that ends early (Z_BUF_ERROR) as a plain end of
                 * file, so the error state is the only place that tells them apart. */
                int errnum;
                const char *msg = gz_message(r->gz, &errnum);
                if (errnum != Z_OK)
                    return lr_err_set(err, LR_EIO,
                                      "%s: the gzip stream ends early or is corrupt after line "
                                      "%zu (%s); download the file again",
                                      r->name, r->lineno, msg);
                r->eof = true;
                continue;
            }
            r->pos = 0;
            r->len = (size_t)n;
        }
        const char *start = r->chunk + r->pos;
        const char *nl = memchr(start, '\n', r->len - r->pos);
        size_t n = nl ? (size_t)(nl - start) : r->len - r->pos;
        int rc = line_append(r, start, n, err);
        if (rc) return rc;
        r->pos += n + (nl ? 1 : 0);
        if (nl) {
            r->lineno++;
            break;
        }
    }
    if (r->line_len && r->line[r->line_len - 1] == '\r') r->line[--r->line_len] = '\0';
    return 1;
}

/* Closes after a successful read, checking what gzclose reports. */
static int reader_finish(line_reader *r, lr_err *err) {
    if (!r->gz) return LR_OK;
    int rc = gzclose_r(r->gz);
    r->gz = NULL;
    if (rc != Z_OK)
        return lr_err_set(err, LR_EIO, "%s: closing the gzip stream failed (zlib error %d)",
                          r->name, rc);
    return LR_OK;
}

/* Releases everything; safe after reader_finish and after a failed reader_open. */
static void reader_free(line_reader *r) {
    if (r->gz) gzclose_r(r->gz);
    free(r->chunk);
    free(r->line);
    memset(r, 0, sizeof *r);
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v')
            return false;
    return true;
}

/* ---- JSON fields --------------------------------------------------------------------------- */

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown JSON value";
}

/* Parses the current line, which must hold one JSON object. *obj is a new reference. */
static int parse_object(const line_reader *r, json_t **obj, lr_err *err) {
    json_error_t jerr;
    /* Flags 0: no "\u0000" inside strings, so tokens stay valid C strings for the maps. */
    json_t *v = json_loadb(r->line, r->line_len, 0, &jerr);
    if (!v)
        return lr_err_set(err, LR_EFORMAT, "%s:%zu: invalid JSON at column %d: %s", r->name,
                          r->lineno, jerr.column, jerr.text);
    if (!json_is_object(v)) {
        int rc = lr_err_set(err, LR_EFORMAT, "%s:%zu: expected a JSON object, got %s", r->name,
                            r->lineno, json_kind(v));
        json_decref(v);
        return rc;
    }
    *obj = v;
    return LR_OK;
}

/* A required non-empty string field; *s points into obj. */
static int need_string(const line_reader *r, const json_t *obj, const char *key, const char **s,
                       size_t *len, lr_err *err) {
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return lr_err_set(err, LR_EFORMAT,
                          "%s:%zu: expected a JSON object with string \"%s\", got an object "
                          "without \"%s\"",
                          r->name, r->lineno, key, key);
    if (!json_is_string(v))
        return lr_err_set(err, LR_EFORMAT,
                          "%s:%zu: expected a JSON object with string \"%s\", got \"%s\" as %s",
                          r->name, r->lineno, key, key, json_kind(v));
    *s = json_string_value(v);
    *len = json_string_length(v);
    if (*len == 0)
        return lr_err_set(err, LR_EFORMAT,
                          "%s:%zu: expected a JSON object with string \"%s\", got an empty string",
                          r->name, r->lineno, key);
    return LR_OK;
}

/* Copies s[0, len) into dst (room for len + 1) without leading or trailing whitespace, control
 * characters turned into spaces (item text goes into tab-separated files), and cut to at most
 * `max` bytes (0: no limit) at a UTF-8 character boundary. Returns the length written. */
static size_t clean_into(char *dst, const char *s, size_t len, size_t max) {
    const char *ws = " \t\n\r\f\v";
    size_t a = 0, b = len;
    while (a < b && strchr(ws, s[a])) a++;
    while (b > a && strchr(ws, s[b - 1])) b--;
    if (max && b - a > max) {
        b = a + max;
        /* s[b] is the first byte cut off; when it continues a character, cut that one too. */
        while (b > a && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
        while (b > a && strchr(ws, s[b - 1])) b--;
    }
    size_t n = 0;
    for (size_t i = a; i < b; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[n++] = (c < 0x20 || c == 0x7F) ? ' ' : (char)c;
    }
    dst[n] = '\0';
    return n;
}

/* An optional string field, cleaned into a fresh buffer; *out stays NULL when the field is
 * missing or null. Another type is an error: it means the file is not what we think it is. */
static int opt_string(const line_reader *r, const json_t *obj, const char *key, size_t max,
                      char **out, lr_err *err) {
    *out = NULL;
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return LR_OK;
    if (!json_is_string(v))
        return lr_err_set(err, LR_EFORMAT, "%s:%zu: expected \"%s\" to be a string, got %s",
                          r->name, r->lineno, key, json_kind(v));
    size_t len = json_string_length(v);
    *out = malloc(len + 1);
    if (!*out)
        return lr_err_set(err, LR_ENOMEM, "%s:%zu: out of memory copying \"%s\"", r->name,
                          r->lineno, key);
    clean_into(*out, json_string_value(v), len, max);
    return LR_OK;
}

/* "category": ["A", "B"] becomes "A > B" in a fresh buffer (empty parts left out); *out stays
 * NULL when the field is missing or null. */
static int category_path(const line_reader *r, const json_t *obj, char **out, lr_err *err) {
    static const char sep[] = " > ";
    *out = NULL;
    const json_t *v = json_object_get(obj, "category");
    if (!v || json_is_null(v)) return LR_OK;
    if (!json_is_array(v))
        return lr_err_set(err, LR_EFORMAT,
                          "%s:%zu: expected \"category\" to be an array of strings, got %s",
                          r->name, r->lineno, json_kind(v));
    size_t cap = 1, n = json_array_size(v);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return lr_err_set(err, LR_EFORMAT,
                              "%s:%zu: expected \"category\" to be an array of strings, got %s "
                              "at position %zu",
                              r->name, r->lineno, json_kind(e), i);
        cap += json_string_length(e) + sizeof sep - 1;
    }
    char *p = malloc(cap);
    if (!p)
        return lr_err_set(err, LR_ENOMEM, "%s:%zu: out of memory joining \"category\"", r->name,
                          r->lineno);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        size_t at = k ? k + sizeof sep - 1 : 0;
        size_t m = clean_into(p + at, json_string_value(e), json_string_length(e), 0);
        if (!m) continue;
        if (k) memcpy(p + k, sep, sizeof sep - 1);
        k = at + m;
    }
    p[k] = '\0';
    *out = p;
    return LR_OK;
}

/* ---- reviews --------------------------------------------------------------------------------- */

/* One entry per review line in file order: 16 bytes each (Books, the largest category, has
 * 27M reviews, so this stays under half a gigabyte). */
typedef struct {
    int64_t *time;
    int32_t *user;
    int32_t *item;
    size_t n, cap;
} review_list;

static void review_list_free(review_list *rv) {
    free(rv->time);
    free(rv->user);
    free(rv->item);
    memset(rv, 0, sizeof *rv);
}

static int review_list_push(review_list *rv, int64_t time, int32_t user, int32_t item,
                            lr_err *err) {
    if (rv->n == rv->cap) {
        size_t cap = rv->cap ? rv->cap * 2 : 4096;
        /* Each array is replaced as soon as it has grown, so a failure leaves all three valid. */
        int64_t *t = realloc(rv->time, cap * sizeof *t);
        if (t) rv->time = t;
        int32_t *u = t ? realloc(rv->user, cap * sizeof *u) : NULL;
        if (u) rv->user = u;
        int32_t *i = u ? realloc(rv->item, cap * sizeof *i) : NULL;
        if (!i) return lr_err_set(err, LR_ENOMEM, "out of memory for %zu reviews", cap);
        rv->item = i;
        rv->cap = cap;
    }
    rv->time[rv->n] = time;
    rv->user[rv->n] = user;
    rv->item[rv->n] = item;
    rv->n++;
    return LR_OK;
}

static int review_line(lr_data_builder *b, const line_reader *r, review_list *rv, lr_err *err) {
    json_t *obj = NULL;
    int rc = parse_object(r, &obj, err);
    if (rc) goto done;
    const char *user, *asin;
    size_t user_len, asin_len;
    rc = need_string(r, obj, "reviewerID", &user, &user_len, err);
    if (rc) goto done;
    rc = need_string(r, obj, "asin", &asin, &asin_len, err);
    if (rc) goto done;
    const json_t *t = json_object_get(obj, "unixReviewTime");
    if (!t) {
        rc = lr_err_set(err, LR_EFORMAT,
                        "%s:%zu: expected a JSON object with integer \"unixReviewTime\", got an "
                        "object without \"unixReviewTime\"",
                        r->name, r->lineno);
        goto done;
    }
    if (!json_is_integer(t)) {
        rc = lr_err_set(err, LR_EFORMAT,
                        "%s:%zu: expected a JSON object with integer \"unixReviewTime\", got "
                        "\"unixReviewTime\" as %s",
                        r->name, r->lineno, json_kind(t));
        goto done;
    }
    int64_t u, i;
    rc = lr_data_builder_user(b, user, user_len, &u, err);
    if (rc) goto done;
    rc = lr_data_builder_item(b, asin, asin_len, &i, err);
    if (rc) goto done;
    if (u > INT32_MAX || i > INT32_MAX) {
        rc = lr_err_set(err, LR_ERANGE, "%s:%zu: more than %d %s", r->name, r->lineno, INT32_MAX,
                        u > INT32_MAX ? "users" : "items");
        goto done;
    }
    rc = review_list_push(rv, (int64_t)json_integer_value(t), (int32_t)u, (int32_t)i, err);
done:
    json_decref(obj);
    return rc;
}

static int read_reviews(lr_data_builder *b, const char *path, const char *name, review_list *rv,
                        lr_err *err) {
    line_reader r;
    int rc = reader_open(&r, path, name, false, err);
    if (rc) goto done;
    for (;;) {
        rc = reader_next(&r, err);
        if (rc < 0) goto done;
        if (rc == 0) break;
        if (blank(r.line, r.line_len)) continue;
        rc = review_line(b, &r, rv, err);
        if (rc) goto done;
    }
    rc = reader_finish(&r, err);
    if (rc) goto done;
    if (rv->n == 0)
        rc = lr_err_set(err, LR_EFORMAT, "%s: no reviews (expected one JSON object per line)",
                        name);
done:
    reader_free(&r);
    return rc;
}

/* ---- meta ------------------------------------------------------------------------------------ */

static int meta_line(lr_data_builder *b, const line_reader *r, unsigned char *seen, lr_err *err) {
    json_t *obj = NULL;
    char *title = NULL, *brand = NULL, *category = NULL, *text = NULL;
    int rc = parse_object(r, &obj, err);
    if (rc) goto done;
    const char *asin;
    size_t asin_len;
    rc = need_string(r, obj, "asin", &asin, &asin_len, err);
    if (rc) goto done;
    int64_t item = lr_data_strmap_find(&b->d->item_index, &b->d->item_tokens, asin, asin_len);
    /* Meta files cover every product of the category, most never reviewed in the 5-core, and
     * repeat some asins: the first line of a reviewed item wins, the rest are skipped. */
    if (item < 0 || seen[item]) goto done;
    seen[item] = 1;
    rc = opt_string(r, obj, "title", TITLE_MAX, &title, err);
    if (rc) goto done;
    rc = opt_string(r, obj, "brand", 0, &brand, err);
    if (rc) goto done;
    rc = category_path(r, obj, &category, err);
    if (rc) goto done;
    text = lr_data_prompt_text(title, brand, category);
    if (!text) {
        rc = lr_err_set(err, LR_ENOMEM, "%s:%zu: out of memory building item text", r->name,
                        r->lineno);
        goto done;
    }
    /* A meta line with no title, brand or category gives no text: NULL, as with no meta. */
    if (text[0]) rc = lr_data_builder_item_text(b, (size_t)item, text, strlen(text), err);
    if (!rc) rc = lr_data_builder_item_fields(b, (size_t)item, title, brand, category, err);
done:
    json_decref(obj);
    free(title);
    free(brand);
    free(category);
    free(text);
    return rc;
}

/* Reads item text from the meta file; a missing meta file leaves every item without text. */
static int read_meta(lr_data_builder *b, const char *path, const char *name, lr_err *err) {
    unsigned char *seen = NULL;
    line_reader r;
    int rc = reader_open(&r, path, name, true, err);
    if (rc || !r.gz) goto done;
    seen = calloc(lr_data_num_items(b->d) + 1, 1);
    if (!seen) {
        rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory for %zu items", name,
                        lr_data_num_items(b->d));
        goto done;
    }
    for (;;) {
        rc = reader_next(&r, err);
        if (rc < 0) goto done;
        if (rc == 0) break;
        if (blank(r.line, r.line_len)) continue;
        rc = meta_line(b, &r, seen, err);
        if (rc) goto done;
    }
    rc = reader_finish(&r, err);
done:
    reader_free(&r);
    free(seen);
    return rc;
}

/* ---- sequences ------------------------------------------------------------------------------- */

typedef struct {
    int64_t time;
    int32_t item;
} event;

/* Stable merge sort by time (ties keep their order): qsort is not stable, and qsort_r, which
 * could break ties on the file position, is not C11. tmp: room for n / 2 events. */
static void sort_events(event *a, event *tmp, size_t n) {
    if (n <= 16) { /* most 5-core sequences are this short */
        for (size_t i = 1; i < n; i++) {
            event x = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1].time > x.time) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
        return;
    }
    size_t h = n / 2;
    sort_events(a, tmp, h);
    sort_events(a + h, tmp, n - h);
    if (a[h - 1].time <= a[h].time) return;
    memcpy(tmp, a, h * sizeof *a);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) a[k++] = tmp[i].time <= a[j].time ? tmp[i++] : a[j++];
    while (i < h) a[k++] = tmp[i++];
}

/* Groups the reviews by user (a counting sort keeps file order inside each user), sorts each
 * group by time and appends the sequences in user order.
 * A user who reviewed the same asin twice keeps both events: the 5-core files hold them as
 * separate reviews, and dropping one would have to pick which time is the real one. */
static int build_sequences(lr_data_builder *b, const review_list *rv, lr_err *err) {
    size_t n_users = lr_data_num_users(b->d);
    size_t *end = calloc(n_users + 1, sizeof *end);
    event *ev = malloc(rv->n * sizeof *ev);
    event *tmp = NULL;
    int32_t *items = NULL;
    int rc = LR_OK;
    if (!end || !ev) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory sorting %zu reviews", rv->n);
        goto done;
    }
    for (size_t i = 0; i < rv->n; i++) end[(size_t)rv->user[i] + 1]++;
    size_t longest = 0;
    for (size_t u = 0; u < n_users; u++) {
        if (end[u + 1] > longest) longest = end[u + 1];
        end[u + 1] += end[u];
    }
    /* end[u] is the start of user u; placing advances it to the start of user u + 1. */
    for (size_t i = 0; i < rv->n; i++) {
        size_t at = end[rv->user[i]]++;
        ev[at].time = rv->time[i];
        ev[at].item = rv->item[i];
    }
    tmp = malloc((longest / 2 + 1) * sizeof *tmp);
    items = malloc((longest + 1) * sizeof *items);
    if (!tmp || !items) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory for a sequence of %zu reviews", longest);
        goto done;
    }
    for (size_t u = 0; u < n_users; u++) {
        size_t start = u ? end[u - 1] : 0, n = end[u] - start;
        sort_events(ev + start, tmp, n);
        for (size_t k = 0; k < n; k++) items[k] = ev[start + k].item;
        rc = lr_data_builder_sequence(b, items, n, err);
        if (rc) goto done;
    }
done:
    free(end);
    free(ev);
    free(tmp);
    free(items);
    return rc;
}

/* ---- public ---------------------------------------------------------------------------------- */

/* a, b and c end to end, in a fresh buffer (NULL when out of memory). */
static char *join3(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *p = malloc(la + lb + lc + 1);
    if (p) memcpy(p, a, la), memcpy(p + la, b, lb), memcpy(p + la + lb, c, lc + 1);
    return p;
}

int lr_data_load_amazon(const char *dir, const char *category, lr_data **out, lr_err *err) {
    lr_data_builder b = {0};
    review_list rv = {0};
    char *reviews_name = NULL, *meta_name = NULL, *reviews_path = NULL, *meta_path = NULL;
    int rc;
    if (out) *out = NULL;
    if (!dir || !category || !category[0] || !out) {
        rc = lr_err_set(err, LR_EINVAL, "lr_data_load_amazon needs a directory, a category "
                                        "and an output pointer");
        goto done;
    }
    rc = lr_data_builder_init(&b, LR_DATA_AMAZON_RAW, err);
    if (rc) goto done;
    reviews_name = join3("", category, "_5.json.gz");
    meta_name = join3("meta_", category, ".json.gz");
    reviews_path = reviews_name ? lr_data_path_join(dir, reviews_name) : NULL;
    meta_path = meta_name ? lr_data_path_join(dir, meta_name) : NULL;
    if (!reviews_path || !meta_path) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory for the file names of %s", category);
        goto done;
    }
    rc = read_reviews(&b, reviews_path, reviews_name, &rv, err);
    if (rc) goto done;
    rc = read_meta(&b, meta_path, meta_name, err);
    if (rc) goto done;
    rc = build_sequences(&b, &rv, err);
    if (rc) goto done;
    rc = lr_data_builder_finish(&b, out, err);
done:
    lr_data_builder_discard(&b); /* a no-op once finish has handed the dataset over */
    review_list_free(&rv);
    free(reviews_name);
    free(meta_name);
    free(reviews_path);
    free(meta_path);
    return rc;
}
