/* vmsnap tests: drive the libvirt driver (hv-libvirt.h) directly.
 *
 * A small command-line program that test-hv-libvirt.sh runs for each
 * step, against a real libvirtd; it prints what the driver answered as
 * "key=value" lines (and list as one JSON object a line) and exits 0, or
 * prints "error=CLASS: MESSAGE" and exits 1.  The connection is
 * $VMSNAP_LIBVIRT_URI, default qemu:///system.
 *
 *   list
 *   state UUID
 *   props UUID
 *   agent UUID ping|freeze|thaw|status|shutdown|exec PROG ARG...
 *   freeze-hold UUID         freeze with a watchdog child on its own
 *                            connection (agent reopen_in_child) that
 *                            thaws when we die (and prints
 *                            "thawed_at_ms=" the wall clock on stderr);
 *                            print "frozen", sleep
 *   backup [OPTIONS] UUID TAG STATE_DIR SOURCE=TARGET...
 *       --no-freeze          crash-consistent: no agent
 *       --abort-after-fix    abort right after the point in time
 *       --break N            test hook: the copy of disk N fails
 *       --rate BYTES         copy rate limit per disk
 *       --checkpoint NAME    bitmap_new for every disk
 *       --since NAME         bitmap_since for every disk (incremental)
 *       --store ROOT         copy into the chunk store at ROOT: each
 *                            TARGET is INDEX[:PARENT_INDEX]; prints
 *                            read_N= and dirty_N= for disk N
 *       --progress FILE      write the copy's percentage there
 *       --reconnect-ms MS    how long finish/abort wait for libvirt
 *   reap UUID TAG STATE_DIR
 *   restore ROOT INDEX OUT   index INDEX of the chunk store at ROOT as a
 *                            qcow2 file OUT
 *   start UUID NAME STATE_DIR ACCEL KERNEL INITRD CMDLINE AGENT(yes|no)
 *         PATH:FORMAT[:SERIAL]...
 *   stop UUID TIMEOUT_S
 *   pause|resume UUID
 *   destroy [--force] UUID
 *   attach|detach UUID PATH FORMAT [SERIAL]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.h"
#include "config.h"
#include "error.h"
#include "hv-libvirt.h"
#include "hv.h"
#include "log.h"
#include "sock.h"
#include "util.h"

#define AGENT_MS 10000

static const struct hv_ops *ops;
static struct hv *hv;
static struct config cfg;
static struct agent *agent;     /* the agent open_agent opened, or NULL */

static const char *
class_name(enum error_class c)
{
    static const char *const names[] = {
        "GENERIC", "INVALID", "NOT_FOUND", "CONFLICT",
        "IO",      "TIMEOUT", "PROTOCOL",  "PEER",
    };

    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "?";
}

/* Close what is open: the agent, the driver. */
static void
close_all(void)
{
    if (agent) {
        agent->ops->close(agent);
        agent = NULL;
    }
    hv_close(hv);
    hv = NULL;
}

/* Print ERR as the result and exit 1. */
static void __attribute__((noreturn))
fail(struct error *err)
{
    printf("error=%s: %s\n", class_name(error_get_class(err)),
           error_msg(err));
    error_free(err);
    close_all();
    exit(1);
}

static void __attribute__((noreturn))
usage(void)
{
    fprintf(stderr, "usage: see the top of test-hv-libvirt.c\n");
    exit(2);
}

/* A struct hv_domain that names domain ID only. */
static struct hv_domain
dom_of(const char *id)
{
    struct hv_domain d = {.id = id, .name = id};

    return d;
}

static int
cmd_list(void)
{
    struct error *err = NULL;
    struct hv_found *list = NULL;
    size_t n = 0, i, j;

    if (ops->list(hv, &list, &n, &err) < 0) {
        fail(err);
    }
    for (i = 0; i < n; i++) {
        json_object *o = json_object_new_object();
        json_object *disks = json_object_new_array();

        json_object_object_add(o, "id", json_object_new_string(list[i].id));
        json_object_object_add(o, "name",
                               json_object_new_string(list[i].name));
        json_object_object_add(o, "status",
                               json_object_new_string(list[i].state.status));
        json_object_object_add(o, "power",
                               json_object_new_string(list[i].state.power));
        json_object_object_add(o, "cpus", json_object_new_int(list[i].cpus));
        json_object_object_add(o, "memory_mb",
                               json_object_new_int64(list[i].memory_mb));
        json_object_object_add(o, "agent",
                               json_object_new_boolean(list[i].agent));
        json_object_object_add(o, "managed",
                               json_object_new_boolean(list[i].managed));
        for (j = 0; j < list[i].ndisks; j++) {
            json_object *dk = json_object_new_object();

            json_object_object_add(
                dk, "target", json_object_new_string(list[i].disks[j].target));
            json_object_object_add(
                dk, "path", json_object_new_string(list[i].disks[j].path));
            json_object_object_add(
                dk, "format", json_object_new_string(list[i].disks[j].format));
            json_object_object_add(
                dk, "block", json_object_new_boolean(list[i].disks[j].block));
            json_object_array_add(disks, dk);
        }
        json_object_object_add(o, "disks", disks);
        printf("%s\n", json_object_to_json_string_ext(o,
                                                      JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    }
    hv_found_list_free(list, n);
    return 0;
}

static int
cmd_state(const char *id)
{
    struct hv_domain d = dom_of(id);
    struct error *err = NULL;
    struct hv_state st;

    if (ops->state(hv, &d, &st, &err) < 0) {
        fail(err);
    }
    printf("status=%s\npower=%s\nfault=%s\n", st.status, st.power, st.fault);
    return 0;
}

static int
cmd_props(const char *id)
{
    struct error *err = NULL;
    struct hv_found f;
    size_t i;

    if (hv_find(hv, id, &f, &err) < 0) {
        fail(err);
    }
    printf("managed=%s\n", f.managed ? "yes" : "no");
    for (i = 0; i < f.nprops; i++) {
        printf("prop.%s=%s\n", f.props[i].name, f.props[i].value);
    }
    hv_found_clear(&f);
    return 0;
}

static struct agent *
open_agent(const char *id)
{
    struct hv_domain d = dom_of(id);
    struct error *err = NULL;
    struct agent *a = ops->agent_open(hv, &d, AGENT_MS, 0, &err);

    if (a == NULL) {
        fail(err);
    }
    agent = a;
    return a;
}

static int
cmd_agent(const char *id, int argc, char **argv)
{
    struct agent *a;
    struct error *err = NULL;
    int r = 0;

    if (argc < 1) {
        usage();
    }
    a = open_agent(id);
    if (strcmp(argv[0], "ping") == 0) {
        r = a->ops->ping(a, AGENT_MS, &err);
    } else if (strcmp(argv[0], "freeze") == 0) {
        r = a->ops->freeze(a, AGENT_MS, &err);
        printf("frozen=%d\n", r);
    } else if (strcmp(argv[0], "thaw") == 0) {
        r = a->ops->thaw(a, AGENT_MS, &err);
        printf("thawed=%d\n", r);
    } else if (strcmp(argv[0], "status") == 0) {
        r = a->ops->status(a, AGENT_MS, &err);
        printf("status=%s\n", r == AGENT_FROZEN ? "frozen" : "thawed");
    } else if (strcmp(argv[0], "shutdown") == 0) {
        r = a->ops->shutdown(a, 3000, &err);
    } else if (strcmp(argv[0], "exec") == 0 && argc >= 2) {
        struct agent_exec_result res;

        r = a->ops->exec(a, argv[1], (const char *const *)&argv[2], NULL,
                         60000, &res, &err);
        if (r == 0) {
            fwrite(res.out, 1, res.out_len, stdout);
            fprintf(stderr, "%.*s", (int)res.err_len, res.err);
            r = res.exitcode == 0 ? 0 : 1;
            free(res.out);
            free(res.err);
            return r;
        }
    } else {
        usage();
    }
    if (r < 0) {
        fail(err);
    }
    printf("ok\n");
    return 0;
}

/* Stand-in for the quiesce watchdog: a child with its own connection
 * (reopen_in_child) that thaws the guest when this process dies.
 */
static int
cmd_freeze_hold(const char *id)
{
    struct agent *a = open_agent(id);
    struct error *err = NULL;
    int death[2], ready[2];
    int64_t t0;
    char c;
    pid_t pid;

    if (pipe(death) < 0 || pipe(ready) < 0) {
        perror("pipe");
        return 1;
    }
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        struct agent *mine;
        int64_t deadline;

        setsid();
        close(death[1]);
        close(ready[0]);
        /* As quiesce.c's watchdog: keep nothing of the parent's but our
         * pipes, the libvirt socket included.
         */
        for (int fd = 3; fd < 1024; fd++) {
            if (fd != death[0] && fd != ready[1]) {
                close(fd);
            }
        }
        mine = a->ops->reopen_in_child(a, &err);
        if (mine == NULL) {
            fprintf(stderr, "watchdog: %s\n", error_msg(err));
            _exit(2);
        }
        if (write(ready[1], "R", 1) != 1) {
            _exit(2);
        }
        close(ready[1]);
        while (read(death[0], &c, 1) < 0 && errno == EINTR) {
        }
        deadline = sock_deadline(60000);
        while (sock_remaining_ms(deadline) > 0) {
            struct error *e = NULL;

            if (mine->ops->thaw(mine, 5000, &e) >= 0 ||
                mine->ops->status(mine, 5000, NULL) == AGENT_THAWED) {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                fprintf(stderr, "thawed_at_ms=%lld\n",
                        (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
                error_free(e);
                _exit(0);
            }
            fprintf(stderr, "watchdog: %s\n", error_msg(e));
            error_free(e);
            sock_sleep_ms(100, deadline);
        }
        _exit(1);
    }
    close(death[0]);
    close(ready[1]);
    if (read(ready[0], &c, 1) != 1) {
        printf("error=GENERIC: the watchdog did not start\n");
        return 1;
    }
    t0 = sock_now_ms();
    if (a->ops->freeze(a, AGENT_MS, &err) < 0) {
        fail(err);
    }
    printf("frozen ms=%lld\n", (long long)(sock_now_ms() - t0));
    fflush(stdout);
    for (;;) {
        pause();
    }
}

/* The progress file of backup --progress: the last percentage. */
struct progress_file {
    const char *path;
    int last;
};

static void
progress_write(const char *phase, double pct, void *opaque)
{
    struct progress_file *pf = opaque;
    char tmp[4096];
    FILE *f;

    if (pf->path == NULL || (int)pct == pf->last) {
        return;
    }
    pf->last = (int)pct;
    snprintf(tmp, sizeof(tmp), "%s.tmp", pf->path);
    f = fopen(tmp, "w");
    if (f) {
        fprintf(f, "%d\n", (int)pct);
        fclose(f);
        rename(tmp, pf->path);
    }
}

static int
cmd_backup(int argc, char **argv)
{
    bool freeze = true, abort_after_fix = false;
    const char *checkpoint = NULL, *since = NULL, *store = NULL;
    struct diskcopy_target copies[16];
    struct chunk_store *cs = NULL;
    struct progress_file pf = {.last = -1};
    struct progress prog = {.fn = progress_write, .opaque = &pf};
    struct hv_backup_spec spec = {.break_disk = -1};
    struct hv_disk src[16];
    struct hv_backup_disk disks[16];
    struct hv_backup *b = NULL;
    struct hv_domain d;
    struct agent *a = NULL;
    struct error *err = NULL;
    int64_t t0, t1, t2, t3, tc;
    size_t n = 0;
    int i = 0;

    memset(src, 0, sizeof(src));
    memset(disks, 0, sizeof(disks));
    memset(copies, 0, sizeof(copies));
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--no-freeze") == 0) {
            freeze = false;
        } else if (strcmp(argv[i], "--abort-after-fix") == 0) {
            abort_after_fix = true;
        } else if (i + 1 < argc && strcmp(argv[i], "--break") == 0) {
            spec.break_disk = (int)strtol(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--rate") == 0) {
            util_parse_size(argv[++i], &spec.rate_limit, NULL);
        } else if (i + 1 < argc && strcmp(argv[i], "--checkpoint") == 0) {
            checkpoint = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--since") == 0) {
            since = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--store") == 0) {
            store = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--progress") == 0) {
            pf.path = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--reconnect-ms") == 0) {
            hv_libvirt_set_reconnect_ms(hv,
                                        (int)strtol(argv[++i], NULL, 10));
        } else {
            usage();
        }
    }
    if (argc - i < 4) {
        usage();
    }
    d = dom_of(argv[i]);
    d.state_dir = argv[i + 2];
    spec.tag = argv[i + 1];
    if (store) {
        cs = chunk_store_open(store, NULL);
        if (cs == NULL && (chunk_store_create(store, NULL, &err) < 0 ||
                           (cs = chunk_store_open(store, &err)) == NULL)) {
            fail(err);
        }
    }
    for (i += 3; i < argc && n < 16; i++, n++) {
        char *eq = strchr(argv[i], '=');

        if (eq == NULL) {
            usage();
        }
        *eq = '\0';
        src[n].index = (int)n;
        src[n].path = argv[i];
        src[n].format = "qcow2";
        disks[n].source = &src[n];
        disks[n].target = eq + 1;
        disks[n].bitmap_new = checkpoint;
        disks[n].bitmap_since = since;
        if (cs) {
            char *colon = strchr(eq + 1, ':');

            if (colon) {
                *colon = '\0';
                copies[n].parent = colon + 1;
            }
            copies[n].kind = DISKCOPY_CHUNKS;
            copies[n].store = cs;
            copies[n].index = eq + 1;
            disks[n].copy = &copies[n];
        }
    }
    spec.disks = disks;
    spec.ndisks = n;
    if (freeze) {
        a = open_agent(d.id);
    }
    if (ops->backup_prepare(hv, &d, &spec, &b, &err) < 0) {
        fail(err);
    }
    t0 = sock_now_ms();
    if (a && a->ops->freeze(a, AGENT_MS, &err) < 0) {
        a->ops->thaw(a, AGENT_MS, NULL);
        ops->backup_abort(b);
        fail(err);
    }
    t1 = sock_now_ms();
    if (ops->backup_fix(b, &err) < 0) {
        if (a) {
            a->ops->thaw(a, AGENT_MS, NULL);
        }
        ops->backup_abort(b);
        fail(err);
    }
    t2 = sock_now_ms();
    if (a && a->ops->thaw(a, AGENT_MS, &err) < 0) {
        ops->backup_abort(b);
        fail(err);
    }
    t3 = sock_now_ms();
    printf("freeze_ms=%lld\nfix_ms=%lld\nthaw_ms=%lld\nwindow_ms=%lld\n",
           (long long)(t1 - t0), (long long)(t2 - t1), (long long)(t3 - t2),
           (long long)(t3 - t0));
    fflush(stdout);
    if (abort_after_fix) {
        ops->backup_abort(b);
        printf("result=aborted\n");
        return 0;
    }
    tc = sock_now_ms();
    if (ops->backup_wait(b, &prog, &err) < 0 ||
        ops->backup_finish(b, &err) < 0) {
        ops->backup_abort(b);
        fail(err);
    }
    for (i = 0; cs && i < (int)n; i++) {
        printf("read_%d=%lld\ndirty_%d=%lld\n", i,
               (long long)copies[i].bytes_read, i,
               (long long)copies[i].bytes_dirty);
    }
    chunk_store_close(cs);
    printf("copy_ms=%lld\nresult=ok\n", (long long)(sock_now_ms() - tc));
    return 0;
}

static int
cmd_restore(const char *root, const char *index, const char *out)
{
    struct diskcopy_target t = {.kind = DISKCOPY_QCOW2, .path = out};
    struct diskcopy_source *src = NULL;
    struct chunk_reader *rd = NULL;
    struct error *err = NULL;
    struct chunk_store *cs = chunk_store_open(root, &err);

    if (cs == NULL || chunk_reader_open(cs, index, &rd, &err) < 0) {
        fail(err);
    }
    src = diskcopy_source_chunks(rd);
    if (diskcopy_run(src, &t, NULL, &err) < 0) {
        fail(err);
    }
    diskcopy_source_close(src);
    chunk_reader_close(rd);
    chunk_store_close(cs);
    printf("result=ok\n");
    return 0;
}

static int
cmd_reap(const char *id, const char *tag, const char *dir)
{
    struct hv_domain d = dom_of(id);
    struct error *err = NULL;

    d.state_dir = dir;
    if (ops->backup_reap(hv, &d, tag, &err) < 0) {
        fail(err);
    }
    printf("ok\n");
    return 0;
}

static int
cmd_start(int argc, char **argv)
{
    struct hv_domain d;
    struct hv_disk disks[8];
    struct error *err = NULL;
    int i;

    if (argc < 9 || argc - 8 > 8) {
        usage();
    }
    memset(&d, 0, sizeof(d));
    memset(disks, 0, sizeof(disks));
    d.id = argv[0];
    d.name = argv[1];
    d.state_dir = argv[2];
    d.accel = argv[3];
    d.kernel = argv[4][0] ? argv[4] : NULL;
    d.initrd = argv[5][0] ? argv[5] : NULL;
    d.cmdline = argv[6][0] ? argv[6] : NULL;
    d.agent = strcmp(argv[7], "yes") == 0;
    d.cpus = 1;
    d.memory_mb = 256;
    for (i = 8; i < argc; i++) {
        char *fmt = strchr(argv[i], ':');
        char *serial = fmt ? strchr(fmt + 1, ':') : NULL;

        if (fmt == NULL) {
            usage();
        }
        *fmt++ = '\0';
        if (serial) {
            *serial++ = '\0';
        }
        disks[i - 8].index = i - 8;
        disks[i - 8].id = d.id;
        disks[i - 8].path = argv[i];
        disks[i - 8].format = fmt;
        disks[i - 8].serial = serial;
    }
    d.disks = disks;
    d.ndisks = (size_t)(argc - 8);
    if (ops->start(hv, &d, &err) < 0) {
        fail(err);
    }
    printf("ok\n");
    return 0;
}

static int
cmd_disk(bool attach, int argc, char **argv)
{
    struct hv_domain d;
    struct hv_disk disk = {0};
    struct error *err = NULL;
    int r;

    if (argc < 3) {
        usage();
    }
    d = dom_of(argv[0]);
    disk.index = 1;
    disk.path = argv[1];
    disk.format = argv[2];
    disk.serial = argc > 3 ? argv[3] : NULL;
    r = attach ? ops->disk_attach(hv, &d, &disk, &err)
               : ops->disk_detach(hv, &d, &disk, &err);
    if (r < 0) {
        fail(err);
    }
    printf("ok\n");
    return 0;
}

int
main(int argc, char **argv)
{
    const char *uri = getenv("VMSNAP_LIBVIRT_URI");
    struct error *err = NULL;
    struct hv_domain d;
    const char *cmd;
    int r = 2;

    if (argc < 2) {
        usage();
    }
    cmd = argv[1];
    log_init("test-hv-libvirt");
    cfg.libvirt_uri = (char *)(uri && uri[0] ? uri : "qemu:///system");
    cfg.qemu_img = (char *)"qemu-img";
    ops = hv_libvirt_ops();
    hv = hv_open_ops(ops, &cfg, &err);
    if (hv == NULL) {
        fail(err);
    }
    if (strcmp(cmd, "list") == 0) {
        r = cmd_list();
    } else if (strcmp(cmd, "state") == 0 && argc == 3) {
        r = cmd_state(argv[2]);
    } else if (strcmp(cmd, "props") == 0 && argc == 3) {
        r = cmd_props(argv[2]);
    } else if (strcmp(cmd, "agent") == 0 && argc >= 4) {
        r = cmd_agent(argv[2], argc - 3, argv + 3);
    } else if (strcmp(cmd, "freeze-hold") == 0 && argc == 3) {
        r = cmd_freeze_hold(argv[2]);
    } else if (strcmp(cmd, "backup") == 0) {
        r = cmd_backup(argc - 2, argv + 2);
    } else if (strcmp(cmd, "restore") == 0 && argc == 5) {
        r = cmd_restore(argv[2], argv[3], argv[4]);
    } else if (strcmp(cmd, "reap") == 0 && argc == 5) {
        r = cmd_reap(argv[2], argv[3], argv[4]);
    } else if (strcmp(cmd, "start") == 0) {
        r = cmd_start(argc - 2, argv + 2);
    } else if (strcmp(cmd, "stop") == 0 && argc == 4) {
        bool clean = false;

        d = dom_of(argv[2]);
        if (ops->stop(hv, &d, (int)strtol(argv[3], NULL, 10), &clean,
                      &err) < 0) {
            fail(err);
        }
        printf("stopped=%s\n", clean ? "clean" : "forced");
        r = 0;
    } else if ((strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) &&
               argc == 3) {
        d = dom_of(argv[2]);
        if (ops->pause(hv, &d, strcmp(cmd, "pause") == 0, &err) < 0) {
            fail(err);
        }
        printf("ok\n");
        r = 0;
    } else if (strcmp(cmd, "destroy") == 0 && argc >= 3) {
        bool force = strcmp(argv[2], "--force") == 0;

        d = dom_of(argv[force ? 3 : 2]);
        if (hv_destroy_flags(hv, &d, force ? HV_DESTROY_FORCE : 0, &err) <
            0) {
            fail(err);
        }
        printf("ok\n");
        r = 0;
    } else if (strcmp(cmd, "attach") == 0 || strcmp(cmd, "detach") == 0) {
        r = cmd_disk(strcmp(cmd, "attach") == 0, argc - 2, argv + 2);
    } else {
        usage();
    }
    close_all();
    return r;
}
