/* vmsnapd: the version documents each client reads before anything else
 * (openstack-api.md §3).  Without them 30 of 35 client commands fail.
 *
 * Paths (the DevStack layout, one port):
 *   GET /identity         300 {"versions": {"values": [v3]}}
 *   GET /identity/v3      200 {"version": v3}
 *   GET /image            300 {"versions": [v2.x ...]} (the SDK)
 *   GET /image/versions   200 the same (glanceclient)
 *   GET /compute          200 {"versions": [v2.1]}
 *   GET /compute/v2.1     200 {"version": v2.1}, with the microversion
 *                         range in "min_version" and "version"
 *   GET /volume           300 {"versions": [v3.0]}
 *   GET /volume/v3        200 the same (the SDK strips the project id)
 * All are public: no token.
 */
#include <stdio.h>

#include "apis.h"
#include "cleanup.h"
#include "util.h"
#include "xjson.h"

/* {"rel": "self", "href": BASE + PATH} in a new array. */
static json_object *
disc_links(struct api_req *r, const char *path)
{
    json_object *links = xjson_array();
    json_object *self = xjson_object();
    CLEANUP_FREE char *href = util_strdup_printf("%s%s", api_base_url(r), path);

    xjson_add(self, "rel", xjson_string("self"));
    xjson_add(self, "href", xjson_string(href ? href : path));
    xjson_append(links, self);
    return links;
}

static json_object *
disc_media(const char *type)
{
    json_object *arr = xjson_array();
    json_object *m = xjson_object();

    xjson_add(m, "base", xjson_string("application/json"));
    xjson_add(m, "type", xjson_string(type));
    xjson_append(arr, m);
    return arr;
}

static json_object *
disc_keystone_v3(struct api_req *r)
{
    json_object *v = xjson_object();

    xjson_add(v, "id", xjson_string("v3.14"));
    xjson_add(v, "status", xjson_string("stable"));
    xjson_add(v, "updated", xjson_string("2020-04-07T00:00:00Z"));
    xjson_add(v, "links", disc_links(r, "/identity/v3/"));
    xjson_add(v, "media-types",
              disc_media("application/vnd.openstack.identity-"
              "v3+json"));
    return v;
}

static void
disc_identity_root(struct api_req *r)
{
    json_object *top = xjson_object();
    json_object *versions = xjson_object();
    json_object *values = xjson_array();

    xjson_append(values, disc_keystone_v3(r));
    xjson_add(versions, "values", values);
    xjson_add(top, "versions", versions);
    api_respond_json(r, 300, top);
}

static void
disc_identity_v3(struct api_req *r)
{
    json_object *top = xjson_object();

    xjson_add(top, "version", disc_keystone_v3(r));
    api_respond_json(r, 200, top);
}

/* Glance's list.  No import (§8) is offered, so nothing past 2.5. */
static json_object *
disc_glance_versions(struct api_req *r)
{
    static const char *const ids[][2] = {
        {"v2.5", "CURRENT"},   {"v2.4", "SUPPORTED"}, {"v2.3", "SUPPORTED"},
        {"v2.2", "SUPPORTED"}, {"v2.1", "SUPPORTED"}, {"v2.0", "SUPPORTED"},
    };
    json_object *top = xjson_object();
    json_object *arr = xjson_array();
    size_t i;

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        json_object *v = xjson_object();

        xjson_add(v, "id", xjson_string(ids[i][0]));
        xjson_add(v, "status", xjson_string(ids[i][1]));
        xjson_add(v, "links", disc_links(r, "/image/v2/"));
        xjson_append(arr, v);
    }
    xjson_add(top, "versions", arr);
    return top;
}

static void
disc_image_root(struct api_req *r)
{
    api_respond_json(r, 300, disc_glance_versions(r));
}

static void
disc_image_versions(struct api_req *r)
{
    api_respond_json(r, 200, disc_glance_versions(r));
}

static json_object *
disc_nova_v21(struct api_req *r)
{
    json_object *v = xjson_object();
    char min[16], max[16];

    snprintf(min, sizeof(min), "%d.%d", r->ctx->compute_min.major,
             r->ctx->compute_min.minor);
    snprintf(max, sizeof(max), "%d.%d", r->ctx->compute_max.major,
             r->ctx->compute_max.minor);
    xjson_add(v, "id", xjson_string("v2.1"));
    xjson_add(v, "status", xjson_string("CURRENT"));
    xjson_add(v, "version", xjson_string(max));
    xjson_add(v, "min_version", xjson_string(min));
    xjson_add(v, "updated", xjson_string("2013-07-23T11:33:21Z"));
    xjson_add(v, "links", disc_links(r, "/compute/v2.1/"));
    xjson_add(v, "media-types",
              disc_media("application/vnd.openstack.compute+"
              "json;version=2.1"));
    return v;
}

static void
disc_compute_root(struct api_req *r)
{
    json_object *top = xjson_object();
    json_object *arr = xjson_array();

    xjson_append(arr, disc_nova_v21(r));
    xjson_add(top, "versions", arr);
    api_respond_json(r, 200, top);
}

static void
disc_compute_v21(struct api_req *r)
{
    json_object *top = xjson_object();

    xjson_add(top, "version", disc_nova_v21(r));
    api_respond_json(r, 200, top);
}

static json_object *
disc_cinder_versions(struct api_req *r)
{
    json_object *top = xjson_object();
    json_object *arr = xjson_array();
    json_object *v = xjson_object();
    char min[16], max[16];

    snprintf(min, sizeof(min), "%d.%d", r->ctx->volume_min.major,
             r->ctx->volume_min.minor);
    snprintf(max, sizeof(max), "%d.%d", r->ctx->volume_max.major,
             r->ctx->volume_max.minor);
    xjson_add(v, "id", xjson_string("v3.0"));
    xjson_add(v, "status", xjson_string("CURRENT"));
    xjson_add(v, "version", xjson_string(max));
    xjson_add(v, "min_version", xjson_string(min));
    xjson_add(v, "updated", xjson_string("2016-02-08T12:20:21Z"));
    xjson_add(v, "links", disc_links(r, "/volume/v3/"));
    xjson_add(v, "media-types",
              disc_media("application/vnd.openstack.volume+"
              "json;version=3"));
    xjson_append(arr, v);
    xjson_add(top, "versions", arr);
    return top;
}

static void
disc_volume_root(struct api_req *r)
{
    api_respond_json(r, 300, disc_cinder_versions(r));
}

static void
disc_volume_v3(struct api_req *r)
{
    api_respond_json(r, 200, disc_cinder_versions(r));
}

#define DISC (ROUTE_PUBLIC | ROUTE_NO_MV)

static const struct route discovery_routes_[] = {
    {"GET", "/identity", disc_identity_root, API_IDENTITY, DISC,
     ROUTE_BODY_NONE},
    {"GET", "/identity/v3", disc_identity_v3, API_IDENTITY, DISC,
     ROUTE_BODY_NONE},
    {"GET", "/image", disc_image_root, API_IMAGE, DISC, ROUTE_BODY_NONE},
    {"GET", "/image/versions", disc_image_versions, API_IMAGE, DISC,
     ROUTE_BODY_NONE},
    {"GET", "/compute", disc_compute_root, API_COMPUTE, DISC, ROUTE_BODY_NONE},
    {"GET", "/compute/v2.1", disc_compute_v21, API_COMPUTE, DISC,
     ROUTE_BODY_NONE},
    {"GET", "/volume", disc_volume_root, API_VOLUME, DISC, ROUTE_BODY_NONE},
    {"GET", "/volume/v3", disc_volume_v3, API_VOLUME, DISC, ROUTE_BODY_NONE},
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table discovery_routes = {"", API_OTHER, discovery_routes_};
