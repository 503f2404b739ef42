/*
 * /sbin/init of the hvtrace Linux guest: no libc. Prints a banner on the
 * console and powers the machine off (reboot(2) with LINUX_REBOOT_CMD_POWER_OFF).
 */
#define SYS_write 1
#define SYS_reboot 169

static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}

static const char banner[] = "hvtrace: /sbin/init reached, powering off\n";

void _start(void) {
  sys3(SYS_write, 1, (long)banner, sizeof banner - 1);
  /* LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_POWER_OFF */
  sys3(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc);
  for (;;) __asm__ volatile ("hlt");
}
