#!/usr/bin/env bash
# Controller step: put slurmctld's StateSaveLocation on its own block device, so job and node state outlive a
# replaced controller instance. Input: STATESAVE_DEVICE (the device name the cloud attaches it as, e.g.
# /dev/sdf on AWS; unset = keep state on the root disk). Formats the device only when it holds no
# filesystem; mounts it by label through fstab; safe to re-run.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"
load_node_env

if [[ -z "${STATESAVE_DEVICE:-}" ]]; then
  log "STATESAVE_DEVICE not set: StateSaveLocation stays on the root disk"
  exit 0
fi
label=slurmstate
state_dir=$(conf_get "$CDKTF_SLURM_STAGING_DIR/slurm.conf" StateSaveLocation /var/spool/slurmctld)

# blkid -c /dev/null: probe the devices themselves; a stale blkid cache can name a device that now holds
# something else (seen with reused loop devices in the tests).
# find_device: the attached state volume. Xen instances expose the requested name; Nitro instances expose
# NVMe disks, where the EBS volume is the Amazon EBS disk that is neither the root disk nor partitioned.
find_device() {
  local dev root_disk d
  if dev=$(blkid -c /dev/null -L "$label" 2>/dev/null) && [[ -n "$dev" ]]; then
    printf '%s\n' "$dev"
    return 0
  fi
  if [[ -b "$STATESAVE_DEVICE" ]]; then
    printf '%s\n' "$STATESAVE_DEVICE"
    return 0
  fi
  root_disk=$(lsblk -no PKNAME "$(findmnt -no SOURCE /)" 2>/dev/null || true)
  for d in /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_*; do
    [[ -e "$d" && "$d" != *-part* ]] || continue
    dev=$(readlink -f "$d")
    [[ "$(basename "$dev")" == "$root_disk" ]] && continue
    [[ -z "$(lsblk -no NAME "$dev" | tail -n +2)" ]] || continue
    printf '%s\n' "$dev"
    return 0
  done
  return 1
}

# The volume is attached after the instance starts: wait for it, bounded.
device=""
for ((i = 0; i < 60; i++)); do
  if device=$(find_device); then break; fi
  device=""
  sleep 5
done
[[ -n "$device" ]] || die "state volume $STATESAVE_DEVICE did not appear within 5 min; check the volume attachment in the EC2 console, then re-run bootstrap.sh"

if [[ -z "$(blkid -c /dev/null -o value -s TYPE "$device" 2>/dev/null || true)" ]]; then
  log "formatting $device (ext4, label $label) for $state_dir"
  mkfs.ext4 -q -L "$label" "$device"
elif [[ "$(blkid -c /dev/null -o value -s LABEL "$device" 2>/dev/null || true)" != "$label" ]]; then
  die "$device already holds a filesystem not labelled '$label'; refusing to format it. Label it with 'e2label $device $label' if it is the state volume"
fi

mkdir -p "$state_dir"
fstab_line="LABEL=$label $state_dir ext4 defaults,nofail,x-systemd.device-timeout=60 0 2"
if ! grep -qE "^LABEL=${label}[[:space:]]" /etc/fstab; then
  printf '%s\n' "$fstab_line" >>/etc/fstab
  log "fstab: $fstab_line"
fi
if ! findmnt -rno TARGET "$state_dir" >/dev/null; then
  mount "$state_dir"
  log "mounted $device at $state_dir"
fi
