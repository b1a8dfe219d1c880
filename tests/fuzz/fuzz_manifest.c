/* The index manifest (a published version's manifest.json) on arbitrary bytes, read the way
 * `serve` and `reload` read it: lr_index_open on an index directory whose current version has
 * the input as its manifest.
 *
 * Once per process the harness publishes a real version to open: 256 vectors of dimension 8
 * (fixed, from a small generator), "IVF4,Flat", re-scoring vectors at depth 10 (vectors.npy),
 * two operating points, metadata model=1a2b3c4d and content=deadbeef, and a removed.txt
 * listing ids 5 and 17 beside them (read only when the manifest counts removed ids). FAISS
 * builds that index the same way every time, so the seeds (tests/fuzz/corpus/manifest) carry the
 * right checksums and the fuzzer gets past them to the index, the vectors and the points.
 * LR_FUZZ_SEED_OUT=FILE makes the harness copy the manifest it published there (how the seeds
 * were made; rerun it if a FAISS upgrade changes index.faiss).
 *
 * Asserted: a refusal has a message; a version that opens is what its manifest says (dimension,
 * count, removed ids, the required metadata), and searches on it (k = 1, 10, 100, and with
 * nprobe 2) succeed with ids of the index, none removed, none twice, finite scores, the padding
 * (-1, -inf) only at the end.
 * LR_FUZZ_VERBOSE=1 prints each refusal's message (why a seed does not load). */
#include <math.h>
#include <string.h>

#include "fuzz_file.h"
#include "lr_data.h"
#include "lr_index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N 256
#define DIM 8

static float x[N * DIM];
static char dir[256], manifest[320];

#define REQUIRE(cond, ...)                                                                     \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "broken promise (%s): ", #cond);                                   \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[4096];
    size_t n;
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    if (a) fclose(a);
    if (b) fclose(b);
}

/* The version every input is the manifest of; aborts when it cannot be made. */
static void publish_once(void) {
    uint64_t s = 42;
    for (size_t i = 0; i < N * DIM; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 40) & 0xFFFF) / 32768.0f - 1.0f;
    }
    lr_data_l2_normalize_rows(x, N, DIM);
    lr_fuzz_path("idx", dir, sizeof dir);
    lr_err err = {0, ""};
    lr_index *ix = NULL;
    const lr_index_tune points[2] = {{5, 2, 0, 0.9, 1}, {20, 4, 10, 0.95, 1}};
    const lr_index_kv meta[2] = {{"model", "1a2b3c4d"}, {"content", "deadbeef"}};
    lr_index_publish_opts o = {.meta = meta, .n_meta = 2, .tuned_on = "fuzz"};
    if (lr_index_build(x, N, DIM, NULL, "IVF4,Flat", &ix, &err) ||
        lr_index_set_rescore(ix, x, N, 10, &err) || lr_index_set_points(ix, points, 2, &err) ||
        lr_index_publish(ix, dir, &o, NULL, &err)) {
        fprintf(stderr, "fuzz_manifest: cannot publish the version to open: %s\n", err.msg);
        abort();
    }
    lr_index_free(ix);
    char removed[320];
    snprintf(removed, sizeof removed, "%s/versions/v000001/removed.txt", dir);
    FILE *f = fopen(removed, "w");
    if (!f || fputs("5\n17\n", f) < 0 || fclose(f) != 0) abort();
    snprintf(manifest, sizeof manifest, "%s/versions/v000001/manifest.json", dir);
    const char *seed = getenv("LR_FUZZ_SEED_OUT");
    if (seed) copy_file(manifest, seed);
}

/* Searches ix for row 3's vector: must succeed, with ids of the index, each once, none removed. */
static void check_search(const lr_index *ix, const lr_index_manifest *m, size_t k, size_t nprobe) {
    int64_t ids[100];
    float scores[100];
    lr_err err = {0, ""};
    int rc = nprobe ? lr_index_search_nprobe(ix, 1, x + 3 * DIM, k, nprobe, ids, scores, &err)
                    : lr_index_search(ix, 1, x + 3 * DIM, k, ids, scores, &err);
    if (rc == LR_EUNSUPPORTED && nprobe) return; /* documented: not every index takes a call's nprobe */
    REQUIRE(rc == LR_OK, "search k %zu nprobe %zu on an opened version: %s", k, nprobe, err.msg);
    int padding = 0;
    for (size_t j = 0; j < k; j++) {
        if (ids[j] == -1) {
            REQUIRE(scores[j] == -INFINITY, "padding with score %g", scores[j]);
            padding = 1;
            continue;
        }
        REQUIRE(!padding && ids[j] >= 0 && ids[j] < N && isfinite(scores[j]), "result %zu: id %lld score %g",
                j, (long long)ids[j], scores[j]);
        REQUIRE(!m->removed_count || (ids[j] != 5 && ids[j] != 17), "removed id %lld returned",
                (long long)ids[j]);
        for (size_t i = 0; i < j; i++) REQUIRE(ids[i] != ids[j], "id %lld twice", (long long)ids[j]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!manifest[0]) publish_once();
    FILE *f = fopen(manifest, "wb");
    if (!f) return 0;
    int bad = size && fwrite(data, 1, size, f) != size;
    if ((fclose(f) != 0) | bad) return 0;
    const lr_index_kv expect = {"model", "1a2b3c4d"};
    lr_index *ix = NULL;
    lr_index_manifest m;
    lr_err err = {0, ""};
    int rc = lr_index_open(dir, NULL, 0, &expect, 1, &ix, &m, &err);
    if (rc) {
        if (getenv("LR_FUZZ_VERBOSE")) fprintf(stderr, "refused: %s\n", err.msg);
        REQUIRE(err.msg[0] && err.code == rc && !ix, "refused (%d) without a message", rc);
        return 0;
    }
    REQUIRE(lr_index_dim(ix) == m.dim && lr_index_count(ix) == m.count, "opened %zu x %zu, manifest %zu x %zu",
            lr_index_count(ix), lr_index_dim(ix), m.count, m.dim);
    REQUIRE(lr_index_removed_count(ix) == m.removed_count, "%zu removed, manifest %zu",
            lr_index_removed_count(ix), m.removed_count);
    const char *model = lr_index_manifest_meta(&m, "model");
    REQUIRE(model && strcmp(model, "1a2b3c4d") == 0, "opened for model %s", model ? model : "(none)");
    REQUIRE(m.n_meta <= LR_INDEX_MAX_META && m.n_points <= LR_INDEX_MAX_POINTS, "%zu meta, %zu points",
            m.n_meta, m.n_points);
    REQUIRE(memchr(m.version, 0, sizeof m.version) && memchr(m.factory, 0, sizeof m.factory) &&
                memchr(m.created, 0, sizeof m.created) && memchr(m.vectors_dtype, 0, sizeof m.vectors_dtype) &&
                memchr(m.tuned_on, 0, sizeof m.tuned_on),
            "an unterminated string");
    check_search(ix, &m, 1, 0);
    check_search(ix, &m, 10, 0);
    check_search(ix, &m, 100, 0);
    check_search(ix, &m, 10, 2);
    lr_index_free(ix);
    return 0;
}
