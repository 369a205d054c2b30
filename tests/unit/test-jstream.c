/* Unit tests of the JSON message splitter.
 *
 * Each case is fed in chunks of several sizes (byte by byte up to all at
 * once); the sequence of results must be the same for every chunking.
 * Results are written as a string: each message in compact JSON, "FF" for
 * a sentinel, "ERR" for an error (which ends the run) and "PARTIAL" when
 * the input ends inside a message, separated by spaces.
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "jstream.h"
#include "tap.h"

struct jcase {
    const char *name;   /* what the case checks */
    const char *input;  /* bytes to feed */
    size_t len;         /* their number; 0 means strlen (input) */
    size_t max_msg;     /* jstream_new limit; 0 for the default */
    int max_depth;      /* jstream_new limit; 0 for the default */
    unsigned flags;     /* jstream_new flags */
    const char *expect; /* expected results, as described above */
    const char *errsub; /* substring of the error message, or NULL */
};

static const struct jcase cases[] = {
    { "one object", "{\"a\":1}", 0, 0, 0, 0, "{\"a\":1}", NULL },
    { "two objects and newlines", " {\"a\":1}\r\n\n\t{\"b\":[true,null]}\n",
      0, 0, 0, 0, "{\"a\":1} {\"b\":[true,null]}", NULL },
    { "adjacent objects", "{}{}{\"x\":{}}", 0, 0, 0, 0, "{} {} {\"x\":{}}",
      NULL },
    { "pretty multi-line", "{\n    \"return\": {\n        \"status\": "
      "\"running\",\n        \"running\": true\n    },\n    \"id\": 7\n}\n",
      0, 0, 0, 0, "{\"return\":{\"status\":\"running\",\"running\":true},"
      "\"id\":7}", NULL },
    { "whitespace only", " \n\r\t \n", 0, 0, 0, 0, "", NULL },
    { "empty input", "", 0, 0, 0, 0, "", NULL },
    { "utf-8 split anywhere", "{\"s\":\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98"
      "\x80\"}", 0, 0, 0, 0, "{\"s\":\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98"
      "\x80\"}", NULL },
    { "escapes", "{\"s\":\"\\u00e9\\ud83d\\ude00\\n\\\"\\/\"}", 0, 0, 0, 0,
      "{\"s\":\"\xc3\xa9\xf0\x9f\x98\x80\\n\\\"/\"}", NULL },
    { "strings with braces", "{\"s\":\"}{][\"}{\"t\":\"\\\\\"}", 0, 0, 0, 0,
      "{\"s\":\"}{][\"} {\"t\":\"\\\\\"}", NULL },
    { "numbers", "{\"i\":-12,\"f\":1.5e3,\"big\":9223372036854775807}", 0,
      0, 0, 0, "{\"i\":-12,\"f\":1.5e3,\"big\":9223372036854775807}",
      NULL },
    { "exactly max size", "{\"a\":\"012345678901234567890123\"}", 0, 32, 0,
      0, "{\"a\":\"012345678901234567890123\"}", NULL },
    { "one byte over max size", "{\"a\":\"0123456789012345678901234\"}", 0,
      32, 0, 0, "ERR", "too large" },
    { "oversized after a good one", "{}{\"a\":\"0123456789012345678901234"
      "567890\"}", 0, 32, 0, 0, "{} ERR", "too large" },
    { "oversized unterminated", "{\"a\":\"0123456789012345678901234567890",
      0, 32, 0, 0, "ERR", "too large" },
    { "depth at the limit", "{\"a\":[[{\"b\":[]}]]}", 0, 0, 5, 0,
      "{\"a\":[[{\"b\":[]}]]}", NULL },
    { "depth over the limit", "{\"a\":[[{\"b\":[[]]}]]}", 0, 0, 5, 0, "ERR",
      "deep" },
    { "garbage", "hello", 0, 0, 0, 0, "ERR", "start with" },
    { "garbage after a message", "{\"a\":1} x", 0, 0, 0, 0, "{\"a\":1} ERR",
      NULL },
    { "top-level array", "[1,2]", 0, 0, 0, 0, "ERR", NULL },
    { "top-level number", "42 ", 0, 0, 0, 0, "ERR", NULL },
    { "top-level string", "\"x\"", 0, 0, 0, 0, "ERR", NULL },
    { "trailing comma", "{\"a\":1,}", 0, 0, 0, 0, "ERR", NULL },
    { "comment", "{/* c */\"a\":1}", 0, 0, 0, 0, "ERR", NULL },
    { "bare word value", "{\"a\":yes}", 0, 0, 0, 0, "ERR", NULL },
    { "missing colon", "{\"a\" 1}", 0, 0, 0, 0, "ERR", NULL },
    { "NUL inside", "{\"a\":\"x\0y\"}", 11, 0, 0, 0, "ERR", "NUL" },
    { "NUL between", "{}\0{}", 5, 0, 0, 0, "{} ERR", NULL },
    { "invalid utf-8", "{\"a\":\"\xc3\x28\"}", 0, 0, 0, 0, "ERR", "UTF-8" },
    { "lone continuation byte", "{\"a\":\"\x80\"}", 0, 0, 0, 0, "ERR",
      NULL },
    { "overlong utf-8", "{\"a\":\"\xe0\x80\xaf\"}", 0, 0, 0, 0, "ERR",
      "UTF-8" },
    { "utf-8 surrogate", "{\"a\":\"\xed\xa0\x80\"}", 0, 0, 0, 0, "ERR",
      "UTF-8" },
    { "utf-8 above U+10FFFF", "{\"a\":\"\xf4\x90\x80\x80\"}", 0, 0, 0,
      0, "ERR", "UTF-8" },
    { "invalid byte after a message", "{}\x80", 0, 0, 0, 0, "{} ERR", NULL },
    { "0xff without sentinel mode", "{}\xff{}", 0, 0, 0, 0, "{} ERR",
      NULL },
    { "0xff between messages", "{\"a\":1}\xff{\"b\":2}", 0, 0, 0,
      JSTREAM_SENTINEL_FF, "{\"a\":1} FF {\"b\":2}", NULL },
    { "0xff drops a partial message", "{\"a\":[1,2\xff\n{\"return\":5}", 0,
      0, 0, JSTREAM_SENTINEL_FF, "FF {\"return\":5}", NULL },
    { "0xff inside a string", "{\"a\":\"xy\xff\xff{}", 0, 0, 0,
      JSTREAM_SENTINEL_FF, "FF FF {}", NULL },
    { "0xff after a split utf-8 lead", "{\"a\":\"\xc3\xff{}", 0, 0, 0,
      JSTREAM_SENTINEL_FF, "FF {}", NULL },
    { "garbage before a sentinel is still an error", "xx\xff{}", 0, 0, 0,
      JSTREAM_SENTINEL_FF, "ERR", NULL },
    { "number then minus (audit L1)", "{\"a\": 12-3}", 0, 0, 0, 0, "ERR",
      NULL },
    { "truncated at eof", "{\"a\":[1,2", 0, 0, 0, 0, "PARTIAL", NULL },
    { "truncated after a message", "{}\n{\"a\"", 0, 0, 0, 0, "{} PARTIAL",
      NULL },
    { "truncated in a utf-8 sequence", "{\"a\":\"\xe2\x82", 0, 0, 0, 0,
      "PARTIAL", NULL },
};

/* Append WORD to the result string OUT of size N, space separated. */
static void
append(char *out, size_t n, const char *word)
{
    size_t len = strlen(out);

    snprintf(out + len, n - len, "%s%s", len ? " " : "", word);
}

/* Run C fed in chunks of CHUNK bytes; write the results to OUT. */
static void
run_case(const struct jcase *c, size_t chunk, char *out, size_t n,
         char *errbuf, size_t errn)
{
    size_t len = c->len ? c->len : strlen(c->input);
    struct jstream *js;
    struct error *err = NULL;
    size_t off = 0, k;
    json_object *msg;
    enum jstream_result r = JSTREAM_NEED_MORE;

    out[0] = '\0';
    errbuf[0] = '\0';
    js = jstream_new(c->max_msg, c->max_depth, c->flags, &err);
    if (js == NULL) {
        snprintf(out, n, "NEW FAILED: %s", error_msg(err));
        error_free(err);
        return;
    }
    while (off < len || r != JSTREAM_NEED_MORE) {
        if (r == JSTREAM_NEED_MORE) {
            k = len - off < chunk ? len - off : chunk;
            if (jstream_feed(js, c->input + off, k, &err) < 0) {
                append(out, n, "FEED-ERR");
                break;
            }
            off += k;
        }
        r = jstream_next(js, &msg, &err);
        if (r == JSTREAM_MESSAGE) {
            append(out, n,
                   json_object_to_json_string_ext(
                       msg, JSON_C_TO_STRING_PLAIN |
                                JSON_C_TO_STRING_NOSLASHESCAPE));
            json_object_put(msg);
        } else if (r == JSTREAM_SENTINEL) {
            append(out, n, "FF");
        } else if (r == JSTREAM_ERROR) {
            append(out, n, "ERR");
            break;
        }
    }
    if (r != JSTREAM_ERROR && jstream_in_message(js)) {
        append(out, n, "PARTIAL");
    }
    if (err != NULL) {
        snprintf(errbuf, errn, "%s%s",
                 error_get_class(err) == ERR_PROTOCOL ? "" : "WRONG CLASS ",
                 error_msg(err));
        error_free(err);
    }
    jstream_free(js);
}

static void
test_table(void)
{
    static const size_t chunks[] = { 1, 2, 3, 7, 4096 };
    char out[1024], errbuf[256];
    size_t i, j;
    bool same;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        same = true;
        for (j = 0; j < sizeof(chunks) / sizeof(chunks[0]); j++) {
            run_case(&cases[i], chunks[j], out, sizeof(out), errbuf,
                     sizeof(errbuf));
            if (strcmp(out, cases[i].expect) != 0) {
                diag("chunk %zu: got \"%s\", want \"%s\" (%s)", chunks[j],
                     out, cases[i].expect, errbuf);
                same = false;
            }
            if (strncmp(errbuf, "WRONG CLASS", 11) == 0 ||
                (cases[i].errsub != NULL &&
                 strstr(errbuf, cases[i].errsub) == NULL)) {
                diag("chunk %zu: error \"%s\", want \"%s\"", chunks[j],
                     errbuf, cases[i].errsub);
                same = false;
            }
        }
        ok(same, "%s", cases[i].name);
    }
}

/* Inputs cut at every split point (audit L1: json-c's incremental lexer
 * read "12-3" split before '-' as 12).  Numbers of every shape, strings,
 * escapes, UTF-8, several messages, errors and sentinels.
 */
static const struct {
    const char *input;
    unsigned flags;
} split_inputs[] = {
    { "{\"a\": 12-3}", 0 },
    { "{\"a\": 12}{\"b\": -3}", 0 },
    { "{\"n\":[0,-0,12,-12,1.5,-1.5e-3,2E+10,1e400,9223372036854775807,"
      "9223372036854775808,-9223372036854775809,0.000001]}", 0 },
    { "{\"a\": 1.}{\"a\": .5}{\"a\": 01}{\"a\": 1e}{\"a\": --1}", 0 },
    { "{\"a\": 3-}\xff{\"return\": 2-1}\xff{\"return\": 2}",
      JSTREAM_SENTINEL_FF },
    { "{\"t\":true,\"f\":false,\"z\":null,\"w\":tru}", 0 },
    { "{\"s\":\"h\xc3\xa9 \\u00e9\\ud83d\\ude00 \\\" \\\\ }\"}\n"
      "{\"x\":{}}", 0 },
    { "{\"return\": {\"a\": [1, 2, {\"b\": \"c\"}]}, \"id\": 7}\r\n", 0 },
    { "{\"a\":\"\xe2\x82\"}", 0 },
    { "{\"a\":1}\xff{\"b\":\"x\xff{}", JSTREAM_SENTINEL_FF },
};

/* The results of INPUT (LEN bytes) fed in two pieces cut at SPLIT, as
 * run_case writes them.
 */
static void
run_split(const char *input, size_t len, size_t split, unsigned flags,
          char *out, size_t n)
{
    struct error *err = NULL;
    struct jstream *js = jstream_new(0, 0, flags, &err);
    size_t piece[2] = { split, len - split };
    size_t off = 0, i;
    json_object *msg;
    enum jstream_result r;

    out[0] = '\0';
    for (i = 0; i < 2; i++) {
        jstream_feed(js, input + off, piece[i], &err);
        off += piece[i];
        while ((r = jstream_next(js, &msg, &err)) != JSTREAM_NEED_MORE) {
            if (r == JSTREAM_MESSAGE) {
                append(out, n, json_object_to_json_string_ext(
                                   msg, JSON_C_TO_STRING_PLAIN));
                json_object_put(msg);
            } else if (r == JSTREAM_SENTINEL) {
                append(out, n, "FF");
            } else {
                append(out, n, "ERR");
                error_free(err);
                err = NULL;
                if (!(flags & JSTREAM_SENTINEL_FF)) {
                    goto out; /* the stream stays failed */
                }
                jstream_skip_to_sentinel(js);
            }
        }
    }
    append(out, n, jstream_in_message(js) ? "PARTIAL" : "END");
out:
    jstream_free(js);
}

static void
test_split_points(void)
{
    char whole[1024], cut[1024];
    size_t i, len, k;
    bool same;

    for (i = 0; i < sizeof(split_inputs) / sizeof(split_inputs[0]); i++) {
        len = strlen(split_inputs[i].input);
        run_split(split_inputs[i].input, len, len, split_inputs[i].flags,
                  whole, sizeof(whole));
        same = true;
        for (k = 0; k < len; k++) {
            run_split(split_inputs[i].input, len, k, split_inputs[i].flags,
                      cut, sizeof(cut));
            if (strcmp(cut, whole) != 0) {
                diag("split at %zu: \"%s\", whole: \"%s\"", k, cut, whole);
                same = false;
            }
        }
        ok(same, "input %zu: every split point gives the whole result (%s)",
           i, whole);
    }
}

/* A 1 MiB message under the default 4 MiB limit, and a 5 MiB one over it,
 * both fed in 4 KiB reads.
 */
static void
test_large(void)
{
    size_t sizes[] = { 1024 * 1024, 5 * 1024 * 1024 };
    struct error *err = NULL;
    struct jstream *js;
    json_object *msg = NULL, *v;
    enum jstream_result r = JSTREAM_NEED_MORE;
    size_t i, off, n, k;
    char *buf;

    for (i = 0; i < 2; i++) {
        n = sizes[i];
        buf = malloc(n);
        memset(buf, 'x', n);
        memcpy(buf, "{\"a\":\"", 6);
        memcpy(buf + n - 2, "\"}", 2);
        js = jstream_new(0, 0, 0, &err);
        for (off = 0; off < n; off += k) {
            k = n - off < 4096 ? n - off : 4096;
            if (jstream_feed(js, buf + off, k, &err) < 0) {
                r = JSTREAM_ERROR;
                break;
            }
            r = jstream_next(js, &msg, &err);
            if (r != JSTREAM_NEED_MORE) {
                break;
            }
        }
        if (i == 0) {
            ok(r == JSTREAM_MESSAGE &&
                   json_object_object_get_ex(msg, "a", &v) &&
                   json_object_get_string_len(v) == (int)n - 8,
               "1 MiB message in 4 KiB reads");
            json_object_put(msg);
        } else {
            ok(r == JSTREAM_ERROR && err != NULL &&
                   strstr(error_msg(err), "too large") != NULL &&
                   off <= JSTREAM_DEFAULT_MAX_MSG,
               "5 MiB message rejected by the time 4 MiB arrived");
        }
        error_free(err);
        err = NULL;
        jstream_free(js);
        free(buf);
    }
}

/* The guest agent resync path: after an error, skip to the sentinel. */
static void
test_skip_to_sentinel(void)
{
    struct error *err = NULL;
    struct jstream *js = jstream_new(0, 0, JSTREAM_SENTINEL_FF, &err);
    static const char in[] = "{\"a\":nope}{\"stale\":1}\xff{\"return\":9}";
    json_object *msg = NULL;
    enum jstream_result r;

    jstream_feed(js, in, sizeof(in) - 1, &err);
    r = jstream_next(js, &msg, &err);
    ok(r == JSTREAM_ERROR, "malformed input is an error");
    error_free(err);
    err = NULL;
    r = jstream_next(js, &msg, &err);
    ok(r == JSTREAM_ERROR && err != NULL, "the stream stays failed");
    error_free(err);
    err = NULL;

    jstream_skip_to_sentinel(js);
    r = jstream_next(js, &msg, &err);
    ok(r == JSTREAM_SENTINEL, "skip finds the buffered sentinel");
    r = jstream_next(js, &msg, &err);
    ok(r == JSTREAM_MESSAGE &&
           strcmp(json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN),
                  "{\"return\":9}") == 0,
       "message after the sentinel");
    json_object_put(msg);

    /* Skip mode drops input across feeds until the sentinel. */
    jstream_skip_to_sentinel(js);
    jstream_feed(js, "{\"return\":", 10, &err);
    r = jstream_next(js, &msg, &err);
    ok(r == JSTREAM_NEED_MORE && !jstream_in_message(js),
       "skip mode discards input");
    jstream_feed(js, "3}\xff{}", 5, &err);
    r = jstream_next(js, &msg, &err);
    ok(r == JSTREAM_SENTINEL, "skip mode ends at the sentinel");
    r = jstream_next(js, &msg, &err);
    ok(r == JSTREAM_MESSAGE, "then parses normally");
    json_object_put(msg);
    ok(err == NULL, "no error left over");
    jstream_free(js);
}

static void
test_limits(void)
{
    struct error *err = NULL;
    struct jstream *js;
    char big[70000];
    json_object *msg;

    js = jstream_new(0, -1, 0, &err);
    ok(js == NULL && err != NULL && error_get_class(err) == ERR_INVALID,
       "negative depth rejected");
    error_free(err);
    err = NULL;
    js = jstream_new(16, 0, 0x80, &err);
    ok(js == NULL && err != NULL, "unknown flag rejected");
    error_free(err);
    err = NULL;

    /* Feeding without draining is bounded. */
    js = jstream_new(16, 0, 0, &err);
    memset(big, ' ', sizeof(big));
    ok(jstream_feed(js, big, sizeof(big), &err) < 0 && err != NULL,
       "feed beyond the buffer bound fails");
    error_free(err);
    err = NULL;

    /* Reset forgets a partial message and a failed state. */
    jstream_feed(js, "{\"a\":", 5, &err);
    jstream_next(js, &msg, &err);
    ok(jstream_in_message(js), "partial message seen");
    jstream_reset(js);
    ok(!jstream_in_message(js), "reset drops it");
    jstream_feed(js, "]", 1, &err);
    ok(jstream_next(js, &msg, &err) == JSTREAM_ERROR, "failed");
    error_free(err);
    err = NULL;
    jstream_reset(js);
    jstream_feed(js, "{}", 2, &err);
    ok(jstream_next(js, &msg, &err) == JSTREAM_MESSAGE,
       "usable again after reset");
    json_object_put(msg);
    jstream_free(js);
    jstream_free(NULL);
}

static void
test_has_data(void)
{
    struct error *err = NULL;
    struct jstream *js = jstream_new(0, 0, JSTREAM_SENTINEL_FF, &err);
    json_object *msg = NULL;

    ok(!jstream_has_data(js), "new stream has no data");
    jstream_feed(js, "{}\r\n ", 5, &err);
    ok(jstream_has_data(js), "an unread message is data");
    jstream_next(js, &msg, &err);
    json_object_put(msg);
    ok(!jstream_has_data(js), "trailing whitespace is not");
    jstream_feed(js, "{\"a\"", 4, &err);
    jstream_next(js, &msg, &err);
    ok(jstream_has_data(js), "an open message is");
    jstream_skip_to_sentinel(js);
    jstream_feed(js, "junk", 4, &err);
    ok(!jstream_has_data(js), "nothing counts in skip mode");
    ok(err == NULL, "no error");
    jstream_free(js);
}

int
main(void)
{
    test_table();
    test_split_points();
    test_large();
    test_skip_to_sentinel();
    test_limits();
    test_has_data();
    return tap_done();
}
