/**
 * VM-exit benchmark: what one exit + re-entry costs, through the whole path
 * (VMLAUNCH/VMRESUME, entry checks, guest-state load, the CPU, exit
 * recording, the hypervisor's VMREADs, its handler, VMWRITEs, the event and
 * digest machinery).
 *
 *   node dist/bench/exits.js [--runs 5] [--loops 200000] [--only cpuid,pio,linux]
 *
 * Cases, each on a fresh Machine, run in interleaved rounds (best of --runs):
 *   cpuid   a 32-bit loop of XOR EAX,EAX; CPUID; DEC ESI; JNZ (one CPUID exit per iteration)
 *   pio     a loop of IN AL,DX from COM1's line-status register (one I/O exit per iteration,
 *           the kind of exit that dominates a Linux boot's serial console)
 *   linux   the tinyconfig Linux boot (.cache/linux/vmlinux + disk.img, 128 MiB, console=ttyS0)
 *           to its power-off, as `hvtrace run` does it (skipped when the files are absent)
 *
 * The loops are written over the entry code of guests/cpuid.elf after bootPvh
 * (32-bit protected mode, paging off). Figures are process CPU time
 * (process.cpuUsage: user + system) of Machine.run() alone, since the host is
 * shared; exits/s = VM exits / CPU seconds. Nothing is asserted on time; a run
 * whose exit counts differ from the expected ones is reported as WRONG.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Machine, type RunResult } from '../core/hv/machine.js';
import { bootPvh } from '../core/hv/boot.js';
import { VMCS } from '../core/vmx/fields.js';
import { buildMachine } from '../cli/run.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Figure { cpuMs: number; exits: number; instructions: number; stop: string }

function cpuMs(f: () => void): number {
  const u0 = process.cpuUsage();
  f();
  const u = process.cpuUsage(u0);
  return (u.user + u.system) / 1000;
}

function totalExits(r: RunResult): number {
  let n = 0;
  for (const v of r.exits.values()) n += v;
  return n;
}

function timed(m: Machine): Figure {
  let r: RunResult | null = null;
  const ms = cpuMs(() => { r = m.run(); });
  const res = r as unknown as RunResult;
  return { cpuMs: ms, exits: totalExits(res), instructions: res.instructions, stop: res.stop.kind };
}

/** A fresh machine running `code` (32-bit) from the PVH entry point. */
function loopMachine(code: number[]): Machine {
  const kernel = fs.readFileSync(ROOT + 'guests/cpuid.elf');
  const m = new Machine({ memMiB: 16, maxInstructions: 1e12, serial: () => {} });
  bootPvh(m, { kernel, kernelName: 'cpuid.elf' });
  const rip = m.vmx.currentVmcs!.getNum(VMCS.GUEST_RIP);
  m.mem.u8.set(code, rip);
  return m;
}

const imm32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

function cpuidLoop(loops: number): Figure {
  // cli; mov esi, loops; 1: xor eax, eax; cpuid; dec esi; jnz 1b; cli; hlt
  const m = loopMachine([0xfa, 0xbe, ...imm32(loops), 0x31, 0xc0, 0x0f, 0xa2, 0x4e, 0x75, 0xf9, 0xfa, 0xf4]);
  return timed(m);
}

function pioLoop(loops: number): Figure {
  // cli; mov esi, loops; mov dx, 0x3fd; 1: in al, dx; dec esi; jnz 1b; cli; hlt
  const m = loopMachine([0xfa, 0xbe, ...imm32(loops), 0x66, 0xba, 0xfd, 0x03, 0xec, 0x4e, 0x75, 0xfc, 0xfa, 0xf4]);
  return timed(m);
}

const LINUX = ROOT + '.cache/linux/';

function linuxBoot(): Figure {
  const m = buildMachine({
    kernelPath: LINUX + 'vmlinux', diskPath: LINUX + 'disk.img', memMiB: 128, maxInstructions: 20_000_000_000,
    cmdline: 'console=ttyS0 root=/dev/vda rw',
  } as Parameters<typeof buildMachine>[0], () => {});
  return timed(m);
}

function main(): number {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, loops: { type: 'string' }, only: { type: 'string' } } });
  const runs = Number(values.runs ?? 5);
  const loops = Number(values.loops ?? 200_000);
  const haveLinux = fs.existsSync(LINUX + 'vmlinux') && fs.existsSync(LINUX + 'disk.img');
  const all = ['cpuid', 'pio', ...(haveLinux ? ['linux'] : [])];
  const only = values.only ? values.only.split(',').filter((s) => all.includes(s)) : all;
  const cases: Record<string, () => Figure> = { cpuid: () => cpuidLoop(loops), pio: () => pioLoop(loops), linux: linuxBoot };
  const best = new Map<string, Figure>();
  let wrong = false;
  for (let r = 0; r < runs; r++) {
    for (const name of only) {
      const f = cases[name]!();
      const prev = best.get(name);
      if (prev && (prev.exits !== f.exits || prev.instructions !== f.instructions)) wrong = true;
      if (!prev || f.cpuMs < prev.cpuMs) best.set(name, f);
    }
  }
  console.log(`host: ${os.cpus()[0]?.model.trim() ?? 'cpu?'}, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; best of ${runs} (CPU time)`);
  for (const [name, f] of best) {
    const us = (f.cpuMs * 1000) / f.exits;
    console.log(`${name.padEnd(6)} ${f.exits.toLocaleString('en-US').padStart(9)} exits ${f.instructions.toLocaleString('en-US').padStart(14)} insns  ` +
      `${f.cpuMs.toFixed(0).padStart(6)} ms CPU  ${Math.round(f.exits / (f.cpuMs / 1000)).toLocaleString('en-US').padStart(9)} exits/s  (${us.toFixed(2)} us/exit, stop: ${f.stop})`);
  }
  if (wrong) { console.log('WRONG: exit or instruction counts differ between runs'); return 1; }
  return 0;
}

process.exitCode = main();
