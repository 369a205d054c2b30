/* vmsnap: a small S3 client over libcurl (see s3.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "cleanup.h"
#include "log.h"
#include "s3.h"
#include "util.h"

#define S3_CRED_MAX (64 * 1024)          /* a credentials file */
#define S3_ERROR_BODY_MAX (64 * 1024)    /* an error answer */
#define S3_XML_BODY_MAX (16 * 1024 * 1024) /* a listing page */
#define S3_KEY_MAX 1024                  /* S3's limit on a key */
#define S3_TEXT_MAX 4096                 /* ids, tokens, markers */
#define S3_MSG_MAX 300                   /* server text in our errors */
#define S3_BACKOFF_MS 250
#define S3_BACKOFF_MAX_MS 4000
#define S3_MAX_CONCURRENCY 16

struct s3 {
    CURL *curl;                /* reused: keeps the connection open */
    CURL *pool[S3_MAX_CONCURRENCY]; /* the other parts' handles, made
                                     * when first needed */
    int concurrency;           /* parts in flight */
    char *endpoint;            /* without a trailing '/' */
    char *bucket;
    char *region;
    char *access_key;
    char *secret_key;          /* wiped on close */
    char *sigv4;               /* "aws:amz:REGION:s3" */
    long connect_timeout_ms;
    long low_speed_time_s;
    int max_attempts;
    int64_t part_size;
    int conditional_put;       /* 1 works, 0 refused by the server, -1
                                * not known yet */
};

/* One request. */
struct req {
    CURL *curl;                /* the handle to use; NULL: s->curl */
    const char *method;        /* "GET", "PUT", ... */
    const char *key;           /* the object, or NULL for the bucket */
    const char *query;         /* canonical query string, or NULL */
    bool idempotent;           /* may be retried after it was sent */
    bool head;                 /* no response body (HEAD) */
    const unsigned char *body; /* the request body, or NULL */
    size_t body_len;           /* its length (also when from_fd) */
    bool from_fd;              /* the body is read from body_fd */
    int body_fd;               /* ... at body_off, with pread */
    int64_t body_off;
    bool check_md5;            /* the ETag must be the body's MD5 */
    const char *header;        /* one extra header line, or NULL */
    const char *header2;       /* another, or NULL */
    s3_sink_fn sink;           /* where a 2xx body goes; NULL: collected */
    void *sink_opaque;
    size_t body_max;           /* cap of a collected 2xx body */
};

/* What came back, and the state of one transfer. */
struct resp {
    CURL *curl;                /* for the status, in callbacks */
    long status;               /* HTTP status of the final answer */
    char *body;                /* the collected body (NUL-terminated) */
    size_t len;
    size_t cap;                /* allocated */
    size_t max;                /* limit for this answer */
    bool too_big;              /* the answer went past max */
    int64_t content_length;    /* -1: none */
    char etag[80];             /* "" when none */
    int64_t range_start;       /* Content-Range, -1: none */
    int64_t range_total;       /* -1: none or '*' */
    const struct req *rq;
    size_t sent;               /* request body bytes handed to curl */
    int read_errno;            /* reading the body from its fd failed */
    EVP_MD_CTX *md5;           /* of what was sent, when checked */
    struct error *sink_err;    /* the sink's error */
};

static void
wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Server text made safe to show: printable ASCII only, cut.  Caller
 * frees; NULL if memory ran out.
 */
static char *
sanitize(const char *text)
{
    size_t n = strlen(text), i;
    char *out;

    if (n > S3_MSG_MAX) {
        n = S3_MSG_MAX;
    }
    out = malloc(n + 4);
    if (!out) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n < strlen(text)) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

static bool
unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* %XX-encode S as SigV4 wants (upper-case hex, unreserved bytes kept,
 * '/' kept when KEEP_SLASH).  Caller frees; NULL if memory ran out.
 */
static char *
uri_encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s), o = 0, i;
    char *out = malloc(3 * n + 1);

    if (!out) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

struct qparam {
    const char *name;
    const char *value;         /* NULL: "name=" */
};

static int
qparam_cmp(const void *a, const void *b)
{
    const char *x = ((const struct qparam *)a)->name;
    const char *y = ((const struct qparam *)b)->name;

    if (!x || !y) {
        return !x - !y;         /* skipped ones last */
    }
    return strcmp(x, y);
}

/* The canonical query string of the N parameters P (sorted by name here,
 * names and values encoded), which is also what goes on the wire: curl
 * 7.88 signs the query as it is written.  A parameter with a NULL name is
 * skipped.  Caller frees; NULL if memory ran out.
 */
static char *
query_build(struct qparam *p, size_t n)
{
    size_t i, len = 1, o = 0;
    char *out;

    qsort(p, n, sizeof(*p), qparam_cmp);
    for (i = 0; i < n; i++) {
        if (p[i].name) {
            len += 3 * strlen(p[i].name) + 2;
            len += p[i].value ? 3 * strlen(p[i].value) : 0;
        }
    }
    out = malloc(len);
    if (!out) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        CLEANUP_FREE char *name = NULL;
        CLEANUP_FREE char *value = NULL;

        if (!p[i].name) {
            continue;
        }
        name = uri_encode(p[i].name, false);
        value = uri_encode(p[i].value ? p[i].value : "", false);
        if (!name || !value) {
            free(out);
            return NULL;
        }
        o += (size_t)snprintf(out + o, len - o, "%s%s=%s", o ? "&" : "",
                              name, value);
    }
    out[o] = '\0';
    return out;
}

/* --- credentials ---------------------------------------------------------- */

static char *
trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        *--e = '\0';
    }
    return s;
}

static int
read_credentials(struct s3 *s, const char *path, struct error **errp)
{
    CLEANUP_CLOSE int fd = -1;
    struct stat st;
    char *buf, *line, *next;
    ssize_t n;
    size_t got = 0;
    int plain = 0;
    bool named = false;
    int ret = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno,
                         "cannot open the S3 credentials file %s", path);
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        error_setg_errno(errp, ERR_IO, errno, "stat %s", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > S3_CRED_MAX) {
        error_setg(errp, ERR_INVALID,
                   "the S3 credentials file %s is not a small regular file",
                   path);
        return -1;
    }
    if (st.st_mode & 077) {
        error_setg(errp, ERR_INVALID,
                   "the S3 credentials file %s is open to group or others "
                   "(mode %03o): make it 0600", path,
                   (unsigned)(st.st_mode & 0777));
        return -1;
    }
    buf = calloc(1, (size_t)st.st_size + 1);
    if (!buf) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    while (got < (size_t)st.st_size) {
        n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, ERR_IO, errno, "read %s", path);
            goto out;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    for (line = buf; line; line = next) {
        char *eq, *name, *value, **dst = NULL;

        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        line = trim(line);
        if (*line == '\0' || *line == '#' || *line == '[') {
            continue;
        }
        eq = strchr(line, '=');
        if (eq && strspn(line, "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ_ \t") ==
                      (size_t)(eq - line)) {
            *eq = '\0';
            name = trim(line);
            value = trim(eq + 1);
            if (!strcmp(name, "access_key") ||
                !strcmp(name, "aws_access_key_id")) {
                dst = &s->access_key;
            } else if (!strcmp(name, "secret_key") ||
                       !strcmp(name, "aws_secret_access_key")) {
                dst = &s->secret_key;
            } else {
                continue;   /* region, session tokens: not ours */
            }
            named = true;
        } else {
            value = line;
            dst = plain == 0 ? &s->access_key
                             : plain == 1 ? &s->secret_key : NULL;
            plain++;
        }
        if (!dst || *dst) {
            error_setg(errp, ERR_INVALID,
                       "the S3 credentials file %s has more than one "
                       "access key or secret", path);
            goto out;
        }
        *dst = strdup(value);
        if (!*dst) {
            error_setg(errp, ERR_IO, "out of memory");
            goto out;
        }
    }
    if (named && plain) {
        error_setg(errp, ERR_INVALID,
                   "the S3 credentials file %s mixes plain lines and "
                   "name = value lines", path);
        goto out;
    }
    if (!s->access_key || !s->secret_key || !*s->access_key ||
        !*s->secret_key) {
        error_setg(errp, ERR_INVALID,
                   "the S3 credentials file %s lacks the access key or "
                   "the secret", path);
        goto out;
    }
    ret = 0;
out:
    explicit_bzero(buf, got);
    free(buf);
    return ret;
}

/* --- open, close ---------------------------------------------------------- */

static bool
bucket_name_ok(const char *b)
{
    size_t n = strlen(b), i;

    if (n < 3 || n > 63) {
        return false;
    }
    for (i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == '_')) {
            return false;
        }
    }
    return true;
}

struct s3 *
s3_open(const struct s3_settings *st, struct error **errp)
{
    struct s3 *s;
    const char *region;
    size_t n;

    if (!st->endpoint || (strncmp(st->endpoint, "http://", 7) != 0 &&
                          strncmp(st->endpoint, "https://", 8) != 0)) {
        error_setg(errp, ERR_INVALID,
                   "S3 endpoint must be an http:// or https:// URL");
        return NULL;
    }
    if (!st->bucket || !bucket_name_ok(st->bucket)) {
        error_setg(errp, ERR_INVALID, "bad S3 bucket name");
        return NULL;
    }
    if (!st->credentials || !*st->credentials) {
        error_setg(errp, ERR_INVALID, "no S3 credentials file");
        return NULL;
    }
    if (st->part_size != 0 && (st->part_size < S3_MIN_PART_SIZE ||
                               st->part_size > ((int64_t)1 << 32))) {
        error_setg(errp, ERR_INVALID,
                   "S3 part size must be 5 MiB to 4 GiB");
        return NULL;
    }
    region = st->region && *st->region ? st->region : "us-east-1";
    if (strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
        strlen(region)) {
        error_setg(errp, ERR_INVALID, "bad S3 region");
        return NULL;
    }
    /* libxml2 must be set up before threads use it (an upload's part
     * threads parse error answers).
     */
    xmlInitParser();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        error_setg(errp, ERR_IO, "cannot initialise libcurl");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        curl_global_cleanup();
        error_setg(errp, ERR_IO, "out of memory");
        return NULL;
    }
    s->conditional_put = -1;
    s->connect_timeout_ms = st->connect_timeout_ms > 0
                                ? st->connect_timeout_ms : 10000;
    s->low_speed_time_s = st->low_speed_time_s > 0 ? st->low_speed_time_s
                                                   : 30;
    s->max_attempts = st->max_attempts > 0 ? st->max_attempts : 5;
    s->part_size = st->part_size ? st->part_size : S3_DEFAULT_PART_SIZE;
    s->concurrency = st->concurrency > 0 ? st->concurrency : 3;
    if (s->concurrency > S3_MAX_CONCURRENCY) {
        s->concurrency = S3_MAX_CONCURRENCY;
    }
    s->endpoint = strdup(st->endpoint);
    s->bucket = strdup(st->bucket);
    s->region = strdup(region);
    s->sigv4 = util_strdup_printf("aws:amz:%s:s3", region);
    s->curl = curl_easy_init();
    if (!s->endpoint || !s->bucket || !s->region || !s->sigv4 || !s->curl) {
        s3_close(s);
        error_setg(errp, ERR_IO, "out of memory");
        return NULL;
    }
    n = strlen(s->endpoint);
    while (n > 0 && s->endpoint[n - 1] == '/') {
        s->endpoint[--n] = '\0';
    }
    if (read_credentials(s, st->credentials, errp) < 0) {
        s3_close(s);
        return NULL;
    }
    return s;
}

void
s3_close(struct s3 *s)
{
    if (!s) {
        return;
    }
    if (s->curl) {
        curl_easy_cleanup(s->curl);
    }
    for (int i = 0; i < S3_MAX_CONCURRENCY; i++) {
        if (s->pool[i]) {
            curl_easy_cleanup(s->pool[i]);
        }
    }
    free(s->endpoint);
    free(s->bucket);
    free(s->region);
    free(s->sigv4);
    free(s->access_key);
    wipe_free(s->secret_key);
    free(s);
    curl_global_cleanup();
}

const char *
s3_bucket(const struct s3 *s)
{
    return s->bucket;
}

/* --- one request ---------------------------------------------------------- */

static size_t
on_header(char *data, size_t size, size_t n, void *ud)
{
    struct resp *rs = ud;
    size_t len = size * n;
    char line[256];
    char *v;

    if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
        /* A new answer (after "100 Continue"): forget the last one's. */
        rs->content_length = -1;
        rs->etag[0] = '\0';
        rs->range_start = rs->range_total = -1;
        return len;
    }
    if (len >= sizeof(line)) {
        return len;         /* no header we read is this long */
    }
    memcpy(line, data, len);
    line[len] = '\0';
    v = strchr(line, ':');
    if (!v) {
        return len;
    }
    *v++ = '\0';
    v = trim(v);
    v[strcspn(v, "\r\n")] = '\0';
    if (!strcasecmp(line, "content-length")) {
        int64_t cl;
        if (util_parse_int64(v, &cl, NULL) == 0 && cl >= 0) {
            rs->content_length = cl;
            if (rs->rq && !rs->rq->head && !rs->rq->sink &&
                (size_t)cl > rs->max) {
                long status = 0;
                curl_easy_getinfo(rs->curl, CURLINFO_RESPONSE_CODE, &status);
                if (status >= 200 && status < 300) {
                    rs->too_big = true;
                    return 0;   /* do not read it */
                }
            }
        }
    } else if (!strcasecmp(line, "etag")) {
        snprintf(rs->etag, sizeof(rs->etag), "%s", v);
    } else if (!strcasecmp(line, "content-range")) {
        int64_t a, b;
        char tot[32];
        if (sscanf(v, "bytes %" SCNd64 "-%" SCNd64 "/%31s", &a, &b, tot) ==
                3 && a >= 0 && b >= a) {
            rs->range_start = a;
            if (util_parse_int64(tot, &rs->range_total, NULL) != 0) {
                rs->range_total = -1;
            }
        }
    }
    return len;
}

static size_t
on_write(char *data, size_t size, size_t n, void *ud)
{
    struct resp *rs = ud;
    size_t len = size * n, max;

    if (rs->status == 0) {
        curl_easy_getinfo(rs->curl, CURLINFO_RESPONSE_CODE, &rs->status);
    }
    if (rs->status >= 200 && rs->status < 300 && rs->rq->sink) {
        if (rs->rq->sink(data, len, rs->rq->sink_opaque, &rs->sink_err) < 0) {
            return 0;
        }
        return len;
    }
    max = (rs->status >= 200 && rs->status < 300) ? rs->max
                                                  : S3_ERROR_BODY_MAX;
    if (len > max - rs->len) {
        rs->too_big = true;
        return 0;
    }
    if (rs->len + len + 1 > rs->cap) {
        size_t cap = rs->cap ? rs->cap : 4096;
        char *nb;
        while (cap < rs->len + len + 1) {
            cap *= 2;
        }
        nb = realloc(rs->body, cap);
        if (!nb) {
            rs->too_big = true;
            return 0;
        }
        rs->body = nb;
        rs->cap = cap;
    }
    memcpy(rs->body + rs->len, data, len);
    rs->len += len;
    rs->body[rs->len] = '\0';
    return len;
}

static size_t
on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct resp *rs = ud;
    const struct req *rq = rs->rq;
    size_t len = size * n, left = rq->body_len - rs->sent;

    if (len > left) {
        len = left;
    }
    if (rq->from_fd) {
        /* Straight from the file into curl's buffer: no copy of a part
         * is kept, and a retry reads it again.
         */
        ssize_t r;
        do {
            r = pread(rq->body_fd, buf, len,
                      rq->body_off + (int64_t)rs->sent);
        } while (r < 0 && errno == EINTR);
        if (r < 0 || (r == 0 && len > 0)) {
            rs->read_errno = r < 0 ? errno : EIO; /* EIO: it shrank */
            return CURL_READFUNC_ABORT;
        }
        len = (size_t)r;
    } else {
        memcpy(buf, rq->body + rs->sent, len);
    }
    if (rs->md5) {
        EVP_DigestUpdate(rs->md5, buf, len);
    }
    rs->sent += len;
    return len;
}

static void
resp_reset(struct resp *rs)
{
    free(rs->body);
    if (rs->md5) {
        EVP_MD_CTX_free(rs->md5);
    }
    error_free(rs->sink_err);
    memset(rs, 0, sizeof(*rs));
    rs->content_length = rs->range_start = rs->range_total = -1;
}

/* The first element child of N named NAME, or NULL. */
static xmlNodePtr
xml_child(xmlNodePtr n, const char *name)
{
    xmlNodePtr c;

    for (c = n ? n->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE &&
            !strcmp((const char *)c->name, name)) {
            return c;
        }
    }
    return NULL;
}

/* The text of N's child NAME (caller frees), or NULL when it is missing,
 * longer than MAX or memory ran out.
 */
static char *
xml_text(xmlNodePtr n, const char *name, size_t max)
{
    xmlNodePtr c = xml_child(n, name);
    xmlChar *t;
    char *out = NULL;

    if (!c) {
        return NULL;
    }
    t = xmlNodeGetContent(c);
    if (t && strlen((const char *)t) <= max) {
        out = strdup((const char *)t);
    }
    xmlFree(t);
    return out;
}

/* Parse BODY as XML whose root is ROOT.  NULL with ERR_PROTOCOL when it is
 * not (WHAT names the request).  Leading blanks are skipped: Swift sends
 * some to keep a long CompleteMultipartUpload alive.
 */
static xmlDocPtr
xml_parse(const char *body, size_t len, const char *root, const char *what,
          struct error **errp)
{
    xmlDocPtr doc;
    xmlNodePtr r;

    while (len > 0 && (*body == ' ' || *body == '\n' || *body == '\r' ||
                       *body == '\t')) {
        body++;
        len--;
    }
    if (len == 0 || len > INT32_MAX) {
        error_setg(errp, ERR_PROTOCOL, "%s: empty or huge XML answer", what);
        return NULL;
    }
    doc = xmlReadMemory(body, (int)len, "s3.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    if (!doc) {
        error_setg(errp, ERR_PROTOCOL, "%s: the answer is not XML", what);
        return NULL;
    }
    r = xmlDocGetRootElement(doc);
    if (!r || strcmp((const char *)r->name, root) != 0) {
        CLEANUP_FREE char *name = sanitize(r ? (const char *)r->name : "");
        error_setg(errp, ERR_PROTOCOL, "%s: expected <%s>, got <%s>", what,
                   root, name ? name : "");
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

/* Set *ERRP from an HTTP error answer RS to WHAT. */
static void
set_http_error(const struct resp *rs, const char *what, struct error **errp)
{
    CLEANUP_FREE char *code = NULL;
    CLEANUP_FREE char *msg = NULL;
    CLEANUP_FREE char *scode = NULL;
    CLEANUP_FREE char *smsg = NULL;
    enum error_class cls;

    if (rs->body && rs->len > 0) {
        xmlDocPtr doc = xml_parse(rs->body, rs->len, "Error", what, NULL);
        if (doc) {
            code = xml_text(xmlDocGetRootElement(doc), "Code", S3_MSG_MAX);
            msg = xml_text(xmlDocGetRootElement(doc), "Message",
                           S3_TEXT_MAX);
            xmlFreeDoc(doc);
        }
    }
    scode = sanitize(code ? code : "");
    smsg = sanitize(msg ? msg : (rs->status == 403
                                     ? "access denied (wrong credentials?)"
                                     : ""));
    if (rs->status == 404) {
        cls = ERR_NOT_FOUND;
    } else if (rs->status == 409 || rs->status == 412) {
        cls = ERR_CONFLICT;
    } else {
        cls = ERR_PEER;
    }
    if (cls == ERR_PEER) {
        error_set_peer(errp, scode && *scode ? scode : "HTTP",
                       "%s: HTTP %ld%s%s%s%s", what, rs->status,
                       scode && *scode ? " " : "", scode ? scode : "",
                       smsg && *smsg ? ": " : "", smsg ? smsg : "");
    } else {
        error_setg(errp, cls, "%s: HTTP %ld%s%s%s%s", what, rs->status,
                   scode && *scode ? " " : "", scode ? scode : "",
                   smsg && *smsg ? ": " : "", smsg ? smsg : "");
    }
}

static bool
curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* "s3 GET bucket/key" for messages; caller frees (NULL: out of memory). */
static char *
req_what(const struct s3 *s, const struct req *rq)
{
    CLEANUP_FREE char *key = rq->key ? sanitize(rq->key) : NULL;

    return util_strdup_printf("s3 %s %s%s%s", rq->method, s->bucket,
                              key ? "/" : "", key ? key : "");
}

/* One try of RQ into RS (reset first).  Returns 0 on a 2xx answer, else
 * -1 with *RETRY telling whether another try may succeed.
 */
static int
attempt(struct s3 *s, const struct req *rq, struct resp *rs, bool *retry,
        struct error **errp)
{
    CLEANUP_FREE char *what = req_what(s, rq);
    CLEANUP_FREE char *ekey = NULL;
    CLEANUP_FREE char *url = NULL;
    struct curl_slist *hdrs = NULL, *h;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = rq->curl ? rq->curl : s->curl;
    CURLcode rc;
    size_t max = rq->body_max ? rq->body_max : S3_XML_BODY_MAX;

    *retry = false;
    resp_reset(rs);
    rs->curl = c;
    rs->rq = rq;
    rs->max = max;
    if (!what) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    if (rq->key) {
        ekey = uri_encode(rq->key, true);
    }
    url = util_strdup_printf("%s/%s%s%s%s%s", s->endpoint, s->bucket,
                             rq->key ? "/" : "", ekey ? ekey : "",
                             rq->query ? "?" : "",
                             rq->query ? rq->query : "");
    if (!url || (rq->key && !ekey)) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    if (rq->check_md5) {
        rs->md5 = EVP_MD_CTX_new();
        if (!rs->md5 || !EVP_DigestInit_ex(rs->md5, EVP_md5(), NULL)) {
            error_setg(errp, ERR_IO, "cannot start an MD5 digest");
            return -1;
        }
    }
    /* The body is sent unsigned (TLS or the MD5 check protects it), so
     * that a part is read once, not hashed before it is sent.
     */
    h = curl_slist_append(hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (h) {
        hdrs = h;
        h = rq->header ? curl_slist_append(hdrs, rq->header) : hdrs;
    }
    if (h) {
        hdrs = h;
        h = rq->header2 ? curl_slist_append(hdrs, rq->header2) : hdrs;
    }
    if (!h) {
        curl_slist_free_all(hdrs);
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    hdrs = h;

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s->low_speed_time_s);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key);
    curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret_key);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, rs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, rs);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
    if (rq->head) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(rq->method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, rs);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)rq->body_len);
    } else if (!strcmp(rq->method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, rs);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)rq->body_len);
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
    }
    rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
    log_debug("s3", "%s -> curl %d, HTTP %ld", what, (int)rc, rs->status);

    if (rs->sink_err) {
        error_propagate(errp, rs->sink_err);
        rs->sink_err = NULL;
        return -1;
    }
    if (rs->read_errno) {
        error_setg_errno(errp, ERR_IO, rs->read_errno,
                         "%s: reading the data to send", what);
        return -1;
    }
    if (rs->too_big) {
        error_setg(errp, rs->status >= 200 && rs->status < 300
                             ? ERR_INVALID : ERR_PROTOCOL,
                   "%s: the answer is larger than %zu bytes", what,
                   rs->status >= 200 && rs->status < 300
                       ? max : (size_t)S3_ERROR_BODY_MAX);
        return -1;
    }
    if (rc != CURLE_OK) {
        *retry = curl_retryable(rc) &&
                 (rq->idempotent || rc == CURLE_COULDNT_CONNECT);
        error_setg(errp, rc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT : ERR_IO,
                   "%s: %s", what, errbuf[0] ? errbuf
                                             : curl_easy_strerror(rc));
        return -1;
    }
    if (rs->status < 200 || rs->status >= 300) {
        *retry = rs->status >= 500 && rq->idempotent;
        set_http_error(rs, what, errp);
        return -1;
    }
    if (rs->md5) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0, i;
        char hex[2 * EVP_MAX_MD_SIZE + 3];

        EVP_DigestFinal_ex(rs->md5, md, &mdlen);
        hex[0] = '"';
        for (i = 0; i < mdlen; i++) {
            snprintf(hex + 1 + 2 * i, 3, "%02x", md[i]);
        }
        hex[1 + 2 * mdlen] = '"';
        hex[2 + 2 * mdlen] = '\0';
        if (rs->sent != rq->body_len || strcasecmp(rs->etag, hex) != 0) {
            CLEANUP_FREE char *etag = sanitize(rs->etag);
            *retry = true;
            error_setg(errp, ERR_PROTOCOL,
                       "%s: the server's ETag %s is not the MD5 %s of what "
                       "was sent", what, etag ? etag : "", hex);
            return -1;
        }
    }
    return 0;
}

static void
backoff(int attempt_no)
{
    long ms = S3_BACKOFF_MS;
    struct timespec ts;

    while (attempt_no-- > 1 && ms < S3_BACKOFF_MAX_MS) {
        ms *= 2;
    }
    if (ms > S3_BACKOFF_MAX_MS) {
        ms = S3_BACKOFF_MAX_MS;
    }
    /* Jitter of -25%..+25%, so that many clients do not retry in step. */
    ms = ms * 3 / 4 + (long)arc4random_uniform((uint32_t)(ms / 2 + 1));
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* RQ with retries.  Not for requests with a sink (they resume; see
 * s3_get_range).  Returns 0, or -1.
 */
static int
perform(struct s3 *s, const struct req *rq, struct resp *rs,
        struct error **errp)
{
    int i;

    for (i = 1;; i++) {
        struct error *err = NULL;
        bool retry;

        if (attempt(s, rq, rs, &retry, &err) == 0) {
            return 0;
        }
        if (!retry || i >= s->max_attempts) {
            if (i > 1) {
                error_prepend(&err, "after %d tries: ", i);
            }
            error_propagate(errp, err);
            return -1;
        }
        log_debug("s3", "retrying: %s", error_msg(err));
        error_free(err);
        backoff(i);
    }
}

static void
cleanup_resp(struct resp *rs)
{
    resp_reset(rs);
}
#define CLEANUP_RESP __attribute__((cleanup(cleanup_resp)))

static void
cleanup_xml_doc(xmlDocPtr *d)
{
    if (*d) {
        xmlFreeDoc(*d);
    }
}
#define CLEANUP_XML_DOC __attribute__((cleanup(cleanup_xml_doc)))

static bool
key_ok(const char *key, struct error **errp)
{
    if (!key || !*key || strlen(key) > S3_KEY_MAX) {
        error_setg(errp, ERR_INVALID, "bad S3 key");
        return false;
    }
    return true;
}

/* --- buckets -------------------------------------------------------------- */

int
s3_bucket_exists(struct s3 *s, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct req rq = { .method = "HEAD", .head = true, .idempotent = true };
    struct error *err = NULL;

    if (perform(s, &rq, &rs, &err) == 0) {
        return 1;
    }
    if (error_get_class(err) == ERR_NOT_FOUND) {
        error_free(err);
        return 0;
    }
    error_propagate(errp, err);
    return -1;
}

int
s3_bucket_create(struct s3 *s, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    CLEANUP_FREE char *body = NULL;
    struct req rq = { .method = "PUT", .idempotent = true };
    struct error *err = NULL;

    if (strcmp(s->region, "us-east-1") != 0) {
        body = util_strdup_printf(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
            "2006-03-01/\"><LocationConstraint>%s</LocationConstraint>"
            "</CreateBucketConfiguration>", s->region);
        if (!body) {
            error_setg(errp, ERR_IO, "out of memory");
            return -1;
        }
        rq.body = (const unsigned char *)body;
        rq.body_len = strlen(body);
    }
    if (perform(s, &rq, &rs, &err) == 0) {
        return 0;
    }
    /* BucketAlreadyOwnedByYou, or a server that says BucketAlreadyExists
     * for our own bucket: ours if we can see it.
     */
    if (error_get_class(err) == ERR_CONFLICT &&
        s3_bucket_exists(s, NULL) == 1) {
        error_free(err);
        return 0;
    }
    error_propagate(errp, err);
    return -1;
}

/* --- objects -------------------------------------------------------------- */

int
s3_head(struct s3 *s, const char *key, int64_t *size, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct req rq = { .method = "HEAD", .key = key, .head = true,
                      .idempotent = true };
    struct error *err = NULL;

    if (!key_ok(key, errp)) {
        return -1;
    }
    if (perform(s, &rq, &rs, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            error_free(err);
            return 0;
        }
        error_propagate(errp, err);
        return -1;
    }
    if (rs.content_length < 0) {
        CLEANUP_FREE char *what = req_what(s, &rq);
        error_setg(errp, ERR_PROTOCOL, "%s: no Content-Length",
                   what ? what : "s3 HEAD");
        return -1;
    }
    if (size) {
        *size = rs.content_length;
    }
    return 1;
}

int
s3_put(struct s3 *s, const char *key, const void *buf, size_t len,
       unsigned flags, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct req rq = { .method = "PUT", .key = key, .idempotent = true,
                      .body = buf, .body_len = len, .check_md5 = true };
    struct error *err = NULL;
    bool if_absent = flags & S3_PUT_IF_ABSENT;

    if (!key_ok(key, errp)) {
        return -1;
    }
    if (if_absent && s->conditional_put == 0) {
        int r = s3_head(s, key, NULL, errp);
        if (r < 0) {
            return -1;
        }
        if (r == 1) {
            error_setg(errp, ERR_CONFLICT, "s3 object %s/%s exists",
                       s->bucket, key);
            return -1;
        }
    } else if (if_absent) {
        rq.header = "If-None-Match: *";
    }
    if (perform(s, &rq, &rs, &err) == 0) {
        if (rq.header) {
            s->conditional_put = 1;
        }
        return 0;
    }
    if (rq.header && error_peer_class(err) &&
        !strcmp(error_peer_class(err), "NotImplemented")) {
        /* Swift's s3api: "Conditional object PUTs are not supported". */
        error_free(err);
        log_debug("s3", "no conditional PUT here; HEAD first from now on");
        s->conditional_put = 0;
        return s3_put(s, key, buf, len, flags, errp);
    }
    if (rq.header && error_get_class(err) == ERR_CONFLICT) {
        error_free(err);
        error_setg(errp, ERR_CONFLICT, "s3 object %s/%s exists", s->bucket,
                   key);
        return -1;
    }
    error_propagate(errp, err);
    return -1;
}

int
s3_get(struct s3 *s, const char *key, size_t max, void **buf, size_t *len,
       struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct req rq = { .method = "GET", .key = key, .idempotent = true,
                      .body_max = max ? max : 1 };

    if (!key_ok(key, errp)) {
        return -1;
    }
    if (perform(s, &rq, &rs, errp) < 0) {
        return -1;
    }
    if (rs.content_length >= 0 && (size_t)rs.content_length != rs.len) {
        error_setg(errp, ERR_PROTOCOL,
                   "s3 GET %s/%s: got %zu bytes of %" PRId64, s->bucket,
                   key, rs.len, rs.content_length);
        return -1;
    }
    if (!rs.body) {
        rs.body = strdup("");
        if (!rs.body) {
            error_setg(errp, ERR_IO, "out of memory");
            return -1;
        }
    }
    *len = rs.len;
    *buf = steal_pointer(&rs.body);
    return 0;
}

struct range_sink {
    s3_sink_fn fn;
    void *opaque;
    int64_t want;              /* bytes still wanted, -1: all */
    int64_t got;               /* delivered in all tries */
};

static int
range_sink(const void *data, size_t len, void *opaque, struct error **errp)
{
    struct range_sink *r = opaque;

    if (r->want >= 0 && (int64_t)len > r->want) {
        len = (size_t)r->want;
    }
    if (len > 0 && r->fn(data, len, r->opaque, errp) < 0) {
        return -1;
    }
    r->got += (int64_t)len;
    if (r->want >= 0) {
        r->want -= (int64_t)len;
    }
    return 0;
}

int
s3_get_range(struct s3 *s, const char *key, int64_t offset, int64_t length,
             s3_sink_fn fn, void *opaque, int64_t *got, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct range_sink r = { .fn = fn, .opaque = opaque, .want = length };
    char range[80];
    struct req rq = { .method = "GET", .key = key, .idempotent = true,
                      .header = range, .sink = range_sink,
                      .sink_opaque = &r };
    int tries = 0;

    if (!key_ok(key, errp)) {
        return -1;
    }
    if (offset < 0 || length < -1) {
        error_setg(errp, ERR_INVALID, "bad range");
        return -1;
    }
    while (length < 0 || r.got < length) {
        struct error *err = NULL;
        int64_t start = offset + r.got, before = r.got;
        bool retry;

        if (length < 0) {
            snprintf(range, sizeof(range), "Range: bytes=%" PRId64 "-",
                     start);
        } else {
            snprintf(range, sizeof(range), "Range: bytes=%" PRId64 "-%" PRId64,
                     start, offset + length - 1);
        }
        tries++;
        if (attempt(s, &rq, &rs, &retry, &err) == 0) {
            if (rs.status == 206 && rs.range_start != start) {
                error_setg(errp, ERR_PROTOCOL,
                           "s3 GET %s/%s: asked for bytes from %" PRId64
                           ", got from %" PRId64, s->bucket, key, start,
                           rs.range_start);
                return -1;
            }
            if (rs.status != 206 && start != 0) {
                error_setg(errp, ERR_PROTOCOL,
                           "s3 GET %s/%s: the server ignored the range",
                           s->bucket, key);
                return -1;
            }
            break;
        }
        if (rs.status == 416) {
            error_free(err);
            if (r.got > 0) {
                break;          /* the object ended where we were */
            }
            error_setg(errp, ERR_INVALID,
                       "s3 GET %s/%s: range from %" PRId64
                       " starts past the end", s->bucket, key, start);
            return -1;
        }
        if (r.got > before) {
            tries = 0;          /* it moved: the next break gets new tries */
        }
        if (!retry || tries >= s->max_attempts) {
            error_propagate(errp, err);
            return -1;
        }
        log_debug("s3", "resuming at %" PRId64 ": %s", offset + r.got,
                  error_msg(err));
        error_free(err);
        backoff(tries);
    }
    if (got) {
        *got = r.got;
    }
    return 0;
}

int
s3_delete(struct s3 *s, const char *key, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    struct req rq = { .method = "DELETE", .key = key, .idempotent = true };
    struct error *err = NULL;

    if (!key_ok(key, errp)) {
        return -1;
    }
    if (perform(s, &rq, &rs, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND &&
            (!error_peer_class(err) ||
             strcmp(error_peer_class(err), "NoSuchBucket") != 0)) {
            error_free(err);
            return 0;
        }
        error_propagate(errp, err);
        return -1;
    }
    return 0;
}

/* Is the text of N's child NAME "true"? */
static bool
xml_true(xmlNodePtr n, const char *name)
{
    CLEANUP_FREE char *t = xml_text(n, name, 16);

    return t && !strcmp(t, "true");
}

int
s3_list(struct s3 *s, const char *prefix, int page_size,
        bool (*fn)(const char *key, int64_t size, void *opaque), void *opaque,
        struct error **errp)
{
    CLEANUP_FREE char *token = NULL;
    char maxkeys[16];
    size_t plen = strlen(prefix);

    if (page_size <= 0 || page_size > 1000) {
        page_size = 1000;
    }
    snprintf(maxkeys, sizeof(maxkeys), "%d", page_size);
    for (;;) {
        CLEANUP_RESP struct resp rs = { 0 };
        CLEANUP_FREE char *query = NULL;
        CLEANUP_FREE char *next = NULL;
        CLEANUP_XML_DOC xmlDocPtr doc = NULL;
        struct qparam q[] = {
            { "list-type", "2" },
            { "max-keys", maxkeys },
            { "prefix", prefix },
            { token ? "continuation-token" : NULL, token },
        };
        struct req rq = { .method = "GET", .idempotent = true };
        xmlNodePtr root, c;
        int n = 0;

        query = query_build(q, sizeof(q) / sizeof(q[0]));
        if (!query) {
            error_setg(errp, ERR_IO, "out of memory");
            return -1;
        }
        rq.query = query;
        if (perform(s, &rq, &rs, errp) < 0) {
            return -1;
        }
        doc = xml_parse(rs.body, rs.len, "ListBucketResult", "s3 LIST", errp);
        if (!doc) {
            return -1;
        }
        root = xmlDocGetRootElement(doc);
        for (c = root->children; c; c = c->next) {
            CLEANUP_FREE char *key = NULL;
            CLEANUP_FREE char *size = NULL;
            int64_t sz;

            if (c->type != XML_ELEMENT_NODE ||
                strcmp((const char *)c->name, "Contents") != 0) {
                continue;
            }
            key = xml_text(c, "Key", S3_KEY_MAX);
            size = xml_text(c, "Size", 32);
            if (!key || !*key || strncmp(key, prefix, plen) != 0 || !size ||
                util_parse_int64(size, &sz, NULL) < 0 || sz < 0) {
                error_setg(errp, ERR_PROTOCOL,
                           "s3 LIST: an entry without a good key or size");
                return -1;
            }
            if (++n > page_size) {
                error_setg(errp, ERR_PROTOCOL,
                           "s3 LIST: more keys than asked for");
                return -1;
            }
            if (!fn(key, sz, opaque)) {
                return 0;
            }
        }
        if (!xml_true(root, "IsTruncated")) {
            return 0;
        }
        next = xml_text(root, "NextContinuationToken", S3_TEXT_MAX);
        if (!next || !*next || (token && !strcmp(next, token)) || n == 0) {
            error_setg(errp, ERR_PROTOCOL,
                       "s3 LIST: a truncated page without a new token");
            return -1;
        }
        free(token);
        token = steal_pointer(&next);
    }
}

/* --- multipart uploads ---------------------------------------------------- */

int
s3_abort_upload(struct s3 *s, const char *key, const char *upload_id,
                struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    CLEANUP_FREE char *query = NULL;
    struct qparam q[] = { { "uploadId", upload_id } };
    struct req rq = { .method = "DELETE", .key = key, .idempotent = true };
    struct error *err = NULL;

    if (!key_ok(key, errp)) {
        return -1;
    }
    query = query_build(q, 1);
    if (!query) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    rq.query = query;
    if (perform(s, &rq, &rs, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            error_free(err);    /* NoSuchUpload: gone already */
            return 0;
        }
        error_propagate(errp, err);
        return -1;
    }
    return 0;
}

static int
parse_time(const char *t, time_t *out)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end) {
        return -1;
    }
    *out = timegm(&tm);
    return 0;
}

int
s3_list_uploads(struct s3 *s, const char *prefix,
                bool (*fn)(const char *key, const char *upload_id,
                           time_t initiated, void *opaque),
                void *opaque, struct error **errp)
{
    CLEANUP_FREE char *kmarker = NULL;
    CLEANUP_FREE char *umarker = NULL;
    size_t plen = strlen(prefix);

    for (;;) {
        CLEANUP_RESP struct resp rs = { 0 };
        CLEANUP_FREE char *query = NULL;
        CLEANUP_FREE char *nk = NULL;
        CLEANUP_FREE char *nu = NULL;
        CLEANUP_XML_DOC xmlDocPtr doc = NULL;
        struct qparam q[] = {
            { "uploads", NULL },
            { "prefix", prefix },
            { kmarker ? "key-marker" : NULL, kmarker },
            { umarker ? "upload-id-marker" : NULL, umarker },
        };
        struct req rq = { .method = "GET", .idempotent = true };
        xmlNodePtr root, c;
        int n = 0;

        query = query_build(q, sizeof(q) / sizeof(q[0]));
        if (!query) {
            error_setg(errp, ERR_IO, "out of memory");
            return -1;
        }
        rq.query = query;
        if (perform(s, &rq, &rs, errp) < 0) {
            return -1;
        }
        doc = xml_parse(rs.body, rs.len, "ListMultipartUploadsResult",
                        "s3 LIST uploads", errp);
        if (!doc) {
            return -1;
        }
        root = xmlDocGetRootElement(doc);
        for (c = root->children; c; c = c->next) {
            CLEANUP_FREE char *key = NULL;
            CLEANUP_FREE char *id = NULL;
            CLEANUP_FREE char *when = NULL;
            time_t t = 0;

            if (c->type != XML_ELEMENT_NODE ||
                strcmp((const char *)c->name, "Upload") != 0) {
                continue;
            }
            key = xml_text(c, "Key", S3_KEY_MAX);
            id = xml_text(c, "UploadId", S3_TEXT_MAX);
            when = xml_text(c, "Initiated", 64);
            if (!key || !*key || strncmp(key, prefix, plen) != 0 || !id ||
                !*id || !when || parse_time(when, &t) < 0) {
                error_setg(errp, ERR_PROTOCOL,
                           "s3 LIST uploads: an entry without a good key, "
                           "id or time");
                return -1;
            }
            n++;
            if (!fn(key, id, t, opaque)) {
                return 0;
            }
        }
        if (!xml_true(root, "IsTruncated")) {
            return 0;
        }
        nk = xml_text(root, "NextKeyMarker", S3_KEY_MAX);
        nu = xml_text(root, "NextUploadIdMarker", S3_TEXT_MAX);
        if (!nk || !*nk || n == 0 ||
            (kmarker && !strcmp(nk, kmarker) && nu && umarker &&
             !strcmp(nu, umarker))) {
            error_setg(errp, ERR_PROTOCOL,
                       "s3 LIST uploads: a truncated page without a new "
                       "marker");
            return -1;
        }
        free(kmarker);
        free(umarker);
        kmarker = steal_pointer(&nk);
        umarker = nu && *nu ? steal_pointer(&nu) : NULL;
    }
}

/* Fill BUF with up to LEN bytes from SRC: less only at the end.  Returns
 * the count, or -1.
 */
static ssize_t
fill(s3_source_fn src, void *opaque, unsigned char *buf, size_t len,
     struct error **errp)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = src(buf + got, len - got, opaque, errp);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static int
initiate(struct s3 *s, const char *key, char **upload_id,
         struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    CLEANUP_XML_DOC xmlDocPtr doc = NULL;
    CLEANUP_FREE char *k = NULL;
    struct req rq = { .method = "POST", .key = key, .query = "uploads=" };
    xmlNodePtr root;

    if (perform(s, &rq, &rs, errp) < 0) {
        return -1;
    }
    doc = xml_parse(rs.body, rs.len, "InitiateMultipartUploadResult",
                    "s3 POST uploads", errp);
    if (!doc) {
        return -1;
    }
    root = xmlDocGetRootElement(doc);
    k = xml_text(root, "Key", S3_KEY_MAX);
    *upload_id = xml_text(root, "UploadId", S3_TEXT_MAX);
    if (!*upload_id || !**upload_id || (k && strcmp(k, key) != 0)) {
        free(*upload_id);
        *upload_id = NULL;
        error_setg(errp, ERR_PROTOCOL,
                   "s3 POST uploads: no upload id for %s", key);
        return -1;
    }
    return 0;
}

/* Send part PART (its body described by BODY) of UPLOAD_ID. */
static int
put_part(struct s3 *s, const char *key, const char *upload_id, int part,
         const struct req *body, char etag[80], struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    CLEANUP_FREE char *query = NULL;
    char num[16];
    struct qparam q[] = { { "partNumber", num }, { "uploadId", upload_id } };
    struct req rq = *body;

    rq.method = "PUT";
    rq.key = key;
    rq.idempotent = true;
    rq.check_md5 = true;
    snprintf(num, sizeof(num), "%d", part);
    query = query_build(q, 2);
    if (!query) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    rq.query = query;
    if (perform(s, &rq, &rs, errp) < 0) {
        error_prepend(errp, "part %d: ", part);
        return -1;
    }
    memcpy(etag, rs.etag, 80);
    return 0;
}

static int
complete(struct s3 *s, const char *key, const char *upload_id,
         char (*etags)[80], int nparts, int64_t total, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };
    CLEANUP_FREE char *query = NULL;
    CLEANUP_FREE char *body = NULL;
    CLEANUP_XML_DOC xmlDocPtr doc = NULL;
    struct qparam q[] = { { "uploadId", upload_id } };
    struct req rq = { .method = "POST", .key = key, .idempotent = true,
                      .header = "Content-Type: application/xml" };
    struct error *err = NULL;
    size_t cap = 128 + (size_t)nparts * 128, o;
    int64_t size;
    int i;

    query = query_build(q, 1);
    body = malloc(cap);
    if (!query || !body) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    o = (size_t)snprintf(body, cap, "<CompleteMultipartUpload>");
    for (i = 0; i < nparts; i++) {
        o += (size_t)snprintf(body + o, cap - o,
                              "<Part><PartNumber>%d</PartNumber>"
                              "<ETag>%s</ETag></Part>", i + 1, etags[i]);
    }
    o += (size_t)snprintf(body + o, cap - o, "</CompleteMultipartUpload>");
    rq.query = query;
    rq.body = (const unsigned char *)body;
    rq.body_len = o;
    if (perform(s, &rq, &rs, &err) < 0) {
        /* A retry after a completion whose answer was lost finds the
         * upload gone: the object, whole, says it was done.
         */
        if (error_get_class(err) == ERR_NOT_FOUND &&
            s3_head(s, key, &size, NULL) == 1 && size == total) {
            error_free(err);
            return 0;
        }
        error_propagate(errp, err);
        return -1;
    }
    /* S3 may answer 200 and put an <Error> in the body. */
    doc = xml_parse(rs.body, rs.len, "CompleteMultipartUploadResult",
                    "s3 POST complete", NULL);
    if (!doc) {
        rs.status = 500;
        set_http_error(&rs, "s3 POST complete", errp);
        return -1;
    }
    if (s3_head(s, key, &size, errp) != 1) {
        if (errp && !*errp) {
            error_setg(errp, ERR_PROTOCOL,
                       "s3 object %s missing after its upload", key);
        }
        return -1;
    }
    if (size != total) {
        error_setg(errp, ERR_PROTOCOL,
                   "s3 object %s has %" PRId64 " bytes after uploading %"
                   PRId64, key, size, total);
        return -1;
    }
    return 0;
}

/* Where the parts come from: a source read into one buffer of a part, or
 * a range of a regular file read in place as it is sent.
 */
struct parts {
    s3_source_fn src;          /* buffered: the source */
    void *src_opaque;
    unsigned char *buf;        /* one part */
    int fd;                    /* in place: the file, or -1 */
    int64_t off;               /* next byte to send */
    int64_t end;               /* its end */
};

/* Describe the next part in BODY.  Returns its length (0: no more), or
 * -1.
 */
static ssize_t
parts_next(struct s3 *s, struct parts *ps, struct req *body,
           struct error **errp)
{
    ssize_t n;

    memset(body, 0, sizeof(*body));
    if (ps->fd >= 0) {
        int64_t left = ps->end - ps->off;
        n = (ssize_t)(left < s->part_size ? left : s->part_size);
        body->from_fd = true;
        body->body_fd = ps->fd;
        body->body_off = ps->off;
        body->body_len = (size_t)n;
        ps->off += n;
        return n;
    }
    if (!ps->buf) {
        ps->buf = malloc((size_t)s->part_size);
        if (!ps->buf) {
            error_setg(errp, ERR_IO, "out of memory for a %" PRId64
                       "-byte part", s->part_size);
            return -1;
        }
    }
    n = fill(ps->src, ps->src_opaque, ps->buf, (size_t)s->part_size, errp);
    if (n >= 0) {
        body->body = ps->buf;
        body->body_len = (size_t)n;
    }
    return n;
}

/* The parts of a file sent by several connections at once. */
struct par {
    struct s3 *s;
    const char *key;
    const char *upload_id;
    int fd;
    int64_t start;             /* the first byte */
    int64_t end;               /* past the last */
    int nparts;
    char (*etags)[80];         /* one per part */
    const struct s3_upload_opts *opts;
    pthread_mutex_t mu;        /* guards what follows */
    int next;                  /* the next part to send (from 0) */
    int64_t done;              /* bytes sent */
    struct error *err;         /* the first failure: the others stop */
};

struct par_worker {
    struct par *p;
    CURL *curl;
};

static void
par_run(struct par *p, CURL *c)
{
    struct s3 *s = p->s;

    for (;;) {
        struct req body = { .curl = c, .from_fd = true, .body_fd = p->fd };
        struct error *e = NULL;
        int64_t len;
        int i, r;

        pthread_mutex_lock(&p->mu);
        if (p->err || p->next >= p->nparts) {
            pthread_mutex_unlock(&p->mu);
            return;
        }
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        body.body_off = p->start + (int64_t)i * s->part_size;
        len = p->end - body.body_off;
        body.body_len = (size_t)(len < s->part_size ? len : s->part_size);
        r = put_part(s, p->key, p->upload_id, i + 1, &body, p->etags[i], &e);
        pthread_mutex_lock(&p->mu);
        if (r < 0 && !p->err) {
            p->err = e;
        } else if (r < 0) {
            error_free(e);
        } else {
            p->done += (int64_t)body.body_len;
            if (p->opts->size > 0) {
                progress_report(p->opts->progress, "upload",
                                p->done >= p->opts->size
                                    ? 99.0 : 100.0 * (double)p->done /
                                                 (double)p->opts->size);
            }
        }
        pthread_mutex_unlock(&p->mu);
    }
}

static void *
par_thread(void *arg)
{
    struct par_worker *w = arg;

    par_run(w->p, w->curl);
    return NULL;
}

/* Send every part of P, s->concurrency at a time: this thread and up to
 * concurrency - 1 others, each with its own connection.  Returns 0, or
 * -1 with the first failure.
 */
static int
par_upload(struct par *p, struct error **errp)
{
    struct s3 *s = p->s;
    pthread_t tids[S3_MAX_CONCURRENCY];
    struct par_worker w[S3_MAX_CONCURRENCY];
    int n = 0, i, want = s->concurrency < p->nparts ? s->concurrency
                                                    : p->nparts;

    pthread_mutex_init(&p->mu, NULL);
    for (i = 0; i + 1 < want; i++) {
        if (!s->pool[i]) {
            s->pool[i] = curl_easy_init();
        }
        if (!s->pool[i]) {
            break;
        }
        w[n].p = p;
        w[n].curl = s->pool[i];
        if (pthread_create(&tids[n], NULL, par_thread, &w[n]) != 0) {
            break;              /* fewer at once, no failure */
        }
        n++;
    }
    par_run(p, s->curl);
    for (i = 0; i < n; i++) {
        pthread_join(tids[i], NULL);
    }
    pthread_mutex_destroy(&p->mu);
    if (p->err) {
        error_propagate(errp, p->err);
        p->err = NULL;
        return -1;
    }
    return 0;
}

static int
upload(struct s3 *s, const char *key, struct parts *ps,
       const struct s3_upload_opts *opts, struct error **errp)
{
    static const struct s3_upload_opts none = { 0 };
    CLEANUP_FREE char *upload_id = NULL;
    CLEANUP_FREE char (*etags)[80] = NULL;
    struct error *err = NULL, *aerr = NULL;
    struct req body;
    int nparts = 0, cap = 0;
    int64_t total = 0;
    ssize_t n;
    bool single;

    if (!opts) {
        opts = &none;
    }
    if (!key_ok(key, errp)) {
        return -1;
    }
    n = parts_next(s, ps, &body, errp);
    if (n < 0) {
        return -1;
    }
    single = ps->fd >= 0 ? ps->off >= ps->end : n < s->part_size;
    if (single) {
        CLEANUP_RESP struct resp rs = { 0 };
        body.method = "PUT";
        body.key = key;
        body.idempotent = true;
        body.check_md5 = true;
        if (perform(s, &body, &rs, errp) < 0) {
            return -1;
        }
        progress_report(opts->progress, "upload", 100.0);
        return 0;
    }
    if (initiate(s, key, &upload_id, errp) < 0) {
        return -1;
    }
    if (opts->started &&
        opts->started(key, upload_id, opts->opaque, &err) < 0) {
        goto fail;
    }
    if (ps->fd >= 0 && s->concurrency > 1) {
        int64_t start = body.body_off;
        struct par p = { .s = s, .key = key, .upload_id = upload_id,
                         .fd = ps->fd, .start = start, .end = ps->end,
                         .opts = opts };
        int64_t np = (ps->end - start + s->part_size - 1) / s->part_size;

        if (np > S3_MAX_PARTS) {
            error_setg(&err, ERR_INVALID,
                       "%s is too large for %d parts of %" PRId64 " bytes",
                       key, S3_MAX_PARTS, s->part_size);
            goto fail;
        }
        p.nparts = (int)np;
        etags = calloc((size_t)np, sizeof(*etags));
        if (!etags) {
            error_setg(&err, ERR_IO, "out of memory");
            goto fail;
        }
        p.etags = etags;
        if (par_upload(&p, &err) < 0) {
            goto fail;
        }
        nparts = p.nparts;
        total = ps->end - start;
        n = 0;
    }
    while (n > 0) {
        if (nparts == S3_MAX_PARTS) {
            error_setg(&err, ERR_INVALID,
                       "%s is too large for %d parts of %" PRId64 " bytes",
                       key, S3_MAX_PARTS, s->part_size);
            goto fail;
        }
        if (nparts == cap) {
            int ncap = cap ? cap * 2 : 64;
            char (*ne)[80] = realloc(etags, (size_t)ncap * sizeof(*etags));
            if (!ne) {
                error_setg(&err, ERR_IO, "out of memory");
                goto fail;
            }
            etags = ne;
            cap = ncap;
        }
        if (put_part(s, key, upload_id, nparts + 1, &body, etags[nparts],
                     &err) < 0) {
            goto fail;
        }
        nparts++;
        total += n;
        if (opts->size > 0) {
            progress_report(opts->progress, "upload",
                            total >= opts->size
                                ? 99.0 : 100.0 * (double)total /
                                             (double)opts->size);
        }
        n = parts_next(s, ps, &body, &err);
        if (n < 0) {
            goto fail;
        }
    }
    if (complete(s, key, upload_id, etags, nparts, total, &err) < 0) {
        goto fail;
    }
    if (opts->ended) {
        opts->ended(key, upload_id, opts->opaque);
    }
    progress_report(opts->progress, "upload", 100.0);
    return 0;

fail:
    if (s3_abort_upload(s, key, upload_id, &aerr) == 0) {
        if (opts->ended) {
            opts->ended(key, upload_id, opts->opaque);
        }
        error_propagate(errp, err);
        return -1;
    }
    error_setg(errp, error_get_class(err),
               "%s; and the abort of upload %s failed: %s", error_msg(err),
               upload_id, error_msg(aerr));
    error_free(err);
    error_free(aerr);
    return -1;
}

int
s3_upload(struct s3 *s, const char *key, s3_source_fn src, void *src_opaque,
          const struct s3_upload_opts *opts, struct error **errp)
{
    struct parts ps = { .src = src, .src_opaque = src_opaque, .fd = -1 };
    int r = upload(s, key, &ps, opts, errp);

    free(ps.buf);
    return r;
}

static ssize_t
fd_source(void *buf, size_t len, void *opaque, struct error **errp)
{
    int fd = *(int *)opaque;
    ssize_t n;

    do {
        n = read(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, ERR_IO, errno, "read of the upload's data");
    }
    return n;
}

int
s3_upload_fd(struct s3 *s, const char *key, int fd,
             const struct s3_upload_opts *opts, struct error **errp)
{
    struct stat st;
    off_t pos;

    /* A regular file is sent in place, part by part, as curl asks for
     * the bytes: no part is copied into memory first.
     */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (pos = lseek(fd, 0, SEEK_CUR)) >= 0 && pos <= st.st_size) {
        struct parts ps = { .fd = fd, .off = pos, .end = st.st_size };
        return upload(s, key, &ps, opts, errp);
    }
    return s3_upload(s, key, fd_source, &fd, opts, errp);
}
