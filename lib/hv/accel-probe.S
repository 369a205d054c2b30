/* vmsnap: the accelerator probe guest (booted by accel.c).
 *
 * A tiny guest that QEMU runs as its firmware (-bios), to find out whether
 * an accelerator really runs 64-bit code with a given CPU model.  It does
 * what every 64-bit operating system does first: from the real mode the
 * CPU resets into, it enters protected mode, builds identity page tables,
 * turns on PAE, sets EFER.LME (an MSR write) and paging, and jumps into
 * 64-bit code.  There it checks that long mode is really active, runs an
 * SSE2 computation, takes a breakpoint exception through a 64-bit IDT and
 * walks 8 MiB of memory.  Last it writes a byte to QEMU's isa-debug-exit
 * port: the pass value, or the number of the check that failed (see
 * accel-probe.h).  A guest that hangs never writes it; a QEMU stopped by
 * an error never runs it.
 *
 * Why firmware and not a kernel for -kernel: booting a kernel goes through
 * SeaBIOS, which takes seconds under a KVM that emulates instructions
 * (nested set-ups), while QEMU reaches a firmware's first instruction in
 * under 0.1 s under both KVM and TCG.  The firmware is the same under
 * both accelerators anyway, so the probe need not exercise it.
 *
 * Layout: accel.c writes a ROM file of ACCEL_PROBE_ROM_SIZE bytes with the
 * image (accel_probe_image up to accel_probe_image_end) at offset 0, zeros,
 * and the reset stub (accel_probe_reset) at ACCEL_PROBE_RESET_OFFSET, where
 * the CPU starts.  QEMU maps the ROM at the top of the 4 GiB space and
 * again below 1 MiB at ROM_BASE, where all of the code runs.  It is
 * assembled straight into the library's read-only data, so every guest
 * address is written as ABS(label), the offset within the image plus
 * ROM_BASE, which the assembler resolves without relocations.  Writable
 * data (page tables, IDT, stack) lives in RAM from RAM_BASE on.
 */
#include "accel-probe.h"

#if defined(__x86_64__)

#define ROM_SEGMENT 0xf000
#define ROM_BASE (ROM_SEGMENT << 4)
#define OFF(sym) sym - accel_probe_image
#define ABS(sym) (sym - accel_probe_image + ROM_BASE)

#define RAM_BASE 0x100000
#define PML4 (RAM_BASE + 0x0000)
#define PDPT (RAM_BASE + 0x1000)
#define PD (RAM_BASE + 0x2000)
#define IDT (RAM_BASE + 0x3000)
#define RAM_CLEAR_END (RAM_BASE + 0x4000)
#define STACK_TOP (RAM_BASE + 0x5000)

#define CR0_PE 0x00000001
#define CR0_MP 0x00000002
#define CR0_EM 0x00000004
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define CR4_OSFXSR 0x00000200
#define CR4_OSXMMEXCPT 0x00000400
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100
#define EFER_LMA_BIT 10
#define CPUID_LM_BIT 29   /* leaf 0x80000001, %edx */
#define CPUID_SSE2_BIT 26 /* leaf 1, %edx */

#define PTE_PRESENT_RW 0x003
#define PTE_HUGE 0x080
#define MAPPED_2M_PAGES 32 /* identity-map the first 64 MiB */

#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18

#define PATTERN 0x5a5aa5a5c3c33c3c
#define VEC_BREAKPOINT 3
#define IDT_ENTRIES 4
#define GATE_INTR64 0x8e00 /* present, DPL 0, 64-bit interrupt gate */
#define TRAP_SEEN 0x600d
#define WALK_START 0x400000 /* memory written and read back: 4-12 MiB */
#define WALK_END 0xc00000
#define WALK_STRIDE 256

    .section .rodata.accel_probe, "a"
    .balign 16
    .globl accel_probe_image
    .type accel_probe_image, @object
accel_probe_image:

/* Write %al to the exit port.  Every check below puts its failure code
 * in %eax with a MOV, which keeps the flags of the comparison before it,
 * and branches here; so does the end with the pass value.  These few
 * instructions encode the same in 32-bit and 64-bit mode, so both halves
 * of the probe use them.
 */
    .code32
report:
    outb %al, $ACCEL_PROBE_PORT
halt:
    hlt
    jmp halt

/* From the reset stub, in real mode with %cs = ROM_SEGMENT. */
    .code16
start16:
    cli
    cld
    lgdtl %cs:OFF(gdt_desc)
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $SEL_CODE32, $ABS(start32)

    .code32
start32:
    movl $SEL_DATA, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl $STACK_TOP, %esp

    /* Does the CPU model offer long mode at all? */
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    movl $ACCEL_PROBE_E_NO_LM, %eax
    jb report
    movl $0x80000001, %eax
    cpuid
    btl $CPUID_LM_BIT, %edx
    movl $ACCEL_PROBE_E_NO_LM, %eax
    jnc report

    /* Page tables: PML4[0] -> PDPT, PDPT[0] -> PD, PD maps 2 MiB pages
     * one to one.  Nobody cleared this RAM, so clear it (and the IDT).
     */
    movl $PML4, %edi
    xorl %eax, %eax
    movl $((RAM_CLEAR_END - PML4) / 4), %ecx
    rep stosl
    movl $PML4, %edi
    movl $(PDPT | PTE_PRESENT_RW), (%edi)
    movl $PDPT, %edi
    movl $(PD | PTE_PRESENT_RW), (%edi)
    movl $PD, %edi
    movl $(PTE_PRESENT_RW | PTE_HUGE), %eax
    movl $MAPPED_2M_PAGES, %ecx
1:
    movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 1b

    /* PAE, then EFER.LME, then paging: the CPU enters long mode
     * (compatibility mode until the far jump below).
     */
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $PML4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $CR0_PG, %eax
    movl %eax, %cr0
    ljmp $SEL_CODE64, $ABS(start64)

    .code64
start64:
    movl $SEL_DATA, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movq $STACK_TOP, %rsp

    /* Is long mode really active? */
    movl $MSR_EFER, %ecx
    rdmsr
    btl $EFER_LMA_BIT, %eax
    movl $ACCEL_PROBE_E_NO_LMA, %eax
    jnc report

    /* SSE2, as any 64-bit user space uses it: enable it, then double
     * a 64-bit value in %xmm0 and compare with the integer result.
     */
    movl $1, %eax
    cpuid
    btl $CPUID_SSE2_BIT, %edx
    movl $ACCEL_PROBE_E_NO_SSE, %eax
    jnc report
    movq %cr0, %rax
    andq $~CR0_EM, %rax
    orq $CR0_MP, %rax
    movq %rax, %cr0
    movq %cr4, %rax
    orq $(CR4_OSFXSR | CR4_OSXMMEXCPT), %rax
    movq %rax, %cr4
    movabsq $PATTERN, %rsi
    movq %rsi, %xmm0
    paddq %xmm0, %xmm0
    movq %xmm0, %rbx
    leaq (%rsi, %rsi), %rax
    cmpq %rax, %rbx
    movl $ACCEL_PROBE_E_SSE, %eax
    jne report

    /* A breakpoint exception through a 64-bit interrupt gate: the
     * handler sets %ebx and returns with IRETQ.
     */
    movq $IDT + VEC_BREAKPOINT * 16, %rdi
    movl $ABS(on_breakpoint), %eax
    movw %ax, 0(%rdi)
    movw $SEL_CODE64, 2(%rdi)
    movw $GATE_INTR64, 4(%rdi)
    shrl $16, %eax
    movw %ax, 6(%rdi)
    movl $ABS(idt_desc), %eax
    lidt (%rax)
    xorl %ebx, %ebx
    int3
    cmpl $TRAP_SEEN, %ebx
    movl $ACCEL_PROBE_E_TRAP, %eax
    jne report

    /* Write a 64-bit value derived from its address all over the walked
     * range (every page, several times), then read it all back.
     */
    movq $WALK_START, %rdi
1:
    movq %rdi, %rax
    xorq %rsi, %rax
    movq %rax, (%rdi)
    addq $WALK_STRIDE, %rdi
    cmpq $WALK_END, %rdi
    jb 1b
    movq $WALK_START, %rdi
2:
    movq %rdi, %rax
    xorq %rsi, %rax
    cmpq %rax, (%rdi)
    movl $ACCEL_PROBE_E_MEMORY, %eax
    jne report
    addq $WALK_STRIDE, %rdi
    cmpq $WALK_END, %rdi
    jb 2b

    movl $ACCEL_PROBE_PASS, %eax
    jmp report

on_breakpoint:
    movl $TRAP_SEEN, %ebx
    iretq

/* Descriptors are marked accessed already, so that the CPU never tries
 * to write to them in ROM.
 */
    .balign 8
gdt:
    .quad 0                  /* null */
    .quad 0x00af9b000000ffff /* SEL_CODE64: 64-bit code */
    .quad 0x00cf93000000ffff /* SEL_DATA: flat 4 GiB data */
    .quad 0x00cf9b000000ffff /* SEL_CODE32: flat 4 GiB 32-bit code */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long ABS(gdt)
idt_desc:
    .word IDT_ENTRIES * 16 - 1
    .quad IDT

    .globl accel_probe_image_end
accel_probe_image_end:
    .size accel_probe_image, accel_probe_image_end - accel_probe_image

/* The reset stub (ACCEL_PROBE_RESET_SIZE bytes), which accel.c puts at
 * ACCEL_PROBE_RESET_OFFSET: the CPU starts here in real mode, and a far
 * jump takes it to the copy of the ROM below 1 MiB.  Hand-encoded, as the
 * target must be an offset from accel_probe_image, not a relocation.
 */
    .globl accel_probe_reset
    .type accel_probe_reset, @object
accel_probe_reset:
    .byte 0xea               /* ljmp ROM_SEGMENT:start16 */
    .word OFF(start16)
    .word ROM_SEGMENT
    .fill ACCEL_PROBE_RESET_SIZE - 5, 1, 0xf4 /* hlt */
    .size accel_probe_reset, ACCEL_PROBE_RESET_SIZE

#endif /* __x86_64__ */

    .section .note.GNU-stack, "", @progbits
