/* What a rebuild can take over from the version before: an item keeps its vector when its key is
 * found in that version's rows with the same content hash and the model is the same; the index
 * keeps its quantizer and those items' codes when it is IVF with array lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lr_data.h"
#include "lr_index.h"
#include "lr_towers.h"

void lr_cli_content_hashes(const lr_content *ct, size_t ni, uint64_t *hash) {
    if (ct) lr_data_matrix_row_hashes(ct, hash);
    else memset(hash, 0, ni * sizeof *hash); /* id mode: an item changes only by its key */
}

int lr_cli_rows_of(const lr_data *d, const uint64_t *hash, lr_index_rows **out, lr_err *err) {
    size_t ni = lr_data_num_items(d);
    int rc = lr_index_rows_new(ni, out, err);
    for (size_t i = 0; !rc && i < ni; i++) rc = lr_index_rows_set(*out, i, lr_data_item_token(d, i), hash[i], err);
    if (rc) {
        lr_index_rows_free(*out);
        *out = NULL;
    }
    return rc;
}

void lr_cli_prev_close(lr_cli_prev *p) {
    free(p->old_to_new);
    p->old_to_new = NULL;
}

/* The previous version's vectors, checked against its manifest. */
static int prev_vectors(const char *dir, const lr_index_manifest *m, lr_data_matrix **out, lr_err *err) {
    char path[4200], crc[9], want[9];
    snprintf(path, sizeof path, "%.3000s/versions/%s/vectors.npy", dir, m->version);
    snprintf(want, sizeof want, "%08x", m->vectors_crc32);
    int rc = lr_index_file_checksum(path, crc, err);
    if (!rc && strcmp(crc, want) != 0)
        rc = lr_err_set(err, LR_EFORMAT, "%s: checksum %s, the manifest says %s: the file is damaged", path, crc, want);
    if (!rc) rc = lr_data_matrix_open(path, 0, out, err);
    return rc;
}

/* Why the previous version cannot be used (into p->why), or "" when it can. */
static void judge(const lr_index_manifest *m, const char *model_crc, size_t D, lr_cli_prev *p) {
    const char *built = lr_index_manifest_meta(m, "model");
    if (!built || strcmp(built, model_crc) != 0)
        snprintf(p->why, sizeof p->why, "%s was built by model %s, not %s", m->version, built ? built : "(none)", model_crc);
    else if (m->dim != D)
        snprintf(p->why, sizeof p->why, "%s holds %zu-d vectors, the model makes %zu", m->version, m->dim, D);
    else if (!m->rows_count || !m->vectors_dtype[0])
        snprintf(p->why, sizeof p->why, "%s records no rows or vectors (published before incremental rebuilds)", m->version);
}

int lr_cli_prev_open(const char *dir, const char *model_crc, size_t D, const lr_data *d, const uint64_t *hash,
                     float *items, int32_t *todo, size_t *n_todo, lr_cli_prev *p, lr_err *err) {
    memset(p, 0, sizeof *p);
    lr_err e2 = {0};
    if (lr_index_read_manifest(dir, NULL, &p->man, &e2)) { /* no version yet, or none readable */
        snprintf(p->why, sizeof p->why, "no current version to start from (%.100s)", e2.msg);
        return LR_OK;
    }
    judge(&p->man, model_crc, D, p);
    if (p->why[0]) return LR_OK;
    lr_index_rows *rows = NULL;
    lr_data_matrix *vec = NULL;
    int rc = lr_index_read_rows(dir, p->man.version, &rows, err);
    if (!rc) rc = prev_vectors(dir, &p->man, &vec, err);
    size_t n_old = rows ? lr_index_rows_count(rows) : 0, ni = lr_data_num_items(d);
    if (!rc && (lr_data_matrix_dim(vec) != D || lr_data_matrix_rows(vec) < n_old))
        rc = lr_err_set(err, LR_EFORMAT, "%s: %zu x %zu vectors for %zu rows of %zu-d", p->man.version,
                        lr_data_matrix_rows(vec), lr_data_matrix_dim(vec), n_old, D);
    if (!rc && !(p->old_to_new = malloc((n_old ? n_old : 1) * sizeof *p->old_to_new)))
        rc = lr_err_set(err, LR_ENOMEM, "out of memory");
    if (!rc) {
        p->n_old = n_old;
        for (size_t j = 0; j < n_old; j++) p->old_to_new[j] = -1;
        *n_todo = 0;
        for (size_t i = 0; i < ni; i++) {
            int64_t old = lr_index_rows_find(rows, lr_data_item_token(d, i));
            if (old >= 0 && lr_index_rows_hash(rows, (size_t)old) == hash[i]) {
                memcpy(items + i * D, lr_data_matrix_data(vec) + (size_t)old * D, D * sizeof *items);
                p->old_to_new[old] = (int64_t)i;
            } else {
                todo[(*n_todo)++] = (int32_t)i;
            }
        }
        p->usable = 1;
        /* codes are kept only where FAISS stores them in plain arrays (not fast-scan blocks) */
        p->codes_usable = strncmp(p->man.factory, "IVF", 3) == 0 && !strstr(p->man.factory, "fs");
    }
    lr_index_rows_free(rows);
    lr_data_matrix_free(vec);
    if (rc) lr_cli_prev_close(p);
    if (rc && rc != LR_ENOMEM) { /* a damaged previous version: tonight's job builds everything */
        snprintf(p->why, sizeof p->why, "%.8s cannot be reused (%.150s)", p->man.version, err ? err->msg : "");
        p->usable = p->codes_usable = 0;
        return LR_OK;
    }
    return rc;
}

int lr_cli_prev_index(const lr_cli_prev *p, const char *dir, lr_index **out, lr_err *err) {
    /* the codes only: the vectors were read already, the attributes and points are set anew */
    return lr_index_open_codes(dir, p->man.version, out, err);
}
