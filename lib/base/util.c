/* vmsnap: small general helpers (see util.h). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <uuid/uuid.h>

#include "cleanup.h"
#include "util.h"
#include "xalloc.h"

void
util_uuid_new(char out[UTIL_UUID_LEN])
{
    uuid_t u;

    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

bool
util_is_uuid(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != UTIL_UUID_LEN - 1) {
        return false;
    }
    for (i = 0; i < UTIL_UUID_LEN - 1; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return false;
            }
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

void
util_now_iso8601(char out[UTIL_TIME_LEN])
{
    struct timespec ts;
    struct tm tm;
    char base[24];

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        /* Cannot happen with CLOCK_REALTIME; keep the output well formed. */
        ts.tv_sec = time(NULL);
        ts.tv_nsec = 0;
    }
    gmtime_r(&ts.tv_sec, &tm);
    if (strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        base[0] = '\0';
    }
    snprintf(out, UTIL_TIME_LEN, "%s.%06ldZ", base, ts.tv_nsec / 1000);
}

bool
util_is_iso8601(const char *s)
{
    /* '9' marks a digit; anything else must match exactly. */
    static const char shape[] = "9999-99-99T99:99:99.999999Z";
    size_t i;

    if (s == NULL || strlen(s) != sizeof(shape) - 1) {
        return false;
    }
    for (i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == '9') {
            if (!isdigit((unsigned char)s[i])) {
                return false;
            }
        } else if (s[i] != shape[i]) {
            return false;
        }
    }
    return true;
}

int
util_parse_int64(const char *s, int64_t *out, struct error **errp)
{
    const char *digits;
    char *end = NULL;
    long long v;

    if (s == NULL || *s == '\0') {
        error_setg(errp, ERR_INVALID, "empty string is not an integer");
        return -1;
    }
    /* strtoll skips leading blanks and accepts "0x" only with base 0; we
     * want exactly [+-]digits.
     */
    digits = (*s == '+' || *s == '-') ? s + 1 : s;
    if (!isdigit((unsigned char)*digits)) {
        error_setg(errp, ERR_INVALID, "invalid integer '%s'", s);
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE) {
        error_setg(errp, ERR_INVALID, "integer '%s' is out of range", s);
        return -1;
    }
    if (errno != 0 || end == s || *end != '\0') {
        error_setg(errp, ERR_INVALID, "invalid integer '%s'", s);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

int
util_parse_size(const char *s, int64_t *bytes, struct error **errp)
{
    static const char units[] = "KMGTPE";
    const char *p;
    uint64_t v = 0, mult = 1;
    size_t ndigits = 0;

    if (s == NULL || *s == '\0') {
        error_setg(errp, ERR_INVALID, "empty string is not a size");
        return -1;
    }
    for (p = s; isdigit((unsigned char)*p); p++, ndigits++) {
        unsigned d = (unsigned)(*p - '0');

        if (v > (UINT64_MAX - d) / 10) {
            error_setg(errp, ERR_INVALID, "size '%s' is too large", s);
            return -1;
        }
        v = v * 10 + d;
    }
    if (ndigits == 0) {
        error_setg(errp, ERR_INVALID,
                   "invalid size '%s': expected digits and an optional "
                   "suffix K, M, G, T, P or E", s);
        return -1;
    }
    if (*p != '\0') {
        const char *u = strchr(units, toupper((unsigned char)*p));

        if ((*p == 'b' || *p == 'B') && p[1] == '\0') {
            p++;
        } else if (u != NULL) {
            int shift = 10 * (int)(u - units + 1);

            mult = (uint64_t)1 << shift;
            p++;
            if (strcmp(p, "iB") == 0) {
                p += 2;
            }
        }
        if (*p != '\0') {
            error_setg(errp, ERR_INVALID,
                       "invalid size '%s': expected digits and an optional "
                       "suffix K, M, G, T, P or E", s);
            return -1;
        }
    }
    if (v > (uint64_t)INT64_MAX / mult) {
        error_setg(errp, ERR_INVALID, "size '%s' is too large", s);
        return -1;
    }
    *bytes = (int64_t)(v * mult);
    return 0;
}

/* mkdir one component; an existing directory is success. */
static int
util_mkdir_one(const char *path, mode_t mode, struct error **errp)
{
    struct stat st;
    int saved;

    if (mkdir(path, mode) == 0) {
        return 0;
    }
    saved = errno;
    if (saved == EEXIST) {
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            return 0;
        }
        error_setg(errp, ERR_IO, "cannot create directory %s: "
                   "exists and is not a directory", path);
        return -1;
    }
    error_setg_errno(errp, ERR_IO, saved, "cannot create directory %s",
                     path);
    return -1;
}

int
util_mkdir_p(const char *path, mode_t mode, struct error **errp)
{
    CLEANUP_FREE char *copy = NULL;
    char *p;

    if (path == NULL || *path == '\0') {
        error_setg(errp, ERR_INVALID, "cannot create a directory with an "
                   "empty name");
        return -1;
    }
    copy = xstrdup(path);
    /* Create each parent in turn: cut the string at every '/' that
     * follows a name, then restore it.
     */
    for (p = copy + 1; *p != '\0'; p++) {
        if (*p != '/' || p[-1] == '/') {
            continue;
        }
        *p = '\0';
        if (util_mkdir_one(copy, mode, errp) < 0) {
            return -1;
        }
        *p = '/';
    }
    return util_mkdir_one(copy, mode, errp);
}

char *
util_path_join(const char *a, const char *b)
{
    size_t alen = strlen(a), blen;
    char *s;

    if (alen == 0) {
        return xstrdup(b);
    }
    while (*b == '/') {
        b++;
    }
    /* Keep a lone "/" so that joining onto the root stays absolute. */
    while (alen > 1 && a[alen - 1] == '/') {
        alen--;
    }
    if (*b == '\0') {
        return xstrndup(a, alen);
    }
    if (alen == 1 && a[0] == '/') {
        alen = 0; /* "/" + "/" + b would double the slash */
    }
    blen = strlen(b);
    s = xmalloc(alen + 1 + blen + 1);
    memcpy(s, a, alen);
    s[alen] = '/';
    memcpy(s + alen + 1, b, blen + 1);
    return s;
}
