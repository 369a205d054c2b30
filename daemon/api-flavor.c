/* vmsnapd: Nova's flavors (openstack-api.md §6).
 *
 *   GET    /compute/v2.1/flavors[/detail]            list (pages)
 *   GET    /compute/v2.1/flavors/{id}                show
 *   GET    /compute/v2.1/flavors/{id}/os-extra_specs none
 *   POST   /compute/v2.1/flavors                     create (admin)
 *   DELETE /compute/v2.1/flavors/{id}                delete (admin)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api-compute.h"
#include "apis.h"
#include "cleanup.h"
#include "flavors.h"
#include "util.h"
#include "xalloc.h"
#include "xjson.h"

static json_object *
cmp_flavor_view(struct api_req *r, const struct flavor *f, bool detail)
{
    json_object *o = xjson_object();

    xjson_add(o, "id", xjson_string(f->id));
    xjson_add(o, "name", xjson_string(f->name));
    xjson_add(o, "links", cmp_links(r, "flavors", f->id));
    if (!detail) {
        return o;
    }
    xjson_add(o, "ram", xjson_int64(f->ram_mb));
    xjson_add(o, "disk", xjson_int64(f->disk_gb));
    xjson_add(o, "vcpus", xjson_int64(f->vcpus));
    /* At 2.1 a flavor without swap says "". */
    xjson_add(o, "swap", f->swap_mb
              ? xjson_int64(f->swap_mb)
              : xjson_string(""));
    xjson_add(o, "OS-FLV-EXT-DATA:ephemeral", xjson_int64(f->ephemeral_gb));
    xjson_add(o, "OS-FLV-DISABLED:disabled", xjson_bool(false));
    xjson_add(o, "os-flavor-access:is_public", xjson_bool(f->is_public));
    xjson_add(o, "rxtx_factor", xjson_double(1.0));
    return o;
}

/* GET /flavors and /flavors/detail */
static void
cmp_flavor_list_common(struct api_req *r, bool detail)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc = api_svc(r);
    struct flavor **list = NULL;
    const char *pub = http_req_query(r->http, "is_public");
    const char *marker = http_req_query(r->http, "marker");
    int64_t min_ram, min_disk, limit;
    json_object *top, *arr;
    struct caller who;
    size_t n = 0, i, count = 0;
    bool started = marker == NULL;

    if (svc == NULL ||
        api_query_int(r, "minRam", 0, 0, INT64_MAX, &min_ram) < 0 ||
        api_query_int(r, "minDisk", 0, 0, INT64_MAX, &min_disk) < 0 ||
        api_query_int(r, "limit", CMP_LIMIT_MAX, 0, INT64_MAX, &limit) < 0) {
        return;
    }
    api_who(r, &who);
    if (flavors_list(svc, &who, &list, &n, &err) < 0) {
        api_error_from(r, err);
        return;
    }
    top = xjson_object();
    arr = xjson_array();
    for (i = 0; i < n; i++) {
        const struct flavor *f = list[i];

        if (!started) {
            started = strcmp(f->id, marker) == 0;
            continue;
        }
        /* is_public: True (the default for everybody), False, or None
         * (the literal word: both), as Nova reads it.
         */
        if (pub == NULL || strcasecmp(pub, "true") == 0 ||
            strcmp(pub, "1") == 0) {
            if (!f->is_public) {
                continue;
            }
        } else if (strcasecmp(pub, "false") == 0 || strcmp(pub, "0") == 0) {
            if (f->is_public) {
                continue;
            }
        }
        if (f->ram_mb < min_ram || f->disk_gb < min_disk ||
            (int64_t)count >= limit) {
            continue;
        }
        xjson_append(arr, cmp_flavor_view(r, f, detail));
        count++;
    }
    xjson_add(top, "flavors", arr);
    flavor_list_free(list, n);
    api_respond_json(r, 200, top);
}

static void
cmp_flavor_list(struct api_req *r)
{
    cmp_flavor_list_common(r, false);
}

static void
cmp_flavor_detail(struct api_req *r)
{
    cmp_flavor_list_common(r, true);
}

/* R's flavor, by ID: NULL after responding 404. */
static struct flavor *
cmp_flavor(struct api_req *r, struct svc *svc, const struct caller *who)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct flavor *f = NULL;

    if (flavors_get(svc, who, api_param(r, "flavor_id"), &f, &err) < 0) {
        api_error_from(r, err);
        return NULL;
    }
    return f;
}

/* GET /flavors/{flavor_id} */
static void
cmp_flavor_show(struct api_req *r)
{
    struct svc *svc;
    struct flavor *f;
    struct caller who;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    f = cmp_flavor(r, svc, &who);
    if (f) {
        json_object *top = xjson_object();

        xjson_add(top, "flavor", cmp_flavor_view(r, f, true));
        flavor_free(f);
        api_respond_json(r, 200, top);
    }
}

/* GET /flavors/{flavor_id}/os-extra_specs: vmsnap keeps none. */
static void
cmp_flavor_specs(struct api_req *r)
{
    struct svc *svc;
    struct flavor *f;
    struct caller who;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    f = cmp_flavor(r, svc, &who);
    if (f) {
        json_object *top = xjson_object();

        xjson_add(top, "extra_specs", xjson_object());
        flavor_free(f);
        api_respond_json(r, 200, top);
    }
}

/* A non-negative count member KEY of OBJ (an integer or its digits), DEF
 * when absent or null.  Responds 400.
 */
static int
cmp_flavor_int(struct api_req *r, json_object *obj, const char *key,
               int64_t def, int64_t min, int64_t *out)
{
    json_object *v = api_json_get(obj, key);

    *out = def;
    if (v == NULL || json_object_is_type(v, json_type_null) ||
        (json_object_is_type(v, json_type_string) &&
         json_object_get_string_len(v) == 0 && def >= 0 && min == 0)) {
        return 0;
    }
    if ((json_object_is_type(v, json_type_int) &&
         (*out = json_object_get_int64(v), true)) ||
        (json_object_is_type(v, json_type_string) &&
         util_parse_int64(json_object_get_string(v), out, NULL) == 0)) {
        if (*out >= min && *out <= INT32_MAX) {
            return 0;
        }
    }
    api_error(r, 400, "Invalid input for field/attribute %s: a whole "
              "number from %lld", key, (long long)min);
    return -1;
}

static const struct api_field cmp_flavor_f[] = {
    {"name", AJ_STRING, true, NULL, 0, 255},
    {"id", AJ_STRING | AJ_INT | AJ_NULL, false, NULL, 0, 255},
    {"ram", AJ_INT | AJ_STRING, true, NULL, 0, 16},
    {"vcpus", AJ_INT | AJ_STRING, true, NULL, 0, 16},
    {"disk", AJ_INT | AJ_STRING, true, NULL, 0, 16},
    {"OS-FLV-EXT-DATA:ephemeral", AJ_INT | AJ_STRING | AJ_NULL, false, NULL,
     0, 16},
    {"swap", AJ_INT | AJ_STRING | AJ_NULL, false, NULL, 0, 16},
    {"rxtx_factor", AJ_NUMBER | AJ_STRING | AJ_NULL, false, NULL, 0, 16},
    {"os-flavor-access:is_public", AJ_BOOL | AJ_STRING, false, NULL, 0, 16},
    {"description", AJ_STRING | AJ_NULL, false, NULL, 0, 65535},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema cmp_flavor_s = {cmp_flavor_f, false};
static const struct api_field cmp_flavor_top_f[] = {
    {"flavor", AJ_OBJECT, true, &cmp_flavor_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema cmp_flavor_top_s = {cmp_flavor_top_f, false};

static const char cmp_policy[] =
    "Policy doesn't allow os_compute_api:os-flavor-manage:%s to be "
    "performed.";

/* POST /flavors (administrators) */
static void
cmp_flavor_create(struct api_req *r)
{
    CLEANUP_JSON_PUT json_object *body = api_req_json(r);
    CLEANUP_ERROR struct error *err = NULL;
    struct flavor spec = {0}, *made = NULL;
    struct svc *svc;
    struct caller who;
    json_object *f, *id, *pub;
    int64_t vcpus, ram, disk, eph, swap;
    char idbuf[32];

    if (body == NULL || (svc = api_svc(r)) == NULL) {
        return;
    }
    api_who(r, &who);
    if (!who.admin) {
        api_error(r, 403, cmp_policy, "create");
        return;
    }
    if (api_check(body, &cmp_flavor_top_s, "body", &err) < 0) {
        api_error(r, 400, "%s", error_msg(err));
        return;
    }
    f = api_json_get(body, "flavor");
    if (cmp_flavor_int(r, f, "vcpus", -1, 1, &vcpus) < 0 ||
        cmp_flavor_int(r, f, "ram", -1, 1, &ram) < 0 ||
        cmp_flavor_int(r, f, "disk", -1, 0, &disk) < 0 ||
        cmp_flavor_int(r, f, "OS-FLV-EXT-DATA:ephemeral", 0, 0, &eph) < 0 ||
        cmp_flavor_int(r, f, "swap", 0, 0, &swap) < 0) {
        return;
    }
    id = api_json_get(f, "id");
    if (id && json_object_is_type(id, json_type_int)) {
        snprintf(idbuf, sizeof(idbuf), "%lld",
                 (long long)json_object_get_int64(id));
        spec.id = idbuf;
    } else if (id && json_object_is_type(id, json_type_string) &&
               strcmp(json_object_get_string(id), "auto") != 0) {
        spec.id = (char *)json_object_get_string(id);
    }
    pub = api_json_get(f, "os-flavor-access:is_public");
    spec.is_public = pub == NULL ||
                     (json_object_is_type(pub, json_type_boolean)
                          ? json_object_get_boolean(pub)
                          : strcasecmp(json_object_get_string(pub),
                                       "false") != 0);
    spec.name = (char *)api_json_str(f, "name");
    spec.vcpus = (int)vcpus;
    spec.ram_mb = ram;
    spec.disk_gb = disk;
    spec.ephemeral_gb = eph;
    spec.swap_mb = swap;
    if (flavors_create(svc, &who, &spec, &made, &err) < 0) {
        api_error_from(r, err);
        return;
    }
    {
        json_object *top = xjson_object();

        xjson_add(top, "flavor", cmp_flavor_view(r, made, true));
        flavor_free(made);
        api_respond_json(r, 200, top);
    }
}

/* DELETE /flavors/{flavor_id} (administrators) */
static void
cmp_flavor_delete(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc;
    struct caller who;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    if (!who.admin) {
        api_error(r, 403, cmp_policy, "delete");
        return;
    }
    if (flavors_delete(svc, &who, api_param(r, "flavor_id"), &err) < 0) {
        api_error_from(r, err);
        return;
    }
    api_respond_empty(r, 202);
}

#define FLV "/compute/v2.1/flavors"

static const struct route flavor_routes_[] = {
    {"GET", FLV, cmp_flavor_list, API_COMPUTE, 0, ROUTE_BODY_NONE},
    {"GET", FLV "/detail", cmp_flavor_detail, API_COMPUTE, 0,
     ROUTE_BODY_NONE},
    {"POST", FLV, cmp_flavor_create, API_COMPUTE, 0, ROUTE_BODY_JSON},
    {"GET", FLV "/{flavor_id}", cmp_flavor_show, API_COMPUTE, 0,
     ROUTE_BODY_NONE},
    {"DELETE", FLV "/{flavor_id}", cmp_flavor_delete, API_COMPUTE, 0,
     ROUTE_BODY_NONE},
    {"GET", FLV "/{flavor_id}/os-extra_specs", cmp_flavor_specs,
     API_COMPUTE, 0, ROUTE_BODY_NONE},
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table flavor_routes = {FLV, API_COMPUTE, flavor_routes_};
