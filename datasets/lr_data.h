/* Datasets: items with text, users with chronological item sequences, leave-one-out targets.
 *
 * Loaders fill one in-memory type from RecBole atomic files, Amazon Reviews 2018 raw files or
 * the built-in synthetic catalogue generator. A loader either returns a complete dataset or
 * an error naming the file, the line and what was expected: nothing half-loaded escapes.
 * An lr_data is immutable after loading; every getter may be called from many threads. */
#ifndef LR_DATA_H
#define LR_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "lr_error.h"

typedef struct lr_data lr_data;

/* Where a dataset came from. */
typedef enum {
    LR_DATA_RECBOLE_SEQ,    /* prefix.{train,valid,test}.inter with item_id_list (UniSRec split or RecBole benchmark files) */
    LR_DATA_RECBOLE_RATING, /* prefix.inter with user_id, item_id[, rating], timestamp */
    LR_DATA_AMAZON_RAW,     /* {Category}_5.json.gz + meta_{Category}.json.gz */
    LR_DATA_SYNTHETIC       /* made in memory by lr_data_synth */
} lr_data_format;

/* Loads the dataset at `path`, discovering the format and the file prefix:
 * a directory holding one dataset, a file prefix (".../Scientific"), or any file of the set
 * (".../Scientific.text"). */
int lr_data_load(const char *path, lr_data **out, lr_err *err);

/* RecBole atomic files with the given directory and prefix (files `dir/prefix.*`). */
int lr_data_load_recbole(const char *dir, const char *prefix, lr_data **out, lr_err *err);

/* Amazon Reviews 2018: `dir/{category}_5.json.gz` and, when present, `dir/meta_{category}.json.gz`.
 * Item text is "Title: t. Brand: b. Category: c1 > c2 > ...". Sequences are sorted by review time
 * (ties keep file order); the last item of each is the test target, the one before the valid. */
int lr_data_load_amazon(const char *dir, const char *category, lr_data **out, lr_err *err);

typedef struct {
    size_t items;         /* 1,000 to 1,000,000 */
    size_t users;         /* 1 to 10,000,000 */
    uint64_t seed;
    size_t min_seq_len;   /* >= 3 so that every user has train, valid and test items */
    size_t mean_seq_len;  /* the mean length of a user's sequence, >= min_seq_len */
    size_t max_seq_len;
    double drift;         /* chance per step that a user's taste moves to another category */
} lr_synth_config;

/* Defaults: 10,000 items, 5,000 users, seed 1, sequences 3 to 60 with mean 8, drift 0.08. */
lr_synth_config lr_data_synth_config_default(void);

/* A synthetic catalogue whose text predicts behaviour: items belong to a category tree and a
 * brand, their titles draw on per-category vocabularies, and users follow a few categories
 * and brands that drift over time. Deterministic for a given config. */
int lr_data_synth(const lr_synth_config *cfg, lr_data **out, lr_err *err);

/* Writes RecBole atomic files `dir/prefix.inter` (user_id, item_id, timestamp) and
 * `dir/prefix.item` (item_id, text), which lr_data_load reads back into an equal dataset.
 * Creates `dir` when missing. Files are written aside and renamed into place. */
int lr_data_write_recbole(const lr_data *d, const char *dir, const char *prefix, lr_err *err);

void lr_data_free(lr_data *d); /* NULL is a no-op */

/* ---- getters: pointers stay valid until lr_data_free ------------------------------------- */

lr_data_format lr_data_get_format(const lr_data *d);
const char *lr_data_format_name(lr_data_format f); /* "recbole-seq", "recbole-rating", ... */

size_t lr_data_num_items(const lr_data *d);
size_t lr_data_num_users(const lr_data *d);
size_t lr_data_num_interactions(const lr_data *d); /* sum of all sequence lengths */

/* The item's external id (an ASIN, a MovieLens id) and its text; text is NULL when missing. */
const char *lr_data_item_token(const lr_data *d, size_t item);
const char *lr_data_item_text(const lr_data *d, size_t item);
const char *lr_data_user_token(const lr_data *d, size_t user);

/* Looks an external item id up; returns the item index or -1. */
int64_t lr_data_find_item(const lr_data *d, const char *token);

/* The user's whole chronological sequence: *len items, oldest first. */
const int32_t *lr_data_user_sequence(const lr_data *d, size_t user, size_t *len);

/* Leave-one-out split of a user's sequence of length n: items [0, n-2) train, item n-2 the
 * validation target, item n-1 the test target. Users with fewer than 3 items have no targets
 * (the fields are -1) and train on what they have. */
typedef struct {
    size_t train_len;
    int32_t valid_target;
    int32_t test_target;
} lr_data_split;
lr_data_split lr_data_user_split(const lr_data *d, size_t user);

/* Which target an evaluation ranks. */
typedef enum { LR_SPLIT_VALID = 0, LR_SPLIT_TEST = 1 } lr_split;

/* The history a model sees before the split's target: at most max_len of the newest items
 * before it (*hist, *len). Returns the target, or -1 when the user has none (< 3 items). */
int32_t lr_data_user_history(const lr_data *d, size_t user, lr_split split, size_t max_len,
                             const int32_t **hist, size_t *len);

typedef struct {
    size_t users, items, interactions;
    size_t users_with_targets; /* users with at least 3 items */
    double mean_seq_len;
    size_t max_seq_len;
    size_t items_without_text;
} lr_data_stats;
lr_data_stats lr_data_get_stats(const lr_data *d);

#endif /* LR_DATA_H */
