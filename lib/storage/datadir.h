/* vmsnap: the data directory of one host.
 *
 *   catalog.db               the SQLite catalog (when no server is used)
 *   images/, volume-snapshots/   objects of the file store (blob-file.c)
 *   instances/<uuid>/        an instance: its root disk and the hypervisor
 *                            driver's files (sockets, logs)
 *   volumes/<uuid>.qcow2     a volume's data (written by its instance)
 *   locks/                   lock files (lock-file.c)
 *   logs/                    logs of worker processes
 *   tmp/                     work files of operations in progress
 *   reserve                  space kept for a full disk (below)
 *
 * Root keeps image data here and runs QEMU on it, so the directory must
 * be ours alone: datadir_open refuses one that another user owns or can
 * write (audit M3), and makes missing ones 0700.
 */
#ifndef VMSNAP_DATADIR_H
#define VMSNAP_DATADIR_H

#include "error.h"

/* The reserve: a file of this many bytes that datadir_open keeps in the
 * data directory while there is room, and removes when the file system
 * is full, so that vmsnap can still write its catalog to delete images
 * and free space (audit M4).
 */
#define DATADIR_RESERVE "reserve"
#define DATADIR_RESERVE_BYTES (8 * 1024 * 1024)

/* Create DIR and its subdirectories if needed and check that DIR is owned
 * by us and writable by nobody else; keep the reserve (above).  On
 * success *REAL (caller frees) is its absolute path.  Returns 0, or -1
 * with ERR_IO, or ERR_INVALID naming the problem ("data directory X is
 * writable by other users").
 */
int datadir_open(const char *dir, char **real, struct error **errp);

/* Paths under the data directory DIR.  Caller frees. */
char *datadir_instance_dir(const char *dir, const char *instance_id);
char *datadir_volume_file(const char *dir, const char *volume_id);
char *datadir_log_file(const char *dir, const char *name);

/* A new unique path under tmp/ whose name starts with PREFIX (nothing is
 * created).  Caller frees.
 */
char *datadir_tmp_path(const char *dir, const char *prefix);

/* Make a new private directory under tmp/ whose name starts with PREFIX
 * and lock it (flock) for as long as the returned fd stays open: close it
 * after removing the directory.  On success *PATH (caller frees) is the
 * directory.  Returns the fd or -1.
 */
int datadir_make_tmp_dir(const char *dir, const char *prefix, char **path,
                         struct error **errp);

/* Remove what dead processes left under tmp/: entries over a minute old
 * that nobody holds locked.  Cheap; errors are ignored.
 */
void datadir_reap_tmp(const char *dir);

#endif
