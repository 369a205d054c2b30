/* vmsnapd: route tables and dispatch (see router.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cleanup.h"
#include "log.h"
#include "microversion.h"
#include "router.h"
#include "svcpool.h"
#include "util.h"
#include "xalloc.h"

#define ROUTER_MAX_SEGMENTS 16
#define ROUTER_PARAM_MAX 255

struct router {
    const struct route_table *const *tables; /* NULL-terminated */
    const struct api_ctx *ctx;               /* daemon-wide state */
};

struct router *
router_new(const struct route_table *const *tables, const struct api_ctx *ctx)
{
    struct router *rt = xcalloc(1, sizeof(*rt));

    rt->tables = tables;
    rt->ctx = ctx;
    return rt;
}

void
router_free(struct router *rt)
{
    free(rt);
}

/* A path cut into segments, pointing into a copy. */
struct router_path {
    char *copy;                           /* the path, cut with NULs */
    const char *seg[ROUTER_MAX_SEGMENTS]; /* the segments */
    size_t n;                             /* how many */
    bool ok;                              /* it could be cut */
};

/* Cut PATH ("/a/b/", raw) into segments; an empty segment inside the
 * path, or too many, makes it unmatchable.
 */
static void
router_split(const char *path, struct router_path *p)
{
    char *s, *slash;
    size_t len;

    memset(p, 0, sizeof(*p));
    if (path[0] != '/') {
        return;
    }
    p->copy = xstrdup(path);
    len = strlen(p->copy);
    if (len > 1 && p->copy[len - 1] == '/') {
        p->copy[len - 1] = '\0';
    }
    s = p->copy + 1;
    p->ok = true;
    if (*s == '\0') {
        return;
    }
    while (s) {
        slash = strchr(s, '/');
        if (slash) {
            *slash = '\0';
        }
        if (*s == '\0' || p->n >= ROUTER_MAX_SEGMENTS) {
            p->ok = false;
            return;
        }
        p->seg[p->n++] = s;
        s = slash ? slash + 1 : NULL;
    }
}

/* Does decoded VALUE fit the parameter type TYPE ("" or "uuid")? */
static bool
router_param_fits(const char *type, size_t tlen, const char *value)
{
    size_t i, n = strlen(value);

    if (n == 0 || n > ROUTER_PARAM_MAX) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f ||
            value[i] == '/') {
            return false;
        }
    }
    if (tlen == 4 && strncmp(type, "uuid", 4) == 0) {
        return util_is_uuid(value);
    }
    return tlen == 0;
}

/* Match PATTERN against P; on success fill R's parameters (when R is
 * not NULL: values and names are new strings).
 */
static bool
router_match_pattern(const char *pattern, const struct router_path *p,
                     struct api_req *r)
{
    const char *s = pattern;
    size_t i = 0, np = 0;
    char *vals[API_MAX_PARAMS] = {NULL};
    char *names[API_MAX_PARAMS] = {NULL};
    bool ok = true;

    if (*s == '/') {
        s++;
    }
    while (ok && *s) {
        size_t len = strcspn(s, "/");

        if (i >= p->n) {
            ok = false;
        } else if (s[0] == '{' && len > 2 && s[len - 1] == '}') {
            const char *colon = memchr(s, ':', len);
            size_t nlen = colon ? (size_t)(colon - s - 1) : len - 2;
            const char *type = colon ? colon + 1 : "";
            size_t tlen = colon ? (size_t)(s + len - 1 - type) : 0;
            char *v = http_unescape(p->seg[i], strlen(p->seg[i]), false);

            if (v == NULL || !router_param_fits(type, tlen, v) ||
                np >= API_MAX_PARAMS) {
                free(v);
                ok = false;
            } else {
                vals[np] = v;
                names[np] = r ? xstrndup(s + 1, nlen) : NULL;
                np++;
            }
        } else if (strlen(p->seg[i]) != len ||
                   strncmp(p->seg[i], s, len) != 0) {
            ok = false;
        }
        i++;
        s += len;
        if (*s == '/') {
            s++;
        }
    }
    if (ok && i != p->n) {
        ok = false;
    }
    for (i = 0; ok && r && i < np; i++) {
        ok = names[i] != NULL;
    }
    if (!ok || r == NULL) {
        for (i = 0; i < np; i++) {
            free(vals[i]);
            free(names[i]);
        }
        return ok;
    }
    for (i = 0; i < np; i++) {
        r->params[i] = vals[i];
        r->param_names[i] = names[i];
    }
    r->nparams = np;
    return true;
}

/* Does METHOD (as sent) fit ROUTE's method?  HEAD runs GET routes. */
static bool
router_method_fits(const char *want, const char *method)
{
    return strcmp(want, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(want, "GET") == 0);
}

/* The table whose prefix PATH starts with (a whole segment). */
static const struct route_table *
router_table_of(const struct router *rt, const char *path)
{
    const struct route_table *const *t;
    const struct route_table *best = NULL;
    size_t best_len = 0;

    for (t = rt->tables; *t; t++) {
        size_t n = strlen((*t)->prefix);

        if (n > 0 && strncmp(path, (*t)->prefix, n) == 0 &&
            (path[n] == '\0' || path[n] == '/') && n > best_len) {
            best = *t;
            best_len = n;
        }
    }
    return best;
}

/* The service whose URL space PATH is in, by the DevStack layout, for
 * the shape of a 404 when no table claims the path.
 */
static enum api_service
router_service_of(const char *path)
{
    static const struct {
        const char *prefix;
        enum api_service service;
    } layout[] = {
        {"/identity", API_IDENTITY},
        {"/image", API_IMAGE},
        {"/compute", API_COMPUTE},
        {"/volume", API_VOLUME},
    };
    size_t i;

    for (i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
        size_t n = strlen(layout[i].prefix);

        if (strncmp(path, layout[i].prefix, n) == 0 &&
            (path[n] == '\0' || path[n] == '/')) {
            return layout[i].service;
        }
    }
    return API_OTHER;
}

enum route_match
router_match(const struct router *rt, const char *method, const char *path,
             struct api_req *r, const struct route **route,
             enum api_service *service, char *allow, size_t size)
{
    const struct route_table *const *t;
    const struct route_table *home = router_table_of(rt, path);
    struct router_path p;
    bool path_seen = false;
    size_t used = 0;

    *service = home ? home->service : router_service_of(path);
    if (size > 0) {
        allow[0] = '\0';
    }
    router_split(path, &p);
    if (!p.ok) {
        free(p.copy);
        return ROUTE_NO_PATH;
    }
    for (t = rt->tables; *t; t++) {
        const struct route *ro;

        for (ro = (*t)->routes; ro->method; ro++) {
            if (!router_match_pattern(ro->pattern, &p, NULL)) {
                continue;
            }
            path_seen = true;
            *service = ro->service;
            if (router_method_fits(ro->method, method)) {
                bool filled = router_match_pattern(ro->pattern, &p, r);

                free(p.copy);
                if (!filled) {
                    /* Only when memory ran out. */
                    return ROUTE_NO_PATH;
                }
                *route = ro;
                return ROUTE_MATCHED;
            }
            if (size > used && !strstr(allow, ro->method)) {
                int n = snprintf(allow + used, size - used, "%s%s",
                                 used ? ", " : "", ro->method);

                if (n > 0 && (size_t)n < size - used) {
                    used += (size_t)n;
                }
            }
        }
    }
    free(p.copy);
    return path_seen ? ROUTE_NO_METHOD : ROUTE_NO_PATH;
}

void
router_req_clear(struct api_req *r)
{
    size_t i;

    for (i = 0; i < r->nparams; i++) {
        free(r->params[i]);
        free((char *)r->param_names[i]);
        r->params[i] = NULL;
        r->param_names[i] = NULL;
    }
    r->nparams = 0;
    free(r->base_url);
    r->base_url = NULL;
    if (r->svc) {
        svcpool_put(r->ctx->services, r->svc);
        r->svc = NULL;
    }
}

static void
router_req_free(void *p)
{
    struct api_req *r = p;

    router_req_clear(r);
    free(r);
}

/* Steps 2 to 5 of router.h for a matched request; false if responded. */
static bool
router_admit(struct router *rt, struct api_req *r)
{
    const struct route *ro = r->route;
    const char *pid;

    if (http_req_query_bad(r->http)) {
        api_error(r, 400, "The query string is malformed");
        return false;
    }
    if ((ro->service == API_COMPUTE || ro->service == API_VOLUME) &&
        !(ro->flags & ROUTE_NO_MV) && microversion_apply(r) < 0) {
        return false;
    }
    if (!(ro->flags & ROUTE_PUBLIC)) {
        CLEANUP_ERROR struct error *err = NULL;

        if (auth_check(rt->ctx, http_req_header(r->http, "X-Auth-Token"),
                       api_now(), &r->caller, &err) < 0) {
            if (error_get_class(err) == ERR_NOT_FOUND) {
                api_error_unauthorized(r);
            } else {
                api_error_from(r, err);
            }
            return false;
        }
        r->authenticated = true;
        if (!(ro->flags & ROUTE_UNSCOPED) &&
            r->caller.who.project_id[0] == '\0') {
            api_error_unauthorized(r);
            return false;
        }
    }
    pid = api_param(r, "project_id");
    if (pid && r->authenticated && !r->caller.admin &&
        strcmp(pid, r->caller.who.project_id) != 0) {
        api_error(r, 400,
                  "Malformed request URL: URL's project_id '%s' "
                  "doesn't match Context's project_id '%s'",
                  pid, r->caller.who.project_id);
        return false;
    }
    if (ro->body != ROUTE_BODY_STREAM &&
        !http_req_buffer_body(r->http, rt->ctx->max_json_body)) {
        api_error(r, 413, "The request body is larger than %zu bytes",
                  rt->ctx->max_json_body);
        return false;
    }
    return true;
}

static void
router_begin(struct http_req *req, void *opaque)
{
    struct router *rt = opaque;
    struct api_req *r = xcalloc(1, sizeof(*r));
    char uuid[UTIL_UUID_LEN], allow[64];
    enum route_match m;

    r->http = req;
    r->ctx = rt->ctx;
    http_req_set_data(req, r, router_req_free);
    util_uuid_new(uuid);
    snprintf(r->request_id, sizeof(r->request_id), "req-%s", uuid);
    http_add_header(req, "x-openstack-request-id", r->request_id);
    m = router_match(rt, http_req_method(req), http_req_path(req), r, &r->route,
                     &r->service, allow, sizeof(allow));
    if (m == ROUTE_NO_PATH) {
        api_error(r, 404, "The resource could not be found.");
        return;
    }
    if (m == ROUTE_NO_METHOD) {
        http_add_header(req, "Allow", allow);
        api_error(r, 405, "The method %s is not allowed for this resource",
                  http_req_method(req));
        return;
    }
    if (!router_admit(rt, r)) {
        return;
    }
    if (r->route->body == ROUTE_BODY_STREAM) {
        r->route->handler(r);
    }
}

static void
router_complete(struct http_req *req, void *opaque)
{
    struct router *rt = opaque;
    struct api_req *r = http_req_data(req);

    (void)rt;
    if (r == NULL || r->route == NULL) {
        http_respond(req, 500, NULL, "", 0);
        return;
    }
    if (r->route->body == ROUTE_BODY_STREAM) {
        /* The handler ran at the headers and set up no sink. */
        api_error(r, 500, "no sink for the body of %s", r->route->pattern);
        return;
    }
    if (http_req_body_overflow(req)) {
        api_error(r, 413, "The request body is larger than %zu bytes",
                  r->ctx->max_json_body);
        return;
    }
    r->route->handler(r);
}

struct http_handlers
router_handlers(struct router *rt)
{
    struct http_handlers h = {router_begin, router_complete, rt};

    return h;
}
