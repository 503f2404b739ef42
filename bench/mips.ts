/**
 * CPU benchmark: boots each bench guest (guests/bench-*.elf) in-process
 * through Machine + bootPvh, several times, and prints instructions retired,
 * wall time of Machine.run(), MIPS and VM exits, with a one-line description
 * of the host.
 *
 *   node dist/bench/mips.js [--only alu,memcpy,syscall] [--runs 3] [--mem 16]
 *
 * Prints figures only; nothing here is asserted on time. A run that does not
 * halt with the expected serial output (checksum + "done") or retires a
 * different number of instructions is reported and makes the exit status 1
 * (the figures of a wrong run mean nothing).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Machine, type RunResult } from '../core/hv/machine.js';
import { bootPvh } from '../core/hv/boot.js';
import { exitReasonName } from '../core/vmx/exit-reasons.js';

export interface BenchGuest {
  /** guests/bench-<name>.elf */
  readonly name: string;
  /** What its loop measures. */
  readonly what: string;
  /** The serial output of a correct run (checksums confirmed on QEMU). */
  readonly serial: string;
  /** Instructions a correct run retires (deterministic). */
  readonly instructions: number;
}

export const BENCH_GUESTS: readonly BenchGuest[] = [
  { name: 'alu', what: 'register-only ALU loop, 5M x 11 insns, no exits', serial: 'alu checksum 0xfc700e964241ad89\ndone\n', instructions: 55_005_959 },
  { name: 'memcpy', what: '64 KiB MOV load/store copy loop x1000, 6 insns/qword', serial: 'memcpy checksum 0xea9a2cecd1c8f314\ndone\n', instructions: 49_237_748 },
  { name: 'syscall', what: '1M SYSCALL/SYSRETQ round trips CPL3<->CPL0, 13 insns each', serial: 'syscall count 0x00000000000f4240\ndone\n', instructions: 13_006_058 },
];

const GUEST_DIR = fileURLToPath(new URL('../../guests/', import.meta.url));

export interface BenchRun {
  readonly result: RunResult;
  readonly seconds: number;
  readonly serial: string;
}

/** Boot `guests/bench-<name>.elf` on a fresh machine and time Machine.run() alone. */
export function runOnce(name: string, memMiB: number): BenchRun {
  const file = `bench-${name}.elf`;
  const kernel = fs.readFileSync(GUEST_DIR + file);
  const out: number[] = [];
  const m = new Machine({ memMiB, maxInstructions: 2_000_000_000, serial: (b) => { out.push(b); } });
  bootPvh(m, { kernel, kernelName: file });
  const t0 = process.hrtime.bigint();
  const result = m.run();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { result, seconds, serial: Buffer.from(out).toString('latin1') };
}

function hostLine(): string {
  const cpus = os.cpus();
  let commit = '-';
  try {
    commit = execFileSync('git', ['describe', '--always', '--dirty'], { cwd: GUEST_DIR, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch { /* not a git checkout */ }
  return `host: ${cpus[0]?.model.trim() ?? 'unknown CPU'} (${cpus.length} logical CPUs), ${os.type()} ${os.release()} ${os.arch()}, ` +
    `Node ${process.version} (V8 ${process.versions.v8}), hvtrace ${commit}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

function exitsText(exits: ReadonlyMap<number, number>): string {
  const total = [...exits.values()].reduce((a, b) => a + b, 0);
  const parts = [...exits.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${exitReasonName(k) ?? k} ${v}`);
  return `${total} (${parts.join(', ') || 'none'})`;
}

const pad = (s: string, n: number): string => s.padStart(n);
const fmtInt = (n: number): string => n.toLocaleString('en-US');

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      runs: { type: 'string' },
      mem: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('usage: node dist/bench/mips.js [--only alu,memcpy,syscall] [--runs N (3)] [--mem MiB (16)]\n');
    return 0;
  }
  const known = BENCH_GUESTS.map((g) => g.name);
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : known;
  for (const n of only) if (!known.includes(n)) { process.stderr.write(`mips: unknown guest '${n}' (known: ${known.join(', ')})\n`); return 2; }
  const runs = Number(values.runs ?? 3);
  const mem = Number(values.mem ?? 16);
  if (!Number.isInteger(runs) || runs < 1) { process.stderr.write(`mips: --runs must be a positive integer\n`); return 2; }

  process.stdout.write(`hvtrace CPU benchmark: best of ${runs} run(s) per guest, ${mem} MiB guest RAM, wall time of Machine.run()\n`);
  process.stdout.write(hostLine() + '\n\n');
  process.stdout.write(`${'guest'.padEnd(15)}${pad('instructions', 14)}${pad('best s', 9)}${pad('median s', 10)}${pad('MIPS', 8)}  exits\n`);
  let status = 0;
  for (const name of only) {
    const g = BENCH_GUESTS.find((x) => x.name === name)!;
    const times: number[] = [];
    let last: BenchRun | undefined;
    for (let k = 0; k < runs; k++) {
      const r = runOnce(name, mem);
      if (r.result.stop.kind !== 'halted' || r.serial !== g.serial || r.result.instructions !== g.instructions) {
        process.stdout.write(`bench-${name}: run ${k + 1} is WRONG: ${r.result.stop.message}; ${r.result.instructions} instructions ` +
          `(expected ${g.instructions}); serial ${JSON.stringify(r.serial)} (expected ${JSON.stringify(g.serial)})\n`);
        status = 1;
      }
      times.push(r.seconds);
      last = r;
    }
    const sorted = [...times].sort((a, b) => a - b);
    const best = sorted[0]!;
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const n = last!.result.instructions;
    const mips = n / best / 1e6;
    process.stdout.write(`${('bench-' + name).padEnd(15)}${pad(fmtInt(n), 14)}${pad(best.toFixed(3), 9)}${pad(median.toFixed(3), 10)}${pad(mips.toFixed(1), 8)}  ${exitsText(last!.result.exits)}\n`);
  }
  process.stdout.write('\n' + BENCH_GUESTS.filter((g) => only.includes(g.name)).map((g) => `  bench-${g.name}: ${g.what}`).join('\n') + '\n');
  return status;
}

// Run only as a script, so runOnce() can be imported without side effects.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.exitCode = main(process.argv.slice(2));
}
