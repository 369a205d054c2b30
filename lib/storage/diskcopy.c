/* vmsnap: the copy path (see diskcopy.h).
 *
 * A copy runs in three steps:
 *   1. map: the source's extents are read into two bitmaps over UNITS of
 *      the target's granularity (a 64 KiB cluster for qcow2, a chunk for
 *      the store): "data" (some byte of the unit is not known to be
 *      zero) and, with a bitmap, "dirty";
 *   2. plan: a unit is read when it holds data and (incremental) is
 *      dirty; a dirty unit without data becomes zeros in the index;
 *      consecutive units to read are merged into requests of at most
 *      DC_REQ bytes;
 *   3. copy: requests are sent in order, up to INFLIGHT at once, and
 *      handed to the target in order as they complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

#include "cleanup.h"
#include "datadir.h"
#include "diskcopy.h"
#include "log.h"
#include "run.h"
#include "sock.h"
#include "xalloc.h"

#define DC_REQ (1u << 20)          /* bytes per read request, at most */
#define DC_INFLIGHT 8              /* requests in flight by default */
#define DC_INFLIGHT_MAX 64
#define DC_STATUS_SPAN (UINT64_C(1) << 30) /* block status per call */
#define DC_STALL_MS 120000         /* an NBD server silent this long hung */

struct diskcopy_source {
    struct nbd_handle *nbd;      /* NBD: the connection */
    char *tmpdir;                /* file: qemu-nbd's socket directory */
    int tmpfd;                   /* file: its lock (datadir), or -1 */
    char *bitmap_ctx;            /* NBD: "qemu:dirty-bitmap:NAME" or NULL */
    bool hung;                   /* NBD: the server stopped answering */
    struct chunk_reader *chunks; /* chunk index, borrowed */
    int64_t size;                /* virtual size */
};

/* One request of the copy. */
struct dc_req {
    int64_t offset;       /* where it reads */
    size_t len;           /* how much */
    unsigned char *buf;   /* DC_REQ bytes (or one unit, if larger) */
    int64_t cookie;       /* NBD: its cookie */
};

/* The state of one copy. */
struct dc {
    struct diskcopy_source *src;
    struct diskcopy_target *t;
    const struct diskcopy_opts *o;
    uint32_t unit;             /* bytes per unit */
    uint64_t nunits;           /* units of the disk */
    uint64_t *data;            /* bit per unit: holds data */
    uint64_t *dirty;           /* bit per unit: dirty (incremental) */
    bool incremental;          /* read only dirty units */
    struct qcow2s *q;          /* QCOW2 target */
    int fd;                    /* its file */
    bool made;                 /* we created the file */
    struct chunk_writer *w;    /* CHUNKS target */
    int64_t to_read;           /* bytes planned */
    int64_t done;              /* bytes delivered */
    struct pacer *pacer;       /* the rate limit and the guest's need */
    int stall_ms;              /* how long the NBD server may be silent */
    struct error *cb_err;      /* an error inside a libnbd callback */
};

static bool
bit_get(const uint64_t *m, uint64_t i)
{
    return (m[i / 64] >> (i % 64) & 1) != 0;
}

static void
bit_set_range(uint64_t *m, uint64_t from, uint64_t to)
{
    uint64_t i;

    for (i = from; i < to; i++) {
        m[i / 64] |= UINT64_C(1) << (i % 64);
    }
}

/* The libnbd error of the last call on H (NULL before there is one), as
 * an error of ours.  A server that closed the connection is said so:
 * libnbd's words for it depend on which call noticed first, and QEMU
 * closes it when a read of its own fails.
 */
static void
dc_nbd_error(struct nbd_handle *h, struct error **errp, const char *what)
{
    int e = nbd_get_errno();
    const char *msg = nbd_get_error();

    if ((h != NULL && nbd_aio_is_dead(h) > 0) || e == ENOTCONN ||
        e == ECONNRESET || e == EPIPE) {
        error_setg(errp, ERR_IO, "%s: the NBD server closed the connection "
                   "(%s)", what, msg ? msg : "no reason given");
        return;
    }
    error_setg(errp, e == ETIMEDOUT ? ERR_TIMEOUT : ERR_IO, "%s: %s", what,
               msg ? msg : "unknown error");
}

/* Run SRC's connection until command COOKIE completes (-1: until the
 * handshake is done), for WHAT.  A server that sends nothing for STALL_MS
 * fails it with ERR_TIMEOUT and marks the source hung: a hung QEMU or
 * qemu-nbd must not hang the copy (libnbd's own calls would wait for
 * ever).
 */
static int
dc_wait(struct diskcopy_source *src, int64_t cookie, int stall_ms,
        const char *what, struct error **errp)
{
    for (;;) {
        int r;

        if (cookie >= 0) {
            r = nbd_aio_command_completed(src->nbd, (uint64_t)cookie);
            if (r == 1) {
                return 0;
            }
            if (r < 0) {
                dc_nbd_error(src->nbd, errp, what);
                return -1;
            }
        } else if (nbd_aio_is_ready(src->nbd) == 1) {
            return 0;
        }
        if (nbd_aio_is_dead(src->nbd) == 1 ||
            nbd_aio_is_closed(src->nbd) == 1) {
            dc_nbd_error(src->nbd, errp, what);
            return -1;
        }
        r = nbd_poll(src->nbd, stall_ms);
        if (r < 0) {
            dc_nbd_error(src->nbd, errp, what);
            return -1;
        }
        if (r == 0) {
            src->hung = true;
            error_setg(errp, ERR_TIMEOUT,
                       "%s: the NBD server sent nothing for %d s: it hangs",
                       what, stall_ms / 1000);
            return -1;
        }
    }
}

struct diskcopy_source *
diskcopy_source_nbd(const char *sock, const char *export, const char *bitmap,
                    struct error **errp)
{
    struct diskcopy_source *s = xcalloc(1, sizeof(*s));

    s->nbd = nbd_create();
    if (s->nbd == NULL) {
        dc_nbd_error(NULL, errp, "NBD");
        free(s);
        return NULL;
    }
    if (bitmap) {
        s->bitmap_ctx = xasprintf("qemu:dirty-bitmap:%s", bitmap);
    }
    if (nbd_set_export_name(s->nbd, export) < 0 ||
        nbd_add_meta_context(s->nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0 ||
        (s->bitmap_ctx &&
         nbd_add_meta_context(s->nbd, s->bitmap_ctx) < 0)) {
        dc_nbd_error(s->nbd, errp, "NBD");
        goto fail;
    }
    if (nbd_aio_connect_unix(s->nbd, sock) < 0 ||
        dc_wait(s, -1, DC_STALL_MS, "NBD export", errp) < 0) {
        if (errp && *errp == NULL) {
            dc_nbd_error(s->nbd, errp, "NBD export");
        }
        error_prepend(errp, "%s on %s: ", export, sock);
        goto fail;
    }
    s->size = nbd_get_size(s->nbd);
    if (s->size < 0) {
        dc_nbd_error(s->nbd, errp, "NBD export size");
        goto fail;
    }
    if (s->bitmap_ctx && nbd_can_meta_context(s->nbd, s->bitmap_ctx) != 1) {
        error_setg(errp, ERR_NOT_FOUND,
                   "the NBD export %s offers no dirty bitmap %s", export,
                   bitmap);
        goto fail;
    }
    return s;
fail:
    diskcopy_source_close(s);
    return NULL;
}

/* What a socket's path adds to the data directory's: "/tmp/nbd-", a
 * UUID, "/nbd.sock".
 */
#define DC_SOCK_SUFFIX_LEN (9 + 36 + 9)

/* A private directory for qemu-nbd's socket (caller frees), or NULL.  It
 * is made under the data directory DATADIR's tmp/ and locked (*LOCKFD,
 * caller closes after removing it), so that the recovery after a process
 * killed mid-copy removes it (datadir_reap_tmp); in /tmp, unlocked
 * (*LOCKFD -1), without DATADIR or where the socket's path would not fit
 * a socket address.
 */
static char *
dc_socket_dir(const char *datadir, int *lockfd, struct error **errp)
{
    struct sockaddr_un sun;
    char tmpl[] = "/tmp/vmsnap-nbd.XXXXXX";
    char *dir = NULL;

    *lockfd = -1;
    if (datadir &&
        strlen(datadir) + DC_SOCK_SUFFIX_LEN < sizeof(sun.sun_path)) {
        *lockfd = datadir_make_tmp_dir(datadir, "nbd", &dir, errp);
        return *lockfd < 0 ? NULL : dir;
    }
    if (mkdtemp(tmpl) == NULL) {
        error_setg_errno(errp, ERR_IO, errno, "create %s", tmpl);
        return NULL;
    }
    return xstrdup(tmpl);
}

struct diskcopy_source *
diskcopy_source_file(const char *path, const char *format,
                     const char *datadir, struct error **errp)
{
    CLEANUP_FREE char *dir = NULL;
    CLEANUP_FREE char *sock = NULL;
    CLEANUP_FREE char *fmt = xasprintf("--format=%s", format);
    CLEANUP_FREE char *sarg = NULL;
    CLEANUP_CLOSE int lockfd = -1;
    struct diskcopy_source *s = NULL;
    const char *argv[10];
    static const char *const env[] = {RUN_ENV_NBD_MALLOC, NULL};
    const struct run_opts nbd_run = {.timeout_ms = 60000, .env = env};
    int n = 0;

    dir = dc_socket_dir(datadir, &lockfd, errp);
    if (dir == NULL) {
        return NULL;
    }
    sock = xasprintf("%s/nbd.sock", dir);
    sarg = xasprintf("--socket=%s", sock);
    /* --fork: it returns once it listens; without --persistent it exits
     * when our one connection ends.
     */
    argv[n++] = "qemu-nbd";
    argv[n++] = "--fork";
    argv[n++] = "--read-only";
    argv[n++] = fmt;
    argv[n++] = sarg;
    argv[n++] = "--export-name=disk";
    argv[n++] = "--";
    argv[n++] = path;
    argv[n] = NULL;
    if (run_check_opts(argv, &nbd_run, NULL, errp) == 0) {
        s = diskcopy_source_nbd(sock, "disk", NULL, errp);
    }
    if (s == NULL) {
        unlink(sock);
        rmdir(dir);
        return NULL;
    }
    s->tmpdir = steal_pointer(&dir);
    s->tmpfd = steal_fd(&lockfd);
    return s;
}

struct diskcopy_source *
diskcopy_source_chunks(struct chunk_reader *r)
{
    struct diskcopy_source *s = xcalloc(1, sizeof(*s));

    s->chunks = r;
    s->size = chunk_reader_size(r);
    return s;
}

int64_t
diskcopy_source_size(const struct diskcopy_source *src)
{
    return src->size;
}

void
diskcopy_source_close(struct diskcopy_source *src)
{
    if (src == NULL) {
        return;
    }
    if (src->nbd) {
        if (!src->hung) {
            nbd_shutdown(src->nbd, 0); /* waits for the server */
        }
        nbd_close(src->nbd);
    }
    if (src->tmpdir) {
        CLEANUP_FREE char *sock = xasprintf("%s/nbd.sock", src->tmpdir);

        unlink(sock);
        rmdir(src->tmpdir);
        free(src->tmpdir);
        if (src->tmpfd >= 0) {
            close(src->tmpfd);
        }
    }
    free(src->bitmap_ctx);
    free(src);
}

/* ---- 1. map ------------------------------------------------------------ */

/* Mark the units [OFF, OFF + LEN) touches in M. */
static void
dc_mark(struct dc *c, uint64_t *m, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;

    if (len == 0 || off >= (uint64_t)c->src->size) {
        return;
    }
    if (end > (uint64_t)c->src->size) {
        end = (uint64_t)c->src->size;
    }
    bit_set_range(m, off / c->unit, (end + c->unit - 1) / c->unit);
}

/* What one block status call told, per context. */
struct dc_status {
    struct dc *c;
    uint64_t alloc_end;  /* base:allocation covered up to here */
    uint64_t bitmap_end; /* the bitmap, up to here */
};

static int
dc_extent(void *opaque, const char *ctx, uint64_t offset, uint32_t *e,
          size_t n, int *error)
{
    struct dc_status *st = opaque;
    struct dc *c = st->c;
    bool alloc = strcmp(ctx, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0;
    size_t i;

    if (!alloc && (c->src->bitmap_ctx == NULL ||
                   strcmp(ctx, c->src->bitmap_ctx) != 0)) {
        return 0;
    }
    for (i = 0; i + 1 < n; i += 2) {
        uint32_t len = e[i], flags = e[i + 1];

        if (alloc && !(flags & LIBNBD_STATE_ZERO)) {
            dc_mark(c, c->data, offset, len);
        } else if (!alloc && (flags & 1)) {
            dc_mark(c, c->dirty, offset, len);
        }
        offset += len;
    }
    if (alloc) {
        st->alloc_end = offset;
    } else {
        st->bitmap_end = offset;
    }
    return 0;
}

static int
dc_map_nbd(struct dc *c, struct error **errp)
{
    uint64_t off = 0, size = (uint64_t)c->src->size;

    while (off < size) {
        struct dc_status st = {.c = c, .alloc_end = off,
                               .bitmap_end = off};
        uint64_t span = size - off, end;
        int64_t cookie;

        if (span > DC_STATUS_SPAN) {
            span = DC_STATUS_SPAN;
        }
        cookie = nbd_aio_block_status(
            c->src->nbd, span, off,
            (nbd_extent_callback){.callback = dc_extent, .user_data = &st},
            NBD_NULL_COMPLETION, 0);
        if (cookie < 0) {
            dc_nbd_error(c->src->nbd, errp, "NBD block status");
            return -1;
        }
        if (dc_wait(c->src, cookie, c->stall_ms, "NBD block status",
                    errp) < 0) {
            return -1;
        }
        end = st.alloc_end;
        if (c->src->bitmap_ctx && st.bitmap_end < end) {
            end = st.bitmap_end;
        }
        if (end <= off) {
            error_setg(errp, ERR_PROTOCOL,
                       "the NBD server's block status makes no progress at "
                       "offset %llu",
                       (unsigned long long)off);
            return -1;
        }
        off = end;
    }
    return 0;
}

static int
dc_chunk_extent(int64_t offset, int64_t len, void *opaque)
{
    struct dc *c = opaque;

    dc_mark(c, c->data, (uint64_t)offset, (uint64_t)len);
    return 0;
}

/* ---- 3. copy ----------------------------------------------------------- */

/* Hand the data of request R to the target. */
static int
dc_deliver(struct dc *c, const struct dc_req *r, struct error **errp)
{
    if (c->q) {
        size_t off;

        for (off = 0; off < r->len; off += QCOW2S_CLUSTER_SIZE) {
            uint64_t idx = (uint64_t)(r->offset + (int64_t)off) /
                           QCOW2S_CLUSTER_SIZE;

            if (qcow2s_put_cluster(c->q, idx, r->buf + off, errp) < 0) {
                return -1;
            }
        }
        file_follow_wrote(c->t->follow, qcow2s_written(c->q));
        return 0;
    }
    return chunk_writer_write(c->w, r->buf, r->len, r->offset, errp);
}

/* Sleep as long as the rate limit or the guest's need asks (pacer.h). */
static void
dc_throttle(struct dc *c)
{
    int ms = pacer_wait_ms(c->pacer, c->done, sock_now_ms());

    if (ms > 0) {
        sock_sleep_ms(ms, SOCK_NO_DEADLINE);
    }
}

static void
dc_progress(struct dc *c)
{
    double from = c->o->progress_from, to = c->o->progress_to;

    if (from == 0 && to == 0) {
        to = 100;
    }
    if (c->to_read > 0) {
        progress_report(c->o->progress, "copy",
                        from + (to - from) * (double)c->done /
                                   (double)c->to_read);
    }
}

/* Start reading R (NBD: a request in flight; chunks: nothing yet). */
static int
dc_start(struct dc *c, struct dc_req *r, struct error **errp)
{
    c->t->requests++;
    if (c->src->nbd == NULL) {
        return 0;
    }
    r->cookie = nbd_aio_pread(c->src->nbd, r->buf, r->len,
                              (uint64_t)r->offset, NBD_NULL_COMPLETION, 0);
    if (r->cookie < 0) {
        dc_nbd_error(c->src->nbd, errp, "NBD read");
        return -1;
    }
    return 0;
}

/* Wait until R is read. */
static int
dc_finish(struct dc *c, struct dc_req *r, struct error **errp)
{
    if (c->src->nbd == NULL) {
        return chunk_reader_read(c->src->chunks, r->buf, r->len, r->offset,
                                 errp);
    }
    if (dc_wait(c->src, r->cookie, c->stall_ms, "NBD read", errp) < 0) {
        error_prepend(errp, "at offset %lld: ", (long long)r->offset);
        return -1;
    }
    return 0;
}

/* Is unit I to be read? */
static bool
dc_wanted(const struct dc *c, uint64_t i)
{
    return bit_get(c->data, i) && (!c->incremental || bit_get(c->dirty, i));
}

/* The next request from unit *NEXT on (*NEXT moves past it); false when
 * there is none left.
 */
static bool
dc_next_req(struct dc *c, uint64_t *next, struct dc_req *r)
{
    uint64_t i = *next, j, per = DC_REQ / c->unit;

    if (per == 0) {
        per = 1;
    }
    while (i < c->nunits && !dc_wanted(c, i)) {
        i++;
    }
    if (i == c->nunits) {
        *next = i;
        return false;
    }
    for (j = i + 1; j < c->nunits && j - i < per && dc_wanted(c, j); j++) {
    }
    r->offset = (int64_t)(i * c->unit);
    r->len = (size_t)((j - i) * c->unit);
    if (r->offset + (int64_t)r->len > c->src->size) {
        r->len = (size_t)(c->src->size - r->offset);
    }
    *next = j;
    return true;
}

static int
dc_copy(struct dc *c, struct error **errp)
{
    int n = c->o->inflight > 0 ? c->o->inflight : DC_INFLIGHT;
    size_t slot = c->unit > DC_REQ ? c->unit : DC_REQ;
    struct dc_req *ring, *q;
    uint64_t next = 0;
    int head = 0, count = 0, i, r = -1;
    bool more = true;

    if (n > DC_INFLIGHT_MAX) {
        n = DC_INFLIGHT_MAX;
    }
    if (c->src->nbd == NULL) {
        n = 1;
    }
    ring = xcalloc((size_t)n, sizeof(*ring));
    for (i = 0; i < n; i++) {
        ring[i].buf = xmalloc(slot);
    }
    c->pacer = pacer_new(c->o->rate_limit, c->o->yield_pct, c->o->guest,
                         sock_now_ms());
    for (;;) {
        while (more && count < n) {
            q = &ring[(head + count) % n];
            more = dc_next_req(c, &next, q);
            if (!more) {
                break;
            }
            if (dc_start(c, q, errp) < 0) {
                goto out;
            }
            count++;
        }
        if (count == 0) {
            break;
        }
        /* Out of the ring before it is delivered: once dc_finish has
         * returned, the request is no longer libnbd's (asking for it
         * again would wait for ever), and its buffer stays ours until
         * the ring is refilled.
         */
        q = &ring[head];
        head = (head + 1) % n;
        count--;
        if (dc_finish(c, q, errp) < 0 || dc_deliver(c, q, errp) < 0) {
            goto out;
        }
        c->done += (int64_t)q->len;
        c->t->bytes_read += (int64_t)q->len;
        if (c->o->fail_after > 0 && c->done >= c->o->fail_after) {
            error_setg(errp, ERR_IO, "the copy was broken on purpose "
                                     "(test hook)");
            goto out;
        }
        dc_progress(c);
        dc_throttle(c);
    }
    r = 0;
out:
    /* Requests still in flight would land in buffers freed below:
     * wait for them first, whatever their outcome.
     */
    while (r < 0 && count > 0 && c->src->nbd && !c->src->hung) {
        dc_finish(c, &ring[head], NULL);
        head = (head + 1) % n;
        count--;
    }
    for (i = 0; i < n; i++) {
        free(ring[i].buf);
    }
    free(ring);
    c->t->yielded_ms = pacer_yielded_ms(c->pacer);
    pacer_free(c->pacer);
    c->pacer = NULL;
    return r;
}

/* Dirty units without data become zeros in the index. */
static int
dc_zero_dirty(struct dc *c, struct error **errp)
{
    uint64_t i, j;

    for (i = 0; i < c->nunits; i = j) {
        int64_t off, len;

        if (!bit_get(c->dirty, i) || bit_get(c->data, i)) {
            j = i + 1;
            continue;
        }
        for (j = i + 1; j < c->nunits && bit_get(c->dirty, j) &&
                        !bit_get(c->data, j);
             j++) {
        }
        off = (int64_t)(i * c->unit);
        len = (int64_t)((j - i) * c->unit);
        if (off + len > c->src->size) {
            len = c->src->size - off;
        }
        if (chunk_writer_zero(c->w, off, len, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- the run ----------------------------------------------------------- */

static int
dc_open_target(struct dc *c, struct error **errp)
{
    struct diskcopy_target *t = c->t;
    uint64_t i;

    if (t->kind == DISKCOPY_QCOW2) {
        c->fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                     0600);
        if (c->fd < 0) {
            error_setg_errno(errp, ERR_IO, errno, "%s", t->path);
            return -1;
        }
        c->made = true;
        c->q = qcow2s_new(c->src->size, c->fd, errp);
        if (c->q == NULL) {
            return -1;
        }
        for (i = 0; i < c->nunits; i++) {
            if (bit_get(c->data, i)) {
                qcow2s_mark(c->q, i);
            }
        }
        if (qcow2s_begin(c->q, errp) < 0) {
            return -1;
        }
        file_follow_size(t->follow, qcow2s_planned_size(c->q));
        file_follow_wrote(t->follow, qcow2s_written(c->q));
        return 0;
    }
    return chunk_writer_open(t->store, t->index, c->src->size, t->parent,
                             NULL, &c->w, errp);
}

static int
dc_close_target(struct dc *c, struct error **errp)
{
    struct diskcopy_target *t = c->t;

    if (c->q) {
        if (qcow2s_finish(c->q, &t->qcow2, errp) < 0) {
            return -1;
        }
        /* Whole: a sender may finish while the file is synced. */
        file_follow_done(t->follow, t->qcow2.md5);
        if (c->o->sync && fdatasync(c->fd) < 0) {
            error_setg_errno(errp, ERR_IO, errno, "%s", t->path);
            return -1;
        }
        if (close(c->fd) < 0) {
            c->fd = -1;
            error_setg_errno(errp, ERR_IO, errno, "%s", t->path);
            return -1;
        }
        c->fd = -1;
        return 0;
    }
    if (t->before_commit) {
        t->before_commit(t->before_commit_opaque);
    }
    if (chunk_writer_commit(c->w, &t->info, errp) < 0) {
        return -1;
    }
    chunk_writer_stats(c->w, &t->stats);
    return 0;
}

/* Run the calling thread at nice value NICE (0: leave it) and return
 * the value to give back to dc_nice_end.  Linux keeps a nice value per
 * thread, and a new thread starts with its creator's: the digest and
 * compression threads the target starts share it.  The guest's QEMU
 * then gets the cores first when both want them, so the copy slows
 * down rather than the guest (issue 15).  Failing to change it only
 * costs that; it is logged.
 */
static int
dc_nice_begin(int nice)
{
    int old;

    if (nice == 0) {
        return INT_MIN;
    }
    errno = 0;
    old = getpriority(PRIO_PROCESS, 0);
    if (old == -1 && errno != 0) {
        return INT_MIN;
    }
    if (setpriority(PRIO_PROCESS, 0, nice) < 0) {
        log_debug("copy", "cannot set the copy's nice value %d: %s", nice,
                  strerror(errno));
        return INT_MIN;
    }
    return old;
}

/* Give the calling thread back the nice value OLD (lowering it needs
 * CAP_SYS_NICE, which a root vmsnap has).
 */
static void
dc_nice_end(int old)
{
    if (old != INT_MIN && setpriority(PRIO_PROCESS, 0, old) < 0) {
        log_debug("copy", "cannot restore the nice value %d: %s", old,
                  strerror(errno));
    }
}

int
diskcopy_run(struct diskcopy_source *src, struct diskcopy_target *t,
             const struct diskcopy_opts *opts, struct error **errp)
{
    static const struct diskcopy_opts defaults;
    struct dc c = {.src = src, .t = t, .o = opts ? opts : &defaults,
                   .fd = -1};
    uint64_t words, i;
    int nice = INT_MIN, r = -1;

    t->virtual_size = src->size;
    t->bytes_read = t->bytes_dirty = t->requests = t->yielded_ms = 0;
    c.stall_ms = c.o->stall_ms > 0 ? c.o->stall_ms : DC_STALL_MS;
    if (t->kind == DISKCOPY_QCOW2) {
        c.unit = QCOW2S_CLUSTER_SIZE;
    } else {
        c.unit = chunk_store_chunk_size(t->store);
        c.incremental = t->parent != NULL;
        if (c.incremental && src->bitmap_ctx == NULL) {
            error_setg(errp, ERR_INVALID,
                       "an incremental copy needs a dirty bitmap");
            return -1;
        }
    }
    c.nunits = ((uint64_t)src->size + c.unit - 1) / c.unit;
    words = (c.nunits + 63) / 64 + 1;
    c.data = xcalloc(words, sizeof(uint64_t));
    c.dirty = xcalloc(words, sizeof(uint64_t));
    if (src->nbd) {
        if (dc_map_nbd(&c, errp) < 0) {
            goto out;
        }
    } else if (chunk_reader_extents(src->chunks, dc_chunk_extent, &c,
                                    errp) < 0) {
        goto out;
    }
    for (i = 0; i < c.nunits; i++) {
        if (dc_wanted(&c, i)) {
            c.to_read += c.unit;
        }
        if (c.incremental && bit_get(c.dirty, i)) {
            t->bytes_dirty += c.unit;
        }
    }
    log_debug("copy", "%lld bytes to read of %lld (%s)",
              (long long)c.to_read, (long long)src->size,
              c.incremental ? "incremental" : "full");
    nice = dc_nice_begin(c.o->nice);
    if (dc_open_target(&c, errp) < 0 ||
        (c.incremental && dc_zero_dirty(&c, errp) < 0) ||
        dc_copy(&c, errp) < 0 || dc_close_target(&c, errp) < 0) {
        goto out;
    }
    r = 0;
out:
    dc_nice_end(nice);
    if (c.fd >= 0) {
        close(c.fd);
    }
    if (r < 0 && t->kind == DISKCOPY_QCOW2) {
        file_follow_fail(t->follow, errp && *errp ? error_msg(*errp)
                                                  : "the copy failed");
    }
    if (r < 0 && c.made) {
        unlink(t->path);
    }
    qcow2s_free(c.q);
    chunk_writer_free(c.w);
    free(c.data);
    free(c.dirty);
    return r;
}
