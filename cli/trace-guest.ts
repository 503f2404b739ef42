/**
 * The bridge between a guest spec and a trace header: what `record` writes
 * into the header so that `replay` can rebuild exactly the same machine, and
 * the checks replay makes on the inputs (present, same SHA-256).
 */
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { existsSync } from 'node:fs';
import { describeInput, describeBytes, sha256File, type TraceHeader, type TraceInput, type JsonObject } from '../recorder/index.js';
import { CliError, readInput } from './common.js';
import { MultibootError, type BootProtocol } from '../core/boot/multiboot.js';
import { ElfError } from '../core/boot/elf.js';
import { resolveKernel, BzImageError } from '../core/boot/bzimage.js';
import type { GuestSpec } from './run.js';
import { PRODUCER_VERSION } from './version.js';
import { DEFAULT_RTC_START } from '../core/hv/machine.js';

/** Paths in a header are relative to the trace file's directory, with '/' separators: no host paths in traces. */
function relPath(tracePath: string, file: string): string {
  return relative(dirname(resolve(tracePath)), resolve(file)).split(sep).join('/');
}

/** The guest's boot protocol: the spec's, or detected from the image (PVH note, else multiboot header). */
export function guestKindOf(spec: GuestSpec): BootProtocol {
  if (spec.guest) return spec.guest;
  try { return resolveKernel(readInput(spec.kernelPath, 'guest image'), basename(spec.kernelPath)).kind; } catch (e) {
    if (e instanceof ElfError || e instanceof MultibootError || e instanceof BzImageError) throw new CliError(e.message, 2);
    throw e;
  }
}

/**
 * The header of a recording. `machine.guest` is 'pvh' or 'multiboot'; a
 * multiboot guest's boot module is recorded in the 'initrd' slot (role
 * 'initrd', named by its path), as the first module is for a PVH guest.
 */
export function headerFor(spec: GuestSpec, tracePath: string, digestEvery: number): TraceHeader {
  const kernelRel = relPath(tracePath, spec.kernelPath);
  const initrdRel = spec.initrdPath ? relPath(tracePath, spec.initrdPath) : null;
  const diskRel = spec.diskPath ? relPath(tracePath, spec.diskPath) : null;
  if (spec.persist) throw new CliError('--persist cannot be recorded: the disk image would no longer match the trace');
  const machine: JsonObject = {
    guest: guestKindOf(spec),
    memMiB: spec.memMiB,
    maxInstructions: spec.maxInstructions,
    digestEvery,
    kernel: kernelRel,
    initrd: initrdRel,
    disk: diskRel,
    cmdline: spec.cmdline ?? null,
    rtc: spec.rtcStart ?? DEFAULT_RTC_START,
    // Written only when not the default, so that traces of default machines keep their bytes.
    ...(spec.x2apic === false ? { x2apic: false } : {}),
  };
  const inputs: TraceInput[] = [describeInput('kernel', spec.kernelPath, kernelRel)];
  if (spec.initrdPath && initrdRel) inputs.push(describeInput('initrd', spec.initrdPath, initrdRel));
  if (spec.diskPath && diskRel) inputs.push(describeInput('disk', spec.diskPath, diskRel));
  if (spec.cmdline !== undefined) inputs.push(describeBytes('cmdline', 'cmdline', spec.cmdline));
  return { producer: { name: 'hvtrace', version: PRODUCER_VERSION }, machine, inputs };
}

export interface ReplaySetup { readonly spec: GuestSpec; readonly digestEvery: number }

/** Rebuild the guest spec from a header, checking every input (overrides: role -> path). */
export function specFromHeader(h: TraceHeader, tracePath: string, overrides: { kernel?: string; initrd?: string; disk?: string }): ReplaySetup {
  const m = h.machine;
  const bad = (what: string): never => { throw new CliError(`${tracePath}: trace header has an invalid machine field '${what}'`); };
  if (h.producer.name !== 'hvtrace') throw new CliError(`${tracePath}: trace was produced by '${h.producer.name}', not hvtrace`);
  if (m.guest !== 'pvh' && m.guest !== 'multiboot') bad('guest');
  const num = (k: string): number => { const v = m[k]; if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) bad(k); return v as number; };
  const memMiB = num('memMiB'), maxInstructions = num('maxInstructions'), digestEvery = num('digestEvery');
  if (typeof m.kernel !== 'string') bad('kernel');
  if (m.initrd !== null && typeof m.initrd !== 'string') bad('initrd');
  if (m.cmdline !== null && typeof m.cmdline !== 'string') bad('cmdline');
  if (m.disk !== undefined && m.disk !== null && typeof m.disk !== 'string') bad('disk');
  const base = dirname(resolve(tracePath));
  const locate = (role: 'kernel' | 'initrd' | 'disk', rel: string, override: string | undefined): string => {
    const p = override ?? resolve(base, rel);
    const rec = h.inputs.find((x) => x.role === role);
    if (!rec) throw new CliError(`${tracePath}: trace header lists no ${role} input`);
    if (!existsSync(p)) throw new CliError(`input ${role} '${rec.name}' not found at ${p}${override ? '' : ` (resolved against the trace's directory; give --${role} PATH)`}`);
    const sha = sha256File(p);
    if (sha !== rec.sha256) throw new CliError(`input ${role} '${rec.name}' at ${p} differs from the recorded one: sha256 ${sha.slice(0, 16)}… but the trace recorded ${rec.sha256.slice(0, 16)}…`);
    return p;
  };
  const kernelPath = locate('kernel', m.kernel as string, overrides.kernel);
  const initrdPath = typeof m.initrd === 'string' ? locate('initrd', m.initrd, overrides.initrd) : undefined;
  const diskPath = typeof m.disk === 'string' ? locate('disk', m.disk, overrides.disk) : undefined;
  if (typeof m.cmdline === 'string') {
    const rec = h.inputs.find((x) => x.role === 'cmdline');
    const want = describeBytes('cmdline', 'cmdline', m.cmdline);
    if (!rec || rec.sha256 !== want.sha256) throw new CliError(`${tracePath}: the command line in the header does not match its recorded SHA-256`);
  }
  if (m.rtc !== undefined && typeof m.rtc !== 'string') bad('rtc');
  if (m.x2apic !== undefined && typeof m.x2apic !== 'boolean') bad('x2apic');
  const spec: GuestSpec = {
    kernelPath, memMiB, maxInstructions,
    ...(typeof m.rtc === 'string' ? { rtcStart: m.rtc } : {}), guest: m.guest as BootProtocol,
    ...(initrdPath ? { initrdPath } : {}),
    ...(diskPath ? { diskPath } : {}),
    ...(typeof m.cmdline === 'string' ? { cmdline: m.cmdline } : {}),
    ...(m.x2apic === false ? { x2apic: false } : {}),
  };
  return { spec, digestEvery };
}
