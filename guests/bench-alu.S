# bench-alu: the ALU benchmark. Enters 64-bit long mode (bench-lm64.inc), then
# runs a register-only loop: ITER iterations of 11 instructions (9 ALU ops,
# DEC of the counter, JNZ), no memory operands, no exits. Prints the XOR of
# the four data registers (a checksum another x86 can confirm) and "done".
#
# Instructions retired: 5,000,000 * 11 = 55,000,000 in the loop, plus about
# 6,000 for the entry (page-table fill), set-up and console output
# (55,005,959 in all).

        .equ    ITER, 5000000

        .include "bench-lm64.inc"

        .text
bench_main:
        mov     $0x0123456789abcdef, %rax
        mov     $0x0fedcba987654321, %rbx
        mov     $0x5555aaaa3333cccc, %rdx
        mov     $0x7f7f7f7f01010101, %rsi
        mov     $ITER, %ecx
1:
        add     %rbx, %rax              # 64-bit ADD r/m64, r64
        xor     %rax, %rdx              # XOR
        sub     %rcx, %rdx              # SUB
        and     %rdx, %rsi              # AND
        or      %rax, %rsi              # OR
        shl     $3, %rbx                # SHL r/m64, imm8
        shr     $1, %rdx                # SHR r/m64, 1
        inc     %rbx                    # INC (keeps CF)
        cmp     %rsi, %rax              # CMP (flags overwritten by DEC)
        dec     %rcx                    # loop counter
        jnz     1b

        xor     %rbx, %rax
        xor     %rdx, %rax
        xor     %rsi, %rax
        lea     msg(%rip), %rsi
        call    report
        jmp     halt

        .section .rodata
msg:    .asciz  "alu checksum "
