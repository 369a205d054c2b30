/* vmsnap tests: servers a driver found rather than vmsnap created
 * (servers.h, "Adopted servers"), against the fake driver (hv-fake.h)
 * showing domains as libvirt shows an administrator's, with the real
 * catalog, store and qemu-img: adoption on sight, the record following
 * its domain, delete refused unless forced, the per-domain
 * os_require_quiesce, snapshots of every disk of such a domain, live and
 * cold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "hv-fake.h"
#include "images.h"
#include "props.h"
#include "qemuimg.h"
#include "recover.h"
#include "run.h"
#include "runner.h"
#include "servers.h"
#include "snapshot.h"
#include "svc.h"
#include "tap.h"
#include "task.h"
#include "volumes.h"
#include "xalloc.h"

#define WEB1 "6f1c1d6e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"
#define DB1 "0d9e8f7a-6b5c-4d3e-9f2a-1b0c9d8e7f6a"

static char data_dir[] = "/tmp/vmsnap-adopt.XXXXXX";
static struct config *cfg;
static struct svc *svc;
static char root_file[256], data_file[256];

static const struct caller *
me(void)
{
    return svc_local_caller(svc);
}

/* Server REF as the catalog has it now, or NULL. */
static struct instance *
server(const char *ref)
{
    struct instance *inst = NULL;

    if (servers_find(svc, me(), ref, &inst, NULL) < 0) {
        return NULL;
    }
    return inst;
}

/* How many servers a listing shows; -1 when it fails. */
static int
count_servers(void)
{
    struct instance **list = NULL;
    size_t n = 0;

    if (servers_list(svc, me(), &list, &n, NULL) < 0) {
        return -1;
    }
    instance_list_free(list, n);
    return (int)n;
}

/* Snapshot SERVER into NAME (with ALL disks), in this process. */
static int
snapshot(const char *ref, const char *name, bool all, struct error **errp)
{
    struct snapshot_opts so = {.name = name, .all_volumes = all};
    struct image *img = NULL;
    struct task *t = NULL;
    int r;

    if (snapshot_request(svc, me(), ref, &so, &img, &t, errp) < 0) {
        return -1;
    }
    r = runner_run(svc, t->id, 0, NULL, errp);
    image_free(img);
    task_free(t);
    return r;
}

/* Property KEY of image NAME, "" when it has none, "?" when no image. */
static char *
image_p(const char *name, const char *key)
{
    struct image *img = NULL;
    char *v;

    if (images_find(svc, me(), name, &img, NULL) < 0) {
        return xstrdup("?");
    }
    v = xstrdup(image_prop(img, key) ? image_prop(img, key) : "");
    image_free(img);
    return v;
}

static void
test_adopt(void)
{
    const char *paths[] = {root_file, data_file};
    struct instance *inst;
    struct servers_domain sd, again;
    struct error *err = NULL;
    int r;

    fake_hv_add(WEB1, "web1", paths, 2, true, false);
    ok(count_servers() == 1, "a listing adopts the domain the driver shows");
    inst = server("web1");
    ok(inst && strcmp(inst->id, WEB1) == 0 && inst->image_id == NULL &&
           servers_is_adopted(inst) && servers_has_agent(inst) &&
           inst->cpus == 1 && inst->memory_mb == 256,
       "its record: the domain's UUID and name, no image, adopted, agent");
    r = servers_domain(svc, inst, &sd, &err);
    ok(r == 0 && sd.d.ndisks == 2 &&
           strcmp(sd.d.disks[0].path, root_file) == 0 &&
           strcmp(sd.d.disks[0].format, "qcow2") == 0 &&
           strcmp(sd.d.disks[1].path, data_file) == 0 &&
           strcmp(sd.d.disks[1].format, "raw") == 0 && sd.nown == 1 &&
           sd.nvols == 0 && util_is_uuid(sd.d.disks[1].id),
       "its domain: the driver's disks, root first, the other its own%s%s",
       err ? ": " : "", err ? error_msg(err) : "");
    error_free(err);
    err = NULL;
    ok(servers_domain(svc, inst, &again, NULL) == 0 &&
           strcmp(again.d.disks[1].id, sd.d.disks[1].id) == 0 &&
           strcmp(sd.d.disks[1].id, WEB1) != 0,
       "the data disk's ID is the same every time (%s)",
       sd.d.disks[1].id ? sd.d.disks[1].id : "none");
    servers_domain_clear(&again);
    servers_domain_clear(&sd);
    instance_free(inst);

    inst = server(DB1);
    ok(inst == NULL, "an unknown UUID is not found");
    fake_hv_add(DB1, "db1", paths, 1, false, false);
    inst = server("db1");
    ok(inst && strcmp(inst->id, DB1) == 0,
       "looking up a domain not listed yet adopts it");
    instance_free(inst);

    free(fake_hv.found[1].name);
    fake_hv.found[1].name = xstrdup("db2");
    fake_hv.found[1].cpus = 2;
    fake_hv_prop(DB1, PROP_OS_REQUIRE_QUIESCE, "yes");
    ok(count_servers() == 2, "both listed");
    inst = server(DB1);
    ok(inst && strcmp(inst->name, "db2") == 0 && inst->cpus == 2 &&
           servers_requires_quiesce(inst),
       "the record follows its domain: renamed, resized, "
       "os_require_quiesce");
    instance_free(inst);
    fake_hv_prop(DB1, PROP_OS_REQUIRE_QUIESCE, NULL);
    count_servers();
    inst = server(DB1);
    ok(inst && !servers_requires_quiesce(inst),
       "and when the property goes, it goes from the record");
    instance_free(inst);

    catalog_instance_set_task(svc_catalog(svc), DB1, NULL, "image_snapshot",
                              NULL);
    fake_hv_remove(DB1);
    ok(count_servers() == 2 && (inst = server(DB1)) != NULL,
       "a domain gone while a task holds its record: the record stays");
    instance_free(inst);
    catalog_instance_set_task(svc_catalog(svc), DB1, "image_snapshot", NULL,
                              NULL);
    ok(count_servers() == 1 && server(DB1) == NULL,
       "once idle, a domain gone takes its record with it");
}

static void
test_props_and_delete(void)
{
    struct instance *inst;
    struct error *err = NULL;
    int r;

    ok(servers_set_property(svc, me(), "web1", PROP_OS_REQUIRE_QUIESCE,
                            "yes", &err) == 0 &&
           fake_hv.found[0].nprops == 1 &&
           strcmp(fake_hv.found[0].props[0].value, "yes") == 0,
       "server set: os_require_quiesce goes into the domain");
    error_free(err);
    err = NULL;
    inst = server("web1");
    ok(inst && servers_requires_quiesce(inst), "and into its record");
    instance_free(inst);
    ok(servers_set_property(svc, me(), "web1", "hw_cdrom_bus", "ide",
                            &err) < 0 &&
           error_get_class(err) == ERR_INVALID,
       "another property is refused");
    error_free(err);
    err = NULL;
    ok(servers_set_property(svc, me(), "web1", PROP_OS_REQUIRE_QUIESCE,
                            "maybe", &err) < 0 &&
           error_get_class(err) == ERR_INVALID,
       "a value other than yes or no is refused");
    error_free(err);
    err = NULL;
    servers_set_property(svc, me(), "web1", PROP_OS_REQUIRE_QUIESCE, "no",
                         NULL);

    r = servers_delete(svc, me(), "web1", &err);
    ok(r < 0 && error_get_class(err) == ERR_CONFLICT &&
           strstr(error_msg(err), "--force") && fake_hv.nfound == 1 &&
           (inst = server("web1")) != NULL,
       "delete refuses a domain vmsnap did not create (%s)",
       err ? error_msg(err) : "no error");
    instance_free(inst);
    error_free(err);
    err = NULL;
}

/* The data disk holds a mark to find in the copies. */
static bool
copy_has_mark(const char *qcow2)
{
    CLEANUP_FREE char *raw = xasprintf("%s/mark.raw", data_dir);
    const char *argv[] = {"qemu-img", "convert", "-O", "raw", qcow2, raw,
                          NULL};
    char buf[16] = "";
    FILE *f;

    if (run_check(argv, 60000, NULL, NULL) < 0 ||
        (f = fopen(raw, "r")) == NULL) {
        return false;
    }
    if (fread(buf, 1, 8, f) != 8) {
        buf[0] = '\0';
    }
    fclose(f);
    unlink(raw);
    return strncmp(buf, "vmsnap-m", 8) == 0;
}

static void
test_snapshots(void)
{
    struct error *err = NULL;
    struct image *img = NULL;
    struct volume_snapshot **vs = NULL;
    CLEANUP_FREE char *v = NULL;
    CLEANUP_FREE char *path = NULL;
    size_t n = 0;
    int r;

    snprintf(fake_hv.status, sizeof(fake_hv.status), "ACTIVE");
    r = snapshot("web1", "w-live", true, &err);
    ok(r == 0,
       "a live snapshot of every disk of an adopted server%s%s",
       err ? ": " : "", err ? error_msg(err) : "");
    error_free(err);
    err = NULL;
    ok(images_find(svc, me(), "w-live", &img, NULL) == 0 &&
           strcmp(img->status, "active") == 0 &&
           strcmp(image_prop(img, PROP_INSTANCE_UUID), WEB1) == 0 &&
           image_prop(img, PROP_BASE_IMAGE_REF) == NULL &&
           strcmp(image_prop(img, PROP_HW_QEMU_GUEST_AGENT), "yes") == 0 &&
           strcmp(image_prop(img, PROP_VMSNAP_QUIESCED), "yes") == 0,
       "its image: instance_uuid the domain's, no base_image_ref, the "
       "agent, quiesced");
    ok(img && img->nbdm == 1 && img->bdm[0].device_index == 1 &&
           img->bdm[0].volume_name &&
           strcmp(img->bdm[0].volume_name, "vdb") == 0 &&
           img->bdm[0].size == 8 << 20,
       "its block_device_mapping: the data disk, named vdb, 8 MiB");
    ok(img && volumes_snapshot_list(svc, me(), img->id, &vs, &n, NULL) == 0 &&
           n == 1 && strcmp(vs[0]->status, "available") == 0 &&
           vs[0]->size == 8 << 20 &&
           volumes_snapshot_path(svc, vs[0], &path, NULL) == 0 &&
           copy_has_mark(path),
       "the data disk's snapshot is available, 8 MiB, holds its data");
    volume_snapshot_list_free(vs, n);
    image_free(img);
    img = NULL;

    fake_hv_prop(WEB1, PROP_OS_REQUIRE_QUIESCE, "yes");
    fake_hv.fail = FAKE_AGENT_FREEZE;
    ok(snapshot("web1", "w-must", true, &err) < 0 && err &&
           strstr(error_msg(err), "os_require_quiesce"),
       "os_require_quiesce on the domain: no snapshot without a freeze");
    error_free(err);
    err = NULL;
    ok(images_find(svc, me(), "w-must", &img, NULL) < 0 && !fake_hv.frozen,
       "no image left, the guest thawed");
    fake_hv_prop(WEB1, PROP_OS_REQUIRE_QUIESCE, NULL);
    ok(snapshot("web1", "w-cc", false, &err) == 0 &&
           strcmp((v = image_p("w-cc", PROP_VMSNAP_QUIESCED)), "no") == 0,
       "without it: crash-consistent");
    error_free(err);
    err = NULL;
    fake_hv.fail = FAKE_NONE;

    snprintf(fake_hv.status, sizeof(fake_hv.status), "SHUTOFF");
    fake_hv.clean_off = 1;
    free(v);
    r = snapshot("web1", "w-cold", true, &err);
    ok(r == 0 &&
           strcmp((v = image_p("w-cold", PROP_VMSNAP_MODE)), "cold") == 0,
       "shut off: a cold copy of every disk%s%s", err ? ": " : "",
       err ? error_msg(err) : "");
    error_free(err);
    err = NULL;
    free(v);
    v = image_p("w-cold", PROP_VMSNAP_QUIESCED);
    ok(strcmp(v, "yes") == 0,
       "the driver says the guest powered itself off: consistent");
    fake_hv.clean_off = -1;
    fake_hv_prop(WEB1, PROP_OS_REQUIRE_QUIESCE, "yes");
    ok(snapshot("web1", "w-cold2", false, &err) < 0 && err &&
           strstr(error_msg(err), "not shut down cleanly"),
       "forced off, with os_require_quiesce: refused");
    error_free(err);
    fake_hv_prop(WEB1, PROP_OS_REQUIRE_QUIESCE, NULL);
    fake_hv.clean_off = 0;
    snprintf(fake_hv.status, sizeof(fake_hv.status), "ACTIVE");
}

static void
test_forced_delete(void)
{
    struct error *err = NULL;
    int r = servers_delete_flags(svc, me(), "web1", SERVERS_DELETE_FORCE,
                                 &err);

    ok(r == 0 && fake_hv.forced == 1 && fake_hv.nfound == 0,
       "delete --force: the domain destroyed and undefined%s%s",
       err ? ": " : "", err ? error_msg(err) : "");
    error_free(err);
    ok(server("web1") == NULL && count_servers() == 0,
       "and its record gone");
    ok(access(root_file, F_OK) == 0 && access(data_file, F_OK) == 0,
       "its disks are not touched");
}

int
main(void)
{
    struct error *err = NULL;
    FILE *f;

    if (mkdtemp(data_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    cfg = config_load("/dev/null", &err);
    if (cfg == NULL || config_set(cfg, "data_dir", data_dir, &err) < 0) {
        fprintf(stderr, "config: %s\n", error_msg(err));
        return 1;
    }
    snprintf(root_file, sizeof(root_file), "%s-root.qcow2", data_dir);
    snprintf(data_file, sizeof(data_file), "%s-data.raw", data_dir);
    if (qemuimg_create(root_file, "qcow2", 16 << 20, &err) < 0 ||
        qemuimg_create(data_file, "raw", 8 << 20, &err) < 0 ||
        (f = fopen(data_file, "r+")) == NULL) {
        fprintf(stderr, "disks: %s\n", err ? error_msg(err) : "fopen");
        return 1;
    }
    fputs("vmsnap-mark", f);
    fclose(f);
    svc = svc_open(cfg, &err);
    if (svc == NULL) {
        fprintf(stderr, "svc_open: %s\n", error_msg(err));
        return 1;
    }
    svc_use_hv(svc, hv_open_ops(fake_hv_ops(), cfg, NULL));
    test_adopt();
    test_props_and_delete();
    test_snapshots();
    test_forced_delete();
    svc_close(svc);
    config_free(cfg);
    unlink(root_file);
    unlink(data_file);
    {
        const char *argv[] = {"rm", "-rf", "--", data_dir, NULL};

        run_check(argv, 60000, NULL, NULL);
    }
    return tap_done();
}
