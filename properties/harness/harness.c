/*
 * hvtrace native differential harness (test oracle; x86-64 Linux only).
 *
 * Executes ONE x86-64 instruction natively on the host CPU, from a given
 * input state, and reports the resulting state or the fault it raised.
 * It is built at test time by properties/harness/native.ts (gcc) and driven over
 * stdin/stdout with fixed-size little-endian binary records.
 *
 * ---------------------------------------------------------------------------
 * Fixed virtual addresses (reproducible register values):
 *   SCRATCH_BASE 0x10000000   4096 bytes RW (not X); the pages on both sides
 *                             are unmapped, so SCRATCH_BASE-1 and
 *                             SCRATCH_BASE+0x1000 fault with SIGSEGV.
 *   CODE_BASE    0x20000000   3 pages RWX. Page 0 and page 1 are filled with
 *                             0xCC (INT3); the instruction is placed at
 *                             INSN_ADDR = 0x20001000, immediately followed by
 *                             a 5-byte `jmp rel32` (E9) to the exit stub at
 *                             0x20002000 (`jmp *2(%rip)`, 2 pad bytes, the
 *                             8-aligned abs64 of hv_exit, rest 0xCC). All 3 pages are rewritten for every
 *                             case, so a case that writes into them cannot
 *                             affect later cases.
 *
 * ---------------------------------------------------------------------------
 * Input record (REC_SIZE = 4608 bytes):
 *   off  size
 *     0    4  magic 'HVI1' (bytes 48 56 49 31)
 *     4    1  code length (0..15; 0 runs nothing: handy to test the harness)
 *     5    1  mode: 0 = 64-bit mode, 1 = compatibility mode (see below); other
 *             values: BAD_INPUT
 *     6    2  reserved, 0
 *     8    8  RFLAGS; only CF PF AF ZF SF DF OF (mask 0x0CD5) are honoured,
 *             the rest (TF, IF, IOPL, AC, ...) is ignored; bit 1 is forced 1
 *    16   16  instruction bytes (only the first `code length` are used)
 *    32  128  GPRs, 16 x u64 in encoding order RAX RCX RDX RBX RSP RBP RSI
 *             RDI R8..R15 (RSP is loaded like any other register)
 *   160    4  MXCSR (must be valid for this CPU's MXCSR_MASK, else status
 *             BAD_INPUT); the TS driver defaults it to 0x1F80
 *   164   12  reserved, 0
 *   176  256  XMM0..XMM15, 16 bytes each, little-endian
 *   432   80  reserved, 0
 *   512 4096  scratch memory contents, copied to SCRATCH_BASE
 *
 * Output record (REC_SIZE = 4608 bytes), one per input record, in order:
 *     0    4  magic 'HVR1' (bytes 48 56 52 31)
 *     4    4  status: 0 = completed; 1..31 = Linux signal number that the
 *             instruction raised (SIGILL 4, SIGTRAP 5, SIGBUS 7, SIGFPE 8,
 *             SIGSEGV 11, SIGSYS 31 = syscall blocked by seccomp);
 *             0x100 = TIMEOUT (still running after 20..40 ms of CPU time);
 *             0x200 = BAD_INPUT (code length > 15 or invalid MXCSR)
 *     8    8  RFLAGS, raw (as PUSHF / the signal frame reports it: IF=1,
 *             bit 1 = 1; RF may appear in fault frames)
 *    16    8  RIP - INSN_ADDR (signed). Completed: offset of the next
 *             instruction (= code length on fall-through; a taken branch
 *             landing on one of the INT3 fill bytes reports its target, see
 *             below). Signal: RIP of the signal frame (faulting instruction
 *             for faults, the next instruction for traps such as INT3).
 *    24    8  si_addr (SIGSEGV/SIGBUS: faulting data address, 0 for #GP;
 *             SIGSYS: si_call_addr), 0 when completed
 *    32  128  GPRs after the instruction (or at the fault), same order
 *   160    4  MXCSR after
 *   164    4  si_code (signed), 0 when completed
 *   168    4  trap number / exception vector from the signal frame
 *             (e.g. 0 #DE, 3 #BP, 6 #UD, 13 #GP, 14 #PF, 17 #AC);
 *             0xFFFFFFFF when completed, timed out or SIGSYS
 *   172    4  hardware error code from the signal frame (#PF/#GP)
 *   176  256  XMM0..XMM15 after
 *   432   80  reserved, 0
 *   512 4096  scratch memory after
 *
 * Branches: if the instruction transfers control to one of the 0xCC fill
 * bytes of pages 0..2 (not its own bytes), the resulting INT3 is recognised
 * and reported as *completed* with RIP = the branch target and the state of
 * the INT3 frame. Targets inside the 5-byte E9 stub (code length+1 ..
 * code length+4) execute stub bytes and are NOT reliable. Targets outside the
 * code pages fault (SIGSEGV with RIP = target).
 *
 * Other state: the guest runs with CS/SS/DS/ES/FS/GS as Linux user mode
 * sets them (selectors 0x33/0x2b/0/0/0/0) and, when the kernel allows
 * FSGSBASE (HWCAP2), FS base = GS base = 0, so fs:/gs: overrides address
 * linearly; without FSGSBASE they hold the harness's (random) TLS bases.
 * Segment selectors and bases, x87/SSE/AVX state and PKRU are restored after
 * every case, so MOV Sreg / WRFSBASE / LDMXCSR / POPF (TF, AC) cannot leak
 * into later cases. x87 starts in the FNINIT state, upper YMM/ZMM halves
 * and opmask registers start at 0; none of these is reported. A signal taken
 * on the way out (TF set by POPF traps at the exit stub) counts as
 * completion, with the flags as the instruction left them.
 *
 * Compatibility mode (mode byte 1): the instruction runs with CS = 0x23,
 * Linux's 32-bit user code segment (flat, D = 1, L = 0), and DS = ES = FS =
 * GS = SS = 0x2b (flat 32-bit data; DS/ES/FS/GS are restored afterwards).
 * Entry: hv_enter loads the registers in 64-bit mode and jumps to a
 * trampoline at EXIT_ADDR + 0x80, a far JMP m16:32 (FF /5) to 0x23:INSN_ADDR.
 * Exit: the E9 after the instruction reaches EXIT_ADDR, which holds a far
 * JMP ptr16:32 (EA) to 0x33:EXIT_ADDR + 0x40, the usual 64-bit `jmp
 * *2(%rip)` to hv_exit. Neither far jump changes a GPR or RFLAGS. Bits 63:32
 * of the GPRs are undefined after compatibility mode and R8-R15 are out of
 * its reach (SDM Vol. 1, 3.4.1.1): the driver compares the low halves of
 * RAX..RDI only. Branch targets at EXIT_ADDR .. EXIT_ADDR + 0x9F are not
 * reliable (trampolines).
 *
 * Protocol: records are processed in order; output is flushed whenever the
 * harness is about to block reading stdin, so both "all input at once"
 * (spawnSync) and "one record at a time" streaming work. Clean EOF on a
 * record boundary exits 0; a partial record or a bad magic exits 2.
 *
 * Machinery: entry/exit trampolines are in the top-level asm below. Entry
 * saves callee-saved GPRs and the host's RSP in statics, saves the host
 * extended state (XSAVE, or FXSAVE), loads the guest x87/SSE state with
 * XRSTOR (AVX/AVX-512 state is put in its init state: upper halves zero),
 * POPF's the flags, loads all 16 GPRs with RIP-relative MOVs (RSP last) and
 * jumps into the code page. The exit stub stores all 16 GPRs with RIP-
 * relative MOVs (no stack needed), restores the host RSP, PUSHF's the flags,
 * FXSAVEs the guest SSE state and restores the host's.
 * Faults are caught by SA_ONSTACK handlers (sigaltstack: the guest RSP may be
 * garbage or point into scratch, which must not be clobbered), which copy
 * the signal frame's registers and siglongjmp back. A SIGVTALRM watchdog
 * aborts endless loops (e.g. EB FE). A seccomp filter turns any system call
 * issued from below 4 GiB (i.e. from the code pages; the harness itself is
 * a PIE mapped high) into SIGSYS, so `syscall` / `int 0x80` are observed but
 * never executed (the SIGSYS frame shows RAX = syscall number, RCX = RIP
 * after the SYSCALL, R11 = RFLAGS, RIP offset = after the instruction).
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <asm/prctl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define SCRATCH_BASE 0x10000000UL
#define SCRATCH_SIZE 4096UL
#define CODE_BASE 0x20000000UL
#define CODE_SIZE 0x3000UL
#define INSN_ADDR (CODE_BASE + 0x1000UL)
#define EXIT_ADDR (CODE_BASE + 0x2000UL)
#define REC_SIZE 4608
#define IN_MAGIC 0x31495648u  /* 'HVI1' */
#define OUT_MAGIC 0x31525648u /* 'HVR1' */
#define STATUS_TIMEOUT 0x100u
#define STATUS_BAD_INPUT 0x200u
#define FLAGS_IN_MASK 0x0CD5u /* CF PF AF ZF SF DF OF */
#define USER32_CS 0x23u /* Linux's __USER32_CS */
#define USER_CS 0x33u   /* Linux's __USER_CS */
#define XS_MAX 32768

#define HV_GLOBAL __attribute__((used, visibility("hidden")))

HV_GLOBAL uint64_t hv_in_gpr[16];
HV_GLOBAL uint64_t hv_in_rflags;
HV_GLOBAL uint64_t hv_out_gpr[16];
HV_GLOBAL uint64_t hv_out_rflags;
HV_GLOBAL uint64_t hv_host_rsp;
HV_GLOBAL uint64_t hv_code_ptr;
HV_GLOBAL uint32_t hv_xsave_mask; /* XRSTOR/XSAVE RFBM (low 32 bits) */
HV_GLOBAL uint8_t hv_use_xsave;
HV_GLOBAL uint8_t hv_have_fsgsbase; /* RDFSBASE & co usable (CPU + kernel) */
HV_GLOBAL uint8_t hv_compat;        /* this case runs in compatibility mode */
HV_GLOBAL uint16_t hv_host_sel[4];  /* DS ES FS GS */
HV_GLOBAL uint64_t hv_host_fsbase, hv_host_gsbase;
HV_GLOBAL _Alignas(64) uint8_t hv_host_xs[XS_MAX];
HV_GLOBAL _Alignas(64) uint8_t hv_guest_xs[1024];
HV_GLOBAL _Alignas(16) uint8_t hv_out_fx[512];

void hv_enter(void);
void hv_exit(void);
void hv_restore_host_fp(void);
void hv_restore_host_seg(void);
void hv_sane_flags(void);
extern const char hv_exit_regs_saved[], hv_exit_flags_saved[], hv_exit_fx_saved[], hv_exit_end[];

#define LOAD(off, reg) "  mov hv_in_gpr+" #off "(%rip), %" #reg "\n"
#define STORE(off, reg) "  mov %" #reg ", hv_out_gpr+" #off "(%rip)\n"

__asm__(
    "  .text\n"
    "  .globl hv_enter\n"
    "  .hidden hv_enter\n"
    "  .type hv_enter, @function\n"
    "hv_enter:\n"
    "  push %rbx\n"
    "  push %rbp\n"
    "  push %r12\n"
    "  push %r13\n"
    "  push %r14\n"
    "  push %r15\n"
    "  mov %rsp, hv_host_rsp(%rip)\n"
    "  cmpb $0, hv_use_xsave(%rip)\n"
    "  je 1f\n"
    "  mov hv_xsave_mask(%rip), %eax\n"
    "  xor %edx, %edx\n"
    "  xsave64 hv_host_xs(%rip)\n"
    "  xrstor64 hv_guest_xs(%rip)\n"
    "  jmp 2f\n"
    "1:\n"
    "  fxsave64 hv_host_xs(%rip)\n"
    "  fxrstor64 hv_guest_xs(%rip)\n"
    "2:\n"
    "  cmpb $0, hv_have_fsgsbase(%rip)\n"
    "  je 3f\n"
    "  xor %eax, %eax\n" /* guest FS and GS bases are 0 (deterministic) */
    "  wrfsbase %rax\n"
    "  wrgsbase %rax\n"
    "3:\n"
    "  cmpb $0, hv_compat(%rip)\n" /* compatibility mode: flat 32-bit data segments */
    "  je 4f\n"
    "  mov $0x2b, %eax\n"
    "  mov %eax, %ds\n"
    "  mov %eax, %es\n"
    "  mov %eax, %fs\n"
    "  mov %eax, %gs\n"
    "4:\n"
    "  pushq hv_in_rflags(%rip)\n"
    "  popfq\n"
    LOAD(0, rax) LOAD(8, rcx) LOAD(16, rdx) LOAD(24, rbx)
    LOAD(40, rbp) LOAD(48, rsi) LOAD(56, rdi)
    LOAD(64, r8) LOAD(72, r9) LOAD(80, r10) LOAD(88, r11)
    LOAD(96, r12) LOAD(104, r13) LOAD(112, r14) LOAD(120, r15)
    LOAD(32, rsp)
    "  jmp *hv_code_ptr(%rip)\n"
    "  .size hv_enter, .-hv_enter\n"
    "\n"
    "  .globl hv_exit\n"
    "  .hidden hv_exit\n"
    "  .type hv_exit, @function\n"
    "hv_exit:\n"
    STORE(0, rax) STORE(8, rcx) STORE(16, rdx) STORE(24, rbx)
    STORE(32, rsp) STORE(40, rbp) STORE(48, rsi) STORE(56, rdi)
    STORE(64, r8) STORE(72, r9) STORE(80, r10) STORE(88, r11)
    STORE(96, r12) STORE(104, r13) STORE(112, r14) STORE(120, r15)
    "hv_exit_regs_saved:\n"
    "  mov hv_host_rsp(%rip), %rsp\n"
    "  pushfq\n"
    "  popq hv_out_rflags(%rip)\n"
    "hv_exit_flags_saved:\n"
    "  pushq $0x202\n" /* clear DF (ABI), TF, AC, ... */
    "  popfq\n"
    "  fxsave64 hv_out_fx(%rip)\n"
    "hv_exit_fx_saved:\n"
    "  call hv_restore_host_fp\n"
    "  call hv_restore_host_seg\n"
    "  pop %r15\n"
    "  pop %r14\n"
    "  pop %r13\n"
    "  pop %r12\n"
    "  pop %rbp\n"
    "  pop %rbx\n"
    "  ret\n"
    "hv_exit_end:\n"
    "  .size hv_exit, .-hv_exit\n"
    "  .globl hv_exit_regs_saved, hv_exit_flags_saved, hv_exit_fx_saved, hv_exit_end\n"
    "  .hidden hv_exit_regs_saved, hv_exit_flags_saved, hv_exit_fx_saved, hv_exit_end\n"
    "\n"
    "  .globl hv_restore_host_fp\n"
    "  .hidden hv_restore_host_fp\n"
    "  .type hv_restore_host_fp, @function\n"
    "hv_restore_host_fp:\n"
    "  cmpb $0, hv_use_xsave(%rip)\n"
    "  je 1f\n"
    "  mov hv_xsave_mask(%rip), %eax\n"
    "  xor %edx, %edx\n"
    "  xrstor64 hv_host_xs(%rip)\n"
    "  ret\n"
    "1:\n"
    "  fxrstor64 hv_host_xs(%rip)\n"
    "  ret\n"
    "  .size hv_restore_host_fp, .-hv_restore_host_fp\n"
    "\n"
    /* Segment state: the instruction may have loaded DS/ES/FS/GS (MOV Sreg)
       or written the FS/GS bases (WRFSBASE); glibc needs its TLS (FS base)
       back before any C code runs. Clobbers rax rcx rdx rsi rdi r11. */
    "  .globl hv_restore_host_seg\n"
    "  .hidden hv_restore_host_seg\n"
    "  .type hv_restore_host_seg, @function\n"
    "hv_restore_host_seg:\n"
    "  mov hv_host_sel+0(%rip), %ds\n"
    "  mov hv_host_sel+2(%rip), %es\n"
    "  mov hv_host_sel+4(%rip), %fs\n"
    "  mov hv_host_sel+6(%rip), %gs\n"
    "  cmpb $0, hv_have_fsgsbase(%rip)\n"
    "  je 1f\n"
    "  mov hv_host_fsbase(%rip), %rax\n"
    "  wrfsbase %rax\n"
    "  mov hv_host_gsbase(%rip), %rax\n"
    "  wrgsbase %rax\n"
    "  ret\n"
    "1:\n" /* no FSGSBASE: arch_prctl(ARCH_SET_FS / ARCH_SET_GS) */
    "  mov $158, %eax\n"
    "  mov $0x1002, %edi\n"
    "  mov hv_host_fsbase(%rip), %rsi\n"
    "  syscall\n"
    "  mov $158, %eax\n"
    "  mov $0x1001, %edi\n"
    "  mov hv_host_gsbase(%rip), %rsi\n"
    "  syscall\n"
    "  ret\n"
    "  .size hv_restore_host_seg, .-hv_restore_host_seg\n"
    "\n"
    /* Signal handlers inherit AC (the kernel clears only TF, DF, RF). */
    "  .globl hv_sane_flags\n"
    "  .hidden hv_sane_flags\n"
    "  .type hv_sane_flags, @function\n"
    "hv_sane_flags:\n"
    "  pushq $0x202\n"
    "  popfq\n"
    "  ret\n"
    "  .size hv_sane_flags, .-hv_sane_flags\n");

/* ---- state shared with the signal handler ---- */
static sigjmp_buf hv_jb;
static volatile sig_atomic_t hv_in_guest;
static volatile uint64_t hv_seq, hv_alarm_seq;
static uint32_t f_status, f_trapno, f_err;
static int32_t f_code;
static uint64_t f_rip, f_rflags, f_addr;
static uint64_t f_gpr[16];
static _Alignas(16) uint8_t f_fx[512];
static int f_have_fx;
static uint32_t mxcsr_mask = 0xFFBF;

/* Runs with the guest's FS/GS: touches no TLS until hv_restore_host_seg()
   (the harness is built with -fno-stack-protector). */
static void on_signal(int sig, siginfo_t *si, void *ctx) {
  hv_sane_flags(); /* AC=1 would make glibc's unaligned accesses fault */
  ucontext_t *uc = (ucontext_t *)ctx;
  if (!hv_in_guest) {
    if (sig == SIGVTALRM) return;
    /* A fault in the harness itself: die with the default action. */
    signal(sig, SIG_DFL);
    if (si->si_code <= 0) raise(sig); /* sent by kill(): re-raise */
    return;
  }
  if (sig == SIGVTALRM) {
    if (hv_alarm_seq != hv_seq) {
      hv_alarm_seq = hv_seq;
      return;
    }
    f_status = STATUS_TIMEOUT;
    f_code = 0;
    f_addr = 0;
    f_trapno = 0xFFFFFFFFu;
    f_err = 0;
  } else {
    f_status = (uint32_t)sig;
    f_code = si->si_code;
    f_addr = (uint64_t)(uintptr_t)(sig == SIGSYS ? si->si_call_addr : si->si_addr);
    /* SIGSYS comes from seccomp, not from an exception: no vector. */
    f_trapno = sig == SIGSYS ? 0xFFFFFFFFu : (uint32_t)uc->uc_mcontext.gregs[REG_TRAPNO];
    f_err = sig == SIGSYS ? 0 : (uint32_t)uc->uc_mcontext.gregs[REG_ERR];
  }
  const greg_t *g = uc->uc_mcontext.gregs;
  f_gpr[0] = (uint64_t)g[REG_RAX];
  f_gpr[1] = (uint64_t)g[REG_RCX];
  f_gpr[2] = (uint64_t)g[REG_RDX];
  f_gpr[3] = (uint64_t)g[REG_RBX];
  f_gpr[4] = (uint64_t)g[REG_RSP];
  f_gpr[5] = (uint64_t)g[REG_RBP];
  f_gpr[6] = (uint64_t)g[REG_RSI];
  f_gpr[7] = (uint64_t)g[REG_RDI];
  f_gpr[8] = (uint64_t)g[REG_R8];
  f_gpr[9] = (uint64_t)g[REG_R9];
  f_gpr[10] = (uint64_t)g[REG_R10];
  f_gpr[11] = (uint64_t)g[REG_R11];
  f_gpr[12] = (uint64_t)g[REG_R12];
  f_gpr[13] = (uint64_t)g[REG_R13];
  f_gpr[14] = (uint64_t)g[REG_R14];
  f_gpr[15] = (uint64_t)g[REG_R15];
  f_rip = (uint64_t)g[REG_RIP];
  f_rflags = (uint64_t)g[REG_EFL];
  f_have_fx = uc->uc_mcontext.fpregs != NULL;
  if (f_have_fx) memcpy(f_fx, uc->uc_mcontext.fpregs, 512);
  hv_in_guest = 0;
  hv_restore_host_seg(); /* siglongjmp needs the TLS (pointer guard) */
  siglongjmp(hv_jb, 1);
}

/* ---- little-endian helpers ---- */
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void die(const char *what) {
  fprintf(stderr, "hvtrace native harness: %s: %s\n", what, strerror(errno));
  exit(3);
}

static void *map_fixed(uintptr_t addr, size_t len, int prot) {
  void *p = mmap((void *)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) die("mmap fixed");
  if ((uintptr_t)p != addr) {
    errno = EEXIST;
    die("mmap fixed (address not honoured)");
  }
  return p;
}

static void install_seccomp(void) {
  /* Trap every syscall whose RIP is below 4 GiB (the code pages). */
  if ((uintptr_t)&install_seccomp < (1UL << 32) || (uintptr_t)&write < (1UL << 32)) {
    fprintf(stderr, "hvtrace native harness: warning: harness mapped below 4 GiB, syscalls from the tested instruction are NOT blocked\n");
    return;
  }
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = (unsigned short)(sizeof filter / sizeof filter[0]), .filter = filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
    fprintf(stderr, "hvtrace native harness: warning: seccomp unavailable (%s), syscalls from the tested instruction are NOT blocked\n", strerror(errno));
}

static void setup(void) {
  map_fixed(SCRATCH_BASE, SCRATCH_SIZE, PROT_READ | PROT_WRITE);
  map_fixed(CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);

  unsigned a, b, c, d;
  __cpuid(1, a, b, c, d);
  if (c & (1u << 27)) { /* OSXSAVE */
    unsigned xa, xd;
    __asm__ volatile("xgetbv" : "=a"(xa), "=d"(xd) : "c"(0));
    __cpuid_count(0xD, 0, a, b, c, d);
    if (b <= XS_MAX) {
      hv_use_xsave = 1;
      /* x87, SSE, AVX, MPX, AVX-512 (bits 0..7) and PKRU (bit 9; the
         guest runs with PKRU = 0). Not AMX (needs an opt-in). */
      hv_xsave_mask = xa & 0x2FFu;
    }
  }
  __asm__ volatile("mov %%ds, %0\n mov %%es, %1\n mov %%fs, %2\n mov %%gs, %3"
                   : "=m"(hv_host_sel[0]), "=m"(hv_host_sel[1]), "=m"(hv_host_sel[2]), "=m"(hv_host_sel[3]));
  hv_have_fsgsbase = (getauxval(AT_HWCAP2) & 2) != 0; /* HWCAP2_FSGSBASE */
  if (syscall(SYS_arch_prctl, ARCH_GET_FS, &hv_host_fsbase) != 0) die("arch_prctl(ARCH_GET_FS)");
  if (syscall(SYS_arch_prctl, ARCH_GET_GS, &hv_host_gsbase) != 0) die("arch_prctl(ARCH_GET_GS)");

  /* MXCSR_MASK from an FXSAVE image (0 means the default 0xFFBF). */
  static _Alignas(16) uint8_t fx[512];
  __asm__ volatile("fxsave64 %0" : "=m"(fx));
  uint32_t m = rd32(fx + 28);
  if (m != 0) mxcsr_mask = m;

  /* Guest extended-state template: x87 in FNINIT state, SSE from input;
     XSTATE_BV = x87|SSE so every other component is initialised. */
  memset(hv_guest_xs, 0, sizeof hv_guest_xs);
  wr16(hv_guest_xs + 0, 0x037F);
  wr64(hv_guest_xs + 512, 3);

  static uint8_t altstack[65536];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGVTALRM};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction");
  struct itimerval it = {.it_interval = {0, 20000}, .it_value = {0, 20000}}; /* 20 ms */
  if (setitimer(ITIMER_VIRTUAL, &it, NULL) != 0) die("setitimer");
  install_seccomp();
}

static void run_case(const uint8_t *in, uint8_t *out) {
  memset(out, 0, REC_SIZE);
  wr32(out, OUT_MAGIC);
  unsigned len = in[4];
  unsigned mode = in[5];
  uint32_t mxcsr = rd32(in + 160);
  if (len > 15 || mode > 1 || (mxcsr & ~mxcsr_mask) != 0) {
    wr32(out + 4, STATUS_BAD_INPUT);
    wr32(out + 168, 0xFFFFFFFFu);
    return;
  }

  uint8_t *code = (uint8_t *)CODE_BASE;
  memset(code, 0xCC, CODE_SIZE);
  uint8_t *insn = (uint8_t *)INSN_ADDR;
  memcpy(insn, in + 16, len);
  insn[len] = 0xE9; /* jmp rel32 -> EXIT_ADDR */
  wr32(insn + len + 1, (uint32_t)(EXIT_ADDR - (INSN_ADDR + len + 5)));
  uint8_t *ex = (uint8_t *)EXIT_ADDR;
  uint8_t *ex64 = mode ? ex + 0x40 : ex;
  ex64[0] = 0xFF; /* jmp *2(%rip): the pointer is 8-aligned, as AC may be set */
  ex64[1] = 0x25;
  wr32(ex64 + 2, 2);
  wr64(ex64 + 8, (uint64_t)(uintptr_t)&hv_exit);
  if (mode) {
    ex[0] = 0xEA; /* (32-bit) jmp far 0x33:EXIT_ADDR+0x40 */
    wr32(ex + 1, (uint32_t)(EXIT_ADDR + 0x40));
    wr16(ex + 5, USER_CS);
    ex[0x80] = 0xFF; /* (64-bit) jmp far m16:32 [rip+0x0A] -> 0x23:INSN_ADDR */
    ex[0x81] = 0x2D;
    wr32(ex + 0x82, 0x0A);
    wr32(ex + 0x90, (uint32_t)INSN_ADDR);
    wr16(ex + 0x94, USER32_CS);
  }
  hv_compat = (uint8_t)mode;

  memcpy((void *)SCRATCH_BASE, in + 512, SCRATCH_SIZE);
  wr32(hv_guest_xs + 24, mxcsr);
  memcpy(hv_guest_xs + 160, in + 176, 256);
  memcpy(hv_in_gpr, in + 32, 128);
  hv_in_rflags = (rd64(in + 8) & FLAGS_IN_MASK) | 2u;
  hv_code_ptr = mode ? EXIT_ADDR + 0x80 : INSN_ADDR;

  uint32_t status, trapno, err;
  int32_t sicode;
  uint64_t rip, rflags, addr;
  const uint64_t *gpr;
  const uint8_t *fx;

  hv_seq++;
  hv_in_guest = 1;
  if (sigsetjmp(hv_jb, 0) == 0) {
    hv_enter();
    hv_in_guest = 0;
    status = 0;
    sicode = 0;
    addr = 0;
    trapno = 0xFFFFFFFFu;
    err = 0;
    rip = INSN_ADDR + len;
    rflags = hv_out_rflags;
    gpr = hv_out_gpr;
    fx = hv_out_fx;
  } else {
    hv_in_guest = 0;
    hv_restore_host_fp();
    status = f_status;
    sicode = f_code;
    addr = f_addr;
    trapno = f_trapno;
    err = f_err;
    rip = f_rip;
    rflags = f_rflags;
    gpr = f_gpr;
    fx = f_have_fx ? f_fx : NULL;
    /* A signal on the way out (a TF set by POPF traps at EXIT_ADDR; a guest
       PKRU could make hv_exit's stores fault): the instruction completed. */
    if (status != STATUS_TIMEOUT &&
        (rip == EXIT_ADDR || (mode && rip > EXIT_ADDR && rip <= EXIT_ADDR + 0x40) ||
         (rip >= (uintptr_t)hv_exit && rip < (uintptr_t)hv_exit_end))) {
      if (rip >= (uintptr_t)hv_exit_regs_saved && rip < (uintptr_t)hv_exit_end) gpr = hv_out_gpr;
      if (rip >= (uintptr_t)hv_exit_flags_saved && rip < (uintptr_t)hv_exit_end) rflags = hv_out_rflags;
      if (rip >= (uintptr_t)hv_exit_fx_saved && rip < (uintptr_t)hv_exit_end) fx = hv_out_fx;
      status = 0;
      sicode = 0;
      addr = 0;
      trapno = 0xFFFFFFFFu;
      err = 0;
      rip = INSN_ADDR + len;
    }
    /* A branch that landed on an INT3 fill byte: report it as completed. */
    if (status == SIGTRAP && sicode == SI_KERNEL && trapno == 3) {
      uint64_t target = rip - 1;
      if (target >= CODE_BASE && target < CODE_BASE + CODE_SIZE &&
          !(target >= INSN_ADDR && target < INSN_ADDR + len) && *(uint8_t *)(uintptr_t)target == 0xCC) {
        status = 0;
        sicode = 0;
        addr = 0;
        trapno = 0xFFFFFFFFu;
        err = 0;
        rip = target;
      }
    }
  }

  wr32(out + 4, status);
  wr64(out + 8, rflags);
  wr64(out + 16, rip - INSN_ADDR);
  wr64(out + 24, addr);
  memcpy(out + 32, gpr, 128);
  wr32(out + 164, (uint32_t)sicode);
  wr32(out + 168, trapno);
  wr32(out + 172, err);
  if (fx) {
    wr32(out + 160, rd32(fx + 24));
    memcpy(out + 176, fx + 160, 256);
  }
  memcpy(out + 512, (void *)SCRATCH_BASE, SCRATCH_SIZE);
}

/* ---- buffered binary I/O on fds 0/1 ---- */
#define IOBUF (1u << 20)
static uint8_t inbuf[IOBUF], outbuf[IOBUF];
static size_t in_pos, in_len, out_len;

static void flush_out(void) {
  size_t off = 0;
  while (off < out_len) {
    ssize_t n = write(1, outbuf + off, out_len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    off += (size_t)n;
  }
  out_len = 0;
}

/* 1 = got a record, 0 = clean EOF, -1 = EOF inside a record. */
static int read_record(uint8_t *rec) {
  size_t have = 0;
  while (have < REC_SIZE) {
    if (in_pos == in_len) {
      flush_out(); /* about to block: let the driver see what we have */
      ssize_t n;
      do n = read(0, inbuf, IOBUF);
      while (n < 0 && errno == EINTR);
      if (n < 0) die("read");
      if (n == 0) return have == 0 ? 0 : -1;
      in_pos = 0;
      in_len = (size_t)n;
    }
    size_t take = in_len - in_pos;
    if (take > REC_SIZE - have) take = REC_SIZE - have;
    memcpy(rec + have, inbuf + in_pos, take);
    have += take;
    in_pos += take;
  }
  return 1;
}

int main(void) {
  setup();
  static uint8_t rec[REC_SIZE];
  for (;;) {
    int r = read_record(rec);
    if (r == 0) break;
    if (r < 0) {
      fprintf(stderr, "hvtrace native harness: truncated input record\n");
      return 2;
    }
    if (rd32(rec) != IN_MAGIC) {
      fprintf(stderr, "hvtrace native harness: bad input magic 0x%08x\n", rd32(rec));
      return 2;
    }
    if (out_len + REC_SIZE > IOBUF) flush_out();
    run_case(rec, outbuf + out_len);
    out_len += REC_SIZE;
  }
  flush_out();
  return 0;
}
