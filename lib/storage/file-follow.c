/* vmsnap: a file read while it is written (see file-follow.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file-follow.h"
#include "xalloc.h"

struct file_follow {
    pthread_mutex_t mu;
    pthread_cond_t cond;        /* signalled at every change below */
    int64_t size;               /* -1 until told */
    int64_t written;            /* bytes written from the start */
    bool done;                  /* whole; md5 set */
    bool failed;                /* never whole; why set */
    char md5[HASH_MD5_HEX_LEN];
    char why[256];
};

struct file_follow *
file_follow_new(void)
{
    struct file_follow *f = xcalloc(1, sizeof(*f));

    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    f->size = -1;
    return f;
}

void
file_follow_free(struct file_follow *f)
{
    if (f) {
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->mu);
        free(f);
    }
}

void
file_follow_size(struct file_follow *f, int64_t size)
{
    if (f) {
        pthread_mutex_lock(&f->mu);
        f->size = size;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->mu);
    }
}

void
file_follow_wrote(struct file_follow *f, int64_t bytes)
{
    if (f) {
        pthread_mutex_lock(&f->mu);
        if (bytes > f->written) {
            f->written = bytes;
            pthread_cond_broadcast(&f->cond);
        }
        pthread_mutex_unlock(&f->mu);
    }
}

void
file_follow_done(struct file_follow *f, const char *md5)
{
    if (f) {
        pthread_mutex_lock(&f->mu);
        if (!f->failed) {
            snprintf(f->md5, sizeof(f->md5), "%s", md5);
            if (f->size >= 0) {
                f->written = f->size;
            }
            f->done = true;
        }
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->mu);
    }
}

void
file_follow_fail(struct file_follow *f, const char *why)
{
    if (f) {
        pthread_mutex_lock(&f->mu);
        if (!f->failed && !f->done) {
            snprintf(f->why, sizeof(f->why), "%s", why);
            f->failed = true;
        }
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->mu);
    }
}

/* Wait, F locked, until READY(F, ARG) or F failed.  Returns 0, or -1
 * (F unlocked either way).
 */
static int
follow_until(struct file_follow *f, bool (*ready)(struct file_follow *,
                                                 int64_t),
             int64_t arg, struct error **errp)
{
    pthread_mutex_lock(&f->mu);
    while (!f->failed && !ready(f, arg)) {
        pthread_cond_wait(&f->cond, &f->mu);
    }
    if (f->failed && !ready(f, arg)) {
        error_setg(errp, ERR_IO, "the file is not written: %s", f->why);
        pthread_mutex_unlock(&f->mu);
        return -1;
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static bool
has_size(struct file_follow *f, int64_t unused)
{
    (void)unused;
    return f->size >= 0;
}

static bool
has_bytes(struct file_follow *f, int64_t end)
{
    return f->written >= end;
}

static bool
has_md5(struct file_follow *f, int64_t unused)
{
    (void)unused;
    return f->done;
}

int
file_follow_wait_size(struct file_follow *f, int64_t *size,
                      struct error **errp)
{
    if (follow_until(f, has_size, 0, errp) < 0) {
        return -1;
    }
    pthread_mutex_lock(&f->mu);
    *size = f->size;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int
file_follow_wait(struct file_follow *f, int64_t end, struct error **errp)
{
    return follow_until(f, has_bytes, end, errp);
}

int
file_follow_md5(struct file_follow *f, char hex[HASH_MD5_HEX_LEN],
                struct error **errp)
{
    if (follow_until(f, has_md5, 0, errp) < 0) {
        return -1;
    }
    pthread_mutex_lock(&f->mu);
    memcpy(hex, f->md5, HASH_MD5_HEX_LEN);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

bool
file_follow_is_done(struct file_follow *f)
{
    bool done;

    pthread_mutex_lock(&f->mu);
    done = f->done;
    pthread_mutex_unlock(&f->mu);
    return done;
}
