/* Fuzz target: an OVA's OVF descriptor, parsed as the import parses it
 * (libxml2 without network, DTD or entities, then every element and
 * attribute checked), and checked against a manifest, stopping before
 * anything is extracted or qemu-img runs.
 *
 * The input is the descriptor pkg.ovf.  Oracle: an accepted descriptor
 * gives a package within the limits of ovf.h, whose disks and plain
 * files are files of References (paths in the workdir); a manifest made
 * of exactly those files and the descriptor passes the cross-check, and
 * one that also lists a stranger fails it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"
#include "error.h"
#include "fuzz.h"
#include "ovf-internal.h"
#include "xalloc.h"

#define FUZZ_WORKDIR "/nonexistent-fuzz-workdir"

/* A manifest listing the descriptor and every File (and STRANGER, if not
 * NULL), with made-up digests.
 */
static char *
fuzz_manifest(const struct ovf_import *im, const char *stranger, size_t *len)
{
    static const char zeros[] =
        "0000000000000000000000000000000000000000000000000000000000000000";
    struct dynbuf b;
    size_t i;

    dynbuf_init(&b, OVF_MF_MAX);
    dynbuf_printf(&b, NULL, "SHA256(pkg.ovf)= %s\n", zeros);
    for (i = 0; i < im->nrefs; i++) {
        dynbuf_printf(&b, NULL, "SHA256(%s)= %s\n", im->refs[i].href, zeros);
    }
    if (stranger != NULL) {
        dynbuf_printf(&b, NULL, "SHA256(%s)= %s\n", stranger, zeros);
    }
    return dynbuf_take(&b, len, NULL);
}

/* Run the cross-check of IM against a manifest with or without a
 * stranger; returns its result.
 */
static int
fuzz_cross(struct ovf_import *im, const char *stranger)
{
    char *mf;
    size_t len = 0, i;
    int r;

    for (i = 0; i < im->nmf; i++) {
        free(im->mf[i].name);
    }
    free(im->mf);
    im->mf = NULL;
    im->nmf = 0;
    mf = fuzz_manifest(im, stranger, &len);
    if (mf == NULL || ovf_parse_manifest(im, mf, len, NULL) < 0) {
        abort(); /* the names of accepted Files make a valid manifest */
    }
    r = ovf_cross_check(im, NULL);
    free(mf);
    return r;
}

static bool
fuzz_is_ref(const struct ovf_import *im, const char *href)
{
    size_t i;

    for (i = 0; i < im->nrefs; i++) {
        if (strcmp(im->refs[i].href, href) == 0) {
            return true;
        }
    }
    return false;
}

static void
fuzz_check_package(const struct ovf_import *im)
{
    const struct ovf_package *pkg = im->pkg;
    size_t i;

    if (pkg->ndisks < 1 || pkg->ndisks > OVF_MAX_DISKS ||
        pkg->nfiles > OVF_MAX_FILES || pkg->nprops > OVF_MAX_PROPS ||
        pkg->cpus < 1 || pkg->cpus > OVF_MAX_CPUS || pkg->memory_mb < 1 ||
        pkg->memory_mb > OVF_MAX_MEMORY_MB || pkg->name == NULL ||
        !ovf_text_ok(pkg->name, OVF_MAX_TEXT_LEN, false)) {
        abort();
    }
    for (i = 0; i < pkg->ndisks; i++) {
        const struct ovf_disk *d = &pkg->disks[i];

        if (d->capacity < 1 || !ovf_disk_role_ok(d->role) ||
            (i > 0 && strcmp(d->role, "root") == 0) ||
            strncmp(d->file, FUZZ_WORKDIR "/", strlen(FUZZ_WORKDIR) + 1) !=
                0 ||
            !ovf_member_name_ok(d->file + strlen(FUZZ_WORKDIR) + 1) ||
            !ovf_origin_ok(d->name, d->ref_id)) {
            abort();
        }
    }
    for (i = 0; i < pkg->nfiles; i++) {
        if (!ovf_file_role_ok(pkg->files[i].role)) {
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ovf_import im = {.dirfd = -1, .workdir = FUZZ_WORKDIR};
    struct error *err = NULL;

    if (size > OVF_DESC_MAX) {
        return 0;
    }
    ovf_xml_init();
    im.desc = xmalloc(size + 1);
    memcpy(im.desc, data, size);
    im.desc[size] = '\0';
    im.desc_len = size;
    im.desc_name = xstrdup("pkg.ovf");
    im.mf_name = xstrdup("pkg.mf");
    if (ovf_parse_descriptor(&im, &err) < 0) {
        error_free(err);
    } else {
        fuzz_check_package(&im);
        if (fuzz_cross(&im, NULL) < 0 ||
            (!fuzz_is_ref(&im, "stranger.bin") &&
             fuzz_cross(&im, "stranger.bin") == 0)) {
            abort(); /* the cross-check does not follow References */
        }
    }
    ovf_import_clear(&im);
    return 0;
}
