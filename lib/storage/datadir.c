/* vmsnap: the data directory of one host (see datadir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "datadir.h"
#include "log.h"
#include "run.h"
#include "util.h"
#include "xalloc.h"

static const char *const datadir_subdirs[] = {
    "images", "instances", "locks", "logs", "tmp", "volumes",
    "volume-snapshots", NULL,
};

/* Refuse a directory someone else could plant files in. */
static int
datadir_check_owner(const char *path, struct error **errp)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "data directory %s", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        error_setg(errp, ERR_INVALID, "data directory %s is not a directory",
                   path);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        error_setg(errp, ERR_INVALID,
                   "data directory %s belongs to user %u, not to us (%u)",
                   path, (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        error_setg(errp, ERR_INVALID,
                   "data directory %s is writable by other users (mode "
                   "%03o): make it 0700",
                   path, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

/* The reserve (audit M4): a file of DATADIR_RESERVE_BYTES kept in the
 * data directory while there is room for it, and removed when the file
 * system is full, so that the catalog can be opened and written (an
 * image deleted) to free space.  It is made again once there is room for
 * it three times over.  Errors are ignored: the reserve is a help, not a
 * promise.
 */
static void
datadir_keep_reserve(const char *dir)
{
    CLEANUP_FREE char *path = xasprintf("%s/%s", dir, DATADIR_RESERVE);
    CLEANUP_CLOSE int fd = -1;
    struct statvfs vfs;
    struct stat st;
    int64_t avail;
    bool exists;

    if (statvfs(dir, &vfs) < 0 || (vfs.f_flag & ST_RDONLY)) {
        return;
    }
    avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    exists = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
    if (exists && avail < DATADIR_RESERVE_BYTES) {
        if (unlink(path) == 0) {
            log_warnx("%s is full: released the %d MiB kept in reserve, so "
                      "that space can be freed (delete images)",
                      dir, DATADIR_RESERVE_BYTES >> 20);
        }
        return;
    }
    if (exists || avail < 3 * (int64_t)DATADIR_RESERVE_BYTES) {
        return;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              0600);
    if (fd >= 0 && posix_fallocate(fd, 0, DATADIR_RESERVE_BYTES) != 0) {
        unlink(path);
    }
}

int
datadir_open(const char *dir, char **real, struct error **errp)
{
    CLEANUP_FREE char *abs = NULL;
    size_t i;

    if (dir == NULL || *dir == '\0') {
        error_setg(errp, ERR_INVALID,
                   "no data directory: set --data-dir or VMSNAP_DATA_DIR");
        return -1;
    }
    if (util_mkdir_p(dir, 0700, errp) < 0) {
        error_prepend(errp, "data directory: ");
        return -1;
    }
    abs = realpath(dir, NULL);
    if (abs == NULL) {
        error_setg_errno(errp, ERR_IO, errno, "data directory %s", dir);
        return -1;
    }
    if (datadir_check_owner(abs, errp) < 0) {
        return -1;
    }
    for (i = 0; datadir_subdirs[i]; i++) {
        CLEANUP_FREE char *sub = xasprintf("%s/%s", abs, datadir_subdirs[i]);

        if (util_mkdir_p(sub, 0700, errp) < 0 ||
            datadir_check_owner(sub, errp) < 0) {
            return -1;
        }
    }
    datadir_keep_reserve(abs);
    *real = steal_pointer(&abs);
    return 0;
}

char *
datadir_instance_dir(const char *dir, const char *instance_id)
{
    return xasprintf("%s/instances/%s", dir, instance_id);
}

char *
datadir_volume_file(const char *dir, const char *volume_id)
{
    return xasprintf("%s/volumes/%s.qcow2", dir, volume_id);
}

char *
datadir_log_file(const char *dir, const char *name)
{
    return xasprintf("%s/logs/%s", dir, name);
}

char *
datadir_tmp_path(const char *dir, const char *prefix)
{
    char id[UTIL_UUID_LEN];

    util_uuid_new(id);
    return xasprintf("%s/tmp/%s-%s", dir, prefix, id);
}

int
datadir_make_tmp_dir(const char *dir, const char *prefix, char **path,
                     struct error **errp)
{
    CLEANUP_FREE char *tmp = datadir_tmp_path(dir, prefix);
    CLEANUP_CLOSE int fd = -1;

    if (mkdir(tmp, 0700) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "create %s", tmp);
        return -1;
    }
    fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "lock %s", tmp);
        rmdir(tmp);
        return -1;
    }
    *path = steal_pointer(&tmp);
    return steal_fd(&fd);
}

void
datadir_reap_tmp(const char *dir)
{
    CLEANUP_FREE char *tmp = xasprintf("%s/tmp", dir);
    time_t now = time(NULL);
    struct dirent *e;
    DIR *d;

    if ((d = opendir(tmp)) == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        CLEANUP_FREE char *p = NULL;
        CLEANUP_CLOSE int fd = -1;
        struct stat st;

        if (e->d_name[0] == '.') {
            continue;
        }
        p = xasprintf("%s/%s", tmp, e->d_name);
        /* A minute's grace: a directory is made, then locked. */
        if (lstat(p, &st) < 0 || now - st.st_mtime < 60) {
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            /* Files of the old layout (image locks): free ones go. */
            fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
                unlink(p);
            }
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
