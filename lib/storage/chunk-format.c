/* vmsnap: the bytes of the chunk store (see chunk-format.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "chunk-format.h"
#include "xalloc.h"

static const char chunk_blob_magic[4] = {'V', 'S', 'C', 'K'};
static const char chunk_index_magic[8] = {'V', 'M', 'S', 'N',
                                          'A', 'P', 'I', 'X'};

static void
put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void
put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

bool
chunk_digest_is_zero(const struct chunk_digest *d)
{
    return chunk_is_zero(d->b, sizeof(d->b));
}

void
chunk_digest_hex(const struct chunk_digest *d, char out[CHUNK_HEX_LEN])
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < CHUNK_DIGEST_LEN; i++) {
        out[2 * i] = hex[d->b[i] >> 4];
        out[2 * i + 1] = hex[d->b[i] & 15];
    }
    out[2 * CHUNK_DIGEST_LEN] = '\0';
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

int
chunk_digest_parse(const char *hex, struct chunk_digest *d)
{
    struct chunk_digest tmp;
    size_t i;
    int hi, lo;

    for (i = 0; i < CHUNK_DIGEST_LEN; i++) {
        hi = hex_value(hex[2 * i]);
        lo = hi < 0 ? -1 : hex_value(hex[2 * i + 1]);
        if (lo < 0) {
            return -1;
        }
        tmp.b[i] = (uint8_t)(hi << 4 | lo);
    }
    if (hex[2 * CHUNK_DIGEST_LEN] != '\0') {
        return -1;
    }
    *d = tmp;
    return 0;
}

int
chunk_digest_cmp(const void *a, const void *b)
{
    return memcmp(a, b, CHUNK_DIGEST_LEN);
}

int
chunk_sha256(const void *buf, size_t len, struct chunk_digest *d,
             struct error **errp)
{
    unsigned int n = 0;

    if (EVP_Digest(buf, len, d->b, &n, EVP_sha256(), NULL) != 1 ||
        n != CHUNK_DIGEST_LEN) {
        error_setg(errp, ERR_IO, "SHA-256 failed");
        return -1;
    }
    return 0;
}

bool
chunk_is_zero(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    static const uint8_t zeros[256];

    /* Compare in blocks against a static zero page: memcmp is vectorised
     * and stops at the first non-zero block, which is the common case
     * for data chunks.
     */
    while (len >= sizeof(zeros)) {
        if (memcmp(p, zeros, sizeof(zeros)) != 0) {
            return false;
        }
        p += sizeof(zeros);
        len -= sizeof(zeros);
    }
    return memcmp(p, zeros, len) == 0;
}

uint64_t
chunk_count_for(int64_t size, uint32_t chunk_size)
{
    if (size <= 0 || chunk_size == 0) {
        return 0;
    }
    return ((uint64_t)size + chunk_size - 1) / chunk_size;
}

bool
chunk_size_valid(uint64_t size)
{
    return size >= CHUNK_SIZE_MIN && size <= CHUNK_SIZE_MAX &&
           (size & (size - 1)) == 0;
}

void
chunk_blob_put_header(uint8_t out[CHUNK_BLOB_HEADER_LEN], uint8_t flags,
                      uint32_t raw_len, uint32_t payload_len)
{
    memcpy(out, chunk_blob_magic, sizeof(chunk_blob_magic));
    out[4] = CHUNK_BLOB_VERSION;
    out[5] = flags;
    out[6] = 0;
    out[7] = 0;
    put_le32(out + 8, raw_len);
    put_le32(out + 12, payload_len);
}

int
chunk_blob_parse_header(const uint8_t *buf, size_t len, uint32_t max_raw,
                        struct chunk_blob_header *h, struct error **errp)
{
    struct chunk_blob_header t;

    if (len < CHUNK_BLOB_HEADER_LEN) {
        error_setg(errp, ERR_PROTOCOL, "chunk truncated (%zu bytes)", len);
        return -1;
    }
    if (memcmp(buf, chunk_blob_magic, sizeof(chunk_blob_magic)) != 0) {
        error_setg(errp, ERR_PROTOCOL, "not a chunk (bad magic)");
        return -1;
    }
    t.version = buf[4];
    t.flags = buf[5];
    t.raw_len = get_le32(buf + 8);
    t.payload_len = get_le32(buf + 12);
    if (t.version != CHUNK_BLOB_VERSION) {
        error_setg(errp, ERR_PROTOCOL, "unsupported chunk version %u",
                   t.version);
        return -1;
    }
    if ((t.flags & ~CHUNK_BLOB_ZSTD) != 0 || buf[6] != 0 || buf[7] != 0) {
        error_setg(errp, ERR_PROTOCOL, "unknown chunk flags 0x%02x%02x%02x",
                   t.flags, buf[6], buf[7]);
        return -1;
    }
    if (t.raw_len == 0 || t.raw_len > max_raw) {
        error_setg(errp, ERR_PROTOCOL, "chunk length %u out of range",
                   t.raw_len);
        return -1;
    }
    if ((size_t)t.payload_len != len - CHUNK_BLOB_HEADER_LEN) {
        error_setg(errp, ERR_PROTOCOL,
                   "chunk payload length %u, %zu bytes present",
                   t.payload_len, len - CHUNK_BLOB_HEADER_LEN);
        return -1;
    }
    if ((t.flags & CHUNK_BLOB_ZSTD) == 0 ? t.payload_len != t.raw_len
                                         : t.payload_len == 0 ||
                                               t.payload_len >
                                                   ZSTD_compressBound(
                                                       t.raw_len)) {
        error_setg(errp, ERR_PROTOCOL,
                   "chunk payload length %u does not fit length %u",
                   t.payload_len, t.raw_len);
        return -1;
    }
    *h = t;
    return 0;
}

size_t
chunk_blob_bound(size_t raw_len)
{
    return CHUNK_BLOB_HEADER_LEN + ZSTD_compressBound(raw_len);
}

int
chunk_blob_encode(void *cctx, int level, const uint8_t *raw, size_t len,
                  uint8_t *out, size_t cap, size_t *out_len,
                  struct error **errp)
{
    size_t n;

    if (len == 0 || len > CHUNK_SIZE_MAX || cap < chunk_blob_bound(len)) {
        error_setg(errp, ERR_GENERIC, "chunk encode: bad lengths");
        return -1;
    }
    n = ZSTD_compressCCtx(cctx, out + CHUNK_BLOB_HEADER_LEN,
                          cap - CHUNK_BLOB_HEADER_LEN, raw, len, level);
    if (ZSTD_isError(n)) {
        error_setg(errp, ERR_GENERIC, "zstd: %s", ZSTD_getErrorName(n));
        return -1;
    }
    if (n >= len - len / 64) {
        memcpy(out + CHUNK_BLOB_HEADER_LEN, raw, len);
        chunk_blob_put_header(out, 0, (uint32_t)len, (uint32_t)len);
        *out_len = CHUNK_BLOB_HEADER_LEN + len;
        return 0;
    }
    chunk_blob_put_header(out, CHUNK_BLOB_ZSTD, (uint32_t)len, (uint32_t)n);
    *out_len = CHUNK_BLOB_HEADER_LEN + n;
    return 0;
}

int
chunk_blob_decode(void *dctx, const uint8_t *blob, size_t len, uint8_t *out,
                  size_t cap, size_t *raw_len, struct error **errp)
{
    struct chunk_blob_header h;
    size_t n;

    if (chunk_blob_parse_header(blob, len,
                                cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap,
                                &h, errp) < 0) {
        return -1;
    }
    if ((h.flags & CHUNK_BLOB_ZSTD) == 0) {
        memcpy(out, blob + CHUNK_BLOB_HEADER_LEN, h.raw_len);
        *raw_len = h.raw_len;
        return 0;
    }
    /* Decode into exactly raw_len bytes of room: a frame that wants more
     * is damaged, and zstd stops instead of writing past it.
     */
    n = ZSTD_decompressDCtx(dctx, out, h.raw_len,
                            blob + CHUNK_BLOB_HEADER_LEN, h.payload_len);
    if (ZSTD_isError(n)) {
        error_setg(errp, ERR_PROTOCOL, "chunk does not decompress: %s",
                   ZSTD_getErrorName(n));
        return -1;
    }
    if (n != h.raw_len) {
        error_setg(errp, ERR_PROTOCOL,
                   "chunk decompressed to %zu bytes, header says %u", n,
                   h.raw_len);
        return -1;
    }
    *raw_len = n;
    return 0;
}

struct chunk_index *
chunk_index_new(int64_t disk_size, uint32_t chunk_size, struct error **errp)
{
    struct chunk_index *ix;
    uint64_t count;

    if (!chunk_size_valid(chunk_size)) {
        error_setg(errp, ERR_INVALID, "chunk size %u is not a power of two "
                   "between %u and %u", chunk_size, CHUNK_SIZE_MIN,
                   CHUNK_SIZE_MAX);
        return NULL;
    }
    if (disk_size < 0 || disk_size >= CHUNK_DISK_SIZE_MAX) {
        error_setg(errp, ERR_INVALID, "disk size %lld out of range",
                   (long long)disk_size);
        return NULL;
    }
    count = chunk_count_for(disk_size, chunk_size);
    if (count > CHUNK_INDEX_MAX_COUNT) {
        error_setg(errp, ERR_INVALID,
                   "disk of %lld bytes needs %llu chunks, more than %llu",
                   (long long)disk_size, (unsigned long long)count,
                   (unsigned long long)CHUNK_INDEX_MAX_COUNT);
        return NULL;
    }
    ix = xcalloc(1, sizeof(*ix));
    ix->digests = xcalloc(count ? count : 1, CHUNK_DIGEST_LEN);
    ix->chunk_size = chunk_size;
    ix->disk_size = disk_size;
    ix->count = count;
    ix->created = (int64_t)time(NULL);
    return ix;
}

void
chunk_index_free(struct chunk_index *ix)
{
    if (ix == NULL) {
        return;
    }
    free(ix->digests);
    free(ix);
}

uint32_t
chunk_index_chunk_len(const struct chunk_index *ix, uint64_t i)
{
    int64_t start = (int64_t)(i * ix->chunk_size);
    int64_t left = ix->disk_size - start;

    return left < (int64_t)ix->chunk_size ? (uint32_t)left : ix->chunk_size;
}

struct chunk_index *
chunk_index_parse(const uint8_t *buf, size_t len, struct error **errp)
{
    struct chunk_digest csum;
    struct chunk_index *ix;
    uint32_t version, hlen, csize, flags;
    uint64_t dsize, count;

    if (len < CHUNK_INDEX_HEADER_LEN + CHUNK_DIGEST_LEN) {
        error_setg(errp, ERR_PROTOCOL, "index truncated (%zu bytes)", len);
        return NULL;
    }
    if (memcmp(buf, chunk_index_magic, sizeof(chunk_index_magic)) != 0) {
        error_setg(errp, ERR_PROTOCOL, "not an index (bad magic)");
        return NULL;
    }
    version = get_le32(buf + 8);
    hlen = get_le32(buf + 12);
    csize = get_le32(buf + 16);
    flags = get_le32(buf + 20);
    dsize = get_le64(buf + 24);
    count = get_le64(buf + 32);
    if (version != CHUNK_INDEX_VERSION) {
        error_setg(errp, ERR_PROTOCOL, "unsupported index version %u",
                   version);
        return NULL;
    }
    if (hlen != CHUNK_INDEX_HEADER_LEN) {
        error_setg(errp, ERR_PROTOCOL, "index header length %u", hlen);
        return NULL;
    }
    if (!chunk_size_valid(csize)) {
        error_setg(errp, ERR_PROTOCOL, "index chunk size %u", csize);
        return NULL;
    }
    if ((flags & ~CHUNK_INDEX_HAS_PARENT) != 0 ||
        !chunk_is_zero(buf + 80, 16)) {
        error_setg(errp, ERR_PROTOCOL, "unknown index flags 0x%x", flags);
        return NULL;
    }
    if (dsize >= (uint64_t)CHUNK_DISK_SIZE_MAX ||
        count != chunk_count_for((int64_t)dsize, csize) ||
        count > CHUNK_INDEX_MAX_COUNT) {
        error_setg(errp, ERR_PROTOCOL,
                   "index disk size %llu and chunk count %llu disagree",
                   (unsigned long long)dsize, (unsigned long long)count);
        return NULL;
    }
    if ((len - CHUNK_INDEX_HEADER_LEN - CHUNK_DIGEST_LEN) / CHUNK_DIGEST_LEN
            != count ||
        (len - CHUNK_INDEX_HEADER_LEN) % CHUNK_DIGEST_LEN != 0) {
        error_setg(errp, ERR_PROTOCOL,
                   "index length %zu does not hold %llu chunks", len,
                   (unsigned long long)count);
        return NULL;
    }
    if (chunk_sha256(buf, len - CHUNK_DIGEST_LEN, &csum, errp) < 0) {
        return NULL;
    }
    if (memcmp(csum.b, buf + len - CHUNK_DIGEST_LEN, CHUNK_DIGEST_LEN) != 0) {
        error_setg(errp, ERR_PROTOCOL, "index checksum mismatch");
        return NULL;
    }
    ix = chunk_index_new((int64_t)dsize, csize, errp);
    if (ix == NULL) {
        return NULL;
    }
    ix->flags = flags;
    ix->created = (int64_t)get_le64(buf + 40);
    memcpy(ix->parent.b, buf + 48, CHUNK_DIGEST_LEN);
    memcpy(ix->digests, buf + CHUNK_INDEX_HEADER_LEN,
           count * CHUNK_DIGEST_LEN);
    ix->csum = csum;
    return ix;
}

int
chunk_index_serialize(struct chunk_index *ix, uint8_t **buf, size_t *len,
                      struct error **errp)
{
    size_t n = CHUNK_INDEX_HEADER_LEN + (ix->count + 1) * CHUNK_DIGEST_LEN;
    uint8_t *p = xcalloc(1, n);

    memcpy(p, chunk_index_magic, sizeof(chunk_index_magic));
    put_le32(p + 8, CHUNK_INDEX_VERSION);
    put_le32(p + 12, CHUNK_INDEX_HEADER_LEN);
    put_le32(p + 16, ix->chunk_size);
    put_le32(p + 20, ix->flags);
    put_le64(p + 24, (uint64_t)ix->disk_size);
    put_le64(p + 32, ix->count);
    put_le64(p + 40, (uint64_t)ix->created);
    if (ix->flags & CHUNK_INDEX_HAS_PARENT) {
        memcpy(p + 48, ix->parent.b, CHUNK_DIGEST_LEN);
    }
    memcpy(p + CHUNK_INDEX_HEADER_LEN, ix->digests,
           ix->count * CHUNK_DIGEST_LEN);
    if (chunk_sha256(p, n - CHUNK_DIGEST_LEN, &ix->csum, errp) < 0) {
        free(p);
        return -1;
    }
    memcpy(p + n - CHUNK_DIGEST_LEN, ix->csum.b, CHUNK_DIGEST_LEN);
    *buf = p;
    *len = n;
    return 0;
}
