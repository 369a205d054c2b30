/* Unit tests of the capped buffer and the allocation helpers. */
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "dynbuf.h"
#include "error.h"
#include "tap.h"
#include "xalloc.h"

static void
test_add(void)
{
    struct dynbuf b;
    struct error *err = NULL;
    CLEANUP_FREE char *s = NULL;
    size_t len = 99;

    dynbuf_init(&b, 16);
    ok(dynbuf_len(&b) == 0 && strcmp(dynbuf_str(&b), "") == 0,
       "a new buffer is empty");
    ok(dynbuf_room(&b) == 16, "room is the cap");
    ok(dynbuf_add(&b, "abc", 3, &err) == 0 && err == NULL, "add bytes");
    ok(dynbuf_add_str(&b, "de", &err) == 0, "add a string");
    ok(dynbuf_add_byte(&b, '-', 3, &err) == 0, "add a repeated byte");
    ok(dynbuf_printf(&b, &err, "%d%s", 42, "x") == 0, "printf");
    ok(strcmp(dynbuf_str(&b), "abcde---42x") == 0, "contents in order");
    ok(dynbuf_len(&b) == 11 && dynbuf_room(&b) == 5, "length and room");
    ok(dynbuf_add(&b, NULL, 0, &err) == 0, "adding nothing is fine");
    ok(dynbuf_add(&b, "\0z", 2, &err) == 0 && dynbuf_len(&b) == 13,
       "NUL bytes are kept");
    s = dynbuf_take(&b, &len, &err);
    ok(s != NULL && len == 13 && memcmp(s, "abcde---42x\0z", 14) == 0,
       "take hands the bytes and a NUL over");
    ok(dynbuf_len(&b) == 0 && !dynbuf_too_big(&b), "take resets");
    free(steal_pointer(&s));
    s = dynbuf_take(&b, &len, &err);
    ok(s != NULL && len == 0 && s[0] == '\0', "take of nothing gives \"\"");
    dynbuf_reset(&b);
}

static void
test_cap(void)
{
    struct dynbuf b;
    struct error *err = NULL;
    CLEANUP_FREE char *s = NULL;

    dynbuf_init(&b, 8);
    ok(dynbuf_add_str(&b, "12345678", &err) == 0, "exactly the cap fits");
    ok(dynbuf_add_byte(&b, 'x', 1, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_INVALID,
       "one byte over the cap fails with ERR_INVALID");
    ok(strcmp(error_msg(err), "more than 8 bytes") == 0, "message: %s",
       error_msg(err));
    error_free(err);
    err = NULL;
    ok(dynbuf_len(&b) == 8 && dynbuf_too_big(&b) && dynbuf_room(&b) == 0,
       "nothing appended, marked too big");
    ok(dynbuf_add(&b, "", 0, NULL) == -1, "later appends fail too");
    s = dynbuf_take(&b, NULL, &err);
    ok(s == NULL && err != NULL, "take refuses a truncated text");
    error_free(err);
    err = NULL;
    ok(!dynbuf_too_big(&b) && dynbuf_len(&b) == 0, "take reset the buffer");

    ok(dynbuf_add_str(&b, "1234", NULL) == 0, "usable again");
    ok(dynbuf_printf(&b, &err, "%s", "56789") == -1, "printf over the cap");
    error_free(err);
    err = NULL;
    ok(strcmp(dynbuf_str(&b), "1234") == 0, "printf is all or nothing");
    dynbuf_reset(&b);
    ok(dynbuf_add(&b, "abc", SIZE_MAX, NULL) == -1,
       "a huge length fails without overflow");
    dynbuf_reset(&b);
}

static void
test_queue(void)
{
    struct dynbuf b;

    dynbuf_init(&b, 64);
    dynbuf_add_str(&b, "hello world", NULL);
    dynbuf_consume(&b, 6);
    ok(strcmp(dynbuf_str(&b), "world") == 0, "consume drops the front");
    dynbuf_truncate(&b, 3);
    ok(strcmp(dynbuf_str(&b), "wor") == 0, "truncate cuts the end");
    dynbuf_truncate(&b, 10);
    ok(dynbuf_len(&b) == 3, "truncate beyond the end does nothing");
    dynbuf_consume(&b, 10);
    ok(dynbuf_len(&b) == 0 && strcmp(dynbuf_str(&b), "") == 0,
       "consume of more than all empties");
    dynbuf_reset(&b);
    dynbuf_consume(&b, 1);
    ok(dynbuf_len(&b) == 0, "consume of an unallocated buffer");
}

static void
test_grow(void)
{
    struct dynbuf b;
    size_t i;
    bool good = true;

    dynbuf_init(&b, 100000);
    for (i = 0; i < 100000; i++) {
        if (dynbuf_add_byte(&b, (char)('a' + i % 26), 1, NULL) < 0) {
            good = false;
        }
    }
    ok(good && dynbuf_len(&b) == 100000 && dynbuf_room(&b) == 0,
       "grows byte by byte up to the cap");
    ok(dynbuf_str(&b)[99999] == (char)('a' + 99999 % 26) &&
           dynbuf_str(&b)[100000] == '\0',
       "last byte and NUL in place");
    dynbuf_reset(&b);
}

/* True when FN, run in a child, dies of SIGABRT. */
static bool
aborts(void (*fn)(void))
{
    pid_t pid = fork();
    int st = 0;

    if (pid == 0) {
        close(STDERR_FILENO); /* quiet */
        fn();
        _exit(0);
    }
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFSIGNALED(st);
}

static void
huge_array(void)
{
    free(xreallocarray(NULL, SIZE_MAX / 2, 4));
}

static void
huge_calloc(void)
{
    free(xcalloc(SIZE_MAX / 2, 4));
}

static void
zero_cap(void)
{
    struct dynbuf b;

    dynbuf_init(&b, 0);
}

static void
test_xalloc(void)
{
    CLEANUP_FREE char *a = xstrdup("abc");
    CLEANUP_FREE char *b = xstrndup("abcdef", 4);
    CLEANUP_FREE char *c = xstrndup("ab", 10);
    CLEANUP_FREE char *d = xasprintf("%s-%d", "x", 7);
    CLEANUP_FREE char *e = xmalloc(0);
    CLEANUP_FREE int *f = xcalloc(4, sizeof(int));
    CLEANUP_FREE int *g = xreallocarray(NULL, 3, sizeof(int));

    ok(strcmp(a, "abc") == 0 && strcmp(b, "abcd") == 0 &&
           strcmp(c, "ab") == 0 && strcmp(d, "x-7") == 0,
       "string helpers");
    ok(e != NULL && f != NULL && f[3] == 0 && g != NULL,
       "allocations never return NULL");
    ok(aborts(huge_array), "xreallocarray aborts on overflow");
    ok(aborts(huge_calloc), "xcalloc aborts when it cannot");
    ok(aborts(zero_cap), "dynbuf_init refuses a zero cap");
}

int
main(void)
{
    test_add();
    test_cap();
    test_queue();
    test_grow();
    test_xalloc();
    return tap_done();
}
