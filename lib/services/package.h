/* vmsnap: OVA packages of images, to move an image, or a whole
 * instance-level snapshot, to another host.
 *
 * A package (one OVA, see ovf.h) holds everything an image needs to boot
 * on a host that has never seen it:
 *   - the image's own disk, the root disk, first;
 *   - for an instance-level snapshot, every volume snapshot that its
 *     block_device_mapping property names, in device order;
 *   - the kernel and ramdisk images that its kernel_id and ramdisk_id
 *     properties name, byte for byte (plain files of the package);
 *   - the CPU count and memory (the vmsnap_cpus and vmsnap_memory_mb
 *     properties a snapshot records; else 1 CPU and min_ram, or 256 MiB
 *     without one) and every image property.
 * Disks travel as streamOptimized VMDK (what other OVF tools read) or as
 * qcow2.
 *
 * Import registers a package as new catalog records with new IDs:
 *   - the kernel and ramdisk become aki and ari images;
 *   - each volume disk becomes a volume snapshot (qcow2 under
 *     volume-snapshots/, status available) with metadata
 *     instance_snapshot_id (the new image's ID) and imported_from (the ID
 *     it had where it was exported);
 *   - the root disk becomes a qcow2 image with the package's properties,
 *     kernel_id, ramdisk_id and block_device_mapping rewritten to the new
 *     IDs, vmsnap_cpus and vmsnap_memory_mb set from the package, and
 *     imported_from the ID it had.
 * "server create --image" on the new image then boots it with all its
 * disks.  Import is all or nothing: when it fails, no record and no file
 * of it remains in the data directory, temporary files included.
 *
 * Both functions block for as long as converting, copying and hashing
 * the disks take (no timeout).  The package itself is hostile input:
 * ovf_import checks it before anything is registered.
 */
#ifndef VMSNAP_PACKAGE_H
#define VMSNAP_PACKAGE_H

#include "catalog.h"
#include "error.h"
#include "progress.h"
#include "store.h"

/* Property of the kernel and ramdisk images an import makes: the ID of
 * the root image they belong to.
 */
#define PACKAGE_PROP_IMPORT_OF "vmsnap_import_of"

/* Write image IMG (borrowed; active, a qcow2 or raw disk) and everything
 * it needs, as described above, as a new OVA at PATH.  DISK_FORMAT is
 * "vmdk" (streamOptimized; the default when NULL) or "qcow2".  Scratch
 * files go to a directory under the data directory's tmp/, removed
 * before returning.  PROGRESS (may be NULL) hears ovf_export's phases.
 * PATH is written as PATH.part and renamed, so it is either absent or a
 * whole package.
 * Returns 0, or -1 with ERR_CONFLICT (IMG or an image or volume snapshot
 * of its set is not active/available, or PATH exists), ERR_NOT_FOUND (a
 * kernel, ramdisk or volume snapshot of the set is gone), ERR_INVALID
 * (IMG is not a disk image, a property such as vmsnap_cpus or
 * block_device_mapping is malformed, unknown DISK_FORMAT), ERR_GENERIC
 * (qemu-img failed) or ERR_IO; on failure nothing made here is left.
 */
int package_export(struct store *store, const struct image *img,
                   const char *path, const char *disk_format,
                   const struct progress *progress, struct error **errp);

/* Import the OVA at PATH into STORE as described above.  NAME (may be
 * NULL: the package's name) names the new image; its volume snapshots
 * are named NAME-VOLUME.  PROGRESS (may be NULL) hears the phases
 * "convert", "upload" and "checksum".  On success *OUT (caller frees
 * with image_free) is the new active image.
 * Returns 0, or -1 with ERR_INVALID (the package is damaged or does not
 * describe a bootable image; the message says what, e.g. "manifest:
 * checksum mismatch for web1-disk2.vmdk"), ERR_NOT_FOUND (no PATH),
 * ERR_GENERIC (qemu-img failed), ERR_CONFLICT (busy catalog) or ERR_IO
 * (not enough space, ...).  On failure nothing of the import remains.
 */
int package_import(struct store *store, const char *path, const char *name,
                   const struct progress *progress, struct image **out,
                   struct error **errp);

#endif
