/* vmsnap: the accelerator probe guest, shared by accel-probe.S (which
 * holds the guest) and accel.c (which boots it).  Internal to those two.
 */
#ifndef VMSNAP_ACCEL_PROBE_H
#define VMSNAP_ACCEL_PROBE_H

/* The probe writes one byte to QEMU's isa-debug-exit device at this I/O
 * port; QEMU then exits at once with status (byte << 1) | 1.
 */
#define ACCEL_PROBE_PORT 0xf4

/* The image is loaded at 1 MiB and its page tables start 4 KiB higher. */
#define ACCEL_PROBE_IMAGE_MAX 0x1000

/* The byte written when every check passed. */
#define ACCEL_PROBE_PASS 0x2a

/* The byte written when a check failed: which one. */
#define ACCEL_PROBE_E_LOADER 0x01 /* not entered by a multiboot loader */
#define ACCEL_PROBE_E_NO_LM 0x02  /* CPUID offers no long mode */
#define ACCEL_PROBE_E_NO_LMA 0x03 /* EFER.LMA clear after enabling paging */
#define ACCEL_PROBE_E_NO_SSE 0x04 /* CPUID offers no SSE2 */
#define ACCEL_PROBE_E_MEMORY 0x05 /* memory did not read back as written */
#define ACCEL_PROBE_E_SSE 0x06    /* an SSE2 computation came out wrong */
#define ACCEL_PROBE_E_TRAP 0x07   /* the breakpoint handler did not run */

#ifndef __ASSEMBLER__
/* The guest image, a flat multiboot kernel, lies between these two
 * symbols.  They exist only on x86-64 hosts.
 */
extern const unsigned char accel_probe_image[];
extern const unsigned char accel_probe_image_end[];
#endif

#endif
