/* vmsnap: socket helpers with deadlines.
 *
 * Every blocking operation here takes a deadline: an absolute time in
 * milliseconds on the monotonic clock (sock_now_ms), so that a sequence of
 * reads and writes shares one time budget.  sock_deadline turns a relative
 * timeout into a deadline; a negative timeout means "no deadline"
 * (SOCK_NO_DEADLINE), which callers talking to a peer should avoid.
 *
 * EINTR is retried everywhere.  Writes use send(MSG_NOSIGNAL), so a peer
 * that goes away yields EPIPE instead of killing the process with SIGPIPE.
 * For descriptors that are not sockets (pipes, character devices) the
 * helpers fall back to read/write; writing to a closed pipe then raises
 * SIGPIPE, which the program must ignore if it uses such descriptors.
 */
#ifndef VMSNAP_SOCK_H
#define VMSNAP_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* A deadline that never passes. */
#define SOCK_NO_DEADLINE INT64_MAX

/* Current time of CLOCK_MONOTONIC in milliseconds.  Never fails. */
int64_t sock_now_ms(void);

/* The deadline TIMEOUT_MS milliseconds from now; SOCK_NO_DEADLINE when
 * TIMEOUT_MS is negative.
 */
int64_t sock_deadline(int timeout_ms);

/* Milliseconds left until DEADLINE, in the form poll() takes: 0 when it
 * has passed, -1 for SOCK_NO_DEADLINE, at most INT_MAX otherwise.
 */
int sock_remaining_ms(int64_t deadline);

/* Connect a stream socket to the unix socket PATH, trying once.  A
 * listener whose backlog is full is retried until TIMEOUT_MS runs out.
 * Returns a non-blocking, close-on-exec descriptor the caller must close,
 * or -1 with ERR_INVALID (path too long), ERR_NOT_FOUND (no such socket),
 * ERR_IO (refused or other failure) or ERR_TIMEOUT.  Blocks at most
 * TIMEOUT_MS.
 */
int sock_connect_unix(const char *path, int timeout_ms, struct error **errp);

/* As sock_connect_unix, but also retries while the socket does not exist
 * yet or refuses connections (ENOENT, ECONNREFUSED): useful right after
 * starting QEMU, which creates its sockets some time after exec.  Fails
 * with ERR_TIMEOUT, naming the last errno, when TIMEOUT_MS runs out.
 */
int sock_connect_unix_wait(const char *path, int timeout_ms,
                           struct error **errp);

/* Write all LEN bytes of BUF to FD before DEADLINE.  Returns 0, or -1 with
 * ERR_TIMEOUT (some bytes may have been written) or ERR_IO (EPIPE when the
 * peer closed).  Works on blocking and non-blocking descriptors.
 */
int sock_write_all(int fd, const void *buf, size_t len, int64_t deadline,
                   struct error **errp);

/* Read at most LEN (> 0) bytes from FD into BUF, waiting until some are
 * available or DEADLINE passes.  Returns the number of bytes read (> 0),
 * 0 at end of file, or -1 with ERR_TIMEOUT or ERR_IO.
 */
ssize_t sock_read_some(int fd, void *buf, size_t len, int64_t deadline,
                       struct error **errp);

/* Sleep MS milliseconds, but not past DEADLINE.  EINTR is retried. */
void sock_sleep_ms(int ms, int64_t deadline);

#endif
