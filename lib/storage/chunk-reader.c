/* vmsnap: reading an index of the chunk store (see chunk.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "chunk-internal.h"
#include "cleanup.h"
#include "fileio.h"
#include "xalloc.h"

struct chunk_reader {
    struct chunk_store *cs;  /* the store, borrowed */
    char *name;              /* index name */
    struct chunk_index *ix;  /* the index, checked */
    ZSTD_DCtx *dctx;         /* decompression context */
    uint8_t *buf;            /* data of chunk CACHED (chunk_size bytes) */
    uint64_t cached;         /* chunk in BUF, UINT64_MAX for none */
};

int
chunk_reader_open(struct chunk_store *cs, const char *name,
                  struct chunk_reader **out, struct error **errp)
{
    struct chunk_reader *r;

    r = xcalloc(1, sizeof(*r));
    r->cs = cs;
    r->cached = UINT64_MAX;
    r->name = xstrdup(name);
    r->dctx = xcheck(ZSTD_createDCtx());
    r->buf = xmalloc(cs->chunk_size);
    r->ix = chunk_store_load_index(cs, name, errp);
    if (r->ix == NULL) {
        chunk_reader_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

void
chunk_reader_close(struct chunk_reader *r)
{
    if (r == NULL) {
        return;
    }
    chunk_index_free(r->ix);
    ZSTD_freeDCtx(r->dctx);
    free(r->buf);
    free(r->name);
    free(r);
}

int64_t
chunk_reader_size(const struct chunk_reader *r)
{
    return r->ix->disk_size;
}

uint32_t
chunk_reader_chunk_size(const struct chunk_reader *r)
{
    return r->ix->chunk_size;
}

const struct chunk_index *
chunk_reader_index(const struct chunk_reader *r)
{
    return r->ix;
}

#define READER_CHECK_SLICE 4096 /* keys handed to exists_sorted at once */

static int
reader_digest_cmp(const void *a, const void *b)
{
    const struct chunk_digest *const *x = a, *const *y = b;

    return memcmp(*x, *y, sizeof(**x));
}

static int
reader_missing(const struct chunk_reader *r, const struct chunk_digest *d,
               struct error **errp)
{
    char hex[CHUNK_HEX_LEN];

    chunk_digest_hex(d, hex);
    error_setg(errp, ERR_NOT_FOUND, "index %s: chunk %s is missing",
               r->name, hex);
    return -1;
}

/* Look up the N distinct, sorted digests of WANT, a slice at a time, with
 * the backend's exists_sorted (a key's order is its digest's).
 */
static int
reader_check_sorted(const struct chunk_reader *r,
                    const struct chunk_digest **want, size_t n,
                    struct error **errp)
{
    struct chunk_backend *be = r->cs->be;
    CLEANUP_FREE char (*keys)[CHUNK_KEY_LEN] = NULL;
    CLEANUP_FREE const char **ptrs = NULL;
    size_t i, k, at = 0;

    keys = xcalloc(READER_CHECK_SLICE, sizeof(*keys));
    ptrs = xcalloc(READER_CHECK_SLICE, sizeof(*ptrs));
    for (i = 0; i < n; i += k) {
        for (k = 0; i + k < n && k < READER_CHECK_SLICE; k++) {
            chunk_key(want[i + k], keys[k]);
            ptrs[k] = keys[k];
        }
        if (be->ops->exists_sorted(be->priv, ptrs, k, &at, errp) < 0) {
            return -1;
        }
        if (at < k) {
            return reader_missing(r, want[i + at], errp);
        }
    }
    return 0;
}

int
chunk_reader_check(struct chunk_reader *r, struct error **errp)
{
    struct chunk_backend *be = r->cs->be;
    const struct chunk_index *ix = r->ix;
    CLEANUP_FREE const struct chunk_digest **want = NULL;
    char key[CHUNK_KEY_LEN];
    size_t i, n = 0, distinct = 0;
    int rc;

    want = xcalloc(ix->count ? ix->count : 1, sizeof(*want));
    for (i = 0; i < ix->count; i++) {
        if (!chunk_digest_is_zero(&ix->digests[i])) {
            want[n++] = &ix->digests[i];
        }
    }
    /* Sorted, each digest once: a chunk the disk holds many times is
     * looked up once.
     */
    qsort(want, n, sizeof(*want), reader_digest_cmp);
    for (i = 0; i < n; i++) {
        if (distinct == 0 || reader_digest_cmp(&want[i],
                                               &want[distinct - 1]) != 0) {
            want[distinct++] = want[i];
        }
    }
    if (be->ops->exists_sorted) {
        return reader_check_sorted(r, want, distinct, errp);
    }
    for (i = 0; i < distinct; i++) {
        chunk_key(want[i], key);
        rc = be->ops->exists(be->priv, key, errp);
        if (rc <= 0) {
            return rc < 0 ? -1 : reader_missing(r, want[i], errp);
        }
    }
    return 0;
}

/* Make chunk I (not zero) the cached one. */
static int
reader_load(struct chunk_reader *r, uint64_t i, struct error **errp)
{
    size_t len = 0;

    if (r->cached == i) {
        return 0;
    }
    r->cached = UINT64_MAX;
    if (chunk_store_load(r->cs, r->dctx, &r->ix->digests[i], r->buf,
                         r->ix->chunk_size, chunk_index_chunk_len(r->ix, i),
                         &len, NULL, errp) < 0) {
        error_prepend(errp, "index %s: ", r->name);
        return -1;
    }
    r->cached = i;
    return 0;
}

int
chunk_reader_read(struct chunk_reader *r, void *buf, size_t len,
                  int64_t offset, struct error **errp)
{
    uint32_t cs = r->ix->chunk_size;
    uint8_t *out = buf;
    uint64_t i;
    size_t in, n;

    if (offset < 0 || offset > r->ix->disk_size ||
        len > (uint64_t)(r->ix->disk_size - offset)) {
        error_setg(errp, ERR_INVALID,
                   "index %s: read of %zu bytes at %lld is outside the disk",
                   r->name, len, (long long)offset);
        return -1;
    }
    while (len > 0) {
        i = (uint64_t)offset / cs;
        in = (size_t)((uint64_t)offset % cs);
        n = chunk_index_chunk_len(r->ix, i) - in;
        if (n > len) {
            n = len;
        }
        if (chunk_digest_is_zero(&r->ix->digests[i])) {
            memset(out, 0, n);
        } else {
            if (reader_load(r, i, errp) < 0) {
                return -1;
            }
            memcpy(out, r->buf + in, n);
        }
        out += n;
        offset += (int64_t)n;
        len -= n;
    }
    return 0;
}

int
chunk_reader_extents(struct chunk_reader *r,
                     int (*fn)(int64_t offset, int64_t len, void *opaque),
                     void *opaque, struct error **errp)
{
    const struct chunk_index *ix = r->ix;
    uint64_t i, start = 0;
    bool in = false;

    for (i = 0; i <= ix->count; i++) {
        bool data = i < ix->count && !chunk_digest_is_zero(&ix->digests[i]);

        if (data && !in) {
            start = i;
            in = true;
        } else if (!data && in) {
            int64_t off = (int64_t)(start * ix->chunk_size);
            int64_t end = i == ix->count ? ix->disk_size
                                         : (int64_t)(i * ix->chunk_size);

            in = false;
            if (fn(off, end - off, opaque) < 0) {
                error_setg(errp, ERR_GENERIC, "extent listing stopped");
                return -1;
            }
        }
    }
    return 0;
}

int
chunk_reader_stream(struct chunk_reader *r,
                    int (*fn)(int64_t offset, const void *buf, size_t len,
                              void *opaque),
                    void *opaque, const struct progress *p,
                    struct error **errp)
{
    const struct chunk_index *ix = r->ix;
    int last = -1, pct;
    uint64_t i;

    progress_report(p, "restore", 0);
    for (i = 0; i < ix->count; i++) {
        if (!chunk_digest_is_zero(&ix->digests[i])) {
            if (reader_load(r, i, errp) < 0) {
                return -1;
            }
            if (fn((int64_t)(i * ix->chunk_size), r->buf,
                   chunk_index_chunk_len(ix, i), opaque) < 0) {
                error_setg(errp, ERR_GENERIC, "index %s: restore stopped",
                           r->name);
                return -1;
            }
        }
        pct = (int)(100 * (i + 1) / ix->count);
        if (pct != last) {
            progress_report(p, "restore", pct);
            last = pct;
        }
    }
    progress_report(p, "restore", 100);
    return 0;
}

/* Where chunk_reader_restore writes. */
struct restore_ctx {
    int fd;      /* the target file */
    int err;     /* errno of a failed write */
};

static int
restore_write(int64_t offset, const void *buf, size_t len, void *opaque)
{
    struct restore_ctx *rc = opaque;

    if (fileio_pwrite_all(rc->fd, buf, len, offset) < 0) {
        rc->err = errno;
        return -1;
    }
    return 0;
}

int
chunk_reader_restore(struct chunk_reader *r, const char *path,
                     const struct progress *p, struct error **errp)
{
    struct error *local = NULL;
    struct restore_ctx rc = {-1, 0};

    rc.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (rc.fd < 0) {
        error_setg_errno(errp, errno == EEXIST ? ERR_CONFLICT : ERR_IO,
                         errno, "%s", path);
        return -1;
    }
    if (ftruncate(rc.fd, r->ix->disk_size) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "%s", path);
        goto fail;
    }
    if (chunk_reader_stream(r, restore_write, &rc, p, &local) < 0) {
        if (rc.err) {
            error_free(local);
            error_setg_errno(errp, ERR_IO, rc.err, "write %s", path);
        } else {
            error_propagate(errp, local);
        }
        goto fail;
    }
    if (fdatasync(rc.fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fdatasync %s", path);
        goto fail;
    }
    if (close(rc.fd) < 0) {
        rc.fd = -1;
        error_setg_errno(errp, ERR_IO, errno, "close %s", path);
        goto fail;
    }
    return 0;
fail:
    if (rc.fd >= 0) {
        close(rc.fd);
    }
    unlink(path);
    return -1;
}
