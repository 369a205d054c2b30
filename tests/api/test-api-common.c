/* Unit tests of daemon/api-common.c: error shapes, the error mapping,
 * strict JSON parsing and field checks.
 */
#include <string.h>

#include "api-common.h"
#include "cleanup.h"
#include "tap.h"

static void
shape(enum api_service svc, int status, const char *key, const char *msg)
{
    const char *ctype = NULL;
    CLEANUP_FREE char *body = api_error_body(svc, status, msg, &ctype);
    CLEANUP_JSON_PUT json_object *o = body ? json_tokener_parse(body) : NULL;
    json_object *inner = NULL;
    bool good;

    good = o && strcmp(ctype, "application/json") == 0 &&
           json_object_object_length(o) == 1 &&
           json_object_object_get_ex(o, key, &inner) &&
           json_object_get_int(api_json_get(inner, "code")) == status &&
           strcmp(api_json_str(inner, "message"), msg) == 0;
    if (good && strcmp(key, "error") == 0) {
        good = api_json_str(inner, "title") != NULL;
    }
    ok(good, "service %d status %d: {\"%s\": ...}: %s", (int)svc, status, key,
       body ? body : "NULL");
}

/* Check OBJ (JSON text) against S; WANT NULL: passes, else the error
 * message must contain WANT.
 */
static void
check(const char *text, const struct api_schema *s, const char *want)
{
    CLEANUP_JSON_PUT json_object *o = json_tokener_parse(text);
    CLEANUP_ERROR struct error *err = NULL;
    int rc = api_check(o, s, "body", &err);

    if (want == NULL) {
        ok(rc == 0, "schema accepts %s", text);
    } else {
        ok(rc < 0 && error_get_class(err) == ERR_INVALID &&
               strstr(error_msg(err), want) != NULL,
           "schema refuses %s: %s", text, err ? error_msg(err) : "-");
    }
}

static void
parse_bad(const char *text, size_t len, const char *why)
{
    CLEANUP_ERROR struct error *err = NULL;
    json_object *o = api_parse_json(text, len, &err);

    ok(o == NULL && err && error_get_class(err) == ERR_INVALID,
       "parse refuses %s: %s", why, err ? error_msg(err) : "-");
    json_object_put(o);
}

static const struct api_field inner_f[] = {
    {"name", AJ_STRING, true, NULL, 0, 8},
    {"count", AJ_INT, false, NULL, 0, 0},
    {"ratio", AJ_NUMBER, false, NULL, 0, 0},
    {"flag", AJ_BOOL | AJ_NULL, false, NULL, 0, 0},
    {"tags", AJ_ARRAY, false, NULL, AJ_STRING, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema inner_s = {inner_f, false};
static const struct api_field top_f[] = {
    {"server", AJ_OBJECT, true, &inner_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema top_s = {top_f, false};
static const struct api_schema open_s = {top_f, true};

int
main(void)
{
    const char *ctype = NULL;
    CLEANUP_FREE char *html = NULL;
    CLEANUP_FREE char *deep = NULL;
    json_object *o;
    size_t i;

    ok(api_status_of_class(ERR_INVALID) == 400 &&
           api_status_of_class(ERR_NOT_FOUND) == 404 &&
           api_status_of_class(ERR_CONFLICT) == 409 &&
           api_status_of_class(ERR_TIMEOUT) == 503 &&
           api_status_of_class(ERR_IO) == 500 &&
           api_status_of_class(ERR_GENERIC) == 500 &&
           api_status_of_class(ERR_PROTOCOL) == 500 &&
           api_status_of_class(ERR_PEER) == 500,
       "error classes map to 400 404 409 503 500");

    shape(API_COMPUTE, 404, "itemNotFound", "Instance x could not be found.");
    shape(API_COMPUTE, 400, "badRequest", "bad");
    shape(API_COMPUTE, 403, "forbidden", "no");
    shape(API_COMPUTE, 409, "conflictingRequest", "busy");
    shape(API_COMPUTE, 413, "overLimit", "big");
    shape(API_COMPUTE, 406, "computeFault", "Version 2.2 is not supported");
    shape(API_COMPUTE, 500, "computeFault", "oops");
    shape(API_COMPUTE, 401, "error", "auth");
    shape(API_VOLUME, 400, "badRequest", "Invalid volume: busy");
    shape(API_VOLUME, 404, "itemNotFound", "Volume v could not be found.");
    shape(API_IDENTITY, 401, "error",
          "The request you have made requires "
          "authentication.");
    shape(API_IDENTITY, 404, "error", "Could not find token.");
    shape(API_OTHER, 405, "error", "no");
    shape(API_COMPUTE, 400, "badRequest", "quote \" and <tag> and \n");

    html = api_error_body(API_IMAGE, 404, "No image <b>x</b> & \"y\"", &ctype);
    ok(html && strcmp(ctype, "text/html; charset=UTF-8") == 0 &&
           strstr(html, "<title>404 Not Found</title>") &&
           strstr(html, "<h1>404 Not Found</h1>") &&
           strstr(html, "No image &lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;"
                        "<br /><br />") &&
           !strstr(html, "<b>x"),
       "Glance: webob HTML, message escaped");

    o = api_parse_json("{\"a\": [1, 2.5, \"x\", null, true]} \n", 33, NULL);
    ok(o != NULL, "parse a good document with trailing blanks");
    json_object_put(o);
    parse_bad("", 0, "an empty body");
    parse_bad("{\"a\": 1", 7, "a document that ends early");
    parse_bad("{\"a\": 1} x", 10, "trailing data");
    parse_bad("{'a': 1}", 8, "single quotes");
    parse_bad("{\"a\": 1,}", 9, "a trailing comma");
    parse_bad("{\"a\": \"\xff\"}", 10, "invalid UTF-8");
    parse_bad("{\"a\": 1}\0{}", 11, "a NUL byte");
    parse_bad("[1 2]", 5, "a missing comma");
    deep = calloc(1, 200);
    for (i = 0; i < 40; i++) {
        deep[i] = '[';
        deep[79 - i] = ']';
    }
    parse_bad(deep, 80, "nesting 40 deep");

    check("{\"server\": {\"name\": \"vm1\"}}", &top_s, NULL);
    check("{\"server\": {\"name\": \"vm1\", \"count\": 2, \"ratio\": 1.5, "
          "\"flag\": null, \"tags\": [\"a\"]}}",
          &top_s, NULL);
    check("{\"server\": {\"name\": \"vm1\", \"ratio\": 2}}", &top_s, NULL);
    check("{\"server\": {}}", &top_s,
          "Invalid input for field/attribute body.server. 'name' is a "
          "required property");
    check("{\"server\": {\"name\": 5}}", &top_s,
          "Invalid input for field/attribute body.server.name. Value: 5. 5 "
          "is not of type 'string'");
    check("{\"server\": {\"name\": \"vm1\", \"count\": \"2\"}}", &top_s,
          "body.server.count. Value: \"2\". \"2\" is not of type 'integer'");
    check("{\"server\": {\"name\": \"vm1\", \"count\": 1.5}}", &top_s,
          "is not of type 'integer'");
    check("{\"server\": {\"name\": \"vm1\", \"flag\": 1}}", &top_s,
          "is not of type 'boolean'");
    check("{\"server\": {\"name\": \"vm1\", \"tags\": [\"a\", 1]}}", &top_s,
          "body.server.tags[1]. Value: 1. 1 is not of type 'string'");
    check("{\"server\": {\"name\": \"waytoolongname\"}}", &top_s,
          "longer than 8 characters");
    check("{\"server\": {\"name\": \"vm1\", \"bogus\": 1}}", &top_s,
          "Additional properties are not allowed ('bogus' was unexpected)");
    check("{\"server\": {\"name\": \"vm1\"}, \"extra\": 1}", &top_s,
          "('extra' was unexpected)");
    check("{\"server\": {\"name\": \"vm1\"}, \"extra\": 1}", &open_s, NULL);
    check("{\"server\": [1]}", &top_s, "is not of type 'object'");
    check("[1]", &top_s, "body. Value: [1]. [1] is not of type 'object'");
    return tap_done();
}
