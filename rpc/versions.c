/* Which version directory `reload` (or the server's start) may load: a plain name, or what
 * `current` points to, resolved and kept inside the index directory's versions/. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

static int plain_name(const char *v) {
    return *v && strlen(v) < LR_RPC_VERSION_NAME && !strchr(v, '/') && strcmp(v, ".") && strcmp(v, "..");
}

int lr_rpc_version_resolve(const char *dir, const char *version, char name[LR_RPC_VERSION_NAME], lr_err *err) {
    char path[PATH_MAX], root[PATH_MAX], real[PATH_MAX];
    if (version && !plain_name(version))
        return lr_err_set(err, LR_EINVAL, "a version is a plain name such as v000003, not a path");
    if (strlen(dir) > PATH_MAX - LR_RPC_VERSION_NAME - 16)
        return lr_err_set(err, LR_EINVAL, "index directory path is too long");
    snprintf(path, sizeof path, "%s/versions", dir);
    if (!realpath(path, root))
        return lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: %s (no index there?)", path,
                          strerror(errno));
    if (version) snprintf(path, sizeof path, "%s/versions/%s", dir, version);
    else snprintf(path, sizeof path, "%s/current", dir);
    if (!realpath(path, real)) {
        if (errno == ENOENT && version)
            return lr_err_set(err, LR_ENOTFOUND, "no version %s in %s/versions", version, dir);
        return lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: %s", path, strerror(errno));
    }
    /* the version must be a directory right inside versions/: a symbolic link (the version's
     * own, or `current`) that leads anywhere else is refused, wherever it leads (not said) */
    size_t n = strlen(root);
    const char *base = real + n + 1;
    if (strncmp(real, root, n) != 0 || real[n] != '/' || !plain_name(base))
        return lr_err_set(err, LR_ENOTFOUND, "%s leads outside %s/versions: only versions inside the index "
                          "directory are served", path, dir);
    memcpy(name, base, strlen(base) + 1);
    return LR_OK;
}
