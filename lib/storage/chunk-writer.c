/* vmsnap: writing an index into the chunk store (see chunk.h).
 *
 * The caller's writes land in chunk-sized buffers.  A buffer that holds a
 * whole chunk becomes a job: hash it, ask the backend whether the chunk
 * is stored (touching it if so), else compress and put it, and record its
 * digest in the new index.  Jobs run on worker threads (or in the
 * caller's thread with threads = 0); the caller blocks when every buffer
 * is taken, so memory stays at (2 x threads + pending + 1) chunks.
 *
 * A chunk written only in part waits as "pending", with the byte ranges
 * written so far.  When it must go (too many pending, too many ranges, or
 * commit) the gaps are filled from what the disk held before: this
 * writer's own earlier data for that chunk, else the parent's chunk, else
 * zeros.
 *
 * One job per chunk number at most is in flight: a chunk submitted again
 * first waits for every job to finish ("drain"), so a later write always
 * wins.  That path is slow and rare (a backup writes each byte once).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "chunk-internal.h"
#include "cleanup.h"
#include "xalloc.h"

#define CW_MAX_PENDING 4  /* chunks written in part, held at once */
#define CW_MAX_RANGES 32  /* written ranges tracked per pending chunk */
#define CW_MAX_THREADS 16 /* workers */
#define CW_DEFAULT_THREADS 4
/* Chunks made durable by one put_finish: in a directory, one fdatasync
 * of their pack and one transaction of the pack map.  (Before packs it
 * was a syncfs, which also wrote back the guests' dirty disks: at 32, 60
 * a second during a full backup stalled a guest's writes 590-960 ms; at
 * 128, 70 ms, bench/backup.sh.)  On S3 a batch is only a count.
 */
#define CW_BATCH 128

struct cw_range {
    uint32_t start; /* first byte written, in the chunk */
    uint32_t end;   /* one past the last */
};

/* A chunk written in part. */
struct cw_pending {
    uint64_t pos;                           /* chunk number */
    uint32_t len;                           /* its length */
    uint8_t *buf;                           /* its data (a pool buffer) */
    struct cw_range ranges[CW_MAX_RANGES];  /* written, sorted, disjoint */
    size_t nranges;                         /* entries in RANGES */
    uint64_t stamp;                         /* last written, for eviction */
};

/* A whole chunk on its way to the store. */
struct cw_job {
    uint64_t pos;        /* chunk number */
    uint32_t len;        /* its length */
    uint8_t *buf;        /* its data, a pool buffer */
    struct cw_job *next; /* queue link */
};

/* What one worker (or the caller, inline) works with. */
struct cw_ctx {
    ZSTD_CCtx *cctx; /* compression context */
    uint8_t *out;    /* encoded blob */
    size_t cap;      /* room in OUT */
};

struct cw_thread {
    struct chunk_writer *w; /* the writer */
    struct cw_ctx *ctx;     /* its context */
    pthread_t tid;          /* the thread */
};

struct chunk_writer {
    struct chunk_store *cs;     /* the store, borrowed */
    char *name;                 /* index name */
    char *key;                  /* its key */
    struct chunk_index *ix;     /* the index being made */
    struct chunk_reader *parent; /* the parent, or NULL */
    const struct chunk_index *pix; /* the parent's index, or NULL */
    uint8_t *written;           /* bitmap: chunks this writer set */
    void *reg;                  /* backend writer registration */
    int level;                  /* zstd level */
    ZSTD_DCtx *dctx;            /* to read back our own chunks */
    uint8_t *scratch;           /* a chunk's old data while filling */
    uint64_t fixup[2];          /* parent chunks whose length changed */
    size_t nfixup;              /* entries in FIXUP */

    pthread_mutex_t mu;         /* guards the fields below */
    pthread_cond_t work;        /* a job was queued, or STOP */
    pthread_cond_t done;        /* a job finished, a buffer came back */
    struct cw_job *head, *tail; /* queued jobs */
    size_t busy;                /* jobs queued or running */
    uint8_t **bufs;             /* free buffers */
    size_t nfree;               /* entries in BUFS */
    size_t nalloc;              /* buffers allocated */
    size_t maxbufs;             /* most buffers */
    bool stop;                  /* workers must exit */
    void *batch[CW_BATCH];      /* chunks started, not yet finished */
    size_t nbatch;              /* entries in BATCH */
    struct error *err;          /* first failure; the writer is dead */
    struct chunk_writer_stats st; /* what was done */

    struct cw_thread threads[CW_MAX_THREADS]; /* workers */
    int nthreads;               /* 0: jobs run inline */
    struct cw_ctx ctx[CW_MAX_THREADS + 1]; /* theirs, and the inline one */
    struct cw_pending pend[CW_MAX_PENDING]; /* chunks written in part */
    size_t npend;               /* entries in PEND */
    uint64_t clock;             /* stamps for PEND */
    bool committed;             /* the index is written */
};

static bool
cw_written(const struct chunk_writer *w, uint64_t pos)
{
    return (w->written[pos / 8] >> (pos % 8)) & 1;
}

static void
cw_set_written(struct chunk_writer *w, uint64_t pos)
{
    w->written[pos / 8] |= (uint8_t)(1u << (pos % 8));
}

/* Record LOCAL as the writer's failure (the first one wins). */
static void
cw_fail(struct chunk_writer *w, struct error *local)
{
    pthread_mutex_lock(&w->mu);
    if (w->err == NULL) {
        w->err = local;
        local = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    error_free(local);
}

/* -1 with a copy of the writer's failure if it failed, else 0. */
static int
cw_check(struct chunk_writer *w, struct error **errp)
{
    int rc = 0;

    pthread_mutex_lock(&w->mu);
    if (w->err) {
        error_setg(errp, error_get_class(w->err), "%s", error_msg(w->err));
        rc = -1;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Fail the writer with a new error and return -1. */
static int
cw_error(struct chunk_writer *w, struct error *local, struct error **errp)
{
    cw_fail(w, local);
    return cw_check(w, errp);
}

static void
cw_ctx_init(struct cw_ctx *c, uint32_t chunk_size)
{
    c->cap = chunk_blob_bound(chunk_size);
    c->cctx = xcheck(ZSTD_createCCtx());
    c->out = xmalloc(c->cap);
}

static void
cw_ctx_free(struct cw_ctx *c)
{
    ZSTD_freeCCtx(c->cctx);
    free(c->out);
}

/* Finish the started puts in TOKENS (N of them). */
static int
cw_finish(struct chunk_writer *w, void **tokens, size_t n,
          struct error **errp)
{
    struct chunk_backend *be = w->cs->be;

    return n == 0 ? 0 : be->ops->put_finish(be->priv, tokens, n, errp);
}

/* Finish every started put (so that the chunks can be read). */
static int
cw_flush(struct chunk_writer *w, struct error **errp)
{
    void *tokens[CW_BATCH];
    size_t n;

    pthread_mutex_lock(&w->mu);
    n = w->nbatch;
    memcpy(tokens, w->batch, n * sizeof(tokens[0]));
    w->nbatch = 0;
    pthread_mutex_unlock(&w->mu);
    return cw_finish(w, tokens, n, errp);
}

/* Store blob BUF as KEY: started now, finished with a batch, so one flush
 * makes CW_BATCH chunks durable.  A chunk becomes visible to other
 * writers (and to touch) only when its batch is finished, after its data
 * is durable.
 */
static int
cw_put(struct chunk_writer *w, const char *key, const uint8_t *buf,
       size_t len, struct error **errp)
{
    struct chunk_backend *be = w->cs->be;
    void *tokens[CW_BATCH];
    void *token = NULL;
    size_t n = 0;

    if (be->ops->put_start(be->priv, key, buf, len, &token, errp) < 0) {
        return -1;
    }
    pthread_mutex_lock(&w->mu);
    w->batch[w->nbatch++] = token;
    if (w->nbatch == CW_BATCH) {
        n = w->nbatch;
        memcpy(tokens, w->batch, n * sizeof(tokens[0]));
        w->nbatch = 0;
    }
    pthread_mutex_unlock(&w->mu);
    return cw_finish(w, tokens, n, errp);
}

/* Hash, dedup, compress and store one chunk; record its digest. */
static int
cw_process(struct chunk_writer *w, struct cw_ctx *c, uint64_t pos,
           const uint8_t *buf, uint32_t len, struct error **errp)
{
    struct chunk_backend *be = w->cs->be;
    struct chunk_digest d = {{0}};
    char key[CHUNK_KEY_LEN];
    size_t olen = 0;
    int found = 0;

    if (!chunk_is_zero(buf, len)) {
        if (chunk_sha256(buf, len, &d, errp) < 0) {
            return -1;
        }
        chunk_key(&d, key);
        found = be->ops->touch(be->priv, key, errp);
        if (found < 0) {
            return -1;
        }
        if (!found &&
            (chunk_blob_encode(c->cctx, w->level, buf, len, c->out, c->cap,
                               &olen, errp) < 0 ||
             cw_put(w, key, c->out, olen, errp) < 0)) {
            return -1;
        }
    }
    pthread_mutex_lock(&w->mu);
    w->ix->digests[pos] = d;
    if (found) {
        w->st.chunks_dedup++;
    } else if (olen) {
        w->st.chunks_new++;
        w->st.bytes_new += len;
        w->st.bytes_stored += olen;
    }
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static void
cw_buf_put(struct chunk_writer *w, uint8_t *buf)
{
    pthread_mutex_lock(&w->mu);
    w->bufs[w->nfree++] = buf;
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
}

/* A free chunk buffer, waiting for one if all are taken. */
static uint8_t *
cw_buf_get(struct chunk_writer *w)
{
    uint8_t *b = NULL;

    pthread_mutex_lock(&w->mu);
    while (w->nfree == 0 && w->nalloc >= w->maxbufs) {
        pthread_cond_wait(&w->done, &w->mu);
    }
    if (w->nfree > 0) {
        b = w->bufs[--w->nfree];
        pthread_mutex_unlock(&w->mu);
        return b;
    }
    w->nalloc++;
    pthread_mutex_unlock(&w->mu);
    return xmalloc(w->cs->chunk_size);
}

static void *
cw_worker(void *arg)
{
    struct cw_thread *t = arg;
    struct chunk_writer *w = t->w;
    struct error *local = NULL;
    struct cw_job *job;
    bool dead;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->head == NULL && !w->stop) {
            pthread_cond_wait(&w->work, &w->mu);
        }
        job = w->head;
        if (job == NULL) {
            break;
        }
        w->head = job->next;
        if (w->head == NULL) {
            w->tail = NULL;
        }
        dead = w->err != NULL;
        pthread_mutex_unlock(&w->mu);
        if (!dead &&
            cw_process(w, t->ctx, job->pos, job->buf, job->len, &local) < 0) {
            cw_fail(w, local);
            local = NULL;
        }
        pthread_mutex_lock(&w->mu);
        w->bufs[w->nfree++] = job->buf;
        w->busy--;
        pthread_cond_broadcast(&w->done);
        pthread_mutex_unlock(&w->mu);
        free(job);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Wait until no job is queued or running and every chunk is stored. */
static int
cw_drain(struct chunk_writer *w, struct error **errp)
{
    struct error *local = NULL;

    pthread_mutex_lock(&w->mu);
    while (w->busy > 0) {
        pthread_cond_wait(&w->done, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    if (cw_check(w, errp) < 0) {
        return -1;
    }
    if (cw_flush(w, &local) < 0) {
        return cw_error(w, local, errp);
    }
    return 0;
}

/* Send chunk POS (LEN bytes in BUF, a pool buffer this takes) to the
 * store.
 */
static int
cw_submit(struct chunk_writer *w, uint64_t pos, uint8_t *buf, uint32_t len,
          struct error **errp)
{
    struct error *local = NULL;
    struct cw_job *job;

    if (cw_written(w, pos) && cw_drain(w, errp) < 0) {
        cw_buf_put(w, buf);
        return -1;
    }
    cw_set_written(w, pos);
    if (w->nthreads == 0) {
        if (cw_process(w, &w->ctx[0], pos, buf, len, &local) < 0) {
            cw_buf_put(w, buf);
            return cw_error(w, local, errp);
        }
        cw_buf_put(w, buf);
        return 0;
    }
    job = xmalloc(sizeof(*job));
    job->pos = pos;
    job->len = len;
    job->buf = buf;
    job->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail) {
        w->tail->next = job;
    } else {
        w->head = job;
    }
    w->tail = job;
    w->busy++;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    return cw_check(w, errp);
}

/* What chunk POS (LEN bytes) holds now, into DST: our own data if we set
 * it, else the parent's, else zeros.
 */
static int
cw_base(struct chunk_writer *w, uint64_t pos, uint8_t *dst, uint32_t len,
        struct error **errp)
{
    struct chunk_digest d;
    uint32_t plen;
    size_t n = 0;

    if (cw_written(w, pos)) {
        if (cw_drain(w, errp) < 0) {
            return -1;
        }
        d = w->ix->digests[pos];
        if (chunk_digest_is_zero(&d)) {
            memset(dst, 0, len);
            return 0;
        }
        if (chunk_store_load(w->cs, w->dctx, &d, dst, w->cs->chunk_size, len,
                             &n, NULL, errp) < 0) {
            error_prepend(errp, "index %s: ", w->name);
            return -1;
        }
        return 0;
    }
    if (w->pix == NULL || pos >= w->pix->count ||
        chunk_digest_is_zero(&w->pix->digests[pos])) {
        memset(dst, 0, len);
        return 0;
    }
    plen = chunk_index_chunk_len(w->pix, pos);
    if (plen > len) {
        plen = len;
    }
    if (chunk_reader_read(w->parent, dst, plen,
                          (int64_t)(pos * w->cs->chunk_size), errp) < 0) {
        return -1;
    }
    memset(dst + plen, 0, len - plen);
    pthread_mutex_lock(&w->mu);
    w->st.bytes_parent_read += plen;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

/* Fill the bytes of P not written yet from the chunk's old data; P is
 * then whole.
 */
static int
cw_fill(struct chunk_writer *w, struct cw_pending *p, struct error **errp)
{
    uint32_t at = 0;
    size_t i;

    if (!(p->nranges == 1 && p->ranges[0].start == 0 &&
          p->ranges[0].end == p->len)) {
        if (cw_base(w, p->pos, w->scratch, p->len, errp) < 0) {
            return -1;
        }
        for (i = 0; i <= p->nranges; i++) {
            uint32_t end = i < p->nranges ? p->ranges[i].start : p->len;

            if (end > at) {
                memcpy(p->buf + at, w->scratch + at, end - at);
            }
            if (i < p->nranges) {
                at = p->ranges[i].end;
            }
        }
    }
    p->nranges = 1;
    p->ranges[0].start = 0;
    p->ranges[0].end = p->len;
    return 0;
}

static void
cw_pending_remove(struct chunk_writer *w, struct cw_pending *p)
{
    size_t i = (size_t)(p - w->pend);

    w->pend[i] = w->pend[--w->npend];
}

/* Complete P and send it to the store. */
static int
cw_pending_finish(struct chunk_writer *w, struct cw_pending *p,
                  struct error **errp)
{
    struct error *local = NULL;
    uint64_t pos = p->pos;
    uint32_t len = p->len;
    uint8_t *buf = p->buf;

    if (cw_fill(w, p, &local) < 0) {
        cw_pending_remove(w, p);
        cw_buf_put(w, buf);
        return cw_error(w, local, errp);
    }
    cw_pending_remove(w, p);
    return cw_submit(w, pos, buf, len, errp);
}

static struct cw_pending *
cw_pending_find(struct chunk_writer *w, uint64_t pos)
{
    size_t i;

    for (i = 0; i < w->npend; i++) {
        if (w->pend[i].pos == pos) {
            return &w->pend[i];
        }
    }
    return NULL;
}

/* Forget the pending chunk POS: a whole-chunk write replaces it. */
static void
cw_pending_drop(struct chunk_writer *w, uint64_t pos)
{
    struct cw_pending *p = cw_pending_find(w, pos);

    if (p) {
        cw_buf_put(w, p->buf);
        cw_pending_remove(w, p);
    }
}

/* The pending chunk POS, made (with nothing written) if needed. */
static struct cw_pending *
cw_pending_get(struct chunk_writer *w, uint64_t pos, struct error **errp)
{
    struct cw_pending *p = cw_pending_find(w, pos);
    size_t i, old = 0;
    uint8_t *buf;

    if (p) {
        p->stamp = ++w->clock;
        return p;
    }
    if (w->npend == CW_MAX_PENDING) {
        for (i = 1; i < w->npend; i++) {
            if (w->pend[i].stamp < w->pend[old].stamp) {
                old = i;
            }
        }
        if (cw_pending_finish(w, &w->pend[old], errp) < 0) {
            return NULL;
        }
    }
    buf = cw_buf_get(w);
    p = &w->pend[w->npend++];
    memset(p, 0, sizeof(*p));
    p->pos = pos;
    p->len = chunk_index_chunk_len(w->ix, pos);
    p->buf = buf;
    p->stamp = ++w->clock;
    return p;
}

/* Add [START, END) to P's written ranges; false if that would need more
 * than CW_MAX_RANGES (P unchanged).
 */
static bool
cw_range_add(struct cw_pending *p, uint32_t start, uint32_t end)
{
    struct cw_range out[CW_MAX_RANGES + 1];
    size_t i, n = 0;
    bool placed = false;

    for (i = 0; i < p->nranges; i++) {
        struct cw_range r = p->ranges[i];

        if (r.end < start) {
            out[n++] = r; /* wholly before */
        } else if (r.start > end) {
            if (!placed) {
                out[n++] = (struct cw_range){start, end};
                placed = true;
            }
            out[n++] = r; /* wholly after */
        } else {
            start = r.start < start ? r.start : start; /* overlaps: merge */
            end = r.end > end ? r.end : end;
        }
        if (n > CW_MAX_RANGES) {
            return false;
        }
    }
    if (!placed) {
        out[n++] = (struct cw_range){start, end};
    }
    if (n > CW_MAX_RANGES) {
        return false;
    }
    memcpy(p->ranges, out, n * sizeof(out[0]));
    p->nranges = n;
    return true;
}

/* Apply LEN bytes of BUF (zeros if BUF is NULL) at OFFSET.  */
static int
cw_apply(struct chunk_writer *w, const uint8_t *buf, uint64_t len,
         int64_t offset, struct error **errp)
{
    uint32_t cs = w->cs->chunk_size;
    struct cw_pending *p;
    uint32_t in, clen, n;
    uint64_t pos;
    uint8_t *b;

    if (cw_check(w, errp) < 0) {
        return -1;
    }
    if (w->committed) {
        error_setg(errp, ERR_INVALID, "index %s is already committed",
                   w->name);
        return -1;
    }
    if (offset < 0 || offset > w->ix->disk_size ||
        len > (uint64_t)(w->ix->disk_size - offset)) {
        error_setg(errp, ERR_INVALID,
                   "index %s: write of %llu bytes at %lld is outside the "
                   "disk", w->name, (unsigned long long)len,
                   (long long)offset);
        return -1;
    }
    pthread_mutex_lock(&w->mu);
    w->st.bytes_in += len;
    pthread_mutex_unlock(&w->mu);
    while (len > 0) {
        pos = (uint64_t)offset / cs;
        in = (uint32_t)((uint64_t)offset % cs);
        clen = chunk_index_chunk_len(w->ix, pos);
        n = clen - in < len ? clen - in : (uint32_t)len;
        if (in == 0 && n == clen) {
            cw_pending_drop(w, pos);
            if (buf == NULL) {
                if (cw_written(w, pos) && cw_drain(w, errp) < 0) {
                    return -1;
                }
                pthread_mutex_lock(&w->mu);
                memset(&w->ix->digests[pos], 0, CHUNK_DIGEST_LEN);
                pthread_mutex_unlock(&w->mu);
                cw_set_written(w, pos);
            } else {
                b = cw_buf_get(w);
                memcpy(b, buf, n);
                if (cw_submit(w, pos, b, n, errp) < 0) {
                    return -1;
                }
            }
        } else {
            p = cw_pending_get(w, pos, errp);
            if (p == NULL) {
                return -1;
            }
            if (!cw_range_add(p, in, in + n)) {
                struct error *local = NULL;

                /* Too fragmented to track: settle the old data now. */
                if (cw_fill(w, p, &local) < 0) {
                    return cw_error(w, local, errp);
                }
            }
            if (buf) {
                memcpy(p->buf + in, buf, n);
            } else {
                memset(p->buf + in, 0, n);
            }
            if (p->nranges == 1 && p->ranges[0].start == 0 &&
                p->ranges[0].end == p->len &&
                cw_pending_finish(w, p, errp) < 0) {
                return -1;
            }
        }
        if (buf) {
            buf += n;
        }
        offset += n;
        len -= n;
    }
    return 0;
}

int
chunk_writer_write(struct chunk_writer *w, const void *buf, size_t len,
                   int64_t offset, struct error **errp)
{
    return cw_apply(w, buf, len, offset, errp);
}

int
chunk_writer_zero(struct chunk_writer *w, int64_t offset, int64_t len,
                  struct error **errp)
{
    if (len < 0) {
        error_setg(errp, ERR_INVALID, "negative length");
        return -1;
    }
    return cw_apply(w, NULL, (uint64_t)len, offset, errp);
}

/* Take the parent's digests.  Its chunks need no touch: gc keeps what a
 * parent deleted during our run referenced (trash/, see chunk-maint.c).
 */
static int
cw_inherit(struct chunk_writer *w, const char *parent, struct error **errp)
{
    const struct chunk_index *pix;
    uint64_t i, n;

    if (chunk_reader_open(w->cs, parent, &w->parent, errp) < 0) {
        return -1;
    }
    pix = w->pix = chunk_reader_index(w->parent);
    n = pix->count < w->ix->count ? pix->count : w->ix->count;
    for (i = 0; i < n; i++) {
        const struct chunk_digest *d = &pix->digests[i];

        if (chunk_digest_is_zero(d)) {
            continue;
        }
        if (chunk_index_chunk_len(pix, i) != chunk_index_chunk_len(w->ix, i)) {
            /* The parent's short last chunk, or ours: rebuilt at commit. */
            if (w->nfixup < 2) {
                w->fixup[w->nfixup++] = i;
            }
            continue;
        }
        w->ix->digests[i] = *d;
    }
    w->ix->flags |= CHUNK_INDEX_HAS_PARENT;
    w->ix->parent = pix->csum;
    return 0;
}

int
chunk_writer_open(struct chunk_store *cs, const char *name,
                  int64_t disk_size, const char *parent,
                  const struct chunk_writer_opts *opts,
                  struct chunk_writer **out, struct error **errp)
{
    struct chunk_writer *w;
    int64_t start = 0;
    long ncpu;
    int i, rc, threads = opts ? opts->threads : -1;

    w = xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->done, NULL);
    w->cs = cs;
    w->level = opts && opts->zstd_level ? opts->zstd_level : cs->zstd_level;
    if (threads < 0) {
        /* Two per CPU: while one waits for its batch to reach the disk,
         * another compresses.
         */
        ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        threads = ncpu < 1 ? 2 : 2 * ncpu > CW_DEFAULT_THREADS
                                     ? CW_DEFAULT_THREADS
                                     : 2 * (int)ncpu;
    }
    if (threads > CW_MAX_THREADS) {
        threads = CW_MAX_THREADS;
    }
    w->key = chunk_index_key(name, errp);
    if (w->key == NULL) {
        goto fail;
    }
    w->name = xstrdup(name);
    w->ix = chunk_index_new(disk_size, cs->chunk_size, errp);
    if (w->ix == NULL) {
        goto fail;
    }
    rc = cs->be->ops->touch(cs->be->priv, w->key, errp);
    if (rc != 0) {
        if (rc > 0) {
            error_setg(errp, ERR_CONFLICT, "index %s exists", name);
        }
        goto fail;
    }
    w->maxbufs = 2 * (size_t)threads + CW_MAX_PENDING + 1;
    w->written = xcalloc(w->ix->count / 8 + 1, 1);
    w->bufs = xcalloc(w->maxbufs, sizeof(*w->bufs));
    w->dctx = xcheck(ZSTD_createDCtx());
    w->scratch = xmalloc(cs->chunk_size);
    for (i = 0; i <= threads; i++) {
        cw_ctx_init(&w->ctx[i], cs->chunk_size);
    }
    /* Register before reading the parent or touching anything: from
     * here on, every chunk we touch or put is newer than our start, and a
     * parent deleted from now on stays in gc's mark (trash/).
     */
    if (cs->be->ops->writer_begin(cs->be->priv, &w->reg, &start, errp) < 0) {
        goto fail;
    }
    if (parent && cw_inherit(w, parent, errp) < 0) {
        goto fail;
    }
    for (i = 0; i < threads; i++) {
        w->threads[i].w = w;
        w->threads[i].ctx = &w->ctx[i + 1];
        if (pthread_create(&w->threads[i].tid, NULL, cw_worker,
                           &w->threads[i]) != 0) {
            error_setg(errp, ERR_IO, "cannot start a writer thread");
            goto fail;
        }
        w->nthreads++;
    }
    *out = w;
    return 0;
fail:
    chunk_writer_free(w);
    return -1;
}

int
chunk_writer_commit(struct chunk_writer *w, struct chunk_index_info *info,
                    struct error **errp)
{
    struct chunk_backend *be = w->cs->be;
    struct error *local = NULL;
    CLEANUP_FREE uint8_t *buf = NULL;
    struct cw_pending *p;
    size_t i, len = 0;
    uint64_t pos, zero = 0, inherited = 0;

    if (cw_check(w, errp) < 0) {
        return -1;
    }
    if (w->committed) {
        error_setg(errp, ERR_INVALID, "index %s is already committed",
                   w->name);
        return -1;
    }
    while (w->npend > 0) {
        if (cw_pending_finish(w, &w->pend[0], errp) < 0) {
            return -1;
        }
    }
    for (i = 0; i < w->nfixup; i++) {
        if (cw_written(w, w->fixup[i])) {
            continue;
        }
        p = cw_pending_get(w, w->fixup[i], errp);
        if (p == NULL || cw_pending_finish(w, p, errp) < 0) {
            return -1;
        }
    }
    if (cw_drain(w, errp) < 0) {
        return -1;
    }
    for (pos = 0; pos < w->ix->count; pos++) {
        if (chunk_digest_is_zero(&w->ix->digests[pos])) {
            zero++;
        } else if (!cw_written(w, pos)) {
            inherited++;
        }
    }
    /* Every chunk we put or touched is durable before the index that
     * names them exists.
     */
    if (be->ops->sync(be->priv, &local) < 0 ||
        chunk_index_serialize(w->ix, &buf, &len, &local) < 0 ||
        be->ops->put(be->priv, w->key, buf, len, CHUNK_PUT_EXCL, &local) < 0) {
        error_prepend(&local, "index %s: ", w->name);
        return cw_error(w, local, errp);
    }
    if (be->ops->sync(be->priv, &local) < 0) {
        /* The index may or may not survive a crash now; the caller is
         * told it failed, so take it back rather than leave one nobody
         * knows of.
         */
        be->ops->remove_unless_since(be->priv, w->key, INT64_MAX, NULL);
        be->ops->sync(be->priv, NULL);
        error_prepend(&local, "index %s: ", w->name);
        return cw_error(w, local, errp);
    }
    w->committed = true;
    pthread_mutex_lock(&w->mu);
    w->st.chunks = w->ix->count;
    w->st.chunks_zero = zero;
    w->st.chunks_inherited = inherited;
    pthread_mutex_unlock(&w->mu);
    if (info) {
        memset(info, 0, sizeof(*info));
        info->disk_size = w->ix->disk_size;
        info->chunk_size = w->ix->chunk_size;
        info->chunks = w->ix->count;
        info->zero_chunks = zero;
        info->created = w->ix->created;
        chunk_digest_hex(&w->ix->csum, info->csum);
        if (w->ix->flags & CHUNK_INDEX_HAS_PARENT) {
            chunk_digest_hex(&w->ix->parent, info->parent_csum);
        }
    }
    return 0;
}

void
chunk_writer_stats(struct chunk_writer *w, struct chunk_writer_stats *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->st;
    if (!w->committed) {
        st->chunks = w->ix->count;
    }
    pthread_mutex_unlock(&w->mu);
}

void
chunk_writer_free(struct chunk_writer *w)
{
    struct cw_job *job;
    size_t i;

    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    if (!w->committed && w->err == NULL) {
        /* Abandoned: queued jobs are dropped, not stored. */
        error_setg(&w->err, ERR_GENERIC, "index %s abandoned",
                   w->name ? w->name : "");
    }
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->mu);
    for (i = 0; i < (size_t)w->nthreads; i++) {
        pthread_join(w->threads[i].tid, NULL);
    }
    while ((job = w->head) != NULL) {
        w->head = job->next;
        free(job->buf);
        free(job);
    }
    if (w->nbatch > 0) {
        w->cs->be->ops->put_cancel(w->cs->be->priv, w->batch, w->nbatch);
    }
    for (i = 0; i < w->npend; i++) {
        free(w->pend[i].buf);
    }
    for (i = 0; i < w->nfree; i++) {
        free(w->bufs[i]);
    }
    for (i = 0; i < CW_MAX_THREADS + 1; i++) {
        cw_ctx_free(&w->ctx[i]);
    }
    if (w->reg) {
        w->cs->be->ops->writer_end(w->cs->be->priv, w->reg);
    }
    chunk_reader_close(w->parent);
    chunk_index_free(w->ix);
    ZSTD_freeDCtx(w->dctx);
    free(w->scratch);
    free(w->bufs);
    free(w->written);
    free(w->key);
    free(w->name);
    error_free(w->err);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->done);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
