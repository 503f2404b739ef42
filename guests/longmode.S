# longmode: switches from the PVH 32-bit entry to 64-bit long mode and prints
# "Long mode OK\n" to COM1 from 64-bit code, then halts.
#
# Steps (Intel SDM Vol. 3A, 10.8.5 "Initializing IA-32e Mode"):
#   1. build 4-level page tables identity-mapping the first 1 GiB with 2 MiB
#      pages: PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] = i * 2 MiB | PS|RW|P;
#   2. LGDT our own GDT (null, 64-bit code 0x08, data 0x10);
#   3. CR4.PAE = 1, CR3 = PML4, IA32_EFER.LME = 1 (MSR 0xC0000080),
#      CR0.PG = 1 (CR0.PE is already set by the PVH entry);
#   4. far jump to the 64-bit code segment, reload the data segments;
#   5. print through a CALL/RET subroutine walking the string with RSI.
# The page tables live in .bss: the loader's zero-fill supplies every entry
# not written here.

        .include "serial.inc"

        .equ    MSR_EFER,    0xc0000080
        .equ    EFER_LME,    0x100      # bit 8
        .equ    CR4_PAE,     0x20       # bit 5
        .equ    CR0_PG,      0x80000000 # bit 31
        .equ    PTE_P_RW,    0x003      # present, writable
        .equ    PDE_2M,      0x083      # present, writable, page size (2 MiB)
        .equ    SEL_CODE64,  0x08
        .equ    SEL_DATA,    0x10

        .include "pvh-note.inc"

        .code32
        .section .text.entry, "ax"
        .globl  pvh_start
pvh_start:
        cli
        mov     $stack_top, %esp

        # PML4[0] = PDPT | P | RW
        mov     $pml4, %edi
        mov     $pdpt, %eax
        or      $PTE_P_RW, %eax
        mov     %eax, (%edi)
        # PDPT[0] = PD | P | RW
        mov     $pdpt, %edi
        mov     $pd, %eax
        or      $PTE_P_RW, %eax
        mov     %eax, (%edi)
        # PD[0..511] = i << 21 | PS | RW | P   (identity map 0 .. 1 GiB)
        mov     $pd, %edi
        mov     $PDE_2M, %eax
        mov     $512, %ecx
fill_pd:
        mov     %eax, (%edi)
        movl    $0, 4(%edi)
        add     $0x200000, %eax
        add     $8, %edi
        dec     %ecx
        jnz     fill_pd

        lgdt    gdt_desc

        mov     %cr4, %eax
        or      $CR4_PAE, %eax
        mov     %eax, %cr4

        mov     $pml4, %eax
        mov     %eax, %cr3

        mov     $MSR_EFER, %ecx
        rdmsr
        or      $EFER_LME, %eax
        wrmsr

        mov     %cr0, %eax
        or      $CR0_PG, %eax
        mov     %eax, %cr0               # IA-32e mode active (compatibility mode)

        ljmp    $SEL_CODE64, $long_entry # EA ptr16:32

        .code64
long_entry:
        mov     $SEL_DATA, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     %ax, %fs
        mov     %ax, %gs
        mov     $stack_top, %rsp
        lea     msg(%rip), %rsi
        call    puts64
halt:
        cli
        hlt
        jmp     halt

# puts64: write the NUL-terminated string at RSI to COM1 (serial.inc).
puts64: PUTS    r

        .section .rodata
msg:    .asciz  "Long mode OK\n"

        .data
        .balign 8
gdt:
        .quad   0x0000000000000000      # 0x00 null
        .quad   0x00af9a000000ffff      # 0x08 64-bit code: P, DPL0, exec/read, L=1, G
        .quad   0x00cf92000000ffff      # 0x10 data: P, DPL0, read/write, D/B=1, G, flat 4 GiB
gdt_end:
        .balign 4
        .word   0                       # pad so the 6-byte descriptor is aligned after the word
gdt_desc:
        .word   gdt_end - gdt - 1       # limit
        .long   gdt                     # base (32-bit LGDT form)

        .bss
        .balign 4096
pml4:   .skip   4096
pdpt:   .skip   4096
pd:     .skip   4096
        .balign 16
stack:  .skip   4096
stack_top:
