/* vmsnapd: Nova and Cinder microversions (see microversion.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "microversion.h"
#include "util.h"
#include "xalloc.h"

/* Parse the decimal number of LEN bytes at S, 0..9999, no leading 0. */
static int
microversion_number(const char *s, size_t len)
{
    int v = 0;
    size_t i;

    if (len == 0 || len > 4 || (len > 1 && s[0] == '0')) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int
microversion_parse(const char *s, struct api_version *v, struct error **errp)
{
    const char *dot = s ? strchr(s, '.') : NULL;
    int major, minor;

    if (dot == NULL ||
        (major = microversion_number(s, (size_t)(dot - s))) < 0 ||
        (minor = microversion_number(dot + 1, strlen(dot + 1))) < 0) {
        error_setg(errp, ERR_INVALID,
                   "API Version String %.32s is of "
                   "invalid format. Must be of format MajorNum.MinorNum.",
                   s ? s : "");
        return -1;
    }
    v->major = major;
    v->minor = minor;
    return 0;
}

int
microversion_cmp(struct api_version a, struct api_version b)
{
    if (a.major != b.major) {
        return a.major < b.major ? -1 : 1;
    }
    if (a.minor != b.minor) {
        return a.minor < b.minor ? -1 : 1;
    }
    return 0;
}

/* Find SERVICE's entry in the comma-separated list LIST; a new string of
 * its version (caller frees), or NULL if none.  *BAD is set when an
 * entry for SERVICE has no version.
 */
static char *
microversion_find(const char *list, const char *service, bool *bad)
{
    const char *p = list;
    size_t slen = strlen(service);

    while (p && *p) {
        size_t n = strcspn(p, ",");
        const char *e = p + n;

        while (p < e && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if ((size_t)(e - p) == slen && strncasecmp(p, service, slen) == 0) {
            *bad = true;
            return NULL;
        }
        if ((size_t)(e - p) > slen && strncasecmp(p, service, slen) == 0 &&
            (p[slen] == ' ' || p[slen] == '\t')) {
            const char *v = p + slen;

            while (v < e && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (e > v && (e[-1] == ' ' || e[-1] == '\t')) {
                e--;
            }
            if (e == v) {
                *bad = true;
                return NULL;
            }
            return xstrndup(v, (size_t)(e - v));
        }
        p = *e ? e + 1 : e;
    }
    return NULL;
}

int
microversion_select(const char *service, const char *openstack,
                    const char *legacy, struct api_version min,
                    struct api_version max, struct api_version *out,
                    int *status, struct error **errp)
{
    CLEANUP_FREE char *found = NULL;
    const char *want = NULL;
    struct api_version v;
    bool bad = false;

    if (openstack) {
        found = microversion_find(openstack, service, &bad);
        want = found;
    }
    if (bad) {
        *status = 400;
        error_setg(errp, ERR_INVALID,
                   "OpenStack-API-Version for %s has no "
                   "version",
                   service);
        return -1;
    }
    if (want == NULL && legacy) {
        want = legacy;
        while (*want == ' ') {
            want++;
        }
    }
    if (want == NULL) {
        *out = min;
        return 0;
    }
    if (strcasecmp(want, "latest") == 0) {
        *out = max;
        return 0;
    }
    if (microversion_parse(want, &v, errp) < 0) {
        *status = 400;
        return -1;
    }
    if (microversion_cmp(v, min) < 0 || microversion_cmp(v, max) > 0) {
        *status = 406;
        error_setg(errp, ERR_INVALID,
                   "Version %d.%d is not supported by "
                   "the API. Minimum is %d.%d and maximum is %d.%d.",
                   v.major, v.minor, min.major, min.minor, max.major,
                   max.minor);
        return -1;
    }
    *out = v;
    return 0;
}

/* Gather every OpenStack-API-Version value, joined with ", ". */
struct microversion_join {
    char buf[512]; /* the values so far */
    size_t len;    /* bytes used */
};

static bool
microversion_join_one(const char *value, void *opaque)
{
    struct microversion_join *j = opaque;
    int n = snprintf(j->buf + j->len, sizeof(j->buf) - j->len, "%s%s",
                     j->len ? ", " : "", value);

    if (n < 0 || (size_t)n >= sizeof(j->buf) - j->len) {
        return false;
    }
    j->len += (size_t)n;
    return true;
}

int
microversion_apply(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct microversion_join j = {.len = 0};
    bool nova = r->service == API_COMPUTE;
    const char *service = nova ? "compute" : "volume";
    struct api_version min = nova ? r->ctx->compute_min : r->ctx->volume_min;
    struct api_version max = nova ? r->ctx->compute_max : r->ctx->volume_max;
    const char *legacy = nova ? http_req_header(r->http, "X-OpenStack-Nova-API-"
                                                         "Version")
                              : NULL;
    char echo[64];
    int status = 400;

    j.buf[0] = '\0';
    http_req_header_foreach(r->http, "OpenStack-API-Version",
                            microversion_join_one, &j);
    if (microversion_select(service, j.len ? j.buf : NULL, legacy, min, max,
                            &r->version, &status, &err) < 0) {
        api_error(r, status, "%s", error_msg(err));
        return -1;
    }
    snprintf(echo, sizeof(echo), "%s %d.%d", service, r->version.major,
             r->version.minor);
    http_add_header(r->http, "OpenStack-API-Version", echo);
    if (nova) {
        snprintf(echo, sizeof(echo), "%d.%d", r->version.major,
                 r->version.minor);
        http_add_header(r->http, "X-OpenStack-Nova-API-Version", echo);
        http_add_header(r->http, "Vary",
                        "OpenStack-API-Version, "
                        "X-OpenStack-Nova-API-Version");
    } else {
        http_add_header(r->http, "Vary", "OpenStack-API-Version");
    }
    return 0;
}
