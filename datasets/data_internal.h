/* Inside datasets/: the lr_data layout, string tables and the builder every loader fills.
 * Loaders build into an lr_data_builder and call lr_data_builder_finish, which checks the
 * whole dataset once; on any error they call lr_data_builder_discard, so a half-built
 * dataset never reaches a caller. */
#ifndef LR_DATA_INTERNAL_H
#define LR_DATA_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

#include "lr_data.h"

/* An append-only list of strings in one arena; an entry may be NULL (no text). */
typedef struct {
    char *buf;     /* all strings, each NUL-terminated */
    size_t used, cap;
    size_t *off;   /* n offsets into buf; SIZE_MAX marks a NULL entry */
    size_t n, cap_n;
} lr_strlist;

int lr_data_strlist_push(lr_strlist *l, const char *s, size_t len, lr_err *err); /* s NULL: a NULL entry */
int lr_data_strlist_set(lr_strlist *l, size_t i, const char *s, size_t len, lr_err *err); /* replaces entry i */
const char *lr_data_strlist_get(const lr_strlist *l, size_t i);
void lr_data_strlist_free(lr_strlist *l);

/* Open-addressing map from the strings of one lr_strlist to their index in it. A slot keeps the
 * string's hash beside its index, so that probing past other keys (and growing) never reads the
 * strings themselves: loading 1M items spent a third of its time in those reads. */
typedef struct {
    int64_t idx; /* index into the list, -1 empty */
    uint64_t hash;
} lr_strmap_slot;

typedef struct {
    lr_strmap_slot *slots;
    size_t cap;     /* a power of two */
    size_t n;
} lr_strmap;

int64_t lr_data_strmap_find(const lr_strmap *m, const lr_strlist *l, const char *s, size_t len);
/* Appends s to l and maps it, or returns the existing index; *index gets the result. */
int lr_data_strmap_intern(lr_strmap *m, lr_strlist *l, const char *s, size_t len, int64_t *index,
                     lr_err *err);
void lr_data_strmap_free(lr_strmap *m);

/* How an attribute's raw per-item string becomes values. */
typedef enum {
    LR_ATTR_ONE = 0,  /* the whole string is one value */
    LR_ATTR_PATH = 1, /* levels joined by " > " */
    LR_ATTR_TOKENS = 2 /* space-separated tokens */
} lr_attr_split;

typedef struct {
    char *name;
    lr_attr_split split;
    lr_strlist raw;       /* per item, the column as read (extra RecBole columns only) */
    lr_strlist values;    /* the distinct values, ids in order of first appearance */
    lr_strmap value_index;
    size_t *off;          /* n_items + 1 offsets into ids (set by finish) */
    uint32_t *ids;
} lr_data_attr;

struct lr_data {
    lr_data_format format;
    /* attributes (attrs.c), built by lr_data_builder_finish: brand and category from the
     * fields, then the extra columns a loader declared */
    lr_data_attr attrs[LR_DATA_MAX_ATTRS];
    size_t n_attrs;
    lr_attr_split category_split; /* LR_ATTR_PATH unless genres-like tokens */
    lr_data_attr extra[LR_DATA_MAX_ATTRS]; /* declared by loaders, raw values only */
    size_t n_extra;
    lr_strlist item_tokens;
    lr_strlist item_texts;
    lr_strlist item_fields[LR_DATA_NUM_FIELDS]; /* by lr_data_field, in step with item_texts */
    lr_strlist user_tokens;
    lr_strmap item_index; /* item token -> item index */
    lr_strmap user_index; /* user token -> user index */
    size_t *seq_off;      /* n_users + 1 offsets into seq_items */
    int32_t *seq_items;   /* every sequence, oldest item first */
};

/* Loaders append items and users (by token) and one sequence per user. */
typedef struct {
    lr_data *d;
    size_t seq_cap;     /* capacity of d->seq_items */
    size_t seq_off_cap; /* capacity of d->seq_off */
    size_t n_seqs;      /* sequences appended so far (user 0 .. n_seqs-1) */
} lr_data_builder;

int lr_data_builder_init(lr_data_builder *b, lr_data_format format, lr_err *err);
/* Interns an item token; a new item starts without text or fields. */
int lr_data_builder_item(lr_data_builder *b, const char *token, size_t len, int64_t *index,
                         lr_err *err);
int lr_data_builder_item_text(lr_data_builder *b, size_t item, const char *text, size_t len,
                              lr_err *err);
/* Sets the item's fields; NULL or "" leaves a field absent (an earlier value stays). */
int lr_data_builder_item_fields(lr_data_builder *b, size_t item, const char *title,
                                const char *brand, const char *category, lr_err *err);
/* attrs.c: an extra attribute column (name, split LR_ATTR_ONE or LR_ATTR_TOKENS); *index gets
 * its slot, the same one for a name declared again (the later split wins). At most
 * LR_DATA_MAX_ATTRS - 2 extra names (LR_ERANGE beyond, naming the column). */
int lr_data_builder_extra_attr(lr_data_builder *b, const char *name, lr_attr_split split,
                               size_t *index, lr_err *err);
/* The raw value of extra attribute `extra` for item ("" or NULL: none; a later value wins). */
int lr_data_builder_item_extra(lr_data_builder *b, size_t item, size_t extra, const char *value,
                               lr_err *err);
/* Builds d->attrs from the fields and the extra columns (called by finish). */
int lr_data_attrs_build(lr_data *d, lr_err *err);
void lr_data_attrs_free(lr_data *d);

int lr_data_builder_user(lr_data_builder *b, const char *token, size_t len, int64_t *index,
                         lr_err *err);
/* Appends the sequence of the next user (users get sequences in index order). */
int lr_data_builder_sequence(lr_data_builder *b, const int32_t *items, size_t n, lr_err *err);
/* Checks that every user has a sequence and every item id is in range; hands the data over. */
int lr_data_builder_finish(lr_data_builder *b, lr_data **out, lr_err *err);
void lr_data_builder_discard(lr_data_builder *b);

/* Reads a text line of any length; *line is reused between calls. Returns the length without
 * the newline (a trailing '\r' is removed too), -1 at the end of the file, -2 on a read error
 * or when the line does not fit in memory (errno ENOMEM). */
long lr_data_read_line(FILE *f, char **line, size_t *cap);

/* "dir/name" into a fresh buffer (or NULL when out of memory). */
char *lr_data_path_join(const char *dir, const char *name);

/* The item text for a LEARN prompt from up to three fields; empty fields are left out.
 * Writes "Title: t. Brand: b. Category: c" into a fresh buffer (NULL when out of memory). */
char *lr_data_prompt_text(const char *title, const char *brand, const char *category);

#endif /* LR_DATA_INTERNAL_H */
