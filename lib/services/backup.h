/* vmsnap: backups with rotation (Nova's createBackup).
 *
 * A backup is a snapshot (snapshot.h) with image_type=backup and a
 * backup_type property (daily, weekly, ...).  After making one, only the
 * ROTATION newest active backups of that server and type are kept; older
 * ones are deleted with their volume snapshots.  Backups of other
 * servers, or of other types, are never touched.
 *
 * ROTATION 0 keeps none: no backup is made, and every backup of that
 * server and type is deleted at once (the way to retire a backup
 * schedule).  Nova makes the backup and then deletes it; making nothing
 * is the same end state without the work.
 */
#ifndef VMSNAP_BACKUP_H
#define VMSNAP_BACKUP_H

#include "catalog.h"
#include "error.h"
#include "snapshot.h"
#include "svc.h"
#include "task.h"

/* Ask for a backup of server REF as OPTS says (its image_type and extra
 * properties are set here), of type BACKUP_TYPE, keeping ROTATION.
 * With ROTATION > 0, *IMG and *TASK are as snapshot_request's: the task
 * makes the backup, then rotates.  With ROTATION 0, the backups of that
 * type are deleted now and *IMG and *TASK are NULL.
 */
int backup_request(struct svc *svc, const struct caller *who, const char *ref,
                   const struct snapshot_opts *opts, const char *backup_type,
                   int rotation, struct image **img, struct task **task,
                   struct error **errp);

/* The task kind that makes a backup and rotates. */
extern const struct task_kind backup_task_kind;

#endif
