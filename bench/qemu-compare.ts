/**
 * Side by side, in one go on this machine: hvtrace's record and replay
 * (every event verified) of Debian's cloud kernel booting our initramfs to
 * /init and powering off, and QEMU's deterministic record/replay of the
 * same kernel and initramfs (`-icount shift=0,rr=record` / `rr=replay`).
 * QEMU is a comparison only, never a dependency of hvtrace.
 *
 *   npm run bench:qemu [-- --kernel VMLINUZ --initrd CPIO --append CMDLINE
 *                          --timeout SECONDS --keep DIR]
 *
 * Inputs default to guests/debian-cloud/fetch.sh and build-initramfs.sh's
 * outputs in .cache/debian-cloud/ (run those first). Every run is a child
 * process timed from spawn to exit (wall time, start-up included, as QEMU's
 * is). Progress goes to stderr; the table to stdout. Nothing is asserted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'dist/cli/main.js');
const { values } = parseArgs({
  options: {
    kernel: { type: 'string' }, initrd: { type: 'string' }, append: { type: 'string' },
    timeout: { type: 'string' }, keep: { type: 'string' }, qemu: { type: 'string' },
  },
});
const cache = path.join(process.env.HVTRACE_CACHE ?? path.join(ROOT, '.cache'), 'debian-cloud');
const kernel = values.kernel ?? fs.readdirSync(cache, { withFileTypes: true }).map((d) => d.name).find((n) => n.startsWith('vmlinuz-'));
const log = (s: string): void => { process.stderr.write(`[bench:qemu] ${s}\n`); };
if (!kernel) { log(`no kernel: run 'bash guests/debian-cloud/fetch.sh' (or pass --kernel)`); process.exit(2); }
const kernelPath = values.kernel ?? path.join(cache, kernel);
const initrdPath = values.initrd ?? path.join(cache, 'initramfs.cpio');
for (const f of [kernelPath, initrdPath]) if (!fs.existsSync(f)) { log(`missing ${f}: run guests/debian-cloud/fetch.sh and build-initramfs.sh`); process.exit(2); }
const append = values.append ?? 'console=ttyS0';
const timeoutS = Number(values.timeout ?? 600);
const qemu = values.qemu ?? 'qemu-system-x86_64';
if (spawnSync(qemu, ['--version'], { encoding: 'utf8' }).status !== 0) {
  log(`${qemu} not found. It is used for this comparison only; install it from Debian's packages: sudo apt-get install qemu-system-x86`);
  process.exit(2);
}
const qemuVersion = spawnSync(qemu, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '?';
const dir = values.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hvtrace-qemu-'));
fs.mkdirSync(dir, { recursive: true });

interface Run { label: string; seconds: number; status: number | null; timedOut: boolean; stderr: string }

function timed(label: string, cmd: string, args: string[]): Promise<Run> {
  log(`${label}: ${cmd} ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const secs = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    let timedOut = false;
    const tick = setInterval(() => log(`${label}: ${secs().toFixed(0)} s ...`), 10_000);
    const kill = setTimeout(() => { timedOut = true; log(`${label}: no exit after ${timeoutS} s, killing it`); child.kill('SIGKILL'); }, timeoutS * 1000);
    child.on('exit', (status) => {
      clearInterval(tick); clearTimeout(kill);
      const r = { label, seconds: secs(), status, timedOut, stderr };
      log(`${label}: ${timedOut ? 'TIMED OUT' : `exit ${status}`} after ${r.seconds.toFixed(2)} s`);
      resolve(r);
    });
  });
}
const size = (f: string): number => (fs.existsSync(f) ? fs.statSync(f).size : 0);
const serialOk = (f: string): boolean => fs.existsSync(f) && fs.readFileSync(f, 'latin1').includes('/sbin/init reached');

const trace = path.join(dir, 'debian.hvt');
const qlog = path.join(dir, 'qemu-rr.bin');
const qemuArgs = (mode: string, serial: string): string[] => [
  '-M', 'pc', '-cpu', 'qemu64', '-m', '256',
  '-kernel', kernelPath, '-initrd', initrdPath, '-append', append,
  '-display', 'none', '-monitor', 'none', '-serial', `file:${serial}`, '-net', 'none', '-no-reboot',
  '-icount', `shift=0,rr=${mode},rrfile=${qlog}`,
];

const load0 = os.loadavg();
log(`work directory ${dir}; load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);
const ourRec = await timed('hvtrace record', process.execPath, [CLI, 'record', '--kernel', kernelPath, '--initrd', initrdPath, '--mem', '256', '--append', append, '--max-instructions', '4000000000', '-o', trace, '--quiet']);
const ourRep = await timed('hvtrace replay', process.execPath, [CLI, 'replay', trace]);
const qRecSerial = path.join(dir, 'qemu-record.serial');
const qRepSerial = path.join(dir, 'qemu-replay.serial');
const qRec = await timed('qemu rr=record', qemu, qemuArgs('record', qRecSerial));
const qRep = qRec.timedOut || qRec.status !== 0
  ? { label: 'qemu rr=replay', seconds: NaN, status: null, timedOut: false, stderr: 'skipped: the recording failed' }
  : await timed('qemu rr=replay', qemu, qemuArgs('replay', qRepSerial));
const load1 = os.loadavg();

const ourStop = /hvtrace: (.*?);/.exec(ourRec.stderr)?.[1] ?? ourRec.stderr.trim().split('\n').pop() ?? '';
const instr = /; (\d+) instructions/.exec(ourRec.stderr)?.[1];
const okRec = ourRec.status === 0;
const okRep = ourRep.status === 0;
const fmt = (s: number): string => (Number.isFinite(s) ? `${s.toFixed(2)} s` : '-');
const mb = (b: number): string => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(1)} kB`) + ` (${b} bytes)`;
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toPrecision(3) : '-');
const note = (r: Run, ok: boolean): string => (r.timedOut ? 'TIMED OUT' : ok ? 'ok' : `exit ${r.status}`);

console.log(`host: ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, node ${process.version}, ${qemuVersion}`);
console.log(`load average: ${load0.map((x) => x.toFixed(2)).join(' ')} (start), ${load1.map((x) => x.toFixed(2)).join(' ')} (end)`);
console.log(`guest: ${path.basename(kernelPath)} + ${path.basename(initrdPath)} (${size(initrdPath)} bytes), --append "${append}", 256 MiB`);
console.log(`hvtrace: ${instr ?? '?'} instructions; stop: ${ourStop}`);
console.log('');
console.log('| run | wall time | output | status |');
console.log('|---|---|---|---|');
console.log(`| hvtrace record | ${fmt(ourRec.seconds)} | trace ${mb(size(trace))} | ${note(ourRec, okRec)} |`);
console.log(`| hvtrace replay (every event verified) | ${fmt(ourRep.seconds)} | | ${note(ourRep, okRep)}${okRep ? ', bit-exact' : `: ${ourRep.stderr.trim().split('\n').slice(-2).join(' ')}`} |`);
console.log(`| QEMU -icount shift=0,rr=record | ${fmt(qRec.seconds)} | log ${mb(size(qlog))} | ${note(qRec, qRec.status === 0)}${serialOk(qRecSerial) ? ', /init reached' : ''} |`);
console.log(`| QEMU rr=replay | ${fmt(qRep.seconds)} | | ${qRep.stderr.startsWith('skipped') ? 'skipped' : note(qRep, qRep.status === 0)}${serialOk(qRepSerial) ? ', /init reached' : ''} |`);
console.log('');
console.log('| ratio | value | target |');
console.log('|---|---|---|');
console.log(`| our record / QEMU record | ${ratio(ourRec.seconds, qRec.seconds)} | ≤ 1 |`);
console.log(`| our trace / QEMU log | ${ratio(size(trace), size(qlog))} | ≤ 0.1 |`);
console.log(`| our replay / our record | ${ratio(ourRep.seconds, ourRec.seconds)} | ≤ 1 |`);
if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
