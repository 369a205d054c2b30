/* Unit tests of daemon/router.c: matching, parameters, 404 and 405 in
 * the right service's shape.
 */
#include <string.h>

#include "router.h"
#include "tap.h"

static void
h_dummy(struct api_req *r)
{
    (void)r;
}

static const struct route image_r[] = {
    {"GET", "/image/v2/images", h_dummy, API_IMAGE, 0, ROUTE_BODY_NONE},
    {"POST", "/image/v2/images", h_dummy, API_IMAGE, 0, ROUTE_BODY_JSON},
    {"GET", "/image/v2/images/{image_id:uuid}", h_dummy, API_IMAGE, 0,
     ROUTE_BODY_NONE},
    {"DELETE", "/image/v2/images/{image_id:uuid}", h_dummy, API_IMAGE, 0,
     ROUTE_BODY_NONE},
    {"PUT", "/image/v2/images/{image_id:uuid}/file", h_dummy, API_IMAGE, 0,
     ROUTE_BODY_STREAM},
    {"PUT", "/image/v2/images/{image_id:uuid}/tags/{tag}", h_dummy, API_IMAGE,
     0, ROUTE_BODY_NONE},
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};
static const struct route_table image_t = {"/image", API_IMAGE, image_r};

static const struct route compute_r[] = {
    {"GET", "/compute/v2.1/flavors/{flavor_id}", h_dummy, API_COMPUTE, 0,
     ROUTE_BODY_NONE},
    {"GET", "/compute/v2.1/servers/{server_id:uuid}", h_dummy, API_COMPUTE, 0,
     ROUTE_BODY_NONE},
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};
static const struct route_table compute_t = {"/compute", API_COMPUTE,
                                             compute_r};

static const struct route_table *const tables[] = {&image_t, &compute_t, NULL};
static const struct api_ctx ctx;

#define UUID "8bbc7d1a-0c5a-4851-aa1d-6ce65dac0d6e"

/* Match METHOD PATH; expect WANT, the route's pattern PAT (when
 * matched), the shape SVC, and for 405 the Allow list ALLOW.
 */
static struct api_req req;

static void
m(const char *method, const char *path, enum route_match want, const char *pat,
  enum api_service svc, const char *allow)
{
    const struct route *ro = NULL;
    enum api_service got_svc = API_OTHER;
    char al[64] = "";
    struct router *rt = router_new(tables, &ctx);
    enum route_match got;

    router_req_clear(&req);
    memset(&req, 0, sizeof(req));
    got = router_match(rt, method, path, &req, &ro, &got_svc, al, sizeof(al));
    ok(got == want && got_svc == svc &&
           (want != ROUTE_MATCHED || strcmp(ro->pattern, pat) == 0) &&
           (allow == NULL || strcmp(al, allow) == 0),
       "%s %s -> %d (got %d, service %d, allow \"%s\")", method, path,
       (int)want, (int)got, (int)got_svc, al);
    router_free(rt);
}

int
main(void)
{
    m("GET", "/image/v2/images", ROUTE_MATCHED, "/image/v2/images", API_IMAGE,
      NULL);
    m("GET", "/image/v2/images/", ROUTE_MATCHED, "/image/v2/images", API_IMAGE,
      NULL);
    m("HEAD", "/image/v2/images", ROUTE_MATCHED, "/image/v2/images", API_IMAGE,
      NULL);
    m("POST", "/image/v2/images", ROUTE_MATCHED, "/image/v2/images", API_IMAGE,
      NULL);
    m("GET", "/image/v2/images/" UUID, ROUTE_MATCHED,
      "/image/v2/images/{image_id:uuid}", API_IMAGE, NULL);
    ok(strcmp(api_param(&req, "image_id"), UUID) == 0,
       "the image_id parameter");
    ok(api_param(&req, "image") == NULL, "no other parameter");
    m("GET", "/image/v2/images/cirros", ROUTE_NO_PATH, NULL, API_IMAGE, NULL);
    m("PATCH", "/image/v2/images/" UUID, ROUTE_NO_METHOD, NULL, API_IMAGE,
      "GET, DELETE");
    m("PATCH", "/image/v2/images", ROUTE_NO_METHOD, NULL, API_IMAGE,
      "GET, POST");
    m("PUT", "/image/v2/images/" UUID "/tags/a%20b", ROUTE_MATCHED,
      "/image/v2/images/{image_id:uuid}/tags/{tag}", API_IMAGE, NULL);
    ok(strcmp(api_param(&req, "tag"), "a b") == 0 &&
           strcmp(api_param(&req, "image_id"), UUID) == 0,
       "two parameters, percent-decoded");
    m("PUT", "/image/v2/images/" UUID "/tags/a+b", ROUTE_MATCHED,
      "/image/v2/images/{image_id:uuid}/tags/{tag}", API_IMAGE, NULL);
    ok(strcmp(api_param(&req, "tag"), "a+b") == 0, "'+' stays '+' in a path");
    m("PUT", "/image/v2/images/" UUID "/tags/a%2Fb", ROUTE_NO_PATH, NULL,
      API_IMAGE, NULL);
    m("PUT", "/image/v2/images/" UUID "/tags/a%0Ab", ROUTE_NO_PATH, NULL,
      API_IMAGE, NULL);
    m("PUT", "/image/v2/images/" UUID "/tags/%zz", ROUTE_NO_PATH, NULL,
      API_IMAGE, NULL);
    m("GET", "/image//v2/images", ROUTE_NO_PATH, NULL, API_IMAGE, NULL);
    m("GET", "/image/v2/images/" UUID "/file/more", ROUTE_NO_PATH, NULL,
      API_IMAGE, NULL);
    m("GET", "/imagex", ROUTE_NO_PATH, NULL, API_OTHER, NULL);
    m("GET", "/compute/v2.1/flavors/m1.tiny", ROUTE_MATCHED,
      "/compute/v2.1/flavors/{flavor_id}", API_COMPUTE, NULL);
    ok(strcmp(api_param(&req, "flavor_id"), "m1.tiny") == 0,
       "a name where Nova allows one");
    m("GET", "/compute/v2.1/servers/vm1", ROUTE_NO_PATH, NULL, API_COMPUTE,
      NULL);
    m("GET", "/compute/v2.1/servers/" UUID, ROUTE_MATCHED,
      "/compute/v2.1/servers/{server_id:uuid}", API_COMPUTE, NULL);
    m("GET", "/volume/v3/x/volumes", ROUTE_NO_PATH, NULL, API_VOLUME, NULL);
    m("GET", "/identity/v3/nothing", ROUTE_NO_PATH, NULL, API_IDENTITY, NULL);
    m("GET", "/", ROUTE_NO_PATH, NULL, API_OTHER, NULL);
    m("GET", "no-slash", ROUTE_NO_PATH, NULL, API_OTHER, NULL);
    m("GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", ROUTE_NO_PATH, NULL,
      API_OTHER, NULL);
    router_req_clear(&req);
    return tap_done();
}
