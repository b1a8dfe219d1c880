/* Files written so that a reader sees the old file or the new one, never half of one, and a
 * crash loses neither: the one routine behind every file learnrec writes (.npy, safetensors,
 * the text encoder, index files). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lr_data.h"

/* fsync of an existing file or directory. */
static int sync_path(const char *path, lr_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return lr_err_set(err, LR_EIO, "fsync(%s): %s", path, strerror(e));
    }
    close(fd);
    return LR_OK;
}

int lr_data_sync_path(const char *path, lr_err *err) { return sync_path(path, err); }

int lr_data_write_aside(const char *path, lr_data_path_writer write, void *ctx, lr_err *err) {
    if (!path || !path[0]) return lr_err_set(err, LR_EINVAL, "write: no path given");
    /* Aside in the same directory, so the rename is atomic; the pid keeps two writers of one
     * path apart. */
    size_t cap = strlen(path) + 32;
    char *tmp = malloc(cap);
    if (!tmp) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    int rc = write(tmp, ctx, err);
    if (!rc) rc = sync_path(tmp, err);
    if (!rc && rename(tmp, path) != 0)
        rc = lr_err_set(err, LR_EIO, "rename(%s, %s): %s", tmp, path, strerror(errno));
    if (rc) {
        unlink(tmp);
    } else { /* the rename itself is durable once the directory is synced */
        const char *slash = strrchr(path, '/');
        if (!slash) {
            rc = sync_path(".", err);
        } else {
            size_t n = slash == path ? 1 : (size_t)(slash - path);
            memcpy(tmp, path, n);
            tmp[n] = '\0';
            rc = sync_path(tmp, err);
        }
    }
    free(tmp);
    return rc;
}
