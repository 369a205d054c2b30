/* Unit tests of the catalog's leases (catalog-leases.h): taking, renewal,
 * expiry by the database's clock, dead holders on the same host, fencing
 * tokens, and processes racing for one lease.  On SQLite, or on
 * PostgreSQL with VMSNAP_TEST_CATALOG (test-catalog.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog.h"
#include "sock.h"
#include "tap.h"
#include "test-catalog.h"

#define ROUNDS 10
#define RACERS 4

/* The answer tc_alive gives. */
static bool alive_answer = true;
static int alive_calls;

static bool
tc_alive(int64_t pid, const char *started, void *opaque)
{
    (void)pid;
    (void)started;
    (void)opaque;
    alive_calls++;
    return alive_answer;
}

static const struct lease_owner host_a = { "host-a", 100, "boot/1" };
static const struct lease_owner host_a2 = { "host-a", 200, "boot/2" };
static const struct lease_owner host_b = { "host-b.example", 100,
                                           "boot/1" };

static void
test_take(struct catalog *cat)
{
    struct error *err = NULL;
    struct lease *l = NULL;
    int64_t t1 = 0, t2 = 0, t3 = 0;
    bool good;

    ok(catalog_lease_take(cat, "task", "t1", &host_a, 30000, tc_alive, NULL,
                          &t1, &err) == 0 && no_err(&err) && t1 > 0,
       "a free lease is taken, with a token");
    good = catalog_lease_get(cat, "task", "t1", &l, &err) == 0 &&
           no_err(&err) && streq(l->host, "host-a") && l->pid == 100 &&
           streq(l->started, "boot/1") && l->token == t1 &&
           l->remaining_ms > 25000 && l->remaining_ms <= 30000;
    ok(good, "it names its holder and expires in the lease's time (%lld ms)",
       l ? (long long)l->remaining_ms : -1LL);
    lease_free(l);
    ok(catalog_lease_take(cat, "task", "t1", &host_b, 30000, tc_alive, NULL,
                          &t2, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "task t1 is busy (held by host-a pid "
                  "100)"),
       "another host finds it busy, and who holds it");
    alive_calls = 0;
    ok(catalog_lease_held(cat, "task", "t1", &host_b, tc_alive, NULL,
                          &err) == 1 && no_err(&err) && alive_calls == 0,
       "held, as another host sees it (it cannot judge host-a's pids)");

    alive_answer = true;
    ok(catalog_lease_take(cat, "task", "t1", &host_a2, 30000, tc_alive,
                          NULL, &t2, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL) && alive_calls == 1,
       "on the same host, a live holder keeps it");
    alive_answer = false;
    ok(catalog_lease_held(cat, "task", "t1", &host_a2, tc_alive, NULL,
                          &err) == 0 && no_err(&err),
       "a holder whose process is gone holds nothing, on its host");
    ok(catalog_lease_take(cat, "task", "t1", &host_a2, 30000, tc_alive,
                          NULL, &t2, &err) == 0 && no_err(&err) && t2 > t1,
       "and its lease is taken over at once, with a larger token");
    alive_answer = true;

    ok(catalog_lease_renew(cat, "task", "t1", t1, 30000, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "task t1: lease lost"),
       "the old holder's renewal says the lease is lost");
    ok(catalog_lease_check(cat, "task", "t1", t1, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "task t1: lease lost"),
       "and so does its fence");
    ok(catalog_lease_renew(cat, "task", "t1", t2, 30000, &err) == 0 &&
           catalog_lease_check(cat, "task", "t1", t2, &err) == 0 &&
           no_err(&err),
       "the new holder renews it and passes the fence");
    ok(catalog_lease_release(cat, "task", "t1", t1, &err) == 0 &&
           no_err(&err) &&
           catalog_lease_held(cat, "task", "t1", &host_b, tc_alive, NULL,
                              &err) == 1,
       "a release with an old token releases nothing");
    ok(catalog_lease_release(cat, "task", "t1", t2, &err) == 0 &&
           no_err(&err) &&
           catalog_lease_held(cat, "task", "t1", &host_b, tc_alive, NULL,
                              &err) == 0 &&
           catalog_lease_get(cat, "task", "t1", &l, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no lease task t1"),
       "the holder's release frees it");
    ok(catalog_lease_take(cat, "task", "t1", &host_b, 30000, tc_alive, NULL,
                          &t3, &err) == 0 && no_err(&err) && t3 > t2 &&
           catalog_lease_release(cat, "task", "t1", t3, &err) == 0,
       "then anyone may take it");

    ok(catalog_lease_take(cat, "task", "a/b", &host_a, 1000, NULL, NULL,
                          &t1, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL) &&
           catalog_lease_take(cat, "", "x", &host_a, 1000, NULL, NULL, &t1,
                              &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "kinds and IDs are plain words");
    {
        struct lease_owner bad = { "a\nb", 1, "x" };

        ok(catalog_lease_take(cat, "task", "x", &bad, 1000, NULL, NULL, &t1,
                              &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "a host name must be safe to print");
    }
}

static void
test_expiry(struct catalog *cat)
{
    struct error *err = NULL;
    int64_t ta = 0, tb = 0, t0;

    ok(catalog_lease_take(cat, "instance", "i1", &host_a, 1500, tc_alive,
                          NULL, &ta, &err) == 0 && no_err(&err),
       "host-a takes a short lease");
    ok(catalog_lease_take(cat, "instance", "i1", &host_b, 1500, tc_alive,
                          NULL, &tb, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "host-b cannot while it runs");
    t0 = sock_now_ms();
    while (sock_now_ms() - t0 < 1000) {
        if (catalog_lease_renew(cat, "instance", "i1", ta, 1500, &err) < 0) {
            break;
        }
        sock_sleep_ms(300, SOCK_NO_DEADLINE);
    }
    ok(no_err(&err) &&
           catalog_lease_take(cat, "instance", "i1", &host_b, 1500,
                              tc_alive, NULL, &tb, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "renewed past its first expiry, it is still host-a's");
    sock_sleep_ms(1700, SOCK_NO_DEADLINE);
    ok(catalog_lease_held(cat, "instance", "i1", &host_b, tc_alive, NULL,
                          &err) == 0 && no_err(&err),
       "not renewed, it expires");
    ok(catalog_lease_check(cat, "instance", "i1", ta, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "an expired lease fails its holder's fence, even untaken");
    ok(catalog_lease_take(cat, "instance", "i1", &host_b, 30000, tc_alive,
                          NULL, &tb, &err) == 0 && no_err(&err) && tb > ta,
       "host-b takes it over");
    ok(catalog_lease_renew(cat, "instance", "i1", ta, 1500, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "host-a learns at its next renewal that it lost it");
    catalog_lease_release(cat, "instance", "i1", tb, NULL);
}

/* The fence inside the write it guards. */
static void
test_fence(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("fenced", "active");
    struct image *img2 = new_image("fenced-late", "active");
    int64_t t = 0, t2 = 0;

    ok(catalog_lease_take(cat, "image", img->id, &host_a, 30000, NULL, NULL,
                          &t, &err) == 0 &&
           catalog_begin(cat, &err) == 0 &&
           catalog_lease_check(cat, "image", img->id, t, &err) == 0 &&
           catalog_image_insert(cat, img, &err) == 0 &&
           catalog_commit(cat, &err) == 0 && no_err(&err),
       "a write fenced by a lease that is ours happens");
    /* Expire it by hand and let another take it. */
    ok(catalog_lease_release(cat, "image", img->id, t, &err) == 0 &&
           catalog_lease_take(cat, "image", img->id, &host_b, 30000, NULL,
                              NULL, &t2, &err) == 0 && no_err(&err),
       "the lease goes to another");
    ok(catalog_begin(cat, &err) == 0 &&
           catalog_image_insert(cat, img2, &err) == 0 &&
           catalog_lease_check(cat, "image", img->id, t, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "the old holder's fence stops its write");
    catalog_rollback(cat);
    {
        struct image *got = NULL;

        ok(catalog_image_get(cat, img2->id, &got, &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND, NULL),
           "and nothing of that write happens");
        image_free(got);
    }
    catalog_lease_release(cat, "image", img->id, t2, NULL);
    image_free(img);
    image_free(img2);
}

/* RACERS processes take one lease at once, ROUNDS times: exactly one
 * wins each round.
 */
static void
test_race(void)
{
    int round, clean = 0;

    for (round = 0; round < ROUNDS; round++) {
        pid_t pids[RACERS];
        int gate[2], i, won = 0, lost = 0;
        char id[16];

        snprintf(id, sizeof(id), "race%d", round);
        if (pipe(gate) < 0) {
            abort();
        }
        fflush(stdout);
        for (i = 0; i < RACERS; i++) {
            pids[i] = fork();
            if (pids[i] == 0) {
                struct error *err = NULL;
                struct catalog *cat = catalog_open(db_path, &err);
                struct lease_owner me = { "racer", 1000 + i, "b/1" };
                char host[16], c;
                int64_t t;
                int r = 1;

                snprintf(host, sizeof(host), "racer%d", i);
                me.host = host;
                close(gate[1]);
                while (read(gate[0], &c, 1) < 0) {
                }
                if (cat != NULL &&
                    catalog_lease_take(cat, "task", id, &me, 30000, NULL,
                                       NULL, &t, &err) == 0) {
                    r = 0;
                } else if (err && error_get_class(err) == ERR_CONFLICT &&
                           strstr(error_msg(err), "is busy")) {
                    r = 3;
                } else {
                    fprintf(stderr, "racer: %s\n", err ? error_msg(err)
                                                       : "?");
                }
                error_free(err);
                catalog_close(cat);
                _exit(r);
            }
        }
        close(gate[0]);
        sock_sleep_ms(100, SOCK_NO_DEADLINE);
        close(gate[1]);
        for (i = 0; i < RACERS; i++) {
            int st = 0;

            if (pids[i] > 0 && waitpid(pids[i], &st, 0) == pids[i] &&
                WIFEXITED(st)) {
                won += WEXITSTATUS(st) == 0;
                lost += WEXITSTATUS(st) == 3;
            }
        }
        if (won == 1 && lost == RACERS - 1) {
            clean++;
        } else {
            diag("round %d: %d won, %d lost", round, won, lost);
        }
    }
    ok(clean == ROUNDS, "exactly one of %d racers took the lease, %d rounds "
       "of %d", RACERS, clean, ROUNDS);
}

int
main(void)
{
    struct catalog *cat;

    tc_setup("cat-leases");
    cat = tc_open();
    test_take(cat);
    test_expiry(cat);
    test_fence(cat);
    catalog_close(cat);
    test_race();
    remove_tmpdir();
    free(db_path);
    return tap_done();
}
