/* vmsnap: the records of the catalog, as plain structs, and the helpers
 * that work on them in memory (no database here).
 *
 * A record read from the catalog is a copy the caller owns: every
 * pointer member is owned by the struct and freed by its *_free function
 * (which accepts NULL).  A record passed to the catalog is borrowed for
 * the call.  Callers that build a record allocate it zeroed (calloc):
 * every member added after the first release is NULL/zero-safe, meaning
 * "not set" or the documented default.
 *
 * Text the catalog stores follows two rules, checked by every write (see
 * catalog_name_check and catalog_value_check), so that nothing read back
 * can drive a terminal or split a line of output (reliability audit M1,
 * L6):
 *   names (of images, servers, volumes, snapshots, projects, users, tags)
 *   and property or metadata keys: valid UTF-8 without C0 or C1 control
 *   characters, without DEL and without the bidirectional formatting
 *   characters and line or paragraph separators (U+061C, U+200E/F,
 *   U+2028 to U+202E, U+2066 to U+2069), which count as controls;
 *   property and metadata values: valid UTF-8 without control characters
 *   except tab and line feed, which multi-line values (descriptions,
 *   JSON) legitimately hold.
 * Opaque texts (a task's request and error, an image's fail_reason) are
 * stored as given: they may quote what a peer said, and whoever prints
 * them escapes them.
 */
#ifndef VMSNAP_MODEL_H
#define VMSNAP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bdm.h"
#include "error.h"
#include "util.h"

/* Limits, as in Glance: a name, tag or property key is at most 255
 * bytes, an image carries at most 128 properties and 128 tags (instances
 * as many metadata items).  A property value is at most 64 KiB.
 */
#define CATALOG_NAME_MAX 255
#define CATALOG_KEY_MAX 255
#define CATALOG_VALUE_MAX 65536
#define CATALOG_PROPS_MAX 128
#define CATALOG_TAGS_MAX 128

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
    char *file;              /* path of the data file, or NULL; being
                              * replaced by location */
    char *fail_reason;       /* why it was killed, or NULL */
    struct prop *props;      /* extra properties, sorted by key when read */
    size_t nprops;           /* number of entries in props */
    /* Schema version 3: */
    char *location;          /* where the data is, "<scheme>:<key>" (see
                              * storage/blob.h), or NULL.  A write that
                              * gives NULL here and a file that lies at
                              * .../images/<id>.<format> gets
                              * "file:images/<id>.<format>" */
    char *owner;             /* the project that owns it (a UUID), or
                              * NULL for none */
    char *visibility;        /* "private", "shared", "community" or
                              * "public"; NULL on insert means "shared"
                              * (Glance's default) */
    bool protected;          /* cannot be deleted while set */
    char **tags;             /* tags, sorted, when read; stored by insert
                              * only (then catalog_image_tag_*) */
    size_t ntags;            /* number of entries in tags */
    struct bdm_entry *bdm;   /* volume snapshots it is made of (bdm.h's
                              * entries), by device_index, when read;
                              * stored by insert and
                              * catalog_image_set_bdm; freed with
                              * bdm_free (see "The block device mapping"
                              * in catalog-images.h) */
    size_t nbdm;             /* number of entries in bdm */
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
    /* Schema version 3: */
    char *project_id;        /* the project it belongs to, or NULL */
    char *user_id;           /* the user who created it, or NULL */
    char *host;              /* the host that runs it (several hosts
                              * sharing one catalog), or NULL for the
                              * host the catalog is local to */
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
    /* Schema version 3: */
    char *project_id;          /* the project it belongs to, or NULL */
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
    char *file;                /* path of the data file, or NULL; being
                                * replaced by location */
    char *created_at;          /* util_now_iso8601 format; NULL on insert
                                * means now */
    char *updated_at;          /* same format; set by the catalog */
    struct prop *meta;         /* metadata (e.g. instance_snapshot_id,
                                * instance_uuid), sorted by key when read */
    size_t nmeta;              /* number of entries in meta */
    /* Schema version 3: */
    char *location;            /* "<scheme>:<key>" of the data, or NULL;
                                * derived from a file at
                                * .../volume-snapshots/<id>.qcow2 as for
                                * images */
    char *project_id;          /* the project it belongs to, or NULL */
};

/* A task: long work (a snapshot, a backup, an upload, an import, an
 * export) that a worker runs and that anyone may follow.  States:
 * queued -> running -> succeeded | failed, and queued -> failed for a
 * task that never started.  All pointers are owned by the struct and
 * freed by task_free.
 */
struct task {
    char id[UTIL_UUID_LEN];  /* lower-case UUID */
    char *kind;              /* what it does: "image_snapshot", "backup",
                              * "upload", "import", "export", ...: a word
                              * of [a-z0-9_] */
    char *state;             /* see catalog_task_state_valid; NULL on
                              * insert means "queued" */
    char *target_kind;       /* what it works on: "server", "image",
                              * "volume", ... (a word), or NULL */
    char *target_id;         /* that object's UUID, or NULL (with
                              * target_kind) */
    char *image_id;          /* the image it makes, once known, or NULL */
    char *project_id;        /* the project it is done for, or NULL */
    char *user_id;           /* the user who asked, or NULL */
    char *request;           /* the arguments, JSON text (opaque here),
                              * or NULL */
    char *phase;             /* what it is doing now ("copying"), or
                              * NULL */
    double progress;         /* percent done, 0 to 100 */
    char *warnings;          /* a JSON array of strings: what the user
                              * must know about the result ("the snapshot
                              * is crash-consistent"); never NULL when
                              * read */
    char *error;             /* why it failed, or NULL (opaque text) */
    char *error_class;       /* the class of that error ("conflict",
                              * "io", ...: a word), or NULL */
    char *owner;             /* who runs it, "host:pid", set by claim;
                              * while queued, who queued it (so that
                              * recovery knows when nobody will run it),
                              * or NULL */
    char *created_at;        /* util_now_iso8601 format; NULL on insert
                              * means now */
    char *updated_at;        /* same format; set by the catalog */
    char *started_at;        /* when it was claimed, or NULL */
    char *finished_at;       /* when it ended, or NULL */
};

/* A project (a Keystone project): who owns records.  All pointers are
 * owned by the struct and freed by project_free.
 */
struct project {
    char id[UTIL_UUID_LEN];  /* lower-case UUID */
    char *name;              /* unique among projects, non-empty */
    char *description;       /* free text (a value, see above), or NULL */
    bool enabled;            /* a disabled project gets no tokens */
    char *created_at;        /* util_now_iso8601 format; NULL on insert
                              * means now */
};

/* A user (a Keystone user).  All pointers are owned by the struct and
 * freed by user_free.
 */
struct user {
    char id[UTIL_UUID_LEN];  /* lower-case UUID */
    char *name;              /* unique among users, non-empty */
    char *default_project_id; /* project a token is scoped to when the
                              * request names none, or NULL */
    char *password_hash;     /* opaque (the services hash and check
                              * passwords), or NULL: cannot log in */
    bool enabled;            /* a disabled user gets no tokens */
    char *created_at;        /* util_now_iso8601 format; NULL on insert
                              * means now */
    char *password_changed_at; /* when password_hash was last set, or
                              * NULL */
};

/* A role a user has on a project. */
struct role_assignment {
    char *user_id;           /* the user's UUID */
    char *project_id;        /* the project's UUID */
    char *role;              /* "admin" or "member" */
};

/* An issued token, known by a hash of its text (the token itself is
 * never stored).  All pointers are owned by the struct and freed by
 * token_free.
 */
struct token {
    char *id_hash;           /* hash of the token (hex), its key */
    char *user_id;           /* the user it authenticates */
    char *project_id;        /* the project it is scoped to, or NULL */
    char *roles;             /* the roles it carries, as the services
                              * write them (e.g. "admin,member") */
    char *issued_at;         /* util_now_iso8601 format; NULL on insert
                              * means now */
    char *expires_at;        /* same format; required */
    bool revoked;            /* revoked before its expiry */
};

/* One action on an instance (Nova's instance actions, what "openstack
 * server event list" shows).  All pointers are owned by the struct and
 * freed by instance_action_free.
 */
struct instance_action {
    char *request_id;        /* the request that did it ("req-<uuid>"),
                              * unique per instance */
    char *instance_id;       /* the instance's UUID */
    char *action;            /* "create", "stop", "createImage", ...: a
                              * non-empty name */
    char *project_id;        /* project of the requester, or NULL */
    char *user_id;           /* the requester, or NULL */
    char *start_time;        /* util_now_iso8601 format; NULL on insert
                              * means now */
    char *finish_time;       /* when it ended, or NULL while running */
    char *message;           /* the outcome ("Error: ..."), or NULL */
};

/* A flavor (Nova's): a size of server.  All pointers are owned by the
 * struct and freed by flavor_free.
 */
struct flavor {
    char *id;                /* Nova's flavor ID (catalog-flavors.h) */
    char *name;              /* unique among flavors, a name */
    int vcpus;               /* virtual CPUs, > 0 */
    int64_t ram_mb;          /* memory in MiB, > 0 */
    int64_t disk_gb;         /* root disk in GiB; 0: the image's size */
    int64_t ephemeral_gb;    /* ephemeral disk in GiB, >= 0 */
    int64_t swap_mb;         /* swap in MiB, >= 0 */
    bool is_public;          /* every project may use it */
    char *created_at;        /* util_now_iso8601 format; NULL on insert
                              * means now */
};

/* ---- Text rules ------------------------------------------------------- */

/* Check NAME, the name of a NOUN ("image", "server", ...), against the
 * rules for names above; NULL passes (records whose name is optional).
 * Returns 0, or -1 with ERR_INVALID "NOUN name is longer than 255 bytes",
 * "NOUN name contains a control character" or "NOUN name is not valid
 * UTF-8".
 */
int catalog_name_check(const char *noun, const char *name,
                       struct error **errp);

/* Check VALUE (not NULL), a value of WHAT ("image property 'k'"),
 * against the rules for values above.  Returns 0, or -1 with ERR_INVALID
 * "WHAT contains a control character" or "WHAT is not valid UTF-8".
 */
int catalog_value_check(const char *what, const char *value,
                        struct error **errp);

/* ---- Properties and metadata (in memory) ------------------------------ */

/* Return the value of KEY among the N entries of PROPS (borrowed from
 * PROPS), or NULL if absent.
 */
const char *catalog_prop_get(const struct prop *props, size_t n,
                             const char *key);

/* Set KEY to VALUE in the array *PROPS of *N entries, replacing an
 * existing value or appending (the array is reallocated).  Both strings
 * are copied.  Returns 0: it cannot fail (memory comes from xalloc.h);
 * the int and ERRP stay for the callers that check.
 */
int catalog_prop_set(struct prop **props, size_t *n, const char *key,
                     const char *value, struct error **errp);

/* Free the N entries of PROPS and the array itself.  NULL is allowed. */
void catalog_props_free(struct prop *props, size_t n);

/* ---- Records (in memory) ---------------------------------------------- */

/* Return the value of property KEY of IMG (borrowed from IMG), or NULL. */
const char *image_prop(const struct image *img, const char *key);

/* Set property KEY of the in-memory IMG (see catalog_prop_set). */
int image_prop_set(struct image *img, const char *key, const char *value,
                   struct error **errp);

/* True if IMG carries tag TAG. */
bool image_has_tag(const struct image *img, const char *tag);

/* Free IMG and everything it owns.  NULL is allowed. */
void image_free(struct image *img);

/* Free the N images of LIST and LIST itself.  NULL is allowed. */
void image_list_free(struct image **list, size_t n);

/* Free the N strings of TAGS and TAGS.  NULL is allowed. */
void catalog_tags_free(char **tags, size_t n);

/* Return the value of metadata KEY of INST (borrowed), or NULL. */
const char *instance_meta(const struct instance *inst, const char *key);

/* Set metadata KEY of the in-memory INST (see catalog_prop_set). */
int instance_meta_set(struct instance *inst, const char *key,
                      const char *value, struct error **errp);

/* Free INST and everything it owns.  NULL is allowed. */
void instance_free(struct instance *inst);

/* Free the N instances of LIST and LIST itself.  NULL is allowed. */
void instance_list_free(struct instance **list, size_t n);

/* Return the value of metadata KEY of VOL (borrowed), or NULL. */
const char *volume_meta(const struct volume *vol, const char *key);

/* Set metadata KEY of the in-memory VOL (see catalog_prop_set). */
int volume_meta_set(struct volume *vol, const char *key, const char *value,
                    struct error **errp);

/* Free VOL and everything it owns.  NULL is allowed. */
void volume_free(struct volume *vol);

/* Free the N volumes of LIST and LIST itself.  NULL is allowed. */
void volume_list_free(struct volume **list, size_t n);

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

/* Free a task, a project, a user, a role assignment, a token or an instance
 * action and everything it owns; and lists of them (the N records of LIST
 * and LIST).  NULL is allowed everywhere.
 */
void task_free(struct task *t);
void task_list_free(struct task **list, size_t n);
void project_free(struct project *p);
void project_list_free(struct project **list, size_t n);
void user_free(struct user *u);
void user_list_free(struct user **list, size_t n);
void role_assignment_list_free(struct role_assignment *list, size_t n);
void token_free(struct token *t);
void flavor_free(struct flavor *f);
void flavor_list_free(struct flavor **list, size_t n);
void instance_action_free(struct instance_action *a);
void instance_action_list_free(struct instance_action **list, size_t n);

#endif
