/* vmsnap: volumes (what Cinder does for Nova).
 *
 * A volume is a qcow2 file under volumes/ that one instance at a time
 * writes.  It is empty, or an overlay on a volume snapshot or on an
 * image (which then cannot be deleted while the volume exists).  Volume
 * snapshots are files under volume-snapshots/, written once by an
 * instance-level snapshot (snapshot.h) and never again.
 *
 * Attaching to a running instance hot-plugs the disk (blockdev-add, then
 * device_add on a PCIe root port reserved for it); attaching to a stopped
 * one is recorded and takes effect at its next start.  A volume's device
 * index (1, 2, ...; the root disk is 0) fixes its order on the instance:
 * the virtio serial number the guest sees is the volume ID.
 */
#ifndef VMSNAP_VOLUMES_H
#define VMSNAP_VOLUMES_H

#include <stdint.h>

#include "catalog.h"
#include "error.h"
#include "store.h"

/* How many volumes one instance can have (PCIe root ports made at boot). */
#define VOLUMES_MAX_PER_INSTANCE 8

/* What "volume create" asks for: exactly one of SIZE, SNAPSHOT, IMAGE. */
struct volumes_new {
    const char *name;     /* volume name (required) */
    int64_t size;         /* bytes of a new empty volume, or 0 */
    const char *snapshot; /* volume snapshot name or ID to start from */
    const char *image;    /* image name or ID to start from */
};

/* Create volume SPEC; *OUT (caller frees) is the new available volume.
 * On failure nothing is left.
 */
int volumes_create(struct store *store, const struct volumes_new *spec,
                   struct volume **out, struct error **errp);

/* Delete VOL and its file: refused while attached or while it has
 * snapshots (ERR_CONFLICT).
 */
int volumes_delete(struct store *store, const struct volume *vol,
                   struct error **errp);

/* Attach VOL to INST (hot-plugged if INST runs).  ERR_CONFLICT when VOL is
 * attached already (to any instance) or INST has no free slot.
 */
int volumes_attach(struct store *store, const struct instance *inst,
                   const struct volume *vol, struct error **errp);

/* Detach VOL from INST (hot-unplugged if INST runs, waiting for the guest
 * to let go of it).
 */
int volumes_detach(struct store *store, const struct instance *inst,
                   const struct volume *vol, struct error **errp);

/* Delete volume snapshot SNAP and its file: refused while a volume or an
 * image depends on it.
 */
int volumes_snapshot_delete(struct store *store,
                            const struct volume_snapshot *snap,
                            struct error **errp);

/* Delete the volume snapshots of image IMAGE_ID's set (those tagged
 * instance_snapshot_id = IMAGE_ID), after the image is gone or when its
 * making failed; those a volume still uses stay, with a warning.
 */
void volumes_snapshot_delete_set(struct store *store, const char *image_id);

/* The QEMU block node and device names of VOL on its instance. */
void volumes_node_name(const struct volume *vol, char node[32]);
void volumes_device_name(const struct volume *vol, char dev[32]);

/* The -blockdev JSON and -device value that attach VOL (attached, with a
 * device index) at boot or by hot-plug.  Caller puts / frees.
 */
json_object *volumes_blockdev_args(const struct volume *vol);
json_object *volumes_device_args(const struct volume *vol);

#endif
