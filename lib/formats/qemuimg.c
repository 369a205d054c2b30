/* vmsnap: the qemu-img binary, wrapped (see qemuimg.h). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "qemuimg.h"
#include "run.h"
#include "xalloc.h"

/* Limits of "qemu-img info", which parses untrusted image headers. */
#define QEMUIMG_INFO_TIMEOUT_MS (60 * 1000)
#define QEMUIMG_INFO_CPU_S 10

/* Timeout of "qemu-img create". */
#define QEMUIMG_CREATE_TIMEOUT_MS (120 * 1000)

/* Exit codes of "qemu-img check" (qemu-img(1)). */
#define QEMUIMG_CHECK_EXIT_CORRUPT 2
#define QEMUIMG_CHECK_EXIT_LEAKS 3
#define QEMUIMG_CHECK_EXIT_UNSUPPORTED 63

/* State of qemuimg_convert's progress parser. */
struct qemuimg_progress {
    void (*fn)(double pct, void *opaque); /* the caller's callback */
    void *opaque;                         /* its argument */
    double last;                          /* last percentage passed on */
};

/* The program run as qemu-img (see qemuimg_set_program). */
static const char *qemuimg_program = "qemu-img";

static const char *
qemuimg_bin(void)
{
    return qemuimg_program;
}

void
qemuimg_set_program(const char *program)
{
    qemuimg_program = program && *program ? program : "qemu-img";
}

/* A format name is a plain word: it can be neither an option nor an
 * option string ("qcow2,backing_file=...").
 */
static int
qemuimg_check_fmt(const char *fmt, struct error **errp)
{
    const char *p;

    if (fmt == NULL || fmt[0] == '\0') {
        error_setg(errp, ERR_INVALID, "no image format given");
        return -1;
    }
    for (p = fmt; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_')) {
            error_setg(errp, ERR_INVALID, "invalid image format name %s", fmt);
            return -1;
        }
    }
    return 0;
}

/* PATH as an argument qemu-img cannot misread: absolute paths as they
 * are, relative ones behind "./".  Returns a new string (caller frees) or
 * NULL with an error.
 */
static char *
qemuimg_path_arg(const char *path, struct error **errp)
{
    if (path == NULL || path[0] == '\0') {
        error_setg(errp, ERR_INVALID, "empty image path");
        return NULL;
    }
    return path[0] == '/' ? xstrdup(path) : xasprintf("./%s", path);
}

/* Fail with ERR_NOT_FOUND unless PATH exists. */
static int
qemuimg_check_exists(const char *path, struct error **errp)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, errno,
                         "image file %s", path);
        return -1;
    }
    return 0;
}

/* Set the error of a failed "qemu-img VERB" from its result.  Always
 * returns -1.
 */
static int
qemuimg_fail(const char *verb, const struct run_result *res,
             struct error **errp)
{
    CLEANUP_FREE char *line = NULL;
    const char *msg;

    if (res->signal != 0) {
        error_setg(errp, ERR_GENERIC, "qemu-img %s killed by signal %d (%s)",
                   verb, res->signal, strsignal(res->signal));
        return -1;
    }
    line = run_result_last_err_line(res);
    msg = line;
    if (strncmp(msg, "qemu-img: ", 10) == 0) {
        msg += 10;
    }
    if (msg[0] != '\0') {
        error_setg(errp, ERR_GENERIC, "qemu-img %s failed (exit %d): %s", verb,
                   res->status, msg);
    } else {
        error_setg(errp, ERR_GENERIC, "qemu-img %s failed (exit %d)", verb,
                   res->status);
    }
    return -1;
}

/* Run a qemu-img command that must exit with 0.  The output stays in
 * *RES (caller clears it, whatever this returns).
 */
static int
qemuimg_run(const char *verb, const char *const *argv,
            const struct run_opts *opts, struct run_result *res,
            struct error **errp)
{
    if (run_exec(argv, opts, res, errp) < 0) {
        error_prepend(errp, "qemu-img %s: ", verb);
        return -1;
    }
    if (res->status != 0) {
        return qemuimg_fail(verb, res, errp);
    }
    return 0;
}

/* Parse the whole of TEXT (LEN bytes) as one JSON object.  Returns a new
 * reference or NULL with ERR_PROTOCOL.
 */
static json_object *
qemuimg_parse_json(const char *verb, const char *text, size_t len,
                   struct error **errp)
{
    struct json_tokener *tok;
    json_object *obj;
    size_t end;

    if (len > INT_MAX) {
        error_setg(errp, ERR_PROTOCOL, "qemu-img %s: reply too large", verb);
        return NULL;
    }
    tok = xcheck(json_tokener_new());
    obj = json_tokener_parse_ex(tok, text, (int)len);
    if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success) {
        error_setg(errp, ERR_PROTOCOL, "qemu-img %s: reply is not JSON: %s",
                   verb, json_tokener_error_desc(json_tokener_get_error(tok)));
        json_object_put(obj);
        json_tokener_free(tok);
        return NULL;
    }
    for (end = json_tokener_get_parse_end(tok); end < len; end++) {
        if (text[end] != ' ' && text[end] != '\n' && text[end] != '\r' &&
            text[end] != '\t') {
            error_setg(errp, ERR_PROTOCOL,
                       "qemu-img %s: trailing data after the JSON reply", verb);
            json_object_put(obj);
            json_tokener_free(tok);
            return NULL;
        }
    }
    json_tokener_free(tok);
    if (!json_object_is_type(obj, json_type_object)) {
        error_setg(errp, ERR_PROTOCOL,
                   "qemu-img %s: reply is not a JSON object", verb);
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

/* Look up member KEY of OBJ, which must have type TYPE (WHAT says which
 * in a message: "a string").  Returns 1 with *V set, 0 when it is absent
 * and not REQUIRED, or -1 with ERR_PROTOCOL.
 */
static int
qemuimg_member(json_object *obj, const char *key, enum json_type type,
               const char *what, bool required, json_object **v,
               struct error **errp)
{
    if (!json_object_object_get_ex(obj, key, v)) {
        if (!required) {
            return 0;
        }
        error_setg(errp, ERR_PROTOCOL, "qemu-img info: no \"%s\"", key);
        return -1;
    }
    if (!json_object_is_type(*v, type) ||
        (type == json_type_int && json_object_get_int64(*v) < 0)) {
        error_setg(errp, ERR_PROTOCOL, "qemu-img info: \"%s\" is not %s", key,
                   what);
        return -1;
    }
    return 1;
}

/* Read string member KEY of OBJ into *OUT (a new string).  A missing
 * member is an error when REQUIRED, else leaves *OUT NULL.
 */
static int
qemuimg_get_str(json_object *obj, const char *key, bool required, char **out,
                struct error **errp)
{
    json_object *v = NULL;
    int r = qemuimg_member(obj, key, json_type_string, "a string", required,
                           &v, errp);

    *out = r > 0 ? xstrdup(json_object_get_string(v)) : NULL;
    return r < 0 ? -1 : 0;
}

/* Read non-negative integer member KEY of OBJ into *OUT.  A missing
 * member is an error when REQUIRED, else sets *OUT to DEFLT.
 */
static int
qemuimg_get_size(json_object *obj, const char *key, bool required,
                 int64_t deflt, int64_t *out, struct error **errp)
{
    json_object *v = NULL;
    int r = qemuimg_member(obj, key, json_type_int, "a size", required, &v,
                           errp);

    if (r >= 0) {
        *out = r > 0 ? json_object_get_int64(v) : deflt;
    }
    return r < 0 ? -1 : 0;
}

/* Read boolean member KEY of OBJ into *OUT (false when absent). */
static int
qemuimg_get_bool(json_object *obj, const char *key, bool *out,
                 struct error **errp)
{
    json_object *v = NULL;
    int r = qemuimg_member(obj, key, json_type_boolean, "a boolean", false,
                           &v, errp);

    *out = r > 0 && json_object_get_boolean(v);
    return r < 0 ? -1 : 0;
}

/* True if the image described by OBJ takes data from files other than
 * itself: a data-file (qcow2), or extents (VMDK) that are not the image's
 * own file.  A VMDK's embedded descriptor can name any host file as an
 * extent (CVE-2024-32498): such an image must never be read for a user.
 */
static bool
qemuimg_reads_other_files(json_object *obj)
{
    json_object *fname, *spec, *data, *extents, *v;
    size_t i, n;

    if (!json_object_object_get_ex(obj, "filename", &fname) ||
        !json_object_is_type(fname, json_type_string)) {
        return true;
    }
    if (!json_object_object_get_ex(obj, "format-specific", &spec) ||
        !json_object_object_get_ex(spec, "data", &data) ||
        !json_object_is_type(data, json_type_object)) {
        return false;
    }
    if (json_object_object_get_ex(data, "data-file", &v)) {
        return true;
    }
    if (!json_object_object_get_ex(data, "extents", &extents)) {
        return false;
    }
    if (!json_object_is_type(extents, json_type_array)) {
        return true;
    }
    n = json_object_array_length(extents);
    for (i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(extents, i);

        if (!json_object_object_get_ex(e, "filename", &v) ||
            !json_object_is_type(v, json_type_string) ||
            strcmp(json_object_get_string(v),
                   json_object_get_string(fname)) != 0) {
            return true;
        }
    }
    return false;
}

/* Fill INFO from the reply of "qemu-img info --output=json". */
static int
qemuimg_info_parse(json_object *obj, struct qemuimg_info *info,
                   struct error **errp)
{
    if (qemuimg_get_str(obj, "format", true, &info->format, errp) < 0 ||
        qemuimg_get_size(obj, "virtual-size", true, 0, &info->virtual_size,
                         errp) < 0 ||
        qemuimg_get_size(obj, "actual-size", false, -1, &info->actual_size,
                         errp) < 0 ||
        qemuimg_get_size(obj, "cluster-size", false, 0, &info->cluster_size,
                         errp) < 0 ||
        qemuimg_get_str(obj, "backing-filename", false, &info->backing_filename,
                        errp) < 0 ||
        qemuimg_get_str(obj, "full-backing-filename", false,
                        &info->full_backing_filename, errp) < 0 ||
        qemuimg_get_str(obj, "backing-filename-format", false,
                        &info->backing_format, errp) < 0 ||
        qemuimg_get_bool(obj, "dirty-flag", &info->dirty_flag, errp) < 0 ||
        qemuimg_get_bool(obj, "encrypted", &info->encrypted, errp) < 0) {
        return -1;
    }
    info->other_files = qemuimg_reads_other_files(obj);
    return 0;
}

int
qemuimg_info_from_json(const char *text, size_t len, struct qemuimg_info *info,
                       struct error **errp)
{
    CLEANUP_JSON_PUT json_object *obj = NULL;

    memset(info, 0, sizeof(*info));
    obj = qemuimg_parse_json("info", text, len, errp);
    if (obj == NULL) {
        return -1;
    }
    if (qemuimg_info_parse(obj, info, errp) < 0) {
        qemuimg_info_clear(info);
        return -1;
    }
    return 0;
}

int
qemuimg_info(const char *path, const char *format, struct qemuimg_info *info,
             struct error **errp)
{
    struct run_opts opts = {.timeout_ms = QEMUIMG_INFO_TIMEOUT_MS,
                            .as_limit = RUN_AS_LIMIT_DEFAULT,
                            .cpu_limit_s = QEMUIMG_INFO_CPU_S};
    CLEANUP_FREE char *arg = NULL;
    struct run_result res;
    const char *argv[8];
    size_t i = 0;
    int r = -1;

    memset(info, 0, sizeof(*info));
    if (format != NULL && qemuimg_check_fmt(format, errp) < 0) {
        return -1;
    }
    arg = qemuimg_path_arg(path, errp);
    if (arg == NULL || qemuimg_check_exists(path, errp) < 0) {
        return -1;
    }
    argv[i++] = qemuimg_bin();
    argv[i++] = "info";
    argv[i++] = "--output=json";
    argv[i++] = "-U";
    if (format != NULL) {
        argv[i++] = "-f";
        argv[i++] = format;
    }
    argv[i++] = arg;
    argv[i] = NULL;

    if (qemuimg_run("info", argv, &opts, &res, errp) < 0) {
        goto out;
    }
    if (res.out_truncated) {
        error_setg(errp, ERR_PROTOCOL, "qemu-img info: reply too large");
        goto out;
    }
    r = qemuimg_info_from_json(res.out, res.out_len, info, errp);
out:
    run_result_clear(&res);
    return r;
}

void
qemuimg_info_clear(struct qemuimg_info *info)
{
    if (info == NULL) {
        return;
    }
    free(info->format);
    free(info->backing_filename);
    free(info->full_backing_filename);
    free(info->backing_format);
    memset(info, 0, sizeof(*info));
}

int
qemuimg_create_overlay(const char *path, const char *backing,
                       const char *backing_fmt, struct error **errp)
{
    struct run_opts opts = {.timeout_ms = QEMUIMG_CREATE_TIMEOUT_MS};
    CLEANUP_FREE char *arg = NULL;
    CLEANUP_FREE char *abs = NULL;
    struct run_result res;
    int r;

    if (qemuimg_check_fmt(backing_fmt, errp) < 0) {
        return -1;
    }
    arg = qemuimg_path_arg(path, errp);
    if (arg == NULL) {
        return -1;
    }
    if (backing == NULL || backing[0] == '\0') {
        error_setg(errp, ERR_INVALID, "empty backing file path");
        return -1;
    }
    abs = realpath(backing, NULL);
    if (abs == NULL) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, errno,
                         "backing file %s", backing);
        return -1;
    }
    {
        const char *argv[] = {qemuimg_bin(), "create", "-q", "-f",
                              "qcow2",       "-b",     abs,  "-F",
                              backing_fmt,   arg,      NULL};

        r = qemuimg_run("create", argv, &opts, &res, errp);
    }
    run_result_clear(&res);
    return r;
}

int
qemuimg_create(const char *path, const char *fmt, int64_t size_bytes,
               struct error **errp)
{
    struct run_opts opts = {.timeout_ms = QEMUIMG_CREATE_TIMEOUT_MS};
    CLEANUP_FREE char *arg = NULL;
    struct run_result res;
    char size[32];
    int r;

    if (qemuimg_check_fmt(fmt, errp) < 0) {
        return -1;
    }
    if (size_bytes < 0) {
        error_setg(errp, ERR_INVALID, "negative image size %" PRId64,
                   size_bytes);
        return -1;
    }
    arg = qemuimg_path_arg(path, errp);
    if (arg == NULL) {
        return -1;
    }
    snprintf(size, sizeof(size), "%" PRId64, size_bytes);
    {
        const char *argv[] = {qemuimg_bin(), "create", "-q", "-f",
                              fmt,           arg,      size, NULL};

        r = qemuimg_run("create", argv, &opts, &res, errp);
    }
    run_result_clear(&res);
    return r;
}

/* Parse one progress line of "qemu-img convert -p", which QEMU 7.2
 * prints on stdout as "    (12.34/100%)" followed by '\r'.  Returns the
 * percentage, or -1 if LINE is not such a line.  Written by hand rather
 * than with strtod so that a locale with a decimal comma cannot confuse
 * it.
 */
static double
qemuimg_parse_progress(const char *line)
{
    const char *p = strchr(line, '(');
    double v = 0, scale = 0.1;
    bool digits = false;

    if (p == NULL) {
        return -1;
    }
    for (p++; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        digits = true;
    }
    if (*p == '.' || *p == ',') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            v += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (!digits || strncmp(p, "/100%)", 6) != 0 || v > 100) {
        return -1;
    }
    return v;
}

static void
qemuimg_on_progress_line(const char *line, void *opaque)
{
    struct qemuimg_progress *st = opaque;
    double pct = qemuimg_parse_progress(line);

    if (pct > st->last) {
        st->last = pct;
        st->fn(pct, st->opaque);
    }
}

static int qemuimg_convert_all(const char *src, const char *src_fmt,
                               const char *dst, const char *dst_fmt,
                               const char *create_opts,
                               const struct qemuimg_limits *limits,
                               void (*progress)(double pct, void *opaque),
                               void *opaque, struct error **errp);

int
qemuimg_convert(const char *src, const char *src_fmt, const char *dst,
                const char *dst_fmt, void (*progress)(double pct, void *opaque),
                void *opaque, struct error **errp)
{
    return qemuimg_convert_opts(src, src_fmt, dst, dst_fmt, NULL, progress,
                                opaque, errp);
}

int
qemuimg_convert_opts(const char *src, const char *src_fmt, const char *dst,
                     const char *dst_fmt, const char *create_opts,
                     void (*progress)(double pct, void *opaque), void *opaque,
                     struct error **errp)
{
    return qemuimg_convert_all(src, src_fmt, dst, dst_fmt, create_opts, NULL,
                               progress, opaque, errp);
}

int
qemuimg_convert_limited(const char *src, const char *src_fmt,
                        const char *dst, const char *dst_fmt,
                        const struct qemuimg_limits *limits,
                        void (*progress)(double pct, void *opaque),
                        void *opaque, struct error **errp)
{
    return qemuimg_convert_all(src, src_fmt, dst, dst_fmt, NULL, limits,
                               progress, opaque, errp);
}

/* qemuimg_convert_opts within LIMITS (may be NULL). */
static int
qemuimg_convert_all(const char *src, const char *src_fmt, const char *dst,
                    const char *dst_fmt, const char *create_opts,
                    const struct qemuimg_limits *limits,
                    void (*progress)(double pct, void *opaque), void *opaque,
                    struct error **errp)
{
    struct qemuimg_progress st = {.fn = progress, .opaque = opaque, .last = -1};
    struct run_opts opts = {.timeout_ms = -1};
    struct error *local = NULL;
    CLEANUP_FREE char *src_arg = NULL;
    CLEANUP_FREE char *dst_arg = NULL;
    struct run_result res;
    const char *argv[14];
    size_t i = 0;
    int r;

    if (create_opts != NULL && (*create_opts == '\0' || *create_opts == '-')) {
        error_setg(errp, ERR_INVALID, "bad qemu-img creation options '%s'",
                   create_opts);
        return -1;
    }
    if ((src_fmt != NULL && qemuimg_check_fmt(src_fmt, errp) < 0) ||
        qemuimg_check_fmt(dst_fmt, errp) < 0) {
        return -1;
    }
    src_arg = qemuimg_path_arg(src, errp);
    if (src_arg == NULL || qemuimg_check_exists(src, errp) < 0) {
        return -1;
    }
    dst_arg = qemuimg_path_arg(dst, errp);
    if (dst_arg == NULL) {
        return -1;
    }
    argv[i++] = qemuimg_bin();
    argv[i++] = "convert";
    if (progress != NULL) {
        argv[i++] = "-p";
        opts.on_line = qemuimg_on_progress_line;
        opts.opaque = &st;
    }
    if (src_fmt != NULL) {
        argv[i++] = "-f";
        argv[i++] = src_fmt;
    }
    argv[i++] = "-O";
    argv[i++] = dst_fmt;
    if (create_opts != NULL) {
        argv[i++] = "-o";
        argv[i++] = create_opts;
    }
    argv[i++] = src_arg;
    argv[i++] = dst_arg;
    argv[i] = NULL;

    if (limits != NULL) {
        opts.fsize_limit = limits->max_bytes > 0 ? (uint64_t)limits->max_bytes
                                                 : 0;
        opts.watch = limits->watch;
        opts.watch_opaque = limits->watch_opaque;
    }
    r = qemuimg_run("convert", argv, &opts, &res, &local);
    /* qemu-img ignores SIGXFSZ: the write fails with EFBIG instead. */
    if (r < 0 && limits != NULL && limits->max_bytes > 0 &&
        (res.signal == SIGXFSZ ||
         strstr(error_msg(local), "File too large") != NULL)) {
        error_free(local);
        local = NULL;
        error_setg(&local, ERR_IO,
                   "the output of qemu-img convert would be larger than %"
                   PRId64 " bytes",
                   limits->max_bytes);
    }
    error_propagate(errp, local);
    run_result_clear(&res);
    return r;
}

int
qemuimg_measure(const char *path, const char *fmt, const char *out_fmt,
                int64_t *required, int64_t *fully, struct error **errp)
{
    struct run_opts opts = {.timeout_ms = QEMUIMG_INFO_TIMEOUT_MS,
                            .as_limit = RUN_AS_LIMIT_DEFAULT,
                            .cpu_limit_s = QEMUIMG_INFO_CPU_S};
    CLEANUP_JSON_PUT json_object *obj = NULL;
    CLEANUP_FREE char *arg = NULL;
    struct run_result res;
    int64_t req = 0, full = 0;
    int r = -1;

    if (qemuimg_check_fmt(fmt, errp) < 0 ||
        qemuimg_check_fmt(out_fmt, errp) < 0) {
        return -1;
    }
    arg = qemuimg_path_arg(path, errp);
    if (arg == NULL || qemuimg_check_exists(path, errp) < 0) {
        return -1;
    }
    {
        const char *argv[] = {qemuimg_bin(), "measure", "--output=json",
                              "-O",          out_fmt,   "-f",
                              fmt,           arg,       NULL};

        if (qemuimg_run("measure", argv, &opts, &res, errp) < 0) {
            goto out;
        }
    }
    obj = qemuimg_parse_json("measure", res.out, res.out_len, errp);
    if (obj == NULL ||
        qemuimg_get_size(obj, "required", true, 0, &req, errp) < 0 ||
        qemuimg_get_size(obj, "fully-allocated", true, 0, &full, errp) < 0) {
        goto out;
    }
    if (required) {
        *required = req;
    }
    if (fully) {
        *fully = full;
    }
    r = 0;
out:
    run_result_clear(&res);
    return r;
}

/* Describe the damage "qemu-img check --output=json" reported in OUT, for
 * the error message; "" if it cannot be read.  Returns a new string.
 */
static char *
qemuimg_check_damage(const struct run_result *res)
{
    CLEANUP_JSON_PUT json_object *obj = NULL;
    struct error *ignored = NULL;
    json_object *v = NULL;

    if (res->out == NULL || res->out_truncated) {
        return xstrdup("");
    }
    obj = qemuimg_parse_json("check", res->out, res->out_len, &ignored);
    error_free(ignored);
    if (obj != NULL && json_object_object_get_ex(obj, "corruptions", &v) &&
        json_object_is_type(v, json_type_int)) {
        return xasprintf(": %" PRId64 " corruptions",
                         json_object_get_int64(v));
    }
    return xstrdup("");
}

int
qemuimg_check(const char *path, const char *fmt, struct error **errp)
{
    CLEANUP_FREE char *arg = NULL;
    CLEANUP_FREE char *damage = NULL;
    struct run_result res;
    int r = -1;

    if (qemuimg_check_fmt(fmt, errp) < 0) {
        return -1;
    }
    arg = qemuimg_path_arg(path, errp);
    if (arg == NULL || qemuimg_check_exists(path, errp) < 0) {
        return -1;
    }
    {
        const char *argv[] = {
            qemuimg_bin(), "check", "--output=json", "-f", fmt, arg, NULL};

        if (run_exec(argv, NULL, &res, errp) < 0) {
            error_prepend(errp, "qemu-img check: ");
            goto out;
        }
    }
    switch (res.signal != 0 ? -1 : res.status) {
    case 0:
        r = QEMUIMG_CHECK_OK;
        break;
    case QEMUIMG_CHECK_EXIT_LEAKS:
        r = QEMUIMG_CHECK_LEAKS;
        break;
    case QEMUIMG_CHECK_EXIT_UNSUPPORTED:
        r = QEMUIMG_CHECK_UNSUPPORTED;
        break;
    case QEMUIMG_CHECK_EXIT_CORRUPT:
        damage = qemuimg_check_damage(&res);
        error_setg(errp, ERR_INVALID, "%s is corrupt%s", path, damage);
        break;
    default:
        qemuimg_fail("check", &res, errp);
        break;
    }
out:
    run_result_clear(&res);
    return r;
}
