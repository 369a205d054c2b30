/* vmsnap: the bytes of the chunk store (digests, chunk blobs, indexes).
 *
 * Pure encoding and decoding, no I/O: the store (chunk.h) keeps these
 * bytes through a backend (chunk-backend.h), and the fuzz target feeds
 * hostile bytes straight to the parsers here.  All integers on disk are
 * little-endian.  docs/internals/chunkstore.md describes the format.
 *
 * Chunk blob (one per stored chunk, named by the SHA-256 of its data):
 *   0  magic "VSCK"
 *   4  version u8 (1)
 *   5  flags u8 (bit 0: payload is one zstd frame; else raw)
 *   6  reserved u16, zero
 *   8  raw_len u32: length of the chunk's data, 1..CHUNK_SIZE_MAX
 *   12 payload_len u32: bytes after this 16-byte header
 *   16 payload
 * There is no checksum of the stored bytes: a reader always checks the
 * SHA-256 of the decoded data against the chunk's name, which catches
 * any damage to header or payload (see the design notes).
 *
 * Index (one per disk per backup):
 *   0  magic "VMSNAPIX"
 *   8  version u32 (1)
 *   12 header_len u32 (96)
 *   16 chunk_size u32 (a power of two)
 *   20 flags u32 (bit 0: parent_csum is set)
 *   24 disk_size u64
 *   32 chunk_count u64 = ceil(disk_size / chunk_size)
 *   40 created u64: seconds since the epoch
 *   48 parent_csum[32]: checksum of the index this one was made from
 *   80 reserved[16], zero
 *   96 chunk_count digests of 32 bytes, in disk order (all-zero digest:
 *      a chunk of zeros, not stored)
 *   .. csum[32]: SHA-256 of every byte before it
 * The trailing csum is the index's identity for a catalog ("index_csum").
 *
 * Every function may be called from several threads at once; none blocks.
 */
#ifndef VMSNAP_CHUNK_FORMAT_H
#define VMSNAP_CHUNK_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define CHUNK_DIGEST_LEN 32
#define CHUNK_HEX_LEN 65          /* 64 hex digits and a NUL */

/* Chunk sizes a store may use: powers of two in this range. */
#define CHUNK_SIZE_MIN 4096u
#define CHUNK_SIZE_MAX (16u * 1024 * 1024)

#define CHUNK_BLOB_HEADER_LEN 16
#define CHUNK_BLOB_VERSION 1
#define CHUNK_BLOB_ZSTD 0x01u     /* flags: payload is zstd */

#define CHUNK_INDEX_HEADER_LEN 96
#define CHUNK_INDEX_VERSION 1
#define CHUNK_INDEX_HAS_PARENT 0x01u

/* Limits on what an index may describe: 2^25 chunks (1 GiB of digests in
 * memory) and disks below 2^50 bytes.  Anything larger is refused as
 * damaged rather than allocated.
 */
#define CHUNK_INDEX_MAX_COUNT (1ull << 25)
#define CHUNK_DISK_SIZE_MAX (1ll << 50)

/* A SHA-256 digest.  The all-zero value stands for a chunk of zeros. */
struct chunk_digest {
    uint8_t b[CHUNK_DIGEST_LEN]; /* the digest bytes */
};

/* True if D is the all-zero digest (a zero chunk). */
bool chunk_digest_is_zero(const struct chunk_digest *d);

/* D as 64 lower-case hex digits, NUL-terminated, into OUT. */
void chunk_digest_hex(const struct chunk_digest *d, char out[CHUNK_HEX_LEN]);

/* Parse exactly 64 lower-case hex digits (nothing after) into *D.
 * Returns 0, or -1 (D untouched) for anything else.  No error object:
 * callers use it to recognise names while listing.
 */
int chunk_digest_parse(const char *hex, struct chunk_digest *d);

/* memcmp of two digests, for qsort and bsearch. */
int chunk_digest_cmp(const void *a, const void *b);

/* SHA-256 of BUF into *D.  Returns 0, or -1 with ERR_IO if libcrypto
 * fails (it only does when memory runs out).
 */
int chunk_sha256(const void *buf, size_t len, struct chunk_digest *d,
                 struct error **errp);

/* True if the LEN bytes at BUF are all zero. */
bool chunk_is_zero(const void *buf, size_t len);

/* Number of chunks of CHUNK_SIZE that cover SIZE bytes. */
uint64_t chunk_count_for(int64_t size, uint32_t chunk_size);

/* True if SIZE is a power of two in [CHUNK_SIZE_MIN, CHUNK_SIZE_MAX]. */
bool chunk_size_valid(uint64_t size);

/* The header of a chunk blob, decoded. */
struct chunk_blob_header {
    uint8_t version;      /* CHUNK_BLOB_VERSION */
    uint8_t flags;        /* CHUNK_BLOB_* */
    uint32_t raw_len;     /* length of the data once decoded */
    uint32_t payload_len; /* bytes after the header */
};

/* Write the 16-byte header of a blob into OUT. */
void chunk_blob_put_header(uint8_t out[CHUNK_BLOB_HEADER_LEN], uint8_t flags,
                           uint32_t raw_len, uint32_t payload_len);

/* Check and decode the header of the LEN-byte blob BUF: magic, version,
 * known flags, zero reserved bits, 1 <= raw_len <= MAX_RAW, payload_len
 * equal to LEN - 16 and consistent with the flags (a raw payload is
 * raw_len bytes; a zstd one at most its compress bound).  Returns 0 with
 * *H set, or -1 with ERR_PROTOCOL naming what is wrong.
 */
int chunk_blob_parse_header(const uint8_t *buf, size_t len, uint32_t max_raw,
                            struct chunk_blob_header *h, struct error **errp);

/* Most bytes chunk_blob_encode writes for RAW_LEN bytes of data. */
size_t chunk_blob_bound(size_t raw_len);

/* Encode the LEN bytes at RAW (1 <= LEN <= CHUNK_SIZE_MAX) as a blob into
 * OUT (CAP >= chunk_blob_bound(LEN)) with zstd at LEVEL through CCTX (a
 * ZSTD_CCtx *, reused between calls by one thread).  The data is kept raw
 * when zstd does not save at least 1/64 of it (random or encrypted data),
 * since decoding it would then cost time for nothing.  Returns 0 with
 * *OUT_LEN set, or -1 with ERR_GENERIC if zstd fails.
 */
int chunk_blob_encode(void *cctx, int level, const uint8_t *raw, size_t len,
                      uint8_t *out, size_t cap, size_t *out_len,
                      struct error **errp);

/* Decode the LEN-byte blob BLOB into OUT (CAP bytes) through DCTX (a
 * ZSTD_DCtx *): the header is checked as chunk_blob_parse_header does
 * with MAX_RAW = CAP, and the payload must decode to exactly raw_len
 * bytes.  Returns 0 with *RAW_LEN set, or -1 with ERR_PROTOCOL.  The
 * caller still checks the digest.
 */
int chunk_blob_decode(void *dctx, const uint8_t *blob, size_t len,
                      uint8_t *out, size_t cap, size_t *raw_len,
                      struct error **errp);

/* An index in memory. */
struct chunk_index {
    uint32_t chunk_size;          /* bytes per chunk */
    uint32_t flags;               /* CHUNK_INDEX_* */
    int64_t disk_size;            /* virtual size of the disk */
    uint64_t count;               /* entries in DIGESTS */
    int64_t created;              /* seconds since the epoch */
    struct chunk_digest parent;   /* parent's csum (HAS_PARENT) */
    struct chunk_digest csum;     /* checksum of the serialised index */
    struct chunk_digest *digests; /* COUNT entries, owned */
};

/* A new index for a disk of DISK_SIZE bytes in chunks of CHUNK_SIZE, all
 * chunks zero.  NULL with ERR_INVALID for sizes out of range.  Free with
 * chunk_index_free.
 */
struct chunk_index *chunk_index_new(int64_t disk_size, uint32_t chunk_size,
                                    struct error **errp);

/* Free IX; NULL is allowed. */
void chunk_index_free(struct chunk_index *ix);

/* Length of the data of chunk I of IX (the last one may be short). */
uint32_t chunk_index_chunk_len(const struct chunk_index *ix, uint64_t i);

/* Parse the LEN-byte index BUF.  Every field is checked (magic, version,
 * header length, chunk size, counts against the disk size and the
 * limits, reserved bytes, total length) and so is the trailing csum.
 * Returns a new index (caller frees), or NULL with ERR_PROTOCOL naming
 * what is wrong.
 */
struct chunk_index *chunk_index_parse(const uint8_t *buf, size_t len,
                                      struct error **errp);

/* Serialise IX into a new buffer *BUF (caller frees) of *LEN bytes and
 * set IX->csum to its checksum.  Returns 0, or -1 with ERR_IO.
 */
int chunk_index_serialize(struct chunk_index *ix, uint8_t **buf, size_t *len,
                          struct error **errp);

#endif
