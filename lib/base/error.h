/* vmsnap: errors carried with their reason.
 *
 * Conventions (after QEMU's include/qapi/error.h):
 * - A function that can fail returns bool, a pointer (NULL on failure) or
 *   an int (-1 on failure) and takes a last parameter struct error **errp.
 * - On success *errp is not touched.  On failure exactly one error is set,
 *   unless errp is NULL, in which case the error is dropped.
 * - Messages are one phrase, no trailing punctuation; callers add context
 *   with error_prepend ("snapshot of web1: ").
 * - An error either is reported (error_report) or is returned, never both.
 * - Messages are safe to print: one line of valid UTF-8 without control
 *   characters.  A message that quotes unsafe text (a peer's error, a
 *   file name, a user's input) is escaped as a whole with text_escape
 *   (text.h) when it is set or prepended to; others are kept as they are.
 */
#ifndef VMSNAP_ERROR_H
#define VMSNAP_ERROR_H

#include <stdbool.h>

/* The class tells a front end what kind of failure this is, so the CLI
 * picks an exit status and a REST layer an HTTP status without parsing
 * the text.
 */
enum error_class {
    ERR_GENERIC = 0, /* anything else */
    ERR_INVALID,     /* bad input from the user */
    ERR_NOT_FOUND,   /* named object does not exist */
    ERR_CONFLICT,    /* object exists, is in use, or is busy */
    ERR_IO,          /* a system call failed */
    ERR_TIMEOUT,     /* a peer did not answer in time */
    ERR_PROTOCOL,    /* a peer sent something malformed or closed early */
    ERR_PEER,        /* a peer answered with an error of its own */
};

struct error;

/* Set *errp to a new error of class CLS unless errp is NULL.  *errp must
 * be NULL on entry (a second error on the same pointer is a programming
 * bug and aborts).
 */
void error_setg(struct error **errp, enum error_class cls, const char *fmt,
                ...) __attribute__((format(printf, 3, 4)));

/* As error_setg, with ": strerror(errnum)" appended. */
void error_setg_errno(struct error **errp, enum error_class cls, int errnum,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Set an error that a peer returned: PEER_CLASS is the class string the
 * peer gave (QMP's "GenericError", "CommandNotFound", ...), kept for
 * callers that must tell them apart.  The error class is ERR_PEER.
 */
void error_set_peer(struct error **errp, const char *peer_class,
                    const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message of *errp (if errp and *errp are set). */
void error_prepend(struct error **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Move LOCAL into *dst; if dst is NULL or *dst is set, LOCAL is freed. */
void error_propagate(struct error **dst, struct error *local);

/* Accessors; ERR may not be NULL.  Strings are borrowed from ERR. */
const char *error_msg(const struct error *err);
enum error_class error_get_class(const struct error *err);
const char *error_peer_class(const struct error *err); /* NULL if none */

/* The class as a word for records and logs ("invalid", "not_found",
 * "conflict", "io", "timeout", "protocol", "peer", "generic").  A static
 * string.
 */
const char *error_class_name(enum error_class cls);

/* Print "PROG: message" on stderr and free ERR (NULL is allowed). */
void error_report(const char *prog, struct error *err);

/* Free ERR; NULL is allowed. */
void error_free(struct error *err);

#endif
