/* vmsnap: the data directory (see store.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "store.h"
#include "run.h"
#include "util.h"

struct store {
    char *dir;            /* absolute path of the data directory */
    struct catalog *cat;  /* the open catalog */
};

/* The default directory when neither --data-dir nor $VMSNAP_DATA_DIR is
 * given.  Caller frees.
 */
static char *
store_default_dir(struct error **errp)
{
    const char *env = getenv("VMSNAP_DATA_DIR");
    const char *home, *xdg;
    char *dir = NULL;

    if (env && *env) {
        return strdup(env);
    }
    if (geteuid() == 0) {
        return strdup("/var/lib/vmsnap");
    }
    xdg = getenv("XDG_DATA_HOME");
    home = getenv("HOME");
    if (xdg && *xdg) {
        dir = util_path_join(xdg, "vmsnap");
    } else if (home && *home) {
        if (asprintf(&dir, "%s/.local/share/vmsnap", home) < 0) {
            dir = NULL;
        }
    } else {
        error_setg(errp, ERR_INVALID,
                   "no data directory: set --data-dir or VMSNAP_DATA_DIR");
        return NULL;
    }
    if (dir == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
    }
    return dir;
}

struct store *
store_open(const char *dir, struct error **errp)
{
    static const char *const subdirs[] = {"images", "instances", "tmp",
                                          "volumes", "volume-snapshots"};
    CLEANUP_FREE char *path = NULL;
    CLEANUP_FREE char *db = NULL;
    struct store *store;
    size_t i;

    path = dir ? strdup(dir) : store_default_dir(errp);
    if (path == NULL) {
        if (dir) {
            error_setg(errp, ERR_IO, "out of memory");
        }
        return NULL;
    }
    if (util_mkdir_p(path, 0700, errp) < 0) {
        error_prepend(errp, "data directory: ");
        return NULL;
    }
    for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        CLEANUP_FREE char *sub = util_path_join(path, subdirs[i]);

        if (sub == NULL || util_mkdir_p(sub, 0700, errp) < 0) {
            error_prepend(errp, "data directory: ");
            return NULL;
        }
    }
    store = calloc(1, sizeof(*store));
    if (store == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return NULL;
    }
    store->dir = realpath(path, NULL);
    db = util_path_join(path, "catalog.db");
    if (store->dir == NULL || db == NULL) {
        error_setg_errno(errp, ERR_IO, errno, "%s", path);
        store_close(store);
        return NULL;
    }
    store->cat = catalog_open(db, errp);
    if (store->cat == NULL) {
        store_close(store);
        return NULL;
    }
    return store;
}

void
store_close(struct store *store)
{
    if (store == NULL) {
        return;
    }
    catalog_close(store->cat);
    free(store->dir);
    free(store);
}

void
store_suspend_catalog(struct store *store)
{
    catalog_close(store->cat);
    store->cat = NULL;
}

int
store_resume_catalog(struct store *store, struct error **errp)
{
    CLEANUP_FREE char *db = util_path_join(store->dir, "catalog.db");

    if (db == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    store->cat = catalog_open(db, errp);
    return store->cat ? 0 : -1;
}

struct catalog *
store_catalog(struct store *store)
{
    return store->cat;
}

const char *
store_dir(const struct store *store)
{
    return store->dir;
}

char *
store_image_path(const struct store *store, const char *image_id,
                 const char *disk_format)
{
    char *p = NULL;

    if (asprintf(&p, "%s/images/%s.%s", store->dir, image_id,
                 disk_format) < 0) {
        return NULL;
    }
    return p;
}

char *
store_volume_path(const struct store *store, const char *volume_id)
{
    char *p = NULL;

    if (asprintf(&p, "%s/volumes/%s.qcow2", store->dir, volume_id) < 0) {
        return NULL;
    }
    return p;
}

char *
store_volume_snapshot_path(const struct store *store, const char *snap_id)
{
    char *p = NULL;

    if (asprintf(&p, "%s/volume-snapshots/%s.qcow2", store->dir,
                 snap_id) < 0) {
        return NULL;
    }
    return p;
}

char *
store_instance_path(const struct store *store, const char *instance_id,
                    const char *name)
{
    char *p = NULL;
    int r;

    if (name) {
        r = asprintf(&p, "%s/instances/%s/%s", store->dir, instance_id, name);
    } else {
        r = asprintf(&p, "%s/instances/%s", store->dir, instance_id);
    }
    return r < 0 ? NULL : p;
}

char *
store_tmp_path(const struct store *store, const char *prefix)
{
    char id[37];
    char *p = NULL;

    util_uuid_new(id);
    if (asprintf(&p, "%s/tmp/%s-%s", store->dir, prefix, id) < 0) {
        return NULL;
    }
    return p;
}

int
store_make_tmp_dir(const struct store *store, const char *prefix,
                   char **path, struct error **errp)
{
    CLEANUP_FREE char *dir = store_tmp_path(store, prefix);
    CLEANUP_CLOSE int fd = -1;

    if (dir == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    if (mkdir(dir, 0700) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "create %s", dir);
        return -1;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "lock %s", dir);
        rmdir(dir);
        return -1;
    }
    *path = steal_pointer(&dir);
    return steal_fd(&fd);
}

void
store_reap_tmp(const struct store *store)
{
    CLEANUP_FREE char *tmp = util_path_join(store->dir, "tmp");
    time_t now = time(NULL);
    struct dirent *e;
    DIR *d;

    if (tmp == NULL || (d = opendir(tmp)) == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        CLEANUP_FREE char *p = NULL;
        CLEANUP_CLOSE int fd = -1;
        struct stat st;

        if (e->d_name[0] == '.') {
            continue;
        }
        p = util_path_join(tmp, e->d_name);
        /* A minute's grace: a directory is made, then locked. */
        if (p == NULL || lstat(p, &st) < 0 || !S_ISDIR(st.st_mode) ||
            now - st.st_mtime < 60) {
            continue;
        }
        fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
            const char *argv[] = {"rm", "-rf", "--", p, NULL};

            log_warnx("removing %s, left by a process that died", p);
            run_check(argv, 60000, NULL, NULL);
        }
    }
    closedir(d);
}

/* Take an exclusive flock on PATH (created if needed); see
 * store_lock_instance for WAIT and the result.
 */
static int
store_lock_file(const char *path, bool wait, const char *what,
                struct error **errp)
{
    CLEANUP_CLOSE int fd = -1;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "open %s", path);
        return -1;
    }
    while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
        if (errno == EINTR) {
            continue;
        }
        if (errno == EWOULDBLOCK) {
            error_setg(errp, ERR_CONFLICT,
                       "%s is busy with another operation", what);
        } else {
            error_setg_errno(errp, ERR_IO, errno, "lock %s", path);
        }
        return -1;
    }
    /* The holder may have unlinked the file just before letting go (see
     * store_unlock_image): then this lock is on a file nobody else will
     * open, and the operation it guarded is over.
     */
    {
        struct stat a, b;

        if (fstat(fd, &a) < 0 || stat(path, &b) < 0 || a.st_ino != b.st_ino ||
            a.st_dev != b.st_dev) {
            error_setg(errp, ERR_CONFLICT, "%s has just finished", what);
            return -1;
        }
    }
    return steal_fd(&fd);
}

int
store_lock_instance(const struct store *store, const char *instance_id,
                    bool wait, struct error **errp)
{
    CLEANUP_FREE char *dir = store_instance_path(store, instance_id, NULL);
    CLEANUP_FREE char *path = store_instance_path(store, instance_id, "lock");
    CLEANUP_FREE char *what = util_strdup_printf("instance %s", instance_id);

    if (dir == NULL || path == NULL || what == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    /* Only compute_create makes the directory: one that is gone belongs
     * to a deleted instance, and must not come back as an empty shell.
     */
    if (access(dir, F_OK) < 0) {
        error_setg(errp, ERR_NOT_FOUND, "instance %s has no directory",
                   instance_id);
        return -1;
    }
    return store_lock_file(path, wait, what, errp);
}

char *
store_image_lock_path(const struct store *store, const char *image_id)
{
    return util_strdup_printf("%s/tmp/%s.lock", store->dir, image_id);
}

int
store_lock_image(const struct store *store, const char *image_id,
                 bool wait, struct error **errp)
{
    CLEANUP_FREE char *path = store_image_lock_path(store, image_id);
    CLEANUP_FREE char *what = util_strdup_printf("image %s", image_id);

    if (path == NULL || what == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    return store_lock_file(path, wait, what, errp);
}

void
store_unlock_image(const struct store *store, const char *image_id, int fd)
{
    CLEANUP_FREE char *path = store_image_lock_path(store, image_id);

    if (fd < 0) {
        return;
    }
    /* Unlink while still holding it: whoever opens the path next gets a
     * new file, and store_lock_file sees that the old one is gone.
     */
    if (path) {
        unlink(path);
    }
    close(fd);
}
