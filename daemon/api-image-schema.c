/* vmsnapd: Glance v2's JSON schemas, which glanceclient builds its
 * models from.
 *
 *   GET    /image/v2/schemas/image[s]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api-common.h"
#include "apis.h"
#include "xalloc.h"
#include "xjson.h"

/* The image schema glanceclient builds its models from (Glance's, for
 * the fields vmsnap keeps; any other property is a string).
 */
static const char img_schema_text[] =
    "{\"name\": \"image\", \"additionalProperties\": {\"type\": "
    "\"string\"}, \"properties\": {"
    "\"id\": {\"type\": \"string\", \"pattern\": \"^([0-9a-fA-F]){8}-"
    "([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F])"
    "{12}$\"},"
    "\"name\": {\"type\": [\"null\", \"string\"], \"maxLength\": 255},"
    "\"status\": {\"type\": \"string\", \"readOnly\": true, \"enum\": "
    "[\"queued\", \"saving\", \"active\", \"killed\", \"deleted\", "
    "\"uploading\", \"importing\", \"pending_delete\", \"deactivated\"]},"
    "\"visibility\": {\"type\": \"string\", \"enum\": [\"community\", "
    "\"public\", \"private\", \"shared\"]},"
    "\"protected\": {\"type\": \"boolean\"},"
    "\"os_hidden\": {\"type\": \"boolean\"},"
    "\"checksum\": {\"type\": [\"null\", \"string\"], \"readOnly\": true, "
    "\"maxLength\": 32},"
    "\"os_hash_algo\": {\"type\": [\"null\", \"string\"], \"readOnly\": "
    "true, \"maxLength\": 64},"
    "\"os_hash_value\": {\"type\": [\"null\", \"string\"], \"readOnly\": "
    "true, \"maxLength\": 128},"
    "\"owner\": {\"type\": [\"null\", \"string\"], \"maxLength\": 255},"
    "\"size\": {\"type\": [\"null\", \"integer\"], \"readOnly\": true},"
    "\"virtual_size\": {\"type\": [\"null\", \"integer\"], \"readOnly\": "
    "true},"
    "\"container_format\": {\"type\": [\"null\", \"string\"], \"enum\": "
    "[null, \"ami\", \"ari\", \"aki\", \"bare\", \"ovf\", \"ova\", "
    "\"docker\", \"compressed\"]},"
    "\"disk_format\": {\"type\": [\"null\", \"string\"], \"enum\": [null, "
    "\"ami\", \"ari\", \"aki\", \"vhd\", \"vhdx\", \"vmdk\", \"raw\", "
    "\"qcow2\", \"vdi\", \"iso\", \"ploop\"]},"
    "\"created_at\": {\"type\": \"string\", \"readOnly\": true},"
    "\"updated_at\": {\"type\": \"string\", \"readOnly\": true},"
    "\"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\", "
    "\"maxLength\": 255}},"
    "\"min_ram\": {\"type\": \"integer\"},"
    "\"min_disk\": {\"type\": \"integer\"},"
    "\"self\": {\"type\": \"string\", \"readOnly\": true},"
    "\"file\": {\"type\": \"string\", \"readOnly\": true},"
    "\"schema\": {\"type\": \"string\", \"readOnly\": true},"
    "\"fail_reason\": {\"type\": [\"null\", \"string\"], \"readOnly\": "
    "true},"
    "\"kernel_id\": {\"type\": [\"null\", \"string\"]},"
    "\"ramdisk_id\": {\"type\": [\"null\", \"string\"]},"
    "\"instance_uuid\": {\"type\": \"string\"},"
    "\"base_image_ref\": {\"type\": \"string\"},"
    "\"image_type\": {\"type\": \"string\"},"
    "\"block_device_mapping\": {\"type\": \"string\", \"readOnly\": true}"
    "}, \"links\": [{\"rel\": \"self\", \"href\": \"{self}\"}, "
    "{\"rel\": \"enclosure\", \"href\": \"{file}\"}, "
    "{\"rel\": \"describedby\", \"href\": \"{schema}\"}]}";

static json_object *
img_schema(void)
{
    /* The text is ours and valid: NULL only when memory ran out. */
    return xcheck(json_tokener_parse(img_schema_text));
}

/* GET /image/v2/schemas/image */
static void
img_schema_image(struct api_req *r)
{
    api_respond_json(r, 200, img_schema());
}

static json_object *
str_type(void)
{
    json_object *o = xjson_object();

    xjson_add(o, "type", xjson_string("string"));
    return o;
}

/* GET /image/v2/schemas/images */
static void
img_schema_images(struct api_req *r)
{
    json_object *top = xjson_object();
    json_object *props = xjson_object();
    json_object *images = xjson_object();
    json_object *links = xjson_array();
    static const char *const rels[][2] = {
        {"first", "{first}"}, {"next", "{next}"},
        {"describedby", "{schema}"},
    };
    size_t i;

    xjson_add(images, "type", xjson_string("array"));
    xjson_add(images, "items", img_schema());
    xjson_add(props, "images", images);
    xjson_add(props, "schema", str_type());
    xjson_add(props, "first", str_type());
    xjson_add(props, "next", str_type());
    for (i = 0; i < 3; i++) {
        json_object *l = xjson_object();

        xjson_add(l, "rel", xjson_string(rels[i][0]));
        xjson_add(l, "href", xjson_string(rels[i][1]));
        xjson_append(links, l);
    }
    xjson_add(top, "name", xjson_string("images"));
    xjson_add(top, "properties", props);
    xjson_add(top, "links", links);
    api_respond_json(r, 200, top);
}

#define IMG_SCHEMAS "/image/v2/schemas"

static const struct route image_schema_routes_[] = {
    {"GET", IMG_SCHEMAS "/image", img_schema_image, API_IMAGE, 0,
     ROUTE_BODY_NONE},
    {"GET", IMG_SCHEMAS "/images", img_schema_images, API_IMAGE, 0,
     ROUTE_BODY_NONE},
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table image_schema_routes = {IMG_SCHEMAS, API_IMAGE,
                                                image_schema_routes_};
