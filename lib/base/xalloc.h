/* vmsnap: memory allocation that cannot fail.
 *
 * vmsnap's rule for running out of memory: it is not an error a caller
 * handles but the end of the process, as with tmux's xmalloc and QEMU's
 * g_malloc.  These helpers print "vmsnap: out of memory" and abort when
 * the allocation fails (or when N * SIZE overflows), so callers never
 * test their result.
 */
#ifndef VMSNAP_XALLOC_H
#define VMSNAP_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
