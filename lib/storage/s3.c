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
#include "hash.h"
#include "log.h"
#include "s3-internal.h"
#include "util.h"
#include "xalloc.h"

static void
wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Server text made safe to show: printable ASCII only, cut.  Caller
 * frees.
 */
static char *
sanitize(const char *text)
{
    size_t n = strlen(text), i;
    char *out;

    if (n > S3_MSG_MAX) {
        n = S3_MSG_MAX;
    }
    out = xmalloc(n + 4);
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
 * '/' kept when KEEP_SLASH).  Caller frees.
 */
static char *
uri_encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s), o = 0, i;
    char *out = xmalloc(3 * n + 1);

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
 * skipped.  Caller frees.
 */
char *
s3_query_build(struct qparam *p, size_t n)
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
    out = xmalloc(len);
    for (i = 0; i < n; i++) {
        CLEANUP_FREE char *name = NULL;
        CLEANUP_FREE char *value = NULL;

        if (!p[i].name) {
            continue;
        }
        name = uri_encode(p[i].name, false);
        value = uri_encode(p[i].value ? p[i].value : "", false);
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
    buf = xcalloc(1, (size_t)st.st_size + 1);
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
        *dst = xstrdup(value);
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
    if (st->multipart_threshold < 0 ||
        st->multipart_threshold > S3_MAX_PUT_SIZE) {
        error_setg(errp, ERR_INVALID,
                   "S3 multipart threshold must be 0 to 5 GiB");
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
    s = xcalloc(1, sizeof(*s));
    s->conditional_put = -1;
    s->connect_timeout_ms = st->connect_timeout_ms > 0
                                ? st->connect_timeout_ms : 10000;
    s->low_speed_time_s = st->low_speed_time_s > 0 ? st->low_speed_time_s
                                                   : 30;
    s->max_attempts = st->max_attempts > 0 ? st->max_attempts : 5;
    s->part_size = st->part_size ? st->part_size : S3_DEFAULT_PART_SIZE;
    s->multipart_threshold = st->multipart_threshold
                                 ? st->multipart_threshold : s->part_size;
    s->concurrency = st->concurrency > 0 ? st->concurrency : 3;
    if (s->concurrency > S3_MAX_CONCURRENCY) {
        s->concurrency = S3_MAX_CONCURRENCY;
    }
    s->endpoint = xstrdup(st->endpoint);
    s->bucket = xstrdup(st->bucket);
    s->region = xstrdup(region);
    s->sigv4 = util_strdup_printf("aws:amz:%s:s3", region);
    s->curl = xcheck(curl_easy_init());
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

struct s3 *
s3_clone(const struct s3 *s)
{
    struct s3 *c = xcalloc(1, sizeof(*c));

    /* Counted: each s3_close undoes one.  S's s3_open made the first,
     * which set libcurl up; this one only counts.
     */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c->curl = xcheck(curl_easy_init());
    c->concurrency = s->concurrency;
    c->endpoint = xstrdup(s->endpoint);
    c->bucket = xstrdup(s->bucket);
    c->region = xstrdup(s->region);
    c->access_key = xstrdup(s->access_key);
    c->secret_key = xstrdup(s->secret_key);
    c->sigv4 = xstrdup(s->sigv4);
    c->connect_timeout_ms = s->connect_timeout_ms;
    c->low_speed_time_s = s->low_speed_time_s;
    c->max_attempts = s->max_attempts;
    c->part_size = s->part_size;
    c->multipart_threshold = s->multipart_threshold;
    c->conditional_put = s->conditional_put;
    return c;
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
        rs->last_modified = -1;
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
    } else if (!strcasecmp(line, "last-modified")) {
        time_t t = curl_getdate(v, NULL);
        rs->last_modified = t >= 0 ? (int64_t)t : -1;
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
    if (!rs->body_capped) {
        dynbuf_init(&rs->body, max);
        rs->body_capped = true;
    }
    if (dynbuf_add(&rs->body, data, len, NULL) < 0) {
        rs->too_big = true;
        return 0;
    }
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

        if (rq->follow && len > 0 &&
            rq->follow->wait(rq->body_off + (int64_t)(rs->sent + len),
                             rq->follow->opaque, &rs->sink_err) < 0) {
            return CURL_READFUNC_ABORT;
        }
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
    if (rq->progress && rq->progress_pct && rq->body_len > 0) {
        int pct = (int)(100 * (uint64_t)rs->sent / rq->body_len);

        if (pct > *rq->progress_pct && pct < 100) {
            *rq->progress_pct = pct;
            progress_report(rq->progress, "upload", (double)pct);
        }
    }
    return len;
}

static void
resp_reset(struct resp *rs)
{
    dynbuf_reset(&rs->body);
    if (rs->md5) {
        EVP_MD_CTX_free(rs->md5);
    }
    error_free(rs->sink_err);
    memset(rs, 0, sizeof(*rs));
    rs->content_length = rs->range_start = rs->range_total = -1;
    rs->last_modified = -1;
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

/* The text of N's child NAME (caller frees), or NULL when it is missing
 * or longer than MAX.
 */
char *
s3_xml_text(xmlNodePtr n, const char *name, size_t max)
{
    xmlNodePtr c = xml_child(n, name);
    xmlChar *t;
    char *out = NULL;

    if (!c) {
        return NULL;
    }
    t = xmlNodeGetContent(c);
    if (t && strlen((const char *)t) <= max) {
        out = xstrdup((const char *)t);
    }
    xmlFree(t);
    return out;
}

/* Parse BODY as XML whose root is ROOT.  NULL with ERR_PROTOCOL when it is
 * not (WHAT names the request).  Leading blanks are skipped: Swift sends
 * some to keep a long CompleteMultipartUpload alive.
 */
xmlDocPtr
s3_xml_parse(const char *body, size_t len, const char *root, const char *what,
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
                   root, name);
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

xmlDocPtr
s3_perform_xml(struct s3 *s, struct req *rq, const char *root,
               const char *what, struct error **errp)
{
    CLEANUP_RESP struct resp rs = { 0 };

    if (s3_perform(s, rq, &rs, errp) < 0) {
        return NULL;
    }
    return s3_xml_parse(dynbuf_str(&rs.body), dynbuf_len(&rs.body), root,
                        what, errp);
}

/* Set *ERRP from an HTTP error answer RS to WHAT. */
void
s3_set_http_error(const struct resp *rs, const char *what, struct error **errp)
{
    CLEANUP_FREE char *code = NULL;
    CLEANUP_FREE char *msg = NULL;
    CLEANUP_FREE char *scode = NULL;
    CLEANUP_FREE char *smsg = NULL;
    enum error_class cls;

    if (dynbuf_len(&rs->body) > 0) {
        xmlDocPtr doc = s3_xml_parse(dynbuf_str(&rs->body),
                                     dynbuf_len(&rs->body), "Error", what,
                                     NULL);
        if (doc) {
            code = s3_xml_text(xmlDocGetRootElement(doc), "Code", S3_MSG_MAX);
            msg = s3_xml_text(xmlDocGetRootElement(doc), "Message",
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
        error_set_peer(errp, *scode ? scode : "HTTP",
                       "%s: HTTP %ld%s%s%s%s", what, rs->status,
                       *scode ? " " : "", scode, *smsg ? ": " : "", smsg);
    } else {
        error_setg(errp, cls, "%s: HTTP %ld%s%s%s%s", what, rs->status,
                   *scode ? " " : "", scode, *smsg ? ": " : "", smsg);
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

/* "s3 GET bucket/key" for messages; caller frees. */
char *
s3_req_what(const struct s3 *s, const struct req *rq)
{
    CLEANUP_FREE char *key = rq->key ? sanitize(rq->key) : NULL;

    return util_strdup_printf("s3 %s %s%s%s", rq->method, s->bucket,
                              key ? "/" : "", key ? key : "");
}

/* One try of RQ into RS (reset first).  Returns 0 on a 2xx answer, else
 * -1 with *RETRY telling whether another try may succeed.
 */
int
s3_attempt(struct s3 *s, const struct req *rq, struct resp *rs, bool *retry,
           struct error **errp)
{
    CLEANUP_FREE char *what = s3_req_what(s, rq);
    CLEANUP_FREE char *ekey = NULL;
    CLEANUP_FREE char *url = NULL;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = rq->curl ? rq->curl : s->curl;
    CURLcode rc;
    size_t max = rq->body_max ? rq->body_max : S3_XML_BODY_MAX;

    if (max > DYNBUF_MAX_CAP) {
        max = DYNBUF_MAX_CAP;
    }

    *retry = false;
    resp_reset(rs);
    rs->curl = c;
    rs->rq = rq;
    rs->max = max;
    if (rq->key) {
        ekey = uri_encode(rq->key, true);
    }
    url = util_strdup_printf("%s/%s%s%s%s%s", s->endpoint, s->bucket,
                             rq->key ? "/" : "", ekey ? ekey : "",
                             rq->query ? "?" : "",
                             rq->query ? rq->query : "");
    if (rq->check_md5 && !rq->follow_md5) {
        rs->md5 = EVP_MD_CTX_new();
        if (!rs->md5 || !EVP_DigestInit_ex(rs->md5, EVP_md5(), NULL)) {
            error_setg(errp, ERR_IO, "cannot start an MD5 digest");
            return -1;
        }
    }
    /* The body is sent unsigned (TLS or the MD5 check protects it), so
     * that a part is read once, not hashed before it is sent.
     */
    hdrs = xcheck(curl_slist_append(hdrs,
                                    "x-amz-content-sha256: UNSIGNED-PAYLOAD"));
    if (rq->header) {
        hdrs = xcheck(curl_slist_append(hdrs, rq->header));
    }
    if (rq->header2) {
        hdrs = xcheck(curl_slist_append(hdrs, rq->header2));
    }

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
    if (log_debug_enabled("s3")) {
        curl_off_t t_all = 0, t_first = 0, t_sent = 0;

        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &t_all);
        curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &t_sent);
        curl_easy_getinfo(c, CURLINFO_STARTTRANSFER_TIME_T, &t_first);
        log_debug("s3", "%s -> curl %d, HTTP %ld, %zu bytes sent; %.3f s "
                  "to connect, %.3f s to the answer's first byte, %.3f s "
                  "in all", what, (int)rc, rs->status, rs->sent,
                  (double)t_sent / 1e6, (double)t_first / 1e6,
                  (double)t_all / 1e6);
    }

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
        /* 501 and 505: the server lacks what was asked (Swift's s3api
         * has no conditional PUT), which no retry changes.
         */
        *retry = rs->status >= 500 && rs->status != 501 &&
                 rs->status != 505 && rq->idempotent;
        s3_set_http_error(rs, what, errp);
        return -1;
    }
    if (rq->check_md5) {
        char md5[HASH_MAX_HEX_LEN], hex[HASH_MAX_HEX_LEN + 2];

        if (rq->follow_md5) {
            /* The writer hashed the file; what was sent is what it
             * wrote.
             */
            if (rq->follow->md5(md5, rq->follow->opaque, errp) < 0) {
                return -1;
            }
        } else {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int mdlen = 0;

            EVP_DigestFinal_ex(rs->md5, md, &mdlen);
            hash_hex(md, mdlen, md5);
        }
        snprintf(hex, sizeof(hex), "\"%s\"", md5);
        if (rs->sent != rq->body_len || strcasecmp(rs->etag, hex) != 0) {
            CLEANUP_FREE char *etag = sanitize(rs->etag);
            *retry = true;
            error_setg(errp, ERR_PROTOCOL,
                       "%s: the server's ETag %s is not the MD5 %s of %s",
                       what, etag, hex,
                       rq->follow_md5 ? "the file" : "what was sent");
            return -1;
        }
    }
    return 0;
}

void
s3_backoff(int attempt_no)
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
int
s3_perform(struct s3 *s, const struct req *rq, struct resp *rs,
           struct error **errp)
{
    int i;

    for (i = 1;; i++) {
        struct error *err = NULL;
        bool retry;

        if (s3_attempt(s, rq, rs, &retry, &err) == 0) {
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
        s3_backoff(i);
    }
}

void
s3_cleanup_resp(struct resp *rs)
{
    resp_reset(rs);
}

void
s3_cleanup_xml_doc(xmlDocPtr *d)
{
    if (*d) {
        xmlFreeDoc(*d);
    }
}

bool
s3_key_ok(const char *key, struct error **errp)
{
    if (!key || !*key || strlen(key) > S3_KEY_MAX) {
        error_setg(errp, ERR_INVALID, "bad S3 key");
        return false;
    }
    return true;
}
