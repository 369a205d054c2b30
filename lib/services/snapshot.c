/* vmsnap: consistent snapshots of servers (see snapshot.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actions.h"
#include "cleanup.h"
#include "images.h"
#include "log.h"
#include "props.h"
#include "qemuimg.h"
#include "quiesce.h"
#include "servers.h"
#include "snapshot.h"
#include "sock.h"
#include "store.h"
#include "svc.h"
#include "util.h"
#include "volumes.h"
#include "xalloc.h"
#include "xjson.h"

#define THAW_TIMEOUT_MS 10000
#define AGENT_CONNECT_MS 5000
#define PRESYNC_TIMEOUT_MS 10000
#define SNAP_MAX_DISKS (1 + SERVERS_MAX_VOLUMES)

/* Bytes a cold copy may hold beyond its measured fully-allocated size. */
#define SNAP_QCOW2_SLACK (16 * 1024 * 1024)

/* One disk of a snapshot: the root disk (index 0) or a volume. */
struct snap_disk {
    const struct hv_disk *source;  /* the server's disk, in s->dom */
    char *key;                     /* the target's object key */
    char *path;                    /* the target's local file */
    char *location;                /* the committed object, or NULL */
    struct volume_snapshot *vsnap; /* its record, NULL for the root disk */
    bool inserted;                 /* vsnap is in the catalog */
    struct diskcopy_target copy;   /* where the copy path puts it */
    struct file_follow *follow;    /* the store sends the file as the
                                    * copy writes it, or NULL */
    bool discarded;                /* the failure's cleanup discarded it */
};

/* One snapshot being made. */
struct snap {
    struct svc *svc;                /* the context */
    struct task_run *task;          /* the task running it */
    struct hv *hv;                  /* the driver */
    struct instance *inst;          /* the server */
    struct servers_domain dom;      /* its domain */
    struct image *img;              /* the new image, as requested */
    bool all_volumes;               /* from the request */
    bool delete_failed;             /* from the request */
    const char *request_id;         /* the action to finish, or NULL */
    int freeze_timeout_ms;          /* from the request or the setting */
    struct snap_disk disks[SNAP_MAX_DISKS]; /* root first, then volumes */
    size_t ndisks;                  /* entries used in disks */
    struct hv_backup *backup;       /* the driver's backup, while open */
    int64_t copy_started_ms;        /* when the copy began */
    int64_t freeze_call_ms;         /* the agent's freeze call */
    int64_t fix_ms;                 /* hv_backup_fix */
    bool chunks;                    /* a backup into the chunk store */
    struct chunk_store *cs;         /* that store, while open */
    struct store_plan plans[SNAP_MAX_DISKS]; /* each disk's plan: full or
                                    * incremental */
    struct lock *ilk;               /* the server's lock */
    struct lock *mlk;               /* the new image's lock */
    struct agent *agent;            /* the guest's agent, from
                                     * snap_agent_open to the thaw */
    struct error *agent_err;        /* or why it cannot be reached */
};

/* Are the task's, the server's and the image's locks still ours?  With a
 * shared catalog they are leases (lock.h) that can be lost: then another
 * host may be recovering this very snapshot, and we must stop.
 */
static int
snap_check_locks(struct snap *s, struct error **errp)
{
    if (task_check(s->task, errp) < 0 ||
        (s->ilk && lock_check(s->ilk, errp) < 0) ||
        (s->mlk && lock_check(s->mlk, errp) < 0)) {
        error_prepend(errp, "stopping the snapshot: ");
        return -1;
    }
    return 0;
}

/* Set the properties SET on the image, leaving every other field (and
 * what a user changed meanwhile) alone.
 */
static int
snap_set_props(struct snap *s, const struct prop *set, size_t n,
               struct error **errp)
{
    struct image_patch p = {.min_ram = -1, .min_disk = -1, .set = set,
                            .nset = n};

    return catalog_image_patch(svc_catalog(s->svc), s->img->id, &p, errp);
}

/* ---- The request ------------------------------------------------------ */

/* Refuse a name another image already has (a killed image is a failure
 * record, not a name in use).
 */
static int
snap_check_name(struct svc *svc, const char *name, struct error **errp)
{
    struct image_filter f = {.name = name, .exclude_deleted = true};
    struct image **list = NULL;
    size_t n = 0, i;
    int r = 0;

    if (name == NULL || *name == '\0') {
        error_setg(errp, ERR_INVALID, "the snapshot needs a --name");
        return -1;
    }
    if (catalog_image_list(svc_catalog(svc), &f, &list, &n, errp) < 0) {
        return -1;
    }
    for (i = 0; i < n && r == 0; i++) {
        if (strcmp(list[i]->status, "killed") != 0) {
            error_setg(errp, ERR_CONFLICT,
                       "an image named '%s' already exists", name);
            r = -1;
        }
    }
    image_list_free(list, n);
    return r;
}

/* The record of the new image: queued, with what it inherits from the
 * source image SRC and what it records about INST.  An adopted server
 * has no source image (SRC NULL): its image gets no base_image_ref, and
 * from the domain what its record says (the agent channel,
 * os_require_quiesce).
 */
static struct image *
snap_new_record(const struct caller *who, const struct instance *inst,
                const struct image *src, const struct snapshot_opts *opts,
                struct error **errp)
{
    struct image *img = xcalloc(1, sizeof(*img));
    const char *base = src ? image_prop(src, "base_image_ref") : NULL;
    CLEANUP_FREE char *mem = xasprintf("%lld", (long long)inst->memory_mb);
    CLEANUP_FREE char *cpus = xasprintf("%d", inst->cpus);
    size_t i;

    util_uuid_new(img->id);
    img->name = xstrdup(opts->name);
    img->status = xstrdup("queued");
    img->disk_format = xstrdup("qcow2");
    img->container_format = xstrdup("bare");
    img->visibility = xstrdup("private");
    img->owner = inst->project_id ? xstrdup(inst->project_id)
                 : who->project_id ? xstrdup(who->project_id)
                                   : NULL;
    img->size = -1;
    img->virtual_size = -1;
    img->min_ram = src ? src->min_ram : 0;
    img->min_disk = src ? src->min_disk : 0;
    for (i = 0; src && i < src->nprops; i++) {
        if (props_inherited_by_snapshot(src->props[i].key) &&
            image_prop_set(img, src->props[i].key, src->props[i].value,
                           errp) < 0) {
            goto fail;
        }
    }
    if (src == NULL &&
        ((servers_has_agent(inst) &&
          image_prop_set(img, PROP_HW_QEMU_GUEST_AGENT, "yes", errp) < 0) ||
         (servers_requires_quiesce(inst) &&
          image_prop_set(img, PROP_OS_REQUIRE_QUIESCE, "yes", errp) < 0))) {
        goto fail;
    }
    /* base_image_ref stays the original base through generations. */
    if (image_prop_set(img, PROP_INSTANCE_UUID, inst->id, errp) < 0 ||
        (src && image_prop_set(img, PROP_BASE_IMAGE_REF,
                               base ? base : src->id, errp) < 0) ||
        image_prop_set(img, PROP_IMAGE_TYPE,
                       opts->image_type ? opts->image_type : "snapshot",
                       errp) < 0 ||
        image_prop_set(img, PROP_IMAGE_LOCATION, "snapshot", errp) < 0 ||
        image_prop_set(img, PROP_VMSNAP_MEMORY_MB, mem, errp) < 0 ||
        image_prop_set(img, PROP_VMSNAP_CPUS, cpus, errp) < 0) {
        goto fail;
    }
    for (i = 0; i < opts->nextra; i++) {
        if (image_prop_set(img, opts->extra_props[i].key,
                           opts->extra_props[i].value, errp) < 0) {
            goto fail;
        }
    }
    return img;

fail:
    image_free(img);
    return NULL;
}

int
snapshot_request(struct svc *svc, const struct caller *who, const char *ref,
                 const struct snapshot_opts *opts, struct image **imgp,
                 struct task **taskp, struct error **errp)
{
    return snapshot_request_kind(svc, who, ref, opts, &snapshot_task_kind,
                                 imgp, taskp, errp);
}

int
snapshot_request_kind(struct svc *svc, const struct caller *who,
                      const char *ref, const struct snapshot_opts *opts,
                      const struct task_kind *kind, struct image **imgp,
                      struct task **taskp, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct instance *inst = NULL;
    struct image *src = NULL, *img = NULL;
    CLEANUP_JSON_PUT json_object *req = NULL;
    struct lock *ilk = NULL;
    bool tasked = false, inserted = false;
    char action[ACTIONS_REQ_LEN] = "";
    struct error *err = NULL;

    if (opts->freeze_timeout_ms < 0 || opts->freeze_timeout_ms > 600000) {
        error_setg(errp, ERR_INVALID,
                   "the freeze timeout must be between 1 and 600 s");
        return -1;
    }
    if (servers_find(svc, who, ref, &inst, errp) < 0) {
        return -1;
    }
    if (svc_must_be_local(svc, inst, errp) < 0) {
        instance_free(inst);
        return -1;
    }
    actions_start(svc, who, inst->id,
                  opts->backup_type ? "createBackup" : "createImage",
                  action);
    /* An adopted domain may have no image it was made from. */
    if (snap_check_name(svc, opts->name, &err) < 0 ||
        (inst->image_id &&
         catalog_image_get(cat, inst->image_id, &src, &err) < 0)) {
        goto fail;
    }
    img = snap_new_record(who, inst, src, opts, &err);
    if (img == NULL) {
        goto fail;
    }
    /* One snapshot at a time: the compare-and-set refuses a busy server
     * before anything is recorded.
     */
    if (catalog_instance_set_task(cat, inst->id, NULL, "image_snapshot",
                                  &err) < 0) {
        goto fail;
    }
    tasked = true;
    /* Held until the task exists: a queued image with its lock free and
     * no task is one whose maker died, to any other process's recovery.
     */
    if (svc_lock(svc, "image", img->id, false, &ilk, &err) < 0) {
        goto fail;
    }
    /* The name is checked again with the insert, in one transaction, so
     * that two requests cannot both take it (audit L13); the first
     * check above failed early, before the server was marked busy.
     */
    if (catalog_begin(cat, &err) < 0) {
        goto fail;
    }
    if (snap_check_name(svc, opts->name, &err) < 0 ||
        catalog_image_insert(cat, img, &err) < 0) {
        catalog_rollback(cat);
        goto fail;
    }
    if (catalog_commit(cat, &err) < 0) {
        goto fail;
    }
    inserted = true;
    req = xjson_object();
    xjson_add(req, "server", xjson_string(inst->id));
    xjson_add(req, "image", xjson_string(img->id));
    xjson_add(req, "all_volumes", xjson_bool(opts->all_volumes));
    xjson_add(req, "freeze_timeout_ms", xjson_int64(opts->freeze_timeout_ms));
    if (opts->incremental) {
        xjson_add(req, "incremental", xjson_bool(true));
    }
    xjson_add(req, "delete_failed", xjson_bool(opts->delete_failed));
    xjson_add(req, "request_id", xjson_string(action));
    if (opts->backup_type) {
        xjson_add(req, "backup_type", xjson_string(opts->backup_type));
        xjson_add(req, "rotation", xjson_int64(opts->rotation));
    }
    if (*svc_config(svc)->test_request_pause != '\0') {
        svc_test_pause(svc_config(svc)->test_request_pause,
                       "snapshot request before its task");
    }
    if (task_create(svc, who, kind->name, "server", inst->id, img->id, req,
                    taskp, &err) < 0 ||
        catalog_image_get(cat, img->id, imgp, &err) < 0) {
        goto fail;
    }
    lock_release(ilk);
    image_free(img);
    image_free(src);
    instance_free(inst);
    return 0;

fail:
    /* Twice: a transient disk error passes. */
    if (inserted && catalog_image_delete(cat, img->id, NULL) < 0 &&
        catalog_image_delete(cat, img->id, NULL) < 0) {
        svc_left_for_recovery("image", img->id);
    }
    if (tasked) {
        catalog_instance_set_task(cat, inst->id, "image_snapshot", NULL,
                                  NULL);
    }
    lock_release(ilk);
    actions_finish(svc, inst->id, action, err);
    error_propagate(errp, err);
    image_free(img);
    image_free(src);
    instance_free(inst);
    return -1;
}

/* ---- The work --------------------------------------------------------- */

/* Disk 0, and with all_volumes one volume snapshot record per attached
 * volume in device order, tagged with the image's ID
 * (instance_snapshot_id) and the server's; the image's
 * block_device_mapping names them, so the set is found from either
 * side.  Every target is an object being made in the image store.
 */
/* Add SOURCE to the snapshot as a volume snapshot of volume VOLUME_ID
 * (named NAME, of SIZE bytes), recorded as creating, and its entry of
 * the block_device_mapping at BDM[*NB] with DEVICE_INDEX.
 */
static int
snap_add_vsnap(struct snap *s, const struct hv_disk *source,
               const char *volume_id, const char *name, int64_t size,
               int device_index, struct bdm_entry *bdm, size_t *nb,
               struct error **errp)
{
    struct snap_disk *d = &s->disks[s->ndisks];
    struct volume_snapshot *vs = xcalloc(1, sizeof(*vs));

    d->source = source;
    d->vsnap = vs;
    s->ndisks++;
    util_uuid_new(vs->id);
    vs->name = xasprintf("%s-%s", s->img->name, name);
    vs->volume_id = xstrdup(volume_id);
    vs->status = xstrdup("creating");
    vs->size = size;
    vs->project_id = s->img->owner ? xstrdup(s->img->owner) : NULL;
    d->key = xasprintf("volume-snapshots/%s.qcow2", vs->id);
    if (volume_snapshot_meta_set(vs, META_INSTANCE_SNAPSHOT_ID, s->img->id,
                                 errp) < 0 ||
        volume_snapshot_meta_set(vs, PROP_INSTANCE_UUID, s->inst->id,
                                 errp) < 0 ||
        catalog_volume_snapshot_insert(svc_catalog(s->svc), vs, errp) < 0) {
        return -1;
    }
    d->inserted = true;
    memset(&bdm[*nb], 0, sizeof(bdm[*nb]));
    bdm[*nb].device_index = device_index;
    snprintf(bdm[*nb].volume_id, sizeof(bdm[*nb].volume_id), "%s",
             volume_id);
    snprintf(bdm[*nb].snapshot_id, sizeof(bdm[*nb].snapshot_id), "%s",
             vs->id);
    bdm[*nb].size = size;
    bdm[*nb].volume_name = (char *)name; /* borrowed until set */
    (*nb)++;
    return 0;
}

/* The lowest device index from 1 that no entry of BDM (N) uses, or 0. */
static int
snap_free_index(const struct bdm_entry *bdm, size_t n)
{
    int idx;
    size_t i;
    bool used;

    for (idx = 1; idx <= SERVERS_MAX_VOLUMES; idx++) {
        used = false;
        for (i = 0; i < n && !used; i++) {
            used = bdm[i].device_index == idx;
        }
        if (!used) {
            return idx;
        }
    }
    return 0;
}

/* Disk 0, and with all_volumes one volume snapshot record per attached
 * volume in device order, tagged with the image's ID
 * (instance_snapshot_id) and the server's; the image's
 * block_device_mapping names them, so the set is found from either
 * side.  An adopted server's own disks other than its root are taken as
 * volumes too, each named by its target ("vdb") and by the ID the
 * services give it (servers.h): all its disks at one instant.  Every
 * target is an object being made in the image store.
 */
static int
snap_plan_disks(struct snap *s, struct error **errp)
{
    struct catalog *cat = svc_catalog(s->svc);
    struct bdm_entry bdm[SERVERS_MAX_VOLUMES];
    const struct servers_domain *sd = &s->dom;
    size_t i, nb = 0;

    s->disks[0].source = &sd->d.disks[0];
    s->disks[0].key = images_key(s->img->id, "qcow2");
    s->ndisks = 1;
    if (s->all_volumes && sd->nleft_out > 0) {
        error_setg(errp, ERR_INVALID,
                   "server %s has %zu disks more than the %d vmsnap can "
                   "snapshot with its root disk",
                   s->inst->name, sd->nleft_out, SERVERS_MAX_VOLUMES);
        return -1;
    }
    for (i = 0; s->all_volumes && i < sd->nvols; i++) {
        const struct volume *vol = sd->vols[i];

        if (snap_add_vsnap(s, &sd->d.disks[1 + i], vol->id,
                           vol->name ? vol->name : vol->id, vol->size,
                           vol->device_index, bdm, &nb, errp) < 0) {
            return -1;
        }
    }
    for (i = 0; s->all_volumes && i < sd->nown; i++) {
        const struct hv_disk *dk = &sd->d.disks[1 + sd->nvols + i];
        const char *target = sd->found.disks[0].target;
        struct qemuimg_info info;
        size_t j;
        int r;

        /* Its name in the domain, for the snapshot's name. */
        for (j = 0; j < sd->found.ndisks; j++) {
            if (strcmp(sd->found.disks[j].path, dk->path) == 0) {
                target = sd->found.disks[j].target;
            }
        }
        if (qemuimg_info(dk->path, dk->format, &info, errp) < 0) {
            error_prepend(errp, "disk %s of server %s: ", target,
                          s->inst->name);
            return -1;
        }
        r = snap_add_vsnap(s, dk, dk->id, target, info.virtual_size,
                           snap_free_index(bdm, nb), bdm, &nb, errp);
        qemuimg_info_clear(&info);
        if (r < 0) {
            return -1;
        }
    }
    if (nb > 0 && catalog_image_set_bdm(cat, s->img->id, bdm, nb, errp) < 0) {
        return -1;
    }
    if (s->chunks) {
        return 0;       /* snap_plan_store: no file, an index */
    }
    for (i = 0; i < s->ndisks; i++) {
        int r;

        if (blob_create(svc_blob(s->svc), s->disks[i].key, &s->disks[i].path,
                        errp) < 0) {
            return -1;
        }
        s->disks[i].copy.kind = DISKCOPY_QCOW2;
        s->disks[i].copy.path = s->disks[i].path;
        /* An object store receives the image while the copy writes it
         * (the copy knows the file's size before its first byte): the
         * commit then only waits for the end of the upload.
         */
        s->disks[i].follow = file_follow_new();
        r = blob_send_early(svc_blob(s->svc), s->disks[i].key,
                            s->disks[i].path, s->disks[i].follow, errp);
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            file_follow_free(s->disks[i].follow);
            s->disks[i].follow = NULL;
        }
        s->disks[i].copy.follow = s->disks[i].follow;
    }
    return 0;
}

/* A backup into the chunk store: each disk full, or incremental when its
 * chain from the server's last backup is sound (store.h).
 */
static int
snap_plan_store(struct snap *s, bool running, struct error **errp)
{
    const struct config *cfg = svc_config(s->svc);
    size_t i;

    s->cs = store_open(s->svc, true, errp);
    if (s->cs == NULL) {
        return -1;
    }
    for (i = 0; i < s->ndisks; i++) {
        if (store_plan_backup(s->svc, running ? s->hv : NULL, &s->dom.d,
                              s->disks[i].source, i,
                              s->disks[i].vsnap ? s->disks[i].vsnap->volume_id
                                                : NULL,
                              s->inst, s->img, &s->plans[i], errp) < 0) {
            return -1;
        }
    }
    if (running && hv_one_checkpoint(s->hv)) {
        store_plans_one_chain(s->plans, s->ndisks);
    }
    for (i = 0; i < s->ndisks; i++) {
        struct snap_disk *d = &s->disks[i];
        const struct store_plan *plan = &s->plans[i];

        d->copy.kind = DISKCOPY_CHUNKS;
        d->copy.store = s->cs;
        d->copy.index = plan->index;
        d->copy.parent = plan->parent_index;
        /* The hook pauses the last disk: every index but its own is
         * committed then.
         */
        if (*cfg->test_backup_pause != '\0' && i + 1 == s->ndisks) {
            d->copy.before_commit = store_test_pause;
            d->copy.before_commit_opaque = cfg->test_backup_pause;
        }
        if (plan->full_reason) {
            log_debug("backup", "%s: disk %zu: full backup: %s", s->img->id,
                      i, plan->full_reason);
        }
    }
    return 0;
}

/* Does the server have to be quiesced?  Captured from its image at boot,
 * set on that image since, or set on the domain itself (an adopted
 * server's os_require_quiesce property, read from the driver now): the
 * stricter wins.
 */
static bool
snap_must_quiesce(struct snap *s)
{
    struct image *src = NULL;
    bool must = servers_requires_quiesce(s->inst) || s->dom.require_quiesce;

    if (!must && s->inst->image_id &&
        catalog_image_get(svc_catalog(s->svc), s->inst->image_id, &src,
                          NULL) == 0) {
        const char *v = image_prop(src, "os_require_quiesce");

        must = v && strcmp(v, "yes") == 0;
        image_free(src);
    }
    return must;
}

/* Record the facts of the point in time on the image and move it to
 * saving.
 */
static int
snap_record_point(struct snap *s, const char *mode, bool quiesced,
                  int64_t frozen_ms, int64_t held_ms, const char *when,
                  struct error **errp)
{
    CLEANUP_FREE char *fms = xasprintf("%lld", (long long)frozen_ms);
    CLEANUP_FREE char *hms = xasprintf("%lld", (long long)held_ms);
    CLEANUP_FREE char *cms = xasprintf("%lld", (long long)s->freeze_call_ms);
    CLEANUP_FREE char *xms = xasprintf("%lld", (long long)s->fix_ms);
    struct prop set[7] = {
        {(char *)PROP_VMSNAP_MODE, (char *)mode},
        {(char *)PROP_VMSNAP_QUIESCED, (char *)(quiesced ? "yes" : "no")},
        {(char *)PROP_VMSNAP_FREEZE_MS, fms},
        {(char *)PROP_VMSNAP_POINT_IN_TIME, (char *)when},
        {(char *)PROP_VMSNAP_FIX_MS, xms},
        {(char *)PROP_VMSNAP_HOLD_MS, hms},
        {(char *)PROP_VMSNAP_FREEZE_CALL_MS, cms},
    };
    size_t n = strcmp(mode, "live") == 0 ? 5 : 4;

    if (quiesced && strcmp(mode, "live") == 0) {
        n = 7;
    }

    if (snap_set_props(s, set, n, errp) < 0 ||
        catalog_image_transition(svc_catalog(s->svc), s->img->id, "queued",
                                 "saving", NULL, errp) < 0) {
        return -1;
    }
    task_phase(s->task, "copy");
    return 0;
}

/* The cold path: the server is stopped, its disks at rest.  They are
 * consistent only if the guest shut down cleanly: as the driver says
 * (ST, libvirt's shut-off reason) or, when it cannot tell, as recorded
 * when vmsnap stopped it (servers.h); disks left by a forced stop or a
 * dead QEMU are crash-consistent.  The disks (files or block devices,
 * with their backing chains) are read through qemu-nbd (diskcopy.h).
 */
static int
snap_cold(struct snap *s, const struct hv_state *st, bool must,
          struct error **errp)
{
    const struct config *cfg = svc_config(s->svc);
    bool clean = st->clean_off > 0 ||
                 (st->clean_off == 0 && servers_stopped_cleanly(s->inst));
    int64_t fully[SNAP_MAX_DISKS] = {0};
    char when[UTIL_TIME_LEN];
    int64_t need = 0;
    size_t i;

    if (!clean) {
        if (must) {
            error_setg(errp, ERR_CONFLICT,
                       "os_require_quiesce=yes, but server %s was not shut "
                       "down cleanly: its disks are only crash-consistent",
                       s->inst->name);
            return -1;
        }
        task_warn(s->task,
                  "server %s was not shut down cleanly: the snapshot is "
                  "crash-consistent",
                  s->inst->name);
    }
    /* What the copies take, measured before anything is written, must
     * fit beside the reserve (audit H4); each copy is bounded by its
     * disk's virtual size, as the copy path writes no more than it reads.
     */
    for (i = 0; i < s->ndisks; i++) {
        int64_t req = 0;

        if (qemuimg_measure(s->disks[i].source->path,
                            s->disks[i].source->format, "qcow2", &req,
                            &fully[i], errp) < 0) {
            return -1;
        }
        need += req;
    }
    if (images_check_space(s->svc, need, errp) < 0) {
        return -1;
    }
    util_now_iso8601(when);
    if (snap_record_point(s, "cold", clean, 0, 0, when, errp) < 0) {
        return -1;
    }
    s->copy_started_ms = sock_now_ms();
    /* The copy path reads each disk through qemu-nbd: holes skipped, the
     * image hashed (or the chunks stored) as it is written.
     */
    for (i = 0; i < s->ndisks; i++) {
        struct diskcopy_opts o = {
            .progress = task_progress(s->task),
            .progress_from = 100.0 * (double)i / (double)s->ndisks,
            .progress_to = 100.0 * (double)(i + 1) / (double)s->ndisks,
            .rate_limit = cfg->copy_rate_limit,
            .inflight = cfg->copy_inflight,
            .nice = cfg->copy_nice,
            .stall_ms = cfg->copy_stall_ms,
            .sync = true,
            /* test hook: the copy fails once it has read 4 MiB */
            .fail_after = cfg->test_break_disk == (int)i ? 4 << 20 : 0,
        };
        struct diskcopy_source *src = diskcopy_source_file(
            s->disks[i].source->path, s->disks[i].source->format,
            svc_dir(s->svc), errp);
        int r;

        if (src == NULL) {
            return -1;
        }
        r = diskcopy_run(src, &s->disks[i].copy, &o, errp);
        diskcopy_source_close(src);
        if (r < 0) {
            error_prepend(errp, "copy of disk %s: ",
                          s->disks[i].source->path);
            return -1;
        }
    }
    return 0;
}

/* Flush the guest's dirty data just before the freeze, where its agent
 * allows guest-exec (snapshot.presync, on by default): FIFREEZE then has
 * little left to write, and the window is shorter, whatever the guest
 * had in its page cache.  Best effort, outside the window: a guest that
 * refuses or is slow is frozen all the same.
 */
static void
snap_presync(struct snap *s, struct agent *a)
{
    struct agent_exec_result res = {0};
    struct error *err = NULL;

    if (!svc_config(s->svc)->presync) {
        return;
    }
    if (agent_exec(a, "/bin/sync", NULL, NULL, PRESYNC_TIMEOUT_MS, &res,
                   &err) < 0) {
        log_debug("snapshot", "%s: no sync before the freeze: %s",
                  s->inst->name, error_msg(err));
        error_free(err);
    }
    agent_exec_result_clear(&res);
}

/* Connect to the agent of a running server first thing, before the
 * work that comes before its freeze (the chain's check, the targets):
 * qemu-ga takes up to 100 ms to notice a new client (qga.h), which that
 * work now hides.  s->agent, or s->agent_err saying why not; the
 * quiesce reports it.
 */
static void
snap_agent_open(struct snap *s, bool paused)
{
    if (paused) {
        error_setg(&s->agent_err, ERR_CONFLICT,
                   "server %s is paused, so its agent cannot freeze",
                   s->inst->name);
        return;
    }
    if (!s->dom.d.agent) {
        error_setg(&s->agent_err, ERR_INVALID,
                   servers_is_adopted(s->inst)
                       ? "server %s has no guest agent (its domain lacks "
                         "the org.qemu.guest_agent.0 channel)"
                       : "server %s has no guest agent (its image lacks "
                         "hw_qemu_guest_agent=yes)",
                   s->inst->name);
        return;
    }
    s->agent = hv_agent_open(s->hv, &s->dom.d, AGENT_CONNECT_MS,
                             AGENT_OPEN_SYNC_LATER, &s->agent_err);
    if (s->agent == NULL) {
        error_prepend(&s->agent_err, "guest agent: ");
    }
}

/* Try to quiesce through s->agent; NULL (with *QERR set) when the guest
 * cannot be frozen.  The agent stays open for the thaw.
 */
static struct quiesce *
snap_quiesce(struct snap *s, struct error **qerr)
{
    const struct config *cfg = svc_config(s->svc);
    struct quiesce *qs;
    int64_t t0;

    if (s->agent == NULL) {
        error_propagate(qerr, s->agent_err);
        s->agent_err = NULL;
        return NULL;
    }
    /* The agent's answer to the connection's synchronisation: one that
     * does not answer fails here, as fast as it did at the connection.
     */
    if (agent_ping(s->agent, AGENT_CONNECT_MS, qerr) < 0) {
        error_prepend(qerr, "guest agent: ");
        return NULL;
    }
    snap_presync(s, s->agent);
    /* The freeze call alone, the presync before it not counted. */
    t0 = sock_now_ms();
    qs = quiesce_freeze(s->agent, s->freeze_timeout_ms, cfg->max_frozen_ms,
                        qerr);
    s->freeze_call_ms = sock_now_ms() - t0;
    return qs;
}

/* A test hook: hold the freeze (test.hold_frozen_ms), so that tests can
 * kill us while the guest is frozen.
 */
static void
snap_test_hold(struct snap *s)
{
    int ms = svc_config(s->svc)->test_hold_frozen_ms;

    if (ms > 0) {
        log_warnx("test: guest frozen, holding %d ms", ms);
        sock_sleep_ms(ms, SOCK_NO_DEADLINE);
    }
}

/* The live path up to the fixed point in time (steps 1 to 4). */
static int
snap_live(struct snap *s, bool must, struct error **errp)
{
    const struct config *cfg = svc_config(s->svc);
    struct hv_backup_disk bd[SNAP_MAX_DISKS];
    struct hv_backup_spec spec = {0};
    struct error *qerr = NULL, *terr = NULL;
    struct quiesce *qs;
    bool quiesced;
    int64_t frozen_ms = 0, held_ms = 0, t0;
    char when[UTIL_TIME_LEN];
    size_t i;
    int r;

    for (i = 0; i < s->ndisks; i++) {
        memset(&bd[i], 0, sizeof(bd[i]));
        bd[i].source = s->disks[i].source;
        bd[i].target = s->disks[i].path;
        bd[i].copy = &s->disks[i].copy;
    }
    for (i = 0; s->chunks && i < s->ndisks; i++) {
        bd[i].bitmap_since = s->plans[i].since;
        bd[i].bitmap_new = s->plans[i].bitmap_new;
        /* One bit per chunk: a coarser bitmap would make an incremental
         * read and store more than changed, a finer one is no use.
         */
        bd[i].bitmap_granularity = chunk_store_chunk_size(s->cs);
    }
    spec.tag = s->img->id;
    spec.disks = bd;
    spec.ndisks = s->ndisks;
    spec.rate_limit = cfg->copy_rate_limit;
    spec.copy_inflight = cfg->copy_inflight;
    spec.copy_nice = cfg->copy_nice;
    spec.copy_yield_pct = cfg->copy_yield_pct;
    spec.copy_stall_ms = cfg->copy_stall_ms;
    spec.break_disk = cfg->test_break_disk;
    task_phase(s->task, "prepare");
    if (hv_backup_prepare(s->hv, &s->dom.d, &spec, &s->backup, errp) < 0) {
        return -1;
    }
    qs = snap_quiesce(s, &qerr);
    quiesced = qs != NULL;
    if (qs == NULL) {
        agent_close(s->agent);
        s->agent = NULL;
        if (must) {
            error_prepend(&qerr, "os_require_quiesce=yes and the guest "
                                 "cannot be quiesced: ");
            error_propagate(errp, qerr);
            return -1;
        }
        task_warn(s->task, "%s: the snapshot is crash-consistent, not "
                           "quiesced",
                  error_msg(qerr));
        error_free(qerr);
    } else {
        /* Nothing slow in the window: not even a catalog write. */
        snap_test_hold(s);
    }
    t0 = sock_now_ms();
    r = hv_backup_fix(s->backup, errp);
    s->fix_ms = sock_now_ms() - t0;
    util_now_iso8601(when);
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
            task_warn(s->task, "%s", error_msg(terr));
            error_free(terr);
        }
    }
    agent_close(s->agent);
    s->agent = NULL;
    if (r < 0) {
        return -1;
    }
    s->copy_started_ms = sock_now_ms();
    return snap_record_point(s, "live", quiesced, frozen_ms, held_ms, when,
                             errp);
}

/* A backup in the chunk store: every index is committed; record them,
 * the volume snapshots available first and the image last.
 */
static int
snap_activate_store(struct snap *s, struct error **errp)
{
    size_t i;

    for (i = 0; i < s->ndisks; i++) {
        if (s->disks[i].copy.info.csum[0] == '\0') {
            error_setg(errp, ERR_INVALID,
                       "the %s driver cannot copy into the chunk store",
                       hv_name(s->hv));
            return -1;
        }
    }
    for (i = 1; i < s->ndisks; i++) {
        if (store_record_volume(s->svc, s->disks[i].vsnap->id,
                                s->disks[i].vsnap->size, &s->plans[i],
                                &s->disks[i].copy, errp) < 0) {
            return -1;
        }
    }
    return store_record_backup(s->svc, s->img->id, &s->plans[0],
                               &s->disks[0].copy, errp);
}

/* Commit every target to the image store, make the volume snapshots
 * available and, last, the image active: it appears only when its whole
 * set is there.
 */
static int
snap_activate(struct snap *s, struct error **errp)
{
    struct catalog *cat = svc_catalog(s->svc);
    CLEANUP_FREE char *ms = xasprintf(
        "%lld", (long long)(sock_now_ms() - s->copy_started_ms));
    CLEANUP_FREE char *yielded = NULL;
    struct prop set[2] = {{(char *)PROP_VMSNAP_COPY_MS, ms},
                          {(char *)PROP_VMSNAP_COPY_YIELD_MS, NULL}};
    int64_t y = 0;
    size_t i;

    for (i = 0; i < s->ndisks; i++) {
        y += s->disks[i].copy.yielded_ms;
    }
    set[1].value = yielded = xasprintf("%lld", (long long)y);
    if (snap_set_props(s, set, 2, errp) < 0) {
        return -1;
    }
    if (s->chunks) {
        return snap_activate_store(s, errp);
    }
    for (i = 0; i < s->ndisks; i++) {
        struct snap_disk *d = &s->disks[i];

        if (blob_commit(svc_blob(s->svc), d->key, d->path, NULL,
                        &d->location, errp) < 0) {
            return -1;
        }
    }
    /* The uploads take long: are we still the ones making it? */
    if (snap_check_locks(s, errp) < 0) {
        return -1;
    }
    for (i = 1; i < s->ndisks; i++) {
        struct volume_snapshot_data vd = {
            .size = s->disks[i].vsnap->size,
            .location = s->disks[i].location,
        };

        if (catalog_volume_snapshot_set_data(cat, s->disks[i].vsnap->id, &vd,
                                             errp) < 0 ||
            catalog_volume_snapshot_transition(cat, s->disks[i].vsnap->id,
                                               "creating", "available",
                                               errp) < 0) {
            return -1;
        }
    }
    /* The copy path hashed the file as it wrote it (when the driver
     * used it): no second read.
     */
    return images_activate_hashed(
        s->svc, s->img->id, "saving", "qcow2", s->disks[0].location,
        s->disks[0].path,
        s->disks[0].copy.qcow2.md5[0] ? s->disks[0].copy.qcow2.md5 : NULL,
        s->disks[0].copy.qcow2.md5[0] ? s->disks[0].copy.qcow2.sha512 : NULL,
        task_progress(s->task), errp);
}

/* Undo everything: all or nothing.  In the foreground the image record
 * goes (the command reports why); in the background, where nobody sees
 * the error, it stays as killed with REASON.  Volume snapshots never
 * stay.
 */
static void
snap_cleanup_failed(struct snap *s, const char *reason)
{
    struct catalog *cat = svc_catalog(s->svc);
    bool gone;
    size_t i;

    hv_backup_abort(s->backup);
    s->backup = NULL;
    for (i = 0; i < s->ndisks; i++) {
        struct snap_disk *d = &s->disks[i];

        if (s->chunks && s->cs && d->copy.info.csum[0] != '\0') {
            /* Committed, and now nobody's: gc frees its chunks. */
            chunk_store_remove_index(s->cs, s->plans[i].index, NULL);
        } else if (d->location) {
            blob_remove(svc_blob(s->svc), d->location, NULL);
        } else if (d->path) {
            blob_discard(svc_blob(s->svc), d->key);
            d->discarded = true;
        }
    }
    /* The image goes (or loses its mapping) first: the catalog keeps a
     * volume snapshot that an image's block_device_mapping names.
     */
    if (task_in_background(s->task) && !s->delete_failed) {
        catalog_image_set_bdm(cat, s->img->id, NULL, 0, NULL);
        gone = catalog_image_transition(cat, s->img->id, NULL, "killed",
                                        reason, NULL) == 0 ||
               catalog_image_transition(cat, s->img->id, NULL, "killed",
                                        reason, NULL) == 0;
    } else {
        gone = catalog_image_delete(cat, s->img->id, NULL) == 0 ||
               catalog_image_delete(cat, s->img->id, NULL) == 0;
    }
    /* Twice, above: a transient disk error passes.  Else the task's
     * recovery finishes it (the task is not marked done either).
     */
    if (!gone) {
        svc_left_for_recovery("image", s->img->id);
    }
    for (i = 0; i < s->ndisks; i++) {
        const char *id = s->disks[i].inserted ? s->disks[i].vsnap->id : NULL;

        if (id && catalog_volume_snapshot_delete(cat, id, NULL) < 0 &&
            catalog_volume_snapshot_delete(cat, id, NULL) < 0) {
            svc_left_for_recovery("volume snapshot", id);
        }
    }
}

static void
snap_free(struct snap *s)
{
    size_t i;

    for (i = 0; i < s->ndisks; i++) {
        if (s->disks[i].follow && !s->disks[i].location &&
            !s->disks[i].discarded) {
            /* Its sender must be gone before its follow (the failure's
             * cleanup, when there was one, stopped it already).
             */
            file_follow_fail(s->disks[i].follow, "the snapshot failed");
            blob_discard(svc_blob(s->svc), s->disks[i].key);
        }
        file_follow_free(s->disks[i].follow);
        free(s->disks[i].key);
        free(s->disks[i].path);
        free(s->disks[i].location);
        volume_snapshot_free(s->disks[i].vsnap);
    }
    servers_domain_clear(&s->dom);
    image_free(s->img);
    instance_free(s->inst);
    for (i = 0; i < SNAP_MAX_DISKS; i++) {
        store_plan_clear(&s->plans[i]);
    }
    chunk_store_close(s->cs);
    agent_close(s->agent);
    error_free(s->agent_err);
}

/* Read what the request names and check that it is still what it was:
 * the server busy with this snapshot, the image queued.
 */
static int
snap_load(struct snap *s, json_object *req, struct error **errp)
{
    struct catalog *cat = svc_catalog(s->svc);
    json_object *v;
    const char *server = NULL, *image = NULL;

    if (json_object_object_get_ex(req, "server", &v)) {
        server = json_object_get_string(v);
    }
    if (json_object_object_get_ex(req, "image", &v)) {
        image = json_object_get_string(v);
    }
    if (json_object_object_get_ex(req, "all_volumes", &v)) {
        s->all_volumes = json_object_get_boolean(v);
    }
    if (json_object_object_get_ex(req, "incremental", &v)) {
        s->chunks = json_object_get_boolean(v);
    }
    if (json_object_object_get_ex(req, "delete_failed", &v)) {
        s->delete_failed = json_object_get_boolean(v);
    }
    if (json_object_object_get_ex(req, "request_id", &v) &&
        json_object_is_type(v, json_type_string)) {
        s->request_id = json_object_get_string(v);
    }
    s->freeze_timeout_ms = svc_config(s->svc)->freeze_timeout_ms;
    if (json_object_object_get_ex(req, "freeze_timeout_ms", &v) &&
        json_object_get_int(v) > 0) {
        s->freeze_timeout_ms = json_object_get_int(v);
    }
    if (!util_is_uuid(server) || !util_is_uuid(image)) {
        error_setg(errp, ERR_INVALID, "snapshot task without its server or "
                                      "image");
        return -1;
    }
    if (catalog_instance_get(cat, server, &s->inst, errp) < 0 ||
        catalog_image_get(cat, image, &s->img, errp) < 0) {
        return -1;
    }
    if (strcmp(s->img->status, "queued") != 0) {
        error_setg(errp, ERR_CONFLICT, "image %s is %s, not queued",
                   s->img->id, s->img->status);
        return -1;
    }
    return servers_domain(s->svc, s->inst, &s->dom, errp);
}

static int
snapshot_run(struct svc *svc, struct task_run *t, json_object *req,
             char **result, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct snap s = {.svc = svc, .task = t};
    struct lock *ilk = NULL, *mlk = NULL;
    struct error *local = NULL;
    struct hv_state st;
    bool must;
    int r = -1;

    s.hv = svc_hv(svc, &local);
    if (s.hv == NULL || snap_load(&s, req, &local) < 0 ||
        svc_lock(svc, "instance", s.inst->id, true, &ilk, &local) < 0 ||
        svc_lock(svc, "image", s.img->id, false, &mlk, &local) < 0) {
        goto fail;
    }
    s.ilk = ilk;
    s.mlk = mlk;
    *result = xstrdup(s.img->id);
    must = snap_must_quiesce(&s);
    if (snap_plan_disks(&s, &local) < 0 ||
        hv_state(s.hv, &s.dom.d, &st, &local) < 0 ||
        snap_check_locks(&s, &local) < 0) {
        goto fail;
    }
    if (strcmp(st.status, "SHUTOFF") == 0) {
        if ((s.chunks && snap_plan_store(&s, false, &local) < 0) ||
            snap_cold(&s, &st, must, &local) < 0) {
            goto fail;
        }
    } else if (strcmp(st.status, "ACTIVE") == 0 ||
               strcmp(st.status, "PAUSED") == 0) {
        snap_agent_open(&s, strcmp(st.status, "PAUSED") == 0);
        if ((s.chunks && snap_plan_store(&s, true, &local) < 0) ||
            snap_live(&s, must, &local) < 0 ||
            hv_backup_wait(s.backup, task_progress(t), &local) < 0 ||
            hv_backup_finish(s.backup, &local) < 0) {
            goto fail;
        }
        s.backup = NULL;
    } else {
        error_setg(&local, ERR_CONFLICT, "server %s is %s: cannot snapshot "
                                         "it",
                   s.inst->name, st.status);
        goto fail;
    }
    if (snap_check_locks(&s, &local) < 0 ||
        snap_activate(&s, &local) < 0) {
        goto fail;
    }
    r = 0;
    goto out;

fail:
    if (s.img) {
        snap_cleanup_failed(&s, error_msg(local));
    }
out:
    if (s.inst) {
        catalog_instance_set_task(cat, s.inst->id, "image_snapshot", NULL,
                                  NULL);
        actions_finish(svc, s.inst->id, s.request_id, r < 0 ? local : NULL);
    }
    lock_release(mlk);
    lock_release(ilk);
    snap_free(&s);
    error_propagate(errp, local);
    return r;
}

/* Is KEY true in TASK's request ("delete_failed": its image goes on
 * failure; "incremental": a backup into the chunk store)?
 */
static bool
snap_recover_flag(const struct task *task, const char *key)
{
    json_object *req = task->request ? json_tokener_parse(task->request)
                                     : NULL;
    json_object *v;
    bool r = req && json_object_object_get_ex(req, key, &v) &&
             json_object_get_boolean(v);

    json_object_put(req);
    return r;
}

/* The action of TASK on server ID ends with the process that died. */
static void
snap_recover_action(struct svc *svc, const char *id, const struct task *task)
{
    json_object *req = task->request ? json_tokener_parse(task->request)
                                     : NULL;
    json_object *v;
    struct error *err = NULL;

    if (req && json_object_object_get_ex(req, "request_id", &v) &&
        json_object_is_type(v, json_type_string)) {
        error_setg(&err, ERR_GENERIC, "the process making it died");
        actions_finish(svc, id, json_object_get_string(v), err);
        error_free(err);
    }
    json_object_put(req);
}

/* After a process died while making a snapshot: the image is killed, the
 * set's volume snapshots and the driver's leftovers removed, and the
 * server no longer busy.  Another host may run this (the dead process's
 * lease expired): every change is a compare-and-set, so that a snapshot
 * whose maker was only slow, and finished meanwhile, stays; and the
 * driver's leftovers are the server's own host's business: they are
 * reaped here when the server runs here, else marked for that host's
 * recovery (META_REAP_BACKUP).
 */
void
snapshot_recover(struct svc *svc, const struct task *task)
{
    struct catalog *cat = svc_catalog(svc);
    struct instance *inst = NULL;
    struct image *img = NULL;
    struct hv *hv = NULL;
    bool killed = false;

    if (task->image_id &&
        catalog_image_get(cat, task->image_id, &img, NULL) == 0 &&
        strcmp(img->status, "active") != 0 &&
        strcmp(img->status, "killed") != 0) {
        /* A task abandoned before it ran says why; else its runner died. */
        const char *why = task->error && *task->error
                              ? task->error
                              : "the process making it died";

        killed = catalog_image_transition(cat, img->id, img->status,
                                          "killed", why, NULL) == 0;
    }
    if (killed) {
        catalog_image_set_bdm(cat, img->id, NULL, 0, NULL);
        /* Killed by the compare-and-set above; a request that asked for
         * its image to go on failure has it deleted.
         */
        if (snap_recover_flag(task, "delete_failed")) {
            catalog_image_delete(cat, img->id, NULL);
        }
        if (snap_recover_flag(task, "incremental")) {
            store_forget_all(svc, img->id);
        }
        if (img->location) {
            blob_remove(svc_blob(svc), img->location, NULL);
        } else {
            CLEANUP_FREE char *key = images_key(img->id, "qcow2");

            blob_discard(svc_blob(svc), key);
        }
        volumes_snapshot_delete_set(svc, img->id);
    }
    if (task->target_id &&
        catalog_instance_get(cat, task->target_id, &inst, NULL) == 0) {
        struct servers_domain sd;

        if (img && svc_is_local(svc, inst)) {
            hv = svc_hv(svc, NULL);
        }
        if (hv && servers_domain(svc, inst, &sd, NULL) == 0) {
            hv_backup_reap(hv, &sd.d, img->id, NULL);
            servers_domain_clear(&sd);
        } else if (img && !svc_is_local(svc, inst)) {
            struct prop mark = {(char *)META_REAP_BACKUP, img->id};

            catalog_instance_set_meta(cat, inst->id, &mark, 1, NULL, 0,
                                      NULL);
        }
        if (inst->task_state &&
            strcmp(inst->task_state, "image_snapshot") == 0) {
            catalog_instance_set_task(cat, inst->id, "image_snapshot", NULL,
                                      NULL);
        }
        snap_recover_action(svc, inst->id, task);
    }
    image_free(img);
    instance_free(inst);
}

const struct task_kind snapshot_task_kind = {
    .name = "image_snapshot",
    .run = snapshot_run,
    .recover = snapshot_recover,
};

int
snapshot_delete_image(struct svc *svc, const struct caller *who,
                      const char *ref, struct error **errp)
{
    struct image *img = NULL;
    char id[UTIL_UUID_LEN];

    if (images_find(svc, who, ref, &img, errp) < 0) {
        return -1;
    }
    snprintf(id, sizeof(id), "%s", img->id);
    if (images_delete(svc, who, id, errp) < 0) {
        image_free(img);
        return -1;
    }
    /* A backup in the chunk store: its indexes go now, its chunks at
     * the next gc. */
    store_forget(svc, img);
    image_free(img);
    volumes_snapshot_delete_set(svc, id);
    return 0;
}
