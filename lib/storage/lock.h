/* vmsnap: locks that serialise work on one object across processes.
 *
 * A lock is named by a kind ("instance", "image", "task") and an ID.
 * Whoever changes an instance's life cycle holds its instance lock;
 * whoever makes an image holds its image lock until the record is final;
 * a worker holds its task's lock while it runs the task.  A record left
 * in a transitional state whose lock is free was left by a process that
 * died: recovery (services/recover.c) finishes it or removes it.
 *
 * Implementations:
 *   file   an exclusive flock on <data dir>/locks/<kind>-<id>.lock: it
 *          dies with its holder (also by SIGKILL), on one host;
 *   lease  a row in the shared catalog with an owner and an expiry that
 *          the holder renews, for several hosts (catalog/lease).
 *
 * A held lock does not survive exec; it is released by lock_release or
 * by the death of the process.
 */
#ifndef VMSNAP_LOCK_H
#define VMSNAP_LOCK_H

#include <stdbool.h>

#include "error.h"

struct locks;   /* a lock manager */
struct lock;    /* a lock held */

/* Locks as flock files under DATA_DIR/locks (created if missing). */
struct locks *locks_open_files(const char *data_dir, struct error **errp);
void locks_close(struct locks *l);

/* Take the lock KIND/ID.  With WAIT false, a lock another process holds
 * is ERR_CONFLICT "KIND ID is busy"; with WAIT true, wait for it.
 * Returns 0 with *OUT set, or -1.
 */
int lock_take(struct locks *l, const char *kind, const char *id, bool wait,
              struct lock **out, struct error **errp);

/* Release LK (NULL is allowed).  Never fails. */
void lock_release(struct lock *lk);

/* Is KIND/ID held by a live process?  1 held, 0 free, -1 on error.
 * Nothing is changed (a lock file found free stays for locks_sweep).
 */
int lock_held(struct locks *l, const char *kind, const char *id,
              struct error **errp);

/* Find the locks that a process which died left behind (a lock file
 * whose lock nobody holds) and call FN (may be NULL) with the name of
 * each ("KIND-ID"); with REMOVE, remove them.  Held locks are never
 * touched.  Returns the number found, or -1 with ERR_IO when the locks
 * cannot be listed.
 */
int locks_sweep(struct locks *l, bool remove,
                void (*fn)(const char *name, void *opaque), void *opaque,
                struct error **errp);

#endif
