/* vmsnap: digests of a stream computed beside the caller (see hashpipe.h).
 *
 * One lane per digest: a thread and its hash_ctx.  The caller publishes
 * a piece (DATA, LEN) under a new generation number and wakes every lane;
 * each lane hashes the piece once and counts itself done.  The hash_ctx
 * of a lane is touched only by its thread while a piece is pending and
 * only by the caller otherwise (hash_pipe_end), so it needs no lock.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashpipe.h"
#include "xalloc.h"

struct lane {
    struct hash_pipe *pipe;
    struct hash_ctx *ctx;
    pthread_t thread;
    bool started;
};

struct hash_pipe {
    pthread_mutex_t lock;
    pthread_cond_t work;  /* a new piece, or quit */
    pthread_cond_t done;  /* pending fell to 0 */
    const void *data;     /* the piece being hashed */
    size_t len;
    uint64_t gen;         /* bumped for each piece */
    size_t pending;       /* lanes still hashing the piece */
    bool quit;
    struct error *err;    /* the first lane's failure */
    size_t n;
    struct lane lanes[HASH_MAX_ALGS];
};

static void *
lane_main(void *opaque)
{
    struct lane *l = opaque;
    struct hash_pipe *p = l->pipe;
    uint64_t seen = 0;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct error *err = NULL;
        const void *data;
        size_t len;

        while (p->gen == seen && !p->quit) {
            pthread_cond_wait(&p->work, &p->lock);
        }
        if (p->quit) {
            break;
        }
        seen = p->gen;
        data = p->data;
        len = p->len;
        pthread_mutex_unlock(&p->lock);

        hash_update(l->ctx, data, len, &err);

        pthread_mutex_lock(&p->lock);
        if (err && p->err == NULL) {
            p->err = err;
        } else {
            error_free(err);
        }
        if (--p->pending == 0) {
            pthread_cond_signal(&p->done);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct hash_pipe *
hash_pipe_new(size_t n, const char *const *algs, struct error **errp)
{
    struct hash_pipe *p;
    size_t i;

    if (n < 1 || n > HASH_MAX_ALGS) {
        error_setg(errp, ERR_INVALID, "a hash pipe computes 1 to %d "
                   "digests, not %zu", HASH_MAX_ALGS, n);
        return NULL;
    }
    p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n = n;
    for (i = 0; i < n; i++) {
        p->lanes[i].pipe = p;
        p->lanes[i].ctx = hash_begin(algs[i], errp);
        if (p->lanes[i].ctx == NULL) {
            hash_pipe_free(p);
            return NULL;
        }
    }
    for (i = 0; i < n; i++) {
        int e = pthread_create(&p->lanes[i].thread, NULL, lane_main,
                               &p->lanes[i]);

        if (e != 0) {
            error_setg_errno(errp, ERR_IO, e, "starting a hash thread");
            hash_pipe_free(p);
            return NULL;
        }
        p->lanes[i].started = true;
    }
    return p;
}

/* Wait for the pending piece with P->lock held; then hand over a lane's
 * failure, if any.
 */
static int
pipe_drain_locked(struct hash_pipe *p, struct error **errp)
{
    while (p->pending > 0) {
        pthread_cond_wait(&p->done, &p->lock);
    }
    if (p->err) {
        error_setg(errp, error_get_class(p->err), "%s",
                   error_msg(p->err));
        return -1;
    }
    return 0;
}

int
hash_pipe_feed(struct hash_pipe *p, const void *data, size_t len,
               struct error **errp)
{
    int r;

    pthread_mutex_lock(&p->lock);
    r = pipe_drain_locked(p, errp);
    if (r == 0) {
        p->data = data;
        p->len = len;
        p->gen++;
        p->pending = p->n;
        pthread_cond_broadcast(&p->work);
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

int
hash_pipe_wait(struct hash_pipe *p, struct error **errp)
{
    int r;

    pthread_mutex_lock(&p->lock);
    r = pipe_drain_locked(p, errp);
    pthread_mutex_unlock(&p->lock);
    return r;
}

int
hash_pipe_end(struct hash_pipe *p, char (*hex)[HASH_MAX_HEX_LEN],
              struct error **errp)
{
    char out[HASH_MAX_ALGS][HASH_MAX_HEX_LEN];
    size_t i;

    if (hash_pipe_wait(p, errp) < 0) {
        return -1;
    }
    /* Every lane is idle: their contexts are the caller's now. */
    for (i = 0; i < p->n; i++) {
        int r = hash_end(p->lanes[i].ctx, out[i], errp);

        p->lanes[i].ctx = NULL;
        if (r < 0) {
            return -1;
        }
    }
    memcpy(hex, out, p->n * sizeof(out[0]));
    return 0;
}

void
hash_pipe_free(struct hash_pipe *p)
{
    size_t i;

    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    /* A piece still pending is finished first: its lanes would otherwise
     * read the caller's buffer after we return.
     */
    while (p->pending > 0) {
        pthread_cond_wait(&p->done, &p->lock);
    }
    p->quit = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < p->n; i++) {
        if (p->lanes[i].started) {
            pthread_join(p->lanes[i].thread, NULL);
        }
        hash_ctx_free(p->lanes[i].ctx);
    }
    error_free(p->err);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
