# kut-pass: a passing kvm-unit-tests-style kernel (multiboot, ELF32):
# "PASS: x", "SUMMARY: 1 tests", exit code 0 (status 1).
        .include "multiboot.inc"
        .include "kut.inc"

        .section .text.entry, "ax"
        .globl  mb_start
mb_start:
        cli
        mov     $kut_stack_top, %esp
        mov     $1, %eax
        mov     $name_x, %esi
        call    report
        jmp     summary_exit

        .section .rodata
name_x: .asciz  "x"
