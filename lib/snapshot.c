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

#define DEFAULT_FREEZE_TIMEOUT_MS 10000
#define MAX_FROZEN_MS 60000   /* the watchdog thaws after this at most */
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

/* One snapshot in progress. */
struct snap {
    struct store *store;            /* data directory */
    const struct instance *inst;    /* the instance */
    const struct snapshot_opts *opts; /* what was asked */
    struct image *src;              /* the image the instance booted */
    struct image *img;              /* the new image's record */
    char *path;                     /* its data file */
    char node[48];                  /* target block node name */
    char job[48];                   /* backup job id */
    bool inserted;                  /* img is in the catalog */
    bool file_made;                 /* path exists */
    bool node_added;                /* node exists in QEMU */
    bool job_started;               /* job runs in QEMU */
    bool point_fixed;               /* the point in time is fixed */
    struct qmp *qmp;                /* operations monitor, live path */
    int64_t copy_started_ms;        /* when the copy began */
};

static int
snap_set_prop(struct snap *s, const char *key, const char *value,
              struct error **errp)
{
    return image_prop_set(s->img, key, value, errp);
}

/* The image record of the snapshot, in status queued. */
static int
snap_new_record(struct snap *s, struct error **errp)
{
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
    if (snap_set_prop(s, "instance_uuid", s->inst->id, errp) < 0 ||
        snap_set_prop(s, "base_image_ref", base ? base : s->src->id,
                      errp) < 0 ||
        snap_set_prop(s, "image_type",
                      s->opts->image_type ? s->opts->image_type : "snapshot",
                      errp) < 0 ||
        snap_set_prop(s, "image_location", "snapshot", errp) < 0) {
        return -1;
    }
    for (i = 0; i < s->opts->nextra; i++) {
        if (snap_set_prop(s, s->opts->extra_props[i].key,
                          s->opts->extra_props[i].value, errp) < 0) {
            return -1;
        }
    }
    s->path = store_image_path(s->store, s->img->id, "qcow2");
    snprintf(s->node, sizeof(s->node), "snap-%.8s", s->img->id);
    snprintf(s->job, sizeof(s->job), "snapjob-%.8s", s->img->id);
    if (s->path == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
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

/* Step 1: the target file and its block node, made before any freeze. */
static int
snap_prepare_target(struct snap *s, struct error **errp)
{
    CLEANUP_FREE char *root = store_instance_path(s->store, s->inst->id,
                                                  "root.qcow2");
    struct qemuimg_info info = {0};
    json_object *args, *file;
    int r;

    if (root == NULL ||
        qemuimg_info(root, "qcow2", &info, errp) < 0) {
        return -1;
    }
    r = qemuimg_create(s->path, "qcow2", info.virtual_size, errp);
    qemuimg_info_clear(&info);
    if (r < 0) {
        return -1;
    }
    s->file_made = true;
    args = json_object_new_object();
    file = json_object_new_object();
    json_object_object_add(file, "driver", json_object_new_string("file"));
    json_object_object_add(file, "filename", json_object_new_string(s->path));
    json_object_object_add(args, "driver", json_object_new_string("qcow2"));
    json_object_object_add(args, "node-name", json_object_new_string(s->node));
    json_object_object_add(args, "file", file);
    if (snap_qmp(s, "blockdev-add", args, errp) < 0) {
        return -1;
    }
    s->node_added = true;
    return 0;
}

/* Step 3: one transaction fixes the point in time of every disk. */
static int
snap_fix_point(struct snap *s, struct error **errp)
{
    json_object *args = json_object_new_object();
    json_object *actions = json_object_new_array();
    json_object *action = json_object_new_object();
    json_object *data = json_object_new_object();

    json_object_object_add(data, "job-id", json_object_new_string(s->job));
    json_object_object_add(data, "device", json_object_new_string("root"));
    json_object_object_add(data, "target", json_object_new_string(s->node));
    json_object_object_add(data, "sync", json_object_new_string("full"));
    json_object_object_add(action, "type",
                           json_object_new_string("blockdev-backup"));
    json_object_object_add(action, "data", data);
    json_object_array_add(actions, action);
    json_object_object_add(args, "actions", actions);
    if (snap_qmp(s, "transaction", args, errp) < 0) {
        return -1;
    }
    s->job_started = true;
    s->copy_started_ms = sock_now_ms();
    return 0;
}

/* True if OBJ (a job description or event data) is about job ID. */
static bool
snap_match_job_data(json_object *obj, const char *id)
{
    json_object *dev;

    return json_object_is_type(obj, json_type_object) &&
           json_object_object_get_ex(obj, "device", &dev) &&
           json_object_is_type(dev, json_type_string) &&
           strcmp(json_object_get_string(dev), id) == 0;
}

static bool
snap_match_job(json_object *ev, void *opaque)
{
    json_object *data;

    return json_object_object_get_ex(ev, "data", &data) &&
           snap_match_job_data(data, opaque);
}

/* Report the job's progress from query-block-jobs. */
static void
snap_poll_progress(struct snap *s)
{
    json_object *jobs = qmp_execute(s->qmp, "query-block-jobs", NULL,
                                    QMP_TIMEOUT_MS, NULL);
    size_t i, n;

    if (jobs == NULL || !json_object_is_type(jobs, json_type_array)) {
        json_object_put(jobs);
        return;
    }
    n = json_object_array_length(jobs);
    for (i = 0; i < n; i++) {
        json_object *j = json_object_array_get_idx(jobs, i);
        json_object *off, *len;

        if (snap_match_job_data(j, s->job) &&
            json_object_object_get_ex(j, "offset", &off) &&
            json_object_object_get_ex(j, "len", &len) &&
            json_object_get_int64(len) > 0) {
            progress_report(s->opts->progress, "copy",
                            100.0 * json_object_get_int64(off) /
                                json_object_get_int64(len));
        }
    }
    json_object_put(jobs);
}

/* Step 5: wait for the copy, reporting progress. */
static int
snap_wait_copy(struct snap *s, struct error **errp)
{
    json_object *ev = NULL, *data, *e;
    struct error *err = NULL;

    for (;;) {
        if (qmp_wait_event(s->qmp, "BLOCK_JOB_COMPLETED", snap_match_job,
                           s->job, POLL_MS, &ev, &err) == 0) {
            break;
        }
        if (error_get_class(err) != ERR_TIMEOUT) {
            error_prepend(&err, "copy of the disk: ");
            error_propagate(errp, err);
            return -1;
        }
        error_free(err);
        err = NULL;
        if (s->opts->progress) {
            snap_poll_progress(s);
        }
    }
    s->job_started = false;
    progress_report(s->opts->progress, "copy", 100);
    if (json_object_object_get_ex(ev, "data", &data) &&
        json_object_object_get_ex(data, "error", &e)) {
        error_setg(errp, ERR_PEER, "copy of the disk failed: %s",
                   json_object_get_string(e));
        json_object_put(ev);
        return -1;
    }
    json_object_put(ev);
    return 0;
}

/* Close the target node so QEMU flushes and lets go of the file. */
static int
snap_del_node(struct snap *s, struct error **errp)
{
    json_object *args = json_object_new_object();

    json_object_object_add(args, "node-name", json_object_new_string(s->node));
    if (snap_qmp(s, "blockdev-del", args, errp) < 0) {
        return -1;
    }
    s->node_added = false;
    return 0;
}

/* Undo what was done; record the failure REASON. */
static void
snap_cleanup_failed(struct snap *s, const char *reason)
{
    struct catalog *cat = store_catalog(s->store);

    if (s->job_started && s->qmp) {
        json_object *args = json_object_new_object();

        json_object_object_add(args, "device", json_object_new_string(s->job));
        json_object_object_add(args, "force", json_object_new_boolean(true));
        if (snap_qmp(s, "block-job-cancel", args, NULL) == 0) {
            json_object *ev = NULL;

            qmp_wait_event(s->qmp, "BLOCK_JOB_CANCELLED", snap_match_job,
                           s->job, QMP_TIMEOUT_MS, &ev, NULL);
            json_object_put(ev);
        }
    }
    if (s->node_added && s->qmp) {
        snap_del_node(s, NULL);
    }
    if (s->file_made) {
        unlink(s->path);
    }
    if (!s->inserted || cat == NULL) {
        return;
    }
    if (s->point_fixed) {
        /* The image was visible in saving: keep the record, killed, with
         * the reason "image show" prints.
         */
        catalog_image_set_status(cat, s->img->id, "killed", reason, NULL);
    } else {
        catalog_image_delete(cat, s->img->id, NULL);
    }
}

/* Record how long the copy took (vmsnap_copy_ms), hash the data and make
 * the image active.
 */
static int
snap_activate(struct snap *s, struct error **errp)
{
    char ms[32];

    snprintf(ms, sizeof(ms), "%lld",
             (long long)(sock_now_ms() - s->copy_started_ms));
    if (snap_set_prop(s, "vmsnap_copy_ms", ms, errp) < 0) {
        return -1;
    }
    return images_activate(s->store, s->img, s->path, s->opts->progress,
                           errp);
}

static void
snap_convert_progress(double pct, void *opaque)
{
    const struct snap *s = opaque;

    progress_report(s->opts->progress, "copy", pct);
}

/* The cold path: the instance is stopped, its disk at rest.  The disk is
 * consistent only if the guest shut down cleanly (compute_stop records
 * that); one left by a forced stop or a dead QEMU is crash-consistent.
 */
static int
snap_cold(struct snap *s, struct error **errp)
{
    CLEANUP_FREE char *root = store_instance_path(s->store, s->inst->id,
                                                  "root.qcow2");
    const char *require = image_prop(s->src, "os_require_quiesce");
    const char *how = instance_meta(s->inst, "shutdown");
    bool clean = how && strcmp(how, "clean") == 0;

    if (root == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    if (!clean) {
        if (require && strcmp(require, "yes") == 0) {
            error_setg(errp, ERR_CONFLICT,
                       "os_require_quiesce=yes, but server %s was not shut "
                       "down cleanly: its disk is only crash-consistent",
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
    s->file_made = true;
    s->copy_started_ms = sock_now_ms();
    return qemuimg_convert(root, "qcow2", s->path, "qcow2",
                           snap_convert_progress, s, errp);
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
    return quiesce_freeze(*g, timeout, MAX_FROZEN_MS, qerr);
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
    int64_t frozen_ms = 0, t_frozen;
    char when[UTIL_TIME_LEN], ms[32];
    int r;

    s->qmp = compute_qmp(s->store, s->inst, errp);
    if (s->qmp == NULL || snap_prepare_target(s, errp) < 0) {
        return -1;
    }
    qs = snap_quiesce(s, paused, &g, &qerr);
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
    if (qs && quiesce_thaw(qs, THAW_TIMEOUT_MS, &frozen_ms, &terr) < 0) {
        log_warnx("%s", error_msg(terr));
        error_free(terr);
    }
    qga_close(g);
    if (r < 0) {
        return -1;
    }
    s->point_fixed = true;
    snprintf(ms, sizeof(ms), "%lld", (long long)frozen_ms);
    if (snap_set_prop(s, "vmsnap_mode", "live", errp) < 0 ||
        snap_set_prop(s, "vmsnap_quiesced", qs ? "yes" : "no", errp) < 0 ||
        snap_set_prop(s, "vmsnap_freeze_ms", ms, errp) < 0 ||
        snap_set_prop(s, "vmsnap_point_in_time", when, errp) < 0) {
        return -1;
    }
    return snap_set_status(s, "saving", errp);
}

/* Step 5 of the live path: copy, close, activate. */
static int
snap_finish_live(struct snap *s, struct error **errp)
{
    if (snap_wait_copy(s, errp) < 0 || snap_del_node(s, errp) < 0) {
        return -1;
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
    if (pid != 0) {
        if (store_resume_catalog(s->store, errp) < 0) {
            return -1;
        }
        if (pid < 0) {
            error_setg_errno(errp, ERR_IO, errno, "fork");
            return -1;
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
    _exit(r < 0 ? 1 : 0);
}

int
snapshot_create(struct store *store, const struct instance *inst0,
                const struct snapshot_opts *opts, struct image **out,
                struct error **errp)
{
    struct catalog *cat = store_catalog(store);
    struct snap s = {.store = store, .opts = opts};
    struct instance *inst = NULL;
    struct compute_state st;
    struct error *err = NULL;
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
    if (catalog_instance_get(cat, inst0->id, &inst, errp) < 0) {
        goto out;
    }
    if (inst->task_state) {
        log_warnx("server %s: clearing task '%s' left by a dead process",
                  inst->name, inst->task_state);
        catalog_instance_set_task(cat, inst->id, inst->task_state, NULL,
                                  NULL);
    }
    if (catalog_instance_set_task(cat, inst->id, NULL, "image_snapshot",
                                  errp) < 0) {
        goto out;
    }
    tasked = true;
    s.inst = inst;
    if (snap_check_name(&s, errp) < 0 ||
        catalog_image_get(cat, inst->image_id, &s.src, errp) < 0 ||
        snap_new_record(&s, errp) < 0 ||
        catalog_image_insert(cat, s.img, errp) < 0) {
        goto fail;
    }
    s.inserted = true;
    if (compute_state(store, inst, &st, errp) < 0) {
        goto fail;
    }
    if (strcmp(st.status, "SHUTOFF") == 0) {
        if (snap_cold(&s, errp) < 0 || snap_activate(&s, errp) < 0) {
            goto fail;
        }
    } else if (strcmp(st.status, "ACTIVE") == 0 ||
               strcmp(st.status, "PAUSED") == 0) {
        if (snap_live(&s, strcmp(st.status, "PAUSED") == 0, errp) < 0) {
            goto fail;
        }
        if (opts->no_wait) {
            r = snap_detach(&s, errp);
            cat = store_catalog(store);
            if (r < 0) {
                goto fail;
            }
            detached = true;
        } else if (snap_finish_live(&s, errp) < 0) {
            goto fail;
        }
    } else {
        error_setg(errp, ERR_CONFLICT, "server %s is %s: cannot snapshot it",
                   inst->name, st.status);
        goto fail;
    }
    r = catalog_image_get(cat, s.img->id, out, errp);
    goto out;


fail:
    snap_cleanup_failed(&s, errp && *errp ? error_msg(*errp) : "failed");
out:
    if (tasked && !detached && cat) {
        catalog_instance_set_task(cat, inst->id, "image_snapshot", NULL,
                                  NULL);
    }
    qmp_close(s.qmp);
    close(lock);
    image_free(s.src);
    image_free(s.img);
    free(s.path);
    instance_free(inst);
    return r;
}

void
snapshot_reap_stale(struct store *store)
{
    static const char *const states[] = {"queued", "saving"};
    struct catalog *cat = store_catalog(store);
    size_t k, i, n;

    for (k = 0; k < 2; k++) {
        struct image_filter f = {.status = states[k]};
        struct image **list = NULL;

        n = 0;
        if (catalog_image_list(cat, &f, &list, &n, NULL) < 0) {
            continue;
        }
        for (i = 0; i < n; i++) {
            const char *owner = image_prop(list[i], "instance_uuid");
            int fd;

            if (owner == NULL || !util_is_uuid(owner)) {
                continue;
            }
            /* The snapshot process holds the instance lock from before
             * the record exists until it is final: a free lock means it
             * died.
             */
            {
                CLEANUP_FREE char *dir =
                    store_instance_path(store, owner, NULL);

                fd = -1;
                if (dir && access(dir, F_OK) == 0) {
                    fd = store_lock_instance(store, owner, false, NULL);
                    if (fd < 0) {
                        continue;
                    }
                }
            }
            catalog_image_set_status(cat, list[i]->id, "killed",
                                     "the vmsnap process making this "
                                     "snapshot died",
                                     NULL);
            if (list[i]->file) {
                unlink(list[i]->file);
            } else {
                CLEANUP_FREE char *p =
                    store_image_path(store, list[i]->id, "qcow2");

                if (p) {
                    unlink(p);
                }
            }
            catalog_instance_set_task(cat, owner, "image_snapshot", NULL,
                                      NULL);
            if (fd >= 0) {
                close(fd);
            }
        }
        image_list_free(list, n);
    }
}
