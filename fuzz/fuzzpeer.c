/* vmsnap fuzz targets: fake peers that play the fuzz input (see fuzz.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"

/* Socket buffer asked for; the kernel may grant less. */
#define FUZZPEER_SNDBUF (1024 * 1024)

/* How long the answering peer waits for the client's next request before
 * it sends the rest of the input anyway.  A client that got its answer
 * sends the next request within microseconds; one that waits for more
 * data never does, and each such input costs this long.
 */
#define FUZZPEER_WAIT_MS 2

struct fuzzpeer {
    const uint8_t *data; /* the input, borrowed */
    size_t size;         /* its length */
    int fd;              /* the peer's end */
    pthread_t thread;    /* runs fuzzpeer_run */
};

int
fuzzpeer_open(const uint8_t *data, size_t size, int *peer_fd)
{
    int sv[2], sz = FUZZPEER_SNDBUF;
    size_t off = 0;
    ssize_t n;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
        return -1;
    }
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    while (off < size) {
        n = send(sv[0], data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break; /* buffer full: the rest of the input is dropped */
        }
        off += (size_t)n;
    }
    shutdown(sv[0], SHUT_WR);
    *peer_fd = sv[0];
    return sv[1];
}

/* Send DATA[0, LEN); false when the client is gone. */
static bool
fuzzpeer_send(int fd, const uint8_t *data, size_t len)
{
    size_t off = 0;
    ssize_t n;

    while (off < len) {
        n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        off += (size_t)n;
    }
    return true;
}

/* Wait up to TIMEOUT_MS (-1: for ever) for one request line.  Returns 1
 * when one came, 0 on timeout, -1 at end of file or on error.
 */
static int
fuzzpeer_wait_line(int fd, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char c;
    ssize_t n;

    for (;;) {
        if (poll(&pfd, 1, timeout_ms) <= 0) {
            return 0;
        }
        n = read(fd, &c, 1);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        if (c == '\n') {
            return 1;
        }
    }
}

/* Length of the piece of DATA[0, LEN) up to and including its first
 * blank line, or LEN.
 */
static size_t
fuzzpeer_piece(const uint8_t *data, size_t len)
{
    const uint8_t *p = memmem(data, len, "\n\n", 2);

    return p ? (size_t)(p - data) + 2 : len;
}

static void *
fuzzpeer_run(void *opaque)
{
    struct fuzzpeer *fp = opaque;
    size_t off = 0, n;
    int r;

    while (off < fp->size) {
        n = fuzzpeer_piece(fp->data + off, fp->size - off);
        if (!fuzzpeer_send(fp->fd, fp->data + off, n)) {
            goto out;
        }
        off += n;
        if (off == fp->size) {
            break;
        }
        r = fuzzpeer_wait_line(fp->fd, FUZZPEER_WAIT_MS);
        if (r < 0) {
            goto out;
        }
        if (r == 0) {
            /* The client waits for something later in the input. */
            if (!fuzzpeer_send(fp->fd, fp->data + off, fp->size - off)) {
                goto out;
            }
            break;
        }
    }
    shutdown(fp->fd, SHUT_WR);
    while (fuzzpeer_wait_line(fp->fd, -1) == 1) {
    }
out:
    close(fp->fd);
    return NULL;
}

int
fuzzpeer_start(const uint8_t *data, size_t size, struct fuzzpeer **fpp)
{
    struct fuzzpeer *fp;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
        return -1;
    }
    fp = calloc(1, sizeof(*fp));
    if (fp == NULL) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    fp->data = data;
    fp->size = size;
    fp->fd = sv[0];
    if (pthread_create(&fp->thread, NULL, fuzzpeer_run, fp) != 0) {
        close(sv[0]);
        close(sv[1]);
        free(fp);
        return -1;
    }
    *fpp = fp;
    return sv[1];
}

void
fuzzpeer_finish(struct fuzzpeer *fp)
{
    pthread_join(fp->thread, NULL);
    free(fp);
}
