/* vmsnap: the accelerator probe guest (booted by accel.c).
 *
 * A tiny kernel that QEMU boots with -kernel, to find out whether an
 * accelerator really runs a 64-bit guest.  It does what every 64-bit
 * operating system does first: from the 32-bit protected mode a multiboot
 * loader leaves it in, it builds identity page tables, turns on PAE, sets
 * EFER.LME (an MSR write) and paging, and jumps into 64-bit code.  There
 * it checks that long mode is really active, walks 8 MiB of memory, runs
 * an SSE2 computation and takes a breakpoint exception through a 64-bit
 * IDT.  Last it writes a byte to QEMU's isa-debug-exit port: the pass
 * value, or the number of the check that failed (see accel-probe.h).  A
 * guest that hangs never writes it; QEMU stopped by an error never runs it.
 *
 * The image is not an ELF file: it is a flat binary with a multiboot (v1)
 * header whose "a.out kludge" flag gives the load and entry addresses, so
 * QEMU copies it to LOAD_BASE as it is.  It is assembled straight into the
 * library's read-only data, and accel.c writes the bytes between
 * accel_probe_image and accel_probe_image_end to a file for QEMU.  Every
 * guest address is therefore written as ABS(label), an offset within the
 * image plus LOAD_BASE, which the assembler resolves without relocations.
 *
 * Guest memory map: the image at LOAD_BASE (it must stay below 4 KiB,
 * ACCEL_PROBE_IMAGE_MAX, which accel.c checks),
 * then, in the zeroed area the header declares as bss: PML4, PDPT and PD
 * at +0x1000, +0x2000 and +0x3000, the IDT at +0x4000 and the stack
 * growing down from +0x5000.
 */
#include "accel-probe.h"

#if defined(__x86_64__)

#define LOAD_BASE 0x100000
#define ABS(sym) (sym - accel_probe_image + LOAD_BASE)
#define PML4 (LOAD_BASE + 0x1000)
#define PDPT (LOAD_BASE + 0x2000)
#define PD (LOAD_BASE + 0x3000)
#define IDT (LOAD_BASE + 0x4000)
#define STACK_TOP (LOAD_BASE + 0x5000)
#define BSS_END STACK_TOP

#define MB_MAGIC 0x1badb002  /* in the multiboot header */
#define MB_FLAGS 0x00010000  /* addresses are in the header */
#define MB_BOOTED 0x2badb002 /* in %eax at entry */

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

#define WALK_START 0x400000 /* memory written and read back: 4-12 MiB */
#define WALK_END 0xc00000
#define WALK_STRIDE 64
#define PATTERN 0x5a5aa5a5c3c33c3c

#define VEC_BREAKPOINT 3
#define IDT_ENTRIES 4
#define GATE_INTR64 0x8e00 /* present, DPL 0, 64-bit interrupt gate */
#define TRAP_SEEN 0x600d

    .section .rodata.accel_probe, "a"
    .balign 16
    .globl accel_probe_image
    .type accel_probe_image, @object
accel_probe_image:

mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long ABS(mb_header)            /* header_addr */
    .long LOAD_BASE                 /* load_addr */
    .long ABS(accel_probe_image_end) /* load_end_addr */
    .long BSS_END                   /* bss_end_addr */
    .long ABS(start32)              /* entry_addr */

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

start32:
    cli
    cld
    cmpl $MB_BOOTED, %eax
    movl $ACCEL_PROBE_E_LOADER, %eax
    jne report
    movl $STACK_TOP, %esp

    /* Does the CPU offer long mode at all? */
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
     * one to one.  The loader zeroes bss, but do not count on it.
     */
    movl $PML4, %edi
    xorl %eax, %eax
    movl $((PD + 0x1000 - PML4) / 4), %ecx
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
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0

    movl $ABS(gdt_desc), %eax
    lgdt (%eax)
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

    /* Write a 64-bit value derived from its address to every cache line
     * of the walked range, then read them all back.
     */
    movabsq $PATTERN, %rsi
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

    /* SSE2, as any 64-bit user space uses it: enable it, then double
     * the pattern in %xmm0 and compare with the integer result.
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
    movl $0, 8(%rdi)
    movl $0, 12(%rdi)
    movl $ABS(idt_desc), %eax
    lidt (%rax)
    xorl %ebx, %ebx
    int3
    cmpl $TRAP_SEEN, %ebx
    movl $ACCEL_PROBE_E_TRAP, %eax
    jne report

    movl $ACCEL_PROBE_PASS, %eax
    jmp report

on_breakpoint:
    movl $TRAP_SEEN, %ebx
    iretq

    .balign 8
gdt:
    .quad 0                  /* null */
    .quad 0x00af9a000000ffff /* SEL_CODE64: 64-bit code, DPL 0 */
    .quad 0x00cf92000000ffff /* SEL_DATA: flat data */
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

#endif /* __x86_64__ */

    .section .note.GNU-stack, "", @progbits
