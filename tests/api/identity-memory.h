/* vmsnap tests: an identity backend in memory, for the test build of
 * vmsnapd (never in the real daemon).
 *
 * It reads DATA_DIR/identity at open: one assignment per line,
 *     USER PASSWORD PROJECT ROLE
 * with ROLE "admin" or "member"; '#' starts a comment.  Users and
 * projects are made on first mention, with 32-hex ids as Keystone's.
 * Passwords are hashed at load with lib/base/password.c (the real
 * cost), and tokens are kept by hash.
 */
#ifndef VMSNAP_TEST_IDENTITY_MEMORY_H
#define VMSNAP_TEST_IDENTITY_MEMORY_H

#include "identity-backend.h"

extern const struct identity_ops identity_memory_ops;

#endif
