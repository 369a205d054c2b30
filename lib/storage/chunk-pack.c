/* vmsnap: chunk blobs in pack files (see chunk-pack.h).
 *
 * The SQLite map is one table, chunk(key, pack, off, len, mtime), with an
 * index on pack for compaction.  The current pack of this process takes
 * every append: its offset is handed out under cur_mu and the bytes are
 * written outside it, so appenders on several threads write at once.  A
 * pack is referenced by being current and by each append not yet
 * published or cancelled; the last reference closes it, which releases
 * its flock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "chunk-pack.h"
#include "cleanup.h"
#include "fileio.h"
#include "xalloc.h"

#define PACK_TARGET (64ull << 20) /* a pack takes no more appends past it */
#define PACK_BUSY_MS 30000        /* wait for another process's lock */
#define PACK_LIST_PAGE 1000       /* rows read under the lock at once */
#define PACK_GET_TRIES 3          /* a compaction may move a blob away */
#define PACK_NEW_STALE_S 600      /* a "<id>.new" older is a dead maker's */

struct pack {
    int64_t id;    /* names packs/<id as 16 hex>.pack */
    int fd;        /* open read-write, flocked exclusive */
    uint64_t size; /* bytes handed out */
    unsigned refs; /* current + appends outstanding */
};

struct pack_put {
    struct pack *pack; /* referenced */
    uint64_t off;      /* where its bytes are */
    uint32_t len;      /* how many */
    char key[];        /* for whom */
};

enum {
    ST_GET,
    ST_TOUCH,
    ST_UPSERT,
    ST_DELETE,
    ST_EXISTS,
    ST_LIST,
    ST_LIVE,
    ST_ROWS,
    ST_MOVE,
    ST_N
};

static const char *const pack_sql[ST_N] = {
    [ST_GET] = "SELECT pack, off, len FROM chunk WHERE key = ?1",
    [ST_TOUCH] = "UPDATE chunk SET mtime = ?2 WHERE key = ?1",
    [ST_UPSERT] = "INSERT INTO chunk (key, pack, off, len, mtime) "
                  "VALUES (?1, ?2, ?3, ?4, ?5) "
                  "ON CONFLICT (key) DO UPDATE SET mtime = excluded.mtime",
    [ST_DELETE] = "DELETE FROM chunk WHERE key = ?1 AND mtime < ?2",
    [ST_EXISTS] = "SELECT 1 FROM chunk WHERE key = ?1",
    [ST_LIST] = "SELECT key, mtime, len FROM chunk WHERE key > ?1 "
                "ORDER BY key LIMIT ?2",
    [ST_LIVE] = "SELECT count(*), coalesce(sum(len), 0) FROM chunk "
                "WHERE pack = ?1",
    [ST_ROWS] = "SELECT key, off, len FROM chunk WHERE pack = ?1 "
                "ORDER BY off",
    [ST_MOVE] = "UPDATE chunk SET pack = ?2, off = ?3 "
                "WHERE key = ?1 AND pack = ?4",
};

static const char pack_schema[] =
    "CREATE TABLE IF NOT EXISTS chunk ("
    " key TEXT PRIMARY KEY,"
    " pack INTEGER NOT NULL,"
    " off INTEGER NOT NULL,"
    " len INTEGER NOT NULL,"
    " mtime INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS chunk_pack ON chunk (pack)";

struct chunk_packs {
    int rootfd;                /* the store's directory, borrowed */
    int dirfd;                 /* packs/ */
    pthread_mutex_t cur_mu;    /* guards cur and every pack's size, refs */
    struct pack *cur;          /* takes appends; NULL until the first */
    pthread_mutex_t db_mu;     /* guards db and st */
    sqlite3 *db;               /* packs.db */
    sqlite3_stmt *st[ST_N];    /* prepared */
    bool wal_named;            /* packs_sync made the WAL's name durable */
};

/* Now on CLOCK_REALTIME, in nanoseconds (see chunk-pack.h on why). */
static int64_t
pack_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Set *ERRP from the map's last error, saying WHAT failed. */
static void
pack_db_error(struct chunk_packs *p, int rc, const char *what,
              struct error **errp)
{
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        error_setg(errp, ERR_CONFLICT, "packs.db is busy (%s)", what);
    } else {
        error_setg(errp, ERR_IO, "packs.db: %s: %s", what,
                   sqlite3_errmsg(p->db));
    }
}

static void
pack_name(int64_t id, char out[32])
{
    snprintf(out, 32, "%016" PRIx64 ".pack", (uint64_t)id);
}

/* Make a new pack file, flocked; its directory entry durable.  It is made
 * under a name compaction ignores ("<id>.new"), locked, then renamed into
 * place: compaction takes an unlocked pack without rows for an orphan,
 * and one made in place could go between its creation and its lock (the
 * writer then appended to a file nobody could find again).
 */
static struct pack *
pack_create(struct chunk_packs *p, struct error **errp)
{
    struct pack *pk;
    char name[32], tmp[40];
    uint64_t r = 0;
    int fd = -1, tries, err = 0;

    for (tries = 0; tries < 10 && fd < 0; tries++) {
        if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
            error_setg_errno(errp, ERR_IO, errno, "getrandom");
            return NULL;
        }
        r &= INT64_MAX;
        pack_name((int64_t)r, name);
        snprintf(tmp, sizeof(tmp), "%016" PRIx64 ".new", r);
        fd = openat(p->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                    0600);
        if (fd < 0) {
            err = errno;
            if (err != EEXIST) {
                break;
            }
            continue;
        }
        if (flock(fd, LOCK_EX) < 0 ||
            renameat2(p->dirfd, tmp, p->dirfd, name, RENAME_NOREPLACE) < 0) {
            err = errno;
            unlinkat(p->dirfd, tmp, 0);
            close(fd);
            fd = -1;
            if (err != EEXIST) {
                break;
            }
        }
    }
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, err ? err : EEXIST,
                         "create packs/%s", name);
        return NULL;
    }
    if (fsync(p->dirfd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fsync packs");
        unlinkat(p->dirfd, name, 0);
        close(fd);
        return NULL;
    }
    pk = xcalloc(1, sizeof(*pk));
    pk->id = (int64_t)r;
    pk->fd = fd;
    pk->refs = 1;
    return pk;
}

static void
pack_unref(struct chunk_packs *p, struct pack *pk)
{
    bool last;

    pthread_mutex_lock(&p->cur_mu);
    last = --pk->refs == 0;
    pthread_mutex_unlock(&p->cur_mu);
    if (last) {
        close(pk->fd);
        free(pk);
    }
}

int
packs_sync(struct chunk_packs *p, struct error **errp)
{
    int fd = openat(p->rootfd, "packs.db-wal", O_RDONLY | O_CLOEXEC);
    bool named;

    if (fd < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        error_setg_errno(errp, ERR_IO, errno, "open packs.db-wal");
        return -1;
    }
    if (fdatasync(fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fdatasync packs.db-wal");
        close(fd);
        return -1;
    }
    close(fd);
    /* The WAL lives as long as any connection does, ours included, so
     * its name needs writing back once per open (it may have been made
     * anew when we opened).
     */
    pthread_mutex_lock(&p->db_mu);
    named = p->wal_named;
    pthread_mutex_unlock(&p->db_mu);
    if (!named) {
        if (fsync(p->rootfd) < 0) {
            error_setg_errno(errp, ERR_IO, errno, "fsync store");
            return -1;
        }
        pthread_mutex_lock(&p->db_mu);
        p->wal_named = true;
        pthread_mutex_unlock(&p->db_mu);
    }
    return 0;
}

struct chunk_packs *
packs_open(int rootfd, bool create, struct error **errp)
{
    struct chunk_packs *p;
    char path[64];
    int rc, i;

    if (mkdirat(rootfd, "packs", 0700) < 0 && errno != EEXIST) {
        error_setg_errno(errp, ERR_IO, errno, "mkdir packs");
        return NULL;
    }
    p = xcalloc(1, sizeof(*p));
    p->rootfd = rootfd;
    pthread_mutex_init(&p->cur_mu, NULL);
    pthread_mutex_init(&p->db_mu, NULL);
    p->dirfd = openat(rootfd, "packs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dirfd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "open packs");
        goto fail;
    }
    /* SQLite wants a name; the store's descriptor gives one. */
    snprintf(path, sizeof(path), "/proc/self/fd/%d/packs.db", rootfd);
    rc = sqlite3_open_v2(path, &p->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                         NULL);
    if (rc != SQLITE_OK) {
        error_setg(errp, ERR_IO, "packs.db: %s",
                   p->db ? sqlite3_errmsg(p->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(p->db, PACK_BUSY_MS);
    /* As the catalog (db-sqlite.c): a planted file runs nothing. */
    sqlite3_db_config(p->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    rc = sqlite3_exec(p->db,
                      "PRAGMA trusted_schema = OFF;"
                      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
                      NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(p->db, pack_schema, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        pack_db_error(p, rc, "open", errp);
        goto fail;
    }
    for (i = 0; i < ST_N; i++) {
        rc = sqlite3_prepare_v3(p->db, pack_sql[i], -1,
                                SQLITE_PREPARE_PERSISTENT, &p->st[i], NULL);
        if (rc != SQLITE_OK) {
            pack_db_error(p, rc, "prepare", errp);
            goto fail;
        }
    }
    if (create && fsync(rootfd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fsync store");
        goto fail;
    }
    return p;

fail:
    packs_close(p);
    return NULL;
}

void
packs_close(struct chunk_packs *p)
{
    int i;

    if (p == NULL) {
        return;
    }
    if (p->cur) {
        pack_unref(p, p->cur);
    }
    for (i = 0; i < ST_N; i++) {
        sqlite3_finalize(p->st[i]);
    }
    sqlite3_close(p->db);
    if (p->dirfd >= 0) {
        close(p->dirfd);
    }
    pthread_mutex_destroy(&p->cur_mu);
    pthread_mutex_destroy(&p->db_mu);
    free(p);
}

int
packs_append(struct chunk_packs *p, const char *key, const void *buf,
             size_t len, struct pack_put **out, struct error **errp)
{
    struct pack_put *put;
    struct pack *pk, *old = NULL;
    uint64_t off = 0;
    size_t klen;

    pthread_mutex_lock(&p->cur_mu);
    if (p->cur == NULL || p->cur->size >= PACK_TARGET) {
        old = p->cur;
        p->cur = pack_create(p, errp);
    }
    pk = p->cur;
    if (pk) {
        off = pk->size;
        pk->size += len;
        pk->refs++;
    }
    pthread_mutex_unlock(&p->cur_mu);
    if (old) {
        pack_unref(p, old);
    }
    if (pk == NULL) {
        return -1;
    }
    if (fileio_pwrite_all(pk->fd, buf, len, off) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "write pack");
        pack_unref(p, pk);
        return -1;
    }
    klen = strlen(key);
    put = xmalloc(sizeof(*put) + klen + 1);
    put->pack = pk;
    put->off = off;
    put->len = (uint32_t)len;
    memcpy(put->key, key, klen + 1);
    *out = put;
    return 0;
}

static void
pack_puts_free(struct chunk_packs *p, struct pack_put **puts, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (puts[i]) {
            pack_unref(p, puts[i]->pack);
            free(puts[i]);
            puts[i] = NULL;
        }
    }
}

void
packs_cancel(struct chunk_packs *p, struct pack_put **puts, size_t n)
{
    pack_puts_free(p, puts, n); /* their bytes are dead, compaction's */
}

/* Run bound statement S to its first row or its end, and reset it;
 * returns that step's code.
 */
static int
pack_run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);

    sqlite3_reset(s);
    return rc;
}

/* Run S once per row, rows 0 to N - 1, in one transaction of the map:
 * BIND sets row I's parameters before each step.  WHAT names the work in
 * the error.  Returns 0, or -1 and nothing changed.
 */
static int
pack_tx_rows(struct chunk_packs *p, sqlite3_stmt *s, size_t n,
             void (*bind)(sqlite3_stmt *s, size_t i, void *opaque),
             void *opaque, const char *what, struct error **errp)
{
    size_t i;
    int rc;

    pthread_mutex_lock(&p->db_mu);
    rc = sqlite3_exec(p->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (i = 0; i < n && rc == SQLITE_OK; i++) {
        bind(s, i, opaque);
        rc = pack_run(s);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        pack_db_error(p, rc, what, errp);
        sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&p->db_mu);
    return rc == SQLITE_OK ? 0 : -1;
}

struct publish_rows {
    struct pack_put **puts;
    int64_t now;
};

static void
publish_bind(sqlite3_stmt *s, size_t i, void *opaque)
{
    const struct publish_rows *pr = opaque;
    const struct pack_put *put = pr->puts[i];

    sqlite3_bind_text(s, 1, put->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, put->pack->id);
    sqlite3_bind_int64(s, 3, (int64_t)put->off);
    sqlite3_bind_int64(s, 4, put->len);
    sqlite3_bind_int64(s, 5, pr->now);
}

int
packs_publish(struct chunk_packs *p, struct pack_put **puts, size_t n,
              struct error **errp)
{
    struct publish_rows pr = { .puts = puts };
    size_t i, j;
    int ret;

    if (n == 0) {
        return 0;
    }
    /* Bytes first: each pack once (a batch spans one or two). */
    for (i = 0; i < n; i++) {
        for (j = 0; j < i && puts[j]->pack != puts[i]->pack; j++) {
        }
        if (j == i && fdatasync(puts[i]->pack->fd) < 0) {
            error_setg_errno(errp, ERR_IO, errno, "fdatasync pack");
            pack_puts_free(p, puts, n);
            return -1;
        }
    }
    pr.now = pack_now_ns();
    ret = pack_tx_rows(p, p->st[ST_UPSERT], n, publish_bind, &pr, "publish",
                       errp);
    pack_puts_free(p, puts, n);
    return ret;
}

/* Where KEY's blob is: 1 and *PACK, *OFF, *LEN; 0 absent; -1. */
static int
pack_locate(struct chunk_packs *p, const char *key, int64_t *pack,
            uint64_t *off, uint32_t *len, struct error **errp)
{
    sqlite3_stmt *s = p->st[ST_GET];
    int rc;

    pthread_mutex_lock(&p->db_mu);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *pack = sqlite3_column_int64(s, 0);
        *off = (uint64_t)sqlite3_column_int64(s, 1);
        *len = (uint32_t)sqlite3_column_int64(s, 2);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        pack_db_error(p, rc, key, errp);
    }
    pthread_mutex_unlock(&p->db_mu);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
packs_get(struct chunk_packs *p, const char *key, size_t max, uint8_t **buf,
          size_t *len, struct error **errp)
{
    CLEANUP_FREE uint8_t *b = NULL;
    char name[32];
    int64_t pack, gone = -1;
    uint64_t off;
    uint32_t n;
    ssize_t got;
    int tries, rc, fd;

    for (tries = 0; tries < PACK_GET_TRIES; tries++) {
        rc = pack_locate(p, key, &pack, &off, &n, errp);
        if (rc <= 0) {
            return rc;
        }
        if (pack == gone) {
            /* Not moved by a compaction: the pack is lost. */
            pack_name(pack, name);
            error_setg(errp, ERR_NOT_FOUND, "%s: packs/%s is missing", key,
                       name);
            return -1;
        }
        if (n > max) {
            error_setg(errp, ERR_PROTOCOL, "%s: %u bytes, more than %zu",
                       key, n, max);
            return -1;
        }
        pack_name(pack, name);
        fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            gone = pack; /* compacted away meanwhile? look again */
            continue;
        }
        if (fd < 0) {
            error_setg_errno(errp, ERR_IO, errno, "%s: packs/%s", key, name);
            return -1;
        }
        b = xmalloc(n ? n : 1);
        got = fileio_pread_full(fd, b, n, off);
        if (got < 0) {
            error_setg_errno(errp, ERR_IO, errno, "%s: read packs/%s", key,
                             name);
            close(fd);
            return -1;
        }
        close(fd);
        /* A pack cut short gives a short blob, which the caller finds
         * damaged, as a chunk file that shrank.
         */
        *buf = steal_pointer(&b);
        *len = (size_t)got;
        return 1;
    }
    error_setg(errp, ERR_IO, "%s: its pack keeps moving", key);
    return -1;
}

int
packs_touch(struct chunk_packs *p, const char *key, struct error **errp)
{
    sqlite3_stmt *s = p->st[ST_TOUCH];
    int rc, changed;

    pthread_mutex_lock(&p->db_mu);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, pack_now_ns());
    rc = pack_run(s);
    sqlite3_clear_bindings(s);
    changed = sqlite3_changes(p->db);
    if (rc != SQLITE_DONE) {
        pack_db_error(p, rc, "touch", errp);
    }
    pthread_mutex_unlock(&p->db_mu);
    return rc != SQLITE_DONE ? -1 : changed > 0 ? 1 : 0;
}

int
packs_exists(struct chunk_packs *p, const char *key, struct error **errp)
{
    sqlite3_stmt *s = p->st[ST_EXISTS];
    int rc;

    pthread_mutex_lock(&p->db_mu);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    rc = pack_run(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        pack_db_error(p, rc, "look up", errp);
    }
    pthread_mutex_unlock(&p->db_mu);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
packs_exists_all(struct chunk_packs *p, const char *const *keys, size_t n,
                 size_t *missing, struct error **errp)
{
    sqlite3_stmt *s = p->st[ST_EXISTS];
    size_t i = 0;
    int rc;

    pthread_mutex_lock(&p->db_mu);
    /* Deferred: a read transaction, which never waits for a writer. */
    rc = sqlite3_exec(p->db, "BEGIN", NULL, NULL, NULL);
    for (; rc == SQLITE_OK && i < n; i++) {
        sqlite3_bind_text(s, 1, keys[i], -1, SQLITE_STATIC);
        rc = pack_run(s);
        if (rc == SQLITE_DONE) {
            break;
        }
        rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
    }
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        pack_db_error(p, rc, "look up", errp);
    }
    sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL);
    pthread_mutex_unlock(&p->db_mu);
    *missing = i;
    return rc == SQLITE_OK || rc == SQLITE_DONE ? 0 : -1;
}

int
packs_remove_unless_since(struct chunk_packs *p, const char *key,
                          int64_t since_ns, struct error **errp)
{
    sqlite3_stmt *del = p->st[ST_DELETE], *ex = p->st[ST_EXISTS];
    int rc, ret = -1;

    pthread_mutex_lock(&p->db_mu);
    sqlite3_bind_text(del, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(del, 2, since_ns);
    rc = pack_run(del);
    sqlite3_clear_bindings(del);
    if (rc == SQLITE_DONE && sqlite3_changes(p->db) > 0) {
        ret = 1;
    } else if (rc == SQLITE_DONE) {
        sqlite3_bind_text(ex, 1, key, -1, SQLITE_STATIC);
        rc = pack_run(ex);
        sqlite3_clear_bindings(ex);
        ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 2 : -1;
    }
    if (ret < 0) {
        pack_db_error(p, rc, "remove", errp);
    }
    pthread_mutex_unlock(&p->db_mu);
    return ret;
}

/* One page of the listing. */
struct pack_row {
    char *key;
    int64_t mtime;
    uint64_t len;
};

int
packs_list(struct chunk_packs *p, const char *prefix,
           int (*fn)(const struct chunk_obj *obj, void *opaque),
           void *opaque, struct error **errp)
{
    sqlite3_stmt *s = p->st[ST_LIST];
    struct pack_row page[PACK_LIST_PAGE];
    CLEANUP_FREE char *after = xstrdup(prefix);
    size_t plen = strlen(prefix), n, i;
    struct chunk_obj obj;
    bool done = false;
    int rc = 0;

    while (!done && rc == 0) {
        n = 0;
        pthread_mutex_lock(&p->db_mu);
        sqlite3_bind_text(s, 1, after, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, PACK_LIST_PAGE);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(s, 0);

            if (k == NULL || strncmp(k, prefix, plen) != 0) {
                rc = SQLITE_DONE; /* past the prefix */
                break;
            }
            page[n].key = xstrdup(k);
            page[n].mtime = sqlite3_column_int64(s, 1);
            page[n].len = (uint64_t)sqlite3_column_int64(s, 2);
            n++;
        }
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        if (rc != SQLITE_DONE) {
            pack_db_error(p, rc, "list", errp);
        }
        pthread_mutex_unlock(&p->db_mu);
        rc = rc == SQLITE_DONE ? 0 : -1;
        done = n < PACK_LIST_PAGE;
        for (i = 0; i < n; i++) {
            if (rc == 0) {
                obj.key = page[i].key;
                obj.mtime_ns = page[i].mtime;
                obj.size = page[i].len;
                rc = fn(&obj, opaque);
            }
            if (i == n - 1) {
                free(after);
                after = page[i].key;
            } else {
                free(page[i].key);
            }
        }
    }
    return rc;
}

/* Live rows and bytes of pack ID. */
static int
pack_live(struct chunk_packs *p, int64_t id, int64_t *rows, uint64_t *bytes,
          struct error **errp)
{
    sqlite3_stmt *s = p->st[ST_LIVE];
    int rc;

    pthread_mutex_lock(&p->db_mu);
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *rows = sqlite3_column_int64(s, 0);
        *bytes = (uint64_t)sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW) {
        pack_db_error(p, rc, "compact", errp);
    }
    pthread_mutex_unlock(&p->db_mu);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Copy the live blobs of pack OLD (open as FD, locked by us) into a new
 * pack, point their rows at it (durably), and return 0; OLD may then go.
 * A pack cut short (a damaged disk) is left as it is: 1.  verify finds
 * its blobs damaged, and once it has removed them, the pack can go.
 */
struct move_rows {
    const struct pack_row *rows;
    const uint64_t *offs;  /* the rows' offsets in the new pack */
    int64_t to, from;      /* the new pack, the old */
};

static void
move_bind(sqlite3_stmt *s, size_t i, void *opaque)
{
    const struct move_rows *mr = opaque;

    sqlite3_bind_text(s, 1, mr->rows[i].key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, mr->to);
    sqlite3_bind_int64(s, 3, (int64_t)mr->offs[i]);
    sqlite3_bind_int64(s, 4, mr->from);
}

static int
pack_rewrite(struct chunk_packs *p, int64_t old, int fd, struct error **errp)
{
    sqlite3_stmt *s = p->st[ST_ROWS];
    struct move_rows mr;
    struct pack_row *rows = NULL;
    uint64_t *offs = NULL;
    size_t n = 0, cap = 0, i;
    CLEANUP_FREE uint8_t *buf = NULL;
    struct pack *pk = NULL;
    int rc, ret = -1;

    pthread_mutex_lock(&p->db_mu);
    sqlite3_bind_int64(s, 1, old);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            rows = xrealloc(rows, cap * sizeof(*rows));
            offs = xrealloc(offs, cap * sizeof(*offs));
        }
        rows[n].key = xstrdup((const char *)sqlite3_column_text(s, 0));
        offs[n] = (uint64_t)sqlite3_column_int64(s, 1);
        rows[n].len = (uint64_t)sqlite3_column_int64(s, 2);
        n++;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        pack_db_error(p, rc, "compact", errp);
    }
    pthread_mutex_unlock(&p->db_mu);
    if (rc != SQLITE_DONE) {
        goto out;
    }
    pk = pack_create(p, errp);
    if (pk == NULL) {
        goto out;
    }
    for (i = 0; i < n; i++) {
        ssize_t got;

        buf = xrealloc(buf, rows[i].len ? rows[i].len : 1);
        got = fileio_pread_full(fd, buf, rows[i].len, offs[i]);
        if (got >= 0 && got < (ssize_t)rows[i].len) {
            ret = 1;
            goto out;
        }
        if (got < 0 ||
            fileio_pwrite_all(pk->fd, buf, rows[i].len,
                              (int64_t)pk->size) < 0) {
            error_setg_errno(errp, ERR_IO, errno, "compact %s", rows[i].key);
            goto out;
        }
        offs[i] = pk->size; /* from now on, its new offset */
        pk->size += rows[i].len;
    }
    if (fdatasync(pk->fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fdatasync pack");
        goto out;
    }
    mr.rows = rows;
    mr.offs = offs;
    mr.to = pk->id;
    mr.from = old;
    if (pack_tx_rows(p, p->st[ST_MOVE], n, move_bind, &mr, "compact",
                     errp) == 0) {
        ret = packs_sync(p, errp);
    }

out:
    for (i = 0; i < n; i++) {
        free(rows[i].key);
    }
    free(rows);
    free(offs);
    if (pk) {
        if (ret != 0) {
            char name[32];

            pack_name(pk->id, name);
            unlinkat(p->dirfd, name, 0);
        }
        pack_unref(p, pk);
    }
    return ret;
}

/* Parse "<16 hex>SUFFIX" (".pack", ".new") into *ID. */
static bool
pack_parse_name(const char *name, const char *suffix, int64_t *id)
{
    char *end;
    unsigned long long v;

    if (strlen(name) != 16 + strlen(suffix) ||
        strcmp(name + 16, suffix) != 0) {
        return false;
    }
    errno = 0;
    v = strtoull(name, &end, 16);
    if (errno != 0 || end != name + 16 || v > INT64_MAX) {
        return false;
    }
    *id = (int64_t)v;
    return true;
}

/* Ids of the files "<id>SUFFIX" now in packs/: the packs (".pack"), or
 * the packs being made (".new", pack_create).
 */
static int
pack_scan(struct chunk_packs *p, const char *suffix, int64_t **ids,
          size_t *n, struct error **errp)
{
    struct dirent *de;
    size_t cap = 0;
    int64_t id;
    DIR *dir;

    *ids = NULL;
    *n = 0;
    dir = fileio_opendirat(p->dirfd, ".");
    if (dir == NULL) {
        error_setg_errno(errp, ERR_IO, errno, "open packs");
        return -1;
    }
    while ((de = readdir(dir)) != NULL) {
        if (!pack_parse_name(de->d_name, suffix, &id)) {
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            *ids = xrealloc(*ids, cap * sizeof(**ids));
        }
        (*ids)[(*n)++] = id;
    }
    closedir(dir);
    return 0;
}

/* Remove the "<id>.new" files of makers that died between making one and
 * renaming it into place (pack_create): unlocked, and older than any
 * maker takes (an instant).  They are empty.
 */
static int
pack_remove_stale_new(struct chunk_packs *p, struct error **errp)
{
    CLEANUP_FREE int64_t *ids = NULL;
    time_t now = time(NULL);
    struct stat st;
    char name[40];
    size_t n, i;
    int fd;

    if (pack_scan(p, ".new", &ids, &n, errp) < 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%016" PRIx64 ".new", (uint64_t)ids[i]);
        fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue; /* renamed or removed meanwhile */
        }
        if (fstat(fd, &st) == 0 && now - st.st_mtime > PACK_NEW_STALE_S &&
            flock(fd, LOCK_EX | LOCK_NB) == 0) {
            unlinkat(p->dirfd, name, 0);
        }
        close(fd);
    }
    return 0;
}

int
packs_compact(struct chunk_packs *p, uint64_t *freed, struct error **errp)
{
    CLEANUP_FREE int64_t *ids = NULL;
    uint64_t live;
    struct stat st;
    char name[32];
    int64_t rows;
    size_t n, i;
    int fd, rc = 0;

    /* Rows removed before this call must not come back after a crash
     * once their pack is gone.
     */
    if (packs_sync(p, errp) < 0 ||
        pack_scan(p, ".pack", &ids, &n, errp) < 0) {
        return -1;
    }
    for (i = 0; i < n && rc == 0; i++) {
        pack_name(ids[i], name);
        fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue; /* gone meanwhile */
        }
        /* A writer holds the pack it appends to. */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0) {
            close(fd);
            continue;
        }
        rc = pack_live(p, ids[i], &rows, &live, errp);
        if (rc == 0 && rows == 0) {
            if (unlinkat(p->dirfd, name, 0) == 0) {
                *freed += (uint64_t)st.st_size;
            }
        } else if (rc == 0 && live * 2 < (uint64_t)st.st_size) {
            rc = pack_rewrite(p, ids[i], fd, errp);
            if (rc == 0 && unlinkat(p->dirfd, name, 0) == 0) {
                *freed += (uint64_t)st.st_size - live;
            }
            rc = rc > 0 ? 0 : rc; /* cut short: left for verify */
        }
        close(fd);
    }
    if (rc == 0) {
        rc = pack_remove_stale_new(p, errp);
    }
    if (rc == 0 && fsync(p->dirfd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fsync packs");
        rc = -1;
    }
    return rc;
}

int
packs_disk_bytes(struct chunk_packs *p, uint64_t *bytes, struct error **errp)
{
    CLEANUP_FREE int64_t *ids = NULL;
    struct stat st;
    char name[32];
    size_t n, i;

    if (pack_scan(p, ".pack", &ids, &n, errp) < 0) {
        return -1;
    }
    *bytes = 0;
    for (i = 0; i < n; i++) {
        pack_name(ids[i], name);
        if (fstatat(p->dirfd, name, &st, 0) == 0) {
            *bytes += (uint64_t)st.st_size;
        }
    }
    return 0;
}
