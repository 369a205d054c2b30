/* vmsnap: json-c builders that never fail (see xjson.h). */
#include "xalloc.h"
#include "xjson.h"

json_object *
xjson_object(void)
{
    return xcheck(json_object_new_object());
}

json_object *
xjson_array(void)
{
    return xcheck(json_object_new_array());
}

json_object *
xjson_string(const char *s)
{
    return xcheck(json_object_new_string(s));
}

json_object *
xjson_string_len(const char *s, size_t len)
{
    if (len > INT32_MAX) {
        xalloc_die(); /* json-c stores lengths in an int */
    }
    return xcheck(json_object_new_string_len(s, (int)len));
}

json_object *
xjson_int64(int64_t v)
{
    return xcheck(json_object_new_int64(v));
}

json_object *
xjson_double(double v)
{
    return xcheck(json_object_new_double(v));
}

json_object *
xjson_bool(bool v)
{
    return xcheck(json_object_new_boolean(v));
}

void
xjson_add(json_object *obj, const char *key, json_object *val)
{
    if (json_object_object_add(obj, key, val) < 0) {
        xalloc_die();
    }
}

void
xjson_append(json_object *arr, json_object *val)
{
    if (json_object_array_add(arr, val) < 0) {
        xalloc_die();
    }
}

const char *
xjson_text(json_object *obj, size_t *len)
{
    size_t n = 0;
    const char *s;

    s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    if (s == NULL) {
        xalloc_die();
    }
    if (len != NULL) {
        *len = n;
    }
    return s;
}
