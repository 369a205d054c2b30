/* vmsnap: a growable byte buffer with a mandatory size cap.
 *
 * Every buffer that grows with input (a peer's messages, a helper's
 * output, SQL or text being assembled) is a struct dynbuf, so that no
 * input can make vmsnap allocate without bound: the cap is given at
 * dynbuf_init and is never exceeded.  After curl's dynbuf
 * (docs/internals/DYNBUF.md), with two differences:
 * - an append that would go over the cap appends nothing and marks the
 *   buffer "too big"; from then on every append fails the same way, so
 *   that a caller may append many pieces with errp NULL and check once,
 *   with dynbuf_take or dynbuf_too_big, instead of after every piece;
 * - memory comes from xalloc.h: running out of it aborts (the one OOM
 *   rule, docs/internals/memory.md), so the only failure is the cap.
 *
 * The contents are always NUL-terminated (the NUL is not counted in the
 * length and not against the cap) and may hold NUL bytes.  The struct is
 * a plain record so that it can live on the stack; callers use only the
 * functions.  A dynbuf is not thread-safe.  Nothing here blocks.
 */
#ifndef VMSNAP_DYNBUF_H
#define VMSNAP_DYNBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* The largest cap dynbuf_init accepts: 1 GiB.  A larger one is a bug. */
#define DYNBUF_MAX_CAP ((size_t)1024 * 1024 * 1024)

struct dynbuf {
    char *data;   /* the bytes and a NUL, or NULL while nothing is held */
    size_t len;   /* bytes held, the NUL excluded */
    size_t alloc; /* bytes allocated for data */
    size_t cap;   /* len never exceeds this */
    bool too_big; /* an append failed since the last reset */
};

/* Make B an empty buffer that will hold at most CAP bytes (1 to
 * DYNBUF_MAX_CAP; anything else aborts: a programming error).  Nothing is
 * allocated until the first append.
 */
void dynbuf_init(struct dynbuf *b, size_t cap);

/* Release the memory of B and empty it; the cap stays, so B can be used
 * again.  Clears the "too big" mark.  B may hold nothing.
 */
void dynbuf_reset(struct dynbuf *b);

/* Append N bytes of P (P may be NULL when N is 0).  Returns 0, or -1
 * with ERR_INVALID "more than CAP bytes" when B would grow beyond its cap
 * or an earlier append failed; then nothing is appended.  ERRP may be
 * NULL (see above).
 */
int dynbuf_add(struct dynbuf *b, const void *p, size_t n,
               struct error **errp);

/* dynbuf_add of the string S without its NUL. */
int dynbuf_add_str(struct dynbuf *b, const char *s, struct error **errp);

/* dynbuf_add of the byte C, N times. */
int dynbuf_add_byte(struct dynbuf *b, char c, size_t n, struct error **errp);

/* Append the result of printf (FMT, ...), with the errors of dynbuf_add;
 * the text is formatted once and appended whole or not at all.
 */
int dynbuf_printf(struct dynbuf *b, struct error **errp, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));

/* As dynbuf_printf with a va_list. */
int dynbuf_vprintf(struct dynbuf *b, struct error **errp, const char *fmt,
                   va_list ap) __attribute__((format(printf, 3, 0)));

/* Remove the first N bytes (all of them if N >= the length), moving the
 * rest to the front.  For buffers used as queues (a stream's unparsed
 * input, the tail of a helper's stderr).  Does not clear "too big".
 */
void dynbuf_consume(struct dynbuf *b, size_t n);

/* Cut B to its first N bytes (nothing happens if N >= the length).  Does
 * not clear "too big".
 */
void dynbuf_truncate(struct dynbuf *b, size_t n);

/* Hand the contents over: returns a NUL-terminated string the caller
 * frees (never NULL on success: "" for an empty buffer) and, if LEN is
 * not NULL, stores its length in *LEN.  B is reset either way.  Returns
 * NULL with ERR_INVALID when an append failed since the last reset, so
 * that a truncated text is never taken for a whole one.
 */
char *dynbuf_take(struct dynbuf *b, size_t *len, struct error **errp);

/* The contents, NUL-terminated; "" while nothing is held.  Borrowed: valid
 * until the next call that changes B.
 */
const char *dynbuf_str(const struct dynbuf *b);

/* Bytes held. */
size_t dynbuf_len(const struct dynbuf *b);

/* Bytes that may still be appended before the cap. */
size_t dynbuf_room(const struct dynbuf *b);

/* True when an append failed since the last reset. */
bool dynbuf_too_big(const struct dynbuf *b);

#endif
