/* vmsnap: consistent snapshots of instances (Nova's createImage, done
 * better).
 *
 * A running instance is snapshotted live:
 *   1. prepare: create the target qcow2 file and add it as a block node,
 *      before anything touches the guest;
 *   2. freeze the guest's filesystems through the agent (quiesce.h);
 *   3. fix the point in time with one QMP "transaction" of blockdev-backup
 *      (sync full), which installs a copy-before-write filter and returns
 *      at once: nothing in the window grows with the disk's size;
 *   4. thaw at once;
 *   5. let QEMU copy in the background of the guest, then close the node,
 *      hash the data and make the image active.
 * A stopped instance is snapshotted cold (qemu-img convert of its disk);
 * a paused one takes the live path without the agent.
 *
 * With all_volumes, the same freeze and the same transaction (completion
 * mode grouped) cover the root disk and every attached volume: the image
 * gets a block_device_mapping property and each volume a volume snapshot
 * tagged instance_snapshot_id and instance_uuid.  All or nothing: if one
 * disk fails, no part of the set remains.
 *
 * Quiesce is automatic when the instance was booted with
 * hw_qemu_guest_agent=yes.  With os_require_quiesce=yes a snapshot that
 * cannot be quiesced fails and leaves no image; without it, it goes on
 * crash-consistent, warns, and records vmsnap_quiesced=no.
 *
 * The image records instance_uuid, base_image_ref (the original base, also
 * through snapshots of snapshots), image_type=snapshot, the source image's
 * properties, and vmsnap_mode, vmsnap_quiesced, vmsnap_freeze_ms,
 * vmsnap_hold_ms (the part of the freeze vmsnap itself controls: from
 * the agent's freeze reply to the thaw request, the transaction inside),
 * vmsnap_point_in_time and vmsnap_copy_ms (how long the copy took).
 * Status moves queued, saving, active.  On failure the data and the
 * temporary nodes are removed and the record deleted; a --no-wait copy
 * that fails in the background leaves the image killed with the reason.
 */
#ifndef VMSNAP_SNAPSHOT_H
#define VMSNAP_SNAPSHOT_H

#include <stdbool.h>

#include "catalog.h"
#include "error.h"
#include "progress.h"
#include "store.h"

struct snapshot_opts {
    const char *name;               /* name of the new image (required) */
    bool no_wait;                   /* return once the point in time is
                                     * fixed; copy in a background process */
    bool all_volumes;               /* also every attached volume, at the
                                     * same instant (one volume snapshot
                                     * each) */
    int freeze_timeout_ms;          /* 0: default (10 s) */
    const char *image_type;         /* "snapshot" (default) or "backup" */
    const struct prop *extra_props; /* set on the image last, or NULL */
    size_t nextra;                  /* entries in extra_props */
    const struct progress *progress; /* copy progress, or NULL */
};

/* Snapshot INST into a new image.  On success *OUT (caller frees) is the
 * image: active, or saving with OPTS->no_wait.  Errors: ERR_CONFLICT (the
 * instance is busy, or an image has that name), ERR_INVALID, ERR_PEER and
 * ERR_TIMEOUT (QEMU or the agent), ERR_IO.
 */
int snapshot_create(struct store *store, const struct instance *inst,
                    const struct snapshot_opts *opts, struct image **out,
                    struct error **errp);

/* Delete image IMG (images_delete) and then the volume snapshots of its
 * set (an instance-level snapshot's), except those a volume still uses.
 */
int snapshot_delete_image(struct store *store, const struct image *img,
                          struct error **errp);

#endif
