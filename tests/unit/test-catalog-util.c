/* vmsnap tests: what the catalog's test programs share (see
 * test-catalog.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cleanup.h"
#include "db.h"
#include "tap.h"
#include "test-catalog.h"
#include "util.h"

char tmpdir[64];
char *db_path;
bool tc_pg;

/* The test database (VMSNAP_TEST_CATALOG) and the schemas made in it. */
static const char *tc_base;
static char *tc_schemas[64];
static size_t tc_nschemas;

/* Open the database at TARGET through the seam, or NULL (reported). */
static struct db *
tc_db(const char *target)
{
    struct error *err = NULL;
    struct db *db = db_open(db_ops_for(target), target, 30000, &err);

    if (db == NULL) {
        diag("open %s: %s", target, error_msg(err));
        error_free(err);
    }
    return db;
}

/* Append " KEY='VALUE'" to B (libpq's quoting), B of size N. */
static void
tc_conn_add(char *b, size_t n, const char *key, const char *value)
{
    size_t len = strlen(b);

    len += snprintf(b + len, len < n ? n - len : 0, " %s='", key);
    for (; *value && len + 3 < n; value++) {
        if (*value == '\\' || *value == '\'') {
            b[len++] = '\\';
        }
        b[len++] = *value;
    }
    if (len + 2 < n) {
        b[len++] = '\'';
        b[len] = '\0';
    }
}

char *
tc_conn_with_options(const char *conn, const char *more)
{
    PQconninfoOption *opts, *o;
    char buf[4096] = "";
    bool has_options = false;

    opts = PQconninfoParse(conn, NULL);
    if (opts == NULL) {
        printf("Bail out! not a connection string: %s\n", conn);
        exit(1);
    }
    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }
        if (strcmp(o->keyword, "options") == 0) {
            char both[1024];

            snprintf(both, sizeof(both), "%s %s", o->val, more);
            tc_conn_add(buf, sizeof(buf), "options", both);
            has_options = true;
        } else {
            tc_conn_add(buf, sizeof(buf), o->keyword, o->val);
        }
    }
    if (!has_options) {
        tc_conn_add(buf, sizeof(buf), "options", more);
    }
    PQconninfoFree(opts);
    return tc_strdup(buf + 1);
}

char *
tc_target(const char *name)
{
    char schema[64], sql[256];
    struct db *db;
    struct error *err = NULL;
    size_t i;
    int r;

    if (!tc_pg) {
        char file[64];

        snprintf(file, sizeof(file), "%s.db", name);
        return util_path_join(tmpdir, file);
    }
    snprintf(schema, sizeof(schema), "vt%d_%s", (int)getpid(), name);
    for (i = 0; schema[i]; i++) {
        if (schema[i] == '-') {
            schema[i] = '_';
        }
    }
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; "
             "CREATE SCHEMA %s", schema, schema);
    db = tc_db(tc_base);
    r = db != NULL ? db_exec(db, sql, &err) : -1;
    db_close(db);
    if (r < 0 || tc_nschemas == sizeof(tc_schemas) / sizeof(tc_schemas[0])) {
        printf("Bail out! cannot make schema %s: %s\n", schema,
               err ? error_msg(err) : "too many");
        exit(1);
    }
    tc_schemas[tc_nschemas++] = tc_strdup(schema);
    snprintf(sql, sizeof(sql), "-c search_path=%s", schema);
    return tc_conn_with_options(tc_base, sql);
}

void
tc_setup(const char *name)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/vmsnap-%s.XXXXXX",
             base && *base && strlen(base) < 20 ? base : "/tmp", name);
    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
    tc_base = getenv("VMSNAP_TEST_CATALOG");
    tc_pg = tc_base != NULL && *tc_base != '\0';
    if (tc_pg && db_ops_for(tc_base) != &db_pg_ops) {
        printf("Bail out! VMSNAP_TEST_CATALOG is not a PostgreSQL "
               "connection string\n");
        exit(1);
    }
    diag("catalog backend: %s", tc_pg ? "pg" : "sqlite");
    db_path = tc_target("catalog");
    if (db_path == NULL) {
        abort();
    }
}

struct image *
tc_image(struct catalog *cat, const char *id)
{
    struct error *err = NULL;
    struct image *img = NULL;

    if (catalog_image_get(cat, id, &img, &err) < 0) {
        diag("get image %s: %s", id, error_msg(err));
        error_free(err);
        return NULL;
    }
    return img;
}

struct catalog *
tc_open(void)
{
    struct error *err = NULL;
    struct catalog *cat = catalog_open(db_path, &err);

    if (cat == NULL) {
        printf("Bail out! %s\n", error_msg(err));
        error_free(err);
        remove_tmpdir();
        exit(1);
    }
    return cat;
}

char *
tc_strdup(const char *s)
{
    char *p = s ? strdup(s) : NULL;

    if (s != NULL && p == NULL) {
        abort();
    }
    return p;
}

/* A new image record with a fresh ID (not yet in the catalog). */
struct image *
new_image(const char *name, const char *status)
{
    struct image *img = calloc(1, sizeof(*img));

    if (img == NULL) {
        abort();
    }
    util_uuid_new(img->id);
    img->name = tc_strdup(name);
    img->status = tc_strdup(status);
    img->disk_format = tc_strdup("qcow2");
    img->container_format = tc_strdup("bare");
    img->size = -1;
    img->virtual_size = -1;
    return img;
}

struct instance *
new_instance(const char *name, const char *image_id)
{
    struct instance *inst = calloc(1, sizeof(*inst));

    if (inst == NULL) {
        abort();
    }
    util_uuid_new(inst->id);
    inst->name = tc_strdup(name);
    inst->image_id = tc_strdup(image_id);
    inst->memory_mb = 512;
    inst->cpus = 1;
    return inst;
}

/* A new detached, available volume with a fresh ID. */
struct volume *
new_volume(const char *name, int64_t size)
{
    struct volume *vol = calloc(1, sizeof(*vol));

    if (vol == NULL) {
        abort();
    }
    util_uuid_new(vol->id);
    vol->name = tc_strdup(name);
    vol->status = tc_strdup("available");
    vol->size = size;
    vol->device_index = -1;
    return vol;
}

/* A new available snapshot of volume VOLUME_ID with a fresh ID. */
struct volume_snapshot *
new_snapshot(const char *name, const char *volume_id)
{
    struct volume_snapshot *snap = calloc(1, sizeof(*snap));

    if (snap == NULL) {
        abort();
    }
    util_uuid_new(snap->id);
    snap->name = tc_strdup(name);
    snap->volume_id = tc_strdup(volume_id);
    snap->status = tc_strdup("available");
    snap->size = 1 << 20;
    return snap;
}

bool
streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

/* True if ERR is set with class CLS (and, if WANT is not NULL, exactly
 * that message).  Frees ERR and clears it.
 */
bool
err_is(struct error **err, enum error_class cls, const char *want)
{
    bool good = *err != NULL && error_get_class(*err) == cls &&
                (want == NULL || strcmp(error_msg(*err), want) == 0);

    if (*err != NULL && !good) {
        diag("unexpected error: %s", error_msg(*err));
    } else if (*err == NULL) {
        diag("no error set");
    }
    error_free(*err);
    *err = NULL;
    return good;
}

/* Report and clear an unexpected error; true if there was none. */
bool
no_err(struct error **err)
{
    if (*err == NULL) {
        return true;
    }
    diag("error: %s", error_msg(*err));
    error_free(*err);
    *err = NULL;
    return false;
}

/* Run fixed SQL at TARGET through the seam and step to its first row:
 * the statement on it (the caller finalizes), or NULL.
 */
static struct db_stmt *
raw_row(struct db *db, const char *sql)
{
    struct error *err = NULL;
    struct db_stmt *st = db_prepare(db, sql, &err);

    if (st != NULL && db_step(st, &err) > 0) {
        return st;
    }
    if (err != NULL) {
        diag("%s: %s", sql, error_msg(err));
        error_free(err);
    }
    db_finalize(st);
    return NULL;
}

int64_t
raw_int(const char *target, const char *sql)
{
    struct db *db = tc_db(target);
    struct db_stmt *st = db ? raw_row(db, sql) : NULL;
    int64_t v = -1;

    if (st != NULL && !db_column_null(st, 0)) {
        v = db_column_int64(st, 0);
    }
    db_finalize(st);
    db_close(db);
    return v;
}

const char *
raw_text(const char *target, const char *sql)
{
    static char buf[256];
    struct db *db = tc_db(target);
    struct db_stmt *st = db ? raw_row(db, sql) : NULL;

    buf[0] = '\0';
    if (st != NULL && db_column_text(st, 0) != NULL) {
        snprintf(buf, sizeof(buf), "%s", db_column_text(st, 0));
    }
    db_finalize(st);
    db_close(db);
    return buf;
}

int
raw_schema_version(const char *target)
{
    struct db *db = tc_db(target);
    struct error *err = NULL;
    int v = -1;

    if (db != NULL && db_schema_version(db, &v, &err) < 0) {
        diag("schema version: %s", error_msg(err));
        error_free(err);
        v = -1;
    }
    db_close(db);
    return v;
}

/* Run SQL and record version V in one write transaction at TARGET. */
static bool
raw_run_versioned(const char *target, const char *sql, int v)
{
    struct db *db = tc_db(target);
    struct error *err = NULL;
    bool good;

    if (db == NULL) {
        return false;
    }
    good = db_begin(db, true, &err) == 0 &&
           (sql == NULL || db_exec(db, sql, &err) == 0) &&
           db_set_schema_version(db, v, &err) == 0 &&
           db_commit(db, &err) == 0;
    if (!good) {
        diag("%s", err ? error_msg(err) : "?");
        error_free(err);
        db_rollback(db);
    }
    db_close(db);
    return good;
}

bool
raw_set_schema_version(const char *target, int v)
{
    return raw_run_versioned(target, NULL, v);
}

/* SQL without what PostgreSQL lacks: " WITHOUT ROWID" and PRAGMA
 * statements (caller frees).
 */
static char *
raw_for_pg(const char *sql)
{
    char *out = tc_strdup(sql);
    char *p;

    while ((p = strstr(out, " WITHOUT ROWID")) != NULL) {
        memmove(p, p + 14, strlen(p + 14) + 1);
    }
    while ((p = strstr(out, "PRAGMA ")) != NULL) {
        char *end = strchr(p, ';');

        end = end ? end + 1 : p + strlen(p);
        memmove(p, end, strlen(end) + 1);
    }
    return out;
}

bool
raw_make_old(const char *target, const char *sql, int v)
{
    CLEANUP_FREE char *pg = tc_pg ? raw_for_pg(sql) : NULL;

    return raw_run_versioned(target, pg ? pg : sql, v);
}

void
remove_tmpdir(void)
{
    DIR *d;
    struct dirent *e;
    size_t i;

    for (i = 0; i < tc_nschemas; i++) {
        char sql[128];
        struct db *db = tc_db(tc_base);

        snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", tc_schemas[i]);
        if (db == NULL || db_exec(db, sql, NULL) < 0) {
            diag("could not drop schema %s", tc_schemas[i]);
        }
        db_close(db);
        free(tc_schemas[i]);
    }
    tc_nschemas = 0;
    d = opendir(tmpdir);
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            CLEANUP_FREE char *p = util_path_join(tmpdir, e->d_name);

            if (p != NULL) {
                unlink(p);
            }
        }
    }
    closedir(d);
    rmdir(tmpdir);
}

