/* vmsnap: OVA packages, the manifest: one "ALG(NAME)= HEX" line per
 * member, checked against the descriptor (see ovf-internal.h).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ovf-internal.h"
#include "xalloc.h"

struct ovf_mf_entry *
ovf_mf_find(struct ovf_import *im, const char *name)
{
    size_t i;

    for (i = 0; i < im->nmf; i++) {
        if (strcmp(im->mf[i].name, name) == 0) {
            return &im->mf[i];
        }
    }
    return NULL;
}

/* Parse one manifest line "ALG(NAME)= HEX" (LINE is modified). */
static int
ovf_mf_line(struct ovf_import *im, char *line, struct error **errp)
{
    struct ovf_mf_entry *e;
    char *open = strchr(line, '(');
    char *close = NULL, *p, *hex;
    size_t hexlen, i;
    const char *alg;

    for (p = open != NULL ? strstr(open, ")=") : NULL; p != NULL;
         p = strstr(p + 1, ")=")) {
        close = p;
    }
    if (open == NULL || close == NULL) {
        CLEANUP_FREE char *s = ovf_printable(line);

        error_setg(errp, ERR_INVALID, "manifest: malformed line \"%s\"", s);
        return -1;
    }
    *open = '\0';
    *close = '\0';
    if (strcmp(line, "SHA256") == 0) {
        alg = "SHA256";
        hexlen = 64;
    } else if (strcmp(line, "SHA512") == 0) {
        alg = "SHA512";
        hexlen = 128;
    } else {
        CLEANUP_FREE char *s = ovf_printable(line);

        error_setg(errp, ERR_INVALID,
                   "manifest: digest algorithm %s is not "
                   "accepted (SHA256 or SHA512)",
                   s);
        return -1;
    }
    if (!ovf_member_name_ok(open + 1)) {
        CLEANUP_FREE char *s = ovf_printable(open + 1);

        error_setg(errp, ERR_INVALID,
                   "manifest: \"%s\" is not a plain file "
                   "name",
                   s);
        return -1;
    }
    if (strcmp(open + 1, im->mf_name) == 0) {
        error_setg(errp, ERR_INVALID, "manifest: lists itself");
        return -1;
    }
    if (ovf_mf_find(im, open + 1) != NULL) {
        error_setg(errp, ERR_INVALID, "manifest: %s listed twice", open + 1);
        return -1;
    }
    if (im->nmf >= OVF_MAX_MEMBERS) {
        error_setg(errp, ERR_INVALID, "manifest: more than %d lines",
                   OVF_MAX_MEMBERS);
        return -1;
    }
    for (hex = close + 2; *hex == ' ' || *hex == '\t'; hex++) {
    }
    if (strlen(hex) != hexlen) {
        error_setg(errp, ERR_INVALID, "manifest: bad %s digest for %s", alg,
                   open + 1);
        return -1;
    }
    e = &im->mf[im->nmf];
    for (i = 0; i < hexlen; i++) {
        char c = hex[i];

        if (c >= 'A' && c <= 'F') {
            c = (char)(c - 'A' + 'a');
        }
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            error_setg(errp, ERR_INVALID, "manifest: bad %s digest for %s", alg,
                       open + 1);
            return -1;
        }
        e->hex[i] = c;
    }
    e->hex[hexlen] = '\0';
    e->alg = alg;
    e->seen = false;
    e->name = xstrdup(open + 1);
    im->nmf++;
    return 0;
}

int
ovf_parse_manifest(struct ovf_import *im, char *text, size_t len,
                   struct error **errp)
{
    char *line = text, *nl;

    if (memchr(text, '\0', len) != NULL) {
        error_setg(errp, ERR_INVALID, "manifest: holds a NUL byte");
        return -1;
    }
    im->mf = xcalloc(OVF_MAX_MEMBERS, sizeof(*im->mf));
    for (; line != NULL && *line != '\0'; line = nl) {
        size_t n;

        nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl++ = '\0';
        }
        n = strlen(line);
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' ||
                         line[n - 1] == '\t')) {
            line[--n] = '\0';
        }
        if (n == 0) {
            continue;
        }
        if (ovf_mf_line(im, line, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

int
ovf_cross_check(struct ovf_import *im, struct error **errp)
{
    size_t i, j;

    for (i = 0; i < im->nrefs; i++) {
        if (ovf_mf_find(im, im->refs[i].href) == NULL) {
            error_setg(errp, ERR_INVALID, "manifest: file %s is not listed",
                       im->refs[i].href);
            return -1;
        }
    }
    for (i = 0; i < im->nmf; i++) {
        if (strcmp(im->mf[i].name, im->desc_name) == 0) {
            continue;
        }
        for (j = 0; j < im->nrefs; j++) {
            if (strcmp(im->mf[i].name, im->refs[j].href) == 0) {
                break;
            }
        }
        if (j == im->nrefs) {
            error_setg(errp, ERR_INVALID,
                       "manifest: lists %s, which the "
                       "descriptor does not reference",
                       im->mf[i].name);
            return -1;
        }
    }
    return 0;
}
