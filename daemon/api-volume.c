/* vmsnapd: Cinder v3 (openstack-api.md §7), microversion 3.0.
 *
 *   GET    /volume/v3/{project_id}/volumes[/detail]     list
 *   POST   /volume/v3/{project_id}/volumes              create: empty, from
 *                                                       an image or from a
 *                                                       snapshot
 *   GET    /volume/v3/{project_id}/volumes/{id}         show
 *   DELETE /volume/v3/{project_id}/volumes/{id}         delete
 *   GET    /volume/v3/{project_id}/snapshots[/detail]   list
 *   POST   /volume/v3/{project_id}/snapshots            snapshot a detached
 *                                                       volume (a task)
 *   GET    /volume/v3/{project_id}/snapshots/{id}       show
 *   DELETE /volume/v3/{project_id}/snapshots/{id}       delete
 *
 * A volume is made in the request (a qcow2 overlay or an empty qcow2:
 * no data is copied), so it is available at once.  A snapshot of one
 * volume is a copy, done by a task in a worker; the volumes of a server
 * are snapshotted with it (createImage), all at one instant, and appear
 * here as the snapshots of that image's set.  Attachments are made
 * through Nova (os-volume_attachments) and shown here as Cinder shows
 * them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apis.h"
#include "cleanup.h"
#include "runner.h"
#include "task.h"
#include "util.h"
#include "views.h"
#include "volumes.h"
#include "xalloc.h"
#include "xjson.h"

#define VOL_LIMIT_MAX 1000
#define GIB (INT64_C(1) << 30)

/* A time of the catalog as Cinder writes it: no zone letter. */
static void
vol_fix_time(json_object *o, const char *key)
{
    json_object *v = NULL;
    char buf[UTIL_TIME_LEN];

    if (json_object_object_get_ex(o, key, &v) &&
        json_object_is_type(v, json_type_string)) {
        snprintf(buf, sizeof(buf), "%.26s", json_object_get_string(v));
        xjson_add(o, key, xjson_string(buf));
    }
}

static json_object *
vol_links(struct api_req *r, const char *collection, const char *id)
{
    json_object *links = xjson_array();
    json_object *self = xjson_object();
    CLEANUP_FREE char *href =
        xasprintf("%s/volume/v3/%s/%s/%s", api_base_url(r),
                  api_param(r, "project_id"), collection, id);

    xjson_add(self, "rel", xjson_string("self"));
    xjson_add(self, "href", xjson_string(href));
    xjson_append(links, self);
    return links;
}

/* The Cinder form of VOL; the host's file of its data is not shown. */
static json_object *
vol_view(struct api_req *r, const struct volume *vol, bool detail)
{
    json_object *o;
    char host[256] = "";

    if (!detail) {
        o = xjson_object();
        xjson_add(o, "id", xjson_string(vol->id));
        xjson_add(o, "name", vol->name ? xjson_string(vol->name) : NULL);
        xjson_add(o, "links", vol_links(r, "volumes", vol->id));
        return o;
    }
    o = view_volume(vol);
    gethostname(host, sizeof(host) - 1);
    json_object_object_del(o, "vmsnap:file");
    xjson_add(o, "volume_type", xjson_string("__DEFAULT__"));
    xjson_add(o, "encrypted", xjson_bool(false));
    xjson_add(o, "multiattach", xjson_bool(false));
    xjson_add(o, "source_volid", NULL);
    xjson_add(o, "consistencygroup_id", NULL);
    xjson_add(o, "replication_status", NULL);
    xjson_add(o, "user_id", NULL);
    xjson_add(o, "os-vol-host-attr:host", xjson_string(host));
    xjson_add(o, "links", vol_links(r, "volumes", vol->id));
    vol_fix_time(o, "created_at");
    vol_fix_time(o, "updated_at");
    {
        json_object *att = NULL;
        size_t i, n;

        json_object_object_get_ex(o, "attachments", &att);
        n = att ? json_object_array_length(att) : 0;
        for (i = 0; i < n; i++) {
            json_object *a = json_object_array_get_idx(att, i);

            xjson_add(a, "host_name", xjson_string(host));
            xjson_add(a, "attached_at", NULL);
        }
    }
    return o;
}

static json_object *
vol_snapshot_view(struct api_req *r, const struct volume_snapshot *vs,
                  bool detail)
{
    json_object *o;

    if (!detail) {
        o = xjson_object();
        xjson_add(o, "id", xjson_string(vs->id));
        xjson_add(o, "name", vs->name ? xjson_string(vs->name) : NULL);
        xjson_add(o, "links", vol_links(r, "snapshots", vs->id));
        return o;
    }
    o = view_volume_snapshot(vs, NULL);
    json_object_object_del(o, "vmsnap:file");
    xjson_add(
        o, "os-extended-snapshot-attributes:progress",
        xjson_string(strcmp(vs->status, "available") == 0 ? "100%" : "0%"));
    vol_fix_time(o, "created_at");
    vol_fix_time(o, "updated_at");
    return o;
}

/* Does the request ask for every project (admins only)? */
static bool
vol_all_projects(struct api_req *r, const struct caller *who)
{
    const char *all = http_req_query(r->http, "all_tenants");

    return who->admin && all && strcmp(all, "0") != 0 &&
           strcasecmp(all, "false") != 0;
}

/* Does a record of PROJECT named NAME in STATUS pass R's filters? */
static bool
vol_matches(struct api_req *r, const struct caller *who, const char *project,
            const char *name, const char *status)
{
    const char *want_name = http_req_query(r->http, "name");
    const char *want_status = http_req_query(r->http, "status");

    if (!vol_all_projects(r, who) && who->project_id &&
        (project == NULL || strcmp(project, who->project_id) != 0)) {
        return false;
    }
    if (want_name && (name == NULL || strcmp(want_name, name) != 0)) {
        return false;
    }
    return want_status == NULL ||
           (status && strcasecmp(want_status, status) == 0);
}

/* Add Cinder's next link to TOP under KEY when a page was full. */
static void
vol_next_link(struct api_req *r, json_object *top, const char *key,
              const char *collection, const char *last)
{
    static const char *const drop[] = {"marker", NULL};
    json_object *links = xjson_array();
    json_object *next = xjson_object();
    CLEANUP_FREE char *q = api_query_without(r, drop);
    CLEANUP_FREE char *href = xasprintf(
        "%s/volume/v3/%s/%s?%s%smarker=%s", api_base_url(r),
        api_param(r, "project_id"), collection, q, *q ? "&" : "", last);

    xjson_add(next, "rel", xjson_string("next"));
    xjson_add(next, "href", xjson_string(href));
    xjson_append(links, next);
    xjson_add(top, key, links);
}

/* A Cinder list: its items, how to read one and how to show one. */
struct vol_lister {
    const void *items; /* the array of records */
    size_t n;          /* its length */
    /* Item I's ID, project, name, status and (for a snapshot) volume. */
    void (*fields)(const void *items, size_t i, const char *f[5]);
    /* Item I as the body shows it. */
    json_object *(*view)(struct api_req *r, const void *items, size_t i,
                         bool detail);
    const char *key;        /* the body's member: "volumes", "snapshots" */
    const char *volume_id;  /* only the items of this volume, or NULL */
};

/* The page of L that R asks for (marker, limit, filters) as the body,
 * with Cinder's next link when the page is full.  False after answering
 * 400 for a bad limit.
 */
static bool
vol_page(struct api_req *r, const struct caller *who,
         const struct vol_lister *l, bool detail)
{
    const char *marker = http_req_query(r->http, "marker");
    const char *last = NULL;
    json_object *top, *arr;
    size_t i, count = 0;
    int64_t limit;
    bool started = marker == NULL, full = false;
    char key[32], path[48];

    if (api_query_int(r, "limit", VOL_LIMIT_MAX, 0, INT64_MAX, &limit) < 0) {
        return false;
    }
    if (limit > VOL_LIMIT_MAX) {
        limit = VOL_LIMIT_MAX;
    }
    top = xjson_object();
    arr = xjson_array();
    for (i = 0; i < l->n; i++) {
        const char *f[5];

        l->fields(l->items, i, f);
        if (!started) {
            started = strcmp(f[0], marker) == 0;
            continue;
        }
        if (!vol_matches(r, who, f[1], f[2], f[3]) ||
            (l->volume_id &&
             (f[4] == NULL || strcasecmp(l->volume_id, f[4]) != 0))) {
            continue;
        }
        if ((int64_t)count == limit) {
            full = true;
            break;
        }
        xjson_append(arr, l->view(r, l->items, i, detail));
        last = f[0];
        count++;
    }
    xjson_add(top, l->key, arr);
    if (full && last) {
        snprintf(key, sizeof(key), "%s_links", l->key);
        snprintf(path, sizeof(path), "%s%s", l->key, detail ? "/detail" : "");
        vol_next_link(r, top, key, path, last);
    }
    api_respond_json(r, 200, top);
    return true;
}

/* A failed look-up of the KIND (Cinder's word) named ID: 404 when it is
 * not there (or not the caller's), else the error's own status.
 */
static void
vol_find_fail(struct api_req *r, const char *kind, const char *id,
              const struct error *err)
{
    if (error_get_class(err) == ERR_NOT_FOUND) {
        api_error(r, 404, "%s %s could not be found.", kind, id);
    } else {
        api_error_from(r, err);
    }
}

/* The answer to a delete of a KIND that returned RC (ERR on failure):
 * 202, or Cinder's 400 "Invalid KIND" for a conflict.
 */
static void
vol_delete_answer(struct api_req *r, int rc, const char *kind,
                  const struct error *err)
{
    if (rc == 0) {
        api_respond_empty(r, 202);
    } else if (error_get_class(err) == ERR_CONFLICT) {
        api_error(r, 400, "Invalid %s: %s", kind, error_msg(err));
    } else {
        api_error_from(r, err);
    }
}

/* ---- Volumes ----------------------------------------------------------- */

static void
vol_fields(const void *items, size_t i, const char *f[5])
{
    const struct volume *v = ((struct volume *const *)items)[i];

    f[0] = v->id;
    f[1] = v->project_id;
    f[2] = v->name;
    f[3] = v->status;
    f[4] = NULL;
}

static json_object *
vol_item_view(struct api_req *r, const void *items, size_t i, bool detail)
{
    return vol_view(r, ((struct volume *const *)items)[i], detail);
}

static void
vol_list_common(struct api_req *r, bool detail)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct volume **list = NULL;
    struct vol_lister l = {0};
    struct caller who;
    struct svc *svc;
    size_t n = 0;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    if (volumes_list(svc, &who, &list, &n, &err) < 0) {
        api_error_from(r, err);
        return;
    }
    l.items = list;
    l.n = n;
    l.fields = vol_fields;
    l.view = vol_item_view;
    l.key = "volumes";
    vol_page(r, &who, &l, detail);
    volume_list_free(list, n);
}

static void
vol_list(struct api_req *r)
{
    vol_list_common(r, false);
}

static void
vol_detail(struct api_req *r)
{
    vol_list_common(r, true);
}

/* R's volume: NULL after responding 404. */
static struct volume *
vol_get(struct api_req *r, struct svc *svc, const struct caller *who)
{
    CLEANUP_ERROR struct error *err = NULL;
    const char *id = api_param(r, "volume_id");
    struct volume *vol = NULL;

    if (volumes_find(svc, who, id, &vol, &err) < 0) {
        vol_find_fail(r, "Volume", id, err);
        return NULL;
    }
    return vol;
}

static void
vol_respond(struct api_req *r, int status, const struct volume *vol)
{
    json_object *top = xjson_object();

    xjson_add(top, "volume", vol_view(r, vol, true));
    api_respond_json(r, status, top);
}

static void
vol_show(struct api_req *r)
{
    struct volume *vol;
    struct caller who;
    struct svc *svc;

    if (api_begin(r, &svc, &who) && (vol = vol_get(r, svc, &who)) != NULL) {
        vol_respond(r, 200, vol);
        volume_free(vol);
    }
}

static const struct api_field vol_create_f[] = {
    {"size", AJ_INT | AJ_STRING | AJ_NULL, false, NULL, 0, 16},
    {"name", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"display_name", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"description", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"display_description", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"snapshot_id", AJ_STRING | AJ_NULL, false, NULL, 0, 64},
    {"imageRef", AJ_STRING | AJ_NULL, false, NULL, 0, 1024},
    {"source_volid", AJ_STRING | AJ_NULL, false, NULL, 0, 64},
    {"backup_id", AJ_STRING | AJ_NULL, false, NULL, 0, 64},
    {"consistencygroup_id", AJ_STRING | AJ_NULL, false, NULL, 0, 64},
    {"volume_type", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"availability_zone", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"metadata", AJ_OBJECT | AJ_NULL, false, NULL, 0, 0},
    {"multiattach", AJ_BOOL | AJ_NULL, false, NULL, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema vol_create_s = {vol_create_f, false};
static const struct api_field vol_create_top_f[] = {
    {"volume", AJ_OBJECT, true, &vol_create_s, 0, 0},
    {"OS-SCH-HNT:scheduler_hints", AJ_OBJECT | AJ_NULL, false, NULL, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema vol_create_top_s = {vol_create_top_f, false};

/* Refuse, with 400, a member of V the volumes of vmsnap do not have. */
static bool
vol_refuse(struct api_req *r, json_object *v)
{
    static const char *const unsupported[] = {
        "description", "display_description", "source_volid", "backup_id",
        "consistencygroup_id", NULL,
    };
    json_object *m;
    const char *s;
    size_t i;

    for (i = 0; unsupported[i]; i++) {
        m = api_json_get(v, unsupported[i]);
        if (m && !json_object_is_type(m, json_type_null)) {
            api_error(r, 400, "Invalid input: vmsnap volumes have no %s",
                      unsupported[i]);
            return true;
        }
    }
    if ((m = api_json_get(v, "metadata")) &&
        json_object_is_type(m, json_type_object) &&
        json_object_object_length(m) > 0) {
        api_error(r, 400, "Invalid input: vmsnap volumes take no metadata");
        return true;
    }
    if ((m = api_json_get(v, "multiattach")) &&
        json_object_is_type(m, json_type_boolean) &&
        json_object_get_boolean(m)) {
        api_error(r, 400, "Invalid input: a vmsnap volume is attached to "
                  "one server at a time");
        return true;
    }
    if ((s = api_json_str(v, "volume_type")) &&
        strcmp(s, "__DEFAULT__") != 0) {
        api_error(r, 404, "Volume type %.64s could not be found.", s);
        return true;
    }
    if ((s = api_json_str(v, "availability_zone")) && strcmp(s, "nova") != 0) {
        api_error(r, 400, "Invalid input: the only availability zone is "
                  "nova");
        return true;
    }
    return false;
}

/* The requested size in GiB: -1 when absent.  Responds 400. */
static int
vol_size(struct api_req *r, json_object *v, int64_t *gib)
{
    json_object *s = api_json_get(v, "size");

    *gib = -1;
    if (s == NULL || json_object_is_type(s, json_type_null)) {
        return 0;
    }
    if (!(json_object_is_type(s, json_type_int) &&
          (*gib = json_object_get_int64(s), true)) &&
        !(json_object_is_type(s, json_type_string) &&
          util_parse_int64(json_object_get_string(s), gib, NULL) == 0)) {
        *gib = 0;
    }
    if (*gib <= 0 || *gib > (INT64_MAX >> 31)) {
        api_error(r, 400, "Invalid input received: Volume size '%.32s' must "
                  "be an integer and greater than 0",
                  json_object_get_string(s));
        return -1;
    }
    return 0;
}

/* POST /volume/v3/{project_id}/volumes */
static void
vol_create(struct api_req *r)
{
    CLEANUP_JSON_PUT json_object *body = api_req_json(r);
    CLEANUP_ERROR struct error *err = NULL;
    struct volumes_new spec = {0};
    struct volume *vol = NULL;
    struct svc *svc;
    struct caller who;
    json_object *v;
    int64_t gib;
    const char *image, *snap;

    if (body == NULL || (svc = api_svc(r)) == NULL) {
        return;
    }
    if (api_check(body, &vol_create_top_s, "body", &err) < 0) {
        api_error(r, 400, "%s", error_msg(err));
        return;
    }
    v = api_json_get(body, "volume");
    if (vol_refuse(r, v) || vol_size(r, v, &gib) < 0) {
        return;
    }
    spec.name = api_json_str(v, "name");
    if (spec.name == NULL) {
        spec.name = api_json_str(v, "display_name");
    }
    if (spec.name == NULL || *spec.name == '\0') {
        api_error(r, 400, "Invalid input: a vmsnap volume needs a name");
        return;
    }
    image = api_json_str(v, "imageRef");
    snap = api_json_str(v, "snapshot_id");
    if (image && snap) {
        api_error(r, 400, "Invalid input: give imageRef or snapshot_id, not "
                  "both");
        return;
    }
    api_who(r, &who);
    if (image) {
        spec.image = image;
    } else if (snap) {
        spec.snapshot = snap;
    } else if (gib < 0) {
        api_error(r, 400, "Invalid input received: a size is needed for a "
                  "new empty volume");
        return;
    } else {
        spec.size = gib * GIB;
    }
    if (volumes_create(svc, &who, &spec, &vol, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            api_error(r, 404, "%s", error_msg(err));
        } else if (error_get_class(err) == ERR_CONFLICT) {
            api_error(r, 400, "Invalid input received: %s", error_msg(err));
        } else {
            api_error_from(r, err);
        }
        return;
    }
    /* A copy of a source is the source's size: a larger one asked for is
     * not grown, a smaller one would lose data.
     */
    if (gib > 0 && (image || snap) && vol->size > gib * GIB) {
        api_error(r, 400, "Invalid input received: the source is %lld "
                  "bytes: it does not fit in %lld GiB",
                  (long long)vol->size, (long long)gib);
        volumes_delete(svc, &who, vol->id, NULL);
        volume_free(vol);
        return;
    }
    vol_respond(r, 202, vol);
    volume_free(vol);
}

/* DELETE /volume/v3/{project_id}/volumes/{volume_id} */
static void
vol_delete(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct volume *vol;
    struct caller who;
    struct svc *svc;

    if (!api_begin(r, &svc, &who) ||
        (vol = vol_get(r, svc, &who)) == NULL) {
        return;
    }
    vol_delete_answer(r, volumes_delete(svc, &who, vol->id, &err), "volume",
                      err);
    volume_free(vol);
}

/* ---- Snapshots --------------------------------------------------------- */

static void
vol_snapshot_fields(const void *items, size_t i, const char *f[5])
{
    const struct volume_snapshot *vs =
        ((struct volume_snapshot *const *)items)[i];

    f[0] = vs->id;
    f[1] = vs->project_id;
    f[2] = vs->name;
    f[3] = vs->status;
    f[4] = vs->volume_id;
}

static json_object *
vol_snapshot_item_view(struct api_req *r, const void *items, size_t i,
                       bool detail)
{
    return vol_snapshot_view(r, ((struct volume_snapshot *const *)items)[i],
                             detail);
}

static void
vol_snapshot_list_common(struct api_req *r, bool detail)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct volume_snapshot **list = NULL;
    struct vol_lister l = {0};
    struct caller who;
    struct svc *svc;
    size_t n = 0;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    if (volumes_snapshot_list(svc, &who, NULL, &list, &n, &err) < 0) {
        api_error_from(r, err);
        return;
    }
    l.items = list;
    l.n = n;
    l.fields = vol_snapshot_fields;
    l.view = vol_snapshot_item_view;
    l.key = "snapshots";
    l.volume_id = http_req_query(r->http, "volume_id");
    vol_page(r, &who, &l, detail);
    volume_snapshot_list_free(list, n);
}

static void
vol_snapshot_list(struct api_req *r)
{
    vol_snapshot_list_common(r, false);
}

static void
vol_snapshot_detail(struct api_req *r)
{
    vol_snapshot_list_common(r, true);
}

static struct volume_snapshot *
vol_snapshot_get(struct api_req *r, struct svc *svc, const struct caller *who)
{
    CLEANUP_ERROR struct error *err = NULL;
    const char *id = api_param(r, "snapshot_id");
    struct volume_snapshot *vs = NULL;

    if (volumes_snapshot_find(svc, who, id, &vs, &err) < 0) {
        vol_find_fail(r, "Snapshot", id, err);
        return NULL;
    }
    return vs;
}

static void
vol_snapshot_respond(struct api_req *r, int status,
                     const struct volume_snapshot *vs)
{
    json_object *top = xjson_object();

    xjson_add(top, "snapshot", vol_snapshot_view(r, vs, true));
    api_respond_json(r, status, top);
}

static void
vol_snapshot_show(struct api_req *r)
{
    struct volume_snapshot *vs;
    struct caller who;
    struct svc *svc;

    if (api_begin(r, &svc, &who) &&
        (vs = vol_snapshot_get(r, svc, &who)) != NULL) {
        vol_snapshot_respond(r, 200, vs);
        volume_snapshot_free(vs);
    }
}

static void
vol_snapshot_delete(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct volume_snapshot *vs;
    struct caller who;
    struct svc *svc;

    if (!api_begin(r, &svc, &who) ||
        (vs = vol_snapshot_get(r, svc, &who)) == NULL) {
        return;
    }
    if (strcmp(vs->status, "creating") == 0) {
        api_error(r, 400, "Invalid snapshot: snapshot %s is being made",
                  vs->id);
    } else {
        vol_delete_answer(r, volumes_snapshot_delete(svc, &who, vs->id, &err),
                          "snapshot", err);
    }
    volume_snapshot_free(vs);
}

static const struct api_field vol_snap_f[] = {
    {"volume_id", AJ_STRING, true, NULL, 0, 64},
    {"force", AJ_BOOL | AJ_STRING | AJ_NULL, false, NULL, 0, 16},
    {"name", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"display_name", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"description", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"display_description", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"metadata", AJ_OBJECT | AJ_NULL, false, NULL, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema vol_snap_s = {vol_snap_f, false};
static const struct api_field vol_snap_top_f[] = {
    {"snapshot", AJ_OBJECT, true, &vol_snap_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema vol_snap_top_s = {vol_snap_top_f, false};

/* POST /volume/v3/{project_id}/snapshots */
static void
vol_snapshot_create(struct api_req *r)
{
    CLEANUP_JSON_PUT json_object *body = api_req_json(r);
    CLEANUP_ERROR struct error *err = NULL;
    struct volume_snapshot *vs = NULL;
    struct task *t = NULL;
    struct svc *svc;
    struct caller who;
    json_object *s, *m;
    const char *name, *vid;

    if (body == NULL || (svc = api_svc(r)) == NULL) {
        return;
    }
    if (api_check(body, &vol_snap_top_s, "body", &err) < 0) {
        api_error(r, 400, "%s", error_msg(err));
        return;
    }
    s = api_json_get(body, "snapshot");
    if (((m = api_json_get(s, "description")) ||
         (m = api_json_get(s, "display_description"))) &&
        !json_object_is_type(m, json_type_null)) {
        api_error(r, 400, "Invalid input: vmsnap snapshots have no "
                  "description");
        return;
    }
    if ((m = api_json_get(s, "metadata")) &&
        json_object_is_type(m, json_type_object) &&
        json_object_object_length(m) > 0) {
        api_error(r, 400, "Invalid input: vmsnap snapshots take no "
                  "metadata here");
        return;
    }
    name = api_json_str(s, "name");
    if (name == NULL) {
        name = api_json_str(s, "display_name");
    }
    vid = api_json_str(s, "volume_id");
    api_who(r, &who);
    if (!util_is_uuid(vid)) {
        api_error(r, 404, "Volume %.64s could not be found.", vid);
        return;
    }
    if (volumes_snapshot_request(svc, &who, vid, name, &vs, &t, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            api_error(r, 404, "Volume %.64s could not be found.", vid);
        } else if (error_get_class(err) == ERR_CONFLICT) {
            api_error(r, 400, "Invalid volume: %s", error_msg(err));
        } else {
            api_error_from(r, err);
        }
        return;
    }
    if (runner_spawn(svc, t->id, &err) < 0) {
        api_error_from(r, err);
    } else {
        vol_snapshot_respond(r, 202, vs);
    }
    task_free(t);
    volume_snapshot_free(vs);
}

#define VOL "/volume/v3/{project_id}"

static const struct route volume_routes_[] = {
    {"GET", VOL "/volumes", vol_list, API_VOLUME, 0, ROUTE_BODY_NONE},
    {"GET", VOL "/volumes/detail", vol_detail, API_VOLUME, 0,
     ROUTE_BODY_NONE},
    {"POST", VOL "/volumes", vol_create, API_VOLUME, 0, ROUTE_BODY_JSON},
    {"GET", VOL "/volumes/{volume_id:uuid}", vol_show, API_VOLUME, 0,
     ROUTE_BODY_NONE},
    {"DELETE", VOL "/volumes/{volume_id:uuid}", vol_delete, API_VOLUME, 0,
     ROUTE_BODY_NONE},
    {"GET", VOL "/snapshots", vol_snapshot_list, API_VOLUME, 0,
     ROUTE_BODY_NONE},
    {"GET", VOL "/snapshots/detail", vol_snapshot_detail, API_VOLUME, 0,
     ROUTE_BODY_NONE},
    {"POST", VOL "/snapshots", vol_snapshot_create, API_VOLUME, 0,
     ROUTE_BODY_JSON},
    {"GET", VOL "/snapshots/{snapshot_id:uuid}", vol_snapshot_show,
     API_VOLUME, 0, ROUTE_BODY_NONE},
    {"DELETE", VOL "/snapshots/{snapshot_id:uuid}", vol_snapshot_delete,
     API_VOLUME, 0, ROUTE_BODY_NONE},
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table volume_routes = {"/volume", API_VOLUME,
                                          volume_routes_};
