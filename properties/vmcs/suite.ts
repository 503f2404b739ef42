/**
 * The 'vmcs' fuzz suite (`hvtrace fuzz vmcs`): the four properties of
 * ./suites.ts under fast-check, counterexamples saved to
 * properties/regressions/vmcs/ and replayed by test/properties/vmcs-regressions.test.ts.
 *
 * Properties (FuzzSuite names):
 *   valid       every generated valid VMCS state enters
 *   violation   one targeted violation per VM-entry rule fails with exactly that rule
 *               (`--runs N` = N runs for each of the rules)
 *   arbitrary   arbitrary field values: no throw, SDM outcome, SDM VMCS contents afterwards
 *   readwrite   VMREAD/VMWRITE by field width, read-only fields, invalid encodings
 *
 * A finding is printed in its shrunk form: for VMCS states, the fields that
 * differ from the base state (core/hv/setup.ts's PVH state) and the scenario
 * choices that differ from the base choices.
 */
import { writeRegressionFile } from '../regression-file.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FuzzFailure, FuzzOptions, FuzzReport, FuzzSuite } from '../registry.js';
import { runRounds, type FuzzRound } from '../runner.js';
import { encodingName } from '../../core/vmx/fields.js';
import { check, replay, ruleIds, SUITES, type SuiteName, type Failure, type ViolationCase, type ArbitraryCase, type RwCase } from './suites.js';
import { baseScenario, buildImage, type Scenario } from './scenario.js';
import { RULE_VIOLATIONS, violatedImage } from './violations.js';
import { DEFAULT_CAPS } from './caps.js';
import { LAYOUT, type Image } from './world.js';
import { buildEpt } from '../../core/hv/layout.js';
import { PhysMem } from '../../core/memory/physmem.js';

// =====================================================================
// Shrunk forms
// =====================================================================

const EPTP = buildEpt(new PhysMem(LAYOUT.total), LAYOUT);
const hex = (lo: number, hi: number): string => '0x' + (hi ? hi.toString(16) + lo.toString(16).padStart(8, '0') : lo.toString(16));

/** Fields and memory words in which `img` differs from `base`. */
export function imageDiff(base: Image, img: Image): string[] {
  const out: string[] = [];
  const encs = new Set([...base.fields.keys(), ...img.fields.keys()]);
  for (const e of [...encs].sort((a, b) => a - b)) {
    const [al, ah] = base.fields.get(e) ?? [0, 0], [bl, bh] = img.fields.get(e) ?? [0, 0];
    if (al !== bl || ah !== bh) out.push(`${encodingName(e)} ${hex(al, ah)} -> ${hex(bl, bh)}`);
  }
  const mb = new Map(base.mem.map(([a, v]) => [a, v])), mi = new Map(img.mem.map(([a, v]) => [a, v]));
  for (const a of [...new Set([...mb.keys(), ...mi.keys()])].sort((x, y) => x - y)) {
    if (mb.get(a) !== mi.get(a)) out.push(`mem[0x${a.toString(16)}] ${hex(mb.get(a) ?? 0, 0)} -> ${hex(mi.get(a) ?? 0, 0)}`);
  }
  return out;
}

/** Scenario choices that differ from the base. */
export function scenarioDiff(s: Scenario): string[] {
  const b = baseScenario() as unknown as Record<string, unknown>;
  const out: string[] = [];
  for (const [k, v] of Object.entries(s)) if (JSON.stringify(v) !== JSON.stringify(b[k])) out.push(`${k}=${JSON.stringify(v)}`);
  return out;
}

export function describeCounterexample(f: { suite: SuiteName; rule?: string; counterexample: unknown }): string {
  const base = buildImage(baseScenario(), DEFAULT_CAPS, EPTP);
  switch (f.suite) {
    case 'valid': {
      const s = f.counterexample as Scenario;
      return `choices {${scenarioDiff(s).join(', ')}}; fields: ${imageDiff(base, buildImage(s, DEFAULT_CAPS, EPTP)).join('; ') || 'base state'}`;
    }
    case 'violation': {
      const c = f.counterexample as ViolationCase;
      const v = RULE_VIOLATIONS.get(f.rule ?? '');
      if (!v) return JSON.stringify(c);
      const img = violatedImage(v, c.scenario, c.param, EPTP).draft.image();
      return `rule ${f.rule}, param ${c.param}, choices {${scenarioDiff(c.scenario).join(', ')}}; fields vs base: ${imageDiff(base, img).join('; ')}`;
    }
    case 'arbitrary': {
      const c = f.counterexample as ArbitraryCase;
      return `${c.launch ? 'VMLAUNCH' : 'VMRESUME'} of a ${c.launched ? 'launched' : 'clear'} VMCS${c.noCurrent ? ' (no current VMCS)' : ''}${c.allRandom ? `, all fields random (seed ${c.seed})` : `, choices {${scenarioDiff(c.scenario).join(', ')}}`}, changes ${JSON.stringify(c.changes)}`;
    }
    case 'readwrite': {
      const c = f.counterexample as RwCase;
      return `VMWRITE ${encodingName(c.enc)} := ${hex(c.lo, c.form === 1 ? 0 : c.hi)} (form ${c.form}) over ${hex(c.preLo, c.preHi)}${c.noCurrent ? ' without a current VMCS' : ''}`;
    }
  }
}

// =====================================================================
// Regression files
// =====================================================================

export function regressionDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'properties', 'regressions', 'vmcs');
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root');
    dir = up;
  }
}

export interface Regression {
  readonly file: string;
  readonly property: SuiteName;
  readonly rule?: string;
  readonly counterexample: unknown;
  /** Why it failed when it was found. */
  readonly message: string;
}

export function loadRegressions(dir = regressionDir()): Regression[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => {
    const j = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>;
    const property = String(j['property']) as SuiteName;
    if (!SUITES.includes(property)) throw new Error(`${f}: unknown property '${property}'`);
    return { file: join(dir, f), property, ...(typeof j['rule'] === 'string' ? { rule: j['rule'] } : {}), counterexample: j['counterexample'], message: String(j['message'] ?? '') };
  });
}

/** Re-check one regression; null when it holds now. */
export function replayRegression(r: Regression): string | null {
  return replay(r.property, r.counterexample, r.rule);
}

export function saveRegression(f: Failure, dir = regressionDir()): string {
  const body = { property: f.suite, ...(f.rule ? { rule: f.rule } : {}), message: f.message, seed: f.seed, path: f.path ?? '', shrunk: describeCounterexample(f), counterexample: f.counterexample };
  return writeRegressionFile(dir, `${f.suite}${f.rule ? '-' + f.rule : ''}`,
    JSON.stringify([body.property, body.rule ?? '', body.counterexample]), JSON.stringify(body, null, 1) + '\n');
}

// =====================================================================
// Runner
// =====================================================================

export const DEFAULT_RUNS = 200;

function runSuite(opts: FuzzOptions): FuzzReport {
  const toFailure = (f: Failure, save: boolean): FuzzFailure => ({
    property: f.rule ? `violation ${f.rule}` : f.suite, message: f.message, counterexample: describeCounterexample(f),
    seed: f.seed, path: f.path ?? '', shrinks: f.shrinks, ...(save ? { file: saveRegression(f) } : {}),
  });
  const ids = ruleIds();
  const failedRules = new Set<string>();
  const violation = (r: FuzzRound): boolean => {
    // Progress every 1/8 of the rules.
    const step = Math.ceil(ids.length / 8);
    for (let i = 0; i < ids.length; i += step) {
      const rules = ids.slice(i, i + step).filter((x) => !failedRules.has(x));
      for (const f of check('violation', { runs: r.runs, seed: r.seed + i, rules })) { failedRules.add(f.rule!); r.fail(toFailure(f, r.save)); }
      r.count(rules.length * r.runs, `violation (rules ${i + 1}-${Math.min(i + step, ids.length)} of ${ids.length})`);
    }
    return failedRules.size === ids.length;
  };
  const other = (suite: SuiteName, r: FuzzRound): boolean => {
    const fs = check(suite, { runs: r.runs, seed: r.seed });
    for (const f of fs) r.fail(toFailure(f, r.save));
    r.count(r.runs);
    return fs.length > 0;
  };
  return runRounds({
    suite: 'vmcs', defaultRuns: DEFAULT_RUNS, seedStride: 104729,
    properties: SUITES.map((suite) => ({ name: suite, step: (r: FuzzRound) => (suite === 'violation' ? violation(r) : other(suite, r)) })),
  }, opts);
}

export const VMCS_SUITE: FuzzSuite = {
  description: 'VM-entry checks and VMREAD/VMWRITE: valid states enter, one violation per rule (--runs N per rule), arbitrary values, field widths',
  properties: ['valid', 'violation', 'arbitrary', 'readwrite'],
  run: runSuite,
};
