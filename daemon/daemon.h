/* vmsnapd: the program around the server: options, start-up, signals,
 * readiness for systemd, orderly stop.
 *
 *   vmsnapd [--listen ADDR:PORT] [--config FILE] [--data-dir DIR]
 *           [--tls-cert FILE --tls-key FILE] [--public-url URL]
 *           [--foreground] [--port-file FILE] [--max-body BYTES]
 *           [--token-ttl SECONDS] [--shutdown-grace SECONDS]
 *           [--max-conns N] [--quiet]
 *
 * It runs in the foreground (there is no other mode: systemd or a shell
 * supervises it) and logs on stderr.  SIGTERM or SIGINT stops it: the
 * listening socket closes at once, requests in flight get up to
 * --shutdown-grace seconds to end, then every connection is closed
 * (unfinished uploads are discarded) and it exits 0.  SIGHUP is ignored.
 * Under systemd (NOTIFY_SOCKET set) it reports READY=1 once it listens
 * and STOPPING=1 when it stops (Type=notify).
 *
 * Exit status: 0 after a signal, 1 when it cannot start (the address is
 * taken, a file is missing), 2 for a usage error.
 */
#ifndef VMSNAPD_DAEMON_H
#define VMSNAPD_DAEMON_H

#include "identity-backend.h"
#include "router.h"

/* What a build of the daemon is made of. */
struct daemon_setup {
    const struct identity_ops *identity;     /* the identity backend */
    const struct route_table *const *tables; /* more route tables
                                              * (NULL-terminated), or
                                              * NULL */
};

/* Run the daemon; returns the exit status.  Blocks until a signal. */
int daemon_main(int argc, char **argv, const struct daemon_setup *setup);

#endif
