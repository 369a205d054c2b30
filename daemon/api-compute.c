/* vmsnapd: Nova v2.1 (openstack-api.md §6).
 *
 *   GET    /compute/v2.1/servers[/detail]           list (filters, pages)
 *   POST   /compute/v2.1/servers                    create and boot
 *   GET    /compute/v2.1/servers/{id}               show
 *   DELETE /compute/v2.1/servers/{id}               delete
 *   POST   /compute/v2.1/servers/{id}/action        os-stop, os-start,
 *          pause, unpause, reboot, createImage, createBackup
 *   GET    /compute/v2.1/servers/{id}/os-volume_attachments[/{volume}]
 *   POST   /compute/v2.1/servers/{id}/os-volume_attachments
 *   DELETE /compute/v2.1/servers/{id}/os-volume_attachments/{volume}
 *   GET    /compute/v2.1/servers/{id}/os-instance-actions[/{request}]
 *
 * Flavors are api-flavor.c's.
 *
 * The microversion is 2.1 (daemon.c says why); every answer has its
 * shape.  A server is created and booted in the request (two or three
 * seconds: QEMU starts and answers QMP), so "server create --wait" finds
 * it ACTIVE at its first poll; its life-cycle actions run in the request
 * too, bounded by their timeouts.  Snapshots and backups are tasks in
 * worker processes: the request records the image (queued) and starts
 * the worker, and the server's task_state follows the task's phase, as
 * Nova's does: image_snapshot (or image_backup), image_pending_upload,
 * image_uploading.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "actions.h"
#include "api-compute.h"
#include "apis.h"
#include "b64.h"
#include "backup.h"
#include "cleanup.h"
#include "flavors.h"
#include "images.h"
#include "log.h"
#include "runner.h"
#include "servers.h"
#include "snapshot.h"
#include "task.h"
#include "util.h"
#include "views.h"
#include "volumes.h"
#include "xalloc.h"
#include "xjson.h"

/* How long a clean stop may take before it is forced (Nova's
 * shutdown_timeout).
 */
#define CMP_STOP_TIMEOUT_S 60

/* ---- Shapes ------------------------------------------------------------ */

json_object *
cmp_links(struct api_req *r, const char *collection, const char *id)
{
    json_object *links = xjson_array();
    json_object *self = xjson_object();
    json_object *book = xjson_object();
    CLEANUP_FREE char *eid = api_url_encode(id);
    CLEANUP_FREE char *s = xasprintf("%s/compute/v2.1/%s/%s",
                                     api_base_url(r), collection, eid);
    CLEANUP_FREE char *b = xasprintf("%s/compute/%s/%s", api_base_url(r),
                                     collection, eid);

    xjson_add(self, "rel", xjson_string("self"));
    xjson_add(self, "href", xjson_string(s));
    xjson_add(book, "rel", xjson_string("bookmark"));
    xjson_add(book, "href", xjson_string(b));
    xjson_append(links, self);
    xjson_append(links, book);
    return links;
}

/* A time of the catalog as Nova writes it: "2026-11-29T13:53:34Z". */
static json_object *
cmp_time(const char *t)
{
    char buf[UTIL_TIME_LEN];

    if (t == NULL) {
        return NULL;
    }
    snprintf(buf, sizeof(buf), "%.19sZ", t);
    return xjson_string(buf);
}

/* Nova's task_state of a server busy with task T (a snapshot or backup):
 * from its phase.
 */
static const char *
cmp_task_state(const struct task *t)
{
    bool backup = t->kind && strcmp(t->kind, "backup") == 0;

    if (t->phase == NULL || strcmp(t->phase, "prepare") == 0 ||
        strcmp(t->phase, "frozen") == 0) {
        return backup ? "image_backup" : "image_snapshot";
    }
    if (strcmp(t->phase, "copy") == 0) {
        return "image_pending_upload";
    }
    return "image_uploading";
}

/* The task_state to show for INST: its task's phase mapped to Nova's,
 * or what the catalog says.  *PROGRESS gets the task's percentage.
 */
static const char *
cmp_server_task(struct svc *svc, const struct caller *who,
                const struct instance *inst, int *progress)
{
    struct task **list = NULL;
    const char *state = inst->task_state;
    size_t n = 0, i;

    *progress = 0;
    if (inst->task_state == NULL ||
        strcmp(inst->task_state, "image_snapshot") != 0 ||
        task_list(svc, who, inst->id, &list, &n, NULL) < 0) {
        return state;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(list[i]->state, "queued") == 0 ||
            strcmp(list[i]->state, "running") == 0) {
            state = cmp_task_state(list[i]);
            *progress = (int)list[i]->progress;
            break;
        }
    }
    task_list_free(list, n);
    return state;
}

/* The Nova form of INST in state ST, with the volumes attached to it
 * among VOLS.
 */
static json_object *
cmp_server_view(struct api_req *r, struct svc *svc, const struct caller *who,
                const struct instance *inst, const struct hv_state *st,
                struct volume **vols, size_t nvols)
{
    json_object *o = view_server(inst, st);
    json_object *image = xjson_object();
    json_object *flavor = xjson_object();
    json_object *att = xjson_array();
    json_object *sg = xjson_array();
    json_object *def = xjson_object();
    const char *fid = servers_flavor(inst);
    const char *task;
    char host[256] = "", name[32];
    int progress;
    size_t i;

    gethostname(host, sizeof(host) - 1);
    if (inst->image_id) {
        xjson_add(image, "id", xjson_string(inst->image_id));
        xjson_add(image, "links", cmp_links(r, "images", inst->image_id));
        xjson_add(o, "image", image);
    } else {
        json_object_put(image);
        xjson_add(o, "image", xjson_string(""));
    }
    xjson_add(flavor, "id", xjson_string(fid ? fid : ""));
    xjson_add(flavor, "links",
              fid ? cmp_links(r, "flavors", fid) : xjson_array());
    xjson_add(o, "flavor", flavor);
    for (i = 0; i < nvols; i++) {
        if (vols[i]->instance_id &&
            strcmp(vols[i]->instance_id, inst->id) == 0) {
            json_object *v = xjson_object();

            xjson_add(v, "id", xjson_string(vols[i]->id));
            xjson_add(v, "delete_on_termination", xjson_bool(false));
            xjson_append(att, v);
        }
    }
    xjson_add(def, "name", xjson_string("default"));
    xjson_append(sg, def);
    task = cmp_server_task(svc, who, inst, &progress);
    snprintf(name, sizeof(name), "instance-%.8s", inst->id);
    xjson_add(o, "OS-EXT-STS:task_state", task ? xjson_string(task) : NULL);
    xjson_add(o, "progress", xjson_int64(progress));
    xjson_add(o, "created", cmp_time(inst->created_at));
    xjson_add(o, "updated", cmp_time(inst->updated_at));
    xjson_add(o, "links", cmp_links(r, "servers", inst->id));
    xjson_add(o, "os-extended-volumes:volumes_attached", att);
    xjson_add(o, "security_groups", sg);
    xjson_add(o, "accessIPv4", xjson_string(""));
    xjson_add(o, "accessIPv6", xjson_string(""));
    xjson_add(o, "hostId", xjson_string(""));
    xjson_add(o, "OS-DCF:diskConfig", xjson_string("MANUAL"));
    xjson_add(o, "OS-EXT-AZ:availability_zone", xjson_string("nova"));
    xjson_add(o, "config_drive", xjson_string(""));
    xjson_add(o, "key_name", NULL);
    xjson_add(o, "OS-SRV-USG:launched_at", cmp_time(inst->created_at));
    xjson_add(o, "OS-SRV-USG:terminated_at", NULL);
    xjson_add(o, "OS-EXT-SRV-ATTR:host",
              xjson_string(inst->host ? inst->host : host));
    xjson_add(o, "OS-EXT-SRV-ATTR:hypervisor_hostname",
              xjson_string(inst->host ? inst->host : host));
    xjson_add(o, "OS-EXT-SRV-ATTR:instance_name", xjson_string(name));
    return o;
}

/* The brief form: id, name, links. */
static json_object *
cmp_server_brief(struct api_req *r, const struct instance *inst)
{
    json_object *o = xjson_object();

    xjson_add(o, "id", xjson_string(inst->id));
    xjson_add(o, "name", xjson_string(inst->name));
    xjson_add(o, "links", cmp_links(r, "servers", inst->id));
    return o;
}

/* 404 for server REF, as Nova words it. */
static void
cmp_no_server(struct api_req *r, const char *ref)
{
    api_error(r, 404, "Instance %.64s could not be found.", ref);
}

/* R's server, by UUID only (a name is the client's cue to list): NULL
 * after responding.
 */
static struct instance *
cmp_server(struct api_req *r, struct svc *svc, const struct caller *who)
{
    CLEANUP_ERROR struct error *err = NULL;
    const char *id = api_param(r, "server_id");
    struct instance *inst = NULL;

    if (!util_is_uuid(id)) {
        cmp_no_server(r, id);
        return NULL;
    }
    if (servers_find(svc, who, id, &inst, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            cmp_no_server(r, id);
        } else {
            api_error_from(r, err);
        }
        return NULL;
    }
    return inst;
}

/* ---- Servers ----------------------------------------------------------- */

/* Do INST and its state ST pass the list filters of R? */
static bool
cmp_server_matches(struct api_req *r, const struct caller *who,
                   const struct instance *inst, const struct hv_state *st)
{
    const char *name = http_req_query(r->http, "name");
    const char *status = http_req_query(r->http, "status");
    const char *image = http_req_query(r->http, "image");
    const char *flavor = http_req_query(r->http, "flavor");
    const char *all = http_req_query(r->http, "all_tenants");
    const char *project = http_req_query(r->http, "project_id");
    const char *fid = servers_flavor(inst);
    bool all_projects = all && strcmp(all, "0") != 0 &&
                        strcasecmp(all, "false") != 0;

    /* Admins see other projects' servers only when they ask, as in
     * Nova; project_id picks one of them.
     */
    if (project && who->admin) {
        if (inst->project_id == NULL ||
            strcmp(inst->project_id, project) != 0) {
            return false;
        }
    } else if (!all_projects && who->project_id &&
               (inst->project_id == NULL ||
                strcmp(inst->project_id, who->project_id) != 0)) {
        return false;
    }
    if (name && strcmp(name, inst->name) != 0) {
        return false;
    }
    if (status && strcasecmp(status, st->status) != 0) {
        return false;
    }
    if (image && (inst->image_id == NULL ||
                  strcasecmp(image, inst->image_id) != 0)) {
        return false;
    }
    return flavor == NULL || (fid && strcmp(flavor, fid) == 0);
}

/* GET /compute/v2.1/servers and /servers/detail. */
static void
cmp_server_list_common(struct api_req *r, bool detail)
{
    static const char *const drop[] = {"marker", NULL};
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc = api_svc(r);
    struct instance **list = NULL;
    struct volume **vols = NULL;
    const char *marker = http_req_query(r->http, "marker");
    const char *all = http_req_query(r->http, "all_tenants");
    size_t n = 0, nv = 0, i, count = 0;
    json_object *top, *arr;
    struct caller who;
    int64_t limit;
    bool started = marker == NULL, full = false;
    const char *last = NULL;

    if (svc == NULL ||
        api_query_int(r, "limit", CMP_LIMIT_MAX, 0, INT64_MAX, &limit) < 0) {
        return;
    }
    if (limit > CMP_LIMIT_MAX) {
        limit = CMP_LIMIT_MAX;
    }
    api_who(r, &who);
    if (all && !who.admin && strcmp(all, "0") != 0) {
        api_error(r, 403, "Policy doesn't allow "
                  "os_compute_api:servers:detail:get_all_tenants to be "
                  "performed.");
        return;
    }
    if (servers_list(svc, &who, &list, &n, &err) < 0 ||
        (detail && volumes_list(svc, &who, &vols, &nv, &err) < 0)) {
        instance_list_free(list, n);
        api_error_from(r, err);
        return;
    }
    if (marker) {
        for (i = 0; i < n && strcmp(list[i]->id, marker) != 0; i++) {
        }
        if (i == n) {
            instance_list_free(list, n);
            volume_list_free(vols, nv);
            api_error(r, 400, "marker [%.64s] not found", marker);
            return;
        }
    }
    top = xjson_object();
    arr = xjson_array();
    for (i = 0; i < n; i++) {
        struct hv_state st;

        if (!started) {
            started = strcmp(list[i]->id, marker) == 0;
            continue;
        }
        if (servers_state(svc, list[i], &st, NULL) < 0) {
            memset(&st, 0, sizeof(st));
            snprintf(st.status, sizeof(st.status), "ERROR");
            snprintf(st.power, sizeof(st.power), "unknown");
        }
        if (!cmp_server_matches(r, &who, list[i], &st)) {
            continue;
        }
        if ((int64_t)count == limit) {
            full = true;
            break;
        }
        xjson_append(
            arr, detail ? cmp_server_view(r, svc, &who, list[i], &st, vols, nv)
                        : cmp_server_brief(r, list[i]));
        last = list[i]->id;
        count++;
    }
    xjson_add(top, "servers", arr);
    if (full && last) {
        json_object *links = xjson_array();
        json_object *next = xjson_object();
        CLEANUP_FREE char *q = api_query_without(r, drop);
        CLEANUP_FREE char *href = xasprintf(
            "%s/compute/v2.1/servers%s?%s%smarker=%s", api_base_url(r),
            detail ? "/detail" : "", q, *q ? "&" : "", last);

        xjson_add(next, "rel", xjson_string("next"));
        xjson_add(next, "href", xjson_string(href));
        xjson_append(links, next);
        xjson_add(top, "servers_links", links);
    }
    instance_list_free(list, n);
    volume_list_free(vols, nv);
    api_respond_json(r, 200, top);
}

static void
cmp_server_list(struct api_req *r)
{
    cmp_server_list_common(r, false);
}

static void
cmp_server_detail(struct api_req *r)
{
    cmp_server_list_common(r, true);
}

/* Respond with server INST as it is now (STATUS 200). */
static void
cmp_respond_server(struct api_req *r, struct svc *svc,
                   const struct caller *who, const struct instance *inst)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct volume **vols = NULL;
    struct hv_state st;
    json_object *top;
    size_t nv = 0;

    if (servers_state(svc, inst, &st, &err) < 0 ||
        volumes_list(svc, who, &vols, &nv, &err) < 0) {
        api_error_from(r, err);
        return;
    }
    top = xjson_object();
    xjson_add(top, "server", cmp_server_view(r, svc, who, inst, &st, vols, nv));
    volume_list_free(vols, nv);
    api_respond_json(r, 200, top);
}

/* GET /compute/v2.1/servers/{server_id} */
static void
cmp_server_show(struct api_req *r)
{
    struct svc *svc;
    struct instance *inst;
    struct caller who;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    inst = cmp_server(r, svc, &who);
    if (inst) {
        cmp_respond_server(r, svc, &who, inst);
        instance_free(inst);
    }
}

/* The ID at the end of REF, a bare ID or a URL ending in one. */
static const char *
cmp_ref_id(const char *ref)
{
    const char *slash = strrchr(ref, '/');

    return slash ? slash + 1 : ref;
}

static const struct api_field cmp_sg_f[] = {
    {"name", AJ_STRING, true, NULL, 0, 255},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema cmp_sg_s = {cmp_sg_f, false};

/* Nova 2.1's server create body (its extensions included), closed. */
static const struct api_field cmp_create_f[] = {
    {"name", AJ_STRING, true, NULL, 0, 255},
    {"imageRef", AJ_STRING, false, NULL, 0, 1024},
    {"flavorRef", AJ_STRING | AJ_INT, true, NULL, 0, 1024},
    {"adminPass", AJ_STRING, false, NULL, 0, 255},
    {"metadata", AJ_OBJECT, false, NULL, 0, 0},
    {"networks", AJ_ARRAY | AJ_STRING, false, NULL, 0, 0},
    {"OS-DCF:diskConfig", AJ_STRING, false, NULL, 0, 16},
    {"accessIPv4", AJ_STRING, false, NULL, 0, 64},
    {"accessIPv6", AJ_STRING, false, NULL, 0, 64},
    {"min_count", AJ_INT | AJ_STRING, false, NULL, 0, 16},
    {"max_count", AJ_INT | AJ_STRING, false, NULL, 0, 16},
    {"return_reservation_id", AJ_BOOL | AJ_STRING, false, NULL, 0, 16},
    {"security_groups", AJ_ARRAY, false, NULL, AJ_OBJECT, 0},
    {"user_data", AJ_STRING | AJ_NULL, false, NULL, 0, 65535},
    {"availability_zone", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"key_name", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"config_drive", AJ_BOOL | AJ_STRING, false, NULL, 0, 16},
    {"block_device_mapping", AJ_ARRAY, false, NULL, 0, 0},
    {"block_device_mapping_v2", AJ_ARRAY, false, NULL, 0, 0},
    {"personality", AJ_ARRAY, false, NULL, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema cmp_create_s = {cmp_create_f, false};

static const struct api_field cmp_create_top_f[] = {
    {"server", AJ_OBJECT, true, &cmp_create_s, 0, 0},
    {"os:scheduler_hints", AJ_OBJECT, false, NULL, 0, 0},
    {"OS-SCH-HNT:scheduler_hints", AJ_OBJECT, false, NULL, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema cmp_create_top_s = {cmp_create_top_f, false};

/* A count member of the create body: absent or 1.  Responds 400. */
static int
cmp_count_one(struct api_req *r, json_object *s, const char *key)
{
    json_object *v = api_json_get(s, key);
    int64_t n = 1;

    if (v == NULL) {
        return 0;
    }
    if (json_object_is_type(v, json_type_int)) {
        n = json_object_get_int64(v);
    } else if (util_parse_int64(json_object_get_string(v), &n, NULL) < 0) {
        n = -1;
    }
    if (n != 1) {
        api_error(r, 400, "Invalid input for field/attribute %s: vmsnap "
                  "creates one server per request", key);
        return -1;
    }
    return 0;
}

/* Refuse what the body asks that vmsnap servers do not have. */
static int
cmp_create_unsupported(struct api_req *r, json_object *s)
{
    json_object *v;
    const char *str;

    if ((v = api_json_get(s, "networks")) &&
        json_object_is_type(v, json_type_array) &&
        json_object_array_length(v) > 0) {
        api_error(r, 400, "vmsnap servers have no networks to choose: "
                  "give none, or \"auto\" or \"none\"");
        return -1;
    }
    if ((v = api_json_get(s, "metadata")) &&
        json_object_object_length(v) > 0) {
        api_error(r, 400, "Server metadata is not supported by vmsnap");
        return -1;
    }
    if (((v = api_json_get(s, "block_device_mapping")) ||
         (v = api_json_get(s, "block_device_mapping_v2"))) &&
        json_object_array_length(v) > 0) {
        api_error(r, 400, "Booting from volume is not supported by vmsnap: "
                  "give imageRef");
        return -1;
    }
    if ((v = api_json_get(s, "personality")) &&
        json_object_array_length(v) > 0) {
        api_error(r, 400, "Personality files are not supported");
        return -1;
    }
    if ((str = api_json_str(s, "key_name")) != NULL ||
        (str = api_json_str(s, "user_data")) != NULL) {
        api_error(r, 400, "Key pairs and user data are not supported by "
                  "vmsnap");
        return -1;
    }
    if ((str = api_json_str(s, "availability_zone")) != NULL &&
        strcmp(str, "nova") != 0) {
        api_error(r, 400, "The only availability zone is nova");
        return -1;
    }
    if ((v = api_json_get(s, "security_groups")) != NULL) {
        size_t i, n = json_object_array_length(v);

        for (i = 0; i < n; i++) {
            json_object *g = json_object_array_get_idx(v, i);
            CLEANUP_ERROR struct error *err = NULL;

            if (api_check(g, &cmp_sg_s, "body.server.security_groups",
                          &err) < 0) {
                api_error(r, 400, "%s", error_msg(err));
                return -1;
            }
            if (strcmp(api_json_str(g, "name"), "default") != 0) {
                api_error(r, 400, "The only security group is default");
                return -1;
            }
        }
    }
    return 0;
}

/* POST /compute/v2.1/servers */
static void
cmp_server_create(struct api_req *r)
{
    CLEANUP_JSON_PUT json_object *body = api_req_json(r);
    CLEANUP_ERROR struct error *err = NULL;
    struct servers_new spec = {0};
    struct flavor *fl = NULL;
    struct image *img = NULL;
    struct instance *inst = NULL;
    struct svc *svc;
    struct caller who;
    json_object *s, *fref, *top, *srv, *sg, *def;
    char flavor_ref[64];
    unsigned char pw[9];
    char pass[16];
    const char *iref;

    if (body == NULL || (svc = api_svc(r)) == NULL) {
        return;
    }
    if (api_check(body, &cmp_create_top_s, "body", &err) < 0) {
        api_error(r, 400, "%s", error_msg(err));
        return;
    }
    s = api_json_get(body, "server");
    if (cmp_count_one(r, s, "min_count") < 0 ||
        cmp_count_one(r, s, "max_count") < 0 ||
        cmp_create_unsupported(r, s) < 0) {
        return;
    }
    iref = api_json_str(s, "imageRef");
    if (iref == NULL || *iref == '\0') {
        api_error(r, 400, "Booting from volume is not supported by vmsnap: "
                  "give imageRef");
        return;
    }
    iref = cmp_ref_id(iref);
    fref = api_json_get(s, "flavorRef");
    snprintf(flavor_ref, sizeof(flavor_ref), "%s",
             cmp_ref_id(json_object_get_string(fref)));
    api_who(r, &who);
    if (!util_is_uuid(iref) || images_find(svc, &who, iref, &img, &err) < 0) {
        api_error(r, 400, "Image %.64s could not be found.", iref);
        return;
    }
    if (flavors_get(svc, &who, flavor_ref, &fl, &err) < 0) {
        api_error(r, 400, "Flavor %.64s could not be found.", flavor_ref);
        image_free(img);
        return;
    }
    if (strcmp(img->status, "active") != 0) {
        api_error(r, 400, "Image %s is not active.", img->id);
    } else if (img->min_ram > fl->ram_mb) {
        api_error(r, 400, "Flavor's memory is too small for requested "
                  "image.");
    } else if (fl->disk_gb > 0 && img->min_disk > fl->disk_gb) {
        api_error(r, 400, "Flavor's disk is too small for requested "
                  "image.");
    } else {
        spec.name = api_json_str(s, "name");
        spec.image = img->id;
        spec.memory_mb = fl->ram_mb;
        spec.cpus = fl->vcpus;
        spec.flavor = fl->id;
        if (servers_create(svc, &who, &spec, &inst, &err) < 0) {
            api_error_from(r, err);
        }
    }
    image_free(img);
    flavor_free(fl);
    if (inst == NULL) {
        return;
    }
    /* Nova's answer: enough for the client to poll the server. */
    if (RAND_bytes(pw, sizeof(pw)) != 1) {
        memset(pw, 0, sizeof(pw));
    }
    b64_encode(pw, sizeof(pw), pass, B64_URL);
    top = xjson_object();
    srv = xjson_object();
    sg = xjson_array();
    def = xjson_object();
    xjson_add(def, "name", xjson_string("default"));
    xjson_append(sg, def);
    xjson_add(srv, "id", xjson_string(inst->id));
    xjson_add(srv, "links", cmp_links(r, "servers", inst->id));
    xjson_add(srv, "OS-DCF:diskConfig", xjson_string("MANUAL"));
    xjson_add(srv, "security_groups", sg);
    xjson_add(srv, "adminPass", xjson_string(pass));
    xjson_add(top, "server", srv);
    {
        CLEANUP_FREE char *loc = xasprintf("%s/compute/v2.1/servers/%s",
                                           api_base_url(r), inst->id);

        http_add_header(r->http, "Location", loc);
    }
    instance_free(inst);
    api_respond_json(r, 202, top);
}

/* DELETE /compute/v2.1/servers/{server_id} */
static void
cmp_server_delete(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc;
    struct instance *inst;
    struct caller who;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    inst = cmp_server(r, svc, &who);
    if (inst == NULL) {
        return;
    }
    if (servers_delete(svc, &who, inst->id, &err) < 0) {
        if (error_get_class(err) == ERR_CONFLICT) {
            api_error(r, 409, "Cannot 'delete' instance %s while it is in "
                      "task_state %s", inst->id,
                      inst->task_state ? inst->task_state : "busy");
        } else {
            api_error_from(r, err);
        }
    } else {
        api_respond_empty(r, 204);
    }
    instance_free(inst);
}

/* ---- Actions ----------------------------------------------------------- */

/* Nova's vm_state of status ST ("active", "stopped", "paused"). */
static const char *
cmp_vm_state(const char *status)
{
    if (strcmp(status, "ACTIVE") == 0) {
        return "active";
    }
    if (strcmp(status, "SHUTOFF") == 0) {
        return "stopped";
    }
    if (strcmp(status, "PAUSED") == 0) {
        return "paused";
    }
    return "error";
}

/* Is INST in one of the statuses of ALLOWED ("ACTIVE|PAUSED") and idle?
 * Responds 409 as Nova does when not.
 */
static bool
cmp_state_allows(struct api_req *r, struct svc *svc,
                 const struct instance *inst, const char *action,
                 const char *allowed)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct hv_state st;

    if (servers_state(svc, inst, &st, &err) < 0) {
        api_error_from(r, err);
        return false;
    }
    if (inst->task_state) {
        api_error(r, 409, "Cannot '%s' instance %s while it is in "
                  "task_state %s", action, inst->id, inst->task_state);
        return false;
    }
    if (strstr(allowed, st.status) == NULL) {
        api_error(r, 409, "Cannot '%s' instance %s while it is in vm_state "
                  "%s", action, inst->id, cmp_vm_state(st.status));
        return false;
    }
    return true;
}

/* The members of a metadata object of an action as properties, checked:
 * strings only.  *PROPS (caller frees) borrows from OBJ.
 */
static int
cmp_metadata(struct api_req *r, json_object *obj, struct prop **props,
             size_t *n)
{
    *props = NULL;
    *n = 0;
    if (obj == NULL) {
        return 0;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        api_error(r, 400, "Invalid input for field/attribute metadata: it "
                  "is not an object");
        return -1;
    }
    *props = xcalloc(json_object_object_length(obj) + 1, sizeof(**props));
    json_object_object_foreach(obj, k, v)
    {
        if (!json_object_is_type(v, json_type_string)) {
            api_error(r, 400, "Invalid input for field/attribute "
                      "metadata.%.64s: metadata values are strings", k);
            free(*props);
            *props = NULL;
            return -1;
        }
        (*props)[*n].key = k;
        (*props)[(*n)++].value = (char *)json_object_get_string(v);
    }
    return 0;
}

/* "vmsnap:all_volumes": true also snapshots every attached volume at the
 * same instant (snapshot.h; seed 004 asks createImage for it).  Nova has
 * no such member; the web page's "All volumes" sends it.
 * "vmsnap:incremental": true makes createBackup's backup in the chunk
 * store, incremental when its chain allows (store.h), as the command's
 * --incremental; the setting backup.incremental makes it the default
 * for the openstack client, which cannot send it.
 */
static const struct api_field cmp_image_f[] = {
    {"name", AJ_STRING, true, NULL, 0, 255},
    {"metadata", AJ_OBJECT, false, NULL, 0, 0},
    {"vmsnap:all_volumes", AJ_BOOL, false, NULL, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema cmp_image_s = {cmp_image_f, false};

static const struct api_field cmp_backup_f[] = {
    {"name", AJ_STRING, true, NULL, 0, 255},
    {"backup_type", AJ_STRING, true, NULL, 0, 255},
    {"rotation", AJ_INT | AJ_STRING, true, NULL, 0, 16},
    {"metadata", AJ_OBJECT, false, NULL, 0, 0},
    {"vmsnap:all_volumes", AJ_BOOL, false, NULL, 0, 0},
    {"vmsnap:incremental", AJ_BOOL, false, NULL, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema cmp_backup_s = {cmp_backup_f, false};

static const struct api_field cmp_reboot_f[] = {
    {"type", AJ_STRING, true, NULL, 0, 16},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema cmp_reboot_s = {cmp_reboot_f, false};

/* Start the task T (consumed) that makes image IMG (consumed) and answer
 * 202 with the image's ID as microversion 2.1 wants it (Location) and
 * as 2.45 does (the body); both are harmless to either client.
 */
static void
cmp_respond_image_task(struct api_req *r, struct svc *svc, struct image *img,
                       struct task *t)
{
    CLEANUP_ERROR struct error *err = NULL;
    json_object *body;

    if (t && runner_spawn(svc, t->id, &err) < 0) {
        api_error_from(r, err);
        task_free(t);
        image_free(img);
        return;
    }
    task_free(t);
    if (img == NULL) {
        api_respond_empty(r, 202);
        return;
    }
    {
        CLEANUP_FREE char *loc = xasprintf("%s/image/v2/images/%s",
                                           api_base_url(r), img->id);

        http_add_header(r->http, "Location", loc);
    }
    body = xjson_object();
    xjson_add(body, "image_id", xjson_string(img->id));
    image_free(img);
    api_respond_json(r, 202, body);
}

/* A service error of a snapshot request as Nova answers it. */
static void
cmp_snapshot_fail(struct api_req *r, const struct instance *inst,
                  const char *action, const struct error *err)
{
    if (error_get_class(err) == ERR_CONFLICT &&
        strstr(error_msg(err), "busy")) {
        api_error(r, 409, "Cannot '%s' instance %s while it is in "
                  "task_state image_snapshot", action, inst->id);
    } else {
        api_error_from(r, err);
    }
}

/* The "rotation" of createBackup (an integer, or a string of one) into
 * *ROTATION; false after answering 400.
 */
static bool
cmp_rotation(struct api_req *r, json_object *arg, int64_t *rotation)
{
    json_object *rot = api_json_get(arg, "rotation");

    if (json_object_is_type(rot, json_type_int)) {
        *rotation = json_object_get_int64(rot);
    } else if (util_parse_int64(json_object_get_string(rot), rotation,
                                NULL) < 0) {
        *rotation = -1;
    }
    if (*rotation < 0 || *rotation > 1000) {
        api_error(r, 400, "Invalid input for field/attribute rotation: a "
                  "whole number from 0");
        return false;
    }
    return true;
}

/* The actions createImage and createBackup (BACKUP) of server INST: the
 * same checks, options and answer; a backup adds its type and rotation.
 */
static void
cmp_snapshot_action(struct api_req *r, struct svc *svc,
                    const struct caller *who, const struct instance *inst,
                    json_object *arg, bool backup)
{
    const char *action = backup ? "createBackup" : "createImage";
    CLEANUP_ERROR struct error *err = NULL;
    CLEANUP_FREE struct prop *props = NULL;
    struct snapshot_opts opts = {0};
    struct image *img = NULL;
    struct task *t = NULL;
    int64_t rotation = -1;
    char where[32];
    size_t n = 0;
    int rc;

    snprintf(where, sizeof(where), "body.%s", action);
    if (api_check(arg, backup ? &cmp_backup_s : &cmp_image_s, where, &err) <
        0) {
        api_error(r, 400, "%s", error_msg(err));
        return;
    }
    if ((backup && !cmp_rotation(r, arg, &rotation)) ||
        cmp_metadata(r, api_json_get(arg, "metadata"), &props, &n) < 0 ||
        !cmp_state_allows(r, svc, inst, action, "ACTIVE|SHUTOFF|PAUSED")) {
        return;
    }
    opts.name = api_json_str(arg, "name");
    opts.extra_props = props;
    opts.nextra = n;
    opts.delete_failed = true;
    opts.all_volumes =
        json_object_get_boolean(api_json_get(arg, "vmsnap:all_volumes"));
    if (backup) {
        opts.incremental = json_object_get_boolean(
            api_json_get(arg, "vmsnap:incremental"));
        rc = backup_request(svc, who, inst->id, &opts,
                            api_json_str(arg, "backup_type"), (int)rotation,
                            &img, &t, &err);
    } else {
        rc = snapshot_request(svc, who, inst->id, &opts, &img, &t, &err);
    }
    if (rc < 0) {
        cmp_snapshot_fail(r, inst, action, err);
        return;
    }
    cmp_respond_image_task(r, svc, img, t);
}

/* POST /compute/v2.1/servers/{server_id}/action */
static void
cmp_server_action(struct api_req *r)
{
    CLEANUP_JSON_PUT json_object *body = api_req_json(r);
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc;
    struct instance *inst;
    struct caller who;
    const char *action = NULL;
    json_object *arg = NULL;
    int rc = 0;

    if (body == NULL || (svc = api_svc(r)) == NULL) {
        return;
    }
    if (json_object_object_length(body) != 1) {
        api_error(r, 400, "Malformed request body: one action, as "
                  "{\"os-start\": null}");
        return;
    }
    json_object_object_foreach(body, k, v)
    {
        action = k;
        arg = v;
    }
    api_who(r, &who);
    inst = cmp_server(r, svc, &who);
    if (inst == NULL) {
        return;
    }
    if (strcmp(action, "os-stop") == 0) {
        if (cmp_state_allows(r, svc, inst, "stop", "ACTIVE|PAUSED|ERROR")) {
            rc = servers_stop(svc, &who, inst->id, CMP_STOP_TIMEOUT_S, &err);
            goto answered;
        }
    } else if (strcmp(action, "os-start") == 0) {
        if (cmp_state_allows(r, svc, inst, "start", "SHUTOFF")) {
            rc = servers_start(svc, &who, inst->id, &err);
            goto answered;
        }
    } else if (strcmp(action, "pause") == 0 ||
               strcmp(action, "unpause") == 0) {
        bool pause = strcmp(action, "pause") == 0;

        if (cmp_state_allows(r, svc, inst, action,
                             pause ? "ACTIVE" : "PAUSED")) {
            rc = servers_pause(svc, &who, inst->id, pause, &err);
            goto answered;
        }
    } else if (strcmp(action, "reboot") == 0) {
        const char *type;

        if (api_check(arg, &cmp_reboot_s, "body.reboot", &err) < 0) {
            api_error(r, 400, "%s", error_msg(err));
        } else if (strcmp(type = api_json_str(arg, "type"), "SOFT") != 0 &&
                   strcmp(type, "HARD") != 0) {
            api_error(r, 400, "Invalid input for field/attribute type: "
                      "SOFT or HARD");
        } else if (cmp_state_allows(r, svc, inst, "reboot",
                                    strcmp(type, "HARD") == 0
                                        ? "ACTIVE|SHUTOFF|PAUSED|ERROR"
                                        : "ACTIVE")) {
            rc = servers_reboot(svc, &who, inst->id,
                                strcmp(type, "HARD") == 0,
                                CMP_STOP_TIMEOUT_S, &err);
            goto answered;
        }
    } else if (strcmp(action, "createImage") == 0) {
        cmp_snapshot_action(r, svc, &who, inst, arg, false);
    } else if (strcmp(action, "createBackup") == 0) {
        cmp_snapshot_action(r, svc, &who, inst, arg, true);
    } else {
        api_error(r, 400, "There is no such action: %.64s", action);
    }
    instance_free(inst);
    return;

answered:
    if (rc < 0) {
        api_error_from(r, err);
    } else {
        api_respond_empty(r, 202);
    }
    instance_free(inst);
}

/* ---- Volume attachments ------------------------------------------------ */

static json_object *
cmp_attachment(const struct volume *v)
{
    json_object *o = xjson_object();
    CLEANUP_FREE char *dev = xasprintf("/dev/vd%c", 'a' + v->device_index);

    xjson_add(o, "id", xjson_string(v->id));
    xjson_add(o, "serverId", xjson_string(v->instance_id));
    xjson_add(o, "volumeId", xjson_string(v->id));
    xjson_add(o, "device", xjson_string(dev));
    return o;
}

/* GET .../os-volume_attachments and .../os-volume_attachments/{vol}. */
static void
cmp_attachments_common(struct api_req *r, const char *only)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc;
    struct volume **vols = NULL;
    struct instance *inst;
    struct caller who;
    json_object *arr;
    size_t n = 0, i;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    inst = cmp_server(r, svc, &who);
    if (inst == NULL) {
        return;
    }
    if (volumes_list(svc, &who, &vols, &n, &err) < 0) {
        instance_free(inst);
        api_error_from(r, err);
        return;
    }
    arr = xjson_array();
    for (i = 0; i < n; i++) {
        if (vols[i]->instance_id == NULL ||
            strcmp(vols[i]->instance_id, inst->id) != 0) {
            continue;
        }
        if (only && strcasecmp(only, vols[i]->id) == 0) {
            json_object *top = xjson_object();

            xjson_add(top, "volumeAttachment", cmp_attachment(vols[i]));
            json_object_put(arr);
            volume_list_free(vols, n);
            instance_free(inst);
            api_respond_json(r, 200, top);
            return;
        }
        xjson_append(arr, cmp_attachment(vols[i]));
    }
    volume_list_free(vols, n);
    if (only) {
        json_object_put(arr);
        api_error(r, 404, "Volume %.64s is not attached to instance %s",
                  only, inst->id);
        instance_free(inst);
        return;
    }
    instance_free(inst);
    {
        json_object *top = xjson_object();

        xjson_add(top, "volumeAttachments", arr);
        api_respond_json(r, 200, top);
    }
}

static void
cmp_attachments(struct api_req *r)
{
    cmp_attachments_common(r, NULL);
}

static void
cmp_attachment_show(struct api_req *r)
{
    cmp_attachments_common(r, api_param(r, "volume_id"));
}

static const struct api_field cmp_attach_f[] = {
    {"volumeId", AJ_STRING, true, NULL, 0, 64},
    {"device", AJ_STRING | AJ_NULL, false, NULL, 0, 255},
    {"tag", AJ_STRING | AJ_NULL, false, NULL, 0, 60},
    {"delete_on_termination", AJ_BOOL, false, NULL, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema cmp_attach_s = {cmp_attach_f, false};
static const struct api_field cmp_attach_top_f[] = {
    {"volumeAttachment", AJ_OBJECT, true, &cmp_attach_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema cmp_attach_top_s = {cmp_attach_top_f, false};

/* A volume service error as Nova answers it. */
static void
cmp_volume_fail(struct api_req *r, const char *vid, const struct error *err)
{
    if (error_get_class(err) == ERR_NOT_FOUND &&
        strstr(error_msg(err), "volume")) {
        api_error(r, 404, "Volume %.64s could not be found.", vid);
    } else if (error_get_class(err) == ERR_CONFLICT &&
               strncmp(error_msg(err), "volume ", 7) == 0) {
        api_error(r, 400, "Invalid volume: %s", error_msg(err));
    } else {
        api_error_from(r, err);
    }
}

/* POST .../os-volume_attachments */
static void
cmp_attach(struct api_req *r)
{
    CLEANUP_JSON_PUT json_object *body = api_req_json(r);
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc;
    struct instance *inst;
    struct volume *vol = NULL;
    struct caller who;
    const char *vid;

    if (body == NULL || (svc = api_svc(r)) == NULL) {
        return;
    }
    if (api_check(body, &cmp_attach_top_s, "body", &err) < 0) {
        api_error(r, 400, "%s", error_msg(err));
        return;
    }
    vid = api_json_str(api_json_get(body, "volumeAttachment"), "volumeId");
    api_who(r, &who);
    inst = cmp_server(r, svc, &who);
    if (inst == NULL) {
        return;
    }
    if (!util_is_uuid(vid)) {
        api_error(r, 404, "Volume %.64s could not be found.", vid);
    } else if (servers_attach_volume(svc, &who, inst->id, vid, &err) < 0 ||
               volumes_find(svc, &who, vid, &vol, &err) < 0) {
        cmp_volume_fail(r, vid, err);
    } else {
        json_object *top = xjson_object();

        xjson_add(top, "volumeAttachment", cmp_attachment(vol));
        api_respond_json(r, 200, top);
    }
    volume_free(vol);
    instance_free(inst);
}

/* DELETE .../os-volume_attachments/{volume_id} */
static void
cmp_detach(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    const char *vid = api_param(r, "volume_id");
    struct svc *svc;
    struct instance *inst;
    struct volume *vol = NULL;
    struct caller who;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    inst = cmp_server(r, svc, &who);
    if (inst == NULL) {
        return;
    }
    if (!util_is_uuid(vid) || volumes_find(svc, &who, vid, &vol, &err) < 0) {
        api_error(r, 404, "Volume %.64s could not be found.", vid);
    } else if (vol->instance_id == NULL ||
               strcmp(vol->instance_id, inst->id) != 0) {
        api_error(r, 404, "Volume %.64s is not attached to instance %s",
                  vid, inst->id);
    } else if (servers_detach_volume(svc, &who, inst->id, vol->id, &err) < 0) {
        cmp_volume_fail(r, vid, err);
    } else {
        api_respond_empty(r, 202);
    }
    volume_free(vol);
    instance_free(inst);
}

/* ---- Instance actions -------------------------------------------------- */

/* Nova's name of the event that does ACTION. */
static const char *
cmp_event_name(const char *action)
{
    static const char *const names[][2] = {
        {"create", "compute__do_build_and_run_instance"},
        {"stop", "compute_stop_instance"},
        {"start", "compute_start_instance"},
        {"pause", "compute_pause_instance"},
        {"unpause", "compute_unpause_instance"},
        {"reboot", "compute_reboot_instance"},
        {"createImage", "compute_snapshot_instance"},
        {"createBackup", "compute_backup_instance"},
        {"attach_volume", "compute_attach_volume"},
        {"detach_volume", "compute_detach_volume"},
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(names[i][0], action) == 0) {
            return names[i][1];
        }
    }
    return "compute_action";
}

/* A time of the catalog as Nova writes an action's: no zone letter. */
static json_object *
cmp_action_time(const char *t)
{
    char buf[UTIL_TIME_LEN];

    if (t == NULL) {
        return NULL;
    }
    snprintf(buf, sizeof(buf), "%.26s", t);
    return xjson_string(buf);
}

static json_object *
cmp_action_view(const struct instance_action *a, bool events)
{
    json_object *o = xjson_object();

    xjson_add(o, "action", xjson_string(a->action));
    xjson_add(o, "instance_uuid", xjson_string(a->instance_id));
    xjson_add(o, "request_id", xjson_string(a->request_id));
    xjson_add(o, "user_id", a->user_id ? xjson_string(a->user_id) : NULL);
    xjson_add(o, "project_id",
              a->project_id ? xjson_string(a->project_id) : NULL);
    xjson_add(o, "start_time", cmp_action_time(a->start_time));
    xjson_add(o, "message", a->message ? xjson_string(a->message) : NULL);
    if (events) {
        json_object *arr = xjson_array();
        json_object *e = xjson_object();
        const char *result =
            a->finish_time == NULL ? NULL : a->message ? "Error" : "Success";

        xjson_add(e, "event", xjson_string(cmp_event_name(a->action)));
        xjson_add(e, "start_time", cmp_action_time(a->start_time));
        xjson_add(e, "finish_time", cmp_action_time(a->finish_time));
        xjson_add(e, "result", result ? xjson_string(result) : NULL);
        xjson_add(e, "traceback", NULL);
        xjson_append(arr, e);
        xjson_add(o, "events", arr);
    }
    return o;
}

/* GET .../os-instance-actions */
static void
cmp_actions(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc;
    struct instance_action **list = NULL;
    struct instance *inst;
    struct caller who;
    json_object *top, *arr;
    size_t n = 0, i;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    inst = cmp_server(r, svc, &who);
    if (inst == NULL) {
        return;
    }
    if (actions_list(svc, &who, inst->id, &list, &n, &err) < 0) {
        instance_free(inst);
        api_error_from(r, err);
        return;
    }
    top = xjson_object();
    arr = xjson_array();
    for (i = 0; i < n; i++) {
        xjson_append(arr, cmp_action_view(list[i], false));
    }
    xjson_add(top, "instanceActions", arr);
    instance_action_list_free(list, n);
    instance_free(inst);
    api_respond_json(r, 200, top);
}

/* GET .../os-instance-actions/{request_id} */
static void
cmp_action_show(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc;
    struct instance_action *a = NULL;
    struct instance *inst;
    struct caller who;
    json_object *top;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    inst = cmp_server(r, svc, &who);
    if (inst == NULL) {
        return;
    }
    if (actions_find(svc, &who, inst->id, api_param(r, "request_id"), &a,
                     &err) < 0) {
        instance_free(inst);
        api_error_from(r, err);
        return;
    }
    top = xjson_object();
    xjson_add(top, "instanceAction", cmp_action_view(a, true));
    instance_action_free(a);
    instance_free(inst);
    api_respond_json(r, 200, top);
}

#define CMP "/compute/v2.1"
#define CMP_SRV CMP "/servers/{server_id}"

static const struct route compute_routes_[] = {
    {"GET", CMP "/servers", cmp_server_list, API_COMPUTE, 0, ROUTE_BODY_NONE},
    {"GET", CMP "/servers/detail", cmp_server_detail, API_COMPUTE, 0,
     ROUTE_BODY_NONE},
    {"POST", CMP "/servers", cmp_server_create, API_COMPUTE, 0,
     ROUTE_BODY_JSON},
    {"GET", CMP_SRV, cmp_server_show, API_COMPUTE, 0, ROUTE_BODY_NONE},
    {"DELETE", CMP_SRV, cmp_server_delete, API_COMPUTE, 0, ROUTE_BODY_NONE},
    {"POST", CMP_SRV "/action", cmp_server_action, API_COMPUTE, 0,
     ROUTE_BODY_JSON},
    {"GET", CMP_SRV "/os-volume_attachments", cmp_attachments, API_COMPUTE,
     0, ROUTE_BODY_NONE},
    {"POST", CMP_SRV "/os-volume_attachments", cmp_attach, API_COMPUTE, 0,
     ROUTE_BODY_JSON},
    {"GET", CMP_SRV "/os-volume_attachments/{volume_id}",
     cmp_attachment_show, API_COMPUTE, 0, ROUTE_BODY_NONE},
    {"DELETE", CMP_SRV "/os-volume_attachments/{volume_id}", cmp_detach,
     API_COMPUTE, 0, ROUTE_BODY_NONE},
    {"GET", CMP_SRV "/os-instance-actions", cmp_actions, API_COMPUTE, 0,
     ROUTE_BODY_NONE},
    {"GET", CMP_SRV "/os-instance-actions/{request_id}", cmp_action_show,
     API_COMPUTE, 0, ROUTE_BODY_NONE},
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table compute_routes = {"/compute", API_COMPUTE,
                                           compute_routes_};
