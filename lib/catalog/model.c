/* vmsnap: the records of the catalog in memory (see model.h). */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "model.h"
#include "xalloc.h"

/* Define NAME, which frees the N records of LIST with FREE_ONE and then
 * LIST (NULL is allowed).
 */
#define MODEL_LIST_FREE(name, type, free_one)                                  \
    void name(type **list, size_t n)                                           \
    {                                                                          \
        size_t i;                                                              \
                                                                               \
        if (list == NULL) {                                                    \
            return;                                                            \
        }                                                                      \
        for (i = 0; i < n; i++) {                                              \
            free_one(list[i]);                                                 \
        }                                                                      \
        free(list);                                                            \
    }

/* ---- Text rules ------------------------------------------------------- */

/* What is wrong with a text. */
enum text_fault {
    TEXT_OK,
    TEXT_CONTROL,     /* a C0 or C1 control character, or DEL */
    TEXT_BAD_UTF8,    /* not valid UTF-8 */
};

/* Scan S for the faults of model.h's rules.  LINES allows tab and line
 * feed.  UTF-8 is checked as RFC 3629 defines it: no overlong forms, no
 * surrogates, nothing above U+10FFFF.
 */
static enum text_fault
text_scan(const char *s, bool lines)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p != '\0') {
        unsigned char c = *p;
        size_t n, i;
        unsigned char lo = 0x80, hi = 0xbf;

        if (c < 0x80) {
            if ((c < 0x20 && !(lines && (c == '\t' || c == '\n'))) ||
                c == 0x7f) {
                return TEXT_CONTROL;
            }
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0) {
                lo = 0xa0;   /* no overlong forms */
            } else if (c == 0xed) {
                hi = 0x9f;   /* no surrogates */
            }
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0) {
                lo = 0x90;   /* no overlong forms */
            } else if (c == 0xf4) {
                hi = 0x8f;   /* nothing above U+10FFFF */
            }
        } else {
            return TEXT_BAD_UTF8;
        }
        for (i = 1; i <= n; i++) {
            unsigned char b = p[i];

            if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf)) {
                return TEXT_BAD_UTF8;
            }
        }
        /* C1 controls, U+0080 to U+009F, are 0xc2 0x80 to 0xc2 0x9f. */
        if (c == 0xc2 && p[1] <= 0x9f) {
            return TEXT_CONTROL;
        }
        p += n + 1;
    }
    return TEXT_OK;
}

/* Fail with ERR_INVALID "WHAT<SUFFIX>" for FAULT; 0 if there is none. */
static int
text_fail(enum text_fault fault, const char *what, const char *suffix,
          struct error **errp)
{
    switch (fault) {
    case TEXT_CONTROL:
        error_setg(errp, ERR_INVALID, "%s%s contains a control character",
                   what, suffix);
        return -1;
    case TEXT_BAD_UTF8:
        error_setg(errp, ERR_INVALID, "%s%s is not valid UTF-8", what,
                   suffix);
        return -1;
    case TEXT_OK:
        break;
    }
    return 0;
}

int
catalog_name_check(const char *noun, const char *name, struct error **errp)
{
    if (name == NULL) {
        return 0;
    }
    if (strlen(name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "%s name is longer than %d bytes",
                   noun, CATALOG_NAME_MAX);
        return -1;
    }
    return text_fail(text_scan(name, false), noun, " name", errp);
}

int
catalog_value_check(const char *what, const char *value,
                    struct error **errp)
{
    return text_fail(text_scan(value, true), what, "", errp);
}

/* ---- Key/value sets --------------------------------------------------- */

const char *
catalog_prop_get(const struct prop *props, size_t n, const char *key)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(props[i].key, key) == 0) {
            return props[i].value;
        }
    }
    return NULL;
}

int
catalog_prop_set(struct prop **props, size_t *n, const char *key,
                 const char *value, struct error **errp)
{
    char *v = xstrdup(value);
    struct prop *grown;
    size_t i;

    for (i = 0; i < *n; i++) {
        if (strcmp((*props)[i].key, key) == 0) {
            free((*props)[i].value);
            (*props)[i].value = v;
            return 0;
        }
    }
    grown = xreallocarray(*props, *n + 1, sizeof(**props));
    *props = grown;
    grown[*n].key = xstrdup(key);
    grown[*n].value = v;
    (*n)++;
    (void)errp;
    return 0;
}

void
catalog_props_free(struct prop *props, size_t n)
{
    size_t i;

    if (props == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(props[i].key);
        free(props[i].value);
    }
    free(props);
}

void
catalog_tags_free(char **tags, size_t n)
{
    size_t i;

    if (tags == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(tags[i]);
    }
    free(tags);
}

/* ---- Images ----------------------------------------------------------- */

const char *
image_prop(const struct image *img, const char *key)
{
    return catalog_prop_get(img->props, img->nprops, key);
}

int
image_prop_set(struct image *img, const char *key, const char *value,
               struct error **errp)
{
    return catalog_prop_set(&img->props, &img->nprops, key, value, errp);
}

bool
image_has_tag(const struct image *img, const char *tag)
{
    size_t i;

    for (i = 0; i < img->ntags; i++) {
        if (strcmp(img->tags[i], tag) == 0) {
            return true;
        }
    }
    return false;
}

void
image_free(struct image *img)
{
    if (img == NULL) {
        return;
    }
    free(img->name);
    free(img->status);
    free(img->disk_format);
    free(img->container_format);
    free(img->checksum);
    free(img->os_hash_algo);
    free(img->os_hash_value);
    free(img->created_at);
    free(img->updated_at);
    free(img->file);
    free(img->fail_reason);
    catalog_props_free(img->props, img->nprops);
    free(img->location);
    free(img->owner);
    free(img->visibility);
    catalog_tags_free(img->tags, img->ntags);
    bdm_free(img->bdm, img->nbdm);
    free(img);
}

/* ---- Instances -------------------------------------------------------- */

const char *
instance_meta(const struct instance *inst, const char *key)
{
    return catalog_prop_get(inst->meta, inst->nmeta, key);
}

int
instance_meta_set(struct instance *inst, const char *key, const char *value,
                  struct error **errp)
{
    return catalog_prop_set(&inst->meta, &inst->nmeta, key, value, errp);
}

void
instance_free(struct instance *inst)
{
    if (inst == NULL) {
        return;
    }
    free(inst->name);
    free(inst->image_id);
    free(inst->created_at);
    free(inst->updated_at);
    free(inst->task_state);
    catalog_props_free(inst->meta, inst->nmeta);
    free(inst->project_id);
    free(inst->user_id);
    free(inst->host);
    free(inst);
}

/* ---- Volumes ---------------------------------------------------------- */

const char *
volume_meta(const struct volume *vol, const char *key)
{
    return catalog_prop_get(vol->meta, vol->nmeta, key);
}

int
volume_meta_set(struct volume *vol, const char *key, const char *value,
                struct error **errp)
{
    return catalog_prop_set(&vol->meta, &vol->nmeta, key, value, errp);
}

void
volume_free(struct volume *vol)
{
    if (vol == NULL) {
        return;
    }
    free(vol->name);
    free(vol->status);
    free(vol->file);
    free(vol->instance_id);
    free(vol->source_snapshot_id);
    free(vol->source_image_id);
    free(vol->created_at);
    free(vol->updated_at);
    catalog_props_free(vol->meta, vol->nmeta);
    free(vol->project_id);
    free(vol);
}

/* ---- Volume snapshots ------------------------------------------------- */

const char *
volume_snapshot_meta(const struct volume_snapshot *snap, const char *key)
{
    return catalog_prop_get(snap->meta, snap->nmeta, key);
}

int
volume_snapshot_meta_set(struct volume_snapshot *snap, const char *key,
                         const char *value, struct error **errp)
{
    return catalog_prop_set(&snap->meta, &snap->nmeta, key, value, errp);
}

void
volume_snapshot_free(struct volume_snapshot *snap)
{
    if (snap == NULL) {
        return;
    }
    free(snap->name);
    free(snap->volume_id);
    free(snap->status);
    free(snap->file);
    free(snap->created_at);
    free(snap->updated_at);
    catalog_props_free(snap->meta, snap->nmeta);
    free(snap->location);
    free(snap->project_id);
    free(snap);
}

/* ---- Tasks, identity, actions ----------------------------------------- */

void
task_free(struct task *t)
{
    if (t == NULL) {
        return;
    }
    free(t->kind);
    free(t->state);
    free(t->target_kind);
    free(t->target_id);
    free(t->image_id);
    free(t->project_id);
    free(t->user_id);
    free(t->request);
    free(t->phase);
    free(t->warnings);
    free(t->error);
    free(t->error_class);
    free(t->owner);
    free(t->created_at);
    free(t->updated_at);
    free(t->started_at);
    free(t->finished_at);
    free(t);
}

void
project_free(struct project *p)
{
    if (p == NULL) {
        return;
    }
    free(p->name);
    free(p->description);
    free(p->created_at);
    free(p);
}

void
flavor_free(struct flavor *f)
{
    if (f == NULL) {
        return;
    }
    free(f->id);
    free(f->name);
    free(f->created_at);
    free(f);
}

void
flavor_list_free(struct flavor **list, size_t n)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        flavor_free(list[i]);
    }
    free(list);
}

void
user_free(struct user *u)
{
    if (u == NULL) {
        return;
    }
    free(u->name);
    free(u->default_project_id);
    free(u->password_hash);
    free(u->created_at);
    free(u->password_changed_at);
    free(u);
}

void
role_assignment_list_free(struct role_assignment *list, size_t n)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(list[i].user_id);
        free(list[i].project_id);
        free(list[i].role);
    }
    free(list);
}

void
token_free(struct token *t)
{
    if (t == NULL) {
        return;
    }
    free(t->id_hash);
    free(t->user_id);
    free(t->project_id);
    free(t->roles);
    free(t->issued_at);
    free(t->expires_at);
    free(t);
}

void
instance_action_free(struct instance_action *a)
{
    if (a == NULL) {
        return;
    }
    free(a->request_id);
    free(a->instance_id);
    free(a->action);
    free(a->project_id);
    free(a->user_id);
    free(a->start_time);
    free(a->finish_time);
    free(a->message);
    free(a);
}

/* ---- Lists ------------------------------------------------------------ */

MODEL_LIST_FREE(image_list_free, struct image, image_free)
MODEL_LIST_FREE(instance_list_free, struct instance, instance_free)
MODEL_LIST_FREE(volume_list_free, struct volume, volume_free)
MODEL_LIST_FREE(volume_snapshot_list_free, struct volume_snapshot,
                volume_snapshot_free)
MODEL_LIST_FREE(task_list_free, struct task, task_free)
MODEL_LIST_FREE(project_list_free, struct project, project_free)
MODEL_LIST_FREE(user_list_free, struct user, user_free)
MODEL_LIST_FREE(instance_action_list_free, struct instance_action,
                instance_action_free)
