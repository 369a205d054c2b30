/* vmsnap: S3 multipart uploads (see s3.h, s3-internal.h). */
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

/* --- multipart uploads ---------------------------------------------------- */

int
s3_abort_upload(struct s3 *s, const char *key, const char *upload_id,
                struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    CLEANUP_FREE char *query = NULL;
    struct qparam q[] = { { "uploadId", upload_id } };
    struct req rq = { .method = "DELETE", .key = key, .idempotent = true };
    struct error *err = NULL;

    if (!s3_key_ok(key, errp)) {
        return -1;
    }
    query = s3_query_build(q, 1);
    rq.query = query;
    if (s3_perform(s, &rq, &rs, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            error_free(err);    /* NoSuchUpload: gone already */
            return 0;
        }
        error_propagate(errp, err);
        return -1;
    }
    return 0;
}

static int
parse_time(const char *t, time_t *out)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end) {
        return -1;
    }
    *out = timegm(&tm);
    return 0;
}

int
s3_list_uploads(struct s3 *s, const char *prefix,
                bool (*fn)(const char *key, const char *upload_id,
                           time_t initiated, void *opaque),
                void *opaque, struct error **errp)
{
    CLEANUP_FREE char *kmarker = NULL;
    CLEANUP_FREE char *umarker = NULL;
    size_t plen = strlen(prefix);

    for (;;) {
        CLEANUP_FREE char *query = NULL;
        CLEANUP_FREE char *nk = NULL;
        CLEANUP_FREE char *nu = NULL;
        CLEANUP_XML_DOC xmlDocPtr doc = NULL;
        struct qparam q[] = {
            { "uploads", NULL },
            { "prefix", prefix },
            { kmarker ? "key-marker" : NULL, kmarker },
            { umarker ? "upload-id-marker" : NULL, umarker },
        };
        struct req rq = { .method = "GET", .idempotent = true };
        xmlNodePtr root, c;
        int n = 0;

        query = s3_query_build(q, sizeof(q) / sizeof(q[0]));
        rq.query = query;
        doc = s3_perform_xml(s, &rq, "ListMultipartUploadsResult",
                             "s3 LIST uploads", errp);
        if (!doc) {
            return -1;
        }
        root = xmlDocGetRootElement(doc);
        for (c = root->children; c; c = c->next) {
            CLEANUP_FREE char *key = NULL;
            CLEANUP_FREE char *id = NULL;
            CLEANUP_FREE char *when = NULL;
            time_t t = 0;

            if (c->type != XML_ELEMENT_NODE ||
                strcmp((const char *)c->name, "Upload") != 0) {
                continue;
            }
            key = s3_xml_text(c, "Key", S3_KEY_MAX);
            id = s3_xml_text(c, "UploadId", S3_TEXT_MAX);
            when = s3_xml_text(c, "Initiated", 64);
            if (!key || !*key || strncmp(key, prefix, plen) != 0 || !id ||
                !*id || !when || parse_time(when, &t) < 0) {
                error_setg(errp, ERR_PROTOCOL,
                           "s3 LIST uploads: an entry without a good key, "
                           "id or time");
                return -1;
            }
            n++;
            if (!fn(key, id, t, opaque)) {
                return 0;
            }
        }
        if (!s3_xml_true(root, "IsTruncated")) {
            return 0;
        }
        nk = s3_xml_text(root, "NextKeyMarker", S3_KEY_MAX);
        nu = s3_xml_text(root, "NextUploadIdMarker", S3_TEXT_MAX);
        if (!nk || !*nk || n == 0 ||
            (kmarker && !strcmp(nk, kmarker) && nu && umarker &&
             !strcmp(nu, umarker))) {
            error_setg(errp, ERR_PROTOCOL,
                       "s3 LIST uploads: a truncated page without a new "
                       "marker");
            return -1;
        }
        free(kmarker);
        free(umarker);
        kmarker = steal_pointer(&nk);
        umarker = nu && *nu ? steal_pointer(&nu) : NULL;
    }
}

/* Fill BUF with up to LEN bytes from SRC: less only at the end.  Returns
 * the count, or -1.
 */
static ssize_t
fill(s3_source_fn src, void *opaque, unsigned char *buf, size_t len,
     struct error **errp)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = src(buf + got, len - got, opaque, errp);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static int
initiate(struct s3 *s, const char *key, char **upload_id,
         struct error **errp)
{
    CLEANUP_XML_DOC xmlDocPtr doc = NULL;
    CLEANUP_FREE char *k = NULL;
    struct req rq = { .method = "POST", .key = key, .query = "uploads=" };
    xmlNodePtr root;

    doc = s3_perform_xml(s, &rq, "InitiateMultipartUploadResult",
                         "s3 POST uploads", errp);
    if (!doc) {
        return -1;
    }
    root = xmlDocGetRootElement(doc);
    k = s3_xml_text(root, "Key", S3_KEY_MAX);
    *upload_id = s3_xml_text(root, "UploadId", S3_TEXT_MAX);
    if (!*upload_id || !**upload_id || (k && strcmp(k, key) != 0)) {
        free(*upload_id);
        *upload_id = NULL;
        error_setg(errp, ERR_PROTOCOL,
                   "s3 POST uploads: no upload id for %s", key);
        return -1;
    }
    return 0;
}

/* Send part PART (its body described by BODY) of UPLOAD_ID. */
static int
put_part(struct s3 *s, const char *key, const char *upload_id, int part,
         const struct req *body, char etag[80], struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    CLEANUP_FREE char *query = NULL;
    char num[16];
    struct qparam q[] = { { "partNumber", num }, { "uploadId", upload_id } };
    struct req rq = *body;

    rq.method = "PUT";
    rq.key = key;
    rq.idempotent = true;
    rq.check_md5 = true;
    snprintf(num, sizeof(num), "%d", part);
    query = s3_query_build(q, 2);
    rq.query = query;
    if (s3_perform(s, &rq, &rs, errp) < 0) {
        error_prepend(errp, "part %d: ", part);
        return -1;
    }
    memcpy(etag, rs.etag, 80);
    return 0;
}

static int
complete(struct s3 *s, const char *key, const char *upload_id,
         char (*etags)[80], int nparts, int64_t total, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    CLEANUP_FREE char *query = NULL;
    CLEANUP_FREE char *body = NULL;
    CLEANUP_XML_DOC xmlDocPtr doc = NULL;
    struct qparam q[] = { { "uploadId", upload_id } };
    struct req rq = { .method = "POST", .key = key, .idempotent = true,
                      .header = "Content-Type: application/xml" };
    struct error *err = NULL;
    size_t cap = 128 + (size_t)nparts * 128, o;
    int64_t size;
    int i;

    query = s3_query_build(q, 1);
    body = xmalloc(cap);
    o = (size_t)snprintf(body, cap, "<CompleteMultipartUpload>");
    for (i = 0; i < nparts; i++) {
        o += (size_t)snprintf(body + o, cap - o,
                              "<Part><PartNumber>%d</PartNumber>"
                              "<ETag>%s</ETag></Part>", i + 1, etags[i]);
    }
    o += (size_t)snprintf(body + o, cap - o, "</CompleteMultipartUpload>");
    rq.query = query;
    rq.body = (const unsigned char *)body;
    rq.body_len = o;
    if (s3_perform(s, &rq, &rs, &err) < 0) {
        /* A retry after a completion whose answer was lost finds the
         * upload gone: the object, whole, says it was done.
         */
        if (error_get_class(err) == ERR_NOT_FOUND &&
            s3_head(s, key, &size, NULL) == 1 && size == total) {
            error_free(err);
            return 0;
        }
        error_propagate(errp, err);
        return -1;
    }
    /* S3 may answer 200 and put an <Error> in the body. */
    doc = s3_xml_parse(dynbuf_str(&rs.body), dynbuf_len(&rs.body),
                       "CompleteMultipartUploadResult",
                       "s3 POST complete", NULL);
    if (!doc) {
        rs.status = 500;
        s3_set_http_error(&rs, "s3 POST complete", errp);
        return -1;
    }
    if (s3_head(s, key, &size, errp) != 1) {
        if (errp && !*errp) {
            error_setg(errp, ERR_PROTOCOL,
                       "s3 object %s missing after its upload", key);
        }
        return -1;
    }
    if (size != total) {
        error_setg(errp, ERR_PROTOCOL,
                   "s3 object %s has %" PRId64 " bytes after uploading %"
                   PRId64, key, size, total);
        return -1;
    }
    return 0;
}

/* Where the parts come from: a source read into one buffer of a part, or
 * a range of a regular file read in place as it is sent.
 */
struct parts {
    s3_source_fn src;          /* buffered: the source */
    void *src_opaque;
    unsigned char *buf;        /* one part */
    int fd;                    /* in place: the file, or -1 */
    int64_t off;               /* next byte to send */
    int64_t end;               /* its end */
    const struct s3_follow *follow; /* in place: the file still grows */
};

/* Describe the next part in BODY.  Returns its length (0: no more), or
 * -1.
 */
static ssize_t
parts_next(struct s3 *s, struct parts *ps, struct req *body,
           struct error **errp)
{
    ssize_t n;

    memset(body, 0, sizeof(*body));
    if (ps->fd >= 0) {
        int64_t left = ps->end - ps->off;
        n = (ssize_t)(left < s->part_size ? left : s->part_size);
        body->from_fd = true;
        body->follow = ps->follow;
        body->body_fd = ps->fd;
        body->body_off = ps->off;
        body->body_len = (size_t)n;
        ps->off += n;
        return n;
    }
    if (!ps->buf) {
        ps->buf = xmalloc((size_t)s->part_size);
    }
    n = fill(ps->src, ps->src_opaque, ps->buf, (size_t)s->part_size, errp);
    if (n >= 0) {
        body->body = ps->buf;
        body->body_len = (size_t)n;
    }
    return n;
}

/* The parts of a file sent by several connections at once. */
struct par {
    struct s3 *s;
    const char *key;
    const char *upload_id;
    int fd;
    int64_t start;             /* the first byte */
    int64_t end;               /* past the last */
    int nparts;
    char (*etags)[80];         /* one per part */
    const struct s3_upload_opts *opts;
    pthread_mutex_t mu;        /* guards what follows */
    int next;                  /* the next part to send (from 0) */
    int64_t done;              /* bytes sent */
    struct error *err;         /* the first failure: the others stop */
};

struct par_worker {
    struct par *p;
    CURL *curl;
};

static void
par_run(struct par *p, CURL *c)
{
    struct s3 *s = p->s;

    for (;;) {
        struct req body = { .curl = c, .from_fd = true, .body_fd = p->fd,
                            .follow = p->opts->follow };
        struct error *e = NULL;
        int64_t len;
        int i, r;

        pthread_mutex_lock(&p->mu);
        if (p->err || p->next >= p->nparts) {
            pthread_mutex_unlock(&p->mu);
            return;
        }
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        body.body_off = p->start + (int64_t)i * s->part_size;
        len = p->end - body.body_off;
        body.body_len = (size_t)(len < s->part_size ? len : s->part_size);
        r = put_part(s, p->key, p->upload_id, i + 1, &body, p->etags[i], &e);
        pthread_mutex_lock(&p->mu);
        if (r < 0 && !p->err) {
            p->err = e;
        } else if (r < 0) {
            error_free(e);
        } else {
            p->done += (int64_t)body.body_len;
            if (p->opts->size > 0) {
                progress_report(p->opts->progress, "upload",
                                p->done >= p->opts->size
                                    ? 99.0 : 100.0 * (double)p->done /
                                                 (double)p->opts->size);
            }
        }
        pthread_mutex_unlock(&p->mu);
    }
}

static void *
par_thread(void *arg)
{
    struct par_worker *w = arg;

    par_run(w->p, w->curl);
    return NULL;
}

/* Send every part of P, s->concurrency at a time: this thread and up to
 * concurrency - 1 others, each with its own connection.  Returns 0, or
 * -1 with the first failure.
 */
static int
par_upload(struct par *p, struct error **errp)
{
    struct s3 *s = p->s;
    pthread_t tids[S3_MAX_CONCURRENCY];
    struct par_worker w[S3_MAX_CONCURRENCY];
    int n = 0, i, want = s->concurrency < p->nparts ? s->concurrency
                                                    : p->nparts;

    pthread_mutex_init(&p->mu, NULL);
    for (i = 0; i + 1 < want; i++) {
        if (!s->pool[i]) {
            s->pool[i] = curl_easy_init();
        }
        if (!s->pool[i]) {
            break;
        }
        w[n].p = p;
        w[n].curl = s->pool[i];
        if (pthread_create(&tids[n], NULL, par_thread, &w[n]) != 0) {
            break;              /* fewer at once, no failure */
        }
        n++;
    }
    par_run(p, s->curl);
    for (i = 0; i < n; i++) {
        pthread_join(tids[i], NULL);
    }
    pthread_mutex_destroy(&p->mu);
    if (p->err) {
        error_propagate(errp, p->err);
        p->err = NULL;
        return -1;
    }
    return 0;
}

static int
upload_send(struct s3 *s, const char *key, struct parts *ps,
             const struct s3_upload_opts *opts, struct error **errp)
{
    static const struct s3_upload_opts none = { 0 };
    CLEANUP_FREE char *upload_id = NULL;
    CLEANUP_FREE char (*etags)[80] = NULL;
    struct error *err = NULL, *aerr = NULL;
    struct req body;
    int nparts = 0, cap = 0, pct = 0;
    int64_t total = 0;
    ssize_t n;
    bool single;

    if (!opts) {
        opts = &none;
    }
    if (!s3_key_ok(key, errp)) {
        return -1;
    }
    if (ps->fd >= 0 && ps->end - ps->off <= s->multipart_threshold) {
        /* The whole file in one PUT, sent in place. */
        memset(&body, 0, sizeof(body));
        body.from_fd = true;
        body.follow = ps->follow;
        body.follow_md5 = ps->follow && ps->follow->md5 && ps->off == 0;
        body.body_fd = ps->fd;
        body.body_off = ps->off;
        body.body_len = (size_t)(ps->end - ps->off);
        body.progress = opts->progress;
        body.progress_pct = &pct;
        single = true;
    } else {
        n = parts_next(s, ps, &body, errp);
        if (n < 0) {
            return -1;
        }
        single = ps->fd >= 0 ? ps->off >= ps->end : n < s->part_size;
    }
    log_debug("s3", "upload of %s: %s", key,
              single ? "one PUT" : "multipart");
    if (single) {
        CLEANUP_RESP struct resp rs = { 0 };
        body.method = "PUT";
        body.key = key;
        body.idempotent = true;
        body.check_md5 = true;
        if (s3_perform(s, &body, &rs, errp) < 0) {
            return -1;
        }
        progress_report(opts->progress, "upload", 100.0);
        return 0;
    }
    if (initiate(s, key, &upload_id, errp) < 0) {
        return -1;
    }
    if (opts->started &&
        opts->started(key, upload_id, opts->opaque, &err) < 0) {
        goto fail;
    }
    if (ps->fd >= 0 && s->concurrency > 1) {
        int64_t start = body.body_off;
        struct par p = { .s = s, .key = key, .upload_id = upload_id,
                         .fd = ps->fd, .start = start, .end = ps->end,
                         .opts = opts };
        int64_t np = (ps->end - start + s->part_size - 1) / s->part_size;

        if (np > S3_MAX_PARTS) {
            error_setg(&err, ERR_INVALID,
                       "%s is too large for %d parts of %" PRId64 " bytes",
                       key, S3_MAX_PARTS, s->part_size);
            goto fail;
        }
        p.nparts = (int)np;
        etags = xcalloc((size_t)np, sizeof(*etags));
        p.etags = etags;
        if (par_upload(&p, &err) < 0) {
            goto fail;
        }
        nparts = p.nparts;
        total = ps->end - start;
        n = 0;
    }
    while (n > 0) {
        if (nparts == S3_MAX_PARTS) {
            error_setg(&err, ERR_INVALID,
                       "%s is too large for %d parts of %" PRId64 " bytes",
                       key, S3_MAX_PARTS, s->part_size);
            goto fail;
        }
        if (nparts == cap) {
            int ncap = cap ? cap * 2 : 64;
            etags = xreallocarray(etags, (size_t)ncap, sizeof(*etags));
            cap = ncap;
        }
        if (put_part(s, key, upload_id, nparts + 1, &body, etags[nparts],
                     &err) < 0) {
            goto fail;
        }
        nparts++;
        total += n;
        if (opts->size > 0) {
            progress_report(opts->progress, "upload",
                            total >= opts->size
                                ? 99.0 : 100.0 * (double)total /
                                             (double)opts->size);
        }
        n = parts_next(s, ps, &body, &err);
        if (n < 0) {
            goto fail;
        }
    }
    if (complete(s, key, upload_id, etags, nparts, total, &err) < 0) {
        goto fail;
    }
    if (opts->ended) {
        opts->ended(key, upload_id, opts->opaque);
    }
    progress_report(opts->progress, "upload", 100.0);
    return 0;

fail:
    if (s3_abort_upload(s, key, upload_id, &aerr) == 0) {
        if (opts->ended) {
            opts->ended(key, upload_id, opts->opaque);
        }
        error_propagate(errp, err);
        return -1;
    }
    error_setg(errp, error_get_class(err),
               "%s; and the abort of upload %s failed: %s", error_msg(err),
               upload_id, error_msg(aerr));
    error_free(err);
    error_free(aerr);
    return -1;
}

/* upload_send, its time in the debug log (bench/s3.sh reads it). */
static int
upload(struct s3 *s, const char *key, struct parts *ps,
       const struct s3_upload_opts *opts, struct error **errp)
{
    struct timespec a, b;
    int r;

    clock_gettime(CLOCK_MONOTONIC, &a);
    r = upload_send(s, key, ps, opts, errp);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (r == 0) {
        log_debug("s3", "upload of %s: done in %.3f s", key,
                  (double)(b.tv_sec - a.tv_sec) +
                      (double)(b.tv_nsec - a.tv_nsec) / 1e9);
    }
    return r;
}

int
s3_upload(struct s3 *s, const char *key, s3_source_fn src, void *src_opaque,
          const struct s3_upload_opts *opts, struct error **errp)
{
    struct parts ps = { .src = src, .src_opaque = src_opaque, .fd = -1 };
    int r = upload(s, key, &ps, opts, errp);

    free(ps.buf);
    return r;
}

static ssize_t
fd_source(void *buf, size_t len, void *opaque, struct error **errp)
{
    int fd = *(int *)opaque;
    ssize_t n;

    do {
        n = read(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, ERR_IO, errno, "read of the upload's data");
    }
    return n;
}

int
s3_upload_fd(struct s3 *s, const char *key, int fd,
             const struct s3_upload_opts *opts, struct error **errp)
{
    struct stat st;
    off_t pos;

    /* A regular file is sent in place, part by part, as curl asks for
     * the bytes: no part is copied into memory first.
     */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (pos = lseek(fd, 0, SEEK_CUR)) >= 0 &&
        (opts && opts->follow ? pos <= opts->follow->size
                              : pos <= st.st_size)) {
        struct parts ps = { .fd = fd, .off = pos, .end = st.st_size,
                            .follow = opts ? opts->follow : NULL };

        if (ps.follow) {
            ps.end = ps.follow->size;
        }
        return upload(s, key, &ps, opts, errp);
    }
    if (opts && opts->follow) {
        error_setg(errp, ERR_INVALID,
                   "only a regular file can be sent as it is written");
        return -1;
    }
    return s3_upload(s, key, fd_source, &fd, opts, errp);
}
