/* vmsnap: the qemu driver's backups (see hv.h for the contract).
 *
 *   prepare  create each target qcow2 file and add it as a block node;
 *   fix      one QMP "transaction" of blockdev-backup (sync full) over
 *            every disk: it installs a copy-before-write filter on each
 *            source and returns at once, so its cost does not grow with
 *            the disks' size; with several disks, completion-mode grouped:
 *            if one copy fails, QEMU cancels them all;
 *   wait     QEMU copies in the background of the guest; we wait for the
 *            jobs' end events, polling query-block-jobs for progress;
 *   finish   blockdev-del of each target: QEMU flushes it and lets go.
 * Nodes and jobs are named "snap-TAG-N" and "snapjob-TAG-N" (TAG: the
 * first 8 characters of the backup's tag), so a dead process's leftovers
 * are found by name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv-qemu.h"
#include "log.h"
#include "qemuimg.h"
#include "sock.h"
#include "xalloc.h"

#define QEMU_POLL_MS 500

/* One disk of a backup. */
struct qemu_backup_disk {
    char source[32];        /* source block node */
    char node[32];          /* target block node */
    char job[40];           /* backup job id */
    char *path;             /* target file */
    bool file_made;         /* path exists */
    bool node_added;        /* node exists in QEMU */
    bool job_running;       /* job runs in QEMU */
};

struct qemu_backup {
    struct hv_backup base;          /* first: the driver's handle */
    struct qmp *qmp;                /* operations monitor, owned */
    const struct hv_domain *d;      /* borrowed until finish or abort */
    int64_t rate_limit;             /* bytes/s per job, 0: none */
    struct qemu_backup_disk *disks; /* root first */
    size_t ndisks;                  /* entries in disks */
};

static struct qemu_backup *
qemu_backup_of(struct hv_backup *b)
{
    return (struct qemu_backup *)b;
}

static void
qemu_backup_free(struct qemu_backup *qb)
{
    size_t i;

    for (i = 0; i < qb->ndisks; i++) {
        free(qb->disks[i].path);
    }
    free(qb->disks);
    qmp_close(qb->qmp);
    free(qb);
}

/* The target's file node; in a test build with BREAK set, wrapped in
 * blkdebug so that every write fails with EIO: a copy that fails
 * half-way, for the tests.
 */
static json_object *
qemu_target_file(const struct qemu_backup_disk *dk, bool brk)
{
    json_object *file = json_object_new_object();
    json_object *dbg, *rules, *rule;

    json_object_object_add(file, "driver", json_object_new_string("file"));
    json_object_object_add(file, "filename",
                           json_object_new_string(dk->path));
    if (!brk) {
        return file;
    }
    dbg = json_object_new_object();
    rules = json_object_new_array();
    rule = json_object_new_object();
    json_object_object_add(rule, "event", json_object_new_string("pwritev"));
    json_object_object_add(rule, "errno", json_object_new_int(EIO));
    json_object_array_add(rules, rule);
    json_object_object_add(dbg, "driver", json_object_new_string("blkdebug"));
    json_object_object_add(dbg, "image", file);
    json_object_object_add(dbg, "inject-error", rules);
    return dbg;
}

int
qemu_backup_prepare(struct hv *hv, const struct hv_domain *d,
                    const struct hv_backup_spec *spec,
                    struct hv_backup **out, struct error **errp)
{
    struct qemu_backup *qb = xcalloc(1, sizeof(*qb));
    size_t i;

    qb->d = d;
    qb->rate_limit = spec->rate_limit;
    qb->disks = xcalloc(spec->ndisks, sizeof(*qb->disks));
    qb->ndisks = spec->ndisks;
    for (i = 0; i < spec->ndisks; i++) {
        struct qemu_backup_disk *dk = &qb->disks[i];

        if (spec->disks[i].bitmap_since || spec->disks[i].bitmap_new) {
            error_setg(errp, ERR_INVALID,
                       "the qemu driver cannot make incremental backups "
                       "yet");
            goto fail;
        }
        qemu_disk_node(spec->disks[i].source, dk->source);
        snprintf(dk->node, sizeof(dk->node), "snap-%.8s-%u", spec->tag,
                 (unsigned)i);
        snprintf(dk->job, sizeof(dk->job), "snapjob-%.8s-%u", spec->tag,
                 (unsigned)i);
        dk->path = xstrdup(spec->disks[i].target);
    }
    qb->qmp = qemu_qmp(d, errp);
    if (qb->qmp == NULL) {
        goto fail;
    }
    for (i = 0; i < qb->ndisks; i++) {
        struct qemu_backup_disk *dk = &qb->disks[i];
        const struct hv_disk *src = spec->disks[i].source;
        struct qemuimg_info info = {0};
        json_object *args;
        int r;

        if (qemuimg_info(src->path, src->format, &info, errp) < 0) {
            goto fail;
        }
        r = qemuimg_create(dk->path, "qcow2", info.virtual_size, errp);
        qemuimg_info_clear(&info);
        if (r < 0) {
            goto fail;
        }
        dk->file_made = true;
        args = json_object_new_object();
        json_object_object_add(args, "driver",
                               json_object_new_string("qcow2"));
        json_object_object_add(args, "node-name",
                               json_object_new_string(dk->node));
        json_object_object_add(args, "file",
                               qemu_target_file(dk, spec->break_disk ==
                                                        (int)i));
        if (qemu_qmp_run(qb->qmp, "blockdev-add", args, errp) < 0) {
            goto fail;
        }
        dk->node_added = true;
    }
    *out = &qb->base;
    return 0;

fail:
    qemu_backup_abort(&qb->base);
    return -1;
}

int
qemu_backup_fix(struct hv_backup *b, struct error **errp)
{
    struct qemu_backup *qb = qemu_backup_of(b);
    json_object *args = json_object_new_object();
    json_object *actions = json_object_new_array();
    size_t i;

    for (i = 0; i < qb->ndisks; i++) {
        json_object *action = json_object_new_object();
        json_object *data = json_object_new_object();

        json_object_object_add(data, "job-id",
                               json_object_new_string(qb->disks[i].job));
        json_object_object_add(data, "device",
                               json_object_new_string(qb->disks[i].source));
        json_object_object_add(data, "target",
                               json_object_new_string(qb->disks[i].node));
        json_object_object_add(data, "sync", json_object_new_string("full"));
        if (qb->rate_limit > 0) {
            json_object_object_add(data, "speed",
                                   json_object_new_int64(qb->rate_limit));
        }
        json_object_object_add(action, "type",
                               json_object_new_string("blockdev-backup"));
        json_object_object_add(action, "data", data);
        json_object_array_add(actions, action);
    }
    json_object_object_add(args, "actions", actions);
    if (qb->ndisks > 1) {
        json_object *props = json_object_new_object();

        json_object_object_add(props, "completion-mode",
                               json_object_new_string("grouped"));
        json_object_object_add(args, "properties", props);
    }
    if (qemu_qmp_run(qb->qmp, "transaction", args, errp) < 0) {
        return -1;
    }
    for (i = 0; i < qb->ndisks; i++) {
        qb->disks[i].job_running = true;
    }
    return 0;
}

/* The disk whose job has id ID, or NULL. */
static struct qemu_backup_disk *
qemu_backup_disk_of_job(struct qemu_backup *qb, const char *id)
{
    size_t i;

    for (i = 0; id && i < qb->ndisks; i++) {
        if (strcmp(qb->disks[i].job, id) == 0) {
            return &qb->disks[i];
        }
    }
    return NULL;
}

/* The "device" (job id) field of a job description or event data. */
static const char *
qemu_job_id(json_object *obj)
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
qemu_match_job_end(json_object *ev, void *opaque)
{
    struct qemu_backup *qb = opaque;
    json_object *name, *data;
    struct qemu_backup_disk *dk;
    const char *n;

    if (!json_object_object_get_ex(ev, "event", &name) ||
        !json_object_object_get_ex(ev, "data", &data) ||
        !json_object_is_type(name, json_type_string)) {
        return false;
    }
    n = json_object_get_string(name);
    if (strcmp(n, "BLOCK_JOB_COMPLETED") != 0 &&
        strcmp(n, "BLOCK_JOB_CANCELLED") != 0) {
        return false;
    }
    dk = qemu_backup_disk_of_job(qb, qemu_job_id(data));
    return dk != NULL && dk->job_running;
}

/* Report the copy's progress, summed over every job. */
static void
qemu_backup_poll_progress(struct qemu_backup *qb, const struct progress *p)
{
    json_object *jobs = qmp_execute(qb->qmp, "query-block-jobs", NULL,
                                    QEMU_QMP_TIMEOUT_MS, NULL);
    int64_t done = 0, total = 0;
    size_t i, n;

    if (jobs == NULL || !json_object_is_type(jobs, json_type_array)) {
        json_object_put(jobs);
        return;
    }
    n = json_object_array_length(jobs);
    for (i = 0; i < n; i++) {
        json_object *j = json_object_array_get_idx(jobs, i);
        json_object *off, *len;

        if (qemu_backup_disk_of_job(qb, qemu_job_id(j)) &&
            json_object_object_get_ex(j, "offset", &off) &&
            json_object_object_get_ex(j, "len", &len)) {
            done += json_object_get_int64(off);
            total += json_object_get_int64(len);
        }
    }
    if (total > 0) {
        progress_report(p, "copy", 100.0 * done / total);
    }
    json_object_put(jobs);
}

int
qemu_backup_wait(struct hv_backup *b, const struct progress *p,
                 struct error **errp)
{
    struct qemu_backup *qb = qemu_backup_of(b);
    size_t running = 0, i;
    struct error *first = NULL;
    bool first_is_error = false;

    for (i = 0; i < qb->ndisks; i++) {
        running += qb->disks[i].job_running;
    }
    while (running > 0) {
        json_object *ev = NULL, *data, *e, *name;
        struct error *err = NULL;
        struct qemu_backup_disk *dk;

        if (qmp_wait_event(qb->qmp, NULL, qemu_match_job_end, qb,
                           QEMU_POLL_MS, &ev, &err) < 0) {
            if (error_get_class(err) != ERR_TIMEOUT) {
                error_prepend(&err, "copy of the disks: ");
                error_free(first);
                error_propagate(errp, err);
                return -1;
            }
            error_free(err);
            if (p) {
                qemu_backup_poll_progress(qb, p);
            }
            continue;
        }
        json_object_object_get_ex(ev, "data", &data);
        json_object_object_get_ex(ev, "event", &name);
        dk = qemu_backup_disk_of_job(qb, qemu_job_id(data));
        dk->job_running = false;
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
                           dk->source, json_object_get_string(e));
                first_is_error = true;
            }
        } else if (first == NULL &&
                   strcmp(json_object_get_string(name),
                          "BLOCK_JOB_CANCELLED") == 0) {
            error_setg(&first, ERR_PEER, "copy of disk %s was cancelled",
                       dk->source);
        }
        json_object_put(ev);
    }
    if (first) {
        error_propagate(errp, first);
        return -1;
    }
    progress_report(p, "copy", 100);
    return 0;
}

/* Close target node DK so QEMU flushes it and lets go of the file. */
static int
qemu_backup_del_node(struct qemu_backup *qb, struct qemu_backup_disk *dk,
                     struct error **errp)
{
    json_object *args = json_object_new_object();

    json_object_object_add(args, "node-name",
                           json_object_new_string(dk->node));
    if (qemu_qmp_run(qb->qmp, "blockdev-del", args, errp) < 0) {
        return -1;
    }
    dk->node_added = false;
    return 0;
}

int
qemu_backup_finish(struct hv_backup *b, struct error **errp)
{
    struct qemu_backup *qb = qemu_backup_of(b);
    size_t i;

    for (i = 0; i < qb->ndisks; i++) {
        if (qb->disks[i].node_added &&
            qemu_backup_del_node(qb, &qb->disks[i], errp) < 0) {
            return -1;
        }
    }
    qemu_backup_free(qb);
    return 0;
}

/* Cancel what still runs of DK's job and wait for its end. */
static void
qemu_backup_cancel_job(struct qemu_backup *qb, struct qemu_backup_disk *dk)
{
    json_object *args = json_object_new_object();
    json_object *ev = NULL;

    json_object_object_add(args, "device", json_object_new_string(dk->job));
    json_object_object_add(args, "force", json_object_new_boolean(true));
    if (qemu_qmp_run(qb->qmp, "block-job-cancel", args, NULL) == 0) {
        qmp_wait_event(qb->qmp, NULL, qemu_match_job_end, qb,
                       QEMU_QMP_TIMEOUT_MS, &ev, NULL);
        json_object_put(ev);
    }
    dk->job_running = false;
}

void
qemu_backup_abort(struct hv_backup *b)
{
    struct qemu_backup *qb = qemu_backup_of(b);
    size_t i;

    /* A monitor that broke (a timeout, a malformed reply) cannot clean
     * up: open a new one.
     */
    if (qb->qmp && qmp_is_broken(qb->qmp)) {
        qmp_close(qb->qmp);
        qb->qmp = qemu_qmp(qb->d, NULL);
    }
    for (i = 0; qb->qmp && i < qb->ndisks; i++) {
        if (qb->disks[i].job_running) {
            qemu_backup_cancel_job(qb, &qb->disks[i]);
        }
    }
    for (i = 0; i < qb->ndisks; i++) {
        struct qemu_backup_disk *dk = &qb->disks[i];

        if (dk->node_added && qb->qmp) {
            qemu_backup_del_node(qb, dk, NULL);
        }
        if (dk->file_made) {
            unlink(dk->path);
        }
    }
    qemu_backup_free(qb);
}

/* Does NAME start with PREFIX followed by TAG's first 8 characters (or
 * any, when TAG is NULL)?
 */
static bool
qemu_reap_match(const char *name, const char *prefix, const char *tag)
{
    size_t n = strlen(prefix);

    if (name == NULL || strncmp(name, prefix, n) != 0) {
        return false;
    }
    return tag == NULL || strncmp(name + n, tag, 8) == 0;
}

/* The string field KEY of OBJ, or NULL (also when it is not a string:
 * a reply of QEMU's is checked, never trusted).
 */
static const char *
qemu_str(json_object *obj, const char *key)
{
    json_object *v;

    if (json_object_object_get_ex(obj, key, &v) &&
        json_object_is_type(v, json_type_string)) {
        return json_object_get_string(v);
    }
    return NULL;
}

int
qemu_backup_reap(struct hv *hv, const struct hv_domain *d, const char *tag,
                 struct error **errp)
{
    json_object *list;
    struct qmp *q;
    size_t i, n;

    if (qemu_pid(d) == 0) {
        return 0;
    }
    q = qemu_qmp(d, errp);
    if (q == NULL) {
        return -1;
    }
    list = qmp_execute(q, "query-block-jobs", NULL, QEMU_QMP_TIMEOUT_MS,
                       NULL);
    n = json_object_is_type(list, json_type_array)
            ? json_object_array_length(list)
            : 0;
    for (i = 0; i < n; i++) {
        json_object *job = json_object_array_get_idx(list, i);
        const char *id = qemu_str(job, "device");
        json_object *args, *ev = NULL;

        if (!qemu_reap_match(id, "snapjob-", tag)) {
            continue;
        }
        args = json_object_new_object();
        json_object_object_add(args, "device", json_object_new_string(id));
        json_object_object_add(args, "force", json_object_new_boolean(true));
        if (qemu_qmp_run(q, "block-job-cancel", args, NULL) == 0) {
            qmp_wait_event(q, "BLOCK_JOB_CANCELLED", NULL, NULL,
                           QEMU_QMP_TIMEOUT_MS, &ev, NULL);
            json_object_put(ev);
        }
    }
    json_object_put(list);
    list = qmp_execute(q, "query-named-block-nodes", NULL,
                       QEMU_QMP_TIMEOUT_MS, NULL);
    n = json_object_is_type(list, json_type_array)
            ? json_object_array_length(list)
            : 0;
    for (i = 0; i < n; i++) {
        const char *name = qemu_str(json_object_array_get_idx(list, i),
                                    "node-name");
        json_object *args;

        if (!qemu_reap_match(name, "snap-", tag)) {
            continue;
        }
        log_warnx("removing block node %s left in server %s", name,
                  d->name);
        args = json_object_new_object();
        json_object_object_add(args, "node-name",
                               json_object_new_string(name));
        qemu_qmp_run(q, "blockdev-del", args, NULL);
    }
    json_object_put(list);
    qmp_close(q);
    return 0;
}
