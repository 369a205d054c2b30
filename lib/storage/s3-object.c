/* vmsnap: S3 buckets and objects (see s3.h, s3-internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "cleanup.h"
#include "log.h"
#include "s3-internal.h"
#include "util.h"
#include "xalloc.h"

/* --- buckets -------------------------------------------------------------- */

int
s3_bucket_exists(struct s3 *s, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct req rq = { .method = "HEAD", .head = true, .idempotent = true };
    struct error *err = NULL;

    if (s3_perform(s, &rq, &rs, &err) == 0) {
        return 1;
    }
    if (error_get_class(err) == ERR_NOT_FOUND) {
        error_free(err);
        return 0;
    }
    error_propagate(errp, err);
    return -1;
}

int
s3_bucket_create(struct s3 *s, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    CLEANUP_FREE char *body = NULL;
    struct req rq = { .method = "PUT", .idempotent = true };
    struct error *err = NULL;

    if (strcmp(s->region, "us-east-1") != 0) {
        body = util_strdup_printf(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
            "2006-03-01/\"><LocationConstraint>%s</LocationConstraint>"
            "</CreateBucketConfiguration>", s->region);
        rq.body = (const unsigned char *)body;
        rq.body_len = strlen(body);
    }
    if (s3_perform(s, &rq, &rs, &err) == 0) {
        return 0;
    }
    /* BucketAlreadyOwnedByYou, or a server that says BucketAlreadyExists
     * for our own bucket: ours if we can see it.
     */
    if (error_get_class(err) == ERR_CONFLICT &&
        s3_bucket_exists(s, NULL) == 1) {
        error_free(err);
        return 0;
    }
    error_propagate(errp, err);
    return -1;
}

/* --- objects -------------------------------------------------------------- */

int
s3_stat(struct s3 *s, const char *key, int64_t *size, int64_t *mtime_ns,
        struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct req rq = { .method = "HEAD", .key = key, .head = true,
                      .idempotent = true };
    struct error *err = NULL;

    if (!s3_key_ok(key, errp)) {
        return -1;
    }
    if (s3_perform(s, &rq, &rs, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            error_free(err);
            return 0;
        }
        error_propagate(errp, err);
        return -1;
    }
    if (rs.content_length < 0 || (mtime_ns && rs.last_modified < 0)) {
        CLEANUP_FREE char *what = s3_req_what(s, &rq);
        error_setg(errp, ERR_PROTOCOL, "%s: no %s", what,
                   rs.content_length < 0 ? "Content-Length"
                                         : "Last-Modified");
        return -1;
    }
    if (size) {
        *size = rs.content_length;
    }
    if (mtime_ns) {
        *mtime_ns = rs.last_modified * 1000000000;
    }
    return 1;
}

int
s3_head(struct s3 *s, const char *key, int64_t *size, struct error **errp)
{
    return s3_stat(s, key, size, NULL, errp);
}

/* ISO 8601 UTC time T ("2026-11-30T01:30:00.000Z") as ns since the
 * epoch into *NS; false if it is not one.
 */
static bool
parse_iso_time(const char *t, int64_t *ns)
{
    struct tm tm = { 0 };
    int frac_digits = 0, n = 0;
    int64_t frac = 0;
    time_t secs;
    const char *p;

    if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6) {
        return false;
    }
    p = t + n;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (frac_digits < 9) {
                frac = frac * 10 + (*p - '0');
                frac_digits++;
            }
        }
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0) {
        return false;
    }
    for (; frac_digits < 9; frac_digits++) {
        frac *= 10;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    secs = timegm(&tm);
    if (secs == (time_t)-1) {
        return false;
    }
    *ns = (int64_t)secs * 1000000000 + frac;
    return true;
}

int
s3_put(struct s3 *s, const char *key, const void *buf, size_t len,
       unsigned flags, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct req rq = { .method = "PUT", .key = key, .idempotent = true,
                      .body = buf, .body_len = len, .check_md5 = true };
    struct error *err = NULL;
    bool if_absent = flags & S3_PUT_IF_ABSENT;

    if (!s3_key_ok(key, errp)) {
        return -1;
    }
    if (if_absent && s->conditional_put == 0) {
        int r = s3_head(s, key, NULL, errp);
        if (r < 0) {
            return -1;
        }
        if (r == 1) {
            error_setg(errp, ERR_CONFLICT, "s3 object %s/%s exists",
                       s->bucket, key);
            return -1;
        }
    } else if (if_absent) {
        rq.header = "If-None-Match: *";
    }
    if (s3_perform(s, &rq, &rs, &err) == 0) {
        if (rq.header) {
            s->conditional_put = 1;
        }
        return 0;
    }
    if (rq.header && error_peer_class(err) &&
        !strcmp(error_peer_class(err), "NotImplemented")) {
        /* Swift's s3api: "Conditional object PUTs are not supported". */
        error_free(err);
        log_debug("s3", "no conditional PUT here; HEAD first from now on");
        s->conditional_put = 0;
        return s3_put(s, key, buf, len, flags, errp);
    }
    if (rq.header && error_get_class(err) == ERR_CONFLICT) {
        error_free(err);
        error_setg(errp, ERR_CONFLICT, "s3 object %s/%s exists", s->bucket,
                   key);
        return -1;
    }
    error_propagate(errp, err);
    return -1;
}

int
s3_get(struct s3 *s, const char *key, size_t max, void **buf, size_t *len,
       struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct req rq = { .method = "GET", .key = key, .idempotent = true,
                      .body_max = max ? max : 1 };

    if (!s3_key_ok(key, errp)) {
        return -1;
    }
    if (s3_perform(s, &rq, &rs, errp) < 0) {
        return -1;
    }
    if (rs.content_length >= 0 &&
        (size_t)rs.content_length != dynbuf_len(&rs.body)) {
        error_setg(errp, ERR_PROTOCOL,
                   "s3 GET %s/%s: got %zu bytes of %" PRId64, s->bucket,
                   key, dynbuf_len(&rs.body), rs.content_length);
        return -1;
    }
    *buf = dynbuf_take(&rs.body, len, errp);
    return *buf ? 0 : -1;
}

struct range_sink {
    s3_sink_fn fn;
    void *opaque;
    int64_t want;              /* bytes still wanted, -1: all */
    int64_t got;               /* delivered in all tries */
};

static int
range_sink(const void *data, size_t len, void *opaque, struct error **errp)
{
    struct range_sink *r = opaque;

    if (r->want >= 0 && (int64_t)len > r->want) {
        len = (size_t)r->want;
    }
    if (len > 0 && r->fn(data, len, r->opaque, errp) < 0) {
        return -1;
    }
    r->got += (int64_t)len;
    if (r->want >= 0) {
        r->want -= (int64_t)len;
    }
    return 0;
}

int
s3_get_range(struct s3 *s, const char *key, int64_t offset, int64_t length,
             s3_sink_fn fn, void *opaque, int64_t *got, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct range_sink r = { .fn = fn, .opaque = opaque, .want = length };
    char range[80];
    struct req rq = { .method = "GET", .key = key, .idempotent = true,
                      .header = range, .sink = range_sink,
                      .sink_opaque = &r };
    int tries = 0;

    if (!s3_key_ok(key, errp)) {
        return -1;
    }
    if (offset < 0 || length < -1) {
        error_setg(errp, ERR_INVALID, "bad range");
        return -1;
    }
    while (length < 0 || r.got < length) {
        struct error *err = NULL;
        int64_t start = offset + r.got, before = r.got;
        bool retry;

        if (length < 0) {
            snprintf(range, sizeof(range), "Range: bytes=%" PRId64 "-",
                     start);
        } else {
            snprintf(range, sizeof(range), "Range: bytes=%" PRId64 "-%" PRId64,
                     start, offset + length - 1);
        }
        tries++;
        if (s3_attempt(s, &rq, &rs, &retry, &err) == 0) {
            if (rs.status == 206 && rs.range_start != start) {
                error_setg(errp, ERR_PROTOCOL,
                           "s3 GET %s/%s: asked for bytes from %" PRId64
                           ", got from %" PRId64, s->bucket, key, start,
                           rs.range_start);
                return -1;
            }
            if (rs.status != 206 && start != 0) {
                error_setg(errp, ERR_PROTOCOL,
                           "s3 GET %s/%s: the server ignored the range",
                           s->bucket, key);
                return -1;
            }
            break;
        }
        if (rs.status == 416) {
            error_free(err);
            if (r.got > 0) {
                break;          /* the object ended where we were */
            }
            error_setg(errp, ERR_INVALID,
                       "s3 GET %s/%s: range from %" PRId64
                       " starts past the end", s->bucket, key, start);
            return -1;
        }
        if (r.got > before) {
            tries = 0;          /* it moved: the next break gets new tries */
        }
        if (!retry || tries >= s->max_attempts) {
            error_propagate(errp, err);
            return -1;
        }
        log_debug("s3", "resuming at %" PRId64 ": %s", offset + r.got,
                  error_msg(err));
        error_free(err);
        s3_backoff(tries);
    }
    if (got) {
        *got = r.got;
    }
    return 0;
}

int
s3_delete(struct s3 *s, const char *key, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct req rq = { .method = "DELETE", .key = key, .idempotent = true };
    struct error *err = NULL;

    if (!s3_key_ok(key, errp)) {
        return -1;
    }
    if (s3_perform(s, &rq, &rs, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND &&
            (!error_peer_class(err) ||
             strcmp(error_peer_class(err), "NoSuchBucket") != 0)) {
            error_free(err);
            return 0;
        }
        error_propagate(errp, err);
        return -1;
    }
    return 0;
}

/* Is the text of N's child NAME "true"? */
bool
s3_xml_true(xmlNodePtr n, const char *name)
{
    CLEANUP_FREE char *t = s3_xml_text(n, name, 16);

    return t && !strcmp(t, "true");
}

/* What s3_list_objects passes through s3_list_page. */
struct list_all {
    bool (*fn)(const struct s3_object *obj, void *opaque);
    void *opaque;
    char *last;   /* the last key seen: where the next page starts */
    bool stopped; /* FN returned false */
};

static bool
list_all_one(const struct s3_object *obj, void *opaque)
{
    struct list_all *la = opaque;

    free(la->last);
    la->last = xstrdup(obj->key);
    if (!la->fn(obj, la->opaque)) {
        la->stopped = true;
        return false;
    }
    return true;
}

int
s3_list_objects(struct s3 *s, const char *prefix, int page_size,
                bool (*fn)(const struct s3_object *obj, void *opaque),
                void *opaque, struct error **errp)
{
    struct list_all la = { fn, opaque, NULL, false };
    CLEANUP_FREE char *after = NULL;
    bool more = true;
    int rc = 0;

    /* Each page starts after the last key of the one before (rather than
     * at a continuation token): the same on S3 and Swift, and a server
     * that answers a truncated page without keys cannot loop us.
     */
    while (rc == 0 && more && !la.stopped) {
        rc = s3_list_page(s, prefix, after, page_size, list_all_one, &la,
                          &more, errp);
        if (rc == 0 && more && !la.stopped) {
            if (la.last == NULL || (after && strcmp(la.last, after) <= 0)) {
                error_setg(errp, ERR_PROTOCOL,
                           "s3 LIST: a truncated page that does not move on");
                rc = -1;
                break;
            }
            free(after);
            after = steal_pointer(&la.last);
        }
    }
    free(la.last);
    return rc;
}

int
s3_list_page(struct s3 *s, const char *prefix, const char *start_after,
             int page_size, bool (*fn)(const struct s3_object *obj,
                                       void *opaque),
             void *opaque, bool *more, struct error **errp)
{
    CLEANUP_FREE char *query = NULL;
    CLEANUP_XML_DOC xmlDocPtr doc = NULL;
    char maxkeys[16];
    size_t plen = strlen(prefix);
    struct req rq = { .method = "GET", .idempotent = true };
    xmlNodePtr root, c;
    int n = 0;

    *more = false;
    if (page_size <= 0 || page_size > 1000) {
        page_size = 1000;
    }
    snprintf(maxkeys, sizeof(maxkeys), "%d", page_size);
    {
        struct qparam q[] = {
            { "list-type", "2" },
            { "max-keys", maxkeys },
            { "prefix", prefix },
            { start_after ? "start-after" : NULL, start_after },
        };

        query = s3_query_build(q, sizeof(q) / sizeof(q[0]));
    }
    rq.query = query;
    doc = s3_perform_xml(s, &rq, "ListBucketResult", "s3 LIST", errp);
    if (!doc) {
        return -1;
    }
    root = xmlDocGetRootElement(doc);
    for (c = root->children; c; c = c->next) {
        CLEANUP_FREE char *key = NULL;
        CLEANUP_FREE char *size = NULL;
        CLEANUP_FREE char *lm = NULL;
        struct s3_object obj;
        int64_t sz;

        if (c->type != XML_ELEMENT_NODE ||
            strcmp((const char *)c->name, "Contents") != 0) {
            continue;
        }
        key = s3_xml_text(c, "Key", S3_KEY_MAX);
        size = s3_xml_text(c, "Size", 32);
        lm = s3_xml_text(c, "LastModified", 64);
        if (!key || !*key || strncmp(key, prefix, plen) != 0 || !size ||
            util_parse_int64(size, &sz, NULL) < 0 || sz < 0 || !lm ||
            !parse_iso_time(lm, &obj.mtime_ns) ||
            (start_after && strcmp(key, start_after) <= 0)) {
            error_setg(errp, ERR_PROTOCOL,
                       "s3 LIST: an entry without a good key, size or "
                       "LastModified");
            return -1;
        }
        if (++n > page_size) {
            error_setg(errp, ERR_PROTOCOL, "s3 LIST: more keys than asked for");
            return -1;
        }
        obj.key = key;
        obj.size = sz;
        if (!fn(&obj, opaque)) {
            return 0;
        }
    }
    *more = s3_xml_true(root, "IsTruncated");
    return 0;
}

/* What s3_list passes through s3_list_objects. */
struct list_shim {
    bool (*fn)(const char *key, int64_t size, void *opaque);
    void *opaque;
};

static bool
list_shim_one(const struct s3_object *obj, void *opaque)
{
    struct list_shim *sh = opaque;

    return sh->fn(obj->key, obj->size, sh->opaque);
}

int
s3_list(struct s3 *s, const char *prefix, int page_size,
        bool (*fn)(const char *key, int64_t size, void *opaque), void *opaque,
        struct error **errp)
{
    struct list_shim sh = { fn, opaque };

    return s3_list_objects(s, prefix, page_size, list_shim_one, &sh, errp);
}
