/* vmsnap: backups with rotation (Nova's createBackup).
 *
 * A backup is a snapshot (snapshot.h) with image_type=backup and a
 * backup_type property (daily, weekly, ...).  After making one, only the
 * ROTATION newest active backups of that instance and type are kept; older
 * ones are deleted with their volume snapshots.  Backups of other
 * instances, or of other types, are never touched.
 *
 * ROTATION 0 keeps none: no backup is made, and every backup of that
 * instance and type is deleted (the way to retire a backup schedule).
 * Nova makes the backup and then deletes it; making nothing is the same
 * end state without the work.
 */
#ifndef VMSNAP_BACKUP_H
#define VMSNAP_BACKUP_H

#include "catalog.h"
#include "error.h"
#include "snapshot.h"
#include "store.h"

/* Back INST up as OPTS says (OPTS->image_type and extra_props are set
 * here), then rotate.  *OUT (caller frees) is the new image, or NULL with
 * ROTATION 0.  *DELETED (may be NULL) is how many old backups were
 * deleted.
 */
int backup_create(struct store *store, const struct instance *inst,
                  const struct snapshot_opts *opts, const char *backup_type,
                  int rotation, struct image **out, int *deleted,
                  struct error **errp);

#endif
