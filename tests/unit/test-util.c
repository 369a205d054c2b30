/* Unit tests of the util module. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "tap.h"
#include "util.h"

static void
test_uuid(void)
{
    char a[UTIL_UUID_LEN], b[UTIL_UUID_LEN];
    bool lower = true;
    size_t i;

    util_uuid_new(a);
    util_uuid_new(b);
    ok(strlen(a) == 36 && util_is_uuid(a), "uuid has the 8-4-4-4-12 shape");
    for (i = 0; a[i] != '\0'; i++) {
        if (a[i] >= 'A' && a[i] <= 'F') {
            lower = false;
        }
    }
    ok(lower, "uuid is lower case");
    ok(a[14] == '4' && strchr("89ab", a[19]) != NULL,
       "uuid is a random (version 4) one");
    ok(strcmp(a, b) != 0, "two uuids differ");

    ok(util_is_uuid("0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9"),
       "upper-case uuid accepted");
    ok(!util_is_uuid(NULL), "NULL is not a uuid");
    ok(!util_is_uuid(""), "empty string is not a uuid");
    ok(!util_is_uuid("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f"),
       "short string is not a uuid");
    ok(!util_is_uuid("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f90"),
       "long string is not a uuid");
    ok(!util_is_uuid("0f1e2d3c04b5a-4978-8695-a4b3c2d1e0f9"),
       "missing hyphen is not a uuid");
    ok(!util_is_uuid("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fg"),
       "non-hex digit is not a uuid");
}

static void
test_time(void)
{
    char a[UTIL_TIME_LEN], b[UTIL_TIME_LEN];

    util_now_iso8601(a);
    util_now_iso8601(b);
    ok(strlen(a) == 27 && a[10] == 'T' && a[26] == 'Z',
       "timestamp looks like 2026-11-21T23:17:28.123456Z: %s", a);
    ok(util_is_iso8601(a), "timestamp has the checked shape");
    ok(strcmp(a, b) <= 0, "timestamps sort in time order");
    ok(!util_is_iso8601("2026-11-21T23:17:28Z"),
       "timestamp without microseconds rejected");
    ok(!util_is_iso8601(NULL), "NULL timestamp rejected");
}

static void
test_int64(void)
{
    static const struct {
        const char *s;
        int64_t v;
    } good[] = {
        { "0", 0 },
        { "42", 42 },
        { "-5", -5 },
        { "+7", 7 },
        { "007", 7 },
        { "9223372036854775807", INT64_MAX },
        { "-9223372036854775808", INT64_MIN },
    };
    static const char *const bad[] = {
        "", "-", "+", " 1", "1 ", "1x", "0x10", "1.0", "--1",
        "9223372036854775808", "-9223372036854775809",
        "99999999999999999999999",
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t v = -1;
        struct error *err = NULL;

        ok(util_parse_int64(good[i].s, &v, &err) == 0 && v == good[i].v,
           "int64 '%s' parses", good[i].s);
        error_free(err);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 12345;
        CLEANUP_ERROR struct error *err = NULL;

        ok(util_parse_int64(bad[i], &v, &err) == -1 && err != NULL &&
               error_get_class(err) == ERR_INVALID && v == 12345,
           "int64 '%s' rejected (%s)", bad[i], err ? error_msg(err) : "-");
    }
    {
        CLEANUP_ERROR struct error *err = NULL;
        int64_t v;

        ok(util_parse_int64(NULL, &v, &err) == -1, "int64 NULL rejected");
    }
    {
        CLEANUP_ERROR struct error *err = NULL;
        int64_t v;

        util_parse_int64("9223372036854775808", &v, &err);
        ok(err && strstr(error_msg(err), "out of range") != NULL,
           "int64 overflow says out of range");
    }
}

static void
test_size(void)
{
    static const struct {
        const char *s;
        int64_t v;
    } good[] = {
        { "0", 0 },
        { "4096", 4096 },
        { "1G", 1073741824 },
        { "1g", 1073741824 },
        { "512M", 536870912 },
        { "1k", 1024 },
        { "2KiB", 2048 },
        { "3GiB", 3221225472LL },
        { "1T", 1099511627776LL },
        { "1P", 1125899906842624LL },
        { "7E", 7LL << 60 },
        { "10B", 10 },
        { "9223372036854775807", INT64_MAX },
        { "8388607T", 8388607LL << 40 },
    };
    static const char *const bad[] = {
        "", "1X", "-1", "+1", "G", " 1G", "1 G", "1G ", "1.5G", "1GB",
        "1Gi", "1iB", "1BB", "8E", "8388608T", "9223372036854775808",
        "99999999999999999999999", "18446744073709551616",
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t v = -1;
        struct error *err = NULL;

        ok(util_parse_size(good[i].s, &v, &err) == 0 && v == good[i].v,
           "size '%s' = %lld", good[i].s, (long long)good[i].v);
        error_free(err);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 12345;
        CLEANUP_ERROR struct error *err = NULL;

        ok(util_parse_size(bad[i], &v, &err) == -1 && err != NULL &&
               error_get_class(err) == ERR_INVALID && v == 12345,
           "size '%s' rejected (%s)", bad[i], err ? error_msg(err) : "-");
    }
    {
        CLEANUP_ERROR struct error *err = NULL;
        int64_t v;

        util_parse_size("8E", &v, &err);
        ok(err && strstr(error_msg(err), "too large") != NULL,
           "size overflow says too large");
    }
}

static void
test_strings(void)
{
    static const struct {
        const char *a, *b, *want;
    } joins[] = {
        { "/var/lib", "images", "/var/lib/images" },
        { "/var/lib/", "images", "/var/lib/images" },
        { "/var/lib//", "/images", "/var/lib/images" },
        { "/", "etc", "/etc" },
        { "/", "/etc", "/etc" },
        { "rel", "x/y", "rel/x/y" },
        { "", "x", "x" },
        { "", "/x", "/x" },
        { "dir", "", "dir" },
        { "dir/", "", "dir" },
    };
    size_t i;

    for (i = 0; i < sizeof(joins) / sizeof(joins[0]); i++) {
        CLEANUP_FREE char *p = util_path_join(joins[i].a, joins[i].b);

        ok(p != NULL && strcmp(p, joins[i].want) == 0,
           "path_join('%s', '%s') = '%s' (got '%s')", joins[i].a,
           joins[i].b, joins[i].want, p ? p : "NULL");
    }
    {
        CLEANUP_FREE char *s = util_strdup_printf("%s-%d", "x", 42);

        ok(s != NULL && strcmp(s, "x-42") == 0, "strdup_printf formats");
    }
}

static void
test_mkdir(void)
{
    char tmpl[] = "/tmp/vmsnap-test-util.XXXXXX";
    CLEANUP_FREE char *deep = NULL, *file = NULL, *under = NULL;
    CLEANUP_FREE char *trail = NULL;
    struct error *err = NULL;
    struct stat st;
    FILE *f;

    if (mkdtemp(tmpl) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    deep = util_strdup_printf("%s/a/b//c", tmpl);
    trail = util_strdup_printf("%s/a/b/c/d/", tmpl);
    file = util_strdup_printf("%s/file", tmpl);
    under = util_strdup_printf("%s/file/sub", tmpl);
    if (deep == NULL || trail == NULL || file == NULL || under == NULL) {
        ok(false, "out of memory");
        return;
    }

    ok(util_mkdir_p(deep, 0700, &err) == 0 && stat(deep, &st) == 0 &&
           S_ISDIR(st.st_mode),
       "mkdir_p creates nested directories");
    ok(util_mkdir_p(deep, 0700, &err) == 0, "mkdir_p on existing is fine");
    ok(util_mkdir_p(trail, 0700, &err) == 0, "mkdir_p with trailing slash");
    error_free(err);
    err = NULL;

    f = fopen(file, "w");
    if (f != NULL) {
        fclose(f);
    }
    ok(util_mkdir_p(file, 0700, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_IO,
       "mkdir_p over a file fails: %s", err ? error_msg(err) : "-");
    error_free(err);
    err = NULL;
    ok(util_mkdir_p(under, 0700, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_IO,
       "mkdir_p below a file fails: %s", err ? error_msg(err) : "-");
    error_free(err);
    err = NULL;
    ok(util_mkdir_p("", 0700, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_INVALID,
       "mkdir_p of an empty path fails");
    error_free(err);

    /* Clean up, deepest first. */
    unlink(file);
    rmdir(trail);
    rmdir(deep);
    {
        CLEANUP_FREE char *b = util_strdup_printf("%s/a/b", tmpl);
        CLEANUP_FREE char *a = util_strdup_printf("%s/a", tmpl);

        if (b != NULL) {
            rmdir(b);
        }
        if (a != NULL) {
            rmdir(a);
        }
    }
    ok(rmdir(tmpl) == 0, "temporary directory left empty");
}

int
main(void)
{
    test_uuid();
    test_time();
    test_int64();
    test_size();
    test_strings();
    test_mkdir();
    return tap_done();
}
