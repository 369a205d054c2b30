/* vmsnap: leases in the catalog (see catalog-leases.h).
 *
 * Every change is one write transaction, so it is serialised with every
 * other writer of the catalog: a take reads the row and replaces it under
 * the writers' lock, and two hosts can never both win.  Expiry is
 * compared with the database's clock, read inside that transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"
#include "escape.h"
#include "text.h"
#include "xalloc.h"

#define CAT_LEASE_NAME_MAX 64

/* Check that S, the kind or ID of a lease, is a plain word. */
static int
cat_lease_word(const char *what, const char *s, struct error **errp)
{
    size_t n = s ? strspn(s, "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
                 : 0;

    if (s == NULL || *s == '\0' || s[n] != '\0' ||
        n > CAT_LEASE_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "bad lease %s '%s'", what,
                   s ? s : "");
        return -1;
    }
    return 0;
}

static int
cat_lease_names(const char *kind, const char *id, struct error **errp)
{
    if (cat_lease_word("kind", kind, errp) < 0 ||
        cat_lease_word("ID", id, errp) < 0) {
        return -1;
    }
    return 0;
}

/* The database's clock (db.h). */
static int
cat_lease_now(struct catalog *cat, int64_t *now, struct error **errp)
{
    return db_now_ms(cat->db, now, errp);
}

void
lease_free(struct lease *l)
{
    if (l == NULL) {
        return;
    }
    free(l->kind);
    free(l->id);
    free(l->host);
    free(l->started);
    free(l);
}

/* Read lease KIND/ID (in the open transaction) into *OUT, NULL when there
 * is none.
 */
static int
cat_lease_read_locked(struct catalog *cat, const char *kind, const char *id,
                      struct lease **out, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    struct lease *l;
    int64_t now;
    int r;

    *out = NULL;
    if (cat_lease_now(cat, &now, errp) < 0) {
        return -1;
    }
    st = cat_prepare(cat, "SELECT host, pid, started, token, expires_ms "
                     "FROM leases WHERE kind = ?1 AND id = ?2", errp);
    if (st == NULL || cat_bind(st, errp, "ss", kind, id) < 0 ||
        (r = cat_step(st, errp)) < 0) {
        return -1;
    }
    if (r == 0) {
        return 0;
    }
    l = xcalloc(1, sizeof(*l));
    l->kind = xstrdup(kind);
    l->id = xstrdup(id);
    l->host = xstrdup(db_column_text(st, 0) ? db_column_text(st, 0) : "");
    l->pid = db_column_int64(st, 1);
    l->started = xstrdup(db_column_text(st, 2) ? db_column_text(st, 2)
                                                : "");
    l->token = db_column_int64(st, 3);
    l->remaining_ms = db_column_int64(st, 4) - now;
    *out = l;
    return 0;
}

/* Is L (not NULL) held by a live holder, as ME on its host sees it? */
static bool
cat_lease_live(const struct lease *l, const struct lease_owner *me,
               lease_alive_fn *alive, void *opaque)
{
    if (l->remaining_ms <= 0) {
        return false;
    }
    if (me != NULL && alive != NULL && strcmp(l->host, me->host) == 0) {
        return alive(l->pid, l->started, opaque);
    }
    return true;
}

static int
cat_lease_take_locked(struct catalog *cat, const char *kind, const char *id,
                      const struct lease_owner *me, int ttl_ms,
                      lease_alive_fn *alive, void *opaque, int64_t *token,
                      struct error **errp)
{
    struct lease *old = NULL;
    int64_t now, seq;

    if (cat_lease_read_locked(cat, kind, id, &old, errp) < 0) {
        return -1;
    }
    if (old != NULL && cat_lease_live(old, me, alive, opaque)) {
        error_setg(errp, ERR_CONFLICT, "%s %s is busy (held by %s pid "
                   "%lld)", kind, id, old->host, (long long)old->pid);
        lease_free(old);
        return -1;
    }
    lease_free(old);
    if (cat_next_seq_locked(cat, &seq, errp) < 0 ||
        cat_lease_now(cat, &now, errp) < 0) {
        return -1;
    }
    if (cat_exec_bound(cat, "INSERT INTO leases (kind, id, host, pid, "
                       "started, token, taken_ms, expires_ms) VALUES (?1, "
                       "?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (kind, id) "
                       "DO UPDATE SET host = excluded.host, pid = "
                       "excluded.pid, started = excluded.started, token = "
                       "excluded.token, taken_ms = excluded.taken_ms, "
                       "expires_ms = excluded.expires_ms", errp, "sssls"
                       "lll", kind, id, me->host, me->pid, me->started, seq,
                       now, now + ttl_ms) < 0) {
        return -1;
    }
    *token = seq;
    return 0;
}

int
catalog_lease_take(struct catalog *cat, const char *kind, const char *id,
                   const struct lease_owner *me, int ttl_ms,
                   lease_alive_fn *alive, void *opaque, int64_t *token,
                   struct error **errp)
{
    if (cat_lease_names(kind, id, errp) < 0) {
        return -1;
    }
    if (me == NULL || me->host == NULL || *me->host == '\0' ||
        strlen(me->host) > CATALOG_NAME_MAX || !escape_is_safe(me->host) ||
        me->started == NULL || ttl_ms <= 0) {
        error_setg(errp, ERR_INVALID, "a lease needs a holder and a time");
        return -1;
    }
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_lease_take_locked(cat, kind, id, me, ttl_ms,
                                                 alive, opaque, token, errp),
                      errp);
}

/* ERR_CONFLICT "KIND ID: lease lost".  Returns -1. */
static int
cat_lease_lost(const char *kind, const char *id, struct error **errp)
{
    error_setg(errp, ERR_CONFLICT, "%s %s: lease lost", kind, id);
    return -1;
}

static int
cat_lease_renew_locked(struct catalog *cat, const char *kind,
                       const char *id, int64_t token, int ttl_ms,
                       struct error **errp)
{
    int64_t now;

    if (cat_lease_now(cat, &now, errp) < 0 ||
        cat_exec_bound(cat, "UPDATE leases SET expires_ms = ?4 WHERE kind = "
                       "?1 AND id = ?2 AND token = ?3", errp, "ssll", kind,
                       id, token, now + ttl_ms) < 0) {
        return -1;
    }
    if (cat_changes(cat) == 0) {
        return cat_lease_lost(kind, id, errp);
    }
    return 0;
}

int
catalog_lease_renew(struct catalog *cat, const char *kind, const char *id,
                    int64_t token, int ttl_ms, struct error **errp)
{
    if (cat_lease_names(kind, id, errp) < 0) {
        return -1;
    }
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_lease_renew_locked(cat, kind, id, token,
                                                  ttl_ms, errp), errp);
}

int
catalog_lease_release(struct catalog *cat, const char *kind, const char *id,
                      int64_t token, struct error **errp)
{
    if (cat_lease_names(kind, id, errp) < 0) {
        return -1;
    }
    return cat_exec_count(cat, errp, "DELETE FROM leases WHERE kind = ?1 "
                          "AND id = ?2 AND token = ?3", "ssl", kind, id,
                          token) < 0 ? -1 : 0;
}

static int
cat_lease_check_locked(struct catalog *cat, const char *kind,
                       const char *id, int64_t token, struct error **errp)
{
    struct lease *l = NULL;
    bool mine;

    if (cat_lease_read_locked(cat, kind, id, &l, errp) < 0) {
        return -1;
    }
    mine = l != NULL && l->token == token && l->remaining_ms > 0;
    lease_free(l);
    return mine ? 0 : cat_lease_lost(kind, id, errp);
}

int
catalog_lease_check(struct catalog *cat, const char *kind, const char *id,
                    int64_t token, struct error **errp)
{
    if (cat_lease_names(kind, id, errp) < 0) {
        return -1;
    }
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_lease_check_locked(cat, kind, id, token,
                                                  errp), errp);
}

int
catalog_lease_held(struct catalog *cat, const char *kind, const char *id,
                   const struct lease_owner *me, lease_alive_fn *alive,
                   void *opaque, struct error **errp)
{
    struct lease *l = NULL;
    int r;

    if (cat_lease_names(kind, id, errp) < 0) {
        return -1;
    }
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_tx_end_read(cat, cat_lease_read_locked(cat, kind, id, &l,
                                                   errp)) < 0) {
        return -1;
    }
    r = l != NULL && cat_lease_live(l, me, alive, opaque);
    lease_free(l);
    return r;
}

int
catalog_lease_get(struct catalog *cat, const char *kind, const char *id,
                  struct lease **out, struct error **errp)
{
    if (cat_lease_names(kind, id, errp) < 0) {
        return -1;
    }
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    if (cat_tx_end_read(cat, cat_lease_read_locked(cat, kind, id, out,
                                                   errp)) < 0) {
        return -1;
    }
    if (*out == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "no lease %s %s", kind, id);
        return -1;
    }
    return 0;
}
