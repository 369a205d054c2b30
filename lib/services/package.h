/* vmsnap: OVA packages of images, to move an image, or a whole
 * instance-level snapshot, to another host or another cloud (seed 004).
 *
 * Export writes an image and everything it needs to boot elsewhere as
 * one OVA (formats/ovf.h): its disk, the volume snapshots its
 * block_device_mapping names, in device order, and its kernel and
 * ramdisk images; CPU count and memory go into the descriptor's
 * hardware section, every property into vmsnap's own section.
 *
 * Import checks the whole package, then registers it under new IDs: the
 * kernel and ramdisk as aki/ari images (tagged vmsnap_import_of), each
 * volume disk as a volume snapshot, the root disk as a qcow2 image whose
 * kernel_id, ramdisk_id and block_device_mapping point at the new
 * records, so that "server create" boots it with all its disks.  The
 * records exist (status importing, creating) before any data is written,
 * under the image's lock, so a process that dies half-way leaves
 * records recovery removes, never files without records.  All or
 * nothing.  Before converting, the disks' declared sizes are checked
 * against the largest image allowed and the free space.
 *
 * Both are tasks (task.h): run them, or start them in a worker.
 */
#ifndef VMSNAP_PACKAGE_H
#define VMSNAP_PACKAGE_H

#include "catalog.h"
#include "error.h"
#include "svc.h"
#include "task.h"

struct images_upload;   /* images.h */

/* Ask for an export of image REF (active, a qcow2 or raw disk) to PATH
 * (must not exist), its disks as DISK_FORMAT ("vmdk" or "qcow2").  *OUT
 * (caller frees) is the task.
 */
int package_export_request(struct svc *svc, const struct caller *who,
                           const char *ref, const char *path,
                           const char *disk_format, struct task **out,
                           struct error **errp);

/* Ask for an import of the OVA at PATH as image NAME (NULL: the
 * package's name).  *OUT (caller frees) is the task; its image_id is the
 * new image once it succeeded.
 */
int package_import_request(struct svc *svc, const struct caller *who,
                           const char *path, const char *name,
                           struct task **out, struct error **errp);

/* Ask for an import of the OVA at PATH (absolute; the image store's
 * staging object of an upload, removed when the import ends) into image
 * IMAGE_ID, which an upload reserved and left importing (images.h,
 * container format ova): the image made of the package replaces that
 * record under the same ID, keeping what its owner gave it (name,
 * visibility, properties, tags).  On failure the record stays, killed
 * with the reason.  *OUT (caller frees) is the task.
 */
int package_import_into_request(struct svc *svc, const struct caller *who,
                                const char *path, const char *image_id,
                                struct task **out, struct error **errp);

/* Remove what an import that died left of image IMG (status importing):
 * the image, its volume snapshots, the kernel and ramdisk images made
 * for it, their data.  For recovery.
 */
void package_import_undo(struct svc *svc, const struct image *img);

extern const struct task_kind package_export_task_kind;
extern const struct task_kind package_import_task_kind;

/* Finish upload U of an image of container format ova (images.h): the
 * package is handed to an import into that image (as
 * package_import_into_request), which *TASK (caller frees; start it with
 * runner_spawn or run it) is.  The image is importing until the task
 * ends.  On failure the upload's data is removed and the image killed.
 * Frees U either way.  *OUT (caller frees, may be NULL) is the image
 * after.
 */
int package_upload_finish(struct svc *svc, struct images_upload *u,
                          struct image **out, struct task **task,
                          struct error **errp);

#endif
