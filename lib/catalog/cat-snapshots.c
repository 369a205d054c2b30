/* vmsnap: volume snapshots in the catalog: the kind, its records and its
 * rules (see catalog-volumes.h).
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"

static const char *const cat_snapshot_statuses[] = {
    "creating", "available", "error", "deleting",
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
    CAT_COL(struct volume_snapshot, location, CAT_COL_TEXT),
    CAT_COL(struct volume_snapshot, project_id, CAT_COL_TEXT),
};

static void
cat_snapshot_free(void *rec)
{
    volume_snapshot_free(rec);
}

const struct cat_kind cat_kind_snapshot = {
    .noun = "volume snapshot",
    .item = "volume snapshot metadata item",
    .key_noun = "metadata item",
    .keys_noun = "metadata items",
    .filter = "metadata",
    .table = "volume_snapshots",
    .cols = cat_snapshot_cols,
    .ncols = CAT_NELEMS(cat_snapshot_cols),
    .size = sizeof(struct volume_snapshot),
    .free = cat_snapshot_free,
    .kv_offset = offsetof(struct volume_snapshot, meta),
    .nkv_offset = offsetof(struct volume_snapshot, nmeta),
    .kv = {
        .select = "SELECT key, value FROM volume_snapshot_metadata "
                  "WHERE snapshot_id = ?1 ORDER BY key",
        .clear = "DELETE FROM volume_snapshot_metadata "
                 "WHERE snapshot_id = ?1",
        .insert = "INSERT INTO volume_snapshot_metadata (snapshot_id, key, "
                  "value) VALUES (?1, ?2, ?3)",
        .upsert = "INSERT INTO volume_snapshot_metadata (snapshot_id, key, "
                  "value) VALUES (?1, ?2, ?3) ON CONFLICT (snapshot_id, key) "
                  "DO UPDATE SET value = excluded.value",
        .remove = "DELETE FROM volume_snapshot_metadata "
                  "WHERE snapshot_id = ?1 AND key = ?2",
        .count = "SELECT count(*) FROM volume_snapshot_metadata "
                 "WHERE snapshot_id = ?1",
        .match = " AND EXISTS (SELECT 1 FROM volume_snapshot_metadata AS m"
                 " WHERE m.snapshot_id = r.id AND m.key = ?"
                 " AND m.value = ?)",
    },
    .statuses = cat_snapshot_statuses,
    .nstatuses = CAT_NELEMS(cat_snapshot_statuses),
    .named = true,
    .by_name = "SELECT id FROM volume_snapshots WHERE name = ?1 "
               "ORDER BY created_at DESC, seq DESC",
};

bool
catalog_volume_snapshot_status_valid(const char *status)
{
    return cat_status_in(status, cat_snapshot_statuses,
                         CAT_NELEMS(cat_snapshot_statuses));
}

/* The normalised values of a snapshot given by a caller. */
struct cat_snapshot_vals {
    char id[UTIL_UUID_LEN];          /* its own ID */
    char volume_id[UTIL_UUID_LEN];   /* its volume's */
    char project_buf[UTIL_UUID_LEN]; /* room for project */
    const char *project;             /* project_buf, or NULL */
    char *location_buf;              /* a derived location (the caller
                                      * frees it) */
    const char *location;            /* the location to store, or NULL */
};

/* Check the fields of SNAP that callers set into V. */
static int
cat_snapshot_check(const struct volume_snapshot *snap,
                   struct cat_snapshot_vals *v, struct error **errp)
{
    if (cat_check_id(snap->id, "volume snapshot", v->id, errp) < 0 ||
        cat_check_name(&cat_kind_snapshot, snap->name, errp) < 0) {
        return -1;
    }
    if (snap->volume_id == NULL) {
        error_setg(errp, ERR_INVALID, "volume snapshot %s has no volume ID",
                   v->id);
        return -1;
    }
    if (cat_check_id(snap->volume_id, "volume", v->volume_id, errp) < 0 ||
        cat_check_status(&cat_kind_snapshot, snap->status, errp) < 0) {
        return -1;
    }
    if (snap->size < 0) {
        error_setg(errp, ERR_INVALID, "volume snapshot size must not be "
                   "negative");
        return -1;
    }
    if (cat_check_created(snap->created_at, errp) < 0 ||
        cat_check_ref(snap->project_id, "project", v->project_buf,
                      &v->project, errp) < 0 ||
        cat_location(snap->location, snap->file, "volume-snapshots", v->id,
                     &v->location_buf, &v->location, errp) < 0) {
        return -1;
    }
    return cat_check_props(snap->meta, snap->nmeta, cat_kind_snapshot.item,
                           errp);
}

/* Store SNAP (borrowed) with its metadata as a new snapshot. */
static int
cat_snapshot_insert_locked(struct catalog *cat,
                           const struct volume_snapshot *snap,
                           struct error **errp)
{
    static const char insert_sql[] =
        "INSERT INTO volume_snapshots (id, name, volume_id, status, size, "
        "file, location, updated_at, created_at, seq, project_id) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
    CLEANUP_STMT struct db_stmt *st = NULL;
    struct cat_snapshot_vals v = { .location_buf = NULL };
    char now[UTIL_TIME_LEN];
    const char *created;
    int64_t seq = 0;
    int r = -1;

    if (cat_snapshot_check(snap, &v, errp) < 0 ||
        cat_id_unused_locked(cat, &cat_kind_snapshot, v.id, errp) < 0 ||
        cat_next_seq_locked(cat, &seq, errp) < 0) {
        goto out;
    }
    util_now_iso8601(now);
    created = snap->created_at ? snap->created_at : now;
    st = cat_prepare(cat, insert_sql, errp);
    if (st == NULL ||
        cat_bind(st, errp, "sssslsss" "sls", v.id, snap->name, v.volume_id,
                 snap->status, snap->size, snap->file, v.location, created,
                 created, seq, v.project) < 0 ||
        cat_run(cat, st, errp) < 0 ||
        cat_store_kv_locked(cat, &cat_kind_snapshot.kv, v.id, snap->meta,
                            snap->nmeta, errp) < 0) {
        goto out;
    }
    r = 0;
out:
    free(v.location_buf);
    return r;
}

int
catalog_volume_snapshot_insert(struct catalog *cat,
                               const struct volume_snapshot *snap,
                               struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_snapshot_insert_locked(cat, snap, errp),
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
    struct volume_snapshot_filter f = { .match = match, .nmatch = nmatch };

    return catalog_volume_snapshot_list_by(cat, &f, out, n, errp);
}

int
catalog_volume_snapshot_list_by(struct catalog *cat,
                                const struct volume_snapshot_filter *f,
                                struct volume_snapshot ***out, size_t *n,
                                struct error **errp)
{
    struct cat_query q = { .id = NULL };
    char volume[UTIL_UUID_LEN];

    if (f != NULL) {
        /* Something that is not a UUID names no volume. */
        if (f->volume_id != NULL && !cat_norm_id(f->volume_id, volume)) {
            volume[0] = '\0';
        }
        if ((f->status != NULL &&
             cat_check_status(&cat_kind_snapshot, f->status, errp) < 0) ||
            cat_query_eq(&q, "project_id", f->project_id, errp) < 0 ||
            cat_query_eq(&q, "status", f->status, errp) < 0 ||
            cat_query_eq(&q, "volume_id", f->volume_id ? volume : NULL,
                         errp) < 0 ||
            cat_query_match(&q, &cat_kind_snapshot, f->match, f->nmatch,
                            errp) < 0) {
            return -1;
        }
    }
    return cat_list(cat, &cat_kind_snapshot, &q, (void ***)out, n, errp);
}

int
catalog_volume_snapshot_set_status(struct catalog *cat, const char *id,
                                   const char *status, struct error **errp)
{
    return cat_transition(cat, &cat_kind_snapshot, id, NULL, status, NULL,
                          NULL, errp);
}

int
catalog_volume_snapshot_transition(struct catalog *cat, const char *id,
                                   const char *from, const char *to,
                                   struct error **errp)
{
    return cat_transition(cat, &cat_kind_snapshot, id, from, to, NULL, NULL,
                          errp);
}

static int
cat_snapshot_set_data_locked(struct catalog *cat, const char *id,
                             const struct volume_snapshot_data *d,
                             struct error **errp)
{
    CLEANUP_FREE char *buf = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *location;

    if (d == NULL) {
        error_setg(errp, ERR_INVALID, "no volume snapshot data given");
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_snapshot, id, errp);
    }
    if (d->size < 0) {
        error_setg(errp, ERR_INVALID, "volume snapshot size must not be "
                   "negative");
        return -1;
    }
    if (cat_location(d->location, d->file, "volume-snapshots", nid, &buf,
                     &location, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    if (cat_exec_bound(cat, "UPDATE volume_snapshots SET size = ?2, "
                       "location = ?3, file = ?4, updated_at = ?5 "
                       "WHERE id = ?1", errp, "slsss", nid, d->size,
                       location, d->file, now) < 0) {
        return -1;
    }
    return cat_changed(cat, &cat_kind_snapshot, id, errp);
}

int
catalog_volume_snapshot_set_data(struct catalog *cat, const char *id,
                                 const struct volume_snapshot_data *d,
                                 struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_snapshot_set_data_locked(cat, id, d, errp),
                      errp);
}

static int
cat_snapshot_set_meta_locked(struct catalog *cat, const char *id,
                             const struct prop *set, size_t nset,
                             struct error **errp)
{
    char nid[UTIL_UUID_LEN];

    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_snapshot, id, errp);
    }
    if (cat_touch_locked(cat, &cat_kind_snapshot, nid, id, errp) < 0) {
        return -1;
    }
    return cat_kv_patch_locked(cat, &cat_kind_snapshot, nid, id, set, nset,
                               NULL, 0, errp);
}

int
catalog_volume_snapshot_set_meta(struct catalog *cat, const char *id,
                                 const struct prop *set, size_t nset,
                                 struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_snapshot_set_meta_locked(cat, id, set, nset,
                                                        errp), errp);
}

/* What uses a volume snapshot: volumes made from it and images (not
 * deleted) made of it.
 */
static const struct cat_users_query cat_snapshot_users[] = {
    { "volume", 0,
      "SELECT v.id, v.name FROM volumes AS v "
      "WHERE v.source_snapshot_id = ?1 "
      "ORDER BY v.created_at, v.seq" },
    { "image", 0,
      "SELECT i.id, i.name FROM images AS i "
      "JOIN image_volume_snapshots AS b ON b.image_id = i.id "
      "WHERE b.snapshot_id = ?1 AND i.status <> 'deleted' "
      "ORDER BY i.created_at, i.seq" },
};

/* A snapshot that something uses stays.  A cat_delete_rule. */
static int
cat_snapshot_deletable_locked(struct catalog *cat, const char *id,
                              const char *given, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
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
    r = cat_users_locked(cat, cat_snapshot_users,
                         CAT_NELEMS(cat_snapshot_users), id, &b, errp);
    users = cat_buf_steal(&b);
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        error_setg(errp, ERR_CONFLICT, "volume snapshot %s is in use by %s",
                   cat_label(name, id), users ? users : "(too many to list)");
        return -1;
    }
    return 0;
}

int
catalog_volume_snapshot_users(struct catalog *cat, const char *id,
                              char **users_out, struct error **errp)
{
    struct cat_buf b = { 0 };
    char nid[UTIL_UUID_LEN];
    char *text;
    int count = 0;

    if (cat_norm_id(id, nid)) {
        if (cat_tx_begin(cat, false, errp) < 0) {
            return -1;
        }
        count = cat_users_locked(cat, cat_snapshot_users,
                                 CAT_NELEMS(cat_snapshot_users), nid, &b,
                                 errp);
        if (cat_tx_end_read(cat, count) < 0) {
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

int
catalog_volume_snapshot_delete(struct catalog *cat, const char *id,
                               struct error **errp)
{
    return cat_delete(cat, &cat_kind_snapshot, id,
                      cat_snapshot_deletable_locked, errp);
}
