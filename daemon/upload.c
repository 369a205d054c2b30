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
#include "fileio.h"
#include "log.h"
#include "upload.h"
#include "xalloc.h"

/* Free space is checked again after this many bytes. */
#define UPLOAD_SPACE_STEP (16 * 1024 * 1024)

/* The pipeline: the connection's thread only copies each piece into a
 * ring of slots and goes back to the socket; one worker computes the MD5
 * of each full slot, another the SHA-512 and writes it.  The digests
 * cost about 3 s of CPU per GiB together (openstack-api.md's bench), the
 * reception and the writes most of a second more: three threads keep
 * both cores busy, and no step waits for another while a slot is free.
 */
#define UPLOAD_SLOT_SIZE (256 * 1024)
#define UPLOAD_SLOTS 16

/* The workers of the pipeline. */
enum upload_worker {
    UPLOAD_W_MD5,   /* MD5 */
    UPLOAD_W_WRITE, /* SHA-512, then the write */
    UPLOAD_WORKERS,
};

/* The ring and its workers. */
struct upload_pipe {
    bool running;         /* the workers were started */
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t cond;  /* signals a change of them */
    pthread_t threads[UPLOAD_WORKERS];
    unsigned char *buf[UPLOAD_SLOTS];     /* UPLOAD_SLOT_SIZE bytes each */
    size_t len[UPLOAD_SLOTS];             /* bytes in each posted one */
    size_t filling;                       /* bytes in the one being filled */
    uint64_t posted;                      /* slots handed to the workers */
    uint64_t taken[UPLOAD_WORKERS];       /* slots each worker finished */
    bool stop;                            /* the workers must exit */
    bool hash_failed;                     /* libcrypto failed */
    int werr;                             /* the first write's errno */
};

struct upload {
    int fd;                      /* the file (borrowed) */
    struct upload_limits limits; /* copied */
    int64_t expected;            /* declared length, or -1 */
    uint64_t size;               /* bytes taken */
    uint64_t next_space_check;   /* size at which to check space again */
    EVP_MD_CTX *md5;             /* running MD5 */
    EVP_MD_CTX *sha512;          /* running SHA-512 */
    enum upload_failure failed;  /* why it failed, or UPLOAD_OK */
    struct upload_pipe pipe;     /* the ring, when its workers run */
    int64_t written;             /* bytes written to fd (by one thread:
                                  * the write worker, or the caller's) */
    struct fileio_wb wb;         /* fd's write-behind */
};

/* Write LEN bytes of BUF at the end of U's file, its writeback following
 * (fileio_write_behind: a guest's flushes on the same disk do not queue
 * behind the whole image at the end).  Returns 0 or an errno.
 */
static int
upload_write_all(struct upload *u, const unsigned char *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = write(u->fd, buf + done, len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return errno;
        }
        done += (size_t)n;
        u->written += n;
        fileio_write_behind(u->fd, &u->wb, u->written);
    }
    return 0;
}

/* The slots every worker has finished with. */
static uint64_t
upload_pipe_done(const struct upload_pipe *p)
{
    uint64_t min = p->taken[0];
    int w;

    for (w = 1; w < UPLOAD_WORKERS; w++) {
        if (p->taken[w] < min) {
            min = p->taken[w];
        }
    }
    return min;
}

/* The worker W of U: take each posted slot in turn. */
static void
upload_worker_run(struct upload *u, enum upload_worker w)
{
    struct upload_pipe *p = &u->pipe;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        unsigned slot;
        bool ok = true;
        int werr = 0;

        while (p->taken[w] == p->posted && !p->stop) {
            pthread_cond_wait(&p->cond, &p->lock);
        }
        if (p->stop) {
            break;
        }
        slot = (unsigned)(p->taken[w] % UPLOAD_SLOTS);
        pthread_mutex_unlock(&p->lock);
        /* The slot is ours to read until taken[w] moves on. */
        if (w == UPLOAD_W_MD5) {
            ok = EVP_DigestUpdate(u->md5, p->buf[slot], p->len[slot]) == 1;
        } else {
            ok = EVP_DigestUpdate(u->sha512, p->buf[slot], p->len[slot]) ==
                 1;
            /* After a failed write the rest is hashed, not written: the
             * upload fails at the next call anyway.
             */
            if (p->werr == 0) {
                werr = upload_write_all(u, p->buf[slot], p->len[slot]);
            }
        }
        pthread_mutex_lock(&p->lock);
        if (!ok) {
            p->hash_failed = true;
        }
        if (werr && p->werr == 0) {
            p->werr = werr;
        }
        p->taken[w]++;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
}

static void *
upload_md5_main(void *opaque)
{
    upload_worker_run(opaque, UPLOAD_W_MD5);
    return NULL;
}

static void *
upload_write_main(void *opaque)
{
    upload_worker_run(opaque, UPLOAD_W_WRITE);
    return NULL;
}

/* Stop and join U's workers (every slot left untaken). */
static void
upload_pipe_stop(struct upload *u)
{
    struct upload_pipe *p = &u->pipe;
    int w;

    if (!p->running) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (w = 0; w < UPLOAD_WORKERS; w++) {
        pthread_join(p->threads[w], NULL);
    }
    p->running = false;
}

/* Start U's workers; without them (no thread to be had) the pieces are
 * hashed and written in the caller's thread.
 */
static void
upload_pipe_start(struct upload *u)
{
    static void *(*const main_of[UPLOAD_WORKERS])(void *) = {
        [UPLOAD_W_MD5] = upload_md5_main,
        [UPLOAD_W_WRITE] = upload_write_main,
    };
    struct upload_pipe *p = &u->pipe;
    int w, i;

    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    for (i = 0; i < UPLOAD_SLOTS; i++) {
        p->buf[i] = xmalloc(UPLOAD_SLOT_SIZE);
    }
    p->running = true;
    for (w = 0; w < UPLOAD_WORKERS; w++) {
        if (pthread_create(&p->threads[w], NULL, main_of[w], u) != 0) {
            break;
        }
    }
    if (w < UPLOAD_WORKERS) {
        /* Join those that started. */
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        while (w-- > 0) {
            pthread_join(p->threads[w], NULL);
        }
        p->running = false;
    }
}

/* Hand the slot being filled, if it has bytes, to the workers. */
static void
upload_pipe_post(struct upload_pipe *p)
{
    if (p->filling == 0) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->len[p->posted % UPLOAD_SLOTS] = p->filling;
    p->posted++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    p->filling = 0;
}

/* Wait until the slot to fill is free (UNTIL: 0) or until the workers
 * have taken every posted slot (UNTIL: 1).  Returns 0, or an errno of
 * a write, or -1 when libcrypto failed.
 */
static int
upload_pipe_wait(struct upload_pipe *p, int until)
{
    int r;

    pthread_mutex_lock(&p->lock);
    while (p->werr == 0 && !p->hash_failed &&
           (until ? upload_pipe_done(p) < p->posted
                  : p->posted - upload_pipe_done(p) >= UPLOAD_SLOTS)) {
        pthread_cond_wait(&p->cond, &p->lock);
    }
    r = p->hash_failed ? -1 : p->werr;
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* Copy LEN bytes of BUF into the ring, posting each slot that fills.
 * Returns as upload_pipe_wait.
 */
static int
upload_pipe_put(struct upload_pipe *p, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        unsigned slot = (unsigned)(p->posted % UPLOAD_SLOTS);
        size_t n;
        int r;

        /* A slot is filled once its last reader has let it go. */
        if (p->filling == 0 && (r = upload_pipe_wait(p, 0)) != 0) {
            return r;
        }
        n = UPLOAD_SLOT_SIZE - p->filling;
        if (n > len) {
            n = len;
        }
        memcpy(p->buf[slot] + p->filling, buf, n);
        p->filling += n;
        buf += n;
        len -= n;
        if (p->filling == UPLOAD_SLOT_SIZE) {
            upload_pipe_post(p);
        }
    }
    return 0;
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
    u->md5 = xcheck(EVP_MD_CTX_new());
    u->sha512 = xcheck(EVP_MD_CTX_new());
    if (EVP_DigestInit_ex(u->md5, EVP_md5(), NULL) != 1 ||
        EVP_DigestInit_ex(u->sha512, EVP_sha512(), NULL) != 1) {
        upload_free(u);
        *why = UPLOAD_IO;
        error_setg(errp, ERR_IO, "cannot start digests in libcrypto");
        return NULL;
    }
    upload_pipe_start(u);
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

/* Record the failure of a write (R an errno) or of libcrypto (R -1). */
static int
upload_fail_errno(struct upload *u, int r, struct error **errp)
{
    if (r < 0) {
        return upload_fail(u, UPLOAD_IO, 0, errp);
    }
    return upload_fail(u, r == ENOSPC || r == EDQUOT ? UPLOAD_NO_SPACE
                                                     : UPLOAD_IO,
                       r, errp);
}

int
upload_write(struct upload *u, const void *buf, size_t len, struct error **errp)
{
    int r;

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
    if (u->pipe.running) {
        r = upload_pipe_put(&u->pipe, buf, len);
    } else if (EVP_DigestUpdate(u->md5, buf, len) != 1 ||
               EVP_DigestUpdate(u->sha512, buf, len) != 1) {
        r = -1;
    } else {
        r = upload_write_all(u, buf, len);
    }
    if (r != 0) {
        return upload_fail_errno(u, r, errp);
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
    if (u->pipe.running) {
        int r;

        upload_pipe_post(&u->pipe);
        if ((r = upload_pipe_wait(&u->pipe, 1)) != 0) {
            return upload_fail_errno(u, r, errp);
        }
    }
    /* One sync, at the end: the writes before it went to the page cache
     * while the rest came in.
     */
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
    upload_pipe_stop(u);
    if (u->pipe.buf[0]) {
        int i;

        pthread_mutex_destroy(&u->pipe.lock);
        pthread_cond_destroy(&u->pipe.cond);
        for (i = 0; i < UPLOAD_SLOTS; i++) {
            free(u->pipe.buf[i]);
        }
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

/* End S's upload, its workers joined, before its owner closes or
 * removes the file: no write may land after that.
 */
static void
upload_sink_stop(struct upload_sink *s)
{
    upload_free(s->up);
    s->up = NULL;
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
    upload_sink_stop(s);
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
    upload_sink_stop(s);
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
