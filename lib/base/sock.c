/* vmsnap: socket helpers with deadlines (see sock.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sock.h"

/* Pause between connection attempts while waiting for a listener. */
#define SOCK_RETRY_MS 20

int64_t
sock_now_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
sock_deadline(int timeout_ms)
{
    if (timeout_ms < 0) {
        return SOCK_NO_DEADLINE;
    }
    return sock_now_ms() + timeout_ms;
}

int
sock_remaining_ms(int64_t deadline)
{
    int64_t left;

    if (deadline == SOCK_NO_DEADLINE) {
        return -1;
    }
    left = deadline - sock_now_ms();
    if (left <= 0) {
        return 0;
    }
    if (left > INT_MAX) {
        return INT_MAX;
    }
    return (int)left;
}

void
sock_sleep_ms(int ms, int64_t deadline)
{
    int left = sock_remaining_ms(deadline);
    struct timespec ts, rem;

    if (left >= 0 && left < ms) {
        ms = left;
    }
    if (ms <= 0) {
        return;
    }
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000;
    while (nanosleep(&ts, &rem) == -1 && errno == EINTR) {
        ts = rem;
    }
}

/* Wait until FD is ready for EVENTS or DEADLINE passes.  Returns 1 when
 * ready (including error and hang-up conditions, which the following
 * read or write reports), 0 on timeout, -1 on poll failure (errno set).
 */
static int
sock_wait(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    int r;

    for (;;) {
        r = poll(&pfd, 1, sock_remaining_ms(deadline));
        if (r >= 0) {
            return r > 0 ? 1 : 0;
        }
        if (errno != EINTR) {
            return -1;
        }
    }
}

/* One connection attempt.  Returns the descriptor, or -1 with errno set;
 * EAGAIN means the listener's backlog is full.
 */
static int
sock_try_connect(const struct sockaddr_un *sun)
{
    int fd, err;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0) {
        return fd;
    }
    err = errno;
    close(fd);
    /* A non-blocking AF_UNIX connect never completes asynchronously on
     * Linux; treat EINPROGRESS like a full backlog and try again.
     */
    errno = err == EINPROGRESS || err == EINTR ? EAGAIN : err;
    return -1;
}

static int
sock_connect(const char *path, int timeout_ms, bool wait_for_listener,
             struct error **errp)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int64_t deadline = sock_deadline(timeout_ms);
    size_t len = strlen(path);
    int fd, err;

    if (len == 0 || len >= sizeof(sun.sun_path)) {
        error_setg(errp, ERR_INVALID, "socket path %s: %s", path,
                   len == 0 ? "empty" : "too long");
        return -1;
    }
    memcpy(sun.sun_path, path, len + 1);

    for (;;) {
        fd = sock_try_connect(&sun);
        if (fd >= 0) {
            return fd;
        }
        err = errno;
        if (err != EAGAIN &&
            !(wait_for_listener && (err == ENOENT || err == ECONNREFUSED))) {
            error_setg_errno(errp, err == ENOENT ? ERR_NOT_FOUND : ERR_IO,
                             err, "connect to %s", path);
            return -1;
        }
        if (sock_remaining_ms(deadline) == 0) {
            error_setg_errno(errp, ERR_TIMEOUT, err,
                             "connect to %s: gave up after %d ms", path,
                             timeout_ms);
            return -1;
        }
        sock_sleep_ms(SOCK_RETRY_MS, deadline);
    }
}

int
sock_connect_unix(const char *path, int timeout_ms, struct error **errp)
{
    return sock_connect(path, timeout_ms, false, errp);
}

int
sock_connect_unix_wait(const char *path, int timeout_ms, struct error **errp)
{
    return sock_connect(path, timeout_ms, true, errp);
}

/* Write some bytes without blocking.  Returns the count, or -1 with errno
 * (EAGAIN when the descriptor is full).
 */
static ssize_t
sock_send_some(int fd, const char *p, size_t len)
{
    ssize_t n;

    n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == -1 && errno == ENOTSOCK) {
        /* A pipe or device: poll reported room for PIPE_BUF bytes, and a
         * write of at most that size does not block.
         */
        n = write(fd, p, len < PIPE_BUF ? len : PIPE_BUF);
    }
    return n;
}

int
sock_write_all(int fd, const void *buf, size_t len, int64_t deadline,
               struct error **errp)
{
    const char *p = buf;
    ssize_t n;
    int r;

    while (len > 0) {
        n = sock_send_some(fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
            error_setg_errno(errp, ERR_IO, errno, "write");
            return -1;
        }
        r = sock_wait(fd, POLLOUT, deadline);
        if (r == -1) {
            error_setg_errno(errp, ERR_IO, errno, "poll");
            return -1;
        }
        if (r == 0) {
            error_setg(errp, ERR_TIMEOUT, "write timed out");
            return -1;
        }
    }
    return 0;
}

/* Read some bytes without blocking.  Returns the count, 0 at end of file,
 * or -1 with errno (EAGAIN when nothing is available).
 */
static ssize_t
sock_recv_some(int fd, void *buf, size_t len)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    ssize_t n;
    int r;

    n = recv(fd, buf, len, MSG_DONTWAIT);
    if (n == -1 && errno == ENOTSOCK) {
        /* Not a socket: read only when poll says there is something, so
         * that a blocking descriptor does not block.
         */
        r = poll(&pfd, 1, 0);
        if (r <= 0) {
            if (r == 0) {
                errno = EAGAIN;
            }
            return -1;
        }
        n = read(fd, buf, len);
    }
    return n;
}

ssize_t
sock_read_some(int fd, void *buf, size_t len, int64_t deadline,
               struct error **errp)
{
    ssize_t n;
    int r;

    for (;;) {
        n = sock_recv_some(fd, buf, len);
        if (n >= 0) {
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            error_setg_errno(errp, ERR_IO, errno, "read");
            return -1;
        }
        r = sock_wait(fd, POLLIN, deadline);
        if (r == -1) {
            error_setg_errno(errp, ERR_IO, errno, "poll");
            return -1;
        }
        if (r == 0) {
            error_setg(errp, ERR_TIMEOUT, "read timed out");
            return -1;
        }
    }
}
