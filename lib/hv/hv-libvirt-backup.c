/* vmsnap: backups of libvirt domains (the backup_* methods of hv.h).
 *
 * libvirt's backup API in pull mode (docs/internals/libvirt.md says why
 * pull and not push: measured here, a shorter freeze window, a rate limit,
 * and the copy outside the guest's QEMU):
 *   prepare  qemu-img creates a scratch qcow2 per disk (in the domain's
 *            state directory) and the target; the backup XML is built;
 *   fix      virDomainBackupBegin(REUSE_EXTERNAL): ONE libvirt call that
 *            fixes every chosen disk at the same instant (one QMP
 *            transaction of blockdev-backup sync=none into the scratch
 *            files) and exports the frozen views over NBD on a unix
 *            socket; its cost does not depend on the disks' size;
 *   wait     the copy path (diskcopy.h) reads each export into its
 *            target, one disk after the other; the first that fails
 *            fails the backup;
 *   finish   virDomainAbortJob ends the backup job (how a pull backup
 *            ends), the scratch files go;
 *   abort    ends the job if there is one, deletes the checkpoint it made,
 *            the scratch files and the targets;
 *   reap     ends a job whose NBD socket carries the tag, deletes the
 *            scratch files.
 * The domain's disks, backing chains and persistent XML are never changed:
 * the scratch files hang off the running disks only inside QEMU, for the
 * life of the job.
 *
 * Names: the socket is STATE_DIR/backup-TAG.sock (or /run/vmsnap/... when
 * that path is too long for a unix socket), the scratch files
 * STATE_DIR/backup-TAG-DEV.scratch.qcow2.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "cleanup.h"
#include "diskcopy.h"
#include "hv-libvirt-priv.h"
#include "log.h"
#include "qemuimg.h"
#include "run.h"
#include "sock.h"
#include "util.h"
#include "xalloc.h"

#define LVB_RUN_DIR "/run/vmsnap"   /* sockets whose path is too long */
#define LVB_JOB_END_MS 30000        /* libvirt ending a job */
#define LVB_POLL_MS 100

struct lv_backup;
static int lvb_checkpoints_prune(struct lv_backup *b, struct error **errp);

/* One disk of a backup. */
struct lvb_disk {
    char dev[32];          /* the domain's target name ("vda") */
    char *target;          /* the file the copy goes to */
    struct diskcopy_target *copy; /* where the copy goes */
    struct diskcopy_target own;   /* copy when the spec gave none */
    char *scratch;         /* our scratch file */
    int64_t size;          /* virtual size in bytes */
    bool target_made;      /* we created target */
    bool scratch_made;     /* we created scratch */
    bool bitmap;           /* in the new checkpoint (BITMAP_NEW given:
                            * a raw disk cannot be) */
};

struct lv_backup {
    struct hv_backup base; /* first: hv.h */
    struct lv *lv;         /* the driver */
    char id[37];           /* the domain's UUID */
    char *name;            /* its name, for messages */
    char *tag;             /* the spec's tag */
    char *sock;            /* the NBD socket */
    char *xml;             /* the backup XML */
    char *cp_xml;          /* the checkpoint XML, or NULL */
    char *checkpoint;      /* the checkpoint's name, or NULL */
    char *since;           /* incremental: the checkpoint it reads from,
                            * or NULL */
    virDomainPtr dom;      /* looked up on connection generation dom_gen */
    unsigned dom_gen;      /* lv->gen of dom */
    struct lvb_disk *disks; /* the disks, in the spec's order */
    size_t ndisks;         /* entries in disks */
    int64_t rate_limit;    /* bytes per second per disk, 0: none */
    int stall_ms;          /* the export may be silent this long */
    int inflight;          /* read requests of the copy in flight */
    int nice;              /* the copy threads' nice value */
    int yield_pct;         /* the copy gives way to the guest past this */
    int break_disk;        /* test hook: the copy of this disk fails */
    bool tried;            /* BackupBegin was called (the job may exist
                            * even when the call failed) */
    bool begun;            /* the job runs */
    bool cp_made;          /* the checkpoint exists */
    bool copied;           /* every disk is in its target */
};

static int lvb_end_leftover(struct lv *lv, virDomainPtr dom,
                            const char *state_dir, struct error **errp);

/* A tag goes into file names: letters, digits, '-', '_', '.'. */
static bool
lvb_tag_ok(const char *tag)
{
    size_t n = tag ? strlen(tag) : 0;

    if (n == 0 || n > 64 || tag[0] == '.') {
        return false;
    }
    return strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789-_.") == n;
}

static bool
lvb_word(const char *s)
{
    return s && *s && strspn(s, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
                          strlen(s);
}

/* The socket path of backup TAG of a domain with state directory DIR
 * (caller frees), or NULL with the error.
 */
static char *
lvb_sock_path(const char *dir, const char *tag, struct error **errp)
{
    struct sockaddr_un sa;
    CLEANUP_FREE char *name = util_strdup_printf("backup-%s.sock", tag);
    char *path = util_path_join(dir, name);

    if (strlen(path) >= sizeof(sa.sun_path)) {
        free(path);
        if (util_mkdir_p(LVB_RUN_DIR, 0700, errp) < 0) {
            return NULL;
        }
        path = util_path_join(LVB_RUN_DIR, name);
    }
    return path;
}

static void
lvb_unlink(const char *path)
{
    if (path && unlink(path) < 0 && errno != ENOENT) {
        log_warnx("cannot remove %s: %s", path, strerror(errno));
    }
}

/* Free B and remove the files named: scratch files and the socket always,
 * the targets we made when TARGETS_TOO.
 */
static void
lvb_free(struct lv_backup *b, bool targets_too)
{
    size_t i;

    for (i = 0; i < b->ndisks; i++) {
        struct lvb_disk *d = &b->disks[i];

        if (d->scratch_made) {
            lvb_unlink(d->scratch);
        }
        if (targets_too && d->target_made) {
            lvb_unlink(d->target);
        }
        free(d->target);
        free(d->scratch);
    }
    lvb_unlink(b->sock);
    free(b->disks);
    if (b->dom) {
        virDomainFree(b->dom);
    }
    free(b->name);
    free(b->tag);
    free(b->sock);
    free(b->xml);
    free(b->cp_xml);
    free(b->checkpoint);
    free(b->since);
    free(b);
}

/* The domain of B on the current connection of the driver. */
static virDomainPtr
lvb_dom(struct lv_backup *b, int reconnect_ms, struct error **errp)
{
    if (lv_conn_wait(b->lv, reconnect_ms, errp) == NULL) {
        return NULL;
    }
    if (b->dom && b->dom_gen == b->lv->gen) {
        return b->dom;
    }
    if (b->dom) {
        virDomainFree(b->dom);
    }
    b->dom = lv_lookup(b->lv, b->id, errp);
    b->dom_gen = b->lv->gen;
    return b->dom;
}

/* Build the backup XML of B: every disk of X with backup='no' except
 * ours, pull mode on B's socket.  And the checkpoint XML when asked.
 */
static void
lvb_make_xml(struct lv_backup *b, const struct lv_xdom *x)
{
    xmlNodePtr root, disks, n, cpdisks = NULL, cp = NULL;
    xmlDocPtr doc = lv_doc("domainbackup", &root), cpdoc = NULL;
    size_t i, j;

    lv_set(root, "mode", "pull");
    if (b->since) {
        lv_el(root, "incremental", b->since);
    }
    n = lv_el(root, "server", NULL);
    lv_set(n, "transport", "unix");
    lv_set(n, "socket", b->sock);
    disks = lv_el(root, "disks", NULL);
    if (b->checkpoint) {
        cpdoc = lv_doc("domaincheckpoint", &cp);
        lv_el(cp, "name", b->checkpoint);
        cpdisks = lv_el(cp, "disks", NULL);
    }
    for (i = 0; i < x->ntargets; i++) {
        struct lvb_disk *ours = NULL;

        for (j = 0; j < b->ndisks; j++) {
            if (strcmp(b->disks[j].dev, x->targets[i]) == 0) {
                ours = &b->disks[j];
            }
        }
        n = lv_el(disks, "disk", NULL);
        lv_set(n, "name", x->targets[i]);
        lv_set(n, "backup", ours ? "yes" : "no");
        if (ours) {
            lv_set(n, "type", "file");
            lv_set(n, "exportname", ours->dev);
            if (b->since) {
                char bm[48];

                snprintf(bm, sizeof(bm), "backup-%s", ours->dev);
                lv_set(n, "exportbitmap", bm);
            }
            lv_set(lv_el(n, "driver", NULL), "type", "qcow2");
            lv_set(lv_el(n, "scratch", NULL), "file", ours->scratch);
        }
        if (cpdisks) {
            n = lv_el(cpdisks, "disk", NULL);
            lv_set(n, "name", x->targets[i]);
            lv_set(n, "checkpoint", ours && ours->bitmap ? "bitmap" : "no");
        }
    }
    b->xml = lv_dump_fmt(doc, root, 0);
    if (cp) {
        b->cp_xml = lv_dump_fmt(cpdoc, cp, 0);
    }
    xmlFreeDoc(cpdoc);
    xmlFreeDoc(doc);
}

static int
lvb_check_spec(const struct hv_backup_spec *spec, const char **checkpoint,
               const char **since, struct error **errp)
{
    size_t i;

    *checkpoint = NULL;
    *since = NULL;
    if (!lvb_tag_ok(spec->tag)) {
        error_setg(errp, ERR_INVALID, "bad backup tag '%s'",
                   spec->tag ? spec->tag : "");
        return -1;
    }
    if (spec->ndisks < 1 || spec->disks == NULL) {
        error_setg(errp, ERR_INVALID, "a backup needs at least one disk");
        return -1;
    }
    for (i = 0; i < spec->ndisks; i++) {
        const struct hv_backup_disk *bd = &spec->disks[i];

        /* TARGET is the copy's file only when the spec gives no COPY. */
        if (bd->source == NULL || bd->source->path == NULL ||
            (bd->copy == NULL &&
             (bd->target == NULL || bd->target[0] != '/'))) {
            error_setg(errp, ERR_INVALID, "backup disk %zu: a source and "
                       "an absolute target path are needed", i);
            return -1;
        }
        /* An incremental reads one checkpoint for every disk. */
        if (bd->bitmap_since &&
            (!lvb_word(bd->bitmap_since) ||
             (*since && strcmp(*since, bd->bitmap_since) != 0))) {
            error_setg(errp, ERR_INVALID,
                       "the libvirt driver needs one checkpoint to read (a "
                       "word) for every disk of a backup");
            return -1;
        }
        if (bd->bitmap_since) {
            *since = bd->bitmap_since;
        }
        if (bd->bitmap_new == NULL) {
            continue;
        }
        /* libvirt's checkpoint is one name for a set of disks. */
        if (!lvb_word(bd->bitmap_new) ||
            (*checkpoint && strcmp(*checkpoint, bd->bitmap_new) != 0)) {
            error_setg(errp, ERR_INVALID,
                       "the libvirt driver needs one checkpoint name (a "
                       "word) for every disk of a backup");
            return -1;
        }
        *checkpoint = bd->bitmap_new;
    }
    return 0;
}

int
lv_backup_prepare(struct hv *hv, const struct hv_domain *d,
                  const struct hv_backup_spec *spec, struct hv_backup **out,
                  struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    struct lv_backup *b = NULL;
    struct lv_xdom x = {0};
    const char *checkpoint, *since;
    virDomainJobInfo job;
    size_t i, j;
    int active;

    if (d == NULL || !util_is_uuid(d->id) || d->state_dir == NULL ||
        d->state_dir[0] != '/') {
        error_setg(errp, ERR_INVALID, "the domain needs a UUID and an "
                                      "absolute state directory");
        return -1;
    }
    if (lvb_check_spec(spec, &checkpoint, &since, errp) < 0) {
        return -1;
    }
    b = xcalloc(1, sizeof(*b));
    b->disks = xcalloc(spec->ndisks, sizeof(*b->disks));
    b->tag = xstrdup(spec->tag);
    b->checkpoint = checkpoint ? xstrdup(checkpoint) : NULL;
    b->since = since ? xstrdup(since) : NULL;
    b->base.hv = hv;
    b->lv = lv;
    b->rate_limit = spec->rate_limit;
    b->inflight = spec->copy_inflight;
    b->nice = spec->copy_nice;
    b->yield_pct = spec->copy_yield_pct;
    b->stall_ms = spec->copy_stall_ms;
    b->break_disk = spec->break_disk;
    snprintf(b->id, sizeof(b->id), "%s", d->id);
    if (lvb_dom(b, 0, errp) == NULL) {
        goto fail;
    }
    b->name = xstrdup(virDomainGetName(b->dom));
    active = virDomainIsActive(b->dom);
    if (active != 1) {
        if (active < 0) {
            lv_fail(lv, errp, "cannot read domain %s", b->name);
        } else {
            error_setg(errp, ERR_CONFLICT,
                       "domain %s is not running: its disks are copied "
                       "cold, without the hypervisor",
                       b->name);
        }
        goto fail;
    }
    /* libvirt runs one job per domain; say so before making files. */
    if (virDomainGetJobInfo(b->dom, &job) < 0) {
        lv_fail(lv, errp, "cannot read the jobs of domain %s", b->name);
        goto fail;
    }
    /* A job of ours an earlier backup could not end (libvirtd was away
     * at its end) is ended now; anybody else's is left alone.
     */
    if (job.type != VIR_DOMAIN_JOB_NONE) {
        int r = lvb_end_leftover(lv, b->dom, d->state_dir, errp);

        if (r < 0) {
            goto fail;
        }
        if (r == 0) {
            error_setg(errp, ERR_CONFLICT,
                       "domain %s is busy with another job (a backup or a "
                       "migration)",
                       b->name);
            goto fail;
        }
    }
    if (lv_xdom_read(lv, b->dom, 0, &x, errp) < 0) {
        goto fail;
    }
    if (b->checkpoint && lvb_checkpoints_prune(b, errp) < 0) {
        goto fail;
    }
    if (util_mkdir_p(d->state_dir, 0700, errp) < 0) {
        goto fail;
    }
    b->sock = lvb_sock_path(d->state_dir, spec->tag, errp);
    if (b->sock == NULL) {
        goto fail;
    }
    lvb_unlink(b->sock);
    for (i = 0; i < spec->ndisks; i++) {
        const struct hv_backup_disk *bd = &spec->disks[i];
        const struct lv_xdisk *xd = lv_xdom_find(&x, bd->source->path);
        struct lvb_disk *bk = &b->disks[i];
        virDomainBlockInfo info;
        CLEANUP_FREE char *file = NULL;

        if (xd == NULL) {
            error_setg(errp, ERR_NOT_FOUND, "%s is not a disk of domain %s",
                       bd->source->path, b->name);
            goto fail;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(b->disks[j].dev, xd->target) == 0) {
                error_setg(errp, ERR_INVALID, "disk %s is named twice",
                           xd->target);
                goto fail;
            }
        }
        snprintf(bk->dev, sizeof(bk->dev), "%s", xd->target);
        bk->bitmap = bd->bitmap_new != NULL;
        b->ndisks++;
        if (virDomainGetBlockInfo(b->dom, bk->dev, &info, 0) < 0) {
            lv_fail(lv, errp, "cannot read the size of disk %s of %s",
                    bk->dev, b->name);
            goto fail;
        }
        bk->size = (int64_t)info.capacity;
        file = util_strdup_printf("backup-%s-%s.scratch.qcow2", spec->tag,
                                  bk->dev);
        bk->scratch = util_path_join(d->state_dir, file);
        bk->target = xstrdup(bd->target ? bd->target : "");
        if (bd->copy) {
            bk->copy = bd->copy;
        } else {
            bk->own.kind = DISKCOPY_QCOW2;
            bk->own.path = bk->target;
            bk->copy = &bk->own;
        }
        /* Everything slow happens here, before any freeze: the file
         * libvirt opens in fix.  The copy path makes the target in wait.
         */
        bk->scratch_made = true;
        if (qemuimg_create(bk->scratch, "qcow2", bk->size, errp) < 0) {
            goto fail;
        }
    }
    lvb_make_xml(b, &x);
    lv_xdom_clear(&x);
    log_debug("libvirt", "backup of %s prepared: %s", b->name, b->xml);
    *out = &b->base;
    return 0;
fail:
    lv_xdom_clear(&x);
    if (b) {
        lvb_free(b, true);
    }
    return -1;
}

int
lv_backup_fix(struct hv_backup *hb, struct error **errp)
{
    struct lv_backup *b = (struct lv_backup *)hb;
    virDomainPtr dom;

    /* Inside the freeze: no reconnecting wait, one call. */
    dom = lvb_dom(b, 0, errp);
    if (dom == NULL) {
        error_prepend(errp, "cannot start the backup of %s: ", b->name);
        return -1;
    }
    b->tried = true;
    if (virDomainBackupBegin(dom, b->xml, b->cp_xml,
                             VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL) < 0) {
        return lv_fail(b->lv, errp, "cannot start the backup of %s",
                       b->name);
    }
    b->begun = true;
    b->cp_made = b->cp_xml != NULL;
    return 0;
}

/* pacer_probe: the total time the domain's vCPU threads have waited for
 * a core, libvirt's vcpu.N.delay (their schedstat run delay, in ns).
 */
static int
lvb_vcpu_delay(void *opaque, int64_t *ns)
{
    struct lv_backup *b = opaque;
    virDomainPtr doms[2] = {NULL, NULL};
    virDomainStatsRecordPtr *recs = NULL;
    unsigned long long sum = 0;
    int i, found = 0;

    doms[0] = lvb_dom(b, 0, NULL);
    if (doms[0] != NULL &&
        virDomainListGetStats(doms, VIR_DOMAIN_STATS_VCPU, &recs, 0) > 0) {
        for (i = 0; i < recs[0]->nparams; i++) {
            const virTypedParameter *tp = &recs[0]->params[i];
            size_t len = strlen(tp->field);

            if (strncmp(tp->field, "vcpu.", 5) == 0 && len > 11 &&
                strcmp(tp->field + len - 6, ".delay") == 0 &&
                tp->type == VIR_TYPED_PARAM_ULLONG) {
                sum += tp->value.ul;
                found++;
            }
        }
    }
    virDomainStatsRecordListFree(recs);
    if (found == 0) {
        return -1;
    }
    *ns = (int64_t)sum;
    return 0;
}

int
lv_backup_wait(struct hv_backup *hb, const struct progress *p,
               struct error **errp)
{
    struct lv_backup *b = (struct lv_backup *)hb;
    struct pacer_probe guest = {lvb_vcpu_delay, b};
    struct diskcopy_opts o = {.rate_limit = b->rate_limit,
                              .inflight = b->inflight, .nice = b->nice,
                              .stall_ms = b->stall_ms, .progress = p};
    int64_t ns;
    size_t i;

    if (!b->begun) {
        error_setg(errp, ERR_INVALID, "the backup of %s was not started",
                   b->name);
        return -1;
    }
    if (b->yield_pct > 0 && lvb_vcpu_delay(b, &ns) == 0) {
        o.guest = &guest;
        o.yield_pct = b->yield_pct;
    } else if (b->yield_pct > 0) {
        log_warnx("domain %s: libvirt gives no vCPU delay: the copy will "
                  "not give way to the guest", b->name);
    }
    /* The copy path (diskcopy.h) reads each disk's export; the test hook
     * makes the copy of one disk fail half-way.
     */
    for (i = 0; i < b->ndisks; i++) {
        struct lvb_disk *d = &b->disks[i];
        struct diskcopy_source *src;
        char bm[48];
        int r;

        snprintf(bm, sizeof(bm), "backup-%s", d->dev);
        src = diskcopy_source_nbd(b->sock, d->dev, b->since ? bm : NULL,
                                  errp);
        if (src == NULL) {
            error_prepend(errp, "copy of disk %s of %s: ", d->dev, b->name);
            return -1;
        }
        o.progress_from = 100.0 * (double)i / (double)b->ndisks;
        o.progress_to = 100.0 * (double)(i + 1) / (double)b->ndisks;
        o.fail_after = b->break_disk == (int)i ? 1 : 0;
        r = diskcopy_run(src, d->copy, &o, errp);
        diskcopy_source_close(src);
        if (r < 0) {
            error_prepend(errp, "copy of disk %s of %s: ", d->dev, b->name);
            return -1;
        }
        d->target_made = d->copy == &d->own;
    }
    b->copied = true;
    progress_report(p, "copy", 100);
    return 0;
}

/* The socket of the backup job DOM runs now (caller frees): "" when it
 * runs none, NULL with the error when that cannot be known.
 */
static char *
lvb_job_socket(struct lv *lv, virDomainPtr dom, struct error **errp)
{
    char *xml = virDomainBackupGetXMLDesc(dom, 0);
    xmlDocPtr doc;
    xmlNodePtr root, c;
    char *sock = NULL;

    if (xml == NULL) {
        if (lv_last_code() == VIR_ERR_NO_DOMAIN_BACKUP ||
            lv_last_code() == VIR_ERR_OPERATION_INVALID) {
            return xstrdup("");
        }
        lv_fail(lv, errp, "cannot read the backup job of %s",
                virDomainGetName(dom));
        return NULL;
    }
    doc = xmlReadMemory(xml, (int)strlen(xml), "backup.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    free(xml);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    for (c = root ? root->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE &&
            strcmp((const char *)c->name, "server") == 0) {
            xmlChar *s = xmlGetProp(c, (const xmlChar *)"socket");

            sock = xstrdup(s ? (const char *)s : "");
            xmlFree(s);
        }
    }
    xmlFreeDoc(doc);
    /* A push backup (someone else's) has no server. */
    return sock ? sock : xstrdup("");
}

/* Log how much scratch space the job of DOM used: what the guest wrote
 * during the copy (the space a pull backup needs beside the disks).
 */
static void
lvb_log_scratch(virDomainPtr dom)
{
    virTypedParameterPtr params = NULL;
    unsigned long long used = 0, total = 0;
    int n = 0, type;

    if (!log_debug_enabled("libvirt") ||
        virDomainGetJobStats(dom, &type, &params, &n, 0) < 0) {
        return;
    }
    virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DISK_TEMP_USED, &used);
    virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DISK_TEMP_TOTAL,
                            &total);
    log_debug("libvirt", "backup of %s: scratch files hold %llu of %llu "
              "bytes", virDomainGetName(dom), used, total);
    virTypedParamsFree(params, n);
}

/* End the backup job of DOM if its socket is SOCK, and wait until libvirt
 * says no job runs.  Returns 1 when it ended ours, 0 when none of ours
 * ran, -1 with the error.
 */
static int
lvb_end_job(struct lv *lv, virDomainPtr dom, const char *sock,
            struct error **errp)
{
    char *running = lvb_job_socket(lv, dom, errp);
    int64_t deadline;
    bool ours;

    if (running == NULL) {
        return -1;
    }
    ours = strcmp(running, sock) == 0;
    free(running);
    if (!ours) {
        return 0;
    }
    lvb_log_scratch(dom);
    /* In pull mode, aborting is how a backup ends; libvirt stops the
     * export and drops the scratch nodes.
     */
    if (virDomainAbortJob(dom) < 0 &&
        lv_last_code() != VIR_ERR_OPERATION_INVALID) {
        return lv_fail(lv, errp, "cannot end the backup job of %s",
                       virDomainGetName(dom));
    }
    deadline = sock_deadline(LVB_JOB_END_MS);
    for (;;) {
        virDomainJobInfo job;

        if (virDomainGetJobInfo(dom, &job) < 0) {
            if (lv_last_code() == VIR_ERR_OPERATION_INVALID) {
                return 1;       /* the domain stopped: no job either */
            }
            return lv_fail(lv, errp, "cannot read the jobs of %s",
                           virDomainGetName(dom));
        }
        if (job.type == VIR_DOMAIN_JOB_NONE) {
            return 1;
        }
        if (sock_remaining_ms(deadline) == 0) {
            error_setg(errp, ERR_TIMEOUT,
                       "the backup job of %s does not end",
                       virDomainGetName(dom));
            return -1;
        }
        sock_sleep_ms(LVB_POLL_MS, deadline);
    }
}

/* End B's job (if it has one), reconnecting for a while when libvirt is
 * away.
 */
static int
lvb_end(struct lv_backup *b, struct error **errp)
{
    struct error *err = NULL;
    virDomainPtr dom;
    int r;

    if (!b->tried) {
        return 0;
    }
    dom = lvb_dom(b, b->lv->reconnect_ms, errp);
    if (dom == NULL) {
        return -1;
    }
    r = lvb_end_job(b->lv, dom, b->sock, &err);
    if (r < 0 && b->lv->conn == NULL) {
        /* The connection died under us: once more, on a new one. */
        error_free(err);
        err = NULL;
        dom = lvb_dom(b, b->lv->reconnect_ms, &err);
        r = dom ? lvb_end_job(b->lv, dom, b->sock, &err) : -1;
    }
    if (r < 0) {
        error_propagate(errp, err);
        return -1;
    }
    b->begun = false;
    b->tried = false;
    return 0;
}

/* Delete checkpoint NAME of B's domain; a missing one is not an error. */
static int
lvb_checkpoint_delete(struct lv_backup *b, const char *name,
                      struct error **errp)
{
    virDomainCheckpointPtr cp;
    int r = 0;

    cp = virDomainCheckpointLookupByName(b->dom, name, 0);
    if (cp == NULL) {
        return lv_last_code() == VIR_ERR_NO_DOMAIN_CHECKPOINT
                   ? 0
                   : lv_fail(b->lv, errp, "cannot find checkpoint %s of %s",
                             name, b->name);
    }
    if (virDomainCheckpointDelete(cp, 0) < 0) {
        r = lv_fail(b->lv, errp, "cannot delete checkpoint %s of %s", name,
                    b->name);
    }
    virDomainCheckpointFree(cp);
    return r;
}

/* Before a backup that starts checkpoint B->checkpoint: delete vmsnap's
 * other checkpoints of the domain but the one it reads (what broken
 * chains left).
 */
static int
lvb_checkpoints_prune(struct lv_backup *b, struct error **errp)
{
    virDomainCheckpointPtr *cps = NULL;
    int n, i, r = 0;

    n = virDomainListAllCheckpoints(b->dom, &cps, 0);
    if (n < 0) {
        return lv_fail(b->lv, errp, "cannot list the checkpoints of %s",
                       b->name);
    }
    for (i = 0; i < n; i++) {
        const char *name = virDomainCheckpointGetName(cps[i]);

        if (r == 0 && name && strncmp(name, "vmsnap-", 7) == 0 &&
            (b->since == NULL || strcmp(name, b->since) != 0) &&
            virDomainCheckpointDelete(cps[i], 0) < 0) {
            /* An inconsistent bitmap cannot be merged: drop the record. */
            if (virDomainCheckpointDelete(
                    cps[i], VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY) < 0) {
                r = lv_fail(b->lv, errp, "cannot delete checkpoint %s of %s",
                            name, b->name);
            }
        }
        virDomainCheckpointFree(cps[i]);
    }
    free(cps);
    return r;
}

int
lv_bitmap_check(struct hv *hv, const struct hv_domain *d,
                const struct hv_disk *disk, const char *name, char **why,
                struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    virDomainCheckpointPtr cp;
    virDomainPtr dom;
    char *xml;

    if (strcmp(disk->format, "qcow2") != 0) {
        *why = util_strdup_printf("disk %s is %s: only qcow2 keeps a "
                                  "persistent dirty bitmap",
                                  disk->id, disk->format);
        return *why ? 0 : -1;
    }
    dom = lv_lookup(lv, d->id, errp);
    if (dom == NULL) {
        return -1;
    }
    cp = virDomainCheckpointLookupByName(dom, name, 0);
    if (cp == NULL) {
        *why = util_strdup_printf("checkpoint %s is missing in libvirt",
                                  name);
        virDomainFree(dom);
        return 0;
    }
    /* Sizing the checkpoint reads its bitmaps in QEMU: an inconsistent
     * or missing one fails here.
     */
    xml = virDomainCheckpointGetXMLDesc(cp, VIR_DOMAIN_CHECKPOINT_XML_SIZE);
    if (xml == NULL) {
        *why = util_strdup_printf("checkpoint %s cannot be used: %s", name,
                                  virGetLastErrorMessage());
    }
    free(xml);
    virDomainCheckpointFree(cp);
    virDomainFree(dom);
    return *why ? 0 : 1;
}

int
lv_backup_finish(struct hv_backup *hb, struct error **errp)
{
    struct lv_backup *b = (struct lv_backup *)hb;

    if (!b->copied) {
        error_setg(errp, ERR_INVALID, "the backup of %s is not copied yet",
                   b->name);
        return -1;
    }
    if (lvb_end(b, errp) < 0) {
        error_prepend(errp, "backup of %s: ", b->name);
        return -1;
    }
    /* The chain moved on to the new checkpoint. */
    if (b->since && b->checkpoint &&
        lvb_checkpoint_delete(b, b->since, errp) < 0) {
        return -1;
    }
    lvb_free(b, false);
    return 0;
}

void
lv_backup_abort(struct hv_backup *hb)
{
    struct lv_backup *b = (struct lv_backup *)hb;
    struct error *err = NULL;

    if (b == NULL) {
        return;
    }
    if (lvb_end(b, &err) < 0) {
        log_warnx("the backup job of %s may still run (%s): "
                  "hv_backup_reap ends it",
                  b->name, error_msg(err));
        error_free(err);
        err = NULL;
    }
    if (b->cp_made && b->dom) {
        virDomainCheckpointPtr cp =
            virDomainCheckpointLookupByName(b->dom, b->checkpoint, 0);

        if (cp == NULL || virDomainCheckpointDelete(cp, 0) < 0) {
            log_warnx("cannot delete checkpoint %s of %s: %s",
                      b->checkpoint, b->name, virGetLastErrorMessage());
        }
        if (cp) {
            virDomainCheckpointFree(cp);
        }
    }
    lvb_free(b, true);
}

/* Remove the files of backup TAG in DIR: its socket and scratch files. */
static void
lvb_reap_files(const char *dir, const char *tag)
{
    CLEANUP_FREE char *prefix = util_strdup_printf("backup-%s-", tag);
    CLEANUP_FREE char *sockname = util_strdup_printf("backup-%s.sock", tag);
    DIR *dh;
    struct dirent *e;

    dh = opendir(dir);
    if (dh == NULL) {
        return;
    }
    while ((e = readdir(dh)) != NULL) {
        size_t n = strlen(e->d_name), s = strlen(".scratch.qcow2");

        if ((strncmp(e->d_name, prefix, strlen(prefix)) == 0 && n > s &&
             strcmp(e->d_name + n - s, ".scratch.qcow2") == 0) ||
            strcmp(e->d_name, sockname) == 0) {
            CLEANUP_FREE char *path = util_path_join(dir, e->d_name);

            lvb_unlink(path);
        }
    }
    closedir(dh);
}

/* End the backup job DOM runs if it is one of vmsnap's for this domain:
 * its NBD socket is a backup-TAG.sock in STATE_DIR (or in LVB_RUN_DIR,
 * where long paths go), so an earlier backup of this domain made it, and
 * since the caller runs one backup of a domain at a time, that one is
 * over.  Its scratch files go too.  Returns 1 when it ended one, 0 when
 * the job is not ours, -1 with the error.
 */
static int
lvb_end_leftover(struct lv *lv, virDomainPtr dom, const char *state_dir,
                 struct error **errp)
{
    CLEANUP_FREE char *sock = lvb_job_socket(lv, dom, errp);
    CLEANUP_FREE char *dir = NULL;
    CLEANUP_FREE char *tag = NULL;
    const char *base;
    size_t n;
    int r;

    if (sock == NULL) {
        return -1;
    }
    base = strrchr(sock, '/');
    if (base == NULL) {
        return 0;
    }
    dir = xstrndup(sock, (size_t)(base - sock));
    base++;
    n = strlen(base);
    if (strncmp(base, "backup-", 7) != 0 || n <= 12 ||
        strcmp(base + n - 5, ".sock") != 0 ||
        (strcmp(dir, state_dir) != 0 && strcmp(dir, LVB_RUN_DIR) != 0)) {
        return 0;
    }
    tag = xstrndup(base + 7, n - 12);
    if (!lvb_tag_ok(tag)) {
        return 0;
    }
    r = lvb_end_job(lv, dom, sock, errp);
    if (r > 0) {
        log_warnx("ended the backup job %s an earlier backup left on domain "
                  "%s",
                  tag, virDomainGetName(dom));
        lvb_reap_files(state_dir, tag);
        lvb_unlink(sock);
    }
    return r;
}

int
lv_backup_reap(struct hv *hv, const struct hv_domain *d, const char *tag,
               struct error **errp)
{
    struct lv *lv = hv_priv(hv);
    struct error *err = NULL;
    CLEANUP_FREE char *sock = NULL;
    virDomainPtr dom;
    int r = 0;

    if (d == NULL || d->state_dir == NULL || !lvb_tag_ok(tag)) {
        error_setg(errp, ERR_INVALID, "backup reap needs a domain with a "
                                      "state directory and a tag");
        return -1;
    }
    sock = lvb_sock_path(d->state_dir, tag, errp);
    if (sock == NULL) {
        return -1;
    }
    dom = lv_lookup(lv, d->id, &err);
    if (dom == NULL && error_get_class(err) != ERR_NOT_FOUND) {
        error_propagate(errp, err);
        return -1;
    }
    error_free(err);
    if (dom && virDomainIsActive(dom) == 1) {
        r = lvb_end_job(lv, dom, sock, errp);
        if (r > 0) {
            log_warnx("ended the backup job %s left on domain %s", tag,
                      virDomainGetName(dom));
        }
    }
    if (dom) {
        virDomainFree(dom);
    }
    if (r < 0) {
        return -1;
    }
    lvb_reap_files(d->state_dir, tag);
    lvb_unlink(sock);
    return 0;
}
