/* vmsnap: copying and writing files durably.
 *
 * One copy routine for everything that copies a file into the data
 * directory or a package (image uploads and downloads, plain files of an
 * OVA), and small helpers for writing files that must survive a power
 * loss.  "Durable" means: the file's data is fsync'd, and so is the
 * directory that holds its name, so that after a crash the file is
 * either absent or whole (a renamed or newly created name lives in the
 * directory, not in the file).
 *
 * New files are always created with O_CREAT | O_EXCL | O_NOFOLLOW: an
 * existing file or symbolic link at the destination is never followed
 * or overwritten.  On failure, a file that a function created is removed.
 *
 * Every function blocks on file I/O for as long as it takes (no
 * timeout).  They may be called from several threads at once on
 * different files.
 */
#ifndef VMSNAP_FILEIO_H
#define VMSNAP_FILEIO_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "progress.h"

/* Open PATH read-only as the source of a copy, and check that it is a
 * regular file.  The open cannot block (a FIFO or a device is refused
 * before anything is read from it) and, when NOFOLLOW, a symbolic link
 * is refused rather than followed.  Opening once and then checking and
 * copying through the same descriptor means what was checked is what is
 * copied.  Returns a close-on-exec descriptor (blocking mode) the caller
 * closes, or -1 with ERR_NOT_FOUND (no such file), ERR_INVALID ("PATH is
 * not a regular file", or "PATH is a symbolic link" when NOFOLLOW) or
 * ERR_IO.
 */
int fileio_open_regular(const char *path, bool nofollow,
                        struct error **errp);

/* How fileio_copy_fd works.  A plain record: zero it, then set what you
 * need.
 */
struct fileio_copy_opts {
    mode_t mode;           /* of the new file; 0 means 0600 */
    int64_t max_bytes;     /* refuse a source longer than this; 0: none */
    const char *phase;     /* progress phase; NULL means "copy" */
    const struct progress *progress; /* percentages; may be NULL */
    /* If set, called before every FILEIO_CHECK_EVERY bytes are written
     * with the bytes copied so far: returning -1 (with errp set) stops
     * the copy with that error (a free-space watch).
     */
    int (*check)(int64_t done, void *opaque, struct error **errp);
    void *check_opaque;    /* passed to check */
};

/* How often fileio_copy_opts.check is called, in bytes copied. */
#define FILEIO_CHECK_EVERY (16 * 1024 * 1024)

/* Copy the whole of SRC_FD (a regular file, read from offset 0 with
 * pread, whatever its file offset; it is not closed) into DEST, which is
 * created as a new file.  Blocks of zeros become holes, so sparse images
 * stay sparse (the final size is set with ftruncate).  The copy, then
 * DEST's directory, are fsync'd.  SRC_NAME names the source in messages.
 * PROGRESS, if set, hears PHASE from 0 to 100 (by the source's size when
 * the copy began).  On success returns 0 and, if SIZE is not NULL, sets
 * *SIZE to the bytes copied.  Returns -1 with ERR_INVALID (the source is
 * longer than MAX_BYTES), ERR_CONFLICT (DEST exists) or ERR_IO (read,
 * write, no space, sync); then DEST is removed.
 */
int fileio_copy_fd(int src_fd, const char *src_name, const char *dest,
                   const struct fileio_copy_opts *opts, int64_t *size,
                   struct error **errp);

/* The copy of fileio_copy_fd into OUT, a file open for writing (at its
 * offset 0, empty) that OUT_NAME names in messages: OUT is synced, not
 * closed or removed; OPTS->mode is not used.
 */
int fileio_copy_to_fd(int src_fd, const char *src_name, int out,
                      const char *out_name,
                      const struct fileio_copy_opts *opts, int64_t *size,
                      struct error **errp);

/* fileio_open_regular (SRC, NOFOLLOW) and fileio_copy_fd from it.  OPTS
 * may be NULL (mode 0600, no limit, no progress).  Errors of both.
 */
int fileio_copy(const char *src, bool nofollow, const char *dest,
                const struct fileio_copy_opts *opts, int64_t *size,
                struct error **errp);

/* Write-behind for a file written once, front to back (an image being
 * made, a copy): call fileio_write_behind after each write with the
 * offset the file is written up to.  Each time a FILEIO_WB_WINDOW is
 * whole it starts that window's writeback and waits for the window two
 * back, so at most two windows of the file are queued to the disk and
 * one more is dirty in the page cache.  Without it the whole image
 * reaches the disk at its final fsync, and every other process's sync
 * write (a guest's flush through its QEMU) waits behind it: 512 MiB
 * flushed at once stalled a guest's writes 270-680 ms here, write-behind
 * 40-125 ms (bench/snapshot.sh).  It does not make the file
 * durable (no metadata, no cache flush): the caller's fsync at the end
 * still does, and reports the errors this ignores.  Zero-initialize.
 */
#define FILEIO_WB_WINDOW (8 * 1024 * 1024)
struct fileio_wb {
    int64_t started;    /* writeback started below this offset */
    int64_t waited;     /* writeback waited for below this offset */
};
void fileio_write_behind(int fd, struct fileio_wb *wb, int64_t end);

/* Write all LEN bytes of BUF to FD (retrying short writes and EINTR).
 * NAME names the file in messages.  Returns 0, or -1 with ERR_IO.
 */
int fileio_write_all(int fd, const void *buf, size_t len, const char *name,
                     struct error **errp);

/* Write all LEN bytes of BUF at OFFSET of FD with pwrite (retrying
 * short writes and EINTR; the file offset does not move).  Returns 0, or
 * -1 with errno set (ENOSPC when the kernel wrote nothing and said no
 * more).  No error object: the callers name what they were writing.
 */
int fileio_pwrite_all(int fd, const void *buf, size_t len, int64_t offset);

/* Read up to LEN bytes at OFFSET of FD with pread (retrying short reads
 * and EINTR).  Returns the count read, short only at the end of the
 * file, or -1 with errno set.
 */
ssize_t fileio_pread_full(int fd, void *buf, size_t len, int64_t offset);

/* Open the directory PATH under DIRFD (relative paths resolve from it,
 * as openat) for readdir, close-on-exec.  Returns the stream the caller
 * closes with closedir, or NULL with errno set (ENOENT: no such
 * directory; ENOTDIR: not one).
 */
DIR *fileio_opendirat(int dirfd, const char *path);

/* Create PATH as a new file with MODE and write the LEN bytes of DATA into
 * it.  When DURABLE, the file and its directory are then fsync'd.
 * Returns 0, or -1 with ERR_CONFLICT (PATH exists) or ERR_IO; then PATH
 * is removed.
 */
int fileio_write_new(const char *path, const void *data, size_t len,
                     mode_t mode, bool durable, struct error **errp);

/* Replace PATH atomically with a file of MODE (exactly: the umask does
 * not apply) holding the LEN bytes of
 * DATA: they are written to a new temporary file in PATH's directory,
 * fsync'd, renamed over PATH, and the directory is fsync'd.  Readers see
 * the old contents or the new ones, never a mix, even across a crash.
 * Returns 0, or -1 with ERR_IO (nothing is left behind but, possibly,
 * the old PATH).
 */
int fileio_write_atomic(const char *path, const void *data, size_t len,
                        mode_t mode, struct error **errp);

/* A new file that appears at its path whole or not at all, and leaves
 * nothing behind when whoever writes it dies (audit L8): its data goes to
 * an unnamed file in the path's directory (O_TMPFILE) that is linked in
 * at the end.  A file system without O_TMPFILE gets PATH.part instead,
 * held with an flock while it is written: one found free was left by a
 * process that died, and the next writer of PATH replaces it.  A plain
 * record: fill it with fileio_pending_open, release it with
 * fileio_pending_clear.
 */
struct fileio_pending {
    int fd;               /* write the data here; -1 when clear */
    char *path;           /* where the file goes */
    char *part;           /* PATH.part while one exists that is ours,
                           * else NULL */
    bool published;       /* PATH is the file now */
};

/* Start a new file for PATH with MODE (exactly: the umask does not
 * apply).  Returns 0 with P filled, or -1 with ERR_CONFLICT (another
 * process is writing PATH.part) or ERR_IO.
 */
int fileio_pending_open(const char *path, mode_t mode,
                        struct fileio_pending *p, struct error **errp);

/* Sync P's data and put it at its path, then sync the directory.  With
 * REPLACE an existing file at the path is replaced (atomically); without,
 * it is ERR_CONFLICT "PATH already exists".  Returns 0, or -1 with
 * ERR_CONFLICT or ERR_IO (then nothing is at the path that was not there
 * before).
 */
int fileio_pending_publish(struct fileio_pending *p, bool replace,
                           struct error **errp);

/* Close P and remove what it made unless it was published.  P may be
 * zeroed or cleared already (fd -1 or 0 with no path).
 */
void fileio_pending_clear(struct fileio_pending *p);

/* fsync the directory DIR, so that names created, renamed or removed in
 * it are durable.  Returns 0, or -1 with ERR_IO.
 */
int fileio_fsync_dir(const char *dir, struct error **errp);

/* fsync the directory that holds PATH ("." for a name without a '/').
 * Returns 0, or -1 with ERR_IO.
 */
int fileio_fsync_parent(const char *path, struct error **errp);

#endif
