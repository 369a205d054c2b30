/* vmsnap: tasks in the catalog (included by catalog.h; see there for
 * the rules every catalog function follows).
 *
 * A task records long work (a snapshot, a backup, an upload, an import,
 * an export) so that whoever asked for it, a CLI, the REST daemon or a
 * web page, can follow it, and so that a crash leaves a record that
 * recovery finishes.  Its life:
 *
 *   insert (queued) --claim--> running --finish--> succeeded | failed
 *           \--------------------finish (failed)-----/
 *
 * A worker claims a queued task (compare-and-set: one worker wins),
 * reports progress while it runs, adds warnings the user must see, and
 * finishes it with its result.  Finished tasks stay until pruned.  The
 * catalog does not know whether the owner of a running task is alive:
 * that is the task lock's business (storage/lock.h).
 */
#ifndef VMSNAP_CATALOG_TASKS_H
#define VMSNAP_CATALOG_TASKS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "model.h"

struct catalog;

/* Which tasks catalog_task_list returns.  A zeroed filter matches them
 * all.  Lists are newest first (by created_at, then order of insertion).
 */
struct task_filter {
    const char *state;       /* only in this state, or NULL */
    const char *kind;        /* only of this kind, or NULL */
    const char *target_kind; /* only on this kind of target, or NULL */
    const char *target_id;   /* only on this target, or NULL */
    const char *project_id;  /* only for this project, or NULL */
    size_t limit;            /* at most this many; 0: all */
};

/* What a task ended with (catalog_task_finish). */
struct task_result {
    const char *state;       /* "succeeded" or "failed" */
    const char *image_id;    /* the image it made, or NULL to keep what
                              * the task has */
    const char *error;       /* why it failed (failed only), or NULL */
    const char *error_class; /* a word ("conflict", "io"), or NULL */
};

/* True if STATE is queued, running, succeeded or failed. */
bool catalog_task_state_valid(const char *state);

/* Add task T (borrowed): T->id a UUID chosen by the caller, kind a word,
 * state NULL or "queued", target_kind a word or NULL (with target_id a
 * UUID or NULL), image_id, project_id and user_id UUIDs or NULL, created_at
 * NULL (now) or a time; phase, progress, warnings, error, owner and the
 * other times are ignored (a new task has none).  Returns 0, or -1 with
 * ERR_INVALID (bad field), ERR_CONFLICT (the ID is taken, or busy) or
 * ERR_IO.
 */
int catalog_task_insert(struct catalog *cat, const struct task *t,
                        struct error **errp);

/* Read task ID into *OUT (caller frees with task_free).  Returns 0, or -1
 * with ERR_NOT_FOUND "no task with ID 'x'", ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_task_get(struct catalog *cat, const char *id, struct task **out,
                     struct error **errp);

/* List the tasks that match F (NULL matches all), newest first.  *OUT and
 * *N as for catalog_image_list (free with task_list_free).  Returns 0, or
 * -1 with ERR_INVALID (an unknown state), ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_task_list(struct catalog *cat, const struct task_filter *f,
                      struct task ***out, size_t *n, struct error **errp);

/* Claim task ID for OWNER ("host:pid", a name) in one compare-and-set:
 * if it is queued, it becomes running with that owner, started_at now.
 * Two workers that race for one task cannot both win.  Returns 0, or -1
 * with ERR_INVALID (no owner), ERR_NOT_FOUND, ERR_CONFLICT "task ID is
 * STATE, not queued" (or busy) or ERR_IO.
 */
int catalog_task_claim(struct catalog *cat, const char *id,
                       const char *owner, struct error **errp);

/* Record the progress of running task ID: PHASE (NULL keeps the current
 * one) and PERCENT (0 to 100), in one cheap statement.  Returns 0, or -1
 * with ERR_INVALID (a percent out of range), ERR_NOT_FOUND, ERR_CONFLICT
 * "task ID is STATE, not running" (or busy) or ERR_IO.
 */
int catalog_task_progress(struct catalog *cat, const char *id,
                          const char *phase, double percent,
                          struct error **errp);

/* Append WARNING (a value: see model.h) to the warnings of task ID, in a
 * transaction so that concurrent warnings are all kept.  A task keeps at
 * most 64 warnings; later ones are dropped with a note.  Returns 0, or -1
 * with ERR_INVALID (a bad warning), ERR_NOT_FOUND, ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_task_add_warning(struct catalog *cat, const char *id,
                             const char *warning, struct error **errp);

/* Finish task ID with result R in one compare-and-set: a running task
 * may succeed or fail, a queued one (never started) may only fail.  It
 * gets finished_at now, R's image_id (if not NULL), and for a failure R's
 * error and class; a success sets progress to 100.  Returns 0, or -1 with
 * ERR_INVALID (a bad result), ERR_NOT_FOUND, ERR_CONFLICT "task ID is
 * STATE, not running" (or busy) or ERR_IO.
 */
int catalog_task_finish(struct catalog *cat, const char *id,
                        const struct task_result *r, struct error **errp);

/* Remove task ID, whatever its state.  Returns 0, or -1 with
 * ERR_NOT_FOUND, ERR_CONFLICT (busy) or ERR_IO.
 */
int catalog_task_delete(struct catalog *cat, const char *id,
                        struct error **errp);

/* Remove the finished tasks (succeeded or failed) that finished before
 * OLDER_THAN (a time in util_now_iso8601 format).  Returns how many were
 * removed, or -1 with ERR_INVALID (a bad time), ERR_CONFLICT (busy) or
 * ERR_IO.
 */
int catalog_task_prune(struct catalog *cat, const char *older_than,
                       struct error **errp);

#endif
