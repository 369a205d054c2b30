/* vmsnap tests: the libvirt driver's domain XML (hv-libvirt-xml.c),
 * without libvirtd: what it reads from a domain's XML and what it writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "hv-libvirt-priv.h"
#include "tap.h"
#include "util.h"

/* An administrator's domain: a CD-ROM without media, a file disk, a
 * network disk, a block device that boots first, a read-only raw file
 * with a serial, the agent channel, and metadata of vmsnap and of
 * another tool.
 */
static const char *const domain1 =
    "<domain type='kvm'><name>web1</name>"
    "<metadata>"
    "<other:instance xmlns:other='http://example.com/x' managed='yes'/>"
    "<vmsnap:instance xmlns:vmsnap='" HV_LIBVIRT_NS "'>"
    "<vmsnap:property name='os_require_quiesce'>yes</vmsnap:property>"
    "<vmsnap:property name='hw_qemu_guest_agent'>yes</vmsnap:property>"
    "</vmsnap:instance></metadata>"
    "<devices>"
    "<disk type='file' device='cdrom'><target dev='sda' bus='sata'/>"
    "<readonly/></disk>"
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
    "<source file='/var/lib/libvirt/images/data.qcow2'/>"
    "<target dev='vdb' bus='virtio'/></disk>"
    "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
    "<source protocol='rbd' name='pool/img'/>"
    "<target dev='vdc' bus='virtio'/></disk>"
    "<disk type='block' device='disk'><driver name='qemu' type='raw'/>"
    "<source dev='/dev/vg/root'/><target dev='vda' bus='virtio'/>"
    "<boot order='1'/></disk>"
    "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
    "<source file='/srv/ro.raw'/><target dev='vde' bus='virtio'/>"
    "<serial>abc123</serial><readonly/></disk>"
    "<channel type='unix'><target type='virtio' "
    "name='org.qemu.guest_agent.0'/></channel>"
    "</devices></domain>";

/* No boot order, no agent, no metadata: the first disk is the root. */
static const char *const domain2 =
    "<domain type='qemu'><name>db</name><devices>"
    "<disk type='file'><source file='/a.qcow2'/><target dev='vdb'/>"
    "<driver type='qcow2'/></disk>"
    "<disk type='file' device='disk'><source file='/b.raw'/>"
    "<target dev='vda'/></disk>"
    "<channel type='unix'><target type='virtio' name='org.other'/>"
    "</channel>"
    "</devices></domain>";

static void
test_parse(void)
{
    struct lv_xdom x;
    struct error *err = NULL;

    ok(lv_xdom_parse(domain1, &x, NULL) == 0, "parse an administrator's "
                                              "domain");
    ok(x.ndisks == 3, "three disks to copy (no CD-ROM, no network disk)");
    ok(x.ndisks == 3 && strcmp(x.disks[0].target, "vda") == 0 &&
           x.disks[0].block && x.disks[0].boot == 1 &&
           strcmp(x.disks[0].path, "/dev/vg/root") == 0 &&
           strcmp(x.disks[0].format, "raw") == 0,
       "root first: the block device with boot order 1");
    ok(x.ndisks == 3 && strcmp(x.disks[1].target, "vdb") == 0 &&
           strcmp(x.disks[1].format, "qcow2") == 0 && !x.disks[1].block,
       "then the others in XML order: vdb");
    ok(x.ndisks == 3 && strcmp(x.disks[2].target, "vde") == 0 &&
           x.disks[2].readonly && x.disks[2].serial &&
           strcmp(x.disks[2].serial, "abc123") == 0,
       "vde: read-only, its serial");
    ok(x.ntargets == 5 && strcmp(x.targets[0], "sda") == 0 &&
           strcmp(x.targets[2], "vdc") == 0,
       "every disk's target is known, for the backup XML");
    ok(x.agent, "the agent channel");
    ok(!x.managed, "another tool's managed='yes' is not ours");
    ok(x.nprops == 2 && strcmp(x.props[0].name, "os_require_quiesce") == 0 &&
           strcmp(x.props[0].value, "yes") == 0 &&
           strcmp(x.props[1].name, "hw_qemu_guest_agent") == 0,
       "properties from vmsnap's metadata");
    ok(lv_xdom_find(&x, "/var/lib/libvirt/images/data.qcow2") ==
           &x.disks[1],
       "find a disk by its path");
    ok(lv_xdom_find(&x, "/nowhere") == NULL, "no disk at another path");
    lv_xdom_clear(&x);

    ok(lv_xdom_parse(domain2, &x, NULL) == 0 && x.ndisks == 2 &&
           strcmp(x.disks[0].target, "vdb") == 0 &&
           strcmp(x.disks[1].format, "") == 0,
       "without boot orders the first disk is the root; no driver: no "
       "format");
    ok(!x.agent && !x.managed && x.nprops == 0,
       "no agent channel of that name, no metadata");
    lv_xdom_clear(&x);

    ok(lv_xdom_parse("<domain><devices>", &x, &err) < 0 &&
           error_get_class(err) == ERR_PROTOCOL,
       "malformed XML: ERR_PROTOCOL");
    error_free(err);
    err = NULL;
    ok(lv_xdom_parse("<network/>", &x, &err) < 0, "not a domain: refused");
    error_free(err);
}

static void
test_names(void)
{
    static const struct {
        int n;
        const char *name;
    } cases[] = {
        {0, "vda"},   {1, "vdb"},    {25, "vdz"},   {26, "vdaa"},
        {27, "vdab"}, {701, "vdzz"}, {702, "vdaaa"},
    };
    char name[16];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lv_vd_name(cases[i].n, name);
        ok(strcmp(name, cases[i].name) == 0, "disk %d is %s (%s)",
           cases[i].n, cases[i].name, name);
    }
}

/* True if the text of element N is TEXT. */
static bool
text_is(xmlNodePtr n, const char *text)
{
    xmlChar *c = n ? xmlNodeGetContent(n) : NULL;
    bool r = c && strcmp((const char *)c, text) == 0;

    xmlFree(c);
    return r;
}

/* True if attribute NAME of N is VALUE. */
static bool
attr_is(xmlNodePtr n, const char *name, const char *value)
{
    xmlChar *c = n ? xmlGetProp(n, (const xmlChar *)name) : NULL;
    bool r = c && strcmp((const char *)c, value) == 0;

    xmlFree(c);
    return r;
}

/* The first element NAME at or under NODE (depth first). */
static xmlNodePtr
find_el(xmlNodePtr node, const char *name)
{
    for (; node; node = node->next) {
        xmlNodePtr r;

        if (node->type == XML_ELEMENT_NODE &&
            strcmp((const char *)node->name, name) == 0) {
            return node;
        }
        r = find_el(node->children, name);
        if (r) {
            return r;
        }
    }
    return NULL;
}

static void
test_build(const char *dir)
{
    char root[512], data[512], link[512];
    struct hv_disk disks[2] = {
        {.index = 0, .path = root, .format = "qcow2"},
        {.index = 1, .path = data, .format = "raw", .serial = "vol-1",
         .readonly = true},
    };
    struct hv_domain d = {
        .id = "0b6a5c2e-4d0e-4f59-9a53-2d9b1d1f0a11",
        .name = "web <1> & co",
        .cpus = 2,
        .memory_mb = 512,
        .accel = "tcg",
        .kernel = "/boot/vmlinuz",
        .initrd = "/boot/initrd.img",
        .cmdline = "root=/dev/vda",
        .disks = disks,
        .ndisks = 2,
        .agent = true,
        .state_dir = dir,
    };
    struct lv lv = {.uri = (char *)"qemu:///system"};
    struct error *err = NULL;
    struct lv_xdom x;
    xmlDocPtr doc;
    xmlNodePtr n;
    char *xml;
    FILE *f;

    snprintf(root, sizeof(root), "%s/root.qcow2", dir);
    snprintf(data, sizeof(data), "%s/data.raw", dir);
    snprintf(link, sizeof(link), "%s/link.raw", dir);
    f = fopen(root, "w");
    if (f) {
        fclose(f);
    }
    f = fopen(data, "w");
    if (f) {
        fclose(f);
    }
    if (symlink(data, link) < 0) {
        perror("symlink");
    }

    xml = lv_domain_xml(&lv, &d, &err);
    ok(xml != NULL, "build the definition of an hv_domain: %s",
       xml ? "" : error_msg(err));
    if (xml == NULL) {
        error_free(err);
        return;
    }
    doc = xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, XML_PARSE_NONET);
    n = doc ? xmlDocGetRootElement(doc) : NULL;
    ok(attr_is(n, "type", "qemu"), "tcg: domain type qemu");
    n = doc ? find_el(doc->children, "name") : NULL;
    ok(text_is(n, "web <1> & co"), "the name survives XML escaping");
    n = doc ? find_el(doc->children, "model") : NULL;
    ok(text_is(n, "qemu64"), "tcg: CPU model qemu64");
    ok(doc && find_el(doc->children, "graphics") == NULL &&
           find_el(doc->children, "kernel") != NULL &&
           find_el(doc->children, "acpi") != NULL,
       "no graphics; direct kernel boot; ACPI for clean shutdowns");
    ok(strstr(xml, "console.log") != NULL && strstr(xml, dir) != NULL,
       "the console goes to the state directory");
    xmlFreeDoc(doc);

    ok(lv_xdom_parse(xml, &x, NULL) == 0 && x.managed && x.agent &&
           x.ndisks == 2 && strcmp(x.disks[0].target, "vda") == 0 &&
           strcmp(x.disks[0].path, root) == 0 &&
           strcmp(x.disks[1].target, "vdb") == 0 &&
           strcmp(x.disks[1].format, "raw") == 0 &&
           strcmp(x.disks[1].serial, "vol-1") == 0 && x.disks[1].readonly,
       "read back: managed, agent, vda and vdb with format, serial, "
       "read-only");
    ok(lv_xdom_find(&x, link) == &x.disks[1],
       "a disk is found through a symlink to its path");
    lv_xdom_clear(&x);
    free(xml);

    d.accel = "hvf";
    ok(lv_domain_xml(&lv, &d, &err) == NULL &&
           error_get_class(err) == ERR_INVALID,
       "an unknown accelerator is refused");
    error_free(err);
    err = NULL;
    d.accel = "kvm";
    xml = lv_domain_xml(&lv, &d, NULL);
    ok(xml && strstr(xml, "type=\"kvm\"") &&
           strstr(xml, "host-passthrough"),
       "kvm: domain type kvm, the host's CPU");
    free(xml);
    disks[1].path = "relative.raw";
    ok(lv_domain_xml(&lv, &d, &err) == NULL &&
           error_get_class(err) == ERR_INVALID,
       "a relative disk path is refused");
    error_free(err);
    err = NULL;
    snprintf(data, sizeof(data), "%s/missing.raw", dir);
    disks[1].path = data;
    ok(lv_domain_xml(&lv, &d, &err) == NULL &&
           error_get_class(err) == ERR_NOT_FOUND,
       "a missing disk file: ERR_NOT_FOUND");
    error_free(err);
    err = NULL;
    disks[1].format = "raw,file=/etc/shadow";
    ok(lv_domain_xml(&lv, &d, &err) == NULL &&
           error_get_class(err) == ERR_INVALID,
       "a format that is not a plain word is refused");
    error_free(err);

    xml = lv_disk_xml(&disks[0], "vdf", NULL);
    ok(xml && strstr(xml, "<target dev=\"vdf\" bus=\"virtio\"/>") &&
           strncmp(xml, "<disk", 5) == 0,
       "hot-plug XML: one <disk> on the name asked");
    free(xml);
    {
        struct lv_xdisk xd = {.target = (char *)"vdc",
                              .path = (char *)"/dev/sdz", .block = true};

        xml = lv_detach_xml(&xd);
        ok(xml && strstr(xml, "type=\"block\"") &&
               strstr(xml, "dev=\"/dev/sdz\"") &&
               strstr(xml, "<target dev=\"vdc\"/>"),
           "detach XML names the block device and its target");
        free(xml);
    }
    unlink(link);
    unlink(root);
    snprintf(data, sizeof(data), "%s/data.raw", dir);
    unlink(data);
}

/* vmsnap's metadata element as set_prop writes it, read back as a
 * domain's metadata.
 */
static void
test_meta(void)
{
    struct hv_prop props[2] = {
        {(char *)"os_require_quiesce", (char *)"yes"},
        {(char *)"note", (char *)"a <b> & c"},
    };
    struct error *err = NULL;
    struct lv_xdom x;
    char *xml = lv_meta_xml(true, props, 2, &err);
    char *dom;

    ok(xml && strncmp(xml, "<instance managed=\"yes\">", 24) == 0,
       "metadata element: managed kept");
    dom = util_strdup_printf("<domain><metadata>"
                             "<instance xmlns='%s'%s"
                             "</metadata></domain>",
                             HV_LIBVIRT_NS, xml ? xml + 9 : ">");
    ok(dom && lv_xdom_parse(dom, &x, NULL) == 0 && x.managed &&
           x.nprops == 2 &&
           strcmp(x.props[0].name, "os_require_quiesce") == 0 &&
           strcmp(x.props[0].value, "yes") == 0 &&
           strcmp(x.props[1].value, "a <b> & c") == 0,
       "read back: both properties, the value escaped and restored");
    lv_xdom_clear(&x);
    free(dom);
    free(xml);
    xml = lv_meta_xml(false, NULL, 0, NULL);
    ok(xml && strcmp(xml, "<instance/>") == 0,
       "no properties, not managed: an empty element");
    free(xml);
    props[1].name = (char *)"a b";
    ok(lv_meta_xml(false, props, 2, &err) == NULL &&
           error_get_class(err) == ERR_INVALID,
       "a property name that is not a word is refused");
    error_free(err);
}

int
main(void)
{
    char dir[] = "/tmp/vmsnap-lvxml.XXXXXX";

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_parse();
    test_names();
    test_build(dir);
    test_meta();
    rmdir(dir);
    return tap_done();
}
