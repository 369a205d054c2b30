/* vmsnap: memory allocation that never returns NULL.
 *
 * The rule (docs/internals/memory.md): vmsnap does not try to recover
 * from running out of memory.  Every allocation in lib/ goes through
 * these helpers, which print "vmsnap: out of memory" on stderr and call
 * abort() when the C library says no.  So no function has an "out of
 * memory" error path, and no error message says "out of memory".
 *
 * Why: on Linux with overcommit, malloc rarely fails; when it does, the
 * recovery paths (35 different ones before this rule) were never run by
 * a test and each reported it differently.  A snapshot that dies of OOM
 * is handled like one killed by the OOM killer: the thaw watchdog, task
 * records and recovery exist for exactly that.
 *
 * What stays an error: sizes that come from input.  A length a peer or a
 * file gives is checked against a limit before it is allocated (see
 * dynbuf.h, jstream.h), so that a hostile input yields ERR_PROTOCOL or
 * ERR_INVALID, never an abort.
 *
 * The same rule holds for libraries whose constructors fail only for lack
 * of memory (json-c's json_object_new_*, libxml2's xmlNew*, libarchive's
 * archive_*_new, libcrypto's *_new): wrap the result in xcheck(), or use
 * the json-c wrappers of xjson.h.
 *
 * All functions are thread-safe and never block.
 */
#ifndef VMSNAP_XALLOC_H
#define VMSNAP_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* Print "vmsnap: out of memory" on stderr and abort. */
void xalloc_die(void) __attribute__((noreturn));

/* malloc (N); N == 0 allocates one byte, so the result is never NULL. */
void *xmalloc(size_t n) __attribute__((malloc, returns_nonnull));

/* calloc (N, SIZE), zeroed; dies when N * SIZE overflows. */
void *xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));

/* realloc (P, N); N == 0 keeps one byte rather than freeing P. */
void *xrealloc(void *p, size_t n) __attribute__((returns_nonnull));

/* realloc (P, N * SIZE); dies when N * SIZE overflows. */
void *xreallocarray(void *p, size_t n, size_t size)
    __attribute__((returns_nonnull));

/* strdup (S).  S may not be NULL. */
char *xstrdup(const char *s) __attribute__((malloc, returns_nonnull));

/* Copy of at most N bytes of S, NUL-terminated. */
char *xstrndup(const char *s, size_t n)
    __attribute__((malloc, returns_nonnull));

/* The result of printf (FMT, ...) in a new string. */
char *xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), malloc, returns_nonnull));

/* xasprintf with a va_list. */
char *xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0), malloc, returns_nonnull));

/* Return P, or die when it is NULL: for library constructors that fail
 * only when memory runs out (see above).
 */
void *xcheck_(void *p);
#define xcheck(p) ((__typeof__(p))xcheck_(p))

#endif
