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
              unsigned flags, struct error **errp)
{
    HV_NEED(hv, agent_open, "reach guest agents", NULL);
    return hv->ops->agent_open(hv, d, timeout_ms, flags, errp);
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

int
hv_bitmap_check(struct hv *hv, const struct hv_domain *d,
                const struct hv_disk *disk, const char *name, char **why,
                struct error **errp)
{
    if (hv->ops->version < 2 || hv->ops->bitmap_check == NULL) {
        *why = xasprintf("the %s driver keeps no dirty bitmaps",
                         hv->ops->name);
        return 0;
    }
    return hv->ops->bitmap_check(hv, d, disk, name, why, errp);
}

/* Does the driver of HV implement METHOD, a field of table version VER?
 * (A driver written for an older version leaves later fields out.)
 */
#define HV_HAS(hv, method, ver)                                                \
    ((hv)->ops->version >= (ver) && (hv)->ops->method != NULL)

int
hv_find(struct hv *hv, const char *id, struct hv_found *out,
        struct error **errp)
{
    memset(out, 0, sizeof(*out));
    if (!HV_HAS(hv, find, 2)) {
        error_setg(errp, ERR_INVALID, "the %s driver cannot find domains",
                   hv->ops->name);
        return -1;
    }
    return hv->ops->find(hv, id, out, errp);
}

int
hv_destroy_flags(struct hv *hv, const struct hv_domain *d, unsigned flags,
                 struct error **errp)
{
    if (HV_HAS(hv, destroy_flags, 2)) {
        return hv->ops->destroy_flags(hv, d, flags, errp);
    }
    return hv_destroy(hv, d, errp);
}

int
hv_set_prop(struct hv *hv, const struct hv_domain *d, const char *name,
            const char *value, struct error **errp)
{
    if (!HV_HAS(hv, set_prop, 2)) {
        error_setg(errp, ERR_INVALID,
                   "the %s driver keeps no properties with its domains",
                   hv->ops->name);
        return -1;
    }
    return hv->ops->set_prop(hv, d, name, value, errp);
}

bool
hv_lists_domains(const struct hv *hv)
{
    return hv->ops->list != NULL;
}

bool
hv_one_checkpoint(const struct hv *hv)
{
    return hv->ops->one_checkpoint;
}

void
hv_props_free(struct hv_prop *list, size_t n)
{
    size_t i;

    for (i = 0; list && i < n; i++) {
        free(list[i].name);
        free(list[i].value);
    }
    free(list);
}

const char *
hv_found_prop(const struct hv_found *f, const char *name)
{
    size_t i;

    for (i = 0; i < f->nprops; i++) {
        if (strcmp(f->props[i].name, name) == 0) {
            return f->props[i].value;
        }
    }
    return NULL;
}

void
hv_found_clear(struct hv_found *f)
{
    size_t j;

    if (f == NULL) {
        return;
    }
    free(f->name);
    for (j = 0; j < f->ndisks; j++) {
        free(f->disks[j].target);
        free(f->disks[j].path);
        free(f->disks[j].format);
    }
    free(f->disks);
    hv_props_free(f->props, f->nprops);
    memset(f, 0, sizeof(*f));
}

void
hv_found_list_free(struct hv_found *list, size_t n)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        hv_found_clear(&list[i]);
    }
    free(list);
}
