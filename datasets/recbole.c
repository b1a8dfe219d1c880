/* RecBole atomic files: a sequence split (prefix.{train,valid,test}.inter with item_id_list),
 * either UniSRec's (integer indexes mapped by prefix.item2index / prefix.user2index, text from
 * prefix.text) or RecBole's benchmark files (item and user tokens, items and text from
 * prefix.item), and rating files split leave-one-out by time (prefix.inter, prefix.item). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic.h"

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* "dir/prefix.suffix" into a fresh buffer. */
static char *prefixed(const char *dir, const char *prefix, const char *suffix) {
    size_t n = strlen(prefix) + strlen(suffix) + 1;
    char *name = malloc(n);
    if (!name) return NULL;
    snprintf(name, n, "%s%s", prefix, suffix);
    char *p = lr_data_path_join(dir, name);
    free(name);
    return p;
}

/* ---- token -> index files (no header): "token<TAB>index" ----------------------------------- */

typedef int (*intern_fn)(lr_data_builder *b, const char *token, size_t len, int64_t *index,
                         lr_err *err);

/* A token -> index file as read: its lines in file order. The indexes are placed only once all
 * lines are in, so memory follows the file's length and never an index a line claims. */
typedef struct {
    char *token;
    long idx, line;
} token_line;

typedef struct {
    token_line *v;
    size_t n, cap;
} token_table;

static void token_table_free(token_table *t) {
    for (size_t i = 0; i < t->n; i++) free(t->v[i].token);
    free(t->v);
}

/* One "token<TAB>index" line (cut at the tab in place) into the table. */
static int token_table_add(token_table *t, char *line, long lineno, const char *name, lr_err *err) {
    char *tab = strchr(line, '\t');
    if (!tab || tab == line || strchr(tab + 1, '\t'))
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: expected 'token<TAB>index', got '%.60s'", name,
                          lineno, line);
    *tab = '\0';
    char *end;
    errno = 0;
    long idx = strtol(tab + 1, &end, 10);
    if (!tab[1] || *end || errno || tab[1] == '-' || idx > INT32_MAX)
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: expected a non-negative integer index, got '%.40s'",
                          name, lineno, tab + 1);
    if (t->n == t->cap) {
        size_t c = t->cap ? t->cap * 2 : 1024;
        token_line *v = realloc(t->v, c * sizeof *v);
        if (!v) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", name);
        t->v = v;
        t->cap = c;
    }
    char *tok = strdup(line);
    if (!tok) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", name);
    t->v[t->n++] = (token_line){tok, idx, lineno};
    return LR_OK;
}

/* Interns the tokens in index order, so that each gets its listed index: n lines must give the
 * indexes 0..n-1, each once. */
static int token_table_intern(const token_table *t, lr_data_builder *b, intern_fn intern,
                              const char *name, lr_err *err) {
    size_t *at = malloc(t->n * sizeof *at); /* index -> its line in t->v; SIZE_MAX: none */
    if (!at) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < t->n; i++) at[i] = SIZE_MAX;
    int rc = LR_OK;
    for (size_t i = 0; !rc && i < t->n; i++) {
        const token_line *e = &t->v[i];
        if ((size_t)e->idx >= t->n) continue; /* it leaves a gap, reported below */
        if (at[e->idx] != SIZE_MAX)
            rc = lr_err_set(err, LR_EFORMAT, "%s:%ld: index %ld was already given on line %ld", name,
                            e->line, e->idx, t->v[at[e->idx]].line);
        else
            at[e->idx] = i;
    }
    for (size_t i = 0; !rc && i < t->n; i++) {
        if (at[i] == SIZE_MAX) {
            rc = lr_err_set(err, LR_EFORMAT, "%s: index %zu is missing (indexes must run from 0 to "
                            "%zu without gaps)", name, i, t->n - 1);
            break;
        }
        const token_line *e = &t->v[at[i]];
        int64_t got;
        rc = intern(b, e->token, strlen(e->token), &got, err);
        if (!rc && (size_t)got != i)
            rc = lr_err_set(err, LR_EFORMAT, "%s:%ld: token '%.60s' is listed twice (also line %ld)",
                            name, e->line, e->token, t->v[at[got]].line);
    }
    free(at);
    return rc;
}

/* Interns the tokens of a .item2index / .user2index file so that each gets its listed index.
 * The indexes must be exactly 0..n-1, each once. */
static int load_token_index(lr_data_builder *b, const char *path, intern_fn intern, lr_err *err) {
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    FILE *f = fopen(path, "rb");
    if (!f) return lr_err_set(err, LR_EIO, "%s: cannot open: %s", path, strerror(errno));
    token_table t = {0};
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, len;
    int rc = LR_OK;
    while ((len = lr_data_read_line(f, &line, &cap)) >= 0)
        if ((rc = token_table_add(&t, line, ++lineno, name, err))) goto done;
    if (len == -2)
        rc = errno == ENOMEM ? lr_err_set(err, LR_ENOMEM, "%s:%ld: out of memory reading the line",
                                          name, lineno + 1)
                             : lr_err_set(err, LR_EIO, "%s:%ld: read error", name, lineno + 1);
    else if (t.n == 0) rc = lr_err_set(err, LR_EFORMAT, "%s: empty, expected 'token<TAB>index' lines", name);
    else rc = token_table_intern(&t, b, intern, name, err);
done:
    token_table_free(&t);
    free(line);
    fclose(f);
    return rc;
}

/* ---- item text ------------------------------------------------------------------------------ */

static int is_any(const char *s, const char *const *names) {
    for (; *names; names++)
        if (strcmp(s, *names) == 0) return 1;
    return 0;
}

static const char *const title_cols[] = {"title", "movie_title", "name", NULL};
static const char *const brand_cols[] = {"brand", NULL};
static const char *const cat_cols[] = {"categories", "category", "class", "genre", "genres", NULL};

static int is_field_col(const char *name) {
    return is_any(name, title_cols) || is_any(name, brand_cols) || is_any(name, cat_cols);
}

/* The current line's title, brand and category (by lr_data_field; NULL without such a column;
 * of two columns of a kind the later wins). */
static void line_fields(const lr_atomic *a, int id_col, const char *v[LR_DATA_NUM_FIELDS]) {
    v[LR_FIELD_TITLE] = v[LR_FIELD_BRAND] = v[LR_FIELD_CATEGORY] = NULL;
    for (size_t i = 0; i < a->ncols; i++) {
        if ((int)i == id_col) continue;
        if (is_any(a->col_names[i], title_cols)) v[LR_FIELD_TITLE] = a->fields[i];
        else if (is_any(a->col_names[i], brand_cols)) v[LR_FIELD_BRAND] = a->fields[i];
        else if (is_any(a->col_names[i], cat_cols)) v[LR_FIELD_CATEGORY] = a->fields[i];
    }
}

/* Text for one line of a .text / .item file: a `text` column verbatim (the fields beside it
 * do not change it), else a LEARN prompt from the fields v, followed by any other text columns
 * as "name: value.". */
static char *line_text(const lr_atomic *a, int id_col, const char *const v[LR_DATA_NUM_FIELDS]) {
    int text_col = lr_data_atomic_col(a, "text");
    if (text_col >= 0) return strdup(a->fields[text_col]);
    size_t extra = 0;
    for (size_t i = 0; i < a->ncols; i++)
        if ((int)i != id_col && !is_field_col(a->col_names[i]) && a->fields[i][0] &&
            strncmp(a->col_types[i], "token", 5) == 0)
            extra += strlen(a->col_names[i]) + strlen(a->fields[i]) + 5;
    char *head = lr_data_prompt_text(v[LR_FIELD_TITLE], v[LR_FIELD_BRAND], v[LR_FIELD_CATEGORY]);
    if (!head || !extra) return head;
    size_t k = strlen(head);
    char *out = realloc(head, k + extra + 1);
    if (!out) {
        free(head);
        return NULL;
    }
    for (size_t i = 0; i < a->ncols; i++) {
        if ((int)i == id_col || is_field_col(a->col_names[i]) || !a->fields[i][0] ||
            strncmp(a->col_types[i], "token", 5) != 0)
            continue;
        const char *sep = !k ? "" : out[k - 1] == '.' ? " " : ". ";
        k += (size_t)sprintf(out + k, "%s%s: %s.", sep, a->col_names[i], a->fields[i]);
    }
    return out;
}

/* Which columns of an item file are attributes beyond the fields: every other token or
 * token_seq column but the id, title and text (index per column in extra, -1 for none); and
 * how the category column's values split (MovieLens genres are tokens, Amazon paths levels). */
static int declare_attrs(lr_data_builder *b, const lr_atomic *a, int id_col, int extra[LR_ATOMIC_MAX_COLS],
                         lr_err *err) {
    static const char *const token_cats[] = {"class", "genre", "genres", NULL};
    for (size_t i = 0; i < a->ncols; i++) {
        extra[i] = -1;
        const char *name = a->col_names[i], *type = a->col_types[i];
        int seq = strcmp(type, "token_seq") == 0;
        if (is_any(name, cat_cols))
            b->d->category_split = seq && is_any(name, token_cats) ? LR_ATTR_TOKENS : LR_ATTR_PATH;
        if ((int)i == id_col || is_field_col(name) || strcmp(name, "text") == 0 || (!seq && strcmp(type, "token") != 0))
            continue;
        size_t k;
        int rc = lr_data_builder_extra_attr(b, name, seq ? LR_ATTR_TOKENS : LR_ATTR_ONE, &k, err);
        if (rc) return err ? lr_err_prefix(err, "%s: ", a->name) : rc;
        extra[i] = (int)k;
    }
    return LR_OK;
}

static int line_extras(lr_data_builder *b, const lr_atomic *a, size_t item, const int extra[LR_ATOMIC_MAX_COLS],
                       lr_err *err) {
    for (size_t i = 0; i < a->ncols; i++) {
        if (extra[i] < 0) continue;
        int rc = lr_data_builder_item_extra(b, item, (size_t)extra[i], a->fields[i], err);
        if (rc) return rc;
    }
    return LR_OK;
}

/* Reads item text from a .text or .item file. With `known_only`, every item must already be
 * known (from .item2index); otherwise new items are added in file order. */
static int load_item_text(lr_data_builder *b, const char *path, int known_only, lr_err *err) {
    lr_atomic a;
    int rc = lr_data_atomic_open(&a, path, err);
    if (rc) return rc;
    int id_col, extra[LR_ATOMIC_MAX_COLS];
    rc = lr_data_atomic_need_col(&a, "item_id", &id_col, err);
    if (!rc) rc = declare_attrs(b, &a, id_col, extra, err);
    while (!rc && (rc = lr_data_atomic_next(&a, err)) == 1) {
        rc = LR_OK;
        const char *tok = a.fields[id_col];
        int64_t item;
        if (!tok[0]) { /* every id names something: an empty one could not be written back */
            rc = lr_err_set(err, LR_EFORMAT, "%s:%ld: item_id is empty, expected an item token",
                            a.name, a.lineno);
            break;
        }
        if (known_only) {
            item = lr_data_strmap_find(&b->d->item_index, &b->d->item_tokens, tok, strlen(tok));
            if (item < 0) {
                rc = lr_err_set(err, LR_EFORMAT, "%s:%ld: item '%.60s' is not in the item index "
                                "file", a.name, a.lineno, tok);
                break;
            }
        } else {
            size_t before = b->d->item_tokens.n;
            rc = lr_data_builder_item(b, tok, strlen(tok), &item, err);
            if (rc) break;
            if ((size_t)item < before) {
                rc = lr_err_set(err, LR_EFORMAT, "%s:%ld: item '%.60s' is listed twice", a.name,
                                a.lineno, tok);
                break;
            }
        }
        if (lr_data_item_text(b->d, (size_t)item)) {
            rc = lr_err_set(err, LR_EFORMAT, "%s:%ld: item '%.60s' has a second text line", a.name,
                            a.lineno, tok);
            break;
        }
        const char *v[LR_DATA_NUM_FIELDS];
        line_fields(&a, id_col, v);
        rc = lr_data_builder_item_fields(b, (size_t)item, v[LR_FIELD_TITLE], v[LR_FIELD_BRAND],
                                         v[LR_FIELD_CATEGORY], err);
        if (!rc) rc = line_extras(b, &a, (size_t)item, extra, err);
        if (rc) break;
        char *text = line_text(&a, id_col, v);
        if (text && !text[0]) { /* an empty text field means no text */
            free(text);
            continue;
        }
        if (!text) {
            rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", a.name);
            break;
        }
        rc = lr_data_builder_item_text(b, (size_t)item, text, strlen(text), err);
        free(text);
    }
    lr_data_atomic_close(&a);
    return rc < 0 ? rc : LR_OK;
}

/* ---- the sequence split: UniSRec (integer indexes) or RecBole benchmark files (tokens) -------- */

typedef struct {
    int32_t user, target;
    size_t hist_off, hist_len; /* into the set's pool */
    long line;
} seq_row;

typedef struct {
    const char *name; /* file name for messages */
    seq_row *rows;
    size_t n, cap;
    int32_t *pool;
    size_t pool_n, pool_cap;
} seq_rows;

/* How the .inter files name users and items. The UniSRec split writes integer indexes, mapped
 * by prefix.item2index (and prefix.user2index); RecBole's benchmark files write the tokens
 * themselves, with items listed in prefix.item. */
typedef struct {
    lr_data_builder *b;
    const char *prefix;  /* for messages */
    int tokens;          /* 1: ids are tokens (benchmark files); 0: integer indexes */
    int users_fixed;     /* users come from prefix.user2index; others are refused */
    long max_item;       /* index mode: the largest item index */
    long max_user;       /* index mode: the largest user index, or -1 for any */
} seq_ids;

static void seq_rows_free(seq_rows *s) {
    free(s->rows);
    free(s->pool);
}

static int pool_push(seq_rows *s, int32_t v, lr_err *err) {
    if (s->pool_n == s->pool_cap) {
        size_t c = s->pool_cap ? s->pool_cap * 2 : 4096;
        int32_t *p = realloc(s->pool, c * sizeof *p);
        if (!p) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", s->name);
        s->pool = p;
        s->pool_cap = c;
    }
    s->pool[s->pool_n++] = v;
    return LR_OK;
}

/* The user of a row. Tokens not in prefix.user2index are interned in order of first appearance,
 * so users are numbered as the files are read: train, then valid, then test. */
static int read_user(const lr_atomic *a, int col, const seq_ids *ids, int32_t *out, lr_err *err) {
    if (!ids->tokens) {
        long v;
        int rc = lr_data_atomic_index(a, col, ids->max_user >= 0 ? ids->max_user : INT32_MAX, &v, err);
        if (rc) return rc;
        *out = (int32_t)v;
        return LR_OK;
    }
    const char *tok = a->fields[col];
    size_t len = strlen(tok);
    int64_t u;
    if (!len)
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: user_id is empty, expected a user token",
                          a->name, a->lineno);
    if (ids->users_fixed) {
        u = lr_data_strmap_find(&ids->b->d->user_index, &ids->b->d->user_tokens, tok, len);
        if (u < 0)
            return lr_err_set(err, LR_EFORMAT, "%s:%ld: user '%.60s' is not in %s.user2index",
                              a->name, a->lineno, tok, ids->prefix);
    } else {
        int rc = lr_data_builder_user(ids->b, tok, len, &u, err);
        if (rc) return rc;
    }
    *out = (int32_t)u;
    return LR_OK;
}

/* An item token (tok[0..len), not NUL-terminated inside a list) of column `col`: one of
 * prefix.item's ids. */
static int find_item(const lr_atomic *a, const char *col, const seq_ids *ids, const char *tok,
                     size_t len, int32_t *out, lr_err *err) {
    int shown = len > 60 ? 60 : (int)len;
    if (!len)
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: %s: empty item id, expected %s",
                          a->name, a->lineno, col, strcmp(col, "item_id") == 0 ? "an item token"
                          : "item tokens separated by single spaces");
    int64_t i = lr_data_strmap_find(&ids->b->d->item_index, &ids->b->d->item_tokens, tok, len);
    if (i < 0)
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: %s: item '%.*s' is not in %s.item", a->name,
                          a->lineno, col, shown, tok, ids->prefix);
    *out = (int32_t)i;
    return LR_OK;
}

static int read_target(const lr_atomic *a, int col, const seq_ids *ids, int32_t *out, lr_err *err) {
    if (ids->tokens)
        return find_item(a, "item_id", ids, a->fields[col], strlen(a->fields[col]), out, err);
    long v;
    int rc = lr_data_atomic_index(a, col, ids->max_item, &v, err);
    if (rc) return rc;
    *out = (int32_t)v;
    return LR_OK;
}

/* Appends a row's item_id_list to the pool: space-separated indexes or tokens. */
static int read_history(const lr_atomic *a, int col, const seq_ids *ids, seq_rows *s, lr_err *err) {
    const char *p = a->fields[col];
    while (*p) {
        int32_t item;
        int rc;
        const char *end;
        if (ids->tokens) {
            end = strchr(p, ' ');
            if (!end) end = p + strlen(p);
            if ((rc = find_item(a, "item_id_list", ids, p, (size_t)(end - p), &item, err))) return rc;
        } else {
            char *e;
            errno = 0;
            long v = strtol(p, &e, 10);
            end = e;
            if (end == p || errno || (*end && *end != ' ') || *p == '-' || *p == '+')
                return lr_err_set(err, LR_EFORMAT, "%s:%ld: item_id_list: expected space-separated "
                                  "non-negative integers, got '%.40s'", s->name, a->lineno, p);
            if (v > ids->max_item)
                return lr_err_set(err, LR_ERANGE, "%s:%ld: item_id_list: item %ld is out of range "
                                  "(%ld items)", s->name, a->lineno, v, ids->max_item + 1);
            item = (int32_t)v;
        }
        if ((rc = pool_push(s, item, err))) return rc;
        p = *end ? end + 1 : end;
    }
    return LR_OK;
}

/* Reads one of prefix.{train,valid,test}.inter, naming users and items as `ids` says. */
static int read_seq_rows(const char *path, const seq_ids *ids, seq_rows *s, lr_err *err) {
    lr_atomic a;
    int rc = lr_data_atomic_open(&a, path, err);
    if (rc) return rc;
    s->name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int uc, lc, ic;
    if ((rc = lr_data_atomic_need_col(&a, "user_id", &uc, err)) ||
        (rc = lr_data_atomic_need_col(&a, "item_id_list", &lc, err)) ||
        (rc = lr_data_atomic_need_col(&a, "item_id", &ic, err)))
        goto done;
    while ((rc = lr_data_atomic_next(&a, err)) == 1) {
        if (s->n == s->cap) {
            size_t c = s->cap ? s->cap * 2 : 1024;
            seq_row *r = realloc(s->rows, c * sizeof *r);
            if (!r) {
                rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", s->name);
                goto done;
            }
            s->rows = r;
            s->cap = c;
        }
        seq_row *row = &s->rows[s->n];
        row->hist_off = s->pool_n;
        row->line = a.lineno;
        if ((rc = read_user(&a, uc, ids, &row->user, err)) ||
            (rc = read_target(&a, ic, ids, &row->target, err)) ||
            (rc = read_history(&a, lc, ids, s, err)))
            goto done;
        row->hist_len = s->pool_n - row->hist_off;
        if (row->hist_len == 0) {
            rc = lr_err_set(err, LR_EFORMAT, "%s:%ld: item_id_list is empty, expected the items "
                            "before the target", s->name, a.lineno);
            goto done;
        }
        s->n++;
    }
done:
    lr_data_atomic_close(&a);
    return rc < 0 ? rc : LR_OK;
}

typedef struct {
    int32_t *v;
    size_t n, cap;
} ivec;

static int ivec_reserve(ivec *x, size_t n, lr_err *err) {
    if (n <= x->cap) return LR_OK;
    size_t c = x->cap ? x->cap : 64;
    while (c < n) c *= 2;
    int32_t *p = realloc(x->v, c * sizeof *p);
    if (!p) return lr_err_set(err, LR_ENOMEM, "out of memory building sequences");
    x->v = p;
    x->cap = c;
    return LR_OK;
}

static const int32_t *hist(const seq_rows *s, const seq_row *r) { return s->pool + r->hist_off; }

/* Rebuilds a user's training sequence from its prefix rows, in either file order. Every row is
 * then checked against the result, so a row that does not fit is reported by line. */
static int rebuild_train(const seq_rows *s, const size_t *rows, size_t nr, ivec *seq, lr_err *err) {
    seq->n = 0;
    if (nr == 0) return LR_OK;
    int ascending = 1;
    if (nr >= 2) {
        const seq_row *r0 = &s->rows[rows[0]], *r1 = &s->rows[rows[1]];
        if (r0->hist_len != r1->hist_len) ascending = r1->hist_len > r0->hist_len;
        else ascending = hist(s, r1)[r1->hist_len - 1] == r0->target;
    }
    const seq_row *first = &s->rows[rows[ascending ? 0 : nr - 1]];
    int rc = ivec_reserve(seq, first->hist_len + nr, err);
    if (rc) return rc;
    memcpy(seq->v, hist(s, first), first->hist_len * sizeof *seq->v);
    seq->n = first->hist_len;
    for (size_t i = 0; i < nr; i++) seq->v[seq->n++] = s->rows[rows[ascending ? i : nr - 1 - i]].target;
    for (size_t i = 0; i < nr; i++) {
        const seq_row *r = &s->rows[rows[ascending ? i : nr - 1 - i]];
        size_t t = first->hist_len + i; /* position of this row's target */
        if (r->hist_len > t || memcmp(hist(s, r), seq->v + t - r->hist_len,
                                      r->hist_len * sizeof *seq->v) != 0)
            return lr_err_set(err, LR_EFORMAT, "%s:%ld: user %d: this history does not continue "
                              "the user's other rows (expected every prefix of one sequence)",
                              s->name, r->line, (int)r->user);
    }
    return LR_OK;
}

/* Joins a row's history onto the sequence so far: one must be a suffix of the other (histories
 * are capped, so the longer one carries older items). Then appends the row's target. */
static int extend_with(const seq_rows *s, const seq_row *r, ivec *seq, lr_err *err) {
    const int32_t *h = hist(s, r);
    size_t hn = r->hist_len;
    int rc = ivec_reserve(seq, (hn > seq->n ? hn : seq->n) + 1, err);
    if (rc) return rc;
    if (hn <= seq->n) {
        if (memcmp(h, seq->v + seq->n - hn, hn * sizeof *h) != 0)
            return lr_err_set(err, LR_EFORMAT, "%s:%ld: user %d: the history does not end with the "
                              "user's earlier items", s->name, r->line, (int)r->user);
    } else {
        if (memcmp(h + hn - seq->n, seq->v, seq->n * sizeof *h) != 0)
            return lr_err_set(err, LR_EFORMAT, "%s:%ld: user %d: the history does not end with the "
                              "user's earlier items", s->name, r->line, (int)r->user);
        memcpy(seq->v, h, hn * sizeof *h);
        seq->n = hn;
    }
    seq->v[seq->n++] = r->target;
    return LR_OK;
}

/* Maps each user to its single row of a valid/test file; a second row is an error. */
static int one_row_per_user(const seq_rows *s, size_t n_users, long **out, lr_err *err) {
    long *at = malloc((n_users ? n_users : 1) * sizeof *at);
    if (!at) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", s->name);
    for (size_t u = 0; u < n_users; u++) at[u] = -1;
    for (size_t i = 0; i < s->n; i++) {
        int32_t u = s->rows[i].user;
        if (at[u] >= 0) {
            lr_err_set(err, LR_EFORMAT, "%s:%ld: user %d already has a row on line %ld (one row "
                       "per user expected)", s->name, s->rows[i].line, (int)u, s->rows[at[u]].line);
            free(at);
            return LR_EFORMAT;
        }
        at[u] = (long)i;
    }
    *out = at;
    return LR_OK;
}

/* Loads what names the ids of the .inter files, with item text, and fills *ids. With
 * prefix.item2index the files hold indexes (the UniSRec split; text from prefix.text). Without
 * it they hold tokens, and prefix.item lists the items in index order with their text, as in
 * RecBole's benchmark files; a prefix.text beside those is not read. */
static int seq_ids_load(lr_data_builder *b, const char *dir, const char *prefix, seq_ids *ids,
                        lr_err *err) {
    char *p_i2i = prefixed(dir, prefix, ".item2index"), *p_u2i = prefixed(dir, prefix, ".user2index");
    char *p_text = prefixed(dir, prefix, ".text"), *p_item = prefixed(dir, prefix, ".item");
    int rc = LR_OK;
    *ids = (seq_ids){b, prefix, 0, 0, -1, -1};
    if (!p_i2i || !p_u2i || !p_text || !p_item) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory");
        goto done;
    }
    ids->tokens = !file_exists(p_i2i);
    if (ids->tokens && !file_exists(p_item)) {
        rc = lr_err_set(err, LR_ENOTFOUND, "%s: missing; expected it (item indexes, UniSRec "
                        "split) or %s.item (item tokens, RecBole benchmark files)", p_i2i, prefix);
        goto done;
    }
    rc = ids->tokens ? load_item_text(b, p_item, 0, err)
                     : load_token_index(b, p_i2i, lr_data_builder_item, err);
    if (rc) goto done;
    ids->users_fixed = file_exists(p_u2i);
    if (ids->users_fixed && (rc = load_token_index(b, p_u2i, lr_data_builder_user, err))) goto done;
    if (!ids->tokens && file_exists(p_text) && (rc = load_item_text(b, p_text, 1, err))) goto done;
    ids->max_item = (long)lr_data_num_items(b->d) - 1;
    ids->max_user = ids->users_fixed ? (long)b->d->user_tokens.n - 1 : -1;
done:
    free(p_i2i);
    free(p_u2i);
    free(p_text);
    free(p_item);
    return rc;
}

/* Without prefix.user2index the UniSRec files' user indexes are the users: "0" .. max. Each user
 * has one test row, so max is below the test file's row count: a larger index is refused before
 * it can make millions of users out of one line. */
static int intern_integer_users(lr_data_builder *b, const seq_rows *const sets[3], lr_err *err) {
    size_t n_users = 0, limit = sets[2]->n;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sets[k]->n; i++) {
            const seq_row *r = &sets[k]->rows[i];
            if ((size_t)r->user >= limit)
                return lr_err_set(err, LR_EFORMAT, "%s:%ld: user %d, but %s has %zu rows (without a "
                                  "user2index file the users are 0 to N-1, each with one test row)",
                                  sets[k]->name, r->line, (int)r->user, sets[2]->name, limit);
            if ((size_t)r->user + 1 > n_users) n_users = (size_t)r->user + 1;
        }
    for (size_t u = 0; u < n_users; u++) {
        char tok[24];
        int64_t got;
        int len = snprintf(tok, sizeof tok, "%zu", u);
        int rc = lr_data_builder_user(b, tok, (size_t)len, &got, err);
        if (rc) return rc;
    }
    return LR_OK;
}

/* One sequence per user: the train prefixes rebuilt, then the valid and test rows joined on. A
 * user named by token is reported by token, since the files never show its index. */
static int build_sequences(lr_data_builder *b, const seq_rows *tr, const seq_rows *va,
                           const seq_rows *te, int by_token, lr_err *err) {
    size_t n_users = b->d->user_tokens.n, *order = NULL, *start = NULL;
    long *va_at = NULL, *te_at = NULL;
    ivec seq = {0};
    int rc;
    if ((rc = one_row_per_user(va, n_users, &va_at, err)) ||
        (rc = one_row_per_user(te, n_users, &te_at, err)))
        goto done;
    /* Train rows grouped by user, file order kept (a counting sort). */
    order = malloc((tr->n ? tr->n : 1) * sizeof *order);
    start = calloc(n_users + 1, sizeof *start);
    if (!order || !start) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory grouping %zu rows", tr->n);
        goto done;
    }
    for (size_t i = 0; i < tr->n; i++) start[tr->rows[i].user + 1]++;
    for (size_t u = 0; u < n_users; u++) start[u + 1] += start[u];
    for (size_t i = 0; i < tr->n; i++) order[start[tr->rows[i].user]++] = i;
    for (size_t u = n_users; u > 0; u--) start[u] = start[u - 1];
    start[0] = 0;

    for (size_t u = 0; u < n_users; u++) {
        size_t nr = start[u + 1] - start[u];
        if ((rc = rebuild_train(tr, order + start[u], nr, &seq, err))) goto done;
        int has_va = va_at[u] >= 0, has_te = te_at[u] >= 0;
        if (has_va != has_te || (nr && !has_va)) {
            char who[80];
            if (by_token) snprintf(who, sizeof who, "'%.60s'", lr_data_strlist_get(&b->d->user_tokens, u));
            else snprintf(who, sizeof who, "%zu", u);
            rc = lr_err_set(err, LR_EFORMAT, "%s: user %s has no row, but has rows in %s",
                            !has_va ? va->name : te->name, who,
                            !has_va ? (has_te ? te->name : tr->name) : va->name);
            goto done;
        }
        if (has_va) {
            if ((rc = extend_with(va, &va->rows[va_at[u]], &seq, err)) ||
                (rc = extend_with(te, &te->rows[te_at[u]], &seq, err)))
                goto done;
        }
        if ((rc = lr_data_builder_sequence(b, seq.v, seq.n, err))) goto done;
    }
done:
    free(order);
    free(start);
    free(va_at);
    free(te_at);
    free(seq.v);
    return rc;
}

static int load_seq_split(lr_data_builder *b, const char *dir, const char *prefix, lr_err *err) {
    seq_rows tr = {0}, va = {0}, te = {0};
    seq_ids ids;
    char *p_tr = prefixed(dir, prefix, ".train.inter"), *p_va = prefixed(dir, prefix, ".valid.inter");
    char *p_te = prefixed(dir, prefix, ".test.inter");
    int rc = LR_OK;
    if (!p_tr || !p_va || !p_te) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = seq_ids_load(b, dir, prefix, &ids, err)) ||
        (rc = read_seq_rows(p_tr, &ids, &tr, err)) ||
        (rc = read_seq_rows(p_va, &ids, &va, err)) ||
        (rc = read_seq_rows(p_te, &ids, &te, err)))
        goto done;
    /* every user with rows has a test row: none means no interactions at all, a dataset nothing
     * can be trained or evaluated on (the rating and Amazon loaders refuse theirs too) */
    if (te.n == 0) {
        rc = lr_err_set(err, LR_EFORMAT, "%s: no rows after the header, expected one per user", te.name);
        goto done;
    }
    if (!ids.tokens && !ids.users_fixed) {
        const seq_rows *const sets[3] = {&tr, &va, &te};
        if ((rc = intern_integer_users(b, sets, err))) goto done;
    }
    rc = build_sequences(b, &tr, &va, &te, ids.tokens, err);
done:
    seq_rows_free(&tr);
    seq_rows_free(&va);
    seq_rows_free(&te);
    free(p_tr);
    free(p_va);
    free(p_te);
    return rc;
}

/* ---- rating files split by time ----------------------------------------------------------- */

typedef struct {
    int32_t user, item;
    double time;
    size_t order; /* file order breaks ties between equal times */
} rating;

static int by_user_time(const void *pa, const void *pb) {
    const rating *a = pa, *b = pb;
    if (a->user != b->user) return a->user < b->user ? -1 : 1;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->order < b->order ? -1 : (a->order > b->order);
}

static int load_users_file(lr_data_builder *b, const char *path, lr_err *err) {
    lr_atomic a;
    int rc = lr_data_atomic_open(&a, path, err);
    if (rc) return rc;
    int uc;
    rc = lr_data_atomic_need_col(&a, "user_id", &uc, err);
    while (!rc && (rc = lr_data_atomic_next(&a, err)) == 1) {
        size_t before = b->d->user_tokens.n;
        int64_t got;
        if (!a.fields[uc][0]) {
            rc = lr_err_set(err, LR_EFORMAT, "%s:%ld: user_id is empty, expected a user token", a.name,
                            a.lineno);
            break;
        }
        rc = lr_data_builder_user(b, a.fields[uc], strlen(a.fields[uc]), &got, err);
        if (!rc && (size_t)got < before)
            rc = lr_err_set(err, LR_EFORMAT, "%s:%ld: user '%.60s' is listed twice", a.name,
                            a.lineno, a.fields[uc]);
    }
    lr_data_atomic_close(&a);
    return rc < 0 ? rc : LR_OK;
}

/* How prefix.inter names users and items: by the tokens prefix.user / prefix.item list, when
 * those files exist (an unlisted one is an error), else interned in order of first appearance. */
typedef struct {
    lr_data_builder *b;
    const char *prefix; /* for messages */
    int have_users, have_items;
} rating_ids;

/* The user and item of the current line of prefix.inter. */
static int rating_user_item(const rating_ids *ids, const lr_atomic *a, int uc, int ic, int64_t *user,
                            int64_t *item, lr_err *err) {
    lr_data *d = ids->b->d;
    const char *ut = a->fields[uc], *it = a->fields[ic];
    int rc;
    if (!*ut || !*it)
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: empty %s", a->name, a->lineno,
                          !*ut ? "user_id" : "item_id");
    if (ids->have_users) {
        *user = lr_data_strmap_find(&d->user_index, &d->user_tokens, ut, strlen(ut));
        if (*user < 0)
            return lr_err_set(err, LR_EFORMAT, "%s:%ld: user '%.60s' is not in %s.user", a->name,
                              a->lineno, ut, ids->prefix);
    } else if ((rc = lr_data_builder_user(ids->b, ut, strlen(ut), user, err))) {
        return rc;
    }
    if (ids->have_items) {
        *item = lr_data_strmap_find(&d->item_index, &d->item_tokens, it, strlen(it));
        if (*item < 0)
            return lr_err_set(err, LR_EFORMAT, "%s:%ld: item '%.60s' is not in %s.item", a->name,
                              a->lineno, it, ids->prefix);
    } else if ((rc = lr_data_builder_item(ids->b, it, strlen(it), item, err))) {
        return rc;
    }
    return LR_OK;
}

/* The ratings of prefix.inter in file order; a line's time is its timestamp or, without that
 * column, its position. *out (*n of them) is the caller's to free, also after a failure. */
static int read_ratings(const rating_ids *ids, const char *path, rating **out, size_t *n, lr_err *err) {
    lr_atomic a;
    int rc = lr_data_atomic_open(&a, path, err);
    if (rc) return rc;
    size_t cap = 0;
    int uc, ic, tc = lr_data_atomic_col(&a, "timestamp");
    if ((rc = lr_data_atomic_need_col(&a, "user_id", &uc, err)) ||
        (rc = lr_data_atomic_need_col(&a, "item_id", &ic, err)))
        goto done;
    while ((rc = lr_data_atomic_next(&a, err)) == 1) {
        rc = LR_OK;
        if (*n == cap) {
            cap = cap ? cap * 2 : 4096;
            rating *q = realloc(*out, cap * sizeof *q);
            if (!q) {
                rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", a.name);
                goto done;
            }
            *out = q;
        }
        int64_t user, item;
        double t = (double)*n;
        if ((rc = rating_user_item(ids, &a, uc, ic, &user, &item, err)) ||
            (tc >= 0 && (rc = lr_data_atomic_number(&a, tc, &t, err))))
            goto done;
        (*out)[*n] = (rating){(int32_t)user, (int32_t)item, t, *n};
        (*n)++;
    }
    if (!rc && *n == 0) rc = lr_err_set(err, LR_EFORMAT, "%s: no interactions after the header", a.name);
done:
    lr_data_atomic_close(&a);
    return rc;
}

/* Each user's items by time (file order among equal times) as the user's sequence; sorts r.
 * name: the file's, for messages. */
static int sequences_by_time(lr_data_builder *b, rating *r, size_t n, const char *name, lr_err *err) {
    qsort(r, n, sizeof *r, by_user_time);
    int32_t *items = malloc(n * sizeof *items);
    if (!items) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < n; i++) items[i] = r[i].item;
    size_t n_users = b->d->user_tokens.n;
    int rc = LR_OK;
    for (size_t u = 0, i = 0; !rc && u < n_users; u++) {
        size_t j = i;
        while (j < n && (size_t)r[j].user == u) j++;
        rc = lr_data_builder_sequence(b, items + i, j - i, err);
        i = j;
    }
    free(items);
    return rc;
}

static int load_ratings(lr_data_builder *b, const char *dir, const char *prefix, lr_err *err) {
    char *p_inter = prefixed(dir, prefix, ".inter"), *p_item = prefixed(dir, prefix, ".item");
    char *p_user = prefixed(dir, prefix, ".user");
    rating *r = NULL;
    size_t n = 0;
    int rc = LR_OK;
    if (!p_inter || !p_item || !p_user) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory");
        goto done;
    }
    rating_ids ids = {b, prefix, file_exists(p_user), file_exists(p_item)};
    if (ids.have_items && (rc = load_item_text(b, p_item, 0, err))) goto done;
    if (ids.have_users && (rc = load_users_file(b, p_user, err))) goto done;
    if ((rc = read_ratings(&ids, p_inter, &r, &n, err))) goto done;
    rc = sequences_by_time(b, r, n, strrchr(p_inter, '/') ? strrchr(p_inter, '/') + 1 : p_inter, err);
done:
    free(r);
    free(p_inter);
    free(p_item);
    free(p_user);
    return rc;
}

int lr_data_load_recbole(const char *dir, const char *prefix, lr_data **out, lr_err *err) {
    *out = NULL;
    char *p_tr = prefixed(dir, prefix, ".train.inter"), *p_in = prefixed(dir, prefix, ".inter");
    if (!p_tr || !p_in) {
        free(p_tr);
        free(p_in);
        return lr_err_set(err, LR_ENOMEM, "out of memory");
    }
    int seq = file_exists(p_tr), rat = file_exists(p_in);
    int rc;
    if (!seq && !rat) {
        rc = lr_err_set(err, LR_ENOTFOUND, "%s/%s: expected %s.train.inter (sequence split) or "
                        "%s.inter (ratings)", dir, prefix, prefix, prefix);
    } else {
        lr_data_builder b;
        rc = lr_data_builder_init(&b, seq ? LR_DATA_RECBOLE_SEQ : LR_DATA_RECBOLE_RATING, err);
        if (!rc) {
            rc = seq ? load_seq_split(&b, dir, prefix, err) : load_ratings(&b, dir, prefix, err);
            if (!rc) rc = lr_data_builder_finish(&b, out, err);
            lr_data_builder_discard(&b);
        }
    }
    free(p_tr);
    free(p_in);
    return rc;
}
