/* vmsnap: OVA packages, reading the descriptor: the OVF envelope parsed
 * with libxml2 (no network, no DTD, no entities) and walked with every
 * attribute checked, since the package is hostile (see ovf-internal.h).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "cleanup.h"
#include "ovf-internal.h"
#include "util.h"
#include "xalloc.h"

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
    if (!ovf_origin_ok(f->name, f->ref_id)) {
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
            if (!ovf_disk_role_ok(d->role)) {
                error_setg(errp, ERR_INVALID,
                           "descriptor: vmsnap:Disk %s "
                           "has no valid role",
                           id);
                return -1;
            }
            if (!ovf_origin_ok(d->name, d->ref_id)) {
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

int
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
