/* vmsnap: recovering from vmsnap processes that died (see recover.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "cleanup.h"
#include "datadir.h"
#include "images.h"
#include "log.h"
#include "package.h"
#include "props.h"
#include "recover.h"
#include "runner.h"
#include "servers.h"
#include "svc.h"
#include "task.h"
#include "volumes.h"
#include "xalloc.h"

/* An upload, or a snapshot whose maker failed to finish it, that died:
 * IMG is killed with the reason, its data gone, and the volume snapshots
 * of its set (its mapping cleared first: a killed image's mapping would
 * keep them) removed.  A backup's indexes in the chunk store are left to
 * `store gc`, which removes those of killed images.
 */
static void
recover_killed(struct svc *svc, const struct image *img)
{
    /* An uploaded package is staged as images/<id>.ova (images.c). */
    bool package = img->container_format &&
                   strcmp(img->container_format, "ova") == 0;
    CLEANUP_FREE char *key = images_key(img->id, package ? "ova"
                                        : img->disk_format
                                            ? img->disk_format
                                            : "qcow2");

    log_warnx("image %s (%s) was left %s by a vmsnap process that died: "
              "marking it killed",
              img->id, img->name ? img->name : "", img->status);
    if (catalog_image_transition(svc_catalog(svc), img->id, img->status,
                                 "killed",
                                 "the vmsnap process making this image "
                                 "died",
                                 NULL) < 0) {
        return;
    }
    if (img->location) {
        blob_remove(svc_blob(svc), img->location, NULL);
    } else {
        blob_discard(svc_blob(svc), key);
    }
    if (img->nbdm > 0) {
        catalog_image_set_bdm(svc_catalog(svc), img->id, NULL, 0, NULL);
    }
    volumes_snapshot_delete_set(svc, img->id);
}

/* Only a snapshot's maker, which holds the lock or a task from the
 * start, can die leaving an image queued (an image made from a file is
 * saving from the start).
 */
bool
recover_image_at_rest(const struct image *img)
{
    const char *where = image_prop(img, PROP_IMAGE_LOCATION);

    return strcmp(img->status, "queued") == 0 &&
           (where == NULL || strcmp(where, "snapshot") != 0);
}

/* Images left in a transitional state with their lock free and no task
 * that still owns them (task_recover has run already).
 */
static void
recover_images(struct svc *svc)
{
    static const char *const states[] = {"queued", "saving", "importing",
                                         "pending_delete"};
    struct catalog *cat = svc_catalog(svc);
    size_t k, i, n;

    for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
        struct image_filter f = {.status = states[k]};
        struct image **list = NULL;

        n = 0;
        if (catalog_image_list(cat, &f, &list, &n, NULL) < 0) {
            continue;
        }
        for (i = 0; i < n; i++) {
            struct lock *lk = NULL;
            struct image *now = NULL;

            if (svc_lock(svc, "image", list[i]->id, false, &lk, NULL) < 0) {
                continue;       /* its maker is at work */
            }
            /* Read it again under the lock: it may have just become
             * final, or be a snapshot whose task has not started yet.
             */
            if (catalog_image_get(cat, list[i]->id, &now, NULL) == 0 &&
                strcmp(now->status, states[k]) == 0 &&
                !recover_image_at_rest(now) &&
                !task_pending_for_image(svc, now->id)) {
                if (strcmp(states[k], "importing") == 0) {
                    package_import_undo(svc, now);
                } else if (strcmp(states[k], "pending_delete") == 0) {
                    images_finish_delete(svc, now);
                    volumes_snapshot_delete_set(svc, now->id);
                } else {
                    recover_killed(svc, now);
                }
            }
            image_free(now);
            lock_release(lk);
        }
        image_list_free(list, n);
    }
}

/* A server of this host whose dead snapshot another host recovered:
 * reap what that snapshot left in our hypervisor (see snapshot_recover).
 * Called with the server's lock held.
 */
static void
recover_reap(struct svc *svc, const struct instance *inst, const char *tag)
{
    const char *unset[] = {META_REAP_BACKUP};
    struct servers_domain sd;
    struct hv *hv = svc_hv(svc, NULL);

    log_warnx("server %s: reaping what the snapshot %s left", inst->name,
              tag);
    if (hv && servers_domain(svc, inst, &sd, NULL) == 0) {
        hv_backup_reap(hv, &sd.d, tag, NULL);
        servers_domain_clear(&sd);
    }
    catalog_instance_set_meta(svc_catalog(svc), inst->id, NULL, 0, unset, 1,
                              NULL);
}

/* Servers marked busy by a process that died before it had a task, and
 * this host's servers whose leftovers another host could not reap.
 */
static void
recover_servers(struct svc *svc)
{
    struct catalog *cat = svc_catalog(svc);
    struct instance **list = NULL;
    size_t n = 0, i;

    if (catalog_instance_list(cat, &list, &n, NULL) < 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        const char *reap = instance_meta(list[i], META_REAP_BACKUP);
        struct lock *lk = NULL;

        if ((list[i]->task_state == NULL &&
             (reap == NULL || !svc_is_local(svc, list[i]))) ||
            task_pending_for_target(svc, list[i]->id) ||
            svc_lock(svc, "instance", list[i]->id, false, &lk, NULL) < 0) {
            continue;
        }
        if (list[i]->task_state != NULL &&
            strcmp(list[i]->task_state, "deleting") == 0) {
            servers_finish_delete(svc, list[i]);
            lock_release(lk);
            continue;
        }
        if (list[i]->task_state != NULL) {
            log_warnx("server %s: clearing task '%s' left by a dead "
                      "process",
                      list[i]->name, list[i]->task_state);
            catalog_instance_set_task(cat, list[i]->id,
                                      list[i]->task_state, NULL, NULL);
        }
        if (reap != NULL && svc_is_local(svc, list[i])) {
            recover_reap(svc, list[i], reap);
        }
        lock_release(lk);
    }
    instance_list_free(list, n);
}

void
recover_all(struct svc *svc)
{
    struct statvfs vfs;

    /* Nothing can be recovered on a file system mounted read-only
     * (audit L10): what is there can still be read.
     */
    if (statvfs(svc_dir(svc), &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
        return;
    }
    task_recover(svc, runner_kinds);
    recover_images(svc);
    recover_servers(svc);
    volumes_recover(svc);
    datadir_reap_tmp(svc_dir(svc));
    /* Lock files of processes that died (after the rest: recovery took
     * and released some of them).
     */
    locks_sweep(svc_locks(svc), true, NULL, NULL, NULL);
}
