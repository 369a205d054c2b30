/* vmsnapd: streamed uploads into a file (what Glance's PUT .../file
 * needs), hashed on the way.
 *
 * Two layers:
 * - struct upload: a writer onto a file descriptor that hashes every
 *   byte (MD5, Glance's "checksum"; SHA-512, its "os_hash_value") and
 *   enforces limits: a maximum size, and a reserve of free space left on
 *   the file system.  No HTTP in it; it never holds more than the piece
 *   it is given.
 * - upload_stream: binds an upload to a request's streamed body
 *   (http.h's sink) and answers in the request's service shape: 413 when
 *   a limit is hit (as Glance does for its size cap and a full store),
 *   500 when the disk fails.  The owner of the file is told how it ended
 *   through struct upload_target: done (body complete, data synced:
 *   record it and respond) or fail (remove the file; nothing half-made
 *   may stay).
 *
 * Threads: the caller's thread only copies each piece into a ring of
 * slots (16 of 256 KiB) and returns to the socket; one worker thread
 * computes the MD5 of each full slot, a second the SHA-512 and writes
 * it (256 KiB writes: larger ones cost several times the CPU in the
 * kernel on the bench machine).  The digests, about 3 s of CPU per GiB
 * together, run beside the reception on both cores; the file is synced
 * once, by upload_finish.  A write error is therefore told by a later
 * upload_write, at the latest by upload_finish.
 */
#ifndef VMSNAPD_UPLOAD_H
#define VMSNAPD_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api-common.h"
#include "error.h"
#include "hash.h"

/* Limits; zero fields mean no limit. */
struct upload_limits {
    int64_t max_size; /* most bytes the upload may have */
    int64_t reserve;  /* bytes that must stay free on the file system */
};

/* Why an upload failed. */
enum upload_failure {
    UPLOAD_OK,        /* it did not */
    UPLOAD_TOO_LARGE, /* over max_size (or over the declared length) */
    UPLOAD_NO_SPACE,  /* the reserve would be touched, or ENOSPC */
    UPLOAD_SHORT,     /* fewer bytes than the declared length */
    UPLOAD_IO,        /* a write or sync failed */
};

/* What a finished upload was. */
struct upload_result {
    uint64_t size;                    /* bytes written */
    char md5[HASH_MD5_HEX_LEN];       /* hex MD5 */
    char sha512[HASH_SHA512_HEX_LEN]; /* hex SHA-512 */
};

struct upload;

/* Start an upload onto FD (borrowed; written at its current offset),
 * limited by LIMITS (copied; NULL: none), of EXPECTED bytes if the
 * client declared them (-1 otherwise).  A declared length over the
 * maximum, or one that would eat into the reserve, fails at once.
 * Returns the upload (free with upload_free), or NULL with *WHY set and
 * ERR_INVALID (a limit) or ERR_IO.
 */
struct upload *upload_new(int fd, const struct upload_limits *limits,
                          int64_t expected, enum upload_failure *why,
                          struct error **errp);

/* Hash and write LEN bytes of BUF (taken into the ring: BUF may be
 * reused when this returns).  Returns 0, or -1 with errp (ERR_IO, or
 * ERR_INVALID for a limit) and the reason in upload_failure; after a
 * failure every call fails the same way.
 */
int upload_write(struct upload *u, const void *buf, size_t len,
                 struct error **errp);

/* The body is complete: check the declared length, wait for the
 * workers to write the rest, fsync the file and fill *RES.  Returns 0,
 * or -1 with errp and upload_failure.
 */
int upload_finish(struct upload *u, struct upload_result *res,
                  struct error **errp);

/* Why U failed (UPLOAD_OK while it has not). */
enum upload_failure upload_failure(const struct upload *u);

/* Bytes written so far. */
uint64_t upload_size(const struct upload *u);

/* Free U (NULL allowed); never closes the descriptor. */
void upload_free(struct upload *u);

/* The HTTP status for a failure: 413 for limits, 400 for a short body,
 * 500 for I/O.
 */
int upload_status(enum upload_failure why);

/* Who owns the file an upload fills. */
struct upload_target {
    int fd; /* where to write (borrowed until done or fail) */
    /* The body is in and synced, *RES says what it was: record it and
     * respond (204 for Glance).
     */
    void (*done)(void *opaque, struct api_req *r,
                 const struct upload_result *res);
    /* The upload will not complete (limit, disk error, client gone,
     * server stopping): remove the file and what refers to it.  Any
     * response has been made already, or cannot be.
     */
    void (*fail)(void *opaque, enum upload_failure why);
    void *opaque; /* for done and fail */
};

/* Stream R's body (a ROUTE_BODY_STREAM route, called from its handler)
 * into TARGET under LIMITS.  Exactly one of TARGET's done or fail is
 * called, possibly before this returns (a declared length over the
 * limits: 413 at once).
 */
void upload_stream(struct api_req *r, const struct upload_limits *limits,
                   const struct upload_target *target);

#endif
