#!/usr/bin/env bash
# install.sh [--prefix DIR] — install cleanroom's read-only evidence handling on the forensic
# instance (Amazon Linux 2023; run as root by the room's user data from /opt/cleanroom/guest/).
#
#   /etc/lvm/lvmlocal.conf                        LVM autoactivation off (the previous file is
#                                                 kept once as lvmlocal.conf.cleanroom-orig)
#   /usr/local/sbin/cleanroom-guest-lib.sh        shared functions
#   /usr/local/sbin/cleanroom-evidence-ro         udev helper: evidence disk + partitions -> ro
#   /usr/local/sbin/cleanroom-mount-evidence      read-only mount helper
#   /usr/local/sbin/cleanroom-evidence-status     JSON lines: device, volumeId, readOnly
#   /usr/local/sbin/cleanroom-evidence-hash       read-only SHA-256 of an evidence disk vs the record
#   /usr/local/sbin/cleanroom-toolkit-install     offline install of the case's forensic toolkit
#   /etc/udev/rules.d/10-cleanroom-evidence-ro.rules
#
# then reloads udev, replays "change" for every block device, and also runs the helper directly
# on each one (so disks attached before this ran, or a host where udevd is not running yet, are
# covered too).
#
# --prefix DIR installs the files under DIR (a staging root, like DESTDIR) and skips the udev
# reload and the pass over this machine's block devices. Idempotent: running it again changes
# nothing.
set -euo pipefail

usage() {
  echo "usage: install.sh [--prefix DIR]" >&2
  exit 2
}

prefix=/
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || usage; prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    *) usage ;;
  esac
done
src="$(dirname -- "$(readlink -f -- "$0")")"
root="${prefix%/}"
live=0
[ -z "$root" ] && live=1

sbin="$root/usr/local/sbin"
rules="$root/etc/udev/rules.d"
lvmdir="$root/etc/lvm"

# LVM first, so that no uevent replayed below can autoactivate a volume group on evidence.
mkdir -p -- "$lvmdir"
if [ -e "$lvmdir/lvmlocal.conf" ] && ! cmp -s -- "$src/lvmlocal.conf" "$lvmdir/lvmlocal.conf" &&
  [ ! -e "$lvmdir/lvmlocal.conf.cleanroom-orig" ]; then
  cp -p -- "$lvmdir/lvmlocal.conf" "$lvmdir/lvmlocal.conf.cleanroom-orig"
  echo "kept the previous $lvmdir/lvmlocal.conf as lvmlocal.conf.cleanroom-orig"
fi
install -D -m 0644 -- "$src/lvmlocal.conf" "$lvmdir/lvmlocal.conf"

install -D -m 0644 -- "$src/cleanroom-guest-lib.sh" "$sbin/cleanroom-guest-lib.sh"
for tool in cleanroom-evidence-ro cleanroom-mount-evidence cleanroom-evidence-status cleanroom-evidence-hash \
  cleanroom-toolkit-install; do
  install -D -m 0755 -- "$src/$tool" "$sbin/$tool"
done
install -D -m 0644 -- "$src/10-cleanroom-evidence-ro.rules" "$rules/10-cleanroom-evidence-ro.rules"
echo "installed cleanroom guest tools under ${root:-/}"

if [ "$live" = 0 ]; then
  echo "--prefix given: udev not reloaded and block devices not touched"
  exit 0
fi

if command -v udevadm >/dev/null 2>&1; then
  udevadm control --reload
  udevadm trigger --action=change --subsystem-match=block
  udevadm settle --timeout=120 || echo "udevadm settle timed out; continuing with the direct pass" >&2
fi
# The direct pass: the helper ignores devices that are not evidence and the root disk.
failed=0
for sys in /sys/class/block/*; do
  "$sbin/cleanroom-evidence-ro" "/dev/$(basename -- "$sys")" 2>/dev/null || failed=1
done
if [ "$failed" = 1 ]; then
  echo "some evidence device could not be made read-only; see: journalctl -t cleanroom-evidence-ro" >&2
  exit 1
fi
"$sbin/cleanroom-evidence-status" || true
