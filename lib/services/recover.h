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
 *     is marked failed (task.h); tasks left queued by a process that
 *     died, the same;
 *   - an upload left queued or saving: the image is marked killed with
 *     the reason and its data removed;
 *   - an import left importing: the image, its volume snapshots and the
 *     kernel and ramdisk images made for it are removed;
 *   - a server marked busy by no live task: no longer busy;
 *   - temporary directories nobody holds any more: removed.
 * The guest itself is never left frozen: the quiesce watchdog sees to
 * that (quiesce.h).
 *
 * With a catalog several hosts share, the locks are leases (lock.h): a
 * lock of a dead process of this host is free at once, one of another
 * host's once its lease expired (catalog.lease_ttl_s after the host died,
 * hung or lost the catalog).  So any host's recovery finishes what any
 * host left, and two hosts never recover the same record (taking the
 * lock decides).  What lives only on one host is left to that host:
 * another host's recovery changes records and the object store, never a
 * hypervisor that is not its own; it marks the server (META_REAP_BACKUP)
 * so that the server's host reaps the leftovers of the dead snapshot in
 * its hypervisor, and each host sweeps its own temporary files and cache.
 *
 * It runs once, when a service context opens (svc_open).
 */
#ifndef VMSNAP_RECOVER_H
#define VMSNAP_RECOVER_H

#include <stdbool.h>

#include "catalog.h"
#include "svc.h"

/* Recover what dead processes left.  Cheap when there is nothing to do (a
 * few catalog queries); errors are logged, never returned.
 */
void recover_all(struct svc *svc);

/* Whether IMG, queued, waits for data nobody is making, which is no
 * process's leftover: an image reserved through the API (Glance's POST
 * /v2/images) rests in queued until its upload, with no lock and no task.
 */
bool recover_image_at_rest(const struct image *img);

#endif
