/* vmsnap: the chunk store's local directory backend (see chunk-backend.h).
 *
 * Under ROOT:
 *   packs/, packs.db          chunk blobs in pack files and their map
 *                             (chunk-pack.h)
 *   chunks/<3 hex>/<64 hex>   chunk blobs of stores written before packs,
 *                             a file each (still read, touched, removed)
 *   indexes/<name>.idx        indexes
 *   store.json                the store's parameters
 *   tmp/                      files being put; renamed into place
 *   writers/<pid>-<n>.w       one per live writer, flocked by it
 *   lock                      byte-range locks (below)
 *   gc.stamp                  its mtime reads the file system's clock
 *
 * A chunk key goes to the packs; the files below hold every other key
 * and, for a chunk key the map does not have, the chunk file of an older
 * store.
 *
 * put: the bytes go to a new file in tmp/, fdatasync, then rename onto
 * the key: the content is durable before the name exists, so no crash
 * ever leaves a key with partial content.  put_finish does the same for a
 * batch with one syncfs.  sync makes durable what changed since the last
 * one: the packs' map (its WAL) and the directories that gained or lost
 * a name, or, for chunk files of an older store, the whole file system.
 *
 * Object time is the file's mtime, the file system's clock: a put sets it
 * (the file was just written), touch sets it with utimensat.  gc_begin
 * reads "now" from the same clock by stamping gc.stamp.
 *
 * The race of a touch or put against gc's "stat, then unlink if old" is
 * closed with open-file-description locks on the file "lock": byte N
 * (0-4095) stands for fan-out directory N, byte 4096 for every other
 * key.  put and touch hold it shared around rename/utimensat;
 * remove_unless_since holds it exclusive around its stat and unlink.  An
 * OFD lock belongs to an open file, not to a thread, so every holder
 * takes a descriptor of its own from a small pool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk-backend.h"
#include "chunk-pack.h"
#include "fileio.h"
#include "cleanup.h"
#include "util.h"
#include "xalloc.h"

#define DIR_FANOUT 4096           /* chunks/<3 hex>/ */
#define DIR_LOCK_OTHER DIR_FANOUT /* lock byte of non-chunk keys */
#define DIR_POOL_MAX 16           /* lock descriptors kept */
#define DIR_OTHER_MAX 16          /* non-chunk dirs awaiting fsync */

struct dir_be {
    int rootfd;                      /* the store's directory */
    pthread_mutex_t mu;              /* guards the fields below */
    int pool[DIR_POOL_MAX];          /* free descriptors of "lock" */
    size_t npool;                    /* entries in POOL */
    uint8_t dirty[DIR_FANOUT / 8];   /* fan-out dirs to fsync */
    char *other[DIR_OTHER_MAX];      /* other dirs to fsync */
    size_t nother;                   /* entries in OTHER */
    bool other_lost;                 /* more than OTHER holds: syncfs */
    unsigned long seq;               /* names of tmp files */
    long pid;                        /* ours, for those names */
    bool packs_dirty;                /* the map changed since sync */
    bool chunk_files;                /* chunks/ holds an older store's */
    struct chunk_packs *packs;       /* where chunks go */
};

/* A registered writer. */
struct dir_writer {
    int fd;     /* its flocked file in writers/ */
    char *name; /* "writers/<pid>-<n>.w" */
};

bool
chunk_key_valid(const char *key)
{
    size_t i, n = key ? strlen(key) : 0;
    bool start = true;
    char c;

    if (n == 0 || n > 255) {
        return false;
    }
    for (i = 0; i < n; i++) {
        c = key[i];
        if (c == '/') {
            if (start) {
                return false; /* empty component or leading '/' */
            }
            start = true;
            continue;
        }
        if (start && c == '.') {
            return false; /* ".", "..", hidden names */
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
            return false;
        }
        start = false;
    }
    return !start;
}

/* A chunk's key: kept in the packs. */
static bool
dir_is_chunk(const char *key)
{
    return strncmp(key, "chunks/", 7) == 0;
}

static void
dir_packs_changed(struct dir_be *d)
{
    pthread_mutex_lock(&d->mu);
    d->packs_dirty = true;
    pthread_mutex_unlock(&d->mu);
}

static int64_t
stat_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The lock byte of KEY: the fan-out directory of a chunk key. */
static long
dir_lock_byte(const char *key)
{
    char hex[4];
    char *end;
    long v;

    if (strncmp(key, "chunks/", 7) != 0 || strlen(key) < 11 ||
        key[10] != '/') {
        return DIR_LOCK_OTHER;
    }
    memcpy(hex, key + 7, 3);
    hex[3] = '\0';
    v = strtol(hex, &end, 16);
    if (*end != '\0' || v < 0 || v >= DIR_FANOUT) {
        return DIR_LOCK_OTHER;
    }
    return v;
}

/* Lock byte BYTE of "lock", shared or exclusive, waiting for it.
 * Returns the descriptor holding it (give it to dir_unlock), or -1.
 */
static int
dir_lock(struct dir_be *d, long byte, bool excl, struct error **errp)
{
    struct flock fl = {0};
    int fd = -1;

    pthread_mutex_lock(&d->mu);
    if (d->npool > 0) {
        fd = d->pool[--d->npool];
    }
    pthread_mutex_unlock(&d->mu);
    if (fd < 0) {
        fd = openat(d->rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            error_setg_errno(errp, ERR_IO, errno, "chunk store lock");
            return -1;
        }
    }
    fl.l_type = excl ? F_WRLCK : F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    while (fcntl(fd, F_OFD_SETLKW, &fl) < 0) {
        if (errno != EINTR) {
            error_setg_errno(errp, ERR_IO, errno, "chunk store lock");
            close(fd);
            return -1;
        }
    }
    return fd;
}

static void
dir_unlock(struct dir_be *d, int fd, long byte)
{
    struct flock fl = {0};

    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        close(fd); /* closing drops the lock too */
        return;
    }
    pthread_mutex_lock(&d->mu);
    if (d->npool < DIR_POOL_MAX) {
        d->pool[d->npool++] = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&d->mu);
    if (fd >= 0) {
        close(fd);
    }
}

/* Remember that the directory holding KEY must be fsynced. */
static void
dir_mark(struct dir_be *d, const char *key)
{
    const char *slash = strrchr(key, '/');
    long byte = dir_lock_byte(key);
    size_t n = slash ? (size_t)(slash - key) : 0;
    size_t i;

    pthread_mutex_lock(&d->mu);
    if (byte != DIR_LOCK_OTHER) {
        d->dirty[byte / 8] |= (uint8_t)(1u << (byte % 8));
        goto out;
    }
    for (i = 0; i < d->nother; i++) {
        if (strlen(d->other[i]) == n && strncmp(d->other[i], key, n) == 0) {
            goto out;
        }
    }
    if (d->nother < DIR_OTHER_MAX) {
        d->other[d->nother++] = n ? xstrndup(key, n) : xstrdup(".");
    } else {
        d->other_lost = true;
    }
out:
    pthread_mutex_unlock(&d->mu);
}

/* fsync the directory DIR (relative to the root). */
static int
dir_fsync_dir(struct dir_be *d, const char *dir, struct error **errp)
{
    int fd = openat(d->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fsync %s", dir);
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    close(fd);
    return 0;
}

static int
dir_sync(void *be, struct error **errp)
{
    struct dir_be *d = be;
    char *other[DIR_OTHER_MAX];
    bool fanout = false, whole, packs;
    size_t i, nother;
    int rc = 0;

    pthread_mutex_lock(&d->mu);
    for (i = 0; i < sizeof(d->dirty) && !fanout; i++) {
        fanout = d->dirty[i] != 0;
    }
    whole = fanout || d->other_lost;
    packs = d->packs_dirty;
    nother = d->nother;
    memcpy(other, d->other, nother * sizeof(other[0]));
    d->packs_dirty = false;
    d->other_lost = false;
    memset(d->dirty, 0, sizeof(d->dirty));
    d->nother = 0;
    pthread_mutex_unlock(&d->mu);

    /* Chunk files renamed into up to 4096 fan-out directories: one
     * syncfs rather than an fsync each.  Otherwise only what changed is
     * written back, the map's WAL and a few directories: a syncfs would
     * also write back everything else dirty on the file system, the
     * guests' disks included (an incremental's commit waited for it).
     */
    if (whole) {
        if (syncfs(d->rootfd) < 0) {
            error_setg_errno(errp, ERR_IO, errno, "syncfs");
            rc = -1;
        }
    } else {
        if (packs) {
            rc = packs_sync(d->packs, errp);
        }
        for (i = 0; i < nother && rc == 0; i++) {
            rc = dir_fsync_dir(d, other[i], errp);
        }
    }
    for (i = 0; i < nother; i++) {
        free(other[i]);
    }
    return rc;
}

/* Write LEN bytes at BUF to a new file under tmp/ and start its
 * writeback.  Returns the open descriptor with TMP (PATH_MAX bytes)
 * naming the file, or -1 (nothing left behind).
 */
static int
dir_write_tmp(struct dir_be *d, const void *buf, size_t len, char *tmp,
              struct error **errp)
{
    const uint8_t *p = buf;
    size_t left = len;
    unsigned long seq;
    ssize_t n;
    int fd;

    for (;;) {
        pthread_mutex_lock(&d->mu);
        seq = d->seq++;
        pthread_mutex_unlock(&d->mu);
        snprintf(tmp, PATH_MAX, "tmp/put-%ld-%lu", d->pid, seq);
        fd = openat(d->rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                    0600);
        if (fd >= 0) {
            break;
        }
        if (errno != EEXIST) {
            error_setg_errno(errp, ERR_IO, errno, "create %s", tmp);
            return -1;
        }
    }
    while (left > 0) {
        n = write(fd, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg_errno(errp, ERR_IO, n < 0 ? errno : ENOSPC,
                             "write %s", tmp);
            close(fd);
            unlinkat(d->rootfd, tmp, 0);
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    /* Start writing now, so that the fdatasync before the rename finds
     * the data on its way or done, and so that one journal commit covers
     * the allocations of a whole batch.
     */
    sync_file_range(fd, 0, (off64_t)len, SYNC_FILE_RANGE_WRITE);
    return fd;
}

/* fdatasync and close FD (the file TMP); on failure TMP is removed. */
static int
dir_sync_tmp(struct dir_be *d, int fd, const char *tmp, struct error **errp)
{
    if (fdatasync(fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fdatasync %s", tmp);
        close(fd);
        unlinkat(d->rootfd, tmp, 0);
        return -1;
    }
    if (close(fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "close %s", tmp);
        unlinkat(d->rootfd, tmp, 0);
        return -1;
    }
    return 0;
}

/* Make the directory that will hold KEY (a fan-out dir). */
static int
dir_make_parent(struct dir_be *d, const char *key, struct error **errp)
{
    const char *slash = strrchr(key, '/');
    CLEANUP_FREE char *parent = NULL;

    if (slash == NULL) {
        return 0;
    }
    parent = xstrndup(key, (size_t)(slash - key));
    if (mkdirat(d->rootfd, parent, 0700) < 0 && errno != EEXIST) {
        error_setg_errno(errp, ERR_IO, errno, "mkdir %s", parent);
        return -1;
    }
    dir_mark(d, parent); /* its parent must learn the new name */
    return 0;
}

/* Rename the synced file TMP onto KEY (making its fan-out directory if
 * needed), under the shared lock of KEY's directory.  TMP is removed on
 * failure.
 */
static int
dir_publish(struct dir_be *d, const char *tmp, const char *key,
            unsigned flags, struct error **errp)
{
    long byte = dir_lock_byte(key);
    int lfd, rc = -1, attempt, err = 0;

    lfd = dir_lock(d, byte, false, errp);
    if (lfd < 0) {
        unlinkat(d->rootfd, tmp, 0);
        return -1;
    }
    for (attempt = 0; attempt < 2; attempt++) {
        if (flags & CHUNK_PUT_EXCL) {
            rc = renameat2(d->rootfd, tmp, d->rootfd, key, RENAME_NOREPLACE);
        } else {
            rc = renameat(d->rootfd, tmp, d->rootfd, key);
        }
        err = errno;
        if (rc == 0 || err != ENOENT || attempt > 0) {
            break;
        }
        if (dir_make_parent(d, key, errp) < 0) {
            dir_unlock(d, lfd, byte);
            unlinkat(d->rootfd, tmp, 0);
            return -1;
        }
    }
    dir_unlock(d, lfd, byte);
    if (rc < 0) {
        unlinkat(d->rootfd, tmp, 0);
        if (err == EEXIST) {
            error_setg(errp, ERR_CONFLICT, "%s exists", key);
        } else {
            error_setg_errno(errp, ERR_IO, err, "rename to %s", key);
        }
        return -1;
    }
    dir_mark(d, key);
    return 0;
}

static int
dir_put(void *be, const char *key, const void *buf, size_t len,
        unsigned flags, struct error **errp)
{
    struct dir_be *d = be;
    char tmp[PATH_MAX];
    int fd;

    if (!chunk_key_valid(key)) {
        error_setg(errp, ERR_INVALID, "bad key '%s'", key);
        return -1;
    }
    if (dir_is_chunk(key) && flags == 0) {
        struct pack_put *pp;

        if (packs_append(d->packs, key, buf, len, &pp, errp) < 0 ||
            packs_publish(d->packs, &pp, 1, errp) < 0) {
            return -1;
        }
        dir_packs_changed(d);
        return 0;
    }
    fd = dir_write_tmp(d, buf, len, tmp, errp);
    if (fd < 0 || dir_sync_tmp(d, fd, tmp, errp) < 0) {
        return -1;
    }
    return dir_publish(d, tmp, key, flags, errp);
}

/* An object started by put_start. */
struct dir_put {
    struct pack_put *pp; /* a chunk appended to a pack, or NULL */
    int fd;             /* its file under tmp/, open */
    char tmp[PATH_MAX]; /* that file */
    char key[256];      /* where it goes */
};

static int
dir_put_start(void *be, const char *key, const void *buf, size_t len,
              void **token, struct error **errp)
{
    struct dir_be *d = be;
    struct dir_put *p;

    if (!chunk_key_valid(key)) {
        error_setg(errp, ERR_INVALID, "bad key '%s'", key);
        return -1;
    }
    p = xmalloc(sizeof(*p));
    snprintf(p->key, sizeof(p->key), "%s", key);
    p->pp = NULL;
    if (dir_is_chunk(key)) {
        p->fd = -1;
        if (packs_append(d->packs, key, buf, len, &p->pp, errp) < 0) {
            free(p);
            return -1;
        }
        *token = p;
        return 0;
    }
    p->fd = dir_write_tmp(d, buf, len, p->tmp, errp);
    if (p->fd < 0) {
        free(p);
        return -1;
    }
    *token = p;
    return 0;
}

static void
dir_put_cancel(void *be, void **tokens, size_t n)
{
    struct dir_be *d = be;
    struct dir_put *p;
    size_t i;

    for (i = 0; i < n; i++) {
        p = tokens[i];
        if (p && p->pp) {
            packs_cancel(d->packs, &p->pp, 1);
            free(p);
        } else if (p) {
            close(p->fd);
            unlinkat(d->rootfd, p->tmp, 0);
            free(p);
        }
    }
}

static int dir_put_finish_files(struct dir_be *d, void **tokens, size_t n,
                                struct error **errp);

/* The chunks among TOKENS go to the packs in one publish, the rest to
 * files.
 */
static int
dir_put_finish(void *be, void **tokens, size_t n, struct error **errp)
{
    struct dir_be *d = be;
    CLEANUP_FREE struct pack_put **pps = xcalloc(n ? n : 1, sizeof(*pps));
    CLEANUP_FREE void **files = xcalloc(n ? n : 1, sizeof(*files));
    struct dir_put *p;
    size_t i, npp = 0, nfiles = 0;
    int rc;

    for (i = 0; i < n; i++) {
        p = tokens[i];
        if (p->pp) {
            pps[npp++] = p->pp;
            free(p);
        } else {
            files[nfiles++] = p;
        }
    }
    rc = dir_put_finish_files(d, files, nfiles, errp);
    if (rc < 0) {
        packs_cancel(d->packs, pps, npp);
        return -1;
    }
    if (npp > 0) {
        rc = packs_publish(d->packs, pps, npp, errp);
        dir_packs_changed(d);
    }
    return rc;
}

static int
dir_put_finish_files(struct dir_be *d, void **tokens, size_t n,
                     struct error **errp)
{
    struct dir_put *p;
    size_t i;
    int rc = 0;

    /* Every file's data first, then the names.  One syncfs makes the
     * whole batch durable with one journal commit and one cache flush;
     * an fdatasync per file costs a flush each (measured: twice the wall
     * time of a backup here).  It also writes back whatever else is dirty
     * on that file system, which is why the store should have a file
     * system of its own when guests write through the page cache.
     */
    if (n > 1 && syncfs(d->rootfd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "syncfs");
        rc = -1;
    }
    for (i = 0; i < n; i++) {
        p = tokens[i];
        if (rc == 0 && n > 1) {
            if (close(p->fd) < 0) {
                error_setg_errno(errp, ERR_IO, errno, "close %s", p->tmp);
                unlinkat(d->rootfd, p->tmp, 0);
                rc = -1;
            }
        } else if (rc == 0) {
            rc = dir_sync_tmp(d, p->fd, p->tmp, errp);
        } else {
            close(p->fd);
            unlinkat(d->rootfd, p->tmp, 0);
        }
        p->fd = -1;
    }
    for (i = 0; i < n; i++) {
        p = tokens[i];
        if (rc == 0) {
            rc = dir_publish(d, p->tmp, p->key, 0, errp);
        } else {
            unlinkat(d->rootfd, p->tmp, 0);
        }
        free(p);
    }
    return rc;
}

static int
dir_get(void *be, const char *key, size_t max, uint8_t **buf, size_t *len,
        struct error **errp)
{
    struct dir_be *d = be;
    CLEANUP_CLOSE int fd = -1;
    CLEANUP_FREE uint8_t *p = NULL;
    struct stat st;
    size_t off = 0;
    ssize_t n;

    if (!chunk_key_valid(key)) {
        error_setg(errp, ERR_INVALID, "bad key '%s'", key);
        return -1;
    }
    if (dir_is_chunk(key)) {
        int rc = packs_get(d->packs, key, max, buf, len, errp);

        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
        if (!d->chunk_files) {
            error_setg(errp, ERR_NOT_FOUND, "%s: no such chunk", key);
            return -1;
        }
    }
    fd = openat(d->rootfd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO,
                         errno, "%s", key);
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        error_setg(errp, ERR_IO, "%s: not a regular file", key);
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        error_setg(errp, ERR_PROTOCOL, "%s: %lld bytes, more than %zu", key,
                   (long long)st.st_size, max);
        return -1;
    }
    p = xmalloc(st.st_size ? (size_t)st.st_size : 1);
    while (off < (size_t)st.st_size) {
        n = read(fd, p + off, (size_t)st.st_size - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, ERR_IO, errno, "read %s", key);
            return -1;
        }
        if (n == 0) {
            break; /* shrank meanwhile: the caller sees a short object */
        }
        off += (size_t)n;
    }
    *buf = steal_pointer(&p);
    *len = off;
    return 0;
}

static int
dir_touch(void *be, const char *key, struct error **errp)
{
    static const struct timespec now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    struct dir_be *d = be;
    long byte = dir_lock_byte(key);
    int lfd, rc, err;

    if (!chunk_key_valid(key)) {
        error_setg(errp, ERR_INVALID, "bad key '%s'", key);
        return -1;
    }
    if (dir_is_chunk(key)) {
        rc = packs_touch(d->packs, key, errp);
        if (rc != 0) {
            /* Another writer may have published it and its map not be
             * on disk yet: our next sync writes it back.
             */
            if (rc > 0) {
                dir_packs_changed(d);
            }
            return rc;
        }
        if (!d->chunk_files) {
            return 0;
        }
    }
    lfd = dir_lock(d, byte, false, errp);
    if (lfd < 0) {
        return -1;
    }
    rc = utimensat(d->rootfd, key, now, AT_SYMLINK_NOFOLLOW);
    err = errno;
    dir_unlock(d, lfd, byte);
    if (rc < 0) {
        if (err == ENOENT) {
            return 0;
        }
        error_setg_errno(errp, ERR_IO, err, "touch %s", key);
        return -1;
    }
    /* Another writer may have renamed it in and not yet fsynced its
     * directory: our next sync does, before we reference it.
     */
    dir_mark(d, key);
    return 1;
}

static int
dir_exists(void *be, const char *key, struct error **errp)
{
    struct dir_be *d = be;
    struct stat st;
    int rc;

    if (!chunk_key_valid(key)) {
        error_setg(errp, ERR_INVALID, "bad key '%s'", key);
        return -1;
    }
    if (dir_is_chunk(key)) {
        rc = packs_exists(d->packs, key, errp);
        if (rc != 0 || !d->chunk_files) {
            return rc;
        }
    }
    if (fstatat(d->rootfd, key, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        return 1;
    }
    if (errno == ENOENT) {
        return 0;
    }
    error_setg_errno(errp, ERR_IO, errno, "stat %s", key);
    return -1;
}

/* The packs' map answers for all the keys in one read transaction; a
 * store that still holds chunk files looks each up as dir_exists does.
 */
static int
dir_exists_sorted(void *be, const char *const *keys, size_t n,
                  size_t *missing, struct error **errp)
{
    struct dir_be *d = be;
    size_t i;

    if (!d->chunk_files) {
        return packs_exists_all(d->packs, keys, n, missing, errp);
    }
    for (i = 0; i < n; i++) {
        int rc = dir_exists(be, keys[i], errp);

        if (rc < 0) {
            return -1;
        }
        if (rc == 0) {
            break;
        }
    }
    *missing = i;
    return 0;
}

/* List the directory PATH (relative to the root, no trailing '/'),
 * recursing DEPTH more levels.
 */
static int
dir_list_at(struct dir_be *d, const char *path, int depth,
            int (*fn)(const struct chunk_obj *obj, void *opaque),
            void *opaque, struct error **errp)
{
    struct chunk_obj obj;
    struct dirent *de;
    struct stat st;
    char key[PATH_MAX];
    DIR *dir;
    int rc = 0;

    dir = fileio_opendirat(d->rootfd, path);
    if (dir == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        error_setg_errno(errp, ERR_IO, errno, "open %s", path);
        return -1;
    }
    while (rc == 0 && (errno = 0, de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        if (snprintf(key, sizeof(key), "%s/%s", path, de->d_name) >=
            (int)sizeof(key)) {
            continue;
        }
        if (fstatat(d->rootfd, key, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            continue; /* removed meanwhile */
        }
        if (S_ISDIR(st.st_mode)) {
            if (depth > 0) {
                rc = dir_list_at(d, key, depth - 1, fn, opaque, errp);
            }
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            continue;
        }
        obj.key = key;
        obj.mtime_ns = stat_mtime_ns(&st);
        obj.size = (uint64_t)st.st_size;
        rc = fn(&obj, opaque);
    }
    if (rc == 0 && errno != 0) {
        error_setg_errno(errp, ERR_IO, errno, "read %s", path);
        rc = -1;
    }
    closedir(dir);
    return rc;
}

static int
dir_list(void *be, const char *prefix,
         int (*fn)(const struct chunk_obj *obj, void *opaque), void *opaque,
         struct error **errp)
{
    struct dir_be *d = be;
    char path[PATH_MAX];
    size_t n = strlen(prefix);

    if (n == 0 || n >= sizeof(path) || prefix[n - 1] != '/') {
        error_setg(errp, ERR_INVALID, "bad prefix '%s'", prefix);
        return -1;
    }
    memcpy(path, prefix, n - 1);
    path[n - 1] = '\0';
    if (!chunk_key_valid(path)) {
        error_setg(errp, ERR_INVALID, "bad prefix '%s'", prefix);
        return -1;
    }
    if (dir_is_chunk(prefix) &&
        packs_list(d->packs, prefix, fn, opaque, errp) < 0) {
        return -1;
    }
    if (dir_is_chunk(prefix) && !d->chunk_files) {
        return 0;
    }
    return dir_list_at(d, path, 1, fn, opaque, errp);
}

static int
dir_remove_unless_since(void *be, const char *key, int64_t since_ns,
                        struct error **errp)
{
    struct dir_be *d = be;
    long byte = dir_lock_byte(key);
    struct stat st;
    int lfd, rc = 0;

    if (!chunk_key_valid(key)) {
        error_setg(errp, ERR_INVALID, "bad key '%s'", key);
        return -1;
    }
    if (dir_is_chunk(key)) {
        rc = packs_remove_unless_since(d->packs, key, since_ns, errp);
        if (rc == 1) {
            dir_packs_changed(d);
        }
        if (rc != 2) {
            return rc;
        }
        if (!d->chunk_files) {
            return 0;
        }
        rc = 0; /* not in the map: perhaps a chunk file */
    }
    lfd = dir_lock(d, byte, true, errp);
    if (lfd < 0) {
        return -1;
    }
    if (fstatat(d->rootfd, key, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT) {
            error_setg_errno(errp, ERR_IO, errno, "stat %s", key);
            rc = -1;
        }
    } else if (stat_mtime_ns(&st) < since_ns) {
        if (unlinkat(d->rootfd, key, 0) == 0) {
            rc = 1;
        } else if (errno != ENOENT) {
            error_setg_errno(errp, ERR_IO, errno, "remove %s", key);
            rc = -1;
        }
    }
    dir_unlock(d, lfd, byte);
    if (rc == 1) {
        dir_mark(d, key);
    }
    return rc;
}

/* One try at registering: make writers/.new-*, lock it, rename it to
 * writers/<pid>-<n>.w.  Returns 0, or -1 with errno set (ENOENT: gc took
 * the unnamed file for a dead writer's and removed it; try again).
 */
static int
dir_register_once(struct dir_be *d, struct dir_writer *w)
{
    char tmp[PATH_MAX];
    unsigned long seq;
    int fd, err;

    do {
        pthread_mutex_lock(&d->mu);
        seq = d->seq++;
        pthread_mutex_unlock(&d->mu);
        snprintf(tmp, sizeof(tmp), "writers/.new-%ld-%lu", (long)getpid(),
                 seq);
        fd = openat(d->rootfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                    0600);
    } while (fd < 0 && errno == EEXIST);
    if (fd < 0) {
        return -1;
    }
    free(w->name);
    w->name = util_strdup_printf("writers/%ld-%lu.w", (long)getpid(), seq);
    /* Locked before it gets the name gc looks at, so gc never takes a
     * starting writer for a dead one.
     */
    if (w->name == NULL || flock(fd, LOCK_EX) < 0 ||
        renameat(d->rootfd, tmp, d->rootfd, w->name) < 0) {
        err = w->name ? errno : ENOMEM;
        unlinkat(d->rootfd, tmp, 0);
        close(fd);
        errno = err;
        return -1;
    }
    w->fd = fd;
    return 0;
}

static int
dir_writer_begin(void *be, void **token, int64_t *start_ns,
                 struct error **errp)
{
    struct dir_be *d = be;
    struct dir_writer *w;
    struct stat st;
    int i, rc = -1;

    w = xcalloc(1, sizeof(*w));
    for (i = 0; i < 10 && rc < 0; i++) {
        rc = dir_register_once(d, w);
        if (rc < 0 && errno != ENOENT) {
            break;
        }
    }
    if (rc < 0 || futimens(w->fd, NULL) < 0 || fstat(w->fd, &st) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "register writer");
        if (rc == 0) {
            unlinkat(d->rootfd, w->name, 0);
            close(w->fd);
        }
        free(w->name);
        free(w);
        return -1;
    }
    *start_ns = stat_mtime_ns(&st);
    *token = w;
    return 0;
}

static void
dir_writer_end(void *be, void *token)
{
    struct dir_be *d = be;
    struct dir_writer *w = token;

    if (w == NULL) {
        return;
    }
    unlinkat(d->rootfd, w->name, 0);
    close(w->fd);
    free(w->name);
    free(w);
}

static int
dir_gc_begin(void *be, int64_t *now_ns, int64_t *oldest_ns,
             struct error **errp)
{
    struct dir_be *d = be;
    int64_t now, oldest = INT64_MAX;
    struct dirent *de;
    struct stat st;
    char name[PATH_MAX];
    DIR *dir;
    int fd;

    fd = openat(d->rootfd, "gc.stamp", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || futimens(fd, NULL) < 0 || fstat(fd, &st) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "gc.stamp");
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    close(fd);
    now = stat_mtime_ns(&st);

    dir = fileio_opendirat(d->rootfd, "writers");
    if (dir == NULL) {
        error_setg_errno(errp, ERR_IO, errno, "open writers");
        return -1;
    }
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        snprintf(name, sizeof(name), "writers/%s", de->d_name);
        fd = openat(d->rootfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
            if (fd >= 0) {
                close(fd);
            }
            continue;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            /* Alive: its start bounds what gc may remove. */
            if (stat_mtime_ns(&st) < oldest) {
                oldest = stat_mtime_ns(&st);
            }
        } else {
            /* Its writer died (or, for a .new file, has not locked it
             * yet: that writer sees its rename fail and tries again).
             */
            unlinkat(d->rootfd, name, 0);
        }
        close(fd);
    }
    closedir(dir);
    *now_ns = now;
    *oldest_ns = oldest;
    return 0;
}

static int
dir_compact(void *be, uint64_t *freed, struct error **errp)
{
    struct dir_be *d = be;

    return packs_compact(d->packs, freed, errp);
}

static int
dir_usage_add(const struct chunk_obj *obj, void *opaque)
{
    *(uint64_t *)opaque += obj->size;
    return 0;
}

static int
dir_usage(void *be, uint64_t *bytes, struct error **errp)
{
    struct dir_be *d = be;

    if (packs_disk_bytes(d->packs, bytes, errp) < 0) {
        return -1;
    }
    if (d->chunk_files &&
        dir_list_at(d, "chunks", 1, dir_usage_add, bytes, errp) < 0) {
        return -1;
    }
    return 0;
}

static void
dir_close(void *be)
{
    struct dir_be *d = be;
    size_t i;

    packs_close(d->packs);
    for (i = 0; i < d->npool; i++) {
        close(d->pool[i]);
    }
    for (i = 0; i < d->nother; i++) {
        free(d->other[i]);
    }
    close(d->rootfd);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Whether chunks/ under ROOTFD holds anything: chunk files of a store
 * written before packs.  No new ones appear (vmsnap no longer makes
 * them), so this is decided once, at open.
 */
static bool
dir_has_chunk_files(int rootfd)
{
    DIR *dir = fileio_opendirat(rootfd, "chunks");
    struct dirent *de;
    bool any = false;

    if (dir == NULL) {
        return errno != ENOENT; /* unsure: look for them */
    }
    while (!any && (de = readdir(dir)) != NULL) {
        any = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    }
    closedir(dir);
    return any;
}

static const struct chunk_backend_ops dir_ops = {
    .version = CHUNK_BACKEND_VERSION,
    .name = "dir",
    .put = dir_put,
    .put_start = dir_put_start,
    .put_finish = dir_put_finish,
    .put_cancel = dir_put_cancel,
    .get = dir_get,
    .touch = dir_touch,
    .exists = dir_exists,
    .exists_sorted = dir_exists_sorted,
    .list = dir_list,
    .remove_unless_since = dir_remove_unless_since,
    .sync = dir_sync,
    .writer_begin = dir_writer_begin,
    .writer_end = dir_writer_end,
    .gc_begin = dir_gc_begin,
    .close = dir_close,
    .compact = dir_compact,
    .usage = dir_usage,
};

struct chunk_backend *
chunk_backend_dir_open(const char *root, bool create, struct error **errp)
{
    static const char *const subdirs[] = {"chunks", "indexes", "tmp",
                                          "writers"};
    struct chunk_backend *be;
    struct dir_be *d;
    size_t i;
    int fd;

    if (create && util_mkdir_p(root, 0700, errp) < 0) {
        return NULL;
    }
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO,
                         errno, "chunk store %s", root);
        return NULL;
    }
    for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        if (create && mkdirat(fd, subdirs[i], 0700) < 0 && errno != EEXIST) {
            error_setg_errno(errp, ERR_IO, errno, "mkdir %s/%s", root,
                             subdirs[i]);
            close(fd);
            return NULL;
        }
        if (!create && faccessat(fd, subdirs[i], F_OK, 0) < 0) {
            error_setg_errno(errp, ERR_NOT_FOUND, errno,
                             "%s is not a chunk store (%s)", root,
                             subdirs[i]);
            close(fd);
            return NULL;
        }
    }
    if (create && fsync(fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fsync %s", root);
        close(fd);
        return NULL;
    }
    d = xcalloc(1, sizeof(*d));
    d->packs = packs_open(fd, create, errp);
    if (d->packs == NULL) {
        free(d);
        close(fd);
        return NULL;
    }
    d->chunk_files = dir_has_chunk_files(fd);
    be = xcalloc(1, sizeof(*be));
    d->rootfd = fd;
    d->pid = (long)getpid();
    pthread_mutex_init(&d->mu, NULL);
    be->ops = &dir_ops;
    be->priv = d;
    return be;
}

void
chunk_backend_close(struct chunk_backend *be)
{
    if (be == NULL) {
        return;
    }
    be->ops->close(be->priv);
    free(be);
}
