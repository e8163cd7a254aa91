#!/usr/bin/env bash
# Boots OVMF (Secure Boot, Microsoft keys) under qemu-system-x86_64 -M q35
# -accel tcg with swtpm as a tpm-tis TPM, from the disk tpm-build-boot-disk.sh
# makes, and records what the initramfs prints on the serial console: the TCG
# event log and every PCR bank.
#
#   scripts/tpm-boot-eventlog.sh WORKDIR [TIMEOUT_SECONDS]
#
# Writes WORKDIR/eventlog.bin, WORKDIR/pcrs.txt ("bank index hex" lines),
# WORKDIR/cmdline.txt and WORKDIR/console.log. swtpm is started here and
# stopped by its PID; nothing listens on the network.
set -euo pipefail

work="${1:?usage: $0 WORKDIR [TIMEOUT_SECONDS]}"
limit="${2:-600}"
here="$(cd "$(dirname "$0")" && pwd)"
code="${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.ms.fd}"
vars="${OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.ms.fd}"
for tool in swtpm qemu-system-x86_64 base64; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 2; }
done
[ -r "$code" ] && [ -r "$vars" ] || { echo "OVMF not found (install ovmf)" >&2; exit 2; }

mkdir -p "$work/tpm"
[ -e "$work/disk.img" ] || "$here/tpm-build-boot-disk.sh" "$work" >/dev/null
cp "$vars" "$work/vars.fd"
sock="$work/tpm/swtpm.sock"
rm -f "$sock"
swtpm socket --tpm2 --tpmstate "dir=$work/tpm" --ctrl "type=unixio,path=$sock" --flags startup-clear \
  --log "file=$work/tpm/swtpm.log" &
swtpm_pid=$!
trap 'kill "$swtpm_pid" 2>/dev/null || true; wait "$swtpm_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "swtpm did not create $sock" >&2; exit 3; }

status=0
timeout "$limit" qemu-system-x86_64 -M q35,smm=on -accel tcg -m 512 -nographic -no-reboot -nodefaults \
  -serial stdio -monitor none \
  -global driver=cfi.pflash01,property=secure,value=on \
  -drive "if=pflash,format=raw,unit=0,readonly=on,file=$code" \
  -drive "if=pflash,format=raw,unit=1,file=$work/vars.fd" \
  -chardev "socket,id=chrtpm,path=$sock" -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
  -drive "if=none,id=disk0,format=raw,file=$work/disk.img,snapshot=on" -device virtio-blk-pci,drive=disk0,bootindex=0 \
  -net none </dev/null > "$work/console.log" 2>&1 || status=$?
tr -d '\r' < "$work/console.log" > "$work/console.txt"
if ! grep -q '^PROVCHECK-DONE' "$work/console.txt"; then
  echo "the guest did not finish (qemu status $status); see $work/console.log" >&2
  exit 3
fi
sed -n '/^PROVCHECK-EVENTLOG-BEGIN$/,/^PROVCHECK-EVENTLOG-END$/p' "$work/console.txt" \
  | grep -v '^PROVCHECK-' | base64 -d > "$work/eventlog.bin.tmp"
mv "$work/eventlog.bin.tmp" "$work/eventlog.bin"
sed -n 's/^PROVCHECK-PCR //p' "$work/console.txt" > "$work/pcrs.txt"
sed -n 's/^PROVCHECK-CMDLINE //p' "$work/console.txt" > "$work/cmdline.txt"
[ -s "$work/eventlog.bin" ] || { echo "the guest printed no event log" >&2; exit 3; }
echo "$work/eventlog.bin"
