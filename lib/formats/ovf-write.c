/* vmsnap: OVA packages, the export: disks converted with qemu-img, plain
 * files copied, the descriptor built with libxml2, the manifest, then the
 * tar written atomically (see ovf.h, ovf_export).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "cleanup.h"
#include "dynbuf.h"
#include "fileio.h"
#include "hash.h"
#include "ovf-internal.h"
#include "qemuimg.h"
#include "util.h"
#include "xalloc.h"

/* InstanceIDs of the Items we write; disks follow from OVF_ID_DISK0. */
#define OVF_ID_CPU 1
#define OVF_ID_MEMORY 2
#define OVF_ID_CONTROLLER 3
#define OVF_ID_DISK0 4

/* Longest package name kept in member names. */
#define OVF_BASE_MAX 64

/* Room for a number and a short word ("disk12", "file3"). */
#define OVF_NUM_LEN 32

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
        if (!ovf_disk_role_ok(role)) {
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
        if (!ovf_origin_ok(d->name, d->ref_id)) {
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
        if (!ovf_origin_ok(f->name, f->ref_id)) {
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

static void
ovf_on_package(int64_t done, void *opaque)
{
    struct ovf_export *ex = opaque;

    ovf_phase_report(ex, "package", (double)done);
}

/* Write the tar into FD (the file PART, for messages): descriptor,
 * manifest, disks, plain files, then sync it.
 */
static int
ovf_write_tar(struct ovf_export *ex, int fd, const char *part,
              struct error **errp)
{
    const struct ovf_package *pkg = ex->pkg;
    CLEANUP_FREE const struct ovf_out_file **files = NULL;
    size_t i, n = 0;

    files = xcalloc(pkg->ndisks + pkg->nfiles + 2, sizeof(*files));
    files[n++] = &ex->desc;
    files[n++] = &ex->mf;
    for (i = 0; i < pkg->ndisks; i++) {
        files[n++] = &ex->disks[i];
    }
    for (i = 0; i < pkg->nfiles; i++) {
        files[n++] = &ex->files[i];
    }
    ex->phase_total = 0;
    for (i = 0; i < n; i++) {
        ex->phase_total += files[i]->size;
    }
    ex->phase_done = 0;
    return ova_write(fd, part, files, n, ovf_on_package, ex, errp);
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
    struct fileio_pending out = {.fd = -1};
    struct error *local = NULL;
    int r = -1;
    struct stat st;

    ovf_xml_init();
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
    ex.base = ovf_base_name(pkg->name);
    ex.scratch = util_path_join(workdir, "ovf-export-XXXXXX");
    ex.disks = xcalloc(pkg->ndisks, sizeof(*ex.disks));
    ex.capacity = xcalloc(pkg->ndisks, sizeof(*ex.capacity));
    ex.files = xcalloc(pkg->nfiles + 1, sizeof(*ex.files));
    /* The package is written to a file that appears at OVA_PATH whole
     * and leaves nothing behind if we die (audit L8).
     */
    if (fileio_pending_open(ova_path, 0600, &out, &local) < 0) {
        goto out;
    }
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
        ovf_write_tar(&ex, out.fd, ova_path, &local) < 0 ||
        fileio_pending_publish(&out, false, &local) < 0) {
        goto out;
    }
    progress_report(progress, "package", 100);
    r = 0;
out:
    fileio_pending_clear(&out);
    if (r < 0) {
        error_prepend(&local, "export of %s: ", ova_path);
        error_propagate(errp, local);
    }
    ovf_export_clear(&ex);
    return r;
}
