/* vmsnap: recovering from vmsnap processes that died.
 *
 * Every operation that makes an image holds its image lock
 * (store_lock_image) until the record is final, and snapshots also hold
 * the instance lock; temporary directories are locked by their owner.  A
 * record in queued, saving or importing whose lock is free was left by a
 * process that died (SIGKILL, a crash, a power cut).  reap_stale finds
 * them and finishes them off, so that nothing stays half-made:
 *   - a snapshot or an upload: the image is marked killed with the reason,
 *     its data and its set's volume snapshots removed, the instance's
 *     task cleared, and the snapshot's leftover block jobs and nodes in
 *     the instance's QEMU cancelled and deleted;
 *   - an import: the image, its volume snapshots and the kernel and
 *     ramdisk images made for it are removed;
 *   - temporary directories nobody holds any more are removed.
 * The guest itself is never left frozen: the quiesce watchdog sees to
 * that (quiesce.h).
 */
#ifndef VMSNAP_REAP_H
#define VMSNAP_REAP_H

#include "store.h"

/* Reap what dead processes left in STORE.  Cheap when there is nothing
 * to do (one catalog query); errors are logged, never returned.  Called
 * before images are listed or made.
 */
void reap_stale(struct store *store);

#endif
