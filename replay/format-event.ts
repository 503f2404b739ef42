/**
 * Human-readable rendering of trace events: exit reasons by their SDM name,
 * one line per event, and side-by-side comparison tables used by replay
 * divergence reports and trace diffs.
 */
import type { EventKind, TraceEvent } from '../core/hv/events.js';
import { EVENT_FIELDS } from '../recorder/codec.js';

/**
 * Basic exit reasons 0-69, Intel SDM Vol. 3C, Appendix C "VMX Basic Exit
 * Reasons" (Table C-1). Gaps (35, 38, 42) are not used by the architecture.
 */
export const EXIT_REASON_NAMES: { readonly [reason: number]: string } = {
  0: 'Exception or NMI',
  1: 'External interrupt',
  2: 'Triple fault',
  3: 'INIT signal',
  4: 'Start-up IPI (SIPI)',
  5: 'I/O system-management interrupt (SMI)',
  6: 'Other SMI',
  7: 'Interrupt window',
  8: 'NMI window',
  9: 'Task switch',
  10: 'CPUID',
  11: 'GETSEC',
  12: 'HLT',
  13: 'INVD',
  14: 'INVLPG',
  15: 'RDPMC',
  16: 'RDTSC',
  17: 'RSM',
  18: 'VMCALL',
  19: 'VMCLEAR',
  20: 'VMLAUNCH',
  21: 'VMPTRLD',
  22: 'VMPTRST',
  23: 'VMREAD',
  24: 'VMRESUME',
  25: 'VMWRITE',
  26: 'VMXOFF',
  27: 'VMXON',
  28: 'Control-register accesses',
  29: 'MOV DR',
  30: 'I/O instruction',
  31: 'RDMSR',
  32: 'WRMSR',
  33: 'VM-entry failure due to invalid guest state',
  34: 'VM-entry failure due to MSR loading',
  36: 'MWAIT',
  37: 'Monitor trap flag',
  39: 'MONITOR',
  40: 'PAUSE',
  41: 'VM-entry failure due to machine-check event',
  43: 'TPR below threshold',
  44: 'APIC access',
  45: 'Virtualized EOI',
  46: 'Access to GDTR or IDTR',
  47: 'Access to LDTR or TR',
  48: 'EPT violation',
  49: 'EPT misconfiguration',
  50: 'INVEPT',
  51: 'RDTSCP',
  52: 'VMX-preemption timer expired',
  53: 'INVVPID',
  54: 'WBINVD or WBNOINVD',
  55: 'XSETBV',
  56: 'APIC write',
  57: 'RDRAND',
  58: 'INVPCID',
  59: 'VMFUNC',
  60: 'ENCLS',
  61: 'RDSEED',
  62: 'Page-modification log full',
  63: 'XSAVES',
  64: 'XRSTORS',
  65: 'PCONFIG',
  66: 'SPP-related event',
  67: 'UMWAIT',
  68: 'TPAUSE',
  69: 'LOADIWKEY',
};

/**
 * Name of an exit-reason field value: the basic reason (bits 15:0) by SDM
 * name, plus the flag bits of SDM Vol. 3C 25.9.1 (27 enclave mode, 28 pending
 * MTF, 29 exit from VMX root, 31 VM-entry failure) when set.
 */
export function exitReasonName(reason: number): string {
  const basic = reason & 0xffff;
  let s = EXIT_REASON_NAMES[basic] ?? `unknown basic reason ${basic}`;
  const flags: string[] = [];
  if (reason & 0x0800_0000) flags.push('enclave');
  if (reason & 0x1000_0000) flags.push('pending MTF');
  if (reason & 0x2000_0000) flags.push('from VMX root');
  if (reason & 0x8000_0000) flags.push('VM-entry failure');
  if (flags.length) s += ` [${flags.join(', ')}]`;
  return s;
}

/** Interruption types of the VM-entry interruption-information field (SDM Vol. 3C 24.8.3). */
export const INTERRUPTION_TYPE_NAMES: readonly string[] = [
  'external interrupt', 'reserved', 'NMI', 'hardware exception', 'software interrupt',
  'privileged software exception', 'software exception', 'other event',
];

/** 0x-hex of a non-negative number. */
function h(n: number): string {
  return `0x${n.toString(16)}`;
}

/** A canonical (sign-extended) guest address as the 64-bit value software sees. */
export function formatAddress(n: number): string {
  if (n >= 0) return h(n);
  return `0x${BigInt.asUintN(64, BigInt(n)).toString(16)}`;
}

/** Decoded I/O-instruction exit qualification (SDM Vol. 3C, Table 28-5). */
function ioQual(q: number): string {
  const size = (q & 7) + 1;
  const dir = q & 8 ? 'IN' : 'OUT';
  const str = q & 0x10 ? (q & 0x20 ? ' REP string' : ' string') : '';
  const port = Math.floor(q / 0x10000) & 0xffff;
  return `${dir}${str} port ${h(port)}/${size}`;
}

function mmioValue(lo: number, hi: number): string {
  return hi === 0 ? h(lo) : `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
}

/** One line describing an event, optionally prefixed with its event number. */
export function formatEvent(e: TraceEvent, n?: number): string {
  const p = (n === undefined ? '' : `#${n} `) + `ic=${e.ic} `;
  switch (e.kind) {
    case 'exit': {
      let s = `${p}exit ${e.reason & 0xffff} ${exitReasonName(e.reason)}`;
      if ((e.reason & 0xffff) === 30) s += ` (${ioQual(e.qual)})`;
      s += ` qual=${h(e.qual)} rip=${formatAddress(e.rip)} len=${e.len}`;
      if (e.info !== 0) s += ` info=${h(e.info)}`;
      if (e.gpa !== 0) s += ` gpa=${h(e.gpa)}`;
      if (e.gla !== 0) s += ` gla=${formatAddress(e.gla)}`;
      if (e.rule !== '') s += ` rule=${JSON.stringify(e.rule)}`;
      return s;
    }
    case 'pio':
      return `${p}pio ${e.write ? 'OUT' : 'IN '} port=${h(e.port)} size=${e.size} value=${h(e.value)}`;
    case 'mmio':
      return `${p}mmio ${e.write ? 'write' : 'read '} gpa=${h(e.gpa)} size=${e.size} value=${mmioValue(e.valueLo, e.valueHi)} ` +
        `device=${JSON.stringify(e.device)}`;
    case 'irq':
      return `${p}irq vector=${h(e.vector)} type=${e.type} (${INTERRUPTION_TYPE_NAMES[e.type] ?? 'invalid'}) rip=${formatAddress(e.rip)}`;
    case 'digest':
      return `${p}digest regs=${e.regs} mem=${e.mem}`;
    default:
      return `${p}<unknown event kind ${JSON.stringify((e as { kind?: unknown }).kind)}>`;
  }
}

/** The value of one field of an event, rendered for a comparison table. */
export function formatField(kind: EventKind, field: string, v: unknown): string {
  if (v === undefined) return '—';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') {
    if (field === 'write' && kind === 'pio') return v ? 'true (OUT)' : 'false (IN)';
    return String(v);
  }
  if (typeof v !== 'number') return String(v);
  if (!Number.isSafeInteger(v)) return String(v);
  switch (field) {
    case 'ic': case 'len': case 'size':
      return String(v);
    case 'reason':
      return `${v} (${exitReasonName(v)})`;
    case 'type':
      return kind === 'irq' ? `${v} (${INTERRUPTION_TYPE_NAMES[v] ?? 'invalid'})` : String(v);
    case 'rip': case 'gla':
      return formatAddress(v);
    default:
      return v < 0 ? String(v) : h(v);
  }
}

/** Field names of an event in wire order, `kind` first. */
export function fieldNames(kind: EventKind): string[] {
  return ['kind', ...(EVENT_FIELDS[kind] ?? []).map(([name]) => name)];
}

/** Fast field-by-field equality of two events (the replay hot path). */
export function sameEvent(a: TraceEvent, b: TraceEvent): boolean {
  if (a.kind !== b.kind || a.ic !== b.ic) return false;
  switch (a.kind) {
    case 'exit': {
      const c = b as typeof a;
      return a.reason === c.reason && a.qual === c.qual && a.rip === c.rip && a.len === c.len && a.info === c.info &&
        a.gpa === c.gpa && a.gla === c.gla && a.rule === c.rule;
    }
    case 'pio': {
      const c = b as typeof a;
      return a.port === c.port && a.size === c.size && a.write === c.write && a.value === c.value;
    }
    case 'mmio': {
      const c = b as typeof a;
      return a.gpa === c.gpa && a.size === c.size && a.write === c.write && a.valueLo === c.valueLo &&
        a.valueHi === c.valueHi && a.device === c.device;
    }
    case 'irq': {
      const c = b as typeof a;
      return a.vector === c.vector && a.type === c.type && a.rip === c.rip;
    }
    case 'digest': {
      const c = b as typeof a;
      return a.regs === c.regs && a.mem === c.mem;
    }
    default:
      return false;
  }
}

/** The fields (in wire order, `kind` first) whose values differ; a field only one event has counts as differing. */
export function differingFields(a: TraceEvent, b: TraceEvent): string[] {
  const names = unionFields(a, b);
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  return names.filter((f) => ra[f] !== rb[f]);
}

function unionFields(a: TraceEvent | null, b: TraceEvent | null): string[] {
  const names: string[] = [];
  for (const e of [a, b]) {
    if (e === null) continue;
    const kind = e.kind in EVENT_FIELDS ? e.kind : null;
    const list = kind === null ? ['kind', ...Object.keys(e).filter((k) => k !== 'kind')] : fieldNames(kind);
    for (const f of list) if (!names.includes(f)) names.push(f);
  }
  return names;
}

/**
 * Side-by-side table: one row per field, `*` marking the differing ones.
 * Either event may be null (absent).
 */
export function formatComparison(
  a: TraceEvent | null, b: TraceEvent | null, differing: readonly string[], labels: readonly [string, string],
): string[] {
  const names = unionFields(a, b);
  const cell = (e: TraceEvent | null, f: string): string => {
    if (e === null) return f === 'kind' ? '(no event)' : '';
    const v = (e as unknown as Record<string, unknown>)[f];
    return f === 'kind' ? String(v) : formatField(e.kind, f, v);
  };
  const rows: [string, string, string, boolean][] = names.map((f) => [f, cell(a, f), cell(b, f), differing.includes(f)]);
  const w0 = Math.max(5, ...rows.map((r) => r[0].length));
  const w1 = Math.max(labels[0].length, ...rows.map((r) => r[1].length));
  const w2 = Math.max(labels[1].length, ...rows.map((r) => r[2].length));
  const line = (m: string, c0: string, c1: string, c2: string): string =>
    `${m} ${c0.padEnd(w0)} | ${c1.padEnd(w1)} | ${c2.padEnd(w2)}`;
  const out = [line(' ', 'field', labels[0], labels[1]).trimEnd(), line(' ', '-'.repeat(w0), '-'.repeat(w1), '-'.repeat(w2))];
  for (const [f, c1, c2, d] of rows) out.push(d ? `${line('*', f, c1, c2)}  <-- differs` : line(' ', f, c1, c2).trimEnd());
  return out;
}

/** RIP carried by an event (exits and injections carry one), else undefined. */
export function eventRip(e: TraceEvent | null): number | undefined {
  if (e === null) return undefined;
  return e.kind === 'exit' || e.kind === 'irq' ? e.rip : undefined;
}
