/* vmsnap: copying and writing files durably (see fileio.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "xalloc.h"

/* Bytes read and written at a time. */
#define FILEIO_CHUNK (1024 * 1024)

/* Flags of every file these functions create. */
#define FILEIO_CREATE (O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)

int
fileio_open_regular(const char *path, bool nofollow, struct error **errp)
{
    CLEANUP_CLOSE int fd = -1;
    struct stat st;
    int flags;

    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
                        (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0) {
        if (errno == ELOOP && nofollow) {
            error_setg(errp, ERR_INVALID, "%s is a symbolic link", path);
        } else {
            error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO,
                             errno, "%s", path);
        }
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "%s", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, ERR_INVALID, "%s is not a regular file", path);
        return -1;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "%s", path);
        return -1;
    }
    return steal_fd(&fd);
}

/* Create PATH as a new file with MODE.  Returns the descriptor or -1. */
static int
fileio_create(const char *path, mode_t mode, struct error **errp)
{
    int fd = open(path, FILEIO_CREATE, mode);

    if (fd < 0) {
        error_setg_errno(errp, errno == EEXIST ? ERR_CONFLICT : ERR_IO,
                         errno, "create %s", path);
    }
    return fd;
}

int
fileio_write_all(int fd, const void *buf, size_t len, const char *name,
                 struct error **errp)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg_errno(errp, ERR_IO, n < 0 ? errno : EIO, "write %s",
                             name);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
fileio_pwrite_all(int fd, const void *buf, size_t len, int64_t offset)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)offset);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = ENOSPC;
            }
            return -1;
        }
        p += n;
        offset += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t
fileio_pread_full(int fd, void *buf, size_t len, int64_t offset)
{
    char *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done,
                          (off_t)(offset + (int64_t)done));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

DIR *
fileio_opendirat(int dirfd, const char *path)
{
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir;
    int err;

    if (fd < 0) {
        return NULL;
    }
    dir = fdopendir(fd);
    if (dir == NULL) {
        err = errno;
        close(fd);
        errno = err;
    }
    return dir;
}

static bool
fileio_all_zero(const char *buf, size_t n)
{
    return n > 0 && buf[0] == 0 && memcmp(buf, buf + 1, n - 1) == 0;
}

void
fileio_write_behind(int fd, struct fileio_wb *wb, int64_t end)
{
    while (end - wb->started >= FILEIO_WB_WINDOW) {
        sync_file_range(fd, wb->started, FILEIO_WB_WINDOW,
                        SYNC_FILE_RANGE_WRITE);
        wb->started += FILEIO_WB_WINDOW;
        if (wb->started - wb->waited > 2 * FILEIO_WB_WINDOW) {
            sync_file_range(fd, wb->waited, FILEIO_WB_WINDOW,
                            SYNC_FILE_RANGE_WAIT_BEFORE |
                                SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER);
            wb->waited += FILEIO_WB_WINDOW;
        }
    }
}

/* The copy loop of fileio_copy_fd: everything but creating and removing
 * DEST.
 */
static int
fileio_copy_data(int in, const char *src_name, int out, const char *dest,
                 const struct fileio_copy_opts *o, int64_t *done,
                 struct error **errp)
{
    CLEANUP_FREE char *buf = xmalloc(FILEIO_CHUNK);
    const char *phase = o->phase != NULL ? o->phase : "copy";
    struct fileio_wb wb = {0};
    struct stat st;
    int64_t total;

    if (fstat(in, &st) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "%s", src_name);
        return -1;
    }
    total = st.st_size;
    *done = 0;
    for (;;) {
        ssize_t n = pread(in, buf, FILEIO_CHUNK, *done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, ERR_IO, errno, "read %s", src_name);
            return -1;
        }
        if (n == 0) {
            break;
        }
        if (o->max_bytes > 0 && n > o->max_bytes - *done) {
            error_setg(errp, ERR_INVALID, "%s is larger than %lld bytes",
                       src_name, (long long)o->max_bytes);
            return -1;
        }
        if (o->check != NULL &&
            *done / FILEIO_CHECK_EVERY != (*done + n) / FILEIO_CHECK_EVERY &&
            o->check(*done, o->check_opaque, errp) < 0) {
            return -1;
        }
        /* Keep holes: a chunk of zeros is skipped (ftruncate sets the
         * size at the end), so sparse raw images stay sparse.
         */
        if (fileio_all_zero(buf, (size_t)n)) {
            if (lseek(out, n, SEEK_CUR) < 0) {
                error_setg_errno(errp, ERR_IO, errno, "seek %s", dest);
                return -1;
            }
        } else if (fileio_write_all(out, buf, (size_t)n, dest, errp) < 0) {
            return -1;
        }
        *done += n;
        fileio_write_behind(out, &wb, *done);
        if (total > 0) {
            progress_report(o->progress, phase,
                            *done >= total ? 100.0
                                           : 100.0 * (double)*done /
                                                 (double)total);
        }
    }
    if (ftruncate(out, *done) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "write %s", dest);
        return -1;
    }
    if (fsync(out) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "sync %s", dest);
        return -1;
    }
    return 0;
}

int
fileio_copy_fd(int src_fd, const char *src_name, const char *dest,
               const struct fileio_copy_opts *opts, int64_t *size,
               struct error **errp)
{
    static const struct fileio_copy_opts defaults = {0};
    const struct fileio_copy_opts *o = opts != NULL ? opts : &defaults;
    int64_t done = 0;
    int out, r;

    out = fileio_create(dest, o->mode != 0 ? o->mode : 0600, errp);
    if (out < 0) {
        return -1;
    }
    r = fileio_copy_data(src_fd, src_name, out, dest, o, &done, errp);
    if (close(out) < 0 && r == 0) {
        error_setg_errno(errp, ERR_IO, errno, "close %s", dest);
        r = -1;
    }
    if (r == 0) {
        r = fileio_fsync_parent(dest, errp);
    }
    if (r < 0) {
        (void)unlink(dest);
        return -1;
    }
    if (size != NULL) {
        *size = done;
    }
    return 0;
}

int
fileio_copy_to_fd(int src_fd, const char *src_name, int out,
                  const char *out_name, const struct fileio_copy_opts *opts,
                  int64_t *size, struct error **errp)
{
    static const struct fileio_copy_opts defaults = {0};
    int64_t done = 0;

    if (fileio_copy_data(src_fd, src_name, out, out_name,
                         opts != NULL ? opts : &defaults, &done, errp) < 0) {
        return -1;
    }
    if (size != NULL) {
        *size = done;
    }
    return 0;
}

int
fileio_copy(const char *src, bool nofollow, const char *dest,
            const struct fileio_copy_opts *opts, int64_t *size,
            struct error **errp)
{
    CLEANUP_CLOSE int fd = fileio_open_regular(src, nofollow, errp);

    if (fd < 0) {
        return -1;
    }
    return fileio_copy_fd(fd, src, dest, opts, size, errp);
}

/* Write DATA into the new file FD at PATH and, when DURABLE, fsync it;
 * then close it.  Returns 0 or -1 (the caller removes PATH).
 */
static int
fileio_fill(int fd, const char *path, const void *data, size_t len,
            bool durable, struct error **errp)
{
    int r = fileio_write_all(fd, data, len, path, errp);

    if (r == 0 && durable && fsync(fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "sync %s", path);
        r = -1;
    }
    if (close(fd) < 0 && r == 0) {
        error_setg_errno(errp, ERR_IO, errno, "close %s", path);
        r = -1;
    }
    return r;
}

int
fileio_write_new(const char *path, const void *data, size_t len,
                 mode_t mode, bool durable, struct error **errp)
{
    int fd = fileio_create(path, mode, errp);

    if (fd < 0) {
        return -1;
    }
    if (fileio_fill(fd, path, data, len, durable, errp) < 0 ||
        (durable && fileio_fsync_parent(path, errp) < 0)) {
        (void)unlink(path);
        return -1;
    }
    return 0;
}

int
fileio_write_atomic(const char *path, const void *data, size_t len,
                    mode_t mode, struct error **errp)
{
    CLEANUP_FREE char *tmp = xasprintf("%s.tmp-XXXXXX", path);
    int fd;

    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "create %s", tmp);
        return -1;
    }
    if (fchmod(fd, mode) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "chmod %s", tmp);
        close(fd);
        (void)unlink(tmp);
        return -1;
    }
    if (fileio_fill(fd, tmp, data, len, true, errp) < 0) {
        (void)unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "rename %s", tmp);
        (void)unlink(tmp);
        return -1;
    }
    return fileio_fsync_parent(path, errp);
}

int
fileio_fsync_dir(const char *dir, struct error **errp)
{
    CLEANUP_CLOSE int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "sync directory %s", dir);
        return -1;
    }
    return 0;
}

int
fileio_fsync_parent(const char *path, struct error **errp)
{
    const char *slash = strrchr(path, '/');
    CLEANUP_FREE char *dir = NULL;

    if (slash == NULL) {
        return fileio_fsync_dir(".", errp);
    }
    /* "/name" lives in "/"; "a/b/name" in "a/b". */
    dir = xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
    return fileio_fsync_dir(dir, errp);
}

/* Take PATH.part (P->part) as ours: create it or open the one there,
 * lock it, and empty it.  One locked by another process is being
 * written: ERR_CONFLICT.  Returns the descriptor, or -1.
 */
static int
fileio_take_part(struct fileio_pending *p, mode_t mode, struct error **errp)
{
    for (;;) {
        CLEANUP_CLOSE int fd = open(p->part, O_WRONLY | O_CREAT |
                                                 O_NOFOLLOW | O_CLOEXEC,
                                    mode);
        struct stat a, b;

        if (fd < 0) {
            error_setg_errno(errp, ERR_IO, errno, "create %s", p->part);
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_setg_errno(errp, errno == EWOULDBLOCK ? ERR_CONFLICT
                                                        : ERR_IO,
                             errno, "%s is being written by another process",
                             p->part);
            return -1;
        }
        /* Whoever held it before us may have renamed or removed it. */
        if (fstat(fd, &a) < 0 || lstat(p->part, &b) < 0 ||
            a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
            continue;
        }
        if (!S_ISREG(a.st_mode) || ftruncate(fd, 0) < 0 ||
            fchmod(fd, mode) < 0) {
            error_setg_errno(errp, ERR_IO, S_ISREG(a.st_mode) ? errno : EINVAL,
                             "%s", p->part);
            return -1;
        }
        return steal_fd(&fd);
    }
}

int
fileio_pending_open(const char *path, mode_t mode, struct fileio_pending *p,
                    struct error **errp)
{
    CLEANUP_FREE char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');

    memset(p, 0, sizeof(*p));
    p->fd = -1;
    if (slash == dir) {
        slash[1] = '\0';
    } else if (slash != NULL) {
        *slash = '\0';
    } else {
        free(dir);
        dir = xstrdup(".");
    }
    p->path = xstrdup(path);
    p->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
    if (p->fd >= 0) {
        if (fchmod(p->fd, mode) < 0) {
            error_setg_errno(errp, ERR_IO, errno, "%s", path);
            fileio_pending_clear(p);
            return -1;
        }
        return 0;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        error_setg_errno(errp, ERR_IO, errno, "create a file in %s", dir);
        fileio_pending_clear(p);
        return -1;
    }
    p->part = xasprintf("%s.part", path);
    p->fd = fileio_take_part(p, mode, errp);
    if (p->fd < 0) {
        free(p->part);
        p->part = NULL;
        fileio_pending_clear(p);
        return -1;
    }
    return 0;
}

/* Link P's unnamed file in at P->path.part (for a replacing publish),
 * replacing one left there by a process that died.
 */
static int
fileio_link_part(struct fileio_pending *p, const char *proc,
                 struct error **errp)
{
    char *part = xasprintf("%s.part", p->path);

    for (;;) {
        CLEANUP_CLOSE int old = -1;

        if (linkat(AT_FDCWD, proc, AT_FDCWD, part, AT_SYMLINK_FOLLOW) == 0) {
            p->part = part;
            return 0;
        }
        if (errno != EEXIST) {
            break;
        }
        old = open(part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (old >= 0 && flock(old, LOCK_EX | LOCK_NB) < 0) {
            error_setg(errp, ERR_CONFLICT,
                       "%s is being written by another process", part);
            free(part);
            return -1;
        }
        if (unlink(part) < 0 && errno != ENOENT) {
            break;
        }
    }
    error_setg_errno(errp, ERR_IO, errno, "link %s", part);
    free(part);
    return -1;
}

int
fileio_pending_publish(struct fileio_pending *p, bool replace,
                       struct error **errp)
{
    char proc[64];
    struct stat st;

    if (fsync(p->fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "sync %s", p->path);
        return -1;
    }
    if (!replace && lstat(p->path, &st) == 0) {
        error_setg(errp, ERR_CONFLICT, "%s already exists", p->path);
        return -1;
    }
    if (p->part == NULL) {
        /* The unnamed file: linked in directly when nothing is there (no
         * name ever holds a part of it), else through PATH.part.
         */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", p->fd);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, p->path, AT_SYMLINK_FOLLOW) ==
            0) {
            p->published = true;
            return fileio_fsync_parent(p->path, errp);
        }
        if (errno != EEXIST || !replace) {
            error_setg_errno(errp, errno == EEXIST ? ERR_CONFLICT : ERR_IO,
                             errno, "link %s", p->path);
            return -1;
        }
        if (fileio_link_part(p, proc, errp) < 0) {
            return -1;
        }
    }
    if (rename(p->part, p->path) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "rename %s", p->part);
        return -1;
    }
    free(p->part);
    p->part = NULL;
    p->published = true;
    return fileio_fsync_parent(p->path, errp);
}

void
fileio_pending_clear(struct fileio_pending *p)
{
    if (p->part != NULL && !p->published) {
        (void)unlink(p->part);  /* ours: we hold its lock */
    }
    if (p->fd >= 0 && p->path != NULL) {
        close(p->fd);
    }
    p->fd = -1;
    free(p->part);
    free(p->path);
    p->part = NULL;
    p->path = NULL;
}
