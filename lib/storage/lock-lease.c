/* vmsnap: locks as leases in a shared catalog (see lock.h and
 * catalog-leases.h).
 *
 * The manager has its own catalog connection (a struct catalog belongs
 * to one thread at a time: the mutex makes the caller's thread and the
 * renewal thread take turns), opened on first use, and a renewal thread,
 * started with the first lease taken.  Why a thread rather than renewals
 * at the holder's progress points: the work done under a lock includes
 * single calls that block for minutes (qemu-img on a large disk, an
 * upload, QEMU's copy), during which a lease renewed only between steps
 * would expire under a live holder.
 *
 * Every TTL/3 the thread renews every lease held.  A renewal that finds
 * the lease taken by someone else marks it lost at once; renewals that
 * fail (the catalog down or slow) are retried, and mark the lease lost
 * once none succeeded for a whole TTL: by the catalog's clock it may have
 * expired, and another host may take it.  The holder learns of it from
 * lock_check at its next step, and lock_fence keeps its final writes from
 * happening.
 *
 * A holder's identity is (host.name, pid, start): the start is the boot
 * ID and the process's start time in clock ticks since boot (field 22 of
 * /proc/PID/stat), so that a pid the kernel gives again, after a reboot
 * or not, is not taken for the holder.  Processes of this host are judged
 * by /proc: a lease of a process that is gone is free at once here.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "lock-internal.h"
#include "log.h"
#include "sock.h"
#include "util.h"
#include "xalloc.h"

/* How long a waiting take sleeps between tries, at most. */
#define LEASE_POLL_MAX_MS 1000

struct lease_lock;

struct lease_locks {
    struct locks base;          /* first: lock-internal.h */
    char *target;               /* the catalog's connection string */
    char *host;                 /* this host's name */
    char started[96];           /* this process's start (see above) */
    int ttl_ms;                 /* the lease's time */
    pthread_mutex_t mu;         /* guards everything below */
    pthread_cond_t cv;          /* wakes the thread to stop */
    struct catalog *cat;        /* our connection, or NULL until used */
    struct lease_lock *held;    /* the leases held */
    pthread_t thread;           /* the renewal thread */
    bool running;               /* it was started */
    bool stopping;              /* it must end */
};

struct lease_lock {
    struct lock base;           /* first: lock-internal.h */
    struct lease_lock *next;    /* in the manager's list */
    char kind[72];              /* the lock's kind */
    char id[72];                /* and ID */
    int64_t token;              /* the fencing token */
    int64_t renewed_ms;         /* when last taken or renewed (monotonic) */
    bool lost;                  /* lost: see above */
    char why[256];              /* why, when lost */
};

static const struct locks_ops lease_locks_ops;

/* Read the start of process PID ("BOOT/TICKS") into BUF of size N; false
 * when it cannot be read (the process is gone, or /proc is not there).
 */
static bool
lease_proc_start(int64_t pid, char *buf, size_t n)
{
    char path[64], stat[1024], boot[64] = "";
    const char *p;
    int field;
    FILE *f;
    size_t len;

    snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
    f = fopen(path, "re");
    if (f == NULL) {
        return false;
    }
    len = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[len] = '\0';
    /* The name in parentheses may hold spaces and ')': skip to the last
     * ')'; the state is field 3, the start time field 22.
     */
    p = strrchr(stat, ')');
    for (field = 2; p != NULL && field < 22; field++) {
        p = strchr(p + 1, ' ');
    }
    if (p == NULL) {
        return false;
    }
    f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f != NULL) {
        if (fgets(boot, sizeof(boot), f) == NULL) {
            boot[0] = '\0';
        }
        fclose(f);
        boot[strcspn(boot, "\n")] = '\0';
    }
    snprintf(buf, n, "%s/%.*s", boot, (int)strcspn(p + 1, " "), p + 1);
    return true;
}

/* lease_alive_fn: is PID, started at STARTED, still running here?  When
 * /proc cannot tell, yes.
 */
static bool
lease_alive(int64_t pid, const char *started, void *opaque)
{
    char now[96];

    (void)opaque;
    if (pid <= 0) {
        return false;
    }
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
        return false;
    }
    if (!lease_proc_start(pid, now, sizeof(now))) {
        return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
    }
    return strcmp(now, started) == 0;
}

struct locks *
locks_open_leases(const char *catalog, const char *host, int ttl_s)
{
    struct lease_locks *l = xcalloc(1, sizeof(*l));

    l->base.ops = &lease_locks_ops;
    l->target = xstrdup(catalog);
    l->host = xstrdup(host);
    l->ttl_ms = ttl_s * 1000;
    if (!lease_proc_start(getpid(), l->started, sizeof(l->started))) {
        snprintf(l->started, sizeof(l->started), "?/%lld",
                 (long long)time(NULL));
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    return &l->base;
}

/* Open L's connection if it has none.  Called with L->mu held. */
static int
lease_connect_locked(struct lease_locks *l, struct error **errp)
{
    if (l->cat == NULL) {
        l->cat = catalog_open(l->target, errp);
    }
    return l->cat != NULL ? 0 : -1;
}

static void
lease_owner(const struct lease_locks *l, struct lease_owner *me)
{
    me->host = l->host;
    me->pid = getpid();
    me->started = l->started;
}

/* Renew every lease L holds.  Called with L->mu held. */
static void
lease_renew_all_locked(struct lease_locks *l)
{
    struct lease_lock *lk;
    int64_t now = sock_now_ms();

    for (lk = l->held; lk != NULL; lk = lk->next) {
        struct error *err = NULL;

        if (lk->lost) {
            continue;
        }
        if (lease_connect_locked(l, &err) == 0 &&
            catalog_lease_renew(l->cat, lk->kind, lk->id, lk->token,
                                l->ttl_ms, &err) == 0) {
            lk->renewed_ms = sock_now_ms();
            continue;
        }
        if (error_get_class(err) == ERR_CONFLICT &&
            strstr(error_msg(err), "lease lost") != NULL) {
            lk->lost = true;
            snprintf(lk->why, sizeof(lk->why), "another holder took it");
        } else if (now - lk->renewed_ms >= l->ttl_ms) {
            lk->lost = true;
            snprintf(lk->why, sizeof(lk->why), "not renewed for %d s: %s",
                     l->ttl_ms / 1000, error_msg(err));
        }
        log_warnx("%s %s: %s%s", lk->kind, lk->id,
                  lk->lost ? "lease lost: " : "cannot renew the lease: ",
                  lk->lost ? lk->why : error_msg(err));
        error_free(err);
        /* A connection that failed is opened again next time. */
        if (!lk->lost && l->cat != NULL) {
            catalog_close(l->cat);
            l->cat = NULL;
        }
    }
}

static void *
lease_thread(void *opaque)
{
    struct lease_locks *l = opaque;
    sigset_t all;

    /* Signals are the main thread's business. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&l->mu);
    while (!l->stopping) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += l->ttl_ms / 3000;
        until.tv_nsec += (long)(l->ttl_ms / 3 % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (!l->stopping &&
               pthread_cond_timedwait(&l->cv, &l->mu, &until) == 0) {
        }
        if (!l->stopping) {
            lease_renew_all_locked(l);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static int
lease_take(struct locks *base, const char *kind, const char *id, bool wait,
           struct lock **out, struct error **errp)
{
    struct lease_locks *l = (struct lease_locks *)base;
    struct lease_owner me;
    int pause_ms = 50;

    lease_owner(l, &me);
    for (;;) {
        struct error *err = NULL;
        struct lease_lock *lk;
        int64_t token = 0;
        int r;

        pthread_mutex_lock(&l->mu);
        r = lease_connect_locked(l, &err);
        if (r == 0) {
            r = catalog_lease_take(l->cat, kind, id, &me, l->ttl_ms,
                                   lease_alive, NULL, &token, &err);
        }
        if (r == 0) {
            lk = xcalloc(1, sizeof(*lk));
            lk->base.l = base;
            snprintf(lk->kind, sizeof(lk->kind), "%s", kind);
            snprintf(lk->id, sizeof(lk->id), "%s", id);
            lk->token = token;
            lk->renewed_ms = sock_now_ms();
            lk->next = l->held;
            l->held = lk;
            if (!l->running &&
                pthread_create(&l->thread, NULL, lease_thread, l) == 0) {
                l->running = true;
            }
            if (!l->running) {
                log_warnx("cannot start the lease renewal thread: %s",
                          strerror(errno));
            }
            pthread_mutex_unlock(&l->mu);
            *out = &lk->base;
            return 0;
        }
        pthread_mutex_unlock(&l->mu);
        if (!wait || error_get_class(err) != ERR_CONFLICT ||
            strstr(error_msg(err), " is busy") == NULL) {
            error_propagate(errp, err);
            return -1;
        }
        error_free(err);
        sock_sleep_ms(pause_ms, SOCK_NO_DEADLINE);
        pause_ms = pause_ms * 2 > LEASE_POLL_MAX_MS ? LEASE_POLL_MAX_MS
                                                    : pause_ms * 2;
    }
}

static void
lease_release(struct lock *base)
{
    struct lease_lock *lk = (struct lease_lock *)base;
    struct lease_locks *l = (struct lease_locks *)base->l;
    struct lease_lock **pp;
    struct error *err = NULL;

    pthread_mutex_lock(&l->mu);
    for (pp = &l->held; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == lk) {
            *pp = lk->next;
            break;
        }
    }
    if (!lk->lost &&
        (lease_connect_locked(l, &err) < 0 ||
         catalog_lease_release(l->cat, lk->kind, lk->id, lk->token,
                               &err) < 0)) {
        log_warnx("%s %s: cannot release the lease (it expires in %d s): "
                  "%s", lk->kind, lk->id, l->ttl_ms / 1000, error_msg(err));
        error_free(err);
    }
    pthread_mutex_unlock(&l->mu);
    free(lk);
}

static int
lease_held(struct locks *base, const char *kind, const char *id,
           struct error **errp)
{
    struct lease_locks *l = (struct lease_locks *)base;
    struct lease_owner me;
    int r;

    lease_owner(l, &me);
    pthread_mutex_lock(&l->mu);
    r = lease_connect_locked(l, errp);
    if (r == 0) {
        r = catalog_lease_held(l->cat, kind, id, &me, lease_alive, NULL,
                               errp);
    }
    pthread_mutex_unlock(&l->mu);
    return r;
}

static int
lease_check(struct lock *base, struct error **errp)
{
    struct lease_lock *lk = (struct lease_lock *)base;
    struct lease_locks *l = (struct lease_locks *)base->l;
    int r = 0;

    pthread_mutex_lock(&l->mu);
    if (!lk->lost && sock_now_ms() - lk->renewed_ms >= l->ttl_ms) {
        /* The thread could not even try (it waits for the catalog). */
        lk->lost = true;
        snprintf(lk->why, sizeof(lk->why), "not renewed for %d s",
                 l->ttl_ms / 1000);
    }
    if (lk->lost) {
        error_setg(errp, ERR_CONFLICT, "%s %s: lease lost: %s", lk->kind,
                   lk->id, lk->why);
        r = -1;
    }
    pthread_mutex_unlock(&l->mu);
    return r;
}

static int
lease_fence(struct lock *base, struct catalog *cat, struct error **errp)
{
    struct lease_lock *lk = (struct lease_lock *)base;

    if (lease_check(base, errp) < 0) {
        return -1;
    }
    return catalog_lease_check(cat, lk->kind, lk->id, lk->token, errp);
}

static void
lease_close(struct locks *base)
{
    struct lease_locks *l = (struct lease_locks *)base;

    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->running) {
        pthread_join(l->thread, NULL);
    }
    while (l->held != NULL) {
        lease_release(&l->held->base);
    }
    catalog_close(l->cat);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->target);
    free(l->host);
    free(l);
}

static const struct locks_ops lease_locks_ops = {
    .kind = "lease",
    .take = lease_take,
    .release = lease_release,
    .held = lease_held,
    .check = lease_check,
    .fence = lease_fence,
    .close = lease_close,
};
