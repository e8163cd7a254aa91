#!/usr/bin/env bash
# Builds a GPT disk image with one EFI system partition that boots, under
# Secure Boot with Microsoft's keys (OVMF_VARS_4M.ms.fd), Debian's signed shim,
# Debian's signed GRUB and the Debian kernel with the event-log initramfs from
# build-eventlog-initramfs.sh. Every binary comes from a Debian package
# (shim-signed, grub-efi-amd64-signed, linux-image-amd64, busybox-static); the
# disk is assembled without root with sfdisk (fdisk) and mtools.
#
#   scripts/tpm-build-boot-disk.sh OUTDIR [KERNEL_CMDLINE]
#
# Writes OUTDIR/disk.img and OUTDIR/release/ (the PE images the disk boots, so a
# test can declare their Authenticode hashes as the release would).
set -euo pipefail

out="${1:?usage: $0 OUTDIR [KERNEL_CMDLINE]}"
cmdline="${2:-console=ttyS0 quiet}"
here="$(cd "$(dirname "$0")" && pwd)"
shim="${SHIM:-/usr/lib/shim/shimx64.efi.signed}"
grub="${GRUB:-/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed}"
for tool in sfdisk mformat mcopy mmd; do
  command -v "$tool" >/dev/null || { echo "$tool not found (install fdisk and mtools)" >&2; exit 2; }
done
[ -r "$shim" ] || { echo "shim not found at $shim (install shim-signed)" >&2; exit 2; }
[ -r "$grub" ] || { echo "grub not found at $grub (install grub-efi-amd64-signed)" >&2; exit 2; }

mkdir -p "$out/release"
"$here/build-eventlog-initramfs.sh" "$out" >/dev/null
cp "$shim" "$out/release/shimx64.efi"
cp "$grub" "$out/release/grubx64.efi"
cp "$out/vmlinuz" "$out/release/vmlinuz"

img="$out/disk.img.tmp"
rm -f "$img"
truncate -s 64M "$img"
printf 'label: gpt\nlabel-id: 5D84523B-4822-4649-A3AC-17570DE6CA18\nstart=2048, size=120000, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=0F5D64C4-58E1-4B7A-9B59-6B2F5C1C1A11, name="ESP"\n' \
  | sfdisk -q "$img"
part="$img@@1M"
mformat -i "$part" -F -v ESP -N 12345678 ::
mmd -i "$part" ::/EFI ::/EFI/BOOT ::/EFI/debian
mcopy -i "$part" "$shim" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$part" "$grub" ::/EFI/BOOT/grubx64.efi
cfg="$(mktemp)"
trap 'rm -f "$cfg"' EXIT
printf 'set timeout=0\nlinux /vmlinuz %s\ninitrd /initramfs.cpio.gz\nboot\n' "$cmdline" > "$cfg"
# Debian's signed GRUB looks for its configuration in /EFI/debian.
mcopy -i "$part" "$cfg" ::/EFI/debian/grub.cfg
mcopy -i "$part" "$out/vmlinuz" ::/vmlinuz
mcopy -i "$part" "$out/initramfs.cpio.gz" ::/initramfs.cpio.gz
mv "$img" "$out/disk.img"
echo "$out/disk.img"
