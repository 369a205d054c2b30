/* vmsnap: the catalog of images, instances, volumes and volume
 * snapshots, kept in SQLite (see catalog.h).
 *
 * Every statement is prepared with bound parameters; the only SQL built at
 * run time is the image and volume snapshot list queries, and they are
 * assembled from fixed fragments.  Every public function runs in a
 * transaction of its own, or in a savepoint when the caller has one open,
 * so that it is atomic.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "catalog.h"
#include "cleanup.h"
#include "log.h"
#include "util.h"

struct catalog {
    sqlite3 *db;      /* the connection */
    char *path;       /* database file name, for messages */
    unsigned depth;   /* transactions open: 0 none, 1 BEGIN, >1 savepoints */
    bool aborted;     /* SQLite rolled the open transaction back by itself */
};

/* "vmsn": marks the file as ours in PRAGMA application_id. */
#define CAT_APPLICATION_ID 0x766d736e

/* Schema migrations: entry N takes a database from user_version N to
 * N + 1.  Never edit an entry once released; append a new one.
 */
static const char *const cat_migrations[] = {
    /* 0 -> 1: images and their properties, instances and their
     * metadata.  Sizes are NULL while unknown.  Instances do not reference
     * images with a foreign key: deleting an image that is in use is a
     * policy decision made with catalog_image_users.
     */
    "CREATE TABLE images ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  name TEXT,"
    "  status TEXT NOT NULL,"
    "  disk_format TEXT,"
    "  container_format TEXT,"
    "  size INTEGER,"
    "  virtual_size INTEGER,"
    "  checksum TEXT,"
    "  os_hash_algo TEXT,"
    "  os_hash_value TEXT,"
    "  min_ram INTEGER NOT NULL DEFAULT 0,"
    "  min_disk INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  file TEXT,"
    "  fail_reason TEXT"
    ");"
    "CREATE INDEX images_name ON images (name);"
    "CREATE INDEX images_created_at ON images (created_at);"
    "CREATE TABLE image_properties ("
    "  image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (image_id, key)"
    ") WITHOUT ROWID;"
    "CREATE INDEX image_properties_kv ON image_properties (key, value);"
    "CREATE TABLE instances ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  image_id TEXT,"
    "  memory_mb INTEGER NOT NULL,"
    "  cpus INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  task_state TEXT"
    ");"
    "CREATE INDEX instances_image_id ON instances (image_id);"
    "CREATE TABLE instance_metadata ("
    "  instance_id TEXT NOT NULL"
    "    REFERENCES instances (id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (instance_id, key)"
    ") WITHOUT ROWID;",

    /* 1 -> 2: volumes and volume snapshots (Cinder's model), each with
     * its metadata.  A volume is attached to at most one instance;
     * device_index orders the volumes of that instance (its root disk is
     * 0, so volumes count from 1) and is NULL exactly when instance_id is.
     * No foreign keys point to instances, images or snapshots, as for
     * instances.image_id: the catalog functions check those references
     * where it matters, and a snapshot may outlive its volume.
     */
    "CREATE TABLE volumes ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  name TEXT,"
    "  status TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  file TEXT,"
    "  instance_id TEXT,"
    "  device_index INTEGER,"
    "  source_snapshot_id TEXT,"
    "  source_image_id TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  CHECK ((instance_id IS NULL) = (device_index IS NULL)),"
    "  CHECK (device_index IS NULL OR device_index >= 1)"
    ");"
    "CREATE INDEX volumes_name ON volumes (name);"
    "CREATE INDEX volumes_created_at ON volumes (created_at);"
    "CREATE UNIQUE INDEX volumes_attachment"
    "  ON volumes (instance_id, device_index);"
    "CREATE INDEX volumes_source_snapshot_id"
    "  ON volumes (source_snapshot_id);"
    "CREATE INDEX volumes_source_image_id ON volumes (source_image_id);"
    "CREATE TABLE volume_metadata ("
    "  volume_id TEXT NOT NULL REFERENCES volumes (id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (volume_id, key)"
    ") WITHOUT ROWID;"
    "CREATE TABLE volume_snapshots ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  name TEXT,"
    "  volume_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  file TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE INDEX volume_snapshots_volume_id"
    "  ON volume_snapshots (volume_id);"
    "CREATE INDEX volume_snapshots_name ON volume_snapshots (name);"
    "CREATE INDEX volume_snapshots_created_at"
    "  ON volume_snapshots (created_at);"
    "CREATE TABLE volume_snapshot_metadata ("
    "  snapshot_id TEXT NOT NULL"
    "    REFERENCES volume_snapshots (id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (snapshot_id, key)"
    ") WITHOUT ROWID;"
    "CREATE INDEX volume_snapshot_metadata_kv"
    "  ON volume_snapshot_metadata (key, value);",
};

#define CAT_SCHEMA_VERSION                                                     \
    ((int)(sizeof(cat_migrations) / sizeof(cat_migrations[0])))

/* The statements that read and write one key/value table. */
struct cat_kv_table {
    const char *select; /* ?1 owner -> rows (key, value) sorted by key */
    const char *clear;  /* ?1 owner: delete all its rows */
    const char *insert; /* ?1 owner, ?2 key, ?3 value */
};

static const struct cat_kv_table cat_image_props = {
    "SELECT key, value FROM image_properties WHERE image_id = ?1 "
    "ORDER BY key",
    "DELETE FROM image_properties WHERE image_id = ?1",
    "INSERT INTO image_properties (image_id, key, value) VALUES (?1, ?2, ?3)",
};

static const struct cat_kv_table cat_instance_meta = {
    "SELECT key, value FROM instance_metadata WHERE instance_id = ?1 "
    "ORDER BY key",
    "DELETE FROM instance_metadata WHERE instance_id = ?1",
    "INSERT INTO instance_metadata (instance_id, key, value) "
    "VALUES (?1, ?2, ?3)",
};

static const struct cat_kv_table cat_volume_meta = {
    "SELECT key, value FROM volume_metadata WHERE volume_id = ?1 "
    "ORDER BY key",
    "DELETE FROM volume_metadata WHERE volume_id = ?1",
    "INSERT INTO volume_metadata (volume_id, key, value) "
    "VALUES (?1, ?2, ?3)",
};

static const struct cat_kv_table cat_snapshot_meta = {
    "SELECT key, value FROM volume_snapshot_metadata "
    "WHERE snapshot_id = ?1 ORDER BY key",
    "DELETE FROM volume_snapshot_metadata WHERE snapshot_id = ?1",
    "INSERT INTO volume_snapshot_metadata (snapshot_id, key, value) "
    "VALUES (?1, ?2, ?3)",
};

/* How catalog_*_find looks up one kind of record by name or ID. */
struct cat_kind {
    const char *noun;    /* "image", "server", ..., for messages */
    const char *exists;  /* ?1 id -> a row if it exists */
    const char *by_name; /* ?1 name -> ids of candidates, newest first */
};

static const struct cat_kind cat_kind_image = {
    "image",
    "SELECT 1 FROM images WHERE id = ?1",
    "SELECT id FROM images WHERE name = ?1 AND status != 'deleted' "
    "ORDER BY created_at DESC, rowid DESC",
};

static const struct cat_kind cat_kind_instance = {
    "server",
    "SELECT 1 FROM instances WHERE id = ?1",
    "SELECT id FROM instances WHERE name = ?1 "
    "ORDER BY created_at DESC, rowid DESC",
};

static const struct cat_kind cat_kind_volume = {
    "volume",
    "SELECT 1 FROM volumes WHERE id = ?1",
    "SELECT id FROM volumes WHERE name = ?1 "
    "ORDER BY created_at DESC, rowid DESC",
};

static const struct cat_kind cat_kind_snapshot = {
    "volume snapshot",
    "SELECT 1 FROM volume_snapshots WHERE id = ?1",
    "SELECT id FROM volume_snapshots WHERE name = ?1 "
    "ORDER BY created_at DESC, rowid DESC",
};

/* The image columns, in the order cat_image_from_row reads them. */
#define CAT_IMAGE_COLUMNS                                                      \
    "i.id, i.name, i.status, i.disk_format, i.container_format, i.size, "    \
    "i.virtual_size, i.checksum, i.os_hash_algo, i.os_hash_value, "           \
    "i.min_ram, i.min_disk, i.created_at, i.updated_at, i.file, "            \
    "i.fail_reason"

/* The instance columns, in the order cat_instance_from_row reads them. */
#define CAT_INSTANCE_COLUMNS                                                   \
    "s.id, s.name, s.image_id, s.memory_mb, s.cpus, s.created_at, "           \
    "s.updated_at, s.task_state"

/* The volume columns, in the order cat_volume_from_row reads them. */
#define CAT_VOLUME_COLUMNS                                                     \
    "v.id, v.name, v.status, v.size, v.file, v.instance_id, "                 \
    "v.device_index, v.source_snapshot_id, v.source_image_id, "               \
    "v.created_at, v.updated_at"

/* The volume snapshot columns, in the order cat_snapshot_from_row reads
 * them.
 */
#define CAT_SNAPSHOT_COLUMNS                                                   \
    "n.id, n.name, n.volume_id, n.status, n.size, n.file, n.created_at, "     \
    "n.updated_at"

static const char *const cat_image_statuses[] = {
    "queued", "saving", "uploading", "importing", "active",
    "deactivated", "killed", "pending_delete", "deleted",
};

static const char *const cat_volume_statuses[] = {
    "creating", "available", "in-use", "error", "deleting",
};

static const char *const cat_snapshot_statuses[] = {
    "creating", "available", "error", "deleting",
};

/* ---- Small helpers ---------------------------------------------------- */

static void
cat_finalize(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}

#define CLEANUP_STMT __attribute__((cleanup(cat_finalize)))

static int
cat_oom(struct error **errp)
{
    error_setg(errp, ERR_GENERIC, "catalog: out of memory");
    return -1;
}

/* Turn SQLite result RC into an error.  WHAT says what was being done.
 * Always returns -1.
 */
static int
cat_fail(struct catalog *cat, int rc, struct error **errp, const char *what)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        error_setg(errp, ERR_CONFLICT, "catalog is busy");
        break;
    case SQLITE_NOMEM:
        cat_oom(errp);
        break;
    case SQLITE_CONSTRAINT:
        error_setg(errp, ERR_CONFLICT, "catalog %s: %s: %s", cat->path, what,
                   sqlite3_errmsg(cat->db));
        break;
    default:
        error_setg(errp, ERR_IO, "catalog %s: %s: %s", cat->path, what,
                   sqlite3_errmsg(cat->db));
        break;
    }
    return -1;
}

static sqlite3_stmt *
cat_prepare(struct catalog *cat, const char *sql, struct error **errp)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        cat_fail(cat, rc, errp, "prepare");
        return NULL;
    }
    return st;
}

/* Bind parameters 1, 2, ... of ST from the arguments, one per letter of
 * TYPES: 's' const char * (NULL binds NULL), 'l' int64_t, 'z' int64_t
 * where a negative value binds NULL, 'i' int.
 */
static int
cat_bind(struct catalog *cat, sqlite3_stmt *st, struct error **errp,
         const char *types, ...)
{
    va_list ap;
    int i, rc = SQLITE_OK;

    va_start(ap, types);
    for (i = 0; types[i] != '\0' && rc == SQLITE_OK; i++) {
        switch (types[i]) {
        case 's': {
            const char *s = va_arg(ap, const char *);

            if (s == NULL) {
                rc = sqlite3_bind_null(st, i + 1);
            } else {
                rc = sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT);
            }
            break;
        }
        case 'l':
            rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
            break;
        case 'z': {
            int64_t v = va_arg(ap, int64_t);

            if (v < 0) {
                rc = sqlite3_bind_null(st, i + 1);
            } else {
                rc = sqlite3_bind_int64(st, i + 1, v);
            }
            break;
        }
        case 'i':
            rc = sqlite3_bind_int(st, i + 1, va_arg(ap, int));
            break;
        default:
            abort(); /* a bug in this file */
        }
    }
    va_end(ap);
    if (rc != SQLITE_OK) {
        return cat_fail(cat, rc, errp, "bind");
    }
    return 0;
}

/* Step ST once: 1 for a row, 0 when done, -1 on error. */
static int
cat_step(struct catalog *cat, sqlite3_stmt *st, struct error **errp)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        return 1;
    }
    if (rc == SQLITE_DONE) {
        return 0;
    }
    return cat_fail(cat, rc, errp, "step");
}

/* Run a statement that returns no rows. */
static int
cat_run(struct catalog *cat, sqlite3_stmt *st, struct error **errp)
{
    int r = cat_step(cat, st, errp);

    if (r > 0) {
        error_setg(errp, ERR_IO, "catalog %s: unexpected row",
                   cat->path);
        return -1;
    }
    return r;
}

/* Run fixed SQL text without parameters (one or more statements). */
static int
cat_exec(struct catalog *cat, const char *sql, struct error **errp)
{
    int rc = sqlite3_exec(cat->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        return cat_fail(cat, rc, errp, "exec");
    }
    return 0;
}

/* Read a single integer result of fixed SQL (a PRAGMA or a count). */
static int
cat_query_int(struct catalog *cat, const char *sql, int64_t *out,
              struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = cat_prepare(cat, sql, errp);
    int r;

    if (st == NULL) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    *out = r > 0 ? sqlite3_column_int64(st, 0) : 0;
    return 0;
}

/* Copy text column COL into *OUT (NULL for SQL NULL).  -1 on OOM. */
static int
cat_col_str(sqlite3_stmt *st, int col, char **out)
{
    const unsigned char *s;

    *out = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        return 0;
    }
    s = sqlite3_column_text(st, col);
    if (s == NULL) {
        return -1;
    }
    *out = strdup((const char *)s);
    return *out ? 0 : -1;
}

/* Copy a UUID column into a fixed buffer.  -1 if it is not one. */
static int
cat_col_id(sqlite3_stmt *st, int col, char out[UTIL_UUID_LEN])
{
    const unsigned char *s = sqlite3_column_text(st, col);

    if (s == NULL || strlen((const char *)s) != UTIL_UUID_LEN - 1) {
        return -1;
    }
    memcpy(out, s, UTIL_UUID_LEN);
    return 0;
}

/* Copy ID into OUT in lower case if it is a UUID; false if it is not. */
static bool
cat_norm_id(const char *id, char out[UTIL_UUID_LEN])
{
    size_t i;

    if (!util_is_uuid(id)) {
        return false;
    }
    for (i = 0; i < UTIL_UUID_LEN - 1; i++) {
        out[i] = (char)tolower((unsigned char)id[i]);
    }
    out[UTIL_UUID_LEN - 1] = '\0';
    return true;
}

/* A growing string for messages; on OOM it remembers the failure. */
struct cat_buf {
    char *s;    /* NUL-terminated text, or NULL before the first append */
    size_t len; /* bytes in s, NUL excluded */
    size_t cap; /* bytes allocated for s */
    bool oom;   /* an append failed */
};

static __attribute__((format(printf, 2, 3))) void
cat_buf_printf(struct cat_buf *b, const char *fmt, ...)
{
    va_list ap;
    int need;

    if (b->oom) {
        return;
    }
    va_start(ap, fmt);
    need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        b->oom = true;
        return;
    }
    if (b->len + (size_t)need + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 128);
        char *s;

        while (cap < b->len + (size_t)need + 1) {
            cap *= 2;
        }
        s = realloc(b->s, cap);
        if (s == NULL) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

/* Return the text (caller frees; "" if nothing was appended), or NULL on
 * OOM.  The buffer is emptied.
 */
static char *
cat_buf_steal(struct cat_buf *b)
{
    char *s = b->s;

    if (b->oom) {
        free(s);
        s = NULL;
    } else if (s == NULL) {
        s = strdup("");
    }
    memset(b, 0, sizeof(*b));
    return s;
}

/* ---- Transactions ----------------------------------------------------- */

/* Open a transaction, or a savepoint inside the open one.  WRITE asks for
 * the write lock at once (BEGIN IMMEDIATE), so that a later write cannot
 * fail on a stale snapshot; a read uses a deferred BEGIN, which sees one
 * consistent snapshot without blocking writers.
 */
static int
cat_tx_begin(struct catalog *cat, bool write, struct error **errp)
{
    if (cat->depth == 0) {
        if (cat_exec(cat, write ? "BEGIN IMMEDIATE" : "BEGIN", errp) < 0) {
            return -1;
        }
        cat->aborted = false;
    } else {
        if (cat->aborted || sqlite3_get_autocommit(cat->db)) {
            cat->aborted = true;
            error_setg(errp, ERR_IO, "catalog %s: transaction was rolled "
                       "back after an earlier error", cat->path);
            return -1;
        }
        if (cat_exec(cat, "SAVEPOINT vmsnap", errp) < 0) {
            return -1;
        }
    }
    cat->depth++;
    return 0;
}

static void
cat_tx_rollback(struct catalog *cat)
{
    int rc;

    if (cat->depth == 0) {
        log_warnx("catalog %s: rollback without a transaction", cat->path);
        return;
    }
    /* When SQLite has already rolled the whole transaction back (after
     * SQLITE_FULL, SQLITE_IOERR, ...), there is nothing left to undo.
     */
    if (cat->aborted || sqlite3_get_autocommit(cat->db)) {
        cat->aborted = cat->depth > 1;
        cat->depth--;
        return;
    }
    if (cat->depth == 1) {
        rc = sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
    } else {
        rc = sqlite3_exec(cat->db, "ROLLBACK TO vmsnap; RELEASE vmsnap",
                          NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        log_warnx("catalog %s: rollback: %s", cat->path,
                  sqlite3_errmsg(cat->db));
        if (cat->depth > 1 && !sqlite3_get_autocommit(cat->db)) {
            /* The savepoint could not be undone; do not let the outer
             * transaction commit half of this one.
             */
            cat->aborted = true;
        }
    }
    cat->depth--;
    if (cat->depth == 0) {
        cat->aborted = false;
    }
}

static int
cat_tx_commit(struct catalog *cat, struct error **errp)
{
    if (cat->depth == 0) {
        error_setg(errp, ERR_INVALID, "catalog %s: commit without a "
                   "transaction", cat->path);
        return -1;
    }
    if (cat->aborted || sqlite3_get_autocommit(cat->db)) {
        cat_tx_rollback(cat);
        error_setg(errp, ERR_IO, "catalog %s: transaction was rolled back "
                   "after an earlier error", cat->path);
        return -1;
    }
    if (cat_exec(cat, cat->depth == 1 ? "COMMIT" : "RELEASE vmsnap",
                 errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    cat->depth--;
    return 0;
}

int
catalog_begin(struct catalog *cat, struct error **errp)
{
    return cat_tx_begin(cat, true, errp);
}

int
catalog_commit(struct catalog *cat, struct error **errp)
{
    return cat_tx_commit(cat, errp);
}

void
catalog_rollback(struct catalog *cat)
{
    cat_tx_rollback(cat);
}

/* ---- Opening ---------------------------------------------------------- */

/* Switch to WAL.  Changing the journal mode needs an exclusive lock, and
 * SQLite may report SQLITE_BUSY here without calling the busy handler
 * when another process opens the same new file at the same moment, so
 * retry for up to the busy timeout.
 */
static int
cat_set_wal(struct catalog *cat, struct error **errp)
{
    struct timespec pause = { 0, 10 * 1000 * 1000 };
    int tries = CATALOG_BUSY_TIMEOUT_MS / 10;

    for (;;) {
        CLEANUP_STMT sqlite3_stmt *st = NULL;
        const unsigned char *mode;
        int rc;

        rc = sqlite3_prepare_v2(cat->db, "PRAGMA journal_mode = WAL", -1,
                                &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
        }
        if (rc == SQLITE_ROW) {
            mode = sqlite3_column_text(st, 0);
            if (mode != NULL && (strcmp((const char *)mode, "wal") == 0 ||
                                 strcmp((const char *)mode, "memory") == 0)) {
                return 0;
            }
            error_setg(errp, ERR_IO, "catalog %s: cannot use WAL journal "
                       "mode (got %s)", cat->path,
                       mode ? (const char *)mode : "nothing");
            return -1;
        }
        if ((rc & 0xff) != SQLITE_BUSY || --tries <= 0) {
            return cat_fail(cat, rc, errp, "set WAL journal mode");
        }
        nanosleep(&pause, NULL);
    }
}

/* Bring the schema to CAT_SCHEMA_VERSION.  Called with the write lock. */
static int
cat_migrate_locked(struct catalog *cat, struct error **errp)
{
    int64_t version, app, ntables;
    char sql[64];
    int v;

    if (cat_query_int(cat, "PRAGMA user_version", &version, errp) < 0 ||
        cat_query_int(cat, "PRAGMA application_id", &app, errp) < 0 ||
        cat_query_int(cat, "SELECT count(*) FROM sqlite_master", &ntables,
                      errp) < 0) {
        return -1;
    }
    if ((app != 0 && app != CAT_APPLICATION_ID) ||
        (app == 0 && version == 0 && ntables > 0)) {
        error_setg(errp, ERR_INVALID, "%s is not a vmsnap catalog",
                   cat->path);
        return -1;
    }
    if (version > CAT_SCHEMA_VERSION) {
        error_setg(errp, ERR_INVALID, "catalog %s has schema version %lld, "
                   "newer than this vmsnap supports (%d)", cat->path,
                   (long long)version, CAT_SCHEMA_VERSION);
        return -1;
    }
    for (v = (int)version; v < CAT_SCHEMA_VERSION; v++) {
        if (cat_exec(cat, cat_migrations[v], errp) < 0) {
            error_prepend(errp, "schema upgrade to version %d: ", v + 1);
            return -1;
        }
    }
    if (version < CAT_SCHEMA_VERSION) {
        /* PRAGMA takes no bound parameters; these are our own integers. */
        snprintf(sql, sizeof(sql), "PRAGMA application_id = %d",
                 CAT_APPLICATION_ID);
        if (cat_exec(cat, sql, errp) < 0) {
            return -1;
        }
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
                 CAT_SCHEMA_VERSION);
        if (cat_exec(cat, sql, errp) < 0) {
            return -1;
        }
        log_debug("catalog", "%s: schema version %lld -> %d", cat->path,
                  (long long)version, CAT_SCHEMA_VERSION);
    }
    return 0;
}

struct catalog *
catalog_open(const char *db_path, struct error **errp)
{
    struct catalog *cat;
    int64_t version = 0, app = 0;
    int rc;

    cat = calloc(1, sizeof(*cat));
    if (cat == NULL || (cat->path = strdup(db_path)) == NULL) {
        free(cat);
        cat_oom(errp);
        return NULL;
    }
    rc = sqlite3_open_v2(db_path, &cat->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        if (cat->db == NULL) {
            cat_oom(errp);
        } else {
            error_setg(errp, ERR_IO, "cannot open catalog %s: %s", db_path,
                       sqlite3_errmsg(cat->db));
        }
        goto fail;
    }
    sqlite3_extended_result_codes(cat->db, 1);
    sqlite3_busy_timeout(cat->db, CATALOG_BUSY_TIMEOUT_MS);
    if (cat_exec(cat, "PRAGMA foreign_keys = ON", errp) < 0 ||
        cat_set_wal(cat, errp) < 0 ||
        cat_exec(cat, "PRAGMA synchronous = FULL", errp) < 0 ||
        cat_query_int(cat, "PRAGMA user_version", &version, errp) < 0 ||
        cat_query_int(cat, "PRAGMA application_id", &app, errp) < 0) {
        goto fail;
    }
    /* Take the write lock only when the schema needs work; check again
     * under the lock, since another process may have done it meanwhile.
     */
    if (version != CAT_SCHEMA_VERSION || app != CAT_APPLICATION_ID) {
        if (cat_tx_begin(cat, true, errp) < 0) {
            goto fail;
        }
        if (cat_migrate_locked(cat, errp) < 0) {
            cat_tx_rollback(cat);
            goto fail;
        }
        if (cat_tx_commit(cat, errp) < 0) {
            goto fail;
        }
    }
    return cat;

fail:
    catalog_close(cat);
    return NULL;
}

void
catalog_close(struct catalog *cat)
{
    if (cat == NULL) {
        return;
    }
    while (cat->depth > 0) {
        cat_tx_rollback(cat);
    }
    if (cat->db != NULL && sqlite3_close(cat->db) != SQLITE_OK) {
        log_warnx("catalog %s: close: %s", cat->path,
                  sqlite3_errmsg(cat->db));
    }
    free(cat->path);
    free(cat);
}

void
catalog_set_busy_timeout(struct catalog *cat, int ms)
{
    sqlite3_busy_timeout(cat->db, ms > 0 ? ms : 0);
}

int
catalog_check(struct catalog *cat, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    const unsigned char *msg;
    int r;

    st = cat_prepare(cat, "PRAGMA integrity_check", errp);
    if (st == NULL) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    msg = r > 0 ? sqlite3_column_text(st, 0) : NULL;
    if (msg == NULL || strcmp((const char *)msg, "ok") != 0) {
        error_setg(errp, ERR_IO, "catalog is damaged: %s",
                   msg ? (const char *)msg : "no integrity report");
        return -1;
    }
    sqlite3_finalize(st);
    st = cat_prepare(cat, "PRAGMA foreign_key_check", errp);
    if (st == NULL) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        const unsigned char *table = sqlite3_column_text(st, 0);

        error_setg(errp, ERR_IO, "catalog is damaged: a row of %s refers "
                   "to a missing row of %s",
                   table ? (const char *)table : "?",
                   sqlite3_column_text(st, 2)
                       ? (const char *)sqlite3_column_text(st, 2)
                       : "?");
        return -1;
    }
    return 0;
}

/* ---- Key/value sets --------------------------------------------------- */

const char *
catalog_prop_get(const struct prop *props, size_t n, const char *key)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(props[i].key, key) == 0) {
            return props[i].value;
        }
    }
    return NULL;
}

int
catalog_prop_set(struct prop **props, size_t *n, const char *key,
                 const char *value, struct error **errp)
{
    CLEANUP_FREE char *v = strdup(value);
    CLEANUP_FREE char *k = NULL;
    struct prop *grown;
    size_t i;

    if (v == NULL) {
        return cat_oom(errp);
    }
    for (i = 0; i < *n; i++) {
        if (strcmp((*props)[i].key, key) == 0) {
            free((*props)[i].value);
            (*props)[i].value = steal_pointer(&v);
            return 0;
        }
    }
    k = strdup(key);
    if (k == NULL) {
        return cat_oom(errp);
    }
    grown = realloc(*props, (*n + 1) * sizeof(**props));
    if (grown == NULL) {
        return cat_oom(errp);
    }
    *props = grown;
    grown[*n].key = steal_pointer(&k);
    grown[*n].value = steal_pointer(&v);
    (*n)++;
    return 0;
}

void
catalog_props_free(struct prop *props, size_t n)
{
    size_t i;

    if (props == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(props[i].key);
        free(props[i].value);
    }
    free(props);
}

/* Check a key/value set given by a caller: keys non-empty, bounded and
 * distinct, values present, not too many.  NOUN names the set.
 */
static int
cat_check_props(const struct prop *props, size_t n, const char *noun,
                struct error **errp)
{
    size_t i, j;

    if (n > CATALOG_PROPS_MAX) {
        error_setg(errp, ERR_INVALID, "too many %s (%zu, at most %d)", noun,
                   n, CATALOG_PROPS_MAX);
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (props[i].key == NULL || props[i].key[0] == '\0' ||
            strlen(props[i].key) > CATALOG_KEY_MAX) {
            error_setg(errp, ERR_INVALID, "%s name must be 1 to %d bytes",
                       noun, CATALOG_KEY_MAX);
            return -1;
        }
        if (props[i].value == NULL) {
            error_setg(errp, ERR_INVALID, "%s '%s' has no value", noun,
                       props[i].key);
            return -1;
        }
        if (strlen(props[i].value) > CATALOG_VALUE_MAX) {
            error_setg(errp, ERR_INVALID, "%s '%s' is longer than %d bytes",
                       noun, props[i].key, CATALOG_VALUE_MAX);
            return -1;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(props[i].key, props[j].key) == 0) {
                error_setg(errp, ERR_INVALID, "%s '%s' is given twice",
                           noun, props[i].key);
                return -1;
            }
        }
    }
    return 0;
}

/* Read the key/value set of OWNER from table T. */
static int
cat_load_kv(struct catalog *cat, const struct cat_kv_table *t,
            const char *owner, struct prop **props, size_t *n,
            struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = cat_prepare(cat, t->select, errp);
    struct prop *list = NULL;
    size_t count = 0, cap = 0;
    int r;

    if (st == NULL || cat_bind(cat, st, errp, "s", owner) < 0) {
        return -1;
    }
    while ((r = cat_step(cat, st, errp)) > 0) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct prop *grown = realloc(list, ncap * sizeof(*list));

            if (grown == NULL) {
                catalog_props_free(list, count);
                return cat_oom(errp);
            }
            list = grown;
            cap = ncap;
        }
        if (cat_col_str(st, 0, &list[count].key) < 0 ||
            cat_col_str(st, 1, &list[count].value) < 0 ||
            list[count].key == NULL || list[count].value == NULL) {
            free(list[count].key);
            free(list[count].value);
            catalog_props_free(list, count);
            return cat_oom(errp);
        }
        count++;
    }
    if (r < 0) {
        catalog_props_free(list, count);
        return -1;
    }
    *props = list;
    *n = count;
    return 0;
}

/* Replace the key/value set of OWNER in table T.  Needs a transaction. */
static int
cat_store_kv_locked(struct catalog *cat, const struct cat_kv_table *t,
                    const char *owner, const struct prop *props, size_t n,
                    struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *del = cat_prepare(cat, t->clear, errp);
    CLEANUP_STMT sqlite3_stmt *ins = NULL;
    size_t i;

    if (del == NULL || cat_bind(cat, del, errp, "s", owner) < 0 ||
        cat_run(cat, del, errp) < 0) {
        return -1;
    }
    if (n == 0) {
        return 0;
    }
    ins = cat_prepare(cat, t->insert, errp);
    if (ins == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        sqlite3_reset(ins);
        if (cat_bind(cat, ins, errp, "sss", owner, props[i].key,
                     props[i].value) < 0 ||
            cat_run(cat, ins, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- Lookup by name or ID --------------------------------------------- */

/* Resolve NAME_OR_ID to the ID of one record of kind K.  Needs a
 * transaction, so that the answer stays true while the caller reads.
 */
static int
cat_find_id_locked(struct catalog *cat, const struct cat_kind *k,
                   const char *name_or_id, char out[UTIL_UUID_LEN],
                   struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char id[UTIL_UUID_LEN];
    char first[UTIL_UUID_LEN] = "";
    struct cat_buf ids = { 0 };
    CLEANUP_FREE char *list = NULL;
    size_t count = 0;
    int r;

    if (name_or_id == NULL) {
        error_setg(errp, ERR_INVALID, "no %s name or ID given", k->noun);
        return -1;
    }
    if (cat_norm_id(name_or_id, id)) {
        st = cat_prepare(cat, k->exists, errp);
        if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0) {
            return -1;
        }
        r = cat_step(cat, st, errp);
        if (r < 0) {
            return -1;
        }
        if (r > 0) {
            memcpy(out, id, UTIL_UUID_LEN);
            return 0;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    st = cat_prepare(cat, k->by_name, errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", name_or_id) < 0) {
        return -1;
    }
    while ((r = cat_step(cat, st, errp)) > 0) {
        const unsigned char *s = sqlite3_column_text(st, 0);

        if (s == NULL) {
            free(cat_buf_steal(&ids));
            return cat_oom(errp);
        }
        if (count == 0) {
            snprintf(first, sizeof(first), "%s", (const char *)s);
        }
        cat_buf_printf(&ids, "%s%s", count ? ", " : "", (const char *)s);
        count++;
    }
    list = cat_buf_steal(&ids);
    if (r < 0) {
        return -1;
    }
    if (count == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no %s named or with ID '%s'",
                   k->noun, name_or_id);
        return -1;
    }
    if (count > 1) {
        error_setg(errp, ERR_CONFLICT, "%s name '%s' is ambiguous: %s",
                   k->noun, name_or_id, list ? list : "(out of memory)");
        return -1;
    }
    memcpy(out, first, UTIL_UUID_LEN);
    return 0;
}

/* ---- Images ----------------------------------------------------------- */

bool
catalog_image_status_valid(const char *status)
{
    size_t i;

    if (status == NULL) {
        return false;
    }
    for (i = 0; i < sizeof(cat_image_statuses) / sizeof(cat_image_statuses[0]);
         i++) {
        if (strcmp(status, cat_image_statuses[i]) == 0) {
            return true;
        }
    }
    return false;
}

const char *
image_prop(const struct image *img, const char *key)
{
    return catalog_prop_get(img->props, img->nprops, key);
}

int
image_prop_set(struct image *img, const char *key, const char *value,
               struct error **errp)
{
    return catalog_prop_set(&img->props, &img->nprops, key, value, errp);
}

void
image_free(struct image *img)
{
    if (img == NULL) {
        return;
    }
    free(img->name);
    free(img->status);
    free(img->disk_format);
    free(img->container_format);
    free(img->checksum);
    free(img->os_hash_algo);
    free(img->os_hash_value);
    free(img->created_at);
    free(img->updated_at);
    free(img->file);
    free(img->fail_reason);
    catalog_props_free(img->props, img->nprops);
    free(img);
}

void
image_list_free(struct image **list, size_t n)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        image_free(list[i]);
    }
    free(list);
}

/* Check the fields of IMG that callers set.  ID gets the normalised ID. */
static int
cat_image_check(const struct image *img, char id[UTIL_UUID_LEN],
                struct error **errp)
{
    if (!cat_norm_id(img->id, id)) {
        error_setg(errp, ERR_INVALID, "image ID '%s' is not a UUID",
                   img->id);
        return -1;
    }
    if (img->name != NULL && strlen(img->name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "image name is longer than %d bytes",
                   CATALOG_NAME_MAX);
        return -1;
    }
    if (!catalog_image_status_valid(img->status)) {
        error_setg(errp, ERR_INVALID, "unknown image status '%s'",
                   img->status ? img->status : "(none)");
        return -1;
    }
    if (img->min_ram < 0 || img->min_disk < 0) {
        error_setg(errp, ERR_INVALID, "min_ram and min_disk must not be "
                   "negative");
        return -1;
    }
    if (img->created_at != NULL && !util_is_iso8601(img->created_at)) {
        error_setg(errp, ERR_INVALID, "bad creation time '%s'",
                   img->created_at);
        return -1;
    }
    return cat_check_props(img->props, img->nprops, "image property", errp);
}

/* Build a struct image from a row of CAT_IMAGE_COLUMNS. */
static struct image *
cat_image_from_row(sqlite3_stmt *st)
{
    struct image *img = calloc(1, sizeof(*img));

    if (img == NULL) {
        return NULL;
    }
    img->size = sqlite3_column_type(st, 5) == SQLITE_NULL
                    ? -1 : sqlite3_column_int64(st, 5);
    img->virtual_size = sqlite3_column_type(st, 6) == SQLITE_NULL
                            ? -1 : sqlite3_column_int64(st, 6);
    img->min_ram = sqlite3_column_int64(st, 10);
    img->min_disk = sqlite3_column_int64(st, 11);
    if (cat_col_id(st, 0, img->id) < 0 ||
        cat_col_str(st, 1, &img->name) < 0 ||
        cat_col_str(st, 2, &img->status) < 0 ||
        cat_col_str(st, 3, &img->disk_format) < 0 ||
        cat_col_str(st, 4, &img->container_format) < 0 ||
        cat_col_str(st, 7, &img->checksum) < 0 ||
        cat_col_str(st, 8, &img->os_hash_algo) < 0 ||
        cat_col_str(st, 9, &img->os_hash_value) < 0 ||
        cat_col_str(st, 12, &img->created_at) < 0 ||
        cat_col_str(st, 13, &img->updated_at) < 0 ||
        cat_col_str(st, 14, &img->file) < 0 ||
        cat_col_str(st, 15, &img->fail_reason) < 0) {
        image_free(img);
        return NULL;
    }
    return img;
}

static int
cat_image_get_locked(struct catalog *cat, const char *id,
                     struct image **out, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN];
    struct image *img;
    int r;

    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no image with ID '%s'", id);
        return -1;
    }
    st = cat_prepare(cat, "SELECT " CAT_IMAGE_COLUMNS " FROM images AS i "
                     "WHERE i.id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no image with ID '%s'", id);
        return -1;
    }
    img = cat_image_from_row(st);
    if (img == NULL) {
        return cat_oom(errp);
    }
    if (cat_load_kv(cat, &cat_image_props, img->id, &img->props,
                    &img->nprops, errp) < 0) {
        image_free(img);
        return -1;
    }
    *out = img;
    return 0;
}

int
catalog_image_get(struct catalog *cat, const char *id, struct image **out,
                  struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_image_get_locked(cat, id, out, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        image_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int
catalog_image_find(struct catalog *cat, const char *name_or_id,
                   struct image **out, struct error **errp)
{
    char id[UTIL_UUID_LEN];

    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_find_id_locked(cat, &cat_kind_image, name_or_id, id,
                           errp) < 0 ||
        cat_image_get_locked(cat, id, out, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        image_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int
cat_image_insert_locked(struct catalog *cat, const struct image *img,
                        struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char id[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *created;
    int r;

    if (cat_image_check(img, id, errp) < 0) {
        return -1;
    }
    st = cat_prepare(cat, "SELECT 1 FROM images WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r != 0) {
        if (r > 0) {
            error_setg(errp, ERR_CONFLICT, "image ID '%s' already exists",
                       id);
        }
        return -1;
    }
    sqlite3_finalize(st);
    util_now_iso8601(now);
    created = img->created_at ? img->created_at : now;
    st = cat_prepare(cat,
                     "INSERT INTO images (id, name, status, disk_format, "
                     "container_format, size, virtual_size, checksum, "
                     "os_hash_algo, os_hash_value, min_ram, min_disk, "
                     "created_at, updated_at, file, fail_reason) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                     "?12, ?13, ?14, ?15, ?16)", errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "ssssszzsssllssss", id, img->name,
                 img->status, img->disk_format, img->container_format,
                 img->size, img->virtual_size, img->checksum,
                 img->os_hash_algo, img->os_hash_value, img->min_ram,
                 img->min_disk, created, created, img->file,
                 img->fail_reason) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_image_props, id, img->props,
                               img->nprops, errp);
}

int
catalog_image_insert(struct catalog *cat, const struct image *img,
                     struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_image_insert_locked(cat, img, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_image_update_locked(struct catalog *cat, const struct image *img,
                        struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char id[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (cat_image_check(img, id, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    st = cat_prepare(cat,
                     "UPDATE images SET name = ?2, status = ?3, "
                     "disk_format = ?4, container_format = ?5, size = ?6, "
                     "virtual_size = ?7, checksum = ?8, os_hash_algo = ?9, "
                     "os_hash_value = ?10, min_ram = ?11, min_disk = ?12, "
                     "updated_at = ?13, file = ?14, fail_reason = ?15 "
                     "WHERE id = ?1", errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "ssssszzssslls" "ss", id, img->name,
                 img->status, img->disk_format, img->container_format,
                 img->size, img->virtual_size, img->checksum,
                 img->os_hash_algo, img->os_hash_value, img->min_ram,
                 img->min_disk, now, img->file, img->fail_reason) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no image with ID '%s'", img->id);
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_image_props, id, img->props,
                               img->nprops, errp);
}

int
catalog_image_update(struct catalog *cat, const struct image *img,
                     struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_image_update_locked(cat, img, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

/* Append a text parameter to the list query. */
static int
cat_sql_add(char *sql, size_t size, size_t *len, const char *frag)
{
    size_t n = strlen(frag);

    if (*len + n + 1 > size) {
        return -1;
    }
    memcpy(sql + *len, frag, n + 1);
    *len += n;
    return 0;
}

static int
cat_image_list_locked(struct catalog *cat, const struct image_filter *f,
                      struct image ***out, size_t *n, struct error **errp)
{
    static const char prop_match[] =
        " AND EXISTS (SELECT 1 FROM image_properties AS p"
        " WHERE p.image_id = i.id AND p.key = ? AND p.value = ?)";
    char sql[sizeof(prop_match) * CATALOG_PROPS_MAX + 512];
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    struct image **list = NULL;
    size_t len = 0, count = 0, cap = 0, i;
    int param = 0, rc = SQLITE_OK, r;

    if (f != NULL && f->nprops > 0 && f->props == NULL) {
        error_setg(errp, ERR_INVALID, "property filters missing");
        return -1;
    }
    if (f != NULL && f->nprops > CATALOG_PROPS_MAX) {
        error_setg(errp, ERR_INVALID, "too many property filters (%zu, at "
                   "most %d)", f->nprops, CATALOG_PROPS_MAX);
        return -1;
    }
    if (f != NULL && f->status != NULL &&
        !catalog_image_status_valid(f->status)) {
        error_setg(errp, ERR_INVALID, "unknown image status '%s'",
                   f->status);
        return -1;
    }
    /* Only fixed fragments go into the text; every value is bound. */
    if (cat_sql_add(sql, sizeof(sql), &len, "SELECT " CAT_IMAGE_COLUMNS
                    " FROM images AS i WHERE 1") < 0 ||
        (f && f->name && cat_sql_add(sql, sizeof(sql), &len,
                                     " AND i.name = ?") < 0) ||
        (f && f->status && cat_sql_add(sql, sizeof(sql), &len,
                                       " AND i.status = ?") < 0) ||
        (f && f->exclude_deleted &&
         cat_sql_add(sql, sizeof(sql), &len,
                     " AND i.status != 'deleted'") < 0)) {
        abort(); /* the buffer is sized for the longest query */
    }
    for (i = 0; f != NULL && i < f->nprops; i++) {
        if (cat_sql_add(sql, sizeof(sql), &len, prop_match) < 0) {
            abort();
        }
    }
    if (cat_sql_add(sql, sizeof(sql), &len,
                    " ORDER BY i.created_at DESC, i.rowid DESC") < 0) {
        abort();
    }
    st = cat_prepare(cat, sql, errp);
    if (st == NULL) {
        return -1;
    }
    if (f != NULL && f->name != NULL) {
        rc = sqlite3_bind_text(st, ++param, f->name, -1, SQLITE_TRANSIENT);
    }
    if (rc == SQLITE_OK && f != NULL && f->status != NULL) {
        rc = sqlite3_bind_text(st, ++param, f->status, -1, SQLITE_TRANSIENT);
    }
    for (i = 0; rc == SQLITE_OK && f != NULL && i < f->nprops; i++) {
        if (f->props[i].key == NULL || f->props[i].value == NULL) {
            error_setg(errp, ERR_INVALID, "property filter without a key "
                       "or a value");
            return -1;
        }
        rc = sqlite3_bind_text(st, ++param, f->props[i].key, -1,
                               SQLITE_TRANSIENT);
        if (rc == SQLITE_OK) {
            rc = sqlite3_bind_text(st, ++param, f->props[i].value, -1,
                                   SQLITE_TRANSIENT);
        }
    }
    if (rc != SQLITE_OK) {
        return cat_fail(cat, rc, errp, "bind");
    }
    while ((r = cat_step(cat, st, errp)) > 0) {
        struct image *img;

        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct image **grown = realloc(list, ncap * sizeof(*list));

            if (grown == NULL) {
                image_list_free(list, count);
                return cat_oom(errp);
            }
            list = grown;
            cap = ncap;
        }
        img = cat_image_from_row(st);
        if (img == NULL) {
            image_list_free(list, count);
            return cat_oom(errp);
        }
        list[count++] = img;
        if (cat_load_kv(cat, &cat_image_props, img->id, &img->props,
                        &img->nprops, errp) < 0) {
            image_list_free(list, count);
            return -1;
        }
    }
    if (r < 0) {
        image_list_free(list, count);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

int
catalog_image_list(struct catalog *cat, const struct image_filter *f,
                   struct image ***out, size_t *n, struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_image_list_locked(cat, f, out, n, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        image_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

/* Bump updated_at of image ID; ERR_NOT_FOUND if there is none. */
static int
cat_image_touch_locked(struct catalog *cat, const char *id,
                       const char *given, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char now[UTIL_TIME_LEN];

    util_now_iso8601(now);
    st = cat_prepare(cat, "UPDATE images SET updated_at = ?2 WHERE id = ?1",
                     errp);
    if (st == NULL || cat_bind(cat, st, errp, "ss", id, now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no image with ID '%s'", given);
        return -1;
    }
    return 0;
}

static int
cat_image_set_status_locked(struct catalog *cat, const char *id,
                            const char *status, const char *reason,
                            struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (!catalog_image_status_valid(status)) {
        error_setg(errp, ERR_INVALID, "unknown image status '%s'",
                   status ? status : "(none)");
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no image with ID '%s'", id);
        return -1;
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, "UPDATE images SET status = ?2, fail_reason = ?3, "
                     "updated_at = ?4 WHERE id = ?1", errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "ssss", nid, status, reason, now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no image with ID '%s'", id);
        return -1;
    }
    return 0;
}

int
catalog_image_set_status(struct catalog *cat, const char *id,
                         const char *status, const char *reason,
                         struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_image_set_status_locked(cat, id, status, reason, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_image_set_property_locked(struct catalog *cat, const char *id,
                              const char *key, const char *value,
                              struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN];
    int64_t nprops;
    int r;

    if (key == NULL || key[0] == '\0' || strlen(key) > CATALOG_KEY_MAX) {
        error_setg(errp, ERR_INVALID, "image property name must be 1 to %d "
                   "bytes", CATALOG_KEY_MAX);
        return -1;
    }
    if (value == NULL) {
        error_setg(errp, ERR_INVALID, "image property '%s' has no value",
                   key);
        return -1;
    }
    if (strlen(value) > CATALOG_VALUE_MAX) {
        error_setg(errp, ERR_INVALID, "image property '%s' is longer than "
                   "%d bytes", key, CATALOG_VALUE_MAX);
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no image with ID '%s'", id);
        return -1;
    }
    if (cat_image_touch_locked(cat, nid, id, errp) < 0) {
        return -1;
    }
    st = cat_prepare(cat, "SELECT count(*), "
                     "sum(key = ?2) FROM image_properties "
                     "WHERE image_id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "ss", nid, key) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    nprops = r > 0 ? sqlite3_column_int64(st, 0) : 0;
    if (r > 0 && sqlite3_column_int64(st, 1) == 0 &&
        nprops >= CATALOG_PROPS_MAX) {
        error_setg(errp, ERR_INVALID, "image %s already has %d properties",
                   id, CATALOG_PROPS_MAX);
        return -1;
    }
    sqlite3_finalize(st);
    st = cat_prepare(cat, "INSERT INTO image_properties (image_id, key, "
                     "value) VALUES (?1, ?2, ?3) ON CONFLICT (image_id, key) "
                     "DO UPDATE SET value = excluded.value", errp);
    if (st == NULL || cat_bind(cat, st, errp, "sss", nid, key, value) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return 0;
}

int
catalog_image_set_property(struct catalog *cat, const char *id,
                           const char *key, const char *value,
                           struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_image_set_property_locked(cat, id, key, value, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_image_unset_property_locked(struct catalog *cat, const char *id,
                                const char *key, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN];

    if (key == NULL) {
        error_setg(errp, ERR_INVALID, "no image property name given");
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no image with ID '%s'", id);
        return -1;
    }
    if (cat_image_touch_locked(cat, nid, id, errp) < 0) {
        return -1;
    }
    st = cat_prepare(cat, "DELETE FROM image_properties "
                     "WHERE image_id = ?1 AND key = ?2", errp);
    if (st == NULL || cat_bind(cat, st, errp, "ss", nid, key) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "image %s has no property '%s'", id,
                   key);
        return -1;
    }
    return 0;
}

int
catalog_image_unset_property(struct catalog *cat, const char *id,
                             const char *key, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_image_unset_property_locked(cat, id, key, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_image_delete_locked(struct catalog *cat, const char *id,
                        struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN];

    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no image with ID '%s'", id);
        return -1;
    }
    /* The foreign key cascades too; delete explicitly all the same. */
    st = cat_prepare(cat, cat_image_props.clear, errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    sqlite3_finalize(st);
    st = cat_prepare(cat, "DELETE FROM images WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no image with ID '%s'", id);
        return -1;
    }
    return 0;
}

int
catalog_image_delete(struct catalog *cat, const char *id,
                     struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_image_delete_locked(cat, id, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

/* Append "NOUN NAME (ID)" (or "NOUN ID" without a name) to B. */
static void
cat_describe(struct cat_buf *b, const char *noun, sqlite3_stmt *st,
             int id_col, int name_col)
{
    const unsigned char *id = sqlite3_column_text(st, id_col);
    const unsigned char *name = sqlite3_column_text(st, name_col);

    if (id == NULL) {
        b->oom = true;
        return;
    }
    if (name != NULL) {
        cat_buf_printf(b, "%s %s (%s)", noun, (const char *)name,
                       (const char *)id);
    } else {
        cat_buf_printf(b, "%s %s", noun, (const char *)id);
    }
}

static int
cat_image_users_locked(struct catalog *cat, const char *id,
                       struct cat_buf *b, struct error **errp)
{
    /* Each query yields one user per row.  Columns: user id, user name,
     * and for the indirect ones (VIA > 0) the key, then (VIA 2) the image
     * in between.
     */
    static const struct {
        const char *noun; /* what the user is */
        int via;          /* 0 direct, 1 through a key, 2 and an image */
        const char *sql;  /* ?1 the image ID */
    } queries[] = {
        { "instance", 0,
          "SELECT s.id, s.name FROM instances AS s WHERE s.image_id = ?1 "
          "ORDER BY s.created_at, s.rowid" },
        { "image", 1,
          "SELECT i.id, i.name, p.key FROM images AS i "
          "JOIN image_properties AS p ON p.image_id = i.id "
          "WHERE p.key IN ('kernel_id', 'ramdisk_id') AND p.value = ?1 "
          "AND i.status != 'deleted' AND i.id != ?1 "
          "ORDER BY i.created_at, i.rowid, p.key" },
        { "instance", 2,
          "SELECT s.id, s.name, p.key, i.id, i.name FROM instances AS s "
          "JOIN images AS i ON i.id = s.image_id "
          "JOIN image_properties AS p ON p.image_id = i.id "
          "WHERE p.key IN ('kernel_id', 'ramdisk_id') AND p.value = ?1 "
          "AND i.id != ?1 "
          "ORDER BY s.created_at, s.rowid, p.key" },
        { "volume", 0,
          "SELECT v.id, v.name FROM volumes AS v "
          "WHERE v.source_image_id = ?1 "
          "ORDER BY v.created_at, v.rowid" },
    };
    size_t q;
    int count = 0, r;

    for (q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        CLEANUP_STMT sqlite3_stmt *st = cat_prepare(cat, queries[q].sql,
                                                    errp);

        if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0) {
            return -1;
        }
        while ((r = cat_step(cat, st, errp)) > 0) {
            const unsigned char *key;

            if (count > 0) {
                cat_buf_printf(b, ", ");
            }
            cat_describe(b, queries[q].noun, st, 0, 1);
            if (queries[q].via > 0) {
                key = sqlite3_column_text(st, 2);
                cat_buf_printf(b, " via ");
                if (queries[q].via == 2) {
                    cat_describe(b, "image", st, 3, 4);
                    cat_buf_printf(b, " ");
                }
                cat_buf_printf(b, "%s", key ? (const char *)key : "?");
            }
            count++;
        }
        if (r < 0) {
            return -1;
        }
    }
    return count;
}

int
catalog_image_users(struct catalog *cat, const char *id, char **users_out,
                    struct error **errp)
{
    struct cat_buf b = { 0 };
    char nid[UTIL_UUID_LEN];
    char *text;
    int count = 0;

    if (cat_norm_id(id, nid)) {
        if (cat_tx_begin(cat, false, errp) < 0) {
            return -1;
        }
        count = cat_image_users_locked(cat, nid, &b, errp);
        if (count < 0) {
            cat_tx_rollback(cat);
            free(cat_buf_steal(&b));
            return -1;
        }
        if (cat_tx_commit(cat, errp) < 0) {
            free(cat_buf_steal(&b));
            return -1;
        }
    }
    text = cat_buf_steal(&b);
    if (text == NULL) {
        return cat_oom(errp);
    }
    if (users_out != NULL) {
        *users_out = text;
    } else {
        free(text);
    }
    return count;
}

/* ---- Instances -------------------------------------------------------- */

const char *
instance_meta(const struct instance *inst, const char *key)
{
    return catalog_prop_get(inst->meta, inst->nmeta, key);
}

int
instance_meta_set(struct instance *inst, const char *key, const char *value,
                  struct error **errp)
{
    return catalog_prop_set(&inst->meta, &inst->nmeta, key, value, errp);
}

void
instance_free(struct instance *inst)
{
    if (inst == NULL) {
        return;
    }
    free(inst->name);
    free(inst->image_id);
    free(inst->created_at);
    free(inst->updated_at);
    free(inst->task_state);
    catalog_props_free(inst->meta, inst->nmeta);
    free(inst);
}

void
instance_list_free(struct instance **list, size_t n)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        instance_free(list[i]);
    }
    free(list);
}

static int
cat_instance_check(const struct instance *inst, char id[UTIL_UUID_LEN],
                   struct error **errp)
{
    if (!cat_norm_id(inst->id, id)) {
        error_setg(errp, ERR_INVALID, "server ID '%s' is not a UUID",
                   inst->id);
        return -1;
    }
    if (inst->name == NULL || inst->name[0] == '\0' ||
        strlen(inst->name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "server name must be 1 to %d bytes",
                   CATALOG_NAME_MAX);
        return -1;
    }
    if (inst->image_id != NULL && !util_is_uuid(inst->image_id)) {
        error_setg(errp, ERR_INVALID, "image ID '%s' is not a UUID",
                   inst->image_id);
        return -1;
    }
    if (inst->memory_mb <= 0 || inst->cpus <= 0) {
        error_setg(errp, ERR_INVALID, "server %s needs memory and CPUs",
                   inst->name);
        return -1;
    }
    if (inst->created_at != NULL && !util_is_iso8601(inst->created_at)) {
        error_setg(errp, ERR_INVALID, "bad creation time '%s'",
                   inst->created_at);
        return -1;
    }
    if (inst->task_state != NULL && inst->task_state[0] == '\0') {
        error_setg(errp, ERR_INVALID, "empty task state");
        return -1;
    }
    return cat_check_props(inst->meta, inst->nmeta, "server metadata item",
                           errp);
}

/* ERR_CONFLICT if another instance than ID is called NAME. */
static int
cat_instance_name_free_locked(struct catalog *cat, const char *name,
                              const char *id, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    int r;

    st = cat_prepare(cat, "SELECT 1 FROM instances "
                     "WHERE name = ?1 AND id != ?2", errp);
    if (st == NULL || cat_bind(cat, st, errp, "ss", name, id) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r > 0) {
        error_setg(errp, ERR_CONFLICT, "server name '%s' already exists",
                   name);
        return -1;
    }
    return r;
}

static struct instance *
cat_instance_from_row(sqlite3_stmt *st)
{
    struct instance *inst = calloc(1, sizeof(*inst));

    if (inst == NULL) {
        return NULL;
    }
    inst->memory_mb = sqlite3_column_int64(st, 3);
    inst->cpus = sqlite3_column_int(st, 4);
    if (cat_col_id(st, 0, inst->id) < 0 ||
        cat_col_str(st, 1, &inst->name) < 0 ||
        cat_col_str(st, 2, &inst->image_id) < 0 ||
        cat_col_str(st, 5, &inst->created_at) < 0 ||
        cat_col_str(st, 6, &inst->updated_at) < 0 ||
        cat_col_str(st, 7, &inst->task_state) < 0) {
        instance_free(inst);
        return NULL;
    }
    return inst;
}

static int
cat_instance_get_locked(struct catalog *cat, const char *id,
                        struct instance **out, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN];
    struct instance *inst;
    int r;

    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no server with ID '%s'", id);
        return -1;
    }
    st = cat_prepare(cat, "SELECT " CAT_INSTANCE_COLUMNS
                     " FROM instances AS s WHERE s.id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no server with ID '%s'", id);
        return -1;
    }
    inst = cat_instance_from_row(st);
    if (inst == NULL) {
        return cat_oom(errp);
    }
    if (cat_load_kv(cat, &cat_instance_meta, inst->id, &inst->meta,
                    &inst->nmeta, errp) < 0) {
        instance_free(inst);
        return -1;
    }
    *out = inst;
    return 0;
}

int
catalog_instance_get(struct catalog *cat, const char *id,
                     struct instance **out, struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_instance_get_locked(cat, id, out, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        instance_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int
catalog_instance_find(struct catalog *cat, const char *name_or_id,
                      struct instance **out, struct error **errp)
{
    char id[UTIL_UUID_LEN];

    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_find_id_locked(cat, &cat_kind_instance, name_or_id, id,
                           errp) < 0 ||
        cat_instance_get_locked(cat, id, out, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        instance_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int
cat_instance_insert_locked(struct catalog *cat, const struct instance *inst,
                           struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char id[UTIL_UUID_LEN], image_id[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *created;
    int r;

    if (cat_instance_check(inst, id, errp) < 0 ||
        cat_instance_name_free_locked(cat, inst->name, id, errp) < 0) {
        return -1;
    }
    if (inst->image_id != NULL) {
        cat_norm_id(inst->image_id, image_id);
    }
    st = cat_prepare(cat, "SELECT 1 FROM instances WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r != 0) {
        if (r > 0) {
            error_setg(errp, ERR_CONFLICT, "server ID '%s' already exists",
                       id);
        }
        return -1;
    }
    sqlite3_finalize(st);
    util_now_iso8601(now);
    created = inst->created_at ? inst->created_at : now;
    st = cat_prepare(cat,
                     "INSERT INTO instances (id, name, image_id, memory_mb, "
                     "cpus, created_at, updated_at, task_state) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "sssliss" "s", id, inst->name,
                 inst->image_id ? image_id : NULL, inst->memory_mb,
                 inst->cpus, created, created, inst->task_state) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_instance_meta, id, inst->meta,
                               inst->nmeta, errp);
}

int
catalog_instance_insert(struct catalog *cat, const struct instance *inst,
                        struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_instance_insert_locked(cat, inst, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_instance_update_locked(struct catalog *cat, const struct instance *inst,
                           struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char id[UTIL_UUID_LEN], image_id[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (cat_instance_check(inst, id, errp) < 0 ||
        cat_instance_name_free_locked(cat, inst->name, id, errp) < 0) {
        return -1;
    }
    if (inst->image_id != NULL) {
        cat_norm_id(inst->image_id, image_id);
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, "UPDATE instances SET name = ?2, image_id = ?3, "
                     "memory_mb = ?4, cpus = ?5, updated_at = ?6 "
                     "WHERE id = ?1", errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "sssli" "s", id, inst->name,
                 inst->image_id ? image_id : NULL, inst->memory_mb,
                 inst->cpus, now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no server with ID '%s'", inst->id);
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_instance_meta, id, inst->meta,
                               inst->nmeta, errp);
}

int
catalog_instance_update(struct catalog *cat, const struct instance *inst,
                        struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_instance_update_locked(cat, inst, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_instance_list_locked(struct catalog *cat, struct instance ***out,
                         size_t *n, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    struct instance **list = NULL;
    size_t count = 0, cap = 0;
    int r;

    st = cat_prepare(cat, "SELECT " CAT_INSTANCE_COLUMNS
                     " FROM instances AS s "
                     "ORDER BY s.created_at DESC, s.rowid DESC", errp);
    if (st == NULL) {
        return -1;
    }
    while ((r = cat_step(cat, st, errp)) > 0) {
        struct instance *inst;

        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct instance **grown = realloc(list, ncap * sizeof(*list));

            if (grown == NULL) {
                instance_list_free(list, count);
                return cat_oom(errp);
            }
            list = grown;
            cap = ncap;
        }
        inst = cat_instance_from_row(st);
        if (inst == NULL) {
            instance_list_free(list, count);
            return cat_oom(errp);
        }
        list[count++] = inst;
        if (cat_load_kv(cat, &cat_instance_meta, inst->id, &inst->meta,
                        &inst->nmeta, errp) < 0) {
            instance_list_free(list, count);
            return -1;
        }
    }
    if (r < 0) {
        instance_list_free(list, count);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

int
catalog_instance_list(struct catalog *cat, struct instance ***out,
                      size_t *n, struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_instance_list_locked(cat, out, n, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        instance_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

static int
cat_instance_delete_locked(struct catalog *cat, const char *id,
                           struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN];

    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no server with ID '%s'", id);
        return -1;
    }
    st = cat_prepare(cat, cat_instance_meta.clear, errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    sqlite3_finalize(st);
    st = cat_prepare(cat, "DELETE FROM instances WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no server with ID '%s'", id);
        return -1;
    }
    return 0;
}

int
catalog_instance_delete(struct catalog *cat, const char *id,
                        struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_instance_delete_locked(cat, id, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_instance_set_task_locked(struct catalog *cat, const char *id,
                             const char *expected, const char *task,
                             struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const unsigned char *name, *current;
    int r;

    if ((task != NULL && task[0] == '\0') ||
        (expected != NULL && expected[0] == '\0')) {
        error_setg(errp, ERR_INVALID, "empty task state");
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no server with ID '%s'", id);
        return -1;
    }
    util_now_iso8601(now);
    /* The compare and the set are one statement: "IS" compares NULL with
     * NULL as equal, so an idle instance matches a NULL expectation.
     */
    st = cat_prepare(cat, "UPDATE instances SET task_state = ?3, "
                     "updated_at = ?4 WHERE id = ?1 AND task_state IS ?2",
                     errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "ssss", nid, expected, task, now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) > 0) {
        return 0;
    }
    /* Nothing changed: say why, from the same transaction. */
    sqlite3_finalize(st);
    st = cat_prepare(cat, "SELECT name, task_state FROM instances "
                     "WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no server with ID '%s'", id);
        return -1;
    }
    name = sqlite3_column_text(st, 0);
    current = sqlite3_column_text(st, 1);
    if (current != NULL) {
        error_setg(errp, ERR_CONFLICT, "server %s is busy: %s",
                   name ? (const char *)name : id, (const char *)current);
    } else {
        error_setg(errp, ERR_CONFLICT, "server %s is not busy with %s",
                   name ? (const char *)name : id, expected);
    }
    return -1;
}

int
catalog_instance_set_task(struct catalog *cat, const char *id,
                          const char *expected, const char *task,
                          struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_instance_set_task_locked(cat, id, expected, task, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

/* ---- Shared by volumes and volume snapshots --------------------------- */

#define CAT_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* True if STATUS is one of the N strings of LIST. */
static bool
cat_status_in(const char *status, const char *const *list, size_t n)
{
    size_t i;

    if (status == NULL) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(status, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* What a message calls a record: its name, or its ID when it has none. */
static const char *
cat_label(const char *name, const char *id)
{
    return name != NULL && name[0] != '\0' ? name : id;
}

/* Check the optional reference REF to a NOUN (for messages): NULL, or a
 * UUID that is copied in lower case into BUF.  *NORM becomes BUF, or NULL
 * when there is no reference.
 */
static int
cat_check_ref(const char *ref, const char *noun, char buf[UTIL_UUID_LEN],
              const char **norm, struct error **errp)
{
    *norm = NULL;
    if (ref == NULL) {
        return 0;
    }
    if (!cat_norm_id(ref, buf)) {
        error_setg(errp, ERR_INVALID, "%s ID '%s' is not a UUID", noun, ref);
        return -1;
    }
    *norm = buf;
    return 0;
}

/* ---- Volumes ---------------------------------------------------------- */

bool
catalog_volume_status_valid(const char *status)
{
    return cat_status_in(status, cat_volume_statuses,
                         CAT_NELEMS(cat_volume_statuses));
}

const char *
volume_meta(const struct volume *vol, const char *key)
{
    return catalog_prop_get(vol->meta, vol->nmeta, key);
}

int
volume_meta_set(struct volume *vol, const char *key, const char *value,
                struct error **errp)
{
    return catalog_prop_set(&vol->meta, &vol->nmeta, key, value, errp);
}

void
volume_free(struct volume *vol)
{
    if (vol == NULL) {
        return;
    }
    free(vol->name);
    free(vol->status);
    free(vol->file);
    free(vol->instance_id);
    free(vol->source_snapshot_id);
    free(vol->source_image_id);
    free(vol->created_at);
    free(vol->updated_at);
    catalog_props_free(vol->meta, vol->nmeta);
    free(vol);
}

void
volume_list_free(struct volume **list, size_t n)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        volume_free(list[i]);
    }
    free(list);
}

/* The IDs of a volume given by a caller, normalised by cat_volume_check. */
struct cat_volume_ids {
    char id[UTIL_UUID_LEN];          /* the volume's own */
    char snapshot_buf[UTIL_UUID_LEN];
    char image_buf[UTIL_UUID_LEN];
    const char *snapshot;            /* snapshot_buf, or NULL for none */
    const char *image;               /* image_buf, or NULL for none */
};

/* Check the fields of VOL that callers set (not the attachment). */
static int
cat_volume_check(const struct volume *vol, struct cat_volume_ids *ids,
                 struct error **errp)
{
    if (!cat_norm_id(vol->id, ids->id)) {
        error_setg(errp, ERR_INVALID, "volume ID '%s' is not a UUID",
                   vol->id);
        return -1;
    }
    if (vol->name != NULL && strlen(vol->name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "volume name is longer than %d bytes",
                   CATALOG_NAME_MAX);
        return -1;
    }
    if (!catalog_volume_status_valid(vol->status)) {
        error_setg(errp, ERR_INVALID, "unknown volume status '%s'",
                   vol->status ? vol->status : "(none)");
        return -1;
    }
    if (vol->size < 0) {
        error_setg(errp, ERR_INVALID, "volume size must not be negative");
        return -1;
    }
    if (vol->created_at != NULL && !util_is_iso8601(vol->created_at)) {
        error_setg(errp, ERR_INVALID, "bad creation time '%s'",
                   vol->created_at);
        return -1;
    }
    if (cat_check_ref(vol->source_snapshot_id, "volume snapshot",
                      ids->snapshot_buf, &ids->snapshot, errp) < 0 ||
        cat_check_ref(vol->source_image_id, "image", ids->image_buf,
                      &ids->image, errp) < 0) {
        return -1;
    }
    return cat_check_props(vol->meta, vol->nmeta, "volume metadata item",
                           errp);
}

/* Build a struct volume from a row of CAT_VOLUME_COLUMNS. */
static struct volume *
cat_volume_from_row(sqlite3_stmt *st)
{
    struct volume *vol = calloc(1, sizeof(*vol));

    if (vol == NULL) {
        return NULL;
    }
    vol->size = sqlite3_column_int64(st, 3);
    vol->device_index = sqlite3_column_type(st, 6) == SQLITE_NULL
                            ? -1 : sqlite3_column_int(st, 6);
    if (cat_col_id(st, 0, vol->id) < 0 ||
        cat_col_str(st, 1, &vol->name) < 0 ||
        cat_col_str(st, 2, &vol->status) < 0 ||
        cat_col_str(st, 4, &vol->file) < 0 ||
        cat_col_str(st, 5, &vol->instance_id) < 0 ||
        cat_col_str(st, 7, &vol->source_snapshot_id) < 0 ||
        cat_col_str(st, 8, &vol->source_image_id) < 0 ||
        cat_col_str(st, 9, &vol->created_at) < 0 ||
        cat_col_str(st, 10, &vol->updated_at) < 0) {
        volume_free(vol);
        return NULL;
    }
    return vol;
}

static int
cat_volume_get_locked(struct catalog *cat, const char *id,
                      struct volume **out, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN];
    struct volume *vol;
    int r;

    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", id);
        return -1;
    }
    st = cat_prepare(cat, "SELECT " CAT_VOLUME_COLUMNS
                     " FROM volumes AS v WHERE v.id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", id);
        return -1;
    }
    vol = cat_volume_from_row(st);
    if (vol == NULL) {
        return cat_oom(errp);
    }
    if (cat_load_kv(cat, &cat_volume_meta, vol->id, &vol->meta,
                    &vol->nmeta, errp) < 0) {
        volume_free(vol);
        return -1;
    }
    *out = vol;
    return 0;
}

int
catalog_volume_get(struct catalog *cat, const char *id, struct volume **out,
                   struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_volume_get_locked(cat, id, out, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        volume_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int
catalog_volume_find(struct catalog *cat, const char *name_or_id,
                    struct volume **out, struct error **errp)
{
    char id[UTIL_UUID_LEN];

    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_find_id_locked(cat, &cat_kind_volume, name_or_id, id,
                           errp) < 0 ||
        cat_volume_get_locked(cat, id, out, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        volume_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* ERR_NOT_FOUND unless volume snapshot ID (normalised; GIVEN as the
 * caller wrote it) exists, ERR_CONFLICT unless it is available.
 */
static int
cat_snapshot_available_locked(struct catalog *cat, const char *id,
                              const char *given, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    const unsigned char *name, *status;
    int r;

    st = cat_prepare(cat, "SELECT name, status FROM volume_snapshots "
                     "WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume snapshot with ID '%s'",
                   given);
        return -1;
    }
    name = sqlite3_column_text(st, 0);
    status = sqlite3_column_text(st, 1);
    if (status == NULL || strcmp((const char *)status, "available") != 0) {
        error_setg(errp, ERR_CONFLICT, "volume snapshot %s is not "
                   "available: %s", cat_label((const char *)name, id),
                   status ? (const char *)status : "?");
        return -1;
    }
    return 0;
}

static int
cat_volume_insert_locked(struct catalog *cat, const struct volume *vol,
                         struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    struct cat_volume_ids ids;
    char now[UTIL_TIME_LEN];
    const char *created;
    int r;

    if (cat_volume_check(vol, &ids, errp) < 0) {
        return -1;
    }
    if (vol->instance_id != NULL) {
        error_setg(errp, ERR_INVALID, "a new volume cannot be attached "
                   "yet: attach it once it is in the catalog");
        return -1;
    }
    if (strcmp(vol->status, "in-use") == 0) {
        error_setg(errp, ERR_INVALID, "a new volume cannot be in-use: "
                   "attaching it sets that status");
        return -1;
    }
    st = cat_prepare(cat, "SELECT 1 FROM volumes WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", ids.id) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r != 0) {
        if (r > 0) {
            error_setg(errp, ERR_CONFLICT, "volume ID '%s' already exists",
                       ids.id);
        }
        return -1;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* Checked in this transaction, the snapshot cannot be deleted before
     * the new volume refers to it (catalog_volume_snapshot_delete looks
     * for such volumes).
     */
    if (ids.snapshot != NULL &&
        cat_snapshot_available_locked(cat, ids.snapshot,
                                      vol->source_snapshot_id, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    created = vol->created_at ? vol->created_at : now;
    st = cat_prepare(cat,
                     "INSERT INTO volumes (id, name, status, size, file, "
                     "instance_id, device_index, source_snapshot_id, "
                     "source_image_id, created_at, updated_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, ?7, ?8, "
                     "?9)", errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "sssls" "ssss", ids.id, vol->name,
                 vol->status, vol->size, vol->file, ids.snapshot, ids.image,
                 created, created) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_volume_meta, ids.id, vol->meta,
                               vol->nmeta, errp);
}

int
catalog_volume_insert(struct catalog *cat, const struct volume *vol,
                      struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_volume_insert_locked(cat, vol, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

/* Check that volume ID (normalised; GIVEN as the caller wrote it) may take
 * STATUS: in-use while it is attached, and only then.  ERR_NOT_FOUND if
 * there is no such volume.
 */
static int
cat_volume_status_allowed_locked(struct catalog *cat, const char *id,
                                 const char *given, const char *status,
                                 struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    const unsigned char *name, *server;
    bool in_use = strcmp(status, "in-use") == 0;
    int r;

    st = cat_prepare(cat, "SELECT name, instance_id FROM volumes "
                     "WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", given);
        return -1;
    }
    name = sqlite3_column_text(st, 0);
    server = sqlite3_column_text(st, 1);
    if (server != NULL && !in_use) {
        error_setg(errp, ERR_CONFLICT, "volume %s is attached to server %s",
                   cat_label((const char *)name, id),
                   (const char *)server);
        return -1;
    }
    if (server == NULL && in_use) {
        error_setg(errp, ERR_INVALID, "volume %s is not attached, so it "
                   "cannot be in-use", cat_label((const char *)name, id));
        return -1;
    }
    return 0;
}

static int
cat_volume_update_locked(struct catalog *cat, const struct volume *vol,
                         struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    struct cat_volume_ids ids;
    char now[UTIL_TIME_LEN];

    if (cat_volume_check(vol, &ids, errp) < 0 ||
        cat_volume_status_allowed_locked(cat, ids.id, vol->id, vol->status,
                                         errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, "UPDATE volumes SET name = ?2, status = ?3, "
                     "size = ?4, file = ?5, source_snapshot_id = ?6, "
                     "source_image_id = ?7, updated_at = ?8 WHERE id = ?1",
                     errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "sssls" "sss", ids.id, vol->name,
                 vol->status, vol->size, vol->file, ids.snapshot, ids.image,
                 now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", vol->id);
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_volume_meta, ids.id, vol->meta,
                               vol->nmeta, errp);
}

int
catalog_volume_update(struct catalog *cat, const struct volume *vol,
                      struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_volume_update_locked(cat, vol, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_volume_list_locked(struct catalog *cat, const char *instance_id,
                       struct volume ***out, size_t *n, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    struct volume **list = NULL;
    size_t count = 0, cap = 0;
    char sid[UTIL_UUID_LEN];
    int r;

    if (instance_id == NULL) {
        st = cat_prepare(cat, "SELECT " CAT_VOLUME_COLUMNS
                         " FROM volumes AS v "
                         "ORDER BY v.created_at DESC, v.rowid DESC", errp);
        if (st == NULL) {
            return -1;
        }
    } else {
        if (!cat_norm_id(instance_id, sid)) {
            *out = NULL;
            *n = 0;
            return 0;
        }
        st = cat_prepare(cat, "SELECT " CAT_VOLUME_COLUMNS
                         " FROM volumes AS v WHERE v.instance_id = ?1 "
                         "ORDER BY v.device_index", errp);
        if (st == NULL || cat_bind(cat, st, errp, "s", sid) < 0) {
            return -1;
        }
    }
    while ((r = cat_step(cat, st, errp)) > 0) {
        struct volume *vol;

        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct volume **grown = realloc(list, ncap * sizeof(*list));

            if (grown == NULL) {
                volume_list_free(list, count);
                return cat_oom(errp);
            }
            list = grown;
            cap = ncap;
        }
        vol = cat_volume_from_row(st);
        if (vol == NULL) {
            volume_list_free(list, count);
            return cat_oom(errp);
        }
        list[count++] = vol;
        if (cat_load_kv(cat, &cat_volume_meta, vol->id, &vol->meta,
                        &vol->nmeta, errp) < 0) {
            volume_list_free(list, count);
            return -1;
        }
    }
    if (r < 0) {
        volume_list_free(list, count);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

int
catalog_volume_list(struct catalog *cat, const char *instance_id,
                    struct volume ***out, size_t *n, struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_volume_list_locked(cat, instance_id, out, n, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        volume_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

static int
cat_volume_set_status_locked(struct catalog *cat, const char *id,
                             const char *status, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (!catalog_volume_status_valid(status)) {
        error_setg(errp, ERR_INVALID, "unknown volume status '%s'",
                   status ? status : "(none)");
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", id);
        return -1;
    }
    if (cat_volume_status_allowed_locked(cat, nid, id, status, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, "UPDATE volumes SET status = ?2, updated_at = ?3 "
                     "WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "sss", nid, status, now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return 0;
}

int
catalog_volume_set_status(struct catalog *cat, const char *id,
                          const char *status, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_volume_set_status_locked(cat, id, status, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_volume_delete_locked(struct catalog *cat, const char *id,
                         struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    CLEANUP_FREE char *name = NULL, *server = NULL, *ids = NULL;
    struct cat_buf b = { 0 };
    char nid[UTIL_UUID_LEN];
    size_t count = 0;
    int r;

    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", id);
        return -1;
    }
    st = cat_prepare(cat, "SELECT name, instance_id FROM volumes "
                     "WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", id);
        return -1;
    }
    if (cat_col_str(st, 0, &name) < 0 || cat_col_str(st, 1, &server) < 0) {
        return cat_oom(errp);
    }
    if (server != NULL) {
        error_setg(errp, ERR_CONFLICT, "volume %s is attached to server %s",
                   cat_label(name, nid), server);
        return -1;
    }
    /* As in Cinder, a volume with snapshots stays. */
    sqlite3_finalize(st);
    st = cat_prepare(cat, "SELECT id FROM volume_snapshots "
                     "WHERE volume_id = ?1 "
                     "ORDER BY created_at DESC, rowid DESC", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0) {
        return -1;
    }
    while ((r = cat_step(cat, st, errp)) > 0) {
        const unsigned char *s = sqlite3_column_text(st, 0);

        cat_buf_printf(&b, "%s%s", count ? ", " : "",
                       s ? (const char *)s : "?");
        count++;
    }
    ids = cat_buf_steal(&b);
    if (r < 0) {
        return -1;
    }
    if (count > 0) {
        error_setg(errp, ERR_CONFLICT, "volume %s has snapshots: %s",
                   cat_label(name, nid), ids ? ids : "(out of memory)");
        return -1;
    }
    sqlite3_finalize(st);
    st = cat_prepare(cat, cat_volume_meta.clear, errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    sqlite3_finalize(st);
    st = cat_prepare(cat, "DELETE FROM volumes WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return 0;
}

int
catalog_volume_delete(struct catalog *cat, const char *id,
                      struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_volume_delete_locked(cat, id, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_volume_attach_locked(struct catalog *cat, const char *volume_id,
                         const char *instance_id, int *device_index,
                         struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char vid[UTIL_UUID_LEN], sid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const unsigned char *name, *status, *server;
    int r, changed;

    if (instance_id == NULL) {
        error_setg(errp, ERR_INVALID, "no server ID given");
        return -1;
    }
    if (!cat_norm_id(volume_id, vid)) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", volume_id);
        return -1;
    }
    if (!cat_norm_id(instance_id, sid)) {
        error_setg(errp, ERR_NOT_FOUND, "no server with ID '%s'",
                   instance_id);
        return -1;
    }
    st = cat_prepare(cat, cat_kind_instance.exists, errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", sid) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no server with ID '%s'",
                   instance_id);
        return -1;
    }
    sqlite3_finalize(st);
    /* The compare and the set are one statement under the write lock; the
     * unique index on (instance_id, device_index) backs the index choice.
     */
    util_now_iso8601(now);
    st = cat_prepare(cat, "UPDATE volumes SET instance_id = ?2, "
                     "device_index = (SELECT coalesce(max(device_index), 0) "
                     "+ 1 FROM volumes WHERE instance_id = ?2), "
                     "status = 'in-use', updated_at = ?3 "
                     "WHERE id = ?1 AND instance_id IS NULL "
                     "AND status = 'available'", errp);
    if (st == NULL || cat_bind(cat, st, errp, "sss", vid, sid, now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    changed = sqlite3_changes(cat->db);
    /* Read the result back (or why nothing changed) in the same
     * transaction.
     */
    sqlite3_finalize(st);
    st = cat_prepare(cat, "SELECT name, status, instance_id, device_index "
                     "FROM volumes WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", vid) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", volume_id);
        return -1;
    }
    name = sqlite3_column_text(st, 0);
    status = sqlite3_column_text(st, 1);
    server = sqlite3_column_text(st, 2);
    if (changed == 0) {
        if (server != NULL) {
            error_setg(errp, ERR_CONFLICT, "volume %s is already attached "
                       "to server %s", cat_label((const char *)name, vid),
                       (const char *)server);
        } else {
            error_setg(errp, ERR_CONFLICT, "volume %s is not available: %s",
                       cat_label((const char *)name, vid),
                       status ? (const char *)status : "?");
        }
        return -1;
    }
    if (device_index != NULL) {
        *device_index = sqlite3_column_int(st, 3);
    }
    return 0;
}

int
catalog_volume_attach(struct catalog *cat, const char *volume_id,
                      const char *instance_id, int *device_index,
                      struct error **errp)
{
    int index = -1;

    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_volume_attach_locked(cat, volume_id, instance_id, &index,
                                 errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        return -1;
    }
    if (device_index != NULL) {
        *device_index = index;
    }
    return 0;
}

static int
cat_volume_detach_locked(struct catalog *cat, const char *volume_id,
                         const char *instance_id, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char vid[UTIL_UUID_LEN], sid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const unsigned char *name;
    int r;

    if (instance_id == NULL) {
        error_setg(errp, ERR_INVALID, "no server ID given");
        return -1;
    }
    if (!cat_norm_id(volume_id, vid)) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", volume_id);
        return -1;
    }
    /* Something that is not a UUID matches no attachment. */
    if (!cat_norm_id(instance_id, sid)) {
        sid[0] = '\0';
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, "UPDATE volumes SET instance_id = NULL, "
                     "device_index = NULL, status = 'available', "
                     "updated_at = ?3 WHERE id = ?1 AND instance_id = ?2",
                     errp);
    if (st == NULL || cat_bind(cat, st, errp, "sss", vid, sid, now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) > 0) {
        return 0;
    }
    sqlite3_finalize(st);
    st = cat_prepare(cat, "SELECT name FROM volumes WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", vid) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume with ID '%s'", volume_id);
        return -1;
    }
    name = sqlite3_column_text(st, 0);
    error_setg(errp, ERR_CONFLICT, "volume %s is not attached to server %s",
               cat_label((const char *)name, vid), instance_id);
    return -1;
}

int
catalog_volume_detach(struct catalog *cat, const char *volume_id,
                      const char *instance_id, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_volume_detach_locked(cat, volume_id, instance_id, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

/* ---- Volume snapshots ------------------------------------------------- */

bool
catalog_volume_snapshot_status_valid(const char *status)
{
    return cat_status_in(status, cat_snapshot_statuses,
                         CAT_NELEMS(cat_snapshot_statuses));
}

const char *
volume_snapshot_meta(const struct volume_snapshot *snap, const char *key)
{
    return catalog_prop_get(snap->meta, snap->nmeta, key);
}

int
volume_snapshot_meta_set(struct volume_snapshot *snap, const char *key,
                         const char *value, struct error **errp)
{
    return catalog_prop_set(&snap->meta, &snap->nmeta, key, value, errp);
}

void
volume_snapshot_free(struct volume_snapshot *snap)
{
    if (snap == NULL) {
        return;
    }
    free(snap->name);
    free(snap->volume_id);
    free(snap->status);
    free(snap->file);
    free(snap->created_at);
    free(snap->updated_at);
    catalog_props_free(snap->meta, snap->nmeta);
    free(snap);
}

void
volume_snapshot_list_free(struct volume_snapshot **list, size_t n)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        volume_snapshot_free(list[i]);
    }
    free(list);
}

/* Check the fields of SNAP that callers set.  ID and VOLUME_ID get the
 * normalised IDs.
 */
static int
cat_snapshot_check(const struct volume_snapshot *snap,
                   char id[UTIL_UUID_LEN], char volume_id[UTIL_UUID_LEN],
                   struct error **errp)
{
    if (!cat_norm_id(snap->id, id)) {
        error_setg(errp, ERR_INVALID, "volume snapshot ID '%s' is not a "
                   "UUID", snap->id);
        return -1;
    }
    if (snap->name != NULL && strlen(snap->name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "volume snapshot name is longer than "
                   "%d bytes", CATALOG_NAME_MAX);
        return -1;
    }
    if (snap->volume_id == NULL) {
        error_setg(errp, ERR_INVALID, "volume snapshot %s has no volume ID",
                   id);
        return -1;
    }
    if (!cat_norm_id(snap->volume_id, volume_id)) {
        error_setg(errp, ERR_INVALID, "volume ID '%s' is not a UUID",
                   snap->volume_id);
        return -1;
    }
    if (!catalog_volume_snapshot_status_valid(snap->status)) {
        error_setg(errp, ERR_INVALID, "unknown volume snapshot status '%s'",
                   snap->status ? snap->status : "(none)");
        return -1;
    }
    if (snap->size < 0) {
        error_setg(errp, ERR_INVALID, "volume snapshot size must not be "
                   "negative");
        return -1;
    }
    if (snap->created_at != NULL && !util_is_iso8601(snap->created_at)) {
        error_setg(errp, ERR_INVALID, "bad creation time '%s'",
                   snap->created_at);
        return -1;
    }
    return cat_check_props(snap->meta, snap->nmeta,
                           "volume snapshot metadata item", errp);
}

/* Build a struct volume_snapshot from a row of CAT_SNAPSHOT_COLUMNS. */
static struct volume_snapshot *
cat_snapshot_from_row(sqlite3_stmt *st)
{
    struct volume_snapshot *snap = calloc(1, sizeof(*snap));

    if (snap == NULL) {
        return NULL;
    }
    snap->size = sqlite3_column_int64(st, 4);
    if (cat_col_id(st, 0, snap->id) < 0 ||
        cat_col_str(st, 1, &snap->name) < 0 ||
        cat_col_str(st, 2, &snap->volume_id) < 0 ||
        cat_col_str(st, 3, &snap->status) < 0 ||
        cat_col_str(st, 5, &snap->file) < 0 ||
        cat_col_str(st, 6, &snap->created_at) < 0 ||
        cat_col_str(st, 7, &snap->updated_at) < 0) {
        volume_snapshot_free(snap);
        return NULL;
    }
    return snap;
}

static int
cat_snapshot_get_locked(struct catalog *cat, const char *id,
                        struct volume_snapshot **out, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN];
    struct volume_snapshot *snap;
    int r;

    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no volume snapshot with ID '%s'",
                   id);
        return -1;
    }
    st = cat_prepare(cat, "SELECT " CAT_SNAPSHOT_COLUMNS
                     " FROM volume_snapshots AS n WHERE n.id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume snapshot with ID '%s'",
                   id);
        return -1;
    }
    snap = cat_snapshot_from_row(st);
    if (snap == NULL) {
        return cat_oom(errp);
    }
    if (cat_load_kv(cat, &cat_snapshot_meta, snap->id, &snap->meta,
                    &snap->nmeta, errp) < 0) {
        volume_snapshot_free(snap);
        return -1;
    }
    *out = snap;
    return 0;
}

int
catalog_volume_snapshot_get(struct catalog *cat, const char *id,
                            struct volume_snapshot **out,
                            struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_snapshot_get_locked(cat, id, out, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        volume_snapshot_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int
catalog_volume_snapshot_find(struct catalog *cat, const char *name_or_id,
                             struct volume_snapshot **out,
                             struct error **errp)
{
    char id[UTIL_UUID_LEN];

    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_find_id_locked(cat, &cat_kind_snapshot, name_or_id, id,
                           errp) < 0 ||
        cat_snapshot_get_locked(cat, id, out, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        volume_snapshot_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int
cat_snapshot_insert_locked(struct catalog *cat,
                           const struct volume_snapshot *snap,
                           struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char id[UTIL_UUID_LEN], volume_id[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *created;
    int r;

    if (cat_snapshot_check(snap, id, volume_id, errp) < 0) {
        return -1;
    }
    st = cat_prepare(cat, cat_kind_snapshot.exists, errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r != 0) {
        if (r > 0) {
            error_setg(errp, ERR_CONFLICT, "volume snapshot ID '%s' already "
                       "exists", id);
        }
        return -1;
    }
    sqlite3_finalize(st);
    util_now_iso8601(now);
    created = snap->created_at ? snap->created_at : now;
    st = cat_prepare(cat,
                     "INSERT INTO volume_snapshots (id, name, volume_id, "
                     "status, size, file, created_at, updated_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "sssslsss", id, snap->name, volume_id,
                 snap->status, snap->size, snap->file, created,
                 created) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_snapshot_meta, id, snap->meta,
                               snap->nmeta, errp);
}

int
catalog_volume_snapshot_insert(struct catalog *cat,
                               const struct volume_snapshot *snap,
                               struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_snapshot_insert_locked(cat, snap, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_snapshot_update_locked(struct catalog *cat,
                           const struct volume_snapshot *snap,
                           struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char id[UTIL_UUID_LEN], volume_id[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (cat_snapshot_check(snap, id, volume_id, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, "UPDATE volume_snapshots SET name = ?2, "
                     "volume_id = ?3, status = ?4, size = ?5, file = ?6, "
                     "updated_at = ?7 WHERE id = ?1", errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "sssslss", id, snap->name, volume_id,
                 snap->status, snap->size, snap->file, now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume snapshot with ID '%s'",
                   snap->id);
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_snapshot_meta, id, snap->meta,
                               snap->nmeta, errp);
}

int
catalog_volume_snapshot_update(struct catalog *cat,
                               const struct volume_snapshot *snap,
                               struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_snapshot_update_locked(cat, snap, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

static int
cat_snapshot_list_locked(struct catalog *cat,
                         const struct catalog_match *match, size_t nmatch,
                         struct volume_snapshot ***out, size_t *n,
                         struct error **errp)
{
    static const char meta_match[] =
        " AND EXISTS (SELECT 1 FROM volume_snapshot_metadata AS m"
        " WHERE m.snapshot_id = n.id AND m.key = ? AND m.value = ?)";
    char sql[sizeof(meta_match) * CATALOG_PROPS_MAX + 256];
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    struct volume_snapshot **list = NULL;
    size_t len = 0, count = 0, cap = 0, i;
    int param = 0, rc = SQLITE_OK, r;

    if (nmatch > 0 && match == NULL) {
        error_setg(errp, ERR_INVALID, "metadata filters missing");
        return -1;
    }
    if (nmatch > CATALOG_PROPS_MAX) {
        error_setg(errp, ERR_INVALID, "too many metadata filters (%zu, at "
                   "most %d)", nmatch, CATALOG_PROPS_MAX);
        return -1;
    }
    for (i = 0; i < nmatch; i++) {
        if (match[i].key == NULL || match[i].value == NULL) {
            error_setg(errp, ERR_INVALID, "metadata filter without a key "
                       "or a value");
            return -1;
        }
    }
    /* Only fixed fragments go into the text; every value is bound. */
    if (cat_sql_add(sql, sizeof(sql), &len, "SELECT " CAT_SNAPSHOT_COLUMNS
                    " FROM volume_snapshots AS n WHERE 1") < 0) {
        abort(); /* the buffer is sized for the longest query */
    }
    for (i = 0; i < nmatch; i++) {
        if (cat_sql_add(sql, sizeof(sql), &len, meta_match) < 0) {
            abort();
        }
    }
    if (cat_sql_add(sql, sizeof(sql), &len,
                    " ORDER BY n.created_at DESC, n.rowid DESC") < 0) {
        abort();
    }
    st = cat_prepare(cat, sql, errp);
    if (st == NULL) {
        return -1;
    }
    for (i = 0; rc == SQLITE_OK && i < nmatch; i++) {
        rc = sqlite3_bind_text(st, ++param, match[i].key, -1,
                               SQLITE_TRANSIENT);
        if (rc == SQLITE_OK) {
            rc = sqlite3_bind_text(st, ++param, match[i].value, -1,
                                   SQLITE_TRANSIENT);
        }
    }
    if (rc != SQLITE_OK) {
        return cat_fail(cat, rc, errp, "bind");
    }
    while ((r = cat_step(cat, st, errp)) > 0) {
        struct volume_snapshot *snap;

        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct volume_snapshot **grown =
                realloc(list, ncap * sizeof(*list));

            if (grown == NULL) {
                volume_snapshot_list_free(list, count);
                return cat_oom(errp);
            }
            list = grown;
            cap = ncap;
        }
        snap = cat_snapshot_from_row(st);
        if (snap == NULL) {
            volume_snapshot_list_free(list, count);
            return cat_oom(errp);
        }
        list[count++] = snap;
        if (cat_load_kv(cat, &cat_snapshot_meta, snap->id, &snap->meta,
                        &snap->nmeta, errp) < 0) {
            volume_snapshot_list_free(list, count);
            return -1;
        }
    }
    if (r < 0) {
        volume_snapshot_list_free(list, count);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

int
catalog_volume_snapshot_list(struct catalog *cat,
                             const struct catalog_match *match,
                             size_t nmatch, struct volume_snapshot ***out,
                             size_t *n, struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_snapshot_list_locked(cat, match, nmatch, out, n, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        volume_snapshot_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

static int
cat_snapshot_set_status_locked(struct catalog *cat, const char *id,
                               const char *status, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (!catalog_volume_snapshot_status_valid(status)) {
        error_setg(errp, ERR_INVALID, "unknown volume snapshot status '%s'",
                   status ? status : "(none)");
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no volume snapshot with ID '%s'",
                   id);
        return -1;
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, "UPDATE volume_snapshots SET status = ?2, "
                     "updated_at = ?3 WHERE id = ?1", errp);
    if (st == NULL || cat_bind(cat, st, errp, "sss", nid, status, now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (sqlite3_changes(cat->db) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume snapshot with ID '%s'",
                   id);
        return -1;
    }
    return 0;
}

int
catalog_volume_snapshot_set_status(struct catalog *cat, const char *id,
                                   const char *status, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_snapshot_set_status_locked(cat, id, status, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

/* Describe in B what uses volume snapshot ID: volumes made from it and
 * images (not deleted) whose block_device_mapping names it.  Returns the
 * count, or -1.
 */
static int
cat_snapshot_users_locked(struct catalog *cat, const char *id,
                          struct cat_buf *b, struct error **errp)
{
    /* Each query yields one user per row: its id and its name.  The
     * block_device_mapping value is JSON; an ID is 36 characters of hex
     * digits and dashes, so a substring match cannot go wrong, and LIKE
     * ignores the case of the hex digits.
     */
    static const struct {
        const char *noun; /* what the user is */
        const char *sql;  /* ?1 the snapshot ID */
    } queries[] = {
        { "volume",
          "SELECT v.id, v.name FROM volumes AS v "
          "WHERE v.source_snapshot_id = ?1 "
          "ORDER BY v.created_at, v.rowid" },
        { "image",
          "SELECT i.id, i.name FROM images AS i "
          "JOIN image_properties AS p ON p.image_id = i.id "
          "WHERE p.key = 'block_device_mapping' "
          "AND p.value LIKE '%' || ?1 || '%' AND i.status != 'deleted' "
          "ORDER BY i.created_at, i.rowid" },
    };
    size_t q;
    int count = 0, r;

    for (q = 0; q < CAT_NELEMS(queries); q++) {
        CLEANUP_STMT sqlite3_stmt *st = cat_prepare(cat, queries[q].sql,
                                                    errp);

        if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0) {
            return -1;
        }
        while ((r = cat_step(cat, st, errp)) > 0) {
            if (count > 0) {
                cat_buf_printf(b, ", ");
            }
            cat_describe(b, queries[q].noun, st, 0, 1);
            count++;
        }
        if (r < 0) {
            return -1;
        }
    }
    return count;
}

static int
cat_snapshot_delete_locked(struct catalog *cat, const char *id,
                           struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    CLEANUP_FREE char *name = NULL, *users = NULL;
    struct cat_buf b = { 0 };
    char nid[UTIL_UUID_LEN];
    int r;

    if (!cat_norm_id(id, nid)) {
        error_setg(errp, ERR_NOT_FOUND, "no volume snapshot with ID '%s'",
                   id);
        return -1;
    }
    st = cat_prepare(cat, "SELECT name FROM volume_snapshots WHERE id = ?1",
                     errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no volume snapshot with ID '%s'",
                   id);
        return -1;
    }
    if (cat_col_str(st, 0, &name) < 0) {
        return cat_oom(errp);
    }
    sqlite3_finalize(st);
    st = NULL;
    r = cat_snapshot_users_locked(cat, nid, &b, errp);
    users = cat_buf_steal(&b);
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        error_setg(errp, ERR_CONFLICT, "volume snapshot %s is in use by %s",
                   cat_label(name, nid), users ? users : "(out of memory)");
        return -1;
    }
    st = cat_prepare(cat, cat_snapshot_meta.clear, errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    sqlite3_finalize(st);
    st = cat_prepare(cat, "DELETE FROM volume_snapshots WHERE id = ?1",
                     errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", nid) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return 0;
}

int
catalog_volume_snapshot_delete(struct catalog *cat, const char *id,
                               struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    if (cat_snapshot_delete_locked(cat, id, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}
