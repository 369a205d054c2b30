/* vmsnap: choosing the accelerator for the QEMU instances we launch.
 *
 * A /dev/kvm that exists and opens is no proof that KVM works: under some
 * nested hypervisors KVM refuses MSRs that QEMU sets, or cannot execute
 * parts of a 64-bit guest (SSE instructions, exceptions), so that a Linux
 * guest hangs.  Unless the user chose, we therefore run a tiny 64-bit
 * probe guest (accel-probe.S) under KVM with the very machine type and CPU
 * model that we would launch instances with, and fall back to TCG
 * (software emulation) unless the probe ran to its end.
 *
 * QEMU is run as "qemu-system-x86_64", looked up in PATH.  The probe
 * waits for its QEMU with waitpid, so the process must not ignore
 * SIGCHLD.
 */
#ifndef VMSNAP_ACCEL_H
#define VMSNAP_ACCEL_H

#include "error.h"

enum accel_kind {
    ACCEL_KVM, /* hardware virtualisation through /dev/kvm */
    ACCEL_TCG, /* QEMU's software emulation */
};

/* How long accel_choose lets the KVM probe run before it gives up. */
#define ACCEL_PROBE_TIMEOUT_MS 5000

/* Decide which accelerator to use and store it in *OUT.
 *
 * OVERRIDE is what the user asked for (the caller passes --accel or else
 * $VMSNAP_ACCEL): "kvm" or "tcg" is taken as it is, without any check;
 * "auto", "" or NULL means: TCG if /dev/kvm cannot be opened read-write,
 * else KVM if the probe guest passes under KVM with accel_cpu (ACCEL_KVM),
 * else TCG.  The reason for an automatic choice goes to the "accel" debug
 * log.  The automatic result is computed once per process and then
 * reused; two threads racing on the first call may both run the probe.
 *
 * Blocks for as long as the probe runs: under 0.1 s where KVM works or
 * fails cleanly, at most about ACCEL_PROBE_TIMEOUT_MS when the probe
 * guest hangs.
 * Returns 0, or -1 with ERR_INVALID for any other OVERRIDE (*OUT is then
 * left alone).  A failing probe is not an error: it means TCG.
 */
int accel_choose(const char *override, enum accel_kind *out,
                 struct error **errp);

/* The accelerator's name: "kvm" or "tcg".  A static string. */
const char *accel_name(enum accel_kind kind);

/* The value of QEMU's -machine option for instances run with KIND, e.g.
 * "q35,accel=kvm".  Callers may append ",option=value" to a copy.  A
 * static string.
 */
const char *accel_machine(enum accel_kind kind);

/* The value of QEMU's -cpu option for instances run with KIND: "host"
 * under KVM, "max" under TCG.  A static string.
 */
const char *accel_cpu(enum accel_kind kind);

/* Run the probe guest once: qemu-system-x86_64 with -machine
 * q35,accel=ACCEL and -cpu CPU, 64 MiB of memory, no devices but
 * isa-debug-exit, and the probe as its firmware (-bios, from an anonymous
 * memory file; nothing is written to disk).  ACCEL and CPU are passed to
 * QEMU as given ("kvm" and "host", "tcg" and "max", ...).  QEMU is killed
 * when it runs longer than TIMEOUT_MS, or as soon as it reports that KVM
 * failed to run the guest.
 *
 * accel_choose calls this for its automatic choice; it is public for the
 * unit tests, which use it to check the probe against TCG.  Each call
 * runs QEMU afresh; nothing is cached.  Blocks for up to TIMEOUT_MS (the
 * probe itself takes well under 0.1 s under TCG).
 *
 * Returns 0 when the guest reported that every check passed.  Otherwise
 * returns -1 with an error saying why: ERR_TIMEOUT when QEMU was killed
 * for running too long; ERR_IO when QEMU could not be started; ERR_INVALID
 * when ACCEL or CPU is absurdly long; ERR_GENERIC when QEMU failed, the
 * guest reported a failed check, or the host is not x86-64 (with the first
 * line of QEMU's output, if any).
 */
int accel_probe(const char *accel, const char *cpu, int timeout_ms,
                struct error **errp);

#endif
