/* vmsnap: json-c builders that never fail.
 *
 * json-c's constructors (json_object_new_*) return NULL and its adders
 * (json_object_object_add, json_object_array_add) return -1 only when
 * memory runs out, or when called on the wrong type, which is a bug.
 * Under vmsnap's rule (xalloc.h, docs/internals/memory.md) both abort, so
 * code that builds JSON has no error path and no unchecked call.
 *
 * Ownership follows json-c: a builder returns a new reference; xjson_add
 * and xjson_append take over the reference they are given.  Thread-safe
 * as json-c is (distinct objects in distinct threads).  Never blocks.
 */
#ifndef VMSNAP_XJSON_H
#define VMSNAP_XJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* New empty object and array. */
json_object *xjson_object(void);
json_object *xjson_array(void);

/* New string holding a copy of S (not NULL), or of LEN bytes of S (which
 * may hold NUL bytes).
 */
json_object *xjson_string(const char *s);
json_object *xjson_string_len(const char *s, size_t len);

/* New integer, floating-point number and boolean. */
json_object *xjson_int64(int64_t v);
json_object *xjson_double(double v);
json_object *xjson_bool(bool v);

/* Set member KEY of the object OBJ to VAL (ownership taken; NULL stores
 * JSON null), replacing any earlier value.
 */
void xjson_add(json_object *obj, const char *key, json_object *val);

/* Append VAL (ownership taken; NULL is JSON null) to the array ARR. */
void xjson_append(json_object *arr, json_object *val);

/* OBJ as compact JSON text without escaped slashes, its length in *LEN
 * (if LEN is not NULL).  Borrowed from OBJ: valid until OBJ changes or is
 * put.
 */
const char *xjson_text(json_object *obj, size_t *len);

#endif
