/* vmsnap: writes of records of any kind: key/value sets, the insertion
 * counter, updated_at, deletes and compare-and-set moves from status to
 * status (see catalog-internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"

/* The status column of kind K. */
static const char *
cat_status_col(const struct cat_kind *k)
{
    return k->status_col != NULL ? k->status_col : "status";
}

/* ---- Key/value sets --------------------------------------------------- */

/* Read a row (key, value) into a struct prop. */
static int
cat_read_prop(struct catalog *cat, struct db_stmt *st, void *elem,
              const void *ctx, struct error **errp)
{
    struct prop *p = elem;

    (void)cat;
    (void)ctx;
    if (cat_col_str(st, 0, &p->key) < 0 || cat_col_str(st, 1, &p->value) < 0 ||
        p->key == NULL || p->value == NULL) {
        return cat_oom(errp);
    }
    return 0;
}

static void
cat_clear_prop(void *elem, const void *ctx)
{
    struct prop *p = elem;

    (void)ctx;
    free(p->key);
    free(p->value);
}

const struct cat_row_reader cat_prop_reader = {
    .size = sizeof(struct prop),
    .read = cat_read_prop,
    .clear = cat_clear_prop,
};

int
cat_load_kv(struct catalog *cat, const struct cat_kv_table *t,
            const char *owner, struct prop **props, size_t *n,
            struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = cat_prepare(cat, t->select, errp);

    if (st == NULL || cat_bind(st, errp, "s", owner) < 0) {
        return -1;
    }
    return cat_rows(cat, st, &cat_prop_reader, NULL, (void **)props, n,
                    errp);
}

int
cat_store_kv_locked(struct catalog *cat, const struct cat_kv_table *t,
                    const char *owner, const struct prop *props, size_t n,
                    struct error **errp)
{
    CLEANUP_STMT struct db_stmt *ins = NULL;
    size_t i;

    if (cat_exec_bound(cat, t->clear, errp, "s", owner) < 0) {
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
        if (db_reset(ins, errp) < 0 ||
            cat_bind(ins, errp, "sss", owner, props[i].key,
                     props[i].value) < 0 ||
            cat_run(cat, ins, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Fail unless none of the N keys of UNSET is among the NSET items of SET
 * (both checked), and every key of UNSET is given.
 */
static int
cat_kv_patch_check(const struct cat_kind *k, const struct prop *set,
                   size_t nset, const char *const *unset, size_t nunset,
                   struct error **errp)
{
    size_t i;

    if (cat_check_props(set, nset, k->item, errp) < 0) {
        return -1;
    }
    if (nunset > 0 && unset == NULL) {
        error_setg(errp, ERR_INVALID, "%s names missing", k->item);
        return -1;
    }
    for (i = 0; i < nunset; i++) {
        if (unset[i] == NULL) {
            error_setg(errp, ERR_INVALID, "no %s name given", k->item);
            return -1;
        }
        if (catalog_prop_get(set, nset, unset[i]) != NULL) {
            error_setg(errp, ERR_INVALID, "%s '%s' is both set and removed",
                       k->item, unset[i]);
            return -1;
        }
    }
    return 0;
}

int
cat_kv_patch_locked(struct catalog *cat, const struct cat_kind *k,
                    const char *id, const char *given, const struct prop *set,
                    size_t nset, const char *const *unset, size_t nunset,
                    struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    int64_t count;
    size_t i;
    int r;

    if (cat_kv_patch_check(k, set, nset, unset, nunset, errp) < 0) {
        return -1;
    }
    for (i = 0; i < nunset; i++) {
        if (cat_exec_bound(cat, k->kv.remove, errp, "ss", id, unset[i]) <
            0) {
            return -1;
        }
        if (cat_changes(cat) == 0) {
            error_setg(errp, ERR_NOT_FOUND, "%s %s has no %s '%s'", k->noun,
                       given, k->key_noun, unset[i]);
            return -1;
        }
    }
    for (i = 0; i < nset; i++) {
        if (cat_exec_bound(cat, k->kv.upsert, errp, "sss", id, set[i].key,
                           set[i].value) < 0) {
            return -1;
        }
    }
    if (nset == 0) {
        return 0;
    }
    st = cat_prepare(cat, k->kv.count, errp);
    if (st == NULL || cat_bind(st, errp, "s", id) < 0) {
        return -1;
    }
    r = cat_step(st, errp);
    if (r < 0) {
        return -1;
    }
    count = r > 0 ? db_column_int64(st, 0) : 0;
    if (count > CATALOG_PROPS_MAX) {
        error_setg(errp, ERR_INVALID, "%s %s would have %lld %s, at most %d",
                   k->noun, given, (long long)count, k->keys_noun,
                   CATALOG_PROPS_MAX);
        return -1;
    }
    return 0;
}

/* ---- Writing records -------------------------------------------------- */

int
cat_next_seq_locked(struct catalog *cat, int64_t *seq, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    int r;

    if (cat_exec_bound(cat, "UPDATE catalog_sequence SET value = value + 1 "
                       "WHERE name = 'seq'", errp, "") < 0) {
        return -1;
    }
    st = cat_prepare(cat, "SELECT value FROM catalog_sequence "
                     "WHERE name = 'seq'", errp);
    if (st == NULL || (r = cat_step(st, errp)) < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_IO, "catalog %s is damaged: no sequence",
                   cat->path);
        return -1;
    }
    *seq = db_column_int64(st, 0);
    return 0;
}

int
cat_touch_locked(struct catalog *cat, const struct cat_kind *k,
                 const char *id, const char *given, struct error **errp)
{
    char sql[CAT_SQL_LEN], now[UTIL_TIME_LEN];

    snprintf(sql, sizeof(sql), "UPDATE %s SET updated_at = ?2 "
             "WHERE id = ?1", k->table);
    util_now_iso8601(now);
    if (cat_exec_bound(cat, sql, errp, "ss", id, now) < 0) {
        return -1;
    }
    return cat_changed(cat, k, given, errp);
}

/* Delete record ID of kind K (as the caller wrote it) with its key/value
 * set, if RULE (NULL for none) lets it.
 */
static int
cat_delete_locked(struct catalog *cat, const struct cat_kind *k,
                  const char *id, cat_delete_rule *rule,
                  struct error **errp)
{
    char nid[UTIL_UUID_LEN], sql[CAT_SQL_LEN];

    if (!cat_norm_id(id, nid)) {
        return cat_not_found(k, id, errp);
    }
    if (rule != NULL && rule(cat, nid, id, errp) < 0) {
        return -1;
    }
    /* The foreign key cascades too; delete explicitly all the same. */
    if (k->item != NULL &&
        cat_exec_bound(cat, k->kv.clear, errp, "s", nid) < 0) {
        return -1;
    }
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = ?1", k->table);
    if (cat_exec_bound(cat, sql, errp, "s", nid) < 0) {
        return -1;
    }
    return cat_changed(cat, k, id, errp);
}

int
cat_delete(struct catalog *cat, const struct cat_kind *k, const char *id,
           cat_delete_rule *rule, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_delete_locked(cat, k, id, rule, errp), errp);
}

int
cat_cas_failed_locked(struct catalog *cat, const struct cat_kind *k,
                      const char *id, const char *given,
                      const char *const *want, size_t n, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    struct cat_buf b = { 0 };
    CLEANUP_FREE char *list = NULL;
    char sql[CAT_SQL_LEN];
    const char *name, *status;
    size_t i;

    snprintf(sql, sizeof(sql), "SELECT %s, %s FROM %s WHERE id = ?1",
             k->named ? "name" : "NULL", cat_status_col(k), k->table);
    st = cat_row_locked(cat, k, sql, id, given, errp);
    if (st == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        cat_buf_printf(&b, "%s%s", i == 0 ? "" : i + 1 < n ? ", " : " or ",
                       want[i]);
    }
    list = cat_buf_steal(&b);
    name = db_column_text(st, 0);
    status = db_column_text(st, 1);
    error_setg(errp, ERR_CONFLICT, "%s %s is %s, not %s", k->noun,
               cat_label(name, id), status ? status : "?",
               list ? list : "(too many to list)");
    return -1;
}

/* Move record ID of kind K to status TO (see cat_transition). */
static int
cat_transition_locked(struct catalog *cat, const struct cat_kind *k,
                      const char *id, const char *from, const char *to,
                      const char *reason, cat_status_rule *rule,
                      struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN], sql[CAT_SQL_LEN];
    char cond[64] = "";

    if (cat_check_status(k, to, errp) < 0 ||
        (from != NULL && cat_check_status(k, from, errp) < 0)) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(k, id, errp);
    }
    if (rule != NULL && rule(cat, nid, id, to, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    /* The compare and the set are one statement.  REASON is bound only
     * for a kind that keeps one; FROM only when given.
     */
    if (from != NULL) {
        snprintf(cond, sizeof(cond), " AND %s = ?%d", cat_status_col(k),
                 k->has_reason ? 5 : 4);
    }
    snprintf(sql, sizeof(sql), "UPDATE %s SET %s = ?2, updated_at = ?3%s "
             "WHERE id = ?1%s", k->table, cat_status_col(k),
             k->has_reason ? ", fail_reason = ?4" : "", cond);
    st = cat_prepare(cat, sql, errp);
    if (st == NULL ||
        (k->has_reason
             ? cat_bind(st, errp, from ? "sssss" : "ssss", nid, to, now,
                        reason, from)
             : cat_bind(st, errp, from ? "ssss" : "sss", nid, to, now,
                        from)) < 0 ||
        cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (cat_changes(cat) > 0) {
        return 0;
    }
    return cat_cas_failed_locked(cat, k, nid, id, &from, 1, errp);
}

int
cat_transition(struct catalog *cat, const struct cat_kind *k, const char *id,
               const char *from, const char *to, const char *reason,
               cat_status_rule *rule, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_transition_locked(cat, k, id, from, to,
                                                 reason, rule, errp),
                      errp);
}
