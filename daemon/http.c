/* vmsnapd: the HTTP server over libmicrohttpd (see http.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cleanup.h"
#include "dynbuf.h"
#include "http.h"
#include "log.h"
#include "sock.h"
#include "util.h"
#include "xalloc.h"

#define HTTP_DEFAULT_LISTEN "127.0.0.1:8774"
#define HTTP_MAX_PEM (1024 * 1024)
#define HTTP_READER_BLOCK (256 * 1024)
#define HTTP_MAX_QUERY 256
#define HTTP_MAX_HEADERS 32

struct http_server {
    struct MHD_Daemon *mhd;        /* the libmicrohttpd daemon */
    int listen_fd;                 /* our listening socket, or -1 */
    int port;                      /* its port */
    bool tls;                      /* serving TLS */
    bool quiet;                    /* no access log */
    atomic_bool stopping;          /* http_stop has begun */
    atomic_uint in_flight;         /* requests begun, not ended */
    size_t max_discard;            /* see http_options */
    struct http_handlers handlers; /* where requests go */
    char *pem_cert, *pem_key;      /* TLS material, kept while running */
};

/* How the body of a request is taken. */
enum http_body_mode {
    BODY_DROP,   /* read and dropped (default; also after an error) */
    BODY_BUFFER, /* kept in memory up to a limit */
    BODY_STREAM, /* handed to a sink */
};

struct http_kv {
    char *key;   /* decoded key */
    char *value; /* decoded value */
};

struct http_req {
    struct http_server *srv;     /* the server */
    struct MHD_Connection *conn; /* libmicrohttpd's connection */
    int64_t t0_us;               /* when the request line came */
    char *path;                  /* raw path, no query */
    const char *method;          /* borrowed from libmicrohttpd */
    bool begun;                  /* begin was called */
    struct http_kv *query;       /* decoded query parameters */
    size_t nquery;               /* entries in query */
    bool query_bad;              /* the query did not decode */
    enum http_body_mode mode;    /* how the body is taken */
    struct dynbuf body;          /* buffered body, capped at its
                                  * limit (http_req_buffer_body) */
    bool body_overflow;          /* the body went over body_limit */
    uint64_t body_seen;          /* bytes of body received */
    uint64_t dropped;            /* bytes of body dropped */
    struct http_sink sink;       /* the consumer of a streamed body */
    bool sink_done;              /* the sink has seen its end */
    struct MHD_Response *resp;   /* the response, not yet queued */
    int status;                  /* its status */
    uint64_t out_len;            /* its body length */
    bool queued;                 /* the response was queued */
    struct http_kv *hdrs;        /* extra response headers */
    size_t nhdrs;                /* entries in hdrs */
    void *data;                  /* the handler's per-request data */
    void (*data_free)(void *);   /* frees data */
    char peer[INET6_ADDRSTRLEN]; /* client address */
};

/* A streamed response body. */
struct http_reader {
    http_reader_fn *read;    /* produces the bytes */
    void *opaque;            /* for read and free_fn */
    void (*free_fn)(void *); /* releases opaque */
    uint64_t length;         /* bytes to send */
};

static int64_t
http_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *
http_reason(int status)
{
    const char *r = MHD_get_reason_phrase_for((unsigned)status);

    return r && *r ? r : "Unknown";
}

/* Value of hex digit C, or -1. */
static int
http_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

char *
http_unescape(const char *s, size_t len, bool plus)
{
    char *out = xmalloc(len + 1);
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];

        if (c == '%') {
            int hi = i + 2 < len ? http_hex(s[i + 1]) : -1;
            int lo = i + 2 < len ? http_hex(s[i + 2]) : -1;

            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == '\0') {
            free(out);
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

int
http_parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
                  struct error **errp)
{
    const char *colon;
    char host[INET6_ADDRSTRLEN + 2];
    int64_t port = -1;
    size_t hlen;

    memset(ss, 0, sizeof(*ss));
    if (spec == NULL || *spec == '\0') {
        error_setg(errp, ERR_INVALID, "empty listen address");
        return -1;
    }
    colon = strrchr(spec, ':');
    if (colon == NULL || util_parse_int64(colon + 1, &port, NULL) < 0 ||
        colon[1] == '+' || colon[1] == '-' || port < 0 || port > 65535) {
        error_setg(errp, ERR_INVALID,
                   "listen address %s: expected ADDR:PORT with PORT "
                   "0-65535",
                   spec);
        return -1;
    }
    hlen = (size_t)(colon - spec);
    if (spec[0] == '[') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

        if (hlen < 3 || spec[hlen - 1] != ']' || hlen - 2 >= sizeof(host)) {
            error_setg(errp, ERR_INVALID,
                       "listen address %s: bad IPv6 "
                       "literal",
                       spec);
            return -1;
        }
        memcpy(host, spec + 1, hlen - 2);
        host[hlen - 2] = '\0';
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
            error_setg(errp, ERR_INVALID,
                       "listen address %s: bad IPv6 "
                       "literal",
                       spec);
            return -1;
        }
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return 0;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

        if (hlen == 0 || hlen >= sizeof(host)) {
            error_setg(errp, ERR_INVALID,
                       "listen address %s: bad IPv4 "
                       "literal",
                       spec);
            return -1;
        }
        memcpy(host, spec, hlen);
        host[hlen] = '\0';
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
            error_setg(errp, ERR_INVALID,
                       "listen address %s: bad IPv4 "
                       "literal (IPv6 goes in brackets)",
                       spec);
            return -1;
        }
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof(*s4);
        return 0;
    }
}

/* Open, bind and listen on SPEC; a close-on-exec descriptor or -1. */
static int
http_listen(const char *spec, int *port, struct error **errp)
{
    struct sockaddr_storage ss, got;
    socklen_t len = 0, glen = sizeof(got);
    int fd, one = 1;

    if (http_parse_listen(spec, &ss, &len, errp) < 0) {
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "socket for %s", spec);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "cannot listen on %s", spec);
        close(fd);
        return -1;
    }
    if (listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&got, &glen) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "cannot listen on %s", spec);
        close(fd);
        return -1;
    }
    *port = ntohs(got.ss_family == AF_INET6
                      ? ((struct sockaddr_in6 *)&got)->sin6_port
                      : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
}

/* Read a PEM file of at most HTTP_MAX_PEM bytes; NULL with errp. */
static char *
http_read_pem(const char *path, const char *what, struct error **errp)
{
    CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
    CLEANUP_FREE char *buf = NULL;
    struct stat st;
    size_t got = 0;

    if (fd < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, errno,
                         "TLS %s %s", what, path);
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > HTTP_MAX_PEM) {
        error_setg(errp, ERR_INVALID,
                   "TLS %s %s: not a PEM file of at "
                   "most 1 MiB",
                   what, path);
        return NULL;
    }
    buf = xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg_errno(errp, ERR_IO, n < 0 ? errno : EIO,
                             "reading TLS %s %s", what, path);
            return NULL;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    if (strstr(buf, "-----BEGIN ") == NULL) {
        error_setg(errp, ERR_INVALID, "TLS %s %s: no PEM block", what, path);
        return NULL;
    }
    return steal_pointer(&buf);
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    size_t n;

    vsnprintf(buf, sizeof(buf), fmt, ap);
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }
    log_warnx("http: %s", buf);
}

/* Split the query string Q into decoded pairs on REQ. */
static void
http_parse_query(struct http_req *req, const char *q)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t klen = eq ? (size_t)(eq - q) : n;
        char *k, *v;

        if (n == 0) {
            q++;
            continue;
        }
        if (req->nquery >= HTTP_MAX_QUERY) {
            req->query_bad = true;
            return;
        }
        k = http_unescape(q, klen, true);
        v = eq ? http_unescape(eq + 1, n - klen - 1, true) : xstrdup("");
        if (k == NULL || v == NULL) {
            free(k);
            free(v);
            req->query_bad = true;
            return;
        }
        req->query[req->nquery].key = k;
        req->query[req->nquery].value = v;
        req->nquery++;
        q += n;
        if (*q == '&') {
            q++;
        }
    }
}

/* libmicrohttpd: a request line came.  Make our request record; what we
 * return is the request's context for every later call.
 */
static void *
http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *srv = cls;
    struct http_req *req = xcalloc(1, sizeof(*req));
    const union MHD_ConnectionInfo *ci;
    const char *q;

    req->srv = srv;
    req->conn = conn;
    req->t0_us = http_now_us();
    req->status = 0;
    q = strchr(uri, '?');
    req->path = q ? xstrndup(uri, (size_t)(q - uri)) : xstrdup(uri);
    req->query = xcalloc(HTTP_MAX_QUERY, sizeof(*req->query));
    if (q) {
        http_parse_query(req, q + 1);
    }
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;

        if (sa->sa_family == AF_INET6) {
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                      req->peer, sizeof(req->peer));
        } else if (sa->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
                      req->peer, sizeof(req->peer));
        }
    }
    atomic_fetch_add(&srv->in_flight, 1);
    return req;
}

/* Write the access log line of REQ, ended as TOE says. */
static void
http_log_access(const struct http_req *req, enum MHD_RequestTerminationCode toe)
{
    char path[260];
    size_t i, o = 0;
    double ms = (double)(http_now_us() - req->t0_us) / 1000.0;
    const char *how = "";

    /* The path comes from the client: printable ASCII only, cut short. */
    for (i = 0; req->path[i] && o + 5 < sizeof(path) - 4; i++) {
        unsigned char c = (unsigned char)req->path[i];

        if (c < 0x21 || c > 0x7e) {
            o += (size_t)snprintf(path + o, sizeof(path) - o, "\\x%02x", c);
        } else {
            path[o++] = (char)c;
        }
    }
    if (req->path[i]) {
        memcpy(path + o, "...", 3);
        o += 3;
    }
    path[o] = '\0';
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        break;
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        how = " (timed out)";
        break;
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        how = " (server stopping)";
        break;
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        how = " (client went away)";
        break;
    default:
        how = " (connection closed)";
        break;
    }
    fprintf(stderr,
            "vmsnapd: access: %s %s %s %d in=%llu out=%llu "
            "%.1fms%s\n",
            req->peer[0] ? req->peer : "-", req->method ? req->method : "-",
            path, req->status, (unsigned long long)req->body_seen,
            (unsigned long long)req->out_len, ms, how);
}

static void
http_req_free(struct http_req *req)
{
    size_t i;

    if (req->data_free) {
        req->data_free(req->data);
    }
    if (req->resp) {
        MHD_destroy_response(req->resp);
    }
    for (i = 0; i < req->nquery; i++) {
        free(req->query[i].key);
        free(req->query[i].value);
    }
    for (i = 0; i < req->nhdrs; i++) {
        free(req->hdrs[i].key);
        free(req->hdrs[i].value);
    }
    free(req->hdrs);
    free(req->query);
    dynbuf_reset(&req->body);
    free(req->path);
    free(req);
}

/* libmicrohttpd: the request is over, one way or another. */
static void
http_on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                  enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_req *req = *ctx;

    if (req == NULL) {
        return;
    }
    *ctx = NULL;
    if (req->mode == BODY_STREAM && !req->sink_done) {
        req->sink_done = true;
        req->sink.abort(req->sink.opaque);
    }
    if (!srv->quiet) {
        http_log_access(req, toe);
    }
    http_req_free(req);
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* Make the last-resort response: 500, plain text. */
static void
http_respond_internal(struct http_req *req)
{
    static const char msg[] = "500 Internal Server Error\n";

    log_warnx("http: %s %s: no response was made", req->method, req->path);
    http_respond(req, 500, "text/plain; charset=UTF-8", msg, sizeof(msg) - 1);
}

/* Queue the response of REQ now.  MHD_NO closes the connection. */
static enum MHD_Result
http_queue(struct http_req *req)
{
    enum MHD_Result r;

    if (req->resp == NULL) {
        return MHD_NO;
    }
    r = MHD_queue_response(req->conn, (unsigned)req->status, req->resp);
    MHD_destroy_response(req->resp);
    req->resp = NULL;
    req->queued = true;
    return r;
}

/* Take LEN bytes of body. */
static enum MHD_Result
http_take(struct http_req *req, const char *data, size_t len)
{
    req->body_seen += len;
    if (req->resp != NULL || req->mode == BODY_DROP) {
        /* A body nobody wants (after an error, past a limit) is read and
         * dropped so that the response can go out, but not forever.
         */
        req->dropped += len;
        if (req->dropped > req->srv->max_discard) {
            log_warnx("http: %s %s: more than %zu bytes of unwanted body; "
                      "disconnecting",
                      req->method, req->path, req->srv->max_discard);
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (req->mode == BODY_BUFFER) {
        if (dynbuf_add(&req->body, data, len, NULL) < 0) {
            /* Over the limit: what came is dropped too. */
            req->body_overflow = true;
            dynbuf_reset(&req->body);
            req->mode = BODY_DROP;
        }
        return MHD_YES;
    }
    if (!req->sink_done &&
        req->sink.write(req->sink.opaque, req, data, len) < 0) {
        req->sink_done = true;
        req->mode = BODY_DROP;
        if (req->resp == NULL) {
            http_respond_internal(req);
        }
    }
    return MHD_YES;
}

/* Does REQ announce a body? */
static bool
http_has_body(const struct http_req *req)
{
    const char *cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);

    return http_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL ||
           (cl != NULL && strcmp(cl, "0") != 0);
}

/* libmicrohttpd: the access handler, called at the headers, for every
 * piece of body, and once more at the end.
 */
static enum MHD_Result
http_on_access(void *cls, struct MHD_Connection *conn, const char *url,
               const char *method, const char *version, const char *upload_data,
               size_t *upload_data_size, void **ctx)
{
    struct http_server *srv = cls;
    struct http_req *req = *ctx;

    if (req == NULL) {
        return MHD_NO;
    }
    if (!req->begun) {
        req->begun = true;
        req->method = method;
        srv->handlers.begin(req, srv->handlers.opaque);
        if (req->resp != NULL && http_has_body(req)) {
            /* Queued before the body: libmicrohttpd skips the body and
             * closes the connection.  Without a body the response waits
             * for the final call, and the connection stays open.
             */
            return http_queue(req);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;

        *upload_data_size = 0;
        return http_take(req, upload_data, n);
    }
    if (req->queued) {
        return MHD_YES;
    }
    if (req->resp == NULL) {
        if (req->mode == BODY_STREAM && !req->sink_done) {
            req->sink_done = true;
            req->sink.finish(req->sink.opaque, req);
        } else {
            srv->handlers.complete(req, srv->handlers.opaque);
        }
    }
    if (req->resp == NULL) {
        http_respond_internal(req);
    }
    return http_queue(req);
}

struct http_server *
http_start(const struct http_options *opts, struct error **errp)
{
    struct http_server *srv;
    const char *listen_spec = opts->listen ? opts->listen : HTTP_DEFAULT_LISTEN;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    struct MHD_OptionItem ops[16];
    size_t n = 0;

    if ((opts->tls_cert == NULL) != (opts->tls_key == NULL)) {
        error_setg(errp, ERR_INVALID,
                   "TLS needs both a certificate and a "
                   "key");
        return NULL;
    }
    if (opts->handlers.begin == NULL || opts->handlers.complete == NULL) {
        error_setg(errp, ERR_INVALID, "no request handlers");
        return NULL;
    }
    srv = xcalloc(1, sizeof(*srv));
    srv->listen_fd = -1;
    srv->handlers = opts->handlers;
    srv->quiet = opts->quiet;
    srv->max_discard = opts->max_discard ? opts->max_discard : 64 * 1024 * 1024;
    atomic_init(&srv->stopping, false);
    atomic_init(&srv->in_flight, 0);
    if (opts->tls_cert) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            error_setg(errp, ERR_INVALID, "this libmicrohttpd has no TLS");
            goto fail;
        }
        srv->pem_cert = http_read_pem(opts->tls_cert, "certificate", errp);
        if (srv->pem_cert == NULL) {
            goto fail;
        }
        srv->pem_key = http_read_pem(opts->tls_key, "key", errp);
        if (srv->pem_key == NULL) {
            goto fail;
        }
        srv->tls = true;
        flags |= MHD_USE_TLS;
    }
    srv->listen_fd = http_listen(listen_spec, &srv->port, errp);
    if (srv->listen_fd < 0) {
        goto fail;
    }
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER,
                                       (intptr_t)http_mhd_log, srv};
    ops[n++] =
        (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, srv->listen_fd, NULL};
    ops[n++] = (struct MHD_OptionItem){
        MHD_OPTION_CONNECTION_LIMIT,
        opts->max_conns ? (intptr_t)opts->max_conns : 256, NULL};
    ops[n++] = (struct MHD_OptionItem){
        MHD_OPTION_CONNECTION_TIMEOUT,
        opts->idle_timeout_s ? (intptr_t)opts->idle_timeout_s : 120, NULL};
    ops[n++] = (struct MHD_OptionItem){
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        opts->conn_buffer ? (intptr_t)opts->conn_buffer : 1024 * 1024, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK,
                                       (intptr_t)http_on_uri, srv};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                       (intptr_t)http_on_completed, srv};
    /* The program ignores SIGPIPE (daemon.c), so sendfile may be used. */
    ops[n++] =
        (struct MHD_OptionItem){MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, NULL};
    if (srv->tls) {
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                           srv->pem_cert};
        ops[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->pem_key};
    }
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, http_on_access, srv,
                                MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (srv->mhd == NULL) {
        error_setg(errp, srv->tls ? ERR_INVALID : ERR_IO,
                   "libmicrohttpd could not start on %s%s", listen_spec,
                   srv->tls ? " (is the TLS key the certificate's?)" : "");
        goto fail;
    }
    return srv;

fail:
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
    }
    free(srv->pem_cert);
    free(srv->pem_key);
    free(srv);
    return NULL;
}

int
http_port(const struct http_server *srv)
{
    return srv->port;
}

bool
http_is_tls(const struct http_server *srv)
{
    return srv->tls;
}

unsigned
http_in_flight(const struct http_server *srv)
{
    return atomic_load(&srv->in_flight);
}

unsigned
http_stop(struct http_server *srv, int grace_ms)
{
    int64_t deadline = sock_deadline(grace_ms);
    MHD_socket lfd;
    unsigned left;

    atomic_store(&srv->stopping, true);
    lfd = MHD_quiesce_daemon(srv->mhd);
    if (lfd != MHD_INVALID_SOCKET) {
        close(lfd);
    }
    while ((left = http_in_flight(srv)) > 0 &&
           sock_remaining_ms(deadline) > 0) {
        sock_sleep_ms(20, deadline);
    }
    MHD_stop_daemon(srv->mhd);
    free(srv->pem_cert);
    free(srv->pem_key);
    free(srv);
    return left;
}

const char *
http_req_method(const struct http_req *req)
{
    return req->method;
}

const char *
http_req_path(const struct http_req *req)
{
    return req->path;
}

const char *
http_req_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct http_each {
    const char *name;                            /* header wanted */
    bool (*fn)(const char *value, void *opaque); /* the caller's */
    void *opaque;                                /* for fn */
};

static enum MHD_Result
http_each_header(void *cls, enum MHD_ValueKind kind, const char *key,
                 const char *value)
{
    struct http_each *e = cls;

    if (key && value && strcasecmp(key, e->name) == 0) {
        return e->fn(value, e->opaque) ? MHD_YES : MHD_NO;
    }
    return MHD_YES;
}

void
http_req_header_foreach(const struct http_req *req, const char *name,
                        bool (*fn)(const char *value, void *opaque),
                        void *opaque)
{
    struct http_each e = {name, fn, opaque};

    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, http_each_header, &e);
}

size_t
http_req_nquery(const struct http_req *req)
{
    return req->nquery;
}

void
http_req_query_at(const struct http_req *req, size_t i, const char **key,
                  const char **value)
{
    *key = req->query[i].key;
    *value = req->query[i].value;
}

const char *
http_req_query(const struct http_req *req, const char *key)
{
    size_t i;

    for (i = 0; i < req->nquery; i++) {
        if (strcmp(req->query[i].key, key) == 0) {
            return req->query[i].value;
        }
    }
    return NULL;
}

bool
http_req_query_bad(const struct http_req *req)
{
    return req->query_bad;
}

int64_t
http_req_content_length(const struct http_req *req)
{
    const char *v = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = http_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    int64_t n = -1;

    if (te != NULL || v == NULL || util_parse_int64(v, &n, NULL) < 0 || n < 0) {
        return -1;
    }
    return n;
}

bool
http_req_is_tls(const struct http_req *req)
{
    return req->srv->tls;
}

const char *
http_req_peer(const struct http_req *req)
{
    return req->peer;
}

void
http_req_set_data(struct http_req *req, void *data, void (*free_fn)(void *))
{
    if (req->data_free && req->data != data) {
        req->data_free(req->data);
    }
    req->data = data;
    req->data_free = free_fn;
}

void *
http_req_data(const struct http_req *req)
{
    return req->data;
}

bool
http_req_buffer_body(struct http_req *req, size_t limit)
{
    int64_t cl = http_req_content_length(req);

    if (cl > 0 && (uint64_t)cl > limit) {
        return false;
    }
    req->mode = BODY_BUFFER;
    dynbuf_init(&req->body, limit);
    return true;
}

const char *
http_req_body(const struct http_req *req, size_t *len)
{
    *len = dynbuf_len(&req->body);
    return *len > 0 ? dynbuf_str(&req->body) : NULL;
}

bool
http_req_body_overflow(const struct http_req *req)
{
    return req->body_overflow;
}

void
http_req_stream_body(struct http_req *req, const struct http_sink *sink)
{
    req->sink = *sink;
    req->sink_done = false;
    req->mode = BODY_STREAM;
}

uint64_t
http_req_body_bytes(const struct http_req *req)
{
    return req->body_seen;
}

void
http_add_header(struct http_req *req, const char *name, const char *value)
{
    struct http_kv *h;

    if (strpbrk(value, "\r\n") || strpbrk(name, "\r\n: ") ||
        req->nhdrs >= HTTP_MAX_HEADERS) {
        log_warnx("http: header %s dropped", name);
        return;
    }
    if (req->hdrs == NULL) {
        req->hdrs = xcalloc(HTTP_MAX_HEADERS, sizeof(*req->hdrs));
    }
    h = &req->hdrs[req->nhdrs];
    h->key = xstrdup(name);
    h->value = xstrdup(value);
    req->nhdrs++;
}

/* Install RESP (may be NULL: no memory) as REQ's response. */
static void
http_set_response(struct http_req *req, int status, struct MHD_Response *resp,
                  uint64_t len)
{
    size_t i;

    if (req->resp != NULL || req->queued) {
        log_warnx("http: %s %s: second response %d dropped", req->method,
                  req->path, status);
        if (resp) {
            MHD_destroy_response(resp);
        }
        return;
    }
    if (resp == NULL) {
        log_warnx("http: %s %s: cannot make a response", req->method,
                  req->path);
        return;
    }
    for (i = 0; i < req->nhdrs; i++) {
        MHD_add_response_header(resp, req->hdrs[i].key, req->hdrs[i].value);
    }
    if (atomic_load(&req->srv->stopping)) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    req->resp = resp;
    req->status = status;
    req->out_len = len;
}

void
http_respond(struct http_req *req, int status, const char *content_type,
             const void *body, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);

    if (resp && content_type) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type);
    }
    http_set_response(req, status, resp, len);
}

static ssize_t
http_reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_reader *r = cls;
    ssize_t n;

    if (pos >= r->length) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (max > r->length - pos) {
        max = (size_t)(r->length - pos);
    }
    n = r->read(r->opaque, pos, buf, max);
    if (n <= 0) {
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return n;
}

static void
http_reader_free(void *cls)
{
    struct http_reader *r = cls;

    if (r->free_fn) {
        r->free_fn(r->opaque);
    }
    free(r);
}

void
http_respond_reader(struct http_req *req, int status, uint64_t length,
                    http_reader_fn *read, void *opaque, void (*free_fn)(void *))
{
    struct http_reader *r = xcalloc(1, sizeof(*r));
    struct MHD_Response *resp;

    r->read = read;
    r->opaque = opaque;
    r->free_fn = free_fn;
    r->length = length;
    resp = MHD_create_response_from_callback(
        length, HTTP_READER_BLOCK, http_reader_cb, r, http_reader_free);
    if (resp == NULL) {
        http_reader_free(r);
    }
    http_set_response(req, status, resp, length);
}

void
http_respond_fd(struct http_req *req, int status, int fd, uint64_t offset,
                uint64_t length)
{
    struct MHD_Response *resp =
        MHD_create_response_from_fd_at_offset64(length, fd, offset);

    if (resp == NULL) {
        close(fd);
    }
    http_set_response(req, status, resp, length);
}

bool
http_responded(const struct http_req *req)
{
    return req->resp != NULL || req->queued;
}

/* Parse a decimal byte position; false if not all digits or too big. */
static bool
http_parse_pos(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 19) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

enum http_range
http_parse_range(const char *header, uint64_t size, uint64_t *first,
                 uint64_t *last)
{
    const char *spec, *dash;
    uint64_t a = 0, b = 0;
    size_t alen, blen;

    if (header == NULL || strncmp(header, "bytes=", 6) != 0) {
        return HTTP_RANGE_NONE;
    }
    spec = header + 6;
    while (*spec == ' ') {
        spec++;
    }
    if (strchr(spec, ',') != NULL) {
        return HTTP_RANGE_NONE;
    }
    dash = strchr(spec, '-');
    if (dash == NULL) {
        return HTTP_RANGE_NONE;
    }
    alen = (size_t)(dash - spec);
    blen = strlen(dash + 1);
    while (blen > 0 && dash[blen] == ' ') {
        blen--;
    }
    if (alen == 0) {
        /* Suffix: the last B bytes. */
        if (!http_parse_pos(dash + 1, blen, &b)) {
            return HTTP_RANGE_NONE;
        }
        if (b == 0 || size == 0) {
            return HTTP_RANGE_UNSATISFIABLE;
        }
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return HTTP_RANGE_PARTIAL;
    }
    if (!http_parse_pos(spec, alen, &a)) {
        return HTTP_RANGE_NONE;
    }
    if (blen == 0) {
        b = UINT64_MAX;
    } else if (!http_parse_pos(dash + 1, blen, &b) || b < a) {
        return HTTP_RANGE_NONE;
    }
    if (a >= size) {
        return HTTP_RANGE_UNSATISFIABLE;
    }
    *first = a;
    *last = b >= size ? size - 1 : b;
    return HTTP_RANGE_PARTIAL;
}
