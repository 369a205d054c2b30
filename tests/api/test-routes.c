/* vmsnap tests: routes only the test build of vmsnapd serves.
 *
 *   PUT  /test/blobs/{name}?max_size=N&reserve=N
 *        stream the body into DATA_DIR/blobs/NAME through daemon/upload.c
 *        (.NAME.part while it comes; removed if the upload fails); 200
 *        {"size", "checksum", "os_hash_algo", "os_hash_value"}
 *   GET  /test/blobs/{name}          download it from a descriptor
 *   GET  /test/blobs/{name}/reader   download it through a reader
 *   POST /compute/v2.1/vmsnap-test/echo
 *        a Nova-shaped route with a closed schema:
 *        {"server": {"name": string, "min_count": integer}}
 *   GET  /compute/v2.1/vmsnap-test/version, /volume/v3/{project_id}/
 *        vmsnap-test: the negotiated microversion, {"version": "X.Y"}
 *   GET  /test/whoami                 the caller record, as JSON
 *   GET  /test/query                  the decoded query, as [[key, value]]
 * All need a token, as every route of the real services does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "download.h"
#include "test-routes.h"
#include "upload.h"
#include "util.h"

/* DATA_DIR/blobs/NAME (or with PREFIX before NAME); caller frees. */
static char *
tr_path(struct api_req *r, const char *prefix, const char *name,
        const char *suffix)
{
    return util_strdup_printf("%s/blobs/%s%s%s", r->ctx->data_dir, prefix, name,
                              suffix);
}

/* Names are plain: letters, digits, '-', '_', '.' (not leading). */
static bool
tr_name_ok(const char *name)
{
    size_t i;

    if (name[0] == '.' || strlen(name) > 64) {
        return false;
    }
    for (i = 0; name[i]; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

/* The upload's owner: a part file renamed when done. */
struct tr_upload {
    int fd;      /* the part file */
    char *part;  /* its path */
    char *final; /* the blob's path */
    char *md5;   /* the sidecar with the MD5 */
};

static void
tr_upload_free(struct tr_upload *u)
{
    if (u->fd >= 0) {
        close(u->fd);
    }
    free(u->part);
    free(u->final);
    free(u->md5);
    free(u);
}

static void
tr_upload_done(void *opaque, struct api_req *r, const struct upload_result *res)
{
    struct tr_upload *u = opaque;
    json_object *o;
    FILE *fp;

    if (rename(u->part, u->final) < 0) {
        unlink(u->part);
        api_error(r, 500, "rename: %s", strerror(errno));
        tr_upload_free(u);
        return;
    }
    fp = fopen(u->md5, "we");
    if (fp) {
        fprintf(fp, "%s", res->md5);
        fclose(fp);
    }
    o = json_object_new_object();
    json_object_object_add(o, "size",
                           json_object_new_int64((int64_t)res->size));
    json_object_object_add(o, "checksum", json_object_new_string(res->md5));
    json_object_object_add(o, "os_hash_algo", json_object_new_string("sha512"));
    json_object_object_add(o, "os_hash_value",
                           json_object_new_string(res->sha512));
    api_respond_json(r, 200, o);
    tr_upload_free(u);
}

static void
tr_upload_fail(void *opaque, enum upload_failure why)
{
    struct tr_upload *u = opaque;

    (void)why;
    unlink(u->part);
    tr_upload_free(u);
}

/* Query parameter KEY as a size, 0 if absent. */
static int64_t
tr_query_size(struct api_req *r, const char *key)
{
    const char *v = http_req_query(r->http, key);
    int64_t n = 0;

    if (v && util_parse_size(v, &n, NULL) < 0) {
        n = 0;
    }
    return n;
}

static void
tr_put_blob(struct api_req *r)
{
    const char *name = api_param(r, "name");
    struct upload_limits lim;
    struct upload_target t;
    struct tr_upload *u;

    if (!tr_name_ok(name)) {
        api_error(r, 400, "bad blob name");
        return;
    }
    u = calloc(1, sizeof(*u));
    if (u == NULL) {
        api_error(r, 500, "out of memory");
        return;
    }
    u->part = tr_path(r, ".", name, ".part");
    u->final = tr_path(r, "", name, "");
    u->md5 = tr_path(r, ".", name, ".md5");
    if (u->final && access(u->final, F_OK) == 0) {
        api_error(r, 409, "blob %s exists", name);
        tr_upload_free(u);
        return;
    }
    u->fd = u->part
                ? open(u->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)
                : -1;
    if (u->fd < 0) {
        api_error(r, errno == EEXIST ? 409 : 500, "cannot create %s: %s", name,
                  strerror(errno));
        tr_upload_free(u);
        return;
    }
    lim.max_size = tr_query_size(r, "max_size");
    lim.reserve = tr_query_size(r, "reserve");
    t.fd = u->fd;
    t.done = tr_upload_done;
    t.fail = tr_upload_fail;
    t.opaque = u;
    upload_stream(r, &lim, &t);
}

/* Open blob NAME; fills *SIZE and MD5 (empty if unknown). */
static int
tr_open_blob(struct api_req *r, uint64_t *size, char md5[HASH_MD5_HEX_LEN])
{
    const char *name = api_param(r, "name");
    CLEANUP_FREE char *path = NULL, *side = NULL;
    struct stat st;
    int fd, sfd;
    ssize_t n;

    md5[0] = '\0';
    if (!tr_name_ok(name)) {
        api_error(r, 404, "no blob %s", name);
        return -1;
    }
    path = tr_path(r, "", name, "");
    side = tr_path(r, ".", name, ".md5");
    fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        api_error(r, 404, "no blob %s", name);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    sfd = side ? open(side, O_RDONLY | O_CLOEXEC) : -1;
    if (sfd >= 0) {
        n = read(sfd, md5, HASH_MD5_HEX_LEN - 1);
        md5[n == HASH_MD5_HEX_LEN - 1 ? n : 0] = '\0';
        close(sfd);
    }
    return fd;
}

static void
tr_get_blob(struct api_req *r)
{
    char md5[HASH_MD5_HEX_LEN];
    struct download_source src = {0};
    int fd = tr_open_blob(r, &src.size, md5);

    if (fd < 0) {
        return;
    }
    src.fd = fd;
    src.md5 = md5[0] ? md5 : NULL;
    download_respond(r, &src);
}

static ssize_t
tr_pread(void *opaque, uint64_t offset, void *buf, size_t max)
{
    int fd = (int)(intptr_t)opaque;
    ssize_t n;

    do {
        n = pread(fd, buf, max, (off_t)offset);
    } while (n < 0 && errno == EINTR);
    return n;
}

static void
tr_close(void *opaque)
{
    close((int)(intptr_t)opaque);
}

static void
tr_get_blob_reader(struct api_req *r)
{
    char md5[HASH_MD5_HEX_LEN];
    struct download_source src = {0};
    int fd = tr_open_blob(r, &src.size, md5);

    if (fd < 0) {
        return;
    }
    src.fd = -1;
    src.md5 = md5[0] ? md5 : NULL;
    src.read = tr_pread;
    src.opaque = (void *)(intptr_t)fd;
    src.free_fn = tr_close;
    download_respond(r, &src);
}

static const struct api_field tr_server_f[] = {
    {"name", AJ_STRING, true, NULL, 0, 255},
    {"min_count", AJ_INT, false, NULL, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema tr_server_s = {tr_server_f, false};
static const struct api_field tr_echo_f[] = {
    {"server", AJ_OBJECT, true, &tr_server_s, 0, 0},
    {NULL, 0, false, NULL, 0, 0},
};
static const struct api_schema tr_echo_s = {tr_echo_f, false};

static void
tr_echo(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    json_object *body = api_req_json(r);

    if (body == NULL) {
        return;
    }
    if (api_check(body, &tr_echo_s, "body", &err) < 0) {
        json_object_put(body);
        api_error(r, 400, "%s", error_msg(err));
        return;
    }
    api_respond_json(r, 200, body);
}

static void
tr_version(struct api_req *r)
{
    json_object *o = json_object_new_object();
    char v[16];

    snprintf(v, sizeof(v), "%d.%d", r->version.major, r->version.minor);
    json_object_object_add(o, "version", json_object_new_string(v));
    api_respond_json(r, 200, o);
}

static void
tr_whoami(struct api_req *r)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "user_id",
                           json_object_new_string(r->caller.who.user_id));
    json_object_object_add(o, "project_id",
                           json_object_new_string(r->caller.who.project_id));
    json_object_object_add(o, "admin",
                           json_object_new_boolean(r->caller.admin));
    json_object_object_add(o, "expires_at",
                           json_object_new_int64(r->caller.expires_at));
    api_respond_json(r, 200, o);
}

static void
tr_query(struct api_req *r)
{
    json_object *arr = json_object_new_array();
    size_t i;

    for (i = 0; i < http_req_nquery(r->http); i++) {
        json_object *pair = json_object_new_array();
        const char *k, *v;

        http_req_query_at(r->http, i, &k, &v);
        json_object_array_add(pair, json_object_new_string(k));
        json_object_array_add(pair, json_object_new_string(v));
        json_object_array_add(arr, pair);
    }
    api_respond_json(r, 200, arr);
}

static const struct route test_routes_[] = {
    {"GET", "/test/query", tr_query, API_OTHER, 0, ROUTE_BODY_NONE},
    {"PUT", "/test/blobs/{name}", tr_put_blob, API_OTHER, 0, ROUTE_BODY_STREAM},
    {"GET", "/test/blobs/{name}", tr_get_blob, API_OTHER, 0, ROUTE_BODY_NONE},
    {"GET", "/test/blobs/{name}/reader", tr_get_blob_reader, API_OTHER, 0,
     ROUTE_BODY_NONE},
    {"GET", "/test/whoami", tr_whoami, API_OTHER, 0, ROUTE_BODY_NONE},
    {"POST", "/compute/v2.1/vmsnap-test/echo", tr_echo, API_COMPUTE, 0,
     ROUTE_BODY_JSON},
    {"GET", "/compute/v2.1/vmsnap-test/version", tr_version, API_COMPUTE, 0,
     ROUTE_BODY_NONE},
    {"GET", "/volume/v3/{project_id}/vmsnap-test", tr_version, API_VOLUME, 0,
     ROUTE_BODY_NONE},
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table test_routes = {"/test", API_OTHER, test_routes_};
