/* vmsnapd: streamed uploads into a file (see upload.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "log.h"
#include "upload.h"
#include "xalloc.h"

/* Free space is checked again after this many bytes. */
#define UPLOAD_SPACE_STEP (16 * 1024 * 1024)

/* Pieces at least this large have their MD5 computed by a helper thread
 * while the caller's thread computes the SHA-512 and writes: the two
 * digests cost about 3 s of CPU per GiB together, and in parallel the
 * upload goes at the pace of the slower one (openstack-api.md's bench).
 */
#define UPLOAD_PARALLEL_MIN (64 * 1024)

/* The MD5 helper thread and the piece it is given. */
struct upload_md5 {
    pthread_t thread;     /* the helper */
    bool running;         /* it was started */
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t cond;  /* signals a change of them */
    const void *buf;      /* the piece to hash, or NULL */
    size_t len;           /* its length */
    bool busy;            /* a piece is posted and not yet hashed */
    bool stop;            /* the helper must exit */
    bool failed;          /* libcrypto failed */
};

struct upload {
    int fd;                      /* the file (borrowed) */
    struct upload_limits limits; /* copied */
    int64_t expected;            /* declared length, or -1 */
    uint64_t size;               /* bytes written */
    uint64_t next_space_check;   /* size at which to check space again */
    EVP_MD_CTX *md5;             /* running MD5 */
    EVP_MD_CTX *sha512;          /* running SHA-512 */
    enum upload_failure failed;  /* why it failed, or UPLOAD_OK */
    struct upload_md5 helper;    /* hashes MD5 beside the writer */
};

/* The helper: hash each posted piece into U->md5. */
static void *
upload_md5_main(void *opaque)
{
    struct upload *u = opaque;
    struct upload_md5 *h = &u->helper;

    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (!h->busy && !h->stop) {
            pthread_cond_wait(&h->cond, &h->lock);
        }
        if (h->stop) {
            break;
        }
        pthread_mutex_unlock(&h->lock);
        if (EVP_DigestUpdate(u->md5, h->buf, h->len) != 1) {
            h->failed = true;
        }
        pthread_mutex_lock(&h->lock);
        h->busy = false;
        pthread_cond_broadcast(&h->cond);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* Start hashing LEN bytes of BUF: post the piece to the MD5 helper when
 * it runs and the piece is large, and compute the SHA-512 (and, without
 * the helper, the MD5) here.  Until upload_digest_end, the helper may
 * still read BUF.  False if libcrypto failed.
 */
static bool
upload_digest_begin(struct upload *u, const void *buf, size_t len)
{
    struct upload_md5 *h = &u->helper;

    if (!h->running || len < UPLOAD_PARALLEL_MIN) {
        return EVP_DigestUpdate(u->md5, buf, len) == 1 &&
               EVP_DigestUpdate(u->sha512, buf, len) == 1;
    }
    pthread_mutex_lock(&h->lock);
    h->buf = buf;
    h->len = len;
    h->busy = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    return EVP_DigestUpdate(u->sha512, buf, len) == 1;
}

/* Wait until the helper has hashed the piece posted by
 * upload_digest_begin, if any.  False if libcrypto failed there.
 */
static bool
upload_digest_end(struct upload *u)
{
    struct upload_md5 *h = &u->helper;

    if (!h->running) {
        return true;
    }
    pthread_mutex_lock(&h->lock);
    while (h->busy) {
        pthread_cond_wait(&h->cond, &h->lock);
    }
    h->buf = NULL;
    pthread_mutex_unlock(&h->lock);
    return !h->failed;
}

/* Bytes free for us on the file system of FD, or -1. */
static int64_t
upload_free_space(int fd)
{
    struct statvfs st;

    if (fstatvfs(fd, &st) < 0) {
        return -1;
    }
    return (int64_t)st.f_bavail * (int64_t)st.f_frsize;
}

/* Would LEN more bytes touch the reserve? */
static bool
upload_space_ok(int fd, const struct upload_limits *l, uint64_t len)
{
    int64_t avail;

    if (l->reserve <= 0) {
        return true;
    }
    avail = upload_free_space(fd);
    return avail < 0 || (uint64_t)avail >= len + (uint64_t)l->reserve;
}

struct upload *
upload_new(int fd, const struct upload_limits *limits, int64_t expected,
           enum upload_failure *why, struct error **errp)
{
    struct upload *u;
    struct upload_limits none = {0, 0};

    if (limits == NULL) {
        limits = &none;
    }
    if (expected >= 0 && limits->max_size > 0 && expected > limits->max_size) {
        *why = UPLOAD_TOO_LARGE;
        error_setg(errp, ERR_INVALID,
                   "The upload of %lld bytes is over "
                   "the limit of %lld bytes",
                   (long long)expected, (long long)limits->max_size);
        return NULL;
    }
    if (expected > 0 && !upload_space_ok(fd, limits, (uint64_t)expected)) {
        *why = UPLOAD_NO_SPACE;
        error_setg(errp, ERR_INVALID,
                   "There is not enough free space for "
                   "an upload of %lld bytes",
                   (long long)expected);
        return NULL;
    }
    u = xcalloc(1, sizeof(*u));
    u->fd = fd;
    u->limits = *limits;
    u->expected = expected;
    u->next_space_check = 0; /* check before the first write */
    u->md5 = EVP_MD_CTX_new();
    u->sha512 = EVP_MD_CTX_new();
    if (u->md5 == NULL || u->sha512 == NULL ||
        EVP_DigestInit_ex(u->md5, EVP_md5(), NULL) != 1 ||
        EVP_DigestInit_ex(u->sha512, EVP_sha512(), NULL) != 1) {
        upload_free(u);
        *why = UPLOAD_IO;
        error_setg(errp, ERR_IO, "cannot start digests in libcrypto");
        return NULL;
    }
    pthread_mutex_init(&u->helper.lock, NULL);
    pthread_cond_init(&u->helper.cond, NULL);
    /* Without the helper (no thread to be had), hash in this thread. */
    u->helper.running =
        pthread_create(&u->helper.thread, NULL, upload_md5_main, u) == 0;
    return u;
}

/* Record failure WHY with a message. */
static int
upload_fail(struct upload *u, enum upload_failure why, int errnum,
            struct error **errp)
{
    static const char *const what[] = {
        [UPLOAD_OK] = "failed",
        [UPLOAD_TOO_LARGE] = "The upload is larger than allowed",
        [UPLOAD_NO_SPACE] = "There is not enough free space for the upload",
        [UPLOAD_SHORT] = "The upload ended before its declared length",
        [UPLOAD_IO] = "Writing the upload failed",
    };

    if (u->failed == UPLOAD_OK) {
        u->failed = why;
    }
    if (errnum) {
        error_setg_errno(errp, ERR_IO, errnum, "%s", what[u->failed]);
    } else {
        error_setg(errp, u->failed == UPLOAD_IO ? ERR_IO : ERR_INVALID, "%s",
                   what[u->failed]);
    }
    return -1;
}

int
upload_write(struct upload *u, const void *buf, size_t len, struct error **errp)
{
    const char *p = buf;
    bool hashed;
    size_t done = 0;
    int werr = 0;

    if (u->failed != UPLOAD_OK) {
        return upload_fail(u, u->failed, 0, errp);
    }
    if ((u->limits.max_size > 0 &&
         u->size + len > (uint64_t)u->limits.max_size) ||
        (u->expected >= 0 && u->size + len > (uint64_t)u->expected)) {
        return upload_fail(u, UPLOAD_TOO_LARGE, 0, errp);
    }
    if (u->size + len >= u->next_space_check) {
        /* Check for what is declared to come, else for the next step. */
        uint64_t ahead = u->expected >= 0 ? (uint64_t)u->expected - u->size
                                          : (uint64_t)UPLOAD_SPACE_STEP;

        if (!upload_space_ok(u->fd, &u->limits, ahead)) {
            return upload_fail(u, UPLOAD_NO_SPACE, 0, errp);
        }
        u->next_space_check = u->size + len + UPLOAD_SPACE_STEP;
    }
    /* The piece is written while the helper still hashes its MD5 (the
     * slower digest): the write costs no time of its own.
     */
    hashed = upload_digest_begin(u, buf, len);
    while (hashed && done < len) {
        ssize_t n = write(u->fd, p + done, len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            werr = errno;
            break;
        }
        done += (size_t)n;
    }
    if (!upload_digest_end(u) || !hashed) {
        return upload_fail(u, UPLOAD_IO, 0, errp);
    }
    if (werr) {
        return upload_fail(u,
                           werr == ENOSPC || werr == EDQUOT ? UPLOAD_NO_SPACE
                                                            : UPLOAD_IO,
                           werr, errp);
    }
    u->size += len;
    return 0;
}

/* Hex of the LEN bytes of MD into OUT. */
static void
upload_hex(const unsigned char *md, unsigned len, char *out)
{
    unsigned i;

    for (i = 0; i < len; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

int
upload_finish(struct upload *u, struct upload_result *res, struct error **errp)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (u->failed != UPLOAD_OK) {
        return upload_fail(u, u->failed, 0, errp);
    }
    if (u->expected >= 0 && u->size != (uint64_t)u->expected) {
        return upload_fail(u, UPLOAD_SHORT, 0, errp);
    }
    if (fsync(u->fd) < 0) {
        return upload_fail(u, errno == ENOSPC ? UPLOAD_NO_SPACE : UPLOAD_IO,
                           errno, errp);
    }
    memset(res, 0, sizeof(*res));
    res->size = u->size;
    if (EVP_DigestFinal_ex(u->md5, md, &n) != 1 || n != 16) {
        return upload_fail(u, UPLOAD_IO, 0, errp);
    }
    upload_hex(md, n, res->md5);
    if (EVP_DigestFinal_ex(u->sha512, md, &n) != 1 || n != 64) {
        return upload_fail(u, UPLOAD_IO, 0, errp);
    }
    upload_hex(md, n, res->sha512);
    return 0;
}

enum upload_failure
upload_failure(const struct upload *u)
{
    return u->failed;
}

uint64_t
upload_size(const struct upload *u)
{
    return u->size;
}

void
upload_free(struct upload *u)
{
    if (u == NULL) {
        return;
    }
    if (u->helper.running) {
        pthread_mutex_lock(&u->helper.lock);
        u->helper.stop = true;
        pthread_cond_broadcast(&u->helper.cond);
        pthread_mutex_unlock(&u->helper.lock);
        pthread_join(u->helper.thread, NULL);
        pthread_mutex_destroy(&u->helper.lock);
        pthread_cond_destroy(&u->helper.cond);
    }
    EVP_MD_CTX_free(u->md5);
    EVP_MD_CTX_free(u->sha512);
    free(u);
}

int
upload_status(enum upload_failure why)
{
    switch (why) {
    case UPLOAD_TOO_LARGE:
    case UPLOAD_NO_SPACE:
        return 413;
    case UPLOAD_SHORT:
        return 400;
    case UPLOAD_OK:
    case UPLOAD_IO:
        break;
    }
    return 500;
}

/* An upload bound to a request (the sink's state). */
struct upload_sink {
    struct upload *up;           /* the writer */
    struct upload_target target; /* the file's owner */
    struct api_req *r;           /* the request */
};

static void
upload_sink_free(struct upload_sink *s)
{
    upload_free(s->up);
    free(s);
}

/* Respond for failure ERR of S, tell the owner, free S. */
static void
upload_sink_fail(struct upload_sink *s, const struct error *err)
{
    enum upload_failure why = upload_failure(s->up);
    int status = upload_status(why);

    if (status >= 500) {
        log_warnx("api: upload to %s: %s", http_req_path(s->r->http),
                  error_msg(err));
        api_error(s->r, status, "Writing the upload failed");
    } else {
        api_error(s->r, status, "%s", error_msg(err));
    }
    s->target.fail(s->target.opaque, why);
    upload_sink_free(s);
}

static int
upload_sink_write(void *opaque, struct http_req *req, const void *buf,
                  size_t len)
{
    struct upload_sink *s = opaque;
    CLEANUP_ERROR struct error *err = NULL;

    (void)req;
    if (upload_write(s->up, buf, len, &err) < 0) {
        upload_sink_fail(s, err);
        return -1;
    }
    return 0;
}

static void
upload_sink_finish(void *opaque, struct http_req *req)
{
    struct upload_sink *s = opaque;
    CLEANUP_ERROR struct error *err = NULL;
    struct upload_result res;

    (void)req;
    if (upload_finish(s->up, &res, &err) < 0) {
        upload_sink_fail(s, err);
        return;
    }
    s->target.done(s->target.opaque, s->r, &res);
    upload_sink_free(s);
}

static void
upload_sink_abort(void *opaque)
{
    struct upload_sink *s = opaque;

    log_warnx("api: upload to %s: the body ended early after %llu bytes; "
              "discarded",
              http_req_path(s->r->http),
              (unsigned long long)upload_size(s->up));
    s->target.fail(s->target.opaque, UPLOAD_SHORT);
    upload_sink_free(s);
}

void
upload_stream(struct api_req *r, const struct upload_limits *limits,
              const struct upload_target *target)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct upload_sink *s = xcalloc(1, sizeof(*s));
    enum upload_failure why = UPLOAD_IO;
    struct http_sink sink;

    s->up = upload_new(target->fd, limits, http_req_content_length(r->http),
                       &why, &err);
    if (s->up == NULL) {
        free(s);
        api_error(r, upload_status(why), "%s", error_msg(err));
        target->fail(target->opaque, why);
        return;
    }
    s->target = *target;
    s->r = r;
    sink.write = upload_sink_write;
    sink.finish = upload_sink_finish;
    sink.abort = upload_sink_abort;
    sink.opaque = s;
    http_req_stream_body(r->http, &sink);
}
