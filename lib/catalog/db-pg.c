/* vmsnap: the PostgreSQL backend of the catalog's database seam (see
 * db.h), over libpq.  This is the only file of vmsnap's library that
 * calls PQ*.
 *
 * The target is a libpq connection string, a URI or "key=value" pairs,
 * with the password in a passfile (never on a command line).  What it
 * leaves out gets vmsnap's defaults: connect_timeout=10 and
 * application_name=vmsnap.  The catalog's tables live in the first
 * schema of the search_path (options='-c search_path=NAME' picks one),
 * so one database can hold several catalogs (the tests use that).
 *
 * Transactions.  SQLite's BEGIN IMMEDIATE serialises writers and lets
 * readers go on; here:
 *   write   BEGIN (READ COMMITTED), then the transaction-scoped advisory
 *           lock (class "vmsn", object the hash of the schema) every
 *           writer of this catalog takes, waiting at most the busy
 *           timeout (lock_timeout; "catalog is busy" after it).  Each
 *           statement after the lock sees everything committed before
 *           the lock was granted, and no other writer commits until we
 *           end: a read-modify-write inside cannot race.  Why not
 *           SERIALIZABLE with retries: a retry must re-run the caller's
 *           whole transaction, which only the caller can, and the
 *           catalog's callers do slow or outside work between their
 *           statements; and a REPEATABLE READ snapshot taken before the
 *           lock is granted would be stale.  The lock is released by
 *           COMMIT or ROLLBACK, and by the server when the session
 *           ends (a crash of the holder, a lost connection).
 *   read    BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY: one
 *           consistent snapshot, no lock, writers are never blocked.
 *           The BEGIN is not sent by begin but with the transaction's
 *           first statement, in one round trip (a pipeline, or one
 *           simple query), and the COMMIT is sent without waiting: its
 *           answer is read before the next statement is sent.  A read
 *           of K statements costs K round trips, not K + 2.
 * A statement that fails inside a transaction puts PostgreSQL's
 * transaction in an aborted state: the catalog undoes the failed call
 * with its savepoint (ROLLBACK TO), as with SQLite; a COMMIT of an
 * aborted transaction fails (it would silently roll back).
 *
 * Bounded waits.  Connecting waits at most connect_timeout; a lock at
 * most the busy timeout (lock_timeout); a statement at most the server's
 * statement_timeout (set to 60 s when the role or the connection string
 * set none); and the answer itself at most that plus 10 s, counted here
 * (the server may be stopped or cut off: then no timeout of its own
 * fires).  Past that the connection is dropped: ERR_TIMEOUT.  A session
 * idle inside a transaction for a minute is ended by the server
 * (idle_in_transaction_session_timeout), so a hung vmsnap process cannot
 * hold the writers' lock for ever, and client_connection_check_interval
 * makes the server notice a client that went away during a statement.
 *
 * A lost connection (the server restarted, the network broke) is
 * ERR_IO "catalog LABEL: WHAT: connection lost: MSG"; an open transaction
 * is over (active is false), and the next call connects again.  BEGIN
 * (with a read's first statement) is the one thing sent again on a new
 * connection at once when the old one turns out to be dead: nothing ran
 * yet, so the retry is safe, and every catalog call starts with it, so a
 * restart of PostgreSQL between two calls costs no error.  Connecting
 * again waits for a server that is away (refused, starting up, shutting
 * down) for at most PG_RECONNECT_MS (see pg_connect).
 *
 * Statements are not prepared on the server: each run sends its SQL
 * (with "?" and "?N" rewritten to "$N") and its parameters as text, so a
 * statement survives a reconnection, and runs fetch their whole result
 * (so the catalog can run other statements while it reads rows).
 * Integers are sent as int8, reals as float8, texts untyped (the server
 * types them from the context: a column, a comparison).  Results are
 * text; a boolean column reads as 1 or 0.
 *
 * The schema version lives in the table schema_version (application
 * "vmsnap", version), in the catalog's schema.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "cleanup.h"
#include "db.h"
#include "log.h"
#include "escape.h"
#include "sock.h"
#include "text.h"
#include "util.h"
#include "xalloc.h"

/* "vmsn": the first key of the writers' advisory lock. */
#define PG_LOCK_CLASS 0x766d736e
/* statement_timeout when nothing else sets one. */
#define PG_STATEMENT_TIMEOUT_MS 60000
/* How much longer than statement_timeout an answer may take. */
#define PG_ANSWER_GRACE_MS 10000
/* Bounds of the session settings. */
#define PG_IDLE_IN_TX_MS 60000
#define PG_CONNECTION_CHECK_MS 5000
/* How long a server that is away (restarting) is waited for. */
#define PG_RECONNECT_MS 20000
/* A read transaction: one snapshot, never waits for writers. */
#define PG_READ_BEGIN "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
/* Parameters of one statement at most. */
#define PG_MAX_PARAMS 999

/* The libpq types of parameters. */
#define PG_INT8OID 20
#define PG_FLOAT8OID 701

/* A connection. */
struct pg {
    PGconn *conn;              /* NULL while disconnected */
    char **keys;               /* the connection parameters, NULL-ended */
    char **values;             /* their values */
    int busy_ms;               /* lock_timeout */
    int answer_ms;             /* the longest wait for an answer */
    int32_t lock_key;          /* the second key of the writers' lock */
    int64_t changes;           /* rows the last write changed */
    bool tx_open;              /* begin succeeded, and no commit or
                                * rollback came yet: while it is set
                                * and the connection is gone, nothing
                                * may run (it would run outside the
                                * transaction the caller believes in) */
    bool connected_once;       /* a connection was made before */
    bool read_tx;              /* the open transaction is a read's */
    bool read_pending;         /* a read's BEGIN not sent yet: it goes
                                * with the transaction's first
                                * statement, in the same round trip */
    bool commit_sent;          /* a read's COMMIT sent, its answer not
                                * read yet (read before the next
                                * statement is sent) */
};

/* A statement. */
struct pg_stmt {
    struct db_stmt base;       /* first: the connection */
    char *sql;                 /* with $N placeholders */
    int nparams;               /* the highest N */
    char **values;             /* bound values as text, NULL for NULL */
    Oid *types;                /* their types, 0 to let the server pick */
    PGresult *res;             /* the result once run, or NULL */
    int row;                   /* the current row */
};

static struct pg *
pg_of(struct db *db)
{
    return db_priv(db);
}

static struct pg_stmt *
pg_stmt_of(struct db_stmt *st)
{
    return (struct pg_stmt *)st;
}

/* A message of libpq's as one safe line: its lines joined with "; ",
 * the rest escaped (caller frees).
 */
static char *
pg_msg(const char *s)
{
    CLEANUP_FREE char *line = xmalloc(2 * strlen(s ? s : "") + 1);
    size_t n = 0;

    for (; s && *s; s++) {
        if (*s != '\n') {
            line[n++] = *s;
            continue;
        }
        while (s[1] == ' ' || s[1] == '\t' || s[1] == '\n') {
            s++;
        }
        if (s[1] != '\0') {
            line[n++] = ';';
            line[n++] = ' ';
        }
    }
    line[n] = '\0';
    return escape_safe(line);
}

/* ---- Connecting ------------------------------------------------------- */

/* Parse TARGET into P's parameters, adding vmsnap's defaults, and set
 * DB's label from them (user@host:port/dbname, no password).
 */
static int
pg_parse(struct db *db, struct pg *p, const char *target,
         struct error **errp)
{
    PQconninfoOption *opts, *o;
    char *err = NULL;
    const char *user = "", *host = "", *port = "", *dbname = "";
    bool has_timeout = false, has_app = false;
    size_t n = 0, i = 0;
    CLEANUP_FREE char *label = NULL;

    opts = PQconninfoParse(target, &err);
    if (opts == NULL) {
        CLEANUP_FREE char *msg = pg_msg(err);

        /* Do not quote TARGET: it may hold a password. */
        error_setg(errp, ERR_INVALID, "catalog: not a PostgreSQL connection "
                   "string: %s", msg);
        PQfreemem(err);
        return -1;
    }
    for (o = opts; o->keyword; o++) {
        n += o->val != NULL;
    }
    p->keys = xcalloc(n + 3, sizeof(*p->keys));
    p->values = xcalloc(n + 3, sizeof(*p->values));
    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }
        p->keys[i] = xstrdup(o->keyword);
        p->values[i++] = xstrdup(o->val);
        has_timeout |= strcmp(o->keyword, "connect_timeout") == 0;
        has_app |= strcmp(o->keyword, "application_name") == 0;
        if (strcmp(o->keyword, "user") == 0) {
            user = o->val;
        } else if (strcmp(o->keyword, "host") == 0 ||
                   (strcmp(o->keyword, "hostaddr") == 0 && !*host)) {
            host = o->val;
        } else if (strcmp(o->keyword, "port") == 0) {
            port = o->val;
        } else if (strcmp(o->keyword, "dbname") == 0) {
            dbname = o->val;
        }
    }
    if (!has_timeout) {
        p->keys[i] = xstrdup("connect_timeout");
        p->values[i++] = xstrdup("10");
    }
    if (!has_app) {
        p->keys[i] = xstrdup("application_name");
        p->values[i++] = xstrdup("vmsnap");
    }
    label = xasprintf("postgresql://%s%s%s%s%s/%s", user, *user ? "@" : "",
                      host, *port ? ":" : "", port, dbname);
    {
        CLEANUP_FREE char *safe = escape_safe(label);

        db_set_label(db, safe);
    }
    PQconninfoFree(opts);
    return 0;
}

/* Close P's connection (an open transaction dies with it). */
static void
pg_drop(struct pg *p)
{
    if (p->conn != NULL) {
        PQfinish(p->conn);
        p->conn = NULL;
    }
    p->commit_sent = false;
}

static PGresult *pg_query(struct db *db, const char *sql, int n,
                          const Oid *types, const char *const *values,
                          const char *what, struct error **errp);

/* 32-bit FNV-1a of S: the writers' lock of the catalog in schema S. */
static int32_t
pg_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return (int32_t)h;
}

/* Set up a new session: the timeouts, and the schema whose hash keys the
 * writers' lock.
 */
static int
pg_session(struct db *db, struct error **errp)
{
    struct pg *p = pg_of(db);
    PGresult *res;
    int64_t stmt_ms = 0;
    char sql[256];

    res = pg_query(db, "SELECT current_schema(), setting FROM pg_settings "
                   "WHERE name = 'statement_timeout'", 0, NULL, NULL,
                   "set up the session", errp);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        error_setg(errp, ERR_INVALID, "catalog %s: no schema to keep the "
                   "catalog in (see search_path)", db_label(db));
        return -1;
    }
    p->lock_key = pg_hash(PQgetvalue(res, 0, 0));
    if (util_parse_int64(PQgetvalue(res, 0, 1), &stmt_ms, NULL) < 0 ||
        stmt_ms < 0 || stmt_ms > INT32_MAX / 2) {
        stmt_ms = 0;
    }
    PQclear(res);
    if (stmt_ms == 0) {
        stmt_ms = PG_STATEMENT_TIMEOUT_MS;
    }
    /* The settings are our own integers: no parameters needed. */
    snprintf(sql, sizeof(sql),
             "SET statement_timeout = %" PRId64 "; "
             "SET lock_timeout = %d; "
             "SET idle_in_transaction_session_timeout = %d; "
             "SET client_connection_check_interval = %d",
             stmt_ms, p->busy_ms > 0 ? p->busy_ms : 1, PG_IDLE_IN_TX_MS,
             PG_CONNECTION_CHECK_MS);
    p->answer_ms = (int)stmt_ms + PG_ANSWER_GRACE_MS;
    res = pg_query(db, sql, 0, NULL, NULL, "set up the session", errp);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}

/* The server's notices ("relation exists, skipping") are for debugging,
 * not for the user's terminal.
 */
static void
pg_notice(void *opaque, const char *message)
{
    CLEANUP_FREE char *msg = pg_msg(message);

    (void)opaque;
    log_debug("catalog", "server notice: %s", msg);
}

/* Does the failed connection attempt's message MSG say the server is
 * away for now (not listening, starting, stopping, recovering) rather
 * than refusing us (a password, a missing database)?
 */
static bool
pg_connect_transient(const char *msg)
{
    static const char *const words[] = {
        "Connection refused", "No such file or directory",
        "starting up", "shutting down", "not yet accepting",
        "recovery mode", "closed the connection", "terminating connection",
        "Connection reset",
    };
    size_t i;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strstr(msg, words[i]) != NULL) {
            return true;
        }
    }
    return false;
}

/* Does ERR (a failed connection attempt) come from a server that is
 * there but starting or stopping?
 */
static bool
pg_connect_starting(const struct error *err)
{
    const char *msg = error_msg(err);

    return strstr(msg, "starting up") != NULL ||
           strstr(msg, "shutting down") != NULL ||
           strstr(msg, "not yet accepting") != NULL ||
           strstr(msg, "recovery mode") != NULL;
}

/* One connection attempt (waits at most connect_timeout); with ERRP
 * set, *TRANSIENT says whether trying again soon may help.
 */
static int
pg_connect_once(struct db *db, bool *transient, struct error **errp)
{
    struct pg *p = pg_of(db);

    pg_drop(p);
    *transient = false;
    p->conn = PQconnectdbParams((const char *const *)p->keys,
                                (const char *const *)p->values, 0);
    if (p->conn == NULL) {
        xalloc_die();
    }
    if (PQstatus(p->conn) != CONNECTION_OK) {
        const char *raw = PQerrorMessage(p->conn);
        CLEANUP_FREE char *msg = pg_msg(raw);

        *transient = pg_connect_transient(raw);
        pg_drop(p);
        error_setg(errp, ERR_IO, "cannot connect to catalog %s: %s",
                   db_label(db), msg);
        return -1;
    }
    PQsetNoticeProcessor(p->conn, pg_notice, NULL);
    /* Until the session is set up, answers may take as long as a
     * connection.
     */
    p->answer_ms = PG_STATEMENT_TIMEOUT_MS + PG_ANSWER_GRACE_MS;
    if (pg_session(db, errp) < 0) {
        pg_drop(p);
        *transient = true;
        return -1;
    }
    return 0;
}

/* Connect P.  A server that is away for now (restarting: see
 * pg_connect_transient) is tried again, with a backoff from 100 ms to
 * 1 s, for PG_RECONNECT_MS in all; anything else fails at once, and so
 * does a first connection that finds nothing listening.  So a
 * restart of PostgreSQL costs the caller a short wait, not an error,
 * and a server that stays down an error within PG_RECONNECT_MS plus one
 * connect_timeout.
 */
static int
pg_connect(struct db *db, struct error **errp)
{
    struct pg *p = pg_of(db);
    int64_t deadline = sock_deadline(PG_RECONNECT_MS);
    int pause = 100, tries = 0;

    for (;;) {
        struct error *err = NULL;
        bool transient;

        tries++;
        if (pg_connect_once(db, &transient, &err) == 0) {
            p->connected_once = true;
            if (tries > 1) {
                log_debug("catalog", "%s: connected after %d tries",
                          db_label(db), tries);
            }
            return 0;
        }
        /* A first connection is not retried when nothing listens: a
         * wrong address fails at once; a server seen before is waited
         * for while it restarts.
         */
        if (!transient || sock_remaining_ms(deadline) <= 0 ||
            (!p->connected_once && !pg_connect_starting(err))) {
            if (tries > 1) {
                error_setg(errp, error_get_class(err), "%s (tried %d "
                           "times in %d s)", error_msg(err), tries,
                           PG_RECONNECT_MS / 1000);
                error_free(err);
                return -1;
            }
            error_propagate(errp, err);
            return -1;
        }
        log_debug("catalog", "%s; trying again", error_msg(err));
        error_free(err);
        sock_sleep_ms(pause, deadline);
        pause = pause * 2 > 1000 ? 1000 : pause * 2;
    }
}

/* Free P and close its connection; NULL is allowed. */
static void
pg_free(struct pg *p)
{
    size_t i;

    if (p == NULL) {
        return;
    }
    /* PQfinish ends the session, which rolls back what is open. */
    pg_drop(p);
    for (i = 0; p->keys && p->keys[i]; i++) {
        free(p->keys[i]);
        free(p->values[i]);
    }
    free(p->keys);
    free(p->values);
    free(p);
}

static int
pg_open(struct db *db, const char *target, int busy_ms, void **priv,
        struct error **errp)
{
    struct pg *p = xcalloc(1, sizeof(*p));

    *priv = p;
    p->busy_ms = busy_ms;
    if (pg_parse(db, p, target, errp) < 0 || pg_connect(db, errp) < 0) {
        pg_free(p);
        *priv = NULL;
        return -1;
    }
    return 0;
}

static void
pg_close(struct db *db)
{
    pg_free(pg_of(db));
}

static void
pg_set_busy_timeout(struct db *db, int ms)
{
    struct pg *p = pg_of(db);
    char sql[64];
    PGresult *res;

    p->busy_ms = ms;
    if (p->conn == NULL) {
        return;     /* set with the session, when it connects again */
    }
    snprintf(sql, sizeof(sql), "SET lock_timeout = %d", ms > 0 ? ms : 1);
    res = pg_query(db, sql, 0, NULL, NULL, "set the busy timeout", NULL);
    PQclear(res);
}

/* ---- Running statements ----------------------------------------------- */

/* Is SQLSTATE one of a lost connection or a server going away? */
static bool
pg_state_lost(const char *state)
{
    return state != NULL &&
           (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
            strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
            strcmp(state, "25P03") == 0);
}

/* Turn the failed result RES (or, with RES NULL, the connection's state)
 * of WHAT into an error (see db.h).  A dead connection is dropped.
 * Always returns -1.
 */
static int
pg_fail(struct db *db, const PGresult *res, const char *what,
        struct error **errp)
{
    struct pg *p = pg_of(db);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
                            : NULL;
    const char *primary = res ? PQresultErrorField(res,
                                                   PG_DIAG_MESSAGE_PRIMARY)
                              : NULL;
    CLEANUP_FREE char *msg = pg_msg(primary ? primary
                                    : p->conn ? PQerrorMessage(p->conn)
                                              : "no connection");
    bool lost = p->conn == NULL || PQstatus(p->conn) != CONNECTION_OK ||
                pg_state_lost(state);

    if (lost) {
        pg_drop(p);
        error_setg(errp, ERR_IO, "catalog %s: %s: connection lost: %s",
                   db_label(db), what, msg);
    } else if (state && (strcmp(state, "40001") == 0 ||
                         strcmp(state, "40P01") == 0 ||
                         strcmp(state, "55P03") == 0)) {
        error_setg(errp, ERR_CONFLICT, "catalog is busy");
    } else if (state && strncmp(state, "23", 2) == 0) {
        error_setg(errp, ERR_CONFLICT, "catalog %s: %s: %s", db_label(db),
                   what, msg);
    } else if (state && strcmp(state, "57014") == 0) {
        error_setg(errp, ERR_TIMEOUT, "catalog %s: %s: %s (the server's "
                   "statement_timeout)", db_label(db), what, msg);
    } else {
        error_setg(errp, ERR_IO, "catalog %s: %s: %s", db_label(db), what,
                   msg);
    }
    return -1;
}

/* Wait until P's connection has a whole result ready, until DEADLINE.
 * 0 when ready, -1 when the connection broke, -2 at the deadline.
 */
static int
pg_wait(struct pg *p, int64_t deadline)
{
    while (PQisBusy(p->conn)) {
        struct pollfd pfd = { PQsocket(p->conn), POLLIN, 0 };
        int r;

        if (pfd.fd < 0) {
            return -1;
        }
        r = poll(&pfd, 1, sock_remaining_ms(deadline));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            return -2;
        }
        if (!PQconsumeInput(p->conn)) {
            return -1;
        }
    }
    return 0;
}

/* Read the answer to a read's COMMIT that pg_commit sent without
 * waiting.  A read changed nothing, so its COMMIT's answer matters only
 * to keep the connection in step: a failure drops the connection.
 */
static void
pg_commit_answer(struct pg *p)
{
    int64_t deadline = sock_deadline(p->answer_ms);
    PGresult *res;

    p->commit_sent = false;
    for (;;) {
        if (pg_wait(p, deadline) < 0) {
            pg_drop(p);
            return;
        }
        res = PQgetResult(p->conn);
        if (res == NULL) {
            return;
        }
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            CLEANUP_FREE char *msg = pg_msg(PQresultErrorMessage(res));

            log_debug("catalog", "commit of a read: %s", msg);
        }
        PQclear(res);
    }
}

/* Send SQL as pg_query does; with BEGIN, a read's BEGIN first, in the
 * same round trip (a simple query of both, or a pipeline of two).
 */
static bool
pg_send(struct pg *p, const char *sql, int n, const Oid *types,
        const char *const *values, bool begin)
{
    if (!begin) {
        return n > 0 ? PQsendQueryParams(p->conn, sql, n, types, values,
                                         NULL, NULL, 0)
                     : PQsendQuery(p->conn, sql);
    }
    if (n == 0) {
        CLEANUP_FREE char *both = xasprintf("%s; %s", PG_READ_BEGIN, sql);

        return PQsendQuery(p->conn, both);
    }
    return PQenterPipelineMode(p->conn) &&
           PQsendQueryParams(p->conn, PG_READ_BEGIN, 0, NULL, NULL, NULL,
                             NULL, 0) &&
           PQsendQueryParams(p->conn, sql, n, types, values, NULL, NULL,
                             0) &&
           PQpipelineSync(p->conn);
}

/* Run SQL with N parameters (VALUES, as text, with TYPES; N == 0 sends it
 * as a simple query, which may hold several statements) and wait for its
 * results, at most answer_ms.  Connects first if there is no connection.
 * The first statement of a read transaction carries its BEGIN; when the
 * connection turns out dead then, both are sent again once on a new
 * connection (nothing ran yet).  Returns the last result, or the first
 * failed one as an error (see pg_fail), or NULL with ERR_TIMEOUT when no
 * answer came in time (the connection is dropped).  Caller frees with
 * PQclear.
 */
static PGresult *
pg_query(struct db *db, const char *sql, int n, const Oid *types,
         const char *const *values, const char *what, struct error **errp)
{
    struct pg *p = pg_of(db);
    PGresult *last = NULL, *bad = NULL, *res;
    int64_t deadline;
    int w = 0;
    bool begin, pipelined, had_conn;

    if (p->conn != NULL && p->commit_sent) {
        pg_commit_answer(p);
    }
again:
    begin = p->read_pending;
    p->read_pending = false;
    if (p->conn == NULL && p->tx_open && !begin) {
        error_setg(errp, ERR_IO, "catalog %s: %s: connection lost during "
                   "the transaction", db_label(db), what);
        return NULL;
    }
    had_conn = p->conn != NULL;
    if (p->conn == NULL && pg_connect(db, errp) < 0) {
        return NULL;
    }
    deadline = sock_deadline(p->answer_ms);
    pipelined = begin && n > 0;
    if (!pg_send(p, sql, n, types, values, begin)) {
        pg_fail(db, NULL, what, errp);
        if (pipelined) {
            pg_drop(p);     /* left in pipeline mode */
        }
        return NULL;
    }
    for (;;) {
        w = pg_wait(p, deadline);
        if (w < 0) {
            break;
        }
        res = PQgetResult(p->conn);
        if (res == NULL) {
            if (pipelined) {
                continue;       /* the end of one query of the pipeline */
            }
            break;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            if (!PQexitPipelineMode(p->conn)) {
                w = -1;
            }
            break;
        }
        switch (PQresultStatus(res)) {
        case PGRES_PIPELINE_ABORTED:
            break;      /* after a failure, which bad holds */
        case PGRES_FATAL_ERROR:
        case PGRES_BAD_RESPONSE:
        case PGRES_NONFATAL_ERROR:
            if (bad == NULL) {
                bad = res;
                res = NULL;
            }
            break;
        default:
            PQclear(last);
            last = res;
            res = NULL;
            break;
        }
        PQclear(res);
    }
    if (w == -1 && p->conn != NULL &&
        PQpipelineStatus(p->conn) != PQ_PIPELINE_OFF) {
        pg_drop(p);         /* a pipeline that did not end cleanly */
    }
    if (w == -2) {
        PQclear(last);
        PQclear(bad);
        pg_drop(p);
        error_setg(errp, ERR_TIMEOUT, "catalog %s: %s: no answer from the "
                   "server within %d s", db_label(db), what,
                   p->answer_ms / 1000);
        return NULL;
    }
    if (w == -1 || bad != NULL) {
        struct error *err = NULL;

        PQclear(last);
        pg_fail(db, bad, what, &err);
        PQclear(bad);
        if (begin && had_conn && p->conn == NULL &&
            error_get_class(err) == ERR_IO) {
            /* The session died while idle (a restart): BEGIN and the
             * read were not run; send them on a new connection.
             */
            log_debug("catalog", "%s; connecting again", error_msg(err));
            error_free(err);
            last = bad = NULL;
            p->read_pending = true;
            goto again;
        }
        error_propagate(errp, err);
        return NULL;
    }
    if (last == NULL) {
        /* An empty query. */
        last = PQmakeEmptyPGresult(p->conn, PGRES_EMPTY_QUERY);
        if (last == NULL) {
            xalloc_die();
        }
    }
    return last;
}

static void pg_count(struct pg *p, PGresult *res);

/* Run fixed SQL; note the rows a write changed. */
static int
pg_exec(struct db *db, const char *sql, struct error **errp)
{
    PGresult *res = pg_query(db, sql, 0, NULL, NULL, "exec", errp);

    if (res == NULL) {
        return -1;
    }
    pg_count(pg_of(db), res);
    PQclear(res);
    return 0;
}

/* Rewrite the "?" and "?N" placeholders of SQL, outside string literals
 * and quoted names, to "$N".  *NPARAMS is the highest N.
 */
static char *
pg_rewrite(const char *sql, int *nparams, struct error **errp)
{
    size_t len = strlen(sql);
    char *out = xmalloc(len * 4 + 1);
    char *o = out;
    const char *s = sql;
    int next = 0, max = 0;
    char quote = 0;

    while (*s) {
        if (quote) {
            if (*s == quote) {
                quote = 0;
            }
            *o++ = *s++;
            continue;
        }
        if (*s == '\'' || *s == '"') {
            quote = *s;
            *o++ = *s++;
            continue;
        }
        if (*s != '?') {
            *o++ = *s++;
            continue;
        }
        s++;
        if (*s >= '1' && *s <= '9') {
            char *end;
            long v = strtol(s, &end, 10);

            s = end;
            if (v > PG_MAX_PARAMS) {
                free(out);
                error_setg(errp, ERR_INVALID, "catalog: parameter ?%ld out "
                           "of range", v);
                return NULL;
            }
            next = (int)v;
        } else {
            next++;
        }
        if (next > PG_MAX_PARAMS) {
            free(out);
            error_setg(errp, ERR_INVALID, "catalog: too many parameters");
            return NULL;
        }
        max = next > max ? next : max;
        o += snprintf(o, 5, "$%d", next);
    }
    *o = '\0';
    *nparams = max;
    return out;
}

static int
pg_prepare(struct db *db, const char *sql, struct db_stmt **out,
           struct error **errp)
{
    struct pg_stmt *s = xcalloc(1, sizeof(*s));

    s->sql = pg_rewrite(sql, &s->nparams, errp);
    if (s->sql == NULL) {
        free(s);
        return -1;
    }
    s->values = xcalloc(s->nparams + 1, sizeof(*s->values));
    s->types = xcalloc(s->nparams + 1, sizeof(*s->types));
    s->base.db = db;
    s->row = -1;
    *out = &s->base;
    return 0;
}

static void
pg_finalize(struct db_stmt *st)
{
    struct pg_stmt *s = pg_stmt_of(st);
    int i;

    PQclear(s->res);
    for (i = 0; i < s->nparams; i++) {
        free(s->values[i]);
    }
    free(s->values);
    free(s->types);
    free(s->sql);
    free(s);
}

/* Bind parameter I of ST to TEXT (taken over; NULL binds NULL) of TYPE. */
static int
pg_bind(struct db_stmt *st, int i, char *text, Oid type,
        struct error **errp)
{
    struct pg_stmt *s = pg_stmt_of(st);

    if (i < 1 || i > s->nparams) {
        free(text);
        error_setg(errp, ERR_INVALID, "catalog %s: bind: no parameter %d",
                   db_label(st->db), i);
        return -1;
    }
    free(s->values[i - 1]);
    s->values[i - 1] = text;
    s->types[i - 1] = type;
    return 0;
}

static int
pg_bind_null(struct db_stmt *st, int i, struct error **errp)
{
    return pg_bind(st, i, NULL, 0, errp);
}

static int
pg_bind_int64(struct db_stmt *st, int i, int64_t v, struct error **errp)
{
    return pg_bind(st, i, xasprintf("%" PRId64, v), PG_INT8OID, errp);
}

static int
pg_bind_double(struct db_stmt *st, int i, double v, struct error **errp)
{
    return pg_bind(st, i, xasprintf("%.17g", v), PG_FLOAT8OID, errp);
}

static int
pg_bind_text(struct db_stmt *st, int i, const char *s, struct error **errp)
{
    return pg_bind(st, i, s ? xstrdup(s) : NULL, 0, errp);
}

/* Note the rows RES changed when it is a write's. */
static void
pg_count(struct pg *p, PGresult *res)
{
    const char *status = PQcmdStatus(res);
    int64_t n;

    if (strncmp(status, "INSERT", 6) == 0 ||
        strncmp(status, "UPDATE", 6) == 0 ||
        strncmp(status, "DELETE", 6) == 0) {
        n = 0;
        if (util_parse_int64(PQcmdTuples(res), &n, NULL) == 0) {
            p->changes = n;
        }
    }
}

static int
pg_step(struct db_stmt *st, struct error **errp)
{
    struct pg_stmt *s = pg_stmt_of(st);

    if (s->res == NULL) {
        s->res = pg_query(st->db, s->sql, s->nparams, s->types,
                          (const char *const *)s->values, "step", errp);
        if (s->res == NULL) {
            return -1;
        }
        pg_count(pg_of(st->db), s->res);
        s->row = -1;
    }
    if (s->row + 1 < PQntuples(s->res)) {
        s->row++;
        return 1;
    }
    s->row = PQntuples(s->res);
    return 0;
}

static int
pg_reset(struct db_stmt *st, struct error **errp)
{
    struct pg_stmt *s = pg_stmt_of(st);

    (void)errp;
    PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    return 0;
}

/* The value of column COL of the current row, or NULL. */
static const char *
pg_value(struct db_stmt *st, int col)
{
    struct pg_stmt *s = pg_stmt_of(st);

    if (s->res == NULL || s->row < 0 || s->row >= PQntuples(s->res) ||
        col < 0 || col >= PQnfields(s->res) ||
        PQgetisnull(s->res, s->row, col)) {
        return NULL;
    }
    return PQgetvalue(s->res, s->row, col);
}

static bool
pg_column_null(struct db_stmt *st, int col)
{
    return pg_value(st, col) == NULL;
}

static int64_t
pg_column_int64(struct db_stmt *st, int col)
{
    const char *v = pg_value(st, col);
    int64_t n = 0;

    if (v == NULL) {
        return 0;
    }
    if (strcmp(v, "t") == 0) {
        return 1;
    }
    if (util_parse_int64(v, &n, NULL) < 0) {
        /* A real or numeric: SQLite reads its integer part. */
        return (int64_t)strtod(v, NULL);
    }
    return n;
}

static double
pg_column_double(struct db_stmt *st, int col)
{
    const char *v = pg_value(st, col);

    return v ? strtod(v, NULL) : 0.0;
}

static const char *
pg_column_text(struct db_stmt *st, int col)
{
    return pg_value(st, col);
}

static int64_t
pg_changes(struct db *db)
{
    return pg_of(db)->changes;
}

/* ---- Transactions ----------------------------------------------------- */

/* Is a transaction open on P's connection (also one a failed statement
 * aborted, which ROLLBACK TO can save)?
 */
static bool
pg_in_tx(struct pg *p)
{
    PGTransactionStatusType t;

    if (p->conn == NULL || PQstatus(p->conn) != CONNECTION_OK) {
        return false;
    }
    t = PQtransactionStatus(p->conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

static int
pg_begin(struct db *db, bool write, struct error **errp)
{
    struct pg *p = pg_of(db);
    char sql[256];
    int attempt;

    /* A transaction the caller gave up on (its connection lost) is
     * over: the catalog begins only when none is open.
     */
    p->tx_open = false;
    p->read_pending = false;
    p->read_tx = !write;
    if (!write) {
        /* Sent with the first statement (pg_query): a read costs no
         * round trip of its own to begin.
         */
        p->tx_open = true;
        p->read_pending = true;
        return 0;
    } else if (p->busy_ms > 0) {
        snprintf(sql, sizeof(sql), "BEGIN ISOLATION LEVEL READ COMMITTED; "
                 "SELECT pg_advisory_xact_lock(%d, %" PRId32 ")",
                 PG_LOCK_CLASS, p->lock_key);
    } else {
        snprintf(sql, sizeof(sql), "BEGIN ISOLATION LEVEL READ COMMITTED; "
                 "SELECT pg_try_advisory_xact_lock(%d, %" PRId32 ")",
                 PG_LOCK_CLASS, p->lock_key);
    }
    for (attempt = 0; attempt < 2; attempt++) {
        struct error *err = NULL;
        bool had_conn = p->conn != NULL;
        PGresult *res = pg_query(db, sql, 0, NULL, NULL, "begin", &err);

        if (res != NULL) {
            bool got = !write || p->busy_ms > 0 ||
                       (PQntuples(res) == 1 &&
                        strcmp(PQgetvalue(res, 0, 0), "t") == 0);

            PQclear(res);
            if (!got) {
                pg_exec(db, "ROLLBACK", NULL);
                error_setg(errp, ERR_CONFLICT, "catalog is busy");
                return -1;
            }
            p->tx_open = true;
            return 0;
        }
        /* A session that died while idle (a restart of the server)
         * shows only now: BEGIN changed nothing, so try once on a new
         * connection.
         */
        if (attempt == 0 && had_conn && p->conn == NULL &&
            error_get_class(err) == ERR_IO) {
            log_debug("catalog", "%s; connecting again", error_msg(err));
            error_free(err);
            continue;
        }
        if (pg_in_tx(p)) {
            pg_exec(db, "ROLLBACK", NULL);
        }
        error_propagate(errp, err);
        return -1;
    }
    return -1;
}

static int
pg_commit(struct db *db, struct error **errp)
{
    struct pg *p = pg_of(db);
    PGresult *res;
    bool rolled_back;

    if (p->read_pending) {
        /* A read that ran nothing: nothing was sent. */
        p->read_pending = false;
        p->tx_open = false;
        return 0;
    }
    if (p->conn == NULL) {
        p->tx_open = false;
        error_setg(errp, ERR_IO, "catalog %s: commit: connection lost "
                   "during the transaction", db_label(db));
        return -1;
    }
    p->tx_open = false;
    if (PQtransactionStatus(p->conn) == PQTRANS_INERROR) {
        pg_exec(db, "ROLLBACK", NULL);
        error_setg(errp, ERR_IO, "catalog %s: commit: the transaction was "
                   "rolled back after an error", db_label(db));
        return -1;
    }
    if (p->read_tx &&
        PQtransactionStatus(p->conn) == PQTRANS_INTRANS) {
        /* A read changed nothing: its COMMIT only ends the snapshot.
         * Its answer is read before the next statement, so a read
         * costs no round trip of its own to end.
         */
        if (PQsendQuery(p->conn, "COMMIT")) {
            p->commit_sent = true;
            return 0;
        }
    }
    res = pg_query(db, "COMMIT", 0, NULL, NULL, "commit", errp);
    if (res == NULL) {
        if (pg_in_tx(p)) {
            pg_exec(db, "ROLLBACK", NULL);
        }
        return -1;
    }
    rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back) {
        error_setg(errp, ERR_IO, "catalog %s: commit: the transaction was "
                   "rolled back after an error", db_label(db));
        return -1;
    }
    return 0;
}

static void
pg_rollback(struct db *db)
{
    struct error *err = NULL;

    pg_of(db)->tx_open = false;
    pg_of(db)->read_pending = false;
    if (!pg_in_tx(pg_of(db))) {
        return;     /* the connection or the server ended it */
    }
    if (pg_exec(db, "ROLLBACK", &err) < 0) {
        log_warnx("%s", error_msg(err));
        error_free(err);
    }
}

static int
pg_savepoint(struct db *db, struct error **errp)
{
    return pg_exec(db, "SAVEPOINT vmsnap", errp);
}

static int
pg_release(struct db *db, struct error **errp)
{
    return pg_exec(db, "RELEASE SAVEPOINT vmsnap", errp);
}

static int
pg_rollback_to(struct db *db, struct error **errp)
{
    return pg_exec(db, "ROLLBACK TO SAVEPOINT vmsnap; "
                   "RELEASE SAVEPOINT vmsnap", errp);
}

static bool
pg_active(struct db *db)
{
    return pg_of(db)->read_pending || pg_in_tx(pg_of(db));
}

/* ---- Schema ----------------------------------------------------------- */

static int
pg_schema_version(struct db *db, int *version, struct error **errp)
{
    PGresult *res;
    int64_t v = 0, ntables = 0;
    bool has_table;

    res = pg_query(db, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables "
                   "WHERE schemaname = current_schema() AND tablename = "
                   "'schema_version'), (SELECT count(*) FROM "
                   "pg_catalog.pg_tables WHERE schemaname = "
                   "current_schema())", 0, NULL, NULL, "schema version",
                   errp);
    if (res == NULL) {
        return -1;
    }
    has_table = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0),
                                              "t") == 0;
    if (PQntuples(res) == 1) {
        util_parse_int64(PQgetvalue(res, 0, 1), &ntables, NULL);
    }
    PQclear(res);
    if (!has_table) {
        if (ntables > 0) {
            error_setg(errp, ERR_INVALID, "%s is not a vmsnap catalog",
                       db_label(db));
            return -1;
        }
        *version = 0;
        return 0;
    }
    res = pg_query(db, "SELECT application, version FROM schema_version",
                   0, NULL, NULL, "schema version", errp);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "vmsnap") ||
        util_parse_int64(PQgetvalue(res, 0, 1), &v, NULL) < 0 || v < 0 ||
        v > 1000000) {
        PQclear(res);
        error_setg(errp, ERR_INVALID, "%s is not a vmsnap catalog",
                   db_label(db));
        return -1;
    }
    PQclear(res);
    *version = (int)v;
    return 0;
}

static int
pg_set_schema_version(struct db *db, int version, struct error **errp)
{
    char sql[256];

    /* Our own integer: no parameter needed. */
    snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS schema_version ("
             "application TEXT NOT NULL, version BIGINT NOT NULL); "
             "DELETE FROM schema_version; "
             "INSERT INTO schema_version VALUES ('vmsnap', %d)", version);
    return pg_exec(db, sql, errp);
}

/* PostgreSQL's own pieces of the schema migrations, by version. */
static int
pg_migrate(struct db *db, int version, struct error **errp)
{
    switch (version) {
    case 3:
        /* Insertion order becomes the column seq.  PostgreSQL has no
         * rowid; the physical order (ctid) of rows that were only ever
         * inserted is the order of insertion, the closest it has.
         */
        return pg_exec(db,
                       "UPDATE images SET seq = t.n FROM (SELECT id, "
                       "row_number() OVER (ORDER BY ctid) AS n FROM images) "
                       "AS t WHERE images.id = t.id;"
                       "UPDATE instances SET seq = t.n FROM (SELECT id, "
                       "row_number() OVER (ORDER BY ctid) AS n FROM "
                       "instances) AS t WHERE instances.id = t.id;"
                       "UPDATE volumes SET seq = t.n FROM (SELECT id, "
                       "row_number() OVER (ORDER BY ctid) AS n FROM volumes) "
                       "AS t WHERE volumes.id = t.id;"
                       "UPDATE volume_snapshots SET seq = t.n FROM (SELECT "
                       "id, row_number() OVER (ORDER BY ctid) AS n FROM "
                       "volume_snapshots) AS t "
                       "WHERE volume_snapshots.id = t.id;", errp);
    default:
        return 0;
    }
}

/* PostgreSQL checks pages and constraints itself; what can go wrong
 * beyond that is an index left invalid by a failed build.
 */
static int
pg_check(struct db *db, struct error **errp)
{
    PGresult *res;
    bool bad;
    CLEANUP_FREE char *name = NULL;

    res = pg_query(db, "SELECT c.relname FROM pg_catalog.pg_index AS i "
                   "JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid "
                   "JOIN pg_catalog.pg_namespace AS n "
                   "ON n.oid = c.relnamespace "
                   "WHERE n.nspname = current_schema() AND "
                   "NOT (i.indisvalid AND i.indisready)", 0, NULL, NULL,
                   "check", errp);
    if (res == NULL) {
        return -1;
    }
    bad = PQntuples(res) > 0;
    if (bad) {
        name = pg_msg(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    if (bad) {
        error_setg(errp, ERR_IO, "catalog is damaged: index %s is invalid",
                   name);
        return -1;
    }
    return 0;
}

static int
pg_now_ms(struct db *db, int64_t *out, struct error **errp)
{
    PGresult *res;
    int r;

    res = pg_query(db, "SELECT CAST(floor(extract(epoch FROM "
                   "clock_timestamp()) * 1000) AS BIGINT)", 0, NULL, NULL,
                   "read the clock", errp);
    if (res == NULL) {
        return -1;
    }
    r = PQntuples(res) == 1 ? util_parse_int64(PQgetvalue(res, 0, 0), out,
                                               NULL)
                            : -1;
    PQclear(res);
    if (r < 0) {
        error_setg(errp, ERR_IO, "catalog %s: read the clock: no time",
                   db_label(db));
    }
    return r;
}

const struct db_ops db_pg_ops = {
    .version = DB_OPS_VERSION,
    .name = "pg",
    .open = pg_open,
    .close = pg_close,
    .set_busy_timeout = pg_set_busy_timeout,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .bind_null = pg_bind_null,
    .bind_int64 = pg_bind_int64,
    .bind_double = pg_bind_double,
    .bind_text = pg_bind_text,
    .step = pg_step,
    .reset = pg_reset,
    .column_null = pg_column_null,
    .column_int64 = pg_column_int64,
    .column_double = pg_column_double,
    .column_text = pg_column_text,
    .changes = pg_changes,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .savepoint = pg_savepoint,
    .release = pg_release,
    .rollback_to = pg_rollback_to,
    .active = pg_active,
    .schema_version = pg_schema_version,
    .set_schema_version = pg_set_schema_version,
    .migrate = pg_migrate,
    .check = pg_check,
    .now_ms = pg_now_ms,
};
