#!/usr/bin/env bash
# Installs the system packages vmm and its test tiers need, when any is missing.
# As root it installs them; otherwise it prints the exact command to run and fails.
set -euo pipefail

packages=(
  # libvirt-python builds from source against these
  libvirt-dev pkg-config gcc python3-dev
  # a real libvirt daemon, QEMU and the tools the hypervisor tier uses as witnesses
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base ovmf
  # the picker and its terminal tests
  fzf tmux openssh-client openssh-server
  # the shells whose completion is tested for real
  zsh fish
  # wofi mode and its desktop tests: a headless Sway, typing, screenshots, notifications
  sway wofi wtype grim mako-notifier libnotify-bin dbus-daemon dbus-bin
  # the real-guest tier: a Debian guest built from Debian's packages, its cloud-init seed
  mmdebstrap genisoimage
  # witnesses of the seeds vmm writes itself (a FAT file system): fsck.fat, mtype
  dosfstools mtools
)
packages+=("$@")

ensure_test_user() {
  # an unprivileged user runs the private libvirt daemons and Sway in the test tiers
  id vmmtest >/dev/null 2>&1 && return 0
  if [[ $(id -u) -eq 0 ]]; then useradd -m vmmtest; else
    echo "vmm: the tests need a user 'vmmtest'; run as root: useradd -m vmmtest" >&2; return 1
  fi
}

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then ensure_test_user; exit; fi

command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "vmm: missing system packages: ${missing[*]}" >&2
  echo "run as root: $command" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
ensure_test_user
