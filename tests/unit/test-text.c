/* Unit tests of the text module (audit M1, L3): names checked, text
 * escaped for terminals and line-oriented output, JSON strings valid
 * whatever the bytes; and the error module printing peer text safely.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "escape.h"
#include "cleanup.h"
#include "dynbuf.h"
#include "error.h"
#include "log.h"
#include "tap.h"
#include "text.h"

/* The audit's hostile strings, and ordinary ones. */
static const struct {
    const char *s;    /* the name */
    bool valid;       /* text_valid_name accepts it */
    const char *part; /* part of the error message, when refused */
} names[] = {
    { "web1", true, NULL },
    { "", true, NULL },
    { "h\xc3\xa9llo w\xc3\xb6rld \xf0\x9f\x98\x80 \xe2\x82\xac", true, NULL },
    { "C:\\Temp\\x", true, NULL },
    { "web\x1b]0;pwned\x07", false, "U+001B at byte 3" },
    { "snap\x1b[2J\x1b[H", false, "control character" },
    { "a\rvmsnap: snapshot done", false, "U+000D" },
    { "a\nvmsnap: snapshot done", false, "U+000A" },
    { "bell\x07", false, "U+0007" },
    { "del\x7f", false, "U+007F" },
    { "tab\there", false, "U+0009" },
    { "c1 \xc2\x9b" "2J", false, "U+009B" },
    { "\xe2\x80\xae" "gnp.exe", false, "bidirectional control U+202E" },
    { "x\xe2\x81\xa6y", false, "U+2066" },
    { "bad \xff\xfe", false, "not valid UTF-8 (byte \\xff at 4)" },
    { "\xc3\x28", false, "UTF-8" },
    { "overlong \xc0\xaf", false, "UTF-8" },
    { "overlong3 \xe0\x80\xaf", false, "UTF-8" },
    { "surrogate \xed\xa0\x80", false, "UTF-8" },
    { "too high \xf4\x90\x80\x80", false, "UTF-8" },
    { "cut \xe2\x82", false, "UTF-8" },
};

static void
test_names(void)
{
    char long_name[300];
    struct error *err = NULL;
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int r = text_valid_name(names[i].s, &err);
        bool good = names[i].valid
                        ? r == 0 && err == NULL
                        : r == -1 && err != NULL &&
                              error_get_class(err) == ERR_INVALID &&
                              strstr(error_msg(err), names[i].part) != NULL &&
                              escape_is_safe(error_msg(err));

        ok(good, "name %zu %s: %s", i, names[i].valid ? "accepted" : "refused",
           err != NULL ? error_msg(err) : "ok");
        error_free(err);
        err = NULL;
    }
    memset(long_name, 'a', sizeof(long_name));
    long_name[TEXT_NAME_MAX] = '\0';
    ok(text_valid_name(long_name, &err) == 0, "255 bytes accepted");
    long_name[TEXT_NAME_MAX] = 'a';
    long_name[TEXT_NAME_MAX + 1] = '\0';
    ok(text_valid_name(long_name, &err) == -1 && err != NULL &&
           strstr(error_msg(err), "longer than 255") != NULL,
       "256 bytes refused");
    error_free(err);
}

static void
check_escape(const char *in, size_t len, const char *want)
{
    CLEANUP_FREE char *got = escape_mem(in, len);

    ok(strcmp(got, want) == 0, "escape -> %s", got);
}

/* Undo text_escape; returns the length of the bytes written to OUT. */
static size_t
unescape(const char *s, char *out)
{
    size_t n = 0;

    while (*s != '\0') {
        if (*s != '\\') {
            out[n++] = *s++;
            continue;
        }
        s++;
        switch (*s) {
        case 'n':
            out[n++] = '\n';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'x':
            out[n++] = (char)strtol((char[]){s[1], s[2], 0}, NULL, 16);
            s += 2;
            break;
        default:
            out[n++] = *s;
            break;
        }
        s++;
    }
    return n;
}

static void
test_escape(void)
{
    char in[64], back[256];
    CLEANUP_FREE char *e = NULL;
    bool all = true;
    int round, i;

    check_escape("plain text", 10, "plain text");
    check_escape("a\\b", 3, "a\\\\b");
    check_escape("line1\nvmsnap: forged", 20, "line1\\nvmsnap: forged");
    check_escape("\r\t", 2, "\\r\\t");
    check_escape("\x1b]0;pwned\x07", 10, "\\x1b]0;pwned\\x07");
    check_escape("\x7f", 1, "\\x7f");
    check_escape("\xc2\x9b", 2, "\\xc2\\x9b");
    check_escape("\xe2\x80\xae" "abc", 6, "\\xe2\\x80\\xaeabc");
    check_escape("\xff\xfe", 2, "\\xff\\xfe");
    check_escape("\xc3\xa9\xe2\x82\xac", 5, "\xc3\xa9\xe2\x82\xac");
    check_escape("a\0b", 3, "a\\x00b");
    check_escape("\xe2\x82", 2, "\\xe2\\x82");
    e = escape_text(NULL);
    ok(strcmp(e, "") == 0, "escape of NULL");

    /* Any bytes: the result is safe, and the bytes can be read back. */
    srand(42);
    for (round = 0; round < 2000; round++) {
        CLEANUP_FREE char *esc = NULL;
        int len = rand() % (int)sizeof(in);

        for (i = 0; i < len; i++) {
            in[i] = (char)(rand() % 3 == 0 ? 0x80 + rand() % 128
                                           : rand() % 128);
        }
        esc = escape_mem(in, (size_t)len);
        if (!escape_is_safe(esc) || unescape(esc, back) != (size_t)len ||
            memcmp(back, in, (size_t)len) != 0) {
            all = false;
        }
    }
    ok(all, "2000 random inputs: escaped text is safe and reversible");
}

static void
test_safe(void)
{
    CLEANUP_FREE char *a = escape_safe("C:\\Temp is full");
    CLEANUP_FREE char *b = escape_safe("x\nvmsnap: done");
    CLEANUP_FREE char *c = escape_safe(NULL);

    ok(strcmp(a, "C:\\Temp is full") == 0, "safe text kept as it is");
    ok(strcmp(b, "x\\nvmsnap: done") == 0, "unsafe text escaped");
    ok(strcmp(c, "") == 0, "NULL gives \"\"");
    ok(escape_is_safe("h\xc3\xa9") && !escape_is_safe("\xc3") &&
           !escape_is_safe("\x1b") && !escape_is_safe("\xe2\x80\x8f"),
       "escape_is_safe");
}

/* B's JSON string, parsed back strictly (UTF-8 checked): true when it is
 * a valid JSON string.
 */
static bool
json_parses(struct dynbuf *b, const char **value)
{
    struct json_tokener *tok = json_tokener_new();
    json_object *o;
    static char copy[1024];
    bool good;

    json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                                    JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, dynbuf_str(b), (int)dynbuf_len(b));
    good = o != NULL && json_object_is_type(o, json_type_string) &&
           json_tokener_get_parse_end(tok) == dynbuf_len(b);
    if (good && value != NULL) {
        snprintf(copy, sizeof(copy), "%s", json_object_get_string(o));
        *value = copy;
    }
    json_object_put(o);
    json_tokener_free(tok);
    return good;
}

static void
check_json(const char *in, size_t len, const char *want)
{
    struct dynbuf b;

    dynbuf_init(&b, 4096);
    text_json_string(&b, in, len, NULL);
    ok(strcmp(dynbuf_str(&b), want) == 0 && json_parses(&b, NULL),
       "json %s", dynbuf_str(&b));
    dynbuf_reset(&b);
}

static void
test_json(void)
{
    struct error *err = NULL;
    struct dynbuf b;
    const char *v = NULL;
    char in[64];
    bool all = true;
    int round, i;

    check_json("web1", 4, "\"web1\"");
    check_json("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
    check_json("\n\r\t\b\f\x01\x1f", 7, "\"\\n\\r\\t\\b\\f\\u0001\\u001f\"");
    check_json("\x7f\xc2\x9b", 3, "\"\\u007f\\u009b\"");
    check_json("\xe2\x80\xae\xe2\x80\xa8\xe2\x80\xa9", 9,
               "\"\\u202e\\u2028\\u2029\"");
    check_json("bad \xff\xc3\x28", 7, "\"bad \\ufffd\\ufffd(\"");
    check_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");
    check_json("h\xc3\xa9 \xf0\x9f\x98\x80", 8,
               "\"h\xc3\xa9 \xf0\x9f\x98\x80\"");
    check_json("a\0b", 3, "\"a\\u0000b\"");
    check_json("", 0, "\"\"");

    dynbuf_init(&b, 4096);
    text_json_string(&b, "x\xffy", 3, NULL);
    ok(json_parses(&b, &v) && strcmp(v, "x\xef\xbf\xbdy") == 0,
       "invalid UTF-8 reads back as U+FFFD");
    dynbuf_reset(&b);

    srand(7);
    for (round = 0; round < 2000; round++) {
        int len = rand() % (int)sizeof(in);

        for (i = 0; i < len; i++) {
            in[i] = (char)(rand() % 256);
        }
        text_json_string(&b, in, (size_t)len, NULL);
        if (!json_parses(&b, NULL)) {
            all = false;
        }
        dynbuf_reset(&b);
    }
    ok(all, "2000 random inputs give valid JSON");

    dynbuf_init(&b, 8);
    ok(text_json_string(&b, "0123456789", 10, &err) == -1 && err != NULL,
       "the buffer's cap is an error");
    error_free(err);
    dynbuf_reset(&b);
}

/* Run error_report on ERR with stderr captured; return what it wrote. */
static const char *
report_output(struct error *err)
{
    static char out[1024];
    char path[] = "/tmp/vmsnap-test-text.XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    ssize_t n;

    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    error_report("vmsnap", err);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    n = pread(fd, out, sizeof(out) - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return out;
}

/* Count the lines of S. */
static int
lines(const char *s)
{
    int n = 0;

    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

static void
test_errors(void)
{
    struct error *err = NULL;
    const char *out;

    /* A guest agent's error text, as qga.c passes it on. */
    error_set_peer(&err, "GenericError", "guest-fsfreeze-freeze: %s",
                   "hook failed\nvmsnap: snapshot web1 done (quiesced)");
    ok(strchr(error_msg(err), '\n') == NULL && escape_is_safe(error_msg(err)),
       "a peer's newline does not reach the message: %s", error_msg(err));
    out = report_output(err);
    ok(lines(out) == 1 &&
           strcmp(out, "vmsnap: guest-fsfreeze-freeze: hook failed\\n"
                       "vmsnap: snapshot web1 done (quiesced)\n") == 0,
       "error_report prints one line: %s", out);

    err = NULL;
    error_setg(&err, ERR_INVALID, "no image %s", "\x1b]0;owned\x07");
    error_prepend(&err, "image show: ");
    out = report_output(err);
    ok(strcmp(out, "vmsnap: image show: no image \\x1b]0;owned\\x07\n") == 0,
       "escape sequences escaped: %s", out);

    err = NULL;
    error_setg(&err, ERR_IO, "cannot open C:\\Temp\\x");
    ok(strcmp(error_msg(err), "cannot open C:\\Temp\\x") == 0,
       "safe messages are kept as they are");
    error_free(err);
    err = NULL;
    error_setg(&err, ERR_IO, "ok");
    error_prepend(&err, "bad \xff prefix: ");
    ok(escape_is_safe(error_msg(err)), "prepend keeps messages safe: %s",
       error_msg(err));
    error_free(err);
}

int
main(void)
{
    test_names();
    test_escape();
    test_safe();
    test_json();
    test_errors();
    return tap_done();
}
