/* vmsnap: the image service (what Glance does for Nova).
 *
 * Images are catalog records plus a data file under the data directory
 * that is written once and never again (instances boot from qcow2
 * overlays on top of it).  Status moves queued -> saving -> active; an
 * image whose upload fails is removed with its data, so nothing
 * half-made stays behind.
 */
#ifndef VMSNAP_IMAGES_H
#define VMSNAP_IMAGES_H

#include <stdint.h>

#include "catalog.h"
#include "error.h"
#include "progress.h"
#include "store.h"

/* What a new image is made of. */
struct images_new {
    const char *name;             /* image name (required) */
    const char *file;             /* data to copy in (required) */
    const char *disk_format;      /* "qcow2", "raw", "aki", "ari" */
    const char *container_format; /* "bare" (default), "ovf", "ova" */
    const struct prop *props;     /* extra properties */
    size_t nprops;                /* entries in props */
    int64_t min_ram;              /* MiB, >= 0 */
    int64_t min_disk;             /* GiB, >= 0 */
};

/* True if FMT is a disk format vmsnap stores: the disks "qcow2" and
 * "raw", and Glance's kernel ("aki") and ramdisk ("ari") formats.
 */
bool images_disk_format_valid(const char *fmt);

/* True if FMT is a format an instance can boot as a disk (qcow2, raw). */
bool images_is_disk(const char *fmt);

/* Check that the file PATH really holds DISK_FORMAT: qemu-img must read
 * it as that format, a file claimed as raw must not probe as another
 * format, and a qcow2 image must not have a backing file.  On success
 * *VIRTUAL_SIZE is the guest-visible size.
 */
int images_check_data(const char *path, const char *disk_format,
                      int64_t *virtual_size, struct error **errp);

/* Create an image from SPEC: check the data, copy it into the data
 * directory, hash it (MD5 checksum, SHA-512 os_hash_value) and make it
 * active.  PROGRESS may be NULL.  On success *OUT (caller frees with
 * image_free) is the new active image.  On failure nothing is left: no
 * record, no file.
 */
int images_create(struct store *store, const struct images_new *spec,
                  const struct progress *progress, struct image **out,
                  struct error **errp);

/* Register DATA_FILE, already inside the data directory's images/ and
 * already checked, as the data of image IMG (status queued or saving):
 * hash it, record size, virtual size and hashes, and make IMG active.
 * Used by the snapshot engine and imports.  On failure the catalog
 * record is unchanged, though IMG's fields may have been updated.
 */
int images_activate(struct store *store, struct image *img,
                    const char *data_file, const struct progress *progress,
                    struct error **errp);

/* Delete image IMG (found by the caller): refused with ERR_CONFLICT when
 * an instance or another image depends on it; else the record and the
 * data file are removed.
 */
int images_delete(struct store *store, const struct image *img,
                  struct error **errp);

/* Copy the data of active image IMG to DEST (written to a temporary file
 * beside DEST and renamed into place).
 */
int images_save(const struct image *img, const char *dest,
                const struct progress *progress, struct error **errp);

/* Copy SRC to DEST (created with MODE, must not exist), fsync'd;
 * PROGRESS reports PHASE.  On failure DEST is removed.
 */
int images_copy_file(const char *src, const char *dest, int mode,
                     const char *phase, const struct progress *progress,
                     struct error **errp);

#endif
