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
 *          dies with its holder (also by SIGKILL), on one host
 *          (lock-file.c);
 *   lease  a lease in a catalog that several hosts share
 *          (catalog-leases.h; lock-lease.c): a row naming the holder
 *          (host, pid) that a thread of the holder renews every third of
 *          the lease's time.  It is free once it expires (the holder or
 *          its host died, hung, or lost the catalog), or at once when
 *          the holder's process is gone and the one asking is on the
 *          same host.
 * A lease can be lost while it is held: its holder could not renew it
 * for the lease's whole time (the catalog was unreachable), or another
 * host took it after it expired.  Whoever holds a lock while doing long
 * work calls lock_check at its steps and stops when the lock is lost, and
 * writes its final records inside a transaction that calls lock_fence
 * first, so that a holder that lost its lock commits nothing.  File locks
 * are never lost.
 *
 * A held lock does not survive exec; it is released by lock_release or
 * by the death of the process (a lease: at once on its host, by expiry
 * elsewhere).  Kinds and IDs are words of [A-Za-z0-9_-] of at most 64
 * bytes.
 *
 * A lock manager and its locks are used by one thread at a time (the
 * lease manager's renewal thread is its own business).
 */
#ifndef VMSNAP_LOCK_H
#define VMSNAP_LOCK_H

#include <stdbool.h>

#include "catalog.h"
#include "error.h"

struct locks;   /* a lock manager */
struct lock;    /* a lock held */

/* Locks as flock files under DATA_DIR/locks (created if missing). */
struct locks *locks_open_files(const char *data_dir, struct error **errp);

/* Locks as leases in the catalog at CATALOG (a connection string; the
 * manager opens a connection of its own when it first needs one), held
 * by this process on host HOST for TTL_S seconds at a time.  Never
 * fails: the catalog is reached on first use.
 */
struct locks *locks_open_leases(const char *catalog, const char *host,
                                int ttl_s);

/* Close L, releasing what it still holds; NULL is allowed. */
void locks_close(struct locks *l);

/* "file" or "lease". */
const char *locks_kind(const struct locks *l);

/* Take the lock KIND/ID.  With WAIT false, a lock another process holds
 * is ERR_CONFLICT "KIND ID is busy" (a lease says who holds it); with
 * WAIT true, wait for it (a lease: until its holder lets go or it
 * expires).  Returns 0 with *OUT set, or -1 (a lease: also the catalog's
 * errors when it cannot be reached).
 */
int lock_take(struct locks *l, const char *kind, const char *id, bool wait,
              struct lock **out, struct error **errp);

/* Release LK (NULL is allowed).  Never fails (a lease that cannot be
 * released now expires).
 */
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
 * cannot be listed.  Leases leave nothing behind (they expire): 0.
 */
int locks_sweep(struct locks *l, bool remove,
                void (*fn)(const char *name, void *opaque), void *opaque,
                struct error **errp);
/* Is LK still held?  0, or -1 with ERR_CONFLICT "KIND ID: lease lost:
 * WHY".  Does not block on the catalog: it reports what the renewals
 * found.
 */
int lock_check(struct lock *lk, struct error **errp);

/* The fence of a final write: call it inside the transaction of CAT that
 * makes the write; it fails (ERR_CONFLICT) unless LK is still held, as
 * the catalog records it now.  File locks: as lock_check.
 */
int lock_fence(struct lock *lk, struct catalog *cat, struct error **errp);

#endif
