#!/usr/bin/env bash
# Builds the small Debian 12 guest the real-guest test tier boots, from Debian's packages
# only (mmdebstrap; mke2fs -d needs no loop mount), and caches it: the cache key is a hash
# of this script, its package list and the files under tools/guest, so only the first run on
# a machine (or a changed recipe) pays for the build. Prints the cache directory, which holds
# guest.qcow2 (the root file system), vmlinuz and initrd.img (for direct kernel boot).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
packages=(
  linux-image-amd64 systemd-sysv udev openssh-server qemu-guest-agent cloud-init
  ifupdown isc-dhcp-client
  # systemd-logind turns the ACPI power button into a clean poweroff, as on any distribution;
  # without D-Bus it does not run and `vmm shutdown` goes unanswered
  dbus libpam-systemd
)
key=$( (cat "$0"; printf '%s\n' "${packages[@]}"; cat "$here"/guest/*) | sha256sum | cut -c1-16)
cache=${VMM_GUEST_CACHE:-/var/cache/vmm/guest}/$key
if [[ -f $cache/guest.qcow2 && -f $cache/vmlinuz && -f $cache/initrd.img ]]; then
  echo "$cache"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vmm-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
include=$(IFS=,; echo "${packages[*]}")
mmdebstrap --quiet --variant=apt --include="$include" bookworm "$work/rootfs.tar" >&2
mkdir "$work/root"
tar -C "$work/root" -xf "$work/rootfs.tar"
rm "$work/rootfs.tar"
install -m 644 "$here/guest/fstab" "$work/root/etc/fstab"
install -m 644 "$here/guest/interfaces" "$work/root/etc/network/interfaces"
install -m 644 "$here/guest/cloud.cfg.d-vmm.cfg" "$work/root/etc/cloud/cloud.cfg.d/90-vmm.cfg"
echo vmm-guest > "$work/root/etc/hostname"
: > "$work/root/etc/machine-id"  # each boot of each clone makes its own
kernel=$(ls "$work"/root/boot/vmlinuz-* | sort -V | tail -1)
initrd=$(ls "$work"/root/boot/initrd.img-* | sort -V | tail -1)
mkdir -p "$cache.part"
cp "$kernel" "$cache.part/vmlinuz"
cp "$initrd" "$cache.part/initrd.img"
chmod 644 "$cache.part/vmlinuz" "$cache.part/initrd.img"
mke2fs -q -t ext4 -d "$work/root" -L root "$work/guest.raw" 3G
qemu-img convert -O qcow2 "$work/guest.raw" "$cache.part/guest.qcow2"
rm -rf "$cache"
mv "$cache.part" "$cache"
# images of older recipes are never used again
find "$(dirname "$cache")" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} +
echo "$cache"
