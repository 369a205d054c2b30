/* vmsnap: chunk blobs in pack files, for the directory backend.
 *
 * A file per chunk costs the kernel a create, a rename and an inode per
 * 64 KiB: measured, half of a full backup's CPU time went there (see
 * docs/internals/chunkstore.md, "Pack files").  So the directory backend
 * appends chunk blobs to pack files and finds them through a map:
 *
 *   packs/<16 hex>.pack   blobs, back to back, nothing else
 *   packs.db              SQLite (WAL): key -> pack, offset, length, time
 *
 * A key is visible once its row is committed, and its row is committed
 * only after its bytes are on disk (fdatasync of the pack), so no crash
 * leaves a row pointing at bytes that are not there.  A pack being
 * written is flocked by its writer; a pack no row names and nobody holds
 * is an orphan (a writer died before its rows, or a compaction before
 * its commit) and compaction removes it.  Rows are durable after the
 * backend's sync (a syncfs writes the WAL back).
 *
 * Object times are CLOCK_REALTIME in nanoseconds, never behind the file
 * system's coarse clock that the rest of the backend uses (gc.stamp,
 * writer files): a put or touch after gc_begin always reads at or after
 * gc's "now", which is what remove_unless_since's promise needs.
 *
 * Chunk files of stores written before packs stay where they are; the
 * backend falls back to them for a key the map does not have.
 *
 * Every function may be called from several threads at once; the map is
 * one connection behind a mutex.
 */
#ifndef VMSNAP_CHUNK_PACK_H
#define VMSNAP_CHUNK_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk-backend.h"
#include "error.h"

struct chunk_packs;
struct pack_put;

/* Open (with CREATE, make) the packs of the store whose directory is
 * ROOTFD (borrowed; it must outlive the result).  ERR_IO on failure.
 */
struct chunk_packs *packs_open(int rootfd, bool create, struct error **errp);
void packs_close(struct chunk_packs *p);

/* Make every commit of the map so far durable, this process's and the
 * others': its WAL written back (SQLite's synchronous = NORMAL leaves
 * that to us).  Needed before an index names a chunk whose row is new or
 * newly touched, and before a pack file goes away, so that no crash
 * brings back rows naming it.
 */
int packs_sync(struct chunk_packs *p, struct error **errp);

/* Append the LEN bytes at BUF for KEY to the current pack; invisible
 * until packs_publish.  Returns 0 with *OUT set, or -1.
 */
int packs_append(struct chunk_packs *p, const char *key, const void *buf,
                 size_t len, struct pack_put **out, struct error **errp);

/* Make the N appended blobs of PUTS durable, then visible (a key already
 * in the map keeps its bytes and gets the new time).  Frees PUTS' entries
 * also on failure (none is then visible).  packs_cancel only frees them.
 */
int packs_publish(struct chunk_packs *p, struct pack_put **puts, size_t n,
                  struct error **errp);
void packs_cancel(struct chunk_packs *p, struct pack_put **puts, size_t n);

/* Read KEY's blob, at most MAX bytes, into a new *BUF of *LEN bytes.
 * 1 read, 0 not in the map, -1 error (ERR_PROTOCOL if over MAX).
 */
int packs_get(struct chunk_packs *p, const char *key, size_t max,
              uint8_t **buf, size_t *len, struct error **errp);

/* Set KEY's time to now: 1, or 0 if not in the map. */
int packs_touch(struct chunk_packs *p, const char *key, struct error **errp);

/* 1 if KEY is in the map, else 0; its time is left as it is. */
int packs_exists(struct chunk_packs *p, const char *key, struct error **errp);

/* Look up the N keys of KEYS (best sorted: neighbours share pages) in one
 * read transaction, which saves each lookup its own (the file locks and
 * checks SQLite takes for every statement outside one, 3 of every 4 us
 * of a lookup); *MISSING is the index of the first not in the map, or N.
 */
int packs_exists_all(struct chunk_packs *p, const char *const *keys,
                     size_t n, size_t *missing, struct error **errp);

/* Remove KEY unless its time is at or after SINCE_NS: 1 removed, 0 kept,
 * 2 not in the map, -1 error.
 */
int packs_remove_unless_since(struct chunk_packs *p, const char *key,
                              int64_t since_ns, struct error **errp);

/* Call FN for each key in the map that starts with PREFIX, in key order,
 * a page at a time (FN may call the functions above).  As the
 * backend's list: -1 without an error when FN stops.
 */
int packs_list(struct chunk_packs *p, const char *prefix,
               int (*fn)(const struct chunk_obj *obj, void *opaque),
               void *opaque, struct error **errp);

/* Remove orphan packs and rewrite packs that are mostly dead (the bytes
 * of removed keys), adding the bytes given back to *FREED.  Safe beside
 * writers and readers; one compaction at a time (the caller's gc).
 */
int packs_compact(struct chunk_packs *p, uint64_t *freed,
                  struct error **errp);

/* Bytes of every pack file. */
int packs_disk_bytes(struct chunk_packs *p, uint64_t *bytes,
                     struct error **errp);

#endif
