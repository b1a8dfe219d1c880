/* Datasets, the ground floor: interaction data and the file formats every layer shares.
 *
 * - lr_data: items with text, users with chronological item sequences, leave-one-out targets.
 *   Loaders fill it from RecBole atomic files, Amazon Reviews 2018 raw files or the built-in
 *   synthetic catalogue generator, and either return a complete dataset or an error naming the
 *   file, the line and what was expected: nothing half-loaded escapes. Immutable after loading;
 *   every getter may be called from many threads.
 * - Files: dense float matrices (.npy float32/float16, .fvecs; lr_data_matrix, read-only once
 *   open, so its getters are safe from many threads), safetensors (model weights), and
 *   lr_data_write_aside, the one way learnrec writes a file (aside, synced, renamed). */
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
 * `dir/prefix.item`, which lr_data_load reads back into an equal dataset (texts and fields):
 * columns item_id, text, then title, brand, categories when any item has a field (the text
 * column stays second: it is the text as given, whatever the fields). An absent text or field
 * is an empty value. Creates `dir` when missing. Files are written aside and renamed into place. */
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

/* The parts an item's prompt text is made of, when the files give them: Amazon meta (title,
 * brand, category path "c1 > c2"), the synthetic catalogue, RecBole/UniSRec item files with
 * title / brand / category columns. A file with only a free `text` column gives no fields. */
typedef enum { LR_FIELD_TITLE = 0, LR_FIELD_BRAND = 1, LR_FIELD_CATEGORY = 2 } lr_data_field;
#define LR_DATA_NUM_FIELDS 3

/* The item's field f, or NULL when the item has none (never ""; NULL too for an item or f out
 * of range). Unless its file gave the text itself, the item text was built from these:
 * "Title: t. Brand: b. Category: c", absent ones left out (RecBole files add other columns). */
const char *lr_data_item_field(const lr_data *d, size_t item, lr_data_field f);
const char *lr_data_field_name(lr_data_field f); /* "title", "brand", "category" */

/* ---- item attributes: what filters and diversity caps work on -------------------------------- */

/* Named attributes, each giving an item zero or more values (strings, interned per attribute):
 * - "brand": the brand field, one value;
 * - "category": the category field's levels, "Tools > Lab Supplies" giving "Tools" and
 *   "Lab Supplies" (Amazon, the synthetic catalogue, RecBole `categories`/`category`
 *   columns), or its space-separated tokens when it came from a RecBole `class`, `genre` or
 *   `genres` token_seq column (MovieLens genres);
 * - every other `:token` (one value) or `:token_seq` (space-separated values) column of a
 *   RecBole .item file but the id, title and text columns, under its own name
 *   ("release_year").
 * An attribute is listed only when some item has a value; an item's values are distinct, in
 * the order they first appear. */
#define LR_DATA_MAX_ATTRS 16

size_t lr_data_num_attrs(const lr_data *d);
const char *lr_data_attr_name(const lr_data *d, size_t attr); /* NULL past the end */
int lr_data_find_attr(const lr_data *d, const char *name);  /* its index, or -1 */
/* The attribute's distinct values (ids 0 .. n-1, in order of first appearance). */
size_t lr_data_attr_num_values(const lr_data *d, size_t attr);
const char *lr_data_attr_value(const lr_data *d, size_t attr, size_t value); /* NULL past the end */
/* The value ids of item's attribute (*n of them; NULL and 0 when it has none). */
const uint32_t *lr_data_item_attr(const lr_data *d, size_t item, size_t attr, size_t *n);

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

/* ---- writing files ---------------------------------------------------------------------------- */

/* Writes the whole file at tmp (which it creates) and returns 0, or an error code with err filled. */
typedef int (*lr_data_path_writer)(const char *tmp, void *ctx, lr_err *err);

/* Calls write on "<path>.tmp.<pid>" beside path, fsyncs it, renames it over path and fsyncs the
 * directory: a reader sees the old file or the new one, never half of one, and after a crash
 * the old or the new one is there. On failure the temporary file is removed and path untouched. */
int lr_data_write_aside(const char *path, lr_data_path_writer write, void *ctx, lr_err *err);

/* fsync of a file or directory that exists (LR_EIO naming the path on failure). */
int lr_data_sync_path(const char *path, lr_err *err);

/* ---- dense float matrices: .npy and .fvecs ---------------------------------------------------- */

typedef enum { LR_NPY_F32 = 0, LR_NPY_F16 = 1 } lr_npy_dtype;

/* Writes a 1-d (cols == 0: shape (rows,)) or 2-d (rows, cols) C-order array of the given dtype
 * from float32 data (rows * max(cols, 1) values), through lr_data_write_aside. Float16
 * conversion rounds to nearest even; NaN or Inf is LR_EINVAL, values beyond float16's range
 * LR_ERANGE, both before any file is created. */
int lr_data_npy_write(const char *path, const float *data, size_t rows, size_t cols,
                      lr_npy_dtype dtype, lr_err *err);

typedef struct lr_data_matrix lr_data_matrix;

/* Opens a matrix from `path` (.npy or .fvecs, told apart by content, not by name). A float32
 * .npy is memory-mapped read-only; float16 and .fvecs are converted into memory. A 1-d .npy of
 * length D is one row of D values. When `expect_rows` is not 0 the row count must equal it (row
 * i is item i). Refused, with the file named: a wrong row count (LR_EMISMATCH), a dtype other
 * than <f4 / <f2 or Fortran order (LR_EUNSUPPORTED), a malformed header, a truncated or
 * oversized file, NaN or Inf values (LR_EFORMAT). */
int lr_data_matrix_open(const char *path, size_t expect_rows, lr_data_matrix **out, lr_err *err);

/* lr_data_matrix_open with flags. LR_DATA_MATRIX_KEEP_F16: a float16 .npy stays mapped as it is
 * (half the memory of widening it, and only the pages read are resident): lr_data_matrix_data is
 * then NULL and lr_data_matrix_half gives the values; read rows with lr_data_matrix_row or
 * lr_data_half_dot. Other files open as without the flag. */
#define LR_DATA_MATRIX_KEEP_F16 1u
int lr_data_matrix_open_ex(const char *path, size_t expect_rows, unsigned flags, lr_data_matrix **out,
                           lr_err *err);

/* A matrix holding a copy of rows x dim floats (NaN or Inf: LR_EINVAL). */
int lr_data_matrix_from_floats(const float *data, size_t rows, size_t dim, lr_data_matrix **out,
                               lr_err *err);

size_t lr_data_matrix_rows(const lr_data_matrix *m);
size_t lr_data_matrix_dim(const lr_data_matrix *m);
/* rows * dim floats, row-major; valid until lr_data_matrix_free. NULL for float16 kept mapped. */
const float *lr_data_matrix_data(const lr_data_matrix *m);
/* rows * dim float16 values for a matrix opened with LR_DATA_MATRIX_KEEP_F16 from a float16
 * file, else NULL. */
const uint16_t *lr_data_matrix_half(const lr_data_matrix *m);
/* Row i (below rows) as dim floats into out, whatever the storage. */
void lr_data_matrix_row(const lr_data_matrix *m, size_t i, float *out);
/* The dot product of dim floats q with dim float16 values h, in float32 (F16C and FMA where the
 * CPU has them; the same sum, up to rounding order, otherwise). */
float lr_data_half_dot(const float *q, const uint16_t *h, size_t dim);
/* "npy-f32 (mapped)", "npy-f32 (copied)" (an unaligned header), "npy-f16", "npy-f16 (mapped)",
 * "fvecs", "memory". */
const char *lr_data_matrix_source(const lr_data_matrix *m);
void lr_data_matrix_free(lr_data_matrix *m); /* NULL is a no-op */

/* XXH3-64 of each row's float32 values (n rows into hash): what a rebuild compares to know
 * which items' content changed. About 10 GB/s, on the threads the program set. */
void lr_data_matrix_row_hashes(const lr_data_matrix *m, uint64_t *hash);
/* A digest of a matrix: "x" and 16 hex digits of XXH3-64 over its rows' hashes (whatever the
 * file's dtype): how manifests name the content a version was built from, at a tenth of a
 * CRC-32 of the file's cost. From the row hashes already made, or from the matrix (LR_ENOMEM
 * when the n hashes cannot be held). */
#define LR_DATA_DIGEST_LEN 18
void lr_data_digest_of_rows(const uint64_t *hash, size_t n, char out[LR_DATA_DIGEST_LEN]);
int lr_data_matrix_digest(const lr_data_matrix *m, char out[LR_DATA_DIGEST_LEN]);

/* The first NaN or infinity among rows x dim floats is an error `code` naming it:
 * "<name>: row 17, column 3 is NaN" (or "is Inf", "is -Inf"). */
int lr_data_check_finite(const float *x, size_t rows, size_t dim, int code, const char *name,
                         lr_err *err);

/* L2-normalises each of `rows` rows of `dim` floats in place; all-zero rows stay zero. */
void lr_data_l2_normalize_rows(float *x, size_t rows, size_t dim);

/* IEEE 754 binary16 <-> binary32. half -> float is exact (subnormals, signed zeros, infinities,
 * NaN payloads kept). float -> half rounds to nearest, ties to even; values from 65520 up
 * become infinity, below 2^-25 zero; NaN stays a (quiet) NaN with its sign. */
float lr_data_half_to_float(uint16_t h);
uint16_t lr_data_float_to_half(float f);
/* bfloat16 (the top 16 bits of a float32) -> float32, exact; float32 -> bfloat16 rounds to
 * nearest, ties to even (values from 0x1.ff8p127 up become infinity); NaN stays a quiet NaN. */
float lr_data_bf16_to_float(uint16_t h);
uint16_t lr_data_float_to_bf16(float f);

/* ---- safetensors (model weights) -------------------------------------------------------------- */

/* Hugging Face safetensors files: an 8-byte little-endian header length N,
 * N bytes of JSON naming each tensor's dtype, shape and byte range, then the tensors' bytes.
 * An opened file is read-only: concurrent reads and getters on it are safe. */

/* Largest header accepted (and written), as the reference implementation limits it. */
#define LR_DATA_ST_MAX_HEADER 100000000u

/* The floating-point dtypes: written by lr_data_st_write, widened to float32 by the readers.
 * LR_DATA_ST_OTHER stands for every other dtype of the format (I64, F64, ...). */
typedef enum {
    LR_DATA_ST_F32 = 0,
    LR_DATA_ST_F16 = 1,
    LR_DATA_ST_BF16 = 2,
    LR_DATA_ST_OTHER = 3,
} lr_data_st_dtype;

/* One float32 tensor to write. data: shape[0]*...*shape[ndim-1] floats (1 float when ndim is 0,
 * may be NULL when that product is 0). Only the first ndim entries of shape are read. */
typedef struct {
    const char *name;
    const float *data;
    size_t ndim; /* 0 .. 4 */
    size_t shape[4];
} lr_data_st_tensor;

/* Writes n tensors, in the given order, their data contiguous in that order, and n_meta string
 * pairs as "__metadata__" (none written when n_meta is 0), through lr_data_write_aside. The
 * header is padded with spaces so the data starts at a multiple of 8 bytes. Refuses (LR_EINVAL)
 * NULL or duplicate names, the name "__metadata__", metadata keys starting with "__" or
 * repeated, and strings that are not UTF-8; on failure path is untouched (LR_EIO).
 * meta_keys, meta_values: n_meta strings each (may be NULL when n_meta is 0). */
int lr_data_st_write(const char *path, const lr_data_st_tensor *tensors, size_t n,
                     const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                     lr_err *err);

/* As lr_data_st_write, tensor i stored as dtypes[i] (all F32 when dtypes is NULL): F16 and BF16
 * round to nearest even, and a finite value that would round to infinity is refused (LR_ERANGE,
 * naming the tensor); LR_DATA_ST_OTHER is LR_EINVAL. */
int lr_data_st_write_as(const char *path, const lr_data_st_tensor *tensors,
                        const lr_data_st_dtype *dtypes, size_t n, const char *const *meta_keys,
                        const char *const *meta_values, size_t n_meta, lr_err *err);

/* One tensor of raw little-endian elements, stored as they are: dtype is one of the format's
 * names ("U8", "U32", "I64", ..., "F32"); data holds shape[0]*...*shape[ndim-1] elements of it. */
typedef struct {
    const char *name;
    const char *dtype;
    const void *data;
    size_t ndim; /* 0 .. 4 */
    size_t shape[4];
} lr_data_st_raw;

/* As lr_data_st_write, for raw tensors (an unknown dtype is LR_EINVAL): how integer tables
 * (item attributes' ids and offsets, strings as U8) are stored. */
int lr_data_st_write_raw(const char *path, const lr_data_st_raw *tensors, size_t n,
                         const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                         lr_err *err);

typedef struct lr_data_st_file lr_data_st_file;

/* Maps the file at path read-only and validates it: header length, JSON, every tensor entry
 * (known dtype, shape, data_offsets matching the shape), the tensors covering the data section
 * exactly (no overlap, no gap, nothing after the last one), "__metadata__" an object of strings.
 * Malformed files are LR_EFORMAT, a missing file LR_ENOTFOUND, other failures LR_EIO; every
 * message starts with the path. On failure *out is NULL. Cost: the header in memory; tensor data
 * is read from the mapping only when a tensor is read. */
int lr_data_st_open(const char *path, lr_data_st_file **out, lr_err *err);

/* Number of tensors (the "__metadata__" entry is not one). */
size_t lr_data_st_count(const lr_data_st_file *f);

/* Name of the i-th tensor in header order, or NULL when i >= lr_data_st_count(f). Valid until
 * lr_data_st_free. */
const char *lr_data_st_name(const lr_data_st_file *f, size_t i);

/* The metadata value for key, or NULL when there is none. Valid until lr_data_st_free. */
const char *lr_data_st_meta(const lr_data_st_file *f, const char *key);

/* Copies tensor `name` into dst as float32 after checking that it exists (LR_ENOTFOUND), has
 * dtype F32, F16 or BF16 (widened exactly; others LR_EFORMAT: "<path>: tensor 'ids' has dtype
 * I64, expected F32, F16 or BF16") and exactly the shape shape[0..ndim) (LR_EMISMATCH).
 * dst: shape[0]*...*shape[ndim-1] floats; untouched on failure.
 * A linear scan of the names: O(count) per call, nothing for the few hundred tensors a model has. */
int lr_data_st_read_f32(const lr_data_st_file *f, const char *name, size_t ndim, const size_t *shape,
                        float *dst, lr_err *err);

/* Dimensions a view reports; a tensor with more has only its first LR_DATA_ST_MAX_NDIM listed. */
#define LR_DATA_ST_MAX_NDIM 8

/* Where a tensor's bytes are, as stored: data points into the file's mapping (valid until
 * lr_data_st_free) and is aligned only as the file aligns it (an F32 tensor in a file from
 * lr_data_st_write or Hugging Face's writer is 4-byte aligned when every tensor before it has a
 * size that is a multiple of 4 bytes). */
typedef struct {
    const char *dtype;      /* as the file names it: "F32", "BF16", "I64", ... */
    lr_data_st_dtype type;  /* LR_DATA_ST_OTHER for a dtype that is not F32, F16 or BF16 */
    size_t ndim;
    size_t shape[LR_DATA_ST_MAX_NDIM]; /* the first min(ndim, LR_DATA_ST_MAX_NDIM) dimensions */
    size_t numel;           /* elements (1 when ndim is 0) */
    const void *data;       /* numel little-endian elements */
    size_t bytes;
} lr_data_st_view;

/* Fills *out with tensor `name`'s dtype, shape and bytes (LR_ENOTFOUND naming the file and the
 * tensor when there is none). Nothing is copied. O(count) per call, like lr_data_st_read_f32. */
int lr_data_st_get(const lr_data_st_file *f, const char *name, lr_data_st_view *out, lr_err *err);

/* Widens elements [first, first + count) of a viewed tensor (row-major, so rows r0..r1 of a
 * matrix with C columns are first = r0 * C, count = (r1 - r0) * C) to float32 into dst (count
 * floats), exactly. LR_EFORMAT for a dtype other than F32, F16 or BF16, LR_ERANGE for a range
 * past the tensor's end; dst is untouched on failure. No allocation: safe from many threads, on
 * disjoint parts of dst. */
int lr_data_st_widen(const lr_data_st_view *v, size_t first, size_t count, float *dst,
                     lr_err *err);

void lr_data_st_free(lr_data_st_file *f); /* NULL is a no-op */

#endif /* LR_DATA_H */
