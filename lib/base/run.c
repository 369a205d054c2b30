/* vmsnap: run a helper program without a shell (see run.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "dynbuf.h"
#include "log.h"
#include "run.h"
#include "xalloc.h"

/* Size of one read from a pipe. */
#define RUN_CHUNK 32768

/* Longest line handed to on_line in one piece. */
#define RUN_LINE_MAX RUN_STDERR_MAX

/* A helper's output, kept up to a cap: the first bytes (stdout) or the
 * last ones (stderr), as TAIL says.
 */
struct run_out {
    struct dynbuf buf; /* what is kept */
    bool tail;         /* keep the last bytes instead of the first */
    bool dropped;      /* some bytes were dropped */
};

/* Line assembler of run_stream. */
struct run_lines {
    char buf[RUN_LINE_MAX + 1]; /* the current line, NUL-terminated */
    size_t len;                 /* bytes in buf */
    void (*on_line)(const char *line, void *opaque); /* consumer */
    void *opaque;                                    /* its argument */
};

static int64_t
run_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
run_out_init(struct run_out *o, size_t cap, bool tail)
{
    dynbuf_init(&o->buf, cap);
    o->tail = tail;
    o->dropped = false;
}

/* Append LEN bytes of P, dropping what does not fit as TAIL says. */
static void
run_out_add(struct run_out *o, const char *p, size_t len)
{
    size_t room = dynbuf_room(&o->buf);
    size_t cap = dynbuf_len(&o->buf) + room;

    if (!o->tail) {
        if (len > room) {
            len = room;
            o->dropped = true;
        }
    } else if (len >= cap) {
        /* Keep the last cap bytes of everything seen. */
        if (len > cap || dynbuf_len(&o->buf) > 0) {
            o->dropped = true;
        }
        p += len - cap;
        len = cap;
        dynbuf_truncate(&o->buf, 0);
    } else if (len > room) {
        dynbuf_consume(&o->buf, len - room);
        o->dropped = true;
    }
    /* Cannot fail: what is added fits. */
    dynbuf_add(&o->buf, p, len, NULL);
}

/* Move what O kept into *DATA and *LEN (a NUL-terminated string the
 * caller frees) and *DROPPED.
 */
static void
run_out_finish(struct run_out *o, char **data, size_t *len, bool *dropped)
{
    *data = dynbuf_take(&o->buf, len, NULL);
    *dropped = o->dropped;
}

static void
run_lines_flush(struct run_lines *l)
{
    if (l->len > 0) {
        l->buf[l->len] = '\0';
        l->on_line(l->buf, l->opaque);
        l->len = 0;
    }
}

static void
run_lines_add(struct run_lines *l, const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] == '\n' || p[i] == '\r') {
            run_lines_flush(l);
            continue;
        }
        l->buf[l->len++] = p[i];
        if (l->len == RUN_LINE_MAX) {
            run_lines_flush(l);
        }
    }
}

/* Make a close-on-exec pipe whose ends are both above 2, so that the
 * dup2 calls in the child cannot overwrite one another.
 */
static int
run_pipe(int fds[2], struct error **errp)
{
    int i;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "pipe");
        return -1;
    }
    for (i = 0; i < 2; i++) {
        if (fds[i] <= STDERR_FILENO) {
            int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);

            if (fd < 0) {
                int e = errno;

                close(fds[0]);
                close(fds[1]);
                fds[0] = fds[1] = -1;
                error_setg_errno(errp, ERR_IO, e, "fcntl");
                return -1;
            }
            close(fds[i]);
            fds[i] = fd;
        }
    }
    return 0;
}

static void
run_close_pair(int fds[2])
{
    if (fds[0] >= 0) {
        close(fds[0]);
        fds[0] = -1;
    }
    if (fds[1] >= 0) {
        close(fds[1]);
        fds[1] = -1;
    }
}

/* The child side, between fork and exec: only async-signal-safe calls.
 * Reports errno on REPORT_FD and exits 127 if anything fails.
 */
static void __attribute__((noreturn))
run_child(const char *const *argv, const struct run_opts *opts,
          char *const *envp, int in_fd, int out_fd, int err_fd,
          int report_fd, pid_t parent)
{
    /* execvp takes char *const[] for historical reasons and does not
     * write through it; a union converts without a qualifier cast.
     */
    union {
        const char *const *c;
        char *const *m;
    } args = {.c = argv};
    struct sigaction sa;
    sigset_t all;
    int sig, e;

    /* A helper dies with us (audit M5): a qemu-img left running after a
     * SIGKILL would fill the disk with a file nobody records.  The
     * parent may have died before the prctl: then go no further.
     */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) {
        goto fail;
    }
    if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(err_fd, STDERR_FILENO) < 0) {
        goto fail;
    }

    /* A daemon ignores SIGPIPE, and ignored signals survive exec: give
     * the helper the default actions and an empty mask.
     */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            sigaction(sig, &sa, NULL);
        }
    }
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);

    if (opts->as_limit > 0) {
        struct rlimit rl = {.rlim_cur = opts->as_limit,
                            .rlim_max = opts->as_limit};

        if (setrlimit(RLIMIT_AS, &rl) < 0) {
            goto fail;
        }
    }
    if (opts->fsize_limit > 0) {
        struct rlimit rl = {.rlim_cur = opts->fsize_limit,
                            .rlim_max = opts->fsize_limit};

        if (setrlimit(RLIMIT_FSIZE, &rl) < 0) {
            goto fail;
        }
    }
    if (opts->cpu_limit_s > 0) {
        struct rlimit rl = {.rlim_cur = opts->cpu_limit_s,
                            .rlim_max = opts->cpu_limit_s};

        if (setrlimit(RLIMIT_CPU, &rl) < 0) {
            goto fail;
        }
    }

    if (envp != NULL) {
        execvpe(argv[0], args.m, envp);
    } else {
        execvp(argv[0], args.m);
    }

fail:
    e = errno;
    while (write(report_fd, &e, sizeof(e)) < 0 && errno == EINTR) {
    }
    _exit(127);
}

/* Wait for PID, retrying EINTR, and record its fate in RES. */
static void
run_reap(pid_t pid, struct run_result *res)
{
    int st = 0;
    pid_t r;

    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        /* Only if someone reaped our child (SIGCHLD set to SIG_IGN). */
        res->status = -1;
        res->signal = 0;
        return;
    }
    if (WIFEXITED(st)) {
        res->status = WEXITSTATUS(st);
        res->signal = 0;
    } else if (WIFSIGNALED(st)) {
        res->status = -1;
        res->signal = WTERMSIG(st);
    }
}

static void
run_log_argv(const char *const *argv)
{
    char line[1024];
    size_t used = 0;
    size_t i;

    if (!log_debug_enabled("run")) {
        return;
    }
    line[0] = '\0';
    for (i = 0; argv[i] != NULL && used < sizeof(line); i++) {
        int n = snprintf(line + used, sizeof(line) - used, "%s%s", i ? " " : "",
                         argv[i]);

        if (n < 0) {
            break;
        }
        used += (size_t)n;
    }
    log_debug("run", "exec %s", line);
}

/* Read what the child wrote to the exec report pipe.  Returns 0 when the
 * exec succeeded (EOF without data), else the errno the child sent.
 */
static int
run_read_report(int fd)
{
    int e = 0;
    size_t got = 0;

    while (got < sizeof(e)) {
        ssize_t n = read(fd, (char *)&e + got, sizeof(e) - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got < sizeof(e)) {
        return 0;
    }
    return e != 0 ? e : EIO;
}

/* Pump the child's stdout and stderr until both reach EOF or DEADLINE
 * passes, calling OPTS->watch as it asks.  Returns 0 at EOF, 1 on
 * timeout, 2 when the watch stopped it (*WERR set), -1 with errno on
 * failure.
 */
static int
run_pump(int out_fd, int err_fd, int64_t deadline, const struct run_opts *o,
         struct run_out *out, struct run_lines *lines, struct run_out *err,
         struct error **werr)
{
    struct pollfd pfd[2] = {{.fd = out_fd, .events = POLLIN},
                            {.fd = err_fd, .events = POLLIN}};
    int every = o->watch_ms > 0 ? o->watch_ms : 500;
    int64_t next_watch = run_now_ms();  /* at once, then every EVERY */
    char chunk[RUN_CHUNK];
    int i;

    while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
        int wait_ms = -1;
        int r;

        if (o->watch != NULL) {
            int64_t now = run_now_ms();

            if (now >= next_watch) {
                if (o->watch(o->watch_opaque, werr) < 0) {
                    return 2;
                }
                next_watch = now + every;
            }
            wait_ms = (int)(next_watch - now);
        }
        if (deadline >= 0) {
            int64_t left = deadline - run_now_ms();

            if (left <= 0) {
                return 1;
            }
            if (wait_ms < 0 || left < wait_ms) {
                wait_ms = left > INT_MAX ? INT_MAX : (int)left;
            }
        }
        r = poll(pfd, 2, wait_ms);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        for (i = 0; i < 2; i++) {
            ssize_t n;

            if (pfd[i].fd < 0 || pfd[i].revents == 0) {
                continue;
            }
            n = read(pfd[i].fd, chunk, sizeof(chunk));
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    continue;
                }
                return -1;
            }
            if (n == 0) {
                pfd[i].fd = -1;
                continue;
            }
            if (i == 1) {
                run_out_add(err, chunk, (size_t)n);
            } else if (lines != NULL) {
                run_lines_add(lines, chunk, (size_t)n);
            } else {
                run_out_add(out, chunk, (size_t)n);
            }
        }
    }
    return 0;
}

/* Hand the output kept in OUT (unless LINES took stdout) and ERR over to
 * RES.
 */
static void
run_finish(struct run_result *res, struct run_out *out,
           const struct run_lines *lines, struct run_out *err)
{
    if (lines == NULL) {
        run_out_finish(out, &res->out, &res->out_len, &res->out_truncated);
    } else {
        dynbuf_reset(&out->buf);
    }
    run_out_finish(err, &res->err, &res->err_len, &res->err_truncated);
}

/* The child's environment: ours, with ADD's NAME=VALUE strings set over
 * it (the array is the caller's to free; its strings are borrowed).
 * Made before the fork: the child may not allocate.
 */
static char **
run_envp(const char *const *add)
{
    extern char **environ;
    size_t n = 0, k = 0, i, j;
    char **envp;

    while (environ[n] != NULL) {
        n++;
    }
    while (add[k] != NULL) {
        k++;
    }
    envp = xcalloc(n + k + 1, sizeof(*envp));
    k = 0;
    for (i = 0; environ[i] != NULL; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t len = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
        bool replaced = false;

        for (j = 0; add[j] != NULL && !replaced; j++) {
            replaced = strncmp(environ[i], add[j], len) == 0;
        }
        if (!replaced) {
            envp[k++] = environ[i];
        }
    }
    for (j = 0; add[j] != NULL; j++) {
        /* execvpe takes char *const[]; the strings are not written. */
        union {
            const char *c;
            char *m;
        } u = {.c = add[j]};

        envp[k++] = u.m;
    }
    return envp;
}

int
run_exec(const char *const *argv, const struct run_opts *opts,
         struct run_result *res, struct error **errp)
{
    static const struct run_opts defaults = {.timeout_ms = -1};
    struct run_out out, err;
    CLEANUP_FREE struct run_lines *lines = NULL;
    CLEANUP_FREE char **envp = NULL;
    int outpipe[2] = {-1, -1}, errpipe[2] = {-1, -1}, rep[2] = {-1, -1};
    CLEANUP_CLOSE int devnull = -1;
    struct error *werr = NULL;
    int64_t deadline = -1;
    pid_t pid, self;
    int e, r;

    memset(res, 0, sizeof(*res));
    res->status = -1;
    if (opts == NULL) {
        opts = &defaults;
    }
    if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0') {
        error_setg(errp, ERR_INVALID, "no program to run");
        return -1;
    }
    run_out_init(&out, RUN_STDOUT_MAX, false);
    run_out_init(&err, RUN_STDERR_MAX, true);
    if (opts->on_line != NULL) {
        lines = xcalloc(1, sizeof(*lines));
        lines->on_line = opts->on_line;
        lines->opaque = opts->opaque;
    }

    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) {
        error_setg_errno(errp, ERR_IO, errno, "open /dev/null");
        goto fail;
    }
    if (run_pipe(outpipe, errp) < 0 || run_pipe(errpipe, errp) < 0 ||
        run_pipe(rep, errp) < 0) {
        goto fail;
    }
    if (devnull <= STDERR_FILENO) {
        int fd = fcntl(devnull, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);

        if (fd < 0) {
            error_setg_errno(errp, ERR_IO, errno, "fcntl");
            goto fail;
        }
        close(devnull);
        devnull = fd;
    }

    if (opts->env != NULL) {
        envp = run_envp(opts->env);
    }
    run_log_argv(argv);
    self = getpid();
    pid = fork();
    if (pid < 0) {
        error_setg_errno(errp, ERR_IO, errno, "cannot run %s: fork", argv[0]);
        goto fail;
    }
    if (pid == 0) {
        run_child(argv, opts, envp, devnull, outpipe[1], errpipe[1], rep[1],
                  self);
    }

    close(outpipe[1]);
    close(errpipe[1]);
    close(rep[1]);
    outpipe[1] = errpipe[1] = rep[1] = -1;

    e = run_read_report(rep[0]);
    run_close_pair(rep);
    if (e != 0) {
        run_close_pair(outpipe);
        run_close_pair(errpipe);
        run_reap(pid, res);
        error_setg_errno(errp, ERR_IO, e, "cannot run %s", argv[0]);
        goto fail;
    }

    if (opts->timeout_ms >= 0) {
        deadline = run_now_ms() + opts->timeout_ms;
    }
    r = run_pump(outpipe[0], errpipe[0], deadline, opts, &out, lines, &err,
                 &werr);
    e = errno;
    run_close_pair(outpipe);
    run_close_pair(errpipe);
    if (r != 0) {
        kill(pid, SIGKILL);
    }
    run_reap(pid, res);
    if (lines != NULL) {
        run_lines_flush(lines);
    }
    run_finish(res, &out, lines, &err);
    if (r == 2) {
        error_propagate(errp, werr);
        return -1;
    }
    if (r > 0) {
        error_setg(errp, ERR_TIMEOUT, "%s timed out after %d ms", argv[0],
                   opts->timeout_ms);
        return -1;
    }
    if (r < 0) {
        error_setg_errno(errp, ERR_IO, e, "reading the output of %s", argv[0]);
        return -1;
    }
    log_debug("run", "%s: exit %d signal %d", argv[0], res->status,
              res->signal);
    return 0;

fail:
    run_close_pair(outpipe);
    run_close_pair(errpipe);
    run_close_pair(rep);
    run_finish(res, &out, lines, &err);
    return -1;
}

int
run_capture(const char *const *argv, int timeout_ms, struct run_result *res,
            struct error **errp)
{
    struct run_opts opts = {.timeout_ms = timeout_ms};

    return run_exec(argv, &opts, res, errp);
}

int
run_stream(const char *const *argv, int timeout_ms,
           void (*on_line)(const char *line, void *opaque), void *opaque,
           struct run_result *res, struct error **errp)
{
    struct run_opts opts = {
        .timeout_ms = timeout_ms, .on_line = on_line, .opaque = opaque};

    if (on_line == NULL) {
        memset(res, 0, sizeof(*res));
        res->status = -1;
        error_setg(errp, ERR_INVALID, "run_stream needs a line consumer");
        return -1;
    }
    return run_exec(argv, &opts, res, errp);
}

char *
run_result_last_err_line(const struct run_result *res)
{
    const char *s = res->err ? res->err : "";
    size_t end = res->err ? res->err_len : 0;
    size_t start;

    /* Skip trailing line ends and blanks, then find the line start. */
    while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r' ||
                       s[end - 1] == ' ' || s[end - 1] == '\t')) {
        end--;
    }
    start = end;
    while (start > 0 && s[start - 1] != '\n' && s[start - 1] != '\r') {
        start--;
    }
    return xstrndup(s + start, end - start);
}

int
run_result_error(const char *prog, const struct run_result *res,
                 struct error **errp)
{
    CLEANUP_FREE char *line = NULL;

    if (res->signal != 0) {
        error_setg(errp, ERR_GENERIC, "%s killed by signal %d (%s)", prog,
                   res->signal, strsignal(res->signal));
        return -1;
    }
    line = run_result_last_err_line(res);
    if (line[0] != '\0') {
        error_setg(errp, ERR_GENERIC, "%s failed (exit %d): %s", prog,
                   res->status, line);
    } else {
        error_setg(errp, ERR_GENERIC, "%s failed (exit %d)", prog, res->status);
    }
    return -1;
}

int
run_check(const char *const *argv, int timeout_ms, char **out,
          struct error **errp)
{
    struct run_opts opts = {.timeout_ms = timeout_ms};

    return run_check_opts(argv, &opts, out, errp);
}

int
run_check_opts(const char *const *argv, const struct run_opts *opts,
               char **out, struct error **errp)
{
    struct run_result res;
    int r = -1;

    if (run_exec(argv, opts, &res, errp) < 0) {
        goto out;
    }
    if (res.status != 0) {
        run_result_error(argv[0], &res, errp);
        goto out;
    }
    if (out != NULL) {
        if (res.out_truncated) {
            error_setg(errp, ERR_GENERIC, "output of %s is larger than %d MiB",
                       argv[0], RUN_STDOUT_MAX / (1024 * 1024));
            goto out;
        }
        *out = steal_pointer(&res.out);
    }
    r = 0;
out:
    run_result_clear(&res);
    return r;
}

void
run_result_clear(struct run_result *res)
{
    if (res == NULL) {
        return;
    }
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof(*res));
    res->status = -1;
}
