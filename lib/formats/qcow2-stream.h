/* vmsnap: a compact qcow2 image written in one sequential pass.
 *
 * Why not qemu-img: an image's MD5 and SHA-512 (Glance's checksum and
 * os_hash_value) are of the FILE, and qemu-img writes a qcow2 out of
 * order (data first, tables updated as it goes), so its bytes can only be
 * hashed by reading the file again once it is done.  This writer knows
 * from the start which clusters hold data (the source's block status), so
 * it lays the file out as: header, refcount table, refcount blocks, L1
 * table, L2 tables, then the data clusters in guest order, and emits
 * every byte once, in file order, hashing as it goes: the two digests
 * run in threads of their own (hashpipe.h) on one 1 MiB buffer while the
 * next fills, so the caller's reading overlaps them.  The output can be
 * a pipe.  bench/snapshot.sh measures it against qemu-img convert
 * (README: "The copy path").
 *
 * The image: qcow2 version 3 (compat 1.1), 64 KiB clusters, 16-bit
 * refcounts, no backing file, no snapshots, no extensions, every
 * refcount 1 (so every L1/L2 entry carries the COPIED flag).  Clusters
 * not given read as zeros.  qemu-img check finds no leak and no error;
 * QEMU boots overlays on it like on any other.
 *
 * Use: qcow2s_new with the virtual size and the set of data clusters,
 * qcow2s_begin (writes the metadata), qcow2s_put_cluster for each data
 * cluster in increasing order, qcow2s_finish.  One caller thread at a time.
 */
#ifndef VMSNAP_QCOW2_STREAM_H
#define VMSNAP_QCOW2_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "hash.h"

#define QCOW2S_CLUSTER_BITS 16
#define QCOW2S_CLUSTER_SIZE (1u << QCOW2S_CLUSTER_BITS)

/* Largest virtual size accepted: 16 TiB (2^28 clusters). */
#define QCOW2S_MAX_SIZE (INT64_C(1) << 44)

struct qcow2s;

/* What the writer produced. */
struct qcow2s_result {
    int64_t file_size;                /* bytes written */
    int64_t data_clusters;            /* data clusters written */
    char md5[HASH_MD5_HEX_LEN];       /* MD5 of the file */
    char sha512[HASH_SHA512_HEX_LEN]; /* SHA-512 of the file */
};

/* A writer for an image of VIRTUAL_SIZE bytes (1 to QCOW2S_MAX_SIZE; a
 * disk's size is a multiple of 512, and QEMU rounds any other up) into
 * FD (borrowed; written from its current position, never seeked).  The
 * set of data clusters is given after, with qcow2s_mark.  Returns NULL
 * with ERR_INVALID for a bad size.
 */
struct qcow2s *qcow2s_new(int64_t virtual_size, int fd, struct error **errp);

/* The number of guest clusters of W's disk. */
uint64_t qcow2s_clusters(const struct qcow2s *w);

/* Mark guest cluster IDX as holding data (before qcow2s_begin). */
void qcow2s_mark(struct qcow2s *w, uint64_t idx);

/* Is guest cluster IDX marked? */
bool qcow2s_marked(const struct qcow2s *w, uint64_t idx);

/* Lay out the file and write its metadata.  ERR_IO if a write fails. */
int qcow2s_begin(struct qcow2s *w, struct error **errp);

/* The size the file will have once finished (known from qcow2s_begin,
 * which computes the layout before it writes the header: every byte of
 * the file can be sent somewhere before it is written).
 */
int64_t qcow2s_planned_size(const struct qcow2s *w);

/* Bytes written to the file so far (the rest is buffered). */
int64_t qcow2s_written(const struct qcow2s *w);

/* Write the data of guest cluster IDX (QCOW2S_CLUSTER_SIZE bytes at BUF;
 * the last cluster of a disk whose size is not a multiple of it is read
 * only up to the disk's end and padded with zeros).  Clusters must come
 * in increasing order, each marked one exactly once: ERR_INVALID
 * otherwise.
 */
int qcow2s_put_cluster(struct qcow2s *w, uint64_t idx, const void *buf,
                       struct error **errp);

/* Check that every marked cluster was written, flush what is buffered
 * and finish the digests into *RES.  Does not sync FD.
 */
int qcow2s_finish(struct qcow2s *w, struct qcow2s_result *res,
                  struct error **errp);

/* Free W; NULL is allowed. */
void qcow2s_free(struct qcow2s *w);

#endif
