#!/usr/bin/env bash
# The main job: record a boot of the default guest, replay it bit-exactly,
# and print a summary. (The default guest becomes the Linux PVH kernel once
# the Linux boot lands; until then it is the long-mode test guest.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/cli/main.js ] || npx tsc -p .
out="${HVTRACE_OUT:-.cache/main-job}"
mkdir -p "$out"
guest="${1:-guests/longmode.elf}"
echo "== record $guest -> $out/boot.hvt"
node dist/cli/main.js record "$guest" --mem 16 -o "$out/boot.hvt"
echo "== replay $out/boot.hvt"
node dist/cli/main.js replay "$out/boot.hvt"
echo "== inspect"
node dist/cli/main.js inspect "$out/boot.hvt" | sed -n '1,20p'
