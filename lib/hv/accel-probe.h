/* vmsnap: the accelerator probe guest, shared by accel-probe.S (which
 * holds the guest) and accel.c (which runs it).  Internal to those two
 * and to the unit test.
 */
#ifndef VMSNAP_ACCEL_PROBE_H
#define VMSNAP_ACCEL_PROBE_H

/* The probe runs as QEMU's firmware (-bios): a ROM file of this size,
 * holding the image at offset 0 and the reset stub where the CPU starts.
 */
#define ACCEL_PROBE_ROM_SIZE 0x10000
#define ACCEL_PROBE_RESET_OFFSET 0xfff0
#define ACCEL_PROBE_RESET_SIZE 16

/* The probe writes one byte to QEMU's isa-debug-exit device at this I/O
 * port; QEMU then exits at once with status (byte << 1) | 1.
 */
#define ACCEL_PROBE_PORT 0xf4

/* The byte written when every check passed. */
#define ACCEL_PROBE_PASS 0x2a

/* The byte written when a check failed: which one. */
#define ACCEL_PROBE_E_NO_LM 0x01  /* CPUID offers no long mode */
#define ACCEL_PROBE_E_NO_LMA 0x02 /* EFER.LMA clear after enabling paging */
#define ACCEL_PROBE_E_NO_SSE 0x03 /* CPUID offers no SSE2 */
#define ACCEL_PROBE_E_SSE 0x04    /* an SSE2 computation came out wrong */
#define ACCEL_PROBE_E_TRAP 0x05   /* the breakpoint handler did not run */
#define ACCEL_PROBE_E_MEMORY 0x06 /* memory did not read back as written */

#ifndef __ASSEMBLER__
/* The image lies between the first two symbols, the reset stub is
 * ACCEL_PROBE_RESET_SIZE bytes at the third.  They exist only on x86-64
 * hosts.
 */
extern const unsigned char accel_probe_image[];
extern const unsigned char accel_probe_image_end[];
extern const unsigned char accel_probe_reset[];
#endif

#endif
