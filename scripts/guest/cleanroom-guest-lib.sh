# shellcheck shell=bash
# Shared functions for cleanroom's guest-side scripts (sourced, never run).
#
# The EC2 API has no read-only attachment, so the forensic instance enforces read-only itself:
# every non-root EBS disk and each of its partitions is marked read-only in the block layer
# (BLKROSET, `blockdev --setro`) the moment it appears, and evidence is only ever mounted through
# cleanroom-mount-evidence, which refuses a writable device.
#
# Environment (for tests and unusual hosts; the defaults are what a forensic instance needs):
#   CLEANROOM_EVIDENCE_MATCH  extended regex on a disk's kernel name that makes it an evidence disk
#                             (default: Nitro NVMe namespaces and Xen xvd disks)
#   CLEANROOM_ROOT_DISK       the disk(s) holding / (kernel names or /dev paths, space separated);
#                             default: found at run time from the mounted root filesystem
#   CLEANROOM_DISK_BY_ID      where udev keeps the by-id links (default /dev/disk/by-id)

# udev runs RUN programs with a minimal PATH; the tools below live in sbin. Appended, not
# prepended, so a caller's PATH still wins.
PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"

CR_EVIDENCE_MATCH_DEFAULT='^(nvme[0-9]+n[0-9]+|xvd[a-z]+)$'
# EBS volumes on Nitro are NVMe namespaces whose serial is the volume id without its dash
# ("vol0abc..."); udev's 60-persistent-storage rules name them after model and serial.
# https://docs.aws.amazon.com/ebs/latest/userguide/identify-nvme-ebs-device.html
CR_EBS_BY_ID_PREFIX='nvme-Amazon_Elastic_Block_Store_'

# cr_log TAG MESSAGE... — to stderr and to the journal/syslog. logger fails where there is no
# /dev/log (containers, early boot); the stderr copy is then the record.
cr_log() {
  local tag="$1"
  shift
  printf '%s: %s\n' "$tag" "$*" >&2
  logger -t "$tag" -- "$*" 2>/dev/null || true
}

# cr_kname DEVICE — kernel name (loop0, nvme1n1p2) of a device path, /dev name or bare name.
# Fails when there is no such block device.
cr_kname() {
  local dev="$1" name
  case "$dev" in
    /*) name="$(basename -- "$(readlink -f -- "$dev")")" ;;
    *) name="$dev" ;;
  esac
  [ -n "$name" ] && [ -e "/sys/class/block/$name" ] || return 1
  printf '%s\n' "$name"
}

# cr_is_partition NAME
cr_is_partition() {
  [ -f "/sys/class/block/$1/partition" ]
}

# cr_disk_of NAME — the whole disk a partition belongs to (a disk is its own disk).
cr_disk_of() {
  if cr_is_partition "$1"; then
    basename -- "$(dirname -- "$(readlink -f -- "/sys/class/block/$1")")"
  else
    printf '%s\n' "$1"
  fi
}

# cr_partitions_of DISK — the disk's partitions, one kernel name per line, in sysfs order.
cr_partitions_of() {
  local disk="$1" p
  for p in "/sys/class/block/$disk/$disk"*; do
    [ -f "$p/partition" ] && basename -- "$p"
  done
  return 0
}

# cr_partition_list DISK — its partitions as "/dev/x1 /dev/x2" (for messages), or "none".
cr_partition_list() {
  local list
  list="$(cr_partitions_of "$1" | sed 's|^|/dev/|' | paste -sd' ' -)"
  printf '%s\n' "${list:-none}"
}

# cr_top_disks NAME — the whole disks under a block device: through partitions to their disk and
# through device-mapper/md "slaves" (LVM, LUKS, RAID roots) to every disk they stack on.
cr_top_disks() {
  local name="$1" s found=0
  if cr_is_partition "$name"; then
    cr_top_disks "$(cr_disk_of "$name")"
    return
  fi
  for s in "/sys/class/block/$name/slaves/"*; do
    [ -e "$s" ] || continue
    found=1
    cr_top_disks "$(basename -- "$s")"
  done
  [ "$found" = 1 ] || printf '%s\n' "$name"
}

# cr_root_disks — the disk(s) holding the mounted root filesystem, one per line; nothing when /
# is not on a block device (overlay, tmpfs), in which case no disk can be the root disk.
cr_root_disks() {
  local d src majmin name
  if [ -n "${CLEANROOM_ROOT_DISK:-}" ]; then
    for d in $CLEANROOM_ROOT_DISK; do printf '%s\n' "${d#/dev/}"; done
    return 0
  fi
  src="$(findmnt -nvo SOURCE / 2>/dev/null || true)"
  if [ -n "$src" ] && [ -b "$src" ]; then
    name="$(cr_kname "$src" || true)"
  else
    # "/dev/root" or a btrfs subvolume: go by the device number of the root mount instead.
    majmin="$(findmnt -nvo MAJ:MIN / 2>/dev/null || true)"
    name=""
    if [ -n "$majmin" ] && [ -e "/sys/dev/block/$majmin" ]; then
      name="$(basename -- "$(readlink -f -- "/sys/dev/block/$majmin")")"
    fi
  fi
  [ -n "$name" ] || return 0
  cr_top_disks "$name"
}

# cr_is_root_disk DISK
cr_is_root_disk() {
  local r
  while IFS= read -r r; do
    [ "$r" = "$1" ] && return 0
  done < <(cr_root_disks)
  return 1
}

# cr_matches_evidence DISK — the name predicate alone (no root check).
cr_matches_evidence() {
  local re="${CLEANROOM_EVIDENCE_MATCH:-$CR_EVIDENCE_MATCH_DEFAULT}"
  [[ "$1" =~ $re ]]
}

# cr_is_evidence_disk DISK — matches the predicate and is not the root disk.
cr_is_evidence_disk() {
  cr_matches_evidence "$1" && ! cr_is_root_disk "$1"
}

# cr_getro NAME — prints 1 or 0 (blockdev --getro), or nothing when it cannot be read.
cr_getro() {
  blockdev --getro "/dev/$1" 2>/dev/null || true
}

# cr_volume_id DISK — the EBS volume id (vol-...) of a disk, or nothing (Xen, loop, instance store).
cr_volume_id() {
  local disk="$1" dir="${CLEANROOM_DISK_BY_ID:-/dev/disk/by-id}" link base serial
  for link in "$dir/$CR_EBS_BY_ID_PREFIX"vol*; do
    [ -L "$link" ] || continue
    base="$(basename -- "$link")"
    case "$base" in *-part*) continue ;; esac
    [ "$(readlink -f -- "$link")" = "/dev/$disk" ] || continue
    serial="${base#"$CR_EBS_BY_ID_PREFIX"}"
    serial="${serial%_[0-9]*}" # systemd >= 252 adds a namespace-id link "..._1"
    cr_serial_to_volume_id "$serial" && return 0
  done
  # No udev link (yet): the NVMe controller's serial says the same thing.
  if [ -r "/sys/class/block/$disk/device/serial" ]; then
    serial="$(tr -d '[:space:]' <"/sys/class/block/$disk/device/serial")"
    cr_serial_to_volume_id "$serial" && return 0
  fi
  return 0
}

# cr_serial_to_volume_id SERIAL — vol0abc... -> vol-0abc...; fails for anything else.
cr_serial_to_volume_id() {
  [[ "$1" =~ ^vol([0-9a-f]{8}|[0-9a-f]{17})$ ]] || return 1
  printf 'vol-%s\n' "${1#vol}"
}

# cr_device_by_volume_id VOLUME_ID — /dev path of the NVMe disk whose serial is that EBS volume id.
# On Nitro the device name asked for in AttachVolume is not the name the kernel gives, so
# evidence is found by volume id. Fails with a message when it is not attached here.
cr_device_by_volume_id() {
  local vol="$1" dir="${CLEANROOM_DISK_BY_ID:-/dev/disk/by-id}" serial cand s
  if ! [[ "$vol" =~ ^vol-([0-9a-f]{8}|[0-9a-f]{17})$ ]]; then
    printf '"%s" is not an EBS volume id (expected vol- and 8 or 17 hex digits)\n' "$vol" >&2
    return 2
  fi
  serial="vol${vol#vol-}"
  for cand in "$dir/$CR_EBS_BY_ID_PREFIX$serial" "$dir/$CR_EBS_BY_ID_PREFIX${serial}_1"; do
    if [ -e "$cand" ]; then
      readlink -f -- "$cand"
      return 0
    fi
  done
  for s in /sys/class/block/nvme*n*/device/serial; do
    [ -r "$s" ] || continue
    if [ "$(tr -d '[:space:]' <"$s")" = "$serial" ]; then
      printf '/dev/%s\n' "$(basename -- "$(dirname -- "$(dirname -- "$s")")")"
      return 0
    fi
  done
  printf 'no NVMe disk with serial %s (EBS volume %s) is attached to this instance: looked in %s and the NVMe serials in /sys; check that the volume is attached (cleanroom evidence list), or on a Xen instance name the /dev/xvd* device instead\n' \
    "$serial" "$vol" "$dir" >&2
  return 1
}
