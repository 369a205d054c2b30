/* vmsnap: OVA packages, common part: records, validation of text and
 * member names, numbers of the descriptor (see ovf-internal.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "ovf-internal.h"
#include "xalloc.h"

static pthread_once_t ovf_xml_once = PTHREAD_ONCE_INIT;

static void
ovf_xml_init_once(void)
{
    xmlInitParser();
}

void
ovf_xml_init(void)
{
    pthread_once(&ovf_xml_once, ovf_xml_init_once);
}

void
ovf_disk_clear(struct ovf_disk *d)
{
    free(d->file);
    free(d->format);
    free(d->role);
    free(d->name);
    free(d->ref_id);
    memset(d, 0, sizeof(*d));
}

void
ovf_package_free(struct ovf_package *pkg)
{
    size_t i;

    if (pkg == NULL) {
        return;
    }
    free(pkg->name);
    free(pkg->os_type);
    for (i = 0; i < pkg->nprops; i++) {
        free(pkg->props[i].key);
        free(pkg->props[i].value);
    }
    free(pkg->props);
    for (i = 0; i < pkg->ndisks; i++) {
        ovf_disk_clear(&pkg->disks[i]);
    }
    free(pkg->disks);
    for (i = 0; i < pkg->nfiles; i++) {
        free(pkg->files[i].path);
        free(pkg->files[i].role);
        free(pkg->files[i].name);
        free(pkg->files[i].ref_id);
    }
    free(pkg->files);
    free(pkg);
}

/* True if ROLE is the role of a plain file: "kernel" or "ramdisk". */
bool
ovf_file_role_ok(const char *role)
{
    return role != NULL &&
           (strcmp(role, "kernel") == 0 || strcmp(role, "ramdisk") == 0);
}

bool
ovf_disk_role_ok(const char *role)
{
    return role != NULL &&
           (strcmp(role, "root") == 0 || strcmp(role, "volume") == 0);
}

bool
ovf_origin_ok(const char *name, const char *ref)
{
    return (name == NULL || ovf_text_ok(name, OVF_MAX_TEXT_LEN, false)) &&
           (ref == NULL || ovf_text_ok(ref, OVF_MAX_TEXT_LEN, false));
}

/* True if S (LEN bytes, no NUL) is UTF-8 that XML 1.0 can carry and
 * holds no control character other than tab, newline and carriage
 * return, and those only when MULTILINE.
 */
bool
ovf_text_ok(const char *s, size_t max, bool multiline)
{
    size_t len = strlen(s);
    const unsigned char *p;

    if (len > max || !xmlCheckUTF8((const xmlChar *)s)) {
        return false;
    }
    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == 0x7f) {
            return false;
        }
        if (*p < 0x20 &&
            !(multiline && (*p == '\t' || *p == '\n' || *p == '\r'))) {
            return false;
        }
    }
    return true;
}

/* True if NAME may be a member of a package: a plain file name, no
 * directory part, no "..", no backslash, no control character.
 */
bool
ovf_member_name_ok(const char *name)
{
    const unsigned char *p;
    size_t len;

    if (name == NULL) {
        return false;
    }
    len = strlen(name);
    if (len == 0 || len > OVF_MAX_NAME || strcmp(name, ".") == 0 ||
        strstr(name, "..") != NULL) {
        return false;
    }
    for (p = (const unsigned char *)name; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\') {
            return false;
        }
    }
    return true;
}

/* A copy of S safe to put in a message: at most 64 bytes, control
 * characters as '?'.  Never NULL.
 */
char *
ovf_printable(const char *s)
{
    size_t i, n = s != NULL ? strnlen(s, 64) : 0;
    char *out = xmalloc(n + 1);

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[n] = '\0';
    return out;
}

/* Parse S, after surrounding blanks, as a whole non-negative decimal
 * integer of at most INT64_MAX.  Returns 0, or -1 (nothing set).
 */
int
ovf_parse_u63(const char *s, int64_t *out)
{
    int64_t v = 0;
    bool digits = false;

    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
        s++;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - (*s - '0')) / 10) {
            return -1;
        }
        v = v * 10 + (*s - '0');
        digits = true;
    }
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
        s++;
    }
    if (!digits || *s != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* Parse allocation units as a power of two of bytes: "byte", "byte * 2^N"
 * (DSP0004 programmatic units, blanks free), or the older words
 * "KiloBytes", "MegaBytes", "GigaBytes" (and KB, MB, GB).  Returns N (0
 * to 62), or -1 if S is none of those.
 */
int
ovf_parse_units(const char *s)
{
    static const struct {
        const char *word;
        int shift;
    } words[] = {
        {"KiloBytes", 10}, {"KB", 10},        {"MegaBytes", 20},
        {"MB", 20},        {"GigaBytes", 30}, {"GB", 30},
    };
    char buf[64];
    size_t i, j = 0;
    int64_t n;

    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
            continue;
        }
        if (j + 1 >= sizeof(buf)) {
            return -1;
        }
        buf[j++] = s[i];
    }
    buf[j] = '\0';
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(buf, words[i].word) == 0) {
            return words[i].shift;
        }
    }
    if (strcmp(buf, "byte") == 0) {
        return 0;
    }
    if (strncmp(buf, "byte*2^", 7) != 0 || ovf_parse_u63(buf + 7, &n) < 0 ||
        n > 62) {
        return -1;
    }
    return (int)n;
}
