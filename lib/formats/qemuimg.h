/* vmsnap: the qemu-img binary, wrapped (checked against QEMU 7.2).
 *
 * Every function runs qemu-img through run.h, without a shell, and blocks
 * until it exits.  The binary is "qemu-img" from PATH, or the program
 * qemuimg_set_program names (the compute.qemu_img setting; tests put a
 * fake in its place).
 *
 * Paths: a relative path is passed as "./path", so that qemu-img never
 * mistakes it for an option ("-x") or a protocol prefix ("nbd:...").
 * Format names must be plain words of lower-case letters, digits and '_'
 * ("raw", "qcow2"); anything else is refused with ERR_INVALID.
 *
 * When qemu-img fails, the error (ERR_GENERIC unless said otherwise) is
 * "qemu-img VERB failed (exit N): <its last line of stderr>", with the
 * "qemu-img: " prefix of that line removed.
 */
#ifndef VMSNAP_QEMUIMG_H
#define VMSNAP_QEMUIMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Run PROGRAM (NULL or "": "qemu-img") as qemu-img from now on, in this
 * process.  PROGRAM is borrowed and must stay valid.
 */
void qemuimg_set_program(const char *program);

/* What "qemu-img info" says about one image (not its backing chain).  A
 * plain record, filled by qemuimg_info and released with
 * qemuimg_info_clear.  Strings belong to the record.
 */
struct qemuimg_info {
    char *format;                /* "raw", "qcow2", ... */
    int64_t virtual_size;        /* size the guest sees, in bytes */
    int64_t actual_size;         /* bytes allocated on the host; -1 if
                                  * not reported */
    char *backing_filename;      /* as written in the image; NULL if none */
    char *full_backing_filename; /* as qemu-img resolved it; NULL if none */
    char *backing_format;        /* format recorded for the backing file;
                                  * NULL if none */
    bool dirty_flag;             /* image was not closed cleanly */
    bool encrypted;              /* the data is encrypted (LUKS) */
    bool other_files;            /* takes data from files other than
                                  * itself (VMDK extents, a qcow2
                                  * data-file): never trust those */
    int64_t cluster_size;        /* bytes; 0 if the format has none */
};

/* Outcome of a consistency check that did not find damage. */
enum qemuimg_check_result {
    QEMUIMG_CHECK_OK = 0,          /* checked, consistent */
    QEMUIMG_CHECK_LEAKS = 1,       /* consistent, but has leaked clusters
                                    * (wasted space, no damage) */
    QEMUIMG_CHECK_UNSUPPORTED = 2, /* format has no checks (raw) */
};

/* Run "qemu-img info --output=json -U [-f FORMAT] PATH" and fill *INFO.
 * FORMAT NULL lets qemu-img probe the format: never do that on an image a
 * guest could have written (a raw disk can pretend to be qcow2 with a
 * backing file of the attacker's choice).  -U (force-share) lets it read
 * images a running QEMU holds locked.  qemu-img runs with a 2 GiB address
 * space limit, 10 s of CPU and a 60 s timeout, since image headers are
 * untrusted input.  Every field of the reply is type-checked.
 * Returns 0, or -1 (*INFO zeroed, nothing to free) with ERR_NOT_FOUND (no
 * such file), ERR_INVALID (bad FORMAT), ERR_GENERIC (qemu-img failed, e.g.
 * "Image is not in qcow2 format"), ERR_PROTOCOL (reply is not what QEMU
 * 7.2 prints: not JSON, a field missing or of the wrong type),
 * ERR_TIMEOUT or ERR_IO.  Blocks until qemu-img exits.
 */
int qemuimg_info(const char *path, const char *format,
                 struct qemuimg_info *info, struct error **errp);

/* Fill *INFO from TEXT (LEN bytes), the standard output of "qemu-img info
 * --output=json" for one image, as qemuimg_info does: one JSON object,
 * nothing after it but blanks, every field type-checked, other_files
 * worked out from the data-file and extents members.  Returns 0, or -1
 * (*INFO zeroed, nothing to free) with ERR_PROTOCOL.  For tests and
 * fuzzing: what qemu-img prints about a hostile image is hostile too.
 */
int qemuimg_info_from_json(const char *text, size_t len,
                           struct qemuimg_info *info, struct error **errp);

/* Free the strings of *INFO and zero it.  INFO may be NULL. */
void qemuimg_info_clear(struct qemuimg_info *info);

/* Create a qcow2 image at PATH on top of BACKING, whose format is
 * BACKING_FMT (required: qemu-img must not probe it).  BACKING is turned
 * into an absolute, symlink-free path (it must exist), and that is what
 * the overlay records, so the overlay works from any directory.  The
 * overlay has the virtual size of BACKING.  An existing file at PATH is
 * replaced.
 * Returns 0, or -1 with ERR_NOT_FOUND (BACKING missing), ERR_INVALID (bad
 * format name), ERR_GENERIC (qemu-img failed), ERR_TIMEOUT or ERR_IO.
 * Blocks until qemu-img exits (timeout 120 s).
 */
int qemuimg_create_overlay(const char *path, const char *backing,
                           const char *backing_fmt, struct error **errp);

/* Create an empty image of format FMT and SIZE_BYTES (>= 0) at PATH
 * ("qemu-img create -f FMT PATH SIZE"), with the format's default options
 * (raw: sparse; qcow2: no preallocation).  An existing file at PATH is
 * replaced.
 * Returns 0, or -1 with ERR_INVALID (bad format name or size),
 * ERR_GENERIC (qemu-img failed), ERR_TIMEOUT or ERR_IO.  Blocks until
 * qemu-img exits (timeout 120 s).
 */
int qemuimg_create(const char *path, const char *fmt, int64_t size_bytes,
                   struct error **errp);

/* Copy image SRC of format SRC_FMT (NULL: probe, see qemuimg_info) into a
 * new image DST of format DST_FMT ("qemu-img convert -f SRC_FMT -O DST_FMT
 * SRC DST").  The whole backing chain of SRC is flattened into DST.
 * If PROGRESS is set, "-p" is passed and PROGRESS is called with the
 * percentage done (0 to 100, increasing) each time qemu-img reports it;
 * OPAQUE is passed along.  Called in the calling thread.
 * We do not pass -W (out-of-order writes): in-order writes lay a qcow2
 * target out in guest order, which is what we later boot from and read
 * back sequentially, and keep the progress meaningful; the speed-up of -W
 * matters for network targets, while ours are local files.
 * There is no timeout: a large image takes as long as it takes.  The
 * caller removes DST if this fails.
 * Returns 0, or -1 with ERR_INVALID (bad format name), ERR_GENERIC
 * (qemu-img failed) or ERR_IO.  Blocks until qemu-img exits.
 */
int qemuimg_convert(const char *src, const char *src_fmt, const char *dst,
                    const char *dst_fmt,
                    void (*progress)(double pct, void *opaque), void *opaque,
                    struct error **errp);

/* As qemuimg_convert, with CREATE_OPTS (NULL for none) passed as "-o" to
 * make the target, e.g. "subformat=streamOptimized" for an OVF's VMDK.
 */
int qemuimg_convert_opts(const char *src, const char *src_fmt,
                         const char *dst, const char *dst_fmt,
                         const char *create_opts,
                         void (*progress)(double pct, void *opaque),
                         void *opaque, struct error **errp);

/* Limits on a conversion's output (reliability audit H4): the output
 * file may not grow beyond MAX_BYTES (RLIMIT_FSIZE; 0: no limit), and
 * WATCH (may be NULL), called every half second while qemu-img runs,
 * stops it by returning -1 with errp set (a free-space watch).
 */
struct qemuimg_limits {
    int64_t max_bytes;                                /* 0: none */
    int (*watch)(void *opaque, struct error **errp);  /* or NULL */
    void *watch_opaque;                               /* passed to watch */
};

/* qemuimg_convert within LIMITS (may be NULL: none).  Beyond the errors
 * of qemuimg_convert: ERR_IO "the output of qemu-img convert would be
 * larger than N bytes" when MAX_BYTES was reached, and the watch's error.
 */
int qemuimg_convert_limited(const char *src, const char *src_fmt,
                            const char *dst, const char *dst_fmt,
                            const struct qemuimg_limits *limits,
                            void (*progress)(double pct, void *opaque),
                            void *opaque, struct error **errp);

/* How much space converting PATH (of format FMT) into OUT_FMT takes
 * ("qemu-img measure --output=json -O OUT_FMT -f FMT PATH"): *REQUIRED
 * for the data it holds, *FULLY when fully allocated (either may be
 * NULL).  Returns 0, or -1 with the errors of qemuimg_info.  Blocks
 * until qemu-img exits (60 s timeout, limits as qemuimg_info).
 */
int qemuimg_measure(const char *path, const char *fmt, const char *out_fmt,
                    int64_t *required, int64_t *fully, struct error **errp);

/* Check the consistency of PATH of format FMT ("qemu-img check
 * --output=json -f FMT PATH"; FMT is required).  Read only: nothing is
 * repaired.  No -U: the metadata of an image a running QEMU writes to is
 * in flux, so such an image fails with qemu-img's locking error instead
 * of showing false damage.
 * Returns a qemuimg_check_result (>= 0) when no damage was found: OK,
 * LEAKS (harmless) or UNSUPPORTED (the format has no checks, e.g. raw).
 * Returns -1 with ERR_INVALID "PATH is corrupt: N corruptions" (exit 2),
 * ERR_NOT_FOUND (no such file), ERR_GENERIC (qemu-img could not check,
 * e.g. exit 1), ERR_INVALID (bad format name) or ERR_IO.  No timeout.
 * Blocks until qemu-img exits.
 */
int qemuimg_check(const char *path, const char *fmt, struct error **errp);

#endif
