/* vmsnapd: the Keystone v3 subset (openstack-api.md §2).
 *
 *   POST   /identity/v3/auth/tokens    log in (password or token), 201 +
 *                                      X-Subject-Token
 *   GET    /identity/v3/auth/tokens    validate X-Subject-Token (HEAD too)
 *   DELETE /identity/v3/auth/tokens    revoke X-Subject-Token (log out)
 *   GET    /identity/v3/auth/catalog   the caller's service catalog
 *   GET    /identity/v3/auth/projects  the projects the caller may scope to
 *   GET    /identity/v3/projects[/{id}], /users[/{id}[/projects]]
 *                                      listings for `openstack project
 *                                      list`, `user list` (admin) and the
 *                                      caller's own records
 *
 * Everything stored goes through the identity backend (identity.h).
 * Tokens: 32 random bytes (token.h); the backend keeps their SHA-256.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "apis.h"
#include "auth.h"
#include "b64.h"
#include "cleanup.h"
#include "log.h"
#include "token.h"
#include "util.h"
#include "xjson.h"

static const char ks_forbidden[] =
    "You are not authorized to perform the requested action: %s.";

/* Schemas of POST /auth/tokens.  Keystone's own are permissive (other
 * methods put their own members in "identity"), so only the members we
 * read are typed.
 */
static const struct api_field ks_domain_f[] = {
    {"id", AJ_STRING, false, NULL, 0, 64},
    {"name", AJ_STRING, false, NULL, 0, 255},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema ks_domain_s = {ks_domain_f, true};

static const struct api_field ks_user_f[] = {
    {"id", AJ_STRING, false, NULL, 0, 64},
    {"name", AJ_STRING, false, NULL, 0, 255},
    {"password", AJ_STRING, true, NULL, 0, 4096},
    {"domain", AJ_OBJECT, false, &ks_domain_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema ks_user_s = {ks_user_f, true};

static const struct api_field ks_password_f[] = {
    {"user", AJ_OBJECT, true, &ks_user_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema ks_password_s = {ks_password_f, true};

static const struct api_field ks_token_f[] = {
    {"id", AJ_STRING, true, NULL, 0, 255},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema ks_token_s = {ks_token_f, true};

static const struct api_field ks_identity_f[] = {
    {"methods", AJ_ARRAY, true, NULL, AJ_STRING, 0},
    {"password", AJ_OBJECT, false, &ks_password_s, 0, 0},
    {"token", AJ_OBJECT, false, &ks_token_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema ks_identity_s = {ks_identity_f, true};

static const struct api_field ks_project_f[] = {
    {"id", AJ_STRING, false, NULL, 0, 64},
    {"name", AJ_STRING, false, NULL, 0, 255},
    {"domain", AJ_OBJECT, false, &ks_domain_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema ks_project_s = {ks_project_f, true};

static const struct api_field ks_scope_f[] = {
    {"project", AJ_OBJECT, false, &ks_project_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema ks_scope_s = {ks_scope_f, true};

static const struct api_field ks_auth_f[] = {
    {"identity", AJ_OBJECT, true, &ks_identity_s, 0, 0},
    {"scope", AJ_OBJECT | AJ_STRING, false, &ks_scope_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema ks_auth_s = {ks_auth_f, true};

static const struct api_field ks_top_f[] = {
    {"auth", AJ_OBJECT, true, &ks_auth_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema ks_top_s = {ks_top_f, true};

static json_object *
ks_domain(void)
{
    json_object *d = xjson_object();

    xjson_add(d, "id", xjson_string(IDENTITY_DOMAIN_ID));
    xjson_add(d, "name", xjson_string(IDENTITY_DOMAIN_NAME));
    return d;
}

/* One catalog entry of TYPE named NAME at URL, with its three
 * interfaces (the clients use "public").
 */
static json_object *
ks_service(const char *type, const char *name, const char *url)
{
    static const char *const itfs[] = {"public", "internal", "admin"};
    json_object *svc = xjson_object();
    json_object *eps = xjson_array();
    char id[80];
    size_t i;

    for (i = 0; i < 3; i++) {
        json_object *ep = xjson_object();

        snprintf(id, sizeof(id), "%s-%s", type, itfs[i]);
        xjson_add(ep, "id", xjson_string(id));
        xjson_add(ep, "interface", xjson_string(itfs[i]));
        xjson_add(ep, "region", xjson_string("RegionOne"));
        xjson_add(ep, "region_id", xjson_string("RegionOne"));
        xjson_add(ep, "url", xjson_string(url));
        xjson_append(eps, ep);
    }
    xjson_add(svc, "type", xjson_string(type));
    xjson_add(svc, "name", xjson_string(name));
    xjson_add(svc, "id", xjson_string(type));
    xjson_add(svc, "endpoints", eps);
    return svc;
}

/* The service catalog for PROJECT_ID, at R's base URL. */
static json_object *
ks_catalog(struct api_req *r, const char *project_id)
{
    const char *base = api_base_url(r);
    json_object *cat = xjson_array();
    CLEANUP_FREE char *identity = util_strdup_printf("%s/identity/v3", base);
    CLEANUP_FREE char *image = util_strdup_printf("%s/image", base);
    CLEANUP_FREE char *compute = util_strdup_printf("%s/compute/v2.1", base);
    CLEANUP_FREE char *volume =
        util_strdup_printf("%s/volume/v3/%s", base, project_id);

    xjson_append(cat, ks_service("identity", "keystone", identity));
    xjson_append(cat, ks_service("image", "glance", image));
    xjson_append(cat, ks_service("compute", "nova", compute));
    /* Both Cinder types: OSC wants volumev3, the SDK block-storage. */
    xjson_append(cat, ks_service("volumev3", "cinderv3", volume));
    xjson_append(cat, ks_service("block-storage", "cinder", volume));
    return cat;
}

static json_object *
ks_roles(unsigned roles)
{
    json_object *arr = xjson_array();
    static const char *const names[] = {"admin", "member", "reader"};
    size_t i, first = (roles & IDENTITY_ROLE_ADMIN) ? 0 : 1;

    if (roles == 0) {
        return arr;
    }
    for (i = first; i < 3; i++) {
        json_object *role = xjson_object();

        xjson_add(role, "id", xjson_string(names[i]));
        xjson_add(role, "name", xjson_string(names[i]));
        xjson_append(arr, role);
    }
    return arr;
}

/* The body of token TOK ({"token": ...}); with the catalog if CATALOG
 * and the token is scoped.
 */
static json_object *
ks_token_body(struct api_req *r, const struct identity_token *tok, bool catalog)
{
    json_object *top = xjson_object();
    json_object *t = xjson_object();
    json_object *user = xjson_object();
    json_object *methods = xjson_array();
    json_object *audit = xjson_array();
    char when[32];

    if (tok->methods & IDENTITY_METHOD_PASSWORD) {
        xjson_append(methods, xjson_string("password"));
    }
    if (tok->methods & IDENTITY_METHOD_TOKEN) {
        xjson_append(methods, xjson_string("token"));
    }
    xjson_add(t, "methods", methods);
    xjson_add(user, "id", xjson_string(tok->who.user_id));
    xjson_add(user, "name", xjson_string(tok->who.user_name));
    xjson_add(user, "domain", ks_domain());
    xjson_add(user, "password_expires_at", NULL);
    xjson_add(t, "user", user);
    xjson_append(audit, xjson_string(tok->audit_id));
    xjson_add(t, "audit_ids", audit);
    api_iso8601(tok->expires_at, when);
    xjson_add(t, "expires_at", xjson_string(when));
    api_iso8601(tok->issued_at, when);
    xjson_add(t, "issued_at", xjson_string(when));
    if (tok->who.project_id[0]) {
        json_object *p = xjson_object();

        xjson_add(p, "id", xjson_string(tok->who.project_id));
        xjson_add(p, "name", xjson_string(tok->who.project_name));
        xjson_add(p, "domain", ks_domain());
        xjson_add(t, "project", p);
        xjson_add(t, "is_domain", xjson_bool(0));
        xjson_add(t, "roles", ks_roles(tok->who.roles));
        if (catalog) {
            xjson_add(t, "catalog", ks_catalog(r, tok->who.project_id));
        }
    }
    xjson_add(top, "token", t);
    return top;
}

/* Read a user or project reference OBJ ({"id"} or {"name", "domain"})
 * into *REF (strings borrowed from OBJ).  -1 with ERR_INVALID.
 */
static int
ks_ref(json_object *obj, const char *what, struct identity_ref *ref,
       struct error **errp)
{
    json_object *domain = api_json_get(obj, "domain");

    memset(ref, 0, sizeof(*ref));
    ref->id = api_json_str(obj, "id");
    ref->name = api_json_str(obj, "name");
    if (domain) {
        ref->domain_id = api_json_str(domain, "id");
        ref->domain_name = api_json_str(domain, "name");
    }
    if (ref->id == NULL && ref->name == NULL) {
        error_setg(errp, ERR_INVALID, "Expecting to find id or name in %s",
                   what);
        return -1;
    }
    if (ref->id == NULL && ref->domain_id == NULL && ref->domain_name == NULL) {
        error_setg(errp, ERR_INVALID, "Expecting to find domain in %s", what);
        return -1;
    }
    return 0;
}

/* True if the JSON array METHODS holds the string NAME. */
static bool
ks_has_method(json_object *methods, const char *name)
{
    size_t i, n = json_object_array_length(methods);

    for (i = 0; i < n; i++) {
        const char *m =
            json_object_get_string(json_object_array_get_idx(methods, i));

        if (m && strcmp(m, name) == 0) {
            return true;
        }
    }
    return false;
}

/* The token the caller names in X-Subject-Token, looked up.  -1 with
 * ERR_NOT_FOUND when unknown, revoked or expired.
 */
static int
ks_subject(struct api_req *r, struct identity_token *tok, struct error **errp)
{
    const char *subject = http_req_header(r->http, "X-Subject-Token");
    char hash[TOKEN_HASH_LEN];

    if (subject == NULL || !token_well_formed(subject)) {
        error_setg(errp, ERR_NOT_FOUND, "Could not find token.");
        return -1;
    }
    if (token_hash(subject, hash, errp) < 0 ||
        r->ctx->identity->token_get(r->ctx->identity_priv, hash, tok, errp) <
            0) {
        return -1;
    }
    if (tok->expires_at <= api_now()) {
        error_setg(errp, ERR_NOT_FOUND, "Could not find token.");
        return -1;
    }
    return 0;
}

/* POST /identity/v3/auth/tokens */
static void
ks_issue(struct api_req *r)
{
    const struct identity_ops *be = r->ctx->identity;
    CLEANUP_JSON_PUT json_object *body = api_req_json(r);
    CLEANUP_ERROR struct error *err = NULL;
    json_object *auth, *identity, *methods, *scope;
    struct identity_token tok;
    char token[TOKEN_LEN];
    unsigned char audit[16];
    int64_t now = api_now();
    int64_t cap = now + r->ctx->token_ttl_s;

    if (body == NULL) {
        return;
    }
    if (api_check(body, &ks_top_s, "body", &err) < 0) {
        api_error(r, 400, "%s", error_msg(err));
        return;
    }
    auth = api_json_get(body, "auth");
    identity = api_json_get(auth, "identity");
    methods = api_json_get(identity, "methods");
    scope = api_json_get(auth, "scope");
    memset(&tok, 0, sizeof(tok));
    if (ks_has_method(methods, "password") &&
        api_json_get(identity, "password")) {
        json_object *user =
            api_json_get(api_json_get(identity, "password"), "user");
        struct identity_ref ref;

        if (ks_ref(user, "user", &ref, &err) < 0) {
            api_error(r, 400, "%s", error_msg(err));
            return;
        }
        if (be->authenticate(r->ctx->identity_priv, &ref,
                             api_json_str(user, "password"), &tok.who,
                             &err) < 0) {
            if (error_get_class(err) == ERR_NOT_FOUND) {
                log_warnx("api: login as %.64s from %s refused",
                          ref.name ? ref.name : ref.id, http_req_peer(r->http));
                api_error_unauthorized(r);
            } else {
                api_error_from(r, err);
            }
            return;
        }
        tok.methods = IDENTITY_METHOD_PASSWORD;
    } else if (ks_has_method(methods, "token") &&
               api_json_get(identity, "token")) {
        const char *old = api_json_str(api_json_get(identity, "token"), "id");
        struct api_caller base;

        if (auth_check(r->ctx, old, now, &base, &err) < 0) {
            if (error_get_class(err) == ERR_NOT_FOUND) {
                api_error_unauthorized(r);
            } else {
                api_error_from(r, err);
            }
            return;
        }
        /* A token made from a token lives no longer than the first. */
        cap = base.expires_at;
        identity_copy(tok.who.user_id, sizeof(tok.who.user_id),
                      base.who.user_id);
        identity_copy(tok.who.user_name, sizeof(tok.who.user_name),
                      base.who.user_name);
        tok.methods = IDENTITY_METHOD_TOKEN;
    } else {
        api_error_unauthorized(r);
        return;
    }
    if (scope && json_object_is_type(scope, json_type_object)) {
        json_object *project = api_json_get(scope, "project");
        struct identity_ref ref;

        if (project == NULL) {
            api_error(r, 400, "Only project scope is supported");
            return;
        }
        if (ks_ref(project, "project", &ref, &err) < 0) {
            api_error(r, 400, "%s", error_msg(err));
            return;
        }
        if (be->scope(r->ctx->identity_priv, &ref, &tok.who, &err) < 0) {
            if (error_get_class(err) == ERR_NOT_FOUND) {
                api_error_unauthorized(r);
            } else {
                api_error_from(r, err);
            }
            return;
        }
    }
    if (token_new(token, &err) < 0 || token_hash(token, tok.hash, &err) < 0 ||
        RAND_bytes(audit, sizeof(audit)) != 1) {
        if (err == NULL) {
            error_setg(&err, ERR_IO, "no random bytes for an audit id");
        }
        api_error_from(r, err);
        return;
    }
    b64_encode(audit, sizeof(audit), tok.audit_id, B64_URL);
    tok.issued_at = now;
    tok.expires_at = cap;
    if (be->token_add(r->ctx->identity_priv, &tok, &err) < 0) {
        api_error_from(r, err);
        return;
    }
    http_add_header(r->http, "X-Subject-Token", token);
    api_respond_json(r, 201, ks_token_body(r, &tok, true));
}

/* May the caller see or revoke TOK?  Admins, and the token's user. */
static bool
ks_may_touch(const struct api_req *r, const struct identity_token *tok)
{
    return r->caller.admin ||
           strcmp(r->caller.who.user_id, tok->who.user_id) == 0;
}

/* GET /identity/v3/auth/tokens */
static void
ks_validate(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct identity_token tok;

    memset(&tok, 0, sizeof(tok));
    if (ks_subject(r, &tok, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            api_error(r, 404, "Could not find token.");
        } else {
            api_error_from(r, err);
        }
        return;
    }
    if (!ks_may_touch(r, &tok)) {
        api_error(r, 403, ks_forbidden, "identity:validate_token");
        return;
    }
    http_add_header(r->http, "X-Subject-Token",
                    http_req_header(r->http, "X-Subject-Token"));
    api_respond_json(
        r, 200,
        ks_token_body(r, &tok, http_req_query(r->http, "nocatalog") == NULL));
}

/* DELETE /identity/v3/auth/tokens */
static void
ks_revoke(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct identity_token tok;

    memset(&tok, 0, sizeof(tok));
    if (ks_subject(r, &tok, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            api_error(r, 404, "Could not find token.");
        } else {
            api_error_from(r, err);
        }
        return;
    }
    if (!ks_may_touch(r, &tok)) {
        api_error(r, 403, ks_forbidden, "identity:revoke_token");
        return;
    }
    if (r->ctx->identity->token_revoke(r->ctx->identity_priv, tok.hash, &err) <
        0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            api_error(r, 404, "Could not find token.");
        } else {
            api_error_from(r, err);
        }
        return;
    }
    api_respond_empty(r, 204);
}

/* {"self": BASE + PATH, "previous": null, "next": null} */
static json_object *
ks_links(struct api_req *r, const char *path)
{
    json_object *l = xjson_object();
    CLEANUP_FREE char *self = util_strdup_printf("%s%s", api_base_url(r), path);

    xjson_add(l, "self", xjson_string(self ? self : path));
    xjson_add(l, "previous", NULL);
    xjson_add(l, "next", NULL);
    return l;
}

/* GET /identity/v3/auth/catalog */
static void
ks_auth_catalog(struct api_req *r)
{
    json_object *top = xjson_object();

    xjson_add(top, "catalog", ks_catalog(r, r->caller.who.project_id));
    xjson_add(top, "links", ks_links(r, "/identity/v3/auth/catalog"));
    api_respond_json(r, 200, top);
}

static json_object *
ks_project_json(struct api_req *r, const struct identity_project *p)
{
    json_object *o = xjson_object();
    json_object *links = xjson_object();
    CLEANUP_FREE char *self = util_strdup_printf("%s/identity/v3/projects/%s",
                                                 api_base_url(r), p->id);

    xjson_add(o, "id", xjson_string(p->id));
    xjson_add(o, "name", xjson_string(p->name));
    xjson_add(o, "domain_id", xjson_string(IDENTITY_DOMAIN_ID));
    xjson_add(o, "description", xjson_string(p->description));
    xjson_add(o, "enabled", xjson_bool(p->enabled));
    xjson_add(o, "is_domain", xjson_bool(0));
    xjson_add(o, "parent_id", xjson_string(IDENTITY_DOMAIN_ID));
    xjson_add(o, "tags", xjson_array());
    xjson_add(o, "options", xjson_object());
    xjson_add(links, "self", xjson_string(self ? self : ""));
    xjson_add(o, "links", links);
    return o;
}

static json_object *
ks_user_json(struct api_req *r, const struct identity_user *u)
{
    json_object *o = xjson_object();
    json_object *links = xjson_object();
    CLEANUP_FREE char *self =
        util_strdup_printf("%s/identity/v3/users/%s", api_base_url(r), u->id);

    xjson_add(o, "id", xjson_string(u->id));
    xjson_add(o, "name", xjson_string(u->name));
    xjson_add(o, "domain_id", xjson_string(IDENTITY_DOMAIN_ID));
    xjson_add(o, "enabled", xjson_bool(u->enabled));
    xjson_add(o, "password_expires_at", NULL);
    xjson_add(o, "options", xjson_object());
    xjson_add(links, "self", xjson_string(self ? self : ""));
    xjson_add(o, "links", links);
    return o;
}

/* Respond with the projects of USER_ID (NULL: all), filtered by the
 * query's name, as {"projects": [...]}; or the one with id ONLY_ID.
 */
static void
ks_respond_projects(struct api_req *r, const char *user_id, const char *only_id,
                    const char *self_path)
{
    CLEANUP_ERROR struct error *err = NULL;
    CLEANUP_FREE struct identity_project *list = NULL;
    const char *name = http_req_query(r->http, "name");
    json_object *top, *arr;
    size_t i, n = 0;

    if (r->ctx->identity->list_projects(r->ctx->identity_priv, user_id, &list,
                                        &n, &err) < 0) {
        api_error_from(r, err);
        return;
    }
    if (only_id) {
        for (i = 0; i < n; i++) {
            if (strcmp(list[i].id, only_id) == 0) {
                top = xjson_object();
                xjson_add(top, "project", ks_project_json(r, &list[i]));
                api_respond_json(r, 200, top);
                return;
            }
        }
        api_error(r, 404, "Could not find project: %s.", only_id);
        return;
    }
    top = xjson_object();
    arr = xjson_array();
    for (i = 0; i < n; i++) {
        if (name == NULL || strcmp(name, list[i].name) == 0) {
            xjson_append(arr, ks_project_json(r, &list[i]));
        }
    }
    xjson_add(top, "projects", arr);
    xjson_add(top, "links", ks_links(r, self_path));
    api_respond_json(r, 200, top);
}

/* GET /identity/v3/auth/projects */
static void
ks_auth_projects(struct api_req *r)
{
    ks_respond_projects(r, r->caller.who.user_id, NULL,
                        "/identity/v3/auth/projects");
}

/* GET /identity/v3/projects: admins see all; others may not list. */
static void
ks_projects(struct api_req *r)
{
    if (!r->caller.admin) {
        api_error(r, 403, ks_forbidden, "identity:list_projects");
        return;
    }
    ks_respond_projects(r, NULL, NULL, "/identity/v3/projects");
}

/* GET /identity/v3/projects/{id}: admins any; others their own. */
static void
ks_project_show(struct api_req *r)
{
    ks_respond_projects(r, r->caller.admin ? NULL : r->caller.who.user_id,
                        api_param(r, "id"), NULL);
}

/* GET /identity/v3/users/{id}/projects: admins, or the user. */
static void
ks_user_projects(struct api_req *r)
{
    const char *id = api_param(r, "id");

    if (!r->caller.admin && strcmp(id, r->caller.who.user_id) != 0) {
        api_error(r, 403, ks_forbidden, "identity:list_user_projects");
        return;
    }
    ks_respond_projects(r, id, NULL, "/identity/v3/users/projects");
}

/* GET /identity/v3/users and /users/{id}. */
static void
ks_users_common(struct api_req *r, const char *only_id)
{
    CLEANUP_ERROR struct error *err = NULL;
    CLEANUP_FREE struct identity_user *list = NULL;
    const char *name = http_req_query(r->http, "name");
    json_object *top, *arr;
    size_t i, n = 0;

    if (r->ctx->identity->list_users(r->ctx->identity_priv, &list, &n, &err) <
        0) {
        api_error_from(r, err);
        return;
    }
    top = xjson_object();
    if (only_id) {
        for (i = 0; i < n; i++) {
            if (strcmp(list[i].id, only_id) == 0) {
                xjson_add(top, "user", ks_user_json(r, &list[i]));
                api_respond_json(r, 200, top);
                return;
            }
        }
        json_object_put(top);
        api_error(r, 404, "Could not find user: %s.", only_id);
        return;
    }
    arr = xjson_array();
    for (i = 0; i < n; i++) {
        if (name == NULL || strcmp(name, list[i].name) == 0) {
            xjson_append(arr, ks_user_json(r, &list[i]));
        }
    }
    xjson_add(top, "users", arr);
    xjson_add(top, "links", ks_links(r, "/identity/v3/users"));
    api_respond_json(r, 200, top);
}

static void
ks_users(struct api_req *r)
{
    if (!r->caller.admin) {
        api_error(r, 403, ks_forbidden, "identity:list_users");
        return;
    }
    ks_users_common(r, NULL);
}

static void
ks_user_show(struct api_req *r)
{
    const char *id = api_param(r, "id");

    if (!r->caller.admin && strcmp(id, r->caller.who.user_id) != 0) {
        api_error(r, 403, ks_forbidden, "identity:get_user");
        return;
    }
    ks_users_common(r, id);
}

#define KS_ANY ROUTE_UNSCOPED

static const struct route identity_routes_[] = {
    {"POST", "/identity/v3/auth/tokens", ks_issue, API_IDENTITY, ROUTE_PUBLIC,
     ROUTE_BODY_JSON},
    {"GET", "/identity/v3/auth/tokens", ks_validate, API_IDENTITY, KS_ANY,
     ROUTE_BODY_NONE},
    {"DELETE", "/identity/v3/auth/tokens", ks_revoke, API_IDENTITY, KS_ANY,
     ROUTE_BODY_NONE},
    {"GET", "/identity/v3/auth/catalog", ks_auth_catalog, API_IDENTITY, 0,
     ROUTE_BODY_NONE},
    {"GET", "/identity/v3/auth/projects", ks_auth_projects, API_IDENTITY,
     KS_ANY, ROUTE_BODY_NONE},
    {"GET", "/identity/v3/projects", ks_projects, API_IDENTITY, KS_ANY,
     ROUTE_BODY_NONE},
    {"GET", "/identity/v3/projects/{id}", ks_project_show, API_IDENTITY, KS_ANY,
     ROUTE_BODY_NONE},
    {"GET", "/identity/v3/users", ks_users, API_IDENTITY, KS_ANY,
     ROUTE_BODY_NONE},
    {"GET", "/identity/v3/users/{id}", ks_user_show, API_IDENTITY, KS_ANY,
     ROUTE_BODY_NONE},
    {"GET", "/identity/v3/users/{id}/projects", ks_user_projects, API_IDENTITY,
     KS_ANY, ROUTE_BODY_NONE},
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table identity_routes = {"/identity", API_IDENTITY,
                                            identity_routes_};

bool
identity_copy(char *dst, size_t size, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n >= size) {
        dst[0] = '\0';
        return false;
    }
    memcpy(dst, s ? s : "", n + 1);
    return true;
}
