# bench-memcpy: the memory benchmark. Enters 64-bit long mode
# (bench-lm64.inc), fills a 64 KiB source buffer with a pattern, then copies
# it to a 64 KiB destination COPIES times with an explicit load/store loop
# (MOV load, MOV store, two ADDs, DEC, JNZ per quadword; no string
# instructions). Before each copy the first source quadword is bumped, so
# every pass copies different data. Prints a checksum of the destination
# (sum of its quadwords, 64-bit wrap-around) and "done".
#
# Instructions retired: COPIES * (8192 * 6 + 6) = 49,158,000 in the copy
# loops, 73,728 for fill and checksum, about 6,000 for the entry (page-table
# fill), set-up and console output (49,237,748 in all).

        .equ    QWORDS, 65536 / 8
        .equ    COPIES, 1000

        .include "bench-lm64.inc"

        .text
bench_main:
        # src[i] = (i + 1) * K
        lea     src(%rip), %rdi
        mov     $QWORDS, %ecx
        mov     $0x9e3779b97f4a7c15, %rdx
        xor     %eax, %eax
1:
        add     %rdx, %rax
        mov     %rax, (%rdi)
        add     $8, %rdi
        dec     %ecx
        jnz     1b

        mov     $COPIES, %r8d
2:
        lea     src(%rip), %rsi
        lea     dst(%rip), %rdi
        add     %r8, (%rsi)             # make every pass differ
        mov     $QWORDS, %ecx
3:
        mov     (%rsi), %rax            # load
        mov     %rax, (%rdi)            # store
        add     $8, %rsi
        add     $8, %rdi
        dec     %rcx
        jnz     3b
        dec     %r8d
        jnz     2b

        # checksum: sum of dst quadwords
        lea     dst(%rip), %rsi
        mov     $QWORDS, %ecx
        xor     %eax, %eax
4:
        add     (%rsi), %rax
        add     $8, %rsi
        dec     %ecx
        jnz     4b

        lea     msg(%rip), %rsi
        call    report
        jmp     halt

        .section .rodata
msg:    .asciz  "memcpy checksum "

        .bss
        .balign 4096
src:    .skip   65536
dst:    .skip   65536
