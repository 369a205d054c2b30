/* vmsnap: memory allocation that cannot fail (see xalloc.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static void __attribute__((noreturn))
xalloc_die(void)
{
    static const char msg[] = "vmsnap: out of memory\n";

    /* No stdio: it may need memory itself. */
    if (fwrite(msg, 1, sizeof(msg) - 1, stderr) == 0) {
        abort();
    }
    abort();
}

void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL) {
        xalloc_die();
    }
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL) {
        xalloc_die();
    }
    return p;
}

void *
xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);

    if (q == NULL) {
        xalloc_die();
    }
    return q;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) {
        xalloc_die();
    }
    return xrealloc(p, n * size);
}

char *
xstrdup(const char *s)
{
    char *p = strdup(s);

    if (p == NULL) {
        xalloc_die();
    }
    return p;
}

char *
xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);

    if (p == NULL) {
        xalloc_die();
    }
    return p;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0) {
        xalloc_die();
    }
    return s;
}
