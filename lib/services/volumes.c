/* vmsnap: volumes (see volumes.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "compute.h"
#include "images.h"
#include "log.h"
#include "qemuimg.h"
#include "volumes.h"

#define QMP_TIMEOUT_MS 30000
#define UNPLUG_TIMEOUT_MS 30000

void
volumes_node_name(const struct volume *vol, char node[32])
{
    snprintf(node, 32, "vol-%.8s", vol->id);
}

void
volumes_device_name(const struct volume *vol, char dev[32])
{
    snprintf(dev, 32, "disk-vol-%.8s", vol->id);
}

json_object *
volumes_blockdev_args(const struct volume *vol)
{
    json_object *args = json_object_new_object();
    json_object *file = json_object_new_object();
    char node[32];

    volumes_node_name(vol, node);
    json_object_object_add(file, "driver", json_object_new_string("file"));
    json_object_object_add(file, "filename", json_object_new_string(vol->file));
    json_object_object_add(args, "driver", json_object_new_string("qcow2"));
    json_object_object_add(args, "node-name", json_object_new_string(node));
    json_object_object_add(args, "file", file);
    return args;
}

json_object *
volumes_device_args(const struct volume *vol)
{
    json_object *args = json_object_new_object();
    char node[32], dev[32], bus[16], serial[21];

    volumes_node_name(vol, node);
    volumes_device_name(vol, dev);
    /* Root port rpN is reserved for device index N (compute.c). */
    snprintf(bus, sizeof(bus), "rp%d", vol->device_index);
    /* virtio-blk serials hold 20 bytes: the start of the volume ID, which
     * the guest reads in /sys/block/vdX/serial.
     */
    snprintf(serial, sizeof(serial), "%.20s", vol->id);
    json_object_object_add(args, "driver",
                           json_object_new_string("virtio-blk-pci"));
    json_object_object_add(args, "drive", json_object_new_string(node));
    json_object_object_add(args, "id", json_object_new_string(dev));
    json_object_object_add(args, "bus", json_object_new_string(bus));
    json_object_object_add(args, "serial", json_object_new_string(serial));
    return args;
}

int
volumes_create(struct store *store, const struct volumes_new *spec,
               struct volume **out, struct error **errp)
{
    struct catalog *cat = store_catalog(store);
    struct volume_snapshot *snap = NULL;
    struct image *img = NULL;
    struct volume *vol = NULL;
    int sources = (spec->size > 0) + (spec->snapshot != NULL) +
                  (spec->image != NULL);
    bool inserted = false, made = false;
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
    vol = calloc(1, sizeof(*vol));
    if (vol == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    util_uuid_new(vol->id);
    vol->name = strdup(spec->name);
    vol->status = strdup("creating");
    vol->file = store_volume_path(store, vol->id);
    vol->device_index = -1;
    vol->size = spec->size;
    if (!vol->name || !vol->status || !vol->file) {
        error_setg(errp, ERR_IO, "out of memory");
        goto out;
    }
    if (spec->snapshot) {
        if (catalog_volume_snapshot_find(cat, spec->snapshot, &snap, errp) <
            0) {
            goto out;
        }
        if (strcmp(snap->status, "available") != 0 || snap->file == NULL) {
            error_setg(errp, ERR_CONFLICT,
                       "volume snapshot %s is %s, not available", snap->id,
                       snap->status);
            goto out;
        }
        vol->size = snap->size;
        vol->source_snapshot_id = strdup(snap->id);
    } else if (spec->image) {
        if (catalog_image_find(cat, spec->image, &img, errp) < 0) {
            goto out;
        }
        if (strcmp(img->status, "active") != 0 ||
            !images_is_disk(img->disk_format)) {
            error_setg(errp, ERR_CONFLICT,
                       "image %s is not an active disk image", img->id);
            goto out;
        }
        vol->size = img->virtual_size;
        vol->source_image_id = strdup(img->id);
    }
    if (catalog_volume_insert(cat, vol, errp) < 0) {
        goto out;
    }
    inserted = true;
    if (snap) {
        r = qemuimg_create_overlay(vol->file, snap->file, "qcow2", errp);
    } else if (img) {
        r = qemuimg_create_overlay(vol->file, img->file, img->disk_format,
                                   errp);
    } else {
        r = qemuimg_create(vol->file, "qcow2", vol->size, errp);
    }
    made = r == 0;
    if (r < 0 ||
        (r = catalog_volume_set_status(cat, vol->id, "available", errp)) <
            0 ||
        (r = catalog_volume_get(cat, vol->id, out, errp)) < 0) {
        goto out;
    }
out:
    if (r < 0) {
        if (made) {
            unlink(vol->file);
        }
        if (inserted) {
            catalog_volume_delete(cat, vol->id, NULL);
        }
    }
    volume_snapshot_free(snap);
    image_free(img);
    volume_free(vol);
    return r;
}

int
volumes_delete(struct store *store, const struct volume *vol,
               struct error **errp)
{
    if (catalog_volume_delete(store_catalog(store), vol->id, errp) < 0) {
        return -1;
    }
    /* The record goes first: a crash leaves an orphan file, never a
     * record without data.
     */
    if (vol->file && unlink(vol->file) < 0 && errno != ENOENT) {
        error_setg_errno(errp, ERR_IO, errno, "remove %s", vol->file);
        return -1;
    }
    return 0;
}

/* Run COMMAND with ARGS (consumed) on Q. */
static int
volumes_qmp(struct qmp *q, const char *command, json_object *args,
            struct error **errp)
{
    json_object *r = qmp_execute(q, command, args, QMP_TIMEOUT_MS, errp);

    json_object_put(args);
    if (r == NULL) {
        return -1;
    }
    json_object_put(r);
    return 0;
}

/* Hot-plug attached volume VOL into the QEMU behind Q. */
static int
volumes_hotplug(struct qmp *q, const struct volume *vol, struct error **errp)
{
    char node[32];

    if (volumes_qmp(q, "blockdev-add", volumes_blockdev_args(vol), errp) <
        0) {
        return -1;
    }
    if (volumes_qmp(q, "device_add", volumes_device_args(vol), errp) < 0) {
        json_object *args = json_object_new_object();

        volumes_node_name(vol, node);
        json_object_object_add(args, "node-name",
                               json_object_new_string(node));
        volumes_qmp(q, "blockdev-del", args, NULL);
        return -1;
    }
    return 0;
}

static bool
volumes_match_device(json_object *ev, void *opaque)
{
    json_object *data, *dev;

    return json_object_object_get_ex(ev, "data", &data) &&
           json_object_object_get_ex(data, "device", &dev) &&
           json_object_is_type(dev, json_type_string) &&
           strcmp(json_object_get_string(dev), opaque) == 0;
}

/* Hot-unplug VOL: the guest must release the device (PCIe hot-plug takes
 * it a few seconds), then the block node can go.
 */
static int
volumes_unplug(struct qmp *q, const struct volume *vol, struct error **errp)
{
    json_object *args = json_object_new_object();
    json_object *ev = NULL;
    struct error *err = NULL;
    char node[32], dev[32];

    volumes_node_name(vol, node);
    volumes_device_name(vol, dev);
    json_object_object_add(args, "id", json_object_new_string(dev));
    if (volumes_qmp(q, "device_del", args, &err) < 0) {
        /* Gone already: an earlier unplug timed out, and the guest let go
         * of the device since.  Go on with the node.
         */
        if (error_peer_class(err) == NULL ||
            strcmp(error_peer_class(err), "DeviceNotFound") != 0) {
            error_propagate(errp, err);
            return -1;
        }
        error_free(err);
    } else if (qmp_wait_event(q, "DEVICE_DELETED", volumes_match_device, dev,
                              UNPLUG_TIMEOUT_MS, &ev, errp) < 0) {
        error_prepend(errp, "the guest did not release volume %s: ",
                      vol->id);
        return -1;
    }
    json_object_put(ev);
    args = json_object_new_object();
    json_object_object_add(args, "node-name", json_object_new_string(node));
    return volumes_qmp(q, "blockdev-del", args, errp);
}

int
volumes_attach(struct store *store, const struct instance *inst,
               const struct volume *vol0, struct error **errp)
{
    struct catalog *cat = store_catalog(store);
    CLEANUP_CLOSE int lock = store_lock_instance(store, inst->id, true, errp);
    struct compute_state st;
    struct volume *vol = NULL;
    struct qmp *q = NULL;
    int index, r = -1;

    if (lock < 0) {
        return -1;
    }
    if (catalog_volume_attach(cat, vol0->id, inst->id, &index, errp) < 0) {
        return -1;
    }
    if (index > VOLUMES_MAX_PER_INSTANCE) {
        error_setg(errp, ERR_CONFLICT,
                   "server %s has no free volume slot (at most %d, "
                   "numbered in attachment order)",
                   inst->name, VOLUMES_MAX_PER_INSTANCE);
        goto out;
    }
    if (catalog_volume_get(cat, vol0->id, &vol, errp) < 0 ||
        compute_state(store, inst, &st, errp) < 0) {
        goto out;
    }
    if (st.pid == 0) {
        r = 0;          /* recorded: attached at the next start */
        goto out;
    }
    q = compute_qmp(store, inst, errp);
    if (q == NULL || volumes_hotplug(q, vol, errp) < 0) {
        goto out;
    }
    r = 0;
out:
    if (r < 0) {
        catalog_volume_detach(cat, vol0->id, inst->id, NULL);
    }
    qmp_close(q);
    volume_free(vol);
    return r;
}

int
volumes_detach(struct store *store, const struct instance *inst,
               const struct volume *vol, struct error **errp)
{
    CLEANUP_CLOSE int lock = store_lock_instance(store, inst->id, true, errp);
    struct compute_state st;
    struct qmp *q;
    int r;

    if (lock < 0) {
        return -1;
    }
    if (vol->instance_id == NULL || strcmp(vol->instance_id, inst->id) != 0) {
        error_setg(errp, ERR_CONFLICT, "volume %s is not attached to server %s",
                   vol->name ? vol->name : vol->id, inst->name);
        return -1;
    }
    if (compute_state(store, inst, &st, errp) < 0) {
        return -1;
    }
    if (strcmp(st.status, "PAUSED") == 0) {
        /* A paused guest cannot answer the unplug request. */
        error_setg(errp, ERR_CONFLICT,
                   "server %s is paused: unpause it to detach a volume",
                   inst->name);
        return -1;
    }
    if (st.pid > 0) {
        q = compute_qmp(store, inst, errp);
        if (q == NULL) {
            return -1;
        }
        r = volumes_unplug(q, vol, errp);
        qmp_close(q);
        if (r < 0) {
            return -1;
        }
    }
    return catalog_volume_detach(store_catalog(store), vol->id, inst->id,
                                 errp);
}

int
volumes_snapshot_delete(struct store *store,
                        const struct volume_snapshot *snap,
                        struct error **errp)
{
    if (catalog_volume_snapshot_delete(store_catalog(store), snap->id, errp) <
        0) {
        return -1;
    }
    if (snap->file && unlink(snap->file) < 0 && errno != ENOENT) {
        error_setg_errno(errp, ERR_IO, errno, "remove %s", snap->file);
        return -1;
    }
    return 0;
}

void
volumes_snapshot_delete_set(struct store *store, const char *image_id)
{
    struct catalog_match m = {"instance_snapshot_id", image_id};
    struct volume_snapshot **list = NULL;
    size_t n = 0, i;

    if (catalog_volume_snapshot_list(store_catalog(store), &m, 1, &list, &n,
                                     NULL) < 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        struct error *err = NULL;

        if (volumes_snapshot_delete(store, list[i], &err) < 0) {
            log_warnx("volume snapshot %s stays: %s", list[i]->id,
                      error_msg(err));
            error_free(err);
        }
    }
    volume_snapshot_list_free(list, n);
}
