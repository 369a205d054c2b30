/* The QEMU driver's reaper (hv_backup_reap: what a dead snapshot or
 * backup left in a running QEMU) against a fake monitor whose replies
 * are hostile: names that are null, numbers, objects or missing (audit
 * L2: {"device": null} crashed every command that reaps).  The reaper
 * must skip such entries, cancel only what is ours, and return.
 *
 * The driver checks that the pid in the instance's qemu.pid runs with
 * "-uuid ID" on its command line; this program is that process: it
 * runs itself again with those arguments.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fakepeer.h"
#include "hv-registry.h"
#include "tap.h"

#define ID "3f2504e0-4f89-41d3-9a0c-0305e82c3301"

#define GREETING                                                               \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "         \
    "\"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define CMD(name, id) "{\"execute\":\"" name "\",\"id\":" #id "}\n"

static const struct fp_step hostile[] = {
    FP_SEND(GREETING),
    FP_EXPECT(CMD("qmp_capabilities", 1)),
    FP_SEND("{\"return\": {}, \"id\": 1}\r\n"),
    FP_EXPECT(CMD("query-block-exports", 2)),
    FP_SEND("{\"return\": [{\"id\": null}, {\"id\": 7}, {}, 5, null], "
            "\"id\": 2}\r\n"),
    FP_EXPECT(CMD("query-block-jobs", 3)),
    FP_SEND("{\"return\": [{\"device\": null, \"type\": \"backup\"}, "
            "{\"device\": {\"a\": 1}}, {\"device\": 12}, {}, \"x\", null], "
            "\"id\": 3}\r\n"),
    FP_EXPECT(CMD("query-named-block-nodes", 4)),
    FP_SEND("{\"return\": [{\"node-name\": null}, {\"node-name\": []}, "
            "{\"node-name\": \"\"}, {\"node-name\": \"drive0\"}], "
            "\"id\": 4}\r\n"),
    FP_EXPECT(CMD("nbd-server-stop", 5)),
    FP_SEND("{\"return\": {}, \"id\": 5}\r\n"),
    FP_END,
};

/* A reply that is not a list at all. */
static const struct fp_step not_lists[] = {
    FP_SEND(GREETING),
    FP_EXPECT(CMD("qmp_capabilities", 1)),
    FP_SEND("{\"return\": {}, \"id\": 1}\r\n"),
    FP_EXPECT(CMD("query-block-exports", 2)),
    FP_SEND("{\"return\": 0, \"id\": 2}\r\n"),
    FP_EXPECT(CMD("query-block-jobs", 3)),
    FP_SEND("{\"return\": {\"device\": null}, \"id\": 3}\r\n"),
    FP_EXPECT(CMD("query-named-block-nodes", 4)),
    FP_SEND("{\"return\": \"snap-\", \"id\": 4}\r\n"),
    FP_EXPECT(CMD("nbd-server-stop", 5)),
    FP_SEND("{\"return\": {}, \"id\": 5}\r\n"),
    FP_END,
};

static void __attribute__((noreturn, format(printf, 1, 2)))
bail(const char *fmt, ...)
{
    va_list ap;

    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    exit(1);
}

static void
reap_against(struct hv *hv, const char *dir, const struct fp_step *steps,
             const char *what)
{
    char sock[PATH_MAX];
    struct hv_disk disk = { 0 };
    struct hv_domain d = {
        .id = ID, .name = "reaped", .cpus = 1, .memory_mb = 64,
        .accel = "tcg", .disks = &disk, .ndisks = 1, .state_dir = dir,
    };
    struct error *err = NULL;
    struct fakepeer *fp;
    int rc;

    snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
    unlink(sock);
    fp = fakepeer_start_unix(sock, 0, steps);
    rc = hv_backup_reap(hv, &d, NULL, &err);
    ok(rc == 0, "%s: the reaper returns", what);
    if (err) {
        diag("%s", error_msg(err));
    }
    error_free(err);
    ok(fakepeer_finish(fp), "%s: it asked what the script expects and "
       "cancelled nothing", what);
}

int
main(int argc, char **argv)
{
    char dir[] = "/tmp/vmsnap-reap.XXXXXX", pidfile[PATH_MAX];
    struct error *err = NULL;
    struct config *cfg;
    struct hv *hv;
    FILE *f;

    if (argc < 3 || strcmp(argv[1], "-uuid") != 0) {
        execl("/proc/self/exe", argv[0], "-uuid", ID, (char *)NULL);
        bail("cannot run myself again");
    }
    if (mkdtemp(dir) == NULL) {
        bail("mkdtemp");
    }
    snprintf(pidfile, sizeof(pidfile), "%s/qemu.pid", dir);
    f = fopen(pidfile, "w");
    if (f == NULL) {
        bail("cannot write %s", pidfile);
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    cfg = config_load("/dev/null", &err);
    hv = cfg ? hv_open("qemu", cfg, &err) : NULL;
    if (hv == NULL) {
        bail("cannot open the qemu driver: %s",
             err ? error_msg(err) : "?");
    }

    reap_against(hv, dir, hostile, "names null, numbers, objects, missing");
    reap_against(hv, dir, not_lists, "replies that are not lists");

    hv_close(hv);
    config_free(cfg);
    unlink(pidfile);
    snprintf(pidfile, sizeof(pidfile), "%s/qmp.sock", dir);
    unlink(pidfile);
    rmdir(dir);
    return tap_done();
}
