/* vmsnap: the file store: objects are files under the data directory,
 * the key their relative path (see blob.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "blob-file.h"
#include "cleanup.h"
#include "fileio.h"
#include "util.h"
#include "xalloc.h"

struct file_priv {
    char *dir;          /* the data directory */
};

struct file_reader {
    struct blob_reader base;    /* first */
    int fd;                     /* the open object */
};

static const char *
file_dir(struct blob *b)
{
    return ((const struct file_priv *)blob_priv(b))->dir;
}

static int
file_open(struct blob *b, const struct config *cfg, const char *data_dir,
          void **priv, struct error **errp)
{
    struct file_priv *p = xcalloc(1, sizeof(*p));

    p->dir = xstrdup(data_dir);
    *priv = p;
    return 0;
}

static void
file_close(struct blob *b)
{
    struct file_priv *p = blob_priv(b);

    free(p->dir);
    free(p);
}

static int
file_create(struct blob *b, const char *key, char **path,
            struct error **errp)
{
    CLEANUP_FREE char *p = xasprintf("%s/%s", file_dir(b), key);
    CLEANUP_FREE char *parent = xstrdup(p);

    if (util_mkdir_p(dirname(parent), 0700, errp) < 0) {
        return -1;
    }
    if (access(p, F_OK) == 0) {
        error_setg(errp, ERR_CONFLICT, "object %s exists already", key);
        return -1;
    }
    *path = steal_pointer(&p);
    return 0;
}

static int
file_commit(struct blob *b, const char *key, const char *path,
            const struct progress *pr, char **location, struct error **errp)
{
    CLEANUP_FREE char *want = xasprintf("%s/%s", file_dir(b), key);
    CLEANUP_CLOSE int fd = -1;

    if (strcmp(want, path) != 0) {
        error_setg(errp, ERR_INVALID, "%s is not where object %s goes", path,
                   key);
        return -1;
    }
    /* Data first, then its name: a power cut must not leave an active
     * image whose data is not on disk.
     */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fsync(fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "sync %s", path);
        return -1;
    }
    if (fchmod(fd, 0444) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "chmod %s", path);
        return -1;
    }
    if (fileio_fsync_parent(path, errp) < 0) {
        return -1;
    }
    progress_report(pr, "store", 100);
    *location = xasprintf("file:%s", key);
    return 0;
}

static void
file_discard(struct blob *b, const char *key)
{
    CLEANUP_FREE char *path = xasprintf("%s/%s", file_dir(b), key);

    unlink(path);
}

static int
file_local_path(struct blob *b, const char *location,
                const struct progress *p, char **path, struct error **errp)
{
    const char *key = blob_location_key(location, "file");

    *path = xasprintf("%s/%s", file_dir(b), key);
    return 0;
}

static int
file_open_read(struct blob *b, const char *location,
               struct blob_reader **out, int64_t *size, struct error **errp)
{
    const char *key = blob_location_key(location, "file");
    CLEANUP_FREE char *path = xasprintf("%s/%s", file_dir(b), key);
    struct file_reader *r;
    struct stat st;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO,
                         errno, "open %s", path);
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        error_setg(errp, ERR_IO, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    *size = st.st_size;
    *out = &r->base;
    return 0;
}

static ssize_t
file_read(struct blob_reader *br, void *buf, size_t len, int64_t offset,
          struct error **errp)
{
    struct file_reader *r = (struct file_reader *)br;
    ssize_t n;

    do {
        n = pread(r->fd, buf, len, offset);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, ERR_IO, errno, "read");
    }
    return n;
}

static void
file_close_read(struct blob_reader *br)
{
    struct file_reader *r = (struct file_reader *)br;

    close(r->fd);
    free(r);
}

static int
file_remove(struct blob *b, const char *location, struct error **errp)
{
    const char *key = blob_location_key(location, "file");
    CLEANUP_FREE char *path = xasprintf("%s/%s", file_dir(b), key);

    if (unlink(path) < 0 && errno != ENOENT) {
        error_setg_errno(errp, ERR_IO, errno, "remove %s", path);
        return -1;
    }
    return 0;
}

static int
file_list(struct blob *b, const char *prefix,
          bool (*fn)(const char *location, void *opaque), void *opaque,
          struct error **errp)
{
    CLEANUP_FREE char *dir = xasprintf("%s/%s", file_dir(b), prefix);
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        error_setg_errno(errp, ERR_IO, errno, "list %s", dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        CLEANUP_FREE char *key = NULL;
        CLEANUP_FREE char *loc = NULL;

        if (e->d_name[0] == '.') {
            continue;
        }
        key = xasprintf("%s%s", prefix, e->d_name);
        if (!blob_key_valid(key)) {
            continue;
        }
        loc = xasprintf("file:%s", key);
        if (!fn(loc, opaque)) {
            break;
        }
    }
    closedir(d);
    return 0;
}

static const struct blob_ops blob_file = {
    .version = BLOB_OPS_VERSION,
    .scheme = "file",
    .open = file_open,
    .close = file_close,
    .create = file_create,
    .commit = file_commit,
    .discard = file_discard,
    .local_path = file_local_path,
    .open_read = file_open_read,
    .read = file_read,
    .close_read = file_close_read,
    .remove = file_remove,
    .list = file_list,
};

const struct blob_ops *
blob_file_ops(void)
{
    return &blob_file;
}
