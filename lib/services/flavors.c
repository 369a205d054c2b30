/* vmsnap: flavors (see flavors.h). */
#include <stdlib.h>
#include <string.h>

#include "flavors.h"
#include "svc.h"
#include "util.h"
#include "xalloc.h"

int
flavors_list(struct svc *svc, const struct caller *who, struct flavor ***out,
             size_t *n, struct error **errp)
{
    struct flavor **list = NULL;
    size_t total = 0, i, j = 0;

    if (catalog_flavor_list(svc_catalog(svc), &list, &total, errp) < 0) {
        return -1;
    }
    for (i = 0; i < total; i++) {
        if (who->admin || list[i]->is_public) {
            list[j++] = list[i];
        } else {
            flavor_free(list[i]);
        }
    }
    *out = list;
    *n = j;
    return 0;
}

/* What WHO may see of F (freed when not). */
static int
flavors_visible(const struct caller *who, const char *ref, struct flavor *f,
                struct flavor **out, struct error **errp)
{
    if (!who->admin && !f->is_public) {
        flavor_free(f);
        error_setg(errp, ERR_NOT_FOUND, "Flavor %s could not be found.",
                   ref);
        return -1;
    }
    *out = f;
    return 0;
}

/* The catalog's "not found" in Nova's words. */
static int
flavors_not_found(const char *ref, struct error *err, struct error **errp)
{
    if (error_get_class(err) == ERR_NOT_FOUND) {
        error_free(err);
        error_setg(errp, ERR_NOT_FOUND, "Flavor %s could not be found.",
                   ref);
    } else {
        error_propagate(errp, err);
    }
    return -1;
}

int
flavors_get(struct svc *svc, const struct caller *who, const char *id,
            struct flavor **out, struct error **errp)
{
    struct error *err = NULL;
    struct flavor *f = NULL;

    if (catalog_flavor_get(svc_catalog(svc), id, &f, &err) < 0) {
        return flavors_not_found(id, err, errp);
    }
    return flavors_visible(who, id, f, out, errp);
}

int
flavors_find(struct svc *svc, const struct caller *who, const char *ref,
             struct flavor **out, struct error **errp)
{
    struct error *err = NULL;
    struct flavor *f = NULL;

    if (catalog_flavor_find(svc_catalog(svc), ref, &f, &err) < 0) {
        return flavors_not_found(ref, err, errp);
    }
    return flavors_visible(who, ref, f, out, errp);
}

int
flavors_create(struct svc *svc, const struct caller *who,
               const struct flavor *spec, struct flavor **out,
               struct error **errp)
{
    struct flavor f = *spec;
    char id[UTIL_UUID_LEN];

    if (!who->admin) {
        error_setg(errp, ERR_INVALID,
                   "only an administrator may create flavors");
        return -1;
    }
    if (f.id == NULL) {
        util_uuid_new(id);
        f.id = id;
    }
    f.created_at = NULL;
    if (catalog_flavor_insert(svc_catalog(svc), &f, errp) < 0) {
        return -1;
    }
    return out ? catalog_flavor_get(svc_catalog(svc), f.id, out, errp) : 0;
}

int
flavors_delete(struct svc *svc, const struct caller *who, const char *id,
               struct error **errp)
{
    struct error *err = NULL;

    if (!who->admin) {
        error_setg(errp, ERR_INVALID,
                   "only an administrator may delete flavors");
        return -1;
    }
    if (catalog_flavor_delete(svc_catalog(svc), id, &err) < 0) {
        return flavors_not_found(id, err, errp);
    }
    return 0;
}
