/* Fuzz target: what "qemu-img info --output=json" prints, parsed as
 * qemuimg_info parses it (qemuimg_info_parse and
 * qemuimg_reads_other_files behind qemuimg_info_from_json).  qemu-img
 * describes hostile images, so its output is hostile too: a VMDK's
 * extents and a qcow2's data-file are names the image chose.
 *
 * The input is the output.  Oracle: an accepted reply gives a format, a
 * non-negative virtual size and cluster size, and an actual size of -1
 * or more; a reply with a string "filename" and no "format-specific"
 * part does not read other files, and one without a string "filename"
 * always does (it cannot be checked).
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "error.h"
#include "fuzz.h"
#include "qemuimg.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qemuimg_info info;
    struct error *err = NULL;
    struct json_tokener *tok;
    json_object *obj, *v;
    bool named, specific;

    if (qemuimg_info_from_json((const char *)data, size, &info, &err) < 0) {
        error_free(err);
        return 0;
    }
    if (info.format == NULL || info.virtual_size < 0 ||
        info.cluster_size < 0 || info.actual_size < -1) {
        abort(); /* an accepted reply broke the record's contract */
    }
    tok = json_tokener_new();
    obj = json_tokener_parse_ex(tok, (const char *)data, (int)size);
    named = json_object_object_get_ex(obj, "filename", &v) &&
            json_object_is_type(v, json_type_string);
    specific = json_object_object_get_ex(obj, "format-specific", NULL);
    if ((!named && !info.other_files) ||
        (named && !specific && info.other_files)) {
        abort(); /* other_files does not follow the reply */
    }
    json_object_put(obj);
    json_tokener_free(tok);
    qemuimg_info_clear(&info);
    return 0;
}
