/* vmsnap: instances and their actions in the catalog (included by
 * catalog.h; see there for the rules every catalog function follows).
 */
#ifndef VMSNAP_CATALOG_INSTANCES_H
#define VMSNAP_CATALOG_INSTANCES_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "model.h"

struct catalog;

/* Which instances catalog_instance_list_by returns.  A zeroed filter
 * matches them all.
 */
struct instance_filter {
    const char *project_id;  /* only those of this project, or NULL */
    const char *host;        /* only those this host runs, or NULL */
    bool local;              /* only those whose host is NULL (this host
                              * when the catalog is not shared) */
    const char *image_id;    /* only those booted from this image */
};

/* Add INST (borrowed) with its metadata.  INST->id must be a UUID chosen
 * by the caller; a NULL created_at means now; task_state is stored as
 * given; project_id and user_id, when set, must be UUIDs (not looked
 * up); host is a name.  Returns 0, or -1 with ERR_INVALID (bad field),
 * ERR_CONFLICT "server name 'x' already exists" (or the ID is taken, or
 * busy) or ERR_IO.
 */
int catalog_instance_insert(struct catalog *cat, const struct instance *inst,
                            struct error **errp);

/* Set the name, CPUs and memory of instance ID (what an adopted domain
 * says now) and bump updated_at in one statement; nothing else of the
 * instance changes.  Returns 0, or -1 with ERR_INVALID (a bad name, CPUS
 * or MEMORY_MB not > 0), ERR_NOT_FOUND "no server with ID 'x'",
 * ERR_CONFLICT "server name 'x' already exists" (or busy) or ERR_IO.
 */
int catalog_instance_set_shape(struct catalog *cat, const char *id,
                               const char *name, int cpus,
                               int64_t memory_mb, struct error **errp);

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

/* List the instances that match F (NULL matches all), newest first, as
 * catalog_instance_list.
 */
int catalog_instance_list_by(struct catalog *cat,
                             const struct instance_filter *f,
                             struct instance ***out, size_t *n,
                             struct error **errp);

/* Remove instance ID with its metadata and actions.  Returns 0, or -1
 * with ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
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

/* Set the NSET metadata items of SET (adding or replacing) and remove
 * the NUNSET keys of UNSET from instance ID in one transaction, removals
 * first, and bump updated_at; nothing else changes.  Returns 0, or -1
 * with ERR_INVALID (a bad key or value, a key both set and removed, more
 * than CATALOG_PROPS_MAX items in the end), ERR_NOT_FOUND "no server with
 * ID 'x'" or "server NAME has no metadata item 'k'" (a key to remove
 * that is missing: nothing changes then), ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_instance_set_meta(struct catalog *cat, const char *id,
                              const struct prop *set, size_t nset,
                              const char *const *unset, size_t nunset,
                              struct error **errp);

/* ---- Instance actions ------------------------------------------------- */

/* Record action A (borrowed) on instance A->instance_id, which must
 * exist: request_id and action non-empty names (see model.h),
 * project_id and user_id UUIDs or NULL, start_time NULL (now) or a time;
 * finish_time and message are ignored (a new action has none).
 * Returns 0, or -1 with ERR_INVALID, ERR_NOT_FOUND "no server with ID
 * 'x'", ERR_CONFLICT "server x already has an action of request r" (or
 * busy) or ERR_IO.
 */
int catalog_instance_action_start(struct catalog *cat,
                                  const struct instance_action *a,
                                  struct error **errp);

/* Finish the action of REQUEST_ID on instance INSTANCE_ID: finish_time
 * becomes now and message MESSAGE (NULL for none; e.g. "Error: why").
 * Returns 0, or -1 with ERR_NOT_FOUND "server x has no action of request
 * r", ERR_CONFLICT "the action of request r on server x is finished" (or
 * busy) or ERR_IO.
 */
int catalog_instance_action_finish(struct catalog *cat,
                                   const char *instance_id,
                                   const char *request_id,
                                   const char *message, struct error **errp);

/* The actions on instance INSTANCE_ID, newest first (by start_time, then
 * by order of insertion): *OUT and *N as for catalog_image_list (free
 * with instance_action_list_free); none for an unknown instance.
 * Returns 0, or -1 with ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_instance_action_list(struct catalog *cat,
                                 const char *instance_id,
                                 struct instance_action ***out, size_t *n,
                                 struct error **errp);

#endif
