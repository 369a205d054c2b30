/* vmsnap: scope-bound cleanup for locals (GCC/clang cleanup attribute).
 *
 * Every CLEANUP_* variable must be initialised where it is declared.  To
 * hand a value out of its scope, use steal_pointer (&p) or steal_fd (&fd).
 */
#ifndef VMSNAP_CLEANUP_H
#define VMSNAP_CLEANUP_H

#include <stdlib.h>
#include <unistd.h>

#include <json-c/json.h>

#include "error.h"

static inline void
cleanup_free(void *ptr)
{
    free(*(void **)ptr);
}

static inline void
cleanup_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
    }
}

static inline void
cleanup_json_put(json_object **obj)
{
    if (*obj) {
        json_object_put(*obj);
    }
}

static inline void
cleanup_error(struct error **err)
{
    error_free(*err);
}

#define CLEANUP_FREE __attribute__((cleanup(cleanup_free)))
#define CLEANUP_CLOSE __attribute__((cleanup(cleanup_close)))
#define CLEANUP_JSON_PUT __attribute__((cleanup(cleanup_json_put)))
#define CLEANUP_ERROR __attribute__((cleanup(cleanup_error)))

/* Return *pp and set it to NULL, so a CLEANUP_FREE does not free it. */
static inline void *
steal_pointer_(void *pp)
{
    void **p = pp;
    void *v = *p;

    *p = NULL;
    return v;
}
#define steal_pointer(pp) steal_pointer_(pp)

static inline int
steal_fd(int *fd)
{
    int v = *fd;

    *fd = -1;
    return v;
}

#endif
