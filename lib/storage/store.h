/* vmsnap: the data directory.
 *
 * Everything vmsnap keeps lives under one directory:
 *   catalog.db               the SQLite catalog (images, instances, ...)
 *   images/<uuid>.<format>   image data, written once, then read-only
 *   instances/<uuid>/        an instance: disks, QEMU sockets, logs, lock
 *   volumes/<uuid>.qcow2     a volume's data (written by its instance)
 *   volume-snapshots/<uuid>.qcow2  a volume snapshot, written once
 *   tmp/                     work files of operations in progress
 * The directory is chosen by --data-dir, else $VMSNAP_DATA_DIR, else
 * /var/lib/vmsnap for root and $XDG_DATA_HOME/vmsnap (~/.local/share) for
 * other users.
 */
#ifndef VMSNAP_STORE_H
#define VMSNAP_STORE_H

#include <stdbool.h>

#include "catalog.h"
#include "error.h"

struct store;

/* Open the data directory DIR (NULL: the default described above),
 * creating it and its catalog if needed.  Returns NULL on failure.
 */
struct store *store_open(const char *dir, struct error **errp);

/* Close the catalog and free STORE; NULL is allowed. */
void store_close(struct store *store);

/* The catalog and the directory path; borrowed, valid until store_close. */
struct catalog *store_catalog(struct store *store);
const char *store_dir(const struct store *store);

/* Close the catalog before a fork () and open it again after, in the
 * parent and in the child: an SQLite connection must not cross a fork,
 * and one left open in the parent would corrupt the child's locking.
 * Between the two calls store_catalog must not be used; a pointer taken
 * from it before is invalid afterwards.
 */
void store_suspend_catalog(struct store *store);
int store_resume_catalog(struct store *store, struct error **errp);

/* Path of an image's data file.  Caller frees. */
char *store_image_path(const struct store *store, const char *image_id,
                       const char *disk_format);

/* Paths of a volume's and of a volume snapshot's data file.  Caller
 * frees.
 */
char *store_volume_path(const struct store *store, const char *volume_id);
char *store_volume_snapshot_path(const struct store *store,
                                 const char *snap_id);

/* Path of a file in an instance's directory (NAME NULL: the directory
 * itself).  Caller frees.
 */
char *store_instance_path(const struct store *store, const char *instance_id,
                          const char *name);

/* A new unique path under tmp/ whose name starts with PREFIX (nothing is
 * created).  Caller frees.
 */
char *store_tmp_path(const struct store *store, const char *prefix);

/* Make a new private directory under tmp/ whose name starts with PREFIX
 * and lock it (flock) for as long as the returned fd stays open: close it
 * after removing the directory.  On success *PATH (caller frees) is the
 * directory.  Returns the fd or -1.
 */
int store_make_tmp_dir(const struct store *store, const char *prefix,
                       char **path, struct error **errp);

/* Remove what dead processes left under tmp/: directories nobody holds
 * locked (see store_make_tmp_dir) that are over a minute old, and lock
 * files of finished operations.  Cheap; errors are ignored.
 */
void store_reap_tmp(const struct store *store);

/* Take the per-instance lock, an exclusive flock on instances/<id>/lock,
 * that serialises life-cycle operations on one instance across processes.
 * With WAIT false, a held lock is an ERR_CONFLICT error; an instance
 * whose directory is gone is ERR_NOT_FOUND.  Returns the lock fd (close
 * it to release) or -1.
 */
int store_lock_instance(const struct store *store, const char *instance_id,
                        bool wait, struct error **errp);

/* The lock of an image being made (uploaded, snapshotted, imported): its
 * maker holds it from before the record exists until the record is final
 * (active, killed or gone), so that a record left in queued, saving or
 * importing by a process that died can be told apart: its lock is free.
 * Arguments and result as store_lock_instance; ERR_CONFLICT also when the
 * maker has just finished.  Release it with store_unlock_image, after the
 * record is final.
 */
int store_lock_image(const struct store *store, const char *image_id,
                     bool wait, struct error **errp);
void store_unlock_image(const struct store *store, const char *image_id,
                        int fd);
char *store_image_lock_path(const struct store *store, const char *image_id);

#endif
