# cpuid: prints the CPUID leaf 0 vendor string (EBX, EDX, ECX) and "\n" to COM1,
# then halts. Exercises CPUID and a 32-bit CALL/RET subroutine with PUSH/POP.
#
# Entry (Xen PVH): 32-bit protected mode, paging off, flat segments.

        .equ    COM1,        0x3f8
        .equ    COM1_LSR,    0x3fd
        .equ    LSR_THRE,    0x20

        .include "pvh-note.inc"

        .code32
        .section .text.entry, "ax"
        .globl  pvh_start
pvh_start:
        cli
        mov     $stack_top, %esp
        xor     %eax, %eax              # leaf 0: max leaf in EAX, vendor in EBX:EDX:ECX
        cpuid
        mov     $vendor, %edi
        mov     %ebx, (%edi)            # "Genu"
        mov     %edx, 4(%edi)           # "ineI"
        mov     %ecx, 8(%edi)           # "ntel"
        movb    $'\n', 12(%edi)
        movb    $0, 13(%edi)
        mov     $vendor, %esi
        call    puts
halt:
        cli
        hlt
        jmp     halt

# puts: write the NUL-terminated string at ESI to COM1. Clobbers ESI.
puts:
        push    %eax
        push    %ecx
        push    %edx
1:
        movzbl  (%esi), %ecx
        test    %ecx, %ecx
        jz      3f
        mov     $COM1_LSR, %dx
2:
        in      %dx, %al
        test    $LSR_THRE, %al
        jz      2b
        mov     $COM1, %dx
        mov     %ecx, %eax
        out     %al, %dx
        inc     %esi
        jmp     1b
3:
        pop     %edx
        pop     %ecx
        pop     %eax
        ret

        .bss
        .balign 16
vendor: .skip   16                      # 12 vendor bytes, '\n', NUL
stack:  .skip   4096
stack_top:
