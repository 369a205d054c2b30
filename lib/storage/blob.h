/* vmsnap: where image data lives (the image-data store interface).
 *
 * Images and volume snapshots are immutable objects named by a key, a
 * relative path such as "images/<uuid>.qcow2".  The catalog records
 * where one is as a location, "<scheme>:<key>" ("file:images/<uuid>.qcow2",
 * "s3:images/<uuid>.qcow2"), never as an absolute path: a location is
 * resolved by the store that made it, under its own root, so a planted
 * catalog row cannot point vmsnap at another file, and a data directory
 * or bucket can move.
 *
 * Stores:
 *   file  objects are files under the data directory (blob-file.c);
 *   s3    objects in an S3 bucket, with a bounded local cache for what
 *         QEMU or qemu-img must open as a file (blob-s3.c).
 *
 * Making an object: blob_create gives a local file that the caller (or
 * qemu-img, or QEMU) fills; blob_commit makes it durable (data and
 * directory entry synced; uploaded) and returns its location; on any
 * failure, or after the death of whoever made it, blob_discard removes
 * it.  A caller that writes the file once, in order, may let the store
 * send it as it is written (blob_send_early), so that the upload and
 * the writing overlap.  Objects are never changed after commit.
 *
 * Every call may block on disk or network I/O.
 */
#ifndef VMSNAP_BLOB_H
#define VMSNAP_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "error.h"
#include "file-follow.h"
#include "progress.h"

#define BLOB_OPS_VERSION 1

struct blob;          /* an open store */
struct blob_reader;   /* an object open for reading */

struct blob_ops {
    int version;             /* BLOB_OPS_VERSION it implements */
    const char *scheme;      /* "file", "s3": the locations it owns */

    /* Open the store with CFG (borrowed; DATA_DIR is the data directory
     * for local files and caches).  *PRIV is its private state.
     */
    int (*open)(struct blob *b, const struct config *cfg,
                const char *data_dir, void **priv, struct error **errp);
    void (*close)(struct blob *b);

    /* A new local file to fill for object KEY: *PATH (caller frees)
     * does not exist yet; the caller creates it (O_EXCL, qemu-img
     * create).  ERR_CONFLICT when KEY is being made or exists.
     */
    int (*create)(struct blob *b, const char *key, char **path,
                  struct error **errp);

    /* PATH (from create) is complete: make it object KEY, durably, and
     * set *LOCATION (caller frees).  The file must not be written after.
     */
    int (*commit)(struct blob *b, const char *key, const char *path,
                  const struct progress *p, char **location,
                  struct error **errp);

    /* Forget object KEY being made (the file create gave, if it exists,
     * and the object if it was committed): after a failure, or for a
     * process that died making it, when no record holds its location.
     * Never fails.
     */
    void (*discard)(struct blob *b, const char *key);

    /* A local file of LOCATION's data that QEMU or qemu-img may open
     * read-only, valid as long as the object exists (s3: a cached copy,
     * fetched with progress if missing).  *PATH: caller frees.
     */
    int (*local_path)(struct blob *b, const char *location,
                      const struct progress *p, char **path,
                      struct error **errp);

    /* Open LOCATION for reading at any offset (downloads); *SIZE is its
     * length.
     */
    int (*open_read)(struct blob *b, const char *location,
                     struct blob_reader **out, int64_t *size,
                     struct error **errp);
    ssize_t (*read)(struct blob_reader *r, void *buf, size_t len,
                    int64_t offset, struct error **errp);
    void (*close_read)(struct blob_reader *r);

    /* Remove the object at LOCATION; a missing one is not an error. */
    int (*remove)(struct blob *b, const char *location,
                  struct error **errp);

    /* Call FN with the location of every object whose key starts with
     * PREFIX ("images/"), for orphan checks; stops early when FN returns
     * false.
     */
    int (*list)(struct blob *b, const char *prefix,
                bool (*fn)(const char *location, void *opaque),
                void *opaque, struct error **errp);

    /* Optional (NULL: not offered; commit sends the whole file).
     * Start sending KEY's file PATH (from create) while the caller still
     * writes it, as F says (file-follow.h).  F is the caller's; it stays
     * valid until commit or discard of KEY returns, and the caller ends
     * it before either (file_follow_done, or file_follow_fail).  commit
     * then waits for this sending instead of sending; discard stops it
     * and removes what it stored.
     */
    int (*send_early)(struct blob *b, const char *key, const char *path,
                      struct file_follow *f, struct error **errp);

    /* Methods above are valid for version 1. */
};

/* Open a store of OPS with CFG; DATA_DIR is the data directory.  The
 * store named by the configuration is opened with blob_open
 * (blob-registry.h).  NULL with errp set.
 */
struct blob *blob_open_ops(const struct blob_ops *ops,
                           const struct config *cfg, const char *data_dir,
                           struct error **errp);
void blob_close(struct blob *b);

const char *blob_scheme(const struct blob *b);
void *blob_priv(const struct blob *b);

/* The calls, one per method.  A location of another scheme than the
 * store's, or a key that is not a plain relative path under one of the
 * known prefixes (images/, volume-snapshots/, chunks/, indexes/), is
 * ERR_INVALID.
 */
int blob_create(struct blob *b, const char *key, char **path,
                struct error **errp);
/* Returns 1 when the store sends while the file is written, 0 when it
 * does not (the file store, where a commit moves no data), -1 on error.
 */
int blob_send_early(struct blob *b, const char *key, const char *path,
                    struct file_follow *f, struct error **errp);
int blob_commit(struct blob *b, const char *key, const char *path,
                const struct progress *p, char **location,
                struct error **errp);
void blob_discard(struct blob *b, const char *key);
int blob_local_path(struct blob *b, const char *location,
                    const struct progress *p, char **path,
                    struct error **errp);
int blob_open_read(struct blob *b, const char *location,
                   struct blob_reader **out, int64_t *size,
                   struct error **errp);
ssize_t blob_read(struct blob_reader *r, void *buf, size_t len,
                  int64_t offset, struct error **errp);
void blob_close_read(struct blob_reader *r);
int blob_remove(struct blob *b, const char *location, struct error **errp);
int blob_list(struct blob *b, const char *prefix,
              bool (*fn)(const char *location, void *opaque), void *opaque,
              struct error **errp);

/* Check that KEY is one vmsnap makes: a relative path of plain names
 * under a known prefix, no "..", no empty or hidden component.
 */
bool blob_key_valid(const char *key);

/* The key of LOCATION ("file:images/x.qcow2" -> "images/x.qcow2"),
 * borrowed from LOCATION, or NULL if it is not "<scheme>:<valid key>".
 */
const char *blob_location_key(const char *location, const char *scheme);

/* Every struct blob_reader starts with this. */
struct blob_reader {
    struct blob *b;          /* the store it reads from */
};

#endif
