/* vmsnap: the qemu driver's backups (see hv.h for the contract).
 *
 * Pull mode, by fleecing (QEMU docs/interop/bitmaps.rst and the research
 * in shared/research/libvirt-incremental.md, part B, sequence C):
 *   prepare  per disk, a scratch qcow2 file in the instance's directory,
 *            added as a block node whose backing is the running disk; the
 *            NBD server started on a unix socket; the disk's stale
 *            "vmsnap-" bitmaps removed;
 *   fix      ONE QMP transaction over every disk: blockdev-backup
 *            sync=none from the disk into its scratch node (from now on a
 *            guest write first copies the old data into the scratch, so
 *            the scratch node reads as the disk at this instant), the new
 *            persistent dirty bitmap, and for an incremental a disabled
 *            copy of the old bitmap on the scratch node (the bits at this
 *            instant; the old one goes on recording).  Nothing is copied
 *            in it: its cost does not grow with the disks' size.  (QEMU
 *            7.2 refuses completion-mode grouped beside bitmap actions;
 *            sync=none jobs never complete, so they need none.)
 *   wait     each scratch node is exported over NBD (read-only, with the
 *            copy of the bitmap) and read by the copy path (diskcopy.h):
 *            vmsnap reads, QEMU only serves;
 *   finish   exports, jobs and nodes removed, the NBD server stopped, the
 *            scratch files deleted, the old bitmap removed (the chain
 *            moved on to the new one);
 *   abort    the same, but the new bitmap goes and the old one stays.
 * Names carry the first 8 characters of the tag: nodes "snap-TAG-N",
 * jobs "snapjob-TAG-N", exports "exp-TAG-N", bitmaps "since-TAG-N",
 * files "backup-TAG-N.scratch.qcow2" and "nbd-TAG.sock", so that reap
 * finds what a dead process left.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "hv-qemu.h"
#include "log.h"
#include "qemuimg.h"
#include "sock.h"
#include "util.h"
#include "xalloc.h"
#include "xjson.h"

#define QEMU_RUN_DIR "/run/vmsnap"   /* sockets whose path is too long */
#define QEMU_EXPORT_END_MS 10000     /* an export going away */
#define QEMU_MAX_VCPU_THREADS 64     /* vCPU threads the copy watches */

/* One disk of a backup. */
struct qemu_backup_disk {
    const struct hv_disk *src; /* the disk, borrowed */
    char source[32];        /* its format node */
    char node[32];          /* scratch node */
    char job[40];           /* fleecing job id */
    char export[40];        /* export id and NBD export name */
    char since[40];         /* frozen copy of bitmap_since, or "" */
    char *scratch;          /* scratch file */
    char *bitmap_since;     /* the old bitmap, or NULL */
    char *bitmap_new;       /* the new bitmap, or NULL */
    int64_t new_granularity; /* of bitmap_new, 0: QEMU's default */
    int64_t granularity;    /* of bitmap_since, 0: QEMU's default */
    int64_t size;           /* virtual size */
    struct diskcopy_target *copy;  /* where the copy goes */
    struct diskcopy_target own;    /* COPY when the spec gave none */
    bool file_made;         /* scratch exists */
    bool node_added;        /* scratch node exists in QEMU */
    bool job_running;       /* fleecing job runs */
    bool export_added;      /* export exists */
    bool new_added;         /* bitmap_new exists */
};

struct qemu_backup {
    struct hv_backup base;          /* first: the driver's handle */
    struct qmp *qmp;                /* operations monitor, owned */
    const struct hv_domain *d;      /* borrowed until finish or abort */
    int64_t rate_limit;             /* bytes/s per disk, 0: none */
    int stall_ms;                   /* the export may be silent this long */
    int inflight;                   /* read requests in flight */
    int nice;                       /* the copy threads' nice value */
    int yield_pct;                  /* the copy gives way past this */
    char *sock;                     /* the NBD server's socket */
    bool server_started;            /* nbd-server-start succeeded */
    bool copied;                    /* every disk is copied */
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
        free(qb->disks[i].scratch);
        free(qb->disks[i].bitmap_since);
        free(qb->disks[i].bitmap_new);
    }
    free(qb->disks);
    free(qb->sock);
    qmp_close(qb->qmp);
    free(qb);
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

static bool
qemu_bool(json_object *obj, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(obj, key, &v) &&
           json_object_is_type(v, json_type_boolean) &&
           json_object_get_boolean(v);
}

/* A bitmap name we accept: "vmsnap-" and a word. */
static bool
qemu_bitmap_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    return n > 7 && n < 64 && strncmp(name, "vmsnap-", 7) == 0 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789-_.") == n;
}

/* What QEMU says of block node NODE (query-named-block-nodes: a new
 * reference to its BlockDeviceInfo), or NULL with the error.
 */
static json_object *
qemu_node_info(struct qmp *q, const char *node, struct error **errp)
{
    json_object *list = qmp_execute(q, "query-named-block-nodes", NULL,
                                    QEMU_QMP_TIMEOUT_MS, errp);
    json_object *found = NULL;
    size_t i, n;

    if (list == NULL) {
        return NULL;
    }
    n = json_object_is_type(list, json_type_array)
            ? json_object_array_length(list)
            : 0;
    for (i = 0; i < n && found == NULL; i++) {
        json_object *e = json_object_array_get_idx(list, i);
        const char *name = qemu_str(e, "node-name");

        if (name && strcmp(name, node) == 0) {
            found = json_object_get(e);
        }
    }
    json_object_put(list);
    if (found == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "QEMU has no block node %s", node);
    }
    return found;
}

/* The dirty bitmaps of block node NODE (a new reference, an array; empty
 * when it has none), or NULL with the error.
 */
static json_object *
qemu_node_bitmaps(struct qmp *q, const char *node, struct error **errp)
{
    json_object *e = qemu_node_info(q, node, errp), *bm;
    json_object *found;

    if (e == NULL) {
        return NULL;
    }
    if (json_object_object_get_ex(e, "dirty-bitmaps", &bm) &&
        json_object_is_type(bm, json_type_array)) {
        found = json_object_get(bm);
    } else {
        found = xjson_array();
    }
    json_object_put(e);
    return found;
}

/* The virtual size of block node NODE as QEMU sees it (its image's
 * virtual-size), or -1 with the error.  What the guest sees, with no
 * qemu-img to start for it.
 */
static int64_t
qemu_node_size(struct qmp *q, const char *node, struct error **errp)
{
    json_object *e = qemu_node_info(q, node, errp), *img, *v;
    int64_t size = -1;

    if (e == NULL) {
        return -1;
    }
    if (json_object_object_get_ex(e, "image", &img) &&
        json_object_object_get_ex(img, "virtual-size", &v) &&
        json_object_is_type(v, json_type_int)) {
        size = json_object_get_int64(v);
    }
    json_object_put(e);
    if (size <= 0) {
        error_setg(errp, ERR_PROTOCOL, "QEMU gives block node %s no size",
                   node);
        return -1;
    }
    return size;
}

/* The bitmap NAME in the array BITMAPS, or NULL (borrowed). */
static json_object *
qemu_bitmap_find(json_object *bitmaps, const char *name)
{
    size_t i, n = json_object_array_length(bitmaps);

    for (i = 0; i < n; i++) {
        json_object *b = json_object_array_get_idx(bitmaps, i);
        const char *bn = qemu_str(b, "name");

        if (bn && strcmp(bn, name) == 0) {
            return b;
        }
    }
    return NULL;
}

static int
qemu_bitmap_remove(struct qmp *q, const char *node, const char *name,
                   struct error **errp)
{
    json_object *args = xjson_object();

    xjson_add(args, "node", xjson_string(node));
    xjson_add(args, "name", xjson_string(name));
    return qemu_qmp_run(q, "block-dirty-bitmap-remove", args, errp);
}

int
qemu_bitmap_check(struct hv *hv, const struct hv_domain *d,
                  const struct hv_disk *disk, const char *name, char **why,
                  struct error **errp)
{
    struct qmp *q;
    json_object *bitmaps, *b;
    char node[32];
    int r = 1;

    if (strcmp(disk->format, "qcow2") != 0) {
        *why = xasprintf("disk %s is %s: only qcow2 keeps a persistent "
                         "dirty bitmap",
                         disk->id, disk->format);
        return 0;
    }
    q = qemu_qmp(d, errp);
    if (q == NULL) {
        return -1;
    }
    qemu_disk_node(disk, node);
    bitmaps = qemu_node_bitmaps(q, node, errp);
    qmp_close(q);
    if (bitmaps == NULL) {
        return -1;
    }
    b = qemu_bitmap_find(bitmaps, name);
    if (b == NULL) {
        *why = xasprintf("dirty bitmap %s is missing on disk %s (QEMU was "
                         "stopped without saving it, the disk was "
                         "replaced, or a later backup that moved the "
                         "chain on was deleted)",
                         name, disk->id);
        r = 0;
    } else if (qemu_bool(b, "inconsistent")) {
        *why = xasprintf("dirty bitmap %s of disk %s is inconsistent "
                         "(QEMU was killed)",
                         name, disk->id);
        r = 0;
    } else if (!qemu_bool(b, "persistent") || !qemu_bool(b, "recording")) {
        *why = xasprintf("dirty bitmap %s of disk %s is not a recording, "
                         "persistent bitmap",
                         name, disk->id);
        r = 0;
    } else if (qemu_bool(b, "busy")) {
        *why = xasprintf("dirty bitmap %s of disk %s is in use by another "
                         "job",
                         name, disk->id);
        r = 0;
    }
    json_object_put(bitmaps);
    return r;
}

/* The socket of backup TAG of D (caller frees): in D's directory, or in
 * QEMU_RUN_DIR when that path is too long for a unix socket.
 */
static char *
qemu_backup_sock(const struct hv_domain *d, const char *tag,
                 struct error **errp)
{
    struct sockaddr_un sa;
    CLEANUP_FREE char *name = xasprintf("nbd-%.8s.sock", tag);
    char *path = qemu_path(d, name);

    if (strlen(path) >= sizeof(sa.sun_path)) {
        free(path);
        if (util_mkdir_p(QEMU_RUN_DIR, 0700, errp) < 0) {
            return NULL;
        }
        path = xasprintf("%s/%.8s-%s", QEMU_RUN_DIR, d->id, name);
    }
    return path;
}

/* The scratch node's file: the file, or in a test build with BREAK set,
 * the file behind blkdebug failing every read with EIO, so that the copy
 * fails half-way (the tests' broken disk).
 */
static json_object *
qemu_scratch_file(const struct qemu_backup_disk *dk, bool brk)
{
    json_object *file = xjson_object();
    json_object *dbg, *rules, *rule;

    xjson_add(file, "driver", xjson_string("file"));
    xjson_add(file, "filename", xjson_string(dk->scratch));
    if (!brk) {
        return file;
    }
    dbg = xjson_object();
    rules = xjson_array();
    rule = xjson_object();
    xjson_add(rule, "event", xjson_string("read_aio"));
    xjson_add(rule, "errno", xjson_int64(EIO));
    xjson_append(rules, rule);
    xjson_add(dbg, "driver", xjson_string("blkdebug"));
    xjson_add(dbg, "image", file);
    xjson_add(dbg, "inject-error", rules);
    return dbg;
}

/* Remove DK's "vmsnap-" bitmaps other than its bitmap_since (left by
 * broken chains); note bitmap_since's granularity.  An inconsistent
 * bitmap_since is an error: the engine checks with bitmap_check first.
 */
static int
qemu_backup_bitmaps(struct qemu_backup *qb, struct qemu_backup_disk *dk,
                    struct error **errp)
{
    json_object *bitmaps = qemu_node_bitmaps(qb->qmp, dk->source, errp);
    size_t i, n;
    bool since_found = false;

    if (bitmaps == NULL) {
        return -1;
    }
    n = json_object_array_length(bitmaps);
    for (i = 0; i < n; i++) {
        json_object *b = json_object_array_get_idx(bitmaps, i);
        const char *name = qemu_str(b, "name");
        json_object *g;

        if (name == NULL || strncmp(name, "vmsnap-", 7) != 0) {
            continue;
        }
        if (dk->bitmap_since && strcmp(name, dk->bitmap_since) == 0 &&
            !qemu_bool(b, "inconsistent")) {
            since_found = true;
            if (json_object_object_get_ex(b, "granularity", &g)) {
                dk->granularity = json_object_get_int64(g);
            }
            continue;
        }
        log_debug("backup", "removing dirty bitmap %s of disk %s of %s", name,
                 dk->source, qb->d->name);
        if (qemu_bitmap_remove(qb->qmp, dk->source, name, errp) < 0) {
            json_object_put(bitmaps);
            return -1;
        }
    }
    json_object_put(bitmaps);
    if (dk->bitmap_since && !since_found) {
        error_setg(errp, ERR_CONFLICT,
                   "dirty bitmap %s of disk %s is missing or inconsistent",
                   dk->bitmap_since, dk->source);
        return -1;
    }
    return 0;
}

/* Start QEMU's NBD server on our socket.  QEMU runs one: one left by a
 * dead backup of ours is stopped first (nothing else of vmsnap's uses
 * it; reap would stop it too).
 */
static int
qemu_backup_server(struct qemu_backup *qb, struct error **errp)
{
    int tries;

    unlink(qb->sock);
    for (tries = 0; tries < 2; tries++) {
        json_object *args = xjson_object();
        json_object *addr = xjson_object();
        json_object *data = xjson_object();
        struct error *err = NULL;

        xjson_add(data, "path", xjson_string(qb->sock));
        xjson_add(addr, "type", xjson_string("unix"));
        xjson_add(addr, "data", data);
        xjson_add(args, "addr", addr);
        if (qemu_qmp_run(qb->qmp, "nbd-server-start", args, &err) == 0) {
            qb->server_started = true;
            return 0;
        }
        if (tries > 0 || error_get_class(err) != ERR_PEER) {
            error_propagate(errp, err);
            return -1;
        }
        log_warnx("server %s: stopping an NBD server left running (%s)",
                  qb->d->name, error_msg(err));
        error_free(err);
        qemu_qmp_run(qb->qmp, "nbd-server-stop", NULL, NULL);
    }
    return -1;
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
    qb->inflight = spec->copy_inflight;
    qb->nice = spec->copy_nice;
    qb->yield_pct = spec->copy_yield_pct;
    qb->stall_ms = spec->copy_stall_ms;
    qb->disks = xcalloc(spec->ndisks, sizeof(*qb->disks));
    qb->ndisks = spec->ndisks;
    for (i = 0; i < spec->ndisks; i++) {
        const struct hv_backup_disk *bd = &spec->disks[i];
        struct qemu_backup_disk *dk = &qb->disks[i];
        CLEANUP_FREE char *name = NULL;

        if ((bd->bitmap_since && !qemu_bitmap_name_ok(bd->bitmap_since)) ||
            (bd->bitmap_new && !qemu_bitmap_name_ok(bd->bitmap_new))) {
            error_setg(errp, ERR_INVALID, "bad dirty bitmap name");
            goto fail;
        }
        if ((bd->bitmap_since || bd->bitmap_new) &&
            strcmp(bd->source->format, "qcow2") != 0) {
            error_setg(errp, ERR_INVALID,
                       "disk %s is %s: only qcow2 keeps a persistent dirty "
                       "bitmap",
                       bd->source->id, bd->source->format);
            goto fail;
        }
        dk->src = bd->source;
        qemu_disk_node(bd->source, dk->source);
        snprintf(dk->node, sizeof(dk->node), "snap-%.8s-%u", spec->tag,
                 (unsigned)i);
        snprintf(dk->job, sizeof(dk->job), "snapjob-%.8s-%u", spec->tag,
                 (unsigned)i);
        snprintf(dk->export, sizeof(dk->export), "exp-%.8s-%u", spec->tag,
                 (unsigned)i);
        if (bd->bitmap_since) {
            snprintf(dk->since, sizeof(dk->since), "since-%.8s-%u",
                     spec->tag, (unsigned)i);
            dk->bitmap_since = xstrdup(bd->bitmap_since);
        }
        if (bd->bitmap_new) {
            dk->bitmap_new = xstrdup(bd->bitmap_new);
            dk->new_granularity = bd->bitmap_granularity;
        }
        name = xasprintf("backup-%.8s-%u.scratch.qcow2", spec->tag,
                         (unsigned)i);
        dk->scratch = qemu_path(d, name);
        if (bd->copy) {
            dk->copy = bd->copy;
        } else {
            dk->own.kind = DISKCOPY_QCOW2;
            dk->own.path = bd->target;
            dk->copy = &dk->own;
        }
    }
    qb->sock = qemu_backup_sock(d, spec->tag, errp);
    qb->qmp = qb->sock ? qemu_qmp(d, errp) : NULL;
    if (qb->qmp == NULL) {
        goto fail;
    }
    for (i = 0; i < qb->ndisks; i++) {
        struct qemu_backup_disk *dk = &qb->disks[i];
        json_object *args;

        /* A snapshot (no bitmap_new) leaves every bitmap alone. */
        if (dk->bitmap_new && qemu_backup_bitmaps(qb, dk, errp) < 0) {
            goto fail;
        }
        dk->size = qemu_node_size(qb->qmp, dk->source, errp);
        if (dk->size < 0) {
            goto fail;
        }
        unlink(dk->scratch);
        if (qemuimg_create(dk->scratch, "qcow2", dk->size, errp) < 0) {
            goto fail;
        }
        dk->file_made = true;
        args = xjson_object();
        xjson_add(args, "driver", xjson_string("qcow2"));
        xjson_add(args, "node-name", xjson_string(dk->node));
        xjson_add(args, "file",
                  qemu_scratch_file(dk, spec->break_disk ==
                  (int)i));
        xjson_add(args, "backing", xjson_string(dk->source));
        if (qemu_qmp_run(qb->qmp, "blockdev-add", args, errp) < 0) {
            goto fail;
        }
        dk->node_added = true;
    }
    if (qemu_backup_server(qb, errp) < 0) {
        goto fail;
    }
    qb->base.hv = hv;
    *out = &qb->base;
    return 0;

fail:
    qb->base.hv = hv;
    qemu_backup_abort(&qb->base);
    return -1;
}

/* Append {"type": TYPE, "data": DATA} to ACTIONS. */
static void
qemu_action(json_object *actions, const char *type, json_object *data)
{
    json_object *a = xjson_object();

    xjson_add(a, "type", xjson_string(type));
    xjson_add(a, "data", data);
    xjson_append(actions, a);
}

/* The transaction's actions for disk DK. */
static void
qemu_fix_actions(const struct qemu_backup_disk *dk, json_object *actions)
{
    json_object *data;

    if (dk->bitmap_new) {
        data = xjson_object();
        xjson_add(data, "node", xjson_string(dk->source));
        xjson_add(data, "name", xjson_string(dk->bitmap_new));
        xjson_add(data, "persistent", xjson_bool(true));
        if (dk->new_granularity > 0) {
            xjson_add(data, "granularity",
                      xjson_int64(dk->new_granularity));
        }
        qemu_action(actions, "block-dirty-bitmap-add", data);
    }
    if (dk->since[0]) {
        json_object *srcs = xjson_array();
        json_object *src = xjson_object();

        data = xjson_object();
        xjson_add(data, "node", xjson_string(dk->node));
        xjson_add(data, "name", xjson_string(dk->since));
        xjson_add(data, "disabled", xjson_bool(true));
        if (dk->granularity > 0) {
            xjson_add(data, "granularity", xjson_int64(dk->granularity));
        }
        qemu_action(actions, "block-dirty-bitmap-add", data);
        xjson_add(src, "node", xjson_string(dk->source));
        xjson_add(src, "name", xjson_string(dk->bitmap_since));
        xjson_append(srcs, src);
        data = xjson_object();
        xjson_add(data, "node", xjson_string(dk->node));
        xjson_add(data, "target", xjson_string(dk->since));
        xjson_add(data, "bitmaps", srcs);
        qemu_action(actions, "block-dirty-bitmap-merge", data);
    }
    data = xjson_object();
    xjson_add(data, "job-id", xjson_string(dk->job));
    xjson_add(data, "device", xjson_string(dk->source));
    xjson_add(data, "target", xjson_string(dk->node));
    xjson_add(data, "sync", xjson_string("none"));
    qemu_action(actions, "blockdev-backup", data);
}

int
qemu_backup_fix(struct hv_backup *b, struct error **errp)
{
    struct qemu_backup *qb = qemu_backup_of(b);
    json_object *args = xjson_object();
    json_object *actions = xjson_array();
    size_t i;

    for (i = 0; i < qb->ndisks; i++) {
        qemu_fix_actions(&qb->disks[i], actions);
    }
    xjson_add(args, "actions", actions);
    if (qemu_qmp_run(qb->qmp, "transaction", args, errp) < 0) {
        return -1;
    }
    for (i = 0; i < qb->ndisks; i++) {
        qb->disks[i].job_running = true;
        qb->disks[i].new_added = qb->disks[i].bitmap_new != NULL;
    }
    return 0;
}

/* Export DK's scratch node (the point in time) over NBD. */
static int
qemu_backup_export(struct qemu_backup *qb, struct qemu_backup_disk *dk,
                   struct error **errp)
{
    json_object *args = xjson_object();

    xjson_add(args, "type", xjson_string("nbd"));
    xjson_add(args, "id", xjson_string(dk->export));
    xjson_add(args, "node-name", xjson_string(dk->node));
    xjson_add(args, "name", xjson_string(dk->export));
    xjson_add(args, "writable", xjson_bool(false));
    if (dk->since[0]) {
        json_object *bm = xjson_array();

        xjson_append(bm, xjson_string(dk->since));
        xjson_add(args, "bitmaps", bm);
    }
    if (qemu_qmp_run(qb->qmp, "block-export-add", args, errp) < 0) {
        return -1;
    }
    dk->export_added = true;
    return 0;
}

/* Is DK's fleecing job still running?  A job that ended (a failed
 * copy-before-write) no longer holds the point in time: what was read
 * may be wrong.
 */
static int
qemu_backup_job_alive(struct qemu_backup *qb, struct qemu_backup_disk *dk,
                      struct error **errp)
{
    json_object *jobs = qmp_execute(qb->qmp, "query-block-jobs", NULL,
                                    QEMU_QMP_TIMEOUT_MS, errp);
    size_t i, n;
    bool alive = false;

    if (jobs == NULL) {
        return -1;
    }
    n = json_object_is_type(jobs, json_type_array)
            ? json_object_array_length(jobs)
            : 0;
    for (i = 0; i < n; i++) {
        json_object *j = json_object_array_get_idx(jobs, i);
        const char *id = qemu_str(j, "device");
        const char *st = qemu_str(j, "status");

        if (id && strcmp(id, dk->job) == 0 && st &&
            strcmp(st, "running") == 0) {
            alive = true;
        }
    }
    json_object_put(jobs);
    if (!alive) {
        dk->job_running = false;
        error_setg(errp, ERR_PEER,
                   "the point in time of disk %s was lost during the copy "
                   "(its fleecing job ended)",
                   dk->source);
        return -1;
    }
    return 0;
}

/* The guest's vCPU threads, whose waiting for a core paces the copy. */
struct qemu_vcpus {
    int pid;                        /* QEMU's */
    int ntids;                      /* entries in tids */
    int tids[QEMU_MAX_VCPU_THREADS];
};

/* pacer_probe: the total run delay of V's threads, the second figure of
 * /proc/PID/task/TID/schedstat (ns spent runnable but not running).
 */
static int
qemu_vcpu_delay(void *opaque, int64_t *ns)
{
    const struct qemu_vcpus *v = opaque;
    int64_t sum = 0;
    int i;

    for (i = 0; i < v->ntids; i++) {
        char path[64];
        long long run, wait;
        FILE *f;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", v->pid,
                 v->tids[i]);
        if ((f = fopen(path, "re")) == NULL) {
            return -1;
        }
        r = fscanf(f, "%lld %lld", &run, &wait);
        fclose(f);
        if (r != 2) {
            return -1;
        }
        sum += wait;
    }
    *ns = sum;
    return 0;
}

/* Fill V with the vCPU threads of QB's QEMU (query-cpus-fast).  Without
 * them (an old QEMU, no schedstat) the copy just does not give way: that
 * is logged, not an error.
 */
static void
qemu_vcpus_find(struct qemu_backup *qb, struct qemu_vcpus *v)
{
    struct error *err = NULL;
    json_object *list;
    size_t i, j, n;
    int64_t ns;

    v->ntids = 0;
    v->pid = qemu_pid(qb->d);
    list = qmp_execute(qb->qmp, "query-cpus-fast", NULL,
                       QEMU_QMP_TIMEOUT_MS, &err);
    if (list == NULL || v->pid <= 0) {
        goto out;
    }
    n = json_object_is_type(list, json_type_array)
            ? json_object_array_length(list) : 0;
    for (i = 0; i < n && v->ntids < QEMU_MAX_VCPU_THREADS; i++) {
        json_object *tid;
        int t;

        if (!json_object_object_get_ex(json_object_array_get_idx(list, i),
                                       "thread-id", &tid) ||
            (t = json_object_get_int(tid)) <= 0) {
            continue;
        }
        /* Single-threaded TCG runs every vCPU in one thread. */
        for (j = 0; j < (size_t)v->ntids && v->tids[j] != t; j++) {
        }
        if (j == (size_t)v->ntids) {
            v->tids[v->ntids++] = t;
        }
    }
    if (v->ntids > 0 && qemu_vcpu_delay(v, &ns) < 0) {
        v->ntids = 0;
    }
out:
    if (v->ntids == 0) {
        log_warnx("server %s: the copy cannot see the guest's vCPUs (%s): "
                  "it will not give way to them", qb->d->name,
                  err ? error_msg(err) : "no schedstat");
    }
    error_free(err);
    json_object_put(list);
}

int
qemu_backup_wait(struct hv_backup *b, const struct progress *p,
                 struct error **errp)
{
    struct qemu_backup *qb = qemu_backup_of(b);
    struct qemu_vcpus vcpus = {0};
    struct pacer_probe guest = {qemu_vcpu_delay, &vcpus};
    struct diskcopy_opts o = {.rate_limit = qb->rate_limit,
                              .inflight = qb->inflight, .nice = qb->nice,
                              .stall_ms = qb->stall_ms, .progress = p};
    size_t i;

    if (qb->yield_pct > 0) {
        qemu_vcpus_find(qb, &vcpus);
    }
    if (vcpus.ntids > 0) {
        o.guest = &guest;
        o.yield_pct = qb->yield_pct;
    }

    for (i = 0; i < qb->ndisks; i++) {
        struct qemu_backup_disk *dk = &qb->disks[i];
        struct diskcopy_source *src;
        int r;

        if (qemu_backup_export(qb, dk, errp) < 0) {
            return -1;
        }
        src = diskcopy_source_nbd(qb->sock, dk->export,
                                  dk->since[0] ? dk->since : NULL, errp);
        if (src == NULL) {
            return -1;
        }
        o.progress_from = 100.0 * (double)i / (double)qb->ndisks;
        o.progress_to = 100.0 * (double)(i + 1) / (double)qb->ndisks;
        r = diskcopy_run(src, dk->copy, &o, errp);
        diskcopy_source_close(src);
        if (r < 0 || qemu_backup_job_alive(qb, dk, errp) < 0) {
            error_prepend(errp, "copy of disk %s: ", dk->source);
            return -1;
        }
    }
    qb->copied = true;
    progress_report(p, "copy", 100);
    return 0;
}

static bool
qemu_match_export_deleted(json_object *ev, void *opaque)
{
    json_object *data;

    return json_object_object_get_ex(ev, "data", &data) &&
           qemu_str(data, "id") && strcmp(qemu_str(data, "id"),
                                          (const char *)opaque) == 0;
}

static bool
qemu_match_job_end(json_object *ev, void *opaque)
{
    json_object *data;
    const char *id;

    if (!json_object_object_get_ex(ev, "data", &data)) {
        return false;
    }
    id = qemu_str(data, "device");
    return id && strcmp(id, (const char *)opaque) == 0;
}

/* Remove export ID and wait until QEMU let go of it. */
static int
qemu_export_del(struct qmp *q, const char *id, struct error **errp)
{
    json_object *args = xjson_object();
    json_object *ev = NULL;

    xjson_add(args, "id", xjson_string(id));
    if (qemu_qmp_run(q, "block-export-del", args, errp) < 0) {
        return -1;
    }
    if (qmp_wait_event(q, "BLOCK_EXPORT_DELETED", qemu_match_export_deleted,
                       (void *)id, QEMU_EXPORT_END_MS, &ev, errp) < 0) {
        return -1;
    }
    json_object_put(ev);
    return 0;
}

/* Cancel job ID and wait for its end. */
static int
qemu_job_cancel(struct qmp *q, const char *id, struct error **errp)
{
    json_object *args = xjson_object();
    json_object *ev = NULL;

    xjson_add(args, "device", xjson_string(id));
    xjson_add(args, "force", xjson_bool(true));
    if (qemu_qmp_run(q, "block-job-cancel", args, errp) < 0) {
        return -1;
    }
    if (qmp_wait_event(q, NULL, qemu_match_job_end, (void *)id,
                       QEMU_QMP_TIMEOUT_MS, &ev, errp) < 0) {
        return -1;
    }
    json_object_put(ev);
    return 0;
}

static int
qemu_node_del(struct qmp *q, const char *node, struct error **errp)
{
    json_object *args = xjson_object();

    xjson_add(args, "node-name", xjson_string(node));
    return qemu_qmp_run(q, "blockdev-del", args, errp);
}

/* Take down what the backup put into QEMU, in order: exports, jobs,
 * scratch nodes, the NBD server; remove the scratch files.  With ERRP
 * NULL (abort) it goes on after a failure.
 */
static int
qemu_backup_teardown(struct qemu_backup *qb, struct error **errp)
{
    size_t i;

    for (i = 0; i < qb->ndisks; i++) {
        struct qemu_backup_disk *dk = &qb->disks[i];

        if (dk->export_added) {
            if (qemu_export_del(qb->qmp, dk->export, errp) < 0 && errp) {
                return -1;
            }
            dk->export_added = false;
        }
        if (dk->job_running) {
            if (qemu_job_cancel(qb->qmp, dk->job, errp) < 0 && errp) {
                return -1;
            }
            dk->job_running = false;
        }
        if (dk->node_added) {
            if (qemu_node_del(qb->qmp, dk->node, errp) < 0 && errp) {
                return -1;
            }
            dk->node_added = false;
        }
        if (dk->file_made) {
            unlink(dk->scratch);
            dk->file_made = false;
        }
    }
    if (qb->server_started) {
        if (qemu_qmp_run(qb->qmp, "nbd-server-stop", NULL, errp) < 0 &&
            errp) {
            return -1;
        }
        qb->server_started = false;
        unlink(qb->sock);
    }
    return 0;
}

int
qemu_backup_finish(struct hv_backup *b, struct error **errp)
{
    struct qemu_backup *qb = qemu_backup_of(b);
    size_t i;

    if (!qb->copied) {
        error_setg(errp, ERR_INVALID, "the backup is not copied yet");
        return -1;
    }
    if (qemu_backup_teardown(qb, errp) < 0) {
        return -1;
    }
    /* The chain moved on: the old bitmap is no longer needed. */
    for (i = 0; i < qb->ndisks; i++) {
        struct qemu_backup_disk *dk = &qb->disks[i];

        if (dk->bitmap_since &&
            qemu_bitmap_remove(qb->qmp, dk->source, dk->bitmap_since,
                               errp) < 0) {
            return -1;
        }
    }
    qemu_backup_free(qb);
    return 0;
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
    if (qb->qmp) {
        qemu_backup_teardown(qb, NULL);
        for (i = 0; i < qb->ndisks; i++) {
            struct qemu_backup_disk *dk = &qb->disks[i];

            if (dk->new_added) {
                qemu_bitmap_remove(qb->qmp, dk->source, dk->bitmap_new,
                                   NULL);
            }
        }
    }
    for (i = 0; i < qb->ndisks; i++) {
        if (qb->disks[i].file_made) {
            unlink(qb->disks[i].scratch);
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

/* Run FN on every element of QMP query COMMAND's array whose string
 * KEY matches PREFIX + TAG.
 */
static void
qemu_reap_each(struct qmp *q, const char *command, const char *key,
               const char *prefix, const char *tag,
               void (*fn)(struct qmp *q, json_object *e, const char *name))
{
    json_object *list = qmp_execute(q, command, NULL, QEMU_QMP_TIMEOUT_MS,
                                    NULL);
    size_t i, n = json_object_is_type(list, json_type_array)
                      ? json_object_array_length(list)
                      : 0;

    for (i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(list, i);
        const char *name = qemu_str(e, key);

        if (qemu_reap_match(name, prefix, tag)) {
            fn(q, e, name);
        }
    }
    json_object_put(list);
}

static void
qemu_reap_job(struct qmp *q, json_object *e, const char *name)
{
    qemu_job_cancel(q, name, NULL);
}

static void
qemu_reap_export(struct qmp *q, json_object *e, const char *name)
{
    qemu_export_del(q, name, NULL);
}

static void
qemu_reap_node(struct qmp *q, json_object *e, const char *name)
{
    log_warnx("removing block node %s left by a backup", name);
    qemu_node_del(q, name, NULL);
}

/* The bitmap a dead backup TAG added ("vmsnap-TAG", the engine's name)
 * records from a point in time no backup was made of: remove it from
 * every node.
 */
static void
qemu_reap_bitmaps(struct qmp *q, const char *tag)
{
    json_object *list = qmp_execute(q, "query-named-block-nodes", NULL,
                                    QEMU_QMP_TIMEOUT_MS, NULL);
    CLEANUP_FREE char *want = xasprintf("vmsnap-%s", tag);
    size_t i, n = json_object_is_type(list, json_type_array)
                      ? json_object_array_length(list)
                      : 0;

    for (i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(list, i);
        const char *node = qemu_str(e, "node-name");
        json_object *bm;

        if (node && json_object_object_get_ex(e, "dirty-bitmaps", &bm) &&
            json_object_is_type(bm, json_type_array) &&
            qemu_bitmap_find(bm, want)) {
            log_warnx("removing dirty bitmap %s left by a backup", want);
            qemu_bitmap_remove(q, node, want, NULL);
        }
    }
    json_object_put(list);
}

/* Remove the scratch files of backup TAG in D's directory. */
static void
qemu_reap_files(const struct hv_domain *d, const char *tag)
{
    CLEANUP_FREE char *dir = qemu_path(d, ".");
    CLEANUP_FREE char *prefix = xasprintf("backup-%.8s-", tag);
    CLEANUP_FREE char *sock = xasprintf("nbd-%.8s.sock", tag);
    struct dirent *e;
    DIR *dh = opendir(dir);

    while (dh && (e = readdir(dh)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 ||
            strcmp(e->d_name, sock) == 0) {
            CLEANUP_FREE char *path = qemu_path(d, e->d_name);

            unlink(path);
        }
    }
    if (dh) {
        closedir(dh);
    }
}

int
qemu_backup_reap(struct hv *hv, const struct hv_domain *d, const char *tag,
                 struct error **errp)
{
    struct qmp *q;

    if (qemu_pid(d) == 0) {
        if (tag) {
            qemu_reap_files(d, tag);
        }
        return 0;
    }
    q = qemu_qmp(d, errp);
    if (q == NULL) {
        return -1;
    }
    qemu_reap_each(q, "query-block-exports", "id", "exp-", tag,
                   qemu_reap_export);
    qemu_reap_each(q, "query-block-jobs", "device", "snapjob-", tag,
                   qemu_reap_job);
    qemu_reap_each(q, "query-named-block-nodes", "node-name", "snap-", tag,
                   qemu_reap_node);
    if (tag) {
        qemu_reap_bitmaps(q, tag);
    }
    qemu_qmp_run(q, "nbd-server-stop", NULL, NULL);
    qmp_close(q);
    if (tag) {
        qemu_reap_files(d, tag);
    }
    return 0;
}
