/* vmsnap: a growable byte buffer with a mandatory size cap (see
 * dynbuf.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"
#include "xalloc.h"

/* First allocation, in bytes. */
#define DYNBUF_MIN_ALLOC 64

void
dynbuf_init(struct dynbuf *b, size_t cap)
{
    if (cap == 0 || cap > DYNBUF_MAX_CAP) {
        abort(); /* a programming error, not an input */
    }
    memset(b, 0, sizeof(*b));
    b->cap = cap;
}

void
dynbuf_reset(struct dynbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
    b->too_big = false;
}

static int
dynbuf_refuse(struct dynbuf *b, struct error **errp)
{
    b->too_big = true;
    error_setg(errp, ERR_INVALID, "more than %zu bytes", b->cap);
    return -1;
}

/* Make room for N more bytes and a NUL, or fail when that would go over
 * the cap.
 */
static int
dynbuf_grow(struct dynbuf *b, size_t n, struct error **errp)
{
    size_t want;

    if (b->too_big || n > b->cap - b->len) {
        return dynbuf_refuse(b, errp);
    }
    want = b->len + n + 1; /* at most cap + 1: no overflow */
    if (want <= b->alloc) {
        return 0;
    }
    if (b->alloc == 0) {
        b->alloc = DYNBUF_MIN_ALLOC;
    }
    while (b->alloc < want) {
        b->alloc *= 2;
    }
    if (b->alloc > b->cap + 1) {
        b->alloc = b->cap + 1;
    }
    b->data = xrealloc(b->data, b->alloc);
    return 0;
}

int
dynbuf_add(struct dynbuf *b, const void *p, size_t n, struct error **errp)
{
    if (dynbuf_grow(b, n, errp) < 0) {
        return -1;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
dynbuf_add_str(struct dynbuf *b, const char *s, struct error **errp)
{
    return dynbuf_add(b, s, strlen(s), errp);
}

int
dynbuf_add_byte(struct dynbuf *b, char c, size_t n, struct error **errp)
{
    if (dynbuf_grow(b, n, errp) < 0) {
        return -1;
    }
    memset(b->data + b->len, c, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
dynbuf_vprintf(struct dynbuf *b, struct error **errp, const char *fmt,
               va_list ap)
{
    va_list ap2;
    int need;

    va_copy(ap2, ap);
    need = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (need < 0) {
        abort(); /* only for a bad format, which the compiler checks */
    }
    if (dynbuf_grow(b, (size_t)need, errp) < 0) {
        return -1;
    }
    vsnprintf(b->data + b->len, (size_t)need + 1, fmt, ap);
    b->len += (size_t)need;
    return 0;
}

int
dynbuf_printf(struct dynbuf *b, struct error **errp, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = dynbuf_vprintf(b, errp, fmt, ap);
    va_end(ap);
    return r;
}

void
dynbuf_consume(struct dynbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data != NULL) {
        b->data[b->len] = '\0';
    }
}

void
dynbuf_truncate(struct dynbuf *b, size_t n)
{
    if (n < b->len) {
        b->len = n;
        b->data[n] = '\0';
    }
}

char *
dynbuf_take(struct dynbuf *b, size_t *len, struct error **errp)
{
    char *s;

    if (b->too_big) {
        error_setg(errp, ERR_INVALID, "more than %zu bytes", b->cap);
        dynbuf_reset(b);
        return NULL;
    }
    s = b->data != NULL ? b->data : xstrdup("");
    if (len != NULL) {
        *len = b->len;
    }
    b->data = NULL;
    dynbuf_reset(b);
    return s;
}

const char *
dynbuf_str(const struct dynbuf *b)
{
    return b->data != NULL ? b->data : "";
}

size_t
dynbuf_len(const struct dynbuf *b)
{
    return b->len;
}

size_t
dynbuf_room(const struct dynbuf *b)
{
    return b->too_big ? 0 : b->cap - b->len;
}

bool
dynbuf_too_big(const struct dynbuf *b)
{
    return b->too_big;
}
