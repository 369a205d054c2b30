/* vmsnapd: the route tables and the dispatch of requests to handlers.
 *
 * Each API module declares one table of routes:
 *
 *     static const struct route image_routes_[] = {
 *         {"GET", "/image/v2/images/{image_id:uuid}", image_show,
 *          API_IMAGE, 0, ROUTE_BODY_NONE},
 *         ...
 *         {NULL},
 *     };
 *     const struct route_table image_routes = {"/image", API_IMAGE,
 *                                              image_routes_};
 *
 * A pattern is literal segments and parameters: "{name}" matches one
 * non-empty segment (decoded: %XX, not '+'; at most 255 bytes; no control
 * characters), "{name:uuid}" only a textual UUID.  A segment that does not
 * fit its parameter's type does not match, so a lookup by name ("GET
 * /image/v2/images/cirros") gets the service's 404, which is what the
 * clients expect before they list by name (openstack-api.md §0.5).  A
 * trailing '/' is ignored.  HEAD runs the GET route.
 *
 * For every request the router, in order:
 *   1. finds the route: none whose pattern matches gives 404, one whose
 *      pattern matches but not for this method gives 405 with Allow, in
 *      the shape of the table whose prefix the path starts with;
 *   2. refuses an undecodable query string (400);
 *   3. negotiates the microversion (Nova, Cinder routes; not discovery);
 *   4. checks the token (auth.h) unless the route is ROUTE_PUBLIC: 401;
 *      a parameter named "project_id" must be the caller's project
 *      unless the caller is admin (400, as Nova and Cinder answer);
 *   5. takes the body: ROUTE_BODY_JSON and ROUTE_BODY_NONE buffer it up
 *      to api_ctx.max_json_body (413 beyond, at once when Content-Length
 *      says so); ROUTE_BODY_STREAM calls the handler as soon as the
 *      headers are in, and the handler hands the body to a sink
 *      (http_req_stream_body, upload.h) or responds;
 *   6. calls the handler, which must respond exactly once.
 * Every response carries x-openstack-request-id.
 */
#ifndef VMSNAPD_ROUTER_H
#define VMSNAPD_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "api-common.h"
#include "http.h"

/* A handler.  Must respond (api_respond_*, api_error*, or for a stream
 * route, set up a sink).
 */
typedef void route_handler_fn(struct api_req *r);

enum route_body {
    ROUTE_BODY_NONE,   /* no body expected (one is read and ignored) */
    ROUTE_BODY_JSON,   /* a JSON body, buffered */
    ROUTE_BODY_STREAM, /* a streamed body: the handler runs at headers */
};

/* Route flags. */
#define ROUTE_PUBLIC 0x1u   /* no token needed (discovery, login) */
#define ROUTE_UNSCOPED 0x2u /* an unscoped token is enough */
#define ROUTE_NO_MV 0x4u    /* no microversion (version documents) */

struct route {
    const char *method;        /* "GET", "POST", ...; NULL ends a table */
    const char *pattern;       /* "/compute/v2.1/servers/{server_id}" */
    route_handler_fn *handler; /* what answers */
    enum api_service service;  /* error shape, microversions */
    unsigned flags;            /* ROUTE_* */
    enum route_body body;      /* how the body is taken */
};

/* One module's routes. */
struct route_table {
    const char *prefix;         /* paths of this module start with it:
                                 * "/image" ("" for none) */
    enum api_service service;   /* shape of its 404 and 405 */
    const struct route *routes; /* ended by a route with NULL method */
};

struct router; /* the tables a server dispatches to */

/* A router over the NULL-terminated array TABLES (borrowed; must outlive
 * the router) with CTX (borrowed, likewise).
 */
struct router *router_new(const struct route_table *const *tables,
                          const struct api_ctx *ctx);
void router_free(struct router *rt);

/* The HTTP handlers that dispatch through RT. */
struct http_handlers router_handlers(struct router *rt);

/* Result of router_match. */
enum route_match {
    ROUTE_MATCHED,   /* *ROUTE set, parameters filled */
    ROUTE_NO_PATH,   /* 404 */
    ROUTE_NO_METHOD, /* 405 */
};

/* Match METHOD and the raw PATH against RT.  On ROUTE_MATCHED, *ROUTE is
 * the route and R's parameters are set (R->params are new strings, freed
 * by the router with R).  On ROUTE_NO_METHOD, ALLOW (SIZE bytes) gets the
 * methods that would match ("GET, DELETE").  *SERVICE is the shape to
 * answer in.  Pure: exposed for tests.
 */
enum route_match router_match(const struct router *rt, const char *method,
                              const char *path, struct api_req *r,
                              const struct route **route,
                              enum api_service *service, char *allow,
                              size_t size);

/* Free what router_match put in R (parameters, cached URL). */
void router_req_clear(struct api_req *r);

#endif
