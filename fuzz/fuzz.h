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

#endif
