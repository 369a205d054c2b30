/* Unit tests of the catalog: opening, schema migrations, transactions,
 * on a database file in a temporary directory or, with
 * VMSNAP_TEST_CATALOG, on PostgreSQL (test-catalog.h).  The last tests
 * fork several processes that work on the same catalog at once and then
 * check that nothing was lost or damaged.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "cleanup.h"
#include "db.h"
#include "error.h"
#include "sock.h"
#include "tap.h"
#include "test-catalog.h"
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

/* ---- Opening ---------------------------------------------------------- */

/* What only an SQLite catalog has: a file, its journal mode. */
static void
test_open_sqlite(void)
{
    struct error *err = NULL;
    struct catalog *cat;
    CLEANUP_FREE char *junk = util_path_join(tmpdir, "junk.db");
    FILE *f;

    ok(strcmp(raw_text(db_path, "PRAGMA journal_mode"), "wal") == 0,
       "journal mode is WAL");
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
    cat = catalog_open("/nonexistent-dir/x/catalog.db", &err);
    ok(cat == NULL && err_is(&err, ERR_IO, NULL),
       "open in a missing directory fails");
}

/* What only a PostgreSQL catalog has: a server to reach, a database that
 * must exist, a password that no message shows.
 */
static void
test_open_pg(void)
{
    struct error *err = NULL;
    struct catalog *cat;
    int64_t t0;

    bool good;

    t0 = sock_now_ms();
    cat = catalog_open("host=127.0.0.1 port=1 dbname=vmsnap user=x "
                       "password=s3cret connect_timeout=2", &err);
    good = cat == NULL && err != NULL && error_get_class(err) == ERR_IO &&
           strncmp(error_msg(err), "cannot connect to catalog "
                   "postgresql://x@127.0.0.1:1/vmsnap: ", 54) == 0 &&
           strstr(error_msg(err), "s3cret") == NULL;
    ok(good, "no server: a clear error that names it without the password "
       "(%s)", err ? error_msg(err) : "none");
    ok(sock_now_ms() - t0 < 5000, "and it came at once");
    error_free(err);
    err = NULL;
    catalog_close(cat);
    {
        CLEANUP_FREE char *conn = util_strdup_printf(
            "%s dbname=vmsnap_no_such_db", db_path);

        cat = catalog_open(conn, &err);
        ok(cat == NULL && err_is(&err, ERR_IO, NULL),
           "open of a database that does not exist fails");
        catalog_close(cat);
    }
    cat = catalog_open("host='unterminated", &err);
    ok(cat == NULL && err_is(&err, ERR_INVALID, NULL),
       "a malformed connection string is refused");
    catalog_close(cat);
}

static void
test_open(void)
{
    struct error *err = NULL;
    struct catalog *cat;
    CLEANUP_FREE char *other = tc_target("other");

    cat = catalog_open(db_path, &err);
    ok(cat != NULL && no_err(&err), "open creates a new catalog");
    ok(catalog_check(cat, &err) == 0 && no_err(&err), "new catalog checks");
    ok(catalog_is_shared(cat) == tc_pg, "shared exactly when PostgreSQL");
    catalog_close(cat);
    ok(raw_schema_version(db_path) == SCHEMA_VERSION, "schema version %d",
       SCHEMA_VERSION);
    cat = catalog_open(db_path, &err);
    ok(cat != NULL && no_err(&err), "open again");
    catalog_close(cat);
    if (tc_pg) {
        test_open_pg();
    } else {
        test_open_sqlite();
    }

    raw_int(other, "CREATE TABLE t (x INTEGER)");
    cat = catalog_open(other, &err);
    ok(cat == NULL && err_is(&err, ERR_INVALID, NULL),
       "open of another program's database fails");
    catalog_close(cat);

    raw_set_schema_version(db_path, 99);
    cat = catalog_open(db_path, &err);
    ok(cat == NULL && err_is(&err, ERR_INVALID, NULL),
       "open of a newer schema fails");
    catalog_close(cat);
    raw_set_schema_version(db_path, SCHEMA_VERSION);
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
    CLEANUP_FREE char *path = tc_target("v1");
    struct error *err = NULL;
    struct catalog *cat;
    struct image *img = NULL;
    struct instance *inst = NULL;
    struct volume *vol = new_volume("after-upgrade", 1 << 20);
    bool made;

    if (path == NULL) {
        abort();
    }
    made = raw_make_old(path, v1_schema, 1) &&
           raw_make_old(path,
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
                        "'2025-01-01T00:00:00.000000Z', NULL);", 1);
    ok(made && raw_schema_version(path) == 1,
       "a version 1 catalog made with the old schema");

    cat = catalog_open(path, &err);
    ok(cat != NULL && no_err(&err), "open upgrades it");
    if (cat == NULL) {
        volume_free(vol);
        return;
    }
    ok(raw_schema_version(path) == SCHEMA_VERSION,
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
           raw_schema_version(path) == SCHEMA_VERSION,
       "reopening does not upgrade again");
    catalog_close(cat);
    volume_free(vol);
}

/* The schema version 2 added (vmsnap before version 3 of the schema):
 * with v1_schema, exactly what that vmsnap created.
 */
static const char v2_schema[] =
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
    "  ON volume_snapshot_metadata (key, value);"
    "PRAGMA user_version = 2;";

#define V2_A "aaaaaaaa-0000-4000-8000-000000000001"
#define V2_B "aaaaaaaa-0000-4000-8000-000000000002"
#define V2_C "aaaaaaaa-0000-4000-8000-000000000003"
#define V2_D "aaaaaaaa-0000-4000-8000-000000000004"
#define V2_E "aaaaaaaa-0000-4000-8000-000000000005"
#define V2_VOL "bbbbbbbb-0000-4000-8000-000000000001"
#define V2_VOL2 "bbbbbbbb-0000-4000-8000-000000000002"
#define V2_S1 "cccccccc-0000-4000-8000-000000000001"
#define V2_S2 "cccccccc-0000-4000-8000-000000000002"
#define V2_S3 "cccccccc-0000-4000-8000-000000000003"
#define V2_SRV "dddddddd-0000-4000-8000-000000000001"
#define V2_T0 "'2025-05-01T00:00:00.000000Z'"
#define V2_T1 "'2025-06-01T00:00:00.000000Z'"

/* What the vmsnap of schema 2 had written: images A and B made at the
 * same time (A first), an instance-level snapshot C whose
 * block_device_mapping names snapshots 1 and 2 (2 in upper case, with a
 * member bdm.h ignores), an image D whose file is outside the data
 * directory and whose block_device_mapping bdm_parse refuses (it names
 * snapshot 3 without device, volume or size), a deleted image E whose
 * valid block_device_mapping names snapshot 3, a volume, its snapshots
 * and a server.
 */
static const char v2_rows[] =
    "INSERT INTO images (id, name, status, disk_format, size, created_at, "
    "updated_at, file) VALUES "
    "('" V2_A "', 'a', 'active', 'qcow2', 1, " V2_T1 ", " V2_T1 ", "
    "'/var/lib/vmsnap/images/" V2_A ".qcow2'),"
    "('" V2_B "', 'b', 'active', 'raw', 2, " V2_T1 ", " V2_T1 ", "
    "'/var/lib/vmsnap/images/" V2_B ".raw'),"
    "('" V2_C "', 'c', 'active', 'qcow2', 3, " V2_T0 ", " V2_T0 ", "
    "'/var/lib/vmsnap/images/" V2_C ".qcow2'),"
    "('" V2_D "', 'd', 'active', 'qcow2', 4, " V2_T0 ", " V2_T0 ", "
    "'/srv/elsewhere/d.qcow2'),"
    "('" V2_E "', 'e', 'deleted', 'qcow2', 5, " V2_T0 ", " V2_T0 ", "
    "NULL);"
    "INSERT INTO image_properties VALUES "
    "('" V2_A "', 'os_distro', 'debian'),"
    "('" V2_C "', 'block_device_mapping', '[{\"device_index\": 1, "
    "\"volume_id\": \"" V2_VOL "\", \"snapshot_id\": \"" V2_S1 "\", "
    "\"size\": 1073741824, \"volume_name\": \"data\"}, "
    "{\"device_index\": 2, \"volume_id\": \"" V2_VOL2 "\", "
    "\"snapshot_id\": \"CCCCCCCC-0000-4000-8000-000000000002\", "
    "\"size\": 2147483648, \"source_type\": \"snapshot\"}]'),"
    "('" V2_D "', 'block_device_mapping', "
    "'[{\"snapshot_id\": \"" V2_S3 "\"}]'),"
    "('" V2_E "', 'block_device_mapping', '[{\"device_index\": 1, "
    "\"volume_id\": \"" V2_VOL "\", \"snapshot_id\": \"" V2_S3 "\", "
    "\"size\": 1073741824}]');"
    "INSERT INTO volumes (id, name, status, size, created_at, updated_at) "
    "VALUES ('" V2_VOL "', 'data', 'available', 1073741824, " V2_T0 ", "
    V2_T0 ");"
    "INSERT INTO volume_snapshots VALUES "
    "('" V2_S1 "', 's1', '" V2_VOL "', 'available', 1073741824, "
    "'/var/lib/vmsnap/volume-snapshots/" V2_S1 ".qcow2', " V2_T0 ", "
    V2_T0 "),"
    "('" V2_S2 "', 's2', '" V2_VOL "', 'available', 1073741824, "
    "'/var/lib/vmsnap/volume-snapshots/" V2_S1 ".qcow2', " V2_T0 ", "
    V2_T0 "),"
    "('" V2_S3 "', 's3', '" V2_VOL "', 'available', 1073741824, NULL, "
    V2_T0 ", " V2_T0 ");"
    "INSERT INTO instances VALUES ('" V2_SRV "', 'srv', '" V2_A "', 512, "
    "1, " V2_T0 ", " V2_T0 ", NULL);";

/* Make a catalog of schema version 2 with its rows at PATH. */
static bool
make_v2(const char *path)
{
    return raw_make_old(path, v1_schema, 1) &&
           raw_make_old(path, v2_schema, 2) &&
           raw_make_old(path, v2_rows, 2) &&
           raw_schema_version(path) == 2;
}

/* Check the records of make_v2 in CAT (the file PATH), upgraded. */
static void
check_v2_records(struct catalog *cat, const char *path, const char *project)
{
    struct error *err = NULL;
    struct image *img = NULL;
    struct image **list = NULL;
    struct volume_snapshot *snap = NULL;
    struct instance *inst = NULL;
    struct volume *vol = NULL;
    size_t n = 0, i, pos_a = 0, pos_b = 0;

    ok(catalog_image_list(cat, NULL, &list, &n, &err) == 0 && no_err(&err) &&
           n == 5,
       "the five images are there");
    for (i = 0; i < n; i++) {
        pos_a = streq(list[i]->id, V2_A) ? i + 1 : pos_a;
        pos_b = streq(list[i]->id, V2_B) ? i + 1 : pos_b;
    }
    ok(pos_b == 1 && pos_a == 2,
       "images made at the same time keep their order of insertion");
    image_list_free(list, n);

    ok(catalog_image_get(cat, V2_A, &img, &err) == 0 && no_err(&err) &&
           streq(img->location, "file:images/" V2_A ".qcow2") &&
           streq(img->file, "/var/lib/vmsnap/images/" V2_A ".qcow2") &&
           streq(img->owner, project) && streq(img->visibility, "shared") &&
           !img->protected && img->ntags == 0 && img->nbdm == 0 &&
           streq(image_prop(img, "os_distro"), "debian"),
       "image a: location from its file, owner, defaults, properties");
    image_free(img);
    img = NULL;
    ok(catalog_image_get(cat, V2_B, &img, &err) == 0 && no_err(&err) &&
           streq(img->location, "file:images/" V2_B ".raw"),
       "the location keeps the file's format");
    image_free(img);
    img = NULL;
    ok(catalog_image_get(cat, V2_D, &img, &err) == 0 && no_err(&err) &&
           img->location == NULL && streq(img->file, "/srv/elsewhere/d.qcow2"),
       "a file outside the data directory gets no location");
    ok(img != NULL && img->nbdm == 0 &&
           streq(image_prop(img, "block_device_mapping"),
                 "[{\"snapshot_id\": \"" V2_S3 "\"}]"),
       "a block_device_mapping bdm_parse refuses stays, mapping nothing");
    image_free(img);
    img = NULL;

    ok(catalog_image_get(cat, V2_C, &img, &err) == 0 && no_err(&err) &&
           img->nbdm == 2 && img->bdm[0].device_index == 1 &&
           streq(img->bdm[0].snapshot_id, V2_S1) &&
           streq(img->bdm[0].volume_id, V2_VOL) &&
           img->bdm[0].size == 1073741824 &&
           streq(img->bdm[0].volume_name, "data") &&
           img->bdm[1].device_index == 2 &&
           streq(img->bdm[1].snapshot_id, V2_S2) &&
           streq(img->bdm[1].volume_id, V2_VOL2) &&
           img->bdm[1].size == 2147483648LL &&
           img->bdm[1].volume_name == NULL &&
           image_prop(img, "block_device_mapping") == NULL,
       "block_device_mapping moved into the relation, property removed");
    image_free(img);
    img = NULL;
    ok(catalog_image_get(cat, V2_E, &img, &err) == 0 && no_err(&err) &&
           img->nbdm == 1 && streq(img->bdm[0].snapshot_id, V2_S3) &&
           img->nprops == 0,
       "also for a deleted image");
    image_free(img);
    img = NULL;
    ok(raw_int(path, "SELECT count(*) FROM image_properties "
               "WHERE key = 'block_device_mapping'") == 1,
       "no other copy of a mapping remains");

    ok(catalog_volume_snapshot_get(cat, V2_S1, &snap, &err) == 0 &&
           no_err(&err) &&
           streq(snap->location, "file:volume-snapshots/" V2_S1 ".qcow2") &&
           streq(snap->project_id, project),
       "snapshot 1: location and project");
    volume_snapshot_free(snap);
    snap = NULL;
    ok(catalog_volume_snapshot_get(cat, V2_S2, &snap, &err) == 0 &&
           no_err(&err) && snap->location == NULL,
       "a file named for another snapshot gives no location");
    volume_snapshot_free(snap);
    snap = NULL;
    ok(catalog_instance_get(cat, V2_SRV, &inst, &err) == 0 && no_err(&err) &&
           streq(inst->project_id, project) && inst->host == NULL &&
           inst->user_id == NULL,
       "the server belongs to the default project");
    instance_free(inst);
    ok(catalog_volume_get(cat, V2_VOL, &vol, &err) == 0 && no_err(&err) &&
           streq(vol->project_id, project),
       "the volume too");
    volume_free(vol);
}

static void
test_migration_v2(void)
{
    CLEANUP_FREE char *path = tc_target("v2");
    CLEANUP_FREE char *want = NULL;
    struct error *err = NULL;
    struct catalog *cat;
    struct image *late = new_image("late", "active");
    struct image **list = NULL;
    struct project *p = NULL;
    char project[UTIL_UUID_LEN] = "";
    size_t n = 0;

    if (path == NULL) {
        abort();
    }
    ok(make_v2(path), "a version 2 catalog made with the old schema");
    cat = catalog_open(path, &err);
    ok(cat != NULL && no_err(&err), "open upgrades it");
    if (cat == NULL) {
        image_free(late);
        return;
    }
    ok(raw_schema_version(path) == SCHEMA_VERSION &&
           catalog_check(cat, &err) == 0 && no_err(&err),
       "schema version %d, and it checks", SCHEMA_VERSION);
    ok(catalog_project_default(cat, project, &err) == 0 && no_err(&err) &&
           catalog_project_get(cat, project, &p, &err) == 0 &&
           no_err(&err) && streq(p->name, "admin") && p->enabled,
       "a default project named admin");
    project_free(p);
    check_v2_records(cat, path, project);

    want = util_strdup_printf("volume snapshot s1 is in use by image c (%s)",
                              V2_C);
    ok(catalog_volume_snapshot_delete(cat, V2_S1, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a snapshot the upgraded image maps stays");
    ok(catalog_volume_snapshot_delete(cat, V2_S2, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "also when the mapping wrote its ID in upper case");
    ok(catalog_volume_snapshot_delete(cat, V2_S3, &err) == 0 && no_err(&err),
       "a snapshot only a deleted image and a refused property name can go");
    ok(catalog_image_unset_property(cat, V2_D, "block_device_mapping",
                                    &err) == 0 &&
           no_err(&err) &&
           raw_int(path, "SELECT count(*) FROM image_properties "
                   "WHERE key = 'block_device_mapping'") == 0,
       "the refused property can be removed");

    free(late->created_at);
    late->created_at = tc_strdup("2025-06-01T00:00:00.000000Z");
    ok(catalog_image_insert(cat, late, &err) == 0 && no_err(&err) &&
           catalog_image_list(cat, NULL, &list, &n, &err) == 0 &&
           no_err(&err) && n == 6 && streq(list[0]->id, late->id) &&
           streq(list[1]->id, V2_B),
       "an image inserted after the upgrade comes after the old ones");
    image_list_free(list, n);
    catalog_close(cat);

    cat = catalog_open(path, &err);
    ok(cat != NULL && no_err(&err) &&
           raw_int(path, "SELECT count(*) FROM projects") == 1 &&
           raw_schema_version(path) == SCHEMA_VERSION,
       "reopening does not upgrade again");
    catalog_close(cat);
    image_free(late);
}

/* ---- The SQLite backend ----------------------------------------------- */

/* The integer the one-row query SQL returns through the seam, or -1. */
static int64_t
seam_int(struct db *db, const char *sql)
{
    struct db_stmt *st = db_prepare(db, sql, NULL);
    int64_t v = -1;

    if (st != NULL && db_step(st, NULL) > 0) {
        v = db_column_int64(st, 0);
    }
    db_finalize(st);
    return v;
}

/* The settings db-sqlite.c promises, seen through the seam. */
static void
test_sqlite_backend(void)
{
    struct error *err = NULL;
    struct db *db = db_open(&db_sqlite_ops, db_path, 1000, &err);
    struct db_stmt *st;

    if (!ok(db != NULL && no_err(&err), "open the catalog file directly")) {
        return;
    }
    ok(streq(db_name(db), "sqlite") && streq(db_target(db), db_path),
       "the backend and what it opened");
    ok(seam_int(db, "PRAGMA foreign_keys") == 1 &&
           seam_int(db, "PRAGMA synchronous") == 2 &&
           seam_int(db, "PRAGMA trusted_schema") == 0,
       "foreign keys on, synchronous full, schema not trusted");
    st = db_prepare(db, "PRAGMA journal_mode", NULL);
    ok(st != NULL && db_step(st, NULL) > 0 &&
           streq(db_column_text(st, 0), "wal"),
       "WAL journal mode");
    db_finalize(st);
    ok(db_exec(db, "PRAGMA writable_schema = ON; "
                   "UPDATE sqlite_master SET sql = 'x' WHERE 0", &err) ==
               -1 &&
           err_is(&err, ERR_IO, NULL),
       "defensive mode: the schema cannot be written");
    ok(db_begin(db, true, &err) == 0 && db_active(db) &&
           db_savepoint(db, &err) == 0 &&
           db_exec(db, "INSERT INTO catalog_settings VALUES ('t', 'v')",
                   &err) == 0 &&
           db_rollback_to(db, &err) == 0 && db_commit(db, &err) == 0 &&
           !db_active(db) && no_err(&err) &&
           seam_int(db, "SELECT count(*) FROM catalog_settings "
                        "WHERE key = 't'") == 0,
       "transactions and savepoints");
    ok(db_exec(db, "INSERT INTO catalog_settings VALUES "
                   "('default_project', 'x')", &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "a violated constraint is a conflict");
    db_close(db);
}

/* ---- The PostgreSQL backend ------------------------------------------- */

/* Kill the session of B from A (the server ends it, as a restart
 * would).
 */
static bool
end_session(struct db *a, struct db *b)
{
    int64_t pid = seam_int(b, "SELECT pg_backend_pid()");
    char sql[96];

    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)",
             (long long)pid);
    return pid > 0 && seam_int(a, sql) == 1;
}

/* What db-pg.c promises, seen through the seam: placeholders, types,
 * transactions, the writers' lock, errors, timeouts, lost connections.
 */
static void
test_pg_backend(void)
{
    struct error *err = NULL;
    struct db *a = db_open(&db_pg_ops, db_path, 1000, &err);
    struct db *b = NULL;
    struct db_stmt *st;
    int64_t now = 0, t0;
    struct timespec ts;
    bool good;

    if (!ok(a != NULL && no_err(&err), "open the catalog directly")) {
        return;
    }
    ok(streq(db_name(a), "pg") && streq(db_target(a), db_path) &&
           strncmp(db_label(a), "postgresql://", 13) == 0,
       "the backend, what it opened, its label %s", db_label(a));
    ok(seam_int(a, "SELECT CAST(setting AS BIGINT) FROM pg_settings "
                   "WHERE name = 'lock_timeout'") == 1000 &&
           seam_int(a, "SELECT CAST(setting AS BIGINT) FROM pg_settings "
                       "WHERE name = 'statement_timeout'") == 60000 &&
           seam_int(a, "SELECT CAST(setting AS BIGINT) FROM pg_settings "
                       "WHERE name = "
                       "'idle_in_transaction_session_timeout'") == 60000,
       "lock, statement and idle-in-transaction timeouts are set");

    st = db_prepare(a, "SELECT CAST(?2 AS TEXT) || '?x''?' || "
                       "CAST(?1 AS TEXT), ?3 + ?3, ?4, "
                       "CAST(?5 AS TEXT) IS NULL", &err);
    ok(st != NULL && db_bind_text(st, 1, "a", &err) == 0 &&
           db_bind_text(st, 2, "b", &err) == 0 &&
           db_bind_int64(st, 3, 4000000000LL, &err) == 0 &&
           db_bind_double(st, 4, 0.25, &err) == 0 &&
           db_bind_null(st, 5, &err) == 0 && db_step(st, &err) == 1 &&
           streq(db_column_text(st, 0), "b?x'?a") &&
           db_column_int64(st, 1) == 8000000000LL &&
           db_column_double(st, 2) == 0.25 && db_column_int64(st, 3) == 1 &&
           db_step(st, &err) == 0 && no_err(&err),
       "?N placeholders, none inside literals; int8, float8, NULL, bool");
    ok(st != NULL && db_reset(st, &err) == 0 && db_step(st, &err) == 1 &&
           streq(db_column_text(st, 0), "b?x'?a") && no_err(&err),
       "a reset statement runs again with its bindings");
    db_finalize(st);
    st = db_prepare(a, "SELECT CAST(? AS TEXT), CAST(? AS TEXT)", &err);
    ok(st != NULL && db_bind_text(st, 1, "one", &err) == 0 &&
           db_bind_text(st, 2, NULL, &err) == 0 &&
           db_step(st, &err) == 1 && streq(db_column_text(st, 0), "one") &&
           db_column_null(st, 1) && db_column_text(st, 1) == NULL &&
           db_bind_text(st, 3, "x", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "plain ? placeholders number in order; there is no third");
    db_finalize(st);

    clock_gettime(CLOCK_REALTIME, &ts);
    ok(db_now_ms(a, &now, &err) == 0 && no_err(&err) &&
           llabs(now - ((int64_t)ts.tv_sec * 1000 +
                        ts.tv_nsec / 1000000)) < 60000,
       "the server's clock");

    ok(db_begin(a, true, &err) == 0 && db_active(a) &&
           db_savepoint(a, &err) == 0 &&
           db_exec(a, "INSERT INTO catalog_settings VALUES ('t', 'v')",
                   &err) == 0 &&
           db_changes(a) == 1 && db_rollback_to(a, &err) == 0 &&
           db_commit(a, &err) == 0 && !db_active(a) && no_err(&err) &&
           seam_int(a, "SELECT count(*) FROM catalog_settings "
                       "WHERE key = 't'") == 0,
       "transactions and savepoints");
    ok(db_exec(a, "INSERT INTO catalog_settings VALUES "
                  "('default_project', 'x')", &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "a violated constraint is a conflict");
    ok(db_begin(a, true, &err) == 0 &&
           db_exec(a, "INSERT INTO catalog_settings VALUES ('u', 'v')",
                   &err) == 0 &&
           db_exec(a, "SELECT no_such_column FROM catalog_settings",
                   &err) == -1 &&
           err_is(&err, ERR_IO, NULL) && db_active(a) &&
           db_commit(a, &err) == -1 && err_is(&err, ERR_IO, NULL) &&
           !db_active(a) &&
           seam_int(a, "SELECT count(*) FROM catalog_settings "
                       "WHERE key = 'u'") == 0,
       "a transaction a failed statement aborted does not commit");

    b = db_open(&db_pg_ops, db_path, 200, &err);
    if (!ok(b != NULL && no_err(&err), "a second connection")) {
        db_close(a);
        return;
    }
    ok(db_begin(a, true, &err) == 0 && no_err(&err),
       "the first takes the writers' lock");
    t0 = sock_now_ms();
    ok(db_begin(b, true, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "catalog is busy") &&
           sock_now_ms() - t0 >= 150 && !db_active(b),
       "the second's write waits its busy timeout, then is busy");
    db_set_busy_timeout(b, 0);
    t0 = sock_now_ms();
    ok(db_begin(b, true, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "catalog is busy") &&
           sock_now_ms() - t0 < 150,
       "without a busy timeout it is busy at once");
    db_set_busy_timeout(b, 200);
    ok(db_begin(b, false, &err) == 0 &&
           seam_int(b, "SELECT count(*) FROM catalog_settings") >= 1 &&
           db_commit(b, &err) == 0 && no_err(&err),
       "readers do not wait for the writer");
    db_commit(a, NULL);
    ok(db_begin(b, true, &err) == 0 && db_commit(b, &err) == 0 &&
           no_err(&err),
       "the lock is free after the commit");

    ok(end_session(a, b) && db_begin(b, false, &err) == 0 &&
           db_commit(b, &err) == 0 && no_err(&err),
       "a session the server ended while idle: BEGIN connects again");
    good = db_begin(b, true, &err) == 0 && end_session(a, b) &&
           db_exec(b, "INSERT INTO catalog_settings VALUES ('w', 'v')",
                   &err) == -1 &&
           err != NULL && error_get_class(err) == ERR_IO &&
           strstr(error_msg(err), "connection lost") != NULL &&
           !db_active(b);
    ok(good, "lost during a transaction: ERR_IO (%s), the transaction is "
       "over", err ? error_msg(err) : "none");
    error_free(err);
    err = NULL;
    ok(db_exec(b, "INSERT INTO catalog_settings VALUES ('w', 'v')",
               &err) == -1 &&
           err_is(&err, ERR_IO, NULL) &&
           seam_int(a, "SELECT count(*) FROM catalog_settings "
                       "WHERE key = 'w'") == 0,
       "nothing runs outside the lost transaction until it is rolled back");
    db_rollback(b);
    ok(db_begin(b, true, &err) == 0 && db_commit(b, &err) == 0 &&
           no_err(&err),
       "then the connection is made again");

    ok(db_exec(b, "SET statement_timeout = 200", &err) == 0 &&
           db_exec(b, "SELECT pg_sleep(2)", &err) == -1 &&
           err_is(&err, ERR_TIMEOUT, NULL),
       "a statement past the statement timeout is ERR_TIMEOUT");
    db_close(b);

    /* A server that does not answer at all (here: our session's process
     * stopped): no timeout of its own fires, ours does.
     */
    {
        CLEANUP_FREE char *conn = tc_conn_with_options(
            db_path, "-c statement_timeout=1000");
        struct db *c = db_open(&db_pg_ops, conn, 1000, &err);
        int64_t pid = -1;

        ok(c != NULL && no_err(&err) &&
               seam_int(c, "SELECT CAST(setting AS BIGINT) FROM pg_settings "
                           "WHERE name = 'statement_timeout'") == 1000,
           "a third connection, whose role or string sets its own "
           "statement timeout");
        if (c != NULL) {
            pid = seam_int(c, "SELECT pg_backend_pid()");
        }
        if (c != NULL && pid > 0 && kill((pid_t)pid, SIGSTOP) == 0) {
            t0 = sock_now_ms();
            /* A write's BEGIN is sent at once (a read's waits for
             * its first statement).
             */
            good = db_begin(c, true, &err) == -1 && err != NULL &&
                   error_get_class(err) == ERR_TIMEOUT &&
                   strstr(error_msg(err), "no answer") != NULL;
            ok(good, "a server that does not answer: ERR_TIMEOUT (%s)",
               err ? error_msg(err) : "none");
            error_free(err);
            err = NULL;
            ok(sock_now_ms() - t0 < 15000,
               "after the statement timeout and a grace period (%lld ms)",
               (long long)(sock_now_ms() - t0));
            kill((pid_t)pid, SIGCONT);
            ok(db_begin(c, true, &err) == 0 && db_commit(c, &err) == 0 &&
                   no_err(&err),
               "the next call connects again");
        } else {
            ok(false, "stop the session's server process");
        }
        db_close(c);
    }
    db_close(a);
}

/* ---- A full disk ------------------------------------------------------ */

/* The child of test_full_disk: open PATH where no file can grow past 16
 * KiB, list the images (there is one), try to delete it.  Exit status: 0
 * when reading worked and the write failed cleanly.
 */
static int
full_disk_child(const char *path)
{
    struct rlimit lim = { 16384, 16384 };
    struct error *err = NULL;
    struct catalog *cat;
    struct image **list = NULL;
    size_t n = 0;
    int r = 1;

    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) < 0) {
        return 2;
    }
    cat = catalog_open(path, &err);
    if (cat != NULL && catalog_image_list(cat, NULL, &list, &n, &err) == 0 &&
        n == 1) {
        r = catalog_image_delete(cat, list[0]->id, &err) == -1 &&
                    err != NULL && error_get_class(err) == ERR_IO
                ? 0 : 3;
    }
    if (err != NULL) {
        fprintf(stderr, "full disk child: %s\n", error_msg(err));
    }
    error_free(err);
    image_list_free(list, n);
    catalog_close(cat);
    return r;
}

/* On a full disk (here: files that cannot grow), vmsnap can still open
 * and read its catalog, to find what to delete (reliability audit M4).
 */
static void
test_full_disk(void)
{
    CLEANUP_FREE char *path = util_path_join(tmpdir, "full.db");
    struct error *err = NULL;
    struct catalog *cat;
    struct image *img = new_image("kept", "active");
    int status = 0;
    pid_t pid;

    if (path == NULL) {
        abort();
    }
    cat = catalog_open(path, &err);
    ok(cat != NULL && catalog_image_insert(cat, img, &err) == 0 &&
           no_err(&err),
       "a catalog with one image, closed");
    catalog_close(cat);
    image_free(img);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        _exit(full_disk_child(path));
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        status = -1;
    }
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "where no file can grow, the catalog opens and reads (status %d)",
       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    cat = catalog_open(path, &err);
    ok(cat != NULL && no_err(&err) && catalog_check(cat, &err) == 0 &&
           no_err(&err) && raw_int(path, "SELECT count(*) FROM images") == 1,
       "and it is intact after");
    catalog_close(cat);
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
        img->name = tc_strdup(name);
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
    if (!tc_pg) {
        ok(strcmp(raw_text(db_path, "PRAGMA integrity_check"), "ok") == 0,
           "PRAGMA integrity_check is ok");
    }
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
    ok(raw_int(db_path, "SELECT count(*) FROM images WHERE name LIKE "
                        "'c%-%'") == NCHILD * ((CYCLES + 1) / 2),
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
    CLEANUP_FREE char *path = tc_target("race");
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
    ok(raw_schema_version(path) == SCHEMA_VERSION, "schema made once");
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
    struct catalog *cat;

    tc_setup("catalog");
    test_open();
    test_migration();
    test_migration_v2();
    if (tc_pg) {
        test_pg_backend();
    } else {
        test_full_disk();
        test_sqlite_backend();
    }
    cat = tc_open();
    test_transactions(cat);
    catalog_close(cat);
    test_concurrency();
    test_concurrent_create();
    test_attach_race();

    remove_tmpdir();
    free(db_path);
    return tap_done();
}
