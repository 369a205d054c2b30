/* Tests of the ovf module: OVA packages written and read back with the
 * real qemu-img (skipped when it is not installed), and damaged or
 * hostile packages that must be refused without leaving files behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <openssl/evp.h>

#include "cleanup.h"
#include "error.h"
#include "ovf.h"
#include "qemuimg.h"
#include "run.h"
#include "tap.h"

#define KiB 1024
#define MiB (1024 * 1024)
#define MAX_MEMBERS 16

static char dir[] = "/tmp/vmsnap-test-ovf.XXXXXX";
static bool have_qemu_io;

/* DIR/NAME in a static buffer (one of eight, rotating). */
static const char *
p(const char *name)
{
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];

    snprintf(b, PATH_MAX, "%s/%s", dir, name);
    return b;
}

static bool
err_has(struct error *err, enum error_class cls, const char *part)
{
    if (err == NULL) {
        diag("no error set");
        return false;
    }
    if (error_get_class(err) != cls || strstr(error_msg(err), part) == NULL) {
        diag("got class %d: %s", error_get_class(err), error_msg(err));
        return false;
    }
    diag("refused: %s", error_msg(err));
    return true;
}

/* Number of entries in directory PATH (not . and ..), -1 on error. */
static int
count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Write a raw image of SIZE bytes with a pattern of SEED in its first
 * 64 KiB and at its middle, and convert it to qcow2 at QCOW2.
 */
static bool
make_disk(const char *qcow2, const char *raw, int64_t size, unsigned seed)
{
    unsigned char block[64 * KiB];
    struct error *err = NULL;
    size_t i;
    int fd;
    bool r;

    for (i = 0; i < sizeof(block); i++) {
        block[i] = (unsigned char)(i * 7 + seed);
    }
    fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    r = fd >= 0 && ftruncate(fd, size) == 0 &&
        pwrite(fd, block, sizeof(block), 0) == sizeof(block) &&
        pwrite(fd, block, sizeof(block), size / 2) == sizeof(block);
    if (fd >= 0) {
        close(fd);
    }
    if (r &&
        qemuimg_convert(raw, "raw", qcow2, "qcow2", NULL, NULL, &err) < 0) {
        diag("convert: %s", error_msg(err));
        error_free(err);
        r = false;
    }
    return r;
}

/* qemu-img compare: true when both images hold the same data. */
static bool
same_image(const char *a, const char *afmt, const char *b, const char *bfmt)
{
    const char *argv[] = {"qemu-img", "compare", "-q", "-f", afmt,
                          "-F",       bfmt,      a,    b,    NULL};
    struct error *err = NULL;

    if (run_check(argv, 60000, NULL, &err) < 0) {
        diag("compare %s %s: %s", a, b, error_msg(err));
        error_free(err);
        return false;
    }
    return true;
}

/* ---- OVA members in memory, for reading and tampering ---- */

struct member {
    char *name;
    unsigned char *data;
    size_t len;
    bool symlink; /* write as a symbolic link to "target" */
};

struct ova {
    struct member m[MAX_MEMBERS];
    size_t n;
};

static void
ova_clear(struct ova *o)
{
    size_t i;

    for (i = 0; i < o->n; i++) {
        free(o->m[i].name);
        free(o->m[i].data);
    }
    memset(o, 0, sizeof(*o));
}

static bool
ova_read(const char *path, struct ova *o)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    bool r = true;

    memset(o, 0, sizeof(*o));
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 10240) != ARCHIVE_OK) {
        archive_read_free(a);
        return false;
    }
    while (archive_read_next_header(a, &e) == ARCHIVE_OK &&
           o->n < MAX_MEMBERS) {
        struct member *m = &o->m[o->n++];
        size_t size = (size_t)archive_entry_size(e);

        m->name = strdup(archive_entry_pathname(e));
        m->data = malloc(size + 1);
        m->len = size;
        if (m->name == NULL || m->data == NULL ||
            archive_read_data(a, m->data, size) != (la_ssize_t)size) {
            r = false;
            break;
        }
    }
    archive_read_free(a);
    return r;
}

static bool
ova_write(const char *path, const struct ova *o)
{
    struct archive *a = archive_write_new();
    bool r = true;
    size_t i;

    unlink(path);
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
        archive_write_free(a);
        return false;
    }
    for (i = 0; i < o->n && r; i++) {
        struct archive_entry *e = archive_entry_new();

        archive_entry_set_pathname(e, o->m[i].name);
        archive_entry_set_perm(e, 0644);
        if (o->m[i].symlink) {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, "target");
            archive_entry_set_size(e, 0);
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (la_int64_t)o->m[i].len);
        }
        r = archive_write_header(a, e) == ARCHIVE_OK &&
            (o->m[i].symlink ||
             archive_write_data(a, o->m[i].data, o->m[i].len) ==
                 (la_ssize_t)o->m[i].len);
        archive_entry_free(e);
    }
    r = archive_write_close(a) == ARCHIVE_OK && r;
    archive_write_free(a);
    return r;
}

static void
sha256_hex(const unsigned char *data, size_t len, char hex[65])
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    EVP_Digest(data, len, bin, &n, EVP_sha256(), NULL);
    for (i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", bin[i]);
    }
}

/* Rewrite the manifest (member 1) to match every other member. */
static void
ova_fix_manifest(struct ova *o)
{
    char *text = NULL;
    size_t len = 0, i;
    FILE *fp = open_memstream(&text, &len);

    for (i = 0; i < o->n; i++) {
        char hex[65];

        if (i == 1) {
            continue;
        }
        sha256_hex(o->m[i].data, o->m[i].len, hex);
        fprintf(fp, "SHA256(%s)= %s\n", o->m[i].name, hex);
    }
    fclose(fp);
    free(o->m[1].data);
    o->m[1].data = (unsigned char *)text;
    o->m[1].len = len;
}

/* Replace the first FROM in the text of member I by TO. */
static bool
ova_replace(struct ova *o, size_t i, const char *from, const char *to)
{
    struct member *m = &o->m[i];
    char *hit;
    size_t fl = strlen(from), tl = strlen(to), off;
    unsigned char *nd;

    m->data[m->len] = '\0';
    hit = strstr((char *)m->data, from);
    if (hit == NULL) {
        diag("\"%s\" not found in %s", from, m->name);
        return false;
    }
    off = (size_t)(hit - (char *)m->data);
    nd = malloc(m->len - fl + tl + 1);
    memcpy(nd, m->data, off);
    memcpy(nd + off, to, tl);
    memcpy(nd + off + tl, m->data + off + fl, m->len - off - fl);
    free(m->data);
    m->data = nd;
    m->len = m->len - fl + tl;
    return true;
}

/* In member 0, replace the value that follows ANCHOR (which ends in an
 * opening quote) up to the closing quote by VALUE.
 */
static bool
ova_set_value(struct ova *o, const char *anchor, const char *value)
{
    struct member *m = &o->m[0];
    char old[256], new[256];
    char *s, *e;

    m->data[m->len] = '\0';
    s = strstr((char *)m->data, anchor);
    e = s != NULL ? strchr(s + strlen(anchor), '"') : NULL;
    if (e == NULL || e - s > 200) {
        diag("%s not found", anchor);
        return false;
    }
    snprintf(old, sizeof(old), "%.*s", (int)(e + 1 - s), s);
    snprintf(new, sizeof(new), "%s%s\"", anchor, value);
    return ova_replace(o, 0, old, new);
}

/* Replace the data of M by the contents of file PATH. */
static bool
read_file(const char *path, struct member *m)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char *data;
    struct stat st;
    bool r;

    if (fd < 0 || fstat(fd, &st) < 0) {
        return false;
    }
    data = malloc((size_t)st.st_size + 1);
    r = data != NULL &&
        pread(fd, data, (size_t)st.st_size, 0) == (ssize_t)st.st_size;
    close(fd);
    if (!r) {
        free(data);
        return false;
    }
    free(m->data);
    m->data = data;
    m->len = (size_t)st.st_size;
    return true;
}

/* ---- The package under test ---- */

static struct ovf_prop props[] = {
    {"architecture", "x86_64"},
    {"hw_qemu_guest_agent", "yes"},
    {"instance_uuid", "5a3c7f0e-8d2b-4e7a-9c11-0f6b2d4e8a90"},
    {"description", "two lines\nwith <xml> & \"quotes\""},
};

static struct ovf_disk disks[2];

static struct ovf_package pkg = {
    .name = "web1 snap",
    .cpus = 2,
    .memory_mb = 512,
    .os_type = "linux",
    .props = props,
    .nprops = sizeof(props) / sizeof(props[0]),
    .disks = disks,
    .ndisks = 2,
};

static bool
setup_disks(void)
{
    struct error *err = NULL;
    const char *qemu_io[] = {
        "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1536k 64k", NULL, NULL};

    if (!make_disk(p("d1.qcow2"), p("d1.raw"), 1 * MiB, 3) ||
        !make_disk(p("d2-base.qcow2"), p("d2.raw"), 2 * MiB, 11)) {
        return false;
    }
    /* The second disk is an overlay: export must flatten the chain. */
    if (qemuimg_create_overlay(p("d2.qcow2"), p("d2-base.qcow2"), "qcow2",
                               &err) < 0) {
        diag("overlay: %s", error_msg(err));
        error_free(err);
        return false;
    }
    if (have_qemu_io) {
        qemu_io[5] = p("d2.qcow2");
        if (run_check(qemu_io, 30000, NULL, &err) < 0) {
            diag("qemu-io: %s", error_msg(err));
            error_free(err);
            return false;
        }
    }
    disks[0] =
        (struct ovf_disk){.file = strdup(p("d1.qcow2")),
                          .format = "qcow2",
                          .role = "root",
                          .name = "web1-snap",
                          .ref_id = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"};
    disks[1] =
        (struct ovf_disk){.file = strdup(p("d2.qcow2")),
                          .format = "qcow2",
                          .role = "volume",
                          .name = "data",
                          .ref_id = "9f8e7d6c-5b4a-4392-8170-6e5d4c3b2a19"};
    return true;
}

static void
on_progress(const char *phase, double pct, void *opaque)
{
    int *bad = opaque;

    if (pct < 0 || pct > 100 ||
        (strcmp(phase, "convert") != 0 && strcmp(phase, "checksum") != 0 &&
         strcmp(phase, "package") != 0)) {
        (*bad)++;
    }
}

/* Count the nodes XPATH selects in DOC (ovf, rasd, vmsnap registered). */
static int
xcount(xmlXPathContextPtr ctx, const char *xpath)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST xpath, ctx);
    int n = -1;

    if (o != NULL && o->type == XPATH_NODESET) {
        n = o->nodesetval != NULL ? o->nodesetval->nodeNr : 0;
    }
    xmlXPathFreeObject(o);
    return n;
}

/* The string value of XPATH in DOC ("" if none); caller frees. */
static char *
xstr(xmlXPathContextPtr ctx, const char *xpath)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST xpath, ctx);
    xmlChar *s = o != NULL ? xmlXPathCastToString(o) : NULL;
    char *r = strdup(s != NULL ? (char *)s : "");

    xmlFree(s);
    xmlXPathFreeObject(o);
    return r;
}

static void
check_descriptor(const struct member *m, const char *fmt_uri)
{
    xmlDocPtr doc = xmlReadMemory((const char *)m->data, (int)m->len, NULL,
                                  NULL, XML_PARSE_NONET);
    xmlXPathContextPtr ctx;

    if (!ok(doc != NULL, "descriptor is well-formed XML")) {
        return;
    }
    ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, BAD_CAST "ovf", BAD_CAST OVF_NS_ENVELOPE);
    xmlXPathRegisterNs(ctx, BAD_CAST "rasd", BAD_CAST OVF_NS_RASD);
    xmlXPathRegisterNs(ctx, BAD_CAST "vmsnap", BAD_CAST OVF_NS_VMSNAP);
    {
        CLEANUP_FREE char *cpus =
            xstr(ctx, "//ovf:Item[rasd:ResourceType=3]/rasd:VirtualQuantity");
        CLEANUP_FREE char *mem =
            xstr(ctx, "//ovf:Item[rasd:ResourceType=4]/rasd:VirtualQuantity");
        CLEANUP_FREE char *units =
            xstr(ctx, "//ovf:Item[rasd:ResourceType=4]/rasd:AllocationUnits");
        CLEANUP_FREE char *ctl =
            xstr(ctx, "//ovf:Item[rasd:ResourceType=20]/rasd:InstanceID");
        CLEANUP_FREE char *host2 =
            xstr(ctx, "//ovf:Item[rasd:ResourceType=17][rasd:AddressOnParent=1]"
                      "/rasd:HostResource");
        CLEANUP_FREE char *cap1 =
            xstr(ctx, "/ovf:Envelope/ovf:DiskSection/ovf:Disk[@ovf:diskId="
                      "'disk1']/@ovf:capacity");
        CLEANUP_FREE char *fmt =
            xstr(ctx, "/ovf:Envelope/ovf:DiskSection/ovf:Disk[2]/@ovf:format");
        CLEANUP_FREE char *units1 =
            xstr(ctx, "//ovf:Disk[1]/@ovf:capacityAllocationUnits");
        CLEANUP_FREE char *name = xstr(ctx, "//ovf:VirtualSystem/ovf:Name");
        CLEANUP_FREE char *desc =
            xstr(ctx, "//vmsnap:Property[@key='description']");
        CLEANUP_FREE char *req =
            xstr(ctx, "//vmsnap:ImagePropertiesSection/@ovf:required");
        char parents[64];

        ok(cpus && strcmp(cpus, "2") == 0, "descriptor: 2 CPUs (got %s)", cpus);
        ok(mem && strcmp(mem, "512") == 0 && strcmp(units, "byte * 2^20") == 0,
           "descriptor: 512 MiB of memory (got %s %s)", mem, units);
        ok(xcount(ctx, "//ovf:Item[rasd:ResourceType=17]") == 2,
           "descriptor: two disk Items");
        snprintf(parents, sizeof(parents),
                 "//ovf:Item[rasd:ResourceType=17][rasd:Parent=%s]", ctl);
        ok(ctl[0] != '\0' && xcount(ctx, parents) == 2,
           "descriptor: both disks hang on the controller (InstanceID %s)",
           ctl);
        ok(strcmp(host2, "ovf:/disk/disk2") == 0,
           "descriptor: address 1 is ovf:/disk/disk2 (got %s)", host2);
        ok(strcmp(cap1, "1048576") == 0 && strcmp(units1, "byte") == 0,
           "descriptor: disk1 capacity 1048576 bytes (got %s %s)", cap1,
           units1);
        ok(strcmp(fmt, fmt_uri) == 0, "descriptor: format URI %s", fmt);
        ok(xcount(ctx, "/ovf:Envelope/ovf:References/ovf:File[@ovf:size]") == 2,
           "descriptor: two File references with sizes");
        ok(strcmp(name, "web1 snap") == 0, "descriptor: name");
        ok(strcmp(desc, props[3].value) == 0,
           "descriptor: a property with newline and markup kept");
        ok(strcmp(req, "false") == 0 &&
               xcount(ctx, "//vmsnap:Disk[@role='volume'][@name='data']") == 1,
           "descriptor: our section is optional and records disk roles");
    }
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
}

/* Export PKG in FMT into OVA (PATH_MAX bytes), check the tar and the
 * descriptor, import it back and compare.  False if there is no package.
 */
static bool
round_trip(const char *fmt, const char *uri, char *ova)
{
    char wd[PATH_MAX], in[PATH_MAX], part[PATH_MAX], names[4][80];
    struct ovf_package *got = NULL;
    struct error *err = NULL;
    int bad = 0;
    struct progress prog = {.fn = on_progress, .opaque = &bad};
    struct ova o;
    size_t i;

    snprintf(ova, PATH_MAX, "%s/web1-%s.ova", dir, fmt);
    snprintf(part, sizeof(part), "%s.part", ova);
    snprintf(wd, sizeof(wd), "%s/scratch-%s", dir, fmt);
    snprintf(in, sizeof(in), "%s/in-%s", dir, fmt);
    mkdir(wd, 0755);
    mkdir(in, 0755);

    if (!ok(ovf_export(&pkg, ova, fmt, wd, &prog, &err) == 0, "export in %s",
            fmt)) {
        diag("%s", error_msg(err));
        error_free(err);
        return false;
    }
    ok(count_entries(wd) == 0 && access(part, F_OK) < 0,
       "%s: no scratch files and no .part left", fmt);
    ok(bad == 0, "%s: progress phases and percentages valid", fmt);

    snprintf(names[0], sizeof(names[0]), "web1_snap.ovf");
    snprintf(names[1], sizeof(names[1]), "web1_snap.mf");
    snprintf(names[2], sizeof(names[2]), "web1_snap-disk1.%s", fmt);
    snprintf(names[3], sizeof(names[3]), "web1_snap-disk2.%s", fmt);
    if (ok(ova_read(ova, &o) && o.n == 4, "%s: tar has 4 members", fmt)) {
        for (i = 0; i < 4; i++) {
            ok(strcmp(o.m[i].name, names[i]) == 0, "%s: member %zu is %s", fmt,
               i + 1, o.m[i].name);
        }
        o.m[1].data[o.m[1].len] = '\0';
        {
            char hex[65], line[200];

            sha256_hex(o.m[2].data, o.m[2].len, hex);
            snprintf(line, sizeof(line), "SHA256(%s)= %s\n", names[2], hex);
            ok(strstr((char *)o.m[1].data, line) != NULL &&
                   strncmp((char *)o.m[1].data,
                           "SHA256(web1_snap.ovf)= ", 23) == 0,
               "%s: manifest lists the descriptor and the disks", fmt);
        }
        check_descriptor(&o.m[0], uri);
    }
    ova_clear(&o);

    if (!ok(ovf_import(ova, in, &got, &err) == 0, "import of %s", fmt)) {
        diag("%s", error_msg(err));
        error_free(err);
        return true;
    }
    ok(strcmp(got->name, "web1 snap") == 0 && got->cpus == 2 &&
           got->memory_mb == 512 && got->os_type &&
           strcmp(got->os_type, "linux") == 0,
       "%s: name, CPUs, memory and os_type come back", fmt);
    ok(got->nprops == pkg.nprops, "%s: %zu properties", fmt, got->nprops);
    for (i = 0; i < got->nprops && i < pkg.nprops; i++) {
        ok(strcmp(got->props[i].key, props[i].key) == 0 &&
               strcmp(got->props[i].value, props[i].value) == 0,
           "%s: property %s", fmt, props[i].key);
    }
    if (ok(got->ndisks == 2, "%s: two disks", fmt)) {
        ok(got->disks[0].capacity == 1 * MiB &&
               got->disks[1].capacity == 2 * MiB,
           "%s: capacities", fmt);
        ok(strcmp(got->disks[0].role, "root") == 0 &&
               strcmp(got->disks[1].role, "volume") == 0 &&
               strcmp(got->disks[1].name, "data") == 0 &&
               strcmp(got->disks[0].ref_id, disks[0].ref_id) == 0,
           "%s: roles, names and references", fmt);
        ok(strcmp(got->disks[0].format, fmt) == 0 &&
               strncmp(got->disks[0].file, in, strlen(in)) == 0,
           "%s: files are in the workdir, format %s", fmt,
           got->disks[0].format);
        ok(same_image(disks[0].file, "qcow2", got->disks[0].file, fmt) &&
               same_image(disks[1].file, "qcow2", got->disks[1].file, fmt),
           "%s: disk contents equal the originals", fmt);
    }
    ovf_package_free(got);
    return true;
}

/* Import the tampered package O (written to a fresh file) and expect
 * refusal with class CLS and a message containing PART, and an empty
 * workdir afterwards.
 */
static void
expect_refused(const struct ova *o, enum error_class cls, const char *part,
               const char *what)
{
    static int serial;
    char ova[PATH_MAX], wd[PATH_MAX];
    struct ovf_package *got = NULL;
    struct error *err = NULL;

    serial++;
    snprintf(ova, sizeof(ova), "%s/bad%d.ova", dir, serial);
    snprintf(wd, sizeof(wd), "%s/bad%d", dir, serial);
    mkdir(wd, 0755);
    if (o != NULL && !ova_write(ova, o)) {
        ok(false, "%s: cannot write the tampered package", what);
        return;
    }
    if (o == NULL) {
        snprintf(ova, sizeof(ova), "%s/truncated.ova", dir);
    }
    ok(ovf_import(ova, wd, &got, &err) == -1 && got == NULL &&
           err_has(err, cls, part),
       "%s: refused", what);
    ok(count_entries(wd) == 0, "%s: workdir left empty", what);
    error_free(err);
    ovf_package_free(got);
}

static void
test_refusals(const char *vmdk_ova, const char *qcow2_ova)
{
    struct ova o;
    struct stat st;

    /* One byte changed in a disk member. */
    if (ova_read(vmdk_ova, &o)) {
        o.m[2].data[o.m[2].len / 2] ^= 0x01;
        expect_refused(&o, ERR_INVALID,
                       "manifest: checksum mismatch for web1_snap-disk1.vmdk",
                       "a byte changed in disk 1");
    }
    ova_clear(&o);

    /* One byte changed in the descriptor. */
    if (ova_read(vmdk_ova, &o) &&
        ova_replace(&o, 0, "<rasd:VirtualQuantity>512<",
                    "<rasd:VirtualQuantity>513<")) {
        expect_refused(&o, ERR_INVALID,
                       "manifest: checksum mismatch for web1_snap.ovf",
                       "a byte changed in the descriptor");
    }
    ova_clear(&o);

    /* A member that climbs out of the workdir. */
    if (ova_read(vmdk_ova, &o)) {
        free(o.m[3].name);
        o.m[3].name = strdup("../web1_snap-disk2.vmdk");
        expect_refused(&o, ERR_INVALID, "is not a plain file name",
                       "member name with ../");
    }
    ova_clear(&o);

    /* An absolute member name. */
    if (ova_read(vmdk_ova, &o)) {
        free(o.m[2].name);
        o.m[2].name = strdup("/tmp/web1_snap-disk1.vmdk");
        expect_refused(&o, ERR_INVALID, "is not a plain file name",
                       "absolute member name");
    }
    ova_clear(&o);

    /* A manifest without the second disk. */
    if (ova_read(vmdk_ova, &o)) {
        char *line;

        o.m[1].data[o.m[1].len] = '\0';
        line = strstr((char *)o.m[1].data, "SHA256(web1_snap-disk2");
        if (line != NULL) {
            *line = '\0';
            o.m[1].len = strlen((char *)o.m[1].data);
        }
        expect_refused(&o, ERR_INVALID,
                       "manifest: file web1_snap-disk2.vmdk is not listed",
                       "missing manifest entry");
    }
    ova_clear(&o);

    /* A truncated tar: cut in the middle of the last disk. */
    {
        const char *cp[] = {"cp", vmdk_ova, p("truncated.ova"), NULL};
        struct error *err = NULL;

        if (stat(vmdk_ova, &st) == 0 && run_check(cp, 10000, NULL, &err) == 0 &&
            truncate(p("truncated.ova"), st.st_size - 20 * KiB) == 0) {
            expect_refused(NULL, ERR_INVALID, "package: ", "truncated tar");
        } else {
            ok(false, "cannot make a truncated copy");
            error_free(err);
        }
    }

    /* A member the manifest does not list. */
    if (ova_read(vmdk_ova, &o)) {
        o.m[o.n].name = strdup("extra.txt");
        o.m[o.n].data = (unsigned char *)strdup("hello\n");
        o.m[o.n].len = 6;
        o.n++;
        expect_refused(&o, ERR_INVALID,
                       "member extra.txt is not listed in the manifest",
                       "extra member");
    }
    ova_clear(&o);

    /* A disk member missing from the tar. */
    if (ova_read(vmdk_ova, &o)) {
        o.n--;
        free(o.m[o.n].name);
        free(o.m[o.n].data);
        expect_refused(&o, ERR_INVALID,
                       "file web1_snap-disk2.vmdk listed in the manifest is "
                       "missing",
                       "missing disk member");
    }
    ova_clear(&o);

    /* The manifest first. */
    if (ova_read(vmdk_ova, &o)) {
        struct member t = o.m[0];

        o.m[0] = o.m[1];
        o.m[1] = t;
        expect_refused(&o, ERR_INVALID, "is not an OVF descriptor",
                       "manifest before the descriptor");
    }
    ova_clear(&o);

    /* A symbolic link in place of a disk. */
    if (ova_read(vmdk_ova, &o)) {
        o.m[3].symlink = true;
        expect_refused(&o, ERR_INVALID, "is not a regular file",
                       "symbolic link member");
    }
    ova_clear(&o);

    /* Consistent manifest, hostile descriptor: entities. */
    if (ova_read(vmdk_ova, &o) &&
        ova_replace(&o, 0, "<Envelope",
                    "<!DOCTYPE Envelope [<!ENTITY a \"aaaaaaaaaa\">"
                    "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n<Envelope") &&
        ova_replace(&o, 0, ">web1 snap</Name>", ">&b;</Name>")) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "DOCTYPE is not allowed",
                       "descriptor with a DTD and entities");
    }
    ova_clear(&o);

    /* Consistent manifest, a Disk pointing at a File that is not there. */
    if (ova_read(vmdk_ova, &o) &&
        ova_replace(&o, 0, "ovf:fileRef=\"file2\"", "ovf:fileRef=\"file9\"")) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID,
                       "descriptor: Disk disk2 references unknown file file9",
                       "Disk with an unknown fileRef");
    }
    ova_clear(&o);

    /* Consistent manifest, a disk Item naming no Disk. */
    if (ova_read(vmdk_ova, &o) &&
        ova_replace(&o, 0, "ovf:/disk/disk2<", "ovf:/disk/disk7<")) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "names unknown Disk disk7",
                       "disk Item naming an unknown Disk");
    }
    ova_clear(&o);

    /* Consistent manifest, not XML at all. */
    if (ova_read(vmdk_ova, &o) &&
        ova_replace(&o, 0, "</Envelope>", "</Envelop>")) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "not well-formed XML",
                       "malformed descriptor");
    }
    ova_clear(&o);

    /* Consistent manifest, a qcow2 disk declared as VMDK. */
    if (ova_read(qcow2_ova, &o) &&
        ova_replace(&o, 0, OVF_FORMAT_QCOW2, OVF_FORMAT_VMDK_STREAM)) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "is not a sparse VMDK",
                       "qcow2 disk declared as VMDK");
    }
    ova_clear(&o);

    /* Consistent manifest, a VMDK whose sparse header has capacity 0, so
     * that QEMU would read its embedded descriptor as a descriptor file,
     * whose extents may name any host file (CVE-2024-32498).
     */
    if (ova_read(vmdk_ova, &o) && o.n > 2 && o.m[2].len > 20) {
        memset(o.m[2].data + 12, 0, 8);
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "capacity 0",
                       "VMDK deferring to an embedded descriptor");
    }
    ova_clear(&o);

    /* Consistent manifest, a wrong capacity. */
    if (ova_read(qcow2_ova, &o) &&
        ova_replace(&o, 0, "ovf:capacity=\"1048576\"",
                    "ovf:capacity=\"2097152\"")) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "the descriptor says 2097152",
                       "capacity that does not match the image");
    }
    ova_clear(&o);

    /* Consistent manifest, disk 2 replaced by a qcow2 overlay whose
     * backing file is on this host.
     */
    if (ova_read(qcow2_ova, &o) && read_file(p("d2.qcow2"), &o.m[3])) {
        char size[32];

        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "has ovf:size",
                       "member size differs from ovf:size");
        snprintf(size, sizeof(size), "%zu", o.m[3].len);
        if (ova_set_value(&o, "ovf:id=\"file2\" ovf:size=\"", size)) {
            ova_fix_manifest(&o);
            expect_refused(&o, ERR_INVALID, "has a backing file",
                           "qcow2 disk with a backing file");
        }
    }
    ova_clear(&o);

    /* Not a tar at all. */
    {
        struct ovf_package *got = NULL;
        struct error *err = NULL;

        mkdir(p("nottar"), 0755);
        ok(ovf_import(p("d1.raw"), p("nottar"), &got, &err) == -1 &&
               err_has(err, ERR_INVALID, "package: "),
           "a raw disk image is not a package");
        error_free(err);
    }
}

static void
test_export_errors(const char *vmdk_ova)
{
    struct ovf_package bad = pkg;
    struct ovf_disk d[2];
    struct error *err = NULL;

    mkdir(p("scratch-err"), 0755);
    ok(ovf_export(&pkg, vmdk_ova, "vmdk", p("scratch-err"), NULL, &err) == -1 &&
           err_has(err, ERR_CONFLICT, "already exists"),
       "export onto an existing package: ERR_CONFLICT");
    error_free(err);
    err = NULL;

    ok(ovf_export(&pkg, p("x.ova"), "raw", p("scratch-err"), NULL, &err) ==
               -1 &&
           err_has(err, ERR_INVALID, "not supported"),
       "export in raw format: ERR_INVALID");
    error_free(err);
    err = NULL;

    memcpy(d, disks, sizeof(d));
    d[1].role = "root";
    bad.disks = d;
    ok(ovf_export(&bad, p("x.ova"), NULL, p("scratch-err"), NULL, &err) == -1 &&
           err_has(err, ERR_INVALID, "root disk must be the first"),
       "a root disk in second place: ERR_INVALID");
    error_free(err);
    err = NULL;

    memcpy(d, disks, sizeof(d));
    d[1].file = (char *)p("no-such.qcow2");
    ok(ovf_export(&bad, p("x.ova"), NULL, p("scratch-err"), NULL, &err) == -1 &&
           err_has(err, ERR_NOT_FOUND, "no-such.qcow2"),
       "a missing source image: ERR_NOT_FOUND");
    error_free(err);
    err = NULL;
    ok(access(p("x.ova"), F_OK) < 0 && access(p("x.ova.part"), F_OK) < 0 &&
           count_entries(p("scratch-err")) == 0,
       "failed exports leave nothing behind");

    memcpy(d, disks, sizeof(d));
    d[0].capacity = 12345;
    ok(ovf_export(&bad, p("x.ova"), NULL, p("scratch-err"), NULL, &err) == -1 &&
           err_has(err, ERR_INVALID, "capacity 12345"),
       "a capacity that does not match the image: ERR_INVALID");
    error_free(err);
    err = NULL;

    bad.disks = disks;
    bad.props = (struct ovf_prop[]){{"k", "v"}, {"k", "w"}};
    bad.nprops = 2;
    ok(ovf_export(&bad, p("x.ova"), NULL, p("scratch-err"), NULL, &err) == -1 &&
           err_has(err, ERR_INVALID, "property k given twice"),
       "a duplicate property: ERR_INVALID");
    error_free(err);
    err = NULL;

    bad.props = (struct ovf_prop[]){{"k", "bell\a"}};
    bad.nprops = 1;
    ok(ovf_export(&bad, p("x.ova"), NULL, p("scratch-err"), NULL, &err) == -1 &&
           err_has(err, ERR_INVALID, "not printable"),
       "a control character in a value: ERR_INVALID");
    error_free(err);
    err = NULL;

    /* A stale .part from a dead export (audit L8) no longer blocks a new
     * one: the package is written to an unnamed file.
     */
    {
        int fd = open(p("y.ova.part"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

        if (fd >= 0) {
            close(fd);
        }
        ok(ovf_export(&pkg, p("y.ova"), "qcow2", p("scratch-err"), NULL,
                      &err) == 0 &&
               access(p("y.ova"), F_OK) == 0 &&
               count_entries(p("scratch-err")) == 0,
           "a stale .part left by a dead export does not block an export");
        error_free(err);
        err = NULL;
        unlink(p("y.ova"));
        unlink(p("y.ova.part"));
    }

    /* Import into a workdir that is not empty. */
    {
        struct ovf_package *got = NULL;

        ok(ovf_import(vmdk_ova, dir, &got, &err) == -1 &&
               err_has(err, ERR_INVALID, "not empty"),
           "import into a non-empty workdir: ERR_INVALID");
        error_free(err);
        err = NULL;
        mkdir(p("empty"), 0755);
        ok(ovf_import(p("none.ova"), p("empty"), &got, &err) == -1 &&
               err_has(err, ERR_NOT_FOUND, "none.ova"),
           "import of a missing package: ERR_NOT_FOUND");
        error_free(err);
    }
}

/* ---- Plain files (a kernel and a ramdisk) ---- */

/* Write LEN bytes of a pattern of SEED to a new file PATH. */
static bool
make_plain(const char *path, size_t len, unsigned seed)
{
    unsigned char *b = malloc(len);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t i;
    bool r;

    for (i = 0; b != NULL && i < len; i++) {
        b[i] = (unsigned char)((i * 13 + seed) ^ (i >> 9));
    }
    r = b != NULL && fd >= 0 && write(fd, b, len) == (ssize_t)len;
    if (fd >= 0) {
        close(fd);
    }
    free(b);
    return r;
}

/* True if the files A and B hold the same bytes. */
static bool
same_file(const char *a, const char *b)
{
    struct member ma = {0}, mb = {0};
    bool r = read_file(a, &ma) && read_file(b, &mb) && ma.len == mb.len &&
             memcmp(ma.data, mb.data, ma.len) == 0;

    free(ma.data);
    free(mb.data);
    return r;
}

static struct ovf_file files[2];

/* Export the test package with a kernel and a ramdisk in qcow2 into
 * OVA (PATH_MAX bytes), check the members and the descriptor, import it
 * back.  False if there is no package.
 */
static bool
files_round_trip(char *ova)
{
    struct ovf_package fp = pkg;
    struct ovf_package *got = NULL;
    struct error *err = NULL;
    static const char *const names[] = {
        "web1_snap.ovf",          "web1_snap.mf",
        "web1_snap-disk1.qcow2",  "web1_snap-disk2.qcow2",
        "web1_snap-kernel.bin",   "web1_snap-ramdisk.bin",
    };
    struct ova o;
    size_t i;

    if (!ok(make_plain(p("kernel"), 300 * KiB + 7, 5) &&
                make_plain(p("ramdisk"), 70 * KiB, 9),
            "plain files made")) {
        return false;
    }
    files[0] = (struct ovf_file){.path = (char *)strdup(p("kernel")),
                                 .role = "kernel",
                                 .name = "web1-kernel",
                                 .ref_id =
                                     "7d2e4f60-1a2b-4c3d-8e9f-0a1b2c3d4e5f"};
    files[1] = (struct ovf_file){.path = (char *)strdup(p("ramdisk")),
                                 .role = "ramdisk"};
    fp.files = files;
    fp.nfiles = 2;
    snprintf(ova, PATH_MAX, "%s/files.ova", dir);
    mkdir(p("scratch-files"), 0755);
    mkdir(p("in-files"), 0755);
    if (!ok(ovf_export(&fp, ova, "qcow2", p("scratch-files"), NULL, &err) ==
                0,
            "export with a kernel and a ramdisk")) {
        diag("%s", error_msg(err));
        error_free(err);
        return false;
    }
    ok(count_entries(p("scratch-files")) == 0,
       "files: no scratch files left");
    if (ok(ova_read(ova, &o) && o.n == 6, "files: tar has 6 members")) {
        bool order = true;

        for (i = 0; i < 6; i++) {
            order = order && strcmp(o.m[i].name, names[i]) == 0;
        }
        ok(order, "files: descriptor, manifest, disks, kernel, ramdisk");
        o.m[1].data[o.m[1].len] = '\0';
        ok(strstr((char *)o.m[1].data, "SHA256(web1_snap-kernel.bin)= ") !=
                   NULL &&
               strstr((char *)o.m[1].data,
                      "SHA256(web1_snap-ramdisk.bin)= ") != NULL,
           "files: the manifest lists both plain files");
        {
            xmlDocPtr doc = xmlReadMemory((const char *)o.m[0].data,
                                          (int)o.m[0].len, NULL, NULL,
                                          XML_PARSE_NONET);
            xmlXPathContextPtr ctx = xmlXPathNewContext(doc);

            xmlXPathRegisterNs(ctx, BAD_CAST "ovf", BAD_CAST OVF_NS_ENVELOPE);
            xmlXPathRegisterNs(ctx, BAD_CAST "rasd", BAD_CAST OVF_NS_RASD);
            xmlXPathRegisterNs(ctx, BAD_CAST "vmsnap",
                               BAD_CAST OVF_NS_VMSNAP);
            ok(xcount(ctx, "/ovf:Envelope/ovf:References/ovf:File") == 4 &&
                   xcount(ctx, "//ovf:DiskSection/ovf:Disk") == 2 &&
                   xcount(ctx, "//ovf:Item[rasd:ResourceType=17]") == 2,
               "files: four Files, but two Disks and two disk Items");
            ok(xcount(ctx, "//vmsnap:File[@fileRef='file3'][@role='kernel']"
                           "[@name='web1-kernel']") == 1 &&
                   xcount(ctx, "//vmsnap:File[@fileRef='file4']"
                               "[@role='ramdisk']") == 1,
               "files: our section declares them with roles");
            xmlXPathFreeContext(ctx);
            xmlFreeDoc(doc);
        }
    }
    ova_clear(&o);

    if (!ok(ovf_import(ova, p("in-files"), &got, &err) == 0,
            "files: import")) {
        diag("%s", error_msg(err));
        error_free(err);
        return true;
    }
    if (ok(got->nfiles == 2 && got->ndisks == 2, "files: two plain files")) {
        ok(strcmp(got->files[0].role, "kernel") == 0 &&
               strcmp(got->files[0].name, "web1-kernel") == 0 &&
               strcmp(got->files[0].ref_id, files[0].ref_id) == 0 &&
               strcmp(got->files[1].role, "ramdisk") == 0 &&
               got->files[1].name == NULL && got->files[1].ref_id == NULL,
           "files: roles, names and references come back");
        ok(same_file(got->files[0].path, p("kernel")) &&
               same_file(got->files[1].path, p("ramdisk")),
           "files: contents byte for byte");
        ok(strncmp(got->files[0].path, p("in-files"),
                   strlen(p("in-files"))) == 0,
           "files: extracted into the workdir");
    }
    ovf_package_free(got);
    return true;
}

static void
test_file_refusals(const char *ova)
{
    struct ovf_package bad = pkg;
    struct ovf_file f[2];
    struct error *err = NULL;
    struct ova o;

    if (ova_read(ova, &o)) {
        o.m[4].data[o.m[4].len / 3] ^= 0x20;
        expect_refused(&o, ERR_INVALID,
                       "manifest: checksum mismatch for web1_snap-kernel.bin",
                       "a byte changed in the kernel");
    }
    ova_clear(&o);

    if (ova_read(ova, &o) &&
        ova_replace(&o, 0, "<vmsnap:File fileRef=\"file4\"",
                    "<vmsnap:Other fileRef=\"file4\"")) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID,
                       "File file4 is not used by any Disk nor declared",
                       "a plain file our section does not declare");
    }
    ova_clear(&o);

    if (ova_read(ova, &o) &&
        ova_replace(&o, 0, "role=\"ramdisk\"", "role=\"bootloader\"")) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "has no valid role",
                       "a plain file of an unknown role");
    }
    ova_clear(&o);

    if (ova_read(ova, &o) &&
        ova_replace(&o, 0, "role=\"ramdisk\"", "role=\"kernel\"")) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "two vmsnap:File of role kernel",
                       "two kernels");
    }
    ova_clear(&o);

    if (ova_read(ova, &o) &&
        ova_replace(&o, 0, "<vmsnap:File fileRef=\"file3\"",
                    "<vmsnap:File fileRef=\"file2\"")) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "also used by a Disk",
                       "a vmsnap:File naming a disk's File");
    }
    ova_clear(&o);

    if (ova_read(ova, &o) &&
        ova_replace(&o, 0, "<vmsnap:File fileRef=\"file3\"",
                    "<vmsnap:File fileRef=\"file9\"")) {
        ova_fix_manifest(&o);
        expect_refused(&o, ERR_INVALID, "vmsnap:File names unknown file",
                       "a vmsnap:File naming no File");
    }
    ova_clear(&o);

    mkdir(p("scratch-ferr"), 0755);
    bad.files = f;
    bad.nfiles = 2;
    memcpy(f, files, sizeof(f));
    f[1].role = "initrd";
    ok(ovf_export(&bad, p("z.ova"), NULL, p("scratch-ferr"), NULL, &err) ==
               -1 &&
           err_has(err, ERR_INVALID, "role must be kernel or ramdisk"),
       "export of a plain file of an unknown role: ERR_INVALID");
    error_free(err);
    err = NULL;

    memcpy(f, files, sizeof(f));
    f[1].role = "kernel";
    ok(ovf_export(&bad, p("z.ova"), NULL, p("scratch-ferr"), NULL, &err) ==
               -1 &&
           err_has(err, ERR_INVALID, "two plain files of role kernel"),
       "export of two kernels: ERR_INVALID");
    error_free(err);
    err = NULL;

    memcpy(f, files, sizeof(f));
    f[1].path = (char *)p("no-such-ramdisk");
    ok(ovf_export(&bad, p("z.ova"), "qcow2", p("scratch-ferr"), NULL, &err) ==
               -1 &&
           err_has(err, ERR_NOT_FOUND, "no-such-ramdisk"),
       "export of a missing plain file: ERR_NOT_FOUND");
    error_free(err);
    err = NULL;

    memcpy(f, files, sizeof(f));
    f[0].path = (char *)p("scratch-ferr");
    ok(ovf_export(&bad, p("z.ova"), "qcow2", p("scratch-ferr"), NULL, &err) ==
               -1 &&
           err_has(err, ERR_INVALID, "not a regular file"),
       "export of a directory as a plain file: ERR_INVALID");
    error_free(err);
    ok(access(p("z.ova"), F_OK) < 0 && access(p("z.ova.part"), F_OK) < 0 &&
           count_entries(p("scratch-ferr")) == 0,
       "failed exports with plain files leave nothing behind");
}

int
main(void)
{
    const char *version[] = {"qemu-img", "--version", NULL};
    const char *io_version[] = {"qemu-io", "--version", NULL};
    const char *rm[] = {"rm", "-rf", dir, NULL};
    char vmdk_ova[PATH_MAX], qcow2_ova[PATH_MAX], files_ova[PATH_MAX];
    bool have_vmdk, have_qcow2;
    struct error *err = NULL;

    qemuimg_set_program(NULL);
    if (run_check(version, 10000, NULL, &err) < 0) {
        printf("1..0 # SKIP qemu-img not usable: %s\n", error_msg(err));
        error_free(err);
        return 0;
    }
    have_qemu_io = run_check(io_version, 10000, NULL, &err) == 0;
    error_free(err);
    err = NULL;
    if (mkdtemp(dir) == NULL) {
        diag("mkdtemp failed");
        return 1;
    }
    if (!ok(setup_disks(), "test disks made%s",
            have_qemu_io ? " (overlay written with qemu-io)" : "")) {
        return tap_done();
    }

    /* Both round trips run even if the first fails. */
    have_vmdk = round_trip("vmdk", OVF_FORMAT_VMDK_STREAM, vmdk_ova);
    have_qcow2 = round_trip("qcow2", OVF_FORMAT_QCOW2, qcow2_ova);
    if (have_vmdk && have_qcow2) {
        test_refusals(vmdk_ova, qcow2_ova);
        test_export_errors(vmdk_ova);
    }
    if (files_round_trip(files_ova)) {
        test_file_refusals(files_ova);
    }

    free(disks[0].file);
    free(disks[1].file);
    free(files[0].path);
    free(files[1].path);
    if (chdir("/") < 0 || run_check(rm, 30000, NULL, &err) < 0) {
        diag("cleanup of %s failed", dir);
        error_free(err);
    }
    return tap_done();
}
