/* vmsnap: projects and users in the catalog (see catalog-identity.h).
 * Roles and tokens are in cat-tokens.c.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"

/* The key of the default project in catalog_settings. */
#define CAT_DEFAULT_PROJECT "default_project"

/* ---- Projects --------------------------------------------------------- */

static const struct cat_col cat_project_cols[] = {
    CAT_COL(struct project, id, CAT_COL_ID),
    CAT_COL(struct project, name, CAT_COL_TEXT),
    CAT_COL(struct project, description, CAT_COL_TEXT),
    CAT_COL(struct project, enabled, CAT_COL_BOOL),
    CAT_COL(struct project, created_at, CAT_COL_TEXT),
};

static void
cat_project_free(void *rec)
{
    project_free(rec);
}

const struct cat_kind cat_kind_project = {
    .noun = "project",
    .table = "projects",
    .cols = cat_project_cols,
    .ncols = CAT_NELEMS(cat_project_cols),
    .size = sizeof(struct project),
    .free = cat_project_free,
    .named = true,
    .by_name = "SELECT id FROM projects WHERE name = ?1",
    .order = " ORDER BY r.name",
};

int
cat_project_default_create_locked(struct catalog *cat, char id[UTIL_UUID_LEN],
                                  struct error **errp)
{
    char now[UTIL_TIME_LEN];

    util_uuid_new(id);
    util_now_iso8601(now);
    if (cat_exec_bound(cat, "INSERT INTO projects (id, name, description, "
                       "enabled, created_at) VALUES (?1, 'admin', "
                       "'Default project, for records made locally', 1, "
                       "?2)", errp, "ss", id, now) < 0) {
        return -1;
    }
    return cat_exec_bound(cat, "INSERT INTO catalog_settings (key, value) "
                          "VALUES (?1, ?2)", errp, "ss",
                          CAT_DEFAULT_PROJECT, id);
}

/* Read the default project's ID into ID. */
static int
cat_project_default_locked(struct catalog *cat, char id[UTIL_UUID_LEN],
                           struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    int r;

    st = cat_prepare(cat, "SELECT value FROM catalog_settings "
                     "WHERE key = ?1", errp);
    if (st == NULL || cat_bind(st, errp, "s", CAT_DEFAULT_PROJECT) < 0 ||
        (r = cat_step(st, errp)) < 0) {
        return -1;
    }
    if (r == 0 || cat_col_id(st, 0, id) < 0) {
        error_setg(errp, ERR_IO, "catalog %s is damaged: no default "
                   "project", cat->path);
        return -1;
    }
    return 0;
}

int
catalog_project_default(struct catalog *cat, char id[UTIL_UUID_LEN],
                        struct error **errp)
{
    char got[UTIL_UUID_LEN];

    if (cat_tx_begin(cat, false, errp) < 0 ||
        cat_tx_end_read(cat, cat_project_default_locked(cat, got,
                                                        errp)) < 0) {
        return -1;
    }
    memcpy(id, got, UTIL_UUID_LEN);
    return 0;
}

/* Check the fields of P a caller sets; ID gets the normalised ID. */
static int
cat_project_check(const struct project *p, char id[UTIL_UUID_LEN],
                  struct error **errp)
{
    if (cat_check_id(p->id, "project", id, errp) < 0 ||
        cat_check_name_required(&cat_kind_project, p->name, errp) < 0 ||
        cat_check_created(p->created_at, errp) < 0) {
        return -1;
    }
    if (p->description != NULL &&
        strlen(p->description) > CATALOG_VALUE_MAX) {
        error_setg(errp, ERR_INVALID, "project description is longer than "
                   "%d bytes", CATALOG_VALUE_MAX);
        return -1;
    }
    if (p->description != NULL &&
        catalog_value_check("project description", p->description,
                            errp) < 0) {
        return -1;
    }
    return 0;
}

/* Store P: a new project, or (UPDATE) over project P->id. */
static int
cat_project_write_locked(struct catalog *cat, const struct project *p,
                         bool update, struct error **errp)
{
    char id[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (cat_project_check(p, id, errp) < 0 ||
        cat_name_unused_locked(cat, &cat_kind_project, p->name, id,
                               errp) < 0) {
        return -1;
    }
    if (update) {
        if (cat_exec_bound(cat, "UPDATE projects SET name = ?2, "
                           "description = ?3, enabled = ?4 WHERE id = ?1",
                           errp, "sssi", id, p->name, p->description,
                           p->enabled ? 1 : 0) < 0) {
            return -1;
        }
        return cat_changed(cat, &cat_kind_project, p->id, errp);
    }
    util_now_iso8601(now);
    if (cat_id_unused_locked(cat, &cat_kind_project, id, errp) < 0) {
        return -1;
    }
    return cat_exec_bound(cat, "INSERT INTO projects (id, name, "
                          "description, enabled, created_at) VALUES (?1, "
                          "?2, ?3, ?4, ?5)", errp, "sssis", id, p->name,
                          p->description, p->enabled ? 1 : 0,
                          p->created_at ? p->created_at : now);
}

/* Store P in a transaction of its own: a new one, or (UPDATE) over
 * the one with its ID.
 */
static int
cat_project_write(struct catalog *cat, const struct project *p, bool update,
                  struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_project_write_locked(cat, p, update, errp),
                      errp);
}

int
catalog_project_insert(struct catalog *cat, const struct project *p,
                       struct error **errp)
{
    return cat_project_write(cat, p, false, errp);
}

int
catalog_project_update(struct catalog *cat, const struct project *p,
                       struct error **errp)
{
    return cat_project_write(cat, p, true, errp);
}

int
catalog_project_get(struct catalog *cat, const char *id,
                    struct project **out, struct error **errp)
{
    return cat_get(cat, &cat_kind_project, id, false, (void **)out, errp);
}

int
catalog_project_find(struct catalog *cat, const char *name_or_id,
                     struct project **out, struct error **errp)
{
    return cat_get(cat, &cat_kind_project, name_or_id, true, (void **)out,
                   errp);
}

int
catalog_project_list(struct catalog *cat, struct project ***out, size_t *n,
                     struct error **errp)
{
    struct cat_query q = { .id = NULL };

    return cat_list(cat, &cat_kind_project, &q, (void ***)out, n, errp);
}

/* The default project stays; what refers to another goes with it.  A
 * cat_delete_rule.
 */
static int
cat_project_deletable_locked(struct catalog *cat, const char *id,
                             const char *given, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char def[UTIL_UUID_LEN];

    st = cat_row_locked(cat, &cat_kind_project, "SELECT name FROM projects "
                        "WHERE id = ?1", id, given, errp);
    if (st == NULL || cat_project_default_locked(cat, def, errp) < 0) {
        return -1;
    }
    if (strcmp(def, id) == 0) {
        error_setg(errp, ERR_CONFLICT, "project %s is the default project",
                   cat_label(db_column_text(st, 0), id));
        return -1;
    }
    /* The foreign keys cascade too; delete explicitly all the same. */
    if (cat_exec_bound(cat, "DELETE FROM tokens WHERE project_id = ?1", errp,
                       "s", id) < 0 ||
        cat_exec_bound(cat, "DELETE FROM role_assignments "
                       "WHERE project_id = ?1", errp, "s", id) < 0) {
        return -1;
    }
    return cat_exec_bound(cat, "UPDATE users SET default_project_id = NULL "
                          "WHERE default_project_id = ?1", errp, "s", id);
}

int
catalog_project_delete(struct catalog *cat, const char *id,
                       struct error **errp)
{
    return cat_delete(cat, &cat_kind_project, id,
                      cat_project_deletable_locked, errp);
}

/* ---- Users ------------------------------------------------------------ */

static const struct cat_col cat_user_cols[] = {
    CAT_COL(struct user, id, CAT_COL_ID),
    CAT_COL(struct user, name, CAT_COL_TEXT),
    CAT_COL(struct user, default_project_id, CAT_COL_TEXT),
    CAT_COL(struct user, password_hash, CAT_COL_TEXT),
    CAT_COL(struct user, enabled, CAT_COL_BOOL),
    CAT_COL(struct user, created_at, CAT_COL_TEXT),
    CAT_COL(struct user, password_changed_at, CAT_COL_TEXT),
};

static void
cat_user_free(void *rec)
{
    user_free(rec);
}

const struct cat_kind cat_kind_user = {
    .noun = "user",
    .table = "users",
    .cols = cat_user_cols,
    .ncols = CAT_NELEMS(cat_user_cols),
    .size = sizeof(struct user),
    .free = cat_user_free,
    .named = true,
    .by_name = "SELECT id FROM users WHERE name = ?1",
    .order = " ORDER BY r.name",
};

/* Check a password hash (NULL passes): an opaque value. */
static int
cat_check_hash(const char *hash, struct error **errp)
{
    if (hash != NULL && (hash[0] == '\0' || strlen(hash) > 1024)) {
        error_setg(errp, ERR_INVALID, "a password hash must be 1 to 1024 "
                   "bytes");
        return -1;
    }
    return hash != NULL ? catalog_value_check("password hash", hash, errp)
                        : 0;
}

/* Check the fields of U a caller sets: ID and PROJECT (*PROJECT_OUT:
 * PROJECT or NULL) get the normalised IDs, and the project must exist.
 */
static int
cat_user_check_locked(struct catalog *cat, const struct user *u,
                      char id[UTIL_UUID_LEN], char project[UTIL_UUID_LEN],
                      const char **project_out, struct error **errp)
{
    if (cat_check_id(u->id, "user", id, errp) < 0 ||
        cat_check_name_required(&cat_kind_user, u->name, errp) < 0 ||
        cat_check_created(u->created_at, errp) < 0 ||
        cat_check_ref(u->default_project_id, "project", project, project_out,
                      errp) < 0 ||
        (*project_out != NULL &&
         cat_must_exist_locked(cat, &cat_kind_project, project,
                               u->default_project_id, errp) < 0)) {
        return -1;
    }
    return cat_name_unused_locked(cat, &cat_kind_user, u->name, id, errp);
}

/* Store U: a new user, or (UPDATE) over user U->id. */
static int
cat_user_write_locked(struct catalog *cat, const struct user *u,
                      bool update, struct error **errp)
{
    char id[UTIL_UUID_LEN], project[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *project_id, *created;

    if (cat_user_check_locked(cat, u, id, project, &project_id, errp) < 0) {
        return -1;
    }
    if (update) {
        if (cat_exec_bound(cat, "UPDATE users SET name = ?2, "
                           "default_project_id = ?3, enabled = ?4 "
                           "WHERE id = ?1", errp, "sssi", id, u->name,
                           project_id, u->enabled ? 1 : 0) < 0) {
            return -1;
        }
        return cat_changed(cat, &cat_kind_user, u->id, errp);
    }
    if (cat_check_hash(u->password_hash, errp) < 0 ||
        cat_id_unused_locked(cat, &cat_kind_user, id, errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    created = u->created_at ? u->created_at : now;
    return cat_exec_bound(cat, "INSERT INTO users (id, name, "
                          "default_project_id, password_hash, enabled, "
                          "created_at, password_changed_at) VALUES (?1, ?2, "
                          "?3, ?4, ?5, ?6, ?7)", errp, "ssssiss", id,
                          u->name, project_id, u->password_hash,
                          u->enabled ? 1 : 0, created,
                          u->password_hash ? created : NULL);
}

/* Store U in a transaction of its own: a new one, or (UPDATE) over
 * the one with its ID.
 */
static int
cat_user_write(struct catalog *cat, const struct user *u, bool update,
               struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_user_write_locked(cat, u, update, errp), errp);
}

int
catalog_user_insert(struct catalog *cat, const struct user *u,
                    struct error **errp)
{
    return cat_user_write(cat, u, false, errp);
}

int
catalog_user_update(struct catalog *cat, const struct user *u,
                    struct error **errp)
{
    return cat_user_write(cat, u, true, errp);
}

static int
cat_user_set_password_locked(struct catalog *cat, const char *id,
                             const char *hash, struct error **errp)
{
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];

    if (cat_check_hash(hash, errp) < 0) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_user, id, errp);
    }
    util_now_iso8601(now);
    if (cat_exec_bound(cat, "UPDATE users SET password_hash = ?2, "
                       "password_changed_at = ?3 WHERE id = ?1", errp, "sss",
                       nid, hash, now) < 0) {
        return -1;
    }
    return cat_changed(cat, &cat_kind_user, id, errp);
}

int
catalog_user_set_password(struct catalog *cat, const char *id,
                          const char *hash, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_user_set_password_locked(cat, id, hash,
                                                        errp), errp);
}

int
catalog_user_get(struct catalog *cat, const char *id, struct user **out,
                 struct error **errp)
{
    return cat_get(cat, &cat_kind_user, id, false, (void **)out, errp);
}

int
catalog_user_find(struct catalog *cat, const char *name_or_id,
                  struct user **out, struct error **errp)
{
    return cat_get(cat, &cat_kind_user, name_or_id, true, (void **)out,
                   errp);
}

int
catalog_user_list(struct catalog *cat, struct user ***out, size_t *n,
                  struct error **errp)
{
    struct cat_query q = { .id = NULL };

    return cat_list(cat, &cat_kind_user, &q, (void ***)out, n, errp);
}

/* A user takes its tokens and roles along (the foreign keys cascade
 * too).  A cat_delete_rule.
 */
static int
cat_user_deletable_locked(struct catalog *cat, const char *id,
                          const char *given, struct error **errp)
{
    (void)given;
    if (cat_exec_bound(cat, "DELETE FROM tokens WHERE user_id = ?1", errp,
                       "s", id) < 0) {
        return -1;
    }
    return cat_exec_bound(cat, "DELETE FROM role_assignments "
                          "WHERE user_id = ?1", errp, "s", id);
}

int
catalog_user_delete(struct catalog *cat, const char *id,
                    struct error **errp)
{
    return cat_delete(cat, &cat_kind_user, id, cat_user_deletable_locked,
                      errp);
}
