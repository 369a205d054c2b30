/* vmsnap: running instances (see compute.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accel.h"
#include "cleanup.h"
#include "compute.h"
#include "images.h"
#include "log.h"
#include "qemuimg.h"
#include "run.h"
#include "sock.h"
#include "util.h"
#include "volumes.h"

#define DEFAULT_MEMORY_MB 256
#define DEFAULT_CMDLINE "console=ttyS0 root=/dev/vda rw quiet"
#define LAUNCH_TIMEOUT_MS 60000
#define STATUS_TIMEOUT_MS 3000
#define QMP_TIMEOUT_MS 10000

/* Instance metadata keys (see struct instance's meta). */
#define META_ACCEL "accel"            /* kvm or tcg, chosen at create */
#define META_AGENT "agent"            /* yes when booted with qga channel */
#define META_KERNEL "kernel_id"       /* kernel image ID, or absent */
#define META_RAMDISK "ramdisk_id"     /* ramdisk image ID, or absent */
#define META_CMDLINE "cmdline"        /* kernel command line */
#define META_VM_STATE "vm_state"      /* active, paused or stopped: what
                                       * the user last asked for */
#define META_SHUTDOWN "shutdown"      /* how "server stop" went: clean
                                       * (the guest shut down when asked)
                                       * or forced; none: running, or it
                                       * stopped some other way */

static const char *
compute_qemu_binary(void)
{
    const char *env = getenv("VMSNAP_QEMU");

    return env && *env ? env : "qemu-system-x86_64";
}

bool
compute_has_agent(const struct instance *inst)
{
    const char *v = instance_meta(inst, META_AGENT);

    return v && strcmp(v, "yes") == 0;
}

/* VALUE with every ',' doubled, as QEMU's option parser wants it inside a
 * "key=value,..." list.  Caller frees.
 */
static char *
compute_opt_escape(const char *value)
{
    size_t n = strlen(value), i, j = 0;
    char *out = malloc(2 * n + 1);

    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        out[j++] = value[i];
        if (value[i] == ',') {
            out[j++] = ',';
        }
    }
    out[j] = '\0';
    return out;
}

/* A growing argv for QEMU; every string is owned. */
struct argv_buf {
    char *v[96];   /* NULL-terminated */
    size_t n;      /* entries used */
    bool oom;      /* an allocation failed */
};

static void
argv_add(struct argv_buf *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
argv_add(struct argv_buf *a, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    if (a->n + 1 >= sizeof(a->v) / sizeof(a->v[0])) {
        a->oom = true;
        return;
    }
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
    }
    va_end(ap);
    if (s == NULL) {
        a->oom = true;
        return;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void
argv_clear(struct argv_buf *a)
{
    size_t i;

    for (i = 0; i < a->n; i++) {
        free(a->v[i]);
    }
    a->n = 0;
}

/* Add a chardev socket that QEMU listens on, at PATH, named ID. */
static void
argv_add_socket(struct argv_buf *a, const char *id, const char *path)
{
    CLEANUP_FREE char *p = compute_opt_escape(path);

    if (p == NULL) {
        a->oom = true;
        return;
    }
    argv_add(a, "-chardev");
    argv_add(a, "socket,id=%s,path=%s,server=on,wait=off", id, p);
}

/* Path of image ID's data file, from the catalog. */
static char *
compute_image_file(struct store *store, const char *id, struct error **errp)
{
    struct image *img = NULL;
    char *file;

    if (catalog_image_get(store_catalog(store), id, &img, errp) < 0) {
        return NULL;
    }
    file = img->file ? strdup(img->file) : NULL;
    if (file == NULL) {
        error_setg(errp, ERR_INVALID, "image %s has no data", id);
    }
    image_free(img);
    return file;
}

/* Add a PCIe root port per volume slot (q35's root bus cannot hot-plug;
 * port rpN is for device index N), and the volumes attached to INST.
 */
static int
compute_add_volumes(struct store *store, const struct instance *inst,
                    struct argv_buf *a, struct error **errp)
{
    struct volume **vols = NULL;
    size_t n = 0, i;
    int slot;

    for (slot = 1; slot <= VOLUMES_MAX_PER_INSTANCE; slot++) {
        argv_add(a, "-device");
        argv_add(a, "pcie-root-port,id=rp%d,chassis=%d,slot=%d", slot, slot,
                 slot);
    }
    if (catalog_volume_list(store_catalog(store), inst->id, &vols, &n, errp) <
        0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        json_object *bd = volumes_blockdev_args(vols[i]);
        json_object *dev = volumes_device_args(vols[i]);

        argv_add(a, "-blockdev");
        argv_add(a, "%s",
                 json_object_to_json_string_ext(bd, JSON_C_TO_STRING_PLAIN));
        argv_add(a, "-device");
        argv_add(a, "%s",
                 json_object_to_json_string_ext(dev, JSON_C_TO_STRING_PLAIN));
        json_object_put(bd);
        json_object_put(dev);
    }
    volume_list_free(vols, n);
    return 0;
}

/* Build the QEMU command line of INST into A. */
static int
compute_build_argv(struct store *store, const struct instance *inst,
                   struct argv_buf *a, struct error **errp)
{
    const char *accel = instance_meta(inst, META_ACCEL);
    const char *kernel = instance_meta(inst, META_KERNEL);
    const char *ramdisk = instance_meta(inst, META_RAMDISK);
    const char *cmdline = instance_meta(inst, META_CMDLINE);
    enum accel_kind kind;
    CLEANUP_FREE char *root = store_instance_path(store, inst->id,
                                                  "root.qcow2");
    CLEANUP_FREE char *console = store_instance_path(store, inst->id,
                                                     "console.log");
    CLEANUP_FREE char *pidfile = store_instance_path(store, inst->id,
                                                     "qemu.pid");
    CLEANUP_FREE char *qmp = store_instance_path(store, inst->id, "qmp.sock");
    CLEANUP_FREE char *status = store_instance_path(store, inst->id,
                                                    "status.sock");
    CLEANUP_FREE char *qga = store_instance_path(store, inst->id, "qga.sock");
    CLEANUP_FREE char *console_e = NULL;
    CLEANUP_FREE char *pidfile_e = NULL;
    CLEANUP_JSON_PUT json_object *blockdev = NULL;

    if (!root || !console || !pidfile || !qmp || !status || !qga) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    if (accel_choose(accel, &kind, errp) < 0) {
        return -1;
    }
    console_e = compute_opt_escape(console);
    pidfile_e = compute_opt_escape(pidfile);
    blockdev = json_object_new_object();
    if (!console_e || !pidfile_e || !blockdev) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    argv_add(a, "%s", compute_qemu_binary());
    argv_add(a, "-name");
    argv_add(a, "guest=%s", inst->id);
    argv_add(a, "-uuid");
    argv_add(a, "%s", inst->id);
    argv_add(a, "-machine");
    argv_add(a, "%s", accel_machine(kind));
    argv_add(a, "-cpu");
    argv_add(a, "%s", accel_cpu(kind));
    argv_add(a, "-m");
    argv_add(a, "%lld", (long long)inst->memory_mb);
    argv_add(a, "-smp");
    argv_add(a, "%d", inst->cpus);
    argv_add(a, "-nodefaults");
    argv_add(a, "-no-user-config");
    argv_add(a, "-display");
    argv_add(a, "none");
    if (kernel && ramdisk) {
        CLEANUP_FREE char *kfile = compute_image_file(store, kernel, errp);
        CLEANUP_FREE char *rfile = NULL;

        if (kfile == NULL) {
            return -1;
        }
        rfile = compute_image_file(store, ramdisk, errp);
        if (rfile == NULL) {
            return -1;
        }
        argv_add(a, "-kernel");
        argv_add(a, "%s", kfile);
        argv_add(a, "-initrd");
        argv_add(a, "%s", rfile);
        argv_add(a, "-append");
        argv_add(a, "%s", cmdline ? cmdline : DEFAULT_CMDLINE);
    }
    /* The root disk as a named node, so snapshots can address it. */
    {
        json_object *file = json_object_new_object();

        json_object_object_add(file, "driver", json_object_new_string("file"));
        json_object_object_add(file, "filename", json_object_new_string(root));
        json_object_object_add(blockdev, "driver",
                               json_object_new_string("qcow2"));
        json_object_object_add(blockdev, "node-name",
                               json_object_new_string("root"));
        json_object_object_add(blockdev, "file", file);
    }
    argv_add(a, "-blockdev");
    argv_add(a, "%s", json_object_to_json_string_ext(
                          blockdev, JSON_C_TO_STRING_PLAIN));
    argv_add(a, "-device");
    argv_add(a, "virtio-blk-pci,drive=root,id=disk-root");
    if (compute_add_volumes(store, inst, a, errp) < 0) {
        return -1;
    }
    argv_add(a, "-chardev");
    argv_add(a, "file,id=console,path=%s,append=on", console_e);
    argv_add(a, "-serial");
    argv_add(a, "chardev:console");
    argv_add_socket(a, "qmp", qmp);
    argv_add(a, "-mon");
    argv_add(a, "chardev=qmp,mode=control");
    argv_add_socket(a, "status", status);
    argv_add(a, "-mon");
    argv_add(a, "chardev=status,mode=control");
    if (compute_has_agent(inst)) {
        /* The channel the seeds describe: a virtio-serial port named
         * org.qemu.guest_agent.0.
         */
        argv_add(a, "-device");
        argv_add(a, "virtio-serial-pci,id=vser0");
        argv_add_socket(a, "qga0", qga);
        argv_add(a, "-device");
        argv_add(a, "virtserialport,bus=vser0.0,chardev=qga0,"
                    "name=org.qemu.guest_agent.0");
    }
    argv_add(a, "-pidfile");
    argv_add(a, "%s", pidfile);
    argv_add(a, "-daemonize");
    if (a->oom) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    return 0;
}

/* The pid of INST's QEMU if it runs, else 0.  The pid file may be stale
 * and its pid reused, so the process must also carry INST's UUID.
 */
static int
compute_pid(struct store *store, const struct instance *inst)
{
    CLEANUP_FREE char *pidfile = store_instance_path(store, inst->id,
                                                     "qemu.pid");
    char buf[64], path[64], cmd[4096];
    CLEANUP_CLOSE int fd = -1;
    int64_t pid;
    ssize_t n;

    if (pidfile == NULL) {
        return 0;
    }
    fd = open(pidfile, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (util_parse_int64(buf, &pid, NULL) < 0 || pid <= 1 ||
        pid > 1 << 30) {
        return 0;
    }
    close(fd);
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    n = read(fd, cmd, sizeof(cmd) - 1);
    if (n <= 0) {
        return 0;
    }
    cmd[n] = '\0';
    /* cmdline is NUL-separated; look for "-uuid\0<id>". */
    {
        ssize_t i;

        for (i = 0; i + 6 < n; i++) {
            if (memcmp(cmd + i, "-uuid", 6) == 0 &&
                strncmp(cmd + i + 6, inst->id, UTIL_UUID_LEN) == 0) {
                return (int)pid;
            }
        }
    }
    return 0;
}

/* Wait up to TIMEOUT_MS for process PID to go away. */
static bool
compute_wait_exit(int pid, int timeout_ms)
{
    int64_t deadline = sock_deadline(timeout_ms);

    while (kill(pid, 0) == 0 || errno != ESRCH) {
        if (sock_remaining_ms(deadline) == 0) {
            return false;
        }
        sock_sleep_ms(50, deadline);
    }
    return true;
}

/* Record the state the user asked for and, when SHUTDOWN is not NULL,
 * how the last shutdown went ("clean", "forced", or "none" while running).
 */
static int
compute_set_vm_state(struct store *store, const struct instance *inst,
                     const char *state, const char *shutdown,
                     struct error **errp)
{
    struct instance *cur = NULL;
    int r;

    if (catalog_instance_get(store_catalog(store), inst->id, &cur, errp) < 0) {
        return -1;
    }
    r = instance_meta_set(cur, META_VM_STATE, state, errp);
    if (r == 0 && shutdown) {
        r = instance_meta_set(cur, META_SHUTDOWN, shutdown, errp);
    }
    if (r == 0) {
        r = catalog_instance_update(store_catalog(store), cur, errp);
    }
    instance_free(cur);
    return r;
}

/* Launch QEMU for INST (its lock held, not running). */
static int
compute_launch(struct store *store, const struct instance *inst,
               struct error **errp)
{
    struct argv_buf a = {{NULL}, 0, false};
    CLEANUP_FREE char *qmp_path = store_instance_path(store, inst->id,
                                                      "qmp.sock");
    struct qmp *q = NULL;
    json_object *st;
    int r = -1;

    if (compute_build_argv(store, inst, &a, errp) < 0) {
        goto out;
    }
    if (log_debug_enabled("compute")) {
        size_t i;

        for (i = 0; i < a.n; i++) {
            log_debug("compute", "argv[%zu] %s", i, a.v[i]);
        }
    }
    if (run_check((const char *const *)a.v, LAUNCH_TIMEOUT_MS, NULL, errp) <
        0) {
        error_prepend(errp, "cannot start QEMU: ");
        goto out;
    }
    q = qmp_connect(qmp_path, QMP_TIMEOUT_MS, errp);
    if (q == NULL) {
        goto out;
    }
    st = qmp_execute(q, "query-status", NULL, QMP_TIMEOUT_MS, errp);
    if (st == NULL) {
        goto out;
    }
    json_object_put(st);
    r = compute_set_vm_state(store, inst, "active", "none", errp);
out:
    qmp_close(q);
    argv_clear(&a);
    return r;
}

/* Detach every volume of INST in the catalog; with DELETE, delete them
 * too (volumes made for INST by a failed create).
 */
static void
compute_release_volumes(struct store *store, const struct instance *inst,
                        bool delete)
{
    struct catalog *cat = store_catalog(store);
    struct volume **vols = NULL;
    size_t n = 0, i;

    if (catalog_volume_list(cat, inst->id, &vols, &n, NULL) < 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        if (catalog_volume_detach(cat, vols[i]->id, inst->id, NULL) == 0 &&
            delete) {
            volumes_delete(store, vols[i], NULL);
        }
    }
    volume_list_free(vols, n);
}

/* An image made by an instance-level snapshot has a block_device_mapping:
 * make a new volume from each of its volume snapshots and attach them to
 * INST in the same order.
 */
static int
compute_map_volumes(struct store *store, const struct instance *inst,
                    const struct image *img, struct error **errp)
{
    const char *bdm = image_prop(img, "block_device_mapping");
    CLEANUP_JSON_PUT json_object *list = NULL;
    size_t i, n;

    if (bdm == NULL) {
        return 0;
    }
    list = json_tokener_parse(bdm);
    if (list == NULL || !json_object_is_type(list, json_type_array)) {
        error_setg(errp, ERR_INVALID,
                   "image %s: block_device_mapping is not a JSON array",
                   img->id);
        return -1;
    }
    n = json_object_array_length(list);
    for (i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(list, i), *sid;
        struct volumes_new spec = {0};
        struct volume *vol = NULL;
        CLEANUP_FREE char *name = NULL;
        int r;

        if (!json_object_object_get_ex(e, "snapshot_id", &sid) ||
            !json_object_is_type(sid, json_type_string)) {
            error_setg(errp, ERR_INVALID,
                       "image %s: block_device_mapping entry %zu has no "
                       "snapshot_id",
                       img->id, i);
            return -1;
        }
        name = util_strdup_printf("%s-vol%zu", inst->name, i + 1);
        spec.name = name;
        spec.snapshot = json_object_get_string(sid);
        if (name == NULL || volumes_create(store, &spec, &vol, errp) < 0) {
            return -1;
        }
        r = catalog_volume_attach(store_catalog(store), vol->id, inst->id,
                                  NULL, errp);
        if (r < 0) {
            volumes_delete(store, vol, NULL);
        }
        volume_free(vol);
        if (r < 0) {
            return -1;
        }
    }
    return 0;
}

/* Recursively remove DIR (an instance directory: plain files only). */
static int
compute_remove_dir(const char *dir, struct error **errp)
{
    const char *argv[] = {"rm", "-rf", "--", dir, NULL};

    return run_check(argv, 60000, NULL, errp);
}

/* Image property KEY as a number in [1, MAX], or DEFAULT_VALUE when it is
 * absent or not such a number.
 */
static int64_t
compute_image_number(const struct image *img, const char *key,
                     int64_t default_value, int64_t max)
{
    const char *v = image_prop(img, key);
    int64_t n;

    if (v && util_parse_int64(v, &n, NULL) == 0 && n >= 1 && n <= max) {
        return n;
    }
    return default_value;
}

int
compute_create(struct store *store, const struct compute_new *spec,
               struct instance **out, struct error **errp)
{
    struct catalog *cat = store_catalog(store);
    const char *accel_override = spec->accel;
    struct image *img = NULL;
    struct instance *inst = NULL;
    CLEANUP_FREE char *dir = NULL;
    CLEANUP_FREE char *root = NULL;
    enum accel_kind kind;
    const char *kernel, *ramdisk, *agent, *cmdline;
    bool inserted = false, made_dir = false;
    int lock = -1;

    if (spec->name == NULL || *spec->name == '\0') {
        error_setg(errp, ERR_INVALID, "a server needs a name");
        return -1;
    }
    if (catalog_image_find(cat, spec->image, &img, errp) < 0) {
        return -1;
    }
    if (strcmp(img->status, "active") != 0) {
        error_setg(errp, ERR_CONFLICT, "image %s is %s, not active",
                   img->id, img->status);
        goto fail;
    }
    if (img->file == NULL || !images_is_disk(img->disk_format)) {
        error_setg(errp, ERR_INVALID, "image %s has no disk to boot",
                   img->id);
        goto fail;
    }
    if (accel_override == NULL) {
        accel_override = getenv("VMSNAP_ACCEL");
    }
    if (accel_choose(accel_override, &kind, errp) < 0) {
        goto fail;
    }
    inst = calloc(1, sizeof(*inst));
    if (inst == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        goto fail;
    }
    util_uuid_new(inst->id);
    inst->name = strdup(spec->name);
    inst->image_id = strdup(img->id);
    /* A snapshot boots with the size of the instance it was taken of
     * (vmsnap_cpus, vmsnap_memory_mb) unless told otherwise.
     */
    inst->cpus = spec->cpus > 0 ? spec->cpus
                                : (int)compute_image_number(img, "vmsnap_cpus",
                                                            1, 256);
    inst->memory_mb =
        spec->memory_mb > 0
            ? spec->memory_mb
            : compute_image_number(img, "vmsnap_memory_mb",
                                   img->min_ram > DEFAULT_MEMORY_MB
                                       ? img->min_ram
                                       : DEFAULT_MEMORY_MB,
                                   1 << 22);
    if (inst->memory_mb < img->min_ram) {
        error_setg(errp, ERR_INVALID,
                   "image %s needs at least %lld MiB of memory", img->id,
                   (long long)img->min_ram);
        goto fail;
    }
    kernel = image_prop(img, "kernel_id");
    ramdisk = image_prop(img, "ramdisk_id");
    agent = image_prop(img, "hw_qemu_guest_agent");
    cmdline = image_prop(img, "os_command_line");
    if ((kernel == NULL) != (ramdisk == NULL)) {
        error_setg(errp, ERR_INVALID,
                   "image %s has only one of kernel_id and ramdisk_id",
                   img->id);
        goto fail;
    }
    if (!inst->name || !inst->image_id ||
        instance_meta_set(inst, META_ACCEL,
                          kind == ACCEL_KVM ? "kvm" : "tcg", errp) < 0 ||
        instance_meta_set(inst, META_AGENT,
                          agent && strcmp(agent, "yes") == 0 ? "yes" : "no",
                          errp) < 0 ||
        (kernel && instance_meta_set(inst, META_KERNEL, kernel, errp) < 0) ||
        (ramdisk &&
         instance_meta_set(inst, META_RAMDISK, ramdisk, errp) < 0) ||
        (cmdline && instance_meta_set(inst, META_CMDLINE, cmdline, errp) < 0) ||
        instance_meta_set(inst, META_VM_STATE, "building", errp) < 0) {
        if (errp && *errp == NULL) {
            error_setg(errp, ERR_IO, "out of memory");
        }
        goto fail;
    }
    if (catalog_instance_insert(cat, inst, errp) < 0) {
        goto fail;
    }
    inserted = true;
    root = store_instance_path(store, inst->id, "root.qcow2");
    dir = store_instance_path(store, inst->id, NULL);
    if (root == NULL || dir == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        goto fail;
    }
    made_dir = true;
    if (util_mkdir_p(dir, 0700, errp) < 0) {
        goto fail;
    }
    lock = store_lock_instance(store, inst->id, true, errp);
    if (lock < 0) {
        goto fail;
    }
    if (qemuimg_create_overlay(root, img->file, img->disk_format, errp) < 0 ||
        compute_map_volumes(store, inst, img, errp) < 0 ||
        compute_launch(store, inst, errp) < 0) {
        goto fail;
    }
    close(lock);
    image_free(img);
    catalog_instance_get(cat, inst->id, out, NULL);
    if (*out == NULL) {
        *out = inst;
    } else {
        instance_free(inst);
    }
    return 0;

fail:
    if (made_dir) {
        int pid = compute_pid(store, inst);

        if (pid > 0) {
            kill(pid, SIGKILL);
            compute_wait_exit(pid, 5000);
        }
        if (dir || (dir = store_instance_path(store, inst->id, NULL))) {
            compute_remove_dir(dir, NULL);
        }
    }
    if (inserted) {
        compute_release_volumes(store, inst, true);
        catalog_instance_delete(cat, inst->id, NULL);
    }
    if (lock >= 0) {
        close(lock);
    }
    instance_free(inst);
    image_free(img);
    return -1;
}

int
compute_start(struct store *store, const struct instance *inst,
              struct error **errp)
{
    CLEANUP_CLOSE int lock = store_lock_instance(store, inst->id, true, errp);

    if (lock < 0) {
        return -1;
    }
    if (compute_pid(store, inst) > 0) {
        error_setg(errp, ERR_CONFLICT, "server %s is already running",
                   inst->name);
        return -1;
    }
    if (compute_launch(store, inst, errp) < 0) {
        /* Do not leave a QEMU behind that we report as failed. */
        int pid = compute_pid(store, inst);

        if (pid > 0) {
            kill(pid, SIGKILL);
            compute_wait_exit(pid, 5000);
        }
        return -1;
    }
    return 0;
}

struct qmp *
compute_qmp(struct store *store, const struct instance *inst,
            struct error **errp)
{
    CLEANUP_FREE char *path = store_instance_path(store, inst->id, "qmp.sock");

    if (compute_pid(store, inst) == 0) {
        error_setg(errp, ERR_CONFLICT, "server %s is not running",
                   inst->name);
        return NULL;
    }
    return qmp_connect(path, QMP_TIMEOUT_MS, errp);
}

struct qga *
compute_qga(struct store *store, const struct instance *inst, int timeout_ms,
            struct error **errp)
{
    CLEANUP_FREE char *path = store_instance_path(store, inst->id, "qga.sock");

    if (!compute_has_agent(inst)) {
        error_setg(errp, ERR_INVALID,
                   "server %s has no guest agent channel (its image lacks "
                   "hw_qemu_guest_agent=yes)",
                   inst->name);
        return NULL;
    }
    if (compute_pid(store, inst) == 0) {
        error_setg(errp, ERR_CONFLICT, "server %s is not running",
                   inst->name);
        return NULL;
    }
    return qga_connect(path, timeout_ms, errp);
}

/* Force INST's QEMU (PID) down: QMP quit, then SIGKILL. */
static void
compute_kill(struct store *store, const struct instance *inst, int pid)
{
    struct qmp *q = compute_qmp(store, inst, NULL);

    if (q) {
        json_object *r = qmp_execute(q, "quit", NULL, 5000, NULL);

        json_object_put(r);
        qmp_close(q);
    }
    if (!compute_wait_exit(pid, 10000)) {
        kill(pid, SIGKILL);
        compute_wait_exit(pid, 5000);
    }
}

int
compute_stop(struct store *store, const struct instance *inst, int timeout_s,
             struct error **errp)
{
    CLEANUP_CLOSE int lock = store_lock_instance(store, inst->id, true, errp);
    const char *how = NULL;
    int pid;

    if (lock < 0) {
        return -1;
    }
    pid = compute_pid(store, inst);
    if (pid > 0 && timeout_s > 0) {
        struct qga *g = NULL;

        if (compute_has_agent(inst)) {
            g = compute_qga(store, inst, 3000, NULL);
        }
        if (g) {
            /* guest-shutdown sends no reply when it works. */
            json_object *r = qga_execute(g, "guest-shutdown", NULL, 1000,
                                         NULL);

            json_object_put(r);
            qga_close(g);
        } else {
            struct qmp *q = compute_qmp(store, inst, NULL);

            if (q) {
                json_object *r = qmp_execute(q, "system_powerdown", NULL,
                                             QMP_TIMEOUT_MS, NULL);

                json_object_put(r);
                qmp_close(q);
            }
        }
        if (compute_wait_exit(pid, timeout_s * 1000)) {
            how = "clean";
        } else {
            log_warnx("server %s did not shut down within %d s: forcing it",
                      inst->name, timeout_s);
        }
    }
    if (pid > 0 && compute_pid(store, inst) > 0) {
        compute_kill(store, inst, pid);
        how = "forced";
    }
    return compute_set_vm_state(store, inst, "stopped", how, errp);
}

int
compute_pause(struct store *store, const struct instance *inst, bool pause,
              struct error **errp)
{
    CLEANUP_CLOSE int lock = store_lock_instance(store, inst->id, true, errp);
    struct qmp *q;
    json_object *r;

    if (lock < 0) {
        return -1;
    }
    q = compute_qmp(store, inst, errp);
    if (q == NULL) {
        return -1;
    }
    r = qmp_execute(q, pause ? "stop" : "cont", NULL, QMP_TIMEOUT_MS, errp);
    qmp_close(q);
    if (r == NULL) {
        return -1;
    }
    json_object_put(r);
    return compute_set_vm_state(store, inst, pause ? "paused" : "active",
                                NULL, errp);
}

int
compute_delete(struct store *store, const struct instance *inst,
               struct error **errp)
{
    CLEANUP_CLOSE int lock = -1;
    CLEANUP_FREE char *dir = NULL;
    struct error *err = NULL;
    int pid;

    /* A running task holds the instance lock; a task_state without the
     * lock held was left by a process that died, and is cleared.
     */
    lock = store_lock_instance(store, inst->id, inst->task_state == NULL,
                               &err);
    if (lock < 0) {
        if (inst->task_state && error_get_class(err) == ERR_CONFLICT) {
            error_free(err);
            error_setg(errp, ERR_CONFLICT, "server %s is busy: %s",
                       inst->name, inst->task_state);
        } else {
            error_propagate(errp, err);
        }
        return -1;
    }
    if (inst->task_state) {
        log_warnx("server %s: clearing task '%s' left by a dead process",
                  inst->name, inst->task_state);
        catalog_instance_set_task(store_catalog(store), inst->id,
                                  inst->task_state, NULL, NULL);
    }
    pid = compute_pid(store, inst);
    if (pid > 0) {
        compute_kill(store, inst, pid);
    }
    dir = store_instance_path(store, inst->id, NULL);
    if (dir == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    /* Volumes outlive their instance, as in Cinder: they are detached. */
    compute_release_volumes(store, inst, false);
    if (catalog_instance_delete(store_catalog(store), inst->id, errp) < 0) {
        return -1;
    }
    return compute_remove_dir(dir, errp);
}

int
compute_state(struct store *store, const struct instance *inst,
              struct compute_state *st, struct error **errp)
{
    CLEANUP_FREE char *path = store_instance_path(store, inst->id,
                                                  "status.sock");
    const char *want = instance_meta(inst, META_VM_STATE);
    struct error *err = NULL;
    struct qmp *q;
    json_object *r, *s;

    memset(st, 0, sizeof(*st));
    st->pid = compute_pid(store, inst);
    if (st->pid == 0) {
        snprintf(st->status, sizeof(st->status), "SHUTOFF");
        snprintf(st->power, sizeof(st->power), "shutdown");
        if (want && (strcmp(want, "active") == 0 ||
                     strcmp(want, "paused") == 0)) {
            snprintf(st->fault, sizeof(st->fault),
                     "QEMU exited unexpectedly (the server was %s)", want);
        }
        return 0;
    }
    q = qmp_connect(path, STATUS_TIMEOUT_MS, &err);
    r = q ? qmp_execute(q, "query-status", NULL, STATUS_TIMEOUT_MS, &err)
          : NULL;
    qmp_close(q);
    if (r == NULL) {
        snprintf(st->status, sizeof(st->status), "ERROR");
        snprintf(st->power, sizeof(st->power), "unknown");
        snprintf(st->fault, sizeof(st->fault), "QEMU does not answer: %s",
                 error_msg(err));
        error_free(err);
        return 0;
    }
    if (json_object_object_get_ex(r, "status", &s) &&
        json_object_is_type(s, json_type_string)) {
        const char *v = json_object_get_string(s);

        snprintf(st->power, sizeof(st->power), "%s", v);
        if (strcmp(v, "running") == 0) {
            snprintf(st->status, sizeof(st->status), "ACTIVE");
        } else if (strcmp(v, "paused") == 0 ||
                   strcmp(v, "suspended") == 0) {
            snprintf(st->status, sizeof(st->status), "PAUSED");
        } else if (strcmp(v, "shutdown") == 0 ||
                   strcmp(v, "guest-panicked") == 0) {
            /* QEMU still runs (and holds the disks): not SHUTOFF. */
            snprintf(st->status, sizeof(st->status), "ERROR");
            snprintf(st->fault, sizeof(st->fault),
                     "the guest is in state %s but QEMU still runs", v);
        } else if (strcmp(v, "prelaunch") == 0 ||
                   strcmp(v, "inmigrate") == 0) {
            snprintf(st->status, sizeof(st->status), "BUILD");
        } else {
            snprintf(st->status, sizeof(st->status), "ERROR");
            snprintf(st->fault, sizeof(st->fault), "QEMU run state %s", v);
        }
    } else {
        snprintf(st->status, sizeof(st->status), "ERROR");
        snprintf(st->fault, sizeof(st->fault),
                 "query-status reply has no status");
    }
    json_object_put(r);
    (void)errp;
    return 0;
}
