/* vmsnap tests: kill the process that holds a libvirt domain's guest
 * frozen, and measure how long the guest stays frozen after that.
 *
 *   lv-kill-thaw URI DOMAIN PID TIMEOUT_MS
 *
 * An observer independent of vmsnap: it makes the calls virsh makes
 * (its own connection, virDomainQemuAgentCommand), never vmsnap's
 * driver.  It opens the connection first, checks that the guest agent of
 * DOMAIN (a name) says "frozen", sends SIGKILL to PID and asks
 * guest-fsfreeze-status every 10 ms until the answer is "thawed".
 *
 * Prints "thawed_ms=N" (from the kill to the first "thawed" answer) and
 * exits 0; prints "frozen_after_ms=N" and exits 1 when the guest is not
 * thawed within TIMEOUT_MS; exits 2 on a setup error (a message on
 * stderr).  Agent calls that fail (libvirt busy with the rescuer's thaw)
 * are retried.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#define STATUS_CMD "{\"execute\":\"guest-fsfreeze-status\"}"
#define POLL_MS 10

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* 1 when the agent says frozen, 0 thawed, -1 when it does not answer. */
static int
frozen(virDomainPtr dom)
{
    char *reply = virDomainQemuAgentCommand(dom, STATUS_CMD, 5, 0);
    int r = -1;

    if (reply == NULL) {
        return -1;
    }
    if (strstr(reply, "\"frozen\"")) {
        r = 1;
    } else if (strstr(reply, "\"thawed\"")) {
        r = 0;
    }
    free(reply);
    return r;
}

/* libvirt reports through this; keep stderr for our own lines. */
static void
quiet(void *opaque, virErrorPtr e)
{
    (void)opaque;
    (void)e;
}

int
main(int argc, char **argv)
{
    virConnectPtr conn;
    virDomainPtr dom;
    long long t0, timeout;
    char *end;
    long pid;
    int st;

    if (argc != 5) {
        fprintf(stderr, "usage: lv-kill-thaw URI DOMAIN PID TIMEOUT_MS\n");
        return 2;
    }
    pid = strtol(argv[3], &end, 10);
    if (*end || pid <= 1) {
        fprintf(stderr, "lv-kill-thaw: bad pid '%s'\n", argv[3]);
        return 2;
    }
    timeout = strtoll(argv[4], &end, 10);
    if (*end || timeout <= 0) {
        fprintf(stderr, "lv-kill-thaw: bad timeout '%s'\n", argv[4]);
        return 2;
    }
    virSetErrorFunc(NULL, quiet);
    conn = virConnectOpen(argv[1]);
    if (conn == NULL) {
        fprintf(stderr, "lv-kill-thaw: cannot connect to %s\n", argv[1]);
        return 2;
    }
    dom = virDomainLookupByName(conn, argv[2]);
    if (dom == NULL) {
        fprintf(stderr, "lv-kill-thaw: no domain %s\n", argv[2]);
        virConnectClose(conn);
        return 2;
    }
    if (frozen(dom) != 1) {
        fprintf(stderr, "lv-kill-thaw: the guest of %s is not frozen\n",
                argv[2]);
        virDomainFree(dom);
        virConnectClose(conn);
        return 2;
    }
    t0 = now_ms();
    if (kill((pid_t)pid, SIGKILL) < 0) {
        perror("lv-kill-thaw: kill");
        virDomainFree(dom);
        virConnectClose(conn);
        return 2;
    }
    while ((st = frozen(dom)) != 0 && now_ms() - t0 < timeout) {
        sleep_ms(POLL_MS);
    }
    if (st == 0) {
        printf("thawed_ms=%lld\n", now_ms() - t0);
    } else {
        printf("frozen_after_ms=%lld\n", now_ms() - t0);
    }
    virDomainFree(dom);
    virConnectClose(conn);
    return st == 0 ? 0 : 1;
}
