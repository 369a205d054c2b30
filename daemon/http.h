/* vmsnapd: the HTTP server, over GNU libmicrohttpd (0.9.75 in Debian 12).
 *
 * Threads.  Every connection has its own thread (libmicrohttpd's
 * MHD_USE_THREAD_PER_CONNECTION, with one internal thread accepting).
 * Handlers block: a streamed upload writes each piece to disk before it
 * asks for the next, a download reads from disk, the identity backend
 * queries the catalog.  With one polling thread (or a small pool), one
 * slow disk write would stall every other client of that thread; with a
 * thread per connection it stalls only its own client, while token checks
 * and listings go on.  Connections are bounded (http_options.max_conns)
 * and each has an idle timeout.  Long work (snapshots) is never done in a
 * request: it runs in worker processes and requests only start it.
 *
 * A request goes through these calls, all in its connection's thread:
 *   1. begin: the request line and headers are in.  The handler either
 *      responds at once (the body, if any, is not read: libmicrohttpd then
 *      closes the connection), or asks for the body to be buffered
 *      (http_req_buffer_body) or streamed into a sink
 *      (http_req_stream_body).  By default a body is read and dropped.
 *   2. body pieces: appended to the buffer (up to its limit; beyond it the
 *      rest is dropped and http_req_body_overflow says so), or handed to
 *      the sink.
 *   3. complete: the whole body is in and nobody has responded: the
 *      handler must respond.  For a streamed body the sink's finish is
 *      called instead.
 * libmicrohttpd 0.9.75 cannot send a response while a body is still
 * arriving, so a response made in the middle of a body (a sink that
 * fails) is held back: the rest of the body is read and dropped, up to
 * http_options.max_discard bytes, and the response goes out when the body
 * ends; a client that sends more than that is disconnected.
 *
 * A response is made once per request with one of the http_respond_*
 * functions; they never fail (on memory exhaustion the connection is
 * closed instead).  Every finished request is logged on stderr: peer,
 * method, path, status, bytes in and out, milliseconds.
 */
#ifndef VMSNAPD_HTTP_H
#define VMSNAPD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "error.h"

struct http_server; /* a running server */
struct http_req;    /* one request, valid from begin until it ends */

/* Where a request goes.  Called in the connection's thread. */
struct http_handlers {
    /* Headers are in: respond, or choose how to take the body. */
    void (*begin)(struct http_req *req, void *opaque);
    /* The body is in and no response was made: respond now. */
    void (*complete)(struct http_req *req, void *opaque);
    void *opaque; /* passed to both */
};

/* A consumer of a streamed request body (uploads).  Exactly one of three
 * ends happens, after which no function of the sink is called again and
 * the sink frees what it holds:
 *   - write returns -1: the sink has responded (an error) itself;
 *   - finish: the body ended normally; the sink must respond;
 *   - abort: the body will never end (the client went away, the
 *     connection timed out, the server is stopping); no response can be
 *     sent, and the sink must undo what it made.
 */
struct http_sink {
    /* LEN (> 0) more bytes of the body, borrowed for the call.  Return 0
     * to go on, or respond and return -1.
     */
    int (*write)(void *opaque, struct http_req *req, const void *buf,
                 size_t len);
    void (*finish)(void *opaque, struct http_req *req);
    void (*abort)(void *opaque);
    void *opaque; /* passed to the three */
};

/* Reads part of a streamed response body: up to MAX bytes at OFFSET of
 * the resource into BUF.  Returns the count (> 0), or -1 on error (the
 * connection is then closed: a status line was already sent).
 */
typedef ssize_t http_reader_fn(void *opaque, uint64_t offset, void *buf,
                               size_t max);

/* How to run the server.  Zero fields take the defaults in brackets. */
struct http_options {
    const char *listen;            /* "ADDR:PORT": an IPv4 literal, or an IPv6
                                    * literal in brackets; PORT 0 picks a free
                                    * one [127.0.0.1:8774] */
    const char *tls_cert;          /* PEM certificate chain file, or NULL */
    const char *tls_key;           /* PEM private key file, or NULL; both or
                                    * neither */
    size_t max_discard;            /* bytes dropped after an early error
                                    * before disconnecting [64 MiB] */
    unsigned max_conns;            /* connections at once [256] */
    unsigned idle_timeout_s;       /* close a connection silent this long
                                    * [120] */
    size_t conn_buffer;            /* per-connection buffer; bounds the header
                                    * size and the size of body pieces
                                    * [1 MiB: uploads take a fifth less CPU
                                    * than with 256 KiB] */
    bool quiet;                    /* no access log */
    struct http_handlers handlers; /* required */
};

/* Start serving as OPTS says (OPTS is read during the call only).
 * Returns the server, or NULL with ERR_INVALID (bad listen address,
 * half a TLS pair, TLS not built into libmicrohttpd), ERR_NOT_FOUND (a
 * TLS file is missing) or ERR_IO (the address is in use, cannot bind).
 * Does not block.
 */
struct http_server *http_start(const struct http_options *opts,
                               struct error **errp);

/* The TCP port the server listens on (useful with port 0). */
int http_port(const struct http_server *srv);

/* True when the server speaks TLS. */
bool http_is_tls(const struct http_server *srv);

/* Requests begun and not yet ended. */
unsigned http_in_flight(const struct http_server *srv);

/* Stop: close the listening socket at once (new connections are
 * refused), let requests in flight end for at most GRACE_MS, then close
 * every connection (sinks of unfinished uploads see abort) and free SRV.
 * Returns how many requests were still in flight when the grace ran out.
 * Blocks up to GRACE_MS plus the time handlers take to return.
 */
unsigned http_stop(struct http_server *srv, int grace_ms);

/* Parse a listen address "A.B.C.D:PORT" or "[v6]:PORT" (numeric only)
 * into *SS and *LEN.  Returns 0, or -1 with ERR_INVALID.
 */
int http_parse_listen(const char *spec, struct sockaddr_storage *ss,
                      socklen_t *len, struct error **errp);

/* The request. */

const char *http_req_method(const struct http_req *req); /* "GET", ... */
/* The path as sent, still percent-encoded, without the query. */
const char *http_req_path(const struct http_req *req);
/* The value of header NAME (any case), the first if repeated, or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);
/* Call FN for every value of header NAME, in order; stop when FN returns
 * false.
 */
void http_req_header_foreach(const struct http_req *req, const char *name,
                             bool (*fn)(const char *value, void *opaque),
                             void *opaque);
/* Query parameters, decoded ('+' is a space), in order, repeats kept. */
size_t http_req_nquery(const struct http_req *req);
void http_req_query_at(const struct http_req *req, size_t i, const char **key,
                       const char **value);
/* The first value of query parameter KEY, or NULL. */
const char *http_req_query(const struct http_req *req, const char *key);
/* True if the query string could not be decoded (bad %-escape, NUL). */
bool http_req_query_bad(const struct http_req *req);
/* The declared Content-Length, or -1 (none, or chunked). */
int64_t http_req_content_length(const struct http_req *req);
bool http_req_is_tls(const struct http_req *req);
/* The client's address as text ("127.0.0.1", "::1"). */
const char *http_req_peer(const struct http_req *req);

/* Per-request data of the handler: DATA is freed with FREE_FN (may be
 * NULL) when the request ends.  Setting again frees the previous data.
 */
void http_req_set_data(struct http_req *req, void *data,
                       void (*free_fn)(void *));
void *http_req_data(const struct http_req *req);

/* Body handling, to choose in begin. */

/* Buffer the body up to LIMIT bytes (1 to 1 GiB, a dynbuf's caps: any
 * other is a programming error and aborts).  Returns false, and changes
 * nothing, when the declared Content-Length is already over LIMIT (the
 * caller responds 413 at once).
 */
bool http_req_buffer_body(struct http_req *req, size_t limit);
/* The buffered body (NUL-terminated; LEN excludes the NUL), or NULL
 * with *LEN 0 when there was none.  Borrowed until the request ends.
 */
const char *http_req_body(const struct http_req *req, size_t *len);
/* True when a buffered body went over its limit (its start is dropped
 * too: http_req_body returns NULL).
 */
bool http_req_body_overflow(const struct http_req *req);
/* Hand the body to SINK (copied).  The sink sees exactly one end. */
void http_req_stream_body(struct http_req *req, const struct http_sink *sink);
/* Bytes of body received so far. */
uint64_t http_req_body_bytes(const struct http_req *req);

/* Responses: one per request. */

/* Add header NAME: VALUE to the response to come (both copied; a value
 * with CR or LF is dropped).
 */
void http_add_header(struct http_req *req, const char *name, const char *value);
/* Respond STATUS with LEN bytes of BODY (copied) of CONTENT_TYPE (NULL:
 * no Content-Type, for empty bodies).
 */
void http_respond(struct http_req *req, int status, const char *content_type,
                  const void *body, size_t len);
/* Respond STATUS with LENGTH bytes produced by READ (offsets from 0);
 * FREE_FN (may be NULL) is called with OPAQUE when the response is gone,
 * also when this function fails.
 */
void http_respond_reader(struct http_req *req, int status, uint64_t length,
                         http_reader_fn *read, void *opaque,
                         void (*free_fn)(void *));
/* Respond STATUS with LENGTH bytes of FD from OFFSET (sendfile on plain
 * TCP).  Takes FD: it is closed when the response is gone.
 */
void http_respond_fd(struct http_req *req, int status, int fd, uint64_t offset,
                     uint64_t length);
/* True once a response was made for REQ. */
bool http_responded(const struct http_req *req);

/* Helpers. */

/* The standard reason phrase of STATUS ("Not Found"), or "Unknown". */
const char *http_reason(int status);

/* What a Range header asks of a resource of SIZE bytes. */
enum http_range {
    HTTP_RANGE_NONE,          /* no usable Range: send everything (200) */
    HTTP_RANGE_PARTIAL,       /* send [*FIRST, *LAST] (206) */
    HTTP_RANGE_UNSATISFIABLE, /* 416 */
};

/* Read HEADER (the Range value, or NULL) against SIZE.  One range of
 * bytes is supported ("bytes=A-B", "bytes=A-", "bytes=-N"); a malformed
 * header or several ranges are ignored (HTTP_RANGE_NONE), as RFC 9110
 * §14.2 allows.
 */
enum http_range http_parse_range(const char *header, uint64_t size,
                                 uint64_t *first, uint64_t *last);

/* Decode LEN bytes of S: %XX escapes, and '+' as a space when PLUS.
 * Returns a new string (caller frees), or NULL for a bad escape or a
 * decoded NUL.
 */
char *http_unescape(const char *s, size_t len, bool plus);

#endif
