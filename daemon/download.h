/* vmsnapd: streamed downloads with Range support (Glance's GET
 * .../file: openstack-api.md §5.2, nova-glance.md §3.3).
 *
 * The whole resource: 200 with Content-Length, Accept-Ranges and, when
 * known, Content-MD5 (Glance sends the MD5 in hex, not base64).  One
 * range: 206 with Content-Range.  A range past the end: 416 with
 * "Content-Range: bytes * / SIZE" in the service's error shape.  The
 * bytes come from a file descriptor (sendfile on plain TCP) or from a
 * reader (an object store); they are never all in memory.
 */
#ifndef VMSNAPD_DOWNLOAD_H
#define VMSNAPD_DOWNLOAD_H

#include <stdint.h>

#include "api-common.h"
#include "http.h"

/* What to send.  Exactly one of FD (>= 0) or READ is used. */
struct download_source {
    uint64_t size;           /* bytes of the whole resource */
    const char *md5;         /* its hex MD5, or NULL */
    int fd;                  /* a file to send, or -1 */
    http_reader_fn *read;    /* or a reader (offsets in the resource) */
    void *opaque;            /* for read and free_fn */
    void (*free_fn)(void *); /* releases opaque (may be NULL) */
};

/* Respond to R with SRC as its Range header asks.  Takes SRC's fd or
 * opaque: they are released when the response is gone, or now when the
 * answer is 416.
 */
void download_respond(struct api_req *r, const struct download_source *src);

#endif
