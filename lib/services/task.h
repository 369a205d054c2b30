/* vmsnap: long work as task records.
 *
 * A snapshot, a backup, an import or an export is a task: a catalog
 * record (kind, target, state, phase, progress, warnings, error, result)
 * that every front end can follow.  It runs either in the process that
 * asked for it (the command in the foreground) or in a worker process,
 * vmsnap-worker, started by fork+exec (the command's --no-wait, the
 * daemon always).  Whoever runs a task holds its lock ("task"/ID) while
 * it runs; a task found running whose lock is free was left by a process
 * that died, and recovery (recover.h) finishes it off with the kind's own
 * recovery, then marks it failed.  A task still queued is left to its
 * creator (recorded as its owner until a runner claims it), which runs it
 * or waits until a worker it started claims it: recovery takes it as
 * lost once that process is dead (when it ran on this host) or after
 * two minutes (a creator on another host, or a pid reused since).
 *
 * States: queued -> running -> succeeded | failed.
 */
#ifndef VMSNAP_TASK_H
#define VMSNAP_TASK_H

#include <stdbool.h>

#include <json-c/json.h>

#include "catalog.h"
#include "error.h"
#include "progress.h"
#include "svc.h"

/* How long the one who asked waits for a worker to take its task. */
#define TASK_CLAIM_TIMEOUT_MS 30000

struct task_run;    /* a task being run, in the process that runs it */

/* What a kind of task does.  RUN does the work with the arguments the
 * task was created with (REQUEST, borrowed) and returns 0 or -1 with
 * errp; on success it may set *RESULT (caller frees), the ID of what it
 * made.  RECOVER cleans up after a process that died while running a
 * task of this kind (never fails; errors are logged).
 */
struct task_kind {
    const char *name;       /* "image_snapshot", "backup", ... */
    int (*run)(struct svc *svc, struct task_run *t, json_object *request,
               char **result, struct error **errp);
    void (*recover)(struct svc *svc, const struct task *task);
};

/* Create a task of KIND on TARGET_KIND/TARGET_ID with the arguments
 * REQUEST (borrowed, a JSON object), in state queued.  IMAGE_ID (may be
 * NULL) is the image it makes, when that is known from the start.  *OUT:
 * caller frees (task_free).
 */
int task_create(struct svc *svc, const struct caller *who, const char *kind,
                const char *target_kind, const char *target_id,
                const char *image_id, json_object *request,
                struct task **out, struct error **errp);

/* Is a task queued or running that makes image IMAGE_ID, or works on
 * TARGET_ID?  (Recovery leaves what such a task owns alone.)
 */
bool task_pending_for_image(struct svc *svc, const char *image_id);
bool task_pending_for_target(struct svc *svc, const char *target_id);

/* The progress, in percent (0 to 100), of the task queued or running
 * that makes image IMAGE_ID, into *PERCENT: what a snapshot's copy has
 * done, for the web page (views.h, view_image_progress).  False when no
 * such task is pending (or the catalog cannot say).
 */
bool task_image_progress(struct svc *svc, const char *image_id,
                         double *percent);

/* The progress of every image a pending task makes, read at once: a
 * listing asks for it once, not twice per image (each ask reads the
 * queued and running tasks).  The running task of an image wins over a
 * queued one, as in task_image_progress.
 */
struct task_progress {
    char *image_id;             /* the image the task makes */
    double percent;             /* its progress */
};

/* Fill *OUT with the *N images of pending tasks (free with
 * task_progress_free).  Nothing (and false) when the catalog cannot say.
 */
bool task_images_progress(struct svc *svc, struct task_progress **out,
                          size_t *n);

/* The progress of IMAGE_ID among the N of P, or false. */
bool task_progress_find(const struct task_progress *p, size_t n,
                        const char *image_id, double *percent);

void task_progress_free(struct task_progress *p, size_t n);

/* Flags of task_run. */
#define TASK_BACKGROUND 1u  /* run by a worker: nobody waits to hear of a
                             * failure, so what failed stays as a record
                             * with the reason (an image killed) */

/* Run task ID here and now: take its lock, mark it running, run its kind
 * (found by name among KINDS, NULL-terminated), record the outcome.
 * PROGRESS (may be NULL) also gets the progress the task records.
 * Returns 0, or -1 with the task's error.  When the lock or the claim
 * fails for a reason other than another runner (ERR_CONFLICT: that one
 * runs it), the task is failed with that reason at once and its kind's
 * recovery undoes what was made for it (a snapshot's image is killed,
 * saying why): nothing stays queued.  Front ends call runner_run
 * (runner.h), which knows every kind.
 */
int task_execute(struct svc *svc, const struct task_kind *const *kinds,
                 const char *id, unsigned flags,
                 const struct progress *progress, struct error **errp);

/* Start a worker process for task ID (fork+exec of vmsnap-worker, in its
 * own session, its output in the data directory's logs/task-ID.log) and
 * wait until it has taken the task.  The worker outlives us.  When no
 * worker takes it, the task fails (task_spawn_kinds: and its kind's
 * recovery among KINDS undoes what was made for it, the image a snapshot
 * was to fill, the server's busy mark; runner_spawn passes every kind).
 */
int task_spawn(struct svc *svc, const char *id, struct error **errp);
int task_spawn_kinds(struct svc *svc, const struct task_kind *const *kinds,
                     const char *id, struct error **errp);

/* Wait until task ID reaches phase PHASE or ends, at most TIMEOUT_MS.
 * Returns 0 when it did (the task may have failed: read it), -1 with
 * ERR_TIMEOUT.
 */
int task_wait(struct svc *svc, const char *id, const char *phase,
              int timeout_ms, struct error **errp);

/* Find task ID that WHO may see; list the tasks WHO may see (all, or of
 * one target when TARGET_ID is not NULL), newest first.
 */
int task_find(struct svc *svc, const struct caller *who, const char *id,
              struct task **out, struct error **errp);
int task_list(struct svc *svc, const struct caller *who,
              const char *target_id, struct task ***out, size_t *n,
              struct error **errp);

/* For the code running a task (a kind's RUN). */

/* The task's record (borrowed) and whether it runs in a worker, in the
 * background of whoever asked for it.
 */
const struct task *task_record(const struct task_run *t);
bool task_in_background(const struct task_run *t);

/* Is the task still this process's?  0, or -1 with ERR_CONFLICT when its
 * lock was lost (a lease this host could not renew, or that another host
 * took over after it expired: lock.h).  Long work calls it at its steps
 * and stops, committing nothing, when it fails.
 */
int task_check(struct task_run *t, struct error **errp);

/* Record phase PHASE ("prepare", "frozen", "copy", "checksum") reached,
 * at once.
 */
void task_phase(struct task_run *t, const char *phase);

/* The reporter a kind hands to long work: it records the phase and
 * percentage in the task (at most a few times a second) and passes them
 * on to the progress the task was run with.
 */
const struct progress *task_progress(struct task_run *t);

/* Record a warning the user must see ("the snapshot is crash-consistent,
 * not quiesced"): in the task's result, and on stderr.
 */
void task_warn(struct task_run *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Recovery: finish off the tasks left running by processes that died
 * (see above), with the recovery of their kind among KINDS.  Called by
 * recover_all.
 */
void task_recover(struct svc *svc, const struct task_kind *const *kinds);

#endif
