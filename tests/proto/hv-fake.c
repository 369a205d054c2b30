/* vmsnap tests: a fake hypervisor driver and guest agent (see
 * hv-fake.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "diskcopy.h"
#include "hv-fake.h"
#include "qemuimg.h"
#include "xalloc.h"

struct fake_hv fake_hv = {.status = "ACTIVE"};

struct fake_backup {
    struct hv_backup base;       /* first */
    char *sources[16];           /* the disks' files */
    char *formats[16];           /* their formats */
    char *targets[16];           /* the targets (no copy path) */
    struct diskcopy_target *copies[16]; /* the copy path's targets */
    size_t n;                    /* disks */
};

static int
fake_fail_here(enum fake_fail where, const char *what, struct error **errp)
{
    if (fake_hv.fail == where) {
        error_setg(errp, ERR_PEER, "fake: %s fails", what);
        return -1;
    }
    return 0;
}

static int
fake_start(struct hv *hv, const struct hv_domain *d, struct error **errp)
{
    if (fake_fail_here(FAKE_START, "start", errp) < 0) {
        return -1;
    }
    snprintf(fake_hv.status, sizeof(fake_hv.status), "ACTIVE");
    return 0;
}

static int
fake_stop(struct hv *hv, const struct hv_domain *d, int timeout_s,
          bool *clean, struct error **errp)
{
    *clean = strcmp(fake_hv.status, "ACTIVE") == 0;
    snprintf(fake_hv.status, sizeof(fake_hv.status), "SHUTOFF");
    return 0;
}

static int
fake_pause(struct hv *hv, const struct hv_domain *d, bool pause,
           struct error **errp)
{
    snprintf(fake_hv.status, sizeof(fake_hv.status), "%s",
             pause ? "PAUSED" : "ACTIVE");
    return 0;
}

static int
fake_destroy(struct hv *hv, const struct hv_domain *d, struct error **errp)
{
    snprintf(fake_hv.status, sizeof(fake_hv.status), "SHUTOFF");
    return 0;
}

static int
fake_state(struct hv *hv, const struct hv_domain *d, struct hv_state *st,
           struct error **errp)
{
    if (strcmp(fake_hv.status, "SHUTOFF") == 0) {
        st->clean_off = fake_hv.clean_off;
    }
    snprintf(st->status, sizeof(st->status), "%s", fake_hv.status);
    snprintf(st->power, sizeof(st->power), "%s",
             strcmp(fake_hv.status, "ACTIVE") == 0   ? "running"
             : strcmp(fake_hv.status, "PAUSED") == 0 ? "paused"
                                                     : "shutdown");
    return 0;
}

/* ---- The agent -------------------------------------------------------- */

static int
fake_agent_ping(struct agent *a, int timeout_ms, struct error **errp)
{
    return 0;
}

static int
fake_agent_freeze(struct agent *a, int timeout_ms, struct error **errp)
{
    if (fake_fail_here(FAKE_AGENT_FREEZE, "guest-fsfreeze-freeze", errp) <
        0) {
        return -1;
    }
    fake_hv.frozen = true;
    fake_hv.freezes++;
    return 1;
}

static int
fake_agent_thaw(struct agent *a, int timeout_ms, struct error **errp)
{
    if (fake_hv.fail == FAKE_AGENT_THAW) {
        error_setg(errp, ERR_PEER, "fake: guest-fsfreeze-thaw fails");
        return -1;
    }
    fake_hv.frozen = false;
    fake_hv.thaws++;
    return 1;
}

/* After a failed thaw the status command thaws for real (the agent
 * recovered), so that the engine's retry path ends thawed.
 */
static int
fake_agent_status(struct agent *a, int timeout_ms, struct error **errp)
{
    if (fake_hv.fail == FAKE_AGENT_THAW && fake_hv.frozen) {
        fake_hv.frozen = false;
        fake_hv.thaws++;
    }
    return fake_hv.frozen ? AGENT_FROZEN : AGENT_THAWED;
}

static void fake_agent_close(struct agent *a);
static struct agent *fake_agent_reopen(const struct agent *a,
                                       struct error **errp);

static const struct agent_ops fake_agent_ops = {
    .version = AGENT_OPS_VERSION,
    .name = "fake",
    .ping = fake_agent_ping,
    .freeze = fake_agent_freeze,
    .thaw = fake_agent_thaw,
    .status = fake_agent_status,
    .reopen_in_child = fake_agent_reopen,
    .close = fake_agent_close,
};

static struct agent *
fake_agent_new(void)
{
    struct agent *a = xcalloc(1, sizeof(*a));

    a->ops = &fake_agent_ops;
    return a;
}

static struct agent *
fake_agent_reopen(const struct agent *a, struct error **errp)
{
    return fake_agent_new();
}

static void
fake_agent_close(struct agent *a)
{
    free(a);
}

static struct agent *
fake_agent_open(struct hv *hv, const struct hv_domain *d, int timeout_ms,
                unsigned flags, struct error **errp)
{
    if (fake_fail_here(FAKE_AGENT_OPEN, "the agent channel", errp) < 0) {
        return NULL;
    }
    return fake_agent_new();
}

/* ---- Backups ---------------------------------------------------------- */

static void
fake_backup_free(struct fake_backup *b)
{
    size_t i;

    for (i = 0; i < b->n; i++) {
        free(b->sources[i]);
        free(b->formats[i]);
        free(b->targets[i]);
    }
    fake_hv.backups_open--;
    free(b);
}

static void
fake_backup_abort(struct hv_backup *hb)
{
    struct fake_backup *b = (struct fake_backup *)hb;
    size_t i;

    for (i = 0; i < b->n; i++) {
        if (b->targets[i] && b->copies[i] == NULL) {
            unlink(b->targets[i]);
        }
    }
    fake_backup_free(b);
}

static int
fake_backup_prepare(struct hv *hv, const struct hv_domain *d,
                    const struct hv_backup_spec *spec,
                    struct hv_backup **out, struct error **errp)
{
    struct fake_backup *b = xcalloc(1, sizeof(*b));
    size_t i;

    fake_hv.backups_open++;
    fake_hv.point_fixed = false;
    for (i = 0; i < spec->ndisks && i < 16; i++) {
        b->sources[i] = xstrdup(spec->disks[i].source->path);
        b->formats[i] = xstrdup(spec->disks[i].source->format);
        b->copies[i] = spec->disks[i].copy;
        b->targets[i] = spec->disks[i].target
                            ? xstrdup(spec->disks[i].target)
                            : NULL;
        b->n++;
        if (b->copies[i] == NULL &&
            qemuimg_create(b->targets[i], "qcow2", 1 << 20, errp) < 0) {
            fake_backup_abort(&b->base);
            return -1;
        }
    }
    if (fake_fail_here(FAKE_PREPARE, "backup_prepare", errp) < 0) {
        fake_backup_abort(&b->base);
        return -1;
    }
    *out = &b->base;
    return 0;
}

static int
fake_backup_fix(struct hv_backup *hb, struct error **errp)
{
    if (fake_fail_here(FAKE_FIX, "backup_fix", errp) < 0) {
        return -1;
    }
    fake_hv.point_fixed = true;
    return 0;
}

static int
fake_backup_wait(struct hv_backup *hb, const struct progress *p,
                 struct error **errp)
{
    struct fake_backup *b = (struct fake_backup *)hb;
    size_t i;

    for (i = 0; i < b->n; i++) {
        if (b->copies[i]) {
            /* The copy path, from the disk at rest (qemu-nbd): the fake
             * has no point in time to export.
             */
            struct diskcopy_source *src =
                diskcopy_source_file(b->sources[i], b->formats[i], NULL,
                                     errp);
            int r = src ? diskcopy_run(src, b->copies[i], NULL, errp) : -1;

            diskcopy_source_close(src);
            if (r < 0) {
                return -1;
            }
        } else {
            unlink(b->targets[i]);
            if (qemuimg_convert(b->sources[i], b->formats[i],
                                b->targets[i], "qcow2", NULL, NULL,
                                errp) < 0) {
                return -1;
            }
        }
        progress_report(p, "copy", 100.0 * (i + 1) / b->n);
        if (fake_fail_here(FAKE_WAIT, "the copy", errp) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
fake_backup_finish(struct hv_backup *hb, struct error **errp)
{
    if (fake_fail_here(FAKE_FINISH, "backup_finish", errp) < 0) {
        return -1;
    }
    fake_backup_free((struct fake_backup *)hb);
    return 0;
}

static int
fake_backup_reap(struct hv *hv, const struct hv_domain *d, const char *tag,
                 struct error **errp)
{
    fake_hv.reaps++;
    return 0;
}

/* ---- Domains vmsnap did not create ------------------------------------ */

static struct hv_found *
fake_found(const char *id)
{
    size_t i;

    for (i = 0; id && i < fake_hv.nfound; i++) {
        if (strcmp(fake_hv.found[i].id, id) == 0) {
            return &fake_hv.found[i];
        }
    }
    return NULL;
}

struct hv_found *
fake_hv_add(const char *id, const char *name, const char *const *paths,
            size_t npaths, bool agent, bool managed)
{
    struct hv_found *f = &fake_hv.found[fake_hv.nfound++];
    size_t i;

    memset(f, 0, sizeof(*f));
    snprintf(f->id, sizeof(f->id), "%s", id);
    f->name = xstrdup(name);
    f->cpus = 1;
    f->memory_mb = 256;
    f->agent = agent;
    f->managed = managed;
    f->disks = xcalloc(npaths, sizeof(*f->disks));
    for (i = 0; i < npaths; i++) {
        size_t n = strlen(paths[i]);

        f->disks[i].target = xasprintf("vd%c", (int)('a' + i));
        f->disks[i].path = xstrdup(paths[i]);
        f->disks[i].format = xstrdup(
            n > 6 && strcmp(paths[i] + n - 6, ".qcow2") == 0 ? "qcow2"
                                                              : "raw");
        f->ndisks++;
    }
    return f;
}

void
fake_hv_prop(const char *id, const char *name, const char *value)
{
    struct hv_found *f = fake_found(id);
    size_t i;

    if (f == NULL) {
        return;
    }
    for (i = 0; i < f->nprops; i++) {
        if (strcmp(f->props[i].name, name) == 0) {
            free(f->props[i].name);
            free(f->props[i].value);
            f->props[i] = f->props[--f->nprops];
            break;
        }
    }
    if (value) {
        f->props = xrealloc(f->props, (f->nprops + 1) * sizeof(*f->props));
        f->props[f->nprops].name = xstrdup(name);
        f->props[f->nprops].value = xstrdup(value);
        f->nprops++;
    }
}

void
fake_hv_remove(const char *id)
{
    struct hv_found *f = fake_found(id);

    if (f) {
        hv_found_clear(f);
        *f = fake_hv.found[--fake_hv.nfound];
    }
}

/* A copy of F that the caller frees, as a driver hands it out. */
static void
fake_found_copy(const struct hv_found *f, struct hv_found *out)
{
    size_t i;

    *out = *f;
    out->name = xstrdup(f->name);
    out->disks = xcalloc(f->ndisks + 1, sizeof(*out->disks));
    for (i = 0; i < f->ndisks; i++) {
        out->disks[i] = f->disks[i];
        out->disks[i].target = xstrdup(f->disks[i].target);
        out->disks[i].path = xstrdup(f->disks[i].path);
        out->disks[i].format = xstrdup(f->disks[i].format);
    }
    out->props = xcalloc(f->nprops + 1, sizeof(*out->props));
    for (i = 0; i < f->nprops; i++) {
        out->props[i].name = xstrdup(f->props[i].name);
        out->props[i].value = xstrdup(f->props[i].value);
    }
    snprintf(out->state.status, sizeof(out->state.status), "%s",
             fake_hv.status);
}

static int
fake_list(struct hv *hv, struct hv_found **out, size_t *n,
          struct error **errp)
{
    size_t i;

    *out = xcalloc(fake_hv.nfound + 1, sizeof(**out));
    for (i = 0; i < fake_hv.nfound; i++) {
        fake_found_copy(&fake_hv.found[i], &(*out)[i]);
    }
    *n = fake_hv.nfound;
    return 0;
}

static int
fake_find(struct hv *hv, const char *id, struct hv_found *out,
          struct error **errp)
{
    const struct hv_found *f = fake_found(id);

    if (f == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "fake: no domain %s", id);
        return -1;
    }
    fake_found_copy(f, out);
    return 0;
}

static int
fake_destroy_flags(struct hv *hv, const struct hv_domain *d, unsigned flags,
                   struct error **errp)
{
    const struct hv_found *f = fake_found(d->id);

    if (f && !f->managed && !(flags & HV_DESTROY_FORCE)) {
        error_setg(errp, ERR_CONFLICT, "fake: domain %s is not vmsnap's",
                   f->name);
        return -1;
    }
    fake_hv.destroys++;
    fake_hv.forced += (flags & HV_DESTROY_FORCE) != 0;
    fake_hv_remove(d->id);
    return fake_destroy(hv, d, errp);
}

static int
fake_set_prop(struct hv *hv, const struct hv_domain *d, const char *name,
              const char *value, struct error **errp)
{
    if (fake_found(d->id) == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "fake: no domain %s", d->id);
        return -1;
    }
    fake_hv_prop(d->id, name, value);
    return 0;
}

static const struct hv_ops fake_ops = {
    .version = HV_OPS_VERSION,
    .name = "fake",
    .start = fake_start,
    .stop = fake_stop,
    .pause = fake_pause,
    .destroy = fake_destroy,
    .state = fake_state,
    .agent_open = fake_agent_open,
    .backup_prepare = fake_backup_prepare,
    .backup_fix = fake_backup_fix,
    .backup_wait = fake_backup_wait,
    .backup_finish = fake_backup_finish,
    .backup_abort = fake_backup_abort,
    .backup_reap = fake_backup_reap,
    .list = fake_list,
    .find = fake_find,
    .destroy_flags = fake_destroy_flags,
    .set_prop = fake_set_prop,
};

const struct hv_ops *
fake_hv_ops(void)
{
    return &fake_ops;
}
