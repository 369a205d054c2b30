/* vmsnap: the JSON form of every record (see views.h). */
#include <stdio.h>
#include <string.h>

#include "bdm.h"
#include "cleanup.h"
#include "props.h"
#include "servers.h"
#include "views.h"
#include "xalloc.h"
#include "xjson.h"

/* A JSON string, or null for NULL. */
static json_object *
view_str(const char *s)
{
    return s ? xjson_string(s) : NULL;
}

/* A size, or null when unknown (< 0). */
static json_object *
view_size(int64_t n)
{
    return n >= 0 ? xjson_int64(n) : NULL;
}

static void
view_add(json_object *o, const char *key, json_object *v)
{
    xjson_add(o, key, v);
}

static json_object *
view_props(const struct prop *props, size_t n)
{
    json_object *o = xjson_object();
    size_t i;

    for (i = 0; i < n; i++) {
        view_add(o, props[i].key, xjson_string(props[i].value));
    }
    return o;
}

json_object *
view_image(const struct image *img, const char *local_path)
{
    json_object *o = xjson_object();
    json_object *tags = xjson_array();
    size_t i;

    /* Properties first: a field of the same name below wins. */
    for (i = 0; i < img->nprops; i++) {
        view_add(o, img->props[i].key, xjson_string(img->props[i].value));
    }
    if (img->nbdm > 0) {
        CLEANUP_FREE char *bdm = bdm_format(img->bdm, img->nbdm, NULL);

        if (bdm) {
            view_add(o, "block_device_mapping", xjson_string(bdm));
        }
    }
    for (i = 0; i < img->ntags; i++) {
        xjson_append(tags, xjson_string(img->tags[i]));
    }
    view_add(o, "id", xjson_string(img->id));
    view_add(o, "name", view_str(img->name));
    view_add(o, "status", view_str(img->status));
    view_add(o, "visibility",
             view_str(img->visibility ? img->visibility : "shared"));
    view_add(o, "protected", xjson_bool(img->protected));
    view_add(o, "os_hidden", xjson_bool(false));
    view_add(o, "owner", view_str(img->owner));
    view_add(o, "disk_format", view_str(img->disk_format));
    view_add(o, "container_format", view_str(img->container_format));
    view_add(o, "size", view_size(img->size));
    view_add(o, "virtual_size", view_size(img->virtual_size));
    view_add(o, "checksum", view_str(img->checksum));
    view_add(o, "os_hash_algo", view_str(img->os_hash_algo));
    view_add(o, "os_hash_value", view_str(img->os_hash_value));
    view_add(o, "min_ram", xjson_int64(img->min_ram));
    view_add(o, "min_disk", xjson_int64(img->min_disk));
    view_add(o, "created_at", view_str(img->created_at));
    view_add(o, "updated_at", view_str(img->updated_at));
    view_add(o, "tags", tags);
    if (img->fail_reason) {
        view_add(o, "fail_reason", xjson_string(img->fail_reason));
    }
    {
        CLEANUP_FREE char *self = xasprintf("/v2/images/%s", img->id);
        CLEANUP_FREE char *file = xasprintf("/v2/images/%s/file", img->id);

        view_add(o, "self", xjson_string(self));
        view_add(o, "file", xjson_string(local_path ? local_path : file));
        view_add(o, "schema", xjson_string("/v2/schemas/image"));
    }
    return o;
}

void
view_image_progress(json_object *o, double percent)
{
    if (!(percent >= 0)) {
        percent = 0;            /* NaN too */
    } else if (percent > 100) {
        percent = 100;
    }
    view_add(o, "vmsnap_progress",
             xjson_double((double)(long)(percent * 10) / 10));
}

/* Nova's power_state numbers for the hypervisor's run state. */
static int
view_power_state(const struct hv_state *st)
{
    if (strcmp(st->status, "ACTIVE") == 0) {
        return 1;               /* RUNNING */
    }
    if (strcmp(st->status, "PAUSED") == 0) {
        return 3;               /* PAUSED */
    }
    if (strcmp(st->status, "SHUTOFF") == 0) {
        return 4;               /* SHUTDOWN */
    }
    if (strcmp(st->power, "crashed") == 0 ||
        strcmp(st->power, "guest-panicked") == 0) {
        return 6;               /* CRASHED */
    }
    return 0;                   /* NOSTATE */
}

/* Nova's vm_state for a status. */
static const char *
view_vm_state(const struct hv_state *st)
{
    if (strcmp(st->status, "ACTIVE") == 0) {
        return "active";
    }
    if (strcmp(st->status, "PAUSED") == 0) {
        return "paused";
    }
    if (strcmp(st->status, "SHUTOFF") == 0) {
        return "stopped";
    }
    if (strcmp(st->status, "BUILD") == 0) {
        return "building";
    }
    return "error";
}

json_object *
view_server(const struct instance *inst, const struct hv_state *st)
{
    json_object *o = xjson_object();
    json_object *image = xjson_object();
    json_object *flavor = xjson_object();

    view_add(image, "id", view_str(inst->image_id));
    view_add(flavor, "vcpus", xjson_int64(inst->cpus));
    view_add(flavor, "ram", xjson_int64(inst->memory_mb));
    view_add(flavor, "disk", xjson_int64(0));
    view_add(o, "id", xjson_string(inst->id));
    view_add(o, "name", view_str(inst->name));
    view_add(o, "status", xjson_string(st->status));
    view_add(o, "tenant_id", view_str(inst->project_id));
    view_add(o, "user_id", view_str(inst->user_id));
    view_add(o, "created", view_str(inst->created_at));
    view_add(o, "updated", view_str(inst->updated_at));
    view_add(o, "image", image);
    view_add(o, "flavor", flavor);
    view_add(o, "metadata", xjson_object());
    view_add(o, "addresses", xjson_object());
    view_add(o, "OS-EXT-STS:task_state", view_str(inst->task_state));
    view_add(o, "OS-EXT-STS:vm_state", xjson_string(view_vm_state(st)));
    view_add(o, "OS-EXT-STS:power_state", xjson_int64(view_power_state(st)));
    view_add(o, "OS-EXT-SRV-ATTR:host", view_str(inst->host));
    if (st->fault[0]) {
        json_object *fault = xjson_object();

        view_add(fault, "message", xjson_string(st->fault));
        view_add(fault, "code", xjson_int64(500));
        view_add(o, "fault", fault);
    }
    view_add(o, "vmsnap:accel", view_str(instance_meta(inst, META_ACCEL)));
    view_add(o, "vmsnap:agent", xjson_bool(servers_has_agent(inst)));
    view_add(o, "vmsnap:managed", xjson_bool(!servers_is_adopted(inst)));
    view_add(o, "vmsnap:run_state", xjson_string(st->power));
    view_add(o, "vmsnap:pid", st->pid ? xjson_int64(st->pid) : NULL);
    return o;
}

json_object *
view_volume(const struct volume *vol)
{
    json_object *o = xjson_object();
    json_object *att = xjson_array();

    if (vol->instance_id) {
        json_object *a = xjson_object();
        CLEANUP_FREE char *dev = xasprintf("/dev/vd%c",
                                           'a' + vol->device_index);

        view_add(a, "server_id", xjson_string(vol->instance_id));
        view_add(a, "volume_id", xjson_string(vol->id));
        view_add(a, "id", xjson_string(vol->id));
        view_add(a, "attachment_id", xjson_string(vol->id));
        view_add(a, "device", xjson_string(dev));
        xjson_append(att, a);
    }
    view_add(o, "id", xjson_string(vol->id));
    view_add(o, "name", view_str(vol->name));
    view_add(o, "status", view_str(vol->status));
    /* Cinder sizes are whole GiB; the exact size is ours. */
    view_add(o, "size", xjson_int64((vol->size + (1LL << 30) - 1) >> 30));
    view_add(o, "vmsnap:size_bytes", xjson_int64(vol->size));
    view_add(o, "attachments", att);
    view_add(o, "vmsnap:device_index",
             vol->instance_id ? xjson_int64(vol->device_index)
             : NULL);
    view_add(o, "snapshot_id", view_str(vol->source_snapshot_id));
    view_add(o, "volume_image_metadata",
             vol->source_image_id ? xjson_object() : NULL);
    view_add(o, "vmsnap:source_image_id", view_str(vol->source_image_id));
    view_add(o, "vmsnap:file", view_str(vol->file));
    view_add(o, "bootable", xjson_string("false"));
    view_add(o, "availability_zone", xjson_string("nova"));
    view_add(o, "volume_type", NULL);
    view_add(o, "description", NULL);
    view_add(o, "os-vol-tenant-attr:tenant_id", view_str(vol->project_id));
    view_add(o, "created_at", view_str(vol->created_at));
    view_add(o, "updated_at", view_str(vol->updated_at));
    view_add(o, "metadata", view_props(vol->meta, vol->nmeta));
    return o;
}

json_object *
view_volume_snapshot(const struct volume_snapshot *vs,
                     const char *local_path)
{
    json_object *o = xjson_object();

    view_add(o, "id", xjson_string(vs->id));
    view_add(o, "name", view_str(vs->name));
    view_add(o, "status", view_str(vs->status));
    view_add(o, "volume_id", view_str(vs->volume_id));
    view_add(o, "size", xjson_int64((vs->size + (1LL << 30) - 1) >> 30));
    view_add(o, "vmsnap:size_bytes", xjson_int64(vs->size));
    view_add(o, "vmsnap:file", view_str(local_path));
    view_add(o, "description", NULL);
    view_add(o, "os-extended-snapshot-attributes:project_id",
             view_str(vs->project_id));
    view_add(o, "created_at", view_str(vs->created_at));
    view_add(o, "updated_at", view_str(vs->updated_at));
    view_add(o, "metadata", view_props(vs->meta, vs->nmeta));
    return o;
}

json_object *
view_task(const struct task *t)
{
    json_object *o = xjson_object();
    json_object *warnings = t->warnings ? json_tokener_parse(t->warnings)
                                        : NULL;

    if (warnings == NULL || !json_object_is_type(warnings, json_type_array)) {
        json_object_put(warnings);
        warnings = xjson_array();
    }
    view_add(o, "id", xjson_string(t->id));
    view_add(o, "kind", view_str(t->kind));
    view_add(o, "state", view_str(t->state));
    view_add(o, "target_kind", view_str(t->target_kind));
    view_add(o, "target_id", view_str(t->target_id));
    view_add(o, "image_id", view_str(t->image_id));
    view_add(o, "phase", view_str(t->phase));
    view_add(o, "progress", xjson_double(t->progress));
    view_add(o, "warnings", warnings);
    view_add(o, "error", view_str(t->error));
    view_add(o, "error_class", view_str(t->error_class));
    view_add(o, "owner", view_str(t->owner));
    view_add(o, "project_id", view_str(t->project_id));
    view_add(o, "created_at", view_str(t->created_at));
    view_add(o, "updated_at", view_str(t->updated_at));
    view_add(o, "started_at", view_str(t->started_at));
    view_add(o, "finished_at", view_str(t->finished_at));
    return o;
}
