/* vmsnap: the actions on an instance (Nova's instance actions; see
 * catalog-instances.h).  They are kept with their instance and go with
 * it; they are not a kind of the engine, having no ID of their own.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"
#include "xalloc.h"

/* Check a required text field of an action: a non-empty name. */
static int
cat_action_check_text(const char *what, const char *s, struct error **errp)
{
    if (s == NULL || s[0] == '\0') {
        error_setg(errp, ERR_INVALID, "an instance action needs a %s", what);
        return -1;
    }
    return catalog_name_check(what, s, errp);
}

static int
cat_action_start_locked(struct catalog *cat, const struct instance_action *a,
                        struct error **errp)
{
    char sid[UTIL_UUID_LEN], pbuf[UTIL_UUID_LEN], ubuf[UTIL_UUID_LEN];
    char now[UTIL_TIME_LEN];
    CLEANUP_STMT struct db_stmt *st = NULL;
    const char *project, *user;
    int64_t seq;
    int r;

    if (cat_action_check_text("request", a->request_id, errp) < 0 ||
        cat_action_check_text("action", a->action, errp) < 0 ||
        cat_check_ref(a->project_id, "project", pbuf, &project, errp) < 0 ||
        cat_check_ref(a->user_id, "user", ubuf, &user, errp) < 0 ||
        cat_check_created(a->start_time, errp) < 0) {
        return -1;
    }
    if (a->instance_id == NULL || !cat_norm_id(a->instance_id, sid)) {
        return cat_not_found(&cat_kind_instance,
                             a->instance_id ? a->instance_id : "", errp);
    }
    if (cat_must_exist_locked(cat, &cat_kind_instance, sid, a->instance_id,
                              errp) < 0) {
        return -1;
    }
    st = cat_prepare(cat, "SELECT 1 FROM instance_actions "
                     "WHERE instance_id = ?1 AND request_id = ?2", errp);
    if (st == NULL || cat_bind(st, errp, "ss", sid, a->request_id) < 0 ||
        (r = cat_step(st, errp)) < 0) {
        return -1;
    }
    if (r > 0) {
        error_setg(errp, ERR_CONFLICT, "server %s already has an action of "
                   "request %s", a->instance_id, a->request_id);
        return -1;
    }
    if (cat_next_seq_locked(cat, &seq, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    return cat_exec_bound(cat, "INSERT INTO instance_actions (instance_id, "
                          "request_id, seq, action, project_id, user_id, "
                          "start_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                          errp, "sslssss", sid, a->request_id, seq,
                          a->action, project, user,
                          a->start_time ? a->start_time : now);
}

int
catalog_instance_action_start(struct catalog *cat,
                              const struct instance_action *a,
                              struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_action_start_locked(cat, a, errp), errp);
}

static int
cat_action_finish_locked(struct catalog *cat, const char *instance_id,
                         const char *request_id, const char *message,
                         struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char sid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    int r;

    if (request_id == NULL) {
        error_setg(errp, ERR_INVALID, "no request given");
        return -1;
    }
    if (instance_id == NULL || !cat_norm_id(instance_id, sid)) {
        sid[0] = '\0';  /* matches no action */
    }
    util_now_iso8601(now);
    if (cat_exec_bound(cat, "UPDATE instance_actions SET finish_time = ?3, "
                       "message = ?4 WHERE instance_id = ?1 "
                       "AND request_id = ?2 AND finish_time IS NULL", errp,
                       "ssss", sid, request_id, now, message) < 0) {
        return -1;
    }
    if (cat_changes(cat) > 0) {
        return 0;
    }
    st = cat_prepare(cat, "SELECT 1 FROM instance_actions "
                     "WHERE instance_id = ?1 AND request_id = ?2", errp);
    if (st == NULL || cat_bind(st, errp, "ss", sid, request_id) < 0 ||
        (r = cat_step(st, errp)) < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "server %s has no action of "
                   "request %s", instance_id ? instance_id : "",
                   request_id);
    } else {
        error_setg(errp, ERR_CONFLICT, "the action of request %s on server "
                   "%s is finished", request_id, instance_id);
    }
    return -1;
}

int
catalog_instance_action_finish(struct catalog *cat, const char *instance_id,
                               const char *request_id, const char *message,
                               struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_action_finish_locked(cat, instance_id,
                                                    request_id, message,
                                                    errp), errp);
}

/* Read a row (the columns of catalog_instance_action_list) into a new
 * action (a pointer element).
 */
static int
cat_read_action(struct catalog *cat, struct db_stmt *st, void *elem,
                const void *ctx, struct error **errp)
{
    struct instance_action *a = xcalloc(1, sizeof(*a));

    (void)cat;
    (void)ctx;
    *(struct instance_action **)elem = a;
    if (cat_col_str(st, 0, &a->request_id) < 0 ||
        cat_col_str(st, 1, &a->instance_id) < 0 ||
        cat_col_str(st, 2, &a->action) < 0 ||
        cat_col_str(st, 3, &a->project_id) < 0 ||
        cat_col_str(st, 4, &a->user_id) < 0 ||
        cat_col_str(st, 5, &a->start_time) < 0 ||
        cat_col_str(st, 6, &a->finish_time) < 0 ||
        cat_col_str(st, 7, &a->message) < 0) {
        return cat_oom(errp);
    }
    return 0;
}

static void
cat_clear_action(void *elem, const void *ctx)
{
    (void)ctx;
    instance_action_free(*(struct instance_action **)elem);
}

static int
cat_action_list_locked(struct catalog *cat, const char *instance_id,
                       struct instance_action ***out, size_t *n,
                       struct error **errp)
{
    static const struct cat_row_reader rd = {
        .size = sizeof(struct instance_action *),
        .read = cat_read_action,
        .clear = cat_clear_action,
    };
    CLEANUP_STMT struct db_stmt *st = NULL;
    char sid[UTIL_UUID_LEN];

    if (instance_id == NULL || !cat_norm_id(instance_id, sid)) {
        sid[0] = '\0';  /* matches no action */
    }
    st = cat_prepare(cat, "SELECT request_id, instance_id, action, "
                     "project_id, user_id, start_time, finish_time, message "
                     "FROM instance_actions WHERE instance_id = ?1 "
                     "ORDER BY start_time DESC, seq DESC", errp);
    if (st == NULL || cat_bind(st, errp, "s", sid) < 0) {
        return -1;
    }
    return cat_rows(cat, st, &rd, NULL, (void **)out, n, errp);
}

int
catalog_instance_action_list(struct catalog *cat, const char *instance_id,
                             struct instance_action ***out, size_t *n,
                             struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    return cat_tx_end_read(cat, cat_action_list_locked(cat, instance_id,
                                                       out, n, errp));
}
