/* Fuzz target: the block_device_mapping parser (an image property: any
 * user, and any imported package, chooses its value).
 *
 * The input is the property's text.  Oracle: whatever bdm_parse
 * accepts, bdm_check accepts too, bdm_format writes, and bdm_parse reads
 * back to the same entries; bdm_format's text is a fixed point.
 */
#include <stdlib.h>
#include <string.h>

#include "bdm.h"
#include "error.h"
#include "fuzz.h"

static bool
fuzz_same(const struct bdm_entry *a, const struct bdm_entry *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (a[i].device_index != b[i].device_index ||
            strcmp(a[i].volume_id, b[i].volume_id) != 0 ||
            strcmp(a[i].snapshot_id, b[i].snapshot_id) != 0 ||
            a[i].size != b[i].size ||
            (a[i].volume_name == NULL) != (b[i].volume_name == NULL) ||
            (a[i].volume_name != NULL &&
             strcmp(a[i].volume_name, b[i].volume_name) != 0)) {
            return false;
        }
    }
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bdm_entry *e = NULL, *again = NULL;
    struct error *err = NULL;
    char *text, *out, *out2;
    size_t n = 0, n2 = 0;

    text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    if (bdm_parse(text, &e, &n, &err) < 0) {
        error_free(err);
        free(text);
        return 0;
    }
    if (bdm_check(e, n, NULL) < 0) {
        abort(); /* parse accepted what check refuses */
    }
    out = bdm_format(e, n, NULL);
    if (out == NULL || bdm_parse(out, &again, &n2, NULL) < 0 || n2 != n ||
        !fuzz_same(e, again, n)) {
        abort(); /* the formatter wrote what the parser reads otherwise */
    }
    out2 = bdm_format(again, n2, NULL);
    if (out2 == NULL || strcmp(out, out2) != 0) {
        abort(); /* formatting is not a fixed point */
    }
    free(out2);
    free(out);
    bdm_free(again, n2);
    bdm_free(e, n);
    free(text);
    return 0;
}
