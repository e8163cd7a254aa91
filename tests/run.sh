#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, then runs
# the whole suite: ruff, mypy (strict) and pytest. README's second command.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # real peers
  qemu-system-arm qemu-system-x86 u-boot-qemu ser2net swtpm swtpm-tools tpm2-tools
  # real firmware
  ovmf qemu-efi-aarch64 shim-signed grub-efi-amd64-signed fwupd-amd64-signed ipxe-qemu busybox-static linux-image-amd64
  # building planted backdoors and checking reports
  gcc gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 sbsigntool cpio chromium
  # assembling the measured-boot test disk (GPT + FAT ESP without root)
  mtools fdisk openssl
  # Secure Boot signed variable updates made by the tools vendors use
  efitools
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python3 -m pip install -q -e '.[test]'

echo "== ruff"
python3 -m ruff check verifier attestations hw tests bench fuzz
echo "== mypy"
python3 -m mypy
echo "== pytest"
python3 -m pytest "$@"
