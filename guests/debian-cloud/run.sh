#!/usr/bin/env bash
# Boot Debian's cloud kernel with our initramfs on hvtrace (fetching and
# building them first, see fetch.sh and build-initramfs.sh):
#
#   bash guests/debian-cloud/run.sh                       # hvtrace run
#   bash guests/debian-cloud/run.sh record -o boot.hvt    # hvtrace record
#
# The machine carries ACPI tables (core/boot/acpi.ts: RSDP, XSDT, FADT,
# MADT, DSDT with \_S5) and the ACPI PM registers, so the kernel boots with
# ACPI, as on a PC, and /init's power-off goes through S5. To boot without
# ACPI: APPEND_EXTRA="acpi=off" (Debian's cloud kernel has no MP-table
# parser, so it then runs on the 8259 in virtual-wire mode, and its
# power-off becomes a halt with interrupts disabled).
# Other hvtrace options after the command are passed through (--max-instructions, --quiet, ...).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cmd="${1:-run}"; [ $# -gt 0 ] && shift
case "$cmd" in run|record) ;; *) echo "usage: $0 [run|record -o FILE] [hvtrace options]" >&2; exit 2 ;; esac
kernel="$(bash "$here/fetch.sh")"
initrd="$(bash "$here/build-initramfs.sh")"
[ -f "$root/dist/cli/main.js" ] || (cd "$root" && npx tsc -p .)
append="console=ttyS0${APPEND_EXTRA:+ $APPEND_EXTRA}"
exec node "$root/dist/cli/main.js" "$cmd" --kernel "$kernel" --initrd "$initrd" --mem 256 \
  --append "$append" --max-instructions 4000000000 "$@"
