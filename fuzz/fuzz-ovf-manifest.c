/* Fuzz target: an OVA's manifest, parsed as the import parses it (the
 * second member of the tar, from a hostile package).
 *
 * The input is the manifest of a package whose descriptor is pkg.ovf.
 * Oracle: every line accepted names a plain member name, once, not the
 * manifest itself, with a lower-case digest of its algorithm's length.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz.h"
#include "ovf-internal.h"
#include "xalloc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ovf_import im = {.dirfd = -1};
    struct error *err = NULL;
    char *text = xmalloc(size + 1);
    size_t i, j, want;

    memcpy(text, data, size);
    text[size] = '\0';
    im.mf_name = xstrdup("pkg.mf");
    if (ovf_parse_manifest(&im, text, size, &err) < 0) {
        error_free(err);
    } else {
        for (i = 0; i < im.nmf; i++) {
            want = strcmp(im.mf[i].alg, "SHA512") == 0 ? 128 : 64;
            if (!ovf_member_name_ok(im.mf[i].name) ||
                strcmp(im.mf[i].name, "pkg.mf") == 0 ||
                strlen(im.mf[i].hex) != want ||
                strspn(im.mf[i].hex, "0123456789abcdef") != want ||
                ovf_mf_find(&im, im.mf[i].name) != &im.mf[i]) {
                abort(); /* a line the rules refuse was accepted */
            }
            for (j = 0; j < i; j++) {
                if (strcmp(im.mf[i].name, im.mf[j].name) == 0) {
                    abort();
                }
            }
        }
    }
    ovf_import_clear(&im);
    free(text);
    return 0;
}
