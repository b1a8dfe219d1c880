/* The lr_data type: its builder, getters and statistics. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

int lr_data_builder_init(lr_data_builder *b, lr_data_format format, lr_err *err) {
    memset(b, 0, sizeof *b);
    b->d = calloc(1, sizeof *b->d);
    if (!b->d) return lr_err_set(err, LR_ENOMEM, "out of memory allocating a dataset");
    b->d->format = format;
    b->d->seq_off = malloc(16 * sizeof *b->d->seq_off);
    if (!b->d->seq_off) {
        free(b->d);
        b->d = NULL;
        return lr_err_set(err, LR_ENOMEM, "out of memory allocating a dataset");
    }
    b->seq_off_cap = 16;
    b->d->seq_off[0] = 0;
    return LR_OK;
}

int lr_data_builder_item(lr_data_builder *b, const char *token, size_t len, int64_t *index,
                         lr_err *err) {
    lr_data *d = b->d;
    int rc = lr_data_strmap_intern(&d->item_index, &d->item_tokens, token, len, index, err);
    if (rc) return rc;
    if ((size_t)*index == d->item_texts.n && (rc = lr_data_strlist_push(&d->item_texts, NULL, 0, err)))
        return rc;
    for (int f = 0; f < LR_DATA_NUM_FIELDS; f++)
        if ((size_t)*index == d->item_fields[f].n &&
            (rc = lr_data_strlist_push(&d->item_fields[f], NULL, 0, err)))
            return rc;
    return LR_OK;
}

int lr_data_builder_item_text(lr_data_builder *b, size_t item, const char *text, size_t len,
                              lr_err *err) {
    return lr_data_strlist_set(&b->d->item_texts, item, text, len, err);
}

int lr_data_builder_item_fields(lr_data_builder *b, size_t item, const char *title,
                                const char *brand, const char *category, lr_err *err) {
    const char *v[LR_DATA_NUM_FIELDS] = {title, brand, category};
    for (int f = 0; f < LR_DATA_NUM_FIELDS; f++) {
        if (!v[f] || !v[f][0]) continue;
        int rc = lr_data_strlist_set(&b->d->item_fields[f], item, v[f], strlen(v[f]), err);
        if (rc) return rc;
    }
    return LR_OK;
}

int lr_data_builder_user(lr_data_builder *b, const char *token, size_t len, int64_t *index,
                         lr_err *err) {
    lr_data *d = b->d;
    return lr_data_strmap_intern(&d->user_index, &d->user_tokens, token, len, index, err);
}

int lr_data_builder_sequence(lr_data_builder *b, const int32_t *items, size_t n, lr_err *err) {
    lr_data *d = b->d;
    size_t used = d->seq_off[b->n_seqs];
    if (used + n > b->seq_cap) {
        size_t cap = b->seq_cap ? b->seq_cap : 1024;
        while (cap < used + n) cap *= 2;
        int32_t *p = realloc(d->seq_items, cap * sizeof *p);
        if (!p) return lr_err_set(err, LR_ENOMEM, "out of memory growing sequences to %zu items", cap);
        d->seq_items = p;
        b->seq_cap = cap;
    }
    if (b->n_seqs + 2 > b->seq_off_cap) {
        size_t cap = b->seq_off_cap * 2;
        size_t *p = realloc(d->seq_off, cap * sizeof *p);
        if (!p) return lr_err_set(err, LR_ENOMEM, "out of memory growing sequences to %zu users", cap);
        d->seq_off = p;
        b->seq_off_cap = cap;
    }
    if (n) memcpy(d->seq_items + used, items, n * sizeof *items);
    b->n_seqs++;
    d->seq_off[b->n_seqs] = used + n;
    return LR_OK;
}

int lr_data_builder_finish(lr_data_builder *b, lr_data **out, lr_err *err) {
    lr_data *d = b->d;
    *out = NULL;
    size_t n_items = d->item_tokens.n, n_users = d->user_tokens.n;
    if (n_items > INT32_MAX)
        return lr_err_set(err, LR_ERANGE, "%zu items is more than the %d a dataset holds", n_items,
                          INT32_MAX);
    if (b->n_seqs > n_users)
        return lr_err_set(err, LR_EFORMAT, "%zu sequences for %zu users", b->n_seqs, n_users);
    while (b->n_seqs < n_users) { /* users listed without any interaction */
        int rc = lr_data_builder_sequence(b, NULL, 0, err);
        if (rc) return rc;
    }
    size_t total = d->seq_off[n_users];
    for (size_t i = 0; i < total; i++)
        if (d->seq_items[i] < 0 || (size_t)d->seq_items[i] >= n_items)
            return lr_err_set(err, LR_ERANGE, "item index %d is outside the %zu items",
                              (int)d->seq_items[i], n_items);
    int rc = lr_data_attrs_build(d, err);
    if (rc) return rc;
    *out = d;
    b->d = NULL;
    return LR_OK;
}

void lr_data_builder_discard(lr_data_builder *b) {
    lr_data_free(b->d);
    b->d = NULL;
}

void lr_data_free(lr_data *d) {
    if (!d) return;
    lr_data_attrs_free(d);
    lr_data_strlist_free(&d->item_tokens);
    lr_data_strlist_free(&d->item_texts);
    for (int f = 0; f < LR_DATA_NUM_FIELDS; f++) lr_data_strlist_free(&d->item_fields[f]);
    lr_data_strlist_free(&d->user_tokens);
    lr_data_strmap_free(&d->item_index);
    lr_data_strmap_free(&d->user_index);
    free(d->seq_off);
    free(d->seq_items);
    free(d);
}

lr_data_format lr_data_get_format(const lr_data *d) { return d->format; }

const char *lr_data_format_name(lr_data_format f) {
    switch (f) {
    case LR_DATA_RECBOLE_SEQ: return "recbole-seq";
    case LR_DATA_RECBOLE_RATING: return "recbole-rating";
    case LR_DATA_AMAZON_RAW: return "amazon-raw";
    case LR_DATA_SYNTHETIC: return "synthetic";
    }
    return "unknown";
}

size_t lr_data_num_items(const lr_data *d) { return d->item_tokens.n; }
size_t lr_data_num_users(const lr_data *d) { return d->user_tokens.n; }
size_t lr_data_num_interactions(const lr_data *d) { return d->seq_off[d->user_tokens.n]; }

const char *lr_data_item_token(const lr_data *d, size_t item) {
    return lr_data_strlist_get(&d->item_tokens, item);
}
const char *lr_data_item_text(const lr_data *d, size_t item) {
    return lr_data_strlist_get(&d->item_texts, item);
}
const char *lr_data_item_field(const lr_data *d, size_t item, lr_data_field f) {
    if ((unsigned)f >= LR_DATA_NUM_FIELDS) return NULL;
    return lr_data_strlist_get(&d->item_fields[f], item);
}

const char *lr_data_field_name(lr_data_field f) {
    switch (f) {
    case LR_FIELD_TITLE: return "title";
    case LR_FIELD_BRAND: return "brand";
    case LR_FIELD_CATEGORY: return "category";
    }
    return "unknown";
}

const char *lr_data_user_token(const lr_data *d, size_t user) {
    return lr_data_strlist_get(&d->user_tokens, user);
}

int64_t lr_data_find_item(const lr_data *d, const char *token) {
    return lr_data_strmap_find(&d->item_index, &d->item_tokens, token, strlen(token));
}

const int32_t *lr_data_user_sequence(const lr_data *d, size_t user, size_t *len) {
    if (user >= d->user_tokens.n) {
        *len = 0;
        return NULL;
    }
    *len = d->seq_off[user + 1] - d->seq_off[user];
    return d->seq_items + d->seq_off[user];
}

lr_data_split lr_data_user_split(const lr_data *d, size_t user) {
    size_t n;
    const int32_t *s = lr_data_user_sequence(d, user, &n);
    lr_data_split sp = {n, -1, -1};
    if (n >= 3) {
        sp.train_len = n - 2;
        sp.valid_target = s[n - 2];
        sp.test_target = s[n - 1];
    }
    return sp;
}

int32_t lr_data_user_history(const lr_data *d, size_t user, lr_split split, size_t max_len,
                             const int32_t **hist, size_t *len) {
    size_t n;
    const int32_t *s = lr_data_user_sequence(d, user, &n);
    *hist = s;
    *len = 0;
    if (n < 3) return -1;
    size_t t = split == LR_SPLIT_TEST ? n - 1 : n - 2; /* position of the target */
    size_t h = t < max_len ? t : max_len;
    *hist = s + t - h;
    *len = h;
    return s[t];
}

lr_data_stats lr_data_get_stats(const lr_data *d) {
    lr_data_stats st = {0};
    st.users = lr_data_num_users(d);
    st.items = lr_data_num_items(d);
    st.interactions = lr_data_num_interactions(d);
    for (size_t u = 0; u < st.users; u++) {
        size_t n = d->seq_off[u + 1] - d->seq_off[u];
        if (n > st.max_seq_len) st.max_seq_len = n;
        if (n >= 3) st.users_with_targets++;
    }
    st.mean_seq_len = st.users ? (double)st.interactions / (double)st.users : 0.0;
    for (size_t i = 0; i < st.items; i++)
        if (!lr_data_item_text(d, i)) st.items_without_text++;
    return st;
}

long lr_data_read_line(FILE *f, char **line, size_t *cap) {
    errno = 0;
    ssize_t n = getline(line, cap, f);
    /* getline reports a buffer it cannot grow as -1 with errno ENOMEM and no error flag: that
     * is no end of file (errno stays ENOMEM for the caller's message) */
    if (n < 0) return ferror(f) || errno == ENOMEM ? -2 : -1;
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r')) (*line)[--n] = '\0';
    return (long)n;
}

char *lr_data_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

char *lr_data_prompt_text(const char *title, const char *brand, const char *category) {
    const char *labels[3] = {"Title: ", "Brand: ", "Category: "};
    const char *values[3] = {title, brand, category};
    size_t need = 1;
    for (int i = 0; i < 3; i++)
        if (values[i] && values[i][0]) need += strlen(labels[i]) + strlen(values[i]) + 2;
    char *out = malloc(need);
    if (!out) return NULL;
    size_t k = 0;
    for (int i = 0; i < 3; i++) {
        if (!values[i] || !values[i][0]) continue;
        if (k) out[k++] = ' ';
        size_t a = strlen(labels[i]), b = strlen(values[i]);
        memcpy(out + k, labels[i], a);
        memcpy(out + k + a, values[i], b);
        k += a + b;
        if (i < 2 && out[k - 1] != '.') out[k++] = '.'; /* "Title: Foo." keeps one period */
    }
    out[k] = '\0';
    return out;
}
