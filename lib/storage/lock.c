/* vmsnap: locks, dispatched to their implementation (see lock.h). */
#include <string.h>

#include "lock-internal.h"

int
lock_check_name(const char *s, struct error **errp)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

    if (*s == '\0' || s[n] != '\0' || n > 64) {
        error_setg(errp, ERR_INVALID, "bad lock name '%s'", s);
        return -1;
    }
    return 0;
}

void
locks_close(struct locks *l)
{
    if (l != NULL) {
        l->ops->close(l);
    }
}

const char *
locks_kind(const struct locks *l)
{
    return l->ops->kind;
}

int
lock_take(struct locks *l, const char *kind, const char *id, bool wait,
          struct lock **out, struct error **errp)
{
    if (lock_check_name(kind, errp) < 0 || lock_check_name(id, errp) < 0) {
        return -1;
    }
    return l->ops->take(l, kind, id, wait, out, errp);
}

void
lock_release(struct lock *lk)
{
    if (lk != NULL) {
        lk->l->ops->release(lk);
    }
}

int
lock_held(struct locks *l, const char *kind, const char *id,
          struct error **errp)
{
    if (lock_check_name(kind, errp) < 0 || lock_check_name(id, errp) < 0) {
        return -1;
    }
    return l->ops->held(l, kind, id, errp);
}

int
lock_check(struct lock *lk, struct error **errp)
{
    return lk->l->ops->check(lk, errp);
}

int
lock_fence(struct lock *lk, struct catalog *cat, struct error **errp)
{
    return lk->l->ops->fence(lk, cat, errp);
}

int
locks_sweep(struct locks *l, bool remove,
            void (*fn)(const char *name, void *opaque), void *opaque,
            struct error **errp)
{
    if (l->ops->sweep == NULL) {
        return 0;
    }
    return l->ops->sweep(l, remove, fn, opaque, errp);
}
