/* vmsnap: recovering from vmsnap processes that died.
 *
 * Whoever makes an image holds its image lock until the record is final;
 * whoever runs a task holds the task's lock; temporary directories are
 * locked by their owner.  A record in a transitional state whose lock is
 * free was left by a process that died (SIGKILL, a crash, a power cut).
 * recover_all finds them and finishes them off, so that nothing stays
 * half-made:
 *   - tasks left running: their kind's recovery (a snapshot's image is
 *     killed, its data, its set's volume snapshots and the driver's
 *     leftover nodes removed, the server no longer busy), then the task
 *     is marked failed (task.h);
 *   - an upload left queued or saving: the image is marked killed with
 *     the reason and its data removed;
 *   - an import left importing: the image, its volume snapshots and the
 *     kernel and ramdisk images made for it are removed;
 *   - a server marked busy by no live task: no longer busy;
 *   - temporary directories nobody holds any more: removed.
 * The guest itself is never left frozen: the quiesce watchdog sees to
 * that (quiesce.h).
 *
 * It runs once, when a service context opens (svc_open).
 */
#ifndef VMSNAP_RECOVER_H
#define VMSNAP_RECOVER_H

#include "svc.h"

/* Recover what dead processes left.  Cheap when there is nothing to do (a
 * few catalog queries); errors are logged, never returned.
 */
void recover_all(struct svc *svc);

#endif
