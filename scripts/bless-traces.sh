#!/usr/bin/env bash
# Re-record the golden traces in traces/ (see traces/README.md). Run after
# `npm run build`, only for an intended change of machine behaviour.
set -euo pipefail
cd "$(dirname "$0")/../traces"
for g in hello cpuid longmode; do
  node ../dist/cli/main.js record "../guests/$g.elf" --mem 16 -o "$g.hvt" --quiet
done
