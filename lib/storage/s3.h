/* vmsnap: a small client of the S3 object API (AWS S3, Ceph radosgw,
 * OpenStack Swift's s3api, ...), over libcurl.
 *
 * Requests are signed by libcurl's own AWS Signature Version 4 support
 * (CURLOPT_AWS_SIGV4, curl 7.75 and later) with an UNSIGNED-PAYLOAD body
 * hash; bodies are checked by their MD5 against the ETag the server
 * returns instead.  URLs are path-style (ENDPOINT/BUCKET/KEY), which every
 * server accepts and Swift's s3api requires.  This client builds the
 * canonical query string itself (sorted, %XX-encoded) because curl 7.88
 * signs the query as written.
 *
 * Waits are bounded: a connection must open within connect_timeout_ms and
 * a transfer that moves no byte for low_speed_time_s seconds fails.
 * Idempotent requests (GET, HEAD, PUT of a whole object or of a part,
 * DELETE, listings) are retried on a connection failure or an HTTP 5xx
 * other than 501 and 505 (a feature the server lacks stays lacking),
 * at most max_attempts times in all, with exponential backoff (0.25 s,
 * 0.5 s, 1 s, ... capped at 4 s, with jitter); a request that is not
 * idempotent (starting a multipart upload) only when the connection was
 * refused, so it cannot have been seen.
 *
 * Errors: the server's answer as ERR_PEER (the S3 error code, such as
 * "NoSuchKey" or "SignatureDoesNotMatch", is the peer class; the message
 * has the method, the key, the HTTP status and the server's message with
 * any byte outside printable ASCII replaced), ERR_NOT_FOUND for a missing
 * object or bucket, ERR_CONFLICT for a precondition that failed,
 * ERR_TIMEOUT or ERR_IO for a transport failure, ERR_PROTOCOL for an
 * answer of the wrong shape.
 *
 * Credentials come from a file (never a command line or the environment):
 * either two lines, the access key then the secret key, or lines of
 * "name = value" with the names access_key and secret_key (or the AWS
 * CLI's aws_access_key_id and aws_secret_access_key; "[section]" lines
 * and '#' comments are ignored).  The file must not be readable or
 * writable by group or others.
 *
 * A handle is not thread-safe: one thread at a time (one per thread).
 * Every call blocks on the network.
 */
#ifndef VMSNAP_S3_H
#define VMSNAP_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"
#include "progress.h"

#define S3_MIN_PART_SIZE (5 * 1024 * 1024)      /* S3's minimum part */
#define S3_DEFAULT_PART_SIZE (32 * 1024 * 1024)
#define S3_MAX_PARTS 10000                      /* S3's maximum */
#define S3_MAX_PUT_SIZE ((int64_t)5 << 30)      /* S3's largest PUT */
/* The multipart threshold the image store uses: an image file of at most
 * 2 GiB goes in one PUT.  On Swift's s3api a multipart upload costs the
 * servers about twice the CPU of one PUT of the same bytes (a segment
 * object, container and account updates per part, then an SLO manifest
 * checked part by part): on the 2 cores of bench/s3.sh, 1 GiB in 32 MiB
 * parts took 1.5 to 1.7 times as long as in one PUT.  Above it the parts
 * go several at once, and a failure resends one part, not the whole.
 */
#define S3_IMAGE_MULTIPART_THRESHOLD ((int64_t)2 << 30)

/* What s3_open needs.  Strings are borrowed for the call only. */
struct s3_settings {
    const char *endpoint;     /* "http://host:port" or "https://host" */
    const char *bucket;       /* the bucket (a DNS-style name) */
    const char *region;       /* signing region; NULL or "": us-east-1 */
    const char *credentials;  /* the credentials file */
    int connect_timeout_ms;   /* 0: 10000 */
    int low_speed_time_s;     /* 0: 30 */
    int max_attempts;         /* tries per request, 0: 5; 1: no retry */
    int64_t part_size;        /* multipart part size, 0: 32 MiB; at least
                               * S3_MIN_PART_SIZE */
    int concurrency;          /* parts of a file sent at once (threads,
                               * connections), 0: 3; 1: one at a time */
    int64_t multipart_threshold; /* a regular file of at most this many
                                  * bytes goes in one PUT (s3_upload_fd);
                                  * 0: part_size (what fits one part);
                                  * at most S3_MAX_PUT_SIZE */
};

struct s3;

/* Make a client for SETTINGS: reads the credentials file, checks the
 * settings; opens no connection.  Returns the handle (free with
 * s3_close), or NULL with ERR_INVALID (bad setting or credentials file)
 * or ERR_IO (the file cannot be read).
 */
struct s3 *s3_open(const struct s3_settings *settings, struct error **errp);

/* Close S; NULL is allowed. */
void s3_close(struct s3 *s);

/* A new client with S's settings and credentials and connections of its
 * own, for another thread (a client serves one thread at a time).
 */
struct s3 *s3_clone(const struct s3 *s);

/* The bucket's name, borrowed from S. */
const char *s3_bucket(const struct s3 *s);

/* Does the bucket exist (and may we see it)?  1 yes, 0 no, -1 error. */
int s3_bucket_exists(struct s3 *s, struct error **errp);

/* Create the bucket; one we own already is fine.  Returns 0, or -1
 * (ERR_CONFLICT when another owner has the name).
 */
int s3_bucket_create(struct s3 *s, struct error **errp);

/* Flags of s3_put. */
#define S3_PUT_IF_ABSENT 1u   /* fail with ERR_CONFLICT if KEY exists */

/* Store LEN bytes at BUF (borrowed) as object KEY, in one request (for
 * small objects: chunks, indexes; at most 5 GiB).  With S3_PUT_IF_ABSENT
 * the request carries If-None-Match: *; a server that does not support
 * it (Swift's s3api answers 501 NotImplemented) is remembered, and from
 * then on a HEAD comes first instead: that is not atomic, two writers can
 * both see no object and both write, so use it only where both would
 * write the same bytes (content-addressed chunks).  A retried conditional
 * PUT whose first try did land also ends in ERR_CONFLICT.
 * Returns 0, or -1.
 */
int s3_put(struct s3 *s, const char *key, const void *buf, size_t len,
           unsigned flags, struct error **errp);

/* Read object KEY whole into *BUF (caller frees; NUL-terminated for
 * convenience, not counted in *LEN).  An object larger than MAX bytes is
 * ERR_INVALID and is not read; a MAX over 1 GiB (DYNBUF_MAX_CAP) is taken
 * as 1 GiB.  ERR_NOT_FOUND when it does not exist.
 * Returns 0, or -1.
 */
int s3_get(struct s3 *s, const char *key, size_t max, void **buf,
           size_t *len, struct error **errp);

/* A consumer of streamed data: returns 0, or -1 with an error set to
 * stop the transfer (the error is returned as is).
 */
typedef int (*s3_sink_fn)(const void *data, size_t len, void *opaque,
                          struct error **errp);

/* Stream LENGTH bytes of object KEY from OFFSET to FN, in order, each
 * byte once (a retry after a broken transfer resumes where it broke).
 * LENGTH -1: to the end.  A range that starts at or past the end is
 * ERR_INVALID; one that runs past the end delivers what there is and
 * *GOT says how much (GOT may be NULL).  Returns 0, or -1.
 */
int s3_get_range(struct s3 *s, const char *key, int64_t offset,
                 int64_t length, s3_sink_fn fn, void *opaque, int64_t *got,
                 struct error **errp);

/* Does object KEY exist?  1 with *SIZE (may be NULL) set, 0, or -1. */
int s3_head(struct s3 *s, const char *key, int64_t *size,
            struct error **errp);

/* s3_head that also gives the object's Last-Modified (*MTIME_NS, may be
 * NULL) in nanoseconds since the epoch, on the server's clock and with
 * its resolution (whole seconds: S3 truncates, Swift rounds up).  An
 * answer without a Last-Modified is ERR_PROTOCOL.  1, 0 missing, or -1.
 */
int s3_stat(struct s3 *s, const char *key, int64_t *size, int64_t *mtime_ns,
            struct error **errp);

/* Delete object KEY; a missing object is not an error.  Returns 0/-1. */
int s3_delete(struct s3 *s, const char *key, struct error **errp);

/* Call FN for every object whose key starts with PREFIX ("" for all), in
 * key order, with its key (borrowed for the call) and size, PAGE_SIZE
 * keys per request (0: 1000, the most S3 gives).  Stops early, with 0,
 * when FN returns false.  Returns 0, or -1.
 */
int s3_list(struct s3 *s, const char *prefix, int page_size,
            bool (*fn)(const char *key, int64_t size, void *opaque),
            void *opaque, struct error **errp);

/* One object as s3_list_objects reports it. */
struct s3_object {
    const char *key;  /* borrowed for the call */
    int64_t size;     /* bytes */
    int64_t mtime_ns; /* LastModified, ns since the epoch (see s3_stat) */
};

/* s3_list that also gives each object's LastModified. */
int s3_list_objects(struct s3 *s, const char *prefix, int page_size,
                    bool (*fn)(const struct s3_object *obj, void *opaque),
                    void *opaque, struct error **errp);

/* One request of s3_list_objects: at most PAGE_SIZE objects under PREFIX
 * whose keys sort after START_AFTER (NULL: from the first), in key order.
 * *MORE tells whether keys are left after the page.  Returns 0 (also when
 * FN stopped it), or -1.
 */
int s3_list_page(struct s3 *s, const char *prefix, const char *start_after,
                 int page_size,
                 bool (*fn)(const struct s3_object *obj, void *opaque),
                 void *opaque, bool *more, struct error **errp);

/* A source of data for s3_upload: fill up to LEN bytes of BUF; return
 * how many (0 at the end), or -1 with an error set.
 */
typedef ssize_t (*s3_source_fn)(void *buf, size_t len, void *opaque,
                                struct error **errp);

/* A file that is still being written, sent as it grows (s3_upload_fd
 * with opts.follow): its writer writes it once, in order, and says how
 * far it got.  The callbacks are called from the threads sending.
 */
struct s3_follow {
    int64_t size;            /* the file's size once written */
    /* Block until the file's first END bytes are written: 0, or -1 with
     * the reason when they never will be (the writer failed): the upload
     * fails with it, and no object is made.
     */
    int (*wait)(int64_t end, void *opaque, struct error **errp);
    /* Block until the MD5 of the whole file is known (the writer hashed
     * it as it wrote): HEX receives it (33 bytes); 0, or -1 as WAIT.  A
     * file sent in one PUT is then checked against it instead of being
     * hashed again as it is sent.  NULL: hashed as it is sent.
     */
    int (*md5)(char *hex, void *opaque, struct error **errp);
    void *opaque;
};

/* Options of s3_upload; every field may be 0/NULL. */
struct s3_upload_opts {
    const struct progress *progress; /* "upload" phase, when size known */
    int64_t size;                    /* total bytes, for progress; 0 or
                                      * -1: unknown */
    /* Called once a multipart upload is begun, before any part is sent:
     * a caller that must not leave parts behind even if it dies keeps
     * UPLOAD_ID (borrowed) to abort it later.  Returning -1 (error set)
     * aborts the upload.
     */
    int (*started)(const char *key, const char *upload_id, void *opaque,
                   struct error **errp);
    /* Called when that upload is over: completed, or aborted so that no
     * part is left.  Not called when the abort failed too.
     */
    void (*ended)(const char *key, const char *upload_id, void *opaque);
    void *opaque;                    /* for the three above */
    const struct s3_follow *follow;  /* s3_upload_fd: the file is still
                                      * being written; NULL: it is whole */
};

/* Store what SRC gives as object KEY, streamed: the data is read one
 * part (settings.part_size) at a time, never whole.  Data that fits in
 * one part goes in one PUT; more is a multipart upload of parts of that
 * size, each retried on its own and checked against its ETag (MD5), then
 * completed and the object's size checked.  On failure the multipart
 * upload is aborted (with retries) so that no part is left; if even the
 * abort fails, the error says so and names the upload id.  Returns 0, or
 * -1.
 */
int s3_upload(struct s3 *s, const char *key, s3_source_fn src, void *src_opaque,
              const struct s3_upload_opts *opts, struct error **errp);

/* s3_upload reading FD from its current offset to its end.  A regular
 * file is read in place (pread, as curl sends; no part is copied into
 * memory).  One of at most settings.multipart_threshold bytes goes in one
 * PUT checked against its ETag (MD5), with progress as it is sent; a
 * larger one is a multipart upload with settings.concurrency parts at
 * once, each on its own connection and thread: the progress reporter is
 * then called from those threads, one call at a time.  The file must
 * not change until this returns, except as opts.follow says: then it is
 * sent from its current offset to follow.size, each byte once written.
 * Anything else (a pipe) goes as s3_upload.  Returns 0, or -1.
 */
int s3_upload_fd(struct s3 *s, const char *key, int fd,
                 const struct s3_upload_opts *opts, struct error **errp);

/* Call FN for every multipart upload in progress (begun, neither
 * completed nor aborted) whose key starts with PREFIX, with its key,
 * upload id (both borrowed for the call) and start time.  Stops early,
 * with 0, when FN returns false.  Returns 0, or -1.
 */
int s3_list_uploads(struct s3 *s, const char *prefix,
                    bool (*fn)(const char *key, const char *upload_id,
                               time_t initiated, void *opaque),
                    void *opaque, struct error **errp);

/* Abort multipart upload UPLOAD_ID of KEY, dropping its parts; one that
 * is already gone is not an error.  Returns 0, or -1.
 */
int s3_abort_upload(struct s3 *s, const char *key, const char *upload_id,
                    struct error **errp);

#endif
