# kut-devices: a kvm-unit-tests-style kernel (multiboot, ELF32) that checks
# the devices kvm-unit-tests relies on, as QEMU defines them:
#   fw_cfg (docs/specs/fw_cfg.rst): 16-bit key to port 0x510, bytes from 0x511
#     - key 0x00 reads "QEMU"; key 0x05 (CPU count) reads 1 (u16);
#     - key 0x03 (RAM size, u64) = mem_upper * 1024 + 1 MiB from the multiboot
#       information (EBX at entry, +8), high half 0; an unknown key reads 0.
#   pc-testdev (hw/misc/pc-testdev.c):
#     - a 32-bit write to port 0xE0 is read back byte-wise at 0xE2, and through
#       the byte port 0xE8 (the same latch), also as a 32-bit read;
#     - REP OUTSB of "abcd" to 0xE0 leaves 'd' in latch byte 0;
#     - the MMIO buffer at 0xFF000000 (paging is off, so the address is
#       physical): a 32-bit store read back as 16 bits at +2, and a 32-bit
#       store that crosses a page boundary inside the buffer read back whole;
#     - IRQ line 5 (port 0x2005, value 1) latches 8259 IRR bit 5 (edge mode);
#       with IRQ 6 level-triggered (ELCR 0x4D0 bit 6) its IRR bit follows
#       the line written through port 0x2006.
# Prints PASS:/FAIL: lines and the SUMMARY line, exits with 0 or 1.

        .include "multiboot.inc"
        .include "kut.inc"

        .equ    FW_SEL,  0x510
        .equ    FW_DATA, 0x511
        .equ    IOMEM,   0xff000000

        .section .text.entry, "ax"
        .globl  mb_start
mb_start:
        cli
        mov     $kut_stack_top, %esp
        mov     %ebx, %ebp              # the multiboot information

        # fw_cfg signature
        mov     $0, %eax
        call    fw_select
        call    fw_read4
        cmp     $0x554d4551, %eax       # "QEMU" little-endian
        sete    %al
        movzbl  %al, %eax
        mov     $n_sig, %esi
        call    report

        # fw_cfg CPU count
        mov     $5, %eax
        call    fw_select
        call    fw_read1
        mov     %eax, %ebx
        call    fw_read1
        shl     $8, %eax
        or      %ebx, %eax
        cmp     $1, %eax
        sete    %al
        movzbl  %al, %eax
        mov     $n_cpus, %esi
        call    report

        # fw_cfg RAM size vs. the multiboot mem_upper
        mov     $3, %eax
        call    fw_select
        call    fw_read4
        mov     %eax, %ebx
        call    fw_read4                # high half
        mov     8(%ebp), %ecx
        shl     $10, %ecx
        add     $0x100000, %ecx
        xor     %edx, %edx
        cmp     %ecx, %ebx
        jne     1f
        test    %eax, %eax
        jnz     1f
        inc     %edx
1:      mov     %edx, %eax
        mov     $n_ram, %esi
        call    report

        # fw_cfg unknown key
        mov     $0x1234, %eax
        call    fw_select
        call    fw_read4
        test    %eax, %eax
        setz    %al
        movzbl  %al, %eax
        mov     $n_unknown, %esi
        call    report

        # pc-testdev latch
        mov     $0x12345678, %eax
        out     %eax, $0xe0
        xor     %eax, %eax
        in      $0xe2, %al
        cmp     $0x34, %eax
        sete    %al
        movzbl  %al, %eax
        mov     $n_latch, %esi
        call    report

        xor     %eax, %eax
        in      $0xe8, %al
        cmp     $0x78, %eax
        jne     1f
        in      $0xe8, %eax
        cmp     $0x12345678, %eax
1:      sete    %al
        movzbl  %al, %eax
        mov     $n_byte, %esi
        call    report

        # REP OUTSB to the latch
        mov     $s_abcd, %esi
        mov     $4, %ecx
        mov     $0xe0, %dx
        cld
        rep outsb
        xor     %eax, %eax
        in      $0xe0, %al
        cmp     $'d', %eax
        sete    %al
        movzbl  %al, %eax
        mov     $n_outs, %esi
        call    report

        # MMIO buffer
        movl    $0xdeadbeef, IOMEM
        movzwl  IOMEM + 2, %eax
        cmp     $0xdead, %eax
        sete    %al
        movzbl  %al, %eax
        mov     $n_mmio, %esi
        call    report

        movl    $0x11223344, IOMEM + 0xffe
        mov     IOMEM + 0xffe, %eax
        cmp     $0x11223344, %eax
        sete    %al
        movzbl  %al, %eax
        mov     $n_cross, %esi
        call    report

        # IRQ line 5, edge: IRR bit 5 latched
        mov     $1, %al
        mov     $0x2005, %dx
        out     %al, %dx
        mov     $0x0a, %al              # OCW3: read IRR
        out     %al, $0x20
        in      $0x20, %al
        mov     %eax, %ebx
        xor     %al, %al
        out     %al, %dx                # lower the line again
        mov     %ebx, %eax
        shr     $5, %eax
        and     $1, %eax
        mov     $n_irq, %esi
        call    report

        # IRQ line 6, level (ELCR): IRR follows the line
        mov     $0x40, %al
        mov     $0x4d0, %dx
        out     %al, %dx
        mov     $1, %al
        mov     $0x2006, %dx
        out     %al, %dx
        mov     $0x0a, %al
        out     %al, $0x20
        in      $0x20, %al
        mov     %eax, %ebx              # bit 6 should be 1
        xor     %al, %al
        out     %al, %dx
        in      $0x20, %al              # bit 6 should be 0
        shr     $6, %ebx
        and     $1, %ebx
        shr     $6, %eax
        and     $1, %eax
        xor     $1, %eax
        and     %ebx, %eax
        mov     $n_level, %esi
        call    report

        jmp     summary_exit

# fw_select: selects fw_cfg item %ax (16-bit write to 0x510).
fw_select:
        mov     $FW_SEL, %dx
        out     %ax, %dx
        ret
# fw_read1: the next data byte in %eax.
fw_read1:
        mov     $FW_DATA, %dx
        xor     %eax, %eax
        in      %dx, %al
        ret
# fw_read4: the next four data bytes, little-endian, in %eax.
fw_read4:
        push    %ebx
        push    %ecx
        xor     %ebx, %ebx
        mov     $4, %ecx
1:      call    fw_read1
        ror     $8, %ebx
        shl     $24, %eax
        or      %eax, %ebx
        dec     %ecx
        jnz     1b
        mov     %ebx, %eax
        pop     %ecx
        pop     %ebx
        ret

        .section .rodata
s_abcd:    .ascii "abcd"
n_sig:     .asciz "fw_cfg: signature"
n_cpus:    .asciz "fw_cfg: cpu count"
n_ram:     .asciz "fw_cfg: ram size"
n_unknown: .asciz "fw_cfg: unknown key"
n_latch:   .asciz "pc-testdev: latch"
n_byte:    .asciz "pc-testdev: byte latch"
n_outs:    .asciz "pc-testdev: rep outsb"
n_mmio:    .asciz "pc-testdev: mmio"
n_cross:   .asciz "pc-testdev: mmio cross-page"
n_irq:     .asciz "pc-testdev: irq line edge"
n_level:   .asciz "pc-testdev: irq line level"
