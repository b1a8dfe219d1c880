/* Shared by the file-reader harnesses: the readers take a path, so each input is written to a
 * file of this process's own (on /dev/shm when there is one: no disk traffic per execution). */
#ifndef LR_FUZZ_FILE_H
#define LR_FUZZ_FILE_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char lr_fuzz_dir_[64];

/* The directory and what the harness wrote into it go when the process ends. */
static inline void lr_fuzz_cleanup_(void) {
    DIR *d = opendir(lr_fuzz_dir_);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[sizeof lr_fuzz_dir_ + 260];
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", lr_fuzz_dir_, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(lr_fuzz_dir_);
}

/* A directory of this process's own, made once; "dir/name" into path. */
static inline const char *lr_fuzz_path(const char *name, char *path, size_t cap) {
    if (!lr_fuzz_dir_[0]) {
        struct stat st;
        snprintf(lr_fuzz_dir_, sizeof lr_fuzz_dir_, "%s/lr_fuzz_%ld",
                 stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
        mkdir(lr_fuzz_dir_, 0700);
        atexit(lr_fuzz_cleanup_);
    }
    snprintf(path, cap, "%s/%s", lr_fuzz_dir_, name);
    return path;
}

/* Writes data to dir/name; the path, or NULL when it cannot be written. */
static inline const char *lr_fuzz_write(const char *name, const uint8_t *data, size_t size, char *path,
                                        size_t cap) {
    lr_fuzz_path(name, path, cap);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    int bad = size && fwrite(data, 1, size, f) != size;
    bad |= fclose(f) != 0;
    return bad ? NULL : path;
}

#endif
