/* vmsnap: running tasks by their kind.
 *
 * task.h keeps the records of long work and the machinery to run one;
 * this module is the one place that knows every kind of task there is
 * (snapshots, backups, package imports and exports), so that task.c need
 * not include the services that define them (they include task.h).
 * Front ends run tasks through runner_run; recovery finishes dead ones
 * with runner_kinds.
 */
#ifndef VMSNAP_RUNNER_H
#define VMSNAP_RUNNER_H

#include "error.h"
#include "progress.h"
#include "svc.h"
#include "task.h"

/* Every kind of task, NULL-terminated. */
extern const struct task_kind *const runner_kinds[];

/* Run task ID here and now, as task_execute does with every kind
 * (FLAGS: TASK_BACKGROUND in a worker).
 */
int runner_run(struct svc *svc, const char *id, unsigned flags,
               const struct progress *progress, struct error **errp);

/* Start a worker for task ID (task_spawn); when none takes it, the
 * task's kind undoes what was made for it.
 */
int runner_spawn(struct svc *svc, const char *id, struct error **errp);

#endif
