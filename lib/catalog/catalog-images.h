/* vmsnap: images in the catalog (included by catalog.h; see there for
 * the rules every catalog function follows).
 */
#ifndef VMSNAP_CATALOG_IMAGES_H
#define VMSNAP_CATALOG_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

struct catalog;
struct catalog_match;

/* Which images catalog_image_list returns.  A zeroed filter matches
 * every image, including those in status "deleted".
 */
struct image_filter {
    const char *name;                   /* exact name, or NULL for any */
    const char *status;                 /* exact status, or NULL for any */
    bool exclude_deleted;               /* skip images in status deleted */
    const struct catalog_match *props;  /* all must match; may be NULL */
    size_t nprops;                      /* entries in props, at most
                                         * CATALOG_PROPS_MAX */
    /* Schema version 3: */
    const char *owner;                  /* only images this project owns,
                                         * or NULL for any */
    const char *visibility;             /* only images with this
                                         * visibility, or NULL for any */
    const char *visible_to;             /* only images that a member of
                                         * this project may see (below),
                                         * or NULL for all */
    bool include_community;             /* with visible_to: community
                                         * images of other projects too */
    const char *const *tags;            /* images carrying every one of
                                         * these tags; may be NULL */
    size_t ntags;                       /* entries in tags, at most
                                         * CATALOG_TAGS_MAX */
    const char *marker;                 /* paging: only the images after
                                         * the image with this ID in the
                                         * list's order, or NULL */
    size_t limit;                       /* at most this many; 0: all */
};

/* Glance's visibility rule, as visible_to applies it: a member of project
 * P sees the images P owns (whatever their visibility) and the public
 * images; community images of other projects only with include_community
 * (Glance lists them only when asked for, with visibility=community or
 * all); shared images of other projects are not seen (the catalog keeps
 * no image members yet).  An image without owner is seen only when it is
 * public (or community, asked for).  Who is an administrator and sees
 * everything is the services' decision: they leave visible_to NULL.
 * Glance's list parameter maps as follows: none -> visible_to P;
 * visibility=all -> visible_to P + include_community;
 * visibility=community -> visibility "community" + visible_to P +
 * include_community; visibility=public|private|shared -> that
 * visibility + visible_to P.
 */

/* True if STATUS is a Glance image status: queued, saving, uploading,
 * importing, active, deactivated, killed, pending_delete or deleted.
 */
bool catalog_image_status_valid(const char *status);

/* True if VISIBILITY is private, shared, community or public. */
bool catalog_visibility_valid(const char *visibility);

/* Add IMG (borrowed) to the catalog with its properties, tags and volume
 * snapshots (img->bdm, checked as by catalog_image_set_bdm).  IMG->id
 * must be a UUID chosen by the caller (util_uuid_new); a NULL created_at
 * means now; updated_at is set to created_at; a NULL visibility means
 * "shared"; owner, when set, must be a UUID (the project is not looked
 * up).  No property may be block_device_mapping (see "The block device
 * mapping" below).
 * Returns 0, or -1 with ERR_INVALID (bad field, a bad mapping entry,
 * "block_device_mapping is kept by vmsnap: it names the volume snapshots
 * of the image's set"), ERR_CONFLICT (the ID is taken, or busy) or
 * ERR_IO.
 */
int catalog_image_insert(struct catalog *cat, const struct image *img,
                         struct error **errp);

/* Read the image with ID (a UUID, either case) into *OUT (caller frees
 * with image_free), with its properties, tags and volume snapshots.
 * Returns 0, or -1 with ERR_NOT_FOUND "no image with ID 'x'",
 * ERR_CONFLICT (busy) or ERR_IO; *OUT is set only on success.
 */
int catalog_image_get(struct catalog *cat, const char *id,
                      struct image **out, struct error **errp);

/* Look an image up the way a user names it: first as a full UUID (in any
 * status), else as a name among the images not in status deleted.
 * Returns 0 with *OUT set (caller frees), or -1 with ERR_NOT_FOUND "no
 * image named or with ID 'x'", ERR_CONFLICT "image name 'x' is ambiguous:
 * <id>, <id>..." (newest first), ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_find(struct catalog *cat, const char *name_or_id,
                       struct image **out, struct error **errp);

/* List the images that match F (NULL matches all), newest first (by
 * created_at, then by order of insertion).  On success *OUT is a new array
 * of *N new images (caller frees with image_list_free; *OUT may be NULL
 * when *N is 0).  Returns 0, or -1 with ERR_INVALID (too many property or
 * tag matches, an unknown status or visibility, a marker that is not an
 * image), ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_list(struct catalog *cat, const struct image_filter *f,
                       struct image ***out, size_t *n, struct error **errp);

/* Set the status of image ID to STATUS and its fail_reason to REASON
 * (NULL clears it), and bump updated_at, whatever the status was: the
 * same as catalog_image_transition with FROM NULL.  Returns 0, or -1
 * with ERR_INVALID (unknown status), ERR_NOT_FOUND, ERR_CONFLICT (busy)
 * or ERR_IO.
 */
int catalog_image_set_status(struct catalog *cat, const char *id,
                             const char *status, const char *reason,
                             struct error **errp);

/* Compare and set the status of image ID in one statement: if it is
 * FROM (NULL: whatever it is), make it TO, set fail_reason to REASON
 * (NULL clears it) and bump updated_at.  Nothing else of the image
 * changes.  Two processes that race to move an image out of a status
 * cannot both succeed.  No transition rules are enforced beyond FROM.
 * Returns 0, or -1 with ERR_INVALID (an unknown status), ERR_NOT_FOUND
 * "no image with ID 'x'", ERR_CONFLICT "image NAME is STATUS, not FROM"
 * (NAME is the ID when the image has none), ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_image_transition(struct catalog *cat, const char *id,
                             const char *from, const char *to,
                             const char *reason, struct error **errp);

/* The facts about an image's data, known once the data is complete. */
struct image_data {
    int64_t size;              /* bytes stored; -1: not known */
    int64_t virtual_size;      /* guest-visible size; -1: not known */
    const char *checksum;      /* MD5 of the data (hex), or NULL */
    const char *os_hash_algo;  /* "sha512", or NULL */
    const char *os_hash_value; /* hex digest, or NULL */
    const char *location;      /* "<scheme>:<key>" (storage/blob.h), or
                                * NULL: derived from file as on insert */
    const char *file;          /* path of the data file, or NULL; kept
                                * while callers still use paths */
};

/* Set the data facts of image ID to those of D (every field, as given)
 * and bump updated_at; nothing else of the image changes.  Returns 0, or
 * -1 with ERR_INVALID (a negative size other than -1, a bad location),
 * ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_set_data(struct catalog *cat, const char *id,
                           const struct image_data *d, struct error **errp);

/* A user's edit of an image.  Start from IMAGE_PATCH_INIT, which changes
 * nothing, and set what changes.
 */
struct image_patch {
    const char *name;          /* new name, or NULL: unchanged */
    bool clear_name;           /* remove the name (name must be NULL) */
    int64_t min_ram;           /* new min_ram (>= 0), or -1: unchanged */
    int64_t min_disk;          /* new min_disk (>= 0), or -1: unchanged */
    const char *visibility;    /* new visibility, or NULL: unchanged */
    int protected;             /* 1 or 0 to set or clear protected, -1:
                                * unchanged */
    const struct prop *set;    /* properties to add or replace; never
                                * block_device_mapping */
    size_t nset;               /* entries in set */
    const char *const *unset;  /* property keys to remove; each must
                                * exist (block_device_mapping may be
                                * removed) */
    size_t nunset;             /* entries in unset */
    bool replace_tags;         /* replace the tags with TAGS (Glance's
                                * "replace /tags") */
    const char *const *tags;   /* the new tags, with replace_tags */
    size_t ntags;              /* entries in tags */
    /* Which statuses the image may be in for the patch to apply: with
     * nexpect > 0 it must be one of the NEXPECT statuses of EXPECT,
     * checked in the same transaction, else nothing changes and the patch
     * fails with ERR_CONFLICT.  A front end that does not want users to
     * edit an image still being made passes { "active", "queued", ... };
     * nexpect 0 patches in any status (the changes are kept either way:
     * the maker writes only status and data facts).
     */
    const char *const *expect;
    size_t nexpect;            /* entries in expect */
};

#define IMAGE_PATCH_INIT                                                       \
    { .min_ram = -1, .min_disk = -1, .protected = -1 }

/* Apply patch P to image ID in one transaction: either every change is
 * made and updated_at bumped, or none.  Removals of properties happen
 * before additions.
 * Returns 0, or -1 with ERR_INVALID (a bad name, value, key, tag or
 * visibility, block_device_mapping among the properties set (as for
 * insert), a key both set and unset, more than CATALOG_PROPS_MAX
 * properties or CATALOG_TAGS_MAX tags in the end), ERR_NOT_FOUND "no
 * image with ID 'x'" or "image x has no property 'k'" (an unset key that
 * is missing), ERR_CONFLICT "image NAME is STATUS, not A, B or C" (see
 * expect), ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_patch(struct catalog *cat, const char *id,
                        const struct image_patch *p, struct error **errp);

/* Set property KEY of image ID to VALUE (adding or replacing) and bump
 * updated_at.  Returns 0, or -1 with ERR_INVALID (bad key, value too
 * long, the image would exceed CATALOG_PROPS_MAX, or KEY is
 * block_device_mapping: as for insert), ERR_NOT_FOUND, ERR_CONFLICT
 * (busy) or ERR_IO.
 */
int catalog_image_set_property(struct catalog *cat, const char *id,
                               const char *key, const char *value,
                               struct error **errp);

/* Remove property KEY of image ID and bump updated_at.  KEY may be
 * block_device_mapping (a value the schema upgrade left); that changes no
 * mapping.  Returns 0, or -1 with ERR_NOT_FOUND (no such image, or
 * "image x has no property 'k'"), ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_unset_property(struct catalog *cat, const char *id,
                                 const char *key, struct error **errp);

/* Add tag TAG to image ID (nothing happens if it has it already) and bump
 * updated_at.  Returns 0, or -1 with ERR_INVALID (a tag is a name: see
 * model.h; or the image has CATALOG_TAGS_MAX tags), ERR_NOT_FOUND,
 * ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_tag_add(struct catalog *cat, const char *id,
                          const char *tag, struct error **errp);

/* Remove tag TAG from image ID and bump updated_at.  Returns 0, or -1
 * with ERR_NOT_FOUND (no such image, or "image x has no tag 't'"),
 * ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_tag_remove(struct catalog *cat, const char *id,
                             const char *tag, struct error **errp);

/* The tags of image ID, sorted: *TAGS (free with catalog_tags_free) gets
 * *N strings (NULL when 0).  Returns 0, or -1 with ERR_NOT_FOUND,
 * ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_tags(struct catalog *cat, const char *id, char ***tags,
                       size_t *n, struct error **errp);

/* The block device mapping.  An image made by an instance-level snapshot
 * is its root disk plus volume snapshots, one per volume that was
 * attached; the catalog keeps them as a relation (image, device_index,
 * snapshot, volume, size, volume name) that struct image carries as
 * bdm/nbdm (bdm.h's struct bdm_entry), and a volume snapshot that a live
 * image maps cannot be deleted.
 *
 * The relation is the only record of the mapping.  OpenStack shows it as
 * the image property block_device_mapping (JSON, bdm.h); the services
 * render that property from img->bdm (bdm_format) in their views, and the
 * catalog stores no such property: insert, set_property and
 * patch refuse it with ERR_INVALID "block_device_mapping is kept by
 * vmsnap: it names the volume snapshots of the image's set".  Else a user
 * could point an image at volume snapshots they do not own and boot
 * volumes from them.  The mapping is written only by insert (img->bdm)
 * and catalog_image_set_bdm, which the services call with what they
 * made or checked.
 *
 * Upgrading from schema version 2.  Until version 3 the mapping was
 * only that property.  The upgrade parses each with bdm_parse: a value
 * it accepts becomes the image's mapping and the property is removed; a
 * value it refuses stays as it was, with its image, maps nothing (so it
 * keeps no volume snapshot from being deleted) and is logged;
 * unset_property or a patch may remove it.
 *
 * Reading.  Entries are sorted by device_index.  Rows written before
 * these rules (version 3 catalogs made by earlier builds, which took any
 * device index from 1 and up to 64 entries) may break bdm_check's rules;
 * a row without a volume or a size reads as volume_id "" and size -1.
 * bdm_check (and so bdm_format) refuses such a mapping, whose entries
 * still name their snapshots (and keep them from being deleted).
 */

/* Replace the volume snapshots image ID is made of with the N entries of
 * E (borrowed; N 0 clears them) and bump updated_at.  The entries must
 * pass bdm_check (bdm.h: device_index 1 to BDM_MAX_DEVICE_INDEX, UUIDs,
 * size >= 0, a volume_name that is a name, nothing twice, at most
 * BDM_MAX_ENTRIES); UUIDs are stored in lower case.  The snapshots are
 * not looked up: the caller names those it made or checked.
 * Returns 0, or -1 with ERR_INVALID (bdm_check's message, or E NULL with
 * N > 0), ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_set_bdm(struct catalog *cat, const char *image_id,
                          const struct bdm_entry *e, size_t n,
                          struct error **errp);

/* Remove image ID with its properties, tags and volume snapshot mapping
 * from the catalog (it does not look at users: call catalog_image_users
 * first).  A protected image stays.  Returns 0, or -1 with ERR_NOT_FOUND,
 * ERR_CONFLICT "image NAME is protected", ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_delete(struct catalog *cat, const char *id,
                         struct error **errp);

/* Count what depends on image ID: instances booted from it, images (not
 * in status deleted) whose kernel_id or ramdisk_id property is ID,
 * instances booted from such an image, and volumes created from ID (in
 * any status).  If USERS_OUT is not NULL, it gets a new string (caller
 * frees) describing them, separated by ", ", e.g. "instance web1 (<id>),
 * image snap2 (<id>) via kernel_id, volume data (<id>)"; "" when there
 * are none.  Returns the count (>= 0), or -1 with ERR_CONFLICT (busy) or
 * ERR_IO.  An unknown ID has no users.
 */
int catalog_image_users(struct catalog *cat, const char *id,
                        char **users_out, struct error **errp);

#endif
