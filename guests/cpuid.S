# cpuid: prints the CPUID leaf 0 vendor string (EBX, EDX, ECX) and "\n" to COM1,
# then halts. Exercises CPUID and a 32-bit CALL/RET subroutine with PUSH/POP.
#
# Entry (Xen PVH): 32-bit protected mode, paging off, flat segments.

        .include "serial.inc"

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

# puts: write the NUL-terminated string at ESI to COM1 (serial.inc).
puts:   PUTS    e

        .bss
        .balign 16
vendor: .skip   16                      # 12 vendor bytes, '\n', NUL
stack:  .skip   4096
stack_top:
