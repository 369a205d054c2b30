/* vmsnap: the image service (what Glance does for Nova).
 *
 * Images are catalog records plus an object of the image store (blob.h)
 * that is written once and never again: servers boot from qcow2 overlays
 * on top of it.  Status moves queued -> saving -> active by
 * compare-and-set, and the facts learnt about the data (size, hashes,
 * location) are written on their own, so an edit made while an image is
 * being made is kept.  An image whose making fails is removed with its
 * data, or, for work running in the background, left killed with the
 * reason; nothing half-made stays behind.
 *
 * Visibility (Glance's): a caller sees the images of its project, and
 * public and community ones; admins see all.  Another project's private
 * image is "not found".
 */
#ifndef VMSNAP_IMAGES_H
#define VMSNAP_IMAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "error.h"
#include "progress.h"
#include "svc.h"

/* What a new image is made of. */
struct images_new {
    const char *name;             /* image name (required) */
    const char *file;             /* data to copy in (required) */
    const char *disk_format;      /* "qcow2", "raw", "aki", "ari" */
    const char *container_format; /* "bare" (default), or another of
                                   * Glance's */
    const char *visibility;       /* NULL: "shared" */
    const struct prop *props;     /* extra properties */
    size_t nprops;                /* entries in props */
    int64_t min_ram;              /* MiB, >= 0 */
    int64_t min_disk;             /* GiB, >= 0 */
};

/* A change of an image's user-editable fields, made in one transaction.
 * Zero it, then set what changes.
 */
struct images_change {
    const char *name;             /* new name, or NULL */
    int64_t min_ram;              /* new value, or -1 */
    int64_t min_disk;             /* new value, or -1 */
    const char *visibility;       /* new visibility, or NULL */
    const struct prop *set;       /* properties to set */
    size_t nset;                  /* entries in set */
    const char *const *unset;     /* property keys to remove */
    size_t nunset;                /* entries in unset */
};

/* True if FMT is a disk format vmsnap stores: the disks "qcow2" and
 * "raw", and Glance's kernel ("aki") and ramdisk ("ari") formats.
 */
bool images_disk_format_valid(const char *fmt);

/* True if FMT is a format a server can boot as a disk (qcow2, raw). */
bool images_is_disk(const char *fmt);

/* Check that the file PATH really holds DISK_FORMAT: qemu-img must read
 * it as that format, a file claimed as raw must not probe as another
 * format, and it must be self-contained (no backing file, no external
 * data file or extents), not encrypted, and (qcow2) pass qemu-img check.
 * On success *VIRTUAL_SIZE is the guest-visible size.
 */
int images_check_data(const char *path, const char *disk_format,
                      int64_t *virtual_size, struct error **errp);

/* Find image REF (a UUID in any status, else a name among those not
 * deleted) that WHO may see.  *OUT: caller frees.
 */
int images_find(struct svc *svc, const struct caller *who, const char *ref,
                struct image **out, struct error **errp);

/* The images WHO may see that match F (NULL: all but deleted ones),
 * newest first (free with image_list_free).
 */
int images_list(struct svc *svc, const struct caller *who,
                const struct image_filter *f, struct image ***out,
                size_t *n, struct error **errp);

/* Create an image from SPEC: copy the data into the store, check what was
 * copied, hash it (MD5 checksum, SHA-512 os_hash_value) and make it
 * active.  PROGRESS may be NULL.  On success *OUT (caller frees) is the
 * new active image; on failure nothing is left: no record, no data.
 */
int images_create(struct svc *svc, const struct caller *who,
                  const struct images_new *spec,
                  const struct progress *progress, struct image **out,
                  struct error **errp);

/* Change image REF as CH says; *OUT (caller frees, may be NULL) is the
 * record after the change.
 */
int images_change(struct svc *svc, const struct caller *who,
                  const char *ref, const struct images_change *ch,
                  struct image **out, struct error **errp);

/* Delete image REF: refused with ERR_CONFLICT while it is being made,
 * or when a server, a volume or another image depends on it.  (The
 * volume snapshots of an instance-level snapshot's set go with
 * snapshot_delete_image, snapshot.h.)
 */
int images_delete(struct svc *svc, const struct caller *who,
                  const char *ref, struct error **errp);

/* Copy the data of active image REF to DEST (written to a temporary file
 * beside DEST, synced and renamed into place).
 */
int images_save(struct svc *svc, const struct caller *who, const char *ref,
                const char *dest, const struct progress *progress,
                struct error **errp);

/* A local file of IMG's data that QEMU and qemu-img can read (caller
 * frees).  ERR_CONFLICT when IMG has no data yet.
 */
int images_local_path(struct svc *svc, const struct image *img, char **path,
                      struct error **errp);

/* The object key of image ID's data in format FMT ("images/ID.FMT"). */
char *images_key(const char *id, const char *fmt);

/* Make image ID active: check the data committed at LOCATION (its local
 * file PATH), hash it and record size, virtual size, hashes and
 * location, then move the status from FROM to active.  PATH may be gone:
 * a store that took it on commit is asked for its local copy.  Nothing
 * else of the record is written.  Used by uploads, snapshots and imports.
 */
int images_activate(struct svc *svc, const char *id, const char *from,
                    const char *disk_format, const char *location,
                    const char *path, const struct progress *progress,
                    struct error **errp);

#endif
