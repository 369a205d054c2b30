/* vmsnap: the deduplicating chunk store (issue 12).
 *
 * Backup data kept as content-addressed chunks: a disk is cut into chunks
 * of a fixed size (a parameter of the store), each named by the SHA-256
 * of its data and stored once, compressed with zstd; chunks of zeros are
 * not stored at all.  An index lists the digests of one disk of one
 * backup in order, so every index is a full backup ("synthetic full"): an
 * incremental's index is its parent's with the changed chunks replaced,
 * any index can be deleted on its own, and a restore never walks a chain.
 * Format and design: docs/internals/chunkstore.md; bytes:
 * chunk-format.h; where the bytes live: chunk-backend.h.
 *
 * Crash safety: a chunk is durable (content, then name) before any index
 * that references it is written, and an index appears atomically, so a
 * crash at any point leaves no index pointing at a missing chunk, only
 * unreferenced chunks that gc removes.
 *
 * Concurrency: any number of writers, readers, one verify and one gc may
 * run at once, in any processes on the host.  Each object (store, writer,
 * reader) is used by one thread at a time; a writer runs worker threads
 * of its own.  gc never removes a chunk that a live writer may still
 * reference (see chunk_store_gc).
 *
 * Every function may block on disk I/O.  Errors follow error.h; damaged
 * data is ERR_PROTOCOL, missing data ERR_NOT_FOUND, both naming the
 * chunk's digest and the index.
 */
#ifndef VMSNAP_CHUNK_H
#define VMSNAP_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk-backend.h"
#include "chunk-format.h"
#include "error.h"
#include "progress.h"

/* Defaults of a new store; docs/internals/chunkstore.md says why. */
#define CHUNK_DEFAULT_SIZE (64u * 1024)
#define CHUNK_DEFAULT_LEVEL 1

#define CHUNK_NAME_MAX 200 /* longest index name */

struct chunk_store;  /* an open store */
struct chunk_writer; /* an index being written */
struct chunk_reader; /* an index open for reading */

/* Parameters of a new store (0: the default). */
struct chunk_store_params {
    uint32_t chunk_size; /* bytes per chunk, see chunk_size_valid */
    int zstd_level;      /* default compression level of its writers */
};

/* What chunk_store_index_info and commit report about an index. */
struct chunk_index_info {
    int64_t disk_size;              /* virtual size of the disk */
    uint32_t chunk_size;            /* bytes per chunk */
    uint64_t chunks;                /* chunks in the index */
    uint64_t zero_chunks;           /* of those, zero (not stored) */
    int64_t created;                /* seconds since the epoch */
    char csum[CHUNK_HEX_LEN];       /* the index's checksum */
    char parent_csum[CHUNK_HEX_LEN]; /* its parent's, "" for a full */
};

/* Make a new store at ROOT (created if missing) with PARAMS (NULL: all
 * defaults).  ERR_CONFLICT if ROOT already holds a store, ERR_INVALID for
 * bad parameters.
 */
int chunk_store_create(const char *root,
                       const struct chunk_store_params *params,
                       struct error **errp);

/* Open the store at ROOT.  Returns it (free with chunk_store_close), or
 * NULL with ERR_NOT_FOUND (no store there) or ERR_PROTOCOL (its
 * store.json is damaged or of an unknown format).
 */
struct chunk_store *chunk_store_open(const char *root, struct error **errp);

/* Open a store kept by backend BE, which it takes over (closed with the
 * store, or at once on failure).  With CREATE set and no store there
 * yet, one is made with those parameters.
 */
struct chunk_store *chunk_store_open_backend(
    struct chunk_backend *be, const struct chunk_store_params *create,
    struct error **errp);

/* Close CS; NULL is allowed.  Its writers and readers must be closed. */
void chunk_store_close(struct chunk_store *cs);

/* The store's chunk size and default zstd level. */
uint32_t chunk_store_chunk_size(const struct chunk_store *cs);
int chunk_store_zstd_level(const struct chunk_store *cs);

/* True if NAME can name an index: 1 to CHUNK_NAME_MAX bytes of
 * [A-Za-z0-9._-], not starting with '.'.
 */
bool chunk_name_valid(const char *name);

/* Facts about index NAME, read and checked.  ERR_NOT_FOUND if there is
 * none, ERR_PROTOCOL if it is damaged.
 */
int chunk_store_index_info(struct chunk_store *cs, const char *name,
                           struct chunk_index_info *info,
                           struct error **errp);

/* Delete index NAME.  ERR_NOT_FOUND if there is none.  Durable on
 * return.  Its digests are kept under trash/ until no writer that started
 * before the deletion runs (plus gc's grace), then gc frees its chunks.
 */
int chunk_store_remove_index(struct chunk_store *cs, const char *name,
                             struct error **errp);

/* Call FN with the name of every index, in no particular order; FN
 * returns 0 to go on, -1 to stop (then this returns -1, FN's error is
 * its own).
 */
int chunk_store_list_indexes(struct chunk_store *cs,
                             int (*fn)(const char *name, void *opaque),
                             void *opaque, struct error **errp);

/* ---- Writing an index ---- */

/* How a writer works (NULL: the defaults). */
struct chunk_writer_opts {
    int threads;    /* workers hashing, compressing and storing chunks:
                       0 in the caller's thread, -1 the default (two per
                       CPU, at most 4) */
    int zstd_level; /* 0: the store's */
};

/* What a writer did, so far or in all. */
struct chunk_writer_stats {
    uint64_t chunks;            /* chunks in the index */
    uint64_t chunks_new;        /* stored by this writer */
    uint64_t chunks_dedup;      /* made here, already in the store */
    uint64_t chunks_inherited;  /* taken unchanged from the parent */
    uint64_t chunks_zero;       /* zero chunks (not stored) */
    uint64_t bytes_in;          /* bytes given to write and zero */
    uint64_t bytes_new;         /* data bytes of the new chunks */
    uint64_t bytes_stored;      /* bytes put into the store */
    uint64_t bytes_parent_read; /* parent data read to fill chunks */
};

/* Start index NAME for a disk of DISK_SIZE bytes.  With PARENT (the name
 * of an index in this store) the new index starts as a copy of it: write
 * only what changed (chunk_reader_check tells beforehand whether every
 * chunk it names is there).  Without one every byte not written is zero.
 * NAME must not exist (ERR_CONFLICT).  The writer registers
 * with the store for gc until chunk_writer_free; the parent may be
 * deleted meanwhile.  Returns 0 with *OUT set, or -1.
 */
int chunk_writer_open(struct chunk_store *cs, const char *name,
                      int64_t disk_size, const char *parent,
                      const struct chunk_writer_opts *opts,
                      struct chunk_writer **out, struct error **errp);

/* Write LEN bytes at BUF to the disk at OFFSET.  Any offset and length
 * inside the disk; whole aligned chunks are fastest.  A chunk written in
 * part is completed from the parent (or zeros) when it must be stored:
 * when the writer holds too many partial chunks (4) or at commit.
 * Writing the same place twice is allowed (the last write wins) but
 * slow.  BUF is not kept.  Memory stays bounded: a few chunks per worker.
 * Returns 0, or -1 (the writer is then failed: only free is left).
 */
int chunk_writer_write(struct chunk_writer *w, const void *buf, size_t len,
                       int64_t offset, struct error **errp);

/* The LEN bytes at OFFSET are zero (discarded, unallocated). */
int chunk_writer_zero(struct chunk_writer *w, int64_t offset, int64_t len,
                      struct error **errp);

/* Finish: store what is pending, make every chunk durable, then write the
 * index atomically.  INFO (may be NULL) describes it.  After this, only
 * stats and free.
 */
int chunk_writer_commit(struct chunk_writer *w, struct chunk_index_info *info,
                        struct error **errp);

/* Copy what W did so far into *ST. */
void chunk_writer_stats(struct chunk_writer *w,
                        struct chunk_writer_stats *st);

/* Free W; an uncommitted index is abandoned (its new chunks are left to
 * gc).  NULL is allowed.
 */
void chunk_writer_free(struct chunk_writer *w);

/* ---- Reading an index ---- */

/* Open index NAME and check it (checksum, chunk size).  Returns 0 with
 * *OUT set, or -1 (ERR_NOT_FOUND, ERR_PROTOCOL).
 */
int chunk_reader_open(struct chunk_store *cs, const char *name,
                      struct chunk_reader **out, struct error **errp);

/* Virtual size of the disk; chunk size; borrowed index (valid until
 * close).
 */
int64_t chunk_reader_size(const struct chunk_reader *r);
uint32_t chunk_reader_chunk_size(const struct chunk_reader *r);
const struct chunk_index *chunk_reader_index(const struct chunk_reader *r);

/* Check that every chunk the index names is in the store, so that a
 * backup built on it inherits no hole; a read, no chunk's time is
 * touched.  ERR_NOT_FOUND naming the first chunk missing, or the
 * lookup's own error.
 */
int chunk_reader_check(struct chunk_reader *r, struct error **errp);

/* Read LEN bytes at OFFSET (inside the disk) into BUF.  Every chunk read
 * is decompressed and its SHA-256 checked: a damaged chunk is
 * ERR_PROTOCOL and a missing one ERR_NOT_FOUND, both "index NAME: chunk
 * DIGEST ...", never wrong data.  The last chunk read is cached.
 */
int chunk_reader_read(struct chunk_reader *r, void *buf, size_t len,
                      int64_t offset, struct error **errp);

/* Call FN with each allocated (not zero) extent, in order, adjacent
 * chunks merged.  FN returns 0 to go on, -1 to stop.
 */
int chunk_reader_extents(struct chunk_reader *r,
                         int (*fn)(int64_t offset, int64_t len,
                                   void *opaque),
                         void *opaque, struct error **errp);

/* Call FN with the data of every allocated chunk, in disk order, after
 * its digest was checked (BUF borrowed for the call).  Reports progress
 * as phase "restore".  For callers that feed their own sink (an NBD
 * export, qemu-img through a pipe).
 */
int chunk_reader_stream(struct chunk_reader *r,
                        int (*fn)(int64_t offset, const void *buf,
                                  size_t len, void *opaque),
                        void *opaque, const struct progress *p,
                        struct error **errp);

/* Materialise the disk as a raw, sparse file PATH (must not exist):
 * only allocated chunks are written, the size is the disk's, the data is
 * synced.  On failure PATH is removed.  Convert it to qcow2 with
 * qemu-img convert (which keeps it sparse) to boot from it.
 */
int chunk_reader_restore(struct chunk_reader *r, const char *path,
                         const struct progress *p, struct error **errp);

/* Close R; NULL is allowed. */
void chunk_reader_close(struct chunk_reader *r);

/* ---- Maintenance ---- */

/* verify flags */
#define CHUNK_VERIFY_REMOVE_BAD 0x01u /* delete damaged chunks, so that
                                         the next backup stores them
                                         again */

/* One problem verify found.  Strings borrowed for the callback. */
struct chunk_problem {
    const char *what;           /* "chunk", "index" */
    const char *digest;         /* hex digest of the chunk (chunk) */
    const char *index;          /* index name (index) */
    const char *error;          /* what is wrong */
    const char *const *indexes; /* chunk: indexes referencing it, NULL
                                   terminated */
};

struct chunk_verify_report {
    uint64_t indexes;         /* indexes read */
    uint64_t indexes_bad;     /* damaged indexes */
    uint64_t chunks;          /* chunk objects read */
    uint64_t chunks_bad;      /* damaged chunks */
    uint64_t chunks_missing;  /* referenced but absent */
    uint64_t chunks_removed;  /* damaged ones removed */
    uint64_t bytes;           /* stored bytes read */
};

/* Read every index and every chunk in the store; check each chunk's
 * digest and that every referenced chunk exists.  FN (may be NULL) is
 * called for each problem.  Returns 0 when verify could run (problems or
 * not: see REP), -1 when it could not (I/O error listing).
 */
int chunk_store_verify(struct chunk_store *cs, unsigned flags,
                       void (*fn)(const struct chunk_problem *pr,
                                  void *opaque),
                       void *opaque, const struct progress *p,
                       struct chunk_verify_report *rep, struct error **errp);

struct chunk_gc_opts {
    int64_t grace_s; /* keep unreferenced chunks younger than this, on
                        top of the writers' protection (< 0: default,
                        300 s) */
    bool dry_run;    /* count, remove nothing */
};

struct chunk_gc_report {
    uint64_t indexes;          /* indexes read (the mark) */
    uint64_t chunks;           /* chunk objects seen */
    uint64_t chunks_referenced; /* distinct chunks indexes reference */
    uint64_t chunks_removed;   /* unreferenced, removed */
    uint64_t bytes_removed;    /* their stored bytes */
    uint64_t bytes_compacted;  /* disk space given back by compaction */
    uint64_t chunks_recent;    /* unreferenced, too young to remove */
    uint64_t tmp_removed;      /* stale work files removed */
    uint64_t trash_marked;     /* deleted indexes still marked */
    uint64_t trash_removed;    /* deleted indexes forgotten */
};

/* Remove the chunks no index references.  The cutoff is min(gc start,
 * start of the oldest live writer) - grace.  Mark: list and read every
 * index (a damaged index stops gc: ERR_PROTOCOL, since what it references
 * cannot be known), and every deleted index (trash/) deleted after the
 * cutoff; forget older deleted ones.  Sweep: remove each unreferenced
 * chunk not put or touched since the cutoff, atomically against writers
 * touching it.  Safe against writers running at the same time: every
 * chunk a writer will reference was put or touched after it registered,
 * or is in its parent, which exists or was deleted after it registered.
 */
int chunk_store_gc(struct chunk_store *cs, const struct chunk_gc_opts *opts,
                   const struct progress *p, struct chunk_gc_report *rep,
                   struct error **errp);

struct chunk_stats {
    uint64_t indexes;          /* indexes */
    uint64_t chunks;           /* chunk objects */
    uint64_t stored_bytes;     /* their size, compressed, with headers */
    uint64_t disk_bytes;       /* what the store's chunks take, with the
                                * space compaction has not given back */
    uint64_t referenced_chunks; /* distinct non-zero chunks referenced */
    uint64_t logical_bytes;    /* sum of the indexes' disk sizes */
    uint64_t data_bytes;       /* sum of their non-zero chunks' bytes */
    double dedup_ratio;        /* data_bytes / stored_bytes (0 if empty) */
};

/* Per index, for chunk_store_stats. */
struct chunk_index_stats {
    const char *name;   /* index name, borrowed */
    int64_t disk_size;  /* virtual size */
    uint64_t chunks;    /* chunks */
    uint64_t data_chunks; /* non-zero chunks */
    uint64_t data_bytes;  /* their bytes */
};

/* Count the store.  FN (may be NULL) gets each index. */
int chunk_store_stats(struct chunk_store *cs,
                      void (*fn)(const struct chunk_index_stats *is,
                                 void *opaque),
                      void *opaque, struct chunk_stats *st,
                      struct error **errp);

#endif
