/* vmsnap tests: a scripted fake peer (QEMU monitor or guest agent).
 *
 * A script is an array of steps ending with FP_END.  The peer runs it in
 * a thread on one end of a socketpair (or on a connection it accepts on a
 * unix socket path) while the test drives the real client on the other
 * end:
 *   FP_SEND("bytes")          send these bytes
 *   FP_SPLIT("bytes", n, ms)  send them n bytes at a time, pausing ms
 *   FP_BUF(ptr, len)          send a buffer built at run time
 *   FP_EXPECT("bytes")        read exactly these bytes from the client;
 *                             a difference is recorded as a failure
 *   FP_PAUSE(ms)              sleep
 *   FP_HANGUP                 close the peer's end now (end of file)
 *   FP_SYNC                   read a guest-sync-delimited request (with
 *                             its leading 0xFF) and answer it with the
 *                             sentinel and the id it carries
 *   FP_SYNC_SILENT            read one and never answer it
 * After the last step the peer reads until the client closes; anything it
 * receives then is recorded as unexpected.  A client that hangs up while
 * the peer sends is not a failure (clients drop bad peers).
 */
#ifndef VMSNAP_FAKEPEER_H
#define VMSNAP_FAKEPEER_H

#include <stdbool.h>
#include <stddef.h>

enum fp_op {
    FP_OP_END,    /* end of script */
    FP_OP_SEND,   /* send data */
    FP_OP_EXPECT, /* read and compare data */
    FP_OP_PAUSE,  /* sleep ms */
    FP_OP_HANGUP, /* close our end */
    FP_OP_SYNC,   /* answer a guest-sync-delimited */
    FP_OP_SYNC_SILENT, /* read one, answer nothing */
};

struct fp_step {
    enum fp_op op;    /* what to do */
    const char *data; /* bytes to send or expect */
    size_t len;       /* their number */
    size_t chunk;     /* FP_OP_SEND: bytes per write (0: all at once) */
    int ms;           /* FP_OP_PAUSE: sleep; FP_OP_SEND: pause per chunk */
};

#define FP_SEND(s) { FP_OP_SEND, (s), sizeof(s) - 1, 0, 0 }
#define FP_SPLIT(s, n, t) { FP_OP_SEND, (s), sizeof(s) - 1, (n), (t) }
#define FP_BUF(p, l) { FP_OP_SEND, (p), (l), 0, 0 }
#define FP_EXPECT(s) { FP_OP_EXPECT, (s), sizeof(s) - 1, 0, 0 }
#define FP_PAUSE(t) { FP_OP_PAUSE, NULL, 0, 0, (t) }
#define FP_HANGUP { FP_OP_HANGUP, NULL, 0, 0, 0 }
#define FP_SYNC { FP_OP_SYNC, NULL, 0, 0, 0 }
#define FP_SYNC_SILENT { FP_OP_SYNC_SILENT, NULL, 0, 0, 0 }
#define FP_END { FP_OP_END, NULL, 0, 0, 0 }

struct fakepeer;

/* Start a peer playing STEPS (borrowed; must outlive the peer) on a new
 * socketpair.  Stores the client's end in *CLIENT_FD (the caller owns it).
 * Exits the test program on failure to set up.
 */
struct fakepeer *fakepeer_start(const struct fp_step *steps, int *client_fd);

/* Start a peer that, after DELAY_MS, listens on the unix socket PATH,
 * accepts one connection and plays STEPS on it.
 */
struct fakepeer *fakepeer_start_unix(const char *path, int delay_ms,
                                     const struct fp_step *steps);

/* Wait for the peer to finish (the client end must be closed by then, or
 * the peer must have hung up) and free it.  Returns true when the script
 * ran without a difference; otherwise prints the differences as TAP
 * diagnostics and returns false.
 */
bool fakepeer_finish(struct fakepeer *fp);

#endif
