/**
 * A small machine for VMCS properties: host memory, the VMX instructions
 * (core/vmx/vmx.ts), the entry engine (core/vmx/engine.ts) over a CPU, and
 * no hypervisor. A case writes a VMCS image with VMWRITE (exit-information
 * fields, which VMWRITE may not write, are preset directly), writes the
 * memory the image needs, executes VMLAUNCH or VMRESUME with the host's
 * "kick" due at once (so a successful entry exits before the first guest
 * instruction, SDM Vol. 3C 27.2/27.3 being the subject here, not execution),
 * and reports the outcome as the hypervisor sees it.
 *
 * Host-physical layout (core/hv/layout.ts for 2 MiB of guest RAM): RAM at
 * [0, 2 MiB) identity-mapped by EPT, then the VMXON region, the VMCS region,
 * I/O bitmaps A/B, the MSR bitmap and the EPT tables; above them three pages
 * this module adds: a second VMCS region for the VMCS link pointer, a
 * VM-entry MSR-load area, and a page for the VM-exit MSR areas.
 */
import { PhysMem } from '../../core/memory/physmem.js';
import { Cpu } from '../../core/cpu/cpu.js';
import { Vmx } from '../../core/vmx/vmx.js';
import { EntryEngine } from '../../core/vmx/engine.js';
import { VMCS, VMCS_FIELDS, fieldInfo, fieldSupported, encodingName } from '../../core/vmx/fields.js';
import type { Vmcs } from '../../core/vmx/vmcs.js';
import { DEFAULT_VMX_CAPABILITIES, VMCS_REVISION_ID, type VmxCapabilities } from '../../core/vmx/capabilities.js';
import { hostLayout, buildEpt, type HostLayout } from '../../core/hv/layout.js';

export const RAM_BYTES = 2 * 1024 * 1024;
export const LAYOUT: HostLayout = hostLayout(RAM_BYTES);
/** Extra pages above the hypervisor area. */
export const LINK_PAGE = LAYOUT.total;
export const MSR_LOAD_PAGE = LAYOUT.total + 0x1000;
export const EXIT_MSR_PAGE = LAYOUT.total + 0x2000;
export const MEM_BYTES = LAYOUT.total + 0x3000;

/** One 64-bit field value as uint32 halves. */
export type Halves = readonly [lo: number, hi: number];

/** A VMCS state to enter with: field values (by full encoding) and memory contents. */
export interface Image {
  readonly fields: ReadonlyMap<number, Halves>;
  /** 32-bit words to write to host memory before entry: [address, value]. */
  readonly mem: readonly (readonly [number, number])[];
}

/** What VMLAUNCH/VMRESUME did, as the hypervisor can tell. */
export type Outcome =
  | { readonly kind: 'exit'; readonly reason: number; readonly qual: number }
  | { readonly kind: 'entry-failure'; readonly reason: number; readonly qual: number; readonly rule: string }
  | { readonly kind: 'failValid'; readonly error: number; readonly rule: string }
  | { readonly kind: 'failInvalid' }
  /** The VM exit ended in a VMX abort (Vol. 3C 28.7): indicator and the VM-exit MSR rule that failed. */
  | { readonly kind: 'vmx-abort'; readonly indicator: number; readonly rule: string };

export function describeOutcome(o: Outcome): string {
  switch (o.kind) {
    case 'exit': return `VM exit, reason ${o.reason}, qualification ${o.qual}`;
    case 'entry-failure': return `VM-entry failure, exit reason ${o.reason & 0xffff} (bit 31 set), qualification ${o.qual}, rule ${o.rule}`;
    case 'failValid': return `VMfailValid(${o.error}), rule ${o.rule}`;
    case 'failInvalid': return 'VMfailInvalid';
    case 'vmx-abort': return `VMX abort, indicator ${o.indicator}, rule ${o.rule}`;
  }
}

export class World {
  readonly mem = new PhysMem(MEM_BYTES);
  readonly cpu = new Cpu(this.mem);
  readonly vmx: Vmx;
  readonly engine: EntryEngine;
  readonly eptp: number;

  constructor(readonly caps: VmxCapabilities = DEFAULT_VMX_CAPABILITIES) {
    this.vmx = new Vmx(this.mem, caps);
    this.engine = new EntryEngine(this.cpu, caps);
    this.vmx.setEntryEngine(this.engine);
    this.eptp = buildEpt(this.mem, LAYOUT);
    this.mem.write32(LAYOUT.vmxon, VMCS_REVISION_ID);
    this.vmx.vmxon(LAYOUT.vmxon);
    if (!this.vmx.ok) throw new Error('VMXON failed');
  }

  /** The current VMCS (after load). */
  get vmcs(): Vmcs {
    const v = this.vmx.currentVmcs;
    if (!v) throw new Error('no current VMCS');
    return v;
  }

  /**
   * Make a fresh VMCS current (all fields 0, launch state clear), write the
   * image's fields with VMWRITE and its memory words. Guest RAM is cleared
   * first when `clearRam` (a successful entry may have written to it).
   * Returns the encodings VMWRITE rejected (fields this processor lacks).
   */
  load(img: Image, opts: { launched?: boolean; clearRam?: boolean; exitInfo?: ReadonlyMap<number, Halves> } = {}): number[] {
    const vmx = this.vmx, pa = LAYOUT.vmcs;
    // RESET is the only way out of the VMX-abort shutdown state (28.7): a fresh start for every case.
    vmx.abort = null;
    vmx.vmclear(pa);
    this.mem.fill(pa, 4096, 0);
    this.mem.fill(LINK_PAGE, 0x3000, 0);
    this.mem.write32(pa, VMCS_REVISION_ID);
    if (opts.clearRam) this.mem.fill(0, RAM_BYTES, 0);
    vmx.vmptrld(pa);
    if (!vmx.ok) throw new Error(`VMPTRLD failed: ${vmx.status} ${vmx.error}`);
    const rejected: number[] = [];
    for (const [enc, [lo, hi]] of img.fields) {
      const f = fieldInfo(enc);
      if (!f) throw new Error(`image names no VMCS field: ${encodingName(enc)}`);
      if (f.type === 'exit-info') { this.vmcs.set(enc, lo, hi); continue; }
      vmx.vmwriteHalves(enc, lo, hi);
      if (!vmx.ok) rejected.push(enc);
    }
    if (opts.exitInfo) for (const [enc, [lo, hi]] of opts.exitInfo) this.vmcs.set(enc, lo, hi);
    for (const [a, w] of img.mem) this.mem.write32(a, w >>> 0);
    if (opts.launched) this.vmcs.launchState = 'launched';
    return rejected;
  }

  /** VMLAUNCH (or VMRESUME) with the kick due immediately; the outcome. */
  enter(launch = true): Outcome {
    const vmx = this.vmx;
    this.engine.kickAt = this.cpu.icount;
    // VMfailValid(4/5) and VMfailInvalid come from vmx.ts before the engine runs: clear the engine's last rule.
    const engine: { failedRule: unknown } = this.engine;
    engine.failedRule = null;
    if (launch) vmx.vmlaunch(); else vmx.vmresume();
    if (vmx.abort) return { kind: 'vmx-abort', indicator: vmx.abort.indicator, rule: vmx.abort.rule?.id ?? '' };
    if (vmx.status === 'VMfailInvalid') return { kind: 'failInvalid' };
    if (vmx.status === 'VMfailValid') return { kind: 'failValid', error: vmx.error, rule: this.engine.failedRule?.id ?? '' };
    const reason = vmx.vmread32(VMCS.EXIT_REASON) >>> 0;
    const qual = vmx.vmreadNum(VMCS.EXIT_QUALIFICATION);
    if (reason & 0x8000_0000) return { kind: 'entry-failure', reason, qual, rule: this.engine.failedRule?.id ?? '' };
    return { kind: 'exit', reason, qual };
  }
}

/** Every field VMWRITE accepts on a processor (for arbitrary-value suites). */
export function writableFields(caps: VmxCapabilities): number[] {
  return VMCS_FIELDS.filter((f) => fieldSupported(f, caps) && f.type !== 'exit-info').map((f) => f.encoding);
}

/** A snapshot of every field of a VMCS: [lo, hi] by dense index. */
export function snapshot(v: Vmcs): { lo: Uint32Array; hi: Uint32Array } {
  return { lo: v.lo.slice(), hi: v.hi.slice() };
}
