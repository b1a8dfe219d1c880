/* The RecBole loaders on arbitrary files, through lr_data_load on a directory (which also finds
 * the format): the sequence split (ds.{train,valid,test}.inter with item_id_list; UniSRec's with
 * ds.item2index, ds.user2index and ds.text, or the benchmark files' with ds.item) and the rating
 * files (ds.inter with ds.item and ds.user).
 *
 * Input: the dataset's files as sections (fuzz_sections.h), e.g.
 *     ==> ds.item2index <==
 *     a<TAB>0
 *     ==> ds.train.inter <==
 *     user_id:token<TAB>item_id_list:token_seq<TAB>item_id:token
 *     ...
 * NAME is one of the names below; others are ignored.
 *
 * Asserted: a refusal has a message, and a malformed file's names the file; a dataset that loads
 * is whole (fuzz_dataset.h: ids within counts, tokens found again, no "" for NULL, splits and
 * statistics that add up) and survives lr_data_write_recbole and a reload unchanged.
 * LR_FUZZ_VERBOSE=1 prints each refusal's message (why a seed does not load). */
#include "fuzz_dataset.h"
#include "fuzz_sections.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"ds.train.inter", "ds.valid.inter", "ds.test.inter",
                                    "ds.item2index",  "ds.user2index",  "ds.text",
                                    "ds.item",        "ds.user",        "ds.inter",
                                    NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char dir[256];
    lr_fuzz_path("ds", dir, sizeof dir);
    mkdir(dir, 0700);
    if (lr_fuzz_write_sections(dir, names, data, size) <= 0) return 0;
    lr_data *d = NULL;
    lr_err err = {0, ""};
    int rc = lr_data_load(dir, &d, &err);
    if (rc) {
        if (getenv("LR_FUZZ_VERBOSE")) fprintf(stderr, "refused: %s\n", err.msg);
        lr_fuzz_check_refusal(rc, &err, "ds.");
        LR_FUZZ_REQUIRE(!d, "refused, but a dataset came out");
        return 0;
    }
    lr_data_format f = lr_data_get_format(d);
    LR_FUZZ_REQUIRE(f == LR_DATA_RECBOLE_SEQ || f == LR_DATA_RECBOLE_RATING, "format %d", (int)f);
    lr_fuzz_check_dataset(d);
    lr_fuzz_check_round_trip(d);
    lr_data_free(d);
    return 0;
}
