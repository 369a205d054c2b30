/* Unit tests of the fileio module: copies (sparse, bounded, refused
 * sources), new and atomically replaced files, directory syncs,
 * positioned reads and writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "fileio.h"
#include "tap.h"

#define MiB (1024 * 1024)

static char dir[] = "/tmp/vmsnap-test-fileio.XXXXXX";

/* DIR/NAME, in one of four static buffers used in turn. */
static const char *
p(const char *name)
{
    static char paths[4][PATH_MAX];
    static unsigned turn;

    turn = (turn + 1) % 4;
    snprintf(paths[turn], sizeof(paths[turn]), "%s/%s", dir, name);
    return paths[turn];
}

static bool
err_is(struct error **err, enum error_class cls, const char *part)
{
    bool good;

    if (*err == NULL) {
        diag("no error set");
        return false;
    }
    good = error_get_class(*err) == cls &&
           strstr(error_msg(*err), part) != NULL;
    if (!good) {
        diag("got class %d: %s", error_get_class(*err), error_msg(*err));
    }
    error_free(*err);
    *err = NULL;
    return good;
}

/* Write a 4 MiB file at PATH whose second and fourth MiB hold data and
 * whose rest is a hole.
 */
static void
make_sparse(const char *path)
{
    char *buf = malloc(MiB);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    memset(buf, 'a', MiB);
    pwrite(fd, buf, MiB, MiB);
    memset(buf, 'b', MiB);
    pwrite(fd, buf, MiB, 3 * MiB);
    close(fd);
    free(buf);
}

static bool
same_contents(const char *a, const char *b)
{
    char *x = malloc(MiB), *y = malloc(MiB);
    int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
    bool same = fa >= 0 && fb >= 0;
    ssize_t n, m;

    while (same) {
        n = read(fa, x, MiB);
        m = read(fb, y, MiB);
        if (n != m || n < 0 || memcmp(x, y, (size_t)n) != 0) {
            same = false;
        }
        if (n <= 0) {
            break;
        }
    }
    close(fa);
    close(fb);
    free(x);
    free(y);
    return same;
}

static double last_pct = -1;

static void
on_progress(const char *phase, double pct, void *opaque)
{
    if (strcmp(phase, "upload") == 0) {
        last_pct = pct;
    }
}

static void
test_copy(void)
{
    const struct progress prog = {.fn = on_progress};
    struct fileio_copy_opts opts = {
        .mode = 0640, .phase = "upload", .progress = &prog};
    struct error *err = NULL;
    struct stat st;
    int64_t size = 0;
    int fd;

    make_sparse(p("sparse"));
    ok(fileio_copy(p("sparse"), true, p("copy"), &opts, &size, &err) == 0 &&
           err == NULL && size == 4 * MiB,
       "copy of a sparse file");
    ok(same_contents(p("sparse"), p("copy")), "same bytes");
    ok(stat(p("copy"), &st) == 0 && st.st_size == 4 * MiB &&
           st.st_blocks * 512 <= 3 * MiB,
       "holes kept (%lld bytes allocated)", (long long)st.st_blocks * 512);
    ok((st.st_mode & 0777) == 0640, "mode applied");
    ok(last_pct == 100, "progress reached 100");

    ok(fileio_copy(p("sparse"), true, p("copy"), &opts, NULL, &err) < 0 &&
           err_is(&err, ERR_CONFLICT, "create"),
       "an existing destination is refused");
    ok(same_contents(p("sparse"), p("copy")), "and left alone");

    /* The descriptor's offset does not matter. */
    fd = fileio_open_regular(p("sparse"), true, &err);
    lseek(fd, 12345, SEEK_SET);
    ok(fd >= 0 && fileio_copy_fd(fd, "sparse", p("copy2"), NULL, &size,
                                 &err) == 0 &&
           same_contents(p("sparse"), p("copy2")),
       "copy from an fd copies from offset 0");
    ok(stat(p("copy2"), &st) == 0 && (st.st_mode & 0777) == 0600,
       "default mode 0600");
    close(fd);

    opts.max_bytes = 2 * MiB;
    ok(fileio_copy(p("sparse"), true, p("copy3"), &opts, NULL, &err) < 0 &&
           err_is(&err, ERR_INVALID, "larger than"),
       "a source over max_bytes is refused");
    ok(access(p("copy3"), F_OK) < 0 && errno == ENOENT,
       "and the partial copy removed");
    opts.max_bytes = 4 * MiB;
    ok(fileio_copy(p("sparse"), true, p("copy3"), &opts, NULL, &err) == 0,
       "a source of exactly max_bytes is fine");

    ok(fileio_copy(p("empty-src"), true, p("x"), NULL, NULL, &err) < 0 &&
           err_is(&err, ERR_NOT_FOUND, "empty-src"),
       "missing source");
}

static void
test_sources(void)
{
    struct error *err = NULL;
    int fd;

    symlink(p("sparse"), p("link"));
    ok(fileio_open_regular(p("link"), true, &err) < 0 &&
           err_is(&err, ERR_INVALID, "symbolic link"),
       "a symbolic link is refused with nofollow");
    fd = fileio_open_regular(p("link"), false, &err);
    ok(fd >= 0, "and followed without");
    close(fd);
    mkfifo(p("fifo"), 0600);
    ok(fileio_open_regular(p("fifo"), true, &err) < 0 &&
           err_is(&err, ERR_INVALID, "not a regular file"),
       "a FIFO is refused without blocking");
    ok(fileio_open_regular(dir, true, &err) < 0 &&
           err_is(&err, ERR_INVALID, "not a regular file"),
       "a directory is refused");
    fd = fileio_open_regular(p("sparse"), true, &err);
    ok(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0 &&
           (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0,
       "the descriptor is blocking and close-on-exec");
    close(fd);
    symlink(p("nowhere"), p("dangling"));
    ok(fileio_copy(p("sparse"), true, p("dangling"), NULL, NULL, &err) < 0 &&
           err_is(&err, ERR_CONFLICT, "create") &&
           access(p("nowhere"), F_OK) < 0,
       "a symbolic link as destination is not followed");
}

/* A write that fails half-way (RLIMIT_FSIZE) removes the new file. */
static void
test_write_failure(void)
{
    struct error *err = NULL;
    struct rlimit old, small;
    char *buf = malloc(MiB);
    int fd;

    memset(buf, 'z', MiB);
    fd = open(p("full"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    write(fd, buf, MiB);
    close(fd);
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    small = old;
    small.rlim_cur = 64 * 1024;
    setrlimit(RLIMIT_FSIZE, &small);
    ok(fileio_copy(p("full"), true, p("full-copy"), NULL, NULL, &err) < 0 &&
           err_is(&err, ERR_IO, "write"),
       "a failed write is an error");
    ok(access(p("full-copy"), F_OK) < 0, "and removes the new file");
    ok(fileio_write_new(p("full-new"), buf, MiB, 0600, true, &err) < 0 &&
           err_is(&err, ERR_IO, "write") && access(p("full-new"), F_OK) < 0,
       "fileio_write_new too");
    setrlimit(RLIMIT_FSIZE, &old);
    free(buf);
}

static bool
file_is(const char *path, const char *text)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;

    if (fd >= 0) {
        close(fd);
    }
    return n == (ssize_t)strlen(text) && memcmp(buf, text, (size_t)n) == 0;
}

static void
test_write(void)
{
    struct error *err = NULL;
    struct stat st;

    ok(fileio_write_new(p("new"), "hello", 5, 0600, true, &err) == 0 &&
           file_is(p("new"), "hello"),
       "write_new");
    ok(fileio_write_new(p("new"), "x", 1, 0600, false, &err) < 0 &&
           err_is(&err, ERR_CONFLICT, "create") && file_is(p("new"), "hello"),
       "write_new refuses an existing file");
    ok(fileio_write_atomic(p("new"), "replaced", 8, 0640, &err) == 0 &&
           file_is(p("new"), "replaced"),
       "write_atomic replaces");
    ok(stat(p("new"), &st) == 0 && (st.st_mode & 0777) == 0640,
       "with its mode");
    ok(fileio_write_atomic(p("atomic"), "", 0, 0600, &err) == 0 &&
           file_is(p("atomic"), ""),
       "write_atomic creates, even empty");
    ok(fileio_write_atomic(p("no/such/dir"), "x", 1, 0600, &err) < 0 &&
           err_is(&err, ERR_IO, "create"),
       "write_atomic into a missing directory fails");
    ok(fileio_fsync_dir(dir, &err) == 0, "fsync_dir");
    ok(fileio_fsync_dir(p("nodir"), &err) < 0 &&
           err_is(&err, ERR_IO, "sync directory"),
       "fsync_dir of a missing directory");
    ok(fileio_fsync_parent(p("new"), &err) == 0 &&
           fileio_fsync_parent("relative-name", &err) == 0 &&
           fileio_fsync_parent("/etc", &err) == 0,
       "fsync_parent of absolute, bare and root-level names");
}

/* Number of names in DIR containing PART. */
static int
count_names(const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strstr(de->d_name, part) != NULL) {
            n++;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    return remove(path);
}

/* The files of fileio_pending (audit L8): whole or absent, and nothing
 * left by a writer that dies.
 */
static void
test_pending(void)
{
    struct fileio_pending pf = {.fd = -1};
    struct error *err = NULL;
    struct stat st;
    pid_t pid;
    int status;

    ok(fileio_pending_open(p("out.ova"), 0600, &pf, &err) == 0 &&
           write(pf.fd, "data", 4) == 4,
       "pending: open and write");
    ok(access(p("out.ova"), F_OK) < 0 && access(p("out.ova.part"), F_OK) < 0,
       "pending: nothing at the path (or .part) while it is written");
    ok(fileio_pending_publish(&pf, false, &err) == 0 &&
           stat(p("out.ova"), &st) == 0 && st.st_size == 4 &&
           (st.st_mode & 0777) == 0600,
       "pending: published whole, mode 0600 whatever the umask");
    fileio_pending_clear(&pf);
    ok(fileio_pending_open(p("out.ova"), 0600, &pf, &err) == 0 &&
           fileio_pending_publish(&pf, false, &err) < 0 &&
           err_is(&err, ERR_CONFLICT, "already exists"),
       "pending: no replace of an existing file unless asked");
    fileio_pending_clear(&pf);
    ok(fileio_pending_open(p("out.ova"), 0600, &pf, &err) == 0 &&
           write(pf.fd, "new!!", 5) == 5 &&
           fileio_pending_publish(&pf, true, &err) == 0 &&
           stat(p("out.ova"), &st) == 0 && st.st_size == 5 &&
           access(p("out.ova.part"), F_OK) < 0,
       "pending: replace, nothing left beside it");
    fileio_pending_clear(&pf);
    /* A stale PATH.part, as a writer that died on a file system without
     * O_TMPFILE leaves it, is replaced by the next writer.
     */
    close(open(p("out.ova.part"), O_WRONLY | O_CREAT, 0600));
    ok(fileio_pending_open(p("out.ova"), 0600, &pf, &err) == 0 &&
           fileio_pending_publish(&pf, true, &err) == 0 &&
           access(p("out.ova.part"), F_OK) < 0,
       "pending: a stale .part nobody holds is replaced");
    fileio_pending_clear(&pf);
    /* A writer killed half-way leaves nothing. */
    pid = fork();
    if (pid == 0) {
        struct fileio_pending c = {.fd = -1};

        if (fileio_pending_open(p("killed.ova"), 0600, &c, NULL) == 0 &&
            write(c.fd, "half", 4) == 4) {
            kill(getpid(), SIGKILL);
        }
        _exit(1);
    }
    waitpid(pid, &status, 0);
    ok(WIFSIGNALED(status) && access(p("killed.ova"), F_OK) < 0 &&
           access(p("killed.ova.part"), F_OK) < 0,
       "pending: a writer killed half-way leaves nothing");
    unlink(p("out.ova"));
}

/* Write-behind: each whole window started, the window two back waited
 * for, the bytes are the file's.
 */
static void
test_write_behind(void)
{
    static char buf[1 << 20];
    struct fileio_wb wb = {0};
    int64_t end = 0;
    int i, fd = open(p("wb"), O_WRONLY | O_CREAT | O_EXCL, 0600);
    bool same = fd >= 0;

    for (i = 0; same && i < 40; i++) {
        memset(buf, 'a' + i % 26, sizeof(buf));
        same = write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf);
        end += (int64_t)sizeof(buf);
        fileio_write_behind(fd, &wb, end);
        if (i == 6) {
            ok(wb.started == 0 && wb.waited == 0,
               "write-behind: nothing before a whole window");
        }
    }
    ok(same && wb.started == 40 * MiB && wb.waited == 24 * MiB,
       "write-behind: 5 windows started, all but the last two waited for");
    fileio_write_behind(fd, &wb, 8 * MiB);
    ok(wb.started == 40 * MiB && wb.waited == 24 * MiB,
       "write-behind: an offset behind it changes nothing");
    close(fd);
    fd = open(p("wb"), O_RDONLY);
    for (i = 0; same && i < 40; i++) {
        same = read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf) &&
               buf[0] == 'a' + i % 26 && buf[sizeof(buf) - 1] == 'a' + i % 26;
    }
    ok(same, "write-behind: the file holds what was written");
    close(fd);
    unlink(p("wb"));
}

/* Positioned reads and writes, and opening a directory under another. */
static void
test_positioned(void)
{
    static char big[3 * MiB], back[3 * MiB + 10];
    struct rlimit old, small;
    struct dirent *de;
    int fd = open(p("pos"), O_RDWR | O_CREAT | O_EXCL, 0600);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    bool seen = false;
    DIR *d;

    memset(big, 'q', sizeof(big));
    ok(fd >= 0 && fileio_pwrite_all(fd, big, sizeof(big), 5) == 0 &&
           lseek(fd, 0, SEEK_CUR) == 0,
       "pwrite_all writes 3 MiB at offset 5, the file offset stays");
    ok(fileio_pread_full(fd, back, sizeof(back), 0) == 5 + 3 * MiB &&
           back[4] == 0 && back[5] == 'q' && back[3 * MiB + 4] == 'q',
       "pread_full reads up to the end: a short count there");
    ok(fileio_pread_full(fd, back, 10, 4 * MiB) == 0,
       "pread_full past the end: 0");
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    small = old;
    small.rlim_cur = 4 * MiB;
    setrlimit(RLIMIT_FSIZE, &small);
    errno = 0;
    ok(fileio_pwrite_all(fd, big, sizeof(big), 2 * MiB) < 0 && errno == EFBIG,
       "pwrite_all beyond the file size limit: -1 and its errno");
    setrlimit(RLIMIT_FSIZE, &old);
    close(fd);
    fd = open(p("pos"), O_RDONLY);
    errno = 0;
    ok(fileio_pwrite_all(fd, big, 1, 0) < 0 && errno == EBADF,
       "pwrite_all on a read-only descriptor: EBADF");
    close(fd);
    unlink(p("pos"));

    mkdir(p("sub"), 0700);
    close(open(p("sub/entry"), O_WRONLY | O_CREAT, 0600));
    d = fileio_opendirat(dfd, "sub");
    while (d && (de = readdir(d)) != NULL) {
        seen |= strcmp(de->d_name, "entry") == 0;
    }
    ok(d && seen && (fcntl(dirfd(d), F_GETFD) & FD_CLOEXEC),
       "opendirat lists the directory, close-on-exec");
    if (d) {
        closedir(d);
    }
    errno = 0;
    ok(fileio_opendirat(dfd, "none") == NULL && errno == ENOENT,
       "opendirat of a missing directory: NULL, ENOENT");
    errno = 0;
    ok(fileio_opendirat(dfd, "sub/entry") == NULL && errno == ENOTDIR,
       "opendirat of a file: NULL, ENOTDIR");
    unlink(p("sub/entry"));
    rmdir(p("sub"));
    close(dfd);
}

int
main(void)
{
    umask(022);
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    test_copy();
    test_sources();
    test_write_failure();
    test_write();
    test_pending();
    test_write_behind();
    test_positioned();
    ok(count_names(".tmp-") == 0, "no temporary file left behind");
    ok(nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS) == 0, "cleanup");
    return tap_done();
}
