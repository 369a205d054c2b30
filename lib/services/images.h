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
#include "task.h"

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
    /* For images_reserve (images_create ignores them): */
    const char *id;               /* the ID to give it (a UUID), or NULL
                                   * for a new one */
    bool protected;               /* cannot be deleted while set */
    const char *const *tags;      /* Glance's tags */
    size_t ntags;                 /* entries in tags */
};

/* A change of an image's user-editable fields, made in one transaction.
 * Zero it, then set what changes.
 */
struct images_change {
    const char *name;             /* new name, or NULL */
    bool clear_name;              /* remove the name (name NULL) */
    int64_t min_ram;              /* new value, or -1 */
    int64_t min_disk;             /* new value, or -1 */
    const char *visibility;       /* new visibility, or NULL */
    const struct prop *set;       /* properties to set */
    size_t nset;                  /* entries in set */
    const char *const *unset;     /* property keys to remove */
    size_t nunset;                /* entries in unset */
    int protect;                  /* 1: protect it, -1: unprotect it,
                                   * 0: leave it */
    bool replace_tags;            /* replace its tags with TAGS */
    const char *const *tags;      /* the new tags, with replace_tags */
    size_t ntags;                 /* entries in tags */
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

/* Reserve an image for data to come (Glance's POST /v2/images): a record
 * in status queued, owned by WHO's project, from SPEC without its file
 * (ignored).  The disk and container formats may be NULL here; an upload
 * needs both.  A container format "ova" takes any of Glance's disk
 * formats (the package's disks are converted when it is imported).
 * *OUT (caller frees) is the new record.  Errors: ERR_INVALID (a bad
 * field), ERR_CONFLICT (SPEC->id is taken).
 */
int images_reserve(struct svc *svc, const struct caller *who,
                   const struct images_new *spec, struct image **out,
                   struct error **errp);

/* An upload of an image's data in progress (Glance's PUT .../file). */
struct images_upload;

/* What an upload wrote, hashed on the way by its writer. */
struct images_upload_data {
    int64_t size;              /* bytes */
    const char *checksum;      /* MD5, hex */
    const char *os_hash_value; /* SHA-512, hex */
};

/* Start the upload of image REF's data: it must be queued, have both
 * formats, and be WHO's project's (or WHO an administrator).  It becomes
 * saving, under its lock, until images_upload_finish or
 * images_upload_abort; the data goes into the file images_upload_fd
 * gives (the store's staging file, made here).  *OUT: free it with one of
 * those two.  Errors: ERR_NOT_FOUND, ERR_CONFLICT (not queued, another
 * upload runs, another project's image), ERR_INVALID (a format missing).
 */
int images_upload_begin(struct svc *svc, const struct caller *who,
                        const char *ref, struct images_upload **out,
                        struct error **errp);

/* The staging file to write to (owned by U), and the image (borrowed
 * from U, as it was when the upload began).
 */
int images_upload_fd(const struct images_upload *u);
const struct image *images_upload_image(const struct images_upload *u);

/* The data is complete and synced; D says what it was.  Check it as
 * images_create checks a copy (format, self-containment, encryption,
 * qemu-img check) and against the space left, commit it to the store and
 * make the image active with D's size and hashes (the data is not read
 * again to hash it).  An image of container format ova is refused here:
 * package_upload_finish (package.h) imports it.  On failure the data is
 * removed and the image is killed with the reason.  Frees U either way.
 * *OUT (caller frees, may be NULL) is the image after.
 */
int images_upload_finish(struct svc *svc, struct images_upload *u,
                         const struct images_upload_data *d,
                         struct image **out, struct error **errp);

/* Is CONTAINER_FORMAT (may be NULL) a package that an upload imports
 * (ova)?
 */
bool images_is_package(const char *container_format);

/* The staging file of U (owned by U). */
const char *images_upload_path(const struct images_upload *u);

/* Hand the complete upload U to an import task already created for it:
 * the image becomes importing and the staging file stays for the import
 * to read and remove.  On failure the data is removed and the image
 * killed.  Frees U either way.
 */
int images_upload_handoff(struct svc *svc, struct images_upload *u,
                          struct error **errp);

/* The upload will not complete (a limit, a disk error, the client went
 * away): remove the data and kill the image with REASON.  Frees U.
 */
void images_upload_abort(struct svc *svc, struct images_upload *u,
                         const char *reason);

/* Change image REF as CH says; *OUT (caller frees, may be NULL) is the
 * record after the change.
 */
int images_change(struct svc *svc, const struct caller *who,
                  const char *ref, const struct images_change *ch,
                  struct image **out, struct error **errp);

/* Delete image REF: refused with ERR_CONFLICT while it is being made,
 * or when a server, a volume or another image depends on it.  (The
 * volume snapshots of an instance-level snapshot's set go with
 * snapshot_delete_image, snapshot.h.)  The record becomes pending_delete,
 * the data goes, then the record: a process that dies in between leaves
 * an image pending_delete that recovery finishes (images_finish_delete).
 * When the data cannot be removed, the image keeps its status and this
 * fails with the reason.
 */
int images_delete(struct svc *svc, const struct caller *who,
                  const char *ref, struct error **errp);

/* Recovery: finish the delete of IMG, left pending_delete by a process
 * that died (its lock free).  Errors are logged.
 */
void images_finish_delete(struct svc *svc, const struct image *img);

/* Copy the data of active image REF to DEST (written to a temporary file
 * beside DEST, synced and renamed into place).
 */
int images_save(struct svc *svc, const struct caller *who, const char *ref,
                const char *dest, const struct progress *progress,
                struct error **errp);

/* A local file of IMG's data that QEMU and qemu-img can read (caller
 * frees).  ERR_CONFLICT when IMG has no data yet.  A backup kept in the
 * chunk store is materialised first (store.h).
 */
int images_local_path(struct svc *svc, const struct image *img, char **path,
                      struct error **errp);

/* The object key of image ID's data in format FMT ("images/ID.FMT"). */
char *images_key(const char *id, const char *fmt);

/* Refuse to write NEED more bytes when that would leave less than the
 * reserved space free in the data directory (limits.reserved_space), or
 * when NEED is more than the largest image allowed
 * (limits.max_image_size): ERR_INVALID or ERR_IO saying which.
 */
int images_check_space(struct svc *svc, int64_t need, struct error **errp);

/* A watch for long writes into the data directory (OPAQUE is the struct
 * svc): -1 with ERR_IO when the free space fell below the reserve, so
 * that the writer stops before the disk is full (audit H4).
 */
int images_watch_space(void *opaque, struct error **errp);

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

/* images_activate for data whose MD5 and SHA-512 (hex) were computed as
 * it was written (the copy path): they are recorded, not computed again
 * by reading the file.  NULL hashes: as images_activate.
 */
int images_activate_hashed(struct svc *svc, const char *id,
                           const char *from, const char *disk_format,
                           const char *location, const char *path,
                           const char *md5, const char *sha512,
                           const struct progress *progress,
                           struct error **errp);

#endif
