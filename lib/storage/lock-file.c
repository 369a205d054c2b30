/* vmsnap: locks as flock files on one host (see lock.h).
 *
 * A lock is an exclusive flock on <data dir>/locks/<kind>-<id>.lock.  The
 * holder unlinks the file before it lets go, so that no lock file
 * outlives its use; whoever opened the old file and then got the flock
 * sees that the path now names another file (or none) and opens it
 * again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "lock-internal.h"
#include "util.h"
#include "xalloc.h"

struct file_locks {
    struct locks base;  /* first: lock-internal.h */
    char *dir;          /* <data dir>/locks */
};

struct file_lock {
    struct lock base;   /* first: lock-internal.h */
    char *path;         /* the lock file */
    int fd;             /* holds the flock */
};

static const struct locks_ops file_locks_ops;

struct locks *
locks_open_files(const char *data_dir, struct error **errp)
{
    struct file_locks *l = xcalloc(1, sizeof(*l));

    l->base.ops = &file_locks_ops;
    l->dir = xasprintf("%s/locks", data_dir);
    if (util_mkdir_p(l->dir, 0700, errp) < 0) {
        locks_close(&l->base);
        return NULL;
    }
    return &l->base;
}

static void
file_close(struct locks *base)
{
    struct file_locks *l = (struct file_locks *)base;

    free(l->dir);
    free(l);
}

/* Is FD still the file at PATH? */
static bool
lock_is_current(int fd, const char *path)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
           a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* KIND and ID (checked by lock.c) become a file name. */
static int
file_take(struct locks *base, const char *kind, const char *id, bool wait,
          struct lock **out, struct error **errp)
{
    struct file_locks *l = (struct file_locks *)base;
    CLEANUP_FREE char *path = NULL;
    struct file_lock *lk;

    path = xasprintf("%s/%s-%s.lock", l->dir, kind, id);
    for (;;) {
        CLEANUP_CLOSE int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC,
                                    0600);

        if (fd < 0) {
            error_setg_errno(errp, ERR_IO, errno, "open %s", path);
            return -1;
        }
        if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EWOULDBLOCK) {
                error_setg(errp, ERR_CONFLICT, "%s %s is busy", kind, id);
            } else {
                error_setg_errno(errp, ERR_IO, errno, "lock %s", path);
            }
            return -1;
        }
        if (!lock_is_current(fd, path)) {
            continue;   /* its holder finished and unlinked it: again */
        }
        lk = xcalloc(1, sizeof(*lk));
        lk->base.l = base;
        lk->path = steal_pointer(&path);
        lk->fd = steal_fd(&fd);
        *out = &lk->base;
        return 0;
    }
}

static void
file_release(struct lock *base)
{
    struct file_lock *lk = (struct file_lock *)base;

    /* Unlink while still holding it: whoever opens the path next gets a
     * new file (see lock_take).
     */
    unlink(lk->path);
    close(lk->fd);
    free(lk->path);
    free(lk);
}

static int
file_held(struct locks *base, const char *kind, const char *id,
          struct error **errp)
{
    struct file_locks *l = (struct file_locks *)base;
    CLEANUP_FREE char *path = NULL;
    CLEANUP_CLOSE int fd = -1;

    path = xasprintf("%s/%s-%s.lock", l->dir, kind, id);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        error_setg_errno(errp, ERR_IO, errno, "open %s", path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            return 1;
        }
        error_setg_errno(errp, ERR_IO, errno, "lock %s", path);
        return -1;
    }
    /* Free: a holder that died left the file, which locks_sweep
     * removes (a look changes nothing).
     */
    return 0;
}

static int
file_sweep(struct locks *base, bool remove,
           void (*fn)(const char *name, void *opaque), void *opaque,
           struct error **errp)
{
    struct file_locks *l = (struct file_locks *)base;
    struct dirent *e;
    DIR *d = opendir(l->dir);
    int found = 0;

    if (d == NULL) {
        error_setg_errno(errp, ERR_IO, errno, "list %s", l->dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        CLEANUP_FREE char *path = NULL;
        CLEANUP_FREE char *name = NULL;
        CLEANUP_CLOSE int fd = -1;
        size_t len = strlen(e->d_name);

        if (e->d_name[0] == '.' || len <= 5 ||
            strcmp(e->d_name + len - 5, ".lock") != 0) {
            continue;
        }
        path = xasprintf("%s/%s", l->dir, e->d_name);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
            continue;   /* gone meanwhile, or held */
        }
        /* We hold it now: if it is still the file at PATH, nobody else
         * can be holding it (lock_take copes with an unlinked file).
         */
        if (!lock_is_current(fd, path)) {
            continue;
        }
        found++;
        name = xstrndup(e->d_name, len - 5);
        if (fn) {
            fn(name, opaque);
        }
        if (remove) {
            unlink(path);
        }
    }
    closedir(d);
    return found;
}

/* A flock is never lost while its holder lives. */
static int
file_check(struct lock *lk, struct error **errp)
{
    (void)lk;
    (void)errp;
    return 0;
}

static int
file_fence(struct lock *lk, struct catalog *cat, struct error **errp)
{
    (void)cat;
    return file_check(lk, errp);
}

static const struct locks_ops file_locks_ops = {
    .kind = "file",
    .take = file_take,
    .release = file_release,
    .held = file_held,
    .check = file_check,
    .fence = file_fence,
    .sweep = file_sweep,
    .close = file_close,
};
