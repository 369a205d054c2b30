/* vmsnap: volumes and volume snapshots in the catalog (included by
 * catalog.h; see there for the rules every catalog function follows).
 */
#ifndef VMSNAP_CATALOG_VOLUMES_H
#define VMSNAP_CATALOG_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

struct catalog;
struct catalog_match;

/* Which volumes catalog_volume_list_by returns.  A zeroed filter matches
 * them all, newest first.
 */
struct volume_filter {
    const char *project_id;  /* only those of this project, or NULL */
    const char *instance_id; /* only those attached to this server, by
                              * device_index (as catalog_volume_list),
                              * or NULL */
    const char *status;      /* only those in this status, or NULL */
};

/* Which volume snapshots catalog_volume_snapshot_list_by returns.  A
 * zeroed filter matches them all.
 */
struct volume_snapshot_filter {
    const char *project_id;             /* only those of this project */
    const char *volume_id;              /* only those of this volume */
    const char *status;                 /* only those in this status */
    const struct catalog_match *match;  /* metadata items they must all
                                         * carry; may be NULL */
    size_t nmatch;                      /* entries in match */
};

/* True if STATUS is a volume status: creating, available, in-use, error
 * or deleting.  "in-use" goes with an attachment: only
 * catalog_volume_attach sets it and only catalog_volume_detach clears it.
 */
bool catalog_volume_status_valid(const char *status);

/* Add VOL (borrowed) with its metadata, detached: VOL->instance_id must be
 * NULL, VOL->device_index is ignored and the status cannot be in-use.
 * VOL->id must be a UUID chosen by the caller; a NULL created_at means now;
 * a project_id, when set, is a UUID (not looked up).  A source_snapshot_id
 * must name a volume snapshot in status available, checked in the same
 * transaction (so that the snapshot cannot be deleted meanwhile); a
 * source_image_id is not checked.  Returns 0, or -1 with ERR_INVALID (bad
 * field), ERR_NOT_FOUND "no volume snapshot with ID 'x'", ERR_CONFLICT
 * "volume snapshot NAME is not available: STATUS" (or the ID is taken, or
 * busy) or ERR_IO.
 */
int catalog_volume_insert(struct catalog *cat, const struct volume *vol,
                          struct error **errp);

/* Read volume ID (a UUID, either case) into *OUT (caller frees with
 * volume_free).  Returns 0, or -1 with ERR_NOT_FOUND "no volume with ID
 * 'x'", ERR_CONFLICT (busy) or ERR_IO; *OUT is set only on success.
 */
int catalog_volume_get(struct catalog *cat, const char *id,
                       struct volume **out, struct error **errp);

/* Look a volume up by full UUID first, else by name (in any status).
 * Returns 0 with *OUT set (caller frees), or -1 with ERR_NOT_FOUND "no
 * volume named or with ID 'x'", ERR_CONFLICT "volume name 'x' is
 * ambiguous: <id>, <id>..." (newest first), ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_volume_find(struct catalog *cat, const char *name_or_id,
                        struct volume **out, struct error **errp);

/* List volumes.  With INSTANCE_ID NULL, all of them, newest first (by
 * created_at, then by order of insertion); otherwise only those attached
 * to that server, by device_index (none if it is not a UUID).  *OUT and
 * *N as for catalog_image_list (free with volume_list_free).  Returns 0,
 * or -1 with ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_volume_list(struct catalog *cat, const char *instance_id,
                        struct volume ***out, size_t *n,
                        struct error **errp);

/* List the volumes that match F (NULL matches all) as catalog_volume_list
 * does.  Returns 0, or -1 with ERR_INVALID (an unknown status),
 * ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_volume_list_by(struct catalog *cat,
                           const struct volume_filter *f,
                           struct volume ***out, size_t *n,
                           struct error **errp);

/* Set the status of volume ID to STATUS and bump updated_at, with the
 * attachment rule: in-use only while attached, nothing else while
 * attached.  Returns 0, or -1 with ERR_INVALID (unknown status, or
 * in-use for a detached volume), ERR_NOT_FOUND, ERR_CONFLICT "volume NAME
 * is attached to server <id>" (or busy) or ERR_IO.
 */
int catalog_volume_set_status(struct catalog *cat, const char *id,
                              const char *status, struct error **errp);

/* Compare and set the status of volume ID: if it is FROM (NULL: whatever
 * it is), make it TO and bump updated_at, with the attachment rule of
 * catalog_volume_set_status.  Returns 0, or -1 with ERR_INVALID (an
 * unknown status, or in-use for a detached volume), ERR_NOT_FOUND,
 * ERR_CONFLICT "volume NAME is STATUS, not FROM", ERR_CONFLICT "volume
 * NAME is attached to server <id>" (or busy) or ERR_IO.
 */
int catalog_volume_transition(struct catalog *cat, const char *id,
                              const char *from, const char *to,
                              struct error **errp);

/* Remove volume ID and its metadata.  As in Cinder, an attached volume
 * and a volume with snapshots (in any status) cannot be deleted.
 * Returns 0, or -1 with ERR_NOT_FOUND, ERR_CONFLICT "volume NAME is
 * attached to server <id>", ERR_CONFLICT "volume NAME has snapshots:
 * <id>, <id>..." (newest first), ERR_CONFLICT (busy) or ERR_IO.  NAME is
 * the ID when the volume has no name.
 */
int catalog_volume_delete(struct catalog *cat, const char *id,
                          struct error **errp);

/* Attach volume VOLUME_ID to server INSTANCE_ID, as one compare-and-set:
 * if the volume is detached and available, it gets INSTANCE_ID, status
 * in-use and the lowest device index free on that server (1, 2, ...: a
 * slot freed by a detach is used again, so that the instance's fixed
 * number of slots is not used up by attach and detach cycles).  Two
 * processes that race to attach the same volume cannot both succeed.  On
 * success, *DEVICE_INDEX (if not NULL) is the index assigned.
 * Returns 0, or -1 with ERR_INVALID (no server ID given), ERR_NOT_FOUND
 * "no volume with ID 'x'" or "no server with ID 'x'", ERR_CONFLICT
 * "volume NAME is already attached to server <id>" (to that server too),
 * ERR_CONFLICT "volume NAME is not available: STATUS", ERR_CONFLICT
 * (busy) or ERR_IO.
 */
int catalog_volume_attach(struct catalog *cat, const char *volume_id,
                          const char *instance_id, int *device_index,
                          struct error **errp);

/* Detach volume VOLUME_ID from server INSTANCE_ID, as one compare-and-set:
 * it must be attached to that server; it becomes available with device
 * index -1.  The device indexes of the server's other volumes do not
 * change.  Returns 0, or -1 with ERR_INVALID (no server ID given),
 * ERR_NOT_FOUND "no volume with ID 'x'", ERR_CONFLICT "volume NAME is not
 * attached to server <id>", ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_volume_detach(struct catalog *cat, const char *volume_id,
                          const char *instance_id, struct error **errp);

/* ---- Volume snapshots ------------------------------------------------- */

/* True if STATUS is a volume snapshot status: creating, available, error
 * or deleting.
 */
bool catalog_volume_snapshot_status_valid(const char *status);

/* Add SNAP (borrowed) with its metadata.  SNAP->id must be a UUID chosen by
 * the caller and SNAP->volume_id a UUID (the volume is not looked up); a
 * NULL created_at means now; a NULL location is derived from file (see
 * struct volume_snapshot); a project_id, when set, is a UUID.  Returns 0, or
 * -1 with ERR_INVALID (bad field), ERR_CONFLICT (the ID is taken, or busy)
 * or ERR_IO.
 */
int catalog_volume_snapshot_insert(struct catalog *cat,
                                   const struct volume_snapshot *snap,
                                   struct error **errp);

/* Read volume snapshot ID into *OUT (caller frees with
 * volume_snapshot_free).  Returns 0, or -1 with ERR_NOT_FOUND "no volume
 * snapshot with ID 'x'", ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_volume_snapshot_get(struct catalog *cat, const char *id,
                                struct volume_snapshot **out,
                                struct error **errp);

/* Look a volume snapshot up by full UUID first, else by name.  Returns 0
 * with *OUT set (caller frees), or -1 with ERR_NOT_FOUND "no volume
 * snapshot named or with ID 'x'", ERR_CONFLICT "volume snapshot name 'x'
 * is ambiguous: <id>, <id>..." (newest first), ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_volume_snapshot_find(struct catalog *cat, const char *name_or_id,
                                 struct volume_snapshot **out,
                                 struct error **errp);

/* List the volume snapshots that carry every one of the NMATCH metadata
 * items of MATCH (NMATCH 0: all of them), newest first (by created_at,
 * then by order of insertion).  *OUT and *N as for catalog_image_list
 * (free with volume_snapshot_list_free).  Returns 0, or -1 with
 * ERR_INVALID (more than CATALOG_PROPS_MAX matches, or one without a key
 * or value), ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_volume_snapshot_list(struct catalog *cat,
                                 const struct catalog_match *match,
                                 size_t nmatch,
                                 struct volume_snapshot ***out, size_t *n,
                                 struct error **errp);

/* List the volume snapshots that match F (NULL matches all), newest
 * first, as catalog_volume_snapshot_list.  Returns 0, or -1 with
 * ERR_INVALID (bad matches, an unknown status), ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_volume_snapshot_list_by(struct catalog *cat,
                                    const struct volume_snapshot_filter *f,
                                    struct volume_snapshot ***out,
                                    size_t *n, struct error **errp);

/* Set the status of volume snapshot ID to STATUS and bump updated_at.  No
 * transition rules are enforced here.  Returns 0, or -1 with ERR_INVALID
 * (unknown status), ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_volume_snapshot_set_status(struct catalog *cat, const char *id,
                                       const char *status,
                                       struct error **errp);

/* Compare and set the status of volume snapshot ID: if it is FROM (NULL:
 * whatever it is), make it TO and bump updated_at.  Returns 0, or -1 with
 * ERR_INVALID (an unknown status), ERR_NOT_FOUND, ERR_CONFLICT "volume
 * snapshot NAME is STATUS, not FROM" (or busy) or ERR_IO.
 */
int catalog_volume_snapshot_transition(struct catalog *cat, const char *id,
                                       const char *from, const char *to,
                                       struct error **errp);

/* Set the metadata items SET (NSET) of volume snapshot ID, leaving its
 * other items alone, and bump updated_at.  Returns 0, or -1 with
 * ERR_INVALID (a bad key or value), ERR_NOT_FOUND, ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_volume_snapshot_set_meta(struct catalog *cat, const char *id,
                                     const struct prop *set, size_t nset,
                                     struct error **errp);

/* The facts about a volume snapshot's data, known once it is complete. */
struct volume_snapshot_data {
    int64_t size;            /* guest-visible size in bytes, >= 0 */
    const char *location;    /* "<scheme>:<key>", or NULL: derived from
                              * file */
    const char *file;        /* path of the data file, or NULL */
};

/* Set the data facts of volume snapshot ID to those of D (every field, as
 * given) and bump updated_at; nothing else changes.  Returns 0, or -1
 * with ERR_INVALID (a negative size, a bad location), ERR_NOT_FOUND,
 * ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_volume_snapshot_set_data(struct catalog *cat, const char *id,
                                     const struct volume_snapshot_data *d,
                                     struct error **errp);

/* Remove volume snapshot ID and its metadata, unless something uses it: a
 * volume created from it (source_snapshot_id, in any status) or an image
 * not in status deleted that is made of it (its volume snapshot mapping,
 * the relation only: see catalog_image_set_bdm; a block_device_mapping
 * property does not count).  Returns 0, or -1 with ERR_NOT_FOUND,
 * ERR_CONFLICT "volume snapshot NAME is in use by volume data (<id>),
 * image snap (<id>)", ERR_CONFLICT (busy) or ERR_IO.  NAME is the ID when
 * the snapshot has no name.
 */
int catalog_volume_snapshot_delete(struct catalog *cat, const char *id,
                                   struct error **errp);

/* Count what depends on volume snapshot ID, as
 * catalog_volume_snapshot_delete sees it (volumes made from it, images
 * made of it).  If USERS_OUT is not NULL, it gets a new string (caller
 * frees) naming them, "" when there are none.  Returns the count (>= 0),
 * or -1 with ERR_CONFLICT (busy) or ERR_IO.  An unknown ID has no users.
 */
int catalog_volume_snapshot_users(struct catalog *cat, const char *id,
                                  char **users_out, struct error **errp);

#endif
