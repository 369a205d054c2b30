/* vmsnap: the SQLite backend of the catalog's database seam (see db.h).
 *
 * This is the only file of the catalog that calls sqlite3_* (the chunk
 * store's pack map, storage/chunk-pack.c, is a database of its own).  The
 * catalog is one database file in WAL mode, so that readers never wait
 * for the writer; writers take the write lock with BEGIN IMMEDIATE and
 * wait for each other up to the busy timeout.  Every commit reaches the
 * disk (synchronous = FULL), foreign keys are enforced, and the
 * connection runs in SQLite's defensive mode with untrusted schema
 * content (SQLITE_DBCONFIG_DEFENSIVE, trusted_schema = OFF): a catalog
 * file planted by someone else cannot make vmsnap run functions or
 * corrupt the file through schema tricks (reliability audit M3).
 *
 * The schema version is PRAGMA user_version, and PRAGMA application_id
 * marks the file as a vmsnap catalog.
 *
 * On a full disk the catalog is opened in exclusive locking mode (see
 * sq_open), so that vmsnap can still read it and free space; on a file
 * system mounted read-only it is opened read-only (sq_open_read_only).
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <sqlite3.h>

#include "cleanup.h"
#include "db.h"
#include "log.h"
#include "xalloc.h"

/* "vmsn": marks the file as ours in PRAGMA application_id. */
#define SQLITE_APPLICATION_ID 0x766d736e

/* A prepared statement. */
struct sqlite_stmt {
    struct db_stmt base;     /* first: the connection */
    sqlite3_stmt *st;        /* SQLite's statement */
};

/* Statements kept prepared for their next use: a listing reads the
 * properties, tags and volume snapshots of each record with the same
 * few statements, and compiling them again for every record cost more
 * than running them (GET /image/v2/images?limit=1000: 3,000 prepares).
 */
#define SQ_CACHE 16

/* A finished statement kept for reuse, with its text. */
struct sq_cached {
    char *sql;               /* the text it was prepared from */
    sqlite3_stmt *st;        /* reset, bindings cleared */
};

/* A connection: the handle and its statement cache.  A connection is
 * used by one thread at a time (the catalog's rule), so is the cache.
 */
struct sq_conn {
    sqlite3 *h;                        /* SQLite's connection */
    struct sq_cached cache[SQ_CACHE];  /* idle statements */
    size_t ncache;                     /* how many */
    size_t next;                       /* the slot to evict next */
};

static struct sq_conn *
sq_conn_new(sqlite3 *h)
{
    struct sq_conn *c = xcalloc(1, sizeof(*c));

    c->h = h;
    return c;
}

/* Finalize the cached statements of C. */
static void
sq_cache_drop(struct sq_conn *c)
{
    size_t i;

    for (i = 0; i < c->ncache; i++) {
        sqlite3_finalize(c->cache[i].st);
        free(c->cache[i].sql);
    }
    c->ncache = 0;
    c->next = 0;
}

/* Close handle H and free the connection in *PRIV, if any. */
static void
sq_conn_close(sqlite3 *h, void **priv)
{
    struct sq_conn *c = *priv;

    if (c) {
        sq_cache_drop(c);
        free(c);
        *priv = NULL;
    }
    sqlite3_close(h);
}

static sqlite3 *
sq_handle(struct db *db)
{
    struct sq_conn *c = db_priv(db);

    return c ? c->h : NULL;
}

static sqlite3_stmt *
sq_stmt(struct db_stmt *st)
{
    return ((struct sqlite_stmt *)st)->st;
}

/* Turn SQLite result RC into an error (see db.h).  WHAT says what was
 * being done.  Always returns -1.
 */
static int
sq_fail(struct db *db, int rc, const char *what, struct error **errp)
{
    sqlite3 *h = sq_handle(db);

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        error_setg(errp, ERR_CONFLICT, "catalog is busy");
        break;
    case SQLITE_NOMEM:
        error_setg(errp, ERR_GENERIC, "catalog: out of memory");
        break;
    case SQLITE_CONSTRAINT:
        error_setg(errp, ERR_CONFLICT, "catalog %s: %s: %s", db_target(db),
                   what, sqlite3_errmsg(h));
        break;
    default:
        error_setg(errp, ERR_IO, "catalog %s: %s: %s", db_target(db), what,
                   sqlite3_errmsg(h));
        break;
    }
    return -1;
}

static int
sq_exec(struct db *db, const char *sql, struct error **errp)
{
    int rc = sqlite3_exec(sq_handle(db), sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        return sq_fail(db, rc, "exec", errp);
    }
    return 0;
}

static void
sq_finalize_raw(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}

#define CLEANUP_SQ_STMT __attribute__((cleanup(sq_finalize_raw)))

/* Read the integer that fixed SQL (a PRAGMA or a count) returns; 0 when
 * it returns no row.
 */
static int
sq_query_int(struct db *db, const char *sql, int64_t *out,
             struct error **errp)
{
    CLEANUP_SQ_STMT sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(sq_handle(db), sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sq_fail(db, rc, "query", errp);
    }
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    return 0;
}

/* Switch to WAL, unless the file already is in WAL mode: the mode is
 * kept in the file, and asking for it again needs locks and space that a
 * full disk may not have, which would keep vmsnap from opening the
 * catalog to free space (reliability audit M4).  Changing the mode needs
 * an exclusive lock, and SQLite may report SQLITE_BUSY here without
 * calling the busy handler when another process opens the same new file
 * at the same moment, so retry for up to the busy timeout.
 */
static int
sq_set_wal(struct db *db, int busy_ms, struct error **errp)
{
    struct timespec pause = { 0, 10 * 1000 * 1000 };
    int tries = (busy_ms > 0 ? busy_ms : 0) / 10 + 1;
    const char *sql = "PRAGMA journal_mode";

    for (;;) {
        CLEANUP_SQ_STMT sqlite3_stmt *st = NULL;
        const unsigned char *mode;
        int rc;

        rc = sqlite3_prepare_v2(sq_handle(db), sql, -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
        }
        if (rc == SQLITE_ROW) {
            mode = sqlite3_column_text(st, 0);
            if (mode != NULL && (strcmp((const char *)mode, "wal") == 0 ||
                                 strcmp((const char *)mode, "memory") == 0)) {
                return 0;
            }
            if (strcmp(sql, "PRAGMA journal_mode") == 0) {
                /* Not WAL yet: ask for it. */
                sql = "PRAGMA journal_mode = WAL";
                continue;
            }
            error_setg(errp, ERR_IO, "catalog %s: cannot use WAL journal "
                       "mode (got %s)", db_target(db),
                       mode ? (const char *)mode : "nothing");
            return -1;
        }
        if ((rc & 0xff) != SQLITE_BUSY || --tries <= 0) {
            return sq_fail(db, rc, "set WAL journal mode", errp);
        }
        nanosleep(&pause, NULL);
    }
}

/* Connect to TARGET (see sq_open) into *PRIV, which is where db_priv
 * finds it; with EXCLUSIVE, in exclusive locking mode.  *CODE gets
 * SQLite's primary result code of a failure.
 */
static int
sq_connect(struct db *db, const char *target, int busy_ms, bool exclusive,
           void **priv, int *code, struct error **errp)
{
    sqlite3 *h = NULL;
    int rc;

    *code = SQLITE_OK;
    rc = sqlite3_open_v2(target, &h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        if (h == NULL) {
            error_setg(errp, ERR_GENERIC, "catalog: out of memory");
        } else {
            error_setg(errp, ERR_IO, "cannot open catalog %s: %s", target,
                       sqlite3_errmsg(h));
        }
        *code = rc & 0xff;
        sqlite3_close(h);
        return -1;
    }
    *priv = sq_conn_new(h);
    sqlite3_extended_result_codes(h, 1);
    sqlite3_busy_timeout(h, busy_ms > 0 ? busy_ms : 0);
    if (sqlite3_db_config(h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) !=
            SQLITE_OK ||
        sqlite3_db_config(h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) !=
            SQLITE_OK) {
        error_setg(errp, ERR_IO, "catalog %s: cannot enter defensive mode",
                   target);
        goto fail;
    }
    if ((exclusive &&
         sq_exec(db, "PRAGMA locking_mode = EXCLUSIVE", errp) < 0) ||
        sq_exec(db, "PRAGMA foreign_keys = ON", errp) < 0 ||
        sq_set_wal(db, busy_ms, errp) < 0 ||
        sq_exec(db, "PRAGMA synchronous = FULL", errp) < 0) {
        goto fail;
    }
    return 0;

fail:
    *code = sqlite3_errcode(h) & 0xff;
    sq_conn_close(h, priv);
    return -1;
}

/* Is the directory holding TARGET on a read-only file system? */
static bool
sq_on_read_only_fs(const char *target)
{
    char *copy = xstrdup(target);
    struct statvfs vfs;
    bool ro;

    ro = statvfs(dirname(copy), &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
    free(copy);
    return ro;
}

/* On a read-only file system no -shm file can be made, and nobody can
 * write the catalog either: open TARGET as an immutable, read-only
 * database (a "file:" URI, its path percent-encoded), so that listing
 * and showing still work (audit L10).  Writes fail with "attempt to
 * write a readonly database".
 */
static int
sq_open_read_only(struct db *db, const char *target, void **priv,
                  struct error **errp)
{
    static const char hex[] = "0123456789abcdef";
    size_t len = strlen(target), i, j = 0;
    char *uri = xmalloc(len * 3 + sizeof("file:?immutable=1"));
    sqlite3 *h = NULL;
    int rc;

    j = (size_t)snprintf(uri, 6, "file:");
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)target[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("/._-", c) != NULL) {
            uri[j++] = (char)c;
        } else {
            uri[j++] = '%';
            uri[j++] = hex[c >> 4];
            uri[j++] = hex[c & 15];
        }
    }
    snprintf(uri + j, sizeof("?immutable=1"), "?immutable=1");
    rc = sqlite3_open_v2(uri, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                         NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        error_setg(errp, ERR_IO, "cannot open catalog %s read-only: %s",
                   target, h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close(h);
        return -1;
    }
    *priv = sq_conn_new(h);
    sqlite3_extended_result_codes(h, 1);
    if (sqlite3_db_config(h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) !=
            SQLITE_OK ||
        sqlite3_db_config(h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) !=
            SQLITE_OK) {
        error_setg(errp, ERR_IO, "catalog %s: cannot enter defensive mode",
                   target);
        sq_conn_close(h, priv);
        return -1;
    }
    return 0;
}

/* Open TARGET.  When the first read fails because the disk is full (or
 * the file cannot grow), WAL's shared-memory index (the -shm file) could
 * not be made, and without it nothing can be read: vmsnap could not list
 * or delete anything to free space (reliability audit M4).  Then open it
 * again in exclusive locking mode, in which SQLite keeps that index in
 * its own memory: reads work, and writes work again once there is room.
 * The price: while this connection is open, other processes wait for it.
 */
static int
sq_open(struct db *db, const char *target, int busy_ms, void **priv,
        struct error **errp)
{
    struct error *err = NULL;
    int code;

    if (sq_on_read_only_fs(target)) {
        return sq_open_read_only(db, target, priv, errp);
    }
    if (sq_connect(db, target, busy_ms, false, priv, &code, &err) == 0) {
        return 0;
    }
    if (code != SQLITE_IOERR && code != SQLITE_FULL) {
        error_propagate(errp, err);
        return -1;
    }
    log_warnx("%s; opening the catalog for this process alone",
              error_msg(err));
    error_free(err);
    return sq_connect(db, target, busy_ms, true, priv, &code, errp);
}

static void
sq_close(struct db *db)
{
    struct sq_conn *c = db_priv(db);
    sqlite3 *h = sq_handle(db);

    if (h == NULL) {
        free(c);
        return;
    }
    sq_cache_drop(c);
    if (!sqlite3_get_autocommit(h)) {
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    }
    if (sqlite3_close(h) != SQLITE_OK) {
        log_warnx("catalog %s: close: %s", db_target(db),
                  sqlite3_errmsg(h));
    }
    free(c);
}

static void
sq_set_busy_timeout(struct db *db, int ms)
{
    sqlite3_busy_timeout(sq_handle(db), ms > 0 ? ms : 0);
}

static int
sq_prepare(struct db *db, const char *sql, struct db_stmt **out,
           struct error **errp)
{
    struct sqlite_stmt *s = xcalloc(1, sizeof(*s));
    struct sq_conn *c = db_priv(db);
    size_t i;
    int rc;

    for (i = 0; i < c->ncache; i++) {
        if (strcmp(c->cache[i].sql, sql) == 0) {
            /* Taken out while in use: a nested use of the same text
             * prepares its own.
             */
            s->st = c->cache[i].st;
            free(c->cache[i].sql);
            c->cache[i] = c->cache[--c->ncache];
            s->base.db = db;
            *out = &s->base;
            return 0;
        }
    }
    rc = sqlite3_prepare_v2(sq_handle(db), sql, -1, &s->st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(s->st);
        free(s);
        return sq_fail(db, rc, "prepare", errp);
    }
    s->base.db = db;
    *out = &s->base;
    return 0;
}

static void
sq_finalize(struct db_stmt *st)
{
    struct sq_conn *c = db_priv(st->db);
    sqlite3_stmt *raw = sq_stmt(st);
    const char *sql = raw ? sqlite3_sql(raw) : NULL;

    free(st);
    /* Keep it for the next use when it resets cleanly: a reset ends
     * its read, so it holds no lock nor snapshot while it waits.
     */
    if (c == NULL || sql == NULL || sqlite3_reset(raw) != SQLITE_OK ||
        sqlite3_clear_bindings(raw) != SQLITE_OK) {
        sqlite3_finalize(raw);
        return;
    }
    if (c->ncache == SQ_CACHE) {
        /* Full: evict one in turn. */
        size_t k = c->next++ % SQ_CACHE;

        sqlite3_finalize(c->cache[k].st);
        free(c->cache[k].sql);
        c->cache[k] = c->cache[--c->ncache];
    }
    c->cache[c->ncache].sql = xstrdup(sql);
    c->cache[c->ncache].st = raw;
    c->ncache++;
}

/* The result RC of binding a parameter of ST. */
static int
sq_bound(struct db_stmt *st, int rc, struct error **errp)
{
    if (rc != SQLITE_OK) {
        return sq_fail(st->db, rc, "bind", errp);
    }
    return 0;
}

static int
sq_bind_null(struct db_stmt *st, int i, struct error **errp)
{
    return sq_bound(st, sqlite3_bind_null(sq_stmt(st), i), errp);
}

static int
sq_bind_int64(struct db_stmt *st, int i, int64_t v, struct error **errp)
{
    return sq_bound(st, sqlite3_bind_int64(sq_stmt(st), i, v), errp);
}

static int
sq_bind_double(struct db_stmt *st, int i, double v, struct error **errp)
{
    return sq_bound(st, sqlite3_bind_double(sq_stmt(st), i, v), errp);
}

static int
sq_bind_text(struct db_stmt *st, int i, const char *s, struct error **errp)
{
    if (s == NULL) {
        return sq_bind_null(st, i, errp);
    }
    return sq_bound(st, sqlite3_bind_text(sq_stmt(st), i, s, -1,
                                          SQLITE_TRANSIENT), errp);
}

static int
sq_step(struct db_stmt *st, struct error **errp)
{
    int rc = sqlite3_step(sq_stmt(st));

    if (rc == SQLITE_ROW) {
        return 1;
    }
    if (rc == SQLITE_DONE) {
        return 0;
    }
    return sq_fail(st->db, rc, "step", errp);
}

static int
sq_reset(struct db_stmt *st, struct error **errp)
{
    /* sqlite3_reset repeats the error of the last step, which the caller
     * has already seen; a reset itself does not fail.
     */
    (void)errp;
    sqlite3_reset(sq_stmt(st));
    return 0;
}

static bool
sq_column_null(struct db_stmt *st, int col)
{
    return sqlite3_column_type(sq_stmt(st), col) == SQLITE_NULL;
}

static int64_t
sq_column_int64(struct db_stmt *st, int col)
{
    return sqlite3_column_int64(sq_stmt(st), col);
}

static double
sq_column_double(struct db_stmt *st, int col)
{
    return sqlite3_column_double(sq_stmt(st), col);
}

static const char *
sq_column_text(struct db_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(sq_stmt(st), col);
}

static int64_t
sq_changes(struct db *db)
{
    return sqlite3_changes(sq_handle(db));
}

static int
sq_begin(struct db *db, bool write, struct error **errp)
{
    return sq_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN", errp);
}

static int
sq_commit(struct db *db, struct error **errp)
{
    return sq_exec(db, "COMMIT", errp);
}

static void
sq_rollback(struct db *db)
{
    sqlite3 *h = sq_handle(db);

    /* After SQLITE_FULL, SQLITE_IOERR and the like SQLite may have rolled
     * the transaction back by itself: nothing is left to undo.
     */
    if (sqlite3_get_autocommit(h)) {
        return;
    }
    if (sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) {
        log_warnx("catalog %s: rollback: %s", db_target(db),
                  sqlite3_errmsg(h));
    }
}

static int
sq_savepoint(struct db *db, struct error **errp)
{
    return sq_exec(db, "SAVEPOINT vmsnap", errp);
}

static int
sq_release(struct db *db, struct error **errp)
{
    return sq_exec(db, "RELEASE vmsnap", errp);
}

static int
sq_rollback_to(struct db *db, struct error **errp)
{
    return sq_exec(db, "ROLLBACK TO vmsnap; RELEASE vmsnap", errp);
}

static bool
sq_active(struct db *db)
{
    return !sqlite3_get_autocommit(sq_handle(db));
}

static int
sq_schema_version(struct db *db, int *version, struct error **errp)
{
    int64_t v, app, ntables;

    if (sq_query_int(db, "PRAGMA user_version", &v, errp) < 0 ||
        sq_query_int(db, "PRAGMA application_id", &app, errp) < 0 ||
        sq_query_int(db, "SELECT count(*) FROM sqlite_master", &ntables,
                     errp) < 0) {
        return -1;
    }
    if ((app != 0 && app != SQLITE_APPLICATION_ID) ||
        (app == 0 && v == 0 && ntables > 0) || v < 0 || v > 1000000) {
        error_setg(errp, ERR_INVALID, "%s is not a vmsnap catalog",
                   db_target(db));
        return -1;
    }
    *version = (int)v;
    return 0;
}

static int
sq_set_schema_version(struct db *db, int version, struct error **errp)
{
    char sql[64];

    /* PRAGMA takes no bound parameters; these are our own integers. */
    snprintf(sql, sizeof(sql), "PRAGMA application_id = %d",
             SQLITE_APPLICATION_ID);
    if (sq_exec(db, sql, errp) < 0) {
        return -1;
    }
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
    return sq_exec(db, sql, errp);
}

/* SQLite's own pieces of the schema migrations, by version. */
static int
sq_migrate(struct db *db, int version, struct error **errp)
{
    switch (version) {
    case 3:
        /* Insertion order used to be the rowid of the record tables; it
         * becomes the column seq, which the portable step added.
         */
        return sq_exec(db, "UPDATE images SET seq = rowid;"
                       "UPDATE instances SET seq = rowid;"
                       "UPDATE volumes SET seq = rowid;"
                       "UPDATE volume_snapshots SET seq = rowid;", errp);
    default:
        return 0;
    }
}

static int
sq_check(struct db *db, struct error **errp)
{
    CLEANUP_SQ_STMT sqlite3_stmt *st = NULL;
    const unsigned char *msg;
    int rc;

    rc = sqlite3_prepare_v2(sq_handle(db), "PRAGMA integrity_check", -1,
                            &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sq_fail(db, rc, "integrity check", errp);
    }
    msg = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    if (msg == NULL || strcmp((const char *)msg, "ok") != 0) {
        error_setg(errp, ERR_IO, "catalog is damaged: %s",
                   msg ? (const char *)msg : "no integrity report");
        return -1;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = sqlite3_prepare_v2(sq_handle(db), "PRAGMA foreign_key_check", -1,
                            &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sq_fail(db, rc, "foreign key check", errp);
    }
    if (rc == SQLITE_ROW) {
        const unsigned char *table = sqlite3_column_text(st, 0);
        const unsigned char *parent = sqlite3_column_text(st, 2);

        error_setg(errp, ERR_IO, "catalog is damaged: a row of %s refers "
                   "to a missing row of %s",
                   table ? (const char *)table : "?",
                   parent ? (const char *)parent : "?");
        return -1;
    }
    return 0;
}

const struct db_ops db_sqlite_ops = {
    .version = DB_OPS_VERSION,
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .set_busy_timeout = sq_set_busy_timeout,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .bind_null = sq_bind_null,
    .bind_int64 = sq_bind_int64,
    .bind_double = sq_bind_double,
    .bind_text = sq_bind_text,
    .step = sq_step,
    .reset = sq_reset,
    .column_null = sq_column_null,
    .column_int64 = sq_column_int64,
    .column_double = sq_column_double,
    .column_text = sq_column_text,
    .changes = sq_changes,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .release = sq_release,
    .rollback_to = sq_rollback_to,
    .active = sq_active,
    .schema_version = sq_schema_version,
    .set_schema_version = sq_set_schema_version,
    .migrate = sq_migrate,
    .check = sq_check,
};
