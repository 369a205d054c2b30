/* vmsnap: role assignments and tokens in the catalog (see
 * catalog-identity.h).  Neither has a UUID of its own, so they are not
 * kinds of the engine.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"
#include "xalloc.h"

/* ---- Roles ------------------------------------------------------------ */

static const char *const cat_roles[] = { "admin", "member" };

bool
catalog_role_valid(const char *role)
{
    return cat_status_in(role, cat_roles, CAT_NELEMS(cat_roles));
}

/* Normalise the user and project IDs of a role assignment into USER and
 * PROJECT: ERR_NOT_FOUND when one is not a UUID (or, with EXIST, is not
 * in the catalog).
 */
static int
cat_role_ids_locked(struct catalog *cat, const char *user_id,
                    const char *project_id, bool exist,
                    char user[UTIL_UUID_LEN], char project[UTIL_UUID_LEN],
                    struct error **errp)
{
    if (user_id == NULL || !cat_norm_id(user_id, user)) {
        return cat_not_found(&cat_kind_user, user_id ? user_id : "", errp);
    }
    if (project_id == NULL || !cat_norm_id(project_id, project)) {
        return cat_not_found(&cat_kind_project,
                             project_id ? project_id : "", errp);
    }
    if (exist &&
        (cat_must_exist_locked(cat, &cat_kind_user, user, user_id, errp) <
             0 ||
         cat_must_exist_locked(cat, &cat_kind_project, project, project_id,
                               errp) < 0)) {
        return -1;
    }
    return 0;
}

/* Grant (GRANT) or revoke ROLE. */
static int
cat_role_change_locked(struct catalog *cat, const char *user_id,
                       const char *project_id, const char *role, bool grant,
                       struct error **errp)
{
    char user[UTIL_UUID_LEN], project[UTIL_UUID_LEN];

    if (!catalog_role_valid(role)) {
        error_setg(errp, ERR_INVALID, "unknown role '%s'", role ? role : "");
        return -1;
    }
    if (cat_role_ids_locked(cat, user_id, project_id, grant, user, project,
                            errp) < 0) {
        return -1;
    }
    if (grant) {
        return cat_exec_bound(cat, "INSERT INTO role_assignments (user_id, "
                              "project_id, role) VALUES (?1, ?2, ?3) "
                              "ON CONFLICT (user_id, project_id, role) "
                              "DO NOTHING", errp, "sss", user, project,
                              role);
    }
    if (cat_exec_bound(cat, "DELETE FROM role_assignments WHERE user_id = ?1 "
                       "AND project_id = ?2 AND role = ?3", errp, "sss",
                       user, project, role) < 0) {
        return -1;
    }
    if (cat_changes(cat) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "user %s has no role %s on project "
                   "%s", user_id, role, project_id);
        return -1;
    }
    return 0;
}

int
catalog_role_grant(struct catalog *cat, const char *user_id,
                   const char *project_id, const char *role,
                   struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_role_change_locked(cat, user_id, project_id,
                                                  role, true, errp), errp);
}

int
catalog_role_revoke(struct catalog *cat, const char *user_id,
                    const char *project_id, const char *role,
                    struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_role_change_locked(cat, user_id, project_id,
                                                  role, false, errp), errp);
}

/* Copy a filter ID given by a caller into BUF and return BUF, or a value
 * that matches nothing when it is not a UUID; NULL stays NULL.
 */
static const char *
cat_filter_id(const char *id, char buf[UTIL_UUID_LEN])
{
    if (id == NULL) {
        return NULL;
    }
    if (!cat_norm_id(id, buf)) {
        buf[0] = '\0';
    }
    return buf;
}

/* Read a row (user_id, project_id, role) into a role assignment. */
static int
cat_read_role(struct catalog *cat, struct db_stmt *st, void *elem,
              const void *ctx, struct error **errp)
{
    struct role_assignment *ra = elem;

    (void)cat;
    (void)ctx;
    if (cat_col_str(st, 0, &ra->user_id) < 0 ||
        cat_col_str(st, 1, &ra->project_id) < 0 ||
        cat_col_str(st, 2, &ra->role) < 0) {
        return cat_oom(errp);
    }
    return 0;
}

static void
cat_clear_role(void *elem, const void *ctx)
{
    struct role_assignment *ra = elem;

    (void)ctx;
    free(ra->user_id);
    free(ra->project_id);
    free(ra->role);
}

static int
cat_role_list_locked(struct catalog *cat, const char *user_id,
                     const char *project_id, struct role_assignment **out,
                     size_t *n, struct error **errp)
{
    static const struct cat_row_reader rd = {
        .size = sizeof(struct role_assignment),
        .read = cat_read_role,
        .clear = cat_clear_role,
    };
    CLEANUP_STMT struct db_stmt *st = NULL;
    CLEANUP_FREE char *sql = NULL;
    struct cat_buf b = { 0 };
    char user[UTIL_UUID_LEN], project[UTIL_UUID_LEN];
    int i = 1;

    user_id = cat_filter_id(user_id, user);
    project_id = cat_filter_id(project_id, project);
    /* Fixed fragments only; the values are bound in the same order. */
    cat_buf_printf(&b, "SELECT user_id, project_id, role FROM "
                   "role_assignments WHERE 1 = 1%s%s ORDER BY user_id, "
                   "project_id, role", user_id ? " AND user_id = ?" : "",
                   project_id ? " AND project_id = ?" : "");
    sql = cat_buf_steal(&b);
    if (sql == NULL) {
        return cat_too_long(errp);
    }
    st = cat_prepare(cat, sql, errp);
    if (st == NULL ||
        (user_id && db_bind_text(st, i++, user_id, errp) < 0) ||
        (project_id && db_bind_text(st, i, project_id, errp) < 0)) {
        return -1;
    }
    return cat_rows(cat, st, &rd, NULL, (void **)out, n, errp);
}

int
catalog_role_list(struct catalog *cat, const char *user_id,
                  const char *project_id, struct role_assignment **out,
                  size_t *n, struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    return cat_tx_end_read(cat, cat_role_list_locked(cat, user_id,
                                                     project_id, out, n,
                                                     errp));
}

/* ---- Tokens ----------------------------------------------------------- */

/* Check a token hash: 1 to 255 characters of [0-9a-zA-Z+/=_-]. */
static int
cat_check_hash_key(const char *h, struct error **errp)
{
    size_t i, len = h ? strlen(h) : 0;

    for (i = 0; i < len; i++) {
        if (!isalnum((unsigned char)h[i]) && strchr("+/=_-", h[i]) == NULL) {
            break;
        }
    }
    if (len == 0 || len > 255 || i < len) {
        error_setg(errp, ERR_INVALID, "bad token hash");
        return -1;
    }
    return 0;
}

static int
cat_token_insert_locked(struct catalog *cat, const struct token *t,
                        struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char user[UTIL_UUID_LEN], pbuf[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *project;
    int r;

    if (cat_check_hash_key(t->id_hash, errp) < 0 ||
        cat_check_ref(t->project_id, "project", pbuf, &project, errp) < 0 ||
        cat_check_created(t->issued_at, errp) < 0 ||
        (t->roles != NULL &&
         catalog_value_check("token roles", t->roles, errp) < 0)) {
        return -1;
    }
    if (!util_is_iso8601(t->expires_at)) {
        error_setg(errp, ERR_INVALID, "a token needs an expiry time");
        return -1;
    }
    if (t->user_id == NULL || !cat_norm_id(t->user_id, user)) {
        return cat_not_found(&cat_kind_user, t->user_id ? t->user_id : "",
                             errp);
    }
    if (cat_must_exist_locked(cat, &cat_kind_user, user, t->user_id,
                              errp) < 0 ||
        (project != NULL &&
         cat_must_exist_locked(cat, &cat_kind_project, project,
                               t->project_id, errp) < 0)) {
        return -1;
    }
    st = cat_prepare(cat, "SELECT 1 FROM tokens WHERE id_hash = ?1", errp);
    if (st == NULL || cat_bind(st, errp, "s", t->id_hash) < 0 ||
        (r = cat_step(st, errp)) < 0) {
        return -1;
    }
    if (r > 0) {
        error_setg(errp, ERR_CONFLICT, "token hash already exists");
        return -1;
    }
    util_now_iso8601(now);
    return cat_exec_bound(cat, "INSERT INTO tokens (id_hash, user_id, "
                          "project_id, roles, issued_at, expires_at, "
                          "revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
                          errp, "ssssss", t->id_hash, user, project,
                          t->roles ? t->roles : "",
                          t->issued_at ? t->issued_at : now, t->expires_at);
}

int
catalog_token_insert(struct catalog *cat, const struct token *t,
                     struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_token_insert_locked(cat, t, errp), errp);
}

/* Read the valid token ID_HASH (at time NOW) into *OUT. */
static int
cat_token_lookup_locked(struct catalog *cat, const char *id_hash,
                        struct token **out, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    struct token *t;
    char now[UTIL_TIME_LEN];
    int r;

    util_now_iso8601(now);
    st = cat_prepare(cat, "SELECT id_hash, user_id, project_id, roles, "
                     "issued_at, expires_at, revoked FROM tokens "
                     "WHERE id_hash = ?1 AND revoked = 0 "
                     "AND expires_at > ?2", errp);
    if (st == NULL || cat_bind(st, errp, "ss", id_hash, now) < 0 ||
        (r = cat_step(st, errp)) < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no valid token");
        return -1;
    }
    t = xcalloc(1, sizeof(*t));
    if (cat_col_str(st, 0, &t->id_hash) < 0 ||
        cat_col_str(st, 1, &t->user_id) < 0 ||
        cat_col_str(st, 2, &t->project_id) < 0 ||
        cat_col_str(st, 3, &t->roles) < 0 ||
        cat_col_str(st, 4, &t->issued_at) < 0 ||
        cat_col_str(st, 5, &t->expires_at) < 0) {
        token_free(t);
        return cat_oom(errp);
    }
    t->revoked = db_column_int64(st, 6) != 0;
    *out = t;
    return 0;
}

int
catalog_token_lookup(struct catalog *cat, const char *id_hash,
                     struct token **out, struct error **errp)
{
    struct token *t = NULL;

    if (id_hash == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "no valid token");
        return -1;
    }
    if (cat_tx_begin(cat, false, errp) < 0 ||
        cat_tx_end_read(cat, cat_token_lookup_locked(cat, id_hash, &t,
                                                     errp)) < 0) {
        return -1;
    }
    *out = t;
    return 0;
}

int
catalog_token_revoke(struct catalog *cat, const char *id_hash,
                     struct error **errp)
{
    char now[UTIL_TIME_LEN];
    int n;

    util_now_iso8601(now);
    n = cat_exec_count(cat, errp, "UPDATE tokens SET revoked = 1 "
                       "WHERE id_hash = ?1 AND revoked = 0 "
                       "AND expires_at > ?2", "ss", id_hash, now);
    if (n == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no valid token");
        return -1;
    }
    return n < 0 ? -1 : 0;
}

int
catalog_token_revoke_user(struct catalog *cat, const char *user_id,
                          struct error **errp)
{
    char user[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *id = cat_filter_id(user_id, user);

    util_now_iso8601(now);
    return cat_exec_count(cat, errp, "UPDATE tokens SET revoked = 1 "
                          "WHERE user_id = ?1 AND revoked = 0 "
                          "AND expires_at > ?2", "ss", id ? id : "", now);
}

int
catalog_token_prune(struct catalog *cat, const char *older_than,
                    struct error **errp)
{
    if (!util_is_iso8601(older_than)) {
        error_setg(errp, ERR_INVALID, "bad time '%s'",
                   older_than ? older_than : "");
        return -1;
    }
    return cat_exec_count(cat, errp, "DELETE FROM tokens "
                          "WHERE expires_at < ?1", "s", older_than);
}
