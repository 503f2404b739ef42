# hello: the smallest PVH guest. Writes "Hi\n" to COM1 and halts.
#
# Entry (Xen PVH): 32-bit protected mode, paging off, flat CS/DS/ES/SS,
# EBX = hvm_start_info (unused here). Assembled with plain `as` (no cpp),
# so constants are .equ and comments start with '#'.

        .include "serial.inc"

        .include "pvh-note.inc"

        .code32
        .section .text.entry, "ax"
        .globl  pvh_start
pvh_start:
        cli
        mov     $stack_top, %esp        # a stack of our own (unused, but defined)
        mov     $msg, %esi
next:
        movzbl  (%esi), %ecx            # next character
        test    %cl, %cl
        jz      done
        mov     $COM1_LSR, %dx
wait_thre:
        in      %dx, %al
        test    $LSR_THRE, %al
        jz      wait_thre
        mov     $COM1, %dx
        mov     %cl, %al
        out     %al, %dx
        inc     %esi
        jmp     next
done:
        cli
        hlt
        jmp     done

        .section .rodata
msg:    .asciz  "Hi\n"

        .bss
        .balign 16
stack:  .skip   4096
stack_top:
