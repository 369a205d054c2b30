/* vmsnap: the catalog's schema and its migrations.
 *
 * Step N takes a database from schema version N - 1 to N, in the write
 * transaction catalog_open holds: first its portable SQL (see db.h for
 * what portable means), then the backend's own piece (db_ops.migrate),
 * then its data step in C.  Never change what a released step does to a
 * database; append a new one.  (Steps 1 and 2 were rewritten in version
 * 3 without SQLite's WITHOUT ROWID and with BIGINT for integers, which
 * changes nothing for SQLite, whose files made by them stay as they are,
 * and lets PostgreSQL run them.)
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"

/* ---- Step 3: seq, locations, tenancy, tags, tasks, identity ----------- */

/* Start the insertion counter after the seq the backend gave the records
 * that were there.
 */
static int
cat_v3_sequence(struct catalog *cat, struct error **errp)
{
    return cat_exec_bound(cat, "INSERT INTO catalog_sequence (name, value) "
                          "SELECT 'seq', COALESCE(MAX(s), 0) FROM ("
                          "SELECT MAX(seq) AS s FROM images UNION ALL "
                          "SELECT MAX(seq) FROM instances UNION ALL "
                          "SELECT MAX(seq) FROM volumes UNION ALL "
                          "SELECT MAX(seq) FROM volume_snapshots) AS t",
                          errp, "");
}

/* The records there were belong to the default project: vmsnap had no
 * other owner.
 */
static int
cat_v3_owners(struct catalog *cat, const char *project,
              struct error **errp)
{
    static const char *const sql[] = {
        "UPDATE images SET owner = ?1 WHERE owner IS NULL",
        "UPDATE instances SET project_id = ?1 WHERE project_id IS NULL",
        "UPDATE volumes SET project_id = ?1 WHERE project_id IS NULL",
        ("UPDATE volume_snapshots SET project_id = ?1 "
         "WHERE project_id IS NULL"),
    };
    size_t i;

    for (i = 0; i < CAT_NELEMS(sql); i++) {
        if (cat_exec_bound(cat, sql[i], errp, "s", project) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Give the records of TABLE whose file lies in data directory
 * subdirectory DIR a location (see cat_location).
 */
static int
cat_v3_locations(struct catalog *cat, const char *table, const char *dir,
                 struct error **errp)
{
    CLEANUP_FREE char *select = NULL, *update = NULL;
    CLEANUP_STMT struct db_stmt *st = NULL;
    struct prop *rows = NULL;
    size_t n = 0, i;
    int r = 0;

    select = util_strdup_printf("SELECT id, file FROM %s WHERE file IS NOT "
                                "NULL AND location IS NULL", table);
    update = util_strdup_printf("UPDATE %s SET location = ?2 WHERE id = ?1",
                                table);
    /* Read them all (as pairs of ID and file) before writing. */
    st = cat_prepare(cat, select, errp);
    if (st == NULL ||
        cat_rows(cat, st, &cat_prop_reader, NULL, (void **)&rows, &n,
                 errp) < 0) {
        return -1;
    }
    for (i = 0; r == 0 && i < n; i++) {
        CLEANUP_FREE char *buf = NULL;
        const char *location;

        r = cat_location(NULL, rows[i].value, dir, rows[i].key, &buf,
                         &location, errp);
        if (r == 0 && location != NULL) {
            r = cat_exec_bound(cat, update, errp, "ss", rows[i].key,
                               location);
        }
    }
    catalog_props_free(rows, n);
    return r;
}

/* Move the block_device_mapping properties images had into the relation
 * image_volume_snapshots, which is the only record of the mapping from
 * version 3 on.  A value bdm_parse accepts becomes the image's mapping and
 * the property goes (no stale copy stays); a value it refuses (the strict
 * rules of bdm.h) stays as it was, with its image, mapping nothing, and is
 * logged (cat_bdm_move_locked).
 */
static int
cat_v3_bdm(struct catalog *cat, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    struct prop *rows = NULL;
    size_t n = 0, i;
    int r = 0;

    /* Pairs of image ID and property value, read before writing. */
    st = cat_prepare(cat, "SELECT image_id, value FROM image_properties "
                     "WHERE key = ?1 ORDER BY image_id", errp);
    if (st == NULL || cat_bind(st, errp, "s", PROP_BDM) < 0 ||
        cat_rows(cat, st, &cat_prop_reader, NULL, (void **)&rows, &n,
                 errp) < 0) {
        return -1;
    }
    for (i = 0; r == 0 && i < n; i++) {
        r = cat_bdm_move_locked(cat, rows[i].key, rows[i].value, errp);
    }
    catalog_props_free(rows, n);
    return r;
}

static int
cat_v3_data(struct catalog *cat, struct error **errp)
{
    char project[UTIL_UUID_LEN];

    if (cat_v3_sequence(cat, errp) < 0 ||
        cat_project_default_create_locked(cat, project, errp) < 0 ||
        cat_v3_owners(cat, project, errp) < 0 ||
        cat_v3_locations(cat, "images", "images", errp) < 0 ||
        cat_v3_locations(cat, "volume_snapshots", "volume-snapshots",
                         errp) < 0 ||
        cat_v3_bdm(cat, errp) < 0) {
        return -1;
    }
    return 0;
}

/* ---- The steps -------------------------------------------------------- */

/* One step of the schema. */
struct cat_migration {
    const char *sql;     /* portable SQL, run first */
    int (*data)(struct catalog *cat, struct error **errp); /* then this
                          * (after the backend's piece), or NULL */
};

static const struct cat_migration cat_migrations[] = {
    /* 1: images and their properties, instances and their metadata.
     * Sizes are NULL while unknown.  Instances do not reference images
     * with a foreign key: deleting an image that is in use is a policy
     * decision made with catalog_image_users.
     */
    { "CREATE TABLE images ("
      "  id TEXT NOT NULL PRIMARY KEY,"
      "  name TEXT,"
      "  status TEXT NOT NULL,"
      "  disk_format TEXT,"
      "  container_format TEXT,"
      "  size BIGINT,"
      "  virtual_size BIGINT,"
      "  checksum TEXT,"
      "  os_hash_algo TEXT,"
      "  os_hash_value TEXT,"
      "  min_ram BIGINT NOT NULL DEFAULT 0,"
      "  min_disk BIGINT NOT NULL DEFAULT 0,"
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
      ");"
      "CREATE INDEX image_properties_kv ON image_properties (key, value);"
      "CREATE TABLE instances ("
      "  id TEXT NOT NULL PRIMARY KEY,"
      "  name TEXT NOT NULL UNIQUE,"
      "  image_id TEXT,"
      "  memory_mb BIGINT NOT NULL,"
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
      ");",
      NULL },

    /* 2: volumes and volume snapshots (Cinder's model), each with its
     * metadata.  A volume is attached to at most one instance;
     * device_index orders the volumes of that instance (its root disk is
     * 0, so volumes count from 1) and is NULL exactly when instance_id
     * is.  No foreign keys point to instances, images or snapshots, as
     * for instances.image_id: the catalog functions check those
     * references where it matters, and a snapshot may outlive its volume.
     */
    { "CREATE TABLE volumes ("
      "  id TEXT NOT NULL PRIMARY KEY,"
      "  name TEXT,"
      "  status TEXT NOT NULL,"
      "  size BIGINT NOT NULL,"
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
      ");"
      "CREATE TABLE volume_snapshots ("
      "  id TEXT NOT NULL PRIMARY KEY,"
      "  name TEXT,"
      "  volume_id TEXT NOT NULL,"
      "  status TEXT NOT NULL,"
      "  size BIGINT NOT NULL,"
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
      ");"
      "CREATE INDEX volume_snapshot_metadata_kv"
      "  ON volume_snapshot_metadata (key, value);",
      NULL },

    /* 3: the seams and the tenancy for the REST API and several hosts.
     * - seq: the order of insertion, which lists use to break ties of
     *   created_at, from the counter catalog_sequence (the backend fills
     *   it for the records there were);
     * - location: where the data is, as a store location
     *   (storage/blob.h), derived from file where it can be;
     * - tenancy: image owner, visibility and protected (Glance), the
     *   project of instances (and their user and host), volumes and
     *   snapshots; the records there were go to the default project;
     * - image_volume_snapshots: the volume snapshots an image is made
     *   of, until now only in its block_device_mapping property, which
     *   is moved into it (cat_v3_bdm); image_tags: Glance's tags;
     * - tasks, projects, users, role assignments, tokens and instance
     *   actions; catalog_settings keeps the default project.
     * Booleans are INTEGER 0 or 1.
     */
    { "ALTER TABLE images ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;"
      "ALTER TABLE images ADD COLUMN location TEXT;"
      "ALTER TABLE images ADD COLUMN owner TEXT;"
      "ALTER TABLE images ADD COLUMN visibility TEXT NOT NULL"
      "  DEFAULT 'shared' CHECK (visibility IN"
      "  ('private', 'shared', 'community', 'public'));"
      "ALTER TABLE images ADD COLUMN protected INTEGER NOT NULL DEFAULT 0"
      "  CHECK (protected IN (0, 1));"
      "CREATE INDEX images_order ON images (created_at, seq);"
      "CREATE INDEX images_owner ON images (owner);"
      "ALTER TABLE instances ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;"
      "ALTER TABLE instances ADD COLUMN project_id TEXT;"
      "ALTER TABLE instances ADD COLUMN user_id TEXT;"
      "ALTER TABLE instances ADD COLUMN host TEXT;"
      "CREATE INDEX instances_order ON instances (created_at, seq);"
      "CREATE INDEX instances_project_id ON instances (project_id);"
      "ALTER TABLE volumes ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;"
      "ALTER TABLE volumes ADD COLUMN project_id TEXT;"
      "CREATE INDEX volumes_order ON volumes (created_at, seq);"
      "CREATE INDEX volumes_project_id ON volumes (project_id);"
      "ALTER TABLE volume_snapshots ADD COLUMN seq BIGINT NOT NULL"
      "  DEFAULT 0;"
      "ALTER TABLE volume_snapshots ADD COLUMN location TEXT;"
      "ALTER TABLE volume_snapshots ADD COLUMN project_id TEXT;"
      "CREATE INDEX volume_snapshots_order"
      "  ON volume_snapshots (created_at, seq);"
      "CREATE INDEX volume_snapshots_project_id"
      "  ON volume_snapshots (project_id);"
      "CREATE TABLE catalog_sequence ("
      "  name TEXT NOT NULL PRIMARY KEY,"
      "  value BIGINT NOT NULL"
      ");"
      "CREATE TABLE catalog_settings ("
      "  key TEXT NOT NULL PRIMARY KEY,"
      "  value TEXT NOT NULL"
      ");"
      "CREATE TABLE image_volume_snapshots ("
      "  image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
      "  device_index INTEGER NOT NULL CHECK (device_index >= 1),"
      "  snapshot_id TEXT NOT NULL,"
      "  volume_id TEXT,"
      "  size BIGINT,"
      "  volume_name TEXT,"
      "  PRIMARY KEY (image_id, snapshot_id)"
      ");"
      "CREATE INDEX image_volume_snapshots_snapshot_id"
      "  ON image_volume_snapshots (snapshot_id);"
      "CREATE TABLE image_tags ("
      "  image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
      "  tag TEXT NOT NULL,"
      "  PRIMARY KEY (image_id, tag)"
      ");"
      "CREATE INDEX image_tags_tag ON image_tags (tag);"
      "CREATE TABLE tasks ("
      "  id TEXT NOT NULL PRIMARY KEY,"
      "  seq BIGINT NOT NULL,"
      "  kind TEXT NOT NULL,"
      "  state TEXT NOT NULL CHECK (state IN"
      "    ('queued', 'running', 'succeeded', 'failed')),"
      "  target_kind TEXT,"
      "  target_id TEXT,"
      "  image_id TEXT,"
      "  project_id TEXT,"
      "  user_id TEXT,"
      "  request TEXT,"
      "  phase TEXT,"
      "  progress DOUBLE PRECISION NOT NULL DEFAULT 0,"
      "  warnings TEXT NOT NULL DEFAULT '[]',"
      "  error TEXT,"
      "  error_class TEXT,"
      "  owner TEXT,"
      "  created_at TEXT NOT NULL,"
      "  updated_at TEXT NOT NULL,"
      "  started_at TEXT,"
      "  finished_at TEXT"
      ");"
      "CREATE INDEX tasks_order ON tasks (created_at, seq);"
      "CREATE INDEX tasks_target_id ON tasks (target_id);"
      "CREATE INDEX tasks_state ON tasks (state, finished_at);"
      "CREATE TABLE projects ("
      "  id TEXT NOT NULL PRIMARY KEY,"
      "  name TEXT NOT NULL UNIQUE,"
      "  description TEXT,"
      "  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
      "  created_at TEXT NOT NULL"
      ");"
      "CREATE TABLE users ("
      "  id TEXT NOT NULL PRIMARY KEY,"
      "  name TEXT NOT NULL UNIQUE,"
      "  default_project_id TEXT,"
      "  password_hash TEXT,"
      "  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
      "  created_at TEXT NOT NULL,"
      "  password_changed_at TEXT"
      ");"
      "CREATE TABLE role_assignments ("
      "  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
      "  project_id TEXT NOT NULL"
      "    REFERENCES projects (id) ON DELETE CASCADE,"
      "  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),"
      "  PRIMARY KEY (user_id, project_id, role)"
      ");"
      "CREATE INDEX role_assignments_project_id"
      "  ON role_assignments (project_id);"
      "CREATE TABLE tokens ("
      "  id_hash TEXT NOT NULL PRIMARY KEY,"
      "  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
      "  project_id TEXT REFERENCES projects (id) ON DELETE CASCADE,"
      "  roles TEXT NOT NULL,"
      "  issued_at TEXT NOT NULL,"
      "  expires_at TEXT NOT NULL,"
      "  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))"
      ");"
      "CREATE INDEX tokens_user_id ON tokens (user_id);"
      "CREATE INDEX tokens_expires_at ON tokens (expires_at);"
      "CREATE TABLE instance_actions ("
      "  instance_id TEXT NOT NULL"
      "    REFERENCES instances (id) ON DELETE CASCADE,"
      "  request_id TEXT NOT NULL,"
      "  seq BIGINT NOT NULL,"
      "  action TEXT NOT NULL,"
      "  project_id TEXT,"
      "  user_id TEXT,"
      "  start_time TEXT NOT NULL,"
      "  finish_time TEXT,"
      "  message TEXT,"
      "  PRIMARY KEY (instance_id, request_id)"
      ");",
      cat_v3_data },

    /* 4: flavors, Nova's sizes of servers, with their own IDs (strings
     * an administrator chooses), and the four every catalog starts with
     * (cat_flavors_seed_locked).  Servers name theirs in their metadata.
     */
    { "CREATE TABLE flavors ("
      "  id TEXT NOT NULL PRIMARY KEY,"
      "  name TEXT NOT NULL UNIQUE,"
      "  vcpus INTEGER NOT NULL CHECK (vcpus > 0),"
      "  ram_mb BIGINT NOT NULL CHECK (ram_mb > 0),"
      "  disk_gb BIGINT NOT NULL DEFAULT 0 CHECK (disk_gb >= 0),"
      "  ephemeral_gb BIGINT NOT NULL DEFAULT 0 CHECK (ephemeral_gb >= 0),"
      "  swap_mb BIGINT NOT NULL DEFAULT 0 CHECK (swap_mb >= 0),"
      "  is_public INTEGER NOT NULL DEFAULT 1 CHECK (is_public IN (0, 1)),"
      "  created_at TEXT NOT NULL"
      ");",
      cat_flavors_seed_locked },

    /* 5: leases (catalog-leases.h), the locks of hosts sharing the
     * catalog: one row per lock held, with its holder (host, pid, and
     * the process's start, so that a pid used again is not taken for
     * the holder), a fencing token (from catalog_sequence) and times in
     * milliseconds of the database's clock.
     */
    { "CREATE TABLE leases ("
      "  kind TEXT NOT NULL,"
      "  id TEXT NOT NULL,"
      "  host TEXT NOT NULL,"
      "  pid BIGINT NOT NULL,"
      "  started TEXT NOT NULL,"
      "  token BIGINT NOT NULL,"
      "  taken_ms BIGINT NOT NULL,"
      "  expires_ms BIGINT NOT NULL,"
      "  PRIMARY KEY (kind, id)"
      ");"
      "CREATE INDEX leases_host ON leases (host);",
      NULL },
};

const int cat_schema_version = (int)CAT_NELEMS(cat_migrations);

int
cat_migrate_locked(struct catalog *cat, int version, struct error **errp)
{
    int v;

    for (v = version; v < cat_schema_version; v++) {
        const struct cat_migration *m = &cat_migrations[v];

        if (db_exec(cat->db, m->sql, errp) < 0 ||
            db_migrate(cat->db, v + 1, errp) < 0 ||
            (m->data != NULL && m->data(cat, errp) < 0)) {
            error_prepend(errp, "schema upgrade to version %d: ", v + 1);
            return -1;
        }
    }
    return 0;
}
