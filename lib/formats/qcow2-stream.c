/* vmsnap: a compact qcow2 image written in one sequential pass (see
 * qcow2-stream.h).  Layout, in clusters of 64 KiB:
 *
 *   0                      header (104 bytes, then zeros: no extensions)
 *   1 .. rtc               refcount table (offsets of refcount blocks)
 *   .. rbc                 refcount blocks (16-bit refcounts, all 1)
 *   .. l1c                 L1 table
 *   .. nl2                 one L2 table per L1 entry that maps data
 *   .. ndata               the data clusters, in guest order
 *
 * Every integer of the format is big-endian (QEMU docs/interop/qcow2.txt).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "hashpipe.h"
#include "qcow2-stream.h"
#include "xalloc.h"

#define CS QCOW2S_CLUSTER_SIZE
#define L2_ENTRIES (CS / 8)           /* entries per L2 table */
#define RB_ENTRIES (CS / 2)           /* 16-bit refcounts per block */
#define OFLAG_COPIED (UINT64_C(1) << 63)
#define QCOW2S_BUF (1u << 20)         /* bytes buffered before a write */

struct qcow2s {
    int fd;                  /* output, borrowed */
    int64_t vsize;           /* virtual size */
    uint64_t nclusters;      /* guest clusters */
    uint64_t *map;           /* bit per guest cluster: holds data */
    uint64_t ndata;          /* marked clusters */
    uint64_t l1_size;        /* L1 entries */
    uint64_t data_start;     /* host cluster of the first data cluster */
    uint64_t next_data;      /* host cluster the next data goes to */
    uint64_t last_idx;       /* the last guest cluster written + 1 */
    uint64_t written;        /* data clusters written */
    bool begun;              /* metadata written */
    bool failed;             /* a write failed: only free is left */
    struct hash_pipe *hash;  /* MD5 and SHA-512 of the bytes written,
                              * computed while the next buffer fills */
    unsigned char *bufs[2];  /* QCOW2S_BUF bytes each: one fills while
                              * the other is hashed */
    unsigned char *buf;      /* the one filling: bytes not written yet */
    size_t buffered;         /* bytes in buf */
    int64_t file_size;       /* bytes emitted */
    struct fileio_wb wb;     /* its write-behind */
    int64_t planned;         /* the file's size once whole */
};

static void
put_be64(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint64_t
div_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

struct qcow2s *
qcow2s_new(int64_t virtual_size, int fd, struct error **errp)
{
    struct qcow2s *w;

    if (virtual_size <= 0 || virtual_size > QCOW2S_MAX_SIZE) {
        error_setg(errp, ERR_INVALID,
                   "a qcow2 image of %lld bytes is not supported",
                   (long long)virtual_size);
        return NULL;
    }
    w = xcalloc(1, sizeof(*w));
    w->fd = fd;
    w->vsize = virtual_size;
    w->nclusters = div_up((uint64_t)virtual_size, CS);
    w->map = xcalloc(div_up(w->nclusters, 64), sizeof(uint64_t));
    w->l1_size = div_up(w->nclusters, L2_ENTRIES);
    return w;
}

uint64_t
qcow2s_clusters(const struct qcow2s *w)
{
    return w->nclusters;
}

void
qcow2s_mark(struct qcow2s *w, uint64_t idx)
{
    if (idx < w->nclusters && !w->begun && !qcow2s_marked(w, idx)) {
        w->map[idx / 64] |= UINT64_C(1) << (idx % 64);
        w->ndata++;
    }
}

bool
qcow2s_marked(const struct qcow2s *w, uint64_t idx)
{
    return idx < w->nclusters &&
           (w->map[idx / 64] >> (idx % 64) & 1) != 0;
}

/* Hand what is buffered to the digests and write it; the other buffer
 * (its digests done: hash_pipe_feed waited for them) fills next.
 */
static int
qcow2s_flush(struct qcow2s *w, struct error **errp)
{
    size_t off = 0;

    if (w->buffered == 0) {
        return 0;
    }
    if (hash_pipe_feed(w->hash, w->buf, w->buffered, errp) < 0) {
        w->failed = true;
        return -1;
    }
    while (off < w->buffered) {
        ssize_t n = write(w->fd, w->buf + off, w->buffered - off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            w->failed = true;
            error_setg_errno(errp, ERR_IO, n < 0 ? errno : EIO,
                             "writing the qcow2 image");
            return -1;
        }
        off += (size_t)n;
    }
    w->buf = w->buf == w->bufs[0] ? w->bufs[1] : w->bufs[0];
    w->buffered = 0;
    fileio_write_behind(w->fd, &w->wb, qcow2s_written(w));
    return 0;
}

/* Emit LEN bytes (NULL: zeros): buffer them (hashed when written). */
static int
qcow2s_emit(struct qcow2s *w, const void *data, size_t len,
            struct error **errp)
{
    const unsigned char *p = data;

    while (len > 0) {
        size_t n = QCOW2S_BUF - w->buffered;

        if (n > len) {
            n = len;
        }
        if (p) {
            memcpy(w->buf + w->buffered, p, n);
            p += n;
        } else {
            memset(w->buf + w->buffered, 0, n);
        }
        w->buffered += n;
        w->file_size += (int64_t)n;
        len -= n;
        if (w->buffered == QCOW2S_BUF && qcow2s_flush(w, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Does L1 entry I map any data cluster? */
static bool
qcow2s_l2_used(const struct qcow2s *w, uint64_t i)
{
    uint64_t first = i * L2_ENTRIES, end = first + L2_ENTRIES, j;

    if (end > w->nclusters) {
        end = w->nclusters;
    }
    /* L2_ENTRIES is a multiple of 64: whole words of the map. */
    for (j = first / 64; j < div_up(end, 64); j++) {
        if (w->map[j]) {
            return true;
        }
    }
    return false;
}

int
qcow2s_begin(struct qcow2s *w, struct error **errp)
{
    unsigned char *c = xcalloc(1, CS);
    static const char *const algs[] = {"md5", "sha512"};
    uint64_t nl2 = 0, l1c, rbc = 0, rtc = 1, total, i, j, l2_host, rb0;
    int r = -1;

    w->hash = hash_pipe_new(2, algs, errp);
    if (w->hash == NULL) {
        goto out;
    }
    w->bufs[0] = xmalloc(QCOW2S_BUF);
    w->bufs[1] = xmalloc(QCOW2S_BUF);
    w->buf = w->bufs[0];
    w->begun = true;
    for (i = 0; i < w->l1_size; i++) {
        nl2 += qcow2s_l2_used(w, i);
    }
    l1c = div_up(w->l1_size * 8, CS);
    /* The refcount blocks count themselves and the table: iterate until
     * the sizes stop moving (twice at most in practice).
     */
    for (;;) {
        uint64_t nrbc, nrtc;

        total = 1 + rtc + rbc + l1c + nl2 + w->ndata;
        nrbc = div_up(total, RB_ENTRIES);
        nrtc = div_up(nrbc * 8, CS);
        if (nrbc == rbc && nrtc == rtc) {
            break;
        }
        rbc = nrbc;
        rtc = nrtc;
    }
    rb0 = 1 + rtc;
    l2_host = rb0 + rbc + l1c;
    w->data_start = l2_host + nl2;
    w->next_data = w->data_start;
    w->planned = (int64_t)(total * CS);

    /* Header. */
    memcpy(c, "QFI\xfb", 4);
    put_be32(c + 4, 3);                         /* version */
    put_be32(c + 20, QCOW2S_CLUSTER_BITS);      /* cluster_bits */
    put_be64(c + 24, (uint64_t)w->vsize);       /* size */
    put_be32(c + 36, (uint32_t)w->l1_size);     /* l1_size */
    put_be64(c + 40, (rb0 + rbc) * CS);         /* l1_table_offset */
    put_be64(c + 48, (uint64_t)CS);             /* refcount_table_offset */
    put_be32(c + 56, (uint32_t)rtc);            /* refcount_table_clusters */
    put_be32(c + 96, 4);                        /* refcount_order: 16 bit */
    put_be32(c + 100, 104);                     /* header_length */
    if (qcow2s_emit(w, c, CS, errp) < 0) {
        goto out;
    }
    /* Refcount table: cluster by cluster. */
    for (i = 0; i < rtc; i++) {
        memset(c, 0, CS);
        for (j = 0; j < CS / 8 && i * (CS / 8) + j < rbc; j++) {
            put_be64(c + 8 * j, (rb0 + i * (CS / 8) + j) * CS);
        }
        if (qcow2s_emit(w, c, CS, errp) < 0) {
            goto out;
        }
    }
    /* Refcount blocks: 1 for every cluster of the file. */
    for (i = 0; i < rbc; i++) {
        memset(c, 0, CS);
        for (j = 0; j < RB_ENTRIES && i * RB_ENTRIES + j < total; j++) {
            c[2 * j + 1] = 1;
        }
        if (qcow2s_emit(w, c, CS, errp) < 0) {
            goto out;
        }
    }
    /* L1 table: entries in order, padded to whole clusters. */
    for (i = 0, j = 0; i < l1c * (CS / 8); i++) {
        unsigned char e[8] = {0};

        if (i < w->l1_size && qcow2s_l2_used(w, i)) {
            put_be64(e, ((l2_host + j) * CS) | OFLAG_COPIED);
            j++;
        }
        if (qcow2s_emit(w, e, 8, errp) < 0) {
            goto out;
        }
    }
    /* L2 tables: data clusters get host clusters in guest order. */
    {
        uint64_t host = w->data_start;

        for (i = 0; i < w->l1_size; i++) {
            if (!qcow2s_l2_used(w, i)) {
                continue;
            }
            memset(c, 0, CS);
            for (j = 0; j < L2_ENTRIES; j++) {
                if (qcow2s_marked(w, i * L2_ENTRIES + j)) {
                    put_be64(c + 8 * j, (host++ * CS) | OFLAG_COPIED);
                }
            }
            if (qcow2s_emit(w, c, CS, errp) < 0) {
                goto out;
            }
        }
    }
    r = 0;
out:
    if (r < 0) {
        w->failed = true;
    }
    free(c);
    return r;
}

int64_t
qcow2s_planned_size(const struct qcow2s *w)
{
    return w->planned;
}

int64_t
qcow2s_written(const struct qcow2s *w)
{
    return w->file_size - (int64_t)w->buffered;
}

int
qcow2s_put_cluster(struct qcow2s *w, uint64_t idx, const void *buf,
                   struct error **errp)
{
    uint64_t tail;

    if (!w->begun || w->failed) {
        error_setg(errp, ERR_INVALID, "the qcow2 writer is not ready");
        return -1;
    }
    if (!qcow2s_marked(w, idx) || idx < w->last_idx) {
        w->failed = true;
        error_setg(errp, ERR_INVALID,
                   "cluster %llu comes out of order or was not announced",
                   (unsigned long long)idx);
        return -1;
    }
    w->last_idx = idx + 1;
    tail = (uint64_t)w->vsize - idx * CS;
    if (tail >= CS) {
        if (qcow2s_emit(w, buf, CS, errp) < 0) {
            return -1;
        }
    } else if (qcow2s_emit(w, buf, tail, errp) < 0 ||
               qcow2s_emit(w, NULL, CS - tail, errp) < 0) {
        return -1;
    }
    w->written++;
    w->next_data++;
    return 0;
}

int
qcow2s_finish(struct qcow2s *w, struct qcow2s_result *res,
              struct error **errp)
{
    char hex[2][HASH_MAX_HEX_LEN];

    if (!w->begun || w->failed || w->written != w->ndata) {
        error_setg(errp, ERR_INVALID,
                   "the qcow2 image is incomplete (%llu of %llu clusters)",
                   (unsigned long long)w->written,
                   (unsigned long long)w->ndata);
        return -1;
    }
    if (qcow2s_flush(w, errp) < 0) {
        return -1;
    }
    res->file_size = w->file_size;
    res->data_clusters = (int64_t)w->written;
    if (hash_pipe_end(w->hash, hex, errp) < 0) {
        w->failed = true;
        return -1;
    }
    memcpy(res->md5, hex[0], HASH_MD5_HEX_LEN);
    memcpy(res->sha512, hex[1], HASH_SHA512_HEX_LEN);
    return 0;
}

void
qcow2s_free(struct qcow2s *w)
{
    if (w == NULL) {
        return;
    }
    /* The pipe first: it may still be reading a buffer. */
    hash_pipe_free(w->hash);
    free(w->bufs[0]);
    free(w->bufs[1]);
    free(w->map);
    free(w);
}
