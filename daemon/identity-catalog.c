/* vmsnapd: the identity backend over the catalog, through the identity
 * service (lib/services/identity.h): projects, users with their password
 * hashes, role assignments, and tokens kept by their SHA-256 with their
 * expiry.  Password checks, constant-time refusals and the revocation of
 * a user's tokens on a password change are the service's; this file
 * translates between its records and the backend interface
 * (identity-backend.h).
 *
 * Every call borrows a service context from the daemon's pool for its
 * duration, so that calls from several connection threads run at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "identity-backend.h"
#include "identity.h"
#include "svcpool.h"
#include "xalloc.h"

struct idcat {
    struct svcpool *pool; /* the daemon's, borrowed */
};

static int
idcat_open(const struct identity_open_args *args, void **priv,
           struct error **errp)
{
    struct idcat *c;

    if (args->services == NULL) {
        error_setg(errp, ERR_INVALID,
                   "the catalog identity backend needs the services");
        return -1;
    }
    c = xcalloc(1, sizeof(*c));
    c->pool = args->services;
    *priv = c;
    return 0;
}

static void
idcat_close(void *priv)
{
    free(priv);
}

/* A request names users and projects in the one domain only. */
static bool
idcat_domain_ok(const struct identity_ref *ref)
{
    if (ref->domain_id && strcmp(ref->domain_id, IDENTITY_DOMAIN_ID) != 0) {
        return false;
    }
    return ref->domain_name == NULL ||
           strcmp(ref->domain_name, IDENTITY_DOMAIN_NAME) == 0;
}

/* The backend's principal from the service's session. */
static void
idcat_principal(const struct identity_session *s,
                struct identity_principal *who)
{
    memset(who, 0, sizeof(*who));
    identity_copy(who->user_id, sizeof(who->user_id), s->user_id);
    identity_copy(who->user_name, sizeof(who->user_name), s->user_name);
    identity_copy(who->project_id, sizeof(who->project_id), s->project_id);
    identity_copy(who->project_name, sizeof(who->project_name),
                  s->project_name);
    who->roles = (s->admin ? IDENTITY_ROLE_ADMIN : 0) |
                 (s->member ? IDENTITY_ROLE_MEMBER : 0);
}

/* The service's session from the backend's principal (user and project
 * fields).
 */
static void
idcat_session(const struct identity_principal *who,
              struct identity_session *s)
{
    memset(s, 0, sizeof(*s));
    identity_copy(s->user_id, sizeof(s->user_id), who->user_id);
    identity_copy(s->user_name, sizeof(s->user_name), who->user_name);
    identity_copy(s->project_id, sizeof(s->project_id), who->project_id);
    identity_copy(s->project_name, sizeof(s->project_name),
                  who->project_name);
    s->admin = (who->roles & IDENTITY_ROLE_ADMIN) != 0;
    s->member = (who->roles & IDENTITY_ROLE_MEMBER) != 0;
}

static int
idcat_authenticate(void *priv, const struct identity_ref *user,
                   const char *password, struct identity_principal *who,
                   struct error **errp)
{
    struct idcat *c = priv;
    struct identity_session s;
    struct svc *svc;
    int r;

    if (user->id == NULL && user->name == NULL) {
        error_setg(errp, ERR_INVALID, "a login names a user");
        return -1;
    }
    svc = svcpool_get(c->pool, errp);
    if (svc == NULL) {
        return -1;
    }
    if (!idcat_domain_ok(user)) {
        /* Same answer, same time, as a wrong password. */
        r = identity_authenticate(svc, NULL, "", password, &s, errp);
        if (r == 0) {
            r = -1;
            error_setg(errp, ERR_NOT_FOUND, "invalid user or password");
        }
    } else {
        r = identity_authenticate(svc, user->id, user->name, password, &s,
                                  errp);
    }
    svcpool_put(c->pool, svc);
    if (r == 0) {
        identity_copy(who->user_id, sizeof(who->user_id), s.user_id);
        identity_copy(who->user_name, sizeof(who->user_name), s.user_name);
    }
    return r;
}

static int
idcat_scope(void *priv, const struct identity_ref *project,
            struct identity_principal *who, struct error **errp)
{
    struct idcat *c = priv;
    struct identity_session s;
    struct svc *svc;
    int r;

    if (!idcat_domain_ok(project)) {
        error_setg(errp, ERR_NOT_FOUND, "no such project for this user");
        return -1;
    }
    svc = svcpool_get(c->pool, errp);
    if (svc == NULL) {
        return -1;
    }
    idcat_session(who, &s);
    r = identity_scope(svc, project->id, project->id ? NULL : project->name,
                       &s, errp);
    svcpool_put(c->pool, svc);
    if (r == 0) {
        identity_copy(who->project_id, sizeof(who->project_id),
                      s.project_id);
        identity_copy(who->project_name, sizeof(who->project_name),
                      s.project_name);
        who->roles = (s.admin ? IDENTITY_ROLE_ADMIN : 0) |
                     (s.member ? IDENTITY_ROLE_MEMBER : 0);
    }
    return r;
}

/* The audit id of a token: derived from its hash (22 characters of it),
 * so that it need not be stored and tells nothing about the token.
 */
static void
idcat_audit_id(const char *hash, char out[24])
{
    memcpy(out, hash, 22);
    out[22] = '\0';
}

static int
idcat_token_add(void *priv, const struct identity_token *tok,
                struct error **errp)
{
    struct idcat *c = priv;
    struct identity_session s;
    struct svc *svc = svcpool_get(c->pool, errp);
    int r;

    if (svc == NULL) {
        return -1;
    }
    idcat_session(&tok->who, &s);
    s.methods = ((tok->methods & IDENTITY_METHOD_PASSWORD)
                     ? IDENTITY_BY_PASSWORD
                     : 0) |
                ((tok->methods & IDENTITY_METHOD_TOKEN) ? IDENTITY_BY_TOKEN
                                                        : 0);
    s.issued_at = tok->issued_at;
    s.expires_at = tok->expires_at;
    r = identity_token_add(svc, tok->hash, &s, errp);
    svcpool_put(c->pool, svc);
    return r;
}

static int
idcat_token_get(void *priv, const char *hash, struct identity_token *out,
                struct error **errp)
{
    struct idcat *c = priv;
    struct identity_session s;
    struct svc *svc = svcpool_get(c->pool, errp);
    int r;

    if (svc == NULL) {
        return -1;
    }
    r = identity_token_get(svc, hash, &s, errp);
    svcpool_put(c->pool, svc);
    if (r < 0) {
        return -1;
    }
    memset(out, 0, sizeof(*out));
    identity_copy(out->hash, sizeof(out->hash), hash);
    idcat_principal(&s, &out->who);
    out->issued_at = s.issued_at;
    out->expires_at = s.expires_at;
    out->methods =
        ((s.methods & IDENTITY_BY_PASSWORD) ? IDENTITY_METHOD_PASSWORD : 0) |
        ((s.methods & IDENTITY_BY_TOKEN) ? IDENTITY_METHOD_TOKEN : 0);
    idcat_audit_id(hash, out->audit_id);
    return 0;
}

static int
idcat_token_revoke(void *priv, const char *hash, struct error **errp)
{
    struct idcat *c = priv;
    struct svc *svc = svcpool_get(c->pool, errp);
    int r;

    if (svc == NULL) {
        return -1;
    }
    r = identity_token_revoke(svc, hash, errp);
    svcpool_put(c->pool, svc);
    return r;
}

static void
idcat_project(const struct project *p, struct identity_project *out)
{
    identity_copy(out->id, sizeof(out->id), p->id);
    identity_copy(out->name, sizeof(out->name), p->name);
    if (!identity_copy(out->description, sizeof(out->description),
                       p->description)) {
        out->description[0] = '\0';
    }
    out->enabled = p->enabled;
}

static int
idcat_list_projects(void *priv, const char *user_id,
                    struct identity_project **out, size_t *n,
                    struct error **errp)
{
    struct idcat *c = priv;
    struct svc *svc = svcpool_get(c->pool, errp);
    struct project **list = NULL;
    size_t np = 0, i;
    int r;

    if (svc == NULL) {
        return -1;
    }
    r = user_id ? identity_projects_of(svc, user_id, &list, &np, errp)
                : identity_project_list(svc, svc_local_caller(svc), &list,
                                        &np, errp);
    svcpool_put(c->pool, svc);
    if (r < 0) {
        return -1;
    }
    *out = xcalloc(np ? np : 1, sizeof(**out));
    for (i = 0; i < np; i++) {
        idcat_project(list[i], &(*out)[i]);
    }
    *n = np;
    project_list_free(list, np);
    return 0;
}

static int
idcat_list_users(void *priv, struct identity_user **out, size_t *n,
                 struct error **errp)
{
    struct idcat *c = priv;
    struct svc *svc = svcpool_get(c->pool, errp);
    struct identity_user_info *list = NULL;
    size_t nu = 0, i;
    int r;

    if (svc == NULL) {
        return -1;
    }
    r = identity_user_list(svc, svc_local_caller(svc), &list, &nu, errp);
    svcpool_put(c->pool, svc);
    if (r < 0) {
        return -1;
    }
    *out = xcalloc(nu ? nu : 1, sizeof(**out));
    for (i = 0; i < nu; i++) {
        identity_copy((*out)[i].id, sizeof((*out)[i].id), list[i].user->id);
        identity_copy((*out)[i].name, sizeof((*out)[i].name),
                      list[i].user->name);
        (*out)[i].enabled = list[i].user->enabled;
    }
    *n = nu;
    identity_user_info_free(list, nu);
    return 0;
}

const struct identity_ops identity_catalog_ops = {
    .version = IDENTITY_OPS_VERSION,
    .name = "catalog",
    .open = idcat_open,
    .close = idcat_close,
    .authenticate = idcat_authenticate,
    .scope = idcat_scope,
    .token_add = idcat_token_add,
    .token_get = idcat_token_get,
    .token_revoke = idcat_token_revoke,
    .list_projects = idcat_list_projects,
    .list_users = idcat_list_users,
};
