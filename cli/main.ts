#!/usr/bin/env node
/**
 * hvtrace command line. Parses the subcommand and its options, runs it, and
 * turns every expected failure into a one-line message and an exit status:
 * 2 for bad usage or input, 1 for a guest that did not end cleanly.
 */
import { runCommand } from './run.js';
import { CliError } from './common.js';
import { recordCommand } from './record.js';
import { replayCommand } from './replay.js';
import { inspectCommand } from './inspect.js';
import { diffCommand } from './diff.js';
import { fuzzCommand } from './fuzz.js';
import { ktestCommand } from './ktest.js';

const USAGE = `usage: hvtrace <command> [options]

commands:
  run <guest>            boot a guest and show its serial console
  record <guest> -o F    run a guest and record every event to trace F
  replay F               re-run a trace and check it event by event
  inspect F              show a trace's header, counts and events
  diff A B               compare two traces
  fuzz <suite>           run property suites (mmio, ...) and keep counterexamples
  ktest <kernels|dir>    run x86 test kernels (kvm-unit-tests) and tabulate results

Run 'hvtrace <command> --help' for the options of a command.`;

function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run': return runCommand(rest);
    case 'record': return recordCommand(rest);
    case 'replay': return replayCommand(rest);
    case 'inspect': return inspectCommand(rest);
    case 'diff': return diffCommand(rest);
    case 'fuzz': return fuzzCommand(rest);
    case 'ktest': return ktestCommand(rest);
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(USAGE + '\n'); return cmd === undefined ? 2 : 0;
    default: throw new CliError(`unknown command '${cmd}' (commands: run, record, replay, inspect, diff, fuzz, ktest; see 'hvtrace --help')`);
  }
}

// A closed pipe (hvtrace inspect ... | head) ends the output quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); throw e; });

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  const err = e as { code?: string; message?: string };
  if (e instanceof CliError) {
    process.stderr.write(`hvtrace: error: ${e.message}\n`);
    process.exitCode = e.status;
  } else if (typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
    // One line: node's message names the option; the usage of the command is one --help away.
    const cmd = process.argv[2] ?? '';
    process.stderr.write(`hvtrace: error: ${(err.message ?? '').replace(/\s*\n\s*/g, ' ')} (see 'hvtrace ${cmd} --help')\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`hvtrace: internal error: ${err.message ?? String(e)}\n`);
    if (process.env.HVTRACE_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 70;
  }
}
