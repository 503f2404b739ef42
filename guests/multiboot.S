# multiboot: the multiboot v1 test guest (ELF32, guest32.ld). Shows what the
# loader handed over (Multiboot Specification 0.6.96, 3.2 and 3.3):
#
#   multiboot magic ok              (EAX = 0x2BADB002 at entry)
#   flags 0x........                (information structure +0)
#   mem_upper 0x........            (+8, KiB above 1 MiB)
#   cmdline [<the command line>]    (+16, flags bit 2)
#   modules 0x........              (+20 mods_count, flags bit 3)
#   module [<module 0's bytes>] string [<its string>]   (module table entry 0)
#
# then exits through the debug-exit port with code 0x2a (status 85). A wrong
# EAX prints "bad magic" and exits with code 1 (status 3).

        .include "multiboot.inc"

        .equ    MBI_FLAGS,     0
        .equ    MBI_MEM_UPPER, 8
        .equ    MBI_CMDLINE,   16
        .equ    MBI_MODS_COUNT, 20
        .equ    MBI_MODS_ADDR, 24

        .section .text.entry, "ax"
        .globl  mb_start
mb_start:
        cli
        mov     $stack_top, %esp
        mov     %ebx, %edi              # the information structure
        cmp     $MB_BOOT_EAX, %eax
        je      magic_ok
        mov     $s_bad, %esi
        call    puts
        mov     $1, %eax
        jmp     exit
magic_ok:
        mov     $s_ok, %esi
        call    puts
        mov     $s_flags, %esi
        call    puts
        mov     MBI_FLAGS(%edi), %eax
        call    puthex
        mov     $s_upper, %esi
        call    puts
        mov     MBI_MEM_UPPER(%edi), %eax
        call    puthex
        mov     $s_cmdline, %esi
        call    puts
        testl   $4, MBI_FLAGS(%edi)
        jz      1f
        mov     MBI_CMDLINE(%edi), %esi
        call    puts
1:      mov     $s_close, %esi
        call    puts
        mov     $s_mods, %esi
        call    puts
        xor     %eax, %eax
        testl   $8, MBI_FLAGS(%edi)
        jz      2f
        mov     MBI_MODS_COUNT(%edi), %eax
2:      call    puthex
        mov     $s_nl, %esi
        call    puts
        test    %eax, %eax
        jz      done
        mov     MBI_MODS_ADDR(%edi), %ebx
        mov     $s_module, %esi
        call    puts
        mov     0(%ebx), %esi           # mod_start
        mov     4(%ebx), %ecx           # mod_end (first byte after)
        sub     %esi, %ecx
        call    putn
        mov     $s_string, %esi
        call    puts
        mov     8(%ebx), %esi           # string (0 = none)
        test    %esi, %esi
        jz      3f
        call    puts
3:      mov     $s_close, %esi
        call    puts
done:
        mov     $0x2a, %eax
        jmp     exit

        .section .rodata
s_bad:     .asciz "bad magic\n"
s_ok:      .asciz "multiboot magic ok\n"
s_flags:   .asciz "flags "
s_upper:   .asciz "\nmem_upper "
s_cmdline: .asciz "\ncmdline ["
s_close:   .asciz "]\n"
s_mods:    .asciz "modules "
s_nl:      .asciz "\n"
s_module:  .asciz "module ["
s_string:  .asciz "] string ["

        .bss
        .balign 16
stack:  .skip   4096
stack_top:
