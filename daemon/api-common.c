/* vmsnapd: what every API module shares (see api-common.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api-common.h"
#include "cleanup.h"
#include "log.h"
#include "svcpool.h"
#include "util.h"
#include "xalloc.h"
#include "xjson.h"

#define API_JSON_DEPTH 32
#define API_ECHO_MAX 64 /* bytes of a bad value quoted in a message */

const char *
api_param(const struct api_req *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nparams; i++) {
        if (strcmp(r->param_names[i], name) == 0) {
            return r->params[i];
        }
    }
    return NULL;
}

/* True if HOST is a plain "name[:port]" or "[v6][:port]". */
static bool
api_host_ok(const char *host)
{
    size_t i, n = host ? strlen(host) : 0;

    if (n == 0 || n > 255) {
        return false;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)host[i];

        if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '[' &&
            c != ']') {
            return false;
        }
    }
    return true;
}

const char *
api_base_url(struct api_req *r)
{
    const char *host;

    if (r->base_url) {
        return r->base_url;
    }
    if (r->ctx->public_url && r->ctx->public_url[0]) {
        size_t n = strlen(r->ctx->public_url);

        while (n > 0 && r->ctx->public_url[n - 1] == '/') {
            n--;
        }
        r->base_url = xstrndup(r->ctx->public_url, n);
    } else {
        host = http_req_header(r->http, "Host");
        if (!api_host_ok(host)) {
            host = r->ctx->local_host;
        }
        r->base_url = util_strdup_printf(
            "%s://%s", http_req_is_tls(r->http) ? "https" : "http", host);
    }
    return r->base_url ? r->base_url : "";
}

int
api_status_of_class(enum error_class cls)
{
    switch (cls) {
    case ERR_INVALID:
        return 400;
    case ERR_NOT_FOUND:
        return 404;
    case ERR_CONFLICT:
        return 409;
    case ERR_TIMEOUT:
        return 503;
    case ERR_GENERIC:
    case ERR_IO:
    case ERR_PROTOCOL:
    case ERR_PEER:
        return 500;
    }
    return 500;
}

/* Nova's names of faults (nova/api/openstack/wsgi.py, _FAULT_NAMES);
 * Cinder uses the same.
 */
static const char *
api_nova_fault(int status)
{
    switch (status) {
    case 400:
        return "badRequest";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "itemNotFound";
    case 405:
        return "badMethod";
    case 409:
        return "conflictingRequest";
    case 413:
    case 429:
        return "overLimit";
    case 415:
        return "badMediaType";
    case 501:
        return "notImplemented";
    case 503:
        return "serviceUnavailable";
    default:
        return "computeFault";
    }
}

/* MESSAGE escaped for HTML text (caller frees). */
static char *
api_html_escape(const char *message)
{
    size_t n = strlen(message), i, o = 0;
    char *out = xmalloc(n * 6 + 1);

    for (i = 0; i < n; i++) {
        const char *rep = NULL;

        switch (message[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#x27;";
            break;
        default:
            break;
        }
        if (rep) {
            memcpy(out + o, rep, strlen(rep));
            o += strlen(rep);
        } else if ((unsigned char)message[i] < 0x20) {
            out[o++] = ' ';
        } else {
            out[o++] = message[i];
        }
    }
    out[o] = '\0';
    return out;
}

char *
api_error_body(enum api_service service, int status, const char *message,
               const char **content_type)
{
    CLEANUP_JSON_PUT json_object *top = NULL;
    json_object *inner;
    const char *key = "error";

    if (service == API_IMAGE) {
        /* webob's error page, which both glanceclient and the SDK read
         * (openstack-api.md §1).
         */
        CLEANUP_FREE char *esc = api_html_escape(message);

        *content_type = "text/html; charset=UTF-8";
        return util_strdup_printf(
            "<html>\n <head>\n  <title>%d %s</title>\n </head>\n <body>\n"
            "  <h1>%d %s</h1>\n  %s<br /><br />\n\n\n\n </body>\n</html>",
            status, http_reason(status), status, http_reason(status), esc);
    }
    *content_type = "application/json";
    top = xjson_object();
    inner = xjson_object();
    /* keystonemiddleware answers 401 for Nova and Cinder in Keystone's
     * shape; other Nova and Cinder errors use the fault names.
     */
    if ((service == API_COMPUTE || service == API_VOLUME) && status != 401) {
        key = api_nova_fault(status);
    }
    xjson_add(top, key, inner);
    xjson_add(inner, "code", xjson_int64(status));
    if (strcmp(key, "error") == 0) {
        xjson_add(inner, "title", xjson_string(http_reason(status)));
    }
    xjson_add(inner, "message", xjson_string(message));
    return xstrdup(xjson_text(top, NULL));
}

/* Make the error response of R. */
static void
api_send_error(struct api_req *r, int status, const char *message)
{
    const char *ctype = NULL;
    CLEANUP_FREE char *body =
        api_error_body(r->service, status, message, &ctype);

    if (status == 401) {
        CLEANUP_FREE char *hdr = util_strdup_printf(
            "Keystone uri=\"%s/identity/v3\"", api_base_url(r));

        http_add_header(r->http, "WWW-Authenticate", hdr);
    }
    http_respond(r->http, status, ctype, body, strlen(body));
}

void
api_error(struct api_req *r, int status, const char *fmt, ...)
{
    va_list ap;
    CLEANUP_FREE char *msg = NULL;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    if (status >= 500) {
        log_warnx("api: %s %s: %d %s", http_req_method(r->http),
                  http_req_path(r->http), status, msg);
    }
    api_send_error(r, status, msg);
}

void
api_error_from(struct api_req *r, const struct error *err)
{
    int status = api_status_of_class(error_get_class(err));

    if (status >= 500) {
        log_warnx("api: %s %s: %s", http_req_method(r->http),
                  http_req_path(r->http), error_msg(err));
        /* Internal detail (paths, peers) is for the log, not the client. */
        api_send_error(r, status,
                       status == 503 ? "The service is busy; try again"
                                     : "An internal error occurred; the "
                                       "server log has its cause");
        return;
    }
    api_send_error(r, status, error_msg(err));
}

void
api_error_unauthorized(struct api_req *r)
{
    api_send_error(r, 401,
                   "The request you have made requires "
                   "authentication.");
}

void
api_respond_json(struct api_req *r, int status, json_object *obj)
{
    const char *s;
    size_t len = 0;

    s = xjson_text(obj, &len);
    http_respond(r->http, status, "application/json", s, len);
    json_object_put(obj);
}

void
api_respond_empty(struct api_req *r, int status)
{
    http_respond(r->http, status, NULL, "", 0);
}

/* json-c's strict mode still takes 'single-quoted' strings: refuse a
 * single quote outside a double-quoted string.
 */
static bool
api_quotes_ok(const char *text, size_t len)
{
    bool in_string = false;
    size_t i;

    for (i = 0; i < len; i++) {
        if (in_string) {
            if (text[i] == '\\') {
                i++;
            } else if (text[i] == '"') {
                in_string = false;
            }
        } else if (text[i] == '"') {
            in_string = true;
        } else if (text[i] == '\'') {
            return false;
        }
    }
    return true;
}

json_object *
api_parse_json(const char *text, size_t len, struct error **errp)
{
    json_tokener *tok;
    json_object *obj;
    enum json_tokener_error jerr;
    size_t off, i;

    if (text == NULL || len == 0) {
        error_setg(errp, ERR_INVALID,
                   "The request body is empty; a JSON "
                   "document is required");
        return NULL;
    }
    if (len > INT32_MAX || memchr(text, '\0', len) != NULL) {
        error_setg(errp, ERR_INVALID, "Malformed request body: not JSON");
        return NULL;
    }
    if (!api_quotes_ok(text, len)) {
        error_setg(errp, ERR_INVALID,
                   "Malformed request body: strings "
                   "must be in double quotes");
        return NULL;
    }
    tok = xcheck(json_tokener_new_ex(API_JSON_DEPTH));
    json_tokener_set_flags(tok,
                           JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, text, (int)len);
    jerr = json_tokener_get_error(tok);
    off = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr == json_tokener_continue) {
        json_object_put(obj);
        error_setg(errp, ERR_INVALID,
                   "Malformed request body: the JSON "
                   "document ends early");
        return NULL;
    }
    if (jerr != json_tokener_success) {
        error_setg(errp, ERR_INVALID,
                   "Malformed request body: %s at "
                   "byte %zu",
                   json_tokener_error_desc(jerr), off);
        return NULL;
    }
    for (i = off; i < len; i++) {
        if (!strchr(" \t\r\n", text[i])) {
            json_object_put(obj);
            error_setg(errp, ERR_INVALID,
                       "Malformed request body: "
                       "trailing data after the JSON document at byte %zu",
                       i);
            return NULL;
        }
    }
    return obj;
}

json_object *
api_req_json(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    size_t len = 0;
    const char *body = http_req_body(r->http, &len);
    json_object *obj = api_parse_json(body, len, &err);

    if (obj == NULL) {
        api_error(r, 400, "%s", error_msg(err));
        return NULL;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        api_error(r, 400,
                  "Malformed request body: a JSON object is "
                  "required");
        return NULL;
    }
    return obj;
}

/* The bit of V's type among AJ_*. */
static unsigned
api_type_bit(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return AJ_NULL;
    case json_type_boolean:
        return AJ_BOOL;
    case json_type_int:
        return AJ_INT;
    case json_type_double:
        return AJ_NUMBER & ~AJ_INT;
    case json_type_string:
        return AJ_STRING;
    case json_type_object:
        return AJ_OBJECT;
    case json_type_array:
        return AJ_ARRAY;
    }
    return 0;
}

/* The first allowed type of TYPES, named as jsonschema does. */
static const char *
api_wanted(unsigned types)
{
    if (types & AJ_STRING) {
        return "string";
    }
    if (types & AJ_OBJECT) {
        return "object";
    }
    if (types & AJ_ARRAY) {
        return "array";
    }
    if (types & AJ_INT) {
        return (types & AJ_NUMBER) == AJ_NUMBER ? "number" : "integer";
    }
    if (types & AJ_BOOL) {
        return "boolean";
    }
    return "null";
}

/* V as short JSON text for a message, into BUF. */
static const char *
api_echo(json_object *v, char *buf, size_t size)
{
    const char *s = xjson_text(v, NULL);
    size_t n = strlen(s);

    if (n <= API_ECHO_MAX) {
        snprintf(buf, size, "%s", s);
    } else {
        snprintf(buf, size, "%.*s...", API_ECHO_MAX, s);
    }
    return buf;
}

/* Check one value V of field F reached as PATH. */
static int
api_check_value(json_object *v, const struct api_field *f, const char *path,
                struct error **errp)
{
    char echo[API_ECHO_MAX + 8];
    size_t max = f->max_len ? f->max_len : 255;

    if (!(api_type_bit(v) & f->types)) {
        api_echo(v, echo, sizeof(echo));
        error_setg(errp, ERR_INVALID,
                   "Invalid input for field/attribute "
                   "%s. Value: %s. %s is not of type '%s'",
                   path, echo, echo, api_wanted(f->types));
        return -1;
    }
    if (json_object_is_type(v, json_type_string) &&
        (size_t)json_object_get_string_len(v) > max) {
        error_setg(errp, ERR_INVALID,
                   "Invalid input for field/attribute "
                   "%s. The value is longer than %zu characters",
                   path, max);
        return -1;
    }
    if (json_object_is_type(v, json_type_object) && f->object) {
        return api_check(v, f->object, path, errp);
    }
    if (json_object_is_type(v, json_type_array) && f->items) {
        size_t i, n = json_object_array_length(v);

        for (i = 0; i < n; i++) {
            json_object *item = json_object_array_get_idx(v, i);

            if (!(api_type_bit(item) & f->items)) {
                api_echo(item, echo, sizeof(echo));
                error_setg(errp, ERR_INVALID,
                           "Invalid input for "
                           "field/attribute %s[%zu]. Value: %s. %s is not "
                           "of type '%s'",
                           path, i, echo, echo, api_wanted(f->items));
                return -1;
            }
        }
    }
    return 0;
}

int
api_check(json_object *obj, const struct api_schema *schema, const char *where,
          struct error **errp)
{
    const struct api_field *f;

    if (!json_object_is_type(obj, json_type_object)) {
        char echo[API_ECHO_MAX + 8];

        api_echo(obj, echo, sizeof(echo));
        error_setg(errp, ERR_INVALID,
                   "Invalid input for field/attribute "
                   "%s. Value: %s. %s is not of type 'object'",
                   where, echo, echo);
        return -1;
    }
    for (f = schema->fields; f->name; f++) {
        json_object *v = NULL;
        CLEANUP_FREE char *path = NULL;

        if (!json_object_object_get_ex(obj, f->name, &v)) {
            if (f->required) {
                error_setg(errp, ERR_INVALID,
                           "Invalid input for "
                           "field/attribute %s. '%s' is a required property",
                           where, f->name);
                return -1;
            }
            continue;
        }
        path = util_strdup_printf("%s.%s", where, f->name);
        if (api_check_value(v, f, path, errp) < 0) {
            return -1;
        }
    }
    if (!schema->open) {
        json_object_object_foreach(obj, key, val)
        {
            bool known = false;

            (void)val;
            for (f = schema->fields; f->name && !known; f++) {
                known = strcmp(f->name, key) == 0;
            }
            if (!known) {
                char shown[API_ECHO_MAX + 4];

                snprintf(shown, sizeof(shown), "%.*s", API_ECHO_MAX, key);
                error_setg(errp, ERR_INVALID,
                           "Invalid input for "
                           "field/attribute %s. Additional properties are "
                           "not allowed ('%s' was unexpected)",
                           where, shown);
                return -1;
            }
        }
    }
    return 0;
}

json_object *
api_json_get(json_object *obj, const char *key)
{
    json_object *v = NULL;

    if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v)) {
        return NULL;
    }
    return v;
}

const char *
api_json_str(json_object *obj, const char *key)
{
    json_object *v = api_json_get(obj, key);

    return v && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

void
api_iso8601(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
}

int64_t
api_now(void)
{
    return (int64_t)time(NULL);
}

struct svc *
api_svc(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;

    if (r->svc) {
        return r->svc;
    }
    if (r->ctx->services == NULL) {
        api_error(r, 500, "this vmsnapd serves no services");
        return NULL;
    }
    r->svc = svcpool_get(r->ctx->services, &err);
    if (r->svc == NULL) {
        api_error_from(r, err);
    }
    return r->svc;
}

void
api_who(const struct api_req *r, struct caller *out)
{
    memset(out, 0, sizeof(*out));
    if (r->authenticated) {
        out->user_id = r->caller.who.user_id;
        out->project_id = r->caller.who.project_id[0]
                              ? r->caller.who.project_id
                              : NULL;
        out->admin = r->caller.admin;
    }
    out->request_id = r->request_id;
}

bool
api_begin(struct api_req *r, struct svc **svc, struct caller *who)
{
    *svc = api_svc(r);
    if (*svc == NULL) {
        return false;
    }
    api_who(r, who);
    return true;
}

char *
api_url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s), i, o = 0;
    char *out = xmalloc(3 * n + 1);

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

char *
api_query_without(const struct api_req *r, const char *const *drop)
{
    size_t n = http_req_nquery(r->http), i, j;
    char *out = xstrdup("");

    for (i = 0; i < n; i++) {
        const char *k, *v;
        bool dropped = false;
        CLEANUP_FREE char *ek = NULL, *ev = NULL;
        char *next;

        http_req_query_at(r->http, i, &k, &v);
        for (j = 0; drop && drop[j] && !dropped; j++) {
            dropped = strcmp(drop[j], k) == 0;
        }
        if (dropped) {
            continue;
        }
        ek = api_url_encode(k);
        ev = api_url_encode(v ? v : "");
        next = xasprintf("%s%s%s=%s", out, *out ? "&" : "", ek, ev);
        free(out);
        out = next;
    }
    return out;
}

int
api_query_int(struct api_req *r, const char *key, int64_t def, int64_t min,
              int64_t max, int64_t *out)
{
    const char *v = http_req_query(r->http, key);
    int64_t n;

    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (util_parse_int64(v, &n, NULL) < 0 || n < min || n > max) {
        api_error(r, 400, "Invalid value for %s: '%.64s' (a whole number "
                  "from %lld to %lld)", key, v, (long long)min,
                  (long long)max);
        return -1;
    }
    *out = n;
    return 0;
}
