/* vmsnapd: the web page's static files (see www.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "www.h"

#define WWW_NAME_MAX 64

/* The types served, by extension.  Text is UTF-8. */
static const struct {
    const char *ext;  /* ".html" */
    const char *type; /* its Content-Type */
} www_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

/* Nothing but this origin: scripts and styles from files here (no
 * inline code, so text from the API can never run), images also as
 * data: URLs, requests to the API on this origin only, and no framing.
 */
static const char www_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

const char *
www_content_type(const char *name)
{
    size_t n = strlen(name), i;

    for (i = 0; i < sizeof(www_types) / sizeof(www_types[0]); i++) {
        size_t e = strlen(www_types[i].ext);

        if (n > e && strcmp(name + n - e, www_types[i].ext) == 0) {
            return www_types[i].type;
        }
    }
    return NULL;
}

bool
www_name_ok(const char *name)
{
    size_t n = strlen(name), i;

    if (n == 0 || n > WWW_NAME_MAX || strstr(name, "..") != NULL) {
        return false;
    }
    if (!((name[0] >= 'a' && name[0] <= 'z') ||
          (name[0] >= 'A' && name[0] <= 'Z') ||
          (name[0] >= '0' && name[0] <= '9'))) {
        return false;
    }
    for (i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')) {
            return false;
        }
    }
    return www_content_type(name) != NULL;
}

/* Respond STATUS with a one-line text body. */
static void
www_text(struct api_req *r, int status, const char *text)
{
    http_add_header(r->http, "Content-Security-Policy", www_csp);
    http_add_header(r->http, "X-Content-Type-Options", "nosniff");
    http_respond(r->http, status, "text/plain; charset=utf-8", text,
                 strlen(text));
}

/* True if the If-None-Match header of R names ETAG (or is "*").  The
 * comparison is weak, as RFC 9110 §13.1.2 asks for this header.
 */
static bool
www_not_modified(struct api_req *r, const char *etag)
{
    const char *inm = http_req_header(r->http, "If-None-Match");

    if (inm == NULL) {
        return false;
    }
    return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

/* Open file NAME of directory DIR for reading: a regular file, not
 * through a symbolic link.  Returns the descriptor with *ST filled, or
 * -1 with errno set (ENOENT for anything that is not a regular file).
 */
static int
www_open(const char *dir, const char *name, struct stat *st)
{
    CLEANUP_CLOSE int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd;

    if (dfd < 0) {
        return -1;
    }
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ELOOP) {
            errno = ENOENT;
        }
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        errno = ENOENT;
        return -1;
    }
    return fd;
}

/* GET / and GET /{file}. */
static void
www_get(struct api_req *r)
{
    const char *name = api_param(r, "file");
    const char *dir = r->ctx->www_dir;
    const char *type;
    struct stat st;
    char etag[80];
    int fd;

    if (name == NULL) {
        name = "index.html";
    }
    if (!www_name_ok(name)) {
        www_text(r, 404, "Not Found\n");
        return;
    }
    if (dir == NULL) {
        www_text(r, 404, "This vmsnapd serves no web page (--www-dir)\n");
        return;
    }
    fd = www_open(dir, name, &st);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
            log_warnx("www: %s/%s: %s", dir, name, strerror(errno));
        }
        www_text(r, 404, "Not Found\n");
        return;
    }
    type = www_content_type(name);
    snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"",
             (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                 (unsigned long long)st.st_mtim.tv_nsec,
             (unsigned long long)st.st_ino);
    http_add_header(r->http, "ETag", etag);
    http_add_header(r->http, "Cache-Control", "no-cache");
    http_add_header(r->http, "Content-Security-Policy", www_csp);
    http_add_header(r->http, "X-Content-Type-Options", "nosniff");
    http_add_header(r->http, "X-Frame-Options", "DENY");
    http_add_header(r->http, "Referrer-Policy", "no-referrer");
    if (www_not_modified(r, etag)) {
        close(fd);
        http_respond(r->http, 304, NULL, "", 0);
        return;
    }
    http_add_header(r->http, "Content-Type", type);
    http_respond_fd(r->http, 200, fd, 0, (uint64_t)st.st_size);
}

#define WWW_FLAGS (ROUTE_PUBLIC | ROUTE_NO_MV)

static const struct route www_routes_[] = {
    {"GET", "/", www_get, API_OTHER, WWW_FLAGS, ROUTE_BODY_NONE},
    {"GET", "/{file}", www_get, API_OTHER, WWW_FLAGS, ROUTE_BODY_NONE},
    {NULL},
};

const struct route_table www_routes = {"", API_OTHER, www_routes_};
