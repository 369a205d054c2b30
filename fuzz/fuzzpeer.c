/* vmsnap fuzz targets: a peer that has already said everything. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"

/* Socket buffer asked for; the kernel may grant less. */
#define FUZZPEER_SNDBUF (1024 * 1024)

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
