/* vmsnap: the chunk store's S3 backend (see chunk-backend.h).
 *
 * Every key K of the store is the object PREFIX + K of the bucket (the
 * prefix is "chunkstore/" when the services open it).  Besides the
 * store's keys there are leases:
 *   leases/<kind>-<ttl>-<holder>-<random>   kind "w" (a writer) or "gc"
 * each renewed (PUT again) by a thread of its holder every quarter of
 * its TTL (seconds, in the name, so that every host judges it by its
 * holder's TTL) and deleted when its holder is done.  A lease is live
 * while its Last-Modified plus its TTL (plus 2 s for the servers' 1 s
 * resolution) is after "now"; a dead one (its holder died) is ignored
 * and deleted by the next gc or writer that sees it.
 *
 * How the contract of chunk-backend.h is met:
 * - put is one PUT: S3 makes the whole object visible at once, durable
 *   when the answer comes.  CHUNK_PUT_EXCL is s3_put's S3_PUT_IF_ABSENT
 *   (HEAD first on Swift, which has no If-None-Match: safe here because
 *   an index name is unique per backup and the catalog lets one backup
 *   write it).  put_start keeps a copy of the bytes, put_finish PUTs
 *   them one by one (each visible whole; chunks are content-addressed,
 *   so a batch finished in part is harmless).  sync has nothing to do.
 * - Object times are Last-Modified, the object store's clock, whole
 *   seconds (S3 truncates, Swift rounds up): remove_unless_since removes
 *   only when the time plus one second is still before SINCE, so nothing
 *   put or touched at or after SINCE is removed whichever way the server
 *   rounds.  gc_begin's "now" is its own lease's Last-Modified plus 1 s:
 *   with no writer beside the gc, every object was put before the lease
 *   (so a gc with no grace right after a deletion frees its chunks).
 * - S3 has no atomic "delete unless newer" (a HEAD then a DELETE races
 *   with a PUT in between).  So gc is made exclusive against writers
 *   instead: writer_begin PUTs a writer lease, then lists the leases and
 *   waits (polling each second, at most 5 TTLs) while a live gc lease
 *   is there; gc_begin PUTs a gc lease, then lists the leases and fails
 *   with ERR_CONFLICT when a live writer (or another gc) is there.  The
 *   object store's read-after-write consistency (S3; Swift's listings
 *   are updated with the PUT unless a container server is down) means
 *   that of a writer and a gc that start together at least one sees the
 *   other.  While a gc runs (until gc_end), no writer puts, touches or
 *   registers, so remove_unless_since never races with a put or touch of
 *   the same key: the atomicity the contract asks is given by exclusion.
 *   gc_begin's *OLDEST_NS is therefore always INT64_MAX.
 * - touch tells whether the chunk exists but does not move its time.  The
 *   store touches a reused chunk only so that a gc running at the same
 *   time keeps it; with no gc beside a writer, the time does not matter
 *   (a server-side copy per reused chunk would cost an incremental backup
 *   one copy per chunk of its parent).  For the same reason a chunk
 *   listed while this backend holds a writer lease stays until the last
 *   of its leases ends, so touch answers from listings kept meanwhile
 *   (listed.h): one page of 1,000 keys answers for all the chunks of a
 *   backup it covers, where each took a HEAD (about 150 a second on Swift
 *   here: 14 s for a full of 2 GiB whose chunks are stored already, a
 *   second server from the same base).  A touch no page covers lists one
 *   from its key on, while pages answer for 8 touches each on average;
 *   past that, and with no writer lease, it is a HEAD.
 * - A holder whose renewals fail loses its lease for good once the last
 *   renewal that worked is 3/4 of the TTL old (a quarter TTL before
 *   anyone else may take it as dead): every put, touch and remove then
 *   fails with ERR_CONFLICT, so a stalled writer or gc cannot act after
 *   the other side went ahead.
 *
 * Threads: an S3 handle is for one thread at a time, so calls take one
 * from a small pool (made when the pool is empty) and give it back.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "chunk-backend.h"
#include "cleanup.h"
#include "listed.h"
#include "log.h"
#include "s3.h"
#include "util.h"
#include "xalloc.h"

#define S3BE_POOL_MAX 16          /* idle handles kept */
#define S3BE_TTL_DEFAULT 60       /* seconds */
#define S3BE_SLACK_NS 2000000000LL /* others' clock resolution */
#define S3BE_SEC 1000000000LL
#define S3BE_LEASE_DIR "leases/"
#define S3BE_LISTED_MAX 200000    /* chunk keys listings keep (~20 MB) */
#define S3BE_LISTED_HITS 8        /* touches a page must answer, on average */
#define S3BE_LISTED_TRY 4         /* pages listed before judging that */

struct s3be_lease;

struct s3be {
    struct s3_settings set;       /* owned copies of the strings */
    char *prefix;                 /* "chunkstore/" */
    char *holder;                 /* this process, in lease names */
    int ttl_s;                    /* of our leases */
    int wait_s;                   /* a writer's wait for a gc */
    pthread_mutex_t mu;           /* guards the fields below */
    struct s3 *pool[S3BE_POOL_MAX];
    size_t npool;
    struct s3be_lease *leases;    /* held, to check they are alive */
    struct s3be_lease *gc;        /* the gc lease, between gc_begin/end */
    int writers;                  /* writer leases held */
    struct listed *listed;        /* chunks listed since writers > 0 */
    uint64_t listed_pages;        /* pages listed into it */
    uint64_t listed_hits;         /* touches it answered */
    bool listed_full;             /* it refused a page: HEADs from now */
    uint64_t listed_gen;          /* counts its clearings */
};

struct s3be_lease {
    struct s3be *b;
    char *key;                    /* full object key */
    struct s3be_lease *next;      /* in b->leases */
    pthread_t tid;                /* the renewer */
    pthread_mutex_t mu;           /* guards the fields below */
    pthread_cond_t cv;            /* wakes the renewer to stop */
    bool stop;
    bool lost;                    /* lapsed: never alive again */
    int64_t ok_mono_ns;           /* start of the last good PUT */
};

/* --- helpers -------------------------------------------------------------- */

static int64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * S3BE_SEC + ts.tv_nsec;
}

static struct s3 *
pool_get(struct s3be *b, struct error **errp)
{
    struct s3 *s = NULL;

    pthread_mutex_lock(&b->mu);
    if (b->npool > 0) {
        s = b->pool[--b->npool];
    }
    pthread_mutex_unlock(&b->mu);
    return s ? s : s3_open(&b->set, errp);
}

static void
pool_put(struct s3be *b, struct s3 *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&b->mu);
    if (b->npool < S3BE_POOL_MAX) {
        b->pool[b->npool++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&b->mu);
    s3_close(s);
}

/* The object key of store key KEY (caller frees), or NULL with
 * ERR_INVALID.
 */
static char *
full_key(struct s3be *b, const char *key, struct error **errp)
{
    if (!chunk_key_valid(key)) {
        error_setg(errp, ERR_INVALID, "bad key '%s'", key);
        return NULL;
    }
    return xasprintf("%s%s", b->prefix, key);
}

/* The lapse deadline of a lease whose last good renewal began at OK. */
static int64_t
lease_deadline(const struct s3be *b, int64_t ok)
{
    return ok - S3BE_SEC + (int64_t)b->ttl_s * S3BE_SEC * 3 / 4;
}

/* Are all leases this backend holds alive?  false with ERR_CONFLICT. */
static bool
leases_ok(struct s3be *b, struct error **errp)
{
    struct s3be_lease *l;
    bool ok = true;

    pthread_mutex_lock(&b->mu);
    for (l = b->leases; l && ok; l = l->next) {
        pthread_mutex_lock(&l->mu);
        if (!l->lost && mono_ns() > lease_deadline(b, l->ok_mono_ns)) {
            l->lost = true;
        }
        if (l->lost) {
            error_setg(errp, ERR_CONFLICT,
                       "chunk store lease s3://%s/%s lapsed (its renewals "
                       "failed): another host may run a gc now",
                       b->set.bucket, l->key);
            ok = false;
        }
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}

/* --- objects -------------------------------------------------------------- */

/* The connection (return it with pool_put) and object key (*KP, caller
 * frees) of an operation on store key KEY, or NULL.  A CHANGE, which
 * alters the store or keeps a chunk alive, also needs every lease this
 * backend holds alive: with one lapsed another host may be running a gc.
 */
static struct s3 *
obj_begin(struct s3be *b, const char *key, bool change, char **kp,
          struct error **errp)
{
    *kp = full_key(b, key, errp);
    if (*kp == NULL || (change && !leases_ok(b, errp))) {
        return NULL;
    }
    return pool_get(b, errp);
}

static int
s3be_put(void *be, const char *key, const void *buf, size_t len,
         unsigned flags, struct error **errp)
{
    struct s3be *b = be;
    CLEANUP_FREE char *k = NULL;
    struct s3 *s = obj_begin(b, key, true, &k, errp);
    int rc;

    if (s == NULL) {
        return -1;
    }
    rc = s3_put(s, k, buf, len,
                (flags & CHUNK_PUT_EXCL) ? S3_PUT_IF_ABSENT : 0, errp);
    pool_put(b, s);
    if (rc == 0 && strncmp(key, "chunks/", 7) == 0) {
        listed_insert(b->listed, key); /* if a listing covers it */
    }
    return rc;
}

/* An object store's PUT is atomic and durable when it returns: a put
 * begun by put_start is stored at once, finish has nothing left to do
 * and cancel leaves it to gc (an orphan chunk, unreferenced).  The
 * writer's threads thus send their chunks side by side, none of them
 * waiting on a batch, and no chunk is held in memory for one.
 */
static int
s3be_put_start(void *be, const char *key, const void *buf, size_t len,
               void **token, struct error **errp)
{
    if (s3be_put(be, key, buf, len, 0, errp) < 0) {
        return -1;
    }
    *token = be;                  /* not NULL; nothing to keep */
    return 0;
}

static void
s3be_put_cancel(void *be, void **tokens, size_t n)
{
    (void)be;
    memset(tokens, 0, n * sizeof(tokens[0]));
}

static int
s3be_put_finish(void *be, void **tokens, size_t n, struct error **errp)
{
    (void)errp;
    s3be_put_cancel(be, tokens, n);
    return 0;
}

static int
s3be_get(void *be, const char *key, size_t max, uint8_t **buf, size_t *len,
         struct error **errp)
{
    struct s3be *b = be;
    CLEANUP_FREE char *k = NULL;
    struct s3 *s = obj_begin(b, key, false, &k, errp);
    struct error *err = NULL;
    void *data = NULL;
    int rc;

    if (s == NULL) {
        return -1;
    }
    rc = s3_get(s, k, max, &data, len, &err);
    pool_put(b, s);
    if (rc < 0) {
        if (error_get_class(err) == ERR_INVALID) {
            /* s3_get's "larger than MAX": the contract's ERR_PROTOCOL. */
            error_setg(errp, ERR_PROTOCOL, "%s", error_msg(err));
            error_free(err);
        } else {
            error_propagate(errp, err);
        }
        return -1;
    }
    *buf = data;
    return 0;
}

/* touch and exists alike: a HEAD (see the top of this file on why touch
 * need not move the time).
 */
static int
s3be_head(void *be, const char *key, struct error **errp)
{
    struct s3be *b = be;
    CLEANUP_FREE char *k = NULL;
    struct s3 *s = obj_begin(b, key, true, &k, errp);
    int rc;

    if (s == NULL) {
        return -1;
    }
    rc = s3_head(s, k, NULL, errp);
    pool_put(b, s);
    return rc;
}

/* A page that answers for fewer keys than this costs more than their
 * HEADs would: the keys are sparse among the store's, HEAD the rest.
 */
#define S3BE_PAGE_MIN_HITS 8

/* Should a touch of a chunk no listing covers list a page?  While a
 * writer lease is held, and the pages so far answered enough touches.
 */
static bool
listed_worth_it(struct s3be *b)
{
    bool yes;

    pthread_mutex_lock(&b->mu);
    yes = b->writers > 0 && !b->listed_full &&
          (b->listed_pages < S3BE_LISTED_TRY ||
           b->listed_hits >= S3BE_LISTED_HITS * b->listed_pages);
    pthread_mutex_unlock(&b->mu);
    return yes;
}

/* Keys of one page, as listed_add takes them. */
struct s3be_page {
    size_t plen;      /* of the backend's prefix */
    const char *from; /* keys before it are left out */
    char **keys;      /* the others, store keys */
    size_t n;         /* entries in KEYS */
    size_t cap;       /* room in KEYS */
};

static bool
s3be_page_one(const struct s3_object *o, void *opaque)
{
    struct s3be_page *pg = opaque;
    const char *key = o->key + pg->plen;

    if (strcmp(key, pg->from) >= 0) {
        if (pg->n == pg->cap) {
            pg->cap = pg->cap ? 2 * pg->cap : 256;
            pg->keys = xreallocarray(pg->keys, pg->cap, sizeof(*pg->keys));
        }
        pg->keys[pg->n++] = xstrdup(key);
    }
    return true;
}

/* List the page of chunks that starts at KEY into b->listed. */
static int
listed_fetch(struct s3be *b, const char *key, struct error **errp)
{
    CLEANUP_FREE char *prefix = xasprintf("%schunks/", b->prefix);
    CLEANUP_FREE char *after = NULL;
    struct s3be_page pg = { strlen(b->prefix), key, NULL, 0, 0 };
    struct s3 *s = pool_get(b, errp);
    bool more = false, added;
    uint64_t gen;
    size_t i;
    int rc;

    if (s == NULL) {
        return -1;
    }
    pthread_mutex_lock(&b->mu);
    gen = b->listed_gen;
    pthread_mutex_unlock(&b->mu);
    /* Just before KEY: its name less the last character. */
    after = xasprintf("%s%.*s", b->prefix, (int)strlen(key) - 1, key);
    rc = s3_list_page(s, prefix, after, 1000, s3be_page_one, &pg, &more,
                      errp);
    pool_put(b, s);
    /* A page cut short before KEY (a server may send fewer keys than
     * asked) says nothing from KEY on: leave it to a HEAD.  Nor does one
     * listed across the end of the last writer lease (a gc may have run
     * since).
     */
    pthread_mutex_lock(&b->mu);
    if (rc == 0 && (pg.n > 0 || !more) && b->writers > 0 &&
        b->listed_gen == gen) {
        added = listed_add(b->listed, key, more ? pg.keys[pg.n - 1] : NULL,
                           (const char *const *)pg.keys, pg.n);
        b->listed_pages++;
        b->listed_full = b->listed_full || !added;
    }
    pthread_mutex_unlock(&b->mu);
    for (i = 0; i < pg.n; i++) {
        free(pg.keys[i]);
    }
    free(pg.keys);
    return rc;
}

/* touch: from the listings kept while a writer lease is held, else a
 * HEAD (see the top of this file).
 */
static int
s3be_touch(void *be, const char *key, struct error **errp)
{
    struct s3be *b = be;
    int rc;

    if (strncmp(key, "chunks/", 7) != 0 || !chunk_key_valid(key)) {
        return s3be_head(be, key, errp);
    }
    if (!leases_ok(b, errp)) {
        return -1;
    }
    rc = listed_lookup(b->listed, key);
    if (rc < 0 && listed_worth_it(b)) {
        if (listed_fetch(b, key, errp) < 0) {
            return -1;
        }
        rc = listed_lookup(b->listed, key);
    }
    if (rc < 0) {
        return s3be_head(be, key, errp);
    }
    pthread_mutex_lock(&b->mu);
    b->listed_hits++;
    pthread_mutex_unlock(&b->mu);
    return rc;
}

/* What s3be_exists_sorted matches a listing against. */
struct s3be_match {
    const char *const *keys; /* sorted, distinct */
    size_t n;                /* entries in KEYS */
    size_t i;                /* the next to find */
    size_t plen;             /* of the backend's prefix */
    bool missing;            /* KEYS[I] is not there */
};

static bool
s3be_match_one(const struct s3_object *o, void *opaque)
{
    struct s3be_match *m = opaque;
    int c = strcmp(m->keys[m->i], o->key + m->plen);

    if (c < 0) {
        m->missing = true; /* listed past it */
        return false;
    }
    if (c == 0) {
        m->i++;
    }
    return m->i < m->n;
}

/* Each listing starts just before the next key not yet found (its name
 * less the last character), so it jumps over the store's keys nobody
 * asked for; pages that find few keys give way to HEADs.
 */
static int
s3be_exists_sorted(void *be, const char *const *keys, size_t n,
                   size_t *missing, struct error **errp)
{
    struct s3be *b = be;
    struct s3be_match m = { keys, n, 0, strlen(b->prefix), false };
    CLEANUP_FREE char *prefix = xasprintf("%schunks/", b->prefix);
    struct s3 *s = pool_get(b, errp);
    int rc = 0;

    if (s == NULL) {
        return -1;
    }
    while (m.i < n && !m.missing) {
        CLEANUP_FREE char *after = NULL;
        size_t before = m.i;
        bool more = false;

        if (strncmp(keys[m.i], "chunks/", 7) != 0 ||
            !chunk_key_valid(keys[m.i])) {
            error_setg(errp, ERR_INVALID, "bad chunk key '%s'", keys[m.i]);
            rc = -1;
            break;
        }
        after = xasprintf("%s%.*s", b->prefix, (int)strlen(keys[m.i]) - 1,
                          keys[m.i]);
        rc = s3_list_page(s, prefix, after, 1000, s3be_match_one, &m, &more,
                          errp);
        if (rc < 0) {
            break;
        }
        if (m.i < n && !m.missing && !more) {
            m.missing = true; /* the listing ended before it */
        }
        if (m.i - before < S3BE_PAGE_MIN_HITS) {
            break;
        }
    }
    pool_put(b, s);
    for (; rc == 0 && m.i < n && !m.missing; m.i++) {
        rc = s3be_head(b, keys[m.i], errp);
        m.missing = rc == 0;
        rc = rc < 0 ? -1 : 0;
        if (m.missing) {
            break;
        }
    }
    *missing = m.i;
    return rc;
}

/* What s3be_list passes through s3_list_objects. */
struct s3be_list {
    size_t plen;                  /* of the backend's prefix */
    int (*fn)(const struct chunk_obj *obj, void *opaque);
    void *opaque;
    bool stopped;
};

static bool
s3be_list_one(const struct s3_object *o, void *opaque)
{
    struct s3be_list *l = opaque;
    struct chunk_obj obj = {
        .key = o->key + l->plen,
        .mtime_ns = o->mtime_ns,
        .size = (uint64_t)o->size,
    };

    if (l->fn(&obj, l->opaque) < 0) {
        l->stopped = true;
        return false;
    }
    return true;
}

static int
s3be_list(void *be, const char *prefix,
          int (*fn)(const struct chunk_obj *obj, void *opaque), void *opaque,
          struct error **errp)
{
    struct s3be *b = be;
    CLEANUP_FREE char *p = xasprintf("%s%s", b->prefix, prefix);
    struct s3be_list l = { strlen(b->prefix), fn, opaque, false };
    struct s3 *s = pool_get(b, errp);
    int rc;

    if (s == NULL) {
        return -1;
    }
    rc = s3_list_objects(s, p, 0, s3be_list_one, &l, errp);
    pool_put(b, s);
    return rc < 0 || l.stopped ? -1 : 0;
}

static int
s3be_remove_unless_since(void *be, const char *key, int64_t since_ns,
                         struct error **errp)
{
    struct s3be *b = be;
    CLEANUP_FREE char *k = NULL;
    struct s3 *s = obj_begin(b, key, true, &k, errp);
    int64_t mtime = 0;
    int rc;

    if (s == NULL) {
        return -1;
    }
    rc = s3_stat(s, k, NULL, &mtime, errp);
    if (rc == 1 && since_ns != INT64_MAX && mtime + S3BE_SEC > since_ns) {
        rc = 0;                   /* maybe at or after SINCE: keep it */
    }
    if (rc == 1 && s3_delete(s, k, errp) < 0) {
        rc = -1;
    }
    pool_put(b, s);
    return rc;
}

static int
s3be_sync(void *be, struct error **errp)
{
    (void)be;
    (void)errp;
    return 0;                     /* a PUT or DELETE is durable on return */
}

/* --- leases --------------------------------------------------------------- */

/* PUT lease L's object with S; on success its renewal clock restarts.
 * *MTIME_NS (may be NULL) gets its Last-Modified.
 */
static int
lease_write(struct s3be_lease *l, struct s3 *s, int64_t *mtime_ns,
            struct error **errp)
{
    CLEANUP_FREE char *body =
        xasprintf("{\"holder\": \"%s\", \"ttl_s\": %d}\n", l->b->holder,
                  l->b->ttl_s);
    int64_t start = mono_ns();
    int rc;

    if (s3_put(s, l->key, body, strlen(body), 0, errp) < 0) {
        return -1;
    }
    if (mtime_ns) {
        rc = s3_stat(s, l->key, NULL, mtime_ns, errp);
        if (rc == 0) {
            error_setg(errp, ERR_CONFLICT,
                       "chunk store lease s3://%s/%s vanished after its "
                       "PUT", l->b->set.bucket, l->key);
        }
        if (rc != 1) {
            return -1;
        }
    }
    pthread_mutex_lock(&l->mu);
    if (!l->lost && start > lease_deadline(l->b, l->ok_mono_ns)) {
        l->lost = true;           /* renewed too late: others may have
                                   * taken it as dead already */
    }
    if (!l->lost) {
        l->ok_mono_ns = start;
    }
    pthread_mutex_unlock(&l->mu);
    return 0;
}

static void *
lease_renewer(void *opaque)
{
    struct s3be_lease *l = opaque;
    int64_t period = (int64_t)l->b->ttl_s * S3BE_SEC / 4;
    struct s3 *s = NULL;
    int64_t next = mono_ns() + period;

    pthread_mutex_lock(&l->mu);
    while (!l->stop && !l->lost) {
        struct timespec ts = { (time_t)(next / S3BE_SEC),
                               (long)(next % S3BE_SEC) };
        struct error *err = NULL;

        if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) != ETIMEDOUT) {
            continue;
        }
        pthread_mutex_unlock(&l->mu);
        if (s == NULL) {
            s = pool_get(l->b, &err);
        }
        if (s == NULL || lease_write(l, s, NULL, &err) < 0) {
            log_warnx("chunk store: renewing lease s3://%s/%s: %s",
                      l->b->set.bucket, l->key, error_msg(err));
            error_free(err);
        }
        next = mono_ns() + period;
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    pool_put(l->b, s);
    return NULL;
}

/* Take a lease of KIND: PUT, start its renewer, add it to the held ones.
 * *NOW_NS is its Last-Modified.
 */
static struct s3be_lease *
lease_take(struct s3be *b, const char *kind, struct s3 *s, int64_t *now_ns,
           struct error **errp)
{
    struct s3be_lease *l = xcalloc(1, sizeof(*l));
    pthread_condattr_t ca;
    uint32_t rnd = 0;

    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        rnd = (uint32_t)mono_ns();
    }
    l->b = b;
    l->key = xasprintf("%s" S3BE_LEASE_DIR "%s-%d-%s-%08" PRIx32, b->prefix,
                       kind, b->ttl_s, b->holder, rnd);
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    l->ok_mono_ns = mono_ns();
    if (lease_write(l, s, now_ns, errp) < 0) {
        error_prepend(errp, "chunk store: taking a %s lease: ",
                      strcmp(kind, "gc") ? "writer" : "gc");
        goto fail;
    }
    if (pthread_create(&l->tid, NULL, lease_renewer, l) != 0) {
        error_setg(errp, ERR_IO, "chunk store: cannot start a lease thread");
        s3_delete(s, l->key, NULL);
        goto fail;
    }
    pthread_mutex_lock(&b->mu);
    l->next = b->leases;
    b->leases = l;
    pthread_mutex_unlock(&b->mu);
    return l;
fail:
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->key);
    free(l);
    return NULL;
}

/* Stop renewing L, delete its object, free it. */
static void
lease_drop(struct s3be_lease *l)
{
    struct s3be *b = l->b;
    struct s3be_lease **pp;
    struct error *err = NULL;
    struct s3 *s;

    pthread_mutex_lock(&b->mu);
    for (pp = &b->leases; *pp; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->tid, NULL);
    s = pool_get(b, &err);
    if (s == NULL || s3_delete(s, l->key, &err) < 0) {
        log_warnx("chunk store: deleting lease s3://%s/%s (it expires by "
                  "itself): %s", b->set.bucket, l->key, error_msg(err));
        error_free(err);
    }
    pool_put(b, s);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->key);
    free(l);
}

/* What lease_scan found. */
struct lease_scan {
    struct s3be *b;
    const char *own;              /* our lease's key, skipped */
    int64_t now_ns;               /* on the object clock */
    int gc;                       /* live gc leases of others */
    int writers;                  /* live writer leases */
    char *first;                  /* the first live one's key */
    int64_t first_age_s;          /* its age */
    char **dead;                  /* expired ones, to delete */
    size_t ndead;
};

static bool
lease_scan_one(const struct s3_object *o, void *opaque)
{
    struct lease_scan *ls = opaque;
    const char *name = o->key + strlen(ls->b->prefix) +
                       strlen(S3BE_LEASE_DIR);
    bool is_gc = !strncmp(name, "gc-", 3);
    const char *t = strchr(name, '-');
    long ttl = t ? strtol(t + 1, NULL, 10) : 0;

    if (!strcmp(o->key, ls->own)) {
        return true;
    }
    if (ttl <= 0 || ttl > 86400) {
        ttl = S3BE_TTL_DEFAULT;   /* not one of ours: judge it anyway */
    }
    if (o->mtime_ns + ttl * S3BE_SEC + S3BE_SLACK_NS <= ls->now_ns) {
        ls->dead = xreallocarray(ls->dead, ls->ndead + 1,
                                 sizeof(*ls->dead));
        ls->dead[ls->ndead++] = xstrdup(o->key);
        return true;
    }
    if (is_gc) {
        ls->gc++;
    } else {
        ls->writers++;
    }
    if (ls->first == NULL) {
        ls->first = xstrdup(o->key);
        ls->first_age_s = (ls->now_ns - o->mtime_ns) / S3BE_SEC;
    }
    return true;
}

/* List the leases other than OWN as seen at NOW_NS into *LS, deleting
 * the expired ones.  Returns 0, or -1.
 */
static int
lease_scan(struct s3be *b, struct s3 *s, const char *own, int64_t now_ns,
           struct lease_scan *ls, struct error **errp)
{
    CLEANUP_FREE char *p = xasprintf("%s" S3BE_LEASE_DIR, b->prefix);
    size_t i;
    int rc;

    memset(ls, 0, sizeof(*ls));
    ls->b = b;
    ls->own = own;
    ls->now_ns = now_ns;
    rc = s3_list_objects(s, p, 0, lease_scan_one, ls, errp);
    for (i = 0; i < ls->ndead; i++) {
        struct error *err = NULL;

        log_warnx("chunk store: lease s3://%s/%s expired (its holder died): "
                  "removed", b->set.bucket, ls->dead[i]);
        if (s3_delete(s, ls->dead[i], &err) < 0) {
            log_warnx("chunk store: %s", error_msg(err));
            error_free(err);
        }
        free(ls->dead[i]);
    }
    free(ls->dead);
    ls->dead = NULL;
    if (rc < 0) {
        free(ls->first);
        ls->first = NULL;
    }
    return rc;
}

/* Now on the object clock: the Last-Modified of lease L, written again. */
static int
lease_now(struct s3be_lease *l, struct s3 *s, int64_t *now_ns,
          struct error **errp)
{
    return lease_write(l, s, now_ns, errp);
}

static int
s3be_writer_begin(void *be, void **token, int64_t *start_ns,
                  struct error **errp)
{
    struct s3be *b = be;
    struct s3be_lease *l;
    struct lease_scan ls;
    int64_t start = 0, now, deadline;
    struct s3 *s = pool_get(b, errp);

    if (s == NULL) {
        return -1;
    }
    l = lease_take(b, "w", s, &start, errp);
    if (l == NULL) {
        pool_put(b, s);
        return -1;
    }
    now = start;
    deadline = mono_ns() + (int64_t)b->wait_s * S3BE_SEC;
    for (;;) {
        if (lease_scan(b, s, l->key, now, &ls, errp) < 0) {
            goto fail;
        }
        if (ls.gc == 0) {
            free(ls.first);
            break;
        }
        if (mono_ns() >= deadline) {
            error_setg(errp, ERR_CONFLICT,
                       "chunk store s3://%s/%s: a gc is running (lease %s); "
                       "waited %d s for it to end", b->set.bucket,
                       b->prefix, ls.first, b->wait_s);
            free(ls.first);
            goto fail;
        }
        log_debug("chunks", "waiting for gc lease %s", ls.first);
        free(ls.first);
        sleep(1);
        /* The clock moves on: read it again from our lease. */
        if (lease_now(l, s, &now, errp) < 0) {
            goto fail;
        }
    }
    pool_put(b, s);
    pthread_mutex_lock(&b->mu);
    b->writers++;
    pthread_mutex_unlock(&b->mu);
    *token = l;
    *start_ns = start - S3BE_SEC;
    return 0;
fail:
    pool_put(b, s);
    lease_drop(l);
    return -1;
}

/* With the last writer lease gone a gc may run: listings say nothing
 * from then on.
 */
static void
s3be_writer_end(void *be, void *token)
{
    struct s3be *b = be;

    if (token == NULL) {
        return;
    }
    pthread_mutex_lock(&b->mu);
    if (--b->writers == 0) {
        listed_clear(b->listed);
        b->listed_gen++;
        b->listed_pages = 0;
        b->listed_hits = 0;
        b->listed_full = false;
    }
    pthread_mutex_unlock(&b->mu);
    lease_drop(token);
}

static int
s3be_gc_begin(void *be, int64_t *now_ns, int64_t *oldest_ns,
              struct error **errp)
{
    struct s3be *b = be;
    struct s3be_lease *l;
    struct lease_scan ls;
    int64_t now = 0;
    struct s3 *s;

    pthread_mutex_lock(&b->mu);
    l = b->gc;
    pthread_mutex_unlock(&b->mu);
    if (l) {
        error_setg(errp, ERR_CONFLICT, "a gc of this chunk store handle "
                   "runs already");
        return -1;
    }
    s = pool_get(b, errp);
    if (s == NULL) {
        return -1;
    }
    l = lease_take(b, "gc", s, &now, errp);
    if (l == NULL) {
        pool_put(b, s);
        return -1;
    }
    if (lease_scan(b, s, l->key, now, &ls, errp) < 0) {
        goto fail;
    }
    if (ls.writers > 0 || ls.gc > 0) {
        error_setg(errp, ERR_CONFLICT,
                   "chunk store s3://%s/%s: %s holds lease %s (renewed %"
                   PRId64 " s ago); gc runs only when no backup writes to "
                   "the store: try again when it is done",
                   b->set.bucket, b->prefix,
                   ls.writers > 0 ? "a backup (or a deletion)" : "another gc",
                   ls.first, ls.first_age_s);
        free(ls.first);
        goto fail;
    }
    pool_put(b, s);
    pthread_mutex_lock(&b->mu);
    b->gc = l;
    pthread_mutex_unlock(&b->mu);
    /* Everything in the store was put before our lease (no writer runs
     * beside us): its time, rounded either way, is at most the lease's
     * plus a second, which makes "before now" hold for all of it (the
     * grace still keeps the recent); never a time before a write that
     * could still come.
     */
    *now_ns = now + S3BE_SEC;
    *oldest_ns = INT64_MAX;
    return 0;
fail:
    pool_put(b, s);
    lease_drop(l);
    return -1;
}

static void
s3be_gc_end(void *be)
{
    struct s3be *b = be;
    struct s3be_lease *l;

    pthread_mutex_lock(&b->mu);
    l = b->gc;
    b->gc = NULL;
    pthread_mutex_unlock(&b->mu);
    if (l) {
        lease_drop(l);
    }
}

static void
s3be_close(void *be)
{
    struct s3be *b = be;
    size_t i;

    s3be_gc_end(b);
    while (b->leases) {
        log_warnx("chunk store: a writer lease was still held at close");
        lease_drop(b->leases);
    }
    for (i = 0; i < b->npool; i++) {
        s3_close(b->pool[i]);
    }
    listed_free(b->listed);
    pthread_mutex_destroy(&b->mu);
    free((char *)b->set.endpoint);
    free((char *)b->set.bucket);
    free((char *)b->set.region);
    free((char *)b->set.credentials);
    free(b->prefix);
    free(b->holder);
    free(b);
}

static const struct chunk_backend_ops s3be_ops = {
    .version = CHUNK_BACKEND_VERSION,
    .name = "s3",
    .put = s3be_put,
    .put_start = s3be_put_start,
    .put_finish = s3be_put_finish,
    .put_cancel = s3be_put_cancel,
    .get = s3be_get,
    .touch = s3be_touch,
    .exists = s3be_head,
    .exists_sorted = s3be_exists_sorted,
    .list = s3be_list,
    .remove_unless_since = s3be_remove_unless_since,
    .sync = s3be_sync,
    .writer_begin = s3be_writer_begin,
    .writer_end = s3be_writer_end,
    .gc_begin = s3be_gc_begin,
    .close = s3be_close,
    .gc_end = s3be_gc_end,
};

/* HOST made fit for a key: [A-Za-z0-9.] kept, others '_'. */
static char *
holder_name(const char *host)
{
    char *h = xasprintf("%s_%ld", host && *host ? host : "host",
                        (long)getpid());
    char *p;

    for (p = h; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '.' || *p == '_')) {
            *p = '_';
        }
    }
    return h;
}

struct chunk_backend *
chunk_backend_s3_open(const struct chunk_backend_s3_settings *set,
                      bool create, struct error **errp)
{
    size_t plen = set->prefix ? strlen(set->prefix) : 0;
    CLEANUP_FREE char *dir =
        plen > 1 ? xstrndup(set->prefix, plen - 1) : NULL;
    struct chunk_backend *be;
    struct s3be *b;
    struct s3 *s;
    int rc;

    if (dir == NULL || set->prefix[plen - 1] != '/' ||
        !chunk_key_valid(dir)) {
        error_setg(errp, ERR_INVALID,
                   "bad chunk store prefix '%s' (a key ending in '/')",
                   set->prefix ? set->prefix : "");
        return NULL;
    }
    b = xcalloc(1, sizeof(*b));
    b->set = set->s3;
    b->set.endpoint = xstrdup(set->s3.endpoint ? set->s3.endpoint : "");
    b->set.bucket = xstrdup(set->s3.bucket ? set->s3.bucket : "");
    b->set.region = xstrdup(set->s3.region ? set->s3.region : "");
    b->set.credentials =
        xstrdup(set->s3.credentials ? set->s3.credentials : "");
    b->prefix = xstrdup(set->prefix);
    b->holder = holder_name(set->holder);
    b->ttl_s = set->lease_ttl_s > 0 ? set->lease_ttl_s : S3BE_TTL_DEFAULT;
    if (b->ttl_s < 2) {
        b->ttl_s = 2;
    }
    b->wait_s = 5 * b->ttl_s;
    pthread_mutex_init(&b->mu, NULL);
    b->listed = listed_new(S3BE_LISTED_MAX);
    s = pool_get(b, errp);
    if (s == NULL) {
        s3be_close(b);
        return NULL;
    }
    rc = s3_bucket_exists(s, errp);
    if (rc == 0 && create) {
        rc = s3_bucket_create(s, errp) < 0 ? -1 : 1;
    } else if (rc == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no bucket %s for the chunk store",
                   b->set.bucket);
        rc = -1;
    }
    pool_put(b, s);
    if (rc < 0) {
        s3be_close(b);
        return NULL;
    }
    be = xmalloc(sizeof(*be));
    be->ops = &s3be_ops;
    be->priv = b;
    return be;
}
