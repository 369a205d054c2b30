/* vmsnap: choosing the accelerator for the QEMU instances we launch (see
 * accel.h; the probe guest itself is in accel-probe.S).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "accel-probe.h"
#include "accel.h"
#include "fileio.h"
#include "log.h"

#define ACCEL_QEMU "qemu-system-x86_64"
#define ACCEL_MACHINE_TYPE "q35"
#define ACCEL_KVM_DEVICE "/dev/kvm"

#define ACCEL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ACCEL_STR_(x) #x
#define ACCEL_STR(x) ACCEL_STR_(x)

/* The descriptor under which QEMU finds the probe ROM. */
#define ACCEL_ROM_FD 3

/* Bytes of QEMU's output kept for the error message. */
#define ACCEL_OUTPUT_MAX 4096

/* How often a child that closed its output is checked for its exit. */
#define ACCEL_REAP_INTERVAL_MS 5

static const struct accel_info {
    const char *name;    /* for --accel and logs */
    const char *machine; /* -machine value */
    const char *cpu;     /* -cpu value */
} accel_table[] = {
    [ACCEL_KVM] = {"kvm", ACCEL_MACHINE_TYPE ",accel=kvm", "host"},
    [ACCEL_TCG] = {"tcg", ACCEL_MACHINE_TYPE ",accel=tcg", "max"},
};

/* What QEMU prints when KVM could not run the guest.  QEMU then stops the
 * guest but keeps running, so the probe kills it at once rather than wait
 * for the timeout.
 */
static const char *const accel_kvm_failures[] = {
    "KVM internal error", /* the emulator met an instruction it lacks */
    "KVM: entry failed",  /* the hardware refused the guest state */
    "kvm run failed",     /* KVM_RUN itself failed */
};

/* Why the probe guest stopped, indexed by the byte it wrote. */
static const char *const accel_probe_reasons[] = {
    [ACCEL_PROBE_E_NO_LM] = "CPU model offers no long mode",
    [ACCEL_PROBE_E_NO_LMA] = "long mode not active after enabling paging",
    [ACCEL_PROBE_E_NO_SSE] = "CPU model offers no SSE2",
    [ACCEL_PROBE_E_SSE] = "SSE2 computation came out wrong",
    [ACCEL_PROBE_E_TRAP] = "breakpoint exception not delivered",
    [ACCEL_PROBE_E_MEMORY] = "memory did not read back as written",
};

/* How one run of QEMU ended. */
struct accel_outcome {
    int wstatus;                /* from waitpid */
    bool timed_out;             /* killed for running too long */
    bool kvm_failed;            /* killed after printing a KVM failure */
    char out[ACCEL_OUTPUT_MAX]; /* start of stdout and stderr, terminated */
    size_t out_len;             /* bytes in out */
};

/* The automatic choice, once made: an enum accel_kind, or -1. */
static int accel_cached = -1;

static const struct accel_info *
accel_info(enum accel_kind kind)
{
    if ((unsigned int)kind >= ACCEL_ARRAY_SIZE(accel_table)) {
        abort();
    }
    return &accel_table[kind];
}

const char *
accel_name(enum accel_kind kind)
{
    return accel_info(kind)->name;
}

const char *
accel_machine(enum accel_kind kind)
{
    return accel_info(kind)->machine;
}

const char *
accel_cpu(enum accel_kind kind)
{
    return accel_info(kind)->cpu;
}

static long long
accel_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Build the probe's ROM (see accel-probe.S) in an anonymous memory file
 * and return its descriptor (close-on-exec), or -1 with an error.
 */
static int
accel_rom_fd(struct error **errp)
{
#if defined(__x86_64__)
    size_t size = (size_t)(accel_probe_image_end - accel_probe_image);
    int fd;

    if (size > ACCEL_PROBE_RESET_OFFSET) {
        error_setg(errp, ERR_GENERIC, "probe image is %zu bytes, more than %d",
                   size, ACCEL_PROBE_RESET_OFFSET);
        return -1;
    }
    fd = memfd_create("vmsnap-accel-probe", MFD_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "memfd_create");
        return -1;
    }
    if (ftruncate(fd, ACCEL_PROBE_ROM_SIZE) < 0 ||
        fileio_pwrite_all(fd, accel_probe_image, size, 0) < 0 ||
        fileio_pwrite_all(fd, accel_probe_reset, ACCEL_PROBE_RESET_SIZE,
                         ACCEL_PROBE_RESET_OFFSET) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "writing the probe ROM");
        close(fd);
        return -1;
    }
    return fd;
#else
    error_setg(errp, ERR_GENERIC, "the probe guest exists for x86-64 only");
    return -1;
#endif
}

/* In the child: stdin from /dev/null, stdout and stderr into OUT_FD, the
 * ROM at ACCEL_ROM_FD, default signal handling, then exec ARGV.  On
 * failure, write errno to ERR_FD and exit.  Only async-signal-safe calls.
 */
static void __attribute__((noreturn))
accel_child(char *const argv[], int rom_fd, int out_fd, int err_fd)
{
    sigset_t none;
    int rom, out, nul, e;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);

    /* Move our descriptors above the ones being set up first. */
    rom = fcntl(rom_fd, F_DUPFD, 10);
    out = fcntl(out_fd, F_DUPFD, 10);
    nul = open("/dev/null", O_RDONLY);
    if (rom < 0 || out < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 ||
        dup2(out, 2) < 0 || dup2(rom, ACCEL_ROM_FD) < 0) {
        goto fail;
    }
    close(rom);
    close(out);
    if (nul > ACCEL_ROM_FD) {
        close(nul);
    }
    execvp(argv[0], argv);
fail:
    e = errno;
    if (write(err_fd, &e, sizeof(e)) < 0) {
        /* Nothing left to tell it to. */
    }
    _exit(127);
}

/* True when the output so far says that KVM failed to run the guest. */
static bool
accel_output_kvm_failed(const struct accel_outcome *o)
{
    size_t i;

    for (i = 0; i < ACCEL_ARRAY_SIZE(accel_kvm_failures); i++) {
        if (strstr(o->out, accel_kvm_failures[i]) != NULL) {
            return true;
        }
    }
    return false;
}

/* Kill PID and reap it. */
static void
accel_kill(pid_t pid, int *wstatus)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, wstatus, 0) < 0 && errno == EINTR) {
    }
}

/* Collect the output of PID from FD until it closes, the deadline passes
 * or a KVM failure shows; then reap PID, killing it first if it is still
 * running.  Fills O.  Returns 0, or -1 with an error if waiting failed.
 */
static int
accel_collect(pid_t pid, int fd, long long deadline, struct accel_outcome *o,
              struct error **errp)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long long left = deadline - accel_now_ms();
        char buf[1024];
        ssize_t n;
        int r;

        if (left <= 0) {
            o->timed_out = true;
            accel_kill(pid, &o->wstatus);
            return 0;
        }
        r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno != EINTR) {
            error_setg_errno(errp, ERR_IO, errno, "poll");
            accel_kill(pid, &o->wstatus);
            return -1;
        }
        if (r <= 0) {
            continue;
        }
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if ((size_t)n > sizeof(o->out) - 1 - o->out_len) {
            n = (ssize_t)(sizeof(o->out) - 1 - o->out_len);
        }
        memcpy(o->out + o->out_len, buf, (size_t)n);
        o->out_len += (size_t)n;
        o->out[o->out_len] = '\0';
        if (accel_output_kvm_failed(o)) {
            o->kvm_failed = true;
            accel_kill(pid, &o->wstatus);
            return 0;
        }
    }

    /* QEMU closed its output: it is exiting, normally within moments. */
    for (;;) {
        pid_t r = waitpid(pid, &o->wstatus, WNOHANG);
        struct timespec nap = {0, ACCEL_REAP_INTERVAL_MS * 1000000L};

        if (r == pid) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            error_setg_errno(errp, ERR_IO, errno, "waitpid");
            accel_kill(pid, &o->wstatus);
            return -1;
        }
        if (accel_now_ms() >= deadline) {
            o->timed_out = true;
            accel_kill(pid, &o->wstatus);
            return 0;
        }
        nanosleep(&nap, NULL);
    }
}

/* Run ARGV with the ROM at ACCEL_ROM_FD and fill O.  Returns 0 when
 * QEMU ran (whatever became of it), or -1 with an error when it could not
 * be started or waited for.
 */
static int
accel_run(char *const argv[], int rom_fd, int timeout_ms,
          struct accel_outcome *o, struct error **errp)
{
    long long deadline = accel_now_ms() + timeout_ms;
    int out_pipe[2], err_pipe[2];
    int child_errno = 0, fork_errno, ret;
    ssize_t n;
    pid_t pid;

    if (pipe2(out_pipe, O_CLOEXEC) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "pipe");
        return -1;
    }
    if (pipe2(err_pipe, O_CLOEXEC) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "pipe");
        close(out_pipe[0]);
        close(out_pipe[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        accel_child(argv, rom_fd, out_pipe[1], err_pipe[1]);
    }
    fork_errno = errno;
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (pid < 0) {
        error_setg_errno(errp, ERR_IO, fork_errno, "fork");
        close(out_pipe[0]);
        close(err_pipe[0]);
        return -1;
    }

    /* The error pipe closes on exec, or brings errno when exec failed. */
    do {
        n = read(err_pipe[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    close(err_pipe[0]);
    if (n == (ssize_t)sizeof(child_errno)) {
        accel_kill(pid, &o->wstatus);
        close(out_pipe[0]);
        error_setg_errno(errp, ERR_IO, child_errno, "cannot run %s", argv[0]);
        return -1;
    }

    ret = accel_collect(pid, out_pipe[0], deadline, o, errp);
    close(out_pipe[0]);
    return ret;
}

/* The first line of QEMU's output, or "no output", in BUF. */
static const char *
accel_first_line(const struct accel_outcome *o, char *buf, size_t size)
{
    size_t len = strcspn(o->out, "\n");

    if (len == 0) {
        return "no output";
    }
    snprintf(buf, size, "%.*s", (int)len, o->out);
    return buf;
}

int
accel_probe(const char *accel, const char *cpu, int timeout_ms,
            struct error **errp)
{
    struct accel_outcome o;
    char machine[64], cpu_arg[64], rom[32], line[256];
    char *argv[] = {
        ACCEL_QEMU,
        "-machine",
        machine,
        "-cpu",
        cpu_arg,
        "-m",
        "64",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-device",
        "isa-debug-exit,iobase=" ACCEL_STR(ACCEL_PROBE_PORT) ",iosize=1",
        "-bios",
        rom,
        NULL};
    const char *first;
    int rom_fd, ret, code;

    if ((size_t)snprintf(machine, sizeof(machine), "%s,accel=%s",
                         ACCEL_MACHINE_TYPE, accel) >= sizeof(machine) ||
        (size_t)snprintf(cpu_arg, sizeof(cpu_arg), "%s", cpu) >=
            sizeof(cpu_arg)) {
        error_setg(errp, ERR_INVALID, "accelerator or CPU name too long");
        return -1;
    }
    snprintf(rom, sizeof(rom), "/proc/self/fd/%d", ACCEL_ROM_FD);
    memset(&o, 0, sizeof(o));

    rom_fd = accel_rom_fd(errp);
    if (rom_fd < 0) {
        return -1;
    }
    ret = accel_run(argv, rom_fd, timeout_ms, &o, errp);
    close(rom_fd);
    if (ret < 0) {
        return -1;
    }

    first = accel_first_line(&o, line, sizeof(line));
    if (o.timed_out) {
        error_setg(errp, ERR_TIMEOUT,
                   "probe guest did not finish within %d ms (%s)", timeout_ms,
                   first);
        return -1;
    }
    if (o.kvm_failed) {
        error_setg(errp, ERR_GENERIC, "KVM failed to run the probe guest: %s",
                   first);
        return -1;
    }
    if (WIFSIGNALED(o.wstatus)) {
        error_setg(errp, ERR_GENERIC, "QEMU killed by signal %d (%s): %s",
                   WTERMSIG(o.wstatus), strsignal(WTERMSIG(o.wstatus)), first);
        return -1;
    }
    code = WEXITSTATUS(o.wstatus);
    if (code == ((ACCEL_PROBE_PASS << 1) | 1)) {
        return 0;
    }
    if ((code & 1) &&
        (size_t)(code >> 1) < ACCEL_ARRAY_SIZE(accel_probe_reasons) &&
        accel_probe_reasons[code >> 1] != NULL) {
        error_setg(errp, ERR_GENERIC, "probe guest failed: %s",
                   accel_probe_reasons[code >> 1]);
        return -1;
    }
    error_setg(errp, ERR_GENERIC, "QEMU exited with status %d: %s", code,
               first);
    return -1;
}

/* The automatic choice, without the cache. */
static enum accel_kind
accel_detect(void)
{
    struct error *err = NULL;
    long long start;
    int fd;

    fd = open(ACCEL_KVM_DEVICE, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        log_debug("accel", "cannot open %s (%s): using TCG", ACCEL_KVM_DEVICE,
                  strerror(errno));
        return ACCEL_TCG;
    }
    close(fd);

    start = accel_now_ms();
    if (accel_probe(accel_name(ACCEL_KVM), accel_cpu(ACCEL_KVM),
                    ACCEL_PROBE_TIMEOUT_MS, &err) < 0) {
        log_debug("accel", "KVM probe failed after %lld ms: %s: using TCG",
                  accel_now_ms() - start, error_msg(err));
        error_free(err);
        return ACCEL_TCG;
    }
    log_debug("accel", "KVM probe passed in %lld ms: using KVM",
              accel_now_ms() - start);
    return ACCEL_KVM;
}

int
accel_choose(const char *override, enum accel_kind *out, struct error **errp)
{
    int kind;

    if (override != NULL && override[0] != '\0' &&
        strcmp(override, "auto") != 0) {
        if (strcmp(override, accel_name(ACCEL_KVM)) == 0) {
            *out = ACCEL_KVM;
        } else if (strcmp(override, accel_name(ACCEL_TCG)) == 0) {
            *out = ACCEL_TCG;
        } else {
            error_setg(errp, ERR_INVALID,
                       "unknown accelerator '%s' (expected kvm, tcg or auto)",
                       override);
            return -1;
        }
        log_debug("accel", "using %s as asked", override);
        return 0;
    }

    kind = __atomic_load_n(&accel_cached, __ATOMIC_ACQUIRE);
    if (kind < 0) {
        kind = (int)accel_detect();
        __atomic_store_n(&accel_cached, kind, __ATOMIC_RELEASE);
    } else {
        log_debug("accel", "using %s (probed before)",
                  accel_name((enum accel_kind)kind));
    }
    *out = (enum accel_kind)kind;
    return 0;
}
