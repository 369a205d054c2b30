/* vmsnap: the catalog of images, instances, volumes and volume
 * snapshots, kept in SQLite.
 *
 * The catalog is one SQLite database file in WAL mode.  Several vmsnap
 * processes may use the same file at once: writers take the write lock
 * with BEGIN IMMEDIATE and wait up to the busy timeout (30 s by default)
 * for each other; after that an operation fails with ERR_CONFLICT
 * "catalog is busy".
 *
 * Every function that takes a struct catalog * blocks on file I/O and,
 * when another process holds the write lock, for up to the busy timeout.
 * A struct catalog belongs to one thread at a time and must not be used
 * across fork(): a child opens its own.
 *
 * Each catalog_* call is atomic on its own.  Inside catalog_begin ...
 * catalog_commit several calls become one transaction; a call that fails
 * inside it undoes only its own changes, and the caller decides whether
 * to commit the rest or roll back.
 *
 * Records returned to the caller (struct image, struct instance, struct
 * volume, struct volume_snapshot) are plain copies: the caller owns them
 * and frees them with image_free, instance_free, volume_free or
 * volume_snapshot_free.  Records passed in are borrowed for the call.
 */
#ifndef VMSNAP_CATALOG_H
#define VMSNAP_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

/* Limits, as in Glance: a name or property key is at most 255 bytes and
 * an image carries at most 128 properties (instances as many metadata
 * items).  A property value is at most 64 KiB.
 */
#define CATALOG_NAME_MAX 255
#define CATALOG_KEY_MAX 255
#define CATALOG_VALUE_MAX 65536
#define CATALOG_PROPS_MAX 128

/* Default time to wait for another process's write lock. */
#define CATALOG_BUSY_TIMEOUT_MS 30000

struct catalog;

/* One key/value pair (an image property or an instance metadata item). */
struct prop {
    char *key;   /* non-empty, at most CATALOG_KEY_MAX bytes */
    char *value; /* never NULL; may be empty; <= CATALOG_VALUE_MAX bytes */
};

/* An image, with the fields of a Glance v2 image.  All pointers are owned
 * by the struct and freed by image_free.
 */
struct image {
    char id[UTIL_UUID_LEN];  /* lower-case UUID */
    char *name;              /* NULL or at most CATALOG_NAME_MAX bytes */
    char *status;            /* see catalog_image_status_valid */
    char *disk_format;       /* "qcow2", "raw", ... or NULL */
    char *container_format;  /* "bare", "ovf", ... or NULL */
    int64_t size;            /* bytes of the data file; -1: not known */
    int64_t virtual_size;    /* guest-visible disk size; -1: not known */
    char *checksum;          /* MD5 of the data, hex, or NULL */
    char *os_hash_algo;      /* e.g. "sha512", or NULL */
    char *os_hash_value;     /* hex digest with os_hash_algo, or NULL */
    int64_t min_ram;         /* MiB needed to boot, >= 0 */
    int64_t min_disk;        /* GiB of disk needed to boot, >= 0 */
    char *created_at;        /* util_now_iso8601 format; NULL on insert
                              * means now */
    char *updated_at;        /* same format; set by the catalog */
    char *file;              /* path of the data file, or NULL */
    char *fail_reason;       /* why it was killed, or NULL */
    struct prop *props;      /* extra properties, sorted by key when read */
    size_t nprops;           /* number of entries in props */
};

/* One property that a listed image must carry with exactly this value. */
struct catalog_match {
    const char *key;   /* property name */
    const char *value; /* required value */
};

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
};

/* An instance (a "server" in OpenStack words).  All pointers are owned by
 * the struct and freed by instance_free.
 */
struct instance {
    char id[UTIL_UUID_LEN];  /* lower-case UUID */
    char *name;              /* unique among instances, non-empty */
    char *image_id;          /* image it was booted from, or NULL */
    int64_t memory_mb;       /* guest RAM in MiB, > 0 */
    int cpus;                /* vCPUs, > 0 */
    char *created_at;        /* util_now_iso8601 format; NULL on insert
                              * means now */
    char *updated_at;        /* same format; set by the catalog */
    char *task_state;        /* NULL when idle, or e.g. "image_snapshot" */
    struct prop *meta;       /* metadata, sorted by key when read */
    size_t nmeta;            /* number of entries in meta */
};

/* A volume, with the fields of a Cinder volume: a disk that exists apart
 * from any instance and is attached to at most one at a time.  All
 * pointers are owned by the struct and freed by volume_free.
 */
struct volume {
    char id[UTIL_UUID_LEN];    /* lower-case UUID */
    char *name;                /* NULL or at most CATALOG_NAME_MAX bytes */
    char *status;              /* see catalog_volume_status_valid */
    int64_t size;              /* guest-visible size in bytes, >= 0 */
    char *file;                /* path of the qcow2 data file, or NULL */
    char *instance_id;         /* server it is attached to, or NULL;
                                * changed only by catalog_volume_attach
                                * and catalog_volume_detach */
    int device_index;          /* order of attachment on that server: 1,
                                * 2, ... (0 is its root disk); -1 when
                                * detached */
    char *source_snapshot_id;  /* volume snapshot it was made from, or
                                * NULL */
    char *source_image_id;     /* image it was made from, or NULL */
    char *created_at;          /* util_now_iso8601 format; NULL on insert
                                * means now */
    char *updated_at;          /* same format; set by the catalog */
    struct prop *meta;         /* metadata, sorted by key when read */
    size_t nmeta;              /* number of entries in meta */
};

/* A snapshot of one volume (a Cinder volume snapshot).  All pointers are
 * owned by the struct and freed by volume_snapshot_free.
 */
struct volume_snapshot {
    char id[UTIL_UUID_LEN];    /* lower-case UUID */
    char *name;                /* NULL or at most CATALOG_NAME_MAX bytes */
    char *volume_id;           /* UUID of the source volume; the volume
                                * may be gone (no foreign key) */
    char *status;              /* see catalog_volume_snapshot_status_valid */
    int64_t size;              /* guest-visible size in bytes, >= 0 */
    char *file;                /* path of the data file, or NULL */
    char *created_at;          /* util_now_iso8601 format; NULL on insert
                                * means now */
    char *updated_at;          /* same format; set by the catalog */
    struct prop *meta;         /* metadata (e.g. instance_snapshot_id,
                                * instance_uuid), sorted by key when read */
    size_t nmeta;              /* number of entries in meta */
};

/* ---- The database ---------------------------------------------------- */

/* Open the catalog at DB_PATH, creating the file and its schema if they
 * do not exist and upgrading an older schema (PRAGMA user_version) to the
 * current one.  The directory must exist.  Sets WAL journal mode, foreign
 * keys and the default busy timeout.
 * Returns a new handle (free with catalog_close), or NULL with ERR_IO (the
 * file cannot be opened or is damaged), ERR_INVALID (not a vmsnap catalog,
 * or a schema newer than this program) or ERR_CONFLICT (busy).
 */
struct catalog *catalog_open(const char *db_path, struct error **errp);

/* Close CAT, rolling back any transaction still open.  NULL is allowed. */
void catalog_close(struct catalog *cat);

/* Wait at most MS milliseconds for another process's lock before failing
 * with "catalog is busy" (ms <= 0: fail at once).
 */
void catalog_set_busy_timeout(struct catalog *cat, int ms);

/* Start a write transaction (BEGIN IMMEDIATE): from here to the matching
 * catalog_commit or catalog_rollback no other process can write, so a
 * read-modify-write is safe.  Calls nest: an inner begin opens a
 * savepoint, and only the outermost commit makes the changes durable.
 * Returns 0, or -1 with ERR_CONFLICT if the catalog stayed busy for the
 * whole timeout, or ERR_IO.
 */
int catalog_begin(struct catalog *cat, struct error **errp);

/* End the innermost transaction, keeping its changes.  If the outermost
 * commit fails, everything is rolled back.  Returns 0, or -1 with ERR_IO
 * or ERR_CONFLICT; on failure the transaction is over either way.
 */
int catalog_commit(struct catalog *cat, struct error **errp);

/* End the innermost transaction, undoing its changes.  Cannot fail in a
 * way the caller can act on (problems are logged).
 */
void catalog_rollback(struct catalog *cat);

/* Run SQLite's integrity and foreign key checks.  Returns 0 when both
 * pass, or -1 with ERR_IO "catalog is damaged: <first problem>".
 */
int catalog_check(struct catalog *cat, struct error **errp);

/* ---- Properties and metadata (in memory) ----------------------------- */

/* Return the value of KEY among the N entries of PROPS (borrowed from
 * PROPS), or NULL if absent.
 */
const char *catalog_prop_get(const struct prop *props, size_t n,
                             const char *key);

/* Set KEY to VALUE in the array *PROPS of *N entries, replacing an
 * existing value or appending (the array is reallocated).  Both strings
 * are copied.  Returns 0, or -1 with ERR_GENERIC if memory ran out (the
 * array is unchanged then).
 */
int catalog_prop_set(struct prop **props, size_t *n, const char *key,
                     const char *value, struct error **errp);

/* Free the N entries of PROPS and the array itself.  NULL is allowed. */
void catalog_props_free(struct prop *props, size_t n);

/* ---- Images ----------------------------------------------------------- */

/* True if STATUS is a Glance image status: queued, saving, uploading,
 * importing, active, deactivated, killed, pending_delete or deleted.
 */
bool catalog_image_status_valid(const char *status);

/* Return the value of property KEY of IMG (borrowed from IMG), or NULL. */
const char *image_prop(const struct image *img, const char *key);

/* Set property KEY of the in-memory IMG (see catalog_prop_set). */
int image_prop_set(struct image *img, const char *key, const char *value,
                   struct error **errp);

/* Free IMG and everything it owns.  NULL is allowed. */
void image_free(struct image *img);

/* Free the N images of LIST and LIST itself.  NULL is allowed. */
void image_list_free(struct image **list, size_t n);

/* Add IMG (borrowed) to the catalog with its properties.  IMG->id must be
 * a UUID chosen by the caller (util_uuid_new); a NULL created_at means
 * now; updated_at is set to created_at.
 * Returns 0, or -1 with ERR_INVALID (bad field), ERR_CONFLICT (the ID is
 * taken, or busy) or ERR_IO.
 */
int catalog_image_insert(struct catalog *cat, const struct image *img,
                         struct error **errp);

/* Replace every field of the image IMG->id with those of IMG (borrowed)
 * and its property set with IMG->props; created_at is kept and
 * updated_at set to now.  Returns 0, or -1 with ERR_NOT_FOUND, ERR_INVALID,
 * ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_update(struct catalog *cat, const struct image *img,
                         struct error **errp);

/* Read the image with ID (a UUID, either case) into *OUT (caller frees
 * with image_free).  Returns 0, or -1 with ERR_NOT_FOUND "no image with ID
 * 'x'", ERR_CONFLICT (busy) or ERR_IO; *OUT is set only on success.
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
 * when *N is 0).  Returns 0, or -1 with ERR_INVALID (too many property
 * matches), ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_list(struct catalog *cat, const struct image_filter *f,
                       struct image ***out, size_t *n, struct error **errp);

/* Set the status of image ID to STATUS and its fail_reason to REASON
 * (NULL clears it), and bump updated_at.  No transition rules are
 * enforced here.  Returns 0, or -1 with ERR_INVALID (unknown status),
 * ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_set_status(struct catalog *cat, const char *id,
                             const char *status, const char *reason,
                             struct error **errp);

/* Set property KEY of image ID to VALUE (adding or replacing) and bump
 * updated_at.  Returns 0, or -1 with ERR_INVALID (bad key, value too
 * long, or the image would exceed CATALOG_PROPS_MAX), ERR_NOT_FOUND,
 * ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_set_property(struct catalog *cat, const char *id,
                               const char *key, const char *value,
                               struct error **errp);

/* Remove property KEY of image ID and bump updated_at.  Returns 0, or -1
 * with ERR_NOT_FOUND (no such image, or "image x has no property 'k'"),
 * ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_image_unset_property(struct catalog *cat, const char *id,
                                 const char *key, struct error **errp);

/* Remove image ID and its properties from the catalog (it does not look
 * at users: call catalog_image_users first).  Returns 0, or -1 with
 * ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
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

/* ---- Instances -------------------------------------------------------- */

/* Return the value of metadata KEY of INST (borrowed), or NULL. */
const char *instance_meta(const struct instance *inst, const char *key);

/* Set metadata KEY of the in-memory INST (see catalog_prop_set). */
int instance_meta_set(struct instance *inst, const char *key,
                      const char *value, struct error **errp);

/* Free INST and everything it owns.  NULL is allowed. */
void instance_free(struct instance *inst);

/* Free the N instances of LIST and LIST itself.  NULL is allowed. */
void instance_list_free(struct instance **list, size_t n);

/* Add INST (borrowed) with its metadata.  INST->id must be a UUID chosen
 * by the caller; a NULL created_at means now; task_state is stored as
 * given.  Returns 0, or -1 with ERR_INVALID (bad field), ERR_CONFLICT
 * "server name 'x' already exists" (or the ID is taken, or busy) or
 * ERR_IO.
 */
int catalog_instance_insert(struct catalog *cat, const struct instance *inst,
                            struct error **errp);

/* Replace the fields of instance INST->id and its metadata with those of
 * INST; created_at and task_state are kept (task_state changes only
 * through catalog_instance_set_task) and updated_at is set to now.
 * Returns 0, or -1 with ERR_NOT_FOUND, ERR_INVALID, ERR_CONFLICT (the new
 * name is taken, or busy) or ERR_IO.
 */
int catalog_instance_update(struct catalog *cat, const struct instance *inst,
                            struct error **errp);

/* Read instance ID into *OUT (caller frees with instance_free).  Returns
 * 0, or -1 with ERR_NOT_FOUND "no server with ID 'x'", ERR_CONFLICT (busy)
 * or ERR_IO.
 */
int catalog_instance_get(struct catalog *cat, const char *id,
                         struct instance **out, struct error **errp);

/* Look an instance up by full UUID first, else by name.  Returns 0 with
 * *OUT set (caller frees), or -1 with ERR_NOT_FOUND "no server named or
 * with ID 'x'", ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_instance_find(struct catalog *cat, const char *name_or_id,
                          struct instance **out, struct error **errp);

/* List all instances, newest first.  *OUT and *N as for
 * catalog_image_list (free with instance_list_free).  Returns 0, or -1
 * with ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_instance_list(struct catalog *cat, struct instance ***out,
                          size_t *n, struct error **errp);

/* Remove instance ID and its metadata.  Returns 0, or -1 with
 * ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_instance_delete(struct catalog *cat, const char *id,
                            struct error **errp);

/* Compare and set the task of instance ID in one statement: if its
 * task_state equals EXPECTED (NULL: the instance must be idle), set it to
 * TASK (NULL: clear it) and bump updated_at.  Two processes that race to
 * start a task on the same instance cannot both succeed.
 * Returns 0, or -1 with ERR_NOT_FOUND, ERR_CONFLICT "server NAME is busy:
 * <task>" (or "server NAME is not busy with <expected>" when it is idle),
 * ERR_CONFLICT (busy catalog) or ERR_IO.
 */
int catalog_instance_set_task(struct catalog *cat, const char *id,
                              const char *expected, const char *task,
                              struct error **errp);

/* ---- Volumes ---------------------------------------------------------- */

/* True if STATUS is a volume status: creating, available, in-use, error
 * or deleting.  "in-use" goes with an attachment: only
 * catalog_volume_attach sets it and only catalog_volume_detach clears it.
 */
bool catalog_volume_status_valid(const char *status);

/* Return the value of metadata KEY of VOL (borrowed), or NULL. */
const char *volume_meta(const struct volume *vol, const char *key);

/* Set metadata KEY of the in-memory VOL (see catalog_prop_set). */
int volume_meta_set(struct volume *vol, const char *key, const char *value,
                    struct error **errp);

/* Free VOL and everything it owns.  NULL is allowed. */
void volume_free(struct volume *vol);

/* Free the N volumes of LIST and LIST itself.  NULL is allowed. */
void volume_list_free(struct volume **list, size_t n);

/* Add VOL (borrowed) with its metadata, detached: VOL->instance_id must
 * be NULL, VOL->device_index is ignored and the status cannot be in-use.
 * VOL->id must be a UUID chosen by the caller; a NULL created_at means
 * now.  A source_snapshot_id must name a volume snapshot in status
 * available, checked in the same transaction (so that the snapshot
 * cannot be deleted meanwhile); a source_image_id is not checked.
 * Returns 0, or -1 with ERR_INVALID (bad field), ERR_NOT_FOUND "no volume
 * snapshot with ID 'x'", ERR_CONFLICT "volume snapshot NAME is not
 * available: STATUS" (or the ID is taken, or busy) or ERR_IO.
 */
int catalog_volume_insert(struct catalog *cat, const struct volume *vol,
                          struct error **errp);

/* Replace the fields of volume VOL->id and its metadata with those of VOL
 * (borrowed).  created_at and the attachment (instance_id, device_index)
 * are kept; updated_at is set to now.  The source references are checked
 * for form only.  An attached volume must stay in status in-use and a
 * detached one cannot be put in it.  Returns 0, or -1
 * with ERR_NOT_FOUND, ERR_INVALID (bad field, or in-use for a detached
 * volume), ERR_CONFLICT "volume NAME is attached to server <id>" (another
 * status for an attached volume, or busy) or ERR_IO.
 */
int catalog_volume_update(struct catalog *cat, const struct volume *vol,
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

/* Set the status of volume ID to STATUS and bump updated_at, with the
 * rule of catalog_volume_update: in-use only while attached, nothing else
 * while attached.  Returns 0, or -1 with ERR_INVALID (unknown status, or
 * in-use for a detached volume), ERR_NOT_FOUND, ERR_CONFLICT "volume NAME
 * is attached to server <id>" (or busy) or ERR_IO.
 */
int catalog_volume_set_status(struct catalog *cat, const char *id,
                              const char *status, struct error **errp);

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

/* Return the value of metadata KEY of SNAP (borrowed), or NULL. */
const char *volume_snapshot_meta(const struct volume_snapshot *snap,
                                 const char *key);

/* Set metadata KEY of the in-memory SNAP (see catalog_prop_set). */
int volume_snapshot_meta_set(struct volume_snapshot *snap, const char *key,
                             const char *value, struct error **errp);

/* Free SNAP and everything it owns.  NULL is allowed. */
void volume_snapshot_free(struct volume_snapshot *snap);

/* Free the N snapshots of LIST and LIST itself.  NULL is allowed. */
void volume_snapshot_list_free(struct volume_snapshot **list, size_t n);

/* Add SNAP (borrowed) with its metadata.  SNAP->id must be a UUID chosen
 * by the caller and SNAP->volume_id a UUID (the volume is not looked
 * up); a NULL created_at means now.  Returns 0, or -1 with ERR_INVALID
 * (bad field), ERR_CONFLICT (the ID is taken, or busy) or ERR_IO.
 */
int catalog_volume_snapshot_insert(struct catalog *cat,
                                   const struct volume_snapshot *snap,
                                   struct error **errp);

/* Replace every field of snapshot SNAP->id and its metadata with those of
 * SNAP (borrowed); created_at is kept and updated_at set to now.
 * Returns 0, or -1 with ERR_NOT_FOUND, ERR_INVALID, ERR_CONFLICT (busy)
 * or ERR_IO.
 */
int catalog_volume_snapshot_update(struct catalog *cat,
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

/* Set the status of volume snapshot ID to STATUS and bump updated_at.  No
 * transition rules are enforced here.  Returns 0, or -1 with ERR_INVALID
 * (unknown status), ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_volume_snapshot_set_status(struct catalog *cat, const char *id,
                                       const char *status,
                                       struct error **errp);

/* Remove volume snapshot ID and its metadata, unless something uses it:
 * a volume created from it (source_snapshot_id, in any status) or an
 * image not in status deleted whose block_device_mapping property (JSON)
 * contains its ID.  Returns 0, or -1 with ERR_NOT_FOUND, ERR_CONFLICT
 * "volume snapshot NAME is in use by volume data (<id>), image snap
 * (<id>)", ERR_CONFLICT (busy) or ERR_IO.  NAME is the ID when the
 * snapshot has no name.
 */
int catalog_volume_snapshot_delete(struct catalog *cat, const char *id,
                                   struct error **errp);

#endif
