/* Unit tests of the catalog module, on a database file in a temporary
 * directory.  The last tests fork several processes that work on the same
 * file at once and then check that nothing was lost or damaged.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalog.h"
#include "cleanup.h"
#include "error.h"
#include "tap.h"
#include "util.h"

#ifndef NCHILD
#define NCHILD 4   /* processes in the concurrency tests */
#endif
#ifndef CYCLES
#define CYCLES 30  /* work cycles per process */
#endif
#ifndef ROUNDS
#define ROUNDS 20  /* rounds of the attach race */
#endif

/* The schema version this catalog module writes. */
#define SCHEMA_VERSION 2

static char tmpdir[64];  /* the test's temporary directory */
static char *db_path;    /* the main catalog in it */

/* ---- Helpers ---------------------------------------------------------- */

static char *
xstrdup(const char *s)
{
    char *p = s ? strdup(s) : NULL;

    if (s != NULL && p == NULL) {
        abort();
    }
    return p;
}

/* A new image record with a fresh ID (not yet in the catalog). */
static struct image *
new_image(const char *name, const char *status)
{
    struct image *img = calloc(1, sizeof(*img));

    if (img == NULL) {
        abort();
    }
    util_uuid_new(img->id);
    img->name = xstrdup(name);
    img->status = xstrdup(status);
    img->disk_format = xstrdup("qcow2");
    img->container_format = xstrdup("bare");
    img->size = -1;
    img->virtual_size = -1;
    return img;
}

static struct instance *
new_instance(const char *name, const char *image_id)
{
    struct instance *inst = calloc(1, sizeof(*inst));

    if (inst == NULL) {
        abort();
    }
    util_uuid_new(inst->id);
    inst->name = xstrdup(name);
    inst->image_id = xstrdup(image_id);
    inst->memory_mb = 512;
    inst->cpus = 1;
    return inst;
}

/* A new detached, available volume with a fresh ID. */
static struct volume *
new_volume(const char *name, int64_t size)
{
    struct volume *vol = calloc(1, sizeof(*vol));

    if (vol == NULL) {
        abort();
    }
    util_uuid_new(vol->id);
    vol->name = xstrdup(name);
    vol->status = xstrdup("available");
    vol->size = size;
    vol->device_index = -1;
    return vol;
}

/* A new available snapshot of volume VOLUME_ID with a fresh ID. */
static struct volume_snapshot *
new_snapshot(const char *name, const char *volume_id)
{
    struct volume_snapshot *snap = calloc(1, sizeof(*snap));

    if (snap == NULL) {
        abort();
    }
    util_uuid_new(snap->id);
    snap->name = xstrdup(name);
    snap->volume_id = xstrdup(volume_id);
    snap->status = xstrdup("available");
    snap->size = 1 << 20;
    return snap;
}

static bool
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
static bool
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
static bool
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

/* Run fixed SQL on the database file directly and return the integer in
 * the first column of the first row, or -1.
 */
static int64_t
raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
            SQLITE_OK &&
        sqlite3_busy_timeout(db, 30000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The text of the first column of the first row of SQL, or "" (static). */
static const char *
raw_text(const char *path, const char *sql)
{
    static char buf[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    buf[0] = '\0';
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
            SQLITE_OK &&
        sqlite3_busy_timeout(db, 30000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        snprintf(buf, sizeof(buf), "%s",
                 (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

static void
remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;

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

/* ---- Opening ---------------------------------------------------------- */

static void
test_open(void)
{
    struct error *err = NULL;
    struct catalog *cat;
    CLEANUP_FREE char *junk = util_path_join(tmpdir, "junk.db");
    CLEANUP_FREE char *other = util_path_join(tmpdir, "other.db");
    FILE *f;

    cat = catalog_open(db_path, &err);
    ok(cat != NULL && no_err(&err), "open creates a new catalog");
    ok(catalog_check(cat, &err) == 0 && no_err(&err), "new catalog checks");
    catalog_close(cat);
    ok(raw_int(db_path, "PRAGMA user_version") == SCHEMA_VERSION,
       "schema version %d", SCHEMA_VERSION);
    ok(strcmp(raw_text(db_path, "PRAGMA journal_mode"), "wal") == 0,
       "journal mode is WAL");
    cat = catalog_open(db_path, &err);
    ok(cat != NULL && no_err(&err), "open again");
    catalog_close(cat);

    f = fopen(junk, "w");
    if (f != NULL) {
        fputs("this is not an SQLite database, not even close to one...\n",
              f);
        fclose(f);
    }
    cat = catalog_open(junk, &err);
    ok(cat == NULL && err_is(&err, ERR_IO, NULL),
       "open of a file that is not a database fails");
    catalog_close(cat);

    {
        sqlite3 *db = NULL;

        if (sqlite3_open(other, &db) == SQLITE_OK) {
            sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL);
        }
        sqlite3_close(db);
    }
    cat = catalog_open(other, &err);
    ok(cat == NULL && err_is(&err, ERR_INVALID, NULL),
       "open of another program's database fails");
    catalog_close(cat);

    raw_int(db_path, "PRAGMA user_version = 99");
    cat = catalog_open(db_path, &err);
    ok(cat == NULL && err_is(&err, ERR_INVALID, NULL),
       "open of a newer schema fails");
    catalog_close(cat);
    {
        char sql[64];

        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
                 SCHEMA_VERSION);
        raw_int(db_path, sql);
    }

    cat = catalog_open("/nonexistent-dir/x/catalog.db", &err);
    ok(cat == NULL && err_is(&err, ERR_IO, NULL),
       "open in a missing directory fails");
}

/* The schema of version 1, as vmsnap 0.1 created it: a catalog made by
 * that version must open and be upgraded in place.
 */
static const char v1_schema[] =
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
    ") WITHOUT ROWID;"
    "PRAGMA application_id = 1986884462;" /* 0x766d736e, "vmsn" */
    "PRAGMA user_version = 1;";

#define V1_IMAGE "6f1d7c2e-93a4-4b8e-a0c1-2d3e4f5a6b7c"
#define V1_SERVER "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static void
test_migration(void)
{
    CLEANUP_FREE char *path = util_path_join(tmpdir, "v1.db");
    struct error *err = NULL;
    struct catalog *cat;
    struct image *img = NULL;
    struct instance *inst = NULL;
    struct volume *vol = new_volume("after-upgrade", 1 << 20);
    sqlite3 *db = NULL;
    int rc = SQLITE_ERROR;

    if (path == NULL) {
        abort();
    }
    if (sqlite3_open(path, &db) == SQLITE_OK) {
        rc = sqlite3_exec(db, v1_schema, NULL, NULL, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_exec(db,
                              "INSERT INTO images (id, name, status, "
                              "disk_format, size, created_at, updated_at, "
                              "file) VALUES ('" V1_IMAGE "', 'old', "
                              "'active', 'qcow2', 4096, "
                              "'2025-01-01T00:00:00.000000Z', "
                              "'2025-01-01T00:00:00.000000Z', '/x.qcow2');"
                              "INSERT INTO image_properties VALUES "
                              "('" V1_IMAGE "', 'os_distro', 'debian');"
                              "INSERT INTO instances VALUES ('" V1_SERVER
                              "', 'old-srv', '" V1_IMAGE "', 512, 1, "
                              "'2025-01-01T00:00:00.000000Z', "
                              "'2025-01-01T00:00:00.000000Z', NULL);",
                              NULL, NULL, NULL);
        }
    }
    sqlite3_close(db);
    ok(rc == SQLITE_OK && raw_int(path, "PRAGMA user_version") == 1,
       "a version 1 catalog made with the old schema");

    cat = catalog_open(path, &err);
    ok(cat != NULL && no_err(&err), "open upgrades it");
    if (cat == NULL) {
        volume_free(vol);
        return;
    }
    ok(raw_int(path, "PRAGMA user_version") == SCHEMA_VERSION,
       "schema version is now %d", SCHEMA_VERSION);
    ok(catalog_check(cat, &err) == 0 && no_err(&err),
       "upgraded catalog checks");
    ok(catalog_image_get(cat, V1_IMAGE, &img, &err) == 0 && no_err(&err) &&
           streq(img->name, "old") && img->size == 4096 &&
           streq(img->file, "/x.qcow2") &&
           streq(image_prop(img, "os_distro"), "debian"),
       "the old image and its property are still there");
    image_free(img);
    ok(catalog_instance_get(cat, V1_SERVER, &inst, &err) == 0 &&
           no_err(&err) && streq(inst->image_id, V1_IMAGE),
       "the old instance is still there");
    instance_free(inst);
    ok(catalog_volume_insert(cat, vol, &err) == 0 && no_err(&err),
       "volumes work in the upgraded catalog");
    ok(catalog_image_users(cat, V1_IMAGE, NULL, &err) == 1 && no_err(&err),
       "image users still work");
    catalog_close(cat);

    cat = catalog_open(path, &err);
    ok(cat != NULL && no_err(&err) &&
           raw_int(path, "SELECT count(*) FROM volumes") == 1 &&
           raw_int(path, "PRAGMA user_version") == SCHEMA_VERSION,
       "reopening does not upgrade again");
    catalog_close(cat);
    volume_free(vol);
}

/* ---- Images ----------------------------------------------------------- */

static void
test_image_basics(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("web", "active");
    struct image *got = NULL;
    char upper[UTIL_UUID_LEN];
    size_t i;

    img->size = 1048576;
    img->virtual_size = 10737418240LL;
    img->checksum = xstrdup("0123456789abcdef0123456789abcdef");
    img->os_hash_algo = xstrdup("sha512");
    img->os_hash_value = xstrdup("abc");
    img->min_ram = 256;
    img->min_disk = 10;
    img->file = xstrdup("/var/lib/vmsnap/images/x.qcow2");
    image_prop_set(img, "os_distro", "debian", NULL);
    image_prop_set(img, "hw_qemu_guest_agent", "yes", NULL);
    image_prop_set(img, "os_distro", "debian12", NULL);
    ok(img->nprops == 2 && streq(image_prop(img, "os_distro"), "debian12"),
       "in-memory property set replaces");

    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert image");
    ok(catalog_image_get(cat, img->id, &got, &err) == 0 && no_err(&err),
       "get image by ID");
    if (got != NULL) {
        ok(streq(got->id, img->id) && streq(got->name, "web") &&
               streq(got->status, "active") &&
               streq(got->disk_format, "qcow2") &&
               streq(got->container_format, "bare") &&
               got->size == 1048576 && got->virtual_size == 10737418240LL &&
               streq(got->checksum, img->checksum) &&
               streq(got->os_hash_algo, "sha512") &&
               streq(got->os_hash_value, "abc") && got->min_ram == 256 &&
               got->min_disk == 10 && streq(got->file, img->file) &&
               got->fail_reason == NULL,
           "fields read back");
        ok(got->nprops == 2 &&
               streq(got->props[0].key, "hw_qemu_guest_agent") &&
               streq(got->props[1].key, "os_distro") &&
               streq(image_prop(got, "os_distro"), "debian12"),
           "properties read back, sorted by key");
        ok(util_is_iso8601(got->created_at) &&
               streq(got->created_at, got->updated_at),
           "created_at set, updated_at equal to it");
    }
    image_free(got);
    got = NULL;

    for (i = 0; i < UTIL_UUID_LEN; i++) {
        upper[i] = (img->id[i] >= 'a' && img->id[i] <= 'f')
                       ? (char)(img->id[i] - 'a' + 'A') : img->id[i];
    }
    ok(catalog_image_get(cat, upper, &got, &err) == 0 && no_err(&err) &&
           streq(got->id, img->id),
       "get with an upper-case ID");
    image_free(got);
    got = NULL;

    ok(catalog_image_insert(cat, img, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "insert of a taken ID is a conflict");

    {
        struct image *bad = new_image("bad", "sleeping");

        ok(catalog_image_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, "unknown image status 'sleeping'"),
           "insert with an unknown status is refused");
        free(bad->status);
        bad->status = xstrdup("queued");
        snprintf(bad->id, sizeof(bad->id), "not-a-uuid");
        ok(catalog_image_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert with a bad ID is refused");
        util_uuid_new(bad->id);
        bad->props = calloc(2, sizeof(*bad->props));
        bad->nprops = 2;
        bad->props[0].key = xstrdup("k");
        bad->props[0].value = xstrdup("1");
        bad->props[1].key = xstrdup("k");
        bad->props[1].value = xstrdup("2");
        ok(catalog_image_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert with a duplicate property is refused");
        free(bad->props[1].key);
        bad->props[1].key = xstrdup("");
        ok(catalog_image_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert with an empty property name is refused");
        ok(catalog_image_get(cat, bad->id, &got, &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND, NULL),
           "nothing of a refused insert is left");
        image_free(bad);
    }

    ok(catalog_image_get(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427", &got,
                         &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no image with ID '1b4e28ba-2fa1-41d2-883f-0016d3cca427'"),
       "get of a missing ID is not found");
    ok(catalog_image_get(cat, "web", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "get with a name is not found");
    image_free(img);
}

static void
test_image_find(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *a = new_image("dup", "active");
    struct image *b = new_image("dup", "active");
    struct image *c = new_image("solo", "active");
    struct image *got = NULL;
    const char *msg;

    ok(catalog_image_insert(cat, a, &err) == 0 &&
           catalog_image_insert(cat, b, &err) == 0 &&
           catalog_image_insert(cat, c, &err) == 0 && no_err(&err),
       "insert images for find");
    ok(catalog_image_find(cat, c->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->id, c->id),
       "find by ID");
    image_free(got);
    got = NULL;
    ok(catalog_image_find(cat, "solo", &got, &err) == 0 && no_err(&err) &&
           streq(got->id, c->id),
       "find by unique name");
    image_free(got);
    got = NULL;

    ok(catalog_image_find(cat, "dup", &got, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_CONFLICT,
       "find of a shared name is a conflict");
    msg = err ? error_msg(err) : "";
    ok(strncmp(msg, "image name 'dup' is ambiguous: ", 31) == 0 &&
           strstr(msg, a->id) != NULL && strstr(msg, b->id) != NULL,
       "ambiguity lists both IDs: %s", msg);
    error_free(err);
    err = NULL;

    ok(catalog_image_find(cat, "nothing", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no image named or with ID 'nothing'"),
       "find of an unknown name is not found");
    ok(catalog_image_find(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427", &got,
                          &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "find of an unknown ID is not found");

    ok(catalog_image_set_status(cat, a->id, "deleted", NULL, &err) == 0 &&
           no_err(&err),
       "mark one 'dup' deleted");
    ok(catalog_image_find(cat, "dup", &got, &err) == 0 && no_err(&err) &&
           streq(got->id, b->id),
       "find by name skips deleted images");
    image_free(got);
    got = NULL;
    ok(catalog_image_find(cat, a->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->status, "deleted"),
       "find by ID still sees a deleted image");
    image_free(got);
    got = NULL;

    /* An image may be named like another image's ID: the ID wins. */
    {
        struct image *tricky = new_image(c->id, "active");

        ok(catalog_image_insert(cat, tricky, &err) == 0 && no_err(&err) &&
               catalog_image_find(cat, c->id, &got, &err) == 0 &&
               no_err(&err) && streq(got->id, c->id),
           "a full ID matches before a name");
        image_free(got);
        got = NULL;
        catalog_image_delete(cat, tricky->id, NULL);
        image_free(tricky);
    }

    catalog_image_delete(cat, a->id, NULL);
    catalog_image_delete(cat, b->id, NULL);
    catalog_image_delete(cat, c->id, NULL);
    image_free(a);
    image_free(b);
    image_free(c);
}

static void
test_image_list(struct catalog *cat)
{
    static const char *const times[] = {
        "2026-01-01T00:00:00.000000Z", "2026-01-03T00:00:00.000000Z",
        "2026-01-02T00:00:00.000000Z", "2026-01-02T00:00:00.000000Z",
    };
    struct error *err = NULL;
    struct image *img[4];
    struct image **list = NULL;
    size_t n = 0, i;
    struct catalog_match m[2];
    struct image_filter f;

    for (i = 0; i < 4; i++) {
        img[i] = new_image(i < 2 ? "lst-a" : "lst-b",
                           i == 3 ? "queued" : "active");
        img[i]->created_at = xstrdup(times[i]);
        image_prop_set(img[i], "image_type", i % 2 ? "snapshot" : "image",
                       NULL);
        image_prop_set(img[i], "owner", i < 3 ? "ann" : "bob", NULL);
        ok(catalog_image_insert(cat, img[i], &err) == 0 && no_err(&err),
           "insert list image %zu", i);
    }

    ok(catalog_image_list(cat, NULL, &list, &n, &err) == 0 && no_err(&err) &&
           n >= 4,
       "list everything");
    /* Newest first: 1 (Jan 3), then 3 and 2 (same time; 3 inserted
     * later), then 0.  Other tests' images may sit around them.
     */
    {
        size_t pos[4] = { 0 };
        size_t j;

        for (j = 0; j < n; j++) {
            for (i = 0; i < 4; i++) {
                if (streq(list[j]->id, img[i]->id)) {
                    pos[i] = j + 1;
                }
            }
        }
        ok(pos[1] && pos[3] && pos[2] && pos[0] && pos[1] < pos[3] &&
               pos[3] < pos[2] && pos[2] < pos[0],
           "list is newest first, later insert first on ties");
    }
    image_list_free(list, n);

    memset(&f, 0, sizeof(f));
    f.name = "lst-a";
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2 && streq(list[0]->id, img[1]->id) &&
           streq(list[1]->id, img[0]->id) && list[0]->nprops == 2,
       "filter by name");
    image_list_free(list, n);

    memset(&f, 0, sizeof(f));
    f.name = "lst-b";
    f.status = "queued";
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 1 && streq(list[0]->id, img[3]->id),
       "filter by name and status");
    image_list_free(list, n);

    memset(&f, 0, sizeof(f));
    m[0].key = "image_type";
    m[0].value = "snapshot";
    f.props = m;
    f.nprops = 1;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2 && streq(list[0]->id, img[1]->id) &&
           streq(list[1]->id, img[3]->id),
       "filter by one property");
    image_list_free(list, n);

    m[1].key = "owner";
    m[1].value = "ann";
    f.nprops = 2;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 1 && streq(list[0]->id, img[1]->id),
       "filter by two properties");
    image_list_free(list, n);

    m[1].value = "nobody";
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 0,
       "filter that matches nothing");
    image_list_free(list, n);

    memset(&f, 0, sizeof(f));
    f.name = "lst-a";
    f.exclude_deleted = true;
    catalog_image_set_status(cat, img[0]->id, "deleted", NULL, NULL);
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 1 && streq(list[0]->id, img[1]->id),
       "filter hides deleted images");
    image_list_free(list, n);

    memset(&f, 0, sizeof(f));
    f.status = "bogus";
    list = NULL;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL) && list == NULL,
       "filter with an unknown status is refused");

    for (i = 0; i < 4; i++) {
        catalog_image_delete(cat, img[i]->id, NULL);
        image_free(img[i]);
    }
}

static void
test_image_changes(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("chg", "queued");
    struct image *got = NULL;
    CLEANUP_FREE char *created = NULL, *before = NULL;

    image_prop_set(img, "keep", "1", NULL);
    image_prop_set(img, "drop", "2", NULL);
    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert image to change");
    catalog_image_get(cat, img->id, &got, NULL);
    created = got ? xstrdup(got->created_at) : NULL;
    before = got ? xstrdup(got->updated_at) : NULL;
    image_free(got);
    got = NULL;

    /* Properties one by one. */
    ok(catalog_image_set_property(cat, img->id, "new", "x", &err) == 0 &&
           catalog_image_set_property(cat, img->id, "keep", "one", &err) ==
               0 &&
           no_err(&err),
       "set a new and an existing property");
    ok(catalog_image_get(cat, img->id, &got, &err) == 0 && no_err(&err) &&
           got->nprops == 3 && streq(image_prop(got, "new"), "x") &&
           streq(image_prop(got, "keep"), "one") &&
           strcmp(got->updated_at, before) > 0 &&
           streq(got->created_at, created),
       "properties set, updated_at bumped");
    image_free(got);
    got = NULL;
    ok(catalog_image_unset_property(cat, img->id, "new", &err) == 0 &&
           no_err(&err),
       "unset a property");
    ok(catalog_image_unset_property(cat, img->id, "new", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "unset of an absent property is not found");
    ok(catalog_image_set_property(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                                  "k", "v", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "set property on a missing image is not found");
    ok(catalog_image_set_property(cat, img->id, "", "v", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "set of an empty property name is refused");

    /* Status with a reason. */
    ok(catalog_image_set_status(cat, img->id, "killed", "upload failed",
                                &err) == 0 &&
           no_err(&err),
       "set status killed with a reason");
    ok(catalog_image_get(cat, img->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->status, "killed") &&
           streq(got->fail_reason, "upload failed"),
       "status and reason read back");
    image_free(got);
    got = NULL;
    ok(catalog_image_set_status(cat, img->id, "active", NULL, &err) == 0 &&
           catalog_image_get(cat, img->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->status, "active") &&
           got->fail_reason == NULL,
       "a NULL reason clears it");
    image_free(got);
    got = NULL;
    ok(catalog_image_set_status(cat, img->id, "dancing", NULL, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "unknown status refused");
    ok(catalog_image_set_status(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                                "active", NULL, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "status of a missing image is not found");

    /* Whole-record update replaces the property set. */
    free(img->name);
    img->name = xstrdup("chg2");
    free(img->status);
    img->status = xstrdup("active");
    img->size = 4096;
    img->virtual_size = 8192;
    img->created_at = xstrdup("2000-01-01T00:00:00.000000Z");
    catalog_props_free(img->props, img->nprops);
    img->props = NULL;
    img->nprops = 0;
    image_prop_set(img, "only", "this", NULL);
    ok(catalog_image_update(cat, img, &err) == 0 && no_err(&err),
       "update image");
    ok(catalog_image_get(cat, img->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->name, "chg2") && got->size == 4096 &&
           got->virtual_size == 8192 && got->nprops == 1 &&
           streq(image_prop(got, "only"), "this") &&
           streq(got->created_at, created),
       "update replaced fields and properties, kept created_at");
    image_free(got);
    got = NULL;

    ok(catalog_image_delete(cat, img->id, &err) == 0 && no_err(&err),
       "delete image");
    ok(catalog_image_get(cat, img->id, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "deleted image is gone");
    ok(raw_int(db_path, "SELECT count(*) FROM image_properties "
                        "WHERE key = 'only'") == 0,
       "its properties are gone");
    ok(catalog_image_delete(cat, img->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "second delete is not found");
    util_uuid_new(img->id);
    ok(catalog_image_update(cat, img, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "update of a missing image is not found");
    image_free(img);
}

static void
test_image_users(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *kernel = new_image("vmlinuz", "active");
    struct image *snap = new_image("snap2", "active");
    struct image *gone = new_image("old", "deleted");
    struct instance *web1 = NULL, *web2 = NULL;
    char *users = NULL;
    CLEANUP_FREE char *want = NULL;

    image_prop_set(snap, "kernel_id", kernel->id, NULL);
    image_prop_set(gone, "kernel_id", kernel->id, NULL);
    ok(catalog_image_insert(cat, kernel, &err) == 0 &&
           catalog_image_insert(cat, snap, &err) == 0 &&
           catalog_image_insert(cat, gone, &err) == 0 && no_err(&err),
       "insert kernel, an image using it, and a deleted one");

    ok(catalog_image_users(cat, kernel->id, &users, &err) == 1 &&
           no_err(&err),
       "kernel has one user");
    want = util_strdup_printf("image snap2 (%s) via kernel_id", snap->id);
    ok(streq(users, want), "users: %s", users ? users : "NULL");
    free(users);
    users = NULL;

    web1 = new_instance("web1", snap->id);
    web2 = new_instance("web2", kernel->id);
    ok(catalog_instance_insert(cat, web1, &err) == 0 &&
           catalog_instance_insert(cat, web2, &err) == 0 && no_err(&err),
       "insert instances booted from snap2 and from the kernel");
    ok(catalog_image_users(cat, kernel->id, &users, &err) == 3 &&
           no_err(&err),
       "kernel now has three users");
    ok(users != NULL &&
           strstr(users, "image snap2") != NULL &&
           strstr(users, "instance web2") != NULL &&
           strstr(users, "instance web1") != NULL &&
           strstr(users, "via image snap2") != NULL,
       "users: %s", users ? users : "NULL");
    free(users);
    users = NULL;
    ok(catalog_image_users(cat, snap->id, &users, &err) == 1 &&
           no_err(&err) && strstr(users, "instance web1") != NULL,
       "snap2 has its instance as user: %s", users ? users : "NULL");
    free(users);
    users = NULL;
    ok(catalog_image_users(cat, gone->id, &users, &err) == 0 &&
           no_err(&err) && streq(users, ""),
       "unused image has no users");
    free(users);
    users = NULL;
    ok(catalog_image_users(cat, "not-an-id", NULL, &err) == 0 &&
           no_err(&err),
       "unknown ID has no users");

    catalog_instance_delete(cat, web1->id, NULL);
    catalog_instance_delete(cat, web2->id, NULL);
    catalog_image_delete(cat, snap->id, NULL);
    catalog_image_delete(cat, gone->id, NULL);
    ok(catalog_image_users(cat, kernel->id, NULL, &err) == 0 &&
           no_err(&err),
       "no users once they are gone");
    catalog_image_delete(cat, kernel->id, NULL);
    instance_free(web1);
    instance_free(web2);
    image_free(kernel);
    image_free(snap);
    image_free(gone);
}

/* ---- Instances -------------------------------------------------------- */

static void
test_instances(struct catalog *cat)
{
    struct error *err = NULL;
    struct instance *a = new_instance("srv-a", NULL);
    struct instance *b = new_instance("srv-b", NULL);
    struct instance *dup = new_instance("srv-a", NULL);
    struct instance *got = NULL;
    struct instance **list = NULL;
    size_t n = 0;

    instance_meta_set(a, "vm_state", "active", NULL);
    ok(catalog_instance_insert(cat, a, &err) == 0 &&
           catalog_instance_insert(cat, b, &err) == 0 && no_err(&err),
       "insert instances");
    ok(catalog_instance_insert(cat, dup, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "server name 'srv-a' already exists"),
       "instance names are unique");
    ok(catalog_instance_get(cat, a->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->name, "srv-a") && got->memory_mb == 512 &&
           got->cpus == 1 && got->image_id == NULL &&
           got->task_state == NULL &&
           streq(instance_meta(got, "vm_state"), "active") &&
           util_is_iso8601(got->created_at),
       "get instance");
    instance_free(got);
    got = NULL;
    ok(catalog_instance_find(cat, "srv-b", &got, &err) == 0 &&
           no_err(&err) && streq(got->id, b->id),
       "find instance by name");
    instance_free(got);
    got = NULL;
    ok(catalog_instance_find(cat, b->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->id, b->id),
       "find instance by ID");
    instance_free(got);
    got = NULL;
    ok(catalog_instance_find(cat, "srv-x", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no server named or with ID 'srv-x'"),
       "find of an unknown instance");
    ok(catalog_instance_get(cat, "srv-a", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no server with ID 'srv-a'"),
       "get with a name is not found");

    ok(catalog_instance_list(cat, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2 && streq(list[0]->id, b->id) &&
           streq(list[1]->id, a->id),
       "list instances newest first");
    instance_list_free(list, n);

    /* Task compare-and-set. */
    ok(catalog_instance_set_task(cat, a->id, NULL, "image_snapshot",
                                 &err) == 0 &&
           no_err(&err),
       "start a task on an idle instance");
    ok(catalog_instance_set_task(cat, a->id, NULL, "image_backup", &err) ==
               -1 &&
           err_is(&err, ERR_CONFLICT,
                  "server srv-a is busy: image_snapshot"),
       "a second task is refused");
    ok(catalog_instance_set_task(cat, a->id, "image_backup", NULL, &err) ==
               -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "clearing with the wrong expectation is refused");

    /* update must not change the task */
    free(a->name);
    a->name = xstrdup("srv-a2");
    a->memory_mb = 1024;
    catalog_props_free(a->meta, a->nmeta);
    a->meta = NULL;
    a->nmeta = 0;
    instance_meta_set(a, "k", "v", NULL);
    ok(catalog_instance_update(cat, a, &err) == 0 && no_err(&err),
       "update instance");
    ok(catalog_instance_get(cat, a->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->name, "srv-a2") && got->memory_mb == 1024 &&
           streq(got->task_state, "image_snapshot") && got->nmeta == 1 &&
           streq(instance_meta(got, "k"), "v"),
       "update changed fields and metadata, kept the task");
    instance_free(got);
    got = NULL;

    ok(catalog_instance_set_task(cat, a->id, "image_snapshot", NULL, &err) ==
               0 &&
           no_err(&err),
       "finish the task");
    ok(catalog_instance_set_task(cat, a->id, "image_snapshot", NULL, &err) ==
               -1 &&
           err_is(&err, ERR_CONFLICT,
                  "server srv-a2 is not busy with image_snapshot"),
       "finishing twice is refused");
    ok(catalog_instance_set_task(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                                 NULL, "x", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "task on a missing instance is not found");

    free(b->name);
    b->name = xstrdup("srv-a2");
    ok(catalog_instance_update(cat, b, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "server name 'srv-a2' already exists"),
       "rename onto a taken name is refused");

    ok(catalog_instance_delete(cat, a->id, &err) == 0 &&
           catalog_instance_delete(cat, b->id, &err) == 0 && no_err(&err),
       "delete instances");
    ok(catalog_instance_delete(cat, a->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "second delete is not found");
    ok(raw_int(db_path, "SELECT count(*) FROM instance_metadata") == 0,
       "their metadata is gone");
    instance_free(a);
    instance_free(b);
    instance_free(dup);
}

/* ---- Volumes ---------------------------------------------------------- */

static void
test_volumes(struct catalog *cat)
{
    static const char *const times[] = {
        "2026-02-01T00:00:00.000000Z", "2026-02-03T00:00:00.000000Z",
        "2026-02-02T00:00:00.000000Z",
    };
    struct error *err = NULL;
    struct image *base = new_image("vol-base", "active");
    struct volume *vol = new_volume("data", 10737418240LL);
    struct volume *other = new_volume("data", 1024);
    struct volume *third = new_volume("scratch", 2048);
    struct volume *got = NULL;
    struct volume **list = NULL;
    char upper[UTIL_UUID_LEN];
    CLEANUP_FREE char *created = NULL, *want = NULL;
    char *users = NULL;
    const char *msg;
    size_t n = 0, i;

    ok(catalog_image_insert(cat, base, &err) == 0 && no_err(&err),
       "insert an image to make volumes from");
    vol->file = xstrdup("/var/lib/vmsnap/volumes/data.qcow2");
    vol->source_image_id = xstrdup(base->id);
    vol->created_at = xstrdup(times[0]);
    volume_meta_set(vol, "purpose", "db", NULL);
    volume_meta_set(vol, "attached_mode", "rw", NULL);
    volume_meta_set(vol, "purpose", "database", NULL);
    ok(vol->nmeta == 2 && streq(volume_meta(vol, "purpose"), "database"),
       "in-memory volume metadata set replaces");
    ok(catalog_volume_insert(cat, vol, &err) == 0 && no_err(&err),
       "insert volume");
    ok(catalog_volume_get(cat, vol->id, &got, &err) == 0 && no_err(&err),
       "get volume by ID");
    if (got != NULL) {
        ok(streq(got->id, vol->id) && streq(got->name, "data") &&
               streq(got->status, "available") &&
               got->size == 10737418240LL && streq(got->file, vol->file) &&
               got->instance_id == NULL && got->device_index == -1 &&
               got->source_snapshot_id == NULL &&
               streq(got->source_image_id, base->id) &&
               streq(got->created_at, times[0]) &&
               streq(got->updated_at, times[0]),
           "volume fields read back");
        ok(got->nmeta == 2 && streq(got->meta[0].key, "attached_mode") &&
               streq(volume_meta(got, "purpose"), "database"),
           "volume metadata read back, sorted by key");
        created = xstrdup(got->created_at);
    }
    volume_free(got);
    got = NULL;
    for (i = 0; i < UTIL_UUID_LEN; i++) {
        upper[i] = (vol->id[i] >= 'a' && vol->id[i] <= 'f')
                       ? (char)(vol->id[i] - 'a' + 'A') : vol->id[i];
    }
    ok(catalog_volume_get(cat, upper, &got, &err) == 0 && no_err(&err) &&
           streq(got->id, vol->id),
       "get volume with an upper-case ID");
    volume_free(got);
    got = NULL;
    ok(catalog_volume_get(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427", &got,
                          &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no volume with ID '1b4e28ba-2fa1-41d2-883f-0016d3cca427'"),
       "get of a missing volume is not found");
    ok(catalog_volume_insert(cat, vol, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "insert of a taken volume ID is a conflict");

    /* Refused inserts leave nothing behind. */
    {
        struct volume *bad = new_volume("bad", 1);

        free(bad->status);
        bad->status = xstrdup("melting");
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, "unknown volume status 'melting'"),
           "insert with an unknown status is refused");
        free(bad->status);
        bad->status = xstrdup("in-use");
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert in status in-use is refused");
        free(bad->status);
        bad->status = xstrdup("creating");
        bad->instance_id = xstrdup(vol->id);
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert of an attached volume is refused");
        free(bad->instance_id);
        bad->instance_id = NULL;
        bad->size = -1;
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert with a negative size is refused");
        bad->size = 1;
        bad->source_image_id = xstrdup("vol-base");
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID,
                      "image ID 'vol-base' is not a UUID"),
           "insert with a bad image reference is refused");
        free(bad->source_image_id);
        bad->source_image_id = NULL;
        bad->source_snapshot_id =
            xstrdup("1b4e28ba-2fa1-41d2-883f-0016d3cca427");
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND,
                      "no volume snapshot with ID "
                      "'1b4e28ba-2fa1-41d2-883f-0016d3cca427'"),
           "insert from a missing snapshot is not found");
        ok(catalog_volume_get(cat, bad->id, &got, &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND, NULL),
           "nothing of a refused volume insert is left");
        volume_free(bad);
    }

    other->created_at = xstrdup(times[1]);
    third->created_at = xstrdup(times[2]);
    ok(catalog_volume_insert(cat, other, &err) == 0 &&
           catalog_volume_insert(cat, third, &err) == 0 && no_err(&err),
       "insert two more volumes");

    /* Find by name or ID. */
    ok(catalog_volume_find(cat, "scratch", &got, &err) == 0 &&
           no_err(&err) && streq(got->id, third->id),
       "find volume by unique name");
    volume_free(got);
    got = NULL;
    ok(catalog_volume_find(cat, vol->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->id, vol->id),
       "find volume by ID");
    volume_free(got);
    got = NULL;
    ok(catalog_volume_find(cat, "data", &got, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_CONFLICT,
       "find of a shared volume name is a conflict");
    msg = err ? error_msg(err) : "";
    want = util_strdup_printf("volume name 'data' is ambiguous: %s, %s",
                              other->id, vol->id);
    ok(streq(msg, want), "ambiguity lists both, newest first: %s", msg);
    error_free(err);
    err = NULL;
    ok(catalog_volume_find(cat, "nothing", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no volume named or with ID 'nothing'"),
       "find of an unknown volume is not found");

    /* List: newest first. */
    ok(catalog_volume_list(cat, NULL, &list, &n, &err) == 0 &&
           no_err(&err) && n == 3 && streq(list[0]->id, other->id) &&
           streq(list[1]->id, third->id) && streq(list[2]->id, vol->id) &&
           list[2]->nmeta == 2,
       "list volumes newest first, with metadata");
    volume_list_free(list, n);
    list = NULL;
    ok(catalog_volume_list(cat, vol->id, &list, &n, &err) == 0 &&
           no_err(&err) && n == 0,
       "no volumes are attached to an unknown server");
    volume_list_free(list, n);
    list = NULL;
    ok(catalog_volume_list(cat, "junk", &list, &n, &err) == 0 &&
           no_err(&err) && n == 0 && list == NULL,
       "nor to something that is not an ID");

    /* Whole-record update. */
    free(vol->name);
    vol->name = xstrdup("data2");
    vol->size *= 2;
    free(vol->created_at);
    vol->created_at = xstrdup("2000-01-01T00:00:00.000000Z");
    catalog_props_free(vol->meta, vol->nmeta);
    vol->meta = NULL;
    vol->nmeta = 0;
    volume_meta_set(vol, "only", "this", NULL);
    ok(catalog_volume_update(cat, vol, &err) == 0 && no_err(&err),
       "update volume");
    ok(catalog_volume_get(cat, vol->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->name, "data2") && got->size == 21474836480LL &&
           got->nmeta == 1 && streq(volume_meta(got, "only"), "this") &&
           streq(got->created_at, created) &&
           strcmp(got->updated_at, created) > 0,
       "update replaced fields and metadata, kept created_at");
    volume_free(got);
    got = NULL;
    ok(raw_int(db_path, "SELECT count(*) FROM volume_metadata "
                        "WHERE key = 'purpose'") == 0,
       "old metadata rows are gone");
    {
        struct volume *missing = new_volume("missing", 1);

        ok(catalog_volume_update(cat, missing, &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND, NULL),
           "update of a missing volume is not found");
        volume_free(missing);
    }

    /* Status. */
    ok(catalog_volume_set_status(cat, third->id, "error", &err) == 0 &&
           catalog_volume_get(cat, third->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->status, "error"),
       "set volume status");
    volume_free(got);
    got = NULL;
    ok(catalog_volume_set_status(cat, third->id, "in-use", &err) == -1 &&
           err_is(&err, ERR_INVALID,
                  "volume scratch is not attached, so it cannot be in-use"),
       "status in-use is refused for a detached volume");
    ok(catalog_volume_set_status(cat, third->id, "lost", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "unknown volume status refused");
    ok(catalog_volume_set_status(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                                 "error", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "status of a missing volume is not found");

    /* A volume made from an image is a user of the image. */
    ok(catalog_image_users(cat, base->id, &users, &err) == 1 &&
           no_err(&err),
       "the image has one user");
    free(want);
    want = util_strdup_printf("volume data2 (%s)", vol->id);
    ok(streq(users, want), "image users: %s", users ? users : "NULL");
    free(users);
    users = NULL;

    ok(catalog_volume_delete(cat, vol->id, &err) == 0 &&
           catalog_volume_delete(cat, other->id, &err) == 0 &&
           catalog_volume_delete(cat, third->id, &err) == 0 && no_err(&err),
       "delete volumes");
    ok(catalog_volume_get(cat, vol->id, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "deleted volume is gone");
    ok(catalog_volume_delete(cat, vol->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "second volume delete is not found");
    ok(raw_int(db_path, "SELECT count(*) FROM volume_metadata") == 0,
       "their metadata is gone");
    ok(catalog_image_users(cat, base->id, NULL, &err) == 0 && no_err(&err),
       "the image has no users left");
    catalog_image_delete(cat, base->id, NULL);
    image_free(base);
    volume_free(vol);
    volume_free(other);
    volume_free(third);
}

/* Check that the volumes attached to server ID are exactly WANT (N of
 * them) with device indexes INDEX, in that order.
 */
static bool
attached_are(struct catalog *cat, const char *id,
             struct volume *const *want, const int *index, size_t n)
{
    struct error *err = NULL;
    struct volume **list = NULL;
    size_t got = 0, i;
    bool good;

    good = catalog_volume_list(cat, id, &list, &got, &err) == 0 &&
           no_err(&err) && got == n;
    for (i = 0; good && i < n; i++) {
        good = streq(list[i]->id, want[i]->id) &&
               list[i]->device_index == index[i] &&
               streq(list[i]->instance_id, id) &&
               streq(list[i]->status, "in-use");
    }
    if (!good) {
        for (i = 0; i < got; i++) {
            diag("attached: %s index %d", list[i]->id,
                 list[i]->device_index);
        }
    }
    volume_list_free(list, got);
    return good;
}

static void
test_volume_attach(struct catalog *cat)
{
    struct error *err = NULL;
    struct instance *s1 = new_instance("att-1", NULL);
    struct instance *s2 = new_instance("att-2", NULL);
    struct volume *v[4];
    struct volume *noname = new_volume(NULL, 1);
    struct volume *got = NULL;
    CLEANUP_FREE char *want = NULL;
    int index = 0;
    size_t i;

    ok(catalog_instance_insert(cat, s1, &err) == 0 &&
           catalog_instance_insert(cat, s2, &err) == 0 && no_err(&err),
       "insert two servers");
    for (i = 0; i < 4; i++) {
        char name[16];

        snprintf(name, sizeof(name), "att-v%zu", i + 1);
        v[i] = new_volume(name, 1 << 30);
        ok(catalog_volume_insert(cat, v[i], &err) == 0 && no_err(&err),
           "insert volume %s", name);
    }

    for (i = 0; i < 3; i++) {
        index = 0;
        ok(catalog_volume_attach(cat, v[i]->id, s1->id, &index, &err) == 0 &&
               no_err(&err) && index == (int)i + 1,
           "attach %s gets device index %zu (got %d)", v[i]->name, i + 1,
           index);
    }
    {
        struct volume *want3[] = { v[0], v[1], v[2] };
        const int idx3[] = { 1, 2, 3 };

        ok(attached_are(cat, s1->id, want3, idx3, 3),
           "server lists its volumes by device index");
    }

    free(want);
    want = util_strdup_printf("volume att-v1 is already attached to "
                              "server %s", s1->id);
    index = 77;
    ok(catalog_volume_attach(cat, v[0]->id, s2->id, &index, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want) && index == 77,
       "attaching to another server is refused");
    ok(catalog_volume_attach(cat, v[0]->id, s1->id, NULL, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "attaching twice to the same server is refused");

    ok(catalog_volume_detach(cat, v[1]->id, s1->id, &err) == 0 &&
           no_err(&err),
       "detach the second volume");
    {
        struct volume *want2[] = { v[0], v[2] };
        const int idx2[] = { 1, 3 };

        ok(attached_are(cat, s1->id, want2, idx2, 2),
           "the others keep device indexes 1 and 3");
    }
    ok(catalog_volume_get(cat, v[1]->id, &got, &err) == 0 && no_err(&err) &&
           got->instance_id == NULL && got->device_index == -1 &&
           streq(got->status, "available"),
       "the detached volume is available, index -1");
    volume_free(got);
    got = NULL;
    free(want);
    want = util_strdup_printf("volume att-v2 is not attached to server %s",
                              s1->id);
    ok(catalog_volume_detach(cat, v[1]->id, s1->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "detaching twice is refused");
    ok(catalog_volume_detach(cat, v[2]->id, s2->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "detaching from the wrong server is refused");
    ok(catalog_volume_detach(cat, v[2]->id, "att-1", &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "detaching from a server name (not an ID) is refused");
    ok(catalog_volume_detach(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                             s1->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "detaching a missing volume is not found");

    ok(catalog_volume_attach(cat, v[1]->id, s1->id, &index, &err) == 0 &&
           no_err(&err) && index == 2,
       "attaching again takes the lowest free index, 2");
    ok(catalog_volume_attach(cat, v[3]->id, s2->id, &index, &err) == 0 &&
           no_err(&err) && index == 1,
       "indexes count per server: 1 on the other (got %d)", index);

    ok(catalog_volume_attach(cat, noname->id, s2->id, &index, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "attaching a volume not in the catalog is not found");
    ok(catalog_volume_insert(cat, noname, &err) == 0 && no_err(&err),
       "insert a volume without a name");
    ok(catalog_volume_attach(cat, noname->id,
                             "1b4e28ba-2fa1-41d2-883f-0016d3cca427", &index,
                             &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no server with ID "
                  "'1b4e28ba-2fa1-41d2-883f-0016d3cca427'"),
       "attaching to a missing server is not found");
    ok(catalog_volume_attach(cat, noname->id, NULL, &index, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "attaching without a server is refused");
    catalog_volume_set_status(cat, noname->id, "error", NULL);
    free(want);
    want = util_strdup_printf("volume %s is not available: error",
                              noname->id);
    ok(catalog_volume_attach(cat, noname->id, s2->id, &index, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a volume in error cannot be attached (named by its ID)");

    /* Attached volumes stay in-use and cannot go. */
    free(want);
    want = util_strdup_printf("volume att-v1 is attached to server %s",
                              s1->id);
    ok(catalog_volume_delete(cat, v[0]->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "an attached volume cannot be deleted");
    ok(catalog_volume_set_status(cat, v[0]->id, "available", &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "the status of an attached volume stays in-use");
    ok(catalog_volume_get(cat, v[0]->id, &got, &err) == 0 && no_err(&err),
       "read an attached volume");
    if (got != NULL) {
        free(got->name);
        got->name = xstrdup("att-v1b");
        free(got->instance_id);
        got->instance_id = NULL;
        got->device_index = 9;
        ok(catalog_volume_update(cat, got, &err) == 0 && no_err(&err),
           "update an attached volume");
        free(got->status);
        got->status = xstrdup("available");
        ok(catalog_volume_update(cat, got, &err) == -1 &&
               err_is(&err, ERR_CONFLICT, NULL),
           "update cannot make an attached volume available");
        volume_free(got);
        got = NULL;
    }
    ok(catalog_volume_get(cat, v[0]->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->name, "att-v1b") && streq(got->instance_id, s1->id) &&
           got->device_index == 1 && streq(got->status, "in-use"),
       "update kept the attachment");
    volume_free(got);
    got = NULL;

    /* Clean up: detach everything, then everything can go. */
    ok(catalog_volume_detach(cat, v[0]->id, s1->id, &err) == 0 &&
           catalog_volume_detach(cat, v[1]->id, s1->id, &err) == 0 &&
           catalog_volume_detach(cat, v[2]->id, s1->id, &err) == 0 &&
           catalog_volume_detach(cat, v[3]->id, s2->id, &err) == 0 &&
           no_err(&err),
       "detach all");
    ok(attached_are(cat, s1->id, NULL, NULL, 0), "nothing is attached");
    for (i = 0; i < 4; i++) {
        catalog_volume_delete(cat, v[i]->id, NULL);
        volume_free(v[i]);
    }
    catalog_volume_delete(cat, noname->id, NULL);
    volume_free(noname);
    ok(raw_int(db_path, "SELECT count(*) FROM volumes") == 0,
       "no volumes are left");
    catalog_instance_delete(cat, s1->id, NULL);
    catalog_instance_delete(cat, s2->id, NULL);
    instance_free(s1);
    instance_free(s2);
}

/* ---- Volume snapshots ------------------------------------------------- */

static void
test_volume_snapshots(struct catalog *cat)
{
    static const char *const times[] = {
        "2026-03-01T00:00:00.000000Z", "2026-03-02T00:00:00.000000Z",
        "2026-03-03T00:00:00.000000Z",
    };
    struct error *err = NULL;
    struct volume *vol = new_volume("snapped", 1 << 30);
    struct volume *from = new_volume("restored", 1 << 30);
    struct volume_snapshot *s[3];
    struct volume_snapshot *got = NULL;
    struct volume_snapshot **list = NULL;
    struct image *bdm = new_image("vm-snap", "active");
    struct catalog_match m[2];
    CLEANUP_FREE char *want = NULL;
    char json[256];
    size_t n = 0, i;

    ok(catalog_volume_insert(cat, vol, &err) == 0 && no_err(&err),
       "insert a volume to snapshot");
    for (i = 0; i < 3; i++) {
        char name[16];

        snprintf(name, sizeof(name), "vs-%zu", i + 1);
        s[i] = new_snapshot(name, vol->id);
        s[i]->created_at = xstrdup(times[i]);
        volume_snapshot_meta_set(s[i], "instance_snapshot_id",
                                 i < 2 ? "isnap-a" : "isnap-b", NULL);
        volume_snapshot_meta_set(s[i], "instance_uuid",
                                 i == 0 ? "srv-x" : "srv-y", NULL);
        ok(catalog_volume_snapshot_insert(cat, s[i], &err) == 0 &&
               no_err(&err),
           "insert snapshot %s", name);
    }
    s[0]->file = xstrdup("/var/lib/vmsnap/snapshots/vs-1.qcow2");
    ok(catalog_volume_snapshot_update(cat, s[0], &err) == 0 &&
           no_err(&err),
       "update a snapshot");
    ok(catalog_volume_snapshot_get(cat, s[0]->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->name, "vs-1") &&
           streq(got->volume_id, vol->id) &&
           streq(got->status, "available") && got->size == 1 << 20 &&
           streq(got->file, s[0]->file) &&
           streq(got->created_at, times[0]) && got->nmeta == 2 &&
           streq(volume_snapshot_meta(got, "instance_uuid"), "srv-x"),
       "snapshot fields and metadata read back");
    volume_snapshot_free(got);
    got = NULL;
    ok(catalog_volume_snapshot_insert(cat, s[0], &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "insert of a taken snapshot ID is a conflict");
    ok(catalog_volume_snapshot_get(cat, "vs-1", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no volume snapshot with ID 'vs-1'"),
       "get of a snapshot by name is not found");
    ok(catalog_volume_snapshot_find(cat, "vs-2", &got, &err) == 0 &&
           no_err(&err) && streq(got->id, s[1]->id),
       "find snapshot by name");
    volume_snapshot_free(got);
    got = NULL;
    ok(catalog_volume_snapshot_find(cat, s[2]->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->id, s[2]->id),
       "find snapshot by ID");
    volume_snapshot_free(got);
    got = NULL;
    ok(catalog_volume_snapshot_find(cat, "vs-9", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no volume snapshot named or with ID 'vs-9'"),
       "find of an unknown snapshot is not found");

    {
        struct volume_snapshot *bad = new_snapshot("bad", "not-a-volume");

        ok(catalog_volume_snapshot_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID,
                      "volume ID 'not-a-volume' is not a UUID"),
           "a snapshot needs a volume ID");
        free(bad->volume_id);
        bad->volume_id = xstrdup(vol->id);
        free(bad->status);
        bad->status = xstrdup("in-use");
        ok(catalog_volume_snapshot_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID,
                      "unknown volume snapshot status 'in-use'"),
           "snapshots are never in-use");
        volume_snapshot_free(bad);
    }

    /* Lists, all and filtered by metadata. */
    ok(catalog_volume_snapshot_list(cat, NULL, 0, &list, &n, &err) == 0 &&
           no_err(&err) && n == 3 && streq(list[0]->id, s[2]->id) &&
           streq(list[1]->id, s[1]->id) && streq(list[2]->id, s[0]->id) &&
           list[2]->nmeta == 2,
       "list snapshots newest first");
    volume_snapshot_list_free(list, n);
    list = NULL;
    m[0].key = "instance_snapshot_id";
    m[0].value = "isnap-a";
    ok(catalog_volume_snapshot_list(cat, m, 1, &list, &n, &err) == 0 &&
           no_err(&err) && n == 2 && streq(list[0]->id, s[1]->id) &&
           streq(list[1]->id, s[0]->id),
       "filter by instance_snapshot_id");
    volume_snapshot_list_free(list, n);
    list = NULL;
    m[1].key = "instance_uuid";
    m[1].value = "srv-x";
    ok(catalog_volume_snapshot_list(cat, m, 2, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, s[0]->id),
       "filter by two metadata items");
    volume_snapshot_list_free(list, n);
    list = NULL;
    m[0].value = "isnap-none";
    ok(catalog_volume_snapshot_list(cat, m, 1, &list, &n, &err) == 0 &&
           no_err(&err) && n == 0,
       "filter that matches no snapshot");
    volume_snapshot_list_free(list, n);
    list = NULL;
    m[0].value = NULL;
    ok(catalog_volume_snapshot_list(cat, m, 1, &list, &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL) && list == NULL,
       "a filter without a value is refused");
    ok(catalog_volume_snapshot_list(cat, NULL, 1, &list, &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "missing filters are refused");
    ok(catalog_volume_snapshot_list(cat, m, CATALOG_PROPS_MAX + 1, &list,
                                    &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "too many filters are refused");

    /* A volume with snapshots stays. */
    free(want);
    want = util_strdup_printf("volume snapped has snapshots: %s, %s, %s",
                              s[2]->id, s[1]->id, s[0]->id);
    ok(catalog_volume_delete(cat, vol->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a volume with snapshots cannot be deleted");

    /* A volume made from a snapshot keeps it. */
    catalog_volume_snapshot_set_status(cat, s[0]->id, "creating", NULL);
    from->source_snapshot_id = xstrdup(s[0]->id);
    free(want);
    want = xstrdup("volume snapshot vs-1 is not available: creating");
    ok(catalog_volume_insert(cat, from, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "no volume from a snapshot that is not available");
    ok(catalog_volume_snapshot_set_status(cat, s[0]->id, "available",
                                          &err) == 0 &&
           catalog_volume_insert(cat, from, &err) == 0 && no_err(&err),
       "create a volume from a snapshot");
    free(want);
    want = util_strdup_printf("volume snapshot vs-1 is in use by volume "
                              "restored (%s)", from->id);
    ok(catalog_volume_snapshot_delete(cat, s[0]->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a snapshot a volume was made from cannot be deleted");
    ok(catalog_volume_delete(cat, from->id, &err) == 0 &&
           catalog_volume_snapshot_delete(cat, s[0]->id, &err) == 0 &&
           no_err(&err),
       "once the volume is gone the snapshot can go");
    ok(catalog_volume_snapshot_get(cat, s[0]->id, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "the deleted snapshot is gone");

    /* An image whose block device mapping names a snapshot keeps it; the
     * ID may appear in any case inside the JSON.
     */
    {
        char upper[UTIL_UUID_LEN];

        for (i = 0; i < UTIL_UUID_LEN; i++) {
            upper[i] = (s[1]->id[i] >= 'a' && s[1]->id[i] <= 'f')
                           ? (char)(s[1]->id[i] - 'a' + 'A') : s[1]->id[i];
        }
        snprintf(json, sizeof(json),
                 "[{\"boot_index\": 0, \"source_type\": \"snapshot\", "
                 "\"snapshot_id\": \"%s\"}]", upper);
    }
    image_prop_set(bdm, "block_device_mapping", json, NULL);
    image_prop_set(bdm, "bdm_v2", "True", NULL);
    ok(catalog_image_insert(cat, bdm, &err) == 0 && no_err(&err),
       "insert an image whose block_device_mapping names a snapshot");
    free(want);
    want = util_strdup_printf("volume snapshot vs-2 is in use by image "
                              "vm-snap (%s)", bdm->id);
    ok(catalog_volume_snapshot_delete(cat, s[1]->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a snapshot an image maps cannot be deleted");
    ok(catalog_volume_snapshot_delete(cat, s[2]->id, &err) == 0 &&
           no_err(&err),
       "a snapshot nothing uses can be deleted");
    ok(catalog_image_set_status(cat, bdm->id, "deleted", NULL, &err) == 0 &&
           catalog_volume_snapshot_delete(cat, s[1]->id, &err) == 0 &&
           no_err(&err),
       "a deleted image no longer keeps it");
    ok(catalog_volume_snapshot_delete(cat, s[1]->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "second snapshot delete is not found");
    ok(raw_int(db_path, "SELECT count(*) FROM volume_snapshot_metadata") ==
           0,
       "snapshot metadata is gone");
    ok(catalog_volume_snapshot_set_status(cat, s[1]->id, "error", &err) ==
               -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "status of a missing snapshot is not found");
    ok(catalog_volume_snapshot_set_status(cat, s[1]->id, "gone", &err) ==
               -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "unknown snapshot status is refused");

    ok(catalog_volume_delete(cat, vol->id, &err) == 0 && no_err(&err),
       "the volume can go once its snapshots are gone");
    /* A snapshot may refer to a volume that no longer exists. */
    ok(catalog_volume_snapshot_insert(cat, s[2], &err) == 0 &&
           no_err(&err),
       "a snapshot of a deleted volume can be recorded");
    catalog_volume_snapshot_delete(cat, s[2]->id, NULL);
    catalog_image_delete(cat, bdm->id, NULL);
    image_free(bdm);
    for (i = 0; i < 3; i++) {
        volume_snapshot_free(s[i]);
    }
    volume_free(vol);
    volume_free(from);
}

/* ---- Transactions ----------------------------------------------------- */

static bool
image_exists(struct catalog *cat, const char *id)
{
    struct image *got = NULL;
    bool found = catalog_image_get(cat, id, &got, NULL) == 0;

    image_free(got);
    return found;
}

static void
test_transactions(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *a = new_image("tx-a", "active");
    struct image *b = new_image("tx-b", "active");
    struct catalog *other;

    ok(catalog_begin(cat, &err) == 0 &&
           catalog_image_insert(cat, a, &err) == 0 && no_err(&err),
       "insert inside a transaction");
    catalog_rollback(cat);
    ok(!image_exists(cat, a->id), "rollback undoes it");

    ok(catalog_begin(cat, &err) == 0 &&
           catalog_image_insert(cat, a, &err) == 0 &&
           catalog_begin(cat, &err) == 0 &&
           catalog_image_insert(cat, b, &err) == 0 && no_err(&err),
       "nested transactions");
    catalog_rollback(cat);
    ok(image_exists(cat, a->id) && !image_exists(cat, b->id),
       "inner rollback undoes only the inner part");
    ok(catalog_image_insert(cat, a, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "a failed call inside the transaction");
    ok(catalog_commit(cat, &err) == 0 && no_err(&err),
       "the outer transaction still commits");
    ok(image_exists(cat, a->id) && !image_exists(cat, b->id),
       "committed state is right");
    ok(catalog_commit(cat, &err) == -1 && err_is(&err, ERR_INVALID, NULL),
       "commit without a transaction is refused");

    /* A second connection waits for the write lock, then gives up. */
    other = catalog_open(db_path, &err);
    ok(other != NULL && no_err(&err), "open a second connection");
    if (other != NULL) {
        catalog_set_busy_timeout(other, 200);
        ok(catalog_begin(cat, &err) == 0 && no_err(&err),
           "first connection takes the write lock");
        ok(catalog_image_insert(other, b, &err) == -1 &&
               err_is(&err, ERR_CONFLICT, "catalog is busy"),
           "second connection's write is busy");
        ok(image_exists(other, a->id), "second connection can still read");
        catalog_commit(cat, NULL);
        ok(catalog_image_insert(other, b, &err) == 0 && no_err(&err),
           "write works once the lock is released");
        catalog_close(other);
    }
    ok(image_exists(cat, b->id), "first connection sees the write");
    catalog_image_delete(cat, a->id, NULL);
    catalog_image_delete(cat, b->id, NULL);
    image_free(a);
    image_free(b);
}

/* ---- Concurrency ------------------------------------------------------ */

/* Add one to the integer property KEY of image ID (read, then write). */
static int
bump(struct catalog *cat, const char *id, const char *key)
{
    struct image *img = NULL;
    int64_t v = 0;
    char buf[32];
    int r = -1;

    if (catalog_image_get(cat, id, &img, NULL) == 0 &&
        util_parse_int64(image_prop(img, key), &v, NULL) == 0) {
        snprintf(buf, sizeof(buf), "%" PRId64, v + 1);
        r = catalog_image_set_property(cat, id, key, buf, NULL);
    }
    image_free(img);
    return r;
}

/* One child of the concurrency test: CYCLES rounds of inserts, property
 * changes and deletes, a read-modify-write under the task lock of the
 * shared instance and one inside a transaction.  Writes the number of
 * times it held the task lock to FD.  Returns the exit status.
 */
static int
child_work(int me, const char *image_id, const char *inst_id, int fd)
{
    struct error *err = NULL;
    struct catalog *cat = catalog_open(db_path, &err);
    char task[32], name[32], val[16];
    int i, held = 0, failures = 0;

    if (cat == NULL) {
        fprintf(stderr, "child %d: %s\n", me, error_msg(err));
        return 1;
    }
    snprintf(task, sizeof(task), "child-%d", me);
    for (i = 0; i < CYCLES; i++) {
        struct image *img = new_image(NULL, "queued");

        snprintf(name, sizeof(name), "c%d-%d", me, i);
        img->name = xstrdup(name);
        snprintf(val, sizeof(val), "%d", i);
        image_prop_set(img, "owner", task, NULL);
        if (catalog_begin(cat, &err) < 0 ||
            catalog_image_insert(cat, img, &err) < 0 ||
            catalog_image_set_property(cat, img->id, "cycle", val, &err) <
                0 ||
            catalog_commit(cat, &err) < 0) {
            fprintf(stderr, "child %d: insert: %s\n", me,
                    err ? error_msg(err) : "?");
            error_free(err);
            err = NULL;
            catalog_rollback(cat);
            failures++;
        } else if (i % 2 == 1) {
            if (catalog_image_delete(cat, img->id, &err) < 0) {
                fprintf(stderr, "child %d: delete: %s\n", me,
                        error_msg(err));
                error_free(err);
                err = NULL;
                failures++;
            }
        } else if (catalog_image_set_status(cat, img->id, "active", NULL,
                                            &err) < 0) {
            fprintf(stderr, "child %d: status: %s\n", me, error_msg(err));
            error_free(err);
            err = NULL;
            failures++;
        }
        image_free(img);

        /* The task of the shared instance as a lock between processes:
         * the read-modify-write below is not in a transaction, so only
         * mutual exclusion keeps the count right.
         */
        if (catalog_instance_set_task(cat, inst_id, NULL, task, &err) == 0) {
            held++;
            if (bump(cat, image_id, "locked_count") < 0) {
                failures++;
            }
            if (catalog_instance_set_task(cat, inst_id, task, NULL, &err) <
                0) {
                fprintf(stderr, "child %d: release: %s\n", me,
                        error_msg(err));
                failures++;
            }
        } else if (error_get_class(err) != ERR_CONFLICT ||
                   strstr(error_msg(err), "is busy: child-") == NULL) {
            fprintf(stderr, "child %d: acquire: %s\n", me, error_msg(err));
            failures++;
        }
        error_free(err);
        err = NULL;

        /* The same read-modify-write inside BEGIN IMMEDIATE. */
        if (catalog_begin(cat, &err) < 0 ||
            bump(cat, image_id, "tx_count") < 0 ||
            catalog_commit(cat, &err) < 0) {
            fprintf(stderr, "child %d: tx: %s\n", me,
                    err ? error_msg(err) : "bump failed");
            error_free(err);
            err = NULL;
            catalog_rollback(cat);
            failures++;
        }
    }
    catalog_close(cat);
    if (write(fd, &held, sizeof(held)) != (ssize_t)sizeof(held)) {
        failures++;
    }
    return failures ? 1 : 0;
}

static void
test_concurrency(void)
{
    struct error *err = NULL;
    struct catalog *cat = catalog_open(db_path, &err);
    struct image *shared = new_image("shared", "active");
    struct instance *inst = new_instance("locked", NULL);
    struct image **list = NULL;
    struct image *got = NULL;
    struct image_filter f;
    pid_t pids[NCHILD];
    int fds[NCHILD][2];
    int i, good = 0, held_total = 0;
    size_t n = 0, j, mine = 0;
    char want[32];

    image_prop_set(shared, "locked_count", "0", NULL);
    image_prop_set(shared, "tx_count", "0", NULL);
    ok(cat != NULL && catalog_image_insert(cat, shared, &err) == 0 &&
           catalog_instance_insert(cat, inst, &err) == 0 && no_err(&err),
       "insert the shared image and instance");
    /* Children must not inherit an open connection (SQLite forbids using
     * one across fork, and it would show up as a leak in each child).
     */
    catalog_close(cat);

    fflush(stdout);
    for (i = 0; i < NCHILD; i++) {
        if (pipe(fds[i]) < 0) {
            abort();
        }
        pids[i] = fork();
        if (pids[i] == 0) {
            close(fds[i][0]);
            _exit(child_work(i, shared->id, inst->id, fds[i][1]));
        }
        close(fds[i][1]);
    }
    for (i = 0; i < NCHILD; i++) {
        int status = 0, held = 0;

        if (read(fds[i][0], &held, sizeof(held)) == (ssize_t)sizeof(held)) {
            held_total += held;
        }
        close(fds[i][0]);
        if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] &&
            WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            good++;
        }
    }
    ok(good == NCHILD, "all %d processes finished without errors", NCHILD);
    ok(held_total > 0, "the task lock was taken %d times", held_total);

    cat = catalog_open(db_path, &err);
    if (!ok(cat != NULL && no_err(&err), "open again to check")) {
        image_free(shared);
        instance_free(inst);
        return;
    }
    ok(catalog_check(cat, &err) == 0 && no_err(&err),
       "catalog passes its checks");
    ok(strcmp(raw_text(db_path, "PRAGMA integrity_check"), "ok") == 0,
       "PRAGMA integrity_check is ok");
    ok(raw_int(db_path, "SELECT count(*) FROM image_properties AS p "
                        "LEFT JOIN images AS i ON i.id = p.image_id "
                        "WHERE i.id IS NULL") == 0,
       "no orphaned properties");

    memset(&f, 0, sizeof(f));
    f.status = "active";
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err),
       "list after the storm");
    for (j = 0; j < n; j++) {
        if (list[j]->name && list[j]->name[0] == 'c' &&
            strchr(list[j]->name, '-') && image_prop(list[j], "owner") &&
            image_prop(list[j], "cycle") && list[j]->nprops == 2) {
            mine++;
        }
    }
    image_list_free(list, n);
    ok(mine == (size_t)NCHILD * ((CYCLES + 1) / 2),
       "kept images: %zu, expected %d", mine, NCHILD * ((CYCLES + 1) / 2));
    ok(raw_int(db_path, "SELECT count(*) FROM images WHERE name GLOB 'c*-*'")
           == NCHILD * ((CYCLES + 1) / 2),
       "no deleted image is left");
    ok(raw_int(db_path, "SELECT count(*) FROM image_properties "
                        "WHERE key = 'cycle'") ==
           NCHILD * ((CYCLES + 1) / 2),
       "property rows match the images");

    ok(catalog_image_get(cat, shared->id, &got, &err) == 0 && no_err(&err),
       "read the shared counters");
    snprintf(want, sizeof(want), "%d", NCHILD * CYCLES);
    ok(got && streq(image_prop(got, "tx_count"), want),
       "transactional read-modify-write lost nothing: %s of %s",
       got ? image_prop(got, "tx_count") : "?", want);
    snprintf(want, sizeof(want), "%d", held_total);
    ok(got && streq(image_prop(got, "locked_count"), want),
       "task-locked read-modify-write lost nothing: %s of %s",
       got ? image_prop(got, "locked_count") : "?", want);
    image_free(got);
    {
        struct instance *ig = NULL;

        ok(catalog_instance_get(cat, inst->id, &ig, &err) == 0 &&
               no_err(&err) && ig->task_state == NULL,
           "the shared instance is idle again");
        instance_free(ig);
    }
    catalog_close(cat);
    image_free(shared);
    instance_free(inst);
}

/* Several processes open a catalog file that does not exist yet at the
 * same moment: exactly one creates the schema, all of them work.
 */
static void
test_concurrent_create(void)
{
    CLEANUP_FREE char *path = util_path_join(tmpdir, "race.db");
    pid_t pids[NCHILD];
    int gate[2];
    int i, good = 0;
    char c;

    if (path == NULL || pipe(gate) < 0) {
        abort();
    }
    fflush(stdout);
    for (i = 0; i < NCHILD; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            struct error *err = NULL;
            struct catalog *cat;
            struct image *img = new_image("race", "active");
            int r;

            close(gate[1]);
            /* Wait until the parent closes the gate's write end. */
            while (read(gate[0], &c, 1) < 0 && errno == EINTR) {
            }
            cat = catalog_open(path, &err);
            r = cat != NULL && catalog_image_insert(cat, img, &err) == 0;
            if (!r) {
                fprintf(stderr, "race child: %s\n",
                        err ? error_msg(err) : "?");
            }
            catalog_close(cat);
            image_free(img);
            error_free(err);
            _exit(r ? 0 : 1);
        }
    }
    close(gate[0]);
    close(gate[1]);
    for (i = 0; i < NCHILD; i++) {
        int status = 0;

        if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] &&
            WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            good++;
        }
    }
    ok(good == NCHILD, "%d processes created and used one new catalog",
       NCHILD);
    ok(raw_int(path, "SELECT count(*) FROM images") == NCHILD,
       "all their images are there");
    ok(raw_int(path, "PRAGMA user_version") == SCHEMA_VERSION,
       "schema made once");
}

/* Wait until the parent closes the write end of GATE. */
static void
wait_gate(int gate)
{
    char c;

    while (read(gate, &c, 1) < 0 && errno == EINTR) {
    }
}

/* Child exit statuses of the attach races. */
#define RACE_WON 0   /* attached */
#define RACE_LOST 3  /* refused: already attached */
#define RACE_FAILED 1

/* One racer: open the catalog, wait at the gate, attach VOLUME_ID to
 * SERVER_ID.  Writes the device index it got to FD when it wins.
 */
static int
race_attach(const char *volume_id, const char *server_id, int gate, int fd)
{
    struct error *err = NULL;
    struct catalog *cat = catalog_open(db_path, &err);
    int index = -1, r = RACE_FAILED;

    if (cat == NULL) {
        fprintf(stderr, "racer: %s\n", error_msg(err));
        error_free(err);
        return RACE_FAILED;
    }
    wait_gate(gate);
    if (catalog_volume_attach(cat, volume_id, server_id, &index, &err) ==
        0) {
        r = write(fd, &index, sizeof(index)) == (ssize_t)sizeof(index)
                ? RACE_WON : RACE_FAILED;
    } else if (error_get_class(err) == ERR_CONFLICT &&
               strstr(error_msg(err), "is already attached to server") !=
                   NULL) {
        r = RACE_LOST;
    } else {
        fprintf(stderr, "racer: %s\n", error_msg(err));
    }
    error_free(err);
    catalog_close(cat);
    return r;
}

/* Start one racer per entry of VOLUMES and SERVERS (N of them), let them
 * go at once, and collect their exit statuses into STATUS and the indexes
 * the winners got into INDEX (-1 for losers).
 */
static void
run_racers(const char *const *volumes, const char *const *servers, int n,
           int *status, int *index)
{
    pid_t pids[NCHILD];
    int fds[NCHILD][2];
    int gate[2];
    int i;

    if (n > NCHILD || pipe(gate) < 0) {
        abort();
    }
    fflush(stdout);
    for (i = 0; i < n; i++) {
        if (pipe(fds[i]) < 0) {
            abort();
        }
        pids[i] = fork();
        if (pids[i] == 0) {
            close(gate[1]);
            close(fds[i][0]);
            _exit(race_attach(volumes[i], servers[i], gate[0], fds[i][1]));
        }
        close(fds[i][1]);
    }
    /* Give every racer time to open the catalog, then open the gate. */
    usleep(50 * 1000);
    close(gate[0]);
    close(gate[1]);
    for (i = 0; i < n; i++) {
        int st = 0;

        index[i] = -1;
        if (read(fds[i][0], &index[i], sizeof(index[i])) !=
            (ssize_t)sizeof(index[i])) {
            index[i] = -1;
        }
        close(fds[i][0]);
        status[i] = RACE_FAILED;
        if (pids[i] > 0 && waitpid(pids[i], &st, 0) == pids[i] &&
            WIFEXITED(st)) {
            status[i] = WEXITSTATUS(st);
        }
    }
}

/* Two processes race to attach the same volume to different servers,
 * ROUNDS times: exactly one wins each round, and the catalog agrees with
 * it.  Then NCHILD processes attach different volumes to one server at
 * once: each gets its own device index.
 */
static void
test_attach_race(void)
{
    struct error *err = NULL;
    struct catalog *cat = catalog_open(db_path, &err);
    struct instance *srv[2];
    struct volume *vols[NCHILD];
    const char *volumes[NCHILD], *servers[NCHILD];
    int status[NCHILD], index[NCHILD];
    int round, i, clean = 0, bad = 0;
    bool seen[NCHILD + 1] = { false };

    if (!ok(cat != NULL && no_err(&err), "open for the attach race")) {
        return;
    }
    for (i = 0; i < 2; i++) {
        char name[16];

        snprintf(name, sizeof(name), "race-srv%d", i);
        srv[i] = new_instance(name, NULL);
        catalog_instance_insert(cat, srv[i], &err);
    }
    for (i = 0; i < NCHILD; i++) {
        char name[16];

        snprintf(name, sizeof(name), "race-vol%d", i);
        vols[i] = new_volume(name, 1 << 20);
        catalog_volume_insert(cat, vols[i], &err);
    }
    ok(no_err(&err), "insert servers and volumes to race for");
    /* Children must not inherit an open connection. */
    catalog_close(cat);

    for (round = 0; round < ROUNDS; round++) {
        int won = -1, winners = 0, losers = 0;
        struct volume *got = NULL;

        volumes[0] = volumes[1] = vols[0]->id;
        servers[0] = srv[0]->id;
        servers[1] = srv[1]->id;
        run_racers(volumes, servers, 2, status, index);
        for (i = 0; i < 2; i++) {
            if (status[i] == RACE_WON) {
                winners++;
                won = i;
            } else if (status[i] == RACE_LOST) {
                losers++;
            }
        }
        cat = catalog_open(db_path, &err);
        if (winners == 1 && losers == 1 && cat != NULL &&
            catalog_volume_get(cat, vols[0]->id, &got, &err) == 0 &&
            streq(got->instance_id, srv[won]->id) &&
            got->device_index == 1 && index[won] == 1 &&
            catalog_volume_detach(cat, vols[0]->id, srv[won]->id, &err) ==
                0) {
            clean++;
        } else {
            diag("round %d: %d winners, %d losers, statuses %d %d", round,
                 winners, losers, status[0], status[1]);
            if (err != NULL) {
                diag("%s", error_msg(err));
            }
            bad++;
        }
        error_free(err);
        err = NULL;
        volume_free(got);
        catalog_close(cat);
    }
    ok(clean == ROUNDS && bad == 0,
       "exactly one of two racers attached the volume, %d rounds of %d",
       clean, ROUNDS);

    for (i = 0; i < NCHILD; i++) {
        volumes[i] = vols[i]->id;
        servers[i] = srv[0]->id;
    }
    run_racers(volumes, servers, NCHILD, status, index);
    for (i = 0; i < NCHILD; i++) {
        if (status[i] == RACE_WON && index[i] >= 1 && index[i] <= NCHILD &&
            !seen[index[i]]) {
            seen[index[i]] = true;
        } else {
            diag("racer %d: status %d, index %d", i, status[i], index[i]);
            bad++;
        }
    }
    ok(bad == 0, "%d volumes attached at once got indexes 1 to %d",
       NCHILD, NCHILD);

    cat = catalog_open(db_path, &err);
    ok(cat != NULL && no_err(&err) && catalog_check(cat, &err) == 0 &&
           no_err(&err) &&
           raw_int(db_path, "SELECT count(DISTINCT device_index) FROM "
                            "volumes WHERE instance_id IS NOT NULL") ==
               NCHILD,
       "the catalog agrees and passes its checks");
    for (i = 0; cat != NULL && i < NCHILD; i++) {
        catalog_volume_detach(cat, vols[i]->id, srv[0]->id, NULL);
        catalog_volume_delete(cat, vols[i]->id, NULL);
    }
    for (i = 0; i < NCHILD; i++) {
        volume_free(vols[i]);
    }
    for (i = 0; i < 2; i++) {
        if (cat != NULL) {
            catalog_instance_delete(cat, srv[i]->id, NULL);
        }
        instance_free(srv[i]);
    }
    catalog_close(cat);
}

int
main(void)
{
    const char *base = getenv("TMPDIR");
    struct error *err = NULL;
    struct catalog *cat;

    snprintf(tmpdir, sizeof(tmpdir), "%s/vmsnap-test-catalog.XXXXXX",
             base && *base && strlen(base) < 30 ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    db_path = util_path_join(tmpdir, "catalog.db");
    if (db_path == NULL) {
        abort();
    }

    test_open();
    test_migration();
    cat = catalog_open(db_path, &err);
    if (cat == NULL) {
        printf("Bail out! %s\n", error_msg(err));
        error_free(err);
        remove_tmpdir();
        return 1;
    }
    test_image_basics(cat);
    test_image_find(cat);
    test_image_list(cat);
    test_image_changes(cat);
    test_image_users(cat);
    test_instances(cat);
    test_volumes(cat);
    test_volume_attach(cat);
    test_volume_snapshots(cat);
    test_transactions(cat);
    catalog_close(cat);
    test_concurrency();
    test_concurrent_create();
    test_attach_race();

    remove_tmpdir();
    free(db_path);
    return tap_done();
}
