/* vmsnap: the s3 image-data store (struct blob_ops, see blob.h): objects
 * in an S3 bucket, with a bounded local cache of the ones QEMU or
 * qemu-img must open as files.
 *
 * The cache directory holds
 *   objects/KEY     complete copies of objects (the cache proper);
 *   staging/KEY     files being made (blob_create .. blob_commit), each
 *                   with staging/KEY.lock flocked by its maker;
 *   tmp/            downloads in progress, flocked by their downloader;
 *   uploads/        one file per multipart upload in progress, flocked by
 *                   its uploader, naming the key and upload id;
 *   .lock           taken by whoever evicts.
 * Everything in it can be rebuilt from the bucket: deleting the directory
 * at any time loses no committed object (an object being made at that
 * moment fails to commit, cleanly).
 *
 * Bounded: after a download or a commit, entries are evicted, least
 * recently used first (the access time, which this store sets itself
 * on every use), until objects/ holds at most cache_max bytes.  An entry
 * is never evicted while it is in use: while a process of ours holds it
 * (a shared flock, kept by local_path until the store is closed and by a
 * reader), while any process holds a POSIX or OFD lock on it (QEMU and
 * qemu-img lock the images they open, a backing file included), or
 * within grace_s seconds of its last use (the hand-over from the vmsnap
 * process that fetched it to the QEMU that opens it).  So the cache may
 * stay above its limit when everything in it is in use.
 *
 * No part is left behind by a failed upload: s3_upload aborts it; if the
 * abort fails too (the store is down), the upload's file in uploads/
 * stays, and the next open of the store on this host aborts it.  Uploads
 * that even that missed (the cache directory deleted, the host gone) are
 * found by blob_s3_sweep_uploads by age.
 *
 * A store handle is used by one thread at a time.  Every call may block
 * on disk or network I/O.
 */
#ifndef VMSNAP_BLOB_S3_H
#define VMSNAP_BLOB_S3_H

#include <stdint.h>
#include <time.h>

#include "blob.h"
#include "error.h"
#include "s3.h"

/* What the store needs (strings borrowed for the call). */
struct blob_s3_settings {
    struct s3_settings s3;  /* endpoint, bucket, region, credentials file,
                             * part size, timeouts */
    const char *cache_dir;  /* NULL or "": DATA_DIR/cache/s3 */
    int64_t cache_max;      /* bytes; 0: 10 GiB */
    int grace_s;            /* 0: 60; -1: none (tests) */
};

struct blob_s3;

/* The ops table of the s3 store, for blob.c's list of stores. */
const struct blob_ops *blob_s3_ops(void);

/* Open the store from SETTINGS, DATA_DIR the data directory: checks the
 * settings and the bucket (ERR_NOT_FOUND when it does not exist), makes
 * the cache directories, removes what dead processes left in them and
 * aborts the uploads they left.  Returns the store (what ops->open keeps
 * as its private state), or NULL.
 */
struct blob_s3 *blob_s3_open(const struct blob_s3_settings *settings,
                             const char *data_dir, struct error **errp);

/* Close BS, releasing its cache pins; NULL is allowed. */
void blob_s3_close(struct blob_s3 *bs);

/* Evict unused cache entries until the cache holds at most TARGET bytes
 * (-1: the configured limit).  Returns the bytes the cache still holds,
 * or -1.
 */
int64_t blob_s3_evict(struct blob_s3 *bs, int64_t target,
                      struct error **errp);

/* Abort every multipart upload under vmsnap's prefixes begun more than
 * MAX_AGE seconds ago (by any host: give it hours, more than the longest
 * upload).  Returns the number aborted, or -1.
 */
int blob_s3_sweep_uploads(struct blob_s3 *bs, time_t max_age,
                          struct error **errp);

/* The S3 client of BS, borrowed (tests, tools). */
struct s3 *blob_s3_client(struct blob_s3 *bs);

#endif
