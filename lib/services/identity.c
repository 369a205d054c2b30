/* vmsnap: the identity service (see identity.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "identity.h"
#include "log.h"
#include "password.h"
#include "svc.h"
#include "util.h"
#include "xalloc.h"

/* How the methods of a token are kept in its record's roles column (the
 * roles themselves are read when the token is used, never stored).
 */
#define IDENTITY_METHODS_PREFIX "methods:"

/* Expired tokens are removed once they are this old. */
#define IDENTITY_TOKEN_KEEP_S 86400

static int
identity_need_admin(const struct caller *who, const char *what,
                    struct error **errp)
{
    if (who == NULL || !who->admin) {
        error_setg(errp, ERR_INVALID, "only an administrator may %s", what);
        return -1;
    }
    return 0;
}

/* T (Unix seconds) in the catalog's time format. */
static void
identity_time(int64_t t, char out[UTIL_TIME_LEN])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, UTIL_TIME_LEN, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
}

/* A time of the catalog's format as Unix seconds, or 0 if it is not one. */
static int64_t
identity_parse_time(const char *s)
{
    struct tm tm;
    const char *end;

    if (s == NULL) {
        return 0;
    }
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL) {
        return 0;
    }
    return (int64_t)timegm(&tm);
}

static void
identity_copy_name(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s ? s : "");
}

/* ---- Projects ---------------------------------------------------------- */

int
identity_project_create(struct svc *svc, const struct caller *who,
                        const char *name, const char *description,
                        struct project **out, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct project p;

    if (identity_need_admin(who, "create projects", errp) < 0) {
        return -1;
    }
    if (name == NULL || *name == '\0') {
        error_setg(errp, ERR_INVALID, "a project needs a name");
        return -1;
    }
    memset(&p, 0, sizeof(p));
    util_uuid_new(p.id);
    p.name = (char *)name;
    p.description = (char *)description;
    p.enabled = true;
    if (catalog_project_insert(cat, &p, errp) < 0) {
        return -1;
    }
    return out ? catalog_project_get(cat, p.id, out, errp) : 0;
}

int
identity_project_find(struct svc *svc, const struct caller *who,
                      const char *ref, struct project **out,
                      struct error **errp)
{
    (void)who;
    return catalog_project_find(svc_catalog(svc), ref, out, errp);
}

int
identity_project_list(struct svc *svc, const struct caller *who,
                      struct project ***out, size_t *n, struct error **errp)
{
    (void)who;
    return catalog_project_list(svc_catalog(svc), out, n, errp);
}

/* How many records project ID owns, described in *WHAT (caller frees);
 * -1 on error.
 */
static int
identity_project_records(struct svc *svc, const char *id, char **what,
                         struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct instance_filter fi = {.project_id = id};
    struct volume_filter fv = {.project_id = id};
    struct volume_snapshot_filter fs = {.project_id = id};
    struct image_filter fm = {.owner = id, .exclude_deleted = true};
    struct instance **insts = NULL;
    struct volume **vols = NULL;
    struct volume_snapshot **snaps = NULL;
    struct image **imgs = NULL;
    size_t ni = 0, nv = 0, ns = 0, nm = 0;
    int r = -1;

    if (catalog_instance_list_by(cat, &fi, &insts, &ni, errp) == 0 &&
        catalog_volume_list_by(cat, &fv, &vols, &nv, errp) == 0 &&
        catalog_volume_snapshot_list_by(cat, &fs, &snaps, &ns, errp) == 0 &&
        catalog_image_list(cat, &fm, &imgs, &nm, errp) == 0) {
        *what = xasprintf("%zu servers, %zu volumes, %zu volume snapshots "
                          "and %zu images",
                          ni, nv, ns, nm);
        r = (int)(ni + nv + ns + nm);
    }
    instance_list_free(insts, ni);
    volume_list_free(vols, nv);
    volume_snapshot_list_free(snaps, ns);
    image_list_free(imgs, nm);
    return r;
}

int
identity_project_delete(struct svc *svc, const struct caller *who,
                        const char *ref, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    CLEANUP_FREE char *what = NULL;
    struct project *p = NULL;
    char def[UTIL_UUID_LEN];
    int n, r = -1;

    if (identity_need_admin(who, "delete projects", errp) < 0 ||
        catalog_project_find(cat, ref, &p, errp) < 0) {
        return -1;
    }
    if (catalog_project_default(cat, def, errp) < 0) {
        goto out;
    }
    if (strcmp(def, p->id) == 0) {
        error_setg(errp, ERR_CONFLICT,
                   "project %s is the default project: it owns what the "
                   "local command makes",
                   p->name);
        goto out;
    }
    n = identity_project_records(svc, p->id, &what, errp);
    if (n < 0) {
        goto out;
    }
    if (n > 0) {
        error_setg(errp, ERR_CONFLICT, "project %s still owns %s: delete "
                   "them first", p->name, what);
        goto out;
    }
    r = catalog_project_delete(cat, p->id, errp);
out:
    project_free(p);
    return r;
}

/* ---- Users ------------------------------------------------------------- */

int
identity_user_create(struct svc *svc, const struct caller *who,
                     const struct identity_user_new *spec, struct user **out,
                     struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct project *p = NULL;
    CLEANUP_FREE char *hash = NULL;
    struct user u;
    int r = -1;

    if (identity_need_admin(who, "create users", errp) < 0) {
        return -1;
    }
    if (spec->name == NULL || *spec->name == '\0') {
        error_setg(errp, ERR_INVALID, "a user needs a name");
        return -1;
    }
    if (spec->project == NULL ||
        catalog_project_find(cat, spec->project, &p, errp) < 0) {
        if (spec->project == NULL) {
            error_setg(errp, ERR_INVALID, "a user needs a project");
        }
        return -1;
    }
    hash = password_hash(spec->password ? spec->password : "", 0, errp);
    if (hash == NULL) {
        error_prepend(errp, "password: ");
        goto out;
    }
    memset(&u, 0, sizeof(u));
    util_uuid_new(u.id);
    u.name = (char *)spec->name;
    u.default_project_id = p->id;
    u.password_hash = hash;
    u.enabled = true;
    if (catalog_begin(cat, errp) < 0) {
        goto out;
    }
    if (catalog_user_insert(cat, &u, errp) < 0 ||
        catalog_role_grant(cat, u.id, p->id, "member", errp) < 0 ||
        (spec->admin &&
         catalog_role_grant(cat, u.id, p->id, "admin", errp) < 0) ||
        catalog_commit(cat, errp) < 0) {
        catalog_rollback(cat);
        goto out;
    }
    r = out ? identity_user_find(svc, who, u.id, out, errp) : 0;
out:
    project_free(p);
    return r;
}

int
identity_user_find(struct svc *svc, const struct caller *who,
                   const char *ref, struct user **out, struct error **errp)
{
    struct user *u = NULL;

    (void)who;
    if (catalog_user_find(svc_catalog(svc), ref, &u, errp) < 0) {
        return -1;
    }
    free(u->password_hash);
    u->password_hash = NULL;
    *out = u;
    return 0;
}

/* The roles USER_ID holds on PROJECT_ID into *ADMIN and *MEMBER. */
static int
identity_roles(struct catalog *cat, const char *user_id,
               const char *project_id, bool *admin, bool *member,
               struct error **errp)
{
    struct role_assignment *ra = NULL;
    size_t n = 0, i;

    *admin = *member = false;
    if (catalog_role_list(cat, user_id, project_id, &ra, &n, errp) < 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(ra[i].role, "admin") == 0) {
            *admin = true;
        } else if (strcmp(ra[i].role, "member") == 0) {
            *member = true;
        }
    }
    role_assignment_list_free(ra, n);
    /* An administrator is a member too (Keystone's implied roles). */
    *member = *member || *admin;
    return 0;
}

int
identity_user_list(struct svc *svc, const struct caller *who,
                   struct identity_user_info **out, size_t *n,
                   struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct identity_user_info *list;
    struct user **users = NULL;
    size_t nu = 0, i;

    if (identity_need_admin(who, "list users", errp) < 0 ||
        catalog_user_list(cat, &users, &nu, errp) < 0) {
        return -1;
    }
    list = xcalloc(nu ? nu : 1, sizeof(*list));
    for (i = 0; i < nu; i++) {
        struct identity_user_info *e = &list[i];

        e->user = users[i];
        users[i] = NULL;
        free(e->user->password_hash);
        e->user->password_hash = NULL;
        if (e->user->default_project_id &&
            catalog_project_get(cat, e->user->default_project_id,
                                &e->project, NULL) == 0 &&
            identity_roles(cat, e->user->id, e->project->id, &e->admin,
                           &e->member, errp) < 0) {
            identity_user_info_free(list, nu);
            user_list_free(users, nu);
            return -1;
        }
    }
    user_list_free(users, nu);
    *out = list;
    *n = nu;
    return 0;
}

void
identity_user_info_free(struct identity_user_info *list, size_t n)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        user_free(list[i].user);
        project_free(list[i].project);
    }
    free(list);
}

int
identity_user_delete(struct svc *svc, const struct caller *who,
                     const char *ref, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct user *u = NULL;
    int r;

    if (identity_need_admin(who, "delete users", errp) < 0 ||
        catalog_user_find(cat, ref, &u, errp) < 0) {
        return -1;
    }
    r = catalog_user_delete(cat, u->id, errp);
    user_free(u);
    return r;
}

int
identity_user_set_password(struct svc *svc, const struct caller *who,
                           const char *ref, const char *password,
                           struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    CLEANUP_FREE char *hash = NULL;
    struct user *u = NULL;
    int r = -1;

    if (identity_need_admin(who, "set passwords", errp) < 0 ||
        catalog_user_find(cat, ref, &u, errp) < 0) {
        return -1;
    }
    hash = password_hash(password ? password : "", 0, errp);
    if (hash == NULL) {
        error_prepend(errp, "password: ");
        goto out;
    }
    /* In one transaction: no token made with the old password survives
     * the new one.
     */
    if (catalog_begin(cat, errp) < 0) {
        goto out;
    }
    if (catalog_user_set_password(cat, u->id, hash, errp) < 0 ||
        catalog_token_revoke_user(cat, u->id, errp) < 0 ||
        catalog_commit(cat, errp) < 0) {
        catalog_rollback(cat);
        goto out;
    }
    r = 0;
out:
    user_free(u);
    return r;
}

int
identity_user_set_enabled(struct svc *svc, const struct caller *who,
                          const char *ref, bool enabled, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct user *u = NULL;
    int r = -1;

    if (identity_need_admin(who, "enable or disable users", errp) < 0 ||
        catalog_user_find(cat, ref, &u, errp) < 0) {
        return -1;
    }
    u->enabled = enabled;
    if (catalog_begin(cat, errp) < 0) {
        goto out;
    }
    if (catalog_user_update(cat, u, errp) < 0 ||
        (!enabled && catalog_token_revoke_user(cat, u->id, errp) < 0) ||
        catalog_commit(cat, errp) < 0) {
        catalog_rollback(cat);
        goto out;
    }
    r = 0;
out:
    user_free(u);
    return r;
}

/* ---- Login and tokens -------------------------------------------------- */

static int
identity_refused(struct error **errp)
{
    error_setg(errp, ERR_NOT_FOUND, "invalid user or password");
    return -1;
}

int
identity_authenticate(struct svc *svc, const char *user_id,
                      const char *user_name, const char *password,
                      struct identity_session *s, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct error *err = NULL;
    struct user *u = NULL;
    int ok;

    if (user_id == NULL && user_name == NULL) {
        error_setg(errp, ERR_INVALID, "a login names a user");
        return -1;
    }
    if (password == NULL) {
        password = "";
    }
    if ((user_id ? catalog_user_get(cat, user_id, &u, &err)
                 : catalog_user_find(cat, user_name, &u, &err)) < 0) {
        if (error_get_class(err) != ERR_NOT_FOUND) {
            error_propagate(errp, err);
            return -1;
        }
        error_free(err);
        password_verify_none(password);
        return identity_refused(errp);
    }
    /* A name lookup also takes UUIDs: a name must match as a name. */
    if (user_id == NULL && strcmp(u->name, user_name) != 0) {
        user_free(u);
        password_verify_none(password);
        return identity_refused(errp);
    }
    if (!u->enabled || u->password_hash == NULL) {
        user_free(u);
        password_verify_none(password);
        return identity_refused(errp);
    }
    ok = password_verify(password, u->password_hash, &err);
    if (ok < 0) {
        log_warnx("user %s: unusable password hash: %s", u->name,
                  error_msg(err));
        error_free(err);
    }
    if (ok != 1) {
        user_free(u);
        return identity_refused(errp);
    }
    memset(s, 0, sizeof(*s));
    identity_copy_name(s->user_id, sizeof(s->user_id), u->id);
    identity_copy_name(s->user_name, sizeof(s->user_name), u->name);
    user_free(u);
    return 0;
}

static int
identity_no_project(struct error **errp)
{
    error_setg(errp, ERR_NOT_FOUND, "no such project for this user");
    return -1;
}

int
identity_scope(struct svc *svc, const char *project_id,
               const char *project_name, struct identity_session *s,
               struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct error *err = NULL;
    struct project *p = NULL;
    bool admin = false, member = false;
    int r;

    if (project_id == NULL && project_name == NULL) {
        error_setg(errp, ERR_INVALID, "a scope names a project");
        return -1;
    }
    r = project_id ? catalog_project_get(cat, project_id, &p, &err)
                   : catalog_project_find(cat, project_name, &p, &err);
    if (r < 0) {
        if (error_get_class(err) != ERR_NOT_FOUND) {
            error_propagate(errp, err);
            return -1;
        }
        error_free(err);
        return identity_no_project(errp);
    }
    if ((project_id == NULL && strcmp(p->name, project_name) != 0) ||
        !p->enabled) {
        project_free(p);
        return identity_no_project(errp);
    }
    if (identity_roles(cat, s->user_id, p->id, &admin, &member, errp) < 0) {
        project_free(p);
        return -1;
    }
    if (!member) {
        project_free(p);
        return identity_no_project(errp);
    }
    identity_copy_name(s->project_id, sizeof(s->project_id), p->id);
    identity_copy_name(s->project_name, sizeof(s->project_name), p->name);
    s->admin = admin;
    s->member = member;
    project_free(p);
    return 0;
}

int
identity_token_add(struct svc *svc, const char *hash,
                   const struct identity_session *s, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    char issued[UTIL_TIME_LEN], expires[UTIL_TIME_LEN], old[UTIL_TIME_LEN];
    CLEANUP_FREE char *roles = NULL;
    struct token t;

    roles = xasprintf("%s%s%s%s", IDENTITY_METHODS_PREFIX,
                      (s->methods & IDENTITY_BY_PASSWORD) ? "password" : "",
                      (s->methods & IDENTITY_BY_PASSWORD) &&
                              (s->methods & IDENTITY_BY_TOKEN)
                          ? ","
                          : "",
                      (s->methods & IDENTITY_BY_TOKEN) ? "token" : "");
    identity_time(s->issued_at, issued);
    identity_time(s->expires_at, expires);
    memset(&t, 0, sizeof(t));
    t.id_hash = (char *)hash;
    t.user_id = (char *)s->user_id;
    t.project_id = s->project_id[0] ? (char *)s->project_id : NULL;
    t.roles = roles;
    t.issued_at = issued;
    t.expires_at = expires;
    /* Pruning is housekeeping: a busy catalog must not refuse a login. */
    identity_time(s->issued_at - IDENTITY_TOKEN_KEEP_S, old);
    if (catalog_token_prune(cat, old, NULL) < 0) {
        log_debug("identity", "expired tokens not pruned this time");
    }
    return catalog_token_insert(cat, &t, errp);
}

static int
identity_invalid_token(struct error **errp)
{
    error_setg(errp, ERR_NOT_FOUND, "no valid token");
    return -1;
}

int
identity_token_get(struct svc *svc, const char *hash,
                   struct identity_session *s, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct error *err = NULL;
    struct token *t = NULL;
    struct user *u = NULL;
    struct project *p = NULL;
    const char *m;
    int r = -1;

    if (catalog_token_lookup(cat, hash, &t, errp) < 0) {
        return -1;
    }
    memset(s, 0, sizeof(*s));
    if (catalog_user_get(cat, t->user_id, &u, &err) < 0 ||
        (t->project_id &&
         catalog_project_get(cat, t->project_id, &p, &err) < 0)) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            error_free(err);
            identity_invalid_token(errp);
        } else {
            error_propagate(errp, err);
        }
        goto out;
    }
    if (!u->enabled || (p && !p->enabled)) {
        identity_invalid_token(errp);
        goto out;
    }
    identity_copy_name(s->user_id, sizeof(s->user_id), u->id);
    identity_copy_name(s->user_name, sizeof(s->user_name), u->name);
    if (p) {
        if (identity_roles(cat, u->id, p->id, &s->admin, &s->member, errp) <
            0) {
            goto out;
        }
        if (!s->member) {
            identity_invalid_token(errp);
            goto out;
        }
        identity_copy_name(s->project_id, sizeof(s->project_id), p->id);
        identity_copy_name(s->project_name, sizeof(s->project_name),
                           p->name);
    }
    m = t->roles ? strstr(t->roles, IDENTITY_METHODS_PREFIX) : NULL;
    if (m) {
        m += strlen(IDENTITY_METHODS_PREFIX);
        s->methods |= strstr(m, "password") ? IDENTITY_BY_PASSWORD : 0;
        s->methods |= strstr(m, "token") ? IDENTITY_BY_TOKEN : 0;
    }
    s->issued_at = identity_parse_time(t->issued_at);
    s->expires_at = identity_parse_time(t->expires_at);
    r = 0;
out:
    if (r < 0) {
        memset(s, 0, sizeof(*s));
    }
    token_free(t);
    user_free(u);
    project_free(p);
    return r;
}

static int
identity_cmp_project(const void *a, const void *b)
{
    const struct project *const *pa = a, *const *pb = b;

    return strcmp((*pa)->name, (*pb)->name);
}

int
identity_projects_of(struct svc *svc, const char *user_id,
                     struct project ***out, size_t *n, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct role_assignment *ra = NULL;
    struct project **list;
    size_t nra = 0, i, j, k = 0;

    if (catalog_role_list(cat, user_id, NULL, &ra, &nra, errp) < 0) {
        return -1;
    }
    list = xcalloc(nra ? nra : 1, sizeof(*list));
    for (i = 0; i < nra; i++) {
        struct project *p = NULL;
        bool seen = false;

        for (j = 0; j < k && !seen; j++) {
            seen = strcmp(list[j]->id, ra[i].project_id) == 0;
        }
        if (seen || catalog_project_get(cat, ra[i].project_id, &p, NULL) <
                        0) {
            continue;
        }
        if (!p->enabled) {
            project_free(p);
            continue;
        }
        list[k++] = p;
    }
    role_assignment_list_free(ra, nra);
    qsort(list, k, sizeof(*list), identity_cmp_project);
    *out = list;
    *n = k;
    return 0;
}

int
identity_token_revoke(struct svc *svc, const char *hash, struct error **errp)
{
    return catalog_token_revoke(svc_catalog(svc), hash, errp);
}
