/* vmsnap: volumes and volume snapshots, what Cinder does for Nova.
 *
 * A volume is a qcow2 file under the data directory's volumes/ that one
 * server at a time writes.  It is empty, or an overlay on a volume
 * snapshot or on an image (which then cannot be deleted while the volume
 * exists).  Volume snapshots are objects of the image store, written
 * once by an instance-level snapshot (snapshot.h) or an import and never
 * again.
 *
 * Attaching a volume to a server is the servers' business (servers.h),
 * as in Nova.  A volume's device index (1, 2, ...; the root disk is 0)
 * fixes its order on the server; the serial number the guest sees is the
 * start of the volume ID.
 */
#ifndef VMSNAP_VOLUMES_H
#define VMSNAP_VOLUMES_H

#include <stdint.h>

#include "catalog.h"
#include "error.h"
#include "hv.h"
#include "svc.h"
#include "task.h"

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
int volumes_create(struct svc *svc, const struct caller *who,
                   const struct volumes_new *spec, struct volume **out,
                   struct error **errp);

/* Find volume REF (UUID, else name) that WHO may see; caller frees.  Its
 * file is the path of its data, derived from its ID.
 */
int volumes_find(struct svc *svc, const struct caller *who, const char *ref,
                 struct volume **out, struct error **errp);

/* The volumes WHO may see, newest first. */
int volumes_list(struct svc *svc, const struct caller *who,
                 struct volume ***out, size_t *n, struct error **errp);

/* Delete volume REF and its file: refused while attached or while it has
 * snapshots (ERR_CONFLICT).
 */
int volumes_delete(struct svc *svc, const struct caller *who,
                   const char *ref, struct error **errp);

/* Volume snapshots: find, list (all, or those of one instance-level
 * snapshot IMAGE_ID when it is not NULL), delete (refused while a volume
 * or an image depends on it).
 */
int volumes_snapshot_find(struct svc *svc, const struct caller *who,
                          const char *ref, struct volume_snapshot **out,
                          struct error **errp);
int volumes_snapshot_list(struct svc *svc, const struct caller *who,
                          const char *image_id,
                          struct volume_snapshot ***out, size_t *n,
                          struct error **errp);
int volumes_snapshot_delete(struct svc *svc, const struct caller *who,
                            const char *ref, struct error **errp);

/* Ask for a snapshot of volume REF named NAME (Cinder's POST /snapshots):
 * the volume must be available (detached: an attached volume is
 * snapshotted with its server, all volumes at one instant, by snapshot.h).
 * *OUT (caller frees) is the new record, creating, and *TASK (caller
 * frees) the task that copies the volume into the image store and makes
 * it available (or error, with the reason logged, when the copy fails):
 * run it or start it.  While it copies, the volume cannot be opened for
 * writing (qemu-img holds its lock), so attaching it to a running server
 * fails cleanly.
 */
int volumes_snapshot_request(struct svc *svc, const struct caller *who,
                             const char *ref, const char *name,
                             struct volume_snapshot **out, struct task **task,
                             struct error **errp);

/* The task kind that copies a volume into its snapshot. */
extern const struct task_kind volumes_snapshot_task_kind;

/* The local file of volume snapshot VS's data (caller frees); a backup's
 * volume held in the chunk store is made a file first (store.h).
 */
int volumes_snapshot_path(struct svc *svc, const struct volume_snapshot *vs,
                          char **path, struct error **errp);

/* Delete the volume snapshots of image IMAGE_ID's set (tagged
 * instance_snapshot_id = IMAGE_ID), after the image is gone or when its
 * making failed; those a volume still uses stay, with a warning.
 */
void volumes_snapshot_delete_set(struct svc *svc, const char *image_id);

/* Recovery: remove the volumes and volume snapshots that processes
 * which died left creating or deleting (their locks free).  Errors are
 * logged.
 */
void volumes_recover(struct svc *svc);

/* Remove VOL (found already) and its file; for servers_create's undo. */
int volumes_remove(struct svc *svc, const struct volume *vol,
                   struct error **errp);

/* The hypervisor's view of attached volume VOL, borrowing VOL's strings;
 * VOL->file is set to the volume's path, derived from its ID (a path
 * stored in the catalog is never trusted).
 */
void volumes_hv_disk(struct svc *svc, struct volume *vol,
                     struct hv_disk *disk);

/* An image made by an instance-level snapshot names volume snapshots in
 * its block_device_mapping: make a new volume from each and attach it to
 * INST (not running yet) in the same order.
 */
int volumes_from_image_set(struct svc *svc, const struct caller *who,
                           const struct instance *inst,
                           const struct image *img, struct error **errp);

#endif
