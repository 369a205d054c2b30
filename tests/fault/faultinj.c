/* faultinj: an LD_PRELOAD shim that counts chosen libc calls and makes the
 * Nth of them fail.
 *
 * Loaded with LD_PRELOAD=.../faultinj.so and driven by one environment
 * variable, VMSNAP_FAULT, a comma-separated list of KEY=VALUE:
 *
 *   op=OPS       the calls to count, '+'-separated: write, pwrite, writev,
 *                send (send, sendto, sendmsg), fsync, fdatasync,
 *                ftruncate, rename, unlink, mkdir, open, creat (an open
 *                with O_CREAT), exec; aliases: anywrite
 *                (write+pwrite+writev), sync (fsync+fdatasync).  Without
 *                op the shim only counts.
 *   n=N          the first call to fault is the Nth matching one (from 1)
 *   action=A     errno:NAME or errno:NUMBER (the call fails with it and
 *                does nothing), kill (SIGKILL the process at that call),
 *                stop (SIGSTOP it, for a harness that looks and then kills
 *                or continues it), short (a write writes half its bytes),
 *                killparent (SIGKILL the parent, wait 2 s, then make
 *                the call: a helper's Nth write marks the moment its
 *                caller dies, and a helper that outlives it is seen)
 *   count=K      how many consecutive matching calls fault from the Nth
 *                on; 0 means every one from the Nth on.  once=1 is count=1
 *                (the default), once=0 is count=0.
 *   path=PREFIX  count only calls on a file whose absolute path starts
 *                with PREFIX (for calls on an fd, the path /proc/self/fd
 *                shows); a rename matches if either name does
 *   prog=NAME    act only in processes whose program name is NAME
 *                (program_invocation_short_name: vmsnap, qemu-img)
 *   counts=FILE  at exit, append "PROG PID OP COUNT" for every op
 *   log=FILE     append one line per injected fault
 *
 * Scope.  LD_PRELOAD and VMSNAP_FAULT are inherited across fork and exec,
 * so the shim loads into every helper a process runs; prog= chooses the
 * processes where it counts and acts, and each exec starts a new count.
 * The counters live in a shared anonymous mapping, so a child that is
 * forked without exec (vmsnap's --no-wait worker) and the exec of a
 * helper (counted in the forked child, before execvp replaces it) add to
 * the count of the process they came from.
 *
 * What it cannot see: calls libc makes internally (stdio's writes, the
 * execve inside execvp, the open inside fopen: fopen itself is counted as
 * an open), raw syscall(2), io_uring and linux-aio submissions.  qemu-img
 * and SQLite call the libc functions through the PLT, so both are seen.
 *
 * Deterministic for a single-threaded caller: the same program with the
 * same input makes the same calls in the same order.
 */
/* Both the plain and the 64 names are defined here, each as itself. */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The kinds of call the shim counts. */
enum fi_op {
    FI_WRITE,
    FI_PWRITE,
    FI_WRITEV,
    FI_SEND,
    FI_FSYNC,
    FI_FDATASYNC,
    FI_FTRUNCATE,
    FI_RENAME,
    FI_UNLINK,
    FI_MKDIR,
    FI_OPEN,
    FI_CREAT,
    FI_EXEC,
    FI_NOPS
};

static const char *const fi_op_names[FI_NOPS] = {
    "write",  "pwrite", "writev", "send",  "fsync", "fdatasync", "ftruncate",
    "rename", "unlink", "mkdir",  "open",  "creat", "exec",
};

enum fi_action {
    FI_ACT_ERRNO, /* fail with fi_errno */
    FI_ACT_KILL,  /* SIGKILL ourselves */
    FI_ACT_STOP,  /* SIGSTOP ourselves, then carry on with the call */
    FI_ACT_SHORT, /* a write writes half of what it was asked */
    FI_ACT_KILLPARENT, /* SIGKILL our parent, then carry on */
};

/* Counters shared by the process and the children it forks. */
struct fi_shared {
    uint64_t calls[FI_NOPS]; /* matching calls of each kind */
    uint64_t rule;           /* calls that matched the rule's op set */
    uint64_t fired;          /* faults injected */
};

/* The rule, parsed once at load. */
static struct {
    bool active;             /* this process counts (prog matched) */
    bool inject;             /* an op set was given */
    unsigned ops;            /* bit (1 << op) for each op of the rule */
    uint64_t n;              /* first call to fault */
    uint64_t count;          /* consecutive faults; 0 = unlimited */
    enum fi_action action;   /* what a fault does */
    int err;                 /* errno for FI_ACT_ERRNO */
    char path[PATH_MAX];     /* path prefix; "" = any */
    size_t path_len;         /* strlen(path) */
    char counts[PATH_MAX];   /* counts file; "" = none */
    char log[PATH_MAX];      /* log file; "" = none */
    struct fi_shared *sh;    /* the counters */
    struct fi_shared local;  /* used if the mapping failed */
} fi;

static const struct {
    const char *name;
    int value;
} fi_errnos[] = {
    {"EIO", EIO},         {"ENOSPC", ENOSPC}, {"EROFS", EROFS},
    {"EINTR", EINTR},     {"EDQUOT", EDQUOT}, {"EAGAIN", EAGAIN},
    {"ENOMEM", ENOMEM},   {"EACCES", EACCES}, {"EPERM", EPERM},
    {"EFBIG", EFBIG},     {"ENOENT", ENOENT}, {"EMFILE", EMFILE},
    {"EEXIST", EEXIST},   {"EBUSY", EBUSY},   {"ENFILE", ENFILE},
};

/* ---- The real functions ----------------------------------------------- */

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off64_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int,
                              const struct sockaddr *, socklen_t);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *,
                             unsigned);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_mkdirat)(int, const char *, mode_t);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_creat)(const char *, mode_t);
static FILE *(*real_fopen)(const char *, const char *);
static FILE *(*real_fopen64)(const char *, const char *);
static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execv)(const char *, char *const[]);
static int (*real_execvp)(const char *, char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_posix_spawn)(pid_t *, const char *,
                               const posix_spawn_file_actions_t *,
                               const posix_spawnattr_t *, char *const[],
                               char *const[]);
static int (*real_posix_spawnp)(pid_t *, const char *,
                                const posix_spawn_file_actions_t *,
                                const posix_spawnattr_t *, char *const[],
                                char *const[]);

/* dlsym(RTLD_NEXT) returns a void *; a union turns it into a function
 * pointer without a cast ISO C frowns on.
 */
static void *
fi_next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);

    if (p == NULL) {
        static const char msg[] = "faultinj: a libc symbol is missing\n";

        if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
            _exit(125);
        }
        _exit(125);
    }
    return p;
}

#define FI_RESOLVE(var, name)                                                  \
    do {                                                                       \
        if ((var) == NULL) {                                                   \
            union {                                                            \
                void *obj;                                                     \
                __typeof__(var) fn;                                            \
            } u_ = {.obj = fi_next(name)};                                     \
            (var) = u_.fn;                                                     \
        }                                                                      \
    } while (0)

/* ---- Small helpers ---------------------------------------------------- */

/* Write all of BUF to a file opened for append; errors are ignored, as
 * the shim must never change what the program sees.
 */
static void
fi_append(const char *file, const char *buf, size_t len)
{
    int fd;

    FI_RESOLVE(real_open, "open");
    FI_RESOLVE(real_write, "write");
    fd = real_open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        return;
    }
    if (real_write(fd, buf, len) < 0) {
        /* Nothing to do: see above. */
    }
    close(fd);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fi_die(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int len;

    len = snprintf(buf, sizeof(buf), "faultinj: ");
    va_start(ap, fmt);
    len += vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
    va_end(ap);
    if (len > (int)sizeof(buf) - 2) {
        len = sizeof(buf) - 2;
    }
    buf[len++] = '\n';
    FI_RESOLVE(real_write, "write");
    if (real_write(STDERR_FILENO, buf, len) < 0) {
        _exit(125);
    }
    _exit(125);
}

static bool
fi_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9') {
        return false;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

static unsigned
fi_parse_ops(const char *s)
{
    char buf[256], *p, *save = NULL;
    unsigned ops = 0;
    size_t len = strlen(s);
    int i;

    if (len >= sizeof(buf)) {
        fi_die("op list too long");
    }
    memcpy(buf, s, len + 1);
    for (p = strtok_r(buf, "+", &save); p; p = strtok_r(NULL, "+", &save)) {
        if (strcmp(p, "anywrite") == 0) {
            ops |= 1u << FI_WRITE | 1u << FI_PWRITE | 1u << FI_WRITEV;
            continue;
        }
        if (strcmp(p, "sync") == 0) {
            ops |= 1u << FI_FSYNC | 1u << FI_FDATASYNC;
            continue;
        }
        for (i = 0; i < FI_NOPS; i++) {
            if (strcmp(p, fi_op_names[i]) == 0) {
                break;
            }
        }
        if (i == FI_NOPS) {
            fi_die("unknown op '%s'", p);
        }
        ops |= 1u << i;
    }
    if (ops == 0) {
        fi_die("empty op list");
    }
    return ops;
}

static void
fi_parse_action(const char *s)
{
    uint64_t num;
    size_t i;

    if (strcmp(s, "kill") == 0) {
        fi.action = FI_ACT_KILL;
        return;
    }
    if (strcmp(s, "stop") == 0) {
        fi.action = FI_ACT_STOP;
        return;
    }
    if (strcmp(s, "short") == 0) {
        fi.action = FI_ACT_SHORT;
        return;
    }
    if (strcmp(s, "killparent") == 0) {
        fi.action = FI_ACT_KILLPARENT;
        return;
    }
    if (strncmp(s, "errno:", 6) != 0) {
        fi_die("unknown action '%s'", s);
    }
    s += 6;
    fi.action = FI_ACT_ERRNO;
    if (fi_parse_u64(s, &num) && num > 0 && num < 4096) {
        fi.err = (int)num;
        return;
    }
    for (i = 0; i < sizeof(fi_errnos) / sizeof(fi_errnos[0]); i++) {
        if (strcmp(s, fi_errnos[i].name) == 0) {
            fi.err = fi_errnos[i].value;
            return;
        }
    }
    fi_die("unknown errno '%s'", s);
}

static void
fi_copy(char *dst, size_t size, const char *src, const char *what)
{
    size_t len = strlen(src);

    if (len >= size) {
        fi_die("%s too long", what);
    }
    memcpy(dst, src, len + 1);
}

/* Parse VMSNAP_FAULT (see the top of the file).  Exits 125 on a bad rule:
 * a rule that silently did nothing would make a test pass vacuously.
 */
static void
fi_parse(const char *spec)
{
    char buf[4 * PATH_MAX], *item, *save = NULL;
    const char *prog = NULL;
    size_t len = strlen(spec);
    bool have_n = false;

    if (len >= sizeof(buf)) {
        fi_die("VMSNAP_FAULT too long");
    }
    memcpy(buf, spec, len + 1);
    fi.count = 1;
    fi.err = EIO;
    for (item = strtok_r(buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *val = strchr(item, '=');

        if (val == NULL) {
            fi_die("'%s' is not KEY=VALUE", item);
        }
        *val++ = '\0';
        if (strcmp(item, "op") == 0) {
            fi.ops = fi_parse_ops(val);
            fi.inject = true;
        } else if (strcmp(item, "n") == 0) {
            if (!fi_parse_u64(val, &fi.n) || fi.n == 0) {
                fi_die("n must be a number from 1");
            }
            have_n = true;
        } else if (strcmp(item, "count") == 0) {
            if (!fi_parse_u64(val, &fi.count)) {
                fi_die("count must be a number");
            }
        } else if (strcmp(item, "once") == 0) {
            if (strcmp(val, "1") != 0 && strcmp(val, "0") != 0) {
                fi_die("once must be 0 or 1");
            }
            fi.count = val[0] == '1' ? 1 : 0;
        } else if (strcmp(item, "action") == 0) {
            fi_parse_action(val);
        } else if (strcmp(item, "path") == 0) {
            fi_copy(fi.path, sizeof(fi.path), val, "path");
            fi.path_len = strlen(fi.path);
        } else if (strcmp(item, "prog") == 0) {
            prog = val;
            fi.active = strcmp(val, program_invocation_short_name) == 0;
        } else if (strcmp(item, "counts") == 0) {
            fi_copy(fi.counts, sizeof(fi.counts), val, "counts");
        } else if (strcmp(item, "log") == 0) {
            fi_copy(fi.log, sizeof(fi.log), val, "log");
        } else {
            fi_die("unknown key '%s'", item);
        }
    }
    if (fi.inject && !have_n) {
        fi_die("op= needs n=");
    }
    if (fi.action == FI_ACT_SHORT &&
        (fi.ops & ~(1u << FI_WRITE | 1u << FI_PWRITE | 1u << FI_WRITEV))) {
        fi_die("action=short applies to writes only");
    }
    if (prog == NULL) {
        fi.active = true;
    }
}

static void __attribute__((constructor))
fi_init(void)
{
    const char *spec = getenv("VMSNAP_FAULT");
    void *map;

    if (spec == NULL || *spec == '\0') {
        return;
    }
    fi_parse(spec);
    if (!fi.active) {
        return;
    }
    map = mmap(NULL, sizeof(struct fi_shared), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    fi.sh = map == MAP_FAILED ? &fi.local : map;
}

static void __attribute__((destructor))
fi_fini(void)
{
    char buf[256];
    int i, len;

    if (!fi.active || fi.counts[0] == '\0') {
        return;
    }
    for (i = 0; i < FI_NOPS; i++) {
        len = snprintf(buf, sizeof(buf), "%s %ld %s %llu\n",
                       program_invocation_short_name, (long)getpid(),
                       fi_op_names[i],
                       (unsigned long long)__atomic_load_n(
                           &fi.sh->calls[i], __ATOMIC_SEQ_CST));
        fi_append(fi.counts, buf, len);
    }
}

/* ---- Path filter ------------------------------------------------------ */

static bool
fi_prefix(const char *path)
{
    return strncmp(path, fi.path, fi.path_len) == 0;
}

static bool
fi_fd_matches(int fd)
{
    char link[64], target[PATH_MAX];
    ssize_t len;

    if (fi.path_len == 0) {
        return true;
    }
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    len = readlink(link, target, sizeof(target) - 1);
    if (len < 0) {
        return false;
    }
    target[len] = '\0';
    return fi_prefix(target);
}

/* Does PATH, relative to DIRFD, lie under the prefix?  A relative name is
 * made absolute with the directory's /proc/self/fd link or the cwd.
 */
static bool
fi_path_matches(int dirfd, const char *path)
{
    char dir[PATH_MAX], full[2 * PATH_MAX];

    if (fi.path_len == 0) {
        return true;
    }
    if (path == NULL) {
        return false;
    }
    if (path[0] == '/') {
        return fi_prefix(path);
    }
    if (dirfd == AT_FDCWD) {
        if (getcwd(dir, sizeof(dir)) == NULL) {
            return false;
        }
    } else {
        char link[64];
        ssize_t len;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
        len = readlink(link, dir, sizeof(dir) - 1);
        if (len < 0) {
            return false;
        }
        dir[len] = '\0';
    }
    snprintf(full, sizeof(full), "%s/%s", dir, path);
    return fi_prefix(full);
}

/* ---- The decision ----------------------------------------------------- */

/* Count one call of kind OP (whose file matched the filter) and say what
 * to do: 0 to make the real call, -1 to fail it with errno set, 1 to make
 * a short write.  A kill does not return.
 */
static int
fi_hit(enum fi_op op, const char *what)
{
    uint64_t c;
    char buf[PATH_MAX + 128];
    int len, saved = errno;

    __atomic_add_fetch(&fi.sh->calls[op], 1, __ATOMIC_SEQ_CST);
    if (!fi.inject || !(fi.ops & (1u << op))) {
        return 0;
    }
    c = __atomic_add_fetch(&fi.sh->rule, 1, __ATOMIC_SEQ_CST);
    if (c < fi.n || (fi.count != 0 && c - fi.n >= fi.count)) {
        return 0;
    }
    __atomic_add_fetch(&fi.sh->fired, 1, __ATOMIC_SEQ_CST);
    if (fi.log[0]) {
        static const char *const acts[] = {
            [FI_ACT_KILL] = "kill",
            [FI_ACT_STOP] = "stop",
            [FI_ACT_SHORT] = "short",
            [FI_ACT_KILLPARENT] = "killparent",
        };
        const char *act = fi.action == FI_ACT_ERRNO ? strerrorname_np(fi.err)
                                                    : acts[fi.action];

        len = snprintf(buf, sizeof(buf), "%s %ld %s #%llu %s %s\n",
                       program_invocation_short_name, (long)getpid(),
                       fi_op_names[op], (unsigned long long)c, act,
                       what ? what : "-");
        if (len > (int)sizeof(buf) - 1) {
            len = sizeof(buf) - 1;
            buf[len - 1] = '\n';
        }
        fi_append(fi.log, buf, len);
    }
    switch (fi.action) {
    case FI_ACT_KILL:
        kill(getpid(), SIGKILL);
        for (;;) {
            pause();
        }
    case FI_ACT_STOP:
        kill(getpid(), SIGSTOP);
        errno = saved;
        return 0;
    case FI_ACT_SHORT:
        errno = saved;
        return 1;
    case FI_ACT_KILLPARENT: {
        /* Then wait 2 s: a helper that dies with its parent is gone
         * before the call goes on, one that outlives it can be seen.
         */
        struct timespec rest = {.tv_sec = 2};

        kill(getppid(), SIGKILL);
        while (nanosleep(&rest, &rest) < 0 && errno == EINTR) {
        }
        errno = saved;
        return 0;
    }
    case FI_ACT_ERRNO:
        break;
    }
    errno = fi.err;
    return -1;
}

/* The name of what an fd call works on, for the log. */
static const char *
fi_fd_name(int fd, char *buf, size_t size)
{
    char link[64];
    ssize_t len;

    if (!fi.log[0]) {
        return NULL;
    }
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    len = readlink(link, buf, size - 1);
    if (len < 0) {
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static int
fi_fd_op(enum fi_op op, int fd)
{
    char name[PATH_MAX];

    if (!fi.active || !fi_fd_matches(fd)) {
        return 0;
    }
    return fi_hit(op, fi_fd_name(fd, name, sizeof(name)));
}

static int
fi_path_op(enum fi_op op, int dirfd, const char *path)
{
    if (!fi.active || !fi_path_matches(dirfd, path)) {
        return 0;
    }
    return fi_hit(op, path);
}

/* ---- Writes ----------------------------------------------------------- */

ssize_t
write(int fd, const void *buf, size_t len)
{
    int r = fi_fd_op(FI_WRITE, fd);

    FI_RESOLVE(real_write, "write");
    if (r < 0) {
        return -1;
    }
    return real_write(fd, buf, r > 0 && len > 1 ? len / 2 : len);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
    int r = fi_fd_op(FI_PWRITE, fd);

    FI_RESOLVE(real_pwrite, "pwrite");
    if (r < 0) {
        return -1;
    }
    return real_pwrite(fd, buf, r > 0 && len > 1 ? len / 2 : len, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    int r = fi_fd_op(FI_PWRITE, fd);

    FI_RESOLVE(real_pwrite64, "pwrite64");
    if (r < 0) {
        return -1;
    }
    return real_pwrite64(fd, buf, r > 0 && len > 1 ? len / 2 : len, off);
}

/* A short vectored write: half of the first buffer only. */
static int
fi_short_iov(const struct iovec *iov, int cnt, struct iovec *one)
{
    if (cnt < 1) {
        return cnt;
    }
    one->iov_base = iov[0].iov_base;
    one->iov_len = iov[0].iov_len > 1 ? iov[0].iov_len / 2 : iov[0].iov_len;
    return 1;
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
    int r = fi_fd_op(FI_WRITEV, fd);
    struct iovec one;

    FI_RESOLVE(real_writev, "writev");
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        return real_writev(fd, &one, fi_short_iov(iov, cnt, &one));
    }
    return real_writev(fd, iov, cnt);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    int r = fi_fd_op(FI_WRITEV, fd);
    struct iovec one;

    FI_RESOLVE(real_pwritev, "pwritev");
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        return real_pwritev(fd, &one, fi_short_iov(iov, cnt, &one), off);
    }
    return real_pwritev(fd, iov, cnt, off);
}

ssize_t
pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    int r = fi_fd_op(FI_WRITEV, fd);
    struct iovec one;

    FI_RESOLVE(real_pwritev64, "pwritev64");
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        return real_pwritev64(fd, &one, fi_short_iov(iov, cnt, &one), off);
    }
    return real_pwritev64(fd, iov, cnt, off);
}

ssize_t
pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    int r = fi_fd_op(FI_WRITEV, fd);
    struct iovec one;

    FI_RESOLVE(real_pwritev2, "pwritev2");
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        return real_pwritev2(fd, &one, fi_short_iov(iov, cnt, &one), off,
                             flags);
    }
    return real_pwritev2(fd, iov, cnt, off, flags);
}

/* ---- Sockets (a short send is not offered: action=short is for files) -- */

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
    FI_RESOLVE(real_send, "send");
    return fi_fd_op(FI_SEND, fd) < 0 ? -1 : real_send(fd, buf, len, flags);
}

ssize_t
sendto(int fd, const void *buf, size_t len, int flags,
       const struct sockaddr *to, socklen_t tolen)
{
    FI_RESOLVE(real_sendto, "sendto");
    if (fi_fd_op(FI_SEND, fd) < 0) {
        return -1;
    }
    return real_sendto(fd, buf, len, flags, to, tolen);
}

ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
    FI_RESOLVE(real_sendmsg, "sendmsg");
    return fi_fd_op(FI_SEND, fd) < 0 ? -1 : real_sendmsg(fd, msg, flags);
}

/* ---- Syncs and truncation --------------------------------------------- */

int
fsync(int fd)
{
    FI_RESOLVE(real_fsync, "fsync");
    return fi_fd_op(FI_FSYNC, fd) < 0 ? -1 : real_fsync(fd);
}

int
fdatasync(int fd)
{
    FI_RESOLVE(real_fdatasync, "fdatasync");
    return fi_fd_op(FI_FDATASYNC, fd) < 0 ? -1 : real_fdatasync(fd);
}

int
ftruncate(int fd, off_t len)
{
    FI_RESOLVE(real_ftruncate, "ftruncate");
    return fi_fd_op(FI_FTRUNCATE, fd) < 0 ? -1 : real_ftruncate(fd, len);
}

int
ftruncate64(int fd, off64_t len)
{
    FI_RESOLVE(real_ftruncate64, "ftruncate64");
    return fi_fd_op(FI_FTRUNCATE, fd) < 0 ? -1 : real_ftruncate64(fd, len);
}

/* ---- Names ------------------------------------------------------------ */

static int
fi_rename_op(int odir, const char *old, int ndir, const char *new)
{
    if (!fi.active) {
        return 0;
    }
    if (!fi_path_matches(odir, old) && !fi_path_matches(ndir, new)) {
        return 0;
    }
    return fi_hit(FI_RENAME, new);
}

int
rename(const char *old, const char *new)
{
    FI_RESOLVE(real_rename, "rename");
    if (fi_rename_op(AT_FDCWD, old, AT_FDCWD, new) < 0) {
        return -1;
    }
    return real_rename(old, new);
}

int
renameat(int odir, const char *old, int ndir, const char *new)
{
    FI_RESOLVE(real_renameat, "renameat");
    if (fi_rename_op(odir, old, ndir, new) < 0) {
        return -1;
    }
    return real_renameat(odir, old, ndir, new);
}

int
renameat2(int odir, const char *old, int ndir, const char *new,
          unsigned flags)
{
    FI_RESOLVE(real_renameat2, "renameat2");
    if (fi_rename_op(odir, old, ndir, new) < 0) {
        return -1;
    }
    return real_renameat2(odir, old, ndir, new, flags);
}

int
unlink(const char *path)
{
    FI_RESOLVE(real_unlink, "unlink");
    if (fi_path_op(FI_UNLINK, AT_FDCWD, path) < 0) {
        return -1;
    }
    return real_unlink(path);
}

int
unlinkat(int dirfd, const char *path, int flags)
{
    FI_RESOLVE(real_unlinkat, "unlinkat");
    if (fi_path_op(FI_UNLINK, dirfd, path) < 0) {
        return -1;
    }
    return real_unlinkat(dirfd, path, flags);
}

int
mkdir(const char *path, mode_t mode)
{
    FI_RESOLVE(real_mkdir, "mkdir");
    if (fi_path_op(FI_MKDIR, AT_FDCWD, path) < 0) {
        return -1;
    }
    return real_mkdir(path, mode);
}

int
mkdirat(int dirfd, const char *path, mode_t mode)
{
    FI_RESOLVE(real_mkdirat, "mkdirat");
    if (fi_path_op(FI_MKDIR, dirfd, path) < 0) {
        return -1;
    }
    return real_mkdirat(dirfd, path, mode);
}

/* ---- Opens ------------------------------------------------------------ */

/* Count an open as an open and, with O_CREAT, as a creat; the creat rule
 * is checked first so that an open that creates can fault as either.
 */
static int
fi_open_op(int dirfd, const char *path, int flags)
{
    if (!fi.active || !fi_path_matches(dirfd, path)) {
        return 0;
    }
    if ((flags & O_CREAT) && fi_hit(FI_CREAT, path) < 0) {
        return -1;
    }
    return fi_hit(FI_OPEN, path) < 0 ? -1 : 0;
}

static mode_t
fi_mode(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE
               ? va_arg(ap, mode_t)
               : 0;
}

int
open(const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    va_start(ap, flags);
    mode = fi_mode(flags, ap);
    va_end(ap);
    FI_RESOLVE(real_open, "open");
    if (fi_open_op(AT_FDCWD, path, flags) < 0) {
        return -1;
    }
    return real_open(path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    va_start(ap, flags);
    mode = fi_mode(flags, ap);
    va_end(ap);
    FI_RESOLVE(real_open64, "open64");
    if (fi_open_op(AT_FDCWD, path, flags) < 0) {
        return -1;
    }
    return real_open64(path, flags, mode);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    va_start(ap, flags);
    mode = fi_mode(flags, ap);
    va_end(ap);
    FI_RESOLVE(real_openat, "openat");
    if (fi_open_op(dirfd, path, flags) < 0) {
        return -1;
    }
    return real_openat(dirfd, path, flags, mode);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    va_start(ap, flags);
    mode = fi_mode(flags, ap);
    va_end(ap);
    FI_RESOLVE(real_openat64, "openat64");
    if (fi_open_op(dirfd, path, flags) < 0) {
        return -1;
    }
    return real_openat64(dirfd, path, flags, mode);
}

int
creat(const char *path, mode_t mode)
{
    FI_RESOLVE(real_creat, "creat");
    if (fi_open_op(AT_FDCWD, path, O_CREAT) < 0) {
        return -1;
    }
    return real_creat(path, mode);
}

/* fopen opens through libc's internal open, which the shim cannot see:
 * count it here, as a creat too when the mode creates.
 */
static int
fi_fopen_op(const char *path, const char *mode)
{
    int flags = mode[0] == 'w' || mode[0] == 'a' ? O_CREAT : 0;

    return fi_open_op(AT_FDCWD, path, flags);
}

FILE *
fopen(const char *path, const char *mode)
{
    FI_RESOLVE(real_fopen, "fopen");
    if (fi_fopen_op(path, mode) < 0) {
        return NULL;
    }
    return real_fopen(path, mode);
}

FILE *
fopen64(const char *path, const char *mode)
{
    FI_RESOLVE(real_fopen64, "fopen64");
    if (fi_fopen_op(path, mode) < 0) {
        return NULL;
    }
    return real_fopen64(path, mode);
}

/* ---- Helpers run by the process --------------------------------------- */

/* An exec is counted under the program's name; the path filter does not
 * apply to it.
 */
static int
fi_exec_op(const char *file)
{
    if (!fi.active) {
        return 0;
    }
    return fi_hit(FI_EXEC, file);
}

int
execve(const char *path, char *const argv[], char *const envp[])
{
    FI_RESOLVE(real_execve, "execve");
    if (fi_exec_op(path) < 0) {
        return -1;
    }
    return real_execve(path, argv, envp);
}

int
execv(const char *path, char *const argv[])
{
    FI_RESOLVE(real_execv, "execv");
    if (fi_exec_op(path) < 0) {
        return -1;
    }
    return real_execv(path, argv);
}

int
execvp(const char *file, char *const argv[])
{
    FI_RESOLVE(real_execvp, "execvp");
    if (fi_exec_op(file) < 0) {
        return -1;
    }
    return real_execvp(file, argv);
}

int
execvpe(const char *file, char *const argv[], char *const envp[])
{
    FI_RESOLVE(real_execvpe, "execvpe");
    if (fi_exec_op(file) < 0) {
        return -1;
    }
    return real_execvpe(file, argv, envp);
}

int
posix_spawn(pid_t *pid, const char *path,
            const posix_spawn_file_actions_t *fa,
            const posix_spawnattr_t *attr, char *const argv[],
            char *const envp[])
{
    FI_RESOLVE(real_posix_spawn, "posix_spawn");
    if (fi_exec_op(path) < 0) {
        return errno;
    }
    return real_posix_spawn(pid, path, fa, attr, argv, envp);
}

int
posix_spawnp(pid_t *pid, const char *file,
             const posix_spawn_file_actions_t *fa,
             const posix_spawnattr_t *attr, char *const argv[],
             char *const envp[])
{
    FI_RESOLVE(real_posix_spawnp, "posix_spawnp");
    if (fi_exec_op(file) < 0) {
        return errno;
    }
    return real_posix_spawnp(pid, file, fa, attr, argv, envp);
}
