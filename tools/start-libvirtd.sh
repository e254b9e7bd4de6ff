#!/usr/bin/env bash
# Starts virtlogd and libvirtd when they are not running (machines here have no systemd).
set -euo pipefail

# QEMU runs as libvirt-qemu (group kvm); with no udev, /dev/kvm may be root's alone
if [[ $(id -u) -eq 0 && -c /dev/kvm ]] && getent group kvm >/dev/null; then
  chgrp kvm /dev/kvm && chmod g+rw /dev/kvm || echo "vmm: /dev/kvm stays root's: VMs run under TCG" >&2
fi

if virsh -q -c qemu:///system version >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "vmm: libvirtd is not running; start it as root: virtlogd -d && libvirtd -d" >&2
  exit 1
fi
mkdir -p /var/log/libvirt /var/lib/libvirt /run/libvirt
pgrep -x virtlogd >/dev/null || virtlogd -d
pgrep -x libvirtd >/dev/null || libvirtd -d
for _ in $(seq 50); do
  virsh -q -c qemu:///system version >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "vmm: libvirtd did not come up" >&2
exit 1
