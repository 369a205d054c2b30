/* file-follow.h: a reader waits for what a writer says it wrote, and a
 * writer that fails wakes every waiter with its reason.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "file-follow.h"
#include "tap.h"

/* A writer thread: size, then BYTES in steps, then done or failure. */
struct writer {
    struct file_follow *f;
    bool fail;
};

static void *
write_thread(void *arg)
{
    struct writer *w = arg;
    int64_t off;

    file_follow_size(w->f, 1000);
    for (off = 100; off <= 500; off += 100) {
        file_follow_wrote(w->f, off);
    }
    if (w->fail) {
        file_follow_fail(w->f, "the disk went away");
    } else {
        file_follow_wrote(w->f, 1000);
        file_follow_done(w->f, "0123456789abcdef0123456789abcdef");
    }
    return NULL;
}

static void
test_whole(void)
{
    struct file_follow *f = file_follow_new();
    struct writer w = { .f = f };
    char md5[HASH_MD5_HEX_LEN] = "";
    struct error *err = NULL;
    int64_t size = -1;
    pthread_t t;

    ok(!file_follow_is_done(f), "a new follow is not done");
    pthread_create(&t, NULL, write_thread, &w);
    ok(file_follow_wait_size(f, &size, &err) == 0 && size == 1000,
       "the reader learns the final size");
    ok(file_follow_wait(f, 1000, &err) == 0,
       "waiting for the last byte returns once it is written");
    ok(file_follow_md5(f, md5, &err) == 0 &&
           strcmp(md5, "0123456789abcdef0123456789abcdef") == 0,
       "and the MD5 is the writer's");
    pthread_join(t, NULL);
    ok(file_follow_is_done(f), "done");
    file_follow_fail(f, "too late");
    ok(file_follow_wait(f, 1000, &err) == 0 && file_follow_is_done(f),
       "a failure after done changes nothing");
    file_follow_free(f);
}

static void
test_failed(void)
{
    struct file_follow *f = file_follow_new();
    struct writer w = { .f = f, .fail = true };
    char md5[HASH_MD5_HEX_LEN];
    struct error *err = NULL;
    pthread_t t;

    pthread_create(&t, NULL, write_thread, &w);
    ok(file_follow_wait(f, 1000, &err) < 0 && err &&
           error_get_class(err) == ERR_IO &&
           strstr(error_msg(err), "the disk went away"),
       "a writer that fails wakes the reader with its reason");
    error_free(err);
    err = NULL;
    pthread_join(t, NULL);
    ok(file_follow_wait(f, 500, &err) == 0,
       "what was written before the failure can still be read");
    ok(file_follow_md5(f, md5, &err) < 0, "there is no MD5");
    error_free(err);
    err = NULL;
    file_follow_done(f, "0123456789abcdef0123456789abcdef");
    ok(!file_follow_is_done(f), "done after a failure changes nothing");
    file_follow_free(f);

    /* Stopped before the writer said anything (the owner gives up). */
    f = file_follow_new();
    file_follow_fail(f, "abandoned");
    {
        int64_t size;

        ok(file_follow_wait_size(f, &size, &err) < 0 &&
               strstr(error_msg(err), "abandoned"),
           "a reader waiting for the size is let go");
        error_free(err);
    }
    file_follow_free(f);
}

int
main(void)
{
    /* The writer's calls take NULL: nothing follows the file. */
    file_follow_size(NULL, 1);
    file_follow_wrote(NULL, 1);
    file_follow_done(NULL, "x");
    file_follow_fail(NULL, "x");
    ok(true, "the writer's calls accept NULL");
    test_whole();
    test_failed();
    return tap_done();
}
