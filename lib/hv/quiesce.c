/* vmsnap: quiescing a guest through its agent (see quiesce.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "quiesce.h"
#include "sock.h"
#include "xalloc.h"

/* Messages on the pipe from us to the watchdog. */
#define MSG_THAWED 'D' /* the guest is thawed: exit */
#define MSG_RESCUE 'T' /* we give up: thaw until confirmed, then exit */

/* Per-command timeout of the watchdog's own thaw attempts. */
#define RESCUE_CMD_MS 5000

struct quiesce {
    struct agent *a;      /* the agent, borrowed */
    int pipe_wr;          /* write end of the pipe to the watchdog */
    pid_t watchdog;       /* the watchdog process */
    int64_t started_ms;   /* when the freeze request was sent */
    int64_t frozen_at_ms; /* when the agent said it had frozen */
};

/* Thaw through G until the agent confirms or DEADLINE passes.  A thaw
 * that succeeds is the agent's word that nothing is frozen any more (it
 * repeats FITHAW until every filesystem is thawed); when the thaw fails,
 * guest-fsfreeze-status decides, since "not frozen" is fine too.
 * Returns 0 when confirmed.
 */
static int
quiesce_thaw_until(struct agent *a, int64_t deadline, int cmd_ms,
                   struct error **errp)
{
    struct error *last = NULL;

    for (;;) {
        int left = sock_remaining_ms(deadline);
        int t = left < cmd_ms ? left : cmd_ms;
        int st;

        if (t <= 0) {
            break;
        }
        error_free(last);
        last = NULL;
        if (agent_thaw(a, t, &last) >= 0) {
            return 0;
        }
        log_debug("quiesce", "thaw: %s", error_msg(last));
        if (agent_is_dead(a)) {
            break;      /* QEMU or the channel is gone: nothing to thaw */
        }
        if (error_get_class(last) != ERR_PEER) {
            sock_sleep_ms(200, deadline);
            continue;
        }
        error_free(last);
        last = NULL;
        st = agent_status(a, t, &last);
        if (st == AGENT_THAWED) {
            error_free(last);
            return 0;
        }
        if (st == AGENT_FROZEN) {
            error_setg(&last, ERR_GENERIC, "the guest still reports frozen");
        }
        sock_sleep_ms(200, deadline);
    }
    if (last) {
        error_propagate(errp, last);
        error_prepend(errp, "cannot thaw the guest: ");
    } else {
        error_setg(errp, ERR_TIMEOUT, "cannot thaw the guest: timed out");
    }
    return -1;
}

/* The watchdog: wait for word from the parent; thaw unless told the guest
 * is thawed.  Never returns.
 *
 * Its own agent is made at once, before the parent sends the freeze: an
 * agent that connects anew (libvirt's: a connection must not be used
 * across fork) is then connected when the thaw is needed, which saves
 * the connection's round trips after the parent died; one that shares
 * the parent's socket (qga) only wraps it and sends nothing until used.
 * When that fails (libvirtd away), it is tried again until the rescue
 * deadline.
 */
static void __attribute__((noreturn))
quiesce_watchdog(const struct agent *parent, int pipe_rd, int max_frozen_ms)
{
    struct pollfd pfd = {.fd = pipe_rd, .events = POLLIN};
    struct agent *a;
    int64_t deadline, t0;
    char msg = 0;
    int r;

    setsid();
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    a = agent_reopen_in_child(parent, NULL);
    do {
        r = poll(&pfd, 1, max_frozen_ms);
    } while (r < 0 && errno == EINTR);
    if (r > 0 && read(pipe_rd, &msg, 1) == 1 && msg == MSG_THAWED) {
        _exit(0);
    }
    /* The parent died (EOF), overran the window (timeout) or gave up
     * (MSG_RESCUE): thaw, on our own agent.
     */
    t0 = sock_now_ms();
    deadline = sock_deadline(QUIESCE_RESCUE_S * 1000);
    while (a == NULL && sock_remaining_ms(deadline) > 0) {
        sock_sleep_ms(200, deadline);
        a = agent_reopen_in_child(parent, NULL);
    }
    r = a ? quiesce_thaw_until(a, deadline, RESCUE_CMD_MS, NULL) : -1;
    /* Not asked to (the parent died or overran): say so, with the time
     * it took, for whoever reads the log.
     */
    if (r == 0 && msg != MSG_RESCUE) {
        log_warnx("watchdog: the guest was thawed %lld ms after the process "
                  "that froze it died or overran the window",
                  (long long)(sock_now_ms() - t0));
    }
    _exit(r == 0 ? 0 : 1);
}

/* Fork the watchdog; returns its pid and sets *PIPE_WR, or -1. */
static pid_t
quiesce_spawn_watchdog(struct agent *a, int max_frozen_ms, int *pipe_wr,
                       struct error **errp)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "pipe");
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fork");
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        int agent = agent_child_fd(a);

        close(fds[1]);
        /* Keep only what the watchdog needs: the agent and the pipe.  A
         * copy of, say, a QMP socket would keep QEMU's monitor busy.
         */
        for (int fd = 3; fd < 1024; fd++) {
            if (fd != agent && fd != fds[0]) {
                close(fd);
            }
        }
        quiesce_watchdog(a, fds[0], max_frozen_ms);
    }
    close(fds[0]);
    *pipe_wr = fds[1];
    return pid;
}

/* Tell the watchdog MSG and let it go: with MSG_THAWED it exits at once
 * and we reap it; with MSG_RESCUE it works on in its own session.
 */
static void
quiesce_release(struct quiesce *q, char msg)
{
    ssize_t r;

    /* EPIPE (SIGPIPE is ignored) means the watchdog is gone already. */
    do {
        r = write(q->pipe_wr, &msg, 1);
    } while (r < 0 && errno == EINTR);
    close(q->pipe_wr);
    if (msg == MSG_THAWED) {
        while (waitpid(q->watchdog, NULL, 0) < 0 && errno == EINTR) {
        }
    } else {
        log_warnx("the guest agent does not confirm the thaw: a watchdog "
                  "(pid %d) keeps thawing in the background",
                  (int)q->watchdog);
    }
    free(q);
}

struct quiesce *
quiesce_freeze(struct agent *a, int timeout_ms, int max_frozen_ms,
               struct error **errp)
{
    struct quiesce *q = xcalloc(1, sizeof(*q));
    struct error *err = NULL;

    q->a = a;
    /* A guest left frozen by someone else refuses a new freeze; thaw it
     * first so that our freeze is a real one.
     */
    if (agent_status(a, timeout_ms, &err) == AGENT_FROZEN) {
        log_warnx("the guest was already frozen: thawing it first");
        agent_thaw(a, timeout_ms, NULL);
    }
    if (err) {
        error_prepend(&err, "guest agent does not answer: ");
        error_propagate(errp, err);
        free(q);
        return NULL;
    }
    /* The watchdog's clock starts before the freeze is sent, so it allows
     * the freeze its own timeout on top of the window.
     */
    q->watchdog = quiesce_spawn_watchdog(a, timeout_ms + max_frozen_ms,
                                         &q->pipe_wr, errp);
    if (q->watchdog < 0) {
        free(q);
        return NULL;
    }
    q->started_ms = sock_now_ms();
    if (agent_freeze(a, timeout_ms, &err) < 0) {
        /* qemu-ga thaws what it froze when a freeze fails, but a freeze
         * that timed out may still run later: make sure, or hand over.
         */
        struct error *thaw_err = NULL;

        if (error_get_class(err) != ERR_TIMEOUT &&
            quiesce_thaw_until(a, sock_deadline(timeout_ms), timeout_ms,
                               &thaw_err) == 0) {
            quiesce_release(q, MSG_THAWED);
        } else {
            error_free(thaw_err);
            quiesce_release(q, MSG_RESCUE);
        }
        error_prepend(&err, "cannot freeze the guest's filesystems: ");
        error_propagate(errp, err);
        return NULL;
    }
    q->frozen_at_ms = sock_now_ms();
    log_debug("quiesce", "freeze took %lld ms",
              (long long)(q->frozen_at_ms - q->started_ms));
    return q;
}

int
quiesce_thaw(struct quiesce *q, int timeout_ms, int64_t *frozen_ms,
             int64_t *held_ms, struct error **errp)
{
    int64_t t0 = sock_now_ms();
    int status = 0, r;
    pid_t done;

    /* Did the watchdog run out of patience and thaw while we were in the
     * window?  Then the guest may have run unfrozen before the point in
     * time was fixed, and the caller must not call the result quiesced.
     */
    *held_ms = t0 - q->frozen_at_ms;
    do {
        done = waitpid(q->watchdog, &status, WNOHANG);
    } while (done < 0 && errno == EINTR);
    if (done == q->watchdog) {
        *frozen_ms = sock_now_ms() - q->started_ms;
        close(q->pipe_wr);
        free(q);
        error_setg(errp, ERR_TIMEOUT,
                   "the guest stayed frozen past the limit and the watchdog "
                   "thawed it%s",
                   WIFEXITED(status) && WEXITSTATUS(status) == 0
                       ? ""
                       : " (thaw not confirmed)");
        return -1;
    }
    r = quiesce_thaw_until(q->a, sock_deadline(timeout_ms), timeout_ms,
                           errp);
    log_debug("quiesce", "thaw took %lld ms", (long long)(sock_now_ms() - t0));
    *frozen_ms = sock_now_ms() - q->started_ms;
    if (r < 0) {
        /* The freeze itself held; only the thaw is not confirmed yet. */
        quiesce_release(q, MSG_RESCUE);
        return 1;
    }
    quiesce_release(q, MSG_THAWED);
    return 0;
}
