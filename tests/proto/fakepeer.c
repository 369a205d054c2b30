/* vmsnap tests: a scripted fake peer (see fakepeer.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fakepeer.h"
#include "tap.h"

/* How long the peer waits for the client before it gives up. */
#define FP_WAIT_MS 10000

struct fakepeer {
    const struct fp_step *steps; /* the script, borrowed */
    int fd;                      /* our end, -1 once closed */
    char path[108];              /* unix socket to listen on, or "" */
    int delay_ms;                /* pause before listening */
    pthread_t thread;            /* runs fp_run */
    char errors[2048];           /* differences found, one per line */
};

static void
fp_fail(struct fakepeer *fp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fp_fail(struct fakepeer *fp, const char *fmt, ...)
{
    size_t len = strlen(fp->errors);
    va_list ap;

    if (len + 2 >= sizeof(fp->errors)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(fp->errors + len, sizeof(fp->errors) - len - 1, fmt, ap);
    va_end(ap);
    len = strlen(fp->errors);
    fp->errors[len] = '\n';
    fp->errors[len + 1] = '\0';
}

static void
fp_sleep(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* Read up to LEN bytes, waiting at most FP_WAIT_MS.  Returns the count,
 * 0 at end of file, -1 on error or timeout.
 */
static ssize_t
fp_read(struct fakepeer *fp, char *buf, size_t len)
{
    struct pollfd pfd = { .fd = fp->fd, .events = POLLIN };
    ssize_t n;

    if (poll(&pfd, 1, FP_WAIT_MS) <= 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    do {
        n = read(fp->fd, buf, len);
    } while (n == -1 && errno == EINTR);
    return n;
}

/* Send a step's data; false when the client has gone away. */
static bool
fp_send(struct fakepeer *fp, const struct fp_step *st)
{
    size_t off = 0, n;
    ssize_t r;

    while (off < st->len) {
        n = st->len - off;
        if (st->chunk > 0 && n > st->chunk) {
            n = st->chunk;
        }
        r = send(fp->fd, st->data + off, n, MSG_NOSIGNAL);
        if (r == -1 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        off += (size_t)r;
        if (st->chunk > 0 && st->ms > 0 && off < st->len) {
            fp_sleep(st->ms);
        }
    }
    return true;
}

/* Show BUF printably in OUT for a diagnostic. */
static void
fp_show(const char *buf, size_t len, char *out, size_t n)
{
    size_t i, o = 0;
    unsigned char c;

    for (i = 0; i < len && o + 5 < n; i++) {
        c = (unsigned char)buf[i];
        if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
        }
    }
    out[o] = '\0';
}

static void
fp_expect(struct fakepeer *fp, const struct fp_step *st)
{
    char *got = malloc(st->len + 1);
    char a[512], b[512];
    size_t off = 0;
    ssize_t r;

    while (off < st->len) {
        r = fp_read(fp, got + off, st->len - off);
        if (r <= 0) {
            break;
        }
        off += (size_t)r;
    }
    if (off != st->len || memcmp(got, st->data, st->len) != 0) {
        fp_show(got, off, a, sizeof(a));
        fp_show(st->data, st->len, b, sizeof(b));
        fp_fail(fp, "expected \"%s\", got \"%s\"", b, a);
    }
    free(got);
}

/* Read one request line (up to '\n') into BUF of size N; returns its
 * length, or -1 when it does not come.
 */
static ssize_t
fp_read_line(struct fakepeer *fp, char *buf, size_t n)
{
    size_t off = 0;

    while (off + 1 < n) {
        if (fp_read(fp, buf + off, 1) != 1) {
            return -1;
        }
        if (buf[off++] == '\n') {
            break;
        }
    }
    buf[off] = '\0';
    return (ssize_t)off;
}

/* Read a guest-sync-delimited request; answer it when ANSWER is true. */
static bool
fp_sync(struct fakepeer *fp, bool answer)
{
    static const char prefix[] =
        "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":";
    char line[256], reply[64], show[512];
    long long id;
    char *end;
    ssize_t n;
    int len;

    n = fp_read_line(fp, line, sizeof(line));
    if (n < 0 || strncmp(line, prefix, sizeof(prefix) - 1) != 0) {
        fp_show(line, n < 0 ? 0 : (size_t)n, show, sizeof(show));
        fp_fail(fp, "expected a guest-sync-delimited, got \"%s\"", show);
        return false;
    }
    errno = 0;
    id = strtoll(line + sizeof(prefix) - 1, &end, 10);
    if (errno != 0 || strcmp(end, "}}\n") != 0) {
        fp_fail(fp, "bad guest-sync-delimited id");
        return false;
    }
    if (!answer) {
        return true;
    }
    len = snprintf(reply, sizeof(reply), "\xff{\"return\": %lld}\n", id);
    return send(fp->fd, reply, (size_t)len, MSG_NOSIGNAL) == len;
}

/* After the script: everything the client still sends is unexpected. */
static void
fp_drain(struct fakepeer *fp)
{
    char buf[4096], show[512];
    ssize_t r;

    for (;;) {
        r = fp_read(fp, buf, sizeof(buf));
        if (r == 0 || (r == -1 && errno == ECONNRESET)) {
            /* A unix socket closed with unread data resets its peer. */
            return;
        }
        if (r < 0) {
            fp_fail(fp, "client did not close its end");
            return;
        }
        fp_show(buf, (size_t)r, show, sizeof(show));
        fp_fail(fp, "unexpected bytes \"%s\"", show);
    }
}

static int
fp_accept(struct fakepeer *fp)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct pollfd pfd = { .events = POLLIN };
    int lfd, fd = -1;

    fp_sleep(fp->delay_ms);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memcpy(sun.sun_path, fp->path, strlen(fp->path) + 1);
    unlink(fp->path);
    if (lfd == -1 ||
        bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
        listen(lfd, 1) == -1) {
        fp_fail(fp, "cannot listen on %s: %s", fp->path, strerror(errno));
    } else {
        pfd.fd = lfd;
        if (poll(&pfd, 1, FP_WAIT_MS) == 1) {
            fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        }
        if (fd == -1) {
            fp_fail(fp, "no client connected to %s", fp->path);
        }
    }
    if (lfd != -1) {
        close(lfd);
    }
    unlink(fp->path);
    return fd;
}

static void *
fp_run(void *opaque)
{
    struct fakepeer *fp = opaque;
    const struct fp_step *st;

    if (fp->path[0] != '\0') {
        fp->fd = fp_accept(fp);
        if (fp->fd == -1) {
            return NULL;
        }
    }
    for (st = fp->steps; st->op != FP_OP_END; st++) {
        switch (st->op) {
        case FP_OP_SEND:
            if (!fp_send(fp, st)) {
                goto out; /* the client hung up: allowed */
            }
            break;
        case FP_OP_EXPECT:
            fp_expect(fp, st);
            break;
        case FP_OP_PAUSE:
            fp_sleep(st->ms);
            break;
        case FP_OP_SYNC:
        case FP_OP_SYNC_SILENT:
            if (!fp_sync(fp, st->op == FP_OP_SYNC)) {
                goto out;
            }
            break;
        case FP_OP_HANGUP:
            close(fp->fd);
            fp->fd = -1;
            return NULL;
        default:
            fp_fail(fp, "bad script step");
            goto out;
        }
    }
    fp_drain(fp);
out:
    close(fp->fd);
    fp->fd = -1;
    return NULL;
}

static struct fakepeer *
fp_new(const struct fp_step *steps)
{
    struct fakepeer *fp = calloc(1, sizeof(*fp));

    if (fp == NULL) {
        perror("calloc");
        exit(1);
    }
    fp->steps = steps;
    fp->fd = -1;
    return fp;
}

static void
fp_spawn(struct fakepeer *fp)
{
    if (pthread_create(&fp->thread, NULL, fp_run, fp) != 0) {
        perror("pthread_create");
        exit(1);
    }
}

struct fakepeer *
fakepeer_start(const struct fp_step *steps, int *client_fd)
{
    struct fakepeer *fp = fp_new(steps);
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
        perror("socketpair");
        exit(1);
    }
    fp->fd = sv[0];
    *client_fd = sv[1];
    fp_spawn(fp);
    return fp;
}

struct fakepeer *
fakepeer_start_unix(const char *path, int delay_ms,
                    const struct fp_step *steps)
{
    struct fakepeer *fp = fp_new(steps);

    if (strlen(path) >= sizeof(fp->path)) {
        fprintf(stderr, "path too long: %s\n", path);
        exit(1);
    }
    memcpy(fp->path, path, strlen(path) + 1);
    fp->delay_ms = delay_ms;
    fp_spawn(fp);
    return fp;
}

bool
fakepeer_finish(struct fakepeer *fp)
{
    char *line, *nl;
    bool good;

    pthread_join(fp->thread, NULL);
    good = fp->errors[0] == '\0';
    for (line = fp->errors; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl == NULL) {
            break;
        }
        *nl = '\0';
        diag("peer: %s", line);
    }
    free(fp);
    return good;
}
