/* What an operator does with the versions of an index directory besides publishing: list them,
 * make an older one current again (a rollback), and the lock that keeps two publishers apart. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "index_internal.h"

int lr_index_version_name_ok(const char *name) {
    if (!name || name[0] != 'v' || strlen(name) != 7) return 0;
    for (int i = 1; i < 7; i++)
        if (name[i] < '0' || name[i] > '9') return 0;
    return 1;
}

/* Two publishers in one directory would each clear the other's temporary version as debris, so
 * publishing holds an exclusive lock on DIR/.publish.lock (released by the kernel if the
 * publisher dies, so a kill -9 never leaves it held). */
int lr_index_publish_lock(const char *dir, int *fd, lr_err *err) {
    char p[4200];
    snprintf(p, sizeof p, "%s/.publish.lock", dir);
    *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (*fd < 0) return lr_err_set(err, LR_EIO, "%s: cannot open: %s", p, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return lr_err_set(err, LR_EBUSY, "%s: another rebuild, build-index or `index use` is "
                              "publishing into this directory (it holds %s); wait for it to finish",
                              dir, p);
        return lr_err_set(err, LR_EIO, "%s: cannot lock: %s", p, strerror(e));
    }
    return LR_OK;
}

void lr_index_publish_unlock(int fd) {
    if (fd >= 0) close(fd); /* closing releases the flock */
}

int lr_index_swap_current(const char *dir, const char *version, int stop_before_rename, lr_err *err) {
    char target[64], link_tmp[4200], link[4200];
    snprintf(target, sizeof target, "versions/%s", version);
    snprintf(link_tmp, sizeof link_tmp, "%s/.current.tmp.%ld", dir, (long)getpid());
    unlink(link_tmp);
    if (symlink(target, link_tmp) != 0)
        return lr_err_set(err, LR_EIO, "symlink(%s): %s", link_tmp, strerror(errno));
    if (stop_before_rename) return LR_OK;
    /* one rename swaps what readers open */
    snprintf(link, sizeof link, "%s/current", dir);
    if (rename(link_tmp, link) != 0) {
        int rc = lr_err_set(err, LR_EIO, "rename(%s, %s): %s", link_tmp, link, strerror(errno));
        unlink(link_tmp);
        return rc;
    }
    return lr_data_sync_path(dir, err);
}

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

int lr_index_versions(const char *dir, lr_index_version_list *out, lr_err *err) {
    *out = (lr_index_version_list){0};
    char versions[4200], link[4200], cur[4096];
    if (strlen(dir) > 3000) return lr_err_set(err, LR_EINVAL, "index directory path is too long");
    snprintf(versions, sizeof versions, "%s/versions", dir);
    DIR *d = opendir(versions);
    if (!d) return lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: %s (not an index "
                              "directory?)", versions, strerror(errno));
    struct dirent *e;
    int rc = LR_OK;
    while (!rc && (e = readdir(d))) {
        if (!lr_index_version_name_ok(e->d_name)) continue;
        char(*grown)[8] = realloc(out->names, (out->n + 1) * sizeof *out->names);
        if (!grown) rc = lr_err_set(err, LR_ENOMEM, "out of memory listing %s", versions);
        else memcpy(grown[out->n++], e->d_name, 8), out->names = grown;
    }
    closedir(d);
    if (rc) {
        lr_index_versions_free(out);
        return rc;
    }
    if (out->n) qsort(out->names, out->n, sizeof *out->names, cmp_name);
    snprintf(link, sizeof link, "%s/current", dir);
    ssize_t n = readlink(link, cur, sizeof cur - 1);
    cur[n > 0 ? n : 0] = '\0';
    const char *base = strrchr(cur, '/');
    base = base ? base + 1 : cur;
    if (lr_index_version_name_ok(base)) memcpy(out->current, base, 8);
    return LR_OK;
}

void lr_index_versions_free(lr_index_version_list *l) {
    free(l->names);
    *l = (lr_index_version_list){0};
}

/* The version is opened (manifest, every checksum, the FAISS file) before it becomes current:
 * a rollback to a damaged version is refused, not discovered by the next restart. */
int lr_index_use(const char *dir, const char *version, lr_index_manifest *man, lr_err *err) {
    if (!lr_index_version_name_ok(version))
        return lr_err_set(err, LR_EINVAL, "'%s' is not a version name (vNNNNNN, as `learnrec index "
                          "list` prints them)", version ? version : "");
    int fd, rc = lr_index_publish_lock(dir, &fd, err);
    if (rc) return rc;
    lr_index *ix = NULL;
    lr_index_manifest m;
    rc = lr_index_open(dir, version, 0, NULL, 0, &ix, &m, err);
    lr_index_free(ix);
    if (!rc) rc = lr_index_swap_current(dir, version, 0, err);
    lr_index_publish_unlock(fd);
    if (!rc && man) *man = m;
    return rc;
}
