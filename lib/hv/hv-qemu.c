/* vmsnap: the qemu driver, QEMU processes vmsnap starts itself: their
 * life cycle (see hv-qemu.h for the files of a domain).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accel.h"
#include "agent.h"
#include "cleanup.h"
#include "hv-qemu.h"
#include "log.h"
#include "run.h"
#include "sock.h"
#include "util.h"
#include "xalloc.h"

#define QEMU_DEFAULT_CMDLINE "console=ttyS0 root=/dev/vda rw quiet"
#define QEMU_LAUNCH_TIMEOUT_MS 60000
#define QEMU_STATUS_TIMEOUT_MS 3000

/* The driver's state: the settings it was opened with. */
struct qemu_priv {
    const struct config *cfg;   /* borrowed, outlives the driver */
};

char *
qemu_path(const struct hv_domain *d, const char *name)
{
    return xasprintf("%s/%s", d->state_dir, name);
}

int
qemu_pid(const struct hv_domain *d)
{
    CLEANUP_FREE char *pidfile = qemu_path(d, "qemu.pid");
    char buf[64], path[64], cmd[4096];
    CLEANUP_CLOSE int fd = -1;
    int64_t pid;
    ssize_t n, i;

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
    for (i = 0; i + 6 < n; i++) {
        if (memcmp(cmd + i, "-uuid", 6) == 0 &&
            strncmp(cmd + i + 6, d->id, UTIL_UUID_LEN) == 0) {
            return (int)pid;
        }
    }
    return 0;
}

struct qmp *
qemu_qmp(const struct hv_domain *d, struct error **errp)
{
    CLEANUP_FREE char *path = qemu_path(d, "qmp.sock");

    if (qemu_pid(d) == 0) {
        error_setg(errp, ERR_CONFLICT, "server %s is not running", d->name);
        return NULL;
    }
    return qmp_connect(path, QEMU_QMP_TIMEOUT_MS, errp);
}

int
qemu_qmp_run(struct qmp *q, const char *command, json_object *args,
             struct error **errp)
{
    json_object *r = qmp_execute(q, command, args, QEMU_QMP_TIMEOUT_MS,
                                 errp);

    json_object_put(args);
    if (r == NULL) {
        return -1;
    }
    json_object_put(r);
    return 0;
}

/* A growing, NULL-terminated argument vector; every string owned. */
struct qemu_argv {
    char **v;      /* the strings, NULL-terminated */
    size_t n;      /* entries before the NULL */
};

static void qemu_arg(struct qemu_argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
qemu_arg(struct qemu_argv *a, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = xvasprintf(fmt, ap);
    va_end(ap);
    a->v = xreallocarray(a->v, a->n + 2, sizeof(*a->v));
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void
qemu_argv_clear(struct qemu_argv *a)
{
    size_t i;

    for (i = 0; i < a->n; i++) {
        free(a->v[i]);
    }
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

/* VALUE with every ',' doubled, as QEMU's option parser wants it inside a
 * "key=value,..." list.  Caller frees.
 */
static char *
qemu_opt_escape(const char *value)
{
    size_t n = strlen(value), i, j = 0;
    char *out = xmalloc(2 * n + 1);

    for (i = 0; i < n; i++) {
        out[j++] = value[i];
        if (value[i] == ',') {
            out[j++] = ',';
        }
    }
    out[j] = '\0';
    return out;
}

/* A chardev socket QEMU listens on, at NAME in D's state directory. */
static void
qemu_arg_socket(struct qemu_argv *a, const struct hv_domain *d,
                const char *id, const char *name)
{
    CLEANUP_FREE char *path = qemu_path(d, name);
    CLEANUP_FREE char *p = qemu_opt_escape(path);

    qemu_arg(a, "-chardev");
    qemu_arg(a, "socket,id=%s,path=%s,server=on,wait=off", id, p);
}

static void
qemu_arg_json(struct qemu_argv *a, const char *option, json_object *obj)
{
    qemu_arg(a, "%s", option);
    qemu_arg(a, "%s",
             json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
    json_object_put(obj);
}

/* Build the command line of domain D into A. */
static int
qemu_build_argv(const struct config *cfg, const struct hv_domain *d,
                struct qemu_argv *a, struct error **errp)
{
    CLEANUP_FREE char *console = qemu_path(d, "console.log");
    CLEANUP_FREE char *console_e = qemu_opt_escape(console);
    CLEANUP_FREE char *pidfile = qemu_path(d, "qemu.pid");
    enum accel_kind kind;
    size_t i;
    int slot;

    if (accel_choose(d->accel, &kind, errp) < 0) {
        return -1;
    }
    qemu_arg(a, "%s", cfg->qemu);
    qemu_arg(a, "-name");
    qemu_arg(a, "guest=%s", d->id);
    qemu_arg(a, "-uuid");
    qemu_arg(a, "%s", d->id);
    qemu_arg(a, "-machine");
    qemu_arg(a, "%s", accel_machine(kind));
    qemu_arg(a, "-cpu");
    qemu_arg(a, "%s", accel_cpu(kind));
    qemu_arg(a, "-m");
    qemu_arg(a, "%lld", (long long)d->memory_mb);
    qemu_arg(a, "-smp");
    qemu_arg(a, "%d", d->cpus);
    qemu_arg(a, "-nodefaults");
    qemu_arg(a, "-no-user-config");
    /* A seccomp filter (audit L11): a guest that escapes into QEMU meets
     * it.  Not spawn=deny nor elevateprivileges=deny: -daemonize forks
     * and calls setsid after the filter is in place.
     */
    qemu_arg(a, "-sandbox");
    qemu_arg(a, "on,obsolete=deny,resourcecontrol=deny");
    qemu_arg(a, "-display");
    qemu_arg(a, "none");
    if (d->kernel && d->initrd) {
        qemu_arg(a, "-kernel");
        qemu_arg(a, "%s", d->kernel);
        qemu_arg(a, "-initrd");
        qemu_arg(a, "%s", d->initrd);
        qemu_arg(a, "-append");
        qemu_arg(a, "%s", d->cmdline ? d->cmdline : QEMU_DEFAULT_CMDLINE);
    }
    /* A PCIe root port per volume slot: q35's root bus cannot hot-plug,
     * and port rpN is reserved for the volume of index N.
     */
    for (slot = 1; slot <= QEMU_MAX_VOLUMES; slot++) {
        qemu_arg(a, "-device");
        qemu_arg(a, "pcie-root-port,id=rp%d,chassis=%d,slot=%d", slot, slot,
                 slot);
    }
    /* Every disk as a named node, so that backups can address it. */
    for (i = 0; i < d->ndisks; i++) {
        qemu_arg_json(a, "-blockdev", qemu_blockdev_args(&d->disks[i]));
        qemu_arg_json(a, "-device", qemu_device_args(&d->disks[i]));
    }
    qemu_arg(a, "-chardev");
    qemu_arg(a, "file,id=console,path=%s,append=on", console_e);
    qemu_arg(a, "-serial");
    qemu_arg(a, "chardev:console");
    qemu_arg_socket(a, d, "qmp", "qmp.sock");
    qemu_arg(a, "-mon");
    qemu_arg(a, "chardev=qmp,mode=control");
    qemu_arg_socket(a, d, "status", "status.sock");
    qemu_arg(a, "-mon");
    qemu_arg(a, "chardev=status,mode=control");
    if (d->agent) {
        /* The channel the seeds describe: a virtio-serial port named
         * org.qemu.guest_agent.0.
         */
        qemu_arg(a, "-device");
        qemu_arg(a, "virtio-serial-pci,id=vser0");
        qemu_arg_socket(a, d, "qga0", "qga.sock");
        qemu_arg(a, "-device");
        qemu_arg(a, "virtserialport,bus=vser0.0,chardev=qga0,"
                    "name=org.qemu.guest_agent.0");
    }
    qemu_arg(a, "-pidfile");
    qemu_arg(a, "%s", pidfile);
    qemu_arg(a, "-daemonize");
    return 0;
}

/* Wait up to TIMEOUT_MS for process PID to go away. */
static bool
qemu_wait_exit(int pid, int timeout_ms)
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

/* Force D's QEMU (PID) down: QMP quit, then SIGKILL. */
static void
qemu_kill(const struct hv_domain *d, int pid)
{
    struct qmp *q = qemu_qmp(d, NULL);

    if (q) {
        json_object *r = qmp_execute(q, "quit", NULL, 5000, NULL);

        json_object_put(r);
        qmp_close(q);
    }
    if (!qemu_wait_exit(pid, 10000)) {
        kill(pid, SIGKILL);
        qemu_wait_exit(pid, 5000);
    }
}

static int
qemu_open(struct hv *hv, const struct config *cfg, void **priv,
          struct error **errp)
{
    struct qemu_priv *p = xcalloc(1, sizeof(*p));

    p->cfg = cfg;
    *priv = p;
    return 0;
}

static void
qemu_close(struct hv *hv)
{
    free(hv_priv(hv));
}

static int
qemu_start(struct hv *hv, const struct hv_domain *d, struct error **errp)
{
    const struct qemu_priv *p = hv_priv(hv);
    struct qemu_argv a = {NULL, 0};
    CLEANUP_FREE char *qmp_path = qemu_path(d, "qmp.sock");
    struct qmp *q = NULL;
    /* QEMU serves the copy path's NBD reads of a live snapshot. */
    static const char *const env[] = {RUN_ENV_NBD_MALLOC, NULL};
    const struct run_opts launch = {.timeout_ms = QEMU_LAUNCH_TIMEOUT_MS,
                                    .env = env};
    json_object *st;
    int r = -1, pid;

    if (qemu_pid(d) > 0) {
        error_setg(errp, ERR_CONFLICT, "server %s is already running",
                   d->name);
        return -1;
    }
    if (qemu_build_argv(p->cfg, d, &a, errp) < 0) {
        goto out;
    }
    if (log_debug_enabled("qemu")) {
        for (size_t i = 0; i < a.n; i++) {
            log_debug("qemu", "argv[%zu] %s", i, a.v[i]);
        }
    }
    if (run_check_opts((const char *const *)a.v, &launch, NULL, errp) < 0) {
        error_prepend(errp, "cannot start QEMU: ");
        goto out;
    }
    q = qmp_connect(qmp_path, QEMU_QMP_TIMEOUT_MS, errp);
    st = q ? qmp_execute(q, "query-status", NULL, QEMU_QMP_TIMEOUT_MS, errp)
           : NULL;
    if (st) {
        json_object_put(st);
        r = 0;
    }
out:
    qmp_close(q);
    qemu_argv_clear(&a);
    /* Do not leave a QEMU behind that we report as failed. */
    if (r < 0 && (pid = qemu_pid(d)) > 0) {
        kill(pid, SIGKILL);
        qemu_wait_exit(pid, 5000);
    }
    return r;
}

static struct agent *
qemu_agent_open(struct hv *hv, const struct hv_domain *d, int timeout_ms,
                unsigned flags, struct error **errp)
{
    CLEANUP_FREE char *path = qemu_path(d, "qga.sock");

    if (!d->agent) {
        error_setg(errp, ERR_INVALID,
                   "server %s has no guest agent channel (its image lacks "
                   "hw_qemu_guest_agent=yes)",
                   d->name);
        return NULL;
    }
    if (qemu_pid(d) == 0) {
        error_setg(errp, ERR_CONFLICT, "server %s is not running", d->name);
        return NULL;
    }
    return agent_qga_connect(path, timeout_ms, flags, errp);
}

static int
qemu_stop(struct hv *hv, const struct hv_domain *d, int timeout_s,
          bool *clean, struct error **errp)
{
    int pid = qemu_pid(d);

    *clean = false;
    if (pid == 0) {
        return 0;
    }
    if (timeout_s > 0) {
        struct agent *a = d->agent ? qemu_agent_open(hv, d, 3000, 0, NULL)
                                   : NULL;

        if (a == NULL || agent_shutdown(a, 1000, NULL) < 0) {
            struct qmp *q = qemu_qmp(d, NULL);

            if (q) {
                qemu_qmp_run(q, "system_powerdown", NULL, NULL);
                qmp_close(q);
            }
        }
        agent_close(a);
        if (qemu_wait_exit(pid, timeout_s * 1000)) {
            *clean = true;
            return 0;
        }
        log_warnx("server %s did not shut down within %d s: forcing it",
                  d->name, timeout_s);
    }
    if (qemu_pid(d) > 0) {
        qemu_kill(d, pid);
    }
    return 0;
}

static int
qemu_pause(struct hv *hv, const struct hv_domain *d, bool pause,
           struct error **errp)
{
    struct qmp *q = qemu_qmp(d, errp);
    int r;

    if (q == NULL) {
        return -1;
    }
    r = qemu_qmp_run(q, pause ? "stop" : "cont", NULL, errp);
    qmp_close(q);
    return r;
}

static int
qemu_destroy(struct hv *hv, const struct hv_domain *d, struct error **errp)
{
    int pid = qemu_pid(d);

    if (pid > 0) {
        qemu_kill(d, pid);
    }
    if (qemu_pid(d) > 0) {
        error_setg(errp, ERR_IO, "QEMU of server %s does not go away",
                   d->name);
        return -1;
    }
    return 0;
}

/* Map QEMU's run state V to a status, with a fault when it is odd. */
static void
qemu_map_state(const char *v, struct hv_state *st)
{
    snprintf(st->power, sizeof(st->power), "%s", v);
    if (strcmp(v, "running") == 0) {
        snprintf(st->status, sizeof(st->status), "ACTIVE");
    } else if (strcmp(v, "paused") == 0 || strcmp(v, "suspended") == 0) {
        snprintf(st->status, sizeof(st->status), "PAUSED");
    } else if (strcmp(v, "shutdown") == 0 ||
               strcmp(v, "guest-panicked") == 0) {
        /* QEMU still runs (and holds the disks): not SHUTOFF. */
        snprintf(st->status, sizeof(st->status), "ERROR");
        snprintf(st->fault, sizeof(st->fault),
                 "the guest is in state %s but QEMU still runs", v);
    } else if (strcmp(v, "prelaunch") == 0 || strcmp(v, "inmigrate") == 0) {
        snprintf(st->status, sizeof(st->status), "BUILD");
    } else {
        snprintf(st->status, sizeof(st->status), "ERROR");
        snprintf(st->fault, sizeof(st->fault), "QEMU run state %s", v);
    }
}

static int
qemu_state(struct hv *hv, const struct hv_domain *d, struct hv_state *st,
           struct error **errp)
{
    CLEANUP_FREE char *path = qemu_path(d, "status.sock");
    struct error *err = NULL;
    struct qmp *q;
    json_object *r, *s;

    st->pid = qemu_pid(d);
    if (st->pid == 0) {
        snprintf(st->status, sizeof(st->status), "SHUTOFF");
        snprintf(st->power, sizeof(st->power), "shutdown");
        return 0;
    }
    q = qmp_connect(path, QEMU_STATUS_TIMEOUT_MS, &err);
    r = q ? qmp_execute(q, "query-status", NULL, QEMU_STATUS_TIMEOUT_MS,
                        &err)
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
        qemu_map_state(json_object_get_string(s), st);
    } else {
        snprintf(st->status, sizeof(st->status), "ERROR");
        snprintf(st->fault, sizeof(st->fault),
                 "query-status reply has no status");
    }
    json_object_put(r);
    return 0;
}

static const struct hv_ops hv_qemu = {
    .version = HV_OPS_VERSION,
    .name = "qemu",
    .open = qemu_open,
    .close = qemu_close,
    .list = NULL,           /* the catalog knows every domain we start */
    .start = qemu_start,
    .stop = qemu_stop,
    .pause = qemu_pause,
    .destroy = qemu_destroy,
    .state = qemu_state,
    .disk_attach = qemu_disk_attach,
    .disk_detach = qemu_disk_detach,
    .agent_open = qemu_agent_open,
    .backup_prepare = qemu_backup_prepare,
    .backup_fix = qemu_backup_fix,
    .backup_wait = qemu_backup_wait,
    .backup_finish = qemu_backup_finish,
    .backup_abort = qemu_backup_abort,
    .backup_reap = qemu_backup_reap,
    .bitmap_check = qemu_bitmap_check,
};

const struct hv_ops *
hv_qemu_ops(void)
{
    return &hv_qemu;
}
