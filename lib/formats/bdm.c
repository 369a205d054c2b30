/* vmsnap: the block_device_mapping property, parsed and formatted in one
 * place (see bdm.h).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "bdm.h"
#include "cleanup.h"
#include "text.h"
#include "util.h"
#include "xalloc.h"
#include "xjson.h"

/* Nesting allowed in the text: the array, an entry, and room for the
 * values of members we ignore.
 */
#define BDM_MAX_DEPTH 8

static int
bdm_refuse(struct error **errp, size_t entry, const char *what)
{
    if (entry == 0) {
        error_setg(errp, ERR_INVALID, "block_device_mapping %s", what);
    } else {
        error_setg(errp, ERR_INVALID, "block_device_mapping entry %zu: %s",
                   entry, what);
    }
    return -1;
}

/* Copy the UUID S into OUT in lower case; false if S is not a UUID. */
static bool
bdm_copy_uuid(const char *s, char out[BDM_UUID_LEN])
{
    size_t i;

    if (!util_is_uuid(s)) {
        return false;
    }
    for (i = 0; i < BDM_UUID_LEN; i++) {
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    return true;
}

int
bdm_check(const struct bdm_entry *e, size_t n, struct error **errp)
{
    struct error *err = NULL;
    size_t i, j;

    if (n > BDM_MAX_ENTRIES) {
        error_setg(errp, ERR_INVALID,
                   "block_device_mapping has %zu entries: at most %d", n,
                   BDM_MAX_ENTRIES);
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (e[i].device_index < 1 ||
            e[i].device_index > BDM_MAX_DEVICE_INDEX) {
            return bdm_refuse(errp, i + 1,
                              "device_index is not from 1 to 8");
        }
        if (!util_is_uuid(e[i].volume_id)) {
            return bdm_refuse(errp, i + 1, "volume_id is not a UUID");
        }
        if (!util_is_uuid(e[i].snapshot_id)) {
            return bdm_refuse(errp, i + 1, "snapshot_id is not a UUID");
        }
        if (e[i].size < 0) {
            return bdm_refuse(errp, i + 1, "size is negative");
        }
        if (e[i].volume_name != NULL &&
            text_valid_name(e[i].volume_name, &err) < 0) {
            error_prepend(&err, "block_device_mapping entry %zu: "
                          "volume_name: ", i + 1);
            error_propagate(errp, err);
            return -1;
        }
        for (j = 0; j < i; j++) {
            if (e[j].device_index == e[i].device_index) {
                return bdm_refuse(errp, i + 1, "device_index used twice");
            }
            if (strcasecmp(e[j].snapshot_id, e[i].snapshot_id) == 0) {
                return bdm_refuse(errp, i + 1, "snapshot_id named twice");
            }
            if (strcasecmp(e[j].volume_id, e[i].volume_id) == 0) {
                return bdm_refuse(errp, i + 1, "volume_id named twice");
            }
        }
    }
    return 0;
}

/* Member KEY of OBJ as a string (no NUL inside), or NULL. */
static const char *
bdm_string(json_object *obj, const char *key)
{
    json_object *v;
    const char *s;

    if (!json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    s = json_object_get_string(v);
    return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

/* Member KEY of OBJ as an integer from MIN to INT64_MAX into *OUT. */
static bool
bdm_int(json_object *obj, const char *key, int64_t min, int64_t *out)
{
    json_object *v;
    int64_t i;

    if (!json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_int)) {
        return false;
    }
    i = json_object_get_int64(v);
    /* json-c saturates numbers beyond int64_t: compare with the
     * unsigned reading, which differs for those.
     */
    if (i < min || (uint64_t)i != json_object_get_uint64(v)) {
        return false;
    }
    *out = i;
    return true;
}

/* Fill E from the JSON object OBJ, entry number NUM (from 1). */
static int
bdm_read_entry(json_object *obj, size_t num, struct bdm_entry *e,
               struct error **errp)
{
    json_object *v;
    int64_t idx;
    const char *name;

    if (!json_object_is_type(obj, json_type_object)) {
        return bdm_refuse(errp, num, "is not an object");
    }
    if (!bdm_int(obj, "device_index", 1, &idx) ||
        idx > BDM_MAX_DEVICE_INDEX) {
        return bdm_refuse(errp, num, "device_index is not from 1 to 8");
    }
    e->device_index = (int)idx;
    if (!bdm_copy_uuid(bdm_string(obj, "volume_id"), e->volume_id)) {
        return bdm_refuse(errp, num, "volume_id is not a UUID");
    }
    if (!bdm_copy_uuid(bdm_string(obj, "snapshot_id"), e->snapshot_id)) {
        return bdm_refuse(errp, num, "snapshot_id is not a UUID");
    }
    if (!bdm_int(obj, "size", 0, &e->size)) {
        return bdm_refuse(errp, num, "size is not a number of bytes");
    }
    if (json_object_object_get_ex(obj, "volume_name", &v)) {
        name = bdm_string(obj, "volume_name");
        if (name == NULL) {
            return bdm_refuse(errp, num, "volume_name is not a string");
        }
        e->volume_name = xstrdup(name);
    }
    return 0;
}

/* Sort the N entries of E by device index (insertion sort: N <= 8). */
static void
bdm_sort(struct bdm_entry *e, size_t n)
{
    struct bdm_entry t;
    size_t i, j;

    for (i = 1; i < n; i++) {
        t = e[i];
        for (j = i; j > 0 && e[j - 1].device_index > t.device_index; j--) {
            e[j] = e[j - 1];
        }
        e[j] = t;
    }
}

/* Parse TEXT strictly into a JSON array; NULL with an error. */
static json_object *
bdm_parse_json(const char *text, struct error **errp)
{
    size_t len = strlen(text), end;
    struct json_tokener *tok;
    json_object *a;

    if (len > BDM_MAX_TEXT) {
        bdm_refuse(errp, 0, "is too long");
        return NULL;
    }
    tok = xcheck(json_tokener_new_ex(BDM_MAX_DEPTH));
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                                    JSON_TOKENER_VALIDATE_UTF8);
    a = json_tokener_parse_ex(tok, text, (int)len);
    end = json_tokener_get_parse_end(tok);
    if (a == NULL || json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(a);
        a = NULL;
    }
    json_tokener_free(tok);
    while (a != NULL && end < len && strchr(" \t\r\n", text[end]) != NULL) {
        end++;
    }
    if (a == NULL || end != len) {
        json_object_put(a);
        bdm_refuse(errp, 0, "is not valid JSON");
        return NULL;
    }
    if (!json_object_is_type(a, json_type_array)) {
        json_object_put(a);
        bdm_refuse(errp, 0, "is not a JSON array");
        return NULL;
    }
    return a;
}

int
bdm_parse(const char *text, struct bdm_entry **out, size_t *n,
          struct error **errp)
{
    CLEANUP_JSON_PUT json_object *a = NULL;
    struct bdm_entry *e = NULL;
    size_t i, len;

    if (text == NULL) {
        return bdm_refuse(errp, 0, "is missing");
    }
    a = bdm_parse_json(text, errp);
    if (a == NULL) {
        return -1;
    }
    len = json_object_array_length(a);
    if (len > BDM_MAX_ENTRIES) {
        error_setg(errp, ERR_INVALID,
                   "block_device_mapping has %zu entries: at most %d", len,
                   BDM_MAX_ENTRIES);
        return -1;
    }
    if (len > 0) {
        e = xcalloc(len, sizeof(*e));
    }
    for (i = 0; i < len; i++) {
        if (bdm_read_entry(json_object_array_get_idx(a, i), i + 1, &e[i],
                           errp) < 0) {
            bdm_free(e, len);
            return -1;
        }
    }
    if (bdm_check(e, len, errp) < 0) {
        bdm_free(e, len);
        return -1;
    }
    bdm_sort(e, len);
    *out = e;
    *n = len;
    return 0;
}

/* UUID S in lower case, as a JSON string. */
static json_object *
bdm_uuid_json(const char *s)
{
    char lower[BDM_UUID_LEN];

    bdm_copy_uuid(s, lower); /* checked by bdm_check */
    return xjson_string(lower);
}

char *
bdm_format(const struct bdm_entry *e, size_t n, struct error **errp)
{
    CLEANUP_JSON_PUT json_object *a = NULL;
    CLEANUP_FREE struct bdm_entry *sorted = NULL;
    json_object *o;
    size_t i;

    if (bdm_check(e, n, errp) < 0) {
        return NULL;
    }
    sorted = xcalloc(n, sizeof(*sorted));
    if (n > 0) {
        memcpy(sorted, e, n * sizeof(*e));
    }
    bdm_sort(sorted, n);
    a = xjson_array();
    for (i = 0; i < n; i++) {
        o = xjson_object();
        xjson_add(o, "device_index", xjson_int64(sorted[i].device_index));
        xjson_add(o, "volume_id", bdm_uuid_json(sorted[i].volume_id));
        xjson_add(o, "snapshot_id", bdm_uuid_json(sorted[i].snapshot_id));
        xjson_add(o, "size", xjson_int64(sorted[i].size));
        if (sorted[i].volume_name != NULL) {
            xjson_add(o, "volume_name", xjson_string(sorted[i].volume_name));
        }
        xjson_append(a, o);
    }
    return xstrdup(xjson_text(a, NULL));
}

const struct bdm_entry *
bdm_find_snapshot(const struct bdm_entry *e, size_t n,
                  const char *snapshot_id)
{
    size_t i;

    for (i = 0; snapshot_id != NULL && i < n; i++) {
        if (strcasecmp(e[i].snapshot_id, snapshot_id) == 0) {
            return &e[i];
        }
    }
    return NULL;
}

void
bdm_free(struct bdm_entry *e, size_t n)
{
    size_t i;

    if (e == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(e[i].volume_name);
    }
    free(e);
}
