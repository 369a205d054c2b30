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
#include "lock.h"
#include "util.h"
#include "xalloc.h"

struct locks {
    char *dir;          /* <data dir>/locks */
};

struct lock {
    char *path;         /* the lock file */
    int fd;             /* holds the flock */
};

struct locks *
locks_open_files(const char *data_dir, struct error **errp)
{
    struct locks *l = xcalloc(1, sizeof(*l));

    l->dir = xasprintf("%s/locks", data_dir);
    if (util_mkdir_p(l->dir, 0700, errp) < 0) {
        locks_close(l);
        return NULL;
    }
    return l;
}

void
locks_close(struct locks *l)
{
    if (l) {
        free(l->dir);
        free(l);
    }
}

/* KIND and ID become a file name: refuse anything but plain words. */
static int
lock_check_name(const char *s, struct error **errp)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

    if (*s == '\0' || s[n] != '\0' || n > 64) {
        error_setg(errp, ERR_INVALID, "bad lock name '%s'", s);
        return -1;
    }
    return 0;
}

/* Is FD still the file at PATH? */
static bool
lock_is_current(int fd, const char *path)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
           a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

int
lock_take(struct locks *l, const char *kind, const char *id, bool wait,
          struct lock **out, struct error **errp)
{
    CLEANUP_FREE char *path = NULL;
    struct lock *lk;

    if (lock_check_name(kind, errp) < 0 || lock_check_name(id, errp) < 0) {
        return -1;
    }
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
        lk->path = steal_pointer(&path);
        lk->fd = steal_fd(&fd);
        *out = lk;
        return 0;
    }
}

void
lock_release(struct lock *lk)
{
    if (lk == NULL) {
        return;
    }
    /* Unlink while still holding it: whoever opens the path next gets a
     * new file (see lock_take).
     */
    unlink(lk->path);
    close(lk->fd);
    free(lk->path);
    free(lk);
}

int
lock_held(struct locks *l, const char *kind, const char *id,
          struct error **errp)
{
    CLEANUP_FREE char *path = NULL;
    CLEANUP_CLOSE int fd = -1;

    if (lock_check_name(kind, errp) < 0 || lock_check_name(id, errp) < 0) {
        return -1;
    }
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

int
locks_sweep(struct locks *l, bool remove,
            void (*fn)(const char *name, void *opaque), void *opaque,
            struct error **errp)
{
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
