#!/usr/bin/env node
/**
 * hvtrace command line. Parses the subcommand and its options, runs it, and
 * turns every expected failure into a one-line message and an exit status:
 * 2 for bad usage or input, 1 for a guest that did not end cleanly.
 */
import { runCommand, RUN_USAGE } from './run.js';
import { CliError } from './common.js';

const USAGE = `usage: hvtrace <command> [options]

commands:
  run <guest>       boot a guest and show its serial console

Run 'hvtrace <command> --help' for the options of a command.`;

function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run': return runCommand(rest);
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(USAGE + '\n'); return cmd === undefined ? 2 : 0;
    default: throw new CliError(`unknown command '${cmd}'\n${USAGE}`);
  }
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  const err = e as { code?: string; message?: string };
  if (e instanceof CliError) {
    process.stderr.write(`hvtrace: error: ${e.message}\n`);
    process.exitCode = e.status;
  } else if (typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`hvtrace: error: ${err.message}\n${RUN_USAGE.split('\n')[0]}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`hvtrace: internal error: ${err.message ?? String(e)}\n`);
    if (process.env.HVTRACE_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 70;
  }
}
