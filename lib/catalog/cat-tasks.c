/* vmsnap: tasks in the catalog (see catalog-tasks.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "catalog-internal.h"
#include "cleanup.h"
#include "xalloc.h"
#include "xjson.h"

/* A task keeps at most this many warnings, each at most this long. */
#define CAT_TASK_WARNINGS_MAX 64
#define CAT_TASK_WARNING_LEN 4096

static const char *const cat_task_states[] = {
    "queued", "running", "succeeded", "failed",
};

static const struct cat_col cat_task_cols[] = {
    CAT_COL(struct task, id, CAT_COL_ID),
    CAT_COL(struct task, kind, CAT_COL_TEXT),
    CAT_COL(struct task, state, CAT_COL_TEXT),
    CAT_COL(struct task, target_kind, CAT_COL_TEXT),
    CAT_COL(struct task, target_id, CAT_COL_TEXT),
    CAT_COL(struct task, image_id, CAT_COL_TEXT),
    CAT_COL(struct task, project_id, CAT_COL_TEXT),
    CAT_COL(struct task, user_id, CAT_COL_TEXT),
    CAT_COL(struct task, request, CAT_COL_TEXT),
    CAT_COL(struct task, phase, CAT_COL_TEXT),
    CAT_COL(struct task, progress, CAT_COL_DOUBLE),
    CAT_COL(struct task, warnings, CAT_COL_TEXT),
    CAT_COL(struct task, error, CAT_COL_TEXT),
    CAT_COL(struct task, error_class, CAT_COL_TEXT),
    CAT_COL(struct task, owner, CAT_COL_TEXT),
    CAT_COL(struct task, created_at, CAT_COL_TEXT),
    CAT_COL(struct task, updated_at, CAT_COL_TEXT),
    CAT_COL(struct task, started_at, CAT_COL_TEXT),
    CAT_COL(struct task, finished_at, CAT_COL_TEXT),
};

static void
cat_task_free(void *rec)
{
    task_free(rec);
}

const struct cat_kind cat_kind_task = {
    .noun = "task",
    .table = "tasks",
    .cols = cat_task_cols,
    .ncols = CAT_NELEMS(cat_task_cols),
    .size = sizeof(struct task),
    .free = cat_task_free,
    .statuses = cat_task_states,
    .nstatuses = CAT_NELEMS(cat_task_states),
    .status_col = "state",
};

bool
catalog_task_state_valid(const char *state)
{
    return cat_status_in(state, cat_task_states, CAT_NELEMS(cat_task_states));
}

/* The normalised references of a task given by a caller. */
struct cat_task_refs {
    char id[UTIL_UUID_LEN];       /* its own ID */
    char bufs[4][UTIL_UUID_LEN];  /* room for the others */
    const char *target;           /* target_id, or NULL */
    const char *image;            /* image_id, or NULL */
    const char *project;          /* project_id, or NULL */
    const char *user;             /* user_id, or NULL */
};

/* Check the fields of T a caller sets into REFS. */
static int
cat_task_check(const struct task *t, struct cat_task_refs *refs,
               struct error **errp)
{
    if (cat_check_id(t->id, "task", refs->id, errp) < 0 ||
        cat_check_word("task kind", t->kind, false, errp) < 0 ||
        cat_check_word("task target kind", t->target_kind, true, errp) < 0 ||
        cat_check_ref(t->target_id, "target", refs->bufs[0], &refs->target,
                      errp) < 0 ||
        cat_check_ref(t->image_id, "image", refs->bufs[1], &refs->image,
                      errp) < 0 ||
        cat_check_ref(t->project_id, "project", refs->bufs[2],
                      &refs->project, errp) < 0 ||
        cat_check_ref(t->user_id, "user", refs->bufs[3], &refs->user,
                      errp) < 0 ||
        cat_check_created(t->created_at, errp) < 0) {
        return -1;
    }
    if (t->state != NULL && strcmp(t->state, "queued") != 0) {
        error_setg(errp, ERR_INVALID, "a new task is queued, not %s",
                   t->state);
        return -1;
    }
    if ((t->target_id == NULL) != (t->target_kind == NULL)) {
        error_setg(errp, ERR_INVALID, "a task target needs a kind and an "
                   "ID");
        return -1;
    }
    return 0;
}

static int
cat_task_insert_locked(struct catalog *cat, const struct task *t,
                       struct error **errp)
{
    struct cat_task_refs refs;
    char now[UTIL_TIME_LEN];
    const char *created;
    int64_t seq;

    if (cat_task_check(t, &refs, errp) < 0 ||
        cat_id_unused_locked(cat, &cat_kind_task, refs.id, errp) < 0 ||
        cat_next_seq_locked(cat, &seq, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    created = t->created_at ? t->created_at : now;
    if (t->owner && catalog_name_check("task owner", t->owner, errp) < 0) {
        return -1;
    }
    return cat_exec_bound(cat, "INSERT INTO tasks (id, seq, kind, state, "
                          "target_kind, target_id, image_id, project_id, "
                          "user_id, request, progress, warnings, owner, "
                          "created_at, updated_at) VALUES (?1, ?2, ?3, "
                          "'queued', ?4, ?5, ?6, ?7, ?8, ?9, 0, '[]', ?11, "
                          "?10, ?10)", errp,
                          "slsssssssss", refs.id, seq, t->kind,
                          t->target_kind, refs.target, refs.image,
                          refs.project, refs.user, t->request, created,
                          t->owner);
}

int
catalog_task_insert(struct catalog *cat, const struct task *t,
                    struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_task_insert_locked(cat, t, errp), errp);
}

int
catalog_task_get(struct catalog *cat, const char *id, struct task **out,
                 struct error **errp)
{
    return cat_get(cat, &cat_kind_task, id, false, (void **)out, errp);
}

int
catalog_task_list(struct catalog *cat, const struct task_filter *f,
                  struct task ***out, size_t *n, struct error **errp)
{
    struct cat_query q = { .id = NULL };
    char target[UTIL_UUID_LEN];

    if (f != NULL) {
        /* Something that is not a UUID is no target. */
        if (f->target_id != NULL && !cat_norm_id(f->target_id, target)) {
            target[0] = '\0';
        }
        if ((f->state != NULL &&
             cat_check_status(&cat_kind_task, f->state, errp) < 0) ||
            cat_query_eq(&q, "state", f->state, errp) < 0 ||
            cat_query_eq(&q, "kind", f->kind, errp) < 0 ||
            cat_query_eq(&q, "target_kind", f->target_kind, errp) < 0 ||
            cat_query_eq(&q, "target_id", f->target_id ? target : NULL,
                         errp) < 0 ||
            cat_query_eq(&q, "project_id", f->project_id, errp) < 0) {
            return -1;
        }
        q.limit = (int64_t)f->limit;
    }
    return cat_list(cat, &cat_kind_task, &q, (void ***)out, n, errp);
}

/* Run ST, a compare-and-set on task ID (normalised; GIVEN as the
 * caller wrote it), and say why if it changed nothing: the task was not
 * in one of the N states of WANT.
 */
static int
cat_task_cas_locked(struct catalog *cat, const char *id, const char *given,
                    const char *const *want, size_t n, struct db_stmt *st,
                    struct error **errp)
{
    if (cat_run(cat, st, errp) < 0) {
        return -1;
    }
    if (cat_changes(cat) > 0) {
        return 0;
    }
    return cat_cas_failed_locked(cat, &cat_kind_task, id, given, want, n,
                                 errp);
}

static int
cat_task_claim_locked(struct catalog *cat, const char *id, const char *owner,
                      struct error **errp)
{
    static const char *const want[] = { "queued" };
    static const char sql[] =
        "UPDATE tasks SET state = 'running', owner = ?2, started_at = ?3, "
        "updated_at = ?3 WHERE id = ?1 AND state = 'queued'";
    CLEANUP_STMT struct db_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (owner == NULL || owner[0] == '\0') {
        error_setg(errp, ERR_INVALID, "a task needs an owner to run it");
        return -1;
    }
    if (catalog_name_check("task owner", owner, errp) < 0) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_task, id, errp);
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, sql, errp);
    if (st == NULL || cat_bind(st, errp, "sss", nid, owner, now) < 0) {
        return -1;
    }
    return cat_task_cas_locked(cat, nid, id, want, 1, st, errp);
}

int
catalog_task_claim(struct catalog *cat, const char *id, const char *owner,
                   struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_task_claim_locked(cat, id, owner, errp),
                      errp);
}

static int
cat_task_progress_locked(struct catalog *cat, const char *id,
                         const char *phase, double percent,
                         struct error **errp)
{
    static const char *const want[] = { "running" };
    static const char sql[] =
        "UPDATE tasks SET phase = COALESCE(?2, phase), progress = ?3, "
        "updated_at = ?4 WHERE id = ?1 AND state = 'running'";
    CLEANUP_STMT struct db_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (isnan(percent) || percent < 0 || percent > 100) {
        error_setg(errp, ERR_INVALID, "task progress must be 0 to 100 %%");
        return -1;
    }
    if (catalog_name_check("task phase", phase, errp) < 0) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_task, id, errp);
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, sql, errp);
    if (st == NULL ||
        cat_bind(st, errp, "ssds", nid, phase, percent, now) < 0) {
        return -1;
    }
    return cat_task_cas_locked(cat, nid, id, want, 1, st, errp);
}

int
catalog_task_progress(struct catalog *cat, const char *id, const char *phase,
                      double percent, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_task_progress_locked(cat, id, phase, percent,
                                                    errp), errp);
}

/* Append WARNING to the JSON array text OLD (anything else counts as an
 * empty array) into *OUT (caller frees), within the limits.
 */
static int
cat_task_append_warning(const char *old, const char *warning, char **out,
                        struct error **errp)
{
    CLEANUP_JSON_PUT json_object *a = old ? json_tokener_parse(old) : NULL;
    const char *add = warning;
    size_t len;

    (void)errp;
    if (a == NULL || !json_object_is_type(a, json_type_array)) {
        json_object_put(a);
        a = xjson_array();
    }
    len = json_object_array_length(a);
    if (len >= CAT_TASK_WARNINGS_MAX) {
        add = NULL;
    } else if (len == CAT_TASK_WARNINGS_MAX - 1) {
        add = "further warnings were dropped";
    }
    if (add != NULL) {
        xjson_append(a, xjson_string(add));
    }
    *out = xstrdup(xjson_text(a, NULL));
    return 0;
}

static int
cat_task_add_warning_locked(struct catalog *cat, const char *id,
                            const char *warning, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    CLEANUP_FREE char *old = NULL, *warnings = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (warning == NULL || warning[0] == '\0' ||
        strlen(warning) > CAT_TASK_WARNING_LEN) {
        error_setg(errp, ERR_INVALID, "a task warning must be 1 to %d bytes",
                   CAT_TASK_WARNING_LEN);
        return -1;
    }
    if (catalog_value_check("task warning", warning, errp) < 0) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_task, id, errp);
    }
    /* Read and write in the write transaction: no warning is lost. */
    st = cat_row_locked(cat, &cat_kind_task, "SELECT warnings FROM tasks "
                        "WHERE id = ?1", nid, id, errp);
    if (st == NULL) {
        return -1;
    }
    if (cat_col_str(st, 0, &old) < 0) {
        return cat_oom(errp);
    }
    if (cat_task_append_warning(old, warning, &warnings, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    return cat_exec_bound(cat, "UPDATE tasks SET warnings = ?2, "
                          "updated_at = ?3 WHERE id = ?1", errp, "sss", nid,
                          warnings, now);
}

int
catalog_task_add_warning(struct catalog *cat, const char *id,
                         const char *warning, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_task_add_warning_locked(cat, id, warning,
                                                       errp), errp);
}

/* Check result R; *SUCCESS says which it is, IMAGE gets its image. */
static int
cat_task_result_check(const struct task_result *r, bool *success,
                      char image[UTIL_UUID_LEN], const char **image_out,
                      struct error **errp)
{
    if (r == NULL || r->state == NULL ||
        (strcmp(r->state, "succeeded") != 0 &&
         strcmp(r->state, "failed") != 0)) {
        error_setg(errp, ERR_INVALID, "a task ends succeeded or failed");
        return -1;
    }
    *success = strcmp(r->state, "succeeded") == 0;
    if (*success && (r->error != NULL || r->error_class != NULL)) {
        error_setg(errp, ERR_INVALID, "a task that succeeded has no error");
        return -1;
    }
    if (cat_check_ref(r->image_id, "image", image, image_out, errp) < 0 ||
        cat_check_word("error class", r->error_class, true, errp) < 0) {
        return -1;
    }
    return 0;
}

static int
cat_task_finish_locked(struct catalog *cat, const char *id,
                       const struct task_result *r, struct error **errp)
{
    static const char *const running[] = { "running" };
    static const char *const unfinished[] = { "running", "queued" };
    static const char ok_sql[] =
        "UPDATE tasks SET state = 'succeeded', finished_at = ?2, "
        "updated_at = ?2, image_id = COALESCE(?3, image_id), "
        "progress = 100 WHERE id = ?1 AND state = 'running'";
    static const char failed_sql[] =
        "UPDATE tasks SET state = 'failed', finished_at = ?2, "
        "updated_at = ?2, image_id = COALESCE(?3, image_id), error = ?4, "
        "error_class = ?5 WHERE id = ?1 AND state IN ('running', 'queued')";
    CLEANUP_STMT struct db_stmt *st = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN], image[UTIL_UUID_LEN];
    const char *image_id;
    bool success;

    if (cat_task_result_check(r, &success, image, &image_id, errp) < 0) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_task, id, errp);
    }
    util_now_iso8601(now);
    st = cat_prepare(cat, success ? ok_sql : failed_sql, errp);
    if (st == NULL ||
        (success ? cat_bind(st, errp, "sss", nid, now, image_id)
                 : cat_bind(st, errp, "sssss", nid, now, image_id, r->error,
                            r->error_class)) < 0) {
        return -1;
    }
    return cat_task_cas_locked(cat, nid, id, success ? running : unfinished,
                               success ? 1 : 2, st, errp);
}

int
catalog_task_finish(struct catalog *cat, const char *id,
                    const struct task_result *r, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_task_finish_locked(cat, id, r, errp), errp);
}

int
catalog_task_delete(struct catalog *cat, const char *id,
                    struct error **errp)
{
    return cat_delete(cat, &cat_kind_task, id, NULL, errp);
}

int
catalog_task_prune(struct catalog *cat, const char *older_than,
                   struct error **errp)
{
    if (!util_is_iso8601(older_than)) {
        error_setg(errp, ERR_INVALID, "bad time '%s'",
                   older_than ? older_than : "");
        return -1;
    }
    return cat_exec_count(cat, errp, "DELETE FROM tasks WHERE state IN "
                          "('succeeded', 'failed') AND finished_at < ?1",
                          "s", older_than);
}
