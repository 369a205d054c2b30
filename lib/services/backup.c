/* vmsnap: backups with rotation (see backup.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "log.h"

/* Delete all but the KEEP newest active backups of INST and TYPE, under
 * the instance lock so that two rotations do not race.  A backup that
 * cannot go (an instance was booted from it, or another process deleted
 * it first) is skipped with a warning: the new backup exists either way,
 * and the next rotation tries again.
 */
static int
backup_rotate(struct store *store, const struct instance *inst,
              const char *type, int keep, int *deleted, struct error **errp)
{
    const struct catalog_match m[] = {
        {"instance_uuid", inst->id},
        {"image_type", "backup"},
        {"backup_type", type},
    };
    struct image_filter f = {
        .status = "active", .exclude_deleted = true, .props = m, .nprops = 3,
    };
    struct image **list = NULL;
    size_t n = 0, i;
    int lock = store_lock_instance(store, inst->id, true, errp);

    if (lock < 0) {
        return -1;
    }
    if (catalog_image_list(store_catalog(store), &f, &list, &n, errp) < 0) {
        close(lock);
        return -1;
    }
    /* The list is newest first: everything past KEEP goes. */
    for (i = (size_t)keep; i < n; i++) {
        struct error *err = NULL;

        if (snapshot_delete_image(store, list[i], &err) < 0) {
            if (error_get_class(err) != ERR_NOT_FOUND) {
                log_warnx("rotation: backup %s (%s) stays: %s", list[i]->id,
                          list[i]->name ? list[i]->name : "",
                          error_msg(err));
            }
            error_free(err);
            continue;
        }
        if (deleted) {
            (*deleted)++;
        }
    }
    image_list_free(list, n);
    close(lock);
    return 0;
}

int
backup_create(struct store *store, const struct instance *inst,
              const struct snapshot_opts *opts0, const char *backup_type,
              int rotation, struct image **out, int *deleted,
              struct error **errp)
{
    struct snapshot_opts opts = *opts0;
    struct prop extra = {(char *)"backup_type", (char *)backup_type};

    *out = NULL;
    if (deleted) {
        *deleted = 0;
    }
    if (backup_type == NULL || *backup_type == '\0') {
        error_setg(errp, ERR_INVALID, "a backup needs a --backup-type");
        return -1;
    }
    if (rotation < 0) {
        error_setg(errp, ERR_INVALID, "--rotation must be >= 0");
        return -1;
    }
    if (rotation > 0) {
        opts.image_type = "backup";
        opts.extra_props = &extra;
        opts.nextra = 1;
        opts.no_wait = false;
        if (snapshot_create(store, inst, &opts, out, errp) < 0) {
            return -1;
        }
    }
    return backup_rotate(store, inst, backup_type, rotation, deleted, errp);
}
