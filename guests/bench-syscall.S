# bench-syscall: the system-call benchmark. Enters 64-bit long mode
# (bench-lm64.inc), makes one code page and one stack page user-accessible
# (PTE U/S = 1), programs the SYSCALL MSRs with WRMSR (SDM Vol. 4, Table 2-2:
# IA32_STAR C000_0081H, IA32_LSTAR C000_0082H, IA32_FMASK C000_0084H,
# IA32_KERNEL_GS_BASE C000_0102H; the hypervisor passes these through), reads
# them back with RDMSR, and enters CPL 3 with IRETQ. User code makes ITER
# "null" system calls (RAX = 1); the kernel entry does what a real one does
# first (SWAPGS, save the user RSP, switch to the kernel stack through the
# per-CPU area, count the call, restore, SWAPGS, SYSRETQ). System call 0 does
# not return to user mode: the kernel prints the per-CPU call count (must be
# ITER = 0xf4240) and "done" at CPL 0, then halts.
#
# Instructions retired per round trip: 4 user (MOV, SYSCALL, DEC, JNZ) +
# 9 kernel (SWAPGS, MOV, MOV, TEST, JZ, INC, MOV, SWAPGS, SYSRETQ) = 13;
# ITER = 1,000,000 round trips = 13,000,000, plus about 6,000 for the entry
# (page-table fill), set-up and console output (13,006,058 in all).

        .equ    ITER, 1000000
        .equ    SYS_EXIT, 0
        .equ    SYS_NULL, 1

        .equ    MSR_STAR,           0xc0000081
        .equ    MSR_LSTAR,          0xc0000082
        .equ    MSR_FMASK,          0xc0000084
        .equ    MSR_KERNEL_GS_BASE, 0xc0000102
        # RFLAGS bits cleared on SYSCALL: TF, IF, DF, IOPL, NT, AC (as Linux)
        .equ    FMASK, 0x47700

        # per-CPU area offsets (GS-relative after SWAPGS)
        .equ    PCPU_KSTACK, 0
        .equ    PCPU_USP,    8
        .equ    PCPU_COUNT,  16

        .include "bench-lm64.inc"

        .text
bench_main:
        lea     user_text(%rip), %rdi
        lea     user_text_end(%rip), %rsi
        call    map_user
        lea     ustack(%rip), %rdi
        lea     ustack_top(%rip), %rsi
        call    map_user

        lea     kstack_top(%rip), %rax
        mov     %rax, percpu + PCPU_KSTACK(%rip)

        # STAR[47:32] = kernel CS (SS = +8), STAR[63:48] = base of the user selectors
        mov     $MSR_STAR, %ecx
        xor     %eax, %eax
        mov     $(SEL_UCODE32 << 16) | SEL_CODE64, %edx
        wrmsr
        mov     $MSR_LSTAR, %ecx
        lea     syscall_entry(%rip), %rax
        mov     %rax, %rdx
        shr     $32, %rdx
        wrmsr
        mov     $MSR_FMASK, %ecx
        mov     $FMASK, %eax
        xor     %edx, %edx
        wrmsr
        mov     $MSR_KERNEL_GS_BASE, %ecx
        lea     percpu(%rip), %rax
        mov     %rax, %rdx
        shr     $32, %rdx
        wrmsr

        # read back: any mismatch prints "check failed" and halts
        mov     $MSR_STAR, %ecx
        rdmsr
        cmp     $(SEL_UCODE32 << 16) | SEL_CODE64, %edx
        jne     msr_bad
        test    %eax, %eax
        jnz     msr_bad
        mov     $MSR_LSTAR, %ecx
        rdmsr
        lea     syscall_entry(%rip), %rbx
        cmp     %ebx, %eax
        jne     msr_bad
        mov     $MSR_FMASK, %ecx
        rdmsr
        cmp     $FMASK, %eax
        jne     msr_bad
        mov     $MSR_KERNEL_GS_BASE, %ecx
        rdmsr
        lea     percpu(%rip), %rbx
        cmp     %ebx, %eax
        jne     msr_bad

        # IRETQ to CPL 3: SS, RSP, RFLAGS (IF = 0), CS, RIP
        pushq   $SEL_UDATA | 3
        lea     ustack_top(%rip), %rax
        push    %rax
        pushq   $0x2
        pushq   $SEL_UCODE64 | 3
        lea     user_entry(%rip), %rax
        push    %rax
        iretq

msr_bad:
        lea     msg_bad(%rip), %rsi
        call    puts64
        jmp     halt

# SYSCALL entry (CPL 0, RSP still the user's, GS = user GS): RAX = number.
syscall_entry:
        swapgs
        mov     %rsp, %gs:PCPU_USP
        mov     %gs:PCPU_KSTACK, %rsp
        test    %eax, %eax
        jz      sys_exit
        incq    %gs:PCPU_COUNT
        mov     %gs:PCPU_USP, %rsp
        swapgs
        sysretq

# System call 0: stay at CPL 0 (GS = per-CPU area, RSP = kernel stack).
sys_exit:
        mov     %cs, %eax
        and     $3, %eax                # CPL must be 0 here
        jnz     msr_bad
        mov     %gs:PCPU_COUNT, %rax
        lea     msg(%rip), %rsi
        call    report
        jmp     halt

# ---- the user page (CPL 3) ----
        .balign 4096
user_text:
user_entry:
        mov     $ITER, %ebx
1:
        mov     $SYS_NULL, %eax
        syscall                         # RCX, R11 clobbered
        dec     %ebx
        jnz     1b
        mov     $SYS_EXIT, %eax
        syscall
        ud2                             # not reached
        .balign 4096
user_text_end:

        .section .rodata
msg:     .asciz "syscall count "
msg_bad: .asciz "check failed\n"

        .data
        .balign 64
percpu:
        .quad   0                       # PCPU_KSTACK
        .quad   0                       # PCPU_USP
        .quad   0                       # PCPU_COUNT

        .bss
        .balign 4096
ustack: .skip   4096
ustack_top:
