/* vmsnap: volumes and volume snapshots (see volumes.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdm.h"
#include "cleanup.h"
#include "datadir.h"
#include "images.h"
#include "log.h"
#include "props.h"
#include "qemuimg.h"
#include "store.h"
#include "svc.h"
#include "volumes.h"
#include "xalloc.h"
#include "xjson.h"

void
volumes_hv_disk(struct svc *svc, struct volume *vol, struct hv_disk *disk)
{
    free(vol->file);
    vol->file = datadir_volume_file(svc_dir(svc), vol->id);
    memset(disk, 0, sizeof(*disk));
    disk->index = vol->device_index;
    disk->id = vol->id;
    disk->path = vol->file;
    disk->format = "qcow2";
    disk->serial = vol->id;
}

int
volumes_find(struct svc *svc, const struct caller *who, const char *ref,
             struct volume **out, struct error **errp)
{
    struct volume *vol = NULL;

    if (catalog_volume_find(svc_catalog(svc), ref, &vol, errp) < 0) {
        return -1;
    }
    if (!svc_may_see(who, vol->project_id)) {
        volume_free(vol);
        error_setg(errp, ERR_NOT_FOUND, "no volume named or with ID '%s'",
                   ref);
        return -1;
    }
    free(vol->file);
    vol->file = datadir_volume_file(svc_dir(svc), vol->id);
    *out = vol;
    return 0;
}

int
volumes_list(struct svc *svc, const struct caller *who,
             struct volume ***out, size_t *n, struct error **errp)
{
    struct volume **list = NULL;
    size_t i, j = 0, total = 0;

    if (catalog_volume_list(svc_catalog(svc), NULL, &list, &total, errp) <
        0) {
        return -1;
    }
    for (i = 0; i < total; i++) {
        if (svc_may_see(who, list[i]->project_id)) {
            free(list[i]->file);
            list[i]->file = datadir_volume_file(svc_dir(svc), list[i]->id);
            list[j++] = list[i];
        } else {
            volume_free(list[i]);
        }
    }
    *out = list;
    *n = j;
    return 0;
}

int
volumes_snapshot_find(struct svc *svc, const struct caller *who,
                      const char *ref, struct volume_snapshot **out,
                      struct error **errp)
{
    struct volume_snapshot *vs = NULL;

    if (catalog_volume_snapshot_find(svc_catalog(svc), ref, &vs, errp) < 0) {
        return -1;
    }
    if (!svc_may_see(who, vs->project_id)) {
        volume_snapshot_free(vs);
        error_setg(errp, ERR_NOT_FOUND,
                   "no volume snapshot named or with ID '%s'", ref);
        return -1;
    }
    *out = vs;
    return 0;
}

int
volumes_snapshot_list(struct svc *svc, const struct caller *who,
                      const char *image_id, struct volume_snapshot ***out,
                      size_t *n, struct error **errp)
{
    struct catalog_match m = {"instance_snapshot_id", image_id};
    struct volume_snapshot **list = NULL;
    size_t i, j = 0, total = 0;

    if (catalog_volume_snapshot_list(svc_catalog(svc), &m, image_id ? 1 : 0,
                                     &list, &total, errp) < 0) {
        return -1;
    }
    for (i = 0; i < total; i++) {
        if (svc_may_see(who, list[i]->project_id)) {
            list[j++] = list[i];
        } else {
            volume_snapshot_free(list[i]);
        }
    }
    *out = list;
    *n = j;
    return 0;
}

int
volumes_snapshot_path(struct svc *svc, const struct volume_snapshot *vs,
                      char **path, struct error **errp)
{
    if (vs->location == NULL && store_holds_volume_snapshot(vs)) {
        /* A backup's volume in the chunk store becomes a file when
         * needed. */
        return store_materialise_volume_snapshot(svc, vs, NULL, path, errp);
    }
    if (vs->location == NULL) {
        error_setg(errp, ERR_CONFLICT, "volume snapshot %s has no data",
                   vs->id);
        return -1;
    }
    return blob_local_path(svc_blob(svc), vs->location, NULL, path, errp);
}

/* Check SPEC and fill the new record VOL from its source; *BACKING
 * (caller frees) is the file the new volume is an overlay on, with
 * format *BACKING_FMT, or NULL for an empty volume.
 */
static int
volumes_plan(struct svc *svc, const struct caller *who,
             const struct volumes_new *spec, struct volume *vol,
             char **backing, const char **backing_fmt, struct error **errp)
{
    struct volume_snapshot *snap = NULL;
    struct image *img = NULL;
    int r = -1;

    *backing = NULL;
    if (spec->snapshot) {
        if (volumes_snapshot_find(svc, who, spec->snapshot, &snap, errp) <
            0) {
            return -1;
        }
        if (strcmp(snap->status, "available") != 0) {
            error_setg(errp, ERR_CONFLICT,
                       "volume snapshot %s is %s, not available", snap->id,
                       snap->status);
            goto out;
        }
        vol->size = snap->size;
        vol->source_snapshot_id = xstrdup(snap->id);
        *backing_fmt = "qcow2";
        r = volumes_snapshot_path(svc, snap, backing, errp);
    } else if (spec->image) {
        if (images_find(svc, who, spec->image, &img, errp) < 0) {
            return -1;
        }
        if (strcmp(img->status, "active") != 0 ||
            !images_is_disk(img->disk_format)) {
            error_setg(errp, ERR_CONFLICT,
                       "image %s is not an active disk image", img->id);
            goto out;
        }
        vol->size = img->virtual_size;
        vol->source_image_id = xstrdup(img->id);
        *backing_fmt = img->disk_format[0] == 'q' ? "qcow2" : "raw";
        r = images_local_path(svc, img, backing, errp);
    } else {
        r = 0;
    }
out:
    volume_snapshot_free(snap);
    image_free(img);
    return r;
}

/* Round SIZE up to whole 512-byte sectors: what qemu-img makes, and so
 * what the volume is (audit L14).
 */
static int64_t
volumes_round_size(int64_t size)
{
    return size > INT64_MAX - 511 ? size : (size + 511) / 512 * 512;
}

/* Remove the record of volume ID, whose file is gone.  A transient disk
 * error passes: the write is tried twice.  If both fail, the record
 * stays (deleting, or creating) for the next command's recovery, and
 * this says so.
 */
static int
volumes_forget(struct svc *svc, const char *id, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct error *err = NULL;

    if (catalog_volume_delete(cat, id, &err) == 0) {
        return 0;
    }
    if (error_get_class(err) != ERR_NOT_FOUND &&
        error_get_class(err) != ERR_CONFLICT &&
        catalog_volume_delete(cat, id, NULL) == 0) {
        error_free(err);
        return 0;
    }
    if (error_get_class(err) != ERR_NOT_FOUND) {
        svc_left_for_recovery("volume", id);
    }
    error_propagate(errp, err);
    return -1;
}

int
volumes_create(struct svc *svc, const struct caller *who,
               const struct volumes_new *spec, struct volume **out,
               struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct volume *vol = NULL;
    struct lock *lk = NULL;
    CLEANUP_FREE char *backing = NULL;
    const char *backing_fmt = NULL;
    int sources = (spec->size > 0) + (spec->snapshot != NULL) +
                  (spec->image != NULL);
    bool inserted = false;
    int r = -1;

    if (spec->name == NULL || *spec->name == '\0') {
        error_setg(errp, ERR_INVALID, "a volume needs a name");
        return -1;
    }
    if (sources != 1) {
        error_setg(errp, ERR_INVALID,
                   "give exactly one of --size, --snapshot and --image");
        return -1;
    }
    vol = xcalloc(1, sizeof(*vol));
    util_uuid_new(vol->id);
    vol->name = xstrdup(spec->name);
    vol->status = xstrdup("creating");
    vol->file = datadir_volume_file(svc_dir(svc), vol->id);
    vol->project_id = who->project_id ? xstrdup(who->project_id) : NULL;
    vol->device_index = -1;
    vol->size = volumes_round_size(spec->size);
    /* The volume's lock is held while it is made: a volume left
     * creating with its lock free was left by a process that died, and
     * recovery removes it (volumes_recover).
     */
    if (volumes_plan(svc, who, spec, vol, &backing, &backing_fmt, errp) <
            0 ||
        svc_lock(svc, "volume", vol->id, false, &lk, errp) < 0 ||
        catalog_volume_insert(cat, vol, errp) < 0) {
        goto out;
    }
    inserted = true;
    if (backing) {
        r = qemuimg_create_overlay(vol->file, backing, backing_fmt, errp);
    } else {
        r = qemuimg_create(vol->file, "qcow2", vol->size, errp);
    }
    if (r == 0) {
        r = catalog_volume_transition(cat, vol->id, "creating", "available",
                                      errp);
    }
    if (r == 0) {
        r = catalog_volume_get(cat, vol->id, out, errp);
    }
out:
    if (r < 0 && inserted) {
        /* A helper that failed may have left the file: it is ours. */
        if (unlink(vol->file) < 0 && errno != ENOENT) {
            log_warnx("volume %s: remove %s: %s", vol->id, vol->file,
                      strerror(errno));
            svc_left_for_recovery("volume", vol->id);
        } else {
            volumes_forget(svc, vol->id, NULL);
        }
    }
    lock_release(lk);
    volume_free(vol);
    return r;
}

/* Remove VOL (its lock held, status deleting): its file, then its
 * record.  If the file cannot be removed, VOL goes back to FROM (when
 * not NULL) and this fails.
 */
static int
volumes_purge(struct svc *svc, const struct volume *vol, const char *from,
              struct error **errp)
{
    CLEANUP_FREE char *path = datadir_volume_file(svc_dir(svc), vol->id);

    if (unlink(path) < 0 && errno != ENOENT) {
        error_setg_errno(errp, ERR_IO, errno, "remove %s", path);
        if (from) {
            catalog_volume_transition(svc_catalog(svc), vol->id, "deleting",
                                      from, NULL);
        }
        return -1;
    }
    return volumes_forget(svc, vol->id, errp);
}

int
volumes_remove(struct svc *svc, const struct volume *vol,
               struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct volume_snapshot_filter f = {.volume_id = vol->id};
    struct volume_snapshot **snaps = NULL;
    struct volume *now = NULL;
    struct lock *lk = NULL;
    size_t n = 0;
    int r = -1;

    if (svc_lock(svc, "volume", vol->id, false, &lk, errp) < 0) {
        return -1;
    }
    /* The record says deleting before the file goes: a process that dies
     * in between leaves a record that recovery finishes, never a file
     * without a record (audit H3).
     */
    if (catalog_begin(cat, errp) < 0) {
        goto out;
    }
    if (catalog_volume_get(cat, vol->id, &now, errp) < 0 ||
        catalog_volume_snapshot_list_by(cat, &f, &snaps, &n, errp) < 0) {
        catalog_rollback(cat);
        goto out;
    }
    if (n > 0) {
        error_setg(errp, ERR_CONFLICT, "volume %s has snapshots: %s",
                   now->name ? now->name : now->id, snaps[0]->id);
        catalog_rollback(cat);
        goto out;
    }
    if (catalog_volume_transition(cat, vol->id, now->status, "deleting",
                                  errp) < 0) {
        catalog_rollback(cat);
        goto out;
    }
    if (catalog_commit(cat, errp) < 0) {
        goto out;
    }
    r = volumes_purge(svc, now, now->status, errp);
out:
    volume_snapshot_list_free(snaps, n);
    volume_free(now);
    lock_release(lk);
    return r;
}

int
volumes_delete(struct svc *svc, const struct caller *who, const char *ref,
               struct error **errp)
{
    struct volume *vol = NULL;
    int r;

    if (volumes_find(svc, who, ref, &vol, errp) < 0) {
        return -1;
    }
    if (vol->instance_id) {
        error_setg(errp, ERR_CONFLICT, "volume %s is attached to server %s",
                   vol->name ? vol->name : vol->id, vol->instance_id);
        volume_free(vol);
        return -1;
    }
    r = volumes_remove(svc, vol, errp);
    volume_free(vol);
    return r;
}

/* Delete VS (found already): it becomes deleting, then its data goes,
 * then its record; a process that dies in between leaves it deleting,
 * which recovery finishes.  If the data cannot be removed, VS goes back
 * to its status and this fails.
 */
static int
volumes_snapshot_remove(struct svc *svc, const struct volume_snapshot *vs,
                        struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    CLEANUP_FREE char *key = xasprintf("volume-snapshots/%s.qcow2", vs->id);
    CLEANUP_FREE char *users = NULL;
    int n;

    if (catalog_begin(cat, errp) < 0) {
        return -1;
    }
    n = catalog_volume_snapshot_users(cat, vs->id, &users, errp);
    if (n > 0) {
        error_setg(errp, ERR_CONFLICT, "volume snapshot %s is in use by %s",
                   vs->name ? vs->name : vs->id, users);
    }
    if (n != 0 ||
        (strcmp(vs->status, "deleting") != 0 &&
         catalog_volume_snapshot_transition(cat, vs->id, vs->status,
                                            "deleting", errp) < 0)) {
        catalog_rollback(cat);
        return -1;
    }
    if (catalog_commit(cat, errp) < 0) {
        return -1;
    }
    if (vs->location == NULL) {
        blob_discard(svc_blob(svc), key);   /* made by a process that died */
    } else if (blob_remove(svc_blob(svc), vs->location, errp) < 0) {
        if (strcmp(vs->status, "deleting") != 0) {
            catalog_volume_snapshot_transition(cat, vs->id, "deleting",
                                               vs->status, NULL);
        }
        return -1;
    }
    /* Twice: a transient disk error passes.  Else it stays deleting,
     * with no data, and the next command's recovery ends it.
     */
    if (catalog_volume_snapshot_delete(cat, vs->id, NULL) < 0 &&
        catalog_volume_snapshot_delete(cat, vs->id, errp) < 0) {
        svc_left_for_recovery("volume snapshot", vs->id);
        return -1;
    }
    /* A backup's volume in the chunk store: its index goes now, its
     * chunks at the next gc. */
    store_forget_volume_snapshot(svc, vs);
    return 0;
}

int
volumes_snapshot_delete(struct svc *svc, const struct caller *who,
                        const char *ref, struct error **errp)
{
    struct volume_snapshot *vs = NULL;
    int r;

    if (volumes_snapshot_find(svc, who, ref, &vs, errp) < 0) {
        return -1;
    }
    r = volumes_snapshot_remove(svc, vs, errp);
    volume_snapshot_free(vs);
    return r;
}

void
volumes_snapshot_delete_set(struct svc *svc, const char *image_id)
{
    struct catalog_match m = {"instance_snapshot_id", image_id};
    struct volume_snapshot **list = NULL;
    size_t n = 0, i;

    if (catalog_volume_snapshot_list(svc_catalog(svc), &m, 1, &list, &n,
                                     NULL) < 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        struct error *err = NULL;

        if (volumes_snapshot_remove(svc, list[i], &err) < 0) {
            log_warnx("volume snapshot %s stays: %s", list[i]->id,
                      error_msg(err));
            error_free(err);
        }
    }
    volume_snapshot_list_free(list, n);
}

int
volumes_from_image_set(struct svc *svc, const struct caller *who,
                       const struct instance *inst, const struct image *img,
                       struct error **errp)
{
    size_t i;

    for (i = 0; i < img->nbdm; i++) {
        struct volumes_new spec = {0};
        struct volume *vol = NULL;
        CLEANUP_FREE char *name = xasprintf("%s-vol%zu", inst->name, i + 1);
        int r;

        spec.name = name;
        spec.snapshot = img->bdm[i].snapshot_id;
        if (volumes_create(svc, who, &spec, &vol, errp) < 0) {
            return -1;
        }
        r = catalog_volume_attach(svc_catalog(svc), vol->id, inst->id, NULL,
                                  errp);
        if (r < 0) {
            volumes_remove(svc, vol, NULL);
        }
        volume_free(vol);
        if (r < 0) {
            return -1;
        }
    }
    return 0;
}

/* Recovery of volume snapshot VS, left creating or deleting: remove it
 * unless its maker (the image of its set, being made under that image's
 * lock) is still at work.
 */
static void
volumes_recover_snapshot(struct svc *svc, const struct volume_snapshot *vs)
{
    const char *owner = volume_snapshot_meta(vs, META_INSTANCE_SNAPSHOT_ID);
    struct image *img = NULL;
    struct error *err = NULL;
    bool busy = false;

    if (owner && lock_held(svc_locks(svc), "image", owner, NULL) != 0) {
        return;
    }
    /* A snapshot of one volume is made by a task, whose recovery
     * (volumes_snapshot_recover) deals with it.
     */
    if (owner == NULL && strcmp(vs->status, "creating") == 0) {
        return;
    }
    if (strcmp(vs->status, "creating") == 0 && owner) {
        if (catalog_image_get(svc_catalog(svc), owner, &img, NULL) == 0) {
            /* An image being made with this set: recover_images deals
             * with the whole set (it ran first, so this one was not left
             * by a dead process, or that image is not ours).
             */
            busy = strcmp(img->status, "queued") == 0 ||
                   strcmp(img->status, "saving") == 0 ||
                   strcmp(img->status, "importing") == 0;
            image_free(img);
            if (busy) {
                return;
            }
        }
    }
    log_warnx("volume snapshot %s was left %s by a process that died: "
              "removing it",
              vs->id, vs->status);
    if (volumes_snapshot_remove(svc, vs, &err) < 0) {
        log_warnx("volume snapshot %s stays: %s", vs->id, error_msg(err));
        error_free(err);
    }
}

void
volumes_recover(struct svc *svc)
{
    static const char *const states[] = {"creating", "deleting"};
    struct catalog *cat = svc_catalog(svc);
    size_t k, i;

    for (k = 0; k < 2; k++) {
        struct volume_filter f = {.status = states[k]};
        struct volume_snapshot_filter sf = {.status = states[k]};
        struct volume_snapshot **snaps = NULL;
        struct volume **list = NULL;
        size_t n = 0;

        if (catalog_volume_list_by(cat, &f, &list, &n, NULL) == 0) {
            for (i = 0; i < n; i++) {
                struct lock *lk = NULL;
                struct volume *now = NULL;
                struct error *err = NULL;

                if (svc_lock(svc, "volume", list[i]->id, false, &lk, NULL) <
                    0) {
                    continue;   /* its maker or deleter is at work */
                }
                if (catalog_volume_get(cat, list[i]->id, &now, NULL) == 0 &&
                    strcmp(now->status, states[k]) == 0 &&
                    now->instance_id == NULL) {
                    log_warnx("volume %s was left %s by a process that "
                              "died: removing it",
                              now->id, now->status);
                    if (volumes_purge(svc, now, NULL, &err) < 0) {
                        log_warnx("volume %s stays: %s", now->id,
                                  error_msg(err));
                        error_free(err);
                    }
                }
                volume_free(now);
                lock_release(lk);
            }
            volume_list_free(list, n);
        }
        n = 0;
        if (catalog_volume_snapshot_list_by(cat, &sf, &snaps, &n, NULL) ==
            0) {
            for (i = 0; i < n; i++) {
                volumes_recover_snapshot(svc, snaps[i]);
            }
            volume_snapshot_list_free(snaps, n);
        }
    }
}

/* ---- Snapshots of one volume ------------------------------------------ */

int
volumes_snapshot_request(struct svc *svc, const struct caller *who,
                         const char *ref, const char *name,
                         struct volume_snapshot **out, struct task **task,
                         struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    CLEANUP_JSON_PUT json_object *req = NULL;
    struct volume_snapshot *vs = NULL;
    struct volume *vol = NULL;
    int r = -1;

    if (name == NULL || *name == '\0') {
        error_setg(errp, ERR_INVALID, "a volume snapshot needs a name");
        return -1;
    }
    if (volumes_find(svc, who, ref, &vol, errp) < 0) {
        return -1;
    }
    if (strcmp(vol->status, "available") != 0 || vol->instance_id) {
        error_setg(errp, ERR_CONFLICT,
                   "volume %s is %s: only a detached volume is snapshotted "
                   "alone (an attached one is taken with its server: "
                   "server image create)",
                   vol->name ? vol->name : vol->id, vol->status);
        goto out;
    }
    vs = xcalloc(1, sizeof(*vs));
    util_uuid_new(vs->id);
    vs->name = xstrdup(name);
    vs->volume_id = xstrdup(vol->id);
    vs->status = xstrdup("creating");
    vs->size = vol->size;
    vs->project_id = vol->project_id ? xstrdup(vol->project_id) : NULL;
    if (catalog_volume_snapshot_insert(cat, vs, errp) < 0) {
        goto out;
    }
    req = xjson_object();
    xjson_add(req, "volume", xjson_string(vol->id));
    xjson_add(req, "snapshot", xjson_string(vs->id));
    if (task_create(svc, who, volumes_snapshot_task_kind.name,
                    "volume_snapshot", vs->id, NULL, req, task, errp) < 0) {
        catalog_volume_snapshot_delete(cat, vs->id, NULL);
        goto out;
    }
    r = catalog_volume_snapshot_get(cat, vs->id, out, errp);
out:
    volume_snapshot_free(vs);
    volume_free(vol);
    return r;
}

/* A string member of a task's request, or NULL. */
static const char *
volumes_req_str(json_object *req, const char *key)
{
    json_object *v;

    if (json_object_object_get_ex(req, key, &v) &&
        json_object_is_type(v, json_type_string)) {
        return json_object_get_string(v);
    }
    return NULL;
}

static void
volumes_on_convert(double pct, void *opaque)
{
    progress_report(opaque, "copy", pct);
}

static int
volumes_snapshot_run(struct svc *svc, struct task_run *t, json_object *req,
                     char **result, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    const char *vid = volumes_req_str(req, "volume");
    const char *sid = volumes_req_str(req, "snapshot");
    struct volume_snapshot_data data = {0};
    CLEANUP_FREE char *src = NULL, *key = NULL, *path = NULL;
    CLEANUP_FREE char *location = NULL;
    struct error *err = NULL;

    if (!util_is_uuid(vid) || !util_is_uuid(sid)) {
        error_setg(errp, ERR_INVALID, "volume snapshot task without its "
                   "volume or snapshot");
        return -1;
    }
    *result = NULL;
    src = datadir_volume_file(svc_dir(svc), vid);
    key = xasprintf("volume-snapshots/%s.qcow2", sid);
    task_phase(t, "copy");
    if (blob_create(svc_blob(svc), key, &path, &err) < 0 ||
        qemuimg_convert(src, "qcow2", path, "qcow2", volumes_on_convert,
                        (void *)task_progress(t), &err) < 0 ||
        blob_commit(svc_blob(svc), key, path, NULL, &location, &err) < 0) {
        goto fail;
    }
    data.size = -1;
    {
        struct volume_snapshot *vs = NULL;

        if (catalog_volume_snapshot_get(cat, sid, &vs, &err) < 0) {
            blob_remove(svc_blob(svc), location, NULL);
            goto fail_recorded;
        }
        data.size = vs->size;
        volume_snapshot_free(vs);
    }
    data.location = location;
    if (catalog_volume_snapshot_set_data(cat, sid, &data, &err) < 0 ||
        catalog_volume_snapshot_transition(cat, sid, "creating", "available",
                                           &err) < 0) {
        blob_remove(svc_blob(svc), location, NULL);
        goto fail_recorded;
    }
    return 0;

fail:
    blob_discard(svc_blob(svc), key);
fail_recorded:
    /* Cinder's way: the snapshot stays, in status error, for its owner to
     * see and delete.
     */
    catalog_volume_snapshot_transition(cat, sid, NULL, "error", NULL);
    error_propagate(errp, err);
    return -1;
}

/* A worker that died while copying: the snapshot is in error, its data
 * gone.
 */
static void
volumes_snapshot_recover(struct svc *svc, const struct task *task)
{
    CLEANUP_FREE char *key = NULL;

    if (task->target_id == NULL) {
        return;
    }
    key = xasprintf("volume-snapshots/%s.qcow2", task->target_id);
    blob_discard(svc_blob(svc), key);
    catalog_volume_snapshot_transition(svc_catalog(svc), task->target_id,
                                       "creating", "error", NULL);
}

const struct task_kind volumes_snapshot_task_kind = {
    .name = "volume_snapshot",
    .run = volumes_snapshot_run,
    .recover = volumes_snapshot_recover,
};
