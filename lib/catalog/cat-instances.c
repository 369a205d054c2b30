/* vmsnap: instances in the catalog: the kind, its records and its rules
 * (see catalog-instances.h).  Their actions are in cat-actions.c.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"

static const struct cat_col cat_instance_cols[] = {
    CAT_COL(struct instance, id, CAT_COL_ID),
    CAT_COL(struct instance, name, CAT_COL_TEXT),
    CAT_COL(struct instance, image_id, CAT_COL_TEXT),
    CAT_COL(struct instance, memory_mb, CAT_COL_INT64),
    CAT_COL(struct instance, cpus, CAT_COL_INT),
    CAT_COL(struct instance, created_at, CAT_COL_TEXT),
    CAT_COL(struct instance, updated_at, CAT_COL_TEXT),
    CAT_COL(struct instance, task_state, CAT_COL_TEXT),
    CAT_COL(struct instance, project_id, CAT_COL_TEXT),
    CAT_COL(struct instance, user_id, CAT_COL_TEXT),
    CAT_COL(struct instance, host, CAT_COL_TEXT),
};

static void
cat_instance_free(void *rec)
{
    instance_free(rec);
}

const struct cat_kind cat_kind_instance = {
    .noun = "server",
    .item = "server metadata item",
    .key_noun = "metadata item",
    .keys_noun = "metadata items",
    .filter = "metadata",
    .table = "instances",
    .cols = cat_instance_cols,
    .ncols = CAT_NELEMS(cat_instance_cols),
    .size = sizeof(struct instance),
    .free = cat_instance_free,
    .kv_offset = offsetof(struct instance, meta),
    .nkv_offset = offsetof(struct instance, nmeta),
    .kv = {
        .select = "SELECT key, value FROM instance_metadata "
                  "WHERE instance_id = ?1 ORDER BY key",
        .clear = "DELETE FROM instance_metadata WHERE instance_id = ?1",
        .insert = "INSERT INTO instance_metadata (instance_id, key, value) "
                  "VALUES (?1, ?2, ?3)",
        .upsert = "INSERT INTO instance_metadata (instance_id, key, value) "
                  "VALUES (?1, ?2, ?3) ON CONFLICT (instance_id, key) "
                  "DO UPDATE SET value = excluded.value",
        .remove = "DELETE FROM instance_metadata "
                  "WHERE instance_id = ?1 AND key = ?2",
        .count = "SELECT count(*) FROM instance_metadata "
                 "WHERE instance_id = ?1",
    },
    .named = true,
    .by_name = "SELECT id FROM instances WHERE name = ?1 "
               "ORDER BY created_at DESC, seq DESC",
};

/* The normalised IDs of an instance given by a caller. */
struct cat_instance_ids {
    char id[UTIL_UUID_LEN];      /* its own */
    char image_buf[UTIL_UUID_LEN];   /* room for image */
    char project_buf[UTIL_UUID_LEN]; /* room for project */
    char user_buf[UTIL_UUID_LEN];    /* room for user */
    const char *image;           /* image_buf, or NULL for none */
    const char *project;         /* project_buf, or NULL for none */
    const char *user;            /* user_buf, or NULL for none */
};

/* Check the fields of INST that callers set into IDS. */
static int
cat_instance_check(const struct instance *inst, struct cat_instance_ids *ids,
                   struct error **errp)
{
    if (cat_check_id(inst->id, "server", ids->id, errp) < 0 ||
        cat_check_name_required(&cat_kind_instance, inst->name, errp) < 0 ||
        cat_check_ref(inst->image_id, "image", ids->image_buf, &ids->image,
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
    if (cat_check_ref(inst->project_id, "project", ids->project_buf,
                      &ids->project, errp) < 0 ||
        cat_check_ref(inst->user_id, "user", ids->user_buf, &ids->user,
                      errp) < 0 ||
        catalog_name_check("host", inst->host, errp) < 0) {
        return -1;
    }
    return cat_check_props(inst->meta, inst->nmeta, cat_kind_instance.item,
                           errp);
}

/* Store INST (borrowed) with its metadata as a new instance. */
static int
cat_instance_insert_locked(struct catalog *cat, const struct instance *inst,
                           struct error **errp)
{
    static const char sql[] =
        "INSERT INTO instances (id, name, image_id, memory_mb, cpus, "
        "updated_at, task_state, created_at, seq, project_id, user_id, "
        "host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
    CLEANUP_STMT struct db_stmt *st = NULL;
    struct cat_instance_ids ids;
    char now[UTIL_TIME_LEN];
    const char *created;
    int64_t seq = 0;

    if (cat_instance_check(inst, &ids, errp) < 0 ||
        cat_name_unused_locked(cat, &cat_kind_instance, inst->name,
                               ids.id, errp) < 0 ||
        cat_id_unused_locked(cat, &cat_kind_instance, ids.id, errp) < 0 ||
        cat_next_seq_locked(cat, &seq, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    created = inst->created_at ? inst->created_at : now;
    st = cat_prepare(cat, sql, errp);
    if (st == NULL ||
        cat_bind(st, errp, "sssli" "s" "ss" "lsss", ids.id, inst->name,
                 ids.image, inst->memory_mb, inst->cpus, created,
                 inst->task_state, created, seq, ids.project, ids.user,
                 inst->host) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return cat_store_kv_locked(cat, &cat_kind_instance.kv, ids.id,
                               inst->meta, inst->nmeta, errp);
}

int
catalog_instance_insert(struct catalog *cat, const struct instance *inst,
                        struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_instance_insert_locked(cat, inst, errp),
                      errp);
}

static int
cat_instance_set_shape_locked(struct catalog *cat, const char *id,
                              const char *name, int cpus,
                              int64_t memory_mb, struct error **errp)
{
    static const char sql[] =
        "UPDATE instances SET name = ?2, cpus = ?3, memory_mb = ?4, "
        "updated_at = ?5 WHERE id = ?1";
    CLEANUP_STMT struct db_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_instance, id, errp);
    }
    if (cat_check_name_required(&cat_kind_instance, name, errp) < 0) {
        return -1;
    }
    if (memory_mb <= 0 || cpus <= 0) {
        error_setg(errp, ERR_INVALID, "server %s needs memory and CPUs",
                   name);
        return -1;
    }
    if (cat_name_unused_locked(cat, &cat_kind_instance, name, nid,
                               errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, sql, errp);
    if (st == NULL ||
        cat_bind(st, errp, "ssils", nid, name, cpus, memory_mb, now) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    return cat_changed(cat, &cat_kind_instance, id, errp);
}

int
catalog_instance_set_shape(struct catalog *cat, const char *id,
                           const char *name, int cpus, int64_t memory_mb,
                           struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_instance_set_shape_locked(cat, id, name, cpus,
                                                         memory_mb, errp),
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
    return catalog_instance_list_by(cat, NULL, out, n, errp);
}

int
catalog_instance_list_by(struct catalog *cat,
                         const struct instance_filter *f,
                         struct instance ***out, size_t *n,
                         struct error **errp)
{
    struct cat_query q = { .id = NULL };

    if (f != NULL &&
        (cat_query_eq(&q, "project_id", f->project_id, errp) < 0 ||
         cat_query_eq(&q, "host", f->host, errp) < 0 ||
         cat_query_eq(&q, "image_id", f->image_id, errp) < 0 ||
         (f->local && cat_query_add(&q, " AND r.host IS NULL", 0, NULL,
                                    NULL, errp) < 0))) {
        return -1;
    }
    return cat_list(cat, &cat_kind_instance, &q, (void ***)out, n, errp);
}

/* An instance takes its actions along (the foreign key cascades too).  A
 * cat_delete_rule.
 */
static int
cat_instance_deletable_locked(struct catalog *cat, const char *id,
                              const char *given, struct error **errp)
{
    (void)given;
    return cat_exec_bound(cat, "DELETE FROM instance_actions "
                          "WHERE instance_id = ?1", errp, "s", id);
}

int
catalog_instance_delete(struct catalog *cat, const char *id,
                        struct error **errp)
{
    return cat_delete(cat, &cat_kind_instance, id,
                      cat_instance_deletable_locked, errp);
}

static int
cat_instance_set_task_locked(struct catalog *cat, const char *id,
                             const char *expected, const char *task,
                             struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *name, *current;

    if ((task != NULL && task[0] == '\0') ||
        (expected != NULL && expected[0] == '\0')) {
        error_setg(errp, ERR_INVALID, "empty task state");
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_instance, id, errp);
    }
    util_now_iso8601(now);
    /* The compare and the set are one statement; IS NOT DISTINCT FROM
     * compares NULL with NULL as equal, so an idle instance matches a
     * NULL expectation.
     */
    if (cat_exec_bound(cat, "UPDATE instances SET task_state = ?3, "
                       "updated_at = ?4 WHERE id = ?1 "
                       "AND task_state IS NOT DISTINCT FROM ?2", errp,
                       "ssss", nid, expected, task, now) < 0) {
        return -1;
    }
    if (cat_changes(cat) > 0) {
        return 0;
    }
    /* Nothing changed: say why, from the same transaction. */
    st = cat_row_locked(cat, &cat_kind_instance, "SELECT name, task_state "
                        "FROM instances WHERE id = ?1", nid, id, errp);
    if (st == NULL) {
        return -1;
    }
    name = db_column_text(st, 0);
    current = db_column_text(st, 1);
    if (current != NULL) {
        error_setg(errp, ERR_CONFLICT, "server %s is busy: %s",
                   name ? name : id, current);
    } else {
        error_setg(errp, ERR_CONFLICT, "server %s is not busy with %s",
                   name ? name : id, expected);
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

static int
cat_instance_set_meta_locked(struct catalog *cat, const char *id,
                             const struct prop *set, size_t nset,
                             const char *const *unset, size_t nunset,
                             struct error **errp)
{
    char nid[UTIL_UUID_LEN];

    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_instance, id, errp);
    }
    if (cat_touch_locked(cat, &cat_kind_instance, nid, id, errp) < 0) {
        return -1;
    }
    return cat_kv_patch_locked(cat, &cat_kind_instance, nid, id, set, nset,
                               unset, nunset, errp);
}

int
catalog_instance_set_meta(struct catalog *cat, const char *id,
                          const struct prop *set, size_t nset,
                          const char *const *unset, size_t nunset,
                          struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_instance_set_meta_locked(cat, id, set, nset,
                                                        unset, nunset,
                                                        errp), errp);
}
