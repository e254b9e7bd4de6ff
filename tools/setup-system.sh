#!/usr/bin/env bash
# Installs the system packages vmm and its test tiers need, when any is missing.
# As root it installs them; otherwise it prints the exact command to run and fails.
set -euo pipefail

packages=(
  # libvirt-python builds from source against these
  libvirt-dev pkg-config gcc python3-dev
  # a real libvirt daemon, QEMU and the tools the hypervisor tier uses as witnesses
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base
  # the picker and its terminal tests
  fzf tmux
)
packages+=("$@")

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "vmm: missing system packages: ${missing[*]}" >&2
  echo "run as root: $command" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
