/* Unit tests of locks as leases (lock.h, lock-lease.c): the renewal
 * thread keeps a lease past its time, a waiting take gets it when it is
 * released, a holder that dies frees it at once on its host and by
 * expiry elsewhere, a holder learns that its lease was taken, and the
 * fence stops its writes.  On SQLite, or on PostgreSQL with
 * VMSNAP_TEST_CATALOG (test-catalog.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog.h"
#include "lock.h"
#include "sock.h"
#include "tap.h"
#include "test-catalog.h"

#define TTL_S 2

/* In a child: take KIND/ID as HOST, tell the parent through FD, then
 * hold it for HOLD_MS and release it (or, with HOLD_MS < 0, die by
 * SIGKILL holding it).
 */
static pid_t
hold_in_child(const char *host, const char *id, int hold_ms)
{
    int fds[2];
    pid_t pid;
    char c = 0;

    if (pipe(fds) < 0) {
        abort();
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct locks *l = locks_open_leases(db_path, host, TTL_S);
        struct lock *lk = NULL;
        struct error *err = NULL;

        close(fds[0]);
        if (lock_take(l, "task", id, false, &lk, &err) < 0) {
            fprintf(stderr, "child: %s\n", error_msg(err));
            _exit(1);
        }
        c = 1;
        if (write(fds[1], &c, 1) != 1) {
            _exit(1);
        }
        if (hold_ms < 0) {
            raise(SIGKILL);
        }
        sock_sleep_ms(hold_ms, SOCK_NO_DEADLINE);
        lock_release(lk);
        locks_close(l);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], &c, 1) != 1 || c != 1) {
        diag("the child did not take its lease");
    }
    close(fds[0]);
    return pid;
}

static bool
reaped(pid_t pid)
{
    int st = 0;

    return waitpid(pid, &st, 0) == pid;
}

int
main(void)
{
    struct error *err = NULL;
    struct locks *a, *b;
    struct lock *la = NULL, *lb = NULL;
    struct catalog *cat;
    struct lease *info = NULL;
    int64_t t0;
    pid_t pid;
    bool good;

    tc_setup("lock-lease");
    cat = tc_open();
    a = locks_open_leases(db_path, "host-a", TTL_S);
    b = locks_open_leases(db_path, "host-b", TTL_S);
    ok(strcmp(locks_kind(a), "lease") == 0, "a lease manager");

    ok(lock_take(a, "task", "t1", false, &la, &err) == 0 && no_err(&err),
       "host-a takes a lock");
    good = lock_take(b, "task", "t1", false, &lb, &err) == -1 &&
           err != NULL && error_get_class(err) == ERR_CONFLICT &&
           strstr(error_msg(err), "task t1 is busy (held by host-a pid ") !=
               NULL;
    ok(good, "host-b finds it busy: %s", err ? error_msg(err) : "no error");
    error_free(err);
    err = NULL;
    sock_sleep_ms(TTL_S * 1000 + 1000, SOCK_NO_DEADLINE);
    ok(lock_held(b, "task", "t1", &err) == 1 && no_err(&err) &&
           lock_check(la, &err) == 0 && no_err(&err),
       "past the lease's time it is still held: the thread renews it");
    ok(catalog_begin(cat, &err) == 0 && lock_fence(la, cat, &err) == 0 &&
           catalog_commit(cat, &err) == 0 && no_err(&err),
       "and its fence passes");

    /* Another host takes it over as if it had expired. */
    ok(catalog_lease_get(cat, "task", "t1", &info, &err) == 0 &&
           catalog_lease_release(cat, "task", "t1", info->token, &err) ==
               0 &&
           lock_take(b, "task", "t1", false, &lb, &err) == 0 && no_err(&err),
       "host-b takes it over");
    lease_free(info);
    sock_sleep_ms(TTL_S * 1000 / 3 + 800, SOCK_NO_DEADLINE);
    good = lock_check(la, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_CONFLICT &&
           strstr(error_msg(err), "lease lost") != NULL;
    ok(good, "host-a's next renewal finds it lost: %s",
       err ? error_msg(err) : "no error");
    error_free(err);
    err = NULL;
    ok(catalog_begin(cat, &err) == 0 && lock_fence(la, cat, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "and its fence fails");
    catalog_rollback(cat);
    lock_release(la);
    ok(lock_held(a, "task", "t1", &err) == 1 && no_err(&err),
       "releasing a lost lease leaves the new holder's alone");
    lock_release(lb);
    ok(lock_held(a, "task", "t1", &err) == 0 && no_err(&err),
       "released, it is free");

    /* Waiting for a lock another process releases. */
    pid = hold_in_child("host-b", "t2", 1000);
    t0 = sock_now_ms();
    ok(lock_take(a, "task", "t2", true, &la, &err) == 0 && no_err(&err) &&
           sock_now_ms() - t0 >= 500,
       "a waiting take gets it when its holder lets go (%lld ms)",
       (long long)(sock_now_ms() - t0));
    ok(reaped(pid), "that holder ended");
    lock_release(la);

    /* A holder that dies: on its own host, free at once. */
    pid = hold_in_child("host-a", "t3", -1);
    ok(reaped(pid), "a holder on host-a died holding its lock");
    t0 = sock_now_ms();
    ok(lock_held(a, "task", "t3", &err) == 0 && no_err(&err) &&
           lock_take(a, "task", "t3", false, &la, &err) == 0 &&
           no_err(&err) && sock_now_ms() - t0 < 1000,
       "host-a sees its process gone and takes the lock at once");
    lock_release(la);

    /* Elsewhere, once the lease expires. */
    pid = hold_in_child("host-a", "t4", -1);
    ok(reaped(pid), "a holder on host-a died again");
    t0 = sock_now_ms();
    ok(lock_take(b, "task", "t4", false, &lb, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "host-b cannot judge host-a's processes: busy");
    ok(lock_take(b, "task", "t4", true, &lb, &err) == 0 && no_err(&err) &&
           sock_now_ms() - t0 >= TTL_S * 1000 - 500,
       "it gets the lock once the lease expired (%lld ms)",
       (long long)(sock_now_ms() - t0));
    lock_release(lb);

    ok(lock_take(a, "task", "a b", false, &la, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "lock names are checked");
    locks_close(a);
    locks_close(b);
    catalog_close(cat);
    remove_tmpdir();
    free(db_path);
    return tap_done();
}
