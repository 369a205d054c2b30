/* vmsnap: volumes in the catalog: the kind, its records and its rules,
 * attachments first of them (see catalog-volumes.h).
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"

static const char *const cat_volume_statuses[] = {
    "creating", "available", "in-use", "error", "deleting",
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
    CAT_COL(struct volume, project_id, CAT_COL_TEXT),
};

static void
cat_volume_free(void *rec)
{
    volume_free(rec);
}

const struct cat_kind cat_kind_volume = {
    .noun = "volume",
    .item = "volume metadata item",
    .key_noun = "metadata item",
    .keys_noun = "metadata items",
    .filter = "metadata",
    .table = "volumes",
    .cols = cat_volume_cols,
    .ncols = CAT_NELEMS(cat_volume_cols),
    .size = sizeof(struct volume),
    .free = cat_volume_free,
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
    .named = true,
    .by_name = "SELECT id FROM volumes WHERE name = ?1 "
               "ORDER BY created_at DESC, seq DESC",
};

bool
catalog_volume_status_valid(const char *status)
{
    return cat_status_in(status, cat_volume_statuses,
                         CAT_NELEMS(cat_volume_statuses));
}

/* The IDs of a volume given by a caller, normalised by cat_volume_check. */
struct cat_volume_ids {
    char id[UTIL_UUID_LEN];          /* the volume's own */
    char snapshot_buf[UTIL_UUID_LEN]; /* room for snapshot */
    char image_buf[UTIL_UUID_LEN];    /* room for image */
    char project_buf[UTIL_UUID_LEN];  /* room for project */
    const char *snapshot;            /* snapshot_buf, or NULL for none */
    const char *image;               /* image_buf, or NULL for none */
    const char *project;             /* project_buf, or NULL for none */
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
                      &ids->image, errp) < 0 ||
        cat_check_ref(vol->project_id, "project", ids->project_buf,
                      &ids->project, errp) < 0) {
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
    CLEANUP_STMT struct db_stmt *st = NULL;
    const char *status;

    st = cat_row_locked(cat, &cat_kind_snapshot, "SELECT name, status "
                        "FROM volume_snapshots WHERE id = ?1", id, given,
                        errp);
    if (st == NULL) {
        return -1;
    }
    status = db_column_text(st, 1);
    if (status == NULL || strcmp(status, "available") != 0) {
        error_setg(errp, ERR_CONFLICT, "volume snapshot %s is not "
                   "available: %s", cat_label(db_column_text(st, 0), id),
                   status ? status : "?");
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
    CLEANUP_STMT struct db_stmt *st = NULL;
    const char *name, *server;
    bool in_use = strcmp(status, "in-use") == 0;

    st = cat_row_locked(cat, &cat_kind_volume, "SELECT name, instance_id "
                        "FROM volumes WHERE id = ?1", id, given, errp);
    if (st == NULL) {
        return -1;
    }
    name = db_column_text(st, 0);
    server = db_column_text(st, 1);
    if (server != NULL && !in_use) {
        error_setg(errp, ERR_CONFLICT, "volume %s is attached to server %s",
                   cat_label(name, id), server);
        return -1;
    }
    if (server == NULL && in_use) {
        error_setg(errp, ERR_INVALID, "volume %s is not attached, so it "
                   "cannot be in-use", cat_label(name, id));
        return -1;
    }
    return 0;
}

/* Store VOL (borrowed) with its metadata as a new, detached volume. */
static int
cat_volume_insert_locked(struct catalog *cat, const struct volume *vol,
                         struct error **errp)
{
    static const char insert_sql[] =
        "INSERT INTO volumes (id, name, status, size, file, "
        "source_snapshot_id, source_image_id, updated_at, created_at, seq, "
        "project_id, instance_id, device_index) VALUES (?1, ?2, ?3, ?4, "
        "?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, NULL)";
    CLEANUP_STMT struct db_stmt *st = NULL;
    struct cat_volume_ids ids;
    char now[UTIL_TIME_LEN];
    const char *created;
    int64_t seq = 0;

    if (cat_volume_check(vol, &ids, errp) < 0 ||
        cat_volume_insertable_locked(cat, vol, &ids, errp) < 0 ||
        cat_next_seq_locked(cat, &seq, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    created = vol->created_at ? vol->created_at : now;
    st = cat_prepare(cat, insert_sql, errp);
    if (st == NULL ||
        cat_bind(st, errp, "sssls" "sss" "sls", ids.id, vol->name,
                 vol->status, vol->size, vol->file, ids.snapshot, ids.image,
                 created, created, seq, ids.project) < 0 ||
        cat_run(cat, st, errp) < 0) {
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
    return cat_tx_end(cat, cat_volume_insert_locked(cat, vol, errp), errp);
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
    struct volume_filter f = { .instance_id = instance_id };

    return catalog_volume_list_by(cat, &f, out, n, errp);
}

int
catalog_volume_list_by(struct catalog *cat, const struct volume_filter *f,
                       struct volume ***out, size_t *n, struct error **errp)
{
    struct cat_query q = { .id = NULL };
    char server[UTIL_UUID_LEN];

    if (f == NULL) {
        return cat_list(cat, &cat_kind_volume, &q, (void ***)out, n, errp);
    }
    if ((f->status != NULL &&
         cat_check_status(&cat_kind_volume, f->status, errp) < 0) ||
        cat_query_eq(&q, "project_id", f->project_id, errp) < 0 ||
        cat_query_eq(&q, "status", f->status, errp) < 0) {
        return -1;
    }
    if (f->instance_id != NULL) {
        /* Something that is not a UUID matches no attachment. */
        if (!cat_norm_id(f->instance_id, server)) {
            server[0] = '\0';
        }
        if (cat_query_eq(&q, "instance_id", server, errp) < 0) {
            return -1;
        }
        q.order = " ORDER BY r.device_index";
    }
    return cat_list(cat, &cat_kind_volume, &q, (void ***)out, n, errp);
}

int
catalog_volume_set_status(struct catalog *cat, const char *id,
                          const char *status, struct error **errp)
{
    return cat_transition(cat, &cat_kind_volume, id, NULL, status, NULL,
                          cat_volume_status_allowed_locked, errp);
}

int
catalog_volume_transition(struct catalog *cat, const char *id,
                          const char *from, const char *to,
                          struct error **errp)
{
    return cat_transition(cat, &cat_kind_volume, id, from, to, NULL,
                          cat_volume_status_allowed_locked, errp);
}

/* As in Cinder, an attached volume and a volume with snapshots stay.  A
 * cat_delete_rule.
 */
static int
cat_volume_deletable_locked(struct catalog *cat, const char *id,
                            const char *given, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
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
    db_finalize(st);
    st = cat_prepare(cat, "SELECT id FROM volume_snapshots "
                     "WHERE volume_id = ?1 "
                     "ORDER BY created_at DESC, seq DESC", errp);
    if (st == NULL || cat_bind(st, errp, "s", id) < 0) {
        return -1;
    }
    while ((r = cat_step(st, errp)) > 0) {
        const char *s = db_column_text(st, 0);

        cat_buf_printf(&b, "%s%s", count ? ", " : "", s ? s : "?");
        count++;
    }
    ids = cat_buf_steal(&b);
    if (r < 0) {
        return -1;
    }
    if (count > 0) {
        error_setg(errp, ERR_CONFLICT, "volume %s has snapshots: %s",
                   cat_label(name, id), ids ? ids : "(too many to list)");
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

/* ---- Attachments ------------------------------------------------------ */

static int
cat_volume_attach_locked(struct catalog *cat, const char *volume_id,
                         const char *instance_id, int *device_index,
                         struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char vid[UTIL_UUID_LEN], sid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *name, *status, *server;
    int64_t changed;

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
    if (cat_must_exist_locked(cat, &cat_kind_instance, sid, instance_id,
                              errp) < 0) {
        return -1;
    }
    /* The compare and the set are one statement under the write lock; the
     * unique index on (instance_id, device_index) backs the index choice.
     */
    util_now_iso8601(now);
    if (cat_exec_bound(cat, "UPDATE volumes SET instance_id = ?2, "
                       "device_index = (SELECT min(f.i) FROM (SELECT 1 AS i "
                       "UNION SELECT device_index + 1 FROM volumes "
                       "WHERE instance_id = ?2) AS f WHERE f.i NOT IN "
                       "(SELECT device_index FROM volumes "
                       "WHERE instance_id = ?2)), "
                       "status = 'in-use', updated_at = ?3 "
                       "WHERE id = ?1 AND instance_id IS NULL "
                       "AND status = 'available'", errp, "sss", vid, sid,
                       now) < 0) {
        return -1;
    }
    changed = cat_changes(cat);
    /* Read the result back (or why nothing changed) in the same
     * transaction.
     */
    st = cat_row_locked(cat, &cat_kind_volume, "SELECT name, status, "
                        "instance_id, device_index FROM volumes "
                        "WHERE id = ?1", vid, volume_id, errp);
    if (st == NULL) {
        return -1;
    }
    name = db_column_text(st, 0);
    status = db_column_text(st, 1);
    server = db_column_text(st, 2);
    if (changed == 0) {
        if (server != NULL) {
            error_setg(errp, ERR_CONFLICT, "volume %s is already attached "
                       "to server %s", cat_label(name, vid), server);
        } else {
            error_setg(errp, ERR_CONFLICT, "volume %s is not available: %s",
                       cat_label(name, vid), status ? status : "?");
        }
        return -1;
    }
    *device_index = (int)db_column_int64(st, 3);
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
    CLEANUP_STMT struct db_stmt *st = NULL;
    char vid[UTIL_UUID_LEN], sid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

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
    if (cat_exec_bound(cat, "UPDATE volumes SET instance_id = NULL, "
                       "device_index = NULL, status = 'available', "
                       "updated_at = ?3 WHERE id = ?1 AND instance_id = ?2",
                       errp, "sss", vid, sid, now) < 0) {
        return -1;
    }
    if (cat_changes(cat) > 0) {
        return 0;
    }
    st = cat_row_locked(cat, &cat_kind_volume, "SELECT name FROM volumes "
                        "WHERE id = ?1", vid, volume_id, errp);
    if (st == NULL) {
        return -1;
    }
    error_setg(errp, ERR_CONFLICT, "volume %s is not attached to server %s",
               cat_label(db_column_text(st, 0), vid), instance_id);
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
