# kut-fail: a failing kvm-unit-tests-style kernel (multiboot, ELF32):
# "PASS: a", "FAIL: b", "SUMMARY: 2 tests, 1 unexpected failures", exit code
# 1 (status 3).
        .include "multiboot.inc"
        .include "kut.inc"

        .section .text.entry, "ax"
        .globl  mb_start
mb_start:
        cli
        mov     $kut_stack_top, %esp
        mov     $1, %eax
        mov     $name_a, %esi
        call    report
        xor     %eax, %eax
        mov     $name_b, %esi
        call    report
        jmp     summary_exit

        .section .rodata
name_a: .asciz  "a"
name_b: .asciz  "b"
