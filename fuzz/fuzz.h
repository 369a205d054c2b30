/* vmsnap fuzz targets: shared declarations.
 *
 * Each fuzz-*.c defines LLVMFuzzerTestOneInput.  Built with clang
 * -fsanitize=fuzzer it is a libFuzzer target; linked with replay.c it is a
 * plain program that runs every file of a corpus (a regression test).
 */
#ifndef VMSNAP_FUZZ_H
#define VMSNAP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point: run one input.  Always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Make a connected socket pair, write DATA into one end as far as the
 * socket buffer allows (the rest is dropped) and shut that end's write
 * side, so that a client reading the other end sees DATA and then end of
 * file without any peer thread.  Returns the client's end and stores the
 * peer's end (which swallows what the client sends) in *PEER_FD; the
 * caller closes both.  Returns -1 when the sockets cannot be made.
 */
int fuzzpeer_open(const uint8_t *data, size_t size, int *peer_fd);

/* A peer that answers: DATA is cut after every blank line ("\n\n", which
 * is whitespace to JSON and so changes nothing in the stream).  The first
 * piece is sent at once; each further piece after the client has sent one
 * more request line (up to '\n').  When no request comes within a few
 * milliseconds (the client waits for data the input put in a later
 * piece), the rest is sent at once.  Clients must not pause between an
 * answer and their next request (qga_set_exec_poll (g, 0, 0)).  After
 * the last piece the peer shuts its write side and swallows what the
 * client sends until it closes.
 * Returns the client's end (the caller closes it, then calls
 * fuzzpeer_finish), or -1.
 */
struct fuzzpeer;
int fuzzpeer_start(const uint8_t *data, size_t size, struct fuzzpeer **fp);

/* Wait for the peer of fuzzpeer_start to end and free it.  The client's
 * end must be closed first.
 */
void fuzzpeer_finish(struct fuzzpeer *fp);

#endif
