/* vmsnap: what the lock implementations share (lock.c, lock-file.c,
 * lock-lease.c; not for other modules).
 */
#ifndef VMSNAP_LOCK_INTERNAL_H
#define VMSNAP_LOCK_INTERNAL_H

#include "lock.h"

/* An implementation; every method as its lock.h counterpart. */
struct locks_ops {
    const char *kind;        /* "file", "lease" */
    int (*take)(struct locks *l, const char *kind, const char *id,
                bool wait, struct lock **out, struct error **errp);
    void (*release)(struct lock *lk);
    int (*held)(struct locks *l, const char *kind, const char *id,
                struct error **errp);
    int (*check)(struct lock *lk, struct error **errp);
    int (*fence)(struct lock *lk, struct catalog *cat, struct error **errp);
    int (*sweep)(struct locks *l, bool remove,
                 void (*fn)(const char *name, void *opaque), void *opaque,
                 struct error **errp);   /* NULL: nothing to sweep */
    void (*close)(struct locks *l);
};

/* Every manager starts with this. */
struct locks {
    const struct locks_ops *ops;
};

/* Every lock starts with this. */
struct lock {
    struct locks *l;         /* its manager */
};

/* Fail with ERR_INVALID "bad lock name 'x'" unless S is a word of
 * [A-Za-z0-9_-], 1 to 64 bytes.
 */
int lock_check_name(const char *s, struct error **errp);

#endif
