/* vmsnap: consistent snapshots of servers (Nova's createImage, done
 * better).
 *
 * Asking for a snapshot (snapshot_request) checks the server and the
 * name, marks the server busy (task_state image_snapshot) and records
 * the new image (queued) and a task; the task does the work, in this
 * process or in a worker (task.h):
 *
 * A running server is snapshotted live:
 *   1. prepare: the hypervisor driver creates every target and opens it,
 *      before anything touches the guest;
 *   2. freeze the guest's filesystems through the agent (quiesce.h),
 *      with a watchdog that thaws even if we die;
 *   3. fix the point in time of every disk in one operation of the
 *      driver whose cost does not grow with the disks' size;
 *   4. thaw at once;
 *   5. the driver copies in the background of the guest; the targets are
 *      committed to the image store, hashed, and the image made active.
 * A stopped server is snapshotted cold (qemu-img convert of its disks);
 * a paused one takes the live path without the agent.
 *
 * With all_volumes, the same freeze and the same point in time cover the
 * root disk and every attached volume: the image gets a
 * block_device_mapping and each volume a volume snapshot tagged
 * instance_snapshot_id and instance_uuid.  All or nothing.
 *
 * Quiesce is automatic when the server was booted with
 * hw_qemu_guest_agent=yes.  With os_require_quiesce=yes (on the server,
 * captured from its image at boot, or on the image now) a snapshot that
 * cannot be quiesced fails and leaves no image; without it, it goes on
 * crash-consistent, with a warning in the task and vmsnap_quiesced=no.
 *
 * The image records instance_uuid, base_image_ref (the original base,
 * also through snapshots of snapshots), image_type, the source image's
 * properties (props_inherited_by_snapshot), and vmsnap_mode,
 * vmsnap_quiesced, vmsnap_freeze_ms (freeze request to confirmed thaw),
 * vmsnap_hold_ms (the part vmsnap controls: the agent's freeze reply to
 * the thaw request), vmsnap_point_in_time, vmsnap_copy_ms and, of it,
 * vmsnap_copy_yield_ms (the copy giving way to a guest kept waiting for
 * a core; pacer.h).
 * On failure the data and the driver's temporary nodes are removed; the
 * image record is deleted when the task ran in the foreground (or the
 * request asked for delete_failed), and left killed with the reason when
 * it ran in the background.  The request and its end are recorded as the
 * server's action createImage or createBackup (actions.h).
 */
#ifndef VMSNAP_SNAPSHOT_H
#define VMSNAP_SNAPSHOT_H

#include <stdbool.h>

#include "catalog.h"
#include "error.h"
#include "svc.h"
#include "task.h"

struct snapshot_opts {
    const char *name;               /* name of the new image (required) */
    bool all_volumes;               /* also every attached volume, at the
                                     * same instant */
    int freeze_timeout_ms;          /* 0: snapshot.freeze_timeout_ms */
    const char *image_type;         /* "snapshot" (default) or "backup" */
    const struct prop *extra_props; /* set on the image last, or NULL */
    size_t nextra;                  /* entries in extra_props */
    const char *backup_type;        /* backups: their type, else NULL */
    int rotation;                   /* backups: how many to keep */
    bool incremental;               /* backups: into the chunk store,
                                     * only what changed since the last
                                     * one when its chain is sound
                                     * (store.h); root disk only */
    bool delete_failed;             /* on failure the image goes, also
                                     * when the task runs in a worker
                                     * (Nova's way: a client waiting for
                                     * it sees it vanish, never "killed") */
};

/* Ask for a snapshot of server REF as OPTS says.  On success *IMG (caller
 * frees) is the new image, queued, and *TASK (caller frees) the task that
 * makes it: run it (task_run) or start it (task_spawn).  Errors:
 * ERR_CONFLICT (the server is busy, or an image has that name),
 * ERR_INVALID, ERR_NOT_FOUND.
 */
int snapshot_request(struct svc *svc, const struct caller *who,
                     const char *ref, const struct snapshot_opts *opts,
                     struct image **img, struct task **task,
                     struct error **errp);

/* snapshot_request for a task of another KIND that makes a snapshot
 * first (backups): the request carries OPTS->backup_type and rotation.
 */
int snapshot_request_kind(struct svc *svc, const struct caller *who,
                          const char *ref, const struct snapshot_opts *opts,
                          const struct task_kind *kind, struct image **img,
                          struct task **task, struct error **errp);

/* Delete image REF (images_delete) and then the volume snapshots of its
 * set, except those a volume still uses.
 */
int snapshot_delete_image(struct svc *svc, const struct caller *who,
                          const char *ref, struct error **errp);

/* The task kind that makes the snapshot, and its recovery (for kinds
 * built on it).
 */
extern const struct task_kind snapshot_task_kind;
void snapshot_recover(struct svc *svc, const struct task *task);

#endif
