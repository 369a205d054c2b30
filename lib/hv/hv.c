/* vmsnap: the calls of the hypervisor driver interface (see hv.h). */
#include <stdlib.h>
#include <string.h>

#include "hv.h"
#include "xalloc.h"

struct hv {
    const struct hv_ops *ops;   /* the driver */
    void *priv;                 /* its private state */
};

struct hv *
hv_open_ops(const struct hv_ops *ops, const struct config *cfg,
            struct error **errp)
{
    struct hv *hv = xcalloc(1, sizeof(*hv));

    hv->ops = ops;
    if (ops->open && ops->open(hv, cfg, &hv->priv, errp) < 0) {
        error_prepend(errp, "%s driver: ", ops->name);
        free(hv);
        return NULL;
    }
    return hv;
}

void
hv_close(struct hv *hv)
{
    if (hv) {
        if (hv->ops->close) {
            hv->ops->close(hv);
        }
        free(hv);
    }
}

const char *
hv_name(const struct hv *hv)
{
    return hv->ops->name;
}

void *
hv_priv(const struct hv *hv)
{
    return hv->priv;
}

/* Fail with "the NAME driver cannot VERB" when the driver lacks METHOD. */
#define HV_NEED(hv, method, verb, fail)                                        \
    do {                                                                       \
        if ((hv)->ops->method == NULL) {                                       \
            error_setg(errp, ERR_INVALID, "the %s driver cannot %s",          \
                       (hv)->ops->name, verb);                                 \
            return fail;                                                       \
        }                                                                      \
    } while (0)

int
hv_list(struct hv *hv, struct hv_found **out, size_t *n, struct error **errp)
{
    *out = NULL;
    *n = 0;
    HV_NEED(hv, list, "list domains", -1);
    return hv->ops->list(hv, out, n, errp);
}

int
hv_start(struct hv *hv, const struct hv_domain *d, struct error **errp)
{
    HV_NEED(hv, start, "start servers", -1);
    return hv->ops->start(hv, d, errp);
}

int
hv_stop(struct hv *hv, const struct hv_domain *d, int timeout_s, bool *clean,
        struct error **errp)
{
    *clean = false;
    HV_NEED(hv, stop, "stop servers", -1);
    return hv->ops->stop(hv, d, timeout_s, clean, errp);
}

int
hv_pause(struct hv *hv, const struct hv_domain *d, bool pause,
         struct error **errp)
{
    HV_NEED(hv, pause, "pause servers", -1);
    return hv->ops->pause(hv, d, pause, errp);
}

int
hv_destroy(struct hv *hv, const struct hv_domain *d, struct error **errp)
{
    HV_NEED(hv, destroy, "destroy servers", -1);
    return hv->ops->destroy(hv, d, errp);
}

int
hv_state(struct hv *hv, const struct hv_domain *d, struct hv_state *st,
         struct error **errp)
{
    memset(st, 0, sizeof(*st));
    HV_NEED(hv, state, "report a server's state", -1);
    return hv->ops->state(hv, d, st, errp);
}

int
hv_disk_attach(struct hv *hv, const struct hv_domain *d,
               const struct hv_disk *disk, struct error **errp)
{
    HV_NEED(hv, disk_attach, "hot-plug disks", -1);
    return hv->ops->disk_attach(hv, d, disk, errp);
}

int
hv_disk_detach(struct hv *hv, const struct hv_domain *d,
               const struct hv_disk *disk, struct error **errp)
{
    HV_NEED(hv, disk_detach, "hot-unplug disks", -1);
    return hv->ops->disk_detach(hv, d, disk, errp);
}

struct agent *
hv_agent_open(struct hv *hv, const struct hv_domain *d, int timeout_ms,
              struct error **errp)
{
    HV_NEED(hv, agent_open, "reach guest agents", NULL);
    return hv->ops->agent_open(hv, d, timeout_ms, errp);
}

int
hv_backup_prepare(struct hv *hv, const struct hv_domain *d,
                  const struct hv_backup_spec *spec, struct hv_backup **out,
                  struct error **errp)
{
    *out = NULL;
    HV_NEED(hv, backup_prepare, "back up running servers", -1);
    if (hv->ops->backup_prepare(hv, d, spec, out, errp) < 0) {
        return -1;
    }
    (*out)->hv = hv;
    return 0;
}

int
hv_backup_fix(struct hv_backup *b, struct error **errp)
{
    return b->hv->ops->backup_fix(b, errp);
}

int
hv_backup_wait(struct hv_backup *b, const struct progress *p,
               struct error **errp)
{
    return b->hv->ops->backup_wait(b, p, errp);
}

int
hv_backup_finish(struct hv_backup *b, struct error **errp)
{
    return b->hv->ops->backup_finish(b, errp);
}

void
hv_backup_abort(struct hv_backup *b)
{
    if (b) {
        b->hv->ops->backup_abort(b);
    }
}

int
hv_backup_reap(struct hv *hv, const struct hv_domain *d, const char *tag,
               struct error **errp)
{
    if (hv->ops->backup_reap == NULL) {
        return 0;
    }
    return hv->ops->backup_reap(hv, d, tag, errp);
}

void
hv_found_list_free(struct hv_found *list, size_t n)
{
    size_t i, j;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(list[i].name);
        for (j = 0; j < list[i].ndisks; j++) {
            free(list[i].disks[j].target);
            free(list[i].disks[j].path);
            free(list[i].disks[j].format);
        }
        free(list[i].disks);
    }
    free(list);
}
