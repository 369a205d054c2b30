/* vmsnap: the libvirt driver's domain XML: reading what the driver needs
 * from a domain's XML and writing the XML of the domains and disks it
 * defines (libxml2; see hv-libvirt-priv.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libvirt/libvirt.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "cleanup.h"
#include "hv-libvirt-priv.h"
#include "hv-libvirt.h"
#include "util.h"
#include "xalloc.h"

#define LV_AGENT_CHANNEL "org.qemu.guest_agent.0"

/* The kernel command line of a direct kernel boot when the image gives
 * none: the qemu driver's (hv-qemu.c), so that an image boots the same
 * under both drivers.
 */
#define LV_DEFAULT_CMDLINE "console=ttyS0 root=/dev/vda rw quiet"

/* ------------------------------------------------------------------ */
/* Domain XML                                                          */
/* ------------------------------------------------------------------ */

/* Attribute NAME of NODE as a new string (caller frees), or NULL. */
static char *
lv_attr(xmlNodePtr node, const char *name)
{
    xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
    char *s;

    if (v == NULL) {
        return NULL;
    }
    s = xstrdup((const char *)v);
    xmlFree(v);
    return s;
}

/* True if attribute NAME of NODE is VALUE. */
static bool
lv_attr_is(xmlNodePtr node, const char *name, const char *value)
{
    xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
    bool r = v && strcmp((const char *)v, value) == 0;

    xmlFree(v);
    return r;
}

/* The first element child of NODE named NAME (no namespace), or NULL. */
static xmlNodePtr
lv_child(xmlNodePtr node, const char *name)
{
    xmlNodePtr c;

    for (c = node ? node->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && c->ns == NULL &&
            strcmp((const char *)c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

static bool
lv_named(xmlNodePtr node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && node->ns == NULL &&
           strcmp((const char *)node->name, name) == 0;
}

static void
lv_xdisk_clear(struct lv_xdisk *d)
{
    free(d->target);
    free(d->path);
    free(d->format);
    free(d->serial);
    memset(d, 0, sizeof(*d));
}

void
lv_xdom_clear(struct lv_xdom *x)
{
    size_t i;

    if (x == NULL) {
        return;
    }
    for (i = 0; i < x->ndisks; i++) {
        lv_xdisk_clear(&x->disks[i]);
    }
    free(x->disks);
    hv_props_free(x->props, x->nprops);
    for (i = 0; i < x->ntargets; i++) {
        free(x->targets[i]);
    }
    free(x->targets);
    memset(x, 0, sizeof(*x));
}

/* Read one <disk> into *D.  Returns 1 when it is a disk the driver
 * handles (device 'disk', a file or a block device with a source), 0 when
 * it is not.
 */
static int
lv_parse_disk(xmlNodePtr node, struct lv_xdisk *d)
{
    xmlNodePtr src = lv_child(node, "source");
    xmlNodePtr tgt = lv_child(node, "target");
    xmlNodePtr drv = lv_child(node, "driver");
    xmlNodePtr boot = lv_child(node, "boot");
    xmlNodePtr serial = lv_child(node, "serial");
    char *order;

    memset(d, 0, sizeof(*d));
    if (!(lv_attr_is(node, "device", "disk") ||
          xmlHasProp(node, (const xmlChar *)"device") == NULL) ||
        src == NULL || tgt == NULL) {
        return 0;
    }
    if (lv_attr_is(node, "type", "file")) {
        d->path = lv_attr(src, "file");
    } else if (lv_attr_is(node, "type", "block")) {
        d->path = lv_attr(src, "dev");
        d->block = true;
    } else {
        return 0;       /* network, volume, nvme...: not files we copy */
    }
    d->target = lv_attr(tgt, "dev");
    if (d->path == NULL || d->target == NULL) {
        lv_xdisk_clear(d);
        return 0;
    }
    d->format = drv ? lv_attr(drv, "type") : NULL;
    if (d->format == NULL) {
        d->format = xstrdup("");
    }
    if (serial) {
        xmlChar *s = xmlNodeGetContent(serial);

        d->serial = s ? xstrdup((const char *)s) : NULL;
        xmlFree(s);
    }
    d->readonly = lv_child(node, "readonly") != NULL;
    order = boot ? lv_attr(boot, "order") : NULL;
    if (order) {
        int64_t v;

        if (util_parse_int64(order, &v, NULL) == 0 && v > 0 && v < INT_MAX) {
            d->boot = (int)v;
        }
        free(order);
    }
    return 1;
}

/* Read vmsnap's <instance> element of <metadata> into X. */
static void
lv_parse_meta(xmlNodePtr inst, struct lv_xdom *x)
{
    xmlNodePtr c;

    x->managed = lv_attr_is(inst, "managed", "yes");
    for (c = inst->children; c; c = c->next) {
        struct hv_prop *p;
        xmlChar *v;

        if (c->type != XML_ELEMENT_NODE ||
            strcmp((const char *)c->name, "property") != 0) {
            continue;
        }
        p = xreallocarray(x->props, x->nprops + 1, sizeof(*p));
        x->props = p;
        p = &x->props[x->nprops];
        p->name = lv_attr(c, "name");
        v = xmlNodeGetContent(c);
        p->value = xstrdup(v ? (const char *)v : "");
        xmlFree(v);
        if (p->name == NULL) {
            free(p->value);
            continue;
        }
        x->nprops++;
    }
}

int
lv_xdom_parse(const char *text, struct lv_xdom *x, struct error **errp)
{
    xmlDocPtr doc;
    xmlNodePtr root, devs, c;
    size_t root_i = 0, i;
    int best = INT_MAX;

    memset(x, 0, sizeof(*x));
    doc = xmlReadMemory(text, (int)strlen(text), "domain.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (root == NULL || !lv_named(root, "domain")) {
        xmlFreeDoc(doc);
        error_setg(errp, ERR_PROTOCOL, "libvirt sent a domain XML that "
                                       "cannot be parsed");
        return -1;
    }
    devs = lv_child(root, "devices");
    for (c = devs ? devs->children : NULL; c; c = c->next) {
        if (lv_named(c, "disk")) {
            struct lv_xdisk d;
            struct lv_xdisk *grown;
            xmlNodePtr t = lv_child(c, "target");
            char *dev = t ? lv_attr(t, "dev") : NULL;
            char **more;

            if (dev) {
                more = xreallocarray(x->targets, x->ntargets + 1,
                                     sizeof(*more));
                x->targets = more;
                x->targets[x->ntargets++] = dev;
            }
            if (!lv_parse_disk(c, &d)) {
                continue;
            }
            grown = xreallocarray(x->disks, x->ndisks + 1, sizeof(*grown));
            x->disks = grown;
            x->disks[x->ndisks++] = d;
        } else if (lv_named(c, "channel")) {
            xmlNodePtr t = lv_child(c, "target");

            if (t && lv_attr_is(t, "type", "virtio") &&
                lv_attr_is(t, "name", LV_AGENT_CHANNEL)) {
                x->agent = true;
            }
        }
    }
    c = lv_child(root, "metadata");
    for (c = c ? c->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && c->ns && c->ns->href &&
            strcmp((const char *)c->ns->href, HV_LIBVIRT_NS) == 0 &&
            strcmp((const char *)c->name, "instance") == 0) {
            lv_parse_meta(c, x);
        }
    }
    xmlFreeDoc(doc);
    /* The root disk: the lowest boot order; without any, the first disk
     * (what libvirt boots from with <boot dev='hd'/>).
     */
    for (i = 0; i < x->ndisks; i++) {
        if (x->disks[i].boot > 0 && x->disks[i].boot < best) {
            best = x->disks[i].boot;
            root_i = i;
        }
    }
    if (root_i > 0) {
        struct lv_xdisk r = x->disks[root_i];

        memmove(&x->disks[1], &x->disks[0], root_i * sizeof(r));
        x->disks[0] = r;
    }
    return 0;
}

/* PATH with symlinks resolved (caller frees), or a copy when it cannot
 * be resolved.
 */
static char *
lv_real(const char *path)
{
    char *r = realpath(path, NULL);

    return r ? r : xstrdup(path);
}

const struct lv_xdisk *
lv_xdom_find(const struct lv_xdom *x, const char *path)
{
    CLEANUP_FREE char *want = NULL;
    size_t i;

    for (i = 0; i < x->ndisks; i++) {
        if (strcmp(x->disks[i].path, path) == 0) {
            return &x->disks[i];
        }
    }
    want = lv_real(path);
    for (i = 0; want && i < x->ndisks; i++) {
        CLEANUP_FREE char *have = lv_real(x->disks[i].path);

        if (have && strcmp(have, want) == 0) {
            return &x->disks[i];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Defining a domain                                                   */
/* ------------------------------------------------------------------ */

void
lv_vd_name(int n, char out[16])
{
    char tail[8];
    int len = 0, i;

    do {
        tail[len++] = (char)('a' + n % 26);
        n = n / 26 - 1;
    } while (n >= 0 && len < 6);
    out[0] = 'v';
    out[1] = 'd';
    for (i = 0; i < len; i++) {
        out[2 + i] = tail[len - 1 - i];
    }
    out[2 + len] = '\0';
}

/* A plain word: an image format or a similar token. */
static bool
lv_word(const char *s)
{
    if (s == NULL || *s == '\0') {
        return false;
    }
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_')) {
            return false;
        }
    }
    return true;
}

/* Building XML with libxml2, whose builders fail only when memory runs
 * out: they die then (the OOM rule, xalloc.h).  A NULL VALUE sets no
 * attribute.
 */
xmlNodePtr
lv_el(xmlNodePtr parent, const char *name, const char *text)
{
    return xcheck(xmlNewTextChild(parent, NULL, (const xmlChar *)name,
                                  (const xmlChar *)text));
}

void
lv_set(xmlNodePtr node, const char *name, const char *value)
{
    if (value) {
        xcheck(xmlNewProp(node, (const xmlChar *)name,
                          (const xmlChar *)value));
    }
}

/* A new document whose root is an element NAME. */
xmlDocPtr
lv_doc(const char *name, xmlNodePtr *root)
{
    xmlDocPtr doc = xcheck(xmlNewDoc((const xmlChar *)"1.0"));

    *root = xcheck(xmlNewNode(NULL, (const xmlChar *)name));
    xmlDocSetRootElement(doc, *root);
    return doc;
}

/* Serialise NODE of DOC without an XML declaration, indented when
 * FORMAT; caller frees.
 */
char *
lv_dump_fmt(xmlDocPtr doc, xmlNodePtr node, int format)
{
    xmlBufferPtr buf = xcheck(xmlBufferCreate());
    char *s;

    /* Our own tree: only memory can fail it. */
    if (xmlNodeDump(buf, doc, node, 0, format) < 0) {
        xcheck(NULL);
    }
    s = xstrdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return s;
}

static char *
lv_dump(xmlDocPtr doc, xmlNodePtr node)
{
    return lv_dump_fmt(doc, node, 1);
}

/* Add the <disk> element of DISK, as virtio disk TARGET, to PARENT. */
static int
lv_disk_el(xmlNodePtr parent, const struct hv_disk *disk,
           const char *target, struct error **errp)
{
    struct stat sb;
    xmlNodePtr el, n;
    bool block;

    if (disk->path == NULL || disk->path[0] != '/') {
        error_setg(errp, ERR_INVALID, "disk path '%s' is not absolute",
                   disk->path ? disk->path : "");
        return -1;
    }
    if (!lv_word(disk->format)) {
        error_setg(errp, ERR_INVALID, "bad disk format '%s'",
                   disk->format ? disk->format : "");
        return -1;
    }
    if (stat(disk->path, &sb) < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO,
                         errno, "disk %s", disk->path);
        return -1;
    }
    block = S_ISBLK(sb.st_mode);
    el = lv_el(parent, "disk", NULL);
    lv_set(el, "type", block ? "block" : "file");
    lv_set(el, "device", "disk");
    n = lv_el(el, "driver", NULL);
    lv_set(n, "name", "qemu");
    lv_set(n, "type", disk->format);
    n = lv_el(el, "source", NULL);
    lv_set(n, block ? "dev" : "file", disk->path);
    n = lv_el(el, "target", NULL);
    lv_set(n, "dev", target);
    lv_set(n, "bus", "virtio");
    if (disk->serial && disk->serial[0]) {
        lv_el(el, "serial", disk->serial);
    }
    if (disk->readonly) {
        lv_el(el, "readonly", NULL);
    }
    return 0;
}

char *
lv_disk_xml(const struct hv_disk *disk, const char *target,
            struct error **errp)
{
    xmlNodePtr root;
    xmlDocPtr doc = lv_doc("devices", &root);
    char *xml = NULL;

    if (lv_disk_el(root, disk, target, errp) == 0) {
        xml = lv_dump(doc, root->children);
    }
    xmlFreeDoc(doc);
    return xml;
}

char *
lv_domain_xml(const struct lv *lv, const struct hv_domain *d,
              struct error **errp)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr dom, n, os, devs, cpu, inst;
    bool kvm;
    char num[32];
    char *text = NULL;
    CLEANUP_FREE char *console = NULL;
    size_t i;

    if (d->accel == NULL ||
        (strcmp(d->accel, "kvm") != 0 && strcmp(d->accel, "tcg") != 0)) {
        error_setg(errp, ERR_INVALID, "accelerator must be kvm or tcg, not "
                   "'%s'", d->accel ? d->accel : "");
        goto out;
    }
    kvm = strcmp(d->accel, "kvm") == 0;
    console = util_path_join(d->state_dir, "console.log");
    doc = lv_doc("domain", &dom);
    lv_set(dom, "type", kvm ? "kvm" : "qemu");
    lv_el(dom, "name", d->name);
    lv_el(dom, "uuid", d->id);
    n = lv_el(dom, "metadata", NULL);
    inst = lv_el(n, "instance", NULL);
    xmlSetNs(inst, xcheck(xmlNewNs(inst, (const xmlChar *)HV_LIBVIRT_NS,
                                   (const xmlChar *)HV_LIBVIRT_NS_PREFIX)));
    lv_set(inst, "managed", "yes");
    snprintf(num, sizeof(num), "%lld", (long long)d->memory_mb);
    n = lv_el(dom, "memory", num);
    lv_set(n, "unit", "MiB");
    snprintf(num, sizeof(num), "%d", d->cpus);
    lv_el(dom, "vcpu", num);
    os = lv_el(dom, "os", NULL);
    n = lv_el(os, "type", "hvm");
    lv_set(n, "arch", "x86_64");
    lv_set(n, "machine", "q35");
    if (d->kernel) {
        lv_el(os, "kernel", d->kernel);
        if (d->initrd) {
            lv_el(os, "initrd", d->initrd);
        }
        lv_el(os, "cmdline", d->cmdline ? d->cmdline : LV_DEFAULT_CMDLINE);
    } else {
        n = lv_el(os, "boot", NULL);
        lv_set(n, "dev", "hd");
    }
    n = lv_el(dom, "features", NULL);
    lv_el(n, "acpi", NULL);
    lv_el(n, "apic", NULL);
    /* Under TCG a named model (GUIDE.md: qemu64 boots, -cpu host does
     * not exist); under KVM the host's CPU, as Nova's default.
     */
    cpu = lv_el(dom, "cpu", NULL);
    if (kvm) {
        lv_set(cpu, "mode", "host-passthrough");
    } else {
        lv_set(cpu, "mode", "custom");
        lv_set(cpu, "match", "exact");
        n = lv_el(cpu, "model", "qemu64");
        lv_set(n, "fallback", "allow");
    }
    n = lv_el(dom, "clock", NULL);
    lv_set(n, "offset", "utc");
    lv_el(dom, "on_poweroff", "destroy");
    lv_el(dom, "on_reboot", "restart");
    lv_el(dom, "on_crash", "destroy");
    devs = lv_el(dom, "devices", NULL);
    if (lv->cfg && lv->cfg->qemu && lv->cfg->qemu[0] == '/') {
        lv_el(devs, "emulator", lv->cfg->qemu);
    }
    for (i = 0; i < d->ndisks; i++) {
        char target[16];

        lv_vd_name((int)i, target);
        if (lv_disk_el(devs, &d->disks[i], target, errp) < 0) {
            goto out;
        }
    }
    if (d->agent) {
        n = lv_el(devs, "channel", NULL);
        lv_set(n, "type", "unix");
        n = lv_el(n, "target", NULL);
        lv_set(n, "type", "virtio");
        lv_set(n, "name", LV_AGENT_CHANNEL);
    }
    n = lv_el(devs, "serial", NULL);
    lv_set(n, "type", "file");
    lv_set(lv_el(n, "source", NULL), "path", console);
    lv_set(lv_el(n, "target", NULL), "port", "0");
    /* No <graphics> (libvirt 9.0 refuses type='none'), no video. */
    n = lv_el(devs, "video", NULL);
    lv_set(lv_el(n, "model", NULL), "type", "none");
    n = lv_el(devs, "memballoon", NULL);
    lv_set(n, "model", "none");
    text = lv_dump(doc, dom);
out:
    xmlFreeDoc(doc);
    return text;
}

char *
lv_meta_xml(bool managed, const struct hv_prop *props, size_t n,
            struct error **errp)
{
    xmlNodePtr el;
    xmlDocPtr doc = lv_doc("instance", &el);
    char *s;
    size_t i;

    if (managed) {
        lv_set(el, "managed", "yes");
    }
    for (i = 0; i < n; i++) {
        if (!lv_word(props[i].name)) {
            xmlFreeDoc(doc);
            error_setg(errp, ERR_INVALID, "bad property name '%s'",
                       props[i].name);
            return NULL;
        }
        lv_set(lv_el(el, "property", props[i].value), "name",
               props[i].name);
    }
    /* One line: libvirt keeps it as given, inside its own indenting. */
    s = lv_dump_fmt(doc, el, 0);
    xmlFreeDoc(doc);
    return s;
}

char *
lv_detach_xml(const struct lv_xdisk *d)
{
    xmlNodePtr el;
    xmlDocPtr doc = lv_doc("disk", &el);
    char *s;

    lv_set(el, "type", d->block ? "block" : "file");
    lv_set(el, "device", "disk");
    lv_set(lv_el(el, "source", NULL), d->block ? "dev" : "file", d->path);
    lv_set(lv_el(el, "target", NULL), "dev", d->target);
    s = lv_dump(doc, el);
    xmlFreeDoc(doc);
    return s;
}
