/* vmsnap: recovering from vmsnap processes that died (see recover.h). */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "datadir.h"
#include "images.h"
#include "log.h"
#include "package.h"
#include "recover.h"
#include "runner.h"
#include "svc.h"
#include "task.h"
#include "volumes.h"
#include "xalloc.h"

/* An upload that died: IMG is killed with the reason, its data gone. */
static void
recover_killed(struct svc *svc, const struct image *img)
{
    CLEANUP_FREE char *key = images_key(img->id, img->disk_format
                                                     ? img->disk_format
                                                     : "qcow2");

    log_warnx("image %s (%s) was left %s by a vmsnap process that died: "
              "marking it killed",
              img->id, img->name ? img->name : "", img->status);
    catalog_image_transition(svc_catalog(svc), img->id, img->status,
                             "killed",
                             "the vmsnap process making this image died",
                             NULL);
    if (img->location) {
        blob_remove(svc_blob(svc), img->location, NULL);
    } else {
        blob_discard(svc_blob(svc), key);
    }
}

/* Images left in a transitional state with their lock free and no task
 * that still owns them (task_recover has run already).
 */
static void
recover_images(struct svc *svc)
{
    static const char *const states[] = {"queued", "saving", "importing"};
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
                !task_pending_for_image(svc, now->id)) {
                if (strcmp(states[k], "importing") == 0) {
                    package_import_undo(svc, now);
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

/* Servers marked busy by a process that died before it had a task. */
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
        struct lock *lk = NULL;

        if (list[i]->task_state == NULL ||
            task_pending_for_target(svc, list[i]->id) ||
            svc_lock(svc, "instance", list[i]->id, false, &lk, NULL) < 0) {
            continue;
        }
        log_warnx("server %s: clearing task '%s' left by a dead process",
                  list[i]->name, list[i]->task_state);
        catalog_instance_set_task(cat, list[i]->id, list[i]->task_state,
                                  NULL, NULL);
        lock_release(lk);
    }
    instance_list_free(list, n);
}

void
recover_all(struct svc *svc)
{
    task_recover(svc, runner_kinds);
    recover_images(svc);
    recover_servers(svc);
    datadir_reap_tmp(svc_dir(svc));
}
