/* vmsnap: consistent snapshots of instances (see snapshot.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "compute.h"
#include "images.h"
#include "log.h"
#include "qemuimg.h"
#include "quiesce.h"
#include "snapshot.h"
#include "sock.h"
#include "util.h"
#include "volumes.h"

#define DEFAULT_FREEZE_TIMEOUT_MS 10000
#define MAX_FROZEN_MS 60000   /* the watchdog thaws this long after the
                               * freeze's own timeout at most */
#define THAW_TIMEOUT_MS 10000
#define QMP_TIMEOUT_MS 30000
#define AGENT_CONNECT_MS 5000
#define POLL_MS 500

/* Properties a snapshot does not inherit from its source image: they
 * describe the source's own origin, or secrets.
 */
static const char *const snapshot_not_inherited[] = {
    "instance_uuid", "base_image_ref", "image_type", "backup_type",
    "image_location", "block_device_mapping", "img_signature",
    "img_signature_hash_method", "img_signature_key_type",
    "img_signature_certificate_uuid", "cinder_encryption_key_id",
    NULL,
};

static bool
snapshot_inherits(const char *key)
{
    size_t i;

    if (strncmp(key, "vmsnap_", 7) == 0 ||
        strncmp(key, "os_glance", 9) == 0) {
        return false;
    }
    for (i = 0; snapshot_not_inherited[i]; i++) {
        if (strcmp(key, snapshot_not_inherited[i]) == 0) {
            return false;
        }
    }
    return true;
}

/* One disk of a snapshot: the root disk (index 0) or a volume. */
struct snap_disk {
    char source[32];               /* source block node in QEMU */
    char node[48];                 /* target block node name */
    char job[48];                  /* backup job id */
    char *src_file;                /* source data file (cold path) */
    char *path;                    /* target data file */
    struct volume *vol;            /* the volume, NULL for the root disk */
    struct volume_snapshot *vsnap; /* its snapshot record, or NULL */
    bool inserted;                 /* vsnap is in the catalog */
    bool file_made;                /* path exists */
    bool node_added;               /* node exists in QEMU */
    bool job_running;              /* job runs in QEMU */
};

#define SNAP_MAX_DISKS (1 + VOLUMES_MAX_PER_INSTANCE)

/* One snapshot in progress. */
struct snap {
    struct store *store;            /* data directory */
    const struct instance *inst;    /* the instance */
    const struct snapshot_opts *opts; /* what was asked */
    struct image *src;              /* the image the instance booted */
    struct image *img;              /* the new image's record */
    struct snap_disk disks[SNAP_MAX_DISKS]; /* root first, then volumes */
    size_t ndisks;                  /* entries used in disks */
    bool inserted;                  /* img is in the catalog */
    bool point_fixed;               /* the point in time is fixed */
    bool background;                /* copying in a detached child */
    struct qmp *qmp;                /* operations monitor, live path */
    int64_t copy_started_ms;        /* when the copy began */
    int img_lock;                   /* store_lock_image of img, or -1 */
};

static int
snap_set_prop(struct snap *s, const char *key, const char *value,
              struct error **errp)
{
    return image_prop_set(s->img, key, value, errp);
}

/* Name the nodes and the job of disk D, the Ith, from ID (its target's
 * UUID).
 */
static void
snap_disk_names(struct snap_disk *d, const char *id)
{
    snprintf(d->node, sizeof(d->node), "snap-%.8s", id);
    snprintf(d->job, sizeof(d->job), "snapjob-%.8s", id);
}

/* The image record of the snapshot, in status queued, and disk 0. */
static int
snap_new_record(struct snap *s, struct error **errp)
{
    struct snap_disk *root = &s->disks[0];
    const char *base;
    size_t i;

    s->img = calloc(1, sizeof(*s->img));
    if (s->img == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    util_uuid_new(s->img->id);
    s->img->name = strdup(s->opts->name);
    s->img->status = strdup("queued");
    s->img->disk_format = strdup("qcow2");
    s->img->container_format = strdup("bare");
    s->img->size = -1;
    s->img->virtual_size = -1;
    s->img->min_ram = s->src->min_ram;
    s->img->min_disk = s->src->min_disk;
    if (!s->img->name || !s->img->status || !s->img->disk_format ||
        !s->img->container_format) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    for (i = 0; i < s->src->nprops; i++) {
        if (snapshot_inherits(s->src->props[i].key) &&
            snap_set_prop(s, s->src->props[i].key, s->src->props[i].value,
                          errp) < 0) {
            return -1;
        }
    }
    /* base_image_ref stays the original base through generations. */
    base = image_prop(s->src, "base_image_ref");
    {
        char mem[32], cpus[16];

        snprintf(mem, sizeof(mem), "%lld", (long long)s->inst->memory_mb);
        snprintf(cpus, sizeof(cpus), "%d", s->inst->cpus);
        if (snap_set_prop(s, "instance_uuid", s->inst->id, errp) < 0 ||
            snap_set_prop(s, "base_image_ref", base ? base : s->src->id,
                          errp) < 0 ||
            snap_set_prop(s, "image_type",
                          s->opts->image_type ? s->opts->image_type
                                              : "snapshot",
                          errp) < 0 ||
            snap_set_prop(s, "image_location", "snapshot", errp) < 0 ||
            snap_set_prop(s, "vmsnap_memory_mb", mem, errp) < 0 ||
            snap_set_prop(s, "vmsnap_cpus", cpus, errp) < 0) {
            return -1;
        }
    }
    for (i = 0; i < s->opts->nextra; i++) {
        if (snap_set_prop(s, s->opts->extra_props[i].key,
                          s->opts->extra_props[i].value, errp) < 0) {
            return -1;
        }
    }
    snprintf(root->source, sizeof(root->source), "root");
    snap_disk_names(root, s->img->id);
    root->path = store_image_path(s->store, s->img->id, "qcow2");
    root->src_file = store_instance_path(s->store, s->inst->id, "root.qcow2");
    s->ndisks = 1;
    if (root->path == NULL || root->src_file == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    return 0;
}

/* With --all-volumes: one volume snapshot per attached volume, in device
 * order, tagged with the image's ID (instance_snapshot_id) and the
 * instance's, and a block_device_mapping property on the image (JSON: the
 * order, volume_id, snapshot_id, size) so the set is found from either
 * side.
 */
static int
snap_add_volumes(struct snap *s, struct error **errp)
{
    struct volume **vols = NULL;
    json_object *bdm = NULL;
    size_t n = 0, i;
    int r = -1;

    if (catalog_volume_list(store_catalog(s->store), s->inst->id, &vols, &n,
                            errp) < 0) {
        return -1;
    }
    bdm = json_object_new_array();
    for (i = 0; i < n && s->ndisks < SNAP_MAX_DISKS; i++) {
        struct snap_disk *d = &s->disks[s->ndisks];
        struct volume_snapshot *vs = calloc(1, sizeof(*vs));
        json_object *e = json_object_new_object();

        if (vs == NULL || e == NULL) {
            free(vs);
            json_object_put(e);
            error_setg(errp, ERR_IO, "out of memory");
            goto out;
        }
        d->vol = vols[i];
        vols[i] = NULL;
        d->vsnap = vs;
        s->ndisks++;
        util_uuid_new(vs->id);
        vs->name = util_strdup_printf("%s-%s", s->opts->name,
                                      d->vol->name ? d->vol->name
                                                   : d->vol->id);
        vs->volume_id = strdup(d->vol->id);
        vs->status = strdup("creating");
        vs->size = d->vol->size;
        vs->file = store_volume_snapshot_path(s->store, vs->id);
        d->path = vs->file ? strdup(vs->file) : NULL;
        d->src_file = d->vol->file ? strdup(d->vol->file) : NULL;
        volumes_node_name(d->vol, d->source);
        snap_disk_names(d, vs->id);
        if (!vs->name || !vs->volume_id || !vs->status || !vs->file ||
            !d->path || !d->src_file ||
            volume_snapshot_meta_set(vs, "instance_snapshot_id", s->img->id,
                                     errp) < 0 ||
            volume_snapshot_meta_set(vs, "instance_uuid", s->inst->id,
                                     errp) < 0) {
            if (errp && *errp == NULL) {
                error_setg(errp, ERR_IO, "out of memory");
            }
            json_object_put(e);
            goto out;
        }
        json_object_object_add(e, "device_index",
                               json_object_new_int(d->vol->device_index));
        json_object_object_add(e, "volume_id",
                               json_object_new_string(d->vol->id));
        json_object_object_add(e, "snapshot_id",
                               json_object_new_string(vs->id));
        json_object_object_add(e, "size", json_object_new_int64(vs->size));
        if (d->vol->name) {
            json_object_object_add(e, "volume_name",
                                   json_object_new_string(d->vol->name));
        }
        json_object_array_add(bdm, e);
    }
    if (n > 0 &&
        snap_set_prop(s, "block_device_mapping",
                      json_object_to_json_string_ext(bdm,
                                                     JSON_C_TO_STRING_PLAIN),
                      errp) < 0) {
        goto out;
    }
    r = 0;
out:
    json_object_put(bdm);
    volume_list_free(vols, n);
    return r;
}

/* Put the records in the catalog: the image, then its volume snapshots. */
static int
snap_insert_records(struct snap *s, struct error **errp)
{
    struct catalog *cat = store_catalog(s->store);
    size_t i;

    if (catalog_image_insert(cat, s->img, errp) < 0) {
        return -1;
    }
    s->inserted = true;
    for (i = 1; i < s->ndisks; i++) {
        if (catalog_volume_snapshot_insert(cat, s->disks[i].vsnap, errp) <
            0) {
            return -1;
        }
        s->disks[i].inserted = true;
    }
    return 0;
}

/* Refuse a name another image already has. */
static int
snap_check_name(struct snap *s, struct error **errp)
{
    struct image_filter f = {.name = s->opts->name, .exclude_deleted = true};
    struct image **list = NULL;
    size_t n = 0;

    if (s->opts->name == NULL || *s->opts->name == '\0') {
        error_setg(errp, ERR_INVALID, "the snapshot needs a --name");
        return -1;
    }
    if (catalog_image_list(store_catalog(s->store), &f, &list, &n, errp) <
        0) {
        return -1;
    }
    /* A killed image is a failure record, not a name in use. */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i]->status, "killed") != 0) {
            image_list_free(list, n);
            error_setg(errp, ERR_CONFLICT,
                       "an image named '%s' already exists",
                       s->opts->name);
            return -1;
        }
    }
    image_list_free(list, n);
    return 0;
}

static int
snap_set_status(struct snap *s, const char *status, struct error **errp)
{
    char *st = strdup(status);

    if (st == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    free(s->img->status);
    s->img->status = st;
    return catalog_image_update(store_catalog(s->store), s->img, errp);
}

/* Run COMMAND with ARGS (consumed) on the operations monitor. */
static int
snap_qmp(struct snap *s, const char *command, json_object *args,
         struct error **errp)
{
    json_object *r = qmp_execute(s->qmp, command, args, QMP_TIMEOUT_MS, errp);

    json_object_put(args);
    if (r == NULL) {
        return -1;
    }
    json_object_put(r);
    return 0;
}

/* A test hook: VMSNAP_TEST_BREAK_DISK=N makes every write to the target
 * of disk N (0 is the root disk) fail with EIO, through QEMU's blkdebug
 * driver, so that tests see a copy fail half-way.
 */
static json_object *
snap_target_file(const struct snap_disk *d, size_t index)
{
    const char *env = getenv("VMSNAP_TEST_BREAK_DISK");
    json_object *file = json_object_new_object();
    int64_t n;

    json_object_object_add(file, "driver", json_object_new_string("file"));
    json_object_object_add(file, "filename", json_object_new_string(d->path));
    if (env && util_parse_int64(env, &n, NULL) == 0 && n == (int64_t)index) {
        json_object *dbg = json_object_new_object();
        json_object *rules = json_object_new_array();
        json_object *rule = json_object_new_object();

        json_object_object_add(rule, "event",
                               json_object_new_string("pwritev"));
        json_object_object_add(rule, "errno", json_object_new_int(EIO));
        json_object_array_add(rules, rule);
        json_object_object_add(dbg, "driver",
                               json_object_new_string("blkdebug"));
        json_object_object_add(dbg, "image", file);
        json_object_object_add(dbg, "inject-error", rules);
        return dbg;
    }
    return file;
}

/* Step 1: every target file and block node, made before any freeze. */
static int
snap_prepare_targets(struct snap *s, struct error **errp)
{
    size_t i;

    for (i = 0; i < s->ndisks; i++) {
        struct snap_disk *d = &s->disks[i];
        struct qemuimg_info info = {0};
        json_object *args, *file;
        int r;

        if (qemuimg_info(d->src_file, "qcow2", &info, errp) < 0) {
            return -1;
        }
        r = qemuimg_create(d->path, "qcow2", info.virtual_size, errp);
        qemuimg_info_clear(&info);
        if (r < 0) {
            return -1;
        }
        d->file_made = true;
        args = json_object_new_object();
        file = snap_target_file(d, i);
        json_object_object_add(args, "driver",
                               json_object_new_string("qcow2"));
        json_object_object_add(args, "node-name",
                               json_object_new_string(d->node));
        json_object_object_add(args, "file", file);
        if (snap_qmp(s, "blockdev-add", args, errp) < 0) {
            return -1;
        }
        d->node_added = true;
    }
    return 0;
}

/* A test hook: VMSNAP_TEST_COPY_SPEED=BYTES limits each copy to that
 * many bytes per second (blockdev-backup's speed), so that tests can see
 * a snapshot while it is saving.
 */
static void
snap_test_speed(json_object *data)
{
    const char *env = getenv("VMSNAP_TEST_COPY_SPEED");
    int64_t speed;

    if (env && util_parse_int64(env, &speed, NULL) == 0 && speed > 0) {
        json_object_object_add(data, "speed", json_object_new_int64(speed));
    }
}

/* Step 3: one transaction fixes the point in time of every disk.  With
 * several disks, completion-mode grouped: if one copy fails, QEMU cancels
 * them all, so no disk of the set can succeed alone.
 */
static int
snap_fix_point(struct snap *s, struct error **errp)
{
    json_object *args = json_object_new_object();
    json_object *actions = json_object_new_array();
    size_t i;

    for (i = 0; i < s->ndisks; i++) {
        json_object *action = json_object_new_object();
        json_object *data = json_object_new_object();

        json_object_object_add(data, "job-id",
                               json_object_new_string(s->disks[i].job));
        json_object_object_add(data, "device",
                               json_object_new_string(s->disks[i].source));
        json_object_object_add(data, "target",
                               json_object_new_string(s->disks[i].node));
        json_object_object_add(data, "sync", json_object_new_string("full"));
        snap_test_speed(data);
        json_object_object_add(action, "type",
                               json_object_new_string("blockdev-backup"));
        json_object_object_add(action, "data", data);
        json_object_array_add(actions, action);
    }
    json_object_object_add(args, "actions", actions);
    if (s->ndisks > 1) {
        json_object *props = json_object_new_object();

        json_object_object_add(props, "completion-mode",
                               json_object_new_string("grouped"));
        json_object_object_add(args, "properties", props);
    }
    if (snap_qmp(s, "transaction", args, errp) < 0) {
        return -1;
    }
    for (i = 0; i < s->ndisks; i++) {
        s->disks[i].job_running = true;
    }
    s->copy_started_ms = sock_now_ms();
    return 0;
}

/* The disk whose job has id ID, or NULL. */
static struct snap_disk *
snap_disk_of_job(struct snap *s, const char *id)
{
    size_t i;

    for (i = 0; i < s->ndisks; i++) {
        if (strcmp(s->disks[i].job, id) == 0) {
            return &s->disks[i];
        }
    }
    return NULL;
}

/* The "device" (job id) field of a job description or event data. */
static const char *
snap_job_id(json_object *obj)
{
    json_object *dev;

    if (json_object_is_type(obj, json_type_object) &&
        json_object_object_get_ex(obj, "device", &dev) &&
        json_object_is_type(dev, json_type_string)) {
        return json_object_get_string(dev);
    }
    return NULL;
}

/* Matches the end (completed or cancelled) of one of our running jobs. */
static bool
snap_match_job_end(json_object *ev, void *opaque)
{
    struct snap *s = opaque;
    json_object *name, *data;
    const char *n, *id;
    struct snap_disk *d;

    if (!json_object_object_get_ex(ev, "event", &name) ||
        !json_object_object_get_ex(ev, "data", &data)) {
        return false;
    }
    n = json_object_get_string(name);
    if (strcmp(n, "BLOCK_JOB_COMPLETED") != 0 &&
        strcmp(n, "BLOCK_JOB_CANCELLED") != 0) {
        return false;
    }
    id = snap_job_id(data);
    d = id ? snap_disk_of_job(s, id) : NULL;
    return d != NULL && d->job_running;
}

/* Report the copy's progress, summed over every job. */
static void
snap_poll_progress(struct snap *s)
{
    json_object *jobs = qmp_execute(s->qmp, "query-block-jobs", NULL,
                                    QMP_TIMEOUT_MS, NULL);
    int64_t done = 0, total = 0;
    size_t i, n;

    if (jobs == NULL || !json_object_is_type(jobs, json_type_array)) {
        json_object_put(jobs);
        return;
    }
    n = json_object_array_length(jobs);
    for (i = 0; i < n; i++) {
        json_object *j = json_object_array_get_idx(jobs, i);
        const char *id = snap_job_id(j);
        json_object *off, *len;

        if (id && snap_disk_of_job(s, id) &&
            json_object_object_get_ex(j, "offset", &off) &&
            json_object_object_get_ex(j, "len", &len)) {
            done += json_object_get_int64(off);
            total += json_object_get_int64(len);
        }
    }
    if (total > 0) {
        progress_report(s->opts->progress, "copy", 100.0 * done / total);
    }
    json_object_put(jobs);
}

/* Step 5: wait for every copy to end, reporting progress. */
static int
snap_wait_copy(struct snap *s, struct error **errp)
{
    size_t running = s->ndisks;
    struct error *first = NULL;
    bool first_is_error = false;

    while (running > 0) {
        json_object *ev = NULL, *data, *e, *name;
        struct error *err = NULL;
        struct snap_disk *d;

        if (qmp_wait_event(s->qmp, NULL, snap_match_job_end, s, POLL_MS, &ev,
                           &err) < 0) {
            if (error_get_class(err) != ERR_TIMEOUT) {
                error_prepend(&err, "copy of the disks: ");
                error_free(first);
                error_propagate(errp, err);
                return -1;
            }
            error_free(err);
            if (s->opts->progress) {
                snap_poll_progress(s);
            }
            continue;
        }
        json_object_object_get_ex(ev, "data", &data);
        json_object_object_get_ex(ev, "event", &name);
        d = snap_disk_of_job(s, snap_job_id(data));
        d->job_running = false;
        running--;
        /* With completion-mode grouped, QEMU cancels the other jobs when
         * one fails, and their events may come first: the disk that
         * failed, with its reason, is the one to report.
         */
        if (json_object_object_get_ex(data, "error", &e)) {
            if (first == NULL || !first_is_error) {
                error_free(first);
                first = NULL;
                error_setg(&first, ERR_PEER, "copy of disk %s failed: %s",
                           d->source, json_object_get_string(e));
                first_is_error = true;
            }
        } else if (first == NULL && strcmp(json_object_get_string(name),
                                           "BLOCK_JOB_CANCELLED") == 0) {
            error_setg(&first, ERR_PEER, "copy of disk %s was cancelled",
                       d->source);
        }
        json_object_put(ev);
    }
    if (first) {
        error_propagate(errp, first);
        return -1;
    }
    progress_report(s->opts->progress, "copy", 100);
    return 0;
}

/* Close target node D so QEMU flushes it and lets go of the file. */
static int
snap_del_node(struct snap *s, struct snap_disk *d, struct error **errp)
{
    json_object *args = json_object_new_object();

    json_object_object_add(args, "node-name", json_object_new_string(d->node));
    if (snap_qmp(s, "blockdev-del", args, errp) < 0) {
        return -1;
    }
    d->node_added = false;
    return 0;
}

/* Cancel what still runs of disk D's job and wait for its end. */
static void
snap_cancel_job(struct snap *s, struct snap_disk *d)
{
    json_object *args = json_object_new_object();
    json_object *ev = NULL;

    json_object_object_add(args, "device", json_object_new_string(d->job));
    json_object_object_add(args, "force", json_object_new_boolean(true));
    if (snap_qmp(s, "block-job-cancel", args, NULL) == 0) {
        qmp_wait_event(s->qmp, NULL, snap_match_job_end, s, QMP_TIMEOUT_MS,
                       &ev, NULL);
        json_object_put(ev);
    }
    d->job_running = false;
}

/* Undo everything: all or nothing.  In the foreground the records go (the
 * command reports why); in a --no-wait background copy, where nobody sees
 * the error, the image stays as killed with the REASON "image show"
 * prints.  Volume snapshots never stay.
 */
static void
snap_cleanup_failed(struct snap *s, const char *reason)
{
    struct catalog *cat = store_catalog(s->store);
    size_t i;

    /* A monitor that broke (a timeout, a malformed reply) cannot clean
     * up: open a new one.
     */
    if (s->qmp && qmp_is_broken(s->qmp)) {
        qmp_close(s->qmp);
        s->qmp = compute_qmp(s->store, s->inst, NULL);
    }
    for (i = 0; i < s->ndisks; i++) {
        struct snap_disk *d = &s->disks[i];

        if (d->job_running && s->qmp) {
            snap_cancel_job(s, d);
        }
    }
    for (i = 0; i < s->ndisks; i++) {
        struct snap_disk *d = &s->disks[i];

        if (d->node_added && s->qmp) {
            snap_del_node(s, d, NULL);
        }
        if (d->file_made) {
            unlink(d->path);
        }
    }
    if (cat == NULL) {
        return;
    }
    /* The image goes (or loses its mapping) first: the catalog keeps a
     * volume snapshot that an image's block_device_mapping names.
     */
    if (s->inserted && s->background) {
        catalog_image_unset_property(cat, s->img->id, "block_device_mapping",
                                     NULL);
        catalog_image_set_status(cat, s->img->id, "killed", reason, NULL);
    } else if (s->inserted) {
        catalog_image_delete(cat, s->img->id, NULL);
    }
    for (i = 0; i < s->ndisks; i++) {
        if (s->disks[i].inserted) {
            catalog_volume_snapshot_delete(cat, s->disks[i].vsnap->id, NULL);
        }
    }
}

/* Record how long the copy took (vmsnap_copy_ms), then make every volume
 * snapshot available and, last, hash the root disk and make the image
 * active: the image appears only when its whole set is there.
 */
static int
snap_activate(struct snap *s, struct error **errp)
{
    struct catalog *cat = store_catalog(s->store);
    char ms[32];
    size_t i;

    snprintf(ms, sizeof(ms), "%lld",
             (long long)(sock_now_ms() - s->copy_started_ms));
    if (snap_set_prop(s, "vmsnap_copy_ms", ms, errp) < 0) {
        return -1;
    }
    for (i = 1; i < s->ndisks; i++) {
        if (catalog_volume_snapshot_set_status(cat, s->disks[i].vsnap->id,
                                               "available", errp) < 0) {
            return -1;
        }
    }
    return images_activate(s->store, s->img, s->disks[0].path,
                           s->opts->progress, errp);
}

static void
snap_convert_progress(double pct, void *opaque)
{
    const struct snap *s = opaque;

    progress_report(s->opts->progress, "copy", pct);
}

/* The cold path: the instance is stopped, its disks at rest.  They are
 * consistent only if the guest shut down cleanly (compute_stop records
 * that); disks left by a forced stop or a dead QEMU are crash-consistent.
 */
static int
snap_cold(struct snap *s, struct error **errp)
{
    const char *require = image_prop(s->src, "os_require_quiesce");
    const char *how = instance_meta(s->inst, "shutdown");
    bool clean = how && strcmp(how, "clean") == 0;
    size_t i;

    if (!clean) {
        if (require && strcmp(require, "yes") == 0) {
            error_setg(errp, ERR_CONFLICT,
                       "os_require_quiesce=yes, but server %s was not shut "
                       "down cleanly: its disks are only crash-consistent",
                       s->inst->name);
            return -1;
        }
        log_warnx("server %s was not shut down cleanly: the snapshot is "
                  "crash-consistent",
                  s->inst->name);
    }
    if (snap_set_prop(s, "vmsnap_mode", "cold", errp) < 0 ||
        snap_set_prop(s, "vmsnap_quiesced", clean ? "yes" : "no", errp) < 0 ||
        snap_set_prop(s, "vmsnap_freeze_ms", "0", errp) < 0 ||
        snap_set_status(s, "saving", errp) < 0) {
        return -1;
    }
    s->point_fixed = true;
    s->copy_started_ms = sock_now_ms();
    for (i = 0; i < s->ndisks; i++) {
        s->disks[i].file_made = true;
        if (qemuimg_convert(s->disks[i].src_file, "qcow2", s->disks[i].path,
                            "qcow2", snap_convert_progress, s, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* A test hook: hold the freeze this long (VMSNAP_TEST_HOLD_FROZEN_MS), so
 * that tests can kill us while the guest is frozen.
 */
static void
snap_test_hold(void)
{
    const char *env = getenv("VMSNAP_TEST_HOLD_FROZEN_MS");
    int64_t ms;

    if (env && util_parse_int64(env, &ms, NULL) == 0 && ms > 0) {
        fprintf(stderr, "vmsnap: test: guest frozen, holding %lld ms\n",
                (long long)ms);
        sock_sleep_ms((int)ms, SOCK_NO_DEADLINE);
    }
}

/* How long past its own timeout a freeze may last before the watchdog
 * thaws the guest: MAX_FROZEN_MS, or $VMSNAP_MAX_FROZEN_MS (milliseconds,
 * at least 1000) for guests whose hooks need longer, or for tests.
 */
static int
snap_max_frozen_ms(void)
{
    const char *env = getenv("VMSNAP_MAX_FROZEN_MS");
    int64_t ms;

    if (env && util_parse_int64(env, &ms, NULL) == 0 && ms >= 1000 &&
        ms <= 3600 * 1000) {
        return (int)ms;
    }
    return MAX_FROZEN_MS;
}

/* Try to quiesce; NULL (with *QERR set) when the guest cannot be frozen. */
static struct quiesce *
snap_quiesce(struct snap *s, bool paused, struct qga **g,
             struct error **qerr)
{
    int timeout = s->opts->freeze_timeout_ms > 0 ? s->opts->freeze_timeout_ms
                                                 : DEFAULT_FREEZE_TIMEOUT_MS;

    if (paused) {
        error_setg(qerr, ERR_CONFLICT,
                   "server %s is paused, so its agent cannot freeze",
                   s->inst->name);
        return NULL;
    }
    if (!compute_has_agent(s->inst)) {
        error_setg(qerr, ERR_INVALID,
                   "server %s has no guest agent (its image lacks "
                   "hw_qemu_guest_agent=yes)",
                   s->inst->name);
        return NULL;
    }
    *g = compute_qga(s->store, s->inst, AGENT_CONNECT_MS, qerr);
    if (*g == NULL) {
        error_prepend(qerr, "guest agent: ");
        return NULL;
    }
    return quiesce_freeze(*g, timeout, snap_max_frozen_ms(), qerr);
}

/* The live path up to the fixed point in time (steps 1 to 4). */
static int
snap_live(struct snap *s, bool paused, struct error **errp)
{
    const char *require = image_prop(s->src, "os_require_quiesce");
    bool must = require && strcmp(require, "yes") == 0;
    struct error *qerr = NULL, *terr = NULL;
    struct quiesce *qs;
    struct qga *g = NULL;
    bool quiesced;
    int64_t frozen_ms = 0, held_ms = 0, t_frozen;
    char when[UTIL_TIME_LEN], ms[32], held[32];
    int r;

    s->qmp = compute_qmp(s->store, s->inst, errp);
    if (s->qmp == NULL || snap_prepare_targets(s, errp) < 0) {
        return -1;
    }
    qs = snap_quiesce(s, paused, &g, &qerr);
    quiesced = qs != NULL;
    if (qs == NULL) {
        qga_close(g);
        g = NULL;
        if (must) {
            error_prepend(&qerr, "os_require_quiesce=yes and the guest "
                                 "cannot be quiesced: ");
            error_propagate(errp, qerr);
            return -1;
        }
        log_warnx("%s: the snapshot is crash-consistent, not quiesced",
                  error_msg(qerr));
        error_free(qerr);
    } else {
        snap_test_hold();
    }
    t_frozen = sock_now_ms();
    r = snap_fix_point(s, errp);
    util_now_iso8601(when);
    log_debug("snapshot", "transaction took %lld ms",
              (long long)(sock_now_ms() - t_frozen));
    if (qs) {
        int t = quiesce_thaw(qs, THAW_TIMEOUT_MS, &frozen_ms, &held_ms,
                             &terr);

        if (t < 0) {
            /* The watchdog thawed inside the window: not quiesced. */
            quiesced = false;
            if (must && r == 0) {
                error_propagate(errp, terr);
                error_prepend(errp, "os_require_quiesce=yes: ");
                terr = NULL;
                r = -1;
            }
        }
        if (terr) {
            log_warnx("%s", error_msg(terr));
            error_free(terr);
        }
    }
    qga_close(g);
    if (r < 0) {
        return -1;
    }
    s->point_fixed = true;
    snprintf(ms, sizeof(ms), "%lld", (long long)frozen_ms);
    snprintf(held, sizeof(held), "%lld", (long long)held_ms);
    if (snap_set_prop(s, "vmsnap_mode", "live", errp) < 0 ||
        snap_set_prop(s, "vmsnap_quiesced", quiesced ? "yes" : "no",
                      errp) < 0 ||
        snap_set_prop(s, "vmsnap_freeze_ms", ms, errp) < 0 ||
        (quiesced &&
         snap_set_prop(s, "vmsnap_hold_ms", held, errp) < 0) ||
        snap_set_prop(s, "vmsnap_point_in_time", when, errp) < 0) {
        return -1;
    }
    return snap_set_status(s, "saving", errp);
}

/* Step 5 of the live path: copy, close every target, activate. */
static int
snap_finish_live(struct snap *s, struct error **errp)
{
    size_t i;

    if (snap_wait_copy(s, errp) < 0) {
        return -1;
    }
    for (i = 0; i < s->ndisks; i++) {
        if (snap_del_node(s, &s->disks[i], errp) < 0) {
            return -1;
        }
    }
    return snap_activate(s, errp);
}

/* Run the rest of a --no-wait snapshot in a detached child.  The parent
 * returns at once; the child inherits the monitor connection and the
 * instance lock, and exits when the image is active or killed.  Both
 * reopen the catalog after the fork (see store_suspend_catalog).
 */
static int
snap_detach(struct snap *s, struct error **errp)
{
    CLEANUP_FREE char *log = store_instance_path(s->store, s->inst->id,
                                                 "snapshot.log");
    struct error *err = NULL;
    pid_t pid;
    int fd, r;

    if (log == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    fflush(NULL);
    store_suspend_catalog(s->store);
    pid = fork();
    if (pid < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fork");
        store_resume_catalog(s->store, NULL);
        return -1;
    }
    if (pid > 0) {
        /* The child owns the snapshot now: whatever happens here, this
         * process must not clean anything up.
         */
        if (store_resume_catalog(s->store, &err) < 0) {
            log_warnx("%s", error_msg(err));
            error_free(err);
        }
        return 0;
    }
    setsid();
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    s->background = true;
    if (store_resume_catalog(s->store, &err) < 0) {
        log_warnx("snapshot %s: %s", s->img->id, error_msg(err));
        _exit(1);
    }
    log_debug("snapshot", "%s: copying in the background (pid %d)",
              s->img->id, (int)getpid());
    r = snap_finish_live(s, &err);
    log_debug("snapshot", "%s: background copy done: %d", s->img->id, r);
    if (r < 0) {
        log_warnx("snapshot %s failed: %s", s->img->id, error_msg(err));
        snap_cleanup_failed(s, error_msg(err));
    }
    catalog_instance_set_task(store_catalog(s->store), s->inst->id,
                              "image_snapshot", NULL, NULL);
    store_unlock_image(s->store, s->img->id, s->img_lock);
    _exit(r < 0 ? 1 : 0);
}

int
snapshot_create(struct store *store, const struct instance *inst0,
                const struct snapshot_opts *opts, struct image **out,
                struct error **errp)
{
    struct catalog *cat = store_catalog(store);
    struct snap s = {.store = store, .opts = opts, .img_lock = -1};
    struct instance *inst = NULL;
    struct compute_state st;
    struct error *err = NULL, *local = NULL;
    bool tasked = false, detached = false;
    int lock, r = -1;

    lock = store_lock_instance(store, inst0->id, false, &err);
    if (lock < 0) {
        error_free(err);
        error_setg(errp, ERR_CONFLICT, "server %s is busy: %s", inst0->name,
                   inst0->task_state ? inst0->task_state
                                     : "another operation is running");
        return -1;
    }
    /* Holding the lock, any task left on the record is a dead process's. */
    if (catalog_instance_get(cat, inst0->id, &inst, &local) < 0) {
        goto out;
    }
    if (inst->task_state) {
        log_warnx("server %s: clearing task '%s' left by a dead process",
                  inst->name, inst->task_state);
        catalog_instance_set_task(cat, inst->id, inst->task_state, NULL,
                                  NULL);
    }
    if (catalog_instance_set_task(cat, inst->id, NULL, "image_snapshot",
                                  &local) < 0) {
        goto out;
    }
    tasked = true;
    s.inst = inst;
    if (snap_check_name(&s, &local) < 0 ||
        catalog_image_get(cat, inst->image_id, &s.src, &local) < 0 ||
        snap_new_record(&s, &local) < 0 ||
        (s.img_lock = store_lock_image(store, s.img->id, false, &local)) <
            0 ||
        (opts->all_volumes && snap_add_volumes(&s, &local) < 0) ||
        snap_insert_records(&s, &local) < 0) {
        goto fail;
    }
    if (compute_state(store, inst, &st, &local) < 0) {
        goto fail;
    }
    if (strcmp(st.status, "SHUTOFF") == 0) {
        if (snap_cold(&s, &local) < 0 || snap_activate(&s, &local) < 0) {
            goto fail;
        }
    } else if (strcmp(st.status, "ACTIVE") == 0 ||
               strcmp(st.status, "PAUSED") == 0) {
        if (snap_live(&s, strcmp(st.status, "PAUSED") == 0, &local) < 0) {
            goto fail;
        }
        if (opts->no_wait) {
            r = snap_detach(&s, &local);
            cat = store_catalog(store);
            if (r < 0) {
                goto fail;
            }
            detached = true;
        } else if (snap_finish_live(&s, &local) < 0) {
            goto fail;
        }
    } else {
        error_setg(&local, ERR_CONFLICT, "server %s is %s: cannot snapshot it",
                   inst->name, st.status);
        goto fail;
    }
    if (detached &&
        (cat == NULL || catalog_image_get(cat, s.img->id, out, NULL) < 0)) {
        /* The copy goes on in the child: report what we know. */
        *out = s.img;
        s.img = NULL;
        r = 0;
    } else {
        r = catalog_image_get(cat, s.img->id, out, &local);
    }
    goto out;

fail:
    snap_cleanup_failed(&s, local ? error_msg(local) : "failed");
out:
    if (tasked && !detached && cat) {
        catalog_instance_set_task(cat, inst->id, "image_snapshot", NULL,
                                  NULL);
    }
    if (detached) {
        close(s.img_lock);      /* the child holds it, and unlocks it */
    } else if (s.img) {
        store_unlock_image(store, s.img->id, s.img_lock);
    }
    qmp_close(s.qmp);
    close(lock);
    image_free(s.src);
    image_free(s.img);
    for (size_t i = 0; i < s.ndisks; i++) {
        free(s.disks[i].src_file);
        free(s.disks[i].path);
        volume_free(s.disks[i].vol);
        volume_snapshot_free(s.disks[i].vsnap);
    }
    instance_free(inst);
    error_propagate(errp, local);
    return r;
}

int
snapshot_delete_image(struct store *store, const struct image *img,
                      struct error **errp)
{
    if (images_delete(store, img, errp) < 0) {
        return -1;
    }
    volumes_snapshot_delete_set(store, img->id);
    return 0;
}
