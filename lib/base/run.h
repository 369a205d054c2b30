/* vmsnap: run a helper program (qemu-img, hooks) without a shell.
 *
 * The program is started with fork and execvp, so ARGV[0] is looked up in
 * PATH unless it contains a '/'.  Nothing is ever passed through /bin/sh.
 * The child gets /dev/null as stdin, pipes as stdout and stderr, SIGPIPE
 * reset to its default action and an empty signal mask; it inherits the
 * environment and no other descriptor of ours (ours are close-on-exec).
 *
 * Output is bounded: stdout is kept up to RUN_STDOUT_MAX bytes and stderr
 * up to its last RUN_STDERR_MAX bytes (the end is where programs say why
 * they failed).  Whatever goes beyond is read and dropped, so a chatty
 * child never blocks on a full pipe, and the result says so.
 *
 * The child dies with the process that started it (PR_SET_PDEATHSIG), so
 * a helper never outlives a vmsnap that was killed.
 *
 * Every function here waits for the child before it returns, on success
 * and on every failure, so no zombie is left behind.  When the timeout
 * runs out the child is killed with SIGKILL (its own children, if any, are
 * not: helpers we run do not leave any).
 *
 * The functions block the calling thread for as long as the child runs
 * (at most the timeout).  They may be called from several threads at once.
 */
#ifndef VMSNAP_RUN_H
#define VMSNAP_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Bytes of stdout kept, and bytes of the end of stderr kept. */
#define RUN_STDOUT_MAX (16 * 1024 * 1024)
#define RUN_STDERR_MAX (64 * 1024)

/* A reasonable address-space limit for helpers that parse untrusted
 * images (qemu-img info): 2 GiB.
 */
#define RUN_AS_LIMIT_DEFAULT ((uint64_t)2 * 1024 * 1024 * 1024)

/* What became of a child.  A plain record: callers read the fields.
 * Initialised by every run_* function that takes one (even when that
 * function fails), and released with run_result_clear.
 */
struct run_result {
    int status;         /* exit code, or -1 if the child did not exit */
    int signal;         /* signal that killed the child, or 0 */
    char *out;          /* stdout, NUL-terminated; NULL in run_stream */
    size_t out_len;     /* bytes in out (it may hold NUL bytes) */
    bool out_truncated; /* stdout went beyond RUN_STDOUT_MAX */
    char *err;          /* end of stderr, NUL-terminated; never NULL
                         * after run_exec returned 0 */
    size_t err_len;     /* bytes in err */
    bool err_truncated; /* the start of stderr was dropped */
};

/* Everything run_exec can do.  A plain record; zero it, then set what
 * you need.
 */
struct run_opts {
    int timeout_ms;       /* kill the child after this; < 0: never */
    uint64_t as_limit;    /* RLIMIT_AS of the child in bytes; 0: none */
    unsigned cpu_limit_s; /* RLIMIT_CPU of the child in seconds; 0: none */
    /* If set, stdout is not kept but handed over line by line: a line
     * ends at '\n' or '\r' (progress meters rewrite their line with '\r'),
     * the terminator is not passed, empty lines are skipped, and a line
     * longer than RUN_STDERR_MAX is passed in pieces.  LINE is borrowed
     * for the duration of the call.  Called in the calling thread.
     */
    void (*on_line)(const char *line, void *opaque);
    void *opaque; /* passed to on_line */
    uint64_t fsize_limit; /* RLIMIT_FSIZE of the child in bytes (no file
                           * it writes grows beyond: its writes fail
                           * with EFBIG, or SIGXFSZ kills it); 0: none */
    /* If set, called in the calling thread as soon as the child started
     * and then every WATCH_MS (default 500) while it runs: returning -1
     * with errp set kills the child, and run_exec fails with that error
     * (a free-space watch).
     */
    int (*watch)(void *opaque, struct error **errp);
    void *watch_opaque; /* passed to watch */
    int watch_ms;       /* how often; <= 0: 500 */
    /* NAME=VALUE strings (NULL-terminated) set in the child's
     * environment over what it inherits; NULL: it inherits ours as is.
     */
    const char *const *env;
};

/* For an NBD server we start (qemu-nbd, QEMU): QEMU allocates a buffer
 * for every NBD read request (1 MiB from the copy path), which glibc
 * serves by mmap, or from the top of the heap that it trims again as
 * soon as the buffers are freed: every page of every request is faulted
 * in anew.  On this machine (a virtual one, where a page fault is dear)
 * that cost qemu-nbd 3.2 s of system time for a 523 MiB copy, and the
 * copy took twice as long (bench/copypath.sh).  These thresholds keep
 * such buffers in the heap and the heap's top (up to 32 MiB) mapped:
 * 6,000 faults instead of 130,000.
 */
#define RUN_ENV_NBD_MALLOC \
    "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:" \
    "glibc.malloc.trim_threshold=33554432"

/* Run ARGV (NULL-terminated, ARGV[0] the program) as OPTS says, wait for
 * it and fill *RES.  OPTS may be NULL (no timeout, no limits, stdout
 * kept).
 * Returns 0 once the child has exited or been killed by a signal, whatever
 * its exit code: the caller judges RES->status.  Returns -1 with:
 * - ERR_IO "cannot run PROG: <strerror>" when the program cannot be
 *   executed (not found, not executable), or when a pipe, fork or poll
 *   fails;
 * - ERR_TIMEOUT "PROG timed out after N ms" when the child was killed
 *   because the timeout ran out;
 * - the watch's error when the watch stopped the child.
 * *RES is always initialised and must be released with run_result_clear,
 * whatever this returns.  Blocks until the child is gone.
 */
int run_exec(const char *const *argv, const struct run_opts *opts,
             struct run_result *res, struct error **errp);

/* run_exec with a timeout and stdout kept in RES->out. */
int run_capture(const char *const *argv, int timeout_ms, struct run_result *res,
                struct error **errp);

/* run_exec handing stdout to ON_LINE line by line (see struct run_opts);
 * stderr is kept in RES->err.  RES->out stays NULL.
 */
int run_stream(const char *const *argv, int timeout_ms,
               void (*on_line)(const char *line, void *opaque), void *opaque,
               struct run_result *res, struct error **errp);

/* Run ARGV like run_capture and insist that it exits with 0.
 * On success returns 0 and, if OUT is not NULL, sets *OUT to its stdout
 * (NUL-terminated, caller frees).  Returns -1 (and leaves *OUT alone) with
 * the errors of run_exec, or ERR_GENERIC "PROG failed (exit N): <last
 * line of stderr>" (or "PROG killed by signal N (name)"), or ERR_GENERIC
 * "output of PROG is larger than 16 MiB" when OUT is wanted and stdout was
 * truncated.  Blocks until the child is gone.
 */
int run_check(const char *const *argv, int timeout_ms, char **out,
              struct error **errp);

/* run_check with OPTS (its on_line must be NULL: stdout is kept). */
int run_check_opts(const char *const *argv, const struct run_opts *opts,
                   char **out, struct error **errp);

/* Set ERR_GENERIC "PROG failed (exit N): <last line of stderr>" (or
 * "PROG killed by signal N (name)") from RES, as run_check does, for
 * callers that first look at the exit code themselves.  PROG names the
 * program in the message.  Always returns -1, for
 * "return run_result_error(...)".
 */
int run_result_error(const char *prog, const struct run_result *res,
                     struct error **errp);

/* Return a copy of the last non-empty line of RES->err, without its line
 * end ("" if there is none).  The caller frees it; never NULL.
 */
char *run_result_last_err_line(const struct run_result *res);

/* Free what RES holds and reset it.  RES may be NULL; calling it twice is
 * harmless.
 */
void run_result_clear(struct run_result *res);

#endif
