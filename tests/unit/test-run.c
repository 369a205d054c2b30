/* Unit tests of the run module: real child processes (sh, sleep, head). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "cleanup.h"
#include "error.h"
#include "run.h"
#include "tap.h"
#include "xalloc.h"

/* Lines collected by the stream test. */
struct lines {
    char text[256]; /* lines joined with '|' */
    int n;          /* lines seen */
};

static void
collect_line(const char *line, void *opaque)
{
    struct lines *l = opaque;
    size_t used = strlen(l->text);

    snprintf(l->text + used, sizeof(l->text) - used, "%s%s", l->n ? "|" : "",
             line);
    l->n++;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool
err_is(struct error *err, enum error_class cls, const char *msg)
{
    if (err == NULL) {
        diag("no error set");
        return false;
    }
    if (error_get_class(err) != cls || strcmp(error_msg(err), msg) != 0) {
        diag("got class %d: %s", error_get_class(err), error_msg(err));
        return false;
    }
    return true;
}

static void
test_capture(void)
{
    const char *argv[] = {"sh", "-c", "echo hello; echo oops >&2; exit 3",
                          NULL};
    struct run_result res;
    struct error *err = NULL;

    ok(run_capture(argv, 5000, &res, &err) == 0 && err == NULL,
       "capture: non-zero exit still returns 0");
    ok(res.status == 3 && res.signal == 0, "capture: exit code 3");
    ok(res.out_len == 6 && strcmp(res.out, "hello\n") == 0,
       "capture: stdout kept");
    ok(strcmp(res.err, "oops\n") == 0, "capture: stderr kept");
    ok(!res.out_truncated && !res.err_truncated, "capture: not truncated");
    run_result_clear(&res);
    run_result_clear(&res);
    ok(res.out == NULL && res.err == NULL, "clear twice is harmless");
}

static void
test_check(void)
{
    const char *t[] = {"true", NULL};
    const char *f[] = {"false", NULL};
    const char *sh[] = {"sh", "-c",
                        "echo out; echo first >&2; echo 'last words' >&2; "
                        "echo >&2; exit 2",
                        NULL};
    const char *echo[] = {"echo", "-n", "a b", NULL};
    char *out = NULL;
    struct error *err = NULL;

    ok(run_check(t, 5000, NULL, &err) == 0 && err == NULL, "check: true");
    ok(run_check(f, 5000, &out, &err) == -1 && out == NULL &&
           err_is(err, ERR_GENERIC, "false failed (exit 1)"),
       "check: false fails without stderr");
    error_free(err);
    err = NULL;
    ok(run_check(sh, 5000, NULL, &err) == -1 &&
           err_is(err, ERR_GENERIC, "sh failed (exit 2): last words"),
       "check: last non-empty stderr line in the message");
    error_free(err);
    err = NULL;
    ok(run_check(echo, 5000, &out, &err) == 0 && out != NULL &&
           strcmp(out, "a b") == 0,
       "check: stdout handed over, arguments not split by a shell");
    free(out);
}

static void
test_timeout(void)
{
    const char *argv[] = {"sleep", "10", NULL};
    struct run_result res;
    struct error *err = NULL;
    double t0 = now_s(), dt;

    ok(run_capture(argv, 200, &res, &err) == -1 &&
           err_is(err, ERR_TIMEOUT, "sleep timed out after 200 ms"),
       "timeout: ERR_TIMEOUT");
    dt = now_s() - t0;
    ok(dt >= 0.19 && dt < 3, "timeout: returned after %.2f s", dt);
    ok(res.signal == SIGKILL && res.status == -1,
       "timeout: child killed with SIGKILL");
    run_result_clear(&res);
    error_free(err);
}

static void
test_missing(void)
{
    const char *abs[] = {"/nonexistent/prog", NULL};
    const char *path[] = {"vmsnap-no-such-program", "x", NULL};
    const char *noexec[] = {"/etc/passwd", NULL};
    const char *empty[] = {NULL};
    struct run_result res;
    struct error *err = NULL;

    ok(run_capture(abs, 5000, &res, &err) == -1 &&
           err_is(err, ERR_IO,
                  "cannot run /nonexistent/prog: No such file or directory"),
       "missing program by path");
    run_result_clear(&res);
    error_free(err);
    err = NULL;
    ok(run_check(path, 5000, NULL, &err) == -1 &&
           err_is(err, ERR_IO,
                  "cannot run vmsnap-no-such-program: No such "
                  "file or directory"),
       "missing program in PATH");
    error_free(err);
    err = NULL;
    ok(run_check(noexec, 5000, NULL, &err) == -1 &&
           err_is(err, ERR_IO, "cannot run /etc/passwd: Permission denied"),
       "file that is not executable");
    error_free(err);
    err = NULL;
    ok(run_capture(empty, 5000, &res, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_INVALID,
       "empty argv refused");
    run_result_clear(&res);
    error_free(err);
}

static void
test_bounded(void)
{
    const char *big[] = {"head", "-c", "20000000", "/dev/zero", NULL};
    const char *bigerr[] = {"sh", "-c",
                            "head -c 200000 /dev/zero | tr '\\0' x >&2; "
                            "echo >&2; echo tail-line >&2",
                            NULL};
    struct run_result res;
    struct error *err = NULL;
    char *out = NULL;
    char *line;

    ok(run_capture(big, 30000, &res, &err) == 0 && res.status == 0,
       "big stdout: child ran to the end (drained, not blocked)");
    ok(res.out_len == RUN_STDOUT_MAX && res.out_truncated,
       "big stdout: kept %zu bytes, truncated", res.out_len);
    run_result_clear(&res);
    ok(run_check(big, 30000, &out, &err) == -1 && out == NULL &&
           err_is(err, ERR_GENERIC, "output of head is larger than 16 MiB"),
       "big stdout: run_check refuses truncated output");
    error_free(err);
    err = NULL;

    ok(run_capture(bigerr, 30000, &res, &err) == 0 && res.status == 0,
       "big stderr: ran");
    ok(res.err_len == RUN_STDERR_MAX && res.err_truncated &&
           strlen(res.err) == RUN_STDERR_MAX,
       "big stderr: kept the last %zu bytes", res.err_len);
    line = run_result_last_err_line(&res);
    ok(line != NULL && strcmp(line, "tail-line") == 0,
       "big stderr: the end is kept");
    free(line);
    run_result_clear(&res);
}

static void
test_child_env(void)
{
    const char *cat[] = {"cat", NULL};
    const char *kill_self[] = {"sh", "-c", "kill -TERM $$", NULL};
    const char *sigign[] = {"grep", "^SigIgn", "/proc/self/status", NULL};
    const char *limits[] = {"sh", "-c", "ulimit -v; ulimit -t", NULL};
    struct run_opts opts = {.timeout_ms = 5000,
                            .as_limit = RUN_AS_LIMIT_DEFAULT,
                            .cpu_limit_s = 10};
    struct run_result res;
    struct error *err = NULL;
    void (*old)(int);

    ok(run_capture(cat, 5000, &res, &err) == 0 && res.status == 0 &&
           res.out_len == 0,
       "stdin is /dev/null");
    run_result_clear(&res);

    ok(run_capture(kill_self, 5000, &res, &err) == 0 && res.signal == SIGTERM &&
           res.status == -1,
       "death by signal recorded");
    ok(run_result_error("sh", &res, &err) == -1 &&
           err_is(err, ERR_GENERIC, "sh killed by signal 15 (Terminated)"),
       "death by signal message");
    error_free(err);
    err = NULL;
    run_result_clear(&res);

    old = signal(SIGPIPE, SIG_IGN);
    ok(run_capture(sigign, 5000, &res, &err) == 0 &&
           strcmp(res.out, "SigIgn:\t0000000000000000\n") == 0,
       "ignored signals are reset in the child");
    signal(SIGPIPE, old);
    run_result_clear(&res);

    ok(run_exec(limits, &opts, &res, &err) == 0 && res.status == 0 &&
           strcmp(res.out, "2097152\n10\n") == 0,
       "RLIMIT_AS and RLIMIT_CPU applied when asked");
    run_result_clear(&res);
    ok(run_capture(limits, 5000, &res, &err) == 0 &&
           strncmp(res.out, "2097152", 7) != 0,
       "no limits unless asked");
    run_result_clear(&res);
}

static void
test_stream(void)
{
    const char *argv[] = {"printf", "a\\nb\\r\\rc\\r\\n\\nlast", NULL};
    const char *fail[] = {"sh", "-c", "echo x; echo bad >&2; exit 4", NULL};
    struct lines l = {.n = 0};
    struct run_result res;
    struct error *err = NULL;

    ok(run_stream(argv, 5000, collect_line, &l, &res, &err) == 0 &&
           res.status == 0,
       "stream: ran");
    ok(strcmp(l.text, "a|b|c|last") == 0 && l.n == 4,
       "stream: lines split at \\n and \\r, empty ones skipped (%s)", l.text);
    ok(res.out == NULL, "stream: stdout not kept");
    run_result_clear(&res);

    memset(&l, 0, sizeof(l));
    ok(run_stream(fail, 5000, collect_line, &l, &res, &err) == 0 &&
           res.status == 4 && strcmp(res.err, "bad\n") == 0 &&
           strcmp(l.text, "x") == 0,
       "stream: stderr kept, exit code reported");
    run_result_clear(&res);
}

/* A watch that stops the child the second time it is asked. */
static int
stop_second(void *opaque, struct error **errp)
{
    int *calls = opaque;

    if (++*calls >= 2) {
        error_setg(errp, ERR_IO, "stopped by the watch");
        return -1;
    }
    return 0;
}

/* RLIMIT_FSIZE and the watch (audit H4: a conversion that grows without
 * bound, or while the disk fills, is stopped).
 */
static void
test_limits(void)
{
    char path[] = "/tmp/vmsnap-test-run.XXXXXX";
    CLEANUP_FREE char *script = NULL;
    struct run_opts opts = {.timeout_ms = 20000, .fsize_limit = 65536};
    struct run_result res;
    struct error *err = NULL;
    int fd = mkstemp(path), calls = 0;
    double t0;

    close(fd);
    script = xasprintf("exec head -c 1000000 /dev/zero > %s", path);
    {
        const char *argv[] = {"sh", "-c", script, NULL};

        ok(run_exec(argv, &opts, &res, &err) == 0 &&
               res.signal == SIGXFSZ,
           "fsize_limit: a child writing past it dies of SIGXFSZ (signal "
           "%d)",
           res.signal);
        run_result_clear(&res);
    }
    {
        struct stat st;

        ok(stat(path, &st) == 0 && st.st_size == 65536,
           "fsize_limit: the file stops at the limit");
    }
    unlink(path);
    memset(&opts, 0, sizeof(opts));
    opts.timeout_ms = 20000;
    opts.watch = stop_second;
    opts.watch_opaque = &calls;
    opts.watch_ms = 100;
    t0 = now_s();
    {
        const char *argv[] = {"sleep", "10", NULL};

        ok(run_exec(argv, &opts, &res, &err) < 0 &&
               err_is(err, ERR_IO, "stopped by the watch") &&
               now_s() - t0 < 5,
           "watch: returning -1 stops the child with the watch's error");
        error_free(err);
        err = NULL;
        run_result_clear(&res);
    }
    ok(calls == 2, "watch: asked at once, then every watch_ms (%d calls)",
       calls);
}

/* run_opts.env: set over the inherited environment, the rest kept. */
static void
test_env(void)
{
    const char *show[] = {"sh", "-c",
                          "echo \"$RUN_T_A/$RUN_T_B/$RUN_T_KEEP\"", NULL};
    const char *const env[] = {"RUN_T_A=new", "RUN_T_B=added", NULL};
    const char *const malloc_env[] = {RUN_ENV_NBD_MALLOC, NULL};
    const char *tunables[] = {"sh", "-c", "echo \"$GLIBC_TUNABLES\"", NULL};
    struct run_opts opts = {.timeout_ms = 5000, .env = env};
    struct error *err = NULL;
    char *out = NULL;

    setenv("RUN_T_A", "old", 1);
    setenv("RUN_T_KEEP", "kept", 1);
    ok(run_check_opts(show, &opts, &out, &err) == 0 && out &&
           strcmp(out, "new/added/kept\n") == 0,
       "env: set over ours, the rest inherited");
    free(out);
    out = NULL;
    ok(getenv("RUN_T_B") == NULL && strcmp(getenv("RUN_T_A"), "old") == 0,
       "env: ours is unchanged");
    opts.env = malloc_env;
    ok(run_check_opts(tunables, &opts, &out, &err) == 0 && out &&
           strncmp(out, "glibc.malloc.mmap_threshold=", 28) == 0,
       "RUN_ENV_NBD_MALLOC sets GLIBC_TUNABLES");
    free(out);
    unsetenv("RUN_T_A");
    unsetenv("RUN_T_KEEP");
}

int
main(void)
{
    test_capture();
    test_env();
    test_check();
    test_timeout();
    test_missing();
    test_bounded();
    test_child_env();
    test_stream();
    test_limits();
    ok(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
       "no child left behind");
    return tap_done();
}
