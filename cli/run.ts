/**
 * `hvtrace run`: boot a guest and show its serial console. The guest's
 * serial output goes to stdout; a one-line summary goes to stderr.
 */
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import { Machine, type RunResult } from '../core/hv/machine.js';
import { bootPvh } from '../core/hv/boot.js';
import { bootMultiboot } from '../core/hv/multiboot.js';
import { MultibootError, type BootProtocol } from '../core/boot/multiboot.js';
import { ElfError } from '../core/boot/elf.js';
import { resolveKernel, BzImageError } from '../core/boot/bzimage.js';
import { PvhError } from '../core/boot/pvh.js';
import { DiskError } from '../core/devices/disk.js';
import { exitReasonName } from '../core/vmx/exit-reasons.js';
import type { TraceSink } from '../core/hv/events.js';
import { CliError, readInput, intOption } from './common.js';

export const RUN_OPTIONS = {
  kernel: { type: 'string' },
  mem: { type: 'string' },
  'max-instructions': { type: 'string' },
  append: { type: 'string' },
  initrd: { type: 'string' },
  module: { type: 'string' },
  disk: { type: 'string' },
  persist: { type: 'boolean' },
  rtc: { type: 'string' },
  'no-x2apic': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const RUN_USAGE = `usage: hvtrace run <guest image> [--mem MiB] [--max-instructions N] [--append CMDLINE] [--initrd FILE | --module FILE]
       hvtrace run --kernel vmlinux [...]

Boots a guest and prints its serial console (COM1) on stdout and a summary on
stderr. The image is a PVH ELF kernel (a test guest or a Linux vmlinux: it has
the Xen PVH entry note) or else a multiboot v1 kernel (a kvm-unit-tests .flat).
  --mem MiB               guest RAM (even, default 64)
  --max-instructions N    stop after N guest instructions (default 2e9)
  --append CMDLINE        kernel command line (multiboot: empty when not given)
  --initrd FILE           initial ramdisk (first PVH module)
  --module FILE           multiboot boot module (kvm-unit-tests: the environment
                          file); the same slot as --initrd
  --disk FILE             disk image for virtio-blk (PCI 00:01.0); writes go to a
                          copy-on-write overlay in memory unless --persist
  --rtc DATE              CMOS clock at virtual time 0, ISO 8601 UTC (default 2026-01-01T00:00:00Z)
  --no-x2apic             the local APIC offers xAPIC mode only (CPUID.01H:ECX.x2APIC = 0)`;

export interface GuestSpec {
  readonly kernelPath: string;
  readonly memMiB: number;
  readonly maxInstructions: number;
  readonly cmdline?: string;
  /** PVH: the initrd; multiboot: the (single) boot module. */
  readonly initrdPath?: string;
  readonly diskPath?: string;
  readonly persist?: boolean;
  /** CMOS RTC date at virtual time 0 (ISO 8601). */
  readonly rtcStart?: string;
  /** The boot protocol the image must have (a replayed trace says which); detected when absent. */
  readonly guest?: BootProtocol;
  /** false: no x2APIC mode (Machine option x2apic); absent: offered. */
  readonly x2apic?: boolean;
}

export function guestSpecFrom(values: Record<string, string | boolean | undefined>, positionals: string[]): GuestSpec {
  const kernel = (values.kernel as string | undefined) ?? positionals[0];
  if (!kernel) throw new CliError('no guest image given (hvtrace run <guest image> or --kernel FILE)');
  if (values.kernel !== undefined && positionals.length > 0) throw new CliError(`unexpected argument '${positionals[0]}' (the guest is already given by --kernel)`);
  if (positionals.length > 1) throw new CliError(`unexpected argument '${positionals[1]}'`);
  if (values.initrd !== undefined && values.module !== undefined) throw new CliError('--initrd and --module name the same thing (the first boot module); give one');
  const initrd = (values.initrd ?? values.module) as string | undefined;
  const spec: GuestSpec = {
    kernelPath: kernel,
    memMiB: intOption('mem', values.mem as string | undefined, 64),
    maxInstructions: intOption('max-instructions', values['max-instructions'] as string | undefined, 2_000_000_000),
    ...(values.append !== undefined ? { cmdline: values.append as string } : {}),
    ...(initrd !== undefined ? { initrdPath: initrd } : {}),
    ...(values.disk !== undefined ? { diskPath: values.disk as string } : {}),
    ...(values.persist ? { persist: true } : {}),
    ...(values.rtc !== undefined ? { rtcStart: values.rtc as string } : {}),
    ...(values['no-x2apic'] ? { x2apic: false } : {}),
  };
  if (spec.persist && !spec.diskPath) throw new CliError('--persist needs --disk');
  return spec;
}

/** Build the machine for a guest spec and load the guest. */
export function buildMachine(spec: GuestSpec, serial: (b: number) => void, sink?: TraceSink, digestEvery?: number): Machine {
  const kernelFile = readInput(spec.kernelPath, 'guest image');
  const initrd = spec.initrdPath ? readInput(spec.initrdPath, 'initrd') : undefined;
  let m: Machine;
  try {
    m = new Machine({
      memMiB: spec.memMiB, maxInstructions: spec.maxInstructions, serial, ...(sink ? { sink } : {}), ...(digestEvery ? { digestEvery } : {}),
      ...(spec.diskPath ? { disk: spec.diskPath } : {}), ...(spec.persist ? { persist: true } : {}),
      ...(spec.rtcStart !== undefined ? { rtcStart: spec.rtcStart } : {}),
      ...(spec.x2apic === false ? { x2apic: false } : {}),
    });
  } catch (e) {
    if (e instanceof RangeError || e instanceof DiskError) throw new CliError(e.message);
    throw e;
  }
  const name = basename(spec.kernelPath);
  try {
    // A bzImage (vmlinuz) is booted through the PVH entry of the ELF vmlinux inside it (core/boot/bzimage.ts).
    const { bytes: kernel, kind } = resolveKernel(kernelFile, name);
    if (spec.guest !== undefined && spec.guest !== kind) throw new CliError(`${name} is a ${kind} kernel, but the trace recorded a ${spec.guest} guest`);
    if (kind === 'pvh') bootPvh(m, { kernel, kernelName: name, ...(spec.cmdline !== undefined ? { cmdline: spec.cmdline } : {}), ...(initrd ? { initrd } : {}) });
    else bootMultiboot(m, { kernel, kernelName: name, ...(spec.cmdline !== undefined ? { cmdline: spec.cmdline } : {}), ...(initrd && spec.initrdPath ? { modules: [{ data: initrd, name: basename(spec.initrdPath) }] } : {}) });
  } catch (e) {
    if (e instanceof ElfError || e instanceof PvhError || e instanceof MultibootError || e instanceof BzImageError) throw new CliError(e.message, 2);
    throw e;
  }
  return m;
}

/** The last bytes of serial output, to show why a guest failed. */
export class SerialTail {
  private readonly ring = new Uint8Array(4096);
  private n = 0;
  put(b: number): void { this.ring[this.n++ % this.ring.length] = b; }
  /** The last `lines` complete or partial lines. */
  lines(lines: number): string[] {
    const len = Math.min(this.n, this.ring.length);
    const bytes = new Uint8Array(len);
    for (let k = 0; k < len; k++) bytes[k] = this.ring[(this.n - len + k) % this.ring.length]!;
    const text = Buffer.from(bytes).toString('latin1').replace(/\r/g, '');
    return text.split('\n').filter((l) => l.length > 0).slice(-lines);
  }
}

/** Serial output to stdout, buffered and flushed at the end and on newlines in bulk; the tail is kept. */
export function serialToStdout(): { put: (b: number) => void; flush: () => void; tail: SerialTail } {
  let buf: number[] = [];
  const tail = new SerialTail();
  const flush = (): void => { if (buf.length) { process.stdout.write(Buffer.from(buf)); buf = []; } };
  return { put: (b) => { buf.push(b); tail.put(b); if (buf.length >= 4096) flush(); }, flush, tail };
}

/** For a run that did not end cleanly: its last serial lines, indented, to print after the summary. */
export function failureContext(r: RunResult, tail: SerialTail): string {
  if (stopStatus(r) === 0) return '';
  const l = tail.lines(8);
  return l.length ? `hvtrace: last serial output:\n${l.map((x) => `  | ${x}`).join('\n')}\n` : '';
}

/** The one-line run summary printed on stderr after "hvtrace: ". */
export function summarize(r: RunResult, seconds: number): string {
  const exits = [...r.exits.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${exitReasonName(k) ?? k} ${v}`).join(', ');
  const mips = seconds > 0 ? (r.instructions / seconds / 1e6).toFixed(1) : '-';
  // One line: the stop reason first (what a script or a person greps for), then the figures.
  return `${r.stop.message}; ${r.instructions} instructions, ${[...r.exits.values()].reduce((a, b) => a + b, 0)} exits (${exits || 'none'}), ${seconds.toFixed(2)} s, ${mips} MIPS`;
}

/** Process exit status for a stop: 0 for a clean halt, the guest's code for a debug exit, 1 otherwise. */
export function stopStatus(r: RunResult): number {
  switch (r.stop.kind) {
    case 'halted': case 'reset': case 'power-off': return 0;
    case 'exit-code': return r.stop.code;
    default: return 1;
  }
}

export function runCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({ args: argv, options: RUN_OPTIONS, allowPositionals: true, strict: true });
  if (values.help) { process.stdout.write(RUN_USAGE + '\n'); return 0; }
  const spec = guestSpecFrom(values, positionals);
  const out = serialToStdout();
  const m = buildMachine(spec, out.put);
  const t0 = process.hrtime.bigint();
  const r = m.run();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  out.flush();
  process.stderr.write(`hvtrace: ${summarize(r, secs)}\n`);
  process.stderr.write(failureContext(r, out.tail));
  return stopStatus(r);
}
