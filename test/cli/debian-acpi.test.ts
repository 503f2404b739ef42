import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../helpers/repo.js';

// Debian's cloud kernel (guests/debian-cloud/fetch.sh) with our initramfs
// (build-initramfs.sh) booting through ACPI — RSDP/XSDT/FADT/MADT/DSDT of
// core/boot/acpi.ts — to /init, which powers off: Linux's acpi_power_off
// writes SLP_TYP(\_S5) | SLP_EN to PM1a_CNT. Then the trace replays
// bit-exactly, and acpi=off still boots (the legacy power-off: a halt).
// About 1.4e9 instructions per run, so opt-in: `npm run test:debian`
// (HVTRACE_DEBIAN=1 with the kernel and initramfs in .cache/debian-cloud).

const CLI = repoPath('dist', 'cli', 'main.js');
const dir = repoPath('.cache', 'debian-cloud');
const vmlinuz = existsSync(dir) ? readdirSync(dir).find((f) => f.startsWith('vmlinuz-')) : undefined;
const initrd = join(dir, 'initramfs.cpio');
const enabled = process.env.HVTRACE_DEBIAN === '1' && vmlinuz !== undefined && existsSync(initrd);
const tmp = mkdtempSync(join(tmpdir(), 'hvtrace-debian-'));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const boot = (append: string, out: string): ReturnType<typeof cli> =>
  cli(['record', '--kernel', join(dir, vmlinuz!), '--initrd', initrd, '--mem', '256', '--append', append, '--max-instructions', '4000000000', '-o', out]);

if (!enabled) {
  test('Debian cloud kernel end-to-end (skipped: set HVTRACE_DEBIAN=1, or run npm run test:debian)', () => undefined);
} else {
  test('Debian cloud kernel boots with ACPI to /init, powers off through S5, and the trace replays bit-exactly', () => {
    const trace = join(tmp, 'acpi.hvt');
    const r = boot('console=ttyS0', trace);
    assert.is(r.status, 0, r.stderr);
    for (const line of [
      /ACPI: RSDP 0x00000000000E0000 000024 \(v02 HVTRAC\)/,
      /ACPI: Using ACPI \(MADT\) for SMP configuration information/,
      /ACPI: INT_SRC_OVR \(bus 0 bus_irq 0 global_irq 2 dfl dfl\)/,
      /ACPI: Interpreter enabled/,
      /ACPI: PM: \(supports S0 S5\)/,
      /ACPI: PCI Root Bridge \[PCI0\]/,
      /clocksource: acpi_pm/,
      /hvtrace: \/sbin\/init reached, powering off/,
      /ACPI: PM: Preparing to enter system sleep state S5/,
    ]) assert.ok(line.test(r.stdout), `serial output lacks ${line}`);
    assert.not.ok(/Firmware Bug|ACPI Error|ACPI BIOS Error|ACPI Warning/.test(r.stdout), 'ACPI complaints in the boot log');
    assert.ok(/hvtrace: guest powered off through ACPI \(S5/.test(r.stderr), r.stderr);
    const rep = cli(['replay', trace]);
    assert.is(rep.status, 0, rep.stderr);
    assert.ok(/replay OK: \d+ events checked bit-exactly/.test(rep.stderr), rep.stderr);
  });

  test('acpi=off still boots to /init (the kernel then halts instead)', () => {
    const r = boot('console=ttyS0 acpi=off', join(tmp, 'noacpi.hvt'));
    assert.is(r.status, 0, r.stderr);
    assert.ok(/hvtrace: \/sbin\/init reached, powering off/.test(r.stdout));
    assert.not.ok(/ACPI: Interpreter enabled/.test(r.stdout));
    assert.ok(/guest halted with interrupts disabled/.test(r.stderr), r.stderr);
  });
}

test.run();
