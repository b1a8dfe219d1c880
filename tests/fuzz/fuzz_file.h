/* Shared by the file-reader harnesses: the readers take a path, so each input is written to a
 * file of this process's own (on /dev/shm when there is one: no disk traffic per execution). */
#ifndef LR_FUZZ_FILE_H
#define LR_FUZZ_FILE_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char lr_fuzz_dir_[64];

/* Removes path and, when it is a directory, everything under it (symbolic links are removed,
 * never followed). */
static inline void lr_fuzz_rmtree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[1024];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", path, e->d_name) < sizeof p) lr_fuzz_rmtree(p);
    }
    if (d) closedir(d);
    rmdir(path);
}

/* The directory and what the harness wrote into it go when the process ends. */
static inline void lr_fuzz_cleanup_(void) { lr_fuzz_rmtree(lr_fuzz_dir_); }

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
