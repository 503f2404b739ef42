# sse: enables SSE the way an OS does (CR0.EM = 0, CR0.MP = 1, CR4.OSFXSR and
# CR4.OSXMMEXCPT; SDM Vol. 3A, 13.1.3 "Initialization of the SSE Extensions"),
# then runs the SSE2 idioms of compiled string routines in 64-bit mode:
#   1. strlen of `text` 16 bytes at a time: MOVDQU, PXOR, PCMPEQB, PMOVMSKB, BSF;
#   2. the number of 'e' bytes in it: the byte broadcast of memset (MOVD,
#      PUNPCKLBW, PUNPCKLWD, PSHUFD), PCMPEQB, PMOVMSKB, a tail mask, POPCNT;
#   3. a 64-byte memset of an aligned buffer with MOVDQA, summed back with
#      MOVDQU, PADDQ and PSRLDQ;
#   4. STMXCSR, and MXCSR_MASK from an FXSAVE image.
# Prints each result as "<name> 0x<16 hex digits>" and "done".

        .include "bench-lm64.inc"

        .equ    CR0_MP,       0x2
        .equ    CR0_EM,       0x4
        .equ    CR4_OSFXSR,   0x200
        .equ    CR4_OSXMMEXCPT, 0x400

        .text
bench_main:
        mov     %cr0, %rax
        and     $~CR0_EM, %rax
        or      $CR0_MP, %rax
        mov     %rax, %cr0
        mov     %cr4, %rax
        or      $CR4_OSFXSR | CR4_OSXMMEXCPT, %rax
        mov     %rax, %cr4

        # ---- 1. strlen(text) ----
        lea     text(%rip), %rdi
        mov     %rdi, %rsi
        pxor    %xmm0, %xmm0
1:
        movdqu  (%rsi), %xmm1
        pcmpeqb %xmm0, %xmm1
        pmovmskb %xmm1, %eax
        test    %eax, %eax
        jnz     2f
        add     $16, %rsi
        jmp     1b
2:
        bsf     %eax, %eax
        add     %rsi, %rax
        sub     %rdi, %rax
        mov     %rax, %r12              # length
        lea     msg_len(%rip), %rsi
        call    print_value

        # ---- 2. count of 'e' in text[0 .. length) ----
        mov     $'e', %eax
        movd    %eax, %xmm2
        punpcklbw %xmm2, %xmm2
        punpcklwd %xmm2, %xmm2
        pshufd  $0, %xmm2, %xmm2        # 16 x 'e'
        xor     %r13d, %r13d            # count
        mov     %r12, %rcx              # bytes left
        lea     text(%rip), %rsi
3:
        movdqu  (%rsi), %xmm1
        pcmpeqb %xmm2, %xmm1
        pmovmskb %xmm1, %eax
        cmp     $16, %rcx
        jae     4f
        mov     $1, %edx                # keep the low RCX bits of the mask
        shl     %cl, %edx
        dec     %edx
        and     %edx, %eax
4:
        popcnt  %eax, %eax
        add     %rax, %r13
        add     $16, %rsi
        sub     $16, %rcx
        ja      3b
        mov     %r13, %rax
        lea     msg_count(%rip), %rsi
        call    print_value

        # ---- 3. memset(buf, 0x5a, 64) with MOVDQA, then sum the qwords ----
        mov     $0x5a, %eax
        movd    %eax, %xmm3
        punpcklbw %xmm3, %xmm3
        punpcklwd %xmm3, %xmm3
        pshufd  $0, %xmm3, %xmm3
        lea     buf(%rip), %rdi
        movdqa  %xmm3, (%rdi)
        movdqa  %xmm3, 16(%rdi)
        movdqa  %xmm3, 32(%rdi)
        movdqa  %xmm3, 48(%rdi)
        movl    $0x01020304, 20(%rdi)   # one dword changed by a plain store
        pxor    %xmm4, %xmm4
        xor     %ecx, %ecx
5:
        movdqu  (%rdi,%rcx), %xmm5
        paddq   %xmm5, %xmm4
        add     $16, %rcx
        cmp     $64, %rcx
        jb      5b
        movdqa  %xmm4, %xmm5
        psrldq  $8, %xmm5
        paddq   %xmm5, %xmm4            # low qword = sum of the eight qwords (mod 2^64)
        movq    %xmm4, %rax
        lea     msg_sum(%rip), %rsi
        call    print_value

        # ---- 4. MXCSR and MXCSR_MASK ----
        stmxcsr mxcsr_out(%rip)
        mov     mxcsr_out(%rip), %eax
        lea     msg_mxcsr(%rip), %rsi
        call    print_value
        fxsave  fxarea(%rip)
        mov     fxarea+28(%rip), %eax
        lea     msg_mask(%rip), %rsi
        call    print_value

        lea     msg_end(%rip), %rsi
        call    puts64
        jmp     halt

# print_value: print the string at RSI, " 0x", RAX in hex and a newline.
print_value:
        call    puts64
        lea     msg_0x_sp(%rip), %rsi
        call    puts64
        call    puthex64
        lea     msg_nl(%rip), %rsi
        call    puts64
        ret

        .section .rodata
text:   .asciz  "hvtrace: every exit, every event, every instruction count."
        .balign 16
        .skip   16                      # MOVDQU may read up to 15 bytes past the NUL
msg_len:   .asciz "strlen"
msg_count: .asciz "count('e')"
msg_sum:   .asciz "memset sum"
msg_mxcsr: .asciz "mxcsr"
msg_mask:  .asciz "mxcsr_mask"
msg_0x_sp: .asciz " 0x"
msg_nl:    .asciz "\n"
msg_end:   .asciz "done\n"

        .bss
        .balign 16
buf:    .skip   64
fxarea: .skip   512
mxcsr_out: .skip 4
