/* vmsnapd: what every API module shares.
 *
 * - struct api_ctx: the daemon-wide state handlers reach (identity
 *   backend, limits, URLs, the pool of service contexts);
 * - struct api_req: one request as a handler sees it (route, path
 *   parameters, caller, microversion);
 * - errors in each service's own shape, and the one mapping from
 *   lib/base/error.h classes to HTTP statuses;
 * - strict JSON request parsing and a small checker of field types;
 * - JSON responses.
 *
 * Everything runs in the request's connection thread.  Functions whose
 * name starts with api_respond or api_error make the request's response;
 * exactly one response is made per request.
 */
#ifndef VMSNAPD_API_COMMON_H
#define VMSNAPD_API_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"
#include "http.h"
#include "identity-backend.h"
#include "svc.h"

/* The services of the API, each with its error shape. */
enum api_service {
    API_OTHER,    /* no service (unknown prefixes, tests): Keystone shape */
    API_IDENTITY, /* Keystone v3: {"error": {code, title, message}} */
    API_IMAGE,    /* Glance v2: webob's HTML page */
    API_COMPUTE,  /* Nova v2.1: {"itemNotFound": {code, message}} */
    API_VOLUME,   /* Cinder v3: as Nova */
};

/* A microversion. */
struct api_version {
    int major; /* 2 for Nova, 3 for Cinder */
    int minor; /* the microversion */
};

/* Daemon-wide state, built by daemon.c before the server starts and
 * read-only while it runs (so threads share it without locks).
 */
struct api_ctx {
    const struct identity_ops *identity; /* the identity backend */
    void *identity_priv;                 /* its state */
    const char *public_url; /* "https://cloud.example:8774", or NULL:
                             * built from each request's Host */
    const char *local_host; /* "127.0.0.1:8774": used when a request has
                             * no usable Host */
    int64_t token_ttl_s;    /* lifetime of new tokens */
    size_t max_json_body;   /* most bytes of a JSON request body */
    const char *data_dir;   /* the data directory, or NULL */
    const char *www_dir;    /* the web page's files (www.h), or NULL */
    struct api_version compute_min, compute_max; /* Nova microversions */
    struct api_version volume_min, volume_max;   /* Cinder microversions */
    struct svcpool *services; /* service contexts (svcpool.h) for the
                               * Glance, Nova and Cinder modules, or NULL
                               * (tests of the framework alone) */
};

#define API_MAX_PARAMS 4

/* The caller, from a valid token (auth.h). */
struct api_caller {
    struct identity_principal who;   /* user, project, roles */
    bool admin;                      /* holds the admin role */
    int64_t expires_at;              /* token expiry, Unix seconds */
    char token_hash[TOKEN_HASH_LEN]; /* the token's hash */
};

struct route;

/* One request as a handler sees it.  Owned by the router; valid until
 * the request ends.
 */
struct api_req {
    struct http_req *http;                   /* the HTTP request */
    const struct api_ctx *ctx;               /* daemon-wide state */
    const struct route *route;               /* the route matched, or NULL */
    enum api_service service;                /* whose error shape to use */
    const char *param_names[API_MAX_PARAMS]; /* path parameter names */
    char *params[API_MAX_PARAMS];            /* their decoded values */
    size_t nparams;                          /* how many */
    bool authenticated;                      /* caller is set */
    struct api_caller caller;                /* who asks */
    struct api_version version;              /* negotiated microversion (Nova,
                                              * Cinder), else 0.0 */
    char request_id[48];                     /* "req-<uuid>", sent back */
    char *base_url;                          /* cache of api_base_url */
    struct svc *svc;                         /* lent by api_svc, given
                                              * back when R ends */
};

/* Value of path parameter NAME ("image_id"), decoded; NULL if the route
 * has none of that name.
 */
const char *api_param(const struct api_req *r, const char *name);

/* The service context of R: lent from the daemon's pool on first use and
 * given back when R ends (so an upload keeps it until its body is in).
 * NULL after responding 500 when none can be had.
 */
struct svc *api_svc(struct api_req *r);

/* The services' caller for R's token: its user and project, admin when
 * it holds the admin role.  Strings are borrowed from R.
 */
void api_who(const struct api_req *r, struct caller *out);

/* What most handlers start with: *SVC, R's service context, and WHO,
 * its caller.  False when there is no context (R is answered: 500).
 */
bool api_begin(struct api_req *r, struct svc **svc, struct caller *who);

/* The URL clients reach the daemon at, without a trailing '/':
 * ctx->public_url if set, else "http[s]://" + the request's Host header
 * when it is a plain host[:port], else ctx->local_host.  Borrowed from R.
 */
const char *api_base_url(struct api_req *r);

/* The error mapping: the HTTP status for an error of class CLS.  The one
 * place where lib/base/error.h classes become statuses:
 *   ERR_INVALID 400, ERR_NOT_FOUND 404, ERR_CONFLICT 409,
 *   ERR_TIMEOUT 503, ERR_GENERIC, ERR_IO, ERR_PROTOCOL, ERR_PEER 500.
 */
int api_status_of_class(enum error_class cls);

/* The body of an error of STATUS with MESSAGE (untrusted text: escaped
 * for the shape) for SERVICE; *CONTENT_TYPE is set to a static string.
 * Returns a new string (caller frees).
 */
char *api_error_body(enum api_service service, int status, const char *message,
                     const char **content_type);

/* Respond STATUS with an error in R's service shape; the message is
 * formatted from FMT.  Messages of 5xx errors are logged too.
 */
void api_error(struct api_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Respond with ERR (borrowed): its status from api_status_of_class, its
 * message.  5xx messages are logged, and the client gets a generic one.
 */
void api_error_from(struct api_req *r, const struct error *err);

/* Respond 401 in R's service shape, with Keystone's message. */
void api_error_unauthorized(struct api_req *r);

/* Respond STATUS with OBJ as JSON (takes OBJ, never NULL). */
void api_respond_json(struct api_req *r, int status, json_object *obj);

/* Respond STATUS with no body (204, 202). */
void api_respond_empty(struct api_req *r, int status);

/* Parse TEXT (LEN bytes) as one JSON value: strict RFC 8259 syntax,
 * valid UTF-8, nesting at most 32 deep, nothing after it but blanks.
 * Returns the value (caller puts it), or NULL with ERR_INVALID saying
 * where it went wrong.
 */
json_object *api_parse_json(const char *text, size_t len, struct error **errp);

/* The request body as a JSON object.  When there is no body, the body is
 * not JSON or not an object, responds 400 and returns NULL.  Caller puts
 * the object.
 */
json_object *api_req_json(struct api_req *r);

/* JSON types as bits, for struct api_field. */
#define AJ_NULL 0x01u
#define AJ_BOOL 0x02u
#define AJ_INT 0x04u
#define AJ_NUMBER 0x0cu /* integer or not */
#define AJ_STRING 0x10u
#define AJ_OBJECT 0x20u
#define AJ_ARRAY 0x40u
#define AJ_ANY 0x7fu

struct api_schema;

/* One member of a JSON object. */
struct api_field {
    const char *name;                /* the key */
    unsigned types;                  /* AJ_* allowed */
    bool required;                   /* must be present */
    const struct api_schema *object; /* when the value is an object:
                                      * check it too (NULL: any) */
    unsigned items;                  /* when the value is an array: the
                                      * AJ_* of its items (0: any) */
    size_t max_len;                  /* strings: most bytes (0: 255) */
};

/* The members an object may have. */
struct api_schema {
    const struct api_field *fields; /* ended by a field with NULL name */
    bool open;                      /* other keys are allowed */
};

/* Check object OBJ, reached as WHERE ("auth.identity"), against SCHEMA.
 * Returns 0, or -1 with ERR_INVALID naming the field, as Nova's
 * validation does: "Invalid input for field/attribute auth.identity.
 * methods. Value: 5. 5 is not of type 'array'", "... 'name' is a
 * required property", "Additional properties are not allowed ('x' was
 * unexpected)".
 */
int api_check(json_object *obj, const struct api_schema *schema,
              const char *where, struct error **errp);

/* Member KEY of OBJ if it is a string, else NULL (borrowed). */
const char *api_json_str(json_object *obj, const char *key);

/* Member KEY of OBJ (borrowed), or NULL. */
json_object *api_json_get(json_object *obj, const char *key);

/* S percent-encoded for a URL's query or path (RFC 3986's unreserved
 * characters stay).  Caller frees.
 */
char *api_url_encode(const char *s);

/* R's query string re-encoded, without the parameters named in DROP
 * (NULL-terminated, may be NULL): "k=v&k2=v2", "" when nothing is left.
 * For pagination links.  Caller frees.
 */
char *api_query_without(const struct api_req *r, const char *const *drop);

/* Query parameter KEY of R as a whole number in [MIN, MAX] into *OUT,
 * DEF when absent.  Responds 400 and returns -1 when it is not one.
 */
int api_query_int(struct api_req *r, const char *key, int64_t def,
                  int64_t min, int64_t max, int64_t *out);

/* Format Unix time T as Keystone does: "2026-11-29T15:41:47.000000Z". */
void api_iso8601(int64_t t, char out[32]);

/* Current Unix time in seconds. */
int64_t api_now(void);

#endif
