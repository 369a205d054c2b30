/* vmsnap: a file read while it is written (issue 13).
 *
 * A snapshot into an object store used to copy a disk into a local file,
 * then send the file: the two one after the other.  A follow lets a
 * sender start at once and keep just behind the writer: the writer says
 * the file's final size before its first byte (the copy path knows its
 * layout up front, qcow2-stream.h), how far it has written as it goes,
 * and at the end the MD5 it computed of what it wrote; the sender waits
 * for the bytes it needs.  A writer that fails says so, and every wait
 * returns -1 with that reason instead of blocking forever.
 *
 * The writer writes the file once, in order, through the page cache: the
 * sender's reads come from memory.  Every call is thread-safe; the
 * writer's calls accept NULL (nothing follows the file).
 */
#ifndef VMSNAP_FILE_FOLLOW_H
#define VMSNAP_FILE_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "hash.h"

struct file_follow;

struct file_follow *file_follow_new(void);
void file_follow_free(struct file_follow *f);

/* The writer's side. */

/* The file will be SIZE bytes once written (called before the first). */
void file_follow_size(struct file_follow *f, int64_t size);

/* The first BYTES bytes of the file are written. */
void file_follow_wrote(struct file_follow *f, int64_t bytes);

/* The whole file is written; MD5 is its digest (hexadecimal). */
void file_follow_done(struct file_follow *f, const char *md5);

/* The writer gave up: the file will never be whole.  Also what the
 * sender's owner calls to stop it.  The first call counts.
 */
void file_follow_fail(struct file_follow *f, const char *why);

/* The sender's side: each blocks until it can answer, and returns -1
 * with ERR_IO and the writer's reason once the writer failed.
 */

/* Wait for the final size: *SIZE. */
int file_follow_wait_size(struct file_follow *f, int64_t *size,
                          struct error **errp);

/* Wait until the first END bytes are written. */
int file_follow_wait(struct file_follow *f, int64_t end,
                     struct error **errp);

/* Wait for the end of the writing: HEX receives the file's MD5. */
int file_follow_md5(struct file_follow *f, char hex[HASH_MD5_HEX_LEN],
                    struct error **errp);

/* Has the writer finished (file_follow_done)? */
bool file_follow_is_done(struct file_follow *f);

#endif
