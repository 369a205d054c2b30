/* Unit tests of daemon/www.c: which names are served, with which type,
 * and that the static routes yield to the API's own one-segment paths.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apis.h"
#include "escape.h"
#include "router.h"
#include "tap.h"
#include "views.h"
#include "www.h"

static void
test_names(void)
{
    static const char *const good[] = {
        "index.html", "app.js",      "app.css",    "icon.svg", "a-b_c.1.js",
        "shot.png",   "favicon.ico", "robots.txt", "0.js",
    };
    static const char *const bad[] = {
        "",
        ".",
        "..",
        "...html",
        ".hidden.js",
        "-x.js",
        "_x.js",
        "a..b.js",
        "x.js/",
        "a/b.js",
        "..%2fetc.html",
        "x",
        "x.",
        "app.js~",
        "app.JS",
        "app.php",
        "x.htm",
        "x.json",
        "x.map",
        "a b.js",
        "a\\b.js",
        "a:b.js",
        "a%2e.js",
        "a\n.js",
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaa.js"),
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ok(www_name_ok(good[i]), "served: \"%s\"", good[i]);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *shown = escape_text(bad[i]);  /* one TAP line */

        ok(!www_name_ok(bad[i]), "refused: \"%s\"", shown);
        free(shown);
    }
}

static void
test_types(void)
{
    ok(strcmp(www_content_type("index.html"), "text/html; charset=utf-8") == 0,
       "html is text/html in UTF-8");
    ok(strcmp(www_content_type("app.js"), "text/javascript; charset=utf-8") ==
           0,
       "js is text/javascript (module scripts need a JavaScript type)");
    ok(strcmp(www_content_type("app.css"), "text/css; charset=utf-8") == 0,
       "css is text/css");
    ok(strcmp(www_content_type("i.svg"), "image/svg+xml") == 0,
       "svg is image/svg+xml");
    ok(strcmp(www_content_type("s.png"), "image/png") == 0, "png is image/png");
    ok(www_content_type("x.exe") == NULL, "an unknown extension has none");
    ok(www_content_type(".js") == NULL, "an extension alone has none");
}

static void
test_routes(void)
{
    const struct route_table *const tables[] = {
        &discovery_routes, &identity_routes, &www_routes, NULL};
    struct api_ctx ctx;
    struct router *rt;
    struct {
        const char *method, *path;
        enum route_match want;
        const char *pattern;
    } cases[] = {
        {"GET", "/", ROUTE_MATCHED, "/"},
        {"HEAD", "/", ROUTE_MATCHED, "/"},
        {"GET", "/app.js", ROUTE_MATCHED, "/{file}"},
        {"GET", "/identity", ROUTE_MATCHED, "/identity"},
        {"GET", "/image", ROUTE_MATCHED, "/image"},
        {"GET", "/compute/v2.1", ROUTE_MATCHED, "/compute/v2.1"},
        {"GET", "/a/b.js", ROUTE_NO_PATH, NULL},
        {"GET", "/identity/v3/nothing", ROUTE_NO_PATH, NULL},
        {"POST", "/", ROUTE_NO_METHOD, NULL},
        {"DELETE", "/app.js", ROUTE_NO_METHOD, NULL},
    };
    size_t i;

    memset(&ctx, 0, sizeof(ctx));
    rt = router_new(tables, &ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct api_req r;
        const struct route *ro = NULL;
        enum api_service svc;
        char allow[64];
        enum route_match m;

        memset(&r, 0, sizeof(r));
        m = router_match(rt, cases[i].method, cases[i].path, &r, &ro, &svc,
                         allow, sizeof(allow));
        ok(m == cases[i].want && (cases[i].pattern == NULL ||
                                  strcmp(ro->pattern, cases[i].pattern) == 0),
           "%s %s: %s", cases[i].method, cases[i].path,
           cases[i].pattern                 ? cases[i].pattern
           : cases[i].want == ROUTE_NO_PATH ? "404"
                                            : "405");
        if (m == ROUTE_NO_METHOD) {
            ok(strcmp(allow, "GET") == 0, "%s %s: Allow: GET", cases[i].method,
               cases[i].path);
        }
        router_req_clear(&r);
    }
    router_free(rt);
}

/* vmsnap_progress, the member of an image's view the page's progress
 * bar reads.
 */
static void
test_progress(void)
{
    static const struct {
        double in, want;
    } cases[] = {
        {42.37, 42.3}, {0, 0}, {100, 100}, {-5, 0}, {150, 100}, {NAN, 0},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_object *o = json_object_new_object();
        json_object *v;

        view_image_progress(o, cases[i].in);
        v = json_object_object_get(o, "vmsnap_progress");
        ok(v && json_object_is_type(v, json_type_double) &&
               fabs(json_object_get_double(v) - cases[i].want) < 1e-9,
           "vmsnap_progress of %g%% is %g", cases[i].in, cases[i].want);
        json_object_put(o);
    }
}

int
main(void)
{
    test_names();
    test_types();
    test_routes();
    test_progress();
    return tap_done();
}
