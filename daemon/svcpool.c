/* vmsnapd: service contexts for the connection threads (see svcpool.h). */
#include <pthread.h>
#include <stdlib.h>

#include "recover.h"
#include "svcpool.h"
#include "xalloc.h"

struct svcpool {
    const struct config *cfg; /* borrowed */
    pthread_mutex_t lock;     /* guards the fields below */
    struct svc **idle;        /* contexts not lent */
    size_t nidle;             /* entries in idle */
    unsigned keep;            /* most idle ones kept */
    unsigned lent;            /* contexts lent now */
};

struct svcpool *
svcpool_new(const struct config *cfg, unsigned keep, struct error **errp)
{
    struct svcpool *p = xcalloc(1, sizeof(*p));
    struct svc *first;

    p->cfg = cfg;
    p->keep = keep ? keep : 1;
    p->idle = xcalloc(p->keep, sizeof(*p->idle));
    pthread_mutex_init(&p->lock, NULL);
    first = svc_open(cfg, errp);
    if (first == NULL) {
        svcpool_free(p);
        return NULL;
    }
    /* What dead processes left, once, as the daemon starts. */
    recover_all(first);
    p->idle[p->nidle++] = first;
    return p;
}

void
svcpool_free(struct svcpool *p)
{
    size_t i;

    if (p == NULL) {
        return;
    }
    for (i = 0; i < p->nidle; i++) {
        svc_close(p->idle[i]);
    }
    free(p->idle);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

struct svc *
svcpool_get(struct svcpool *p, struct error **errp)
{
    struct svc *svc = NULL;

    pthread_mutex_lock(&p->lock);
    if (p->nidle > 0) {
        svc = p->idle[--p->nidle];
    }
    p->lent++;
    pthread_mutex_unlock(&p->lock);
    if (svc == NULL) {
        svc = svc_open(p->cfg, errp);
        if (svc == NULL) {
            pthread_mutex_lock(&p->lock);
            p->lent--;
            pthread_mutex_unlock(&p->lock);
        }
    }
    return svc;
}

void
svcpool_put(struct svcpool *p, struct svc *svc)
{
    if (svc == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->lent--;
    if (p->nidle < p->keep) {
        p->idle[p->nidle++] = svc;
        svc = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    svc_close(svc);
}

const struct config *
svcpool_config(const struct svcpool *p)
{
    return p->cfg;
}
