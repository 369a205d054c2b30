/* vmsnap: the catalog of images, instances, volumes and volume
 * snapshots, kept in SQLite (see catalog.h).
 *
 * The four kinds of record share most of their code.  Each is described
 * by a struct cat_kind (its table and columns, where each column goes in
 * its struct, its key/value table, and the noun that messages use), and
 * the functions under "Records of any kind" read, find, list, delete and
 * set the status of a record of any kind from that description.  What
 * stays under each kind is its own: its checks, its INSERT and UPDATE,
 * and its rules (image users, server tasks, volume attachments, what
 * keeps a volume or a snapshot from being deleted).
 *
 * Every statement is prepared with bound parameters.  The only SQL built
 * at run time is the record queries of cat_select, assembled from fixed
 * fragments and the table and column names of the cat_kind descriptors,
 * never from input.  Every public function runs in a transaction of its
 * own, or in a savepoint when the caller has one open, so that it is
 * atomic.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
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

/* ---- Kinds of record -------------------------------------------------- */

#define CAT_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* How a column is kept in the struct of its record. */
enum cat_col_type {
    CAT_COL_ID,        /* char [UTIL_UUID_LEN]; the column is never NULL */
    CAT_COL_TEXT,      /* char *, NULL for SQL NULL; the struct owns it */
    CAT_COL_INT64,     /* int64_t */
    CAT_COL_INT64_OPT, /* int64_t, -1 for SQL NULL */
    CAT_COL_INT,       /* int */
    CAT_COL_INT_OPT,   /* int, -1 for SQL NULL */
};

/* One column of a record's table and the struct member it is read into. */
struct cat_col {
    const char *name;       /* the column, named as the member */
    enum cat_col_type type; /* how the member keeps it */
    size_t offset;          /* offsetof the member */
};

/* Column MEMBER of struct TYPE, kept as CTYPE. */
#define CAT_COL(type, member, ctype)                                           \
    { #member, ctype, offsetof(type, member) }

/* The columns of each kind, id first, in the order its queries read
 * them.  Every pointer member of the struct is a column here, so that
 * cat_record_free frees it.
 */
static const struct cat_col cat_image_cols[] = {
    CAT_COL(struct image, id, CAT_COL_ID),
    CAT_COL(struct image, name, CAT_COL_TEXT),
    CAT_COL(struct image, status, CAT_COL_TEXT),
    CAT_COL(struct image, disk_format, CAT_COL_TEXT),
    CAT_COL(struct image, container_format, CAT_COL_TEXT),
    CAT_COL(struct image, size, CAT_COL_INT64_OPT),
    CAT_COL(struct image, virtual_size, CAT_COL_INT64_OPT),
    CAT_COL(struct image, checksum, CAT_COL_TEXT),
    CAT_COL(struct image, os_hash_algo, CAT_COL_TEXT),
    CAT_COL(struct image, os_hash_value, CAT_COL_TEXT),
    CAT_COL(struct image, min_ram, CAT_COL_INT64),
    CAT_COL(struct image, min_disk, CAT_COL_INT64),
    CAT_COL(struct image, created_at, CAT_COL_TEXT),
    CAT_COL(struct image, updated_at, CAT_COL_TEXT),
    CAT_COL(struct image, file, CAT_COL_TEXT),
    CAT_COL(struct image, fail_reason, CAT_COL_TEXT),
};

static const struct cat_col cat_instance_cols[] = {
    CAT_COL(struct instance, id, CAT_COL_ID),
    CAT_COL(struct instance, name, CAT_COL_TEXT),
    CAT_COL(struct instance, image_id, CAT_COL_TEXT),
    CAT_COL(struct instance, memory_mb, CAT_COL_INT64),
    CAT_COL(struct instance, cpus, CAT_COL_INT),
    CAT_COL(struct instance, created_at, CAT_COL_TEXT),
    CAT_COL(struct instance, updated_at, CAT_COL_TEXT),
    CAT_COL(struct instance, task_state, CAT_COL_TEXT),
};

static const struct cat_col cat_volume_cols[] = {
    CAT_COL(struct volume, id, CAT_COL_ID),
    CAT_COL(struct volume, name, CAT_COL_TEXT),
    CAT_COL(struct volume, status, CAT_COL_TEXT),
    CAT_COL(struct volume, size, CAT_COL_INT64),
    CAT_COL(struct volume, file, CAT_COL_TEXT),
    CAT_COL(struct volume, instance_id, CAT_COL_TEXT),
    CAT_COL(struct volume, device_index, CAT_COL_INT_OPT),
    CAT_COL(struct volume, source_snapshot_id, CAT_COL_TEXT),
    CAT_COL(struct volume, source_image_id, CAT_COL_TEXT),
    CAT_COL(struct volume, created_at, CAT_COL_TEXT),
    CAT_COL(struct volume, updated_at, CAT_COL_TEXT),
};

static const struct cat_col cat_snapshot_cols[] = {
    CAT_COL(struct volume_snapshot, id, CAT_COL_ID),
    CAT_COL(struct volume_snapshot, name, CAT_COL_TEXT),
    CAT_COL(struct volume_snapshot, volume_id, CAT_COL_TEXT),
    CAT_COL(struct volume_snapshot, status, CAT_COL_TEXT),
    CAT_COL(struct volume_snapshot, size, CAT_COL_INT64),
    CAT_COL(struct volume_snapshot, file, CAT_COL_TEXT),
    CAT_COL(struct volume_snapshot, created_at, CAT_COL_TEXT),
    CAT_COL(struct volume_snapshot, updated_at, CAT_COL_TEXT),
};

/* The statements that read and write one key/value table. */
struct cat_kv_table {
    const char *select; /* ?1 owner -> rows (key, value) sorted by key */
    const char *clear;  /* ?1 owner: delete all its rows */
    const char *insert; /* ?1 owner, ?2 key, ?3 value */
    const char *match;  /* condition of a list query: record r has the
                         * item ? = ?; NULL when no list filters by it */
};

/* One kind of record: its table, how a row maps onto its struct, its
 * key/value table, the statements every kind has, and what messages call
 * it.  Its strings are the only names of tables and columns that go into
 * SQL built at run time.
 */
struct cat_kind {
    const char *noun;            /* "image", "server", ...: for messages */
    const char *item;            /* what messages call one key/value item */
    const char *filter;          /* what they call a key/value filter */
    const char *table;           /* its table; cat_select calls it r */
    const struct cat_col *cols;  /* its columns, id first */
    size_t ncols;                /* entries in cols */
    size_t size;                 /* sizeof its struct */
    size_t kv_offset;            /* offsetof its struct prop * member */
    size_t nkv_offset;           /* offsetof the size_t that counts them */
    struct cat_kv_table kv;      /* its key/value table */
    const char *const *statuses; /* the statuses it may have, or NULL */
    size_t nstatuses;            /* entries in statuses */
    const char *exists;          /* ?1 id -> a row if it exists */
    const char *by_name;         /* ?1 name -> ids of the records a user
                                  * may mean, newest first */
    const char *remove;          /* ?1 id: delete its row */
    const char *set_status;      /* ?1 id, ?2 status, ?3 updated_at, and
                                  * ?4 fail_reason if has_reason; or NULL */
    bool has_reason;             /* set_status takes ?4 */
};

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

static const struct cat_kind cat_kind_image = {
    .noun = "image",
    .item = "image property",
    .filter = "property",
    .table = "images",
    .cols = cat_image_cols,
    .ncols = CAT_NELEMS(cat_image_cols),
    .size = sizeof(struct image),
    .kv_offset = offsetof(struct image, props),
    .nkv_offset = offsetof(struct image, nprops),
    .kv = {
        .select = "SELECT key, value FROM image_properties "
                  "WHERE image_id = ?1 ORDER BY key",
        .clear = "DELETE FROM image_properties WHERE image_id = ?1",
        .insert = "INSERT INTO image_properties (image_id, key, value) "
                  "VALUES (?1, ?2, ?3)",
        .match = " AND EXISTS (SELECT 1 FROM image_properties AS p"
                 " WHERE p.image_id = r.id AND p.key = ? AND p.value = ?)",
    },
    .statuses = cat_image_statuses,
    .nstatuses = CAT_NELEMS(cat_image_statuses),
    .exists = "SELECT 1 FROM images WHERE id = ?1",
    .by_name = "SELECT id FROM images WHERE name = ?1 "
               "AND status != 'deleted' "
               "ORDER BY created_at DESC, rowid DESC",
    .remove = "DELETE FROM images WHERE id = ?1",
    .set_status = "UPDATE images SET status = ?2, updated_at = ?3, "
                  "fail_reason = ?4 WHERE id = ?1",
    .has_reason = true,
};

static const struct cat_kind cat_kind_instance = {
    .noun = "server",
    .item = "server metadata item",
    .filter = "metadata",
    .table = "instances",
    .cols = cat_instance_cols,
    .ncols = CAT_NELEMS(cat_instance_cols),
    .size = sizeof(struct instance),
    .kv_offset = offsetof(struct instance, meta),
    .nkv_offset = offsetof(struct instance, nmeta),
    .kv = {
        .select = "SELECT key, value FROM instance_metadata "
                  "WHERE instance_id = ?1 ORDER BY key",
        .clear = "DELETE FROM instance_metadata WHERE instance_id = ?1",
        .insert = "INSERT INTO instance_metadata (instance_id, key, value) "
                  "VALUES (?1, ?2, ?3)",
    },
    .exists = "SELECT 1 FROM instances WHERE id = ?1",
    .by_name = "SELECT id FROM instances WHERE name = ?1 "
               "ORDER BY created_at DESC, rowid DESC",
    .remove = "DELETE FROM instances WHERE id = ?1",
};

static const struct cat_kind cat_kind_volume = {
    .noun = "volume",
    .item = "volume metadata item",
    .filter = "metadata",
    .table = "volumes",
    .cols = cat_volume_cols,
    .ncols = CAT_NELEMS(cat_volume_cols),
    .size = sizeof(struct volume),
    .kv_offset = offsetof(struct volume, meta),
    .nkv_offset = offsetof(struct volume, nmeta),
    .kv = {
        .select = "SELECT key, value FROM volume_metadata "
                  "WHERE volume_id = ?1 ORDER BY key",
        .clear = "DELETE FROM volume_metadata WHERE volume_id = ?1",
        .insert = "INSERT INTO volume_metadata (volume_id, key, value) "
                  "VALUES (?1, ?2, ?3)",
    },
    .statuses = cat_volume_statuses,
    .nstatuses = CAT_NELEMS(cat_volume_statuses),
    .exists = "SELECT 1 FROM volumes WHERE id = ?1",
    .by_name = "SELECT id FROM volumes WHERE name = ?1 "
               "ORDER BY created_at DESC, rowid DESC",
    .remove = "DELETE FROM volumes WHERE id = ?1",
    .set_status = "UPDATE volumes SET status = ?2, updated_at = ?3 "
                  "WHERE id = ?1",
};

static const struct cat_kind cat_kind_snapshot = {
    .noun = "volume snapshot",
    .item = "volume snapshot metadata item",
    .filter = "metadata",
    .table = "volume_snapshots",
    .cols = cat_snapshot_cols,
    .ncols = CAT_NELEMS(cat_snapshot_cols),
    .size = sizeof(struct volume_snapshot),
    .kv_offset = offsetof(struct volume_snapshot, meta),
    .nkv_offset = offsetof(struct volume_snapshot, nmeta),
    .kv = {
        .select = "SELECT key, value FROM volume_snapshot_metadata "
                  "WHERE snapshot_id = ?1 ORDER BY key",
        .clear = "DELETE FROM volume_snapshot_metadata "
                 "WHERE snapshot_id = ?1",
        .insert = "INSERT INTO volume_snapshot_metadata (snapshot_id, key, "
                  "value) VALUES (?1, ?2, ?3)",
        .match = " AND EXISTS (SELECT 1 FROM volume_snapshot_metadata AS m"
                 " WHERE m.snapshot_id = r.id AND m.key = ?"
                 " AND m.value = ?)",
    },
    .statuses = cat_snapshot_statuses,
    .nstatuses = CAT_NELEMS(cat_snapshot_statuses),
    .exists = "SELECT 1 FROM volume_snapshots WHERE id = ?1",
    .by_name = "SELECT id FROM volume_snapshots WHERE name = ?1 "
               "ORDER BY created_at DESC, rowid DESC",
    .remove = "DELETE FROM volume_snapshots WHERE id = ?1",
    .set_status = "UPDATE volume_snapshots SET status = ?2, "
                  "updated_at = ?3 WHERE id = ?1",
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

/* Fail with ERR_NOT_FOUND "no NOUN with ID 'ID'", ID as the caller wrote
 * it.  Always returns -1.
 */
static int
cat_not_found(const struct cat_kind *k, const char *id, struct error **errp)
{
    error_setg(errp, ERR_NOT_FOUND, "no %s with ID '%s'", k->noun, id);
    return -1;
}

/* Fail as cat_not_found unless the last write changed a row. */
static int
cat_changed(struct catalog *cat, const struct cat_kind *k, const char *id,
            struct error **errp)
{
    if (sqlite3_changes(cat->db) == 0) {
        return cat_not_found(k, id, errp);
    }
    return 0;
}

/* Prepare SQL, a query for the one row of a record of kind K, bind ?1 to
 * its ID (normalised; GIVEN as the caller wrote it) and step to that row.
 * Returns the statement on the row (the caller finalizes it), or NULL
 * with cat_not_found if there is no row, or another error.
 */
static sqlite3_stmt *
cat_row_locked(struct catalog *cat, const struct cat_kind *k, const char *sql,
               const char *id, const char *given, struct error **errp)
{
    sqlite3_stmt *st = cat_prepare(cat, sql, errp);
    int r = -1;

    if (st != NULL && cat_bind(cat, st, errp, "s", id) == 0) {
        r = cat_step(cat, st, errp);
        if (r == 0) {
            cat_not_found(k, given, errp);
        }
    }
    if (r <= 0) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Run SQL, a statement without rows, with ?1 bound to ID. */
static int
cat_run_id(struct catalog *cat, const char *sql, const char *id,
           struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = cat_prepare(cat, sql, errp);

    if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return 0;
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

/* End the transaction of a write whose steps returned R: commit it if R
 * is 0, else roll it back.  Returns 0, or -1 with the error of the steps
 * or of the commit.
 */
static int
cat_tx_end(struct catalog *cat, int r, struct error **errp)
{
    if (r < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
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
    CLEANUP_STMT sqlite3_stmt *ins = NULL;
    size_t i;

    if (cat_run_id(cat, t->clear, owner, errp) < 0) {
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

/* ---- Checks of what callers give -------------------------------------- */

/* Copy ID, which names a NOUN, into OUT in lower case, or fail with
 * ERR_INVALID "NOUN ID 'x' is not a UUID".
 */
static int
cat_check_id(const char *id, const char *noun, char out[UTIL_UUID_LEN],
             struct error **errp)
{
    if (!cat_norm_id(id, out)) {
        error_setg(errp, ERR_INVALID, "%s ID '%s' is not a UUID", noun, id);
        return -1;
    }
    return 0;
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
    if (cat_check_id(ref, noun, buf, errp) < 0) {
        return -1;
    }
    *norm = buf;
    return 0;
}

/* Fail with ERR_INVALID if the optional NAME of a record of kind K is
 * too long.
 */
static int
cat_check_name(const struct cat_kind *k, const char *name,
               struct error **errp)
{
    if (name != NULL && strlen(name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "%s name is longer than %d bytes",
                   k->noun, CATALOG_NAME_MAX);
        return -1;
    }
    return 0;
}

/* Fail with ERR_INVALID "unknown NOUN status 'x'" unless STATUS is one of
 * those of kind K.
 */
static int
cat_check_status(const struct cat_kind *k, const char *status,
                 struct error **errp)
{
    if (!cat_status_in(status, k->statuses, k->nstatuses)) {
        error_setg(errp, ERR_INVALID, "unknown %s status '%s'", k->noun,
                   status ? status : "(none)");
        return -1;
    }
    return 0;
}

/* Fail with ERR_INVALID unless CREATED is NULL (now) or a time. */
static int
cat_check_created(const char *created, struct error **errp)
{
    if (created != NULL && !util_is_iso8601(created)) {
        error_setg(errp, ERR_INVALID, "bad creation time '%s'", created);
        return -1;
    }
    return 0;
}

/* Check one key/value item given by a caller: a non-empty, bounded key
 * and a bounded value.  NOUN names the item.
 */
static int
cat_check_item(const char *key, const char *value, const char *noun,
               struct error **errp)
{
    if (key == NULL || key[0] == '\0' || strlen(key) > CATALOG_KEY_MAX) {
        error_setg(errp, ERR_INVALID, "%s name must be 1 to %d bytes", noun,
                   CATALOG_KEY_MAX);
        return -1;
    }
    if (value == NULL) {
        error_setg(errp, ERR_INVALID, "%s '%s' has no value", noun, key);
        return -1;
    }
    if (strlen(value) > CATALOG_VALUE_MAX) {
        error_setg(errp, ERR_INVALID, "%s '%s' is longer than %d bytes",
                   noun, key, CATALOG_VALUE_MAX);
        return -1;
    }
    return 0;
}

/* Check a key/value set given by a caller: items as cat_check_item, keys
 * distinct, not too many.  NOUN names one item.
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
        if (cat_check_item(props[i].key, props[i].value, noun, errp) < 0) {
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

/* ---- Records of any kind ---------------------------------------------- */

/* The member at OFFSET of the record REC. */
static void *
cat_member(void *rec, size_t offset)
{
    return (char *)rec + offset;
}

/* Free REC, a record of kind K, and everything it owns.  NULL is
 * allowed.
 */
static void
cat_record_free(const struct cat_kind *k, void *rec)
{
    size_t i;

    if (rec == NULL) {
        return;
    }
    for (i = 0; i < k->ncols; i++) {
        if (k->cols[i].type == CAT_COL_TEXT) {
            free(*(char **)cat_member(rec, k->cols[i].offset));
        }
    }
    catalog_props_free(*(struct prop **)cat_member(rec, k->kv_offset),
                       *(size_t *)cat_member(rec, k->nkv_offset));
    free(rec);
}

/* Free the N records of kind K in LIST, and LIST.  NULL is allowed. */
static void
cat_list_free(const struct cat_kind *k, void **list, size_t n)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        cat_record_free(k, list[i]);
    }
    free(list);
}

/* Build a record of kind K from the current row of ST, whose columns are
 * those of K->cols in order, and read its key/value set.  Returns it
 * (free with cat_record_free), or NULL with an error.
 */
static void *
cat_record_read(struct catalog *cat, const struct cat_kind *k,
                sqlite3_stmt *st, struct error **errp)
{
    void *rec = calloc(1, k->size);
    size_t i;

    if (rec == NULL) {
        cat_oom(errp);
        return NULL;
    }
    for (i = 0; i < k->ncols; i++) {
        void *member = cat_member(rec, k->cols[i].offset);
        int col = (int)i, r = 0;
        bool null = sqlite3_column_type(st, col) == SQLITE_NULL;

        switch (k->cols[i].type) {
        case CAT_COL_ID:
            r = cat_col_id(st, col, member);
            break;
        case CAT_COL_TEXT:
            r = cat_col_str(st, col, member);
            break;
        case CAT_COL_INT64:
            *(int64_t *)member = sqlite3_column_int64(st, col);
            break;
        case CAT_COL_INT64_OPT:
            *(int64_t *)member = null ? -1 : sqlite3_column_int64(st, col);
            break;
        case CAT_COL_INT:
            *(int *)member = sqlite3_column_int(st, col);
            break;
        case CAT_COL_INT_OPT:
            *(int *)member = null ? -1 : sqlite3_column_int(st, col);
            break;
        }
        if (r < 0) {
            cat_record_free(k, rec);
            cat_oom(errp);
            return NULL;
        }
    }
    if (cat_load_kv(cat, &k->kv, cat_member(rec, k->cols[0].offset),
                    cat_member(rec, k->kv_offset),
                    cat_member(rec, k->nkv_offset), errp) < 0) {
        cat_record_free(k, rec);
        return NULL;
    }
    return rec;
}

/* Which records of a kind cat_select reads.  A zeroed query reads them
 * all, newest first (by created_at, then by order of insertion).
 */
struct cat_query {
    const char *id;                    /* only this normalised ID */
    const char *name;                  /* only this exact name */
    const char *status;                /* only this status (checked) */
    bool exclude_deleted;              /* skip status deleted */
    const char *server;                /* only the volumes attached to this
                                        * server, by device index */
    const struct catalog_match *match; /* items the record must all have */
    size_t nmatch;                     /* entries in match, at most
                                        * CATALOG_PROPS_MAX */
};

/* Prepare the query Q over kind K, with the columns of K->cols, and bind
 * its values.  Returns the statement (the caller finalizes it), or NULL
 * with ERR_INVALID (bad filters), ERR_CONFLICT (busy) or ERR_IO.
 */
static sqlite3_stmt *
cat_select(struct catalog *cat, const struct cat_kind *k,
           const struct cat_query *q, struct error **errp)
{
    const char *values[4 + 2 * CATALOG_PROPS_MAX];
    struct cat_buf sql = { 0 };
    CLEANUP_FREE char *text = NULL;
    char server[UTIL_UUID_LEN];
    sqlite3_stmt *st;
    size_t nvalues = 0, i;
    int rc = SQLITE_OK;

    if (q->nmatch > 0 && q->match == NULL) {
        error_setg(errp, ERR_INVALID, "%s filters missing", k->filter);
        return NULL;
    }
    if (q->nmatch > CATALOG_PROPS_MAX) {
        error_setg(errp, ERR_INVALID, "too many %s filters (%zu, at most "
                   "%d)", k->filter, q->nmatch, CATALOG_PROPS_MAX);
        return NULL;
    }
    if (q->status != NULL && cat_check_status(k, q->status, errp) < 0) {
        return NULL;
    }
    for (i = 0; i < q->nmatch; i++) {
        if (q->match[i].key == NULL || q->match[i].value == NULL) {
            error_setg(errp, ERR_INVALID, "%s filter without a key or a "
                       "value", k->filter);
            return NULL;
        }
    }
    if (q->nmatch > 0 && k->kv.match == NULL) {
        abort(); /* a bug in this file */
    }
    /* Only fixed fragments and the names in K go into the text; every
     * value is bound.
     */
    cat_buf_printf(&sql, "SELECT");
    for (i = 0; i < k->ncols; i++) {
        cat_buf_printf(&sql, "%s r.%s", i > 0 ? "," : "", k->cols[i].name);
    }
    cat_buf_printf(&sql, " FROM %s AS r WHERE 1", k->table);
    if (q->id != NULL) {
        cat_buf_printf(&sql, " AND r.id = ?");
        values[nvalues++] = q->id;
    }
    if (q->name != NULL) {
        cat_buf_printf(&sql, " AND r.name = ?");
        values[nvalues++] = q->name;
    }
    if (q->status != NULL) {
        cat_buf_printf(&sql, " AND r.status = ?");
        values[nvalues++] = q->status;
    }
    if (q->exclude_deleted) {
        cat_buf_printf(&sql, " AND r.status != 'deleted'");
    }
    if (q->server != NULL) {
        /* Something that is not a UUID matches no attachment. */
        if (!cat_norm_id(q->server, server)) {
            server[0] = '\0';
        }
        cat_buf_printf(&sql, " AND r.instance_id = ?");
        values[nvalues++] = server;
    }
    for (i = 0; i < q->nmatch; i++) {
        cat_buf_printf(&sql, "%s", k->kv.match);
        values[nvalues++] = q->match[i].key;
        values[nvalues++] = q->match[i].value;
    }
    cat_buf_printf(&sql, "%s", q->server != NULL
                   ? " ORDER BY r.device_index"
                   : " ORDER BY r.created_at DESC, r.rowid DESC");
    text = cat_buf_steal(&sql);
    if (text == NULL) {
        cat_oom(errp);
        return NULL;
    }
    st = cat_prepare(cat, text, errp);
    if (st == NULL) {
        return NULL;
    }
    for (i = 0; i < nvalues && rc == SQLITE_OK; i++) {
        rc = sqlite3_bind_text(st, (int)i + 1, values[i], -1,
                               SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) {
        cat_fail(cat, rc, errp, "bind");
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Read record ID (as the caller wrote it) of kind K into *OUT.  Needs a
 * transaction.
 */
static int
cat_get_locked(struct catalog *cat, const struct cat_kind *k, const char *id,
               void **out, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN];
    struct cat_query q = { .id = nid };
    void *rec;
    int r;

    if (!cat_norm_id(id, nid)) {
        return cat_not_found(k, id, errp);
    }
    st = cat_select(cat, k, &q, errp);
    if (st == NULL) {
        return -1;
    }
    r = cat_step(cat, st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        return cat_not_found(k, id, errp);
    }
    rec = cat_record_read(cat, k, st, errp);
    if (rec == NULL) {
        return -1;
    }
    *out = rec;
    return 0;
}

/* Read the records of kind K that Q selects into a new array *OUT of *N
 * (NULL when there are none).  Needs a transaction.
 */
static int
cat_list_locked(struct catalog *cat, const struct cat_kind *k,
                const struct cat_query *q, void ***out, size_t *n,
                struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = cat_select(cat, k, q, errp);
    void **list = NULL;
    size_t count = 0, cap = 0;
    int r;

    if (st == NULL) {
        return -1;
    }
    while ((r = cat_step(cat, st, errp)) > 0) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void **grown = realloc(list, ncap * sizeof(*list));

            if (grown == NULL) {
                cat_list_free(k, list, count);
                return cat_oom(errp);
            }
            list = grown;
            cap = ncap;
        }
        list[count] = cat_record_read(cat, k, st, errp);
        if (list[count] == NULL) {
            cat_list_free(k, list, count);
            return -1;
        }
        count++;
    }
    if (r < 0) {
        cat_list_free(k, list, count);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

/* 1 if kind K has a record with ID (normalised), 0 if not, -1 on error. */
static int
cat_exists_locked(struct catalog *cat, const struct cat_kind *k,
                  const char *id, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = cat_prepare(cat, k->exists, errp);

    if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0) {
        return -1;
    }
    return cat_step(cat, st, errp);
}

/* Fail with ERR_CONFLICT "NOUN ID 'x' already exists" if kind K has a
 * record with ID (normalised).
 */
static int
cat_id_unused_locked(struct catalog *cat, const struct cat_kind *k,
                     const char *id, struct error **errp)
{
    int r = cat_exists_locked(cat, k, id, errp);

    if (r > 0) {
        error_setg(errp, ERR_CONFLICT, "%s ID '%s' already exists", k->noun,
                   id);
        return -1;
    }
    return r;
}

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
        r = cat_exists_locked(cat, k, id, errp);
        if (r < 0) {
            return -1;
        }
        if (r > 0) {
            memcpy(out, id, UTIL_UUID_LEN);
            return 0;
        }
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

/* Read into *OUT the record of kind K that KEY names: its ID, or with
 * BY_NAME what a user may call it (cat_find_id_locked).  The public get
 * and find functions.
 */
static int
cat_get(struct catalog *cat, const struct cat_kind *k, const char *key,
        bool by_name, void **out, struct error **errp)
{
    char id[UTIL_UUID_LEN];

    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if ((by_name && cat_find_id_locked(cat, k, key, id, errp) < 0) ||
        cat_get_locked(cat, k, by_name ? id : key, out, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        cat_record_free(k, *out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* cat_list_locked in a transaction of its own: the public list
 * functions.
 */
static int
cat_list(struct catalog *cat, const struct cat_kind *k,
         const struct cat_query *q, void ***out, size_t *n,
         struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_list_locked(cat, k, q, out, n, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (cat_tx_commit(cat, errp) < 0) {
        cat_list_free(k, *out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

/* A kind's own rule for deleting its record ID (normalised; GIVEN as the
 * caller wrote it): 0 to go on, or -1 with an error.
 */
typedef int cat_delete_rule(struct catalog *cat, const char *id,
                            const char *given, struct error **errp);

/* Delete record ID of kind K (as the caller wrote it) with its key/value
 * set, if RULE (NULL for none) lets it.
 */
static int
cat_delete_locked(struct catalog *cat, const struct cat_kind *k,
                  const char *id, cat_delete_rule *rule,
                  struct error **errp)
{
    char nid[UTIL_UUID_LEN];

    if (!cat_norm_id(id, nid)) {
        return cat_not_found(k, id, errp);
    }
    if (rule != NULL && rule(cat, nid, id, errp) < 0) {
        return -1;
    }
    /* The foreign key cascades too; delete explicitly all the same. */
    if (cat_run_id(cat, k->kv.clear, nid, errp) < 0 ||
        cat_run_id(cat, k->remove, nid, errp) < 0) {
        return -1;
    }
    return cat_changed(cat, k, id, errp);
}

/* cat_delete_locked in a transaction of its own: the public delete
 * functions.
 */
static int
cat_delete(struct catalog *cat, const struct cat_kind *k, const char *id,
           cat_delete_rule *rule, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_delete_locked(cat, k, id, rule, errp), errp);
}

/* A kind's own rule for giving its record ID (normalised; GIVEN as the
 * caller wrote it) STATUS: 0 to go on, or -1 with an error.
 */
typedef int cat_status_rule(struct catalog *cat, const char *id,
                            const char *given, const char *status,
                            struct error **errp);

/* Set the status of record ID of kind K (as the caller wrote it) to
 * STATUS, and for a kind that has one its fail_reason to REASON, if RULE
 * (NULL for none) lets it; bump updated_at.
 */
static int
cat_set_status_locked(struct catalog *cat, const struct cat_kind *k,
                      const char *id, const char *status,
                      const char *reason, cat_status_rule *rule,
                      struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (cat_check_status(k, status, errp) < 0) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(k, id, errp);
    }
    if (rule != NULL && rule(cat, nid, id, status, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    /* REASON is bound only for a kind that keeps one. */
    st = cat_prepare(cat, k->set_status, errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, k->has_reason ? "ssss" : "sss", nid, status,
                 now, reason) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return cat_changed(cat, k, id, errp);
}

/* cat_set_status_locked in a transaction of its own: the public
 * set_status functions.
 */
static int
cat_set_status(struct catalog *cat, const struct cat_kind *k, const char *id,
               const char *status, const char *reason, cat_status_rule *rule,
               struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_set_status_locked(cat, k, id, status, reason,
                                                 rule, errp), errp);
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

/* One query for what uses a record.  Each row is one user; its columns
 * are the user's id and name and, for an indirect user (VIA > 0), the
 * key, then (VIA 2) the id and name of the image in between.
 */
struct cat_users_query {
    const char *noun; /* what the user is */
    int via;          /* 0 direct, 1 through a key, 2 and an image */
    const char *sql;  /* ?1 the ID of the record used */
};

/* Describe in B, separated by ", ", the users of record ID that the N
 * QUERIES find.  Returns how many there are, or -1.
 */
static int
cat_users_locked(struct catalog *cat, const struct cat_users_query *queries,
                 size_t n, const char *id, struct cat_buf *b,
                 struct error **errp)
{
    size_t q;
    int count = 0, r;

    for (q = 0; q < n; q++) {
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

/* ---- Images ----------------------------------------------------------- */

bool
catalog_image_status_valid(const char *status)
{
    return cat_status_in(status, cat_image_statuses,
                         CAT_NELEMS(cat_image_statuses));
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
    cat_record_free(&cat_kind_image, img);
}

void
image_list_free(struct image **list, size_t n)
{
    cat_list_free(&cat_kind_image, (void **)list, n);
}

/* Check the fields of IMG that callers set.  ID gets the normalised ID. */
static int
cat_image_check(const struct image *img, char id[UTIL_UUID_LEN],
                struct error **errp)
{
    if (cat_check_id(img->id, "image", id, errp) < 0 ||
        cat_check_name(&cat_kind_image, img->name, errp) < 0 ||
        cat_check_status(&cat_kind_image, img->status, errp) < 0) {
        return -1;
    }
    if (img->min_ram < 0 || img->min_disk < 0) {
        error_setg(errp, ERR_INVALID, "min_ram and min_disk must not be "
                   "negative");
        return -1;
    }
    if (cat_check_created(img->created_at, errp) < 0) {
        return -1;
    }
    return cat_check_props(img->props, img->nprops, cat_kind_image.item,
                           errp);
}

/* Store IMG (borrowed) with its properties: as a new image, or with
 * UPDATE over image IMG->id, keeping its created_at.
 */
static int
cat_image_write_locked(struct catalog *cat, const struct image *img,
                       bool update, struct error **errp)
{
    /* The two statements number their parameters alike, so that one bind
     * serves both; the UPDATE leaves out ?13 (created_at).
     */
    static const char insert_sql[] =
        "INSERT INTO images (id, name, status, disk_format, "
        "container_format, size, virtual_size, checksum, os_hash_algo, "
        "os_hash_value, min_ram, min_disk, created_at, updated_at, file, "
        "fail_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11, ?12, ?13, ?14, ?15, ?16)";
    static const char update_sql[] =
        "UPDATE images SET name = ?2, status = ?3, disk_format = ?4, "
        "container_format = ?5, size = ?6, virtual_size = ?7, "
        "checksum = ?8, os_hash_algo = ?9, os_hash_value = ?10, "
        "min_ram = ?11, min_disk = ?12, updated_at = ?14, file = ?15, "
        "fail_reason = ?16 WHERE id = ?1";
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char id[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *created;

    if (cat_image_check(img, id, errp) < 0 ||
        (!update && cat_id_unused_locked(cat, &cat_kind_image, id,
                                         errp) < 0)) {
        return -1;
    }
    util_now_iso8601(now);
    created = img->created_at ? img->created_at : now;
    st = cat_prepare(cat, update ? update_sql : insert_sql, errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "ssssszzsssllssss", id, img->name,
                 img->status, img->disk_format, img->container_format,
                 img->size, img->virtual_size, img->checksum,
                 img->os_hash_algo, img->os_hash_value, img->min_ram,
                 img->min_disk, created, update ? now : created, img->file,
                 img->fail_reason) < 0 ||
        cat_run(cat, st, errp) < 0 ||
        (update && cat_changed(cat, &cat_kind_image, img->id, errp) < 0)) {
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_kind_image.kv, id, img->props,
                               img->nprops, errp);
}

int
catalog_image_insert(struct catalog *cat, const struct image *img,
                     struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_image_write_locked(cat, img, false, errp),
                      errp);
}

int
catalog_image_update(struct catalog *cat, const struct image *img,
                     struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_image_write_locked(cat, img, true, errp),
                      errp);
}

int
catalog_image_get(struct catalog *cat, const char *id, struct image **out,
                  struct error **errp)
{
    return cat_get(cat, &cat_kind_image, id, false, (void **)out, errp);
}

int
catalog_image_find(struct catalog *cat, const char *name_or_id,
                   struct image **out, struct error **errp)
{
    return cat_get(cat, &cat_kind_image, name_or_id, true, (void **)out,
                   errp);
}

int
catalog_image_list(struct catalog *cat, const struct image_filter *f,
                   struct image ***out, size_t *n, struct error **errp)
{
    struct cat_query q = { 0 };

    if (f != NULL) {
        q.name = f->name;
        q.status = f->status;
        q.exclude_deleted = f->exclude_deleted;
        q.match = f->props;
        q.nmatch = f->nprops;
    }
    return cat_list(cat, &cat_kind_image, &q, (void ***)out, n, errp);
}

int
catalog_image_set_status(struct catalog *cat, const char *id,
                         const char *status, const char *reason,
                         struct error **errp)
{
    return cat_set_status(cat, &cat_kind_image, id, status, reason, NULL,
                          errp);
}

/* Bump updated_at of image ID (normalised; GIVEN as the caller wrote it);
 * ERR_NOT_FOUND if there is none.
 */
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
    return cat_changed(cat, &cat_kind_image, given, errp);
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

    if (cat_check_item(key, value, cat_kind_image.item, errp) < 0) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_image, id, errp);
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
    return cat_tx_end(cat, cat_image_set_property_locked(cat, id, key, value,
                                                         errp), errp);
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
        return cat_not_found(&cat_kind_image, id, errp);
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
    return cat_tx_end(cat, cat_image_unset_property_locked(cat, id, key,
                                                           errp), errp);
}

int
catalog_image_delete(struct catalog *cat, const char *id,
                     struct error **errp)
{
    return cat_delete(cat, &cat_kind_image, id, NULL, errp);
}

/* What uses an image: instances booted from it, images (not deleted)
 * whose kernel_id or ramdisk_id is it, instances booted from those, and
 * volumes made from it.
 */
static const struct cat_users_query cat_image_users[] = {
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
        count = cat_users_locked(cat, cat_image_users,
                                 CAT_NELEMS(cat_image_users), nid, &b, errp);
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
    cat_record_free(&cat_kind_instance, inst);
}

void
instance_list_free(struct instance **list, size_t n)
{
    cat_list_free(&cat_kind_instance, (void **)list, n);
}

/* Check the fields of INST that callers set.  ID gets the normalised ID,
 * and *IMAGE_ID IMAGE_BUF with the normalised image ID or NULL.
 */
static int
cat_instance_check(const struct instance *inst, char id[UTIL_UUID_LEN],
                   char image_buf[UTIL_UUID_LEN], const char **image_id,
                   struct error **errp)
{
    if (cat_check_id(inst->id, "server", id, errp) < 0) {
        return -1;
    }
    if (inst->name == NULL || inst->name[0] == '\0' ||
        strlen(inst->name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "server name must be 1 to %d bytes",
                   CATALOG_NAME_MAX);
        return -1;
    }
    if (cat_check_ref(inst->image_id, "image", image_buf, image_id,
                      errp) < 0) {
        return -1;
    }
    if (inst->memory_mb <= 0 || inst->cpus <= 0) {
        error_setg(errp, ERR_INVALID, "server %s needs memory and CPUs",
                   inst->name);
        return -1;
    }
    if (cat_check_created(inst->created_at, errp) < 0) {
        return -1;
    }
    if (inst->task_state != NULL && inst->task_state[0] == '\0') {
        error_setg(errp, ERR_INVALID, "empty task state");
        return -1;
    }
    return cat_check_props(inst->meta, inst->nmeta, cat_kind_instance.item,
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

/* Store INST (borrowed) with its metadata: as a new instance, or with
 * UPDATE over instance INST->id, keeping its created_at and task_state
 * (which changes only through catalog_instance_set_task).
 */
static int
cat_instance_write_locked(struct catalog *cat, const struct instance *inst,
                          bool update, struct error **errp)
{
    /* The two statements number their parameters alike, so that one bind
     * serves both; the UPDATE leaves out ?6 (task_state) and ?7
     * (created_at).
     */
    static const char insert_sql[] =
        "INSERT INTO instances (id, name, image_id, memory_mb, cpus, "
        "task_state, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    static const char update_sql[] =
        "UPDATE instances SET name = ?2, image_id = ?3, memory_mb = ?4, "
        "cpus = ?5, updated_at = ?8 WHERE id = ?1";
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char id[UTIL_UUID_LEN], image_buf[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *image_id, *created;

    if (cat_instance_check(inst, id, image_buf, &image_id, errp) < 0 ||
        cat_instance_name_free_locked(cat, inst->name, id, errp) < 0 ||
        (!update && cat_id_unused_locked(cat, &cat_kind_instance, id,
                                         errp) < 0)) {
        return -1;
    }
    util_now_iso8601(now);
    created = inst->created_at ? inst->created_at : now;
    st = cat_prepare(cat, update ? update_sql : insert_sql, errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "sssli" "sss", id, inst->name, image_id,
                 inst->memory_mb, inst->cpus, inst->task_state, created,
                 update ? now : created) < 0 ||
        cat_run(cat, st, errp) < 0 ||
        (update && cat_changed(cat, &cat_kind_instance, inst->id,
                               errp) < 0)) {
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_kind_instance.kv, id, inst->meta,
                               inst->nmeta, errp);
}

int
catalog_instance_insert(struct catalog *cat, const struct instance *inst,
                        struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_instance_write_locked(cat, inst, false, errp),
                      errp);
}

int
catalog_instance_update(struct catalog *cat, const struct instance *inst,
                        struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_instance_write_locked(cat, inst, true, errp),
                      errp);
}

int
catalog_instance_get(struct catalog *cat, const char *id,
                     struct instance **out, struct error **errp)
{
    return cat_get(cat, &cat_kind_instance, id, false, (void **)out, errp);
}

int
catalog_instance_find(struct catalog *cat, const char *name_or_id,
                      struct instance **out, struct error **errp)
{
    return cat_get(cat, &cat_kind_instance, name_or_id, true, (void **)out,
                   errp);
}

int
catalog_instance_list(struct catalog *cat, struct instance ***out,
                      size_t *n, struct error **errp)
{
    struct cat_query q = { 0 };

    return cat_list(cat, &cat_kind_instance, &q, (void ***)out, n, errp);
}

int
catalog_instance_delete(struct catalog *cat, const char *id,
                        struct error **errp)
{
    return cat_delete(cat, &cat_kind_instance, id, NULL, errp);
}

static int
cat_instance_set_task_locked(struct catalog *cat, const char *id,
                             const char *expected, const char *task,
                             struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const unsigned char *name, *current;

    if ((task != NULL && task[0] == '\0') ||
        (expected != NULL && expected[0] == '\0')) {
        error_setg(errp, ERR_INVALID, "empty task state");
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_instance, id, errp);
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
    st = cat_row_locked(cat, &cat_kind_instance, "SELECT name, task_state "
                        "FROM instances WHERE id = ?1", nid, id, errp);
    if (st == NULL) {
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
    return cat_tx_end(cat, cat_instance_set_task_locked(cat, id, expected,
                                                        task, errp), errp);
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
    cat_record_free(&cat_kind_volume, vol);
}

void
volume_list_free(struct volume **list, size_t n)
{
    cat_list_free(&cat_kind_volume, (void **)list, n);
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
    if (cat_check_id(vol->id, "volume", ids->id, errp) < 0 ||
        cat_check_name(&cat_kind_volume, vol->name, errp) < 0 ||
        cat_check_status(&cat_kind_volume, vol->status, errp) < 0) {
        return -1;
    }
    if (vol->size < 0) {
        error_setg(errp, ERR_INVALID, "volume size must not be negative");
        return -1;
    }
    if (cat_check_created(vol->created_at, errp) < 0 ||
        cat_check_ref(vol->source_snapshot_id, "volume snapshot",
                      ids->snapshot_buf, &ids->snapshot, errp) < 0 ||
        cat_check_ref(vol->source_image_id, "image", ids->image_buf,
                      &ids->image, errp) < 0) {
        return -1;
    }
    return cat_check_props(vol->meta, vol->nmeta, cat_kind_volume.item,
                           errp);
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

    st = cat_row_locked(cat, &cat_kind_snapshot, "SELECT name, status "
                        "FROM volume_snapshots WHERE id = ?1", id, given,
                        errp);
    if (st == NULL) {
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

/* Check what only a new volume VOL (with IDS from cat_volume_check) must
 * meet: detached, not in-use, a free ID, and a source snapshot that is
 * available.
 */
static int
cat_volume_insertable_locked(struct catalog *cat, const struct volume *vol,
                             const struct cat_volume_ids *ids,
                             struct error **errp)
{
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
    if (cat_id_unused_locked(cat, &cat_kind_volume, ids->id, errp) < 0) {
        return -1;
    }
    /* Checked in this transaction, the snapshot cannot be deleted before
     * the new volume refers to it (catalog_volume_snapshot_delete looks
     * for such volumes).
     */
    if (ids->snapshot != NULL &&
        cat_snapshot_available_locked(cat, ids->snapshot,
                                      vol->source_snapshot_id, errp) < 0) {
        return -1;
    }
    return 0;
}

/* Check that volume ID (normalised; GIVEN as the caller wrote it) may take
 * STATUS: in-use while it is attached, and only then.  ERR_NOT_FOUND if
 * there is no such volume.  A cat_status_rule.
 */
static int
cat_volume_status_allowed_locked(struct catalog *cat, const char *id,
                                 const char *given, const char *status,
                                 struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    const unsigned char *name, *server;
    bool in_use = strcmp(status, "in-use") == 0;

    st = cat_row_locked(cat, &cat_kind_volume, "SELECT name, instance_id "
                        "FROM volumes WHERE id = ?1", id, given, errp);
    if (st == NULL) {
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

/* Store VOL (borrowed) with its metadata: as a new, detached volume, or
 * with UPDATE over volume VOL->id, keeping its created_at and its
 * attachment.
 */
static int
cat_volume_write_locked(struct catalog *cat, const struct volume *vol,
                        bool update, struct error **errp)
{
    /* The two statements number their parameters alike, so that one bind
     * serves both; the UPDATE leaves out ?8 (created_at).
     */
    static const char insert_sql[] =
        "INSERT INTO volumes (id, name, status, size, file, instance_id, "
        "device_index, source_snapshot_id, source_image_id, created_at, "
        "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, ?7, ?8, "
        "?9)";
    static const char update_sql[] =
        "UPDATE volumes SET name = ?2, status = ?3, size = ?4, file = ?5, "
        "source_snapshot_id = ?6, source_image_id = ?7, updated_at = ?9 "
        "WHERE id = ?1";
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    struct cat_volume_ids ids;
    char now[UTIL_TIME_LEN];
    const char *created;

    if (cat_volume_check(vol, &ids, errp) < 0 ||
        (update ? cat_volume_status_allowed_locked(cat, ids.id, vol->id,
                                                   vol->status, errp)
                : cat_volume_insertable_locked(cat, vol, &ids, errp)) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    created = vol->created_at ? vol->created_at : now;
    st = cat_prepare(cat, update ? update_sql : insert_sql, errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "sssls" "ssss", ids.id, vol->name,
                 vol->status, vol->size, vol->file, ids.snapshot, ids.image,
                 created, update ? now : created) < 0 ||
        cat_run(cat, st, errp) < 0 ||
        (update && cat_changed(cat, &cat_kind_volume, vol->id, errp) < 0)) {
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_kind_volume.kv, ids.id, vol->meta,
                               vol->nmeta, errp);
}

int
catalog_volume_insert(struct catalog *cat, const struct volume *vol,
                      struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_volume_write_locked(cat, vol, false, errp),
                      errp);
}

int
catalog_volume_update(struct catalog *cat, const struct volume *vol,
                      struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_volume_write_locked(cat, vol, true, errp),
                      errp);
}

int
catalog_volume_get(struct catalog *cat, const char *id, struct volume **out,
                   struct error **errp)
{
    return cat_get(cat, &cat_kind_volume, id, false, (void **)out, errp);
}

int
catalog_volume_find(struct catalog *cat, const char *name_or_id,
                    struct volume **out, struct error **errp)
{
    return cat_get(cat, &cat_kind_volume, name_or_id, true, (void **)out,
                   errp);
}

int
catalog_volume_list(struct catalog *cat, const char *instance_id,
                    struct volume ***out, size_t *n, struct error **errp)
{
    struct cat_query q = { .server = instance_id };

    return cat_list(cat, &cat_kind_volume, &q, (void ***)out, n, errp);
}

int
catalog_volume_set_status(struct catalog *cat, const char *id,
                          const char *status, struct error **errp)
{
    return cat_set_status(cat, &cat_kind_volume, id, status, NULL,
                          cat_volume_status_allowed_locked, errp);
}

/* As in Cinder, an attached volume and a volume with snapshots stay.  A
 * cat_delete_rule.
 */
static int
cat_volume_deletable_locked(struct catalog *cat, const char *id,
                            const char *given, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    CLEANUP_FREE char *name = NULL, *server = NULL, *ids = NULL;
    struct cat_buf b = { 0 };
    size_t count = 0;
    int r;

    st = cat_row_locked(cat, &cat_kind_volume, "SELECT name, instance_id "
                        "FROM volumes WHERE id = ?1", id, given, errp);
    if (st == NULL) {
        return -1;
    }
    if (cat_col_str(st, 0, &name) < 0 || cat_col_str(st, 1, &server) < 0) {
        return cat_oom(errp);
    }
    if (server != NULL) {
        error_setg(errp, ERR_CONFLICT, "volume %s is attached to server %s",
                   cat_label(name, id), server);
        return -1;
    }
    sqlite3_finalize(st);
    st = cat_prepare(cat, "SELECT id FROM volume_snapshots "
                     "WHERE volume_id = ?1 "
                     "ORDER BY created_at DESC, rowid DESC", errp);
    if (st == NULL || cat_bind(cat, st, errp, "s", id) < 0) {
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
                   cat_label(name, id), ids ? ids : "(out of memory)");
        return -1;
    }
    return 0;
}

int
catalog_volume_delete(struct catalog *cat, const char *id,
                      struct error **errp)
{
    return cat_delete(cat, &cat_kind_volume, id, cat_volume_deletable_locked,
                      errp);
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
        return cat_not_found(&cat_kind_volume, volume_id, errp);
    }
    if (!cat_norm_id(instance_id, sid)) {
        return cat_not_found(&cat_kind_instance, instance_id, errp);
    }
    r = cat_exists_locked(cat, &cat_kind_instance, sid, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        return cat_not_found(&cat_kind_instance, instance_id, errp);
    }
    /* The compare and the set are one statement under the write lock; the
     * unique index on (instance_id, device_index) backs the index choice.
     */
    util_now_iso8601(now);
    st = cat_prepare(cat, "UPDATE volumes SET instance_id = ?2, "
                     "device_index = (SELECT min(i) FROM (SELECT 1 AS i "
                     "UNION SELECT device_index + 1 FROM volumes "
                     "WHERE instance_id = ?2) WHERE i NOT IN "
                     "(SELECT device_index FROM volumes "
                     "WHERE instance_id = ?2)), "
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
    st = cat_row_locked(cat, &cat_kind_volume, "SELECT name, status, "
                        "instance_id, device_index FROM volumes "
                        "WHERE id = ?1", vid, volume_id, errp);
    if (st == NULL) {
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
    if (cat_tx_end(cat, cat_volume_attach_locked(cat, volume_id, instance_id,
                                                 &index, errp), errp) < 0) {
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

    if (instance_id == NULL) {
        error_setg(errp, ERR_INVALID, "no server ID given");
        return -1;
    }
    if (!cat_norm_id(volume_id, vid)) {
        return cat_not_found(&cat_kind_volume, volume_id, errp);
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
    st = cat_row_locked(cat, &cat_kind_volume, "SELECT name FROM volumes "
                        "WHERE id = ?1", vid, volume_id, errp);
    if (st == NULL) {
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
    return cat_tx_end(cat, cat_volume_detach_locked(cat, volume_id,
                                                    instance_id, errp),
                      errp);
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
    cat_record_free(&cat_kind_snapshot, snap);
}

void
volume_snapshot_list_free(struct volume_snapshot **list, size_t n)
{
    cat_list_free(&cat_kind_snapshot, (void **)list, n);
}

/* Check the fields of SNAP that callers set.  ID and VOLUME_ID get the
 * normalised IDs.
 */
static int
cat_snapshot_check(const struct volume_snapshot *snap,
                   char id[UTIL_UUID_LEN], char volume_id[UTIL_UUID_LEN],
                   struct error **errp)
{
    if (cat_check_id(snap->id, "volume snapshot", id, errp) < 0 ||
        cat_check_name(&cat_kind_snapshot, snap->name, errp) < 0) {
        return -1;
    }
    if (snap->volume_id == NULL) {
        error_setg(errp, ERR_INVALID, "volume snapshot %s has no volume ID",
                   id);
        return -1;
    }
    if (cat_check_id(snap->volume_id, "volume", volume_id, errp) < 0 ||
        cat_check_status(&cat_kind_snapshot, snap->status, errp) < 0) {
        return -1;
    }
    if (snap->size < 0) {
        error_setg(errp, ERR_INVALID, "volume snapshot size must not be "
                   "negative");
        return -1;
    }
    if (cat_check_created(snap->created_at, errp) < 0) {
        return -1;
    }
    return cat_check_props(snap->meta, snap->nmeta, cat_kind_snapshot.item,
                           errp);
}

/* Store SNAP (borrowed) with its metadata: as a new snapshot, or with
 * UPDATE over snapshot SNAP->id, keeping its created_at.
 */
static int
cat_snapshot_write_locked(struct catalog *cat,
                          const struct volume_snapshot *snap, bool update,
                          struct error **errp)
{
    /* The two statements number their parameters alike, so that one bind
     * serves both; the UPDATE leaves out ?7 (created_at).
     */
    static const char insert_sql[] =
        "INSERT INTO volume_snapshots (id, name, volume_id, status, size, "
        "file, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    static const char update_sql[] =
        "UPDATE volume_snapshots SET name = ?2, volume_id = ?3, "
        "status = ?4, size = ?5, file = ?6, updated_at = ?8 WHERE id = ?1";
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    char id[UTIL_UUID_LEN], volume_id[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *created;

    if (cat_snapshot_check(snap, id, volume_id, errp) < 0 ||
        (!update && cat_id_unused_locked(cat, &cat_kind_snapshot, id,
                                         errp) < 0)) {
        return -1;
    }
    util_now_iso8601(now);
    created = snap->created_at ? snap->created_at : now;
    st = cat_prepare(cat, update ? update_sql : insert_sql, errp);
    if (st == NULL ||
        cat_bind(cat, st, errp, "sssslsss", id, snap->name, volume_id,
                 snap->status, snap->size, snap->file, created,
                 update ? now : created) < 0 ||
        cat_run(cat, st, errp) < 0 ||
        (update && cat_changed(cat, &cat_kind_snapshot, snap->id,
                               errp) < 0)) {
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_kind_snapshot.kv, id, snap->meta,
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
    return cat_tx_end(cat, cat_snapshot_write_locked(cat, snap, false, errp),
                      errp);
}

int
catalog_volume_snapshot_update(struct catalog *cat,
                               const struct volume_snapshot *snap,
                               struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_snapshot_write_locked(cat, snap, true, errp),
                      errp);
}

int
catalog_volume_snapshot_get(struct catalog *cat, const char *id,
                            struct volume_snapshot **out,
                            struct error **errp)
{
    return cat_get(cat, &cat_kind_snapshot, id, false, (void **)out, errp);
}

int
catalog_volume_snapshot_find(struct catalog *cat, const char *name_or_id,
                             struct volume_snapshot **out,
                             struct error **errp)
{
    return cat_get(cat, &cat_kind_snapshot, name_or_id, true, (void **)out,
                   errp);
}

int
catalog_volume_snapshot_list(struct catalog *cat,
                             const struct catalog_match *match,
                             size_t nmatch, struct volume_snapshot ***out,
                             size_t *n, struct error **errp)
{
    struct cat_query q = { .match = match, .nmatch = nmatch };

    return cat_list(cat, &cat_kind_snapshot, &q, (void ***)out, n, errp);
}

int
catalog_volume_snapshot_set_status(struct catalog *cat, const char *id,
                                   const char *status, struct error **errp)
{
    return cat_set_status(cat, &cat_kind_snapshot, id, status, NULL, NULL,
                          errp);
}

/* What uses a volume snapshot: volumes made from it and images (not
 * deleted) whose block_device_mapping names it.  The
 * block_device_mapping value is JSON; an ID is 36 characters of hex
 * digits and dashes, so a substring match cannot go wrong, and LIKE
 * ignores the case of the hex digits.
 */
static const struct cat_users_query cat_snapshot_users[] = {
    { "volume", 0,
      "SELECT v.id, v.name FROM volumes AS v "
      "WHERE v.source_snapshot_id = ?1 "
      "ORDER BY v.created_at, v.rowid" },
    { "image", 0,
      "SELECT i.id, i.name FROM images AS i "
      "JOIN image_properties AS p ON p.image_id = i.id "
      "WHERE p.key = 'block_device_mapping' "
      "AND p.value LIKE '%' || ?1 || '%' AND i.status != 'deleted' "
      "ORDER BY i.created_at, i.rowid" },
};

/* A snapshot that something uses stays.  A cat_delete_rule. */
static int
cat_snapshot_deletable_locked(struct catalog *cat, const char *id,
                              const char *given, struct error **errp)
{
    CLEANUP_STMT sqlite3_stmt *st = NULL;
    CLEANUP_FREE char *name = NULL, *users = NULL;
    struct cat_buf b = { 0 };
    int r;

    st = cat_row_locked(cat, &cat_kind_snapshot, "SELECT name "
                        "FROM volume_snapshots WHERE id = ?1", id, given,
                        errp);
    if (st == NULL) {
        return -1;
    }
    if (cat_col_str(st, 0, &name) < 0) {
        return cat_oom(errp);
    }
    sqlite3_finalize(st);
    st = NULL;
    r = cat_users_locked(cat, cat_snapshot_users,
                         CAT_NELEMS(cat_snapshot_users), id, &b, errp);
    users = cat_buf_steal(&b);
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        error_setg(errp, ERR_CONFLICT, "volume snapshot %s is in use by %s",
                   cat_label(name, id), users ? users : "(out of memory)");
        return -1;
    }
    return 0;
}

int
catalog_volume_snapshot_delete(struct catalog *cat, const char *id,
                               struct error **errp)
{
    return cat_delete(cat, &cat_kind_snapshot, id,
                      cat_snapshot_deletable_locked, errp);
}
