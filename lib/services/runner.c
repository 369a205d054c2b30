/* vmsnap: running tasks by their kind (see runner.h). */
#include <stddef.h>

#include "backup.h"
#include "package.h"
#include "runner.h"
#include "snapshot.h"
#include "volumes.h"

const struct task_kind *const runner_kinds[] = {
    &snapshot_task_kind,
    &backup_task_kind,
    &package_import_task_kind,
    &package_export_task_kind,
    &volumes_snapshot_task_kind,
    NULL,
};

int
runner_run(struct svc *svc, const char *id, unsigned flags,
           const struct progress *progress, struct error **errp)
{
    return task_execute(svc, runner_kinds, id, flags, progress, errp);
}

int
runner_spawn(struct svc *svc, const char *id, struct error **errp)
{
    return task_spawn_kinds(svc, runner_kinds, id, errp);
}
