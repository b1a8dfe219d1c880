/* Runs a libFuzzer harness on files, without libFuzzer: `make test` feeds it the seed corpus and
 * every input that once crashed it (tests/fuzz/regress/NAME/), in both builds (the Asan one
 * checks memory as the fuzzer does). usage: HARNESS FILE_OR_DIR... */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    size_t got = buf && n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!buf || got != (size_t)(n > 0 ? n : 0)) {
        free(buf);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, got);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    size_t ran = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st)) continue; /* a corpus folder that does not exist yet */
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i])) return fprintf(stderr, "%s: cannot read\n", argv[i]), 1;
            ran++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char p[4096];
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            if (run_file(p)) return fprintf(stderr, "%s: cannot read\n", p), 1;
            ran++;
        }
        if (d) closedir(d);
    }
    printf("%zu inputs, none crashed\n", ran);
    return 0;
}
