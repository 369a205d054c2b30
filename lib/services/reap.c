/* vmsnap: recovering from vmsnap processes that died (see reap.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "compute.h"
#include "images.h"
#include "log.h"
#include "package.h"
#include "reap.h"
#include "volumes.h"

#define QMP_TIMEOUT_MS 10000

/* Cancel the snapshot jobs and delete the snapshot target nodes that a
 * dead snapshot left in INST's QEMU.  The caller holds INST's lock, so no
 * snapshot of INST is running: every "snapjob-" job and "snap-" node is
 * a leftover.
 */
static void
reap_block_nodes(struct store *store, const struct instance *inst)
{
    struct compute_state st;
    struct qmp *q;
    json_object *list;
    size_t i, n;

    if (compute_state(store, inst, &st, NULL) < 0 || st.pid == 0) {
        return;
    }
    q = compute_qmp(store, inst, NULL);
    if (q == NULL) {
        return;
    }
    list = qmp_execute(q, "query-block-jobs", NULL, QMP_TIMEOUT_MS, NULL);
    n = json_object_is_type(list, json_type_array)
            ? json_object_array_length(list)
            : 0;
    for (i = 0; i < n; i++) {
        json_object *dev, *args, *r;
        json_object *job = json_object_array_get_idx(list, i);

        if (!json_object_object_get_ex(job, "device", &dev) ||
            strncmp(json_object_get_string(dev), "snapjob-", 8) != 0) {
            continue;
        }
        args = json_object_new_object();
        json_object_object_add(args, "device", json_object_get(dev));
        json_object_object_add(args, "force", json_object_new_boolean(true));
        r = qmp_execute(q, "block-job-cancel", args, QMP_TIMEOUT_MS, NULL);
        json_object_put(r);
        json_object_put(args);
        r = NULL;
        qmp_wait_event(q, "BLOCK_JOB_CANCELLED", NULL, NULL, QMP_TIMEOUT_MS,
                       &r, NULL);
        json_object_put(r);
    }
    json_object_put(list);
    list = qmp_execute(q, "query-named-block-nodes", NULL, QMP_TIMEOUT_MS,
                       NULL);
    n = json_object_is_type(list, json_type_array)
            ? json_object_array_length(list)
            : 0;
    for (i = 0; i < n; i++) {
        json_object *name, *args, *r;
        json_object *node = json_object_array_get_idx(list, i);

        if (!json_object_object_get_ex(node, "node-name", &name) ||
            strncmp(json_object_get_string(name), "snap-", 5) != 0) {
            continue;
        }
        log_warnx("removing block node %s left in server %s",
                  json_object_get_string(name), inst->name);
        args = json_object_new_object();
        json_object_object_add(args, "node-name", json_object_get(name));
        r = qmp_execute(q, "blockdev-del", args, QMP_TIMEOUT_MS, NULL);
        json_object_put(r);
        json_object_put(args);
    }
    json_object_put(list);
    qmp_close(q);
}

/* A snapshot or an upload that died: mark IMG killed, remove its data and
 * its set's volume snapshots; for a snapshot, clean the instance up.
 */
static void
reap_killed(struct store *store, const struct image *img)
{
    struct catalog *cat = store_catalog(store);
    const char *owner = image_prop(img, "instance_uuid");
    CLEANUP_FREE char *data = NULL;
    struct instance *inst = NULL;
    int lock;

    log_warnx("image %s (%s) was left %s by a vmsnap process that died: "
              "marking it killed",
              img->id, img->name ? img->name : "", img->status);
    catalog_image_set_status(cat, img->id, "killed",
                             "the vmsnap process making this image died",
                             NULL);
    catalog_image_unset_property(cat, img->id, "block_device_mapping", NULL);
    volumes_snapshot_delete_set(store, img->id);
    data = store_image_path(store, img->id,
                            img->disk_format ? img->disk_format : "qcow2");
    if (data) {
        unlink(data);
    }
    if (owner == NULL ||
        catalog_instance_get(cat, owner, &inst, NULL) < 0) {
        return;
    }
    lock = store_lock_instance(store, inst->id, false, NULL);
    if (lock >= 0) {
        reap_block_nodes(store, inst);
        if (inst->task_state &&
            strcmp(inst->task_state, "image_snapshot") == 0) {
            catalog_instance_set_task(cat, inst->id, "image_snapshot", NULL,
                                      NULL);
        }
        close(lock);
    }
    instance_free(inst);
}

/* An import that died: remove IMG, its volume snapshots, its data and the
 * kernel and ramdisk images made for it.
 */
static void
reap_import(struct store *store, const struct image *img)
{
    struct catalog *cat = store_catalog(store);
    struct catalog_match m = {PACKAGE_PROP_IMPORT_OF, img->id};
    struct image_filter f = {.props = &m, .nprops = 1};
    CLEANUP_FREE char *data = store_image_path(store, img->id, "qcow2");
    struct image **boot = NULL;
    size_t n = 0, i;

    log_warnx("image %s (%s) was left half-imported by a vmsnap process "
              "that died: removing it",
              img->id, img->name ? img->name : "");
    if (catalog_image_delete(cat, img->id, NULL) < 0) {
        return;
    }
    if (data) {
        unlink(data);
    }
    volumes_snapshot_delete_set(store, img->id);
    if (catalog_image_list(cat, &f, &boot, &n, NULL) == 0) {
        for (i = 0; i < n; i++) {
            images_delete(store, boot[i], NULL);
        }
        image_list_free(boot, n);
    }
}

void
reap_stale(struct store *store)
{
    static const char *const states[] = {"queued", "saving", "importing"};
    struct catalog *cat = store_catalog(store);
    size_t k, i, n;

    for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
        struct image_filter f = {.status = states[k]};
        struct image **list = NULL;

        n = 0;
        if (catalog_image_list(cat, &f, &list, &n, NULL) < 0) {
            continue;
        }
        for (i = 0; i < n; i++) {
            int lock = store_lock_image(store, list[i]->id, false, NULL);
            struct image *now = NULL;

            if (lock < 0) {
                continue;       /* its maker is at work */
            }
            /* Read it again under the lock: it may have just become
             * final.
             */
            if (catalog_image_get(cat, list[i]->id, &now, NULL) == 0 &&
                strcmp(now->status, states[k]) == 0) {
                if (strcmp(states[k], "importing") == 0) {
                    reap_import(store, now);
                } else {
                    reap_killed(store, now);
                }
            }
            image_free(now);
            store_unlock_image(store, list[i]->id, lock);
        }
        image_list_free(list, n);
    }
    store_reap_tmp(store);
}
