/* Unit tests of the accelerator choice.
 *
 * The probe checks run the real qemu-system-x86_64 and are skipped when it
 * is not in PATH.  Which accelerator "auto" picks depends on the machine,
 * so the test only demands that it agrees with a KVM probe run here.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accel-probe.h"
#include "accel.h"
#include "cleanup.h"
#include "error.h"
#include "log.h"
#include "tap.h"

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True when PROG is an executable file in one of PATH's directories. */
static bool
in_path(const char *prog)
{
    const char *path = getenv("PATH");
    const char *p = path ? path : "/usr/bin:/bin";

    while (*p) {
        size_t len = strcspn(p, ":");
        char file[4096];

        snprintf(file, sizeof(file), "%.*s/%s", (int)len, p, prog);
        if (len > 0 && access(file, X_OK) == 0) {
            return true;
        }
        p += len;
        if (*p == ':') {
            p++;
        }
    }
    return false;
}

static void
test_names(void)
{
    ok(strcmp(accel_name(ACCEL_KVM), "kvm") == 0 &&
           strcmp(accel_name(ACCEL_TCG), "tcg") == 0,
       "names");
    ok(strcmp(accel_machine(ACCEL_KVM), "q35,accel=kvm") == 0 &&
           strcmp(accel_cpu(ACCEL_KVM), "host") == 0,
       "KVM arguments");
    ok(strcmp(accel_machine(ACCEL_TCG), "q35,accel=tcg") == 0 &&
           strcmp(accel_cpu(ACCEL_TCG), "max") == 0,
       "TCG arguments");
}

static void
test_overrides(void)
{
    static const char *const bad[] = {"KVM", "xen", "kvm ", "tcg,kvm"};
    enum accel_kind kind = ACCEL_TCG;
    struct error *err = NULL;
    size_t i;

    ok(accel_choose("kvm", &kind, &err) == 0 && kind == ACCEL_KVM &&
           err == NULL,
       "override kvm is taken without a probe");
    ok(accel_choose("tcg", &kind, &err) == 0 && kind == ACCEL_TCG &&
           err == NULL,
       "override tcg");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kind = ACCEL_KVM;
        ok(accel_choose(bad[i], &kind, &err) == -1 && err != NULL &&
               error_get_class(err) == ERR_INVALID && kind == ACCEL_KVM,
           "override '%s' is refused", bad[i]);
        if (err) {
            diag("%s", error_msg(err));
        }
        error_free(err);
        err = NULL;
    }
    ok(accel_choose("bad", &kind, NULL) == -1, "refused without errp");
}

static void
test_image(void)
{
    size_t size = (size_t)(accel_probe_image_end - accel_probe_image);

    ok(size >= 64 && size <= ACCEL_PROBE_RESET_OFFSET,
       "probe image is %zu bytes", size);
    ok(accel_probe_reset[0] == 0xea, "reset stub starts with a far jump");
}

static void
test_probes(void)
{
    CLEANUP_ERROR struct error *kvm_err = NULL;
    CLEANUP_ERROR struct error *err = NULL;
    enum accel_kind kind, again;
    long long start;
    int r;

    {
        CLEANUP_FREE char *path =
            getenv("PATH") ? strdup(getenv("PATH")) : NULL;

        setenv("PATH", "/nonexistent", 1);
        r = accel_probe("tcg", "max", 20000, &err);
        ok(r == -1 && err != NULL && error_get_class(err) == ERR_IO,
           "probe fails with ERR_IO when QEMU is missing");
        if (err) {
            diag("%s", error_msg(err));
        }
        error_free(err);
        err = NULL;
        if (path) {
            setenv("PATH", path, 1);
        } else {
            unsetenv("PATH");
        }
    }

    if (!in_path("qemu-system-x86_64")) {
        ok(true, "# SKIP qemu-system-x86_64 not in PATH");
        return;
    }

    start = now_ms();
    r = accel_probe("tcg", "max", 20000, &err);
    ok(r == 0, "probe passes under TCG (%lld ms)", now_ms() - start);
    if (err) {
        diag("%s", error_msg(err));
    }

    /* A CPU model without long mode must fail the probe, through the
     * guest's own report.
     */
    error_free(err);
    err = NULL;
    r = accel_probe("tcg", "pentium3", 20000, &err);
    ok(r == -1 && err != NULL && strstr(error_msg(err), "long mode"),
       "probe fails under TCG without long mode");
    if (err) {
        diag("%s", error_msg(err));
    }

    error_free(err);
    err = NULL;
    r = accel_probe("tcg", "no-such-cpu", 20000, &err);
    ok(r == -1 && err != NULL, "probe fails when QEMU refuses to start");
    if (err) {
        diag("%s", error_msg(err));
    }

    error_free(err);
    err = NULL;
    r = accel_probe("tcg", "max", 1, &err);
    ok(r == -1 && err != NULL && error_get_class(err) == ERR_TIMEOUT,
       "probe times out");

    /* Whatever auto picks must be what the KVM probe says. */
    start = now_ms();
    r = accel_choose(NULL, &kind, NULL);
    ok(r == 0, "auto chooses %s (%lld ms)", accel_name(kind), now_ms() - start);
    start = now_ms();
    r = accel_probe("kvm", "host", ACCEL_PROBE_TIMEOUT_MS, &kvm_err);
    diag("KVM probe %s in %lld ms%s%s", r == 0 ? "passed" : "failed",
         now_ms() - start, kvm_err ? ": " : "",
         kvm_err ? error_msg(kvm_err) : "");
    if (access("/dev/kvm", R_OK | W_OK) == 0) {
        ok(kind == (r == 0 ? ACCEL_KVM : ACCEL_TCG),
           "auto agrees with the KVM probe");
    } else {
        ok(kind == ACCEL_TCG, "auto picks TCG without /dev/kvm");
    }

    start = now_ms();
    ok(accel_choose("auto", &again, NULL) == 0 && again == kind,
       "auto is cached");
    /* A second probe would take a QEMU start; a cached answer is a
     * lookup.  One second leaves room for a loaded machine.
     */
    ok(now_ms() - start < 1000, "cached choice is quick");
}

int
main(void)
{
    log_init("test-accel");
    test_names();
    test_overrides();
    test_image();
    test_probes();
    return tap_done();
}
