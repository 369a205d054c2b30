/* vmsnap: memory allocation that never returns NULL (see xalloc.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xalloc.h"

void
xalloc_die(void)
{
    static const char msg[] = "vmsnap: out of memory\n";
    ssize_t r;

    /* write(2) rather than stdio, which may itself need memory. */
    r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)r;
    abort();
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL) {
        xalloc_die();
    }
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p;

    if (n == 0 || size == 0) {
        n = size = 1;
    }
    if (n > SIZE_MAX / size) {
        xalloc_die();
    }
    p = calloc(n, size);
    if (p == NULL) {
        xalloc_die();
    }
    return p;
}

void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

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
    size_t n = strlen(s) + 1;

    return memcpy(xmalloc(n), s, n);
}

char *
xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;

    if (vasprintf(&s, fmt, ap) < 0) {
        /* vasprintf fails for lack of memory, or for a result longer
         * than INT_MAX, which no caller of ours can produce.
         */
        xalloc_die();
    }
    return s;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void *
xcheck_(void *p)
{
    if (p == NULL) {
        xalloc_die();
    }
    return p;
}
