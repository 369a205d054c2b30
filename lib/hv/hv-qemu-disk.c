/* vmsnap: the qemu driver's disks, on the command line and by hot-plug
 * (see hv-qemu.h).
 */
#include <stdio.h>
#include <string.h>

#include "hv-qemu.h"
#include "xjson.h"

#define QEMU_UNPLUG_TIMEOUT_MS 30000

void
qemu_disk_node(const struct hv_disk *disk, char node[32])
{
    if (disk->index == 0) {
        snprintf(node, 32, "root");
    } else {
        snprintf(node, 32, "vol-%.8s", disk->id);
    }
}

void
qemu_disk_device(const struct hv_disk *disk, char dev[32])
{
    if (disk->index == 0) {
        snprintf(dev, 32, "disk-root");
    } else {
        snprintf(dev, 32, "disk-vol-%.8s", disk->id);
    }
}

json_object *
qemu_blockdev_args(const struct hv_disk *disk)
{
    json_object *args = xjson_object();
    json_object *file = xjson_object();
    char node[32];

    qemu_disk_node(disk, node);
    xjson_add(file, "driver", xjson_string("file"));
    xjson_add(file, "filename", xjson_string(disk->path));
    xjson_add(args, "driver", xjson_string(disk->format));
    xjson_add(args, "node-name", xjson_string(node));
    xjson_add(args, "file", file);
    if (disk->readonly) {
        xjson_add(args, "read-only", xjson_bool(true));
    }
    return args;
}

json_object *
qemu_device_args(const struct hv_disk *disk)
{
    json_object *args = xjson_object();
    char node[32], dev[32], bus[16];

    qemu_disk_node(disk, node);
    qemu_disk_device(disk, dev);
    xjson_add(args, "driver", xjson_string("virtio-blk-pci"));
    xjson_add(args, "drive", xjson_string(node));
    xjson_add(args, "id", xjson_string(dev));
    if (disk->index > 0) {
        /* Root port rpN is reserved for the volume of index N. */
        snprintf(bus, sizeof(bus), "rp%d", disk->index);
        xjson_add(args, "bus", xjson_string(bus));
    }
    if (disk->serial) {
        /* virtio-blk serials hold 20 bytes; the guest reads them in
         * /sys/block/vdX/serial.
         */
        xjson_add(args, "serial",
                               xjson_string_len(
                                   disk->serial,
                                   strlen(disk->serial) > 20
                                       ? 20
                                       : (int)strlen(disk->serial)));
    }
    return args;
}

int
qemu_disk_attach(struct hv *hv, const struct hv_domain *d,
                 const struct hv_disk *disk, struct error **errp)
{
    struct qmp *q;
    char node[32];
    int r = -1;

    if (disk->index < 1 || disk->index > QEMU_MAX_VOLUMES) {
        error_setg(errp, ERR_INVALID, "no slot %d for a volume (1 to %d)",
                   disk->index, QEMU_MAX_VOLUMES);
        return -1;
    }
    q = qemu_qmp(d, errp);
    if (q == NULL) {
        return -1;
    }
    if (qemu_qmp_run(q, "blockdev-add", qemu_blockdev_args(disk), errp) ==
        0) {
        if (qemu_qmp_run(q, "device_add", qemu_device_args(disk), errp) ==
            0) {
            r = 0;
        } else {
            json_object *args = xjson_object();

            qemu_disk_node(disk, node);
            xjson_add(args, "node-name", xjson_string(node));
            qemu_qmp_run(q, "blockdev-del", args, NULL);
        }
    }
    qmp_close(q);
    return r;
}

static bool
qemu_match_device(json_object *ev, void *opaque)
{
    json_object *data, *dev;

    return json_object_object_get_ex(ev, "data", &data) &&
           json_object_object_get_ex(data, "device", &dev) &&
           json_object_is_type(dev, json_type_string) &&
           strcmp(json_object_get_string(dev), opaque) == 0;
}

/* The guest must release the device (PCIe hot-plug takes it a few
 * seconds), then the block node can go.
 */
int
qemu_disk_detach(struct hv *hv, const struct hv_domain *d,
                 const struct hv_disk *disk, struct error **errp)
{
    json_object *args = xjson_object();
    json_object *ev = NULL;
    struct error *err = NULL;
    struct qmp *q;
    char node[32], dev[32];
    int r = -1;

    q = qemu_qmp(d, errp);
    if (q == NULL) {
        json_object_put(args);
        return -1;
    }
    qemu_disk_node(disk, node);
    qemu_disk_device(disk, dev);
    xjson_add(args, "id", xjson_string(dev));
    if (qemu_qmp_run(q, "device_del", args, &err) < 0) {
        /* Gone already: an earlier unplug timed out, and the guest let go
         * of the device since.  Go on with the node.
         */
        if (error_peer_class(err) == NULL ||
            strcmp(error_peer_class(err), "DeviceNotFound") != 0) {
            error_propagate(errp, err);
            goto out;
        }
        error_free(err);
    } else if (qmp_wait_event(q, "DEVICE_DELETED", qemu_match_device, dev,
                              QEMU_UNPLUG_TIMEOUT_MS, &ev, errp) < 0) {
        error_prepend(errp, "the guest did not release disk %s: ",
                      disk->id);
        goto out;
    }
    json_object_put(ev);
    args = xjson_object();
    xjson_add(args, "node-name", xjson_string(node));
    r = qemu_qmp_run(q, "blockdev-del", args, errp);
out:
    qmp_close(q);
    return r;
}
