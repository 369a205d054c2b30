/* vmsnap: the copy path (issues 12 and 15).
 *
 * One piece copies a disk for every kind of copy vmsnap makes: the live
 * snapshots and backups of both hypervisor drivers (from the NBD export
 * of the disk's point in time that the driver sets up: QEMU fleecing or
 * libvirt's pull mode), full or incremental, and the restore of a backup
 * out of the chunk store.  It reads a SOURCE and writes a TARGET:
 *
 *   sources  an NBD export (libnbd, on a unix socket): its block status
 *            (base:allocation) says which parts hold data, so holes and
 *            zeros are never read, and, for an incremental, a dirty
 *            bitmap exported beside it (qemu:dirty-bitmap:NAME) says
 *            what changed; several requests are kept in flight;
 *            an index of the chunk store (chunk.h);
 *   targets  a compact qcow2 image file written in one sequential pass
 *            whose MD5 and SHA-512 are computed as it is written
 *            (qcow2-stream.h): never a second read;
 *            an index of the chunk store: every chunk holding data
 *            (full) or a dirty byte (incremental, on the parent's
 *            index) is read whole and written.
 *
 * Time grows with the data (or the change), never with the virtual size:
 * only the block status of empty regions is read.  Every call blocks.
 */
#ifndef VMSNAP_DISKCOPY_H
#define VMSNAP_DISKCOPY_H

#include <stdbool.h>
#include <stdint.h>

#include "chunk.h"
#include "error.h"
#include "file-follow.h"
#include "pacer.h"
#include "progress.h"
#include "qcow2-stream.h"

struct diskcopy_source;

/* Open the NBD export EXPORT on the unix socket SOCK.  With BITMAP, the
 * export's dirty bitmap of that name ("qemu:dirty-bitmap:BITMAP") is
 * read too: ERR_NOT_FOUND when the server does not offer it.
 */
struct diskcopy_source *diskcopy_source_nbd(const char *sock,
                                            const char *export,
                                            const char *bitmap,
                                            struct error **errp);

/* A source reading the disk image PATH of format FORMAT at rest (a
 * stopped server's disk): qemu-nbd serves it read-only on a private
 * socket (under the tmp/ of data directory DATADIR, so a killed
 * process's is cleared by recovery; in /tmp if DATADIR is NULL or too
 * long) for this one connection and exits when the source is closed.
 */
struct diskcopy_source *diskcopy_source_file(const char *path,
                                             const char *format,
                                             const char *datadir,
                                             struct error **errp);

/* A source reading index R of the chunk store (borrowed; outlives the
 * source).  Every chunk read is checked (chunk_reader_read).
 */
struct diskcopy_source *diskcopy_source_chunks(struct chunk_reader *r);

/* The virtual size of SRC's disk. */
int64_t diskcopy_source_size(const struct diskcopy_source *src);

/* Close SRC; NULL is allowed. */
void diskcopy_source_close(struct diskcopy_source *src);

enum diskcopy_kind {
    DISKCOPY_QCOW2,  /* a new qcow2 file */
    DISKCOPY_CHUNKS, /* a new index of the chunk store */
};

/* Where a copy goes, and, once done, what it made.  The caller fills the
 * first part; diskcopy_run the second.
 */
struct diskcopy_target {
    enum diskcopy_kind kind;   /* what to make */
    const char *path;          /* QCOW2: the file to create (must not
                                * exist; removed on failure) */
    struct file_follow *follow; /* QCOW2: told the file's size, how far
                                * it is written and its MD5 as the copy
                                * goes, or that it failed (a store
                                * sending it meanwhile); NULL: none */
    struct chunk_store *store; /* CHUNKS: the store (borrowed) */
    const char *index;         /* CHUNKS: the name of the new index */
    const char *parent;        /* CHUNKS: incremental: the parent index
                                * (the source must have a bitmap), else
                                * NULL for a full copy */
    void (*before_commit)(void *opaque); /* CHUNKS, test hook: called
                                * when every chunk is written, before
                                * the index is committed; NULL: none */
    void *before_commit_opaque;

    /* Results. */
    int64_t virtual_size;             /* the disk's size */
    int64_t bytes_read;               /* bytes read from the source */
    int64_t bytes_dirty;              /* incremental: bytes the bitmap
                                       * marks */
    int64_t requests;                 /* read requests sent */
    int64_t yielded_ms;               /* waits giving way to the guest
                                       * (opts.guest; pacer.h) */
    struct qcow2s_result qcow2;       /* QCOW2: size and hashes */
    struct chunk_index_info info;     /* CHUNKS: the index made */
    struct chunk_writer_stats stats;  /* CHUNKS: what the writer did */
};

/* How to copy (all zero: the defaults). */
struct diskcopy_opts {
    int64_t rate_limit;          /* bytes read per second, 0: none */
    const struct pacer_probe *guest; /* the guest whose vCPUs' waiting
                                  * slows the copy (pacer.h), NULL: none */
    int yield_pct;               /* the share of the time they may wait
                                  * before it does, 0: never */
    int inflight;                /* requests in flight, 0: 8 */
    int nice;                    /* nice value of the copy's threads for
                                  * its length, 0: unchanged */
    const struct progress *progress; /* phase "copy", may be NULL */
    double progress_from;        /* the part of 0-100 this copy spans */
    double progress_to;          /* (0 and 0: all of it) */
    bool sync;                   /* QCOW2: fdatasync the file at the end */
    int stall_ms;                /* NBD: a server that sends nothing this
                                  * long fails the copy (ERR_TIMEOUT), 0:
                                  * 120 s */
    int64_t fail_after;          /* test hook: fail with ERR_IO once this
                                  * many bytes were read, 0: never */
};

/* Copy SRC into T as OPTS says.  On failure nothing made is left (the
 * file removed, the index abandoned to gc).  Errors: the source's
 * (ERR_IO, ERR_PROTOCOL, ERR_PEER, ERR_TIMEOUT: an NBD server silent for
 * opts->stall_ms), the target's, ERR_INVALID (an
 * incremental without a bitmap, a parent of another size).
 */
int diskcopy_run(struct diskcopy_source *src, struct diskcopy_target *t,
                 const struct diskcopy_opts *opts, struct error **errp);

#endif
