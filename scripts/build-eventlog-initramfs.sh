#!/usr/bin/env bash
# Builds a minimal busybox initramfs that prints the TPM event log (base64) and
# the PCRs of every bank on the serial console, then powers off. Used by the
# measured-boot tests: OVMF + swtpm under QEMU boot the Debian kernel with it.
#
#   scripts/build-eventlog-initramfs.sh OUTDIR [--sign-snakeoil]
#
# Writes OUTDIR/initramfs.cpio.gz and OUTDIR/vmlinuz. With --sign-snakeoil the
# kernel is re-signed with the Debian ovmf package's test-only "snakeoil" key so
# that OVMF_CODE_4M.snakeoil.fd + OVMF_VARS_4M.snakeoil.fd boots it with Secure
# Boot enabled. Everything comes from Debian packages: busybox-static,
# linux-image-amd64, ovmf, sbsigntool, cpio.
set -euo pipefail

out="${1:?usage: $0 OUTDIR [--sign-snakeoil]}"
sign="${2:-}"
busybox="${BUSYBOX:-/bin/busybox}"
kernel="${KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)}"

[ -x "$busybox" ] || { echo "busybox-static not installed ($busybox)" >&2; exit 2; }
if command -v readelf >/dev/null && readelf -l "$busybox" 2>/dev/null | grep -q INTERP; then
  echo "$busybox is dynamically linked: install busybox-static" >&2; exit 2
fi
[ -r "$kernel" ] || { echo "no kernel in /boot (install linux-image-amd64)" >&2; exit 2; }
command -v cpio >/dev/null || { echo "cpio not installed" >&2; exit 2; }

mkdir -p "$out"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"

# The TPM drivers (tpm_tis, tpm_crb) are built into Debian's kernel; if a
# kernel has them as modules, copy them in and load them.
kver="$(basename "$kernel" | sed 's/^vmlinuz-//')"
moddir="/lib/modules/$kver/kernel/drivers/char/tpm"
mkdir -p "$root/lib/tpm"
for m in tpm.ko tpm_tis_core.ko tpm_tis.ko tpm_crb.ko; do
  for f in "$moddir/$m" "$moddir/$m.xz" "$moddir/$m.zst"; do
    [ -e "$f" ] && cp "$f" "$root/lib/tpm/"
  done
done

cat > "$root/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security
for m in /lib/tpm/*; do [ -e "$m" ] && insmod "$m" 2>/dev/null; done
log=/sys/kernel/security/tpm0/binary_bios_measurements
i=0
while [ ! -r "$log" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
echo "PROVCHECK-EVENTLOG-BEGIN"
if [ -r "$log" ]; then cat "$log" > /tmp/log && base64 /tmp/log; fi
echo "PROVCHECK-EVENTLOG-END"
for dir in /sys/class/tpm/tpm0/pcr-*; do
  [ -d "$dir" ] || continue
  bank="${dir##*/pcr-}"
  for n in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23; do
    [ -r "$dir/$n" ] && echo "PROVCHECK-PCR $bank $n $(cat "$dir/$n")"
  done
done
echo "PROVCHECK-CMDLINE $(cat /proc/cmdline)"
echo "PROVCHECK-DONE"
sync
poweroff -f
INIT
chmod 755 "$root/init"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible | gzip -9n) > "$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"

if [ "$sign" = "--sign-snakeoil" ]; then
  key=/usr/share/ovmf/PkKek-1-snakeoil.key
  cert=/usr/share/ovmf/PkKek-1-snakeoil.pem
  [ -r "$key" ] || { echo "ovmf snakeoil key not found" >&2; exit 2; }
  command -v sbsign >/dev/null || { echo "sbsigntool not installed" >&2; exit 2; }
  # The snakeoil key is public test material; its documented password is 'snakeoil'.
  openssl pkey -in "$key" -passin pass:snakeoil -out "$root/snakeoil.key"
  cp "$kernel" "$root/vmlinuz.unsigned"
  sbattach --remove "$root/vmlinuz.unsigned" >/dev/null 2>&1 || true
  sbsign --key "$root/snakeoil.key" --cert "$cert" --output "$out/vmlinuz.tmp" "$root/vmlinuz.unsigned" 2>/dev/null
  mv "$out/vmlinuz.tmp" "$out/vmlinuz"
elif [ -n "$sign" ]; then
  echo "unknown option $sign" >&2; exit 2
else
  cp "$kernel" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
fi
echo "$out/initramfs.cpio.gz $out/vmlinuz"
