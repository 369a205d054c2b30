/* vmsnap: the s3 image-data store (see blob-s3.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob-s3.h"
#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"

#define BS3_DEFAULT_CACHE_MAX ((int64_t)10 * 1024 * 1024 * 1024)
#define BS3_DEFAULT_GRACE_S 60
#define BS3_KEY_MAX 1024

struct bs3_send;

/* A file of the cache this process holds a lock on. */
struct pin {
    struct pin *next;
    char *key;                 /* the object */
    int fd;                    /* holds the flock */
    bool staging;              /* staging/KEY.lock (else objects/KEY) */
    struct bs3_send *send;     /* staging: its early sending, or NULL */
};

struct blob_s3 {
    struct s3 *s3;
    char *cache;               /* the cache directory */
    int64_t cache_max;         /* bytes */
    int grace_s;               /* entries used this recently stay */
    struct pin *pins;
};

/* A reader of one object: from the cached copy when there is one, else
 * by ranged GETs.
 */
struct bs3_reader {
    struct blob_reader base;   /* first: blob.h's contract */
    struct blob_s3 *bs;
    char *key;
    int64_t size;
    int fd;                    /* the cached copy (flocked shared), or -1 */
};

static const char *const known_prefixes[] = {
    "images/", "volume-snapshots/", "chunks/", "indexes/",
};

/* KEY as this store accepts it: plain names of [A-Za-z0-9._-] separated
 * by '/', none empty, hidden, "." or "..".  blob.c checks the prefixes
 * too; this check keeps the cache's paths inside the cache whoever calls.
 */
static bool
key_ok(const char *key)
{
    const char *p = key;
    size_t n = strlen(key);

    if (n == 0 || n > BS3_KEY_MAX) {
        return false;
    }
    if (strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789._-/") != n) {
        return false;
    }
    for (;;) {
        size_t c = strcspn(p, "/");
        if (c == 0 || p[0] == '.') {
            return false;       /* empty, hidden, "." or ".." */
        }
        if (p[c] == '\0') {
            return true;
        }
        p += c + 1;
    }
}

/* The key of LOCATION ("s3:KEY"), borrowed, or NULL with ERR_INVALID. */
static const char *
location_key(const char *location, struct error **errp)
{
    if (strncmp(location, "s3:", 3) != 0 || !key_ok(location + 3)) {
        error_setg(errp, ERR_INVALID, "not a location of the s3 store");
        return NULL;
    }
    return location + 3;
}

static char *
cache_path(const struct blob_s3 *bs, const char *sub, const char *key,
           const char *suffix)
{
    return util_strdup_printf("%s/%s/%s%s", bs->cache, sub, key,
                              suffix ? suffix : "");
}

/* Make the parent directories of PATH. */
static int
mkdir_parent(const char *path, struct error **errp)
{
    CLEANUP_FREE char *dir = xstrdup(path);
    char *slash;

    slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
    }
    return util_mkdir_p(dir, 0755, errp);
}

static void
pin_add(struct blob_s3 *bs, const char *key, int fd, bool staging)
{
    struct pin *p = xcalloc(1, sizeof(*p));

    p->key = xstrdup(key);
    p->fd = fd;
    p->staging = staging;
    p->next = bs->pins;
    bs->pins = p;
}

static struct pin *
pin_find(struct blob_s3 *bs, const char *key, bool staging)
{
    struct pin *p;

    for (p = bs->pins; p; p = p->next) {
        if (p->staging == staging && !strcmp(p->key, key)) {
            return p;
        }
    }
    return NULL;
}

static int send_stop(struct blob_s3 *bs, struct bs3_send *sd, bool keep,
                     struct error **errp);

static void
pin_drop(struct blob_s3 *bs, struct pin *drop)
{
    struct pin **pp;

    for (pp = &bs->pins; *pp; pp = &(*pp)->next) {
        if (*pp == drop) {
            *pp = drop->next;
            if (drop->send) {
                send_stop(bs, drop->send, false, NULL);
            }
            close(drop->fd);
            free(drop->key);
            free(drop);
            return;
        }
    }
}

/* Set FD's access time to now: the cache's record of the last use
 * (mount options such as noatime or relatime make the kernel's own one
 * useless for this).
 */
static void
touch_atime(int fd)
{
    struct timespec ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };

    if (futimens(fd, ts) != 0) {
        log_debug("s3", "futimens: %s", strerror(errno));
    }
}

/* Open cache entry PATH and hold a shared flock on it, making sure it is
 * still the entry (an evictor may have unlinked it meanwhile).  Returns
 * the fd, -1 when there is no entry, or -2 on error (errp set).
 */
static int
open_entry(const char *path, struct error **errp)
{
    for (;;) {
        CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat a, b;

        if (fd < 0 && errno == ENOENT) {
            return -1;
        }
        if (fd < 0) {
            error_setg_errno(errp, ERR_IO, errno, "open %s", path);
            return -2;
        }
        if (flock(fd, LOCK_SH) != 0) {
            error_setg_errno(errp, ERR_IO, errno, "flock %s", path);
            return -2;
        }
        if (fstat(fd, &a) != 0) {
            error_setg_errno(errp, ERR_IO, errno, "stat %s", path);
            return -2;
        }
        if (stat(path, &b) != 0 && errno == ENOENT) {
            return -1;          /* evicted while we waited */
        }
        if (a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
            return steal_fd(&fd);
        }
        /* Replaced under us: look again. */
    }
}

/* --- eviction ------------------------------------------------------------- */

struct entry {
    char *path;
    int64_t bytes;
    struct timespec atime;
};

struct walk {
    struct entry *v;
    size_t n, cap;
    int64_t total;
};

static __thread struct walk *walk_state; /* nftw has no opaque pointer */

static int
walk_fn(const char *path, const struct stat *st, int type, struct FTW *f)
{
    struct walk *w = walk_state;

    if (type != FTW_F || !S_ISREG(st->st_mode)) {
        return 0;
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->v = xreallocarray(w->v, w->cap, sizeof(*w->v));
    }
    w->v[w->n].path = xstrdup(path);
    w->v[w->n].bytes = (int64_t)st->st_blocks * 512;
    w->v[w->n].atime = st->st_atim;
    w->total += w->v[w->n].bytes;
    w->n++;
    return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    if (x->atime.tv_sec != y->atime.tv_sec) {
        return x->atime.tv_sec < y->atime.tv_sec ? -1 : 1;
    }
    if (x->atime.tv_nsec != y->atime.tv_nsec) {
        return x->atime.tv_nsec < y->atime.tv_nsec ? -1 : 1;
    }
    return 0;
}

/* Is some process holding a POSIX or OFD lock on FD's file (QEMU's image
 * locks)?
 */
static bool
fcntl_locked(int fd)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
                        .l_start = 0, .l_len = 0 };

    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) {
        return true;            /* cannot tell: keep it */
    }
    return fl.l_type != F_UNLCK;
}

/* Unlink entry PATH unless it is in use.  Returns true if it went. */
static bool
evict_one(const char *path)
{
    CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat a, b;

    if (fd < 0) {
        return false;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        return false;           /* a process of ours uses it */
    }
    if (fcntl_locked(fd)) {
        return false;           /* QEMU or qemu-img has it open */
    }
    if (fstat(fd, &a) != 0 || stat(path, &b) != 0 || a.st_ino != b.st_ino ||
        a.st_dev != b.st_dev) {
        return false;
    }
    if (unlink(path) != 0) {
        return false;
    }
    log_debug("s3", "evicted %s", path);
    return true;
}

int64_t
blob_s3_evict(struct blob_s3 *bs, int64_t target, struct error **errp)
{
    CLEANUP_FREE char *lockp = util_strdup_printf("%s/.lock", bs->cache);
    CLEANUP_FREE char *objects = util_strdup_printf("%s/objects", bs->cache);
    CLEANUP_CLOSE int lfd = -1;
    struct walk w = { 0 };
    struct timespec now;
    size_t i;
    int64_t left;
    int r;

    if (target < 0) {
        target = bs->cache_max;
    }
    lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
        error_setg_errno(errp, ERR_IO, errno, "lock %s", lockp);
        return -1;
    }
    walk_state = &w;
    r = nftw(objects, walk_fn, 16, FTW_PHYS);
    if (r != 0 && errno != ENOENT) {
        error_setg_errno(errp, ERR_IO, errno, "walk %s", objects);
        left = -1;
        goto out;
    }
    left = w.total;
    if (left <= target) {
        goto out;
    }
    qsort(w.v, w.n, sizeof(*w.v), entry_cmp);
    clock_gettime(CLOCK_REALTIME, &now);
    for (i = 0; i < w.n && left > target; i++) {
        if (bs->grace_s > 0 && w.v[i].atime.tv_sec > now.tv_sec - bs->grace_s) {
            continue;
        }
        if (evict_one(w.v[i].path)) {
            left -= w.v[i].bytes;
        }
    }
out:
    walk_state = NULL;
    for (i = 0; i < w.n; i++) {
        free(w.v[i].path);
    }
    free(w.v);
    return left;
}

static void
evict_quietly(struct blob_s3 *bs)
{
    struct error *err = NULL;

    if (blob_s3_evict(bs, -1, &err) < 0) {
        log_warnx("s3 cache eviction: %s", error_msg(err));
        error_free(err);
    }
}

/* --- uploads in progress -------------------------------------------------- */

/* The journal of one upload: a file in uploads/ that names it, flocked
 * while its uploader lives.
 */
struct journal {
    struct blob_s3 *bs;
    char *path;
    int fd;
};

static int
journal_started(const char *key, const char *upload_id, void *opaque,
                struct error **errp)
{
    struct journal *j = opaque;
    char name[UTIL_UUID_LEN];
    CLEANUP_FREE char *text = NULL;
    size_t len;

    util_uuid_new(name);
    j->path = util_strdup_printf("%s/uploads/%s", j->bs->cache, name);
    text = util_strdup_printf("%s\n%s\n", key, upload_id);
    len = strlen(text);
    j->fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (j->fd < 0 || flock(j->fd, LOCK_EX) != 0 ||
        write(j->fd, text, len) != (ssize_t)len || fsync(j->fd) != 0) {
        error_setg_errno(errp, ERR_IO, errno, "write %s", j->path);
        return -1;
    }
    return 0;
}

static void
journal_ended(const char *key, const char *upload_id, void *opaque)
{
    struct journal *j = opaque;

    if (j->path) {
        unlink(j->path);
    }
}

static void
journal_close(struct journal *j)
{
    if (j->fd >= 0) {
        close(j->fd);
    }
    free(j->path);
    j->path = NULL;
    j->fd = -1;
}

/* --- sending while the file is written ----------------------------------- */

/* One early sending (blob.h send_early): a thread of its own, with a
 * client of its own, uploading the staging file as its writer goes.
 */
struct bs3_send {
    struct blob_s3 *bs;
    struct s3 *s3;             /* this thread's client */
    struct file_follow *f;     /* the writer's, borrowed */
    char *key;
    char *path;
    pthread_t tid;
    int r;                     /* the upload's result, once joined */
    struct error *err;         /* its failure */
};

static int
send_wait(int64_t end, void *opaque, struct error **errp)
{
    return file_follow_wait(opaque, end, errp);
}

static int
send_md5(char *hex, void *opaque, struct error **errp)
{
    return file_follow_md5(opaque, hex, errp);
}

static void *
send_thread(void *arg)
{
    struct bs3_send *sd = arg;
    struct journal j = { .bs = sd->bs, .fd = -1 };
    struct s3_follow fl = { .wait = send_wait, .md5 = send_md5,
                            .opaque = sd->f };
    struct s3_upload_opts opts = { .started = journal_started,
                                   .ended = journal_ended, .opaque = &j,
                                   .follow = &fl };
    CLEANUP_CLOSE int fd = -1;

    sd->r = -1;
    if (file_follow_wait_size(sd->f, &fl.size, &sd->err) < 0) {
        return NULL;
    }
    fd = open(sd->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(&sd->err, ERR_IO, errno, "open %s", sd->path);
        return NULL;
    }
    opts.size = fl.size;
    sd->r = s3_upload_fd(sd->s3, sd->key, fd, &opts, &sd->err);
    journal_close(&j);
    return NULL;
}

static int
bs3_send_early(struct blob_s3 *bs, const char *key, const char *path,
               struct file_follow *f, struct error **errp)
{
    struct pin *p = pin_find(bs, key, true);
    struct bs3_send *sd;
    int e;

    if (!p) {
        error_setg(errp, ERR_INVALID, "%s is not being made here", key);
        return -1;
    }
    if (p->send) {
        error_setg(errp, ERR_INVALID, "%s is being sent already", key);
        return -1;
    }
    sd = xcalloc(1, sizeof(*sd));
    sd->bs = bs;
    sd->s3 = s3_clone(bs->s3);
    sd->f = f;
    sd->key = xstrdup(key);
    sd->path = xstrdup(path);
    e = pthread_create(&sd->tid, NULL, send_thread, sd);
    if (e != 0) {
        s3_close(sd->s3);
        free(sd->key);
        free(sd->path);
        free(sd);
        error_setg_errno(errp, ERR_IO, e, "cannot start the upload of %s",
                         key);
        return -1;
    }
    p->send = sd;
    return 0;
}

/* Wait for SD's thread and free SD: 0 when it stored the object, or -1
 * with why not.  Unless KEEP, the writer is told to stop first (a thread
 * waiting for bytes gives up).  A stored object is removed unless KEEP,
 * and so is one a PUT may have stored before its answer failed the
 * check (ERR_PROTOCOL: the ETag); a PUT that failed otherwise stored
 * nothing (S3 makes an object whole or not at all), and the store may
 * be unreachable: no request then.
 */
static int
send_stop(struct blob_s3 *bs, struct bs3_send *sd, bool keep,
          struct error **errp)
{
    int r;

    if (!keep) {
        file_follow_fail(sd->f, "the image was abandoned");
    }
    pthread_join(sd->tid, NULL);
    r = sd->r;
    if ((r == 0 && !keep) ||
        (r < 0 && sd->err && error_get_class(sd->err) == ERR_PROTOCOL)) {
        s3_delete(bs->s3, sd->key, NULL);
    }
    if (r < 0) {
        error_propagate(errp, sd->err);
        sd->err = NULL;
    }
    error_free(sd->err);
    s3_close(sd->s3);
    free(sd->key);
    free(sd->path);
    free(sd);
    return r;
}

/* Abort the uploads whose journals no live process holds. */
static void
sweep_journals(struct blob_s3 *bs)
{
    CLEANUP_FREE char *dir = util_strdup_printf("%s/uploads", bs->cache);
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d) {
        return;
    }
    while ((e = readdir(d))) {
        CLEANUP_FREE char *path = NULL;
        CLEANUP_CLOSE int fd = -1;
        char buf[BS3_KEY_MAX + 4200];
        char *nl, *id, *end;
        ssize_t n;
        struct error *err = NULL;

        if (e->d_name[0] == '.') {
            continue;
        }
        path = util_strdup_printf("%s/%s", dir, e->d_name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
            continue;           /* its uploader is alive */
        }
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0) {
            unlink(path);       /* died before writing it */
            continue;
        }
        buf[n] = '\0';
        nl = strchr(buf, '\n');
        if (!nl) {
            unlink(path);
            continue;
        }
        *nl = '\0';
        id = nl + 1;
        end = strchr(id, '\n');
        if (end) {
            *end = '\0';
        }
        if (!key_ok(buf) || !*id) {
            unlink(path);
            continue;
        }
        if (s3_abort_upload(bs->s3, buf, id, &err) == 0) {
            log_debug("s3", "aborted upload %s of %s left by a dead process",
                      id, buf);
            unlink(path);
        } else {
            log_warnx("s3: cannot abort upload %s of %s yet: %s", id, buf,
                      error_msg(err));
            error_free(err);
        }
    }
    closedir(d);
}

/* nftw callbacks removing what no live process holds: in tmp/ any file,
 * in staging/ the lock files with their data files.
 */
static int
sweep_tmp_fn(const char *path, const struct stat *st, int type,
             struct FTW *f)
{
    CLEANUP_CLOSE int fd = -1;

    if (type != FTW_F) {
        return 0;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
        unlink(path);
    }
    return 0;
}

static int
sweep_staging_fn(const char *path, const struct stat *st, int type,
                 struct FTW *f)
{
    CLEANUP_CLOSE int fd = -1;
    CLEANUP_FREE char *data = NULL;
    size_t n = strlen(path);

    if (type != FTW_F || n <= 5 || strcmp(path + n - 5, ".lock") != 0) {
        return 0;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        return 0;
    }
    data = xstrndup(path, n - 5);
    unlink(data);
    unlink(path);
    return 0;
}

static void
sweep_dir(struct blob_s3 *bs, const char *sub,
          int (*fn)(const char *, const struct stat *, int, struct FTW *))
{
    CLEANUP_FREE char *dir = util_strdup_printf("%s/%s", bs->cache, sub);

    nftw(dir, fn, 16, FTW_PHYS);
}

struct sweep {
    struct blob_s3 *bs;
    time_t before;
    int aborted;
    struct error *err;
};

static bool
sweep_upload(const char *key, const char *upload_id, time_t initiated,
             void *opaque)
{
    struct sweep *sw = opaque;

    if (initiated >= sw->before) {
        return true;
    }
    if (s3_abort_upload(sw->bs->s3, key, upload_id, &sw->err) < 0) {
        return false;
    }
    sw->aborted++;
    return true;
}

int
blob_s3_sweep_uploads(struct blob_s3 *bs, time_t max_age,
                      struct error **errp)
{
    struct sweep sw = { .bs = bs, .before = time(NULL) - max_age };
    size_t i;

    for (i = 0; i < sizeof(known_prefixes) / sizeof(known_prefixes[0]);
         i++) {
        if (s3_list_uploads(bs->s3, known_prefixes[i], sweep_upload, &sw,
                            errp) < 0) {
            return -1;
        }
        if (sw.err) {
            error_propagate(errp, sw.err);
            return -1;
        }
    }
    return sw.aborted;
}

/* --- open, close ---------------------------------------------------------- */

struct blob_s3 *
blob_s3_open(const struct blob_s3_settings *st, const char *data_dir,
             struct error **errp)
{
    static const char *const subs[] = { "objects", "staging", "tmp",
                                        "uploads" };
    struct blob_s3 *bs = xcalloc(1, sizeof(*bs));
    size_t i;
    int r;

    bs->cache_max = st->cache_max > 0 ? st->cache_max : BS3_DEFAULT_CACHE_MAX;
    bs->grace_s = st->grace_s == 0 ? BS3_DEFAULT_GRACE_S
                                   : st->grace_s < 0 ? 0 : st->grace_s;
    if (st->cache_dir && *st->cache_dir) {
        bs->cache = xstrdup(st->cache_dir);
    } else {
        bs->cache = util_strdup_printf("%s/cache/s3", data_dir);
    }
    bs->s3 = s3_open(&st->s3, errp);
    if (!bs->s3) {
        goto fail;
    }
    r = s3_bucket_exists(bs->s3, errp);
    if (r < 0) {
        error_prepend(errp, "s3 store: ");
        goto fail;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "s3 store: bucket %s does not exist",
                   s3_bucket(bs->s3));
        goto fail;
    }
    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        CLEANUP_FREE char *d = util_strdup_printf("%s/%s", bs->cache,
                                                  subs[i]);
        if (util_mkdir_p(d, 0755, errp) < 0) {
            goto fail;
        }
    }
    sweep_dir(bs, "tmp", sweep_tmp_fn);
    sweep_dir(bs, "staging", sweep_staging_fn);
    sweep_journals(bs);
    return bs;

fail:
    blob_s3_close(bs);
    return NULL;
}

void
blob_s3_close(struct blob_s3 *bs)
{
    if (!bs) {
        return;
    }
    while (bs->pins) {
        pin_drop(bs, bs->pins);
    }
    s3_close(bs->s3);
    free(bs->cache);
    free(bs);
}

struct s3 *
blob_s3_client(struct blob_s3 *bs)
{
    return bs->s3;
}

/* --- the operations ------------------------------------------------------- */

static int
bs3_create(struct blob_s3 *bs, const char *key, char **path,
           struct error **errp)
{
    CLEANUP_FREE char *data = NULL;
    CLEANUP_FREE char *lockp = NULL;
    CLEANUP_CLOSE int fd = -1;
    int r;

    if (!key_ok(key)) {
        error_setg(errp, ERR_INVALID, "bad object key");
        return -1;
    }
    r = s3_head(bs->s3, key, NULL, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 1) {
        error_setg(errp, ERR_CONFLICT, "object %s exists", key);
        return -1;
    }
    data = cache_path(bs, "staging", key, NULL);
    lockp = cache_path(bs, "staging", key, ".lock");
    if (mkdir_parent(data, errp) < 0) {
        return -1;
    }
    fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "open %s", lockp);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || pin_find(bs, key, true)) {
        error_setg(errp, ERR_CONFLICT, "object %s is being made", key);
        return -1;
    }
    /* A file a dead maker left. */
    if (unlink(data) != 0 && errno != ENOENT) {
        error_setg_errno(errp, ERR_IO, errno, "unlink %s", data);
        return -1;
    }
    pin_add(bs, key, fd, true);
    fd = -1;
    *path = steal_pointer(&data);
    return 0;
}

static int bs3_remove(struct blob_s3 *bs, const char *location,
                      struct error **errp);

static void
bs3_discard(struct blob_s3 *bs, const char *key, const char *path)
{
    struct pin *p = pin_find(bs, key, true);
    CLEANUP_FREE char *data = key_ok(key) ? cache_path(bs, "staging", key,
                                                       NULL) : NULL;
    CLEANUP_FREE char *lockp = key_ok(key) ? cache_path(bs, "staging", key,
                                                        ".lock") : NULL;

    if (!p) {
        /* Not being made by this store: its maker failed or died, maybe
         * after the upload and before any record took the location (the
         * file store's discard removes that file alike).  Unless another
         * process is making KEY now (its staging lock is held), its
         * staging file and the object go.
         */
        CLEANUP_CLOSE int fd = -1;
        CLEANUP_FREE char *loc = NULL;
        struct error *err = NULL;

        if (!data || !lockp) {
            return;
        }
        fd = open(lockp, O_RDWR | O_CLOEXEC);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
            return;             /* being made */
        }
        loc = util_strdup_printf("s3:%s", key);
        if (bs3_remove(bs, loc, &err) < 0) {
            log_warnx("s3: object %s of a failed maker stays: %s", key,
                      error_msg(err));
            error_free(err);
        }
        unlink(data);
        if (fd >= 0) {
            unlink(lockp);
        }
        return;
    }
    if (data) {
        unlink(data);
    }
    if (lockp) {
        unlink(lockp);
    }
    pin_drop(bs, p);
    sweep_journals(bs);         /* an upload whose abort failed */
}

static int
bs3_commit(struct blob_s3 *bs, const char *key, const char *path,
           const struct progress *prog, char **location, struct error **errp)
{
    CLEANUP_FREE char *data = NULL;
    CLEANUP_FREE char *entry = NULL;
    CLEANUP_FREE char *lockp = NULL;
    CLEANUP_FREE char *loc = NULL;
    CLEANUP_CLOSE int fd = -1;
    struct journal j = { .bs = bs, .fd = -1 };
    struct s3_upload_opts opts = { .progress = prog,
                                   .started = journal_started,
                                   .ended = journal_ended, .opaque = &j };
    struct pin *p = pin_find(bs, key, true);
    struct stat st;
    int r;

    data = key_ok(key) ? cache_path(bs, "staging", key, NULL) : NULL;
    if (!p || !data || strcmp(data, path) != 0) {
        error_setg(errp, ERR_INVALID, "%s is not being made here", key);
        return -1;
    }
    entry = cache_path(bs, "objects", key, NULL);
    lockp = cache_path(bs, "staging", key, ".lock");
    loc = util_strdup_printf("s3:%s", key);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        error_setg_errno(errp, ERR_IO, errno, "open %s", path);
        return -1;
    }
    opts.size = st.st_size;
    if (p->send) {
        /* Sent as it was written: wait for the end of that. */
        struct bs3_send *sd = p->send;

        p->send = NULL;
        if (!file_follow_is_done(sd->f)) {
            send_stop(bs, sd, false, NULL);
            error_setg(errp, ERR_INVALID, "%s is not written whole", key);
            return -1;
        }
        r = send_stop(bs, sd, true, errp);
    } else {
        r = s3_upload_fd(bs->s3, key, fd, &opts, errp);
    }
    journal_close(&j);
    if (r < 0) {
        error_prepend(errp, "upload of %s: ", key);
        return -1;
    }
    /* The file becomes a cache entry; failing that is no failure of the
     * commit: the object is in the bucket.
     */
    if (mkdir_parent(entry, NULL) == 0 && rename(path, entry) == 0) {
        touch_atime(fd);
    } else {
        unlink(path);
    }
    unlink(lockp);
    pin_drop(bs, p);
    evict_quietly(bs);
    *location = steal_pointer(&loc);
    return 0;
}

struct file_sink {
    int fd;
    int64_t done;
    struct fileio_wb wb;        /* fd's write-behind */
    int64_t size;
    const struct progress *prog;
    int last_pct;
};

static int
file_sink(const void *data, size_t len, void *opaque, struct error **errp)
{
    struct file_sink *fs = opaque;
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fs->fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, ERR_IO, errno, "write to the cache");
            return -1;
        }
        p += n;
        len -= (size_t)n;
        fs->done += n;
    }
    fileio_write_behind(fs->fd, &fs->wb, fs->done);
    if (fs->size > 0) {
        int pct = (int)(100 * fs->done / fs->size);
        if (pct != fs->last_pct) {
            fs->last_pct = pct;
            progress_report(fs->prog, "download", pct >= 100 ? 99.0 : pct);
        }
    }
    return 0;
}

/* Fetch KEY into the cache entry ENTRY: into a flocked file in tmp/,
 * synced, then linked into place (someone else's copy that got there
 * first wins).
 */
static int
download(struct blob_s3 *bs, const char *key, const char *entry,
         const struct progress *prog, struct error **errp)
{
    CLEANUP_FREE char *tmp = util_strdup_printf("%s/tmp/dl.XXXXXX",
                                                bs->cache);
    CLEANUP_CLOSE int fd = -1;
    struct file_sink fs = { .prog = prog, .last_pct = -1 };
    int64_t size, got = 0;
    int r;

    r = s3_head(bs->s3, key, &size, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "object %s does not exist", key);
        return -1;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "create %s", tmp);
        return -1;
    }
    if (flock(fd, LOCK_EX) != 0) {
        error_setg_errno(errp, ERR_IO, errno, "flock %s", tmp);
        goto fail;
    }
    fs.fd = fd;
    fs.size = size;
    if (size > 0 &&
        s3_get_range(bs->s3, key, 0, size, file_sink, &fs, &got, errp) < 0) {
        goto fail;
    }
    if (got != size || fs.done != size) {
        error_setg(errp, ERR_PROTOCOL,
                   "object %s: got %" PRId64 " bytes of %" PRId64, key, got,
                   size);
        goto fail;
    }
    if (fsync(fd) != 0) {
        error_setg_errno(errp, ERR_IO, errno, "fsync %s", tmp);
        goto fail;
    }
    if (mkdir_parent(entry, errp) < 0) {
        goto fail;
    }
    if (link(tmp, entry) != 0 && errno != EEXIST) {
        error_setg_errno(errp, ERR_IO, errno, "link %s", entry);
        goto fail;
    }
    unlink(tmp);
    progress_report(prog, "download", 100.0);
    return 0;

fail:
    unlink(tmp);
    return -1;
}

/* The cache entry of KEY, held (shared flock) by this store until it
 * closes, fetched first if missing.  Returns the fd or -1.
 */
static int
hold_entry(struct blob_s3 *bs, const char *key, const struct progress *prog,
           bool fetch, char **pathp, struct error **errp)
{
    CLEANUP_FREE char *entry = cache_path(bs, "objects", key, NULL);
    int fd, tries;

    for (tries = 0; tries < 3; tries++) {
        fd = open_entry(entry, errp);
        if (fd >= 0) {
            touch_atime(fd);
            if (pathp) {
                *pathp = steal_pointer(&entry);
            }
            return fd;
        }
        if (fd == -2 || !fetch) {
            return -1;
        }
        if (download(bs, key, entry, prog, errp) < 0) {
            return -1;
        }
        /* Evicted between the download and our lock: fetch again. */
    }
    error_setg(errp, ERR_CONFLICT, "cache entry of %s keeps disappearing",
               key);
    return -1;
}

static int
bs3_local_path(struct blob_s3 *bs, const char *location,
               const struct progress *prog, char **path, struct error **errp)
{
    const char *key = location_key(location, errp);
    CLEANUP_FREE char *p = NULL;
    struct pin *pin;
    int fd;

    if (!key) {
        return -1;
    }
    fd = hold_entry(bs, key, prog, true, &p, errp);
    if (fd < 0) {
        return -1;
    }
    pin = pin_find(bs, key, false);
    if (pin) {
        /* Held already, maybe an older copy (the entry was deleted and
         * fetched again): hold this one.
         */
        close(pin->fd);
        pin->fd = fd;
    } else {
        pin_add(bs, key, fd, false);
    }
    evict_quietly(bs);
    *path = steal_pointer(&p);
    return 0;
}

static int
bs3_open_read(struct blob_s3 *bs, struct blob *b, const char *location,
              struct blob_reader **out, int64_t *size, struct error **errp)
{
    const char *key = location_key(location, errp);
    struct bs3_reader *r;
    struct stat st;
    int e;

    if (!key) {
        return -1;
    }
    r = xcalloc(1, sizeof(*r));
    r->key = xstrdup(key);
    r->base.b = b;
    r->bs = bs;
    r->fd = hold_entry(bs, key, NULL, false, NULL, NULL);
    if (r->fd >= 0 && fstat(r->fd, &st) == 0) {
        r->size = st.st_size;
    } else {
        if (r->fd >= 0) {
            close(r->fd);
            r->fd = -1;
        }
        e = s3_head(bs->s3, key, &r->size, errp);
        if (e != 1) {
            if (e == 0) {
                error_setg(errp, ERR_NOT_FOUND, "object %s does not exist",
                           key);
            }
            free(r->key);
            free(r);
            return -1;
        }
    }
    *size = r->size;
    *out = &r->base;
    return 0;
}

struct mem_sink {
    char *buf;
    size_t len;
    size_t done;
};

static int
mem_sink(const void *data, size_t len, void *opaque, struct error **errp)
{
    struct mem_sink *m = opaque;

    if (len > m->len - m->done) {
        error_setg(errp, ERR_PROTOCOL, "the server sent more than asked");
        return -1;
    }
    memcpy(m->buf + m->done, data, len);
    m->done += len;
    return 0;
}

static ssize_t
bs3_read(struct blob_reader *br, void *buf, size_t len, int64_t offset,
         struct error **errp)
{
    struct bs3_reader *r = (struct bs3_reader *)br;
    struct mem_sink m = { .buf = buf };
    int64_t got = 0;

    if (offset < 0) {
        error_setg(errp, ERR_INVALID, "negative offset");
        return -1;
    }
    if (offset >= r->size || len == 0) {
        return 0;
    }
    if ((int64_t)len > r->size - offset) {
        len = (size_t)(r->size - offset);
    }
    if (len > SSIZE_MAX) {
        len = SSIZE_MAX;
    }
    if (r->fd >= 0) {
        ssize_t n;
        do {
            n = pread(r->fd, buf, len, offset);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            error_setg_errno(errp, ERR_IO, errno, "read cached %s", r->key);
        }
        return n;
    }
    m.len = len;
    if (s3_get_range(r->bs->s3, r->key, offset, (int64_t)len, mem_sink, &m,
                     &got, errp) < 0) {
        return -1;
    }
    return (ssize_t)got;
}

static void
bs3_close_read(struct blob_reader *br)
{
    struct bs3_reader *r = (struct bs3_reader *)br;

    if (!r) {
        return;
    }
    if (r->fd >= 0) {
        close(r->fd);
    }
    free(r->key);
    free(r);
}

static int
bs3_remove(struct blob_s3 *bs, const char *location, struct error **errp)
{
    const char *key = location_key(location, errp);
    CLEANUP_FREE char *entry = NULL;
    struct pin *p;

    if (!key) {
        return -1;
    }
    if (s3_delete(bs->s3, key, errp) < 0) {
        return -1;
    }
    /* The cached copy goes too (whoever has it open keeps reading it), so
     * that a key made again later is never served stale.
     */
    entry = cache_path(bs, "objects", key, NULL);
    if (entry) {
        unlink(entry);
    }
    p = pin_find(bs, key, false);
    if (p) {
        pin_drop(bs, p);
    }
    return 0;
}

struct list_ctx {
    bool (*fn)(const char *location, void *opaque);
    void *opaque;
};

static bool
list_one(const char *key, int64_t size, void *opaque)
{
    struct list_ctx *c = opaque;
    CLEANUP_FREE char *loc = util_strdup_printf("s3:%s", key);

    return c->fn(loc, c->opaque);
}

static int
bs3_list(struct blob_s3 *bs, const char *prefix,
         bool (*fn)(const char *location, void *opaque), void *opaque,
         struct error **errp)
{
    struct list_ctx c = { .fn = fn, .opaque = opaque };

    return s3_list(bs->s3, prefix, 0, list_one, &c, errp) < 0 ? -1 : 0;
}

/* --- the ops table -------------------------------------------------------- */

static struct blob_s3 *
priv_of(struct blob *b)
{
    return blob_priv(b);
}

/* ops->open: the S3 settings are not in struct config yet.  When config.c
 * has them (see docs/internals/multihost.md, "Settings"), this fills a
 * struct blob_s3_settings from CFG and calls blob_s3_open; until then
 * whoever opens the store calls blob_s3_open itself.
 */
static int
op_open(struct blob *b, const struct config *cfg, const char *data_dir,
        void **priv, struct error **errp)
{
    struct blob_s3_settings set = {0};

    set.s3.endpoint = cfg->s3_endpoint;
    set.s3.bucket = cfg->s3_bucket;
    set.s3.region = cfg->s3_region;
    set.s3.credentials = cfg->s3_credentials;
    set.s3.part_size = cfg->s3_part_size;
    set.s3.concurrency = cfg->s3_concurrency;
    set.s3.multipart_threshold = S3_IMAGE_MULTIPART_THRESHOLD;
    set.cache_dir = cfg->cache_dir;
    set.cache_max = cfg->cache_max;
    if (*set.s3.endpoint == '\0' || *set.s3.credentials == '\0') {
        error_setg(errp, ERR_INVALID,
                   "the s3 store needs store.s3_endpoint and "
                   "store.s3_credentials");
        return -1;
    }
    *priv = blob_s3_open(&set, data_dir, errp);
    return *priv ? 0 : -1;
}

static void
op_close(struct blob *b)
{
    blob_s3_close(priv_of(b));
}

static int
op_create(struct blob *b, const char *key, char **path, struct error **errp)
{
    return bs3_create(priv_of(b), key, path, errp);
}

static int
op_commit(struct blob *b, const char *key, const char *path,
          const struct progress *p, char **location, struct error **errp)
{
    return bs3_commit(priv_of(b), key, path, p, location, errp);
}

static int
op_send_early(struct blob *b, const char *key, const char *path,
              struct file_follow *f, struct error **errp)
{
    return bs3_send_early(priv_of(b), key, path, f, errp);
}

static void
op_discard(struct blob *b, const char *key)
{
    bs3_discard(priv_of(b), key, NULL);
}

static int
op_local_path(struct blob *b, const char *location, const struct progress *p,
              char **path, struct error **errp)
{
    return bs3_local_path(priv_of(b), location, p, path, errp);
}

static int
op_open_read(struct blob *b, const char *location, struct blob_reader **out,
             int64_t *size, struct error **errp)
{
    return bs3_open_read(priv_of(b), b, location, out, size, errp);
}

static int
op_remove(struct blob *b, const char *location, struct error **errp)
{
    return bs3_remove(priv_of(b), location, errp);
}

static int
op_list(struct blob *b, const char *prefix,
        bool (*fn)(const char *location, void *opaque), void *opaque,
        struct error **errp)
{
    return bs3_list(priv_of(b), prefix, fn, opaque, errp);
}

static const struct blob_ops s3_ops = {
    .version = BLOB_OPS_VERSION,
    .scheme = "s3",
    .open = op_open,
    .close = op_close,
    .create = op_create,
    .commit = op_commit,
    .send_early = op_send_early,
    .discard = op_discard,
    .local_path = op_local_path,
    .open_read = op_open_read,
    .read = bs3_read,
    .close_read = bs3_close_read,
    .remove = op_remove,
    .list = op_list,
};

const struct blob_ops *
blob_s3_ops(void)
{
    return &s3_ops;
}
