/* vmsnap: backups with rotation (see backup.h). */
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "images.h"
#include "log.h"
#include "props.h"
#include "servers.h"
#include "svc.h"

/* Delete all but the KEEP newest active backups of server ID and TYPE,
 * under the server's lock so that two rotations do not race.  A backup
 * that cannot go (a server was booted from it, or another process
 * deleted it first) is skipped with a warning: the new backup exists
 * either way, and the next rotation tries again.
 */
static int
backup_rotate(struct svc *svc, const char *id, const char *type, int keep,
              struct error **errp)
{
    const struct catalog_match m[] = {
        {PROP_INSTANCE_UUID, id},
        {PROP_IMAGE_TYPE, "backup"},
        {PROP_BACKUP_TYPE, type},
    };
    struct image_filter f = {
        .status = "active", .exclude_deleted = true, .props = m, .nprops = 3,
    };
    const struct caller *admin = svc_local_caller(svc);
    struct image **list = NULL;
    struct lock *lk = NULL;
    size_t n = 0, i;

    if (svc_lock(svc, "instance", id, true, &lk, errp) < 0) {
        return -1;
    }
    if (catalog_image_list(svc_catalog(svc), &f, &list, &n, errp) < 0) {
        lock_release(lk);
        return -1;
    }
    /* The list is newest first: everything past KEEP goes. */
    for (i = (size_t)keep; i < n; i++) {
        struct error *err = NULL;

        if (snapshot_delete_image(svc, admin, list[i]->id, &err) < 0) {
            if (error_get_class(err) != ERR_NOT_FOUND) {
                log_warnx("rotation: backup %s (%s) stays: %s", list[i]->id,
                          list[i]->name ? list[i]->name : "",
                          error_msg(err));
            }
            error_free(err);
        }
    }
    image_list_free(list, n);
    lock_release(lk);
    return 0;
}

int
backup_request(struct svc *svc, const struct caller *who, const char *ref,
               const struct snapshot_opts *opts0, const char *backup_type,
               int rotation, struct image **img, struct task **task,
               struct error **errp)
{
    struct snapshot_opts opts = *opts0;
    struct prop extra = {(char *)PROP_BACKUP_TYPE, (char *)backup_type};
    struct instance *inst = NULL;
    int r;

    *img = NULL;
    *task = NULL;
    if (backup_type == NULL || *backup_type == '\0') {
        error_setg(errp, ERR_INVALID, "a backup needs a --backup-type");
        return -1;
    }
    if (rotation < 0) {
        error_setg(errp, ERR_INVALID, "--rotation must be >= 0");
        return -1;
    }
    if (rotation == 0) {
        if (servers_find(svc, who, ref, &inst, errp) < 0) {
            return -1;
        }
        r = backup_rotate(svc, inst->id, backup_type, 0, errp);
        instance_free(inst);
        return r;
    }
    /* The host's policy may put every backup in the chunk store. */
    if (svc_config(svc)->backup_incremental) {
        opts.incremental = true;
    }
    opts.image_type = "backup";
    opts.extra_props = &extra;
    opts.nextra = 1;
    opts.backup_type = backup_type;
    opts.rotation = rotation;
    return snapshot_request_kind(svc, who, ref, &opts, &backup_task_kind,
                                 img, task, errp);
}

/* The snapshot, then the rotation of its server's backups of its type. */
static int
backup_run(struct svc *svc, struct task_run *t, json_object *req,
           char **result, struct error **errp)
{
    json_object *server, *type, *rotation;

    if (!json_object_object_get_ex(req, "server", &server) ||
        !json_object_object_get_ex(req, "backup_type", &type) ||
        !json_object_object_get_ex(req, "rotation", &rotation)) {
        error_setg(errp, ERR_INVALID, "backup task without its arguments");
        return -1;
    }
    if (snapshot_task_kind.run(svc, t, req, result, errp) < 0) {
        return -1;
    }
    return backup_rotate(svc, json_object_get_string(server),
                         json_object_get_string(type),
                         json_object_get_int(rotation), errp);
}

const struct task_kind backup_task_kind = {
    .name = "backup",
    .run = backup_run,
    .recover = snapshot_recover,
};
