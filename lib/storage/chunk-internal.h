/* vmsnap: what the chunk store's own files share (not a public API). */
#ifndef VMSNAP_CHUNK_INTERNAL_H
#define VMSNAP_CHUNK_INTERNAL_H

#include "chunk.h"

/* "chunks/abc/<64 hex>" and its NUL. */
#define CHUNK_KEY_LEN (7 + 3 + 1 + 64 + 1)

struct chunk_store {
    struct chunk_backend *be; /* where the bytes live, owned */
    uint32_t chunk_size;      /* bytes per chunk */
    int zstd_level;           /* default level of writers */
};

/* The key of the chunk named D into OUT. */
void chunk_key(const struct chunk_digest *d, char out[CHUNK_KEY_LEN]);

/* The key of index NAME ("indexes/NAME.idx"); caller frees.  NULL with
 * ERR_INVALID for a bad name.
 */
char *chunk_index_key(const char *name, struct error **errp);

/* Load chunk D into BUF (CAP bytes), through DCTX (a ZSTD_DCtx *): get,
 * decode, check the digest and, if EXPECT is not 0, the length.  Sets
 * *LEN.  Missing: ERR_NOT_FOUND "chunk HEX is missing"; damaged:
 * ERR_PROTOCOL "chunk HEX is damaged: ..." or "chunk HEX is corrupt
 * (digest mismatch)".  *STORED (may be NULL) gets the stored size.
 */
int chunk_store_load(struct chunk_store *cs, void *dctx,
                     const struct chunk_digest *d, uint8_t *buf, size_t cap,
                     uint32_t expect, size_t *len, uint64_t *stored,
                     struct error **errp);

/* Read and check index NAME.  Errors as chunk_reader_open. */
struct chunk_index *chunk_store_load_index(struct chunk_store *cs,
                                           const char *name,
                                           struct error **errp);

/* A sorted set of digests, grown by appending and compacted by sorting
 * and dropping duplicates.
 */
struct chunk_set {
    struct chunk_digest *d; /* entries; sorted up to SORTED */
    size_t n;               /* entries */
    size_t sorted;          /* leading entries sorted and unique */
    size_t cap;             /* room */
};

/* Add the non-zero digests of IX to S. */
void chunk_set_add_index(struct chunk_set *s, const struct chunk_index *ix);

/* Add D to S. */
void chunk_set_add(struct chunk_set *s, const struct chunk_digest *d);

/* Sort S and drop duplicates. */
void chunk_set_compact(struct chunk_set *s);

/* Is D in S?  S must be compact. */
bool chunk_set_has(const struct chunk_set *s, const struct chunk_digest *d);

void chunk_set_free(struct chunk_set *s);

#endif
