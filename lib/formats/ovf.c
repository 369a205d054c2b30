/* vmsnap: OVA packages (see ovf.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "cleanup.h"
#include "dynbuf.h"
#include "fileio.h"
#include "hash.h"
#include "ovf.h"
#include "qemuimg.h"
#include "util.h"
#include "xalloc.h"

/* OVF 2.0's storage items carry their fields in this namespace. */
#define OVF_NS_SASD                                                            \
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"                       \
    "CIM_StorageAllocationSettingData"

/* oVirt writes this URI for its qcow2 disks; accepted on import. */
#define OVF_FORMAT_QCOW2_OVIRT                                                 \
    "http://www.gnome.org/~markmc/qcow-image-format.html"

/* The VMware URI prefix shared by its sparse VMDK variants. */
#define OVF_FORMAT_VMDK_PREFIX                                                 \
    "http://www.vmware.com/interfaces/specifications/vmdk.html#"

/* CIM_OperatingSystem OSType values we write and recognise. */
#define OVF_OS_OTHER 1
#define OVF_OS_LINUX 36
#define OVF_OS_LINUX64 101

/* CIM ResourceType values (CIM_ResourceAllocationSettingData). */
#define OVF_RT_CPU 3
#define OVF_RT_MEMORY 4
#define OVF_RT_DISK 17
#define OVF_RT_OTHER_STORAGE 20

/* InstanceIDs of the Items we write; disks follow from OVF_ID_DISK0. */
#define OVF_ID_CPU 1
#define OVF_ID_MEMORY 2
#define OVF_ID_CONTROLLER 3
#define OVF_ID_DISK0 4

/* Limits of the import side. */
#define OVF_DESC_MAX (4 * 1024 * 1024) /* bytes of the descriptor */
#define OVF_MF_MAX (1024 * 1024)       /* bytes of the manifest */
#define OVF_MAX_REFS (OVF_MAX_DISKS + OVF_MAX_FILES) /* Files */
#define OVF_MAX_MEMBERS (OVF_MAX_REFS + 2)
#define OVF_MAX_NAME 255                       /* bytes of a member name */
#define OVF_MAX_MEMBER_SIZE ((int64_t)1 << 46) /* 64 TiB */

/* Longest package name kept in member names. */
#define OVF_BASE_MAX 64

/* Size of one read or write when copying members. */
#define OVF_CHUNK (1024 * 1024)

/* Room for a number and a short word ("disk12", "file3"). */
#define OVF_NUM_LEN 32

/* Block size libarchive reads the OVA with. */
#define OVF_TAR_BLOCK 10240

static pthread_once_t ovf_xml_once = PTHREAD_ONCE_INIT;

static void
ovf_xml_init(void)
{
    xmlInitParser();
}

/* ------------------------------------------------------------------ */
/* Records and small helpers.                                          */

static void
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
static bool
ovf_file_role_ok(const char *role)
{
    return role != NULL &&
           (strcmp(role, "kernel") == 0 || strcmp(role, "ramdisk") == 0);
}

/* True if S (LEN bytes, no NUL) is UTF-8 that XML 1.0 can carry and
 * holds no control character other than tab, newline and carriage
 * return, and those only when MULTILINE.
 */
static bool
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
static bool
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
static char *
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

/* Base of the member names: the package name reduced to [A-Za-z0-9._-],
 * at most OVF_BASE_MAX bytes, never starting with '.' or '-' and never
 * holding "..".  Returns a new string.
 */
static char *
ovf_base_name(const char *name)
{
    char *s = xmalloc(OVF_BASE_MAX + 1);
    size_t i, j = 0;

    for (i = 0; name[i] != '\0' && j < OVF_BASE_MAX; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) {
            c = '_';
        }
        if ((c == '.' || c == '-') && (j == 0 || s[j - 1] == '.')) {
            c = '_';
        }
        s[j++] = c;
    }
    if (j == 0) {
        s[j++] = 'v';
        s[j++] = 'm';
    }
    s[j] = '\0';
    return s;
}

/* Parse S, after surrounding blanks, as a whole non-negative decimal
 * integer of at most INT64_MAX.  Returns 0, or -1 (nothing set).
 */
static int
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
static int
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

/* Remove the files in NAMES (relative to DIRFD), as far as possible. */
static void
ovf_unlink_all(int dirfd, char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (names[i] != NULL) {
            (void)unlinkat(dirfd, names[i], 0);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Export.                                                             */

/* One file that goes into the tar. */
struct ovf_out_file {
    char *member;                     /* name in the tar */
    char *path;                       /* where it is, in the scratch dir */
    int64_t size;                     /* bytes */
    char sha256[HASH_SHA256_HEX_LEN]; /* hex digest */
};

/* What one export works with. */
struct ovf_export {
    const struct ovf_package *pkg;
    const char *fmt; /* "vmdk" or "qcow2" */
    const struct progress *progress;
    char *scratch;              /* private scratch directory */
    char *base;                 /* base of the member names */
    struct ovf_out_file desc;   /* the descriptor */
    struct ovf_out_file mf;     /* the manifest */
    struct ovf_out_file *disks; /* converted disks, pkg->ndisks */
    struct ovf_out_file *files; /* copied plain files, pkg->nfiles */
    int64_t *capacity;          /* virtual sizes, pkg->ndisks */
    int64_t phase_total;        /* bytes of the current phase */
    int64_t phase_done;         /* bytes of it done before this file */
};

/* Progress of one disk conversion within the "convert" phase. */
struct ovf_conv_progress {
    struct ovf_export *ex;
    int64_t weight; /* capacity of this disk */
    double last;    /* last percentage of this disk passed on */
};

static const char *
ovf_disk_role(const struct ovf_package *pkg, size_t i)
{
    if (pkg->disks[i].role != NULL) {
        return pkg->disks[i].role;
    }
    return i == 0 ? "root" : "volume";
}

/* Check that PKG can be written as a package. */
static int
ovf_check_export(const struct ovf_package *pkg, struct error **errp)
{
    size_t i, j;

    if (pkg->name == NULL || pkg->name[0] == '\0' ||
        !ovf_text_ok(pkg->name, OVF_MAX_TEXT_LEN, false)) {
        error_setg(errp, ERR_INVALID,
                   "package name is empty or not "
                   "printable UTF-8 of at most %d bytes",
                   OVF_MAX_TEXT_LEN);
        return -1;
    }
    if (pkg->cpus < 1 || pkg->cpus > OVF_MAX_CPUS) {
        error_setg(errp, ERR_INVALID, "%d CPUs: 1 to %d allowed", pkg->cpus,
                   OVF_MAX_CPUS);
        return -1;
    }
    if (pkg->memory_mb < 1 || pkg->memory_mb > OVF_MAX_MEMORY_MB) {
        error_setg(errp, ERR_INVALID,
                   "%" PRId64 " MiB of memory: 1 to %d "
                   "allowed",
                   pkg->memory_mb, OVF_MAX_MEMORY_MB);
        return -1;
    }
    if (pkg->os_type != NULL &&
        (pkg->os_type[0] == '\0' ||
         !ovf_text_ok(pkg->os_type, OVF_MAX_TEXT_LEN, false))) {
        error_setg(errp, ERR_INVALID, "os_type is not printable UTF-8");
        return -1;
    }
    if (pkg->ndisks == 0 || pkg->ndisks > OVF_MAX_DISKS || pkg->disks == NULL) {
        error_setg(errp, ERR_INVALID, "%zu disks: 1 to %d allowed", pkg->ndisks,
                   OVF_MAX_DISKS);
        return -1;
    }
    for (i = 0; i < pkg->ndisks; i++) {
        const struct ovf_disk *d = &pkg->disks[i];
        const char *role = ovf_disk_role(pkg, i);

        if (d->file == NULL || d->file[0] == '\0' || d->format == NULL) {
            error_setg(errp, ERR_INVALID, "disk %zu has no file or format",
                       i + 1);
            return -1;
        }
        if (strcmp(role, "root") != 0 && strcmp(role, "volume") != 0) {
            error_setg(errp, ERR_INVALID,
                       "disk %zu: role must be root or "
                       "volume",
                       i + 1);
            return -1;
        }
        if (i > 0 && strcmp(role, "root") == 0) {
            error_setg(errp, ERR_INVALID,
                       "disk %zu: the root disk must be "
                       "the first one",
                       i + 1);
            return -1;
        }
        if ((d->name != NULL &&
             !ovf_text_ok(d->name, OVF_MAX_TEXT_LEN, false)) ||
            (d->ref_id != NULL &&
             !ovf_text_ok(d->ref_id, OVF_MAX_TEXT_LEN, false))) {
            error_setg(errp, ERR_INVALID,
                       "disk %zu: name or reference is "
                       "not printable UTF-8 of at most %d bytes",
                       i + 1, OVF_MAX_TEXT_LEN);
            return -1;
        }
        if (d->capacity < 0) {
            error_setg(errp, ERR_INVALID, "disk %zu: negative capacity", i + 1);
            return -1;
        }
    }
    if (pkg->nfiles > OVF_MAX_FILES || (pkg->nfiles > 0 && !pkg->files)) {
        error_setg(errp, ERR_INVALID, "%zu plain files: at most %d allowed",
                   pkg->nfiles, OVF_MAX_FILES);
        return -1;
    }
    for (i = 0; i < pkg->nfiles; i++) {
        const struct ovf_file *f = &pkg->files[i];

        if (f->path == NULL || f->path[0] == '\0') {
            error_setg(errp, ERR_INVALID, "plain file %zu has no path", i + 1);
            return -1;
        }
        if (!ovf_file_role_ok(f->role)) {
            error_setg(errp, ERR_INVALID,
                       "plain file %zu: role must be kernel or ramdisk",
                       i + 1);
            return -1;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(pkg->files[j].role, f->role) == 0) {
                error_setg(errp, ERR_INVALID, "two plain files of role %s",
                           f->role);
                return -1;
            }
        }
        if ((f->name != NULL &&
             !ovf_text_ok(f->name, OVF_MAX_TEXT_LEN, false)) ||
            (f->ref_id != NULL &&
             !ovf_text_ok(f->ref_id, OVF_MAX_TEXT_LEN, false))) {
            error_setg(errp, ERR_INVALID,
                       "plain file %zu: name or reference is not printable "
                       "UTF-8 of at most %d bytes",
                       i + 1, OVF_MAX_TEXT_LEN);
            return -1;
        }
    }
    if (pkg->nprops > OVF_MAX_PROPS || (pkg->nprops > 0 && !pkg->props)) {
        error_setg(errp, ERR_INVALID, "%zu properties: at most %d allowed",
                   pkg->nprops, OVF_MAX_PROPS);
        return -1;
    }
    for (i = 0; i < pkg->nprops; i++) {
        const struct ovf_prop *p = &pkg->props[i];

        if (p->key == NULL || p->key[0] == '\0' || p->value == NULL ||
            !ovf_text_ok(p->key, OVF_MAX_KEY_LEN, false) ||
            !ovf_text_ok(p->value, OVF_MAX_VALUE_LEN, true)) {
            CLEANUP_FREE char *k = ovf_printable(p->key);

            error_setg(errp, ERR_INVALID,
                       "property %zu (%s): key or value "
                       "empty, too long or not printable UTF-8",
                       i + 1, k);
            return -1;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(pkg->props[j].key, p->key) == 0) {
                error_setg(errp, ERR_INVALID, "property %s given twice",
                           p->key);
                return -1;
            }
        }
    }
    return 0;
}

/* Report DONE more bytes of the current file of the current phase. */
static void
ovf_phase_report(struct ovf_export *ex, const char *phase, double done)
{
    double total = ex->phase_total > 0 ? (double)ex->phase_total : 1;
    double pct = ((double)ex->phase_done + done) * 100 / total;

    progress_report(ex->progress, phase, pct > 100 ? 100 : pct);
}

static void
ovf_on_convert(double pct, void *opaque)
{
    struct ovf_conv_progress *cp = opaque;

    if (pct > cp->last) {
        cp->last = pct;
        ovf_phase_report(cp->ex, "convert", pct / 100 * (double)cp->weight);
    }
}

/* Convert SRC (format SRC_FMT) into a new DST of the export's format:
 * VMDK as streamOptimized, the subformat OVF tools read.
 */
static int
ovf_convert(struct ovf_export *ex, const char *src, const char *src_fmt,
            const char *dst, int64_t weight, struct error **errp)
{
    struct ovf_conv_progress cp = {.ex = ex, .weight = weight, .last = -1};
    const char *opts = strcmp(ex->fmt, "vmdk") == 0
                           ? "subformat=streamOptimized"
                           : NULL;

    return qemuimg_convert_opts(src, src_fmt, dst, ex->fmt, opts,
                                ovf_on_convert, &cp, errp);
}

/* Convert every disk into the scratch directory and measure it. */
static int
ovf_export_disks(struct ovf_export *ex, struct error **errp)
{
    const struct ovf_package *pkg = ex->pkg;
    size_t i;

    ex->phase_total = 0;
    for (i = 0; i < pkg->ndisks; i++) {
        const struct ovf_disk *d = &pkg->disks[i];
        struct qemuimg_info info;

        if (qemuimg_info(d->file, d->format, &info, errp) < 0) {
            error_prepend(errp, "disk %zu: ", i + 1);
            return -1;
        }
        ex->capacity[i] = info.virtual_size;
        qemuimg_info_clear(&info);
        if (d->capacity != 0 && d->capacity != ex->capacity[i]) {
            error_setg(errp, ERR_INVALID,
                       "disk %zu: capacity %" PRId64
                       " does not match the image's %" PRId64,
                       i + 1, d->capacity, ex->capacity[i]);
            return -1;
        }
        ex->phase_total += ex->capacity[i];
    }

    ex->phase_done = 0;
    for (i = 0; i < pkg->ndisks; i++) {
        struct ovf_out_file *f = &ex->disks[i];
        struct qemuimg_info info;
        struct stat st;

        f->member = xasprintf("%s-disk%zu.%s", ex->base, i + 1, ex->fmt);
        f->path = util_path_join(ex->scratch, f->member);
        if (ovf_convert(ex, pkg->disks[i].file, pkg->disks[i].format, f->path,
                        ex->capacity[i], errp) < 0) {
            error_prepend(errp, "disk %zu: ", i + 1);
            return -1;
        }
        if (qemuimg_info(f->path, ex->fmt, &info, errp) < 0) {
            error_prepend(errp, "disk %zu: ", i + 1);
            return -1;
        }
        if (info.virtual_size != ex->capacity[i]) {
            error_setg(errp, ERR_GENERIC,
                       "disk %zu: converted image has "
                       "%" PRId64 " bytes instead of %" PRId64,
                       i + 1, info.virtual_size, ex->capacity[i]);
            qemuimg_info_clear(&info);
            return -1;
        }
        qemuimg_info_clear(&info);
        if (stat(f->path, &st) < 0) {
            error_setg_errno(errp, ERR_IO, errno, "stat %s", f->path);
            return -1;
        }
        f->size = st.st_size;
        ex->phase_done += ex->capacity[i];
        ovf_phase_report(ex, "convert", 0);
    }
    return 0;
}

/* Copy every plain file into the scratch directory, as it is. */
static int
ovf_export_files(struct ovf_export *ex, struct error **errp)
{
    const struct fileio_copy_opts opts = {.mode = 0644};
    const struct ovf_package *pkg = ex->pkg;
    size_t i;

    for (i = 0; i < pkg->nfiles; i++) {
        struct ovf_out_file *f = &ex->files[i];

        f->member = xasprintf("%s-%s.bin", ex->base, pkg->files[i].role);
        f->path = util_path_join(ex->scratch, f->member);
        if (fileio_copy(pkg->files[i].path, false, f->path, &opts, &f->size,
                        errp) < 0) {
            error_prepend(errp, "%s file: ", pkg->files[i].role);
            return -1;
        }
    }
    return 0;
}

/* Building a descriptor.  libxml2 returns NULL only when memory runs
 * out, which aborts (xalloc.h).
 */
struct ovf_xml {
    xmlNsPtr env; /* the envelope namespace, as default namespace */
    xmlNsPtr ovf; /* the same, with prefix "ovf", for attributes */
    xmlNsPtr rasd;
    xmlNsPtr vssd;
    xmlNsPtr vmsnap;
};

static xmlNodePtr
ovf_xml_elem(struct ovf_xml *x, xmlNodePtr parent, xmlNsPtr ns,
             const char *name, const char *text)
{
    return xcheck(xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST text));
}

static void
ovf_xml_attr(struct ovf_xml *x, xmlNodePtr node, xmlNsPtr ns, const char *name,
             const char *value)
{
    xcheck(xmlNewNsProp(node, ns, BAD_CAST name, BAD_CAST value));
}

static void
ovf_xml_attr_i64(struct ovf_xml *x, xmlNodePtr node, const char *name,
                 int64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRId64, v);
    ovf_xml_attr(x, node, x->ovf, name, buf);
}

/* The fields of one hardware Item; NULL ones are left out.  The CIM
 * schema wants them in alphabetical order, which is the order here.
 */
struct ovf_rasd {
    const char *address_on_parent;
    const char *allocation_units;
    const char *description;
    const char *element_name;
    const char *host_resource;
    const char *instance_id;
    const char *parent;
    const char *resource_subtype;
    const char *resource_type;
    const char *virtual_quantity;
};

static void
ovf_xml_item(struct ovf_xml *x, xmlNodePtr hw, const struct ovf_rasd *r)
{
    const struct {
        const char *name;
        const char *value;
    } fields[] = {
        {"AddressOnParent", r->address_on_parent},
        {"AllocationUnits", r->allocation_units},
        {"Description", r->description},
        {"ElementName", r->element_name},
        {"HostResource", r->host_resource},
        {"InstanceID", r->instance_id},
        {"Parent", r->parent},
        {"ResourceSubType", r->resource_subtype},
        {"ResourceType", r->resource_type},
        {"VirtualQuantity", r->virtual_quantity},
    };
    xmlNodePtr item = ovf_xml_elem(x, hw, x->env, "Item", NULL);
    size_t i;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i].value != NULL) {
            ovf_xml_elem(x, item, x->rasd, fields[i].name, fields[i].value);
        }
    }
}

/* The VirtualHardwareSection of the export. */
static void
ovf_xml_hardware(struct ovf_xml *x, xmlNodePtr vs, struct ovf_export *ex)
{
    const struct ovf_package *pkg = ex->pkg;
    xmlNodePtr hw, sys;
    char cpus[32], mem[32], cpu_name[48], mem_name[48];
    char ctl_id[OVF_NUM_LEN], rt_cpu[8], rt_mem[8], rt_ctl[8], rt_disk[8];
    char id_cpu[OVF_NUM_LEN], id_mem[OVF_NUM_LEN];
    size_t i;

    snprintf(cpus, sizeof(cpus), "%d", pkg->cpus);
    snprintf(mem, sizeof(mem), "%" PRId64, pkg->memory_mb);
    snprintf(cpu_name, sizeof(cpu_name), "%d virtual CPU(s)", pkg->cpus);
    snprintf(mem_name, sizeof(mem_name), "%" PRId64 " MB of memory",
             pkg->memory_mb);
    snprintf(ctl_id, sizeof(ctl_id), "%d", OVF_ID_CONTROLLER);
    snprintf(id_cpu, sizeof(id_cpu), "%d", OVF_ID_CPU);
    snprintf(id_mem, sizeof(id_mem), "%d", OVF_ID_MEMORY);
    snprintf(rt_cpu, sizeof(rt_cpu), "%d", OVF_RT_CPU);
    snprintf(rt_mem, sizeof(rt_mem), "%d", OVF_RT_MEMORY);
    snprintf(rt_ctl, sizeof(rt_ctl), "%d", OVF_RT_OTHER_STORAGE);
    snprintf(rt_disk, sizeof(rt_disk), "%d", OVF_RT_DISK);

    hw = ovf_xml_elem(x, vs, x->env, "VirtualHardwareSection", NULL);
    ovf_xml_elem(x, hw, x->env, "Info", "Virtual hardware requirements");
    sys = ovf_xml_elem(x, hw, x->env, "System", NULL);
    ovf_xml_elem(x, sys, x->vssd, "ElementName", "Virtual Hardware Family");
    ovf_xml_elem(x, sys, x->vssd, "InstanceID", "0");
    ovf_xml_elem(x, sys, x->vssd, "VirtualSystemIdentifier", pkg->name);
    ovf_xml_elem(x, sys, x->vssd, "VirtualSystemType", "qemu-kvm");

    ovf_xml_item(x, hw,
                 &(struct ovf_rasd){
                     .allocation_units = "hertz * 10^6",
                     .description = "Number of virtual CPUs",
                     .element_name = cpu_name,
                     .instance_id = id_cpu,
                     .resource_type = rt_cpu,
                     .virtual_quantity = cpus,
                 });
    ovf_xml_item(x, hw,
                 &(struct ovf_rasd){
                     .allocation_units = "byte * 2^20",
                     .description = "Memory size",
                     .element_name = mem_name,
                     .instance_id = id_mem,
                     .resource_type = rt_mem,
                     .virtual_quantity = mem,
                 });
    ovf_xml_item(x, hw,
                 &(struct ovf_rasd){
                     .address_on_parent = "0",
                     .description = "Disk controller (virtio-blk)",
                     .element_name = "virtio0",
                     .instance_id = ctl_id,
                     .resource_subtype = "virtio",
                     .resource_type = rt_ctl,
                 });
    for (i = 0; i < pkg->ndisks; i++) {
        char addr[OVF_NUM_LEN], host[OVF_NUM_LEN + 16];
        char inst[OVF_NUM_LEN], name[OVF_NUM_LEN];

        snprintf(addr, sizeof(addr), "%zu", i);
        snprintf(host, sizeof(host), "ovf:/disk/disk%zu", i + 1);
        snprintf(inst, sizeof(inst), "%zu", OVF_ID_DISK0 + i);
        snprintf(name, sizeof(name), "disk%zu", i + 1);
        ovf_xml_item(
            x, hw,
            &(struct ovf_rasd){
                .address_on_parent = addr,
                .description = strcmp(ovf_disk_role(pkg, i), "root") == 0
                                   ? "Root disk"
                                   : "Volume",
                .element_name = name,
                .host_resource = host,
                .instance_id = inst,
                .parent = ctl_id,
                .resource_type = rt_disk,
            });
    }
}

/* Our own section: what OVF has no place for. */
static void
ovf_xml_vmsnap(struct ovf_xml *x, xmlNodePtr vs, struct ovf_export *ex)
{
    const struct ovf_package *pkg = ex->pkg;
    xmlNodePtr sec;
    size_t i;

    sec = ovf_xml_elem(x, vs, x->vmsnap, "ImagePropertiesSection", NULL);
    ovf_xml_attr(x, sec, x->ovf, "required", "false");
    if (pkg->os_type != NULL) {
        ovf_xml_attr(x, sec, NULL, "osType", pkg->os_type);
    }
    ovf_xml_elem(x, sec, x->env, "Info",
                 "vmsnap image properties and disk origins");
    for (i = 0; i < pkg->nprops; i++) {
        xmlNodePtr p =
            ovf_xml_elem(x, sec, x->vmsnap, "Property", pkg->props[i].value);

        ovf_xml_attr(x, p, NULL, "key", pkg->props[i].key);
    }
    for (i = 0; i < pkg->ndisks; i++) {
        const struct ovf_disk *d = &pkg->disks[i];
        xmlNodePtr n = ovf_xml_elem(x, sec, x->vmsnap, "Disk", NULL);
        char id[OVF_NUM_LEN];

        snprintf(id, sizeof(id), "disk%zu", i + 1);
        ovf_xml_attr(x, n, NULL, "diskId", id);
        ovf_xml_attr(x, n, NULL, "role", ovf_disk_role(pkg, i));
        if (d->name != NULL) {
            ovf_xml_attr(x, n, NULL, "name", d->name);
        }
        if (d->ref_id != NULL) {
            ovf_xml_attr(x, n, NULL, "ref", d->ref_id);
        }
    }
    for (i = 0; i < pkg->nfiles; i++) {
        const struct ovf_file *f = &pkg->files[i];
        xmlNodePtr n = ovf_xml_elem(x, sec, x->vmsnap, "File", NULL);
        char ref[OVF_NUM_LEN];

        snprintf(ref, sizeof(ref), "file%zu", pkg->ndisks + i + 1);
        ovf_xml_attr(x, n, NULL, "fileRef", ref);
        ovf_xml_attr(x, n, NULL, "role", f->role);
        if (f->name != NULL) {
            ovf_xml_attr(x, n, NULL, "name", f->name);
        }
        if (f->ref_id != NULL) {
            ovf_xml_attr(x, n, NULL, "ref", f->ref_id);
        }
    }
}

/* Build the descriptor of the export into *OUT (xmlFree it). */
static void
ovf_build_descriptor(struct ovf_export *ex, xmlChar **out, int *len)
{
    const struct ovf_package *pkg = ex->pkg;
    const char *uri = strcmp(ex->fmt, "vmdk") == 0 ? OVF_FORMAT_VMDK_STREAM
                                                   : OVF_FORMAT_QCOW2;
    struct ovf_xml x = {0};
    xmlNodePtr env, refs, ds, vs, os;
    xmlDocPtr doc;
    size_t i;
    int os_id;

    doc = xcheck(xmlNewDoc(BAD_CAST "1.0"));
    env = xcheck(xmlNewNode(NULL, BAD_CAST "Envelope"));
    xmlDocSetRootElement(doc, env);
    x.env = xcheck(xmlNewNs(env, BAD_CAST OVF_NS_ENVELOPE, NULL));
    x.ovf = xcheck(xmlNewNs(env, BAD_CAST OVF_NS_ENVELOPE, BAD_CAST "ovf"));
    x.rasd = xcheck(xmlNewNs(env, BAD_CAST OVF_NS_RASD, BAD_CAST "rasd"));
    x.vssd = xcheck(xmlNewNs(env, BAD_CAST OVF_NS_VSSD, BAD_CAST "vssd"));
    x.vmsnap =
        xcheck(xmlNewNs(env, BAD_CAST OVF_NS_VMSNAP, BAD_CAST "vmsnap"));
    xcheck(xmlNewNs(env, BAD_CAST OVF_NS_XSI, BAD_CAST "xsi"));
    xmlSetNs(env, x.env);

    refs = ovf_xml_elem(&x, env, x.env, "References", NULL);
    for (i = 0; i < pkg->ndisks; i++) {
        xmlNodePtr f = ovf_xml_elem(&x, refs, x.env, "File", NULL);
        char id[OVF_NUM_LEN];

        snprintf(id, sizeof(id), "file%zu", i + 1);
        ovf_xml_attr(&x, f, x.ovf, "href", ex->disks[i].member);
        ovf_xml_attr(&x, f, x.ovf, "id", id);
        ovf_xml_attr_i64(&x, f, "size", ex->disks[i].size);
    }
    /* Plain files follow the disks: file<ndisks+1>, ... */
    for (i = 0; i < pkg->nfiles; i++) {
        xmlNodePtr f = ovf_xml_elem(&x, refs, x.env, "File", NULL);
        char id[OVF_NUM_LEN];

        snprintf(id, sizeof(id), "file%zu", pkg->ndisks + i + 1);
        ovf_xml_attr(&x, f, x.ovf, "href", ex->files[i].member);
        ovf_xml_attr(&x, f, x.ovf, "id", id);
        ovf_xml_attr_i64(&x, f, "size", ex->files[i].size);
    }

    ds = ovf_xml_elem(&x, env, x.env, "DiskSection", NULL);
    ovf_xml_elem(&x, ds, x.env, "Info", "Virtual disks");
    for (i = 0; i < pkg->ndisks; i++) {
        xmlNodePtr d = ovf_xml_elem(&x, ds, x.env, "Disk", NULL);
        char id[OVF_NUM_LEN], file[OVF_NUM_LEN];

        snprintf(id, sizeof(id), "disk%zu", i + 1);
        snprintf(file, sizeof(file), "file%zu", i + 1);
        ovf_xml_attr_i64(&x, d, "capacity", ex->capacity[i]);
        ovf_xml_attr(&x, d, x.ovf, "capacityAllocationUnits", "byte");
        ovf_xml_attr(&x, d, x.ovf, "diskId", id);
        ovf_xml_attr(&x, d, x.ovf, "fileRef", file);
        ovf_xml_attr(&x, d, x.ovf, "format", uri);
    }

    vs = ovf_xml_elem(&x, env, x.env, "VirtualSystem", NULL);
    ovf_xml_attr(&x, vs, x.ovf, "id", pkg->name);
    ovf_xml_elem(&x, vs, x.env, "Info", "A virtual machine");
    ovf_xml_elem(&x, vs, x.env, "Name", pkg->name);

    os = ovf_xml_elem(&x, vs, x.env, "OperatingSystemSection", NULL);
    os_id = pkg->os_type == NULL                 ? 0
            : strcmp(pkg->os_type, "linux") == 0 ? OVF_OS_LINUX
                                                 : OVF_OS_OTHER;
    ovf_xml_attr_i64(&x, os, "id", os_id);
    ovf_xml_elem(&x, os, x.env, "Info", "The guest operating system");
    if (pkg->os_type != NULL) {
        ovf_xml_elem(&x, os, x.env, "Description", pkg->os_type);
    }

    ovf_xml_hardware(&x, vs, ex);
    ovf_xml_vmsnap(&x, vs, ex);

    *out = NULL;
    xmlDocDumpFormatMemoryEnc(doc, out, len, "UTF-8", 1);
    xmlFreeDoc(doc);
    if (*out == NULL || *len <= 0) {
        xalloc_die(); /* the dump fails only for lack of memory */
    }
}

static void
ovf_on_hash(int64_t done, int64_t total, void *opaque)
{
    ovf_phase_report(opaque, "checksum", (double)done);
}

/* Write the descriptor and the manifest into the scratch directory. */
static int
ovf_export_meta(struct ovf_export *ex, struct error **errp)
{
    CLEANUP_FREE char *mf = NULL;
    struct dynbuf b;
    xmlChar *xml = NULL;
    size_t mf_len = 0, i;
    int len = 0;

    ex->desc.member = xasprintf("%s.ovf", ex->base);
    ex->mf.member = xasprintf("%s.mf", ex->base);
    ex->desc.path = util_path_join(ex->scratch, ex->desc.member);
    ex->mf.path = util_path_join(ex->scratch, ex->mf.member);

    ovf_build_descriptor(ex, &xml, &len);
    if (fileio_write_new(ex->desc.path, xml, (size_t)len, 0644, false,
                         errp) < 0) {
        xmlFree(xml);
        return -1;
    }
    xmlFree(xml);
    ex->desc.size = len;

    ex->phase_total = 0;
    for (i = 0; i < ex->pkg->ndisks; i++) {
        ex->phase_total += ex->disks[i].size;
    }
    for (i = 0; i < ex->pkg->nfiles; i++) {
        ex->phase_total += ex->files[i].size;
    }
    ex->phase_done = 0;
    if (hash_file_sha256(ex->desc.path, ex->desc.sha256, NULL, NULL, errp) <
        0) {
        return -1;
    }
    for (i = 0; i < ex->pkg->ndisks; i++) {
        if (hash_file_sha256(ex->disks[i].path, ex->disks[i].sha256,
                             ovf_on_hash, ex, errp) < 0) {
            return -1;
        }
        ex->phase_done += ex->disks[i].size;
    }
    for (i = 0; i < ex->pkg->nfiles; i++) {
        if (hash_file_sha256(ex->files[i].path, ex->files[i].sha256,
                             ovf_on_hash, ex, errp) < 0) {
            return -1;
        }
        ex->phase_done += ex->files[i].size;
    }

    /* The import side's limit: what we write, we can read back. */
    dynbuf_init(&b, OVF_MF_MAX);
    dynbuf_printf(&b, NULL, "SHA256(%s)= %s\n", ex->desc.member,
                  ex->desc.sha256);
    for (i = 0; i < ex->pkg->ndisks; i++) {
        dynbuf_printf(&b, NULL, "SHA256(%s)= %s\n", ex->disks[i].member,
                      ex->disks[i].sha256);
    }
    for (i = 0; i < ex->pkg->nfiles; i++) {
        dynbuf_printf(&b, NULL, "SHA256(%s)= %s\n", ex->files[i].member,
                      ex->files[i].sha256);
    }
    mf = dynbuf_take(&b, &mf_len, errp);
    if (mf == NULL) {
        error_prepend(errp, "manifest: ");
        return -1;
    }
    if (fileio_write_new(ex->mf.path, mf, mf_len, 0644, false, errp) < 0) {
        return -1;
    }
    ex->mf.size = (int64_t)mf_len;
    return 0;
}

/* Append file F to the tar A as a regular member. */
static int
ovf_tar_add(struct ovf_export *ex, struct archive *a,
            const struct ovf_out_file *f, unsigned char *buf,
            struct error **errp)
{
    CLEANUP_CLOSE int fd = -1;
    struct archive_entry *e;
    int64_t done = 0;
    struct stat st;

    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "open %s", f->path);
        return -1;
    }
    if (st.st_size != f->size) {
        error_setg(errp, ERR_IO, "%s changed size while packaging", f->path);
        return -1;
    }
    e = xcheck(archive_entry_new());
    archive_entry_set_pathname(e, f->member);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, f->size);
    archive_entry_set_mtime(e, time(NULL), 0);
    if (archive_write_header(a, e) != ARCHIVE_OK) {
        error_setg(errp, ERR_IO, "package %s: %s", f->member,
                   archive_error_string(a));
        archive_entry_free(e);
        return -1;
    }
    archive_entry_free(e);

    for (;;) {
        ssize_t n = read(fd, buf, OVF_CHUNK);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, ERR_IO, errno, "read %s", f->path);
            return -1;
        }
        if (n == 0) {
            break;
        }
        if (done + n > f->size) {
            break;
        }
        if (archive_write_data(a, buf, (size_t)n) != n) {
            error_setg(errp, ERR_IO, "package %s: %s", f->member,
                       archive_error_string(a));
            return -1;
        }
        done += n;
        ovf_phase_report(ex, "package", (double)done);
    }
    if (done != f->size) {
        error_setg(errp, ERR_IO, "%s changed size while packaging", f->path);
        return -1;
    }
    ex->phase_done += done;
    return 0;
}

/* Write the tar into FD (the file PART, for messages): descriptor,
 * manifest, disks, plain files, then sync it.
 */
static int
ovf_write_tar(struct ovf_export *ex, int fd, const char *part,
              struct error **errp)
{
    CLEANUP_FREE unsigned char *buf = xmalloc(OVF_CHUNK);
    struct archive *a = xcheck(archive_write_new());
    int r = -1;
    size_t i;

    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        error_setg(errp, ERR_IO, "package %s: %s", part,
                   archive_error_string(a));
        goto out;
    }

    ex->phase_total = ex->desc.size + ex->mf.size;
    for (i = 0; i < ex->pkg->ndisks; i++) {
        ex->phase_total += ex->disks[i].size;
    }
    for (i = 0; i < ex->pkg->nfiles; i++) {
        ex->phase_total += ex->files[i].size;
    }
    ex->phase_done = 0;
    if (ovf_tar_add(ex, a, &ex->desc, buf, errp) < 0 ||
        ovf_tar_add(ex, a, &ex->mf, buf, errp) < 0) {
        goto out;
    }
    for (i = 0; i < ex->pkg->ndisks; i++) {
        if (ovf_tar_add(ex, a, &ex->disks[i], buf, errp) < 0) {
            goto out;
        }
    }
    for (i = 0; i < ex->pkg->nfiles; i++) {
        if (ovf_tar_add(ex, a, &ex->files[i], buf, errp) < 0) {
            goto out;
        }
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        error_setg(errp, ERR_IO, "package %s: %s", part,
                   archive_error_string(a));
        goto out;
    }
    if (fsync(fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "sync %s", part);
        goto out;
    }
    r = 0;
out:
    archive_write_free(a);
    return r;
}

/* Remove the scratch directory of EX and everything in it, and free what
 * EX holds.
 */
static void
ovf_export_clear(struct ovf_export *ex)
{
    size_t i;

    if (ex->desc.path != NULL) {
        (void)unlink(ex->desc.path);
    }
    if (ex->mf.path != NULL) {
        (void)unlink(ex->mf.path);
    }
    for (i = 0; ex->disks != NULL && i < ex->pkg->ndisks; i++) {
        if (ex->disks[i].path != NULL) {
            (void)unlink(ex->disks[i].path);
        }
        free(ex->disks[i].path);
        free(ex->disks[i].member);
    }
    for (i = 0; ex->files != NULL && i < ex->pkg->nfiles; i++) {
        if (ex->files[i].path != NULL) {
            (void)unlink(ex->files[i].path);
        }
        free(ex->files[i].path);
        free(ex->files[i].member);
    }
    if (ex->scratch != NULL) {
        (void)rmdir(ex->scratch);
    }
    free(ex->desc.path);
    free(ex->desc.member);
    free(ex->mf.path);
    free(ex->mf.member);
    free(ex->disks);
    free(ex->files);
    free(ex->capacity);
    free(ex->scratch);
    free(ex->base);
}

int
ovf_export(const struct ovf_package *pkg, const char *ova_path,
           const char *disk_format, const char *workdir,
           const struct progress *progress, struct error **errp)
{
    struct ovf_export ex = {.pkg = pkg, .progress = progress};
    struct error *local = NULL;
    CLEANUP_FREE char *part = NULL;
    bool part_ours = false; /* we made OVA_PATH.part and it is there */
    int fd = -1, r = -1;
    struct stat st;

    pthread_once(&ovf_xml_once, ovf_xml_init);
    if (pkg == NULL || ova_path == NULL || ova_path[0] == '\0' ||
        workdir == NULL) {
        error_setg(errp, ERR_INVALID, "export: no package, path or workdir");
        return -1;
    }
    if (disk_format == NULL || strcmp(disk_format, "vmdk") == 0) {
        ex.fmt = "vmdk";
    } else if (strcmp(disk_format, "qcow2") == 0) {
        ex.fmt = "qcow2";
    } else {
        error_setg(&local, ERR_INVALID,
                   "disk format %s is not supported (vmdk or qcow2)",
                   disk_format);
        goto out;
    }
    if (ovf_check_export(pkg, &local) < 0) {
        goto out;
    }
    if (lstat(ova_path, &st) == 0) {
        error_setg(&local, ERR_CONFLICT, "%s already exists", ova_path);
        goto out;
    }
    part = xasprintf("%s.part", ova_path);
    ex.base = ovf_base_name(pkg->name);
    ex.scratch = util_path_join(workdir, "ovf-export-XXXXXX");
    ex.disks = xcalloc(pkg->ndisks, sizeof(*ex.disks));
    ex.capacity = xcalloc(pkg->ndisks, sizeof(*ex.capacity));
    ex.files = xcalloc(pkg->nfiles + 1, sizeof(*ex.files));
    /* Claim OVA_PATH.part first: a second export to the same path stops
     * here, before any slow work.
     */
    fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        error_setg_errno(&local, errno == EEXIST ? ERR_CONFLICT : ERR_IO, errno,
                         "create %s", part);
        goto out;
    }
    part_ours = true;
    if (mkdtemp(ex.scratch) == NULL) {
        error_setg_errno(&local, ERR_IO, errno, "scratch directory in %s",
                         workdir);
        free(ex.scratch);
        ex.scratch = NULL;
        goto out;
    }

    if (ovf_export_disks(&ex, &local) < 0 ||
        ovf_export_files(&ex, &local) < 0 ||
        ovf_export_meta(&ex, &local) < 0 ||
        ovf_write_tar(&ex, fd, part, &local) < 0) {
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        error_setg_errno(&local, ERR_IO, errno, "close %s", part);
        goto out;
    }
    fd = -1;
    if (lstat(ova_path, &st) == 0) {
        error_setg(&local, ERR_CONFLICT, "%s appeared meanwhile", ova_path);
        goto out;
    }
    if (rename(part, ova_path) < 0) {
        error_setg_errno(&local, ERR_IO, errno, "rename %s", part);
        goto out;
    }
    part_ours = false;
    if (fileio_fsync_parent(ova_path, &local) < 0) {
        (void)unlink(ova_path);
        goto out;
    }
    progress_report(progress, "package", 100);
    r = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (r < 0) {
        if (part_ours) {
            (void)unlink(part);
        }
        error_prepend(&local, "export of %s: ", ova_path);
        error_propagate(errp, local);
    }
    ovf_export_clear(&ex);
    return r;
}

/* ------------------------------------------------------------------ */
/* Import: the manifest.                                               */

/* One line of the manifest. */
struct ovf_mf_entry {
    char *name;                    /* member it covers */
    const char *alg;               /* "SHA256" or "SHA512" */
    char hex[HASH_SHA512_HEX_LEN]; /* digest, lower case */
    bool seen;                     /* the member was read */
};

/* A File of References. */
struct ovf_ref {
    char *id;
    char *href;
    int64_t size; /* ovf:size, -1 if not given */
    bool used;    /* a Disk points at it */
    bool plain;   /* a vmsnap:File declares it */
};

/* A Disk of the DiskSection. */
struct ovf_ddisk {
    char *id;
    size_t ref;         /* index in refs */
    int64_t capacity;   /* bytes */
    const char *format; /* "vmdk" or "qcow2" */
    bool attached;      /* an Item uses it */
};

/* What one import works with. */
struct ovf_import {
    const char *workdir;
    int dirfd;   /* WORKDIR */
    char **made; /* files created in WORKDIR */
    size_t nmade;
    char *desc_name; /* member name of the descriptor */
    char *desc;      /* its bytes */
    size_t desc_len;
    char *mf_name; /* member name of the manifest */
    struct ovf_mf_entry *mf;
    size_t nmf;
    struct ovf_ref *refs;
    size_t nrefs;
    struct ovf_ddisk *ddisks;
    size_t nddisks;
    struct ovf_package *pkg; /* what we return */
    size_t *disk_of;         /* pkg disk i is ddisks[disk_of[i]] */
    const char *ns_env;      /* envelope namespace of the descriptor */
};

static struct ovf_mf_entry *
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

/* Parse the manifest TEXT (LEN bytes, NUL-terminated; modified). */
static int
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

/* ------------------------------------------------------------------ */
/* Import: the descriptor.                                             */

/* True if NODE is an element NAME in namespace NS. */
static bool
ovf_is(xmlNodePtr node, const char *ns, const char *name)
{
    return node->type == XML_ELEMENT_NODE && node->ns != NULL &&
           node->ns->href != NULL &&
           strcmp((const char *)node->ns->href, ns) == 0 &&
           strcmp((const char *)node->name, name) == 0;
}

/* A new copy of S without leading and trailing blanks. */
static char *
ovf_trim_dup(const char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
        s++;
    }
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                     s[n - 1] == '\r')) {
        n--;
    }
    return xstrndup(s, n);
}

/* Set *OUT to a copy of attribute NAME of NODE (in namespace NS, or in
 * none if NS is NULL), trimmed; NULL when there is none.
 */
static int
ovf_attr(xmlNodePtr node, const char *ns, const char *name, char **out,
         struct error **errp)
{
    xmlChar *v = ns != NULL ? xmlGetNsProp(node, BAD_CAST name, BAD_CAST ns)
                            : xmlGetNoNsProp(node, BAD_CAST name);

    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    *out = ovf_trim_dup((const char *)v);
    xmlFree(v);
    return 0;
}

/* As ovf_attr, in the envelope namespace, and the attribute must be
 * there and not empty; WHAT names the element in the message.
 */
static int
ovf_need_attr(struct ovf_import *im, xmlNodePtr node, const char *name,
              const char *what, char **out, struct error **errp)
{
    if (ovf_attr(node, im->ns_env, name, out, errp) < 0) {
        return -1;
    }
    if (*out == NULL || (*out)[0] == '\0') {
        free(*out);
        *out = NULL;
        error_setg(errp, ERR_INVALID, "descriptor: %s has no ovf:%s", what,
                   name);
        return -1;
    }
    return 0;
}

/* Set *OUT to the text of NODE (trimmed if TRIM). */
static int
ovf_text(xmlNodePtr node, bool trim, char **out, struct error **errp)
{
    xmlChar *v = xmlNodeGetContent(node);

    if (v == NULL) {
        *out = xstrdup("");
    } else {
        *out = trim ? ovf_trim_dup((const char *)v) : xstrdup((char *)v);
        xmlFree(v);
    }
    return 0;
}

/* References: every File. */
static int
ovf_parse_refs(struct ovf_import *im, xmlNodePtr refs, struct error **errp)
{
    xmlNodePtr n;
    size_t i;

    for (n = refs->children; n != NULL; n = n->next) {
        struct ovf_ref *r;
        CLEANUP_FREE char *size = NULL;
        CLEANUP_FREE char *comp = NULL;
        CLEANUP_FREE char *chunk = NULL;

        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (!ovf_is(n, im->ns_env, "File")) {
            CLEANUP_FREE char *s = ovf_printable((const char *)n->name);

            error_setg(errp, ERR_INVALID,
                       "descriptor: unexpected element %s "
                       "in References",
                       s);
            return -1;
        }
        if (im->nrefs >= OVF_MAX_REFS) {
            error_setg(errp, ERR_INVALID, "descriptor: more than %d files",
                       OVF_MAX_REFS);
            return -1;
        }
        r = &im->refs[im->nrefs++];
        r->size = -1;
        if (ovf_need_attr(im, n, "id", "a File", &r->id, errp) < 0 ||
            ovf_need_attr(im, n, "href", "a File", &r->href, errp) < 0 ||
            ovf_attr(n, im->ns_env, "size", &size, errp) < 0 ||
            ovf_attr(n, im->ns_env, "compression", &comp, errp) < 0 ||
            ovf_attr(n, im->ns_env, "chunkSize", &chunk, errp) < 0) {
            return -1;
        }
        if (!ovf_member_name_ok(r->href)) {
            CLEANUP_FREE char *s = ovf_printable(r->href);

            error_setg(errp, ERR_INVALID,
                       "descriptor: File %s: href \"%s\" "
                       "is not a plain file name",
                       r->id, s);
            return -1;
        }
        if (size != NULL && ovf_parse_u63(size, &r->size) < 0) {
            error_setg(errp, ERR_INVALID, "descriptor: File %s: bad ovf:size",
                       r->id);
            return -1;
        }
        if ((comp != NULL && strcmp(comp, "identity") != 0) || chunk != NULL) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: File %s is compressed "
                       "or chunked, which is not supported",
                       r->id);
            return -1;
        }
        if (strcmp(r->href, im->desc_name) == 0 ||
            strcmp(r->href, im->mf_name) == 0) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: File %s names the "
                       "descriptor or the manifest",
                       r->id);
            return -1;
        }
        for (i = 0; i + 1 < im->nrefs; i++) {
            if (strcmp(im->refs[i].id, r->id) == 0 ||
                strcmp(im->refs[i].href, r->href) == 0) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: File %s given "
                           "twice",
                           r->id);
                return -1;
            }
        }
    }
    return 0;
}

/* The disk format an ovf:format URI stands for, or NULL. */
static const char *
ovf_format_of_uri(const char *uri)
{
    if (strcmp(uri, OVF_FORMAT_QCOW2) == 0 ||
        strcmp(uri, OVF_FORMAT_QCOW2_OVIRT) == 0) {
        return "qcow2";
    }
    if (strncmp(uri, OVF_FORMAT_VMDK_PREFIX, strlen(OVF_FORMAT_VMDK_PREFIX)) ==
        0) {
        const char *v = uri + strlen(OVF_FORMAT_VMDK_PREFIX);

        if (strcmp(v, "streamOptimized") == 0 ||
            strcmp(v, "monolithicSparse") == 0) {
            return "vmdk";
        }
    }
    return NULL;
}

/* DiskSection: every Disk. */
static int
ovf_parse_disks(struct ovf_import *im, xmlNodePtr sec, struct error **errp)
{
    xmlNodePtr n;
    size_t i;

    for (n = sec->children; n != NULL; n = n->next) {
        CLEANUP_FREE char *file = NULL;
        CLEANUP_FREE char *cap = NULL;
        CLEANUP_FREE char *units = NULL;
        CLEANUP_FREE char *uri = NULL;
        struct ovf_ddisk *d;
        int shift = 0;

        if (!ovf_is(n, im->ns_env, "Disk")) {
            continue;
        }
        if (im->nddisks >= OVF_MAX_DISKS) {
            error_setg(errp, ERR_INVALID, "descriptor: more than %d disks",
                       OVF_MAX_DISKS);
            return -1;
        }
        d = &im->ddisks[im->nddisks++];
        if (ovf_need_attr(im, n, "diskId", "a Disk", &d->id, errp) < 0) {
            return -1;
        }
        if (ovf_attr(n, im->ns_env, "fileRef", &file, errp) < 0 ||
            ovf_attr(n, im->ns_env, "capacity", &cap, errp) < 0 ||
            ovf_attr(n, im->ns_env, "capacityAllocationUnits", &units, errp) <
                0 ||
            ovf_attr(n, im->ns_env, "format", &uri, errp) < 0) {
            return -1;
        }
        for (i = 0; i + 1 < im->nddisks; i++) {
            if (strcmp(im->ddisks[i].id, d->id) == 0) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: Disk %s given "
                           "twice",
                           d->id);
                return -1;
            }
        }
        if (file == NULL) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: Disk %s has no file "
                       "(blank disks are not supported)",
                       d->id);
            return -1;
        }
        for (i = 0; i < im->nrefs; i++) {
            if (strcmp(im->refs[i].id, file) == 0) {
                break;
            }
        }
        if (i == im->nrefs) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: Disk %s references "
                       "unknown file %s",
                       d->id, file);
            return -1;
        }
        if (im->refs[i].used) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: File %s is used by two "
                       "disks",
                       file);
            return -1;
        }
        im->refs[i].used = true;
        d->ref = i;
        if (units != NULL) {
            shift = ovf_parse_units(units);
        }
        if (cap == NULL || ovf_parse_u63(cap, &d->capacity) < 0 || shift < 0 ||
            d->capacity == 0 || d->capacity > (INT64_MAX >> shift)) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: Disk %s has no valid "
                       "capacity",
                       d->id);
            return -1;
        }
        d->capacity <<= shift;
        d->format = uri != NULL ? ovf_format_of_uri(uri) : NULL;
        if (d->format == NULL) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: Disk %s has an "
                       "unsupported format (streamOptimized VMDK or qcow2 "
                       "expected)",
                       d->id);
            return -1;
        }
    }
    return 0;
}

/* The fields of one Item we look at. */
struct ovf_item {
    char *resource_type;
    char *quantity;
    char *units;
    char *host_resource;
};

static void
ovf_item_clear(struct ovf_item *it)
{
    free(it->resource_type);
    free(it->quantity);
    free(it->units);
    free(it->host_resource);
    memset(it, 0, sizeof(*it));
}

/* Read the fields of ITEM, which live in namespace NS. */
static int
ovf_read_item(xmlNodePtr item, const char *ns, struct ovf_item *it,
              struct error **errp)
{
    xmlNodePtr n;

    for (n = item->children; n != NULL; n = n->next) {
        char **dst = NULL;

        if (ovf_is(n, ns, "ResourceType")) {
            dst = &it->resource_type;
        } else if (ovf_is(n, ns, "VirtualQuantity")) {
            dst = &it->quantity;
        } else if (ovf_is(n, ns, "AllocationUnits")) {
            dst = &it->units;
        } else if (ovf_is(n, ns, "HostResource")) {
            dst = &it->host_resource;
        }
        if (dst == NULL) {
            continue;
        }
        if (*dst != NULL) {
            error_setg(errp, ERR_INVALID, "descriptor: an Item has two %s",
                       (const char *)n->name);
            return -1;
        }
        if (ovf_text(n, true, dst, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Attach the disk that the disk Item IT names as the next disk. */
static int
ovf_item_disk(struct ovf_import *im, const struct ovf_item *it, size_t *ndisks,
              struct error **errp)
{
    const char *h = it->host_resource;
    size_t i;

    if (h != NULL && strncmp(h, "ovf:/disk/", 10) == 0) {
        h += 10;
    } else if (h != NULL && strncmp(h, "/disk/", 6) == 0) {
        h += 6;
    } else {
        error_setg(errp, ERR_INVALID,
                   "descriptor: a disk Item does not name "
                   "a Disk in its HostResource");
        return -1;
    }
    for (i = 0; i < im->nddisks; i++) {
        if (strcmp(im->ddisks[i].id, h) == 0) {
            break;
        }
    }
    if (i == im->nddisks) {
        CLEANUP_FREE char *s = ovf_printable(h);

        error_setg(errp, ERR_INVALID,
                   "descriptor: a disk Item names unknown "
                   "Disk %s",
                   s);
        return -1;
    }
    if (im->ddisks[i].attached) {
        error_setg(errp, ERR_INVALID,
                   "descriptor: Disk %s is attached "
                   "twice",
                   im->ddisks[i].id);
        return -1;
    }
    im->ddisks[i].attached = true;
    im->disk_of[(*ndisks)++] = i;
    return 0;
}

/* Memory in MiB from QUANTITY of 2^SHIFT bytes, rounded up. */
static int
ovf_memory_mb(int64_t quantity, int shift, int64_t *mb)
{
    if (shift >= 20) {
        if (quantity > (OVF_MAX_MEMORY_MB >> (shift - 20))) {
            return -1;
        }
        *mb = quantity << (shift - 20);
    } else {
        int64_t unit = (int64_t)1 << (20 - shift);

        *mb = quantity / unit + (quantity % unit != 0);
    }
    return *mb >= 1 && *mb <= OVF_MAX_MEMORY_MB ? 0 : -1;
}

/* VirtualHardwareSection: CPUs, memory, and disks in device order. */
static int
ovf_parse_hardware(struct ovf_import *im, xmlNodePtr hw, struct error **errp)
{
    bool have_cpu = false, have_mem = false;
    size_t ndisks = 0;
    xmlNodePtr n;

    for (n = hw->children; n != NULL; n = n->next) {
        struct ovf_item it = {0};
        const char *ns;
        int64_t rt, q;
        int r = -1;

        if (ovf_is(n, im->ns_env, "Item")) {
            ns = OVF_NS_RASD;
        } else if (ovf_is(n, im->ns_env, "StorageItem")) {
            ns = OVF_NS_SASD;
        } else {
            continue;
        }
        if (ovf_read_item(n, ns, &it, errp) < 0) {
            goto next;
        }
        if (it.resource_type == NULL ||
            ovf_parse_u63(it.resource_type, &rt) < 0) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: an Item has no valid "
                       "ResourceType");
            goto next;
        }
        if (rt == OVF_RT_CPU) {
            if (have_cpu) {
                error_setg(errp, ERR_INVALID, "descriptor: two CPU Items");
                goto next;
            }
            if (it.quantity == NULL || ovf_parse_u63(it.quantity, &q) < 0 ||
                q < 1 || q > OVF_MAX_CPUS) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: the CPU Item has "
                           "no valid VirtualQuantity (1 to %d)",
                           OVF_MAX_CPUS);
                goto next;
            }
            im->pkg->cpus = (int)q;
            have_cpu = true;
        } else if (rt == OVF_RT_MEMORY) {
            int shift = it.units != NULL ? ovf_parse_units(it.units) : 20;

            if (have_mem) {
                error_setg(errp, ERR_INVALID, "descriptor: two memory Items");
                goto next;
            }
            if (it.quantity == NULL || ovf_parse_u63(it.quantity, &q) < 0 ||
                shift < 0 || ovf_memory_mb(q, shift, &im->pkg->memory_mb) < 0) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: the memory Item "
                           "has no valid size (1 MiB to %d MiB)",
                           OVF_MAX_MEMORY_MB);
                goto next;
            }
            have_mem = true;
        } else if (rt == OVF_RT_DISK) {
            if (ovf_item_disk(im, &it, &ndisks, errp) < 0) {
                goto next;
            }
        }
        r = 0;
    next:
        ovf_item_clear(&it);
        if (r < 0) {
            return -1;
        }
    }
    if (!have_cpu || !have_mem) {
        error_setg(errp, ERR_INVALID, "descriptor: no %s Item",
                   have_cpu ? "memory" : "CPU");
        return -1;
    }
    im->pkg->ndisks = ndisks;
    return 0;
}

/* A vmsnap:File of our section: declare a File that no Disk uses as a
 * plain file of the package.
 */
static int
ovf_parse_plain(struct ovf_import *im, xmlNodePtr n, struct error **errp)
{
    struct ovf_package *pkg = im->pkg;
    CLEANUP_FREE char *ref = NULL;
    struct ovf_file *f;
    struct ovf_ref *r = NULL;
    size_t i;

    if (ovf_attr(n, NULL, "fileRef", &ref, errp) < 0) {
        return -1;
    }
    for (i = 0; ref != NULL && i < im->nrefs; i++) {
        if (strcmp(im->refs[i].id, ref) == 0) {
            r = &im->refs[i];
            break;
        }
    }
    if (r == NULL) {
        CLEANUP_FREE char *s = ovf_printable(ref);

        error_setg(errp, ERR_INVALID,
                   "descriptor: vmsnap:File names unknown file %s", s);
        return -1;
    }
    if (r->used || r->plain) {
        error_setg(errp, ERR_INVALID,
                   "descriptor: File %s is declared by vmsnap:File twice or "
                   "also used by a Disk",
                   r->id);
        return -1;
    }
    if (pkg->nfiles >= OVF_MAX_FILES) {
        error_setg(errp, ERR_INVALID,
                   "descriptor: more than %d plain files", OVF_MAX_FILES);
        return -1;
    }
    r->plain = true;
    f = &pkg->files[pkg->nfiles++];
    if (ovf_attr(n, NULL, "role", &f->role, errp) < 0 ||
        ovf_attr(n, NULL, "name", &f->name, errp) < 0 ||
        ovf_attr(n, NULL, "ref", &f->ref_id, errp) < 0) {
        return -1;
    }
    if (!ovf_file_role_ok(f->role)) {
        error_setg(errp, ERR_INVALID,
                   "descriptor: vmsnap:File %s has no valid role (kernel or "
                   "ramdisk)",
                   r->id);
        return -1;
    }
    for (i = 0; i + 1 < pkg->nfiles; i++) {
        if (strcmp(pkg->files[i].role, f->role) == 0) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: two vmsnap:File of role %s", f->role);
            return -1;
        }
    }
    if ((f->name != NULL && !ovf_text_ok(f->name, OVF_MAX_TEXT_LEN, false)) ||
        (f->ref_id != NULL &&
         !ovf_text_ok(f->ref_id, OVF_MAX_TEXT_LEN, false))) {
        error_setg(errp, ERR_INVALID,
                   "descriptor: vmsnap:File %s has a bad name or ref", r->id);
        return -1;
    }
    f->path = util_path_join(im->workdir, r->href);
    return 0;
}

/* Our own section: properties, os_type, what each disk is, and the plain
 * files.
 */
static int
ovf_parse_vmsnap(struct ovf_import *im, xmlNodePtr sec, struct error **errp)
{
    struct ovf_package *pkg = im->pkg;
    xmlNodePtr n;
    size_t i;

    if (ovf_attr(sec, NULL, "osType", &pkg->os_type, errp) < 0) {
        return -1;
    }
    if (pkg->os_type != NULL &&
        (pkg->os_type[0] == '\0' ||
         !ovf_text_ok(pkg->os_type, OVF_MAX_TEXT_LEN, false))) {
        error_setg(errp, ERR_INVALID, "descriptor: bad osType");
        return -1;
    }
    for (n = sec->children; n != NULL; n = n->next) {
        if (ovf_is(n, OVF_NS_VMSNAP, "Property")) {
            struct ovf_prop *p;

            if (pkg->nprops >= OVF_MAX_PROPS) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: more than %d "
                           "properties",
                           OVF_MAX_PROPS);
                return -1;
            }
            p = &pkg->props[pkg->nprops++];
            if (ovf_attr(n, NULL, "key", &p->key, errp) < 0 ||
                ovf_text(n, false, &p->value, errp) < 0) {
                return -1;
            }
            if (p->key == NULL || p->key[0] == '\0' ||
                !ovf_text_ok(p->key, OVF_MAX_KEY_LEN, false) ||
                !ovf_text_ok(p->value, OVF_MAX_VALUE_LEN, true)) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: property %zu has "
                           "a bad key or value",
                           pkg->nprops);
                return -1;
            }
            for (i = 0; i + 1 < pkg->nprops; i++) {
                if (strcmp(pkg->props[i].key, p->key) == 0) {
                    error_setg(errp, ERR_INVALID,
                               "descriptor: property %s "
                               "given twice",
                               p->key);
                    return -1;
                }
            }
        } else if (ovf_is(n, OVF_NS_VMSNAP, "Disk")) {
            CLEANUP_FREE char *id = NULL;
            struct ovf_disk *d = NULL;

            if (ovf_attr(n, NULL, "diskId", &id, errp) < 0) {
                return -1;
            }
            for (i = 0; id != NULL && i < pkg->ndisks; i++) {
                if (strcmp(im->ddisks[im->disk_of[i]].id, id) == 0) {
                    d = &pkg->disks[i];
                    break;
                }
            }
            if (d == NULL) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: vmsnap:Disk names "
                           "no attached Disk");
                return -1;
            }
            if (d->role != NULL) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: vmsnap:Disk %s "
                           "given twice",
                           id);
                return -1;
            }
            if (ovf_attr(n, NULL, "role", &d->role, errp) < 0 ||
                ovf_attr(n, NULL, "name", &d->name, errp) < 0 ||
                ovf_attr(n, NULL, "ref", &d->ref_id, errp) < 0) {
                return -1;
            }
            if (d->role == NULL || (strcmp(d->role, "root") != 0 &&
                                    strcmp(d->role, "volume") != 0)) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: vmsnap:Disk %s "
                           "has no valid role",
                           id);
                return -1;
            }
            if ((d->name != NULL &&
                 !ovf_text_ok(d->name, OVF_MAX_TEXT_LEN, false)) ||
                (d->ref_id != NULL &&
                 !ovf_text_ok(d->ref_id, OVF_MAX_TEXT_LEN, false))) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: vmsnap:Disk %s "
                           "has a bad name or ref",
                           id);
                return -1;
            }
        } else if (ovf_is(n, OVF_NS_VMSNAP, "File")) {
            if (ovf_parse_plain(im, n, errp) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* OperatingSystemSection: os_type when our own section gave none. */
static int
ovf_parse_os(struct ovf_import *im, xmlNodePtr os, struct error **errp)
{
    CLEANUP_FREE char *id = NULL;
    int64_t v;

    if (ovf_attr(os, im->ns_env, "id", &id, errp) < 0) {
        return -1;
    }
    if (im->pkg->os_type == NULL && id != NULL && ovf_parse_u63(id, &v) == 0 &&
        (v == OVF_OS_LINUX || v == OVF_OS_LINUX64)) {
        im->pkg->os_type = xstrdup("linux");
    }
    return 0;
}

/* The VirtualSystem. */
static int
ovf_parse_system(struct ovf_import *im, xmlNodePtr vs, struct error **errp)
{
    struct ovf_package *pkg = im->pkg;
    xmlNodePtr n, hw = NULL, ours = NULL, os = NULL, name = NULL;
    size_t i;

    for (n = vs->children; n != NULL; n = n->next) {
        xmlNodePtr *slot = NULL;

        if (ovf_is(n, im->ns_env, "VirtualHardwareSection")) {
            slot = &hw;
        } else if (ovf_is(n, OVF_NS_VMSNAP, "ImagePropertiesSection")) {
            slot = &ours;
        } else if (ovf_is(n, im->ns_env, "OperatingSystemSection")) {
            slot = &os;
        } else if (ovf_is(n, im->ns_env, "Name")) {
            slot = &name;
        }
        if (slot == NULL) {
            continue;
        }
        if (*slot != NULL) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: two %s in the "
                       "VirtualSystem",
                       (const char *)n->name);
            return -1;
        }
        *slot = n;
    }
    if (hw == NULL) {
        error_setg(errp, ERR_INVALID,
                   "descriptor: no "
                   "VirtualHardwareSection");
        return -1;
    }

    if (name != NULL) {
        if (ovf_text(name, true, &pkg->name, errp) < 0) {
            return -1;
        }
    } else if (ovf_attr(vs, im->ns_env, "id", &pkg->name, errp) < 0) {
        return -1;
    }
    if (pkg->name == NULL || pkg->name[0] == '\0' ||
        !ovf_text_ok(pkg->name, OVF_MAX_TEXT_LEN, false)) {
        error_setg(errp, ERR_INVALID,
                   "descriptor: the VirtualSystem has no "
                   "valid name");
        return -1;
    }

    if (ovf_parse_hardware(im, hw, errp) < 0) {
        return -1;
    }
    for (i = 0; i < im->nddisks; i++) {
        if (!im->ddisks[i].attached) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: Disk %s is not "
                       "attached to the virtual system",
                       im->ddisks[i].id);
            return -1;
        }
    }
    if (ours != NULL && ovf_parse_vmsnap(im, ours, errp) < 0) {
        return -1;
    }
    if (os != NULL && ovf_parse_os(im, os, errp) < 0) {
        return -1;
    }
    for (i = 0; i < pkg->ndisks; i++) {
        struct ovf_disk *d = &pkg->disks[i];
        const struct ovf_ddisk *dd = &im->ddisks[im->disk_of[i]];

        if (d->role == NULL) {
            d->role = xstrdup(i == 0 ? "root" : "volume");
        }
        d->format = xstrdup(dd->format);
        d->file = util_path_join(im->workdir, im->refs[dd->ref].href);
        d->capacity = dd->capacity;
        if (i > 0 && strcmp(d->role, "root") == 0) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: the root disk %s is "
                       "not the first disk",
                       dd->id);
            return -1;
        }
    }
    return 0;
}

/* Walk the parsed descriptor DOC. */
static int
ovf_parse_doc(struct ovf_import *im, xmlDocPtr doc, struct error **errp)
{
    xmlNodePtr env = xmlDocGetRootElement(doc);
    xmlNodePtr n, vs = NULL;
    size_t i;

    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        error_setg(errp, ERR_INVALID, "descriptor: a DOCTYPE is not allowed");
        return -1;
    }
    if (env != NULL && ovf_is(env, OVF_NS_ENVELOPE, "Envelope")) {
        im->ns_env = OVF_NS_ENVELOPE;
    } else if (env != NULL && ovf_is(env, OVF_NS_ENVELOPE2, "Envelope")) {
        im->ns_env = OVF_NS_ENVELOPE2;
    } else {
        error_setg(errp, ERR_INVALID,
                   "descriptor: the root element is not "
                   "an OVF 1.x or 2.x Envelope");
        return -1;
    }
    im->refs = xcalloc(OVF_MAX_REFS, sizeof(*im->refs));
    im->ddisks = xcalloc(OVF_MAX_DISKS, sizeof(*im->ddisks));
    im->disk_of = xcalloc(OVF_MAX_DISKS, sizeof(*im->disk_of));
    im->pkg = xcalloc(1, sizeof(*im->pkg));
    im->pkg->disks = xcalloc(OVF_MAX_DISKS, sizeof(*im->pkg->disks));
    im->pkg->props = xcalloc(OVF_MAX_PROPS, sizeof(*im->pkg->props));
    im->pkg->files = xcalloc(OVF_MAX_FILES, sizeof(*im->pkg->files));

    /* References first: the DiskSection refers to them. */
    for (n = env->children; n != NULL; n = n->next) {
        if (ovf_is(n, im->ns_env, "References") &&
            ovf_parse_refs(im, n, errp) < 0) {
            return -1;
        }
    }
    for (n = env->children; n != NULL; n = n->next) {
        if (ovf_is(n, im->ns_env, "DiskSection")) {
            if (ovf_parse_disks(im, n, errp) < 0) {
                return -1;
            }
        } else if (ovf_is(n, im->ns_env, "VirtualSystemCollection")) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: a "
                       "VirtualSystemCollection is not supported");
            return -1;
        } else if (ovf_is(n, im->ns_env, "VirtualSystem")) {
            if (vs != NULL) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: more than one "
                           "VirtualSystem");
                return -1;
            }
            vs = n;
        }
    }
    if (vs == NULL) {
        error_setg(errp, ERR_INVALID, "descriptor: no VirtualSystem");
        return -1;
    }
    if (im->nddisks == 0) {
        error_setg(errp, ERR_INVALID, "descriptor: no Disk");
        return -1;
    }
    if (ovf_parse_system(im, vs, errp) < 0) {
        return -1;
    }
    /* Only now are the plain files known: our section declares them. */
    for (i = 0; i < im->nrefs; i++) {
        if (!im->refs[i].used && !im->refs[i].plain) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: File %s is not used by any Disk nor "
                       "declared by a vmsnap:File",
                       im->refs[i].id);
            return -1;
        }
    }
    return 0;
}

/* Parse the descriptor held in IM without network, DTD or entities. */
static int
ovf_parse_descriptor(struct ovf_import *im, struct error **errp)
{
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;
    int r;

    if (im->desc_len > INT32_MAX) {
        error_setg(errp, ERR_INVALID, "descriptor: too large");
        return -1;
    }
    ctxt = xcheck(xmlNewParserCtxt());
    doc = xmlCtxtReadMemory(ctxt, im->desc, (int)im->desc_len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR |
                                XML_PARSE_NOWARNING);
    if (doc == NULL) {
        xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
        CLEANUP_FREE char *msg = ovf_trim_dup(
            e != NULL && e->message != NULL ? e->message : "parse error");

        error_setg(errp, ERR_INVALID,
                   "descriptor: not well-formed XML "
                   "(line %d): %s",
                   e != NULL ? e->line : 0, msg);
        xmlFreeParserCtxt(ctxt);
        return -1;
    }
    r = ovf_parse_doc(im, doc, errp);
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return r;
}

/* Every file of References and the descriptor must be in the manifest,
 * and the manifest must list nothing else.
 */
static int
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

/* ------------------------------------------------------------------ */
/* Import: the tar.                                                    */

/* Set an error for a failed libarchive read. */
static int
ovf_tar_error(struct archive *a, const char *what, struct error **errp)
{
    int e = archive_errno(a);
    const char *s = archive_error_string(a);

    error_setg(errp, e == EIO || e == ENOMEM ? ERR_IO : ERR_INVALID,
               "package: damaged tar (%s): %s", what,
               s != NULL ? s : "unknown error");
    return -1;
}

/* Check the header of the next member; set *NAME and *SIZE. */
static int
ovf_check_entry(struct archive_entry *e, const char **name, int64_t *size,
                struct error **errp)
{
    const char *n = archive_entry_pathname(e);

    if (!ovf_member_name_ok(n)) {
        CLEANUP_FREE char *s = ovf_printable(n);

        error_setg(errp, ERR_INVALID,
                   "package: member name \"%s\" is not a "
                   "plain file name",
                   s);
        return -1;
    }
    if (archive_entry_filetype(e) != AE_IFREG ||
        archive_entry_hardlink(e) != NULL || archive_entry_symlink(e) != NULL) {
        error_setg(errp, ERR_INVALID,
                   "package: member %s is not a regular "
                   "file",
                   n);
        return -1;
    }
    if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0 ||
        archive_entry_size(e) > OVF_MAX_MEMBER_SIZE) {
        error_setg(errp, ERR_INVALID, "package: member %s has no valid size",
                   n);
        return -1;
    }
    *name = n;
    *size = archive_entry_size(e);
    return 0;
}

/* Read the current member (SIZE bytes, at most MAX) into memory. */
static int
ovf_read_small(struct archive *a, const char *name, int64_t size, size_t max,
               char **out, size_t *len, struct error **errp)
{
    size_t done = 0;
    char *buf;

    if (size > (int64_t)max) {
        error_setg(errp, ERR_INVALID, "package: %s is larger than %zu bytes",
                   name, max);
        return -1;
    }
    buf = xmalloc((size_t)size + 1);
    while (done < (size_t)size) {
        la_ssize_t n = archive_read_data(a, buf + done, (size_t)size - done);

        if (n < 0) {
            free(buf);
            return ovf_tar_error(a, name, errp);
        }
        if (n == 0) {
            free(buf);
            error_setg(errp, ERR_INVALID, "package: member %s is truncated",
                       name);
            return -1;
        }
        done += (size_t)n;
    }
    buf[done] = '\0';
    *out = buf;
    *len = done;
    return 0;
}

/* Extract the current member NAME (SIZE bytes) into the workdir,
 * checking its digest against manifest entry ME on the way.
 */
static int
ovf_extract(struct ovf_import *im, struct archive *a, const char *name,
            int64_t size, struct ovf_mf_entry *me, unsigned char *buf,
            struct error **errp)
{
    char hex[HASH_MAX_HEX_LEN];
    CLEANUP_CLOSE int fd = -1;
    struct hash_ctx *h = NULL;
    struct statvfs sv;
    int64_t done = 0;
    int r = -1;

    if (fstatvfs(im->dirfd, &sv) == 0 &&
        (uint64_t)size > (uint64_t)sv.f_bavail * sv.f_frsize) {
        error_setg_errno(errp, ERR_IO, ENOSPC,
                         "not enough space in %s for "
                         "%s (%" PRId64 " bytes)",
                         im->workdir, name, size);
        return -1;
    }
    im->made[im->nmade] = xstrdup(name);
    fd = openat(im->dirfd, name,
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "create %s in %s", name,
                         im->workdir);
        free(im->made[im->nmade]);
        im->made[im->nmade] = NULL;
        return -1;
    }
    im->nmade++;

    h = hash_begin(me->alg, errp);
    if (h == NULL) {
        goto out;
    }
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, OVF_CHUNK);

        if (n < 0) {
            ovf_tar_error(a, name, errp);
            goto out;
        }
        if (n == 0) {
            break;
        }
        if (done + n > size) {
            error_setg(errp, ERR_INVALID,
                       "package: member %s is longer than "
                       "its header says",
                       name);
            goto out;
        }
        if (fileio_write_all(fd, buf, (size_t)n, name, errp) < 0) {
            goto out;
        }
        if (hash_update(h, buf, (size_t)n, errp) < 0) {
            goto out;
        }
        done += n;
    }
    if (done != size) {
        error_setg(errp, ERR_INVALID, "package: member %s is truncated", name);
        goto out;
    }
    if (hash_end(steal_pointer(&h), hex, errp) < 0) {
        goto out;
    }
    if (strcmp(hex, me->hex) != 0) {
        error_setg(errp, ERR_INVALID, "manifest: checksum mismatch for %s",
                   name);
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        error_setg_errno(errp, ERR_IO, errno, "close %s", name);
        goto out;
    }
    fd = -1;
    r = 0;
out:
    hash_ctx_free(h);
    return r;
}

/* Handle the first two members: the descriptor, then the manifest. */
static int
ovf_read_meta(struct ovf_import *im, struct archive *a, unsigned index,
              const char *name, int64_t size, struct error **errp)
{
    CLEANUP_FREE char *mf = NULL;
    char hex[HASH_MAX_HEX_LEN];
    struct ovf_mf_entry *me;
    size_t len = 0, n = strlen(name);

    if (index == 0) {
        if (n < 5 || strcmp(name + n - 4, ".ovf") != 0) {
            error_setg(errp, ERR_INVALID,
                       "package: the first member %s is "
                       "not an OVF descriptor (.ovf)",
                       name);
            return -1;
        }
        im->desc_name = xstrdup(name);
        return ovf_read_small(a, name, size, OVF_DESC_MAX, &im->desc,
                              &im->desc_len, errp);
    }

    im->mf_name = xasprintf("%.*s.mf", (int)(strlen(im->desc_name) - 4),
                            im->desc_name);
    if (strcmp(name, im->mf_name) != 0) {
        error_setg(errp, ERR_INVALID,
                   "package: the second member is %s, not "
                   "the manifest %s",
                   name, im->mf_name);
        return -1;
    }
    if (ovf_read_small(a, name, size, OVF_MF_MAX, &mf, &len, errp) < 0 ||
        ovf_parse_manifest(im, mf, len, errp) < 0) {
        return -1;
    }
    me = ovf_mf_find(im, im->desc_name);
    if (me == NULL) {
        error_setg(errp, ERR_INVALID, "manifest: descriptor %s is not listed",
                   im->desc_name);
        return -1;
    }
    if (hash_mem(me->alg, im->desc, im->desc_len, hex, errp) < 0) {
        return -1;
    }
    if (strcmp(hex, me->hex) != 0) {
        error_setg(errp, ERR_INVALID, "manifest: checksum mismatch for %s",
                   im->desc_name);
        return -1;
    }
    me->seen = true;
    if (ovf_parse_descriptor(im, errp) < 0) {
        return -1;
    }
    return ovf_cross_check(im, errp);
}

/* Handle a member after the manifest: a disk or a plain file. */
static int
ovf_read_disk(struct ovf_import *im, struct archive *a, const char *name,
              int64_t size, unsigned char *buf, struct error **errp)
{
    struct ovf_mf_entry *me = ovf_mf_find(im, name);
    size_t i;

    if (me == NULL) {
        error_setg(errp, ERR_INVALID,
                   "package: member %s is not listed in "
                   "the manifest",
                   name);
        return -1;
    }
    if (me->seen) {
        error_setg(errp, ERR_INVALID, "package: member %s appears twice", name);
        return -1;
    }
    me->seen = true;
    for (i = 0; i < im->nrefs; i++) {
        if (strcmp(im->refs[i].href, name) == 0 && im->refs[i].size >= 0 &&
            im->refs[i].size != size) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: File %s has ovf:size "
                       "%" PRId64 " but member %s has %" PRId64 " bytes",
                       im->refs[i].id, im->refs[i].size, name, size);
            return -1;
        }
    }
    return ovf_extract(im, a, name, size, me, buf, errp);
}

/* Read the whole tar FD into the workdir. */
static int
ovf_read_tar(struct ovf_import *im, int fd, struct error **errp)
{
    CLEANUP_FREE unsigned char *buf = xmalloc(OVF_CHUNK);
    struct archive *a = xcheck(archive_read_new());
    struct archive_entry *e;
    unsigned index = 0;
    int r = -1, ar;
    size_t i;

    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_filter_none(a) != ARCHIVE_OK ||
        archive_read_open_fd(a, fd, OVF_TAR_BLOCK) != ARCHIVE_OK) {
        error_setg(errp, ERR_INVALID, "package: not a tar file: %s",
                   archive_error_string(a));
        goto out;
    }
    while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name;
        int64_t size;

        if (index >= OVF_MAX_MEMBERS) {
            error_setg(errp, ERR_INVALID, "package: more than %d members",
                       OVF_MAX_MEMBERS);
            goto out;
        }
        if (ovf_check_entry(e, &name, &size, errp) < 0) {
            goto out;
        }
        if (index < 2) {
            if (ovf_read_meta(im, a, index, name, size, errp) < 0) {
                goto out;
            }
        } else if (ovf_read_disk(im, a, name, size, buf, errp) < 0) {
            goto out;
        }
        index++;
    }
    if (ar != ARCHIVE_EOF) {
        ovf_tar_error(a, index == 0 ? "start" : "member header", errp);
        goto out;
    }
    if (index < 2) {
        error_setg(errp, ERR_INVALID, "package: %s",
                   index == 0 ? "empty tar"
                              : "no manifest after the descriptor");
        goto out;
    }
    for (i = 0; i < im->nmf; i++) {
        if (!im->mf[i].seen) {
            error_setg(errp, ERR_INVALID,
                       "package: file %s listed in the "
                       "manifest is missing",
                       im->mf[i].name);
            goto out;
        }
    }
    r = 0;
out:
    archive_read_free(a);
    return r;
}

/* Check the first bytes of disk I against its declared format: the
 * magic, and for qcow2 no backing file, no encryption and no external
 * data file (qemu-img would open files the package names).
 */
static int
ovf_check_magic(struct ovf_import *im, size_t i, const char *href,
                struct error **errp)
{
    const struct ovf_disk *d = &im->pkg->disks[i];
    unsigned char h[104] = {0};
    CLEANUP_CLOSE int fd = -1;
    ssize_t n;

    fd = openat(im->dirfd, href, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "open %s", href);
        return -1;
    }
    do {
        n = pread(fd, h, sizeof(h), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, ERR_IO, errno, "read %s", href);
        return -1;
    }
    if (strcmp(d->format, "vmdk") == 0) {
        uint64_t capacity = 0;
        int k;

        if (n < 20 || memcmp(h, "KDMV", 4) != 0) {
            error_setg(errp, ERR_INVALID,
                       "disk %s is not a sparse VMDK "
                       "(descriptor files are not accepted)",
                       href);
            return -1;
        }
        /* A sparse header of capacity 0 makes QEMU read the embedded
         * descriptor as a whole descriptor file, whose extents can name
         * any host file (CVE-2024-32498).
         */
        for (k = 19; k >= 12; k--) {
            capacity = capacity << 8 | h[k];
        }
        if (capacity == 0) {
            error_setg(errp, ERR_INVALID,
                       "disk %s: a VMDK header of capacity 0 (one that "
                       "defers to an embedded descriptor) is not accepted",
                       href);
            return -1;
        }
        return 0;
    }
    if (n < 72 || memcmp(h, "QFI\xfb", 4) != 0) {
        error_setg(errp, ERR_INVALID, "disk %s is not a qcow2 image", href);
        return -1;
    }
    {
        uint32_t version = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
                           (uint32_t)h[6] << 8 | h[7];
        uint64_t backing = 0;
        uint32_t crypt = (uint32_t)h[32] << 24 | (uint32_t)h[33] << 16 |
                         (uint32_t)h[34] << 8 | h[35];
        int k;

        for (k = 8; k < 16; k++) {
            backing = backing << 8 | h[k];
        }
        if (backing != 0) {
            error_setg(errp, ERR_INVALID, "disk %s has a backing file", href);
            return -1;
        }
        if (crypt != 0) {
            error_setg(errp, ERR_INVALID, "disk %s is encrypted", href);
            return -1;
        }
        /* Incompatible feature bit 2: external data file. */
        if (version >= 3 && (n < 80 || (h[79] & 0x04) != 0)) {
            error_setg(errp, ERR_INVALID,
                       "disk %s has an external data "
                       "file",
                       href);
            return -1;
        }
    }
    return 0;
}

/* Check every extracted disk with qemu-img against its declaration. */
static int
ovf_check_images(struct ovf_import *im, struct error **errp)
{
    size_t i;

    for (i = 0; i < im->pkg->ndisks; i++) {
        const struct ovf_disk *d = &im->pkg->disks[i];
        const char *href = im->refs[im->ddisks[im->disk_of[i]].ref].href;
        struct qemuimg_info info;
        struct error *local = NULL;

        if (ovf_check_magic(im, i, href, errp) < 0) {
            return -1;
        }
        if (qemuimg_info(d->file, d->format, &info, &local) < 0) {
            enum error_class cls = error_get_class(local);

            error_setg(errp, cls == ERR_IO ? ERR_IO : ERR_INVALID,
                       "disk %s is not a valid %s image: %s", href, d->format,
                       error_msg(local));
            error_free(local);
            return -1;
        }
        if (strcmp(info.format, d->format) != 0 ||
            info.backing_filename != NULL || info.other_files) {
            error_setg(errp, ERR_INVALID,
                       "disk %s is not a plain, self-contained %s image",
                       href, d->format);
            qemuimg_info_clear(&info);
            return -1;
        }
        if (info.virtual_size != d->capacity) {
            error_setg(errp, ERR_INVALID,
                       "disk %s has %" PRId64 " bytes, the "
                       "descriptor says %" PRId64,
                       href, info.virtual_size, d->capacity);
            qemuimg_info_clear(&info);
            return -1;
        }
        qemuimg_info_clear(&info);
    }
    return 0;
}

/* Fail unless WORKDIR is an existing empty directory. */
static int
ovf_check_workdir(const char *workdir, struct error **errp)
{
    struct dirent *de;
    DIR *dir = opendir(workdir);

    if (dir == NULL) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, errno,
                         "workdir %s", workdir);
        return -1;
    }
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            closedir(dir);
            error_setg(errp, ERR_INVALID, "workdir %s is not empty", workdir);
            return -1;
        }
    }
    closedir(dir);
    return 0;
}

static void
ovf_import_clear(struct ovf_import *im)
{
    size_t i;

    for (i = 0; i < im->nmade; i++) {
        free(im->made[i]);
    }
    free(im->made);
    for (i = 0; i < im->nmf; i++) {
        free(im->mf[i].name);
    }
    free(im->mf);
    for (i = 0; i < im->nrefs; i++) {
        free(im->refs[i].id);
        free(im->refs[i].href);
    }
    free(im->refs);
    for (i = 0; i < im->nddisks; i++) {
        free(im->ddisks[i].id);
    }
    free(im->ddisks);
    free(im->disk_of);
    free(im->desc_name);
    free(im->desc);
    free(im->mf_name);
    ovf_package_free(im->pkg);
    if (im->dirfd >= 0) {
        close(im->dirfd);
    }
}

int
ovf_import(const char *ova_path, const char *workdir, struct ovf_package **out,
           struct error **errp)
{
    struct ovf_import im = {.workdir = workdir, .dirfd = -1};
    CLEANUP_CLOSE int fd = -1;
    struct stat st;
    int r = -1;

    pthread_once(&ovf_xml_once, ovf_xml_init);
    if (ova_path == NULL || workdir == NULL || out == NULL) {
        error_setg(errp, ERR_INVALID,
                   "import: no package, workdir or "
                   "result");
        return -1;
    }
    if (ovf_check_workdir(workdir, errp) < 0) {
        return -1;
    }
    fd = open(ova_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, errno,
                         "open %s", ova_path);
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        error_setg(errp, ERR_INVALID, "%s is not a regular file", ova_path);
        return -1;
    }
    im.dirfd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    im.made = xcalloc(OVF_MAX_MEMBERS, sizeof(*im.made));
    if (im.dirfd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "workdir %s", workdir);
        goto out;
    }
    if (ovf_read_tar(&im, fd, errp) < 0 || ovf_check_images(&im, errp) < 0) {
        goto out;
    }
    *out = steal_pointer(&im.pkg);
    r = 0;
out:
    if (r < 0) {
        ovf_unlink_all(im.dirfd, im.made, im.nmade);
        error_prepend(errp, "%s: ", ova_path);
    }
    ovf_import_clear(&im);
    return r;
}
