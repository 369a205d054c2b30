/* vmsnap: the S3 client's inside, shared by its files (not for other
 * modules; the API is s3.h).
 *
 *   s3.c            credentials, open and close, one signed request with
 *                   its retries (s3_perform)
 *   s3-object.c     buckets and objects: put, get (ranges), head, list,
 *                   delete
 *   s3-multipart.c  multipart uploads, parts in flight on several
 *                   connections
 */
#ifndef VMSNAP_S3_INTERNAL_H
#define VMSNAP_S3_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "dynbuf.h"
#include "s3.h"

#define S3_CRED_MAX (64 * 1024)          /* a credentials file */
/* Caps of a collected answer (a dynbuf).  An error is a short XML text.
 * The largest 2xx answer we collect is a listing page: at most 1000
 * entries (the max-keys we send; S3's page of uploads), each a key of
 * at most S3_KEY_MAX bytes, up to 5 times that once XML-escaped, and
 * under 2 KiB of other fields: less than 7 MiB.
 */
#define S3_ERROR_BODY_MAX (64 * 1024)
#define S3_XML_BODY_MAX (8 * 1024 * 1024)
#define S3_KEY_MAX 1024                  /* S3's limit on a key */
#define S3_TEXT_MAX 4096                 /* ids, tokens, markers */
#define S3_MSG_MAX 300                   /* server text in our errors */
#define S3_BACKOFF_MS 250
#define S3_BACKOFF_MAX_MS 4000
#define S3_MAX_CONCURRENCY 16

struct s3 {
    CURL *curl;                /* reused: keeps the connection open */
    CURL *pool[S3_MAX_CONCURRENCY]; /* the other parts' handles, made
                                     * when first needed */
    int concurrency;           /* parts in flight */
    char *endpoint;            /* without a trailing '/' */
    char *bucket;
    char *region;
    char *access_key;
    char *secret_key;          /* wiped on close */
    char *sigv4;               /* "aws:amz:REGION:s3" */
    long connect_timeout_ms;
    long low_speed_time_s;
    int max_attempts;
    int64_t part_size;
    int64_t multipart_threshold; /* a file up to this size: one PUT */
    int conditional_put;       /* 1 works, 0 refused by the server, -1
                                * not known yet */
};

/* One request. */
struct req {
    CURL *curl;                /* the handle to use; NULL: s->curl */
    const char *method;        /* "GET", "PUT", ... */
    const char *key;           /* the object, or NULL for the bucket */
    const char *query;         /* canonical query string, or NULL */
    bool idempotent;           /* may be retried after it was sent */
    bool head;                 /* no response body (HEAD) */
    const unsigned char *body; /* the request body, or NULL */
    size_t body_len;           /* its length (also when from_fd) */
    bool from_fd;              /* the body is read from body_fd */
    int body_fd;               /* ... at body_off, with pread */
    int64_t body_off;
    bool check_md5;            /* the ETag must be the body's MD5 */
    const struct s3_follow *follow; /* from_fd: the file still grows:
                                * wait for each byte */
    bool follow_md5;           /* check_md5 against follow->md5 (the body
                                * is the whole file), not hashed here */
    const char *header;        /* one extra header line, or NULL */
    const char *header2;       /* another, or NULL */
    s3_sink_fn sink;           /* where a 2xx body goes; NULL: collected */
    void *sink_opaque;
    size_t body_max;           /* cap of a collected 2xx body (at most
                                * DYNBUF_MAX_CAP), 0: S3_XML_BODY_MAX */
    const struct progress *progress; /* told as the body is sent (whole
                                      * percents below 100), or NULL */
    int *progress_pct;         /* the last percent told, kept across
                                * retries (never told twice or lower);
                                * set with progress */
};

/* What came back, and the state of one transfer. */
struct resp {
    CURL *curl;                /* for the status, in callbacks */
    long status;               /* HTTP status of the final answer */
    struct dynbuf body;        /* the collected body, capped when its
                                * first bytes come: max for a 2xx
                                * answer, S3_ERROR_BODY_MAX for others */
    bool body_capped;          /* body's cap is set */
    size_t max;                /* cap of a 2xx answer */
    bool too_big;              /* the answer went past its cap */
    int64_t content_length;    /* -1: none */
    char etag[80];             /* "" when none */
    int64_t last_modified;     /* Last-Modified, seconds since the
                                * epoch; -1: none */
    int64_t range_start;       /* Content-Range, -1: none */
    int64_t range_total;       /* -1: none or '*' */
    const struct req *rq;
    size_t sent;               /* request body bytes handed to curl */
    int read_errno;            /* reading the body from its fd failed */
    EVP_MD_CTX *md5;           /* of what was sent, when checked */
    struct error *sink_err;    /* the sink's error */
};

struct qparam {
    const char *name;
    const char *value;         /* NULL: "name=" */
};

/* The canonical query string of the N parameters P, sorted here (see
 * s3.c).  Caller frees.
 */
char *s3_query_build(struct qparam *p, size_t n);

/* BODY parsed as XML whose root is ROOT; NULL with ERR_PROTOCOL when it
 * is not (WHAT names the request).  Caller frees with xmlFreeDoc.
 */
xmlDocPtr s3_xml_parse(const char *body, size_t len, const char *root,
                       const char *what, struct error **errp);

/* s3_perform RQ, then s3_xml_parse its answer: the document, or NULL
 * with the error of either.
 */
xmlDocPtr s3_perform_xml(struct s3 *s, struct req *rq, const char *root,
                         const char *what, struct error **errp);

/* The text of N's child NAME (caller frees), or NULL when it is missing
 * or longer than MAX.
 */
char *s3_xml_text(xmlNodePtr n, const char *name, size_t max);

/* Is the text of N's child NAME "true"? */
bool s3_xml_true(xmlNodePtr n, const char *name);

/* Set *ERRP from the HTTP error answer RS to the request WHAT. */
void s3_set_http_error(const struct resp *rs, const char *what,
                       struct error **errp);

/* "s3 GET bucket/key" for messages; caller frees. */
char *s3_req_what(const struct s3 *s, const struct req *rq);

/* One try of RQ into RS (reset first): 0 on a 2xx answer, else -1 with
 * *RETRY telling whether another try may succeed.
 */
int s3_attempt(struct s3 *s, const struct req *rq, struct resp *rs,
               bool *retry, struct error **errp);

/* Sleep after the failed try ATTEMPT_NO (from 1): S3_BACKOFF_MS doubled
 * for each earlier try, at most S3_BACKOFF_MAX_MS, give or take 25%.
 */
void s3_backoff(int attempt_no);

/* RQ with retries (s3_attempt, s3_backoff).  Not for requests with a
 * sink: they resume where they stopped instead (s3_get_range).  Returns
 * 0, or -1.
 */
int s3_perform(struct s3 *s, const struct req *rq, struct resp *rs,
               struct error **errp);

/* Is KEY an object key S3 takes (not empty, at most S3_KEY_MAX bytes)?
 * false with ERR_INVALID if not.
 */
bool s3_key_ok(const char *key, struct error **errp);

/* For CLEANUP_RESP and CLEANUP_XML_DOC. */
void s3_cleanup_resp(struct resp *rs);
void s3_cleanup_xml_doc(xmlDocPtr *d);

#define CLEANUP_RESP __attribute__((cleanup(s3_cleanup_resp)))
#define CLEANUP_XML_DOC __attribute__((cleanup(s3_cleanup_xml_doc)))

#endif
