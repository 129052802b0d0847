#!/usr/bin/env bash
# GCE GPU nodes (A3 Mega has 16 local NVMe SSDs): join every local SSD into one RAID0 array, put an ext4 file
# system labelled LOCALSSD_LABEL on it and mount it at LOCALSSD_MOUNT_POINT (/mnt/localssd), the scratch where
# enroot keeps image layers and container root filesystems. With one SSD there is no array: the disk itself is
# formatted. Idempotent: an existing array or file system of ours is reused (re-assembled when a reboot left it
# stopped), never re-created; a disk holding anything else is refused, not formatted.
#
# Data lifetime: local SSD data survives a reboot, but not a stop/start or a host error: the disks come back
# blank, the array and file system are gone, and this step must run again to rebuild them (the fstab line has
# nofail, so the node still boots). Run it at every boot, before the step that makes the enroot directories.
#
# Why ext4 and not xfs: e2fsprogs is on every Debian/Ubuntu image (xfsprogs is not), Cluster Toolkit formats its
# A3 local SSD RAID the same way, and ext4's -m 0 leaves no blocks reserved for root on a scratch disk.
#
# Inputs (node.env or environment):
#   LOCALSSD_REQUIRED      1: fail when no local SSD is found (default 0: log and exit 0)
#   LOCALSSD_DEVICE_GLOB   devices to use (default /dev/disk/by-id/google-local-nvme-ssd-*; partitions skipped)
#   LOCALSSD_MOUNT_POINT   mount point, root 0755 (default /mnt/localssd)
#   LOCALSSD_MD_NAME       array name (default localssd); LOCALSSD_MD_DEVICE its device (default /dev/md/NAME)
#   LOCALSSD_LABEL         ext4 label, also used in fstab (default localssd)
# Test overrides: LOCALSSD_FSTAB (/etc/fstab).
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"

MOUNT_OPTIONS=discard,defaults,nofail
DEVICES=()

# find_devices : DEVICES=(resolved block devices matching LOCALSSD_DEVICE_GLOB), partitions left out.
find_devices() {
  local link dev seen=" "
  DEVICES=()
  shopt -s nullglob
  # shellcheck disable=SC2206 # the glob must expand here
  local matches=($LOCALSSD_DEVICE_GLOB)
  shopt -u nullglob
  for link in "${matches[@]}"; do
    [[ "$link" == *-part* ]] && continue
    dev=$(readlink -f "$link")
    if [[ ! -b "$dev" ]]; then
      log "skipping $link: $dev is not a block device"
      continue
    fi
    [[ "$seen" == *" $dev "* ]] && continue
    seen+="$dev "
    DEVICES+=("$dev")
  done
}

# blkid -c /dev/null: probe the device itself, never a cache that may describe what it held before.
fs_type() { blkid -c /dev/null -o value -s TYPE "$1" 2>/dev/null || true; }
fs_label() { blkid -c /dev/null -o value -s LABEL "$1" 2>/dev/null || true; }

# md_holder DEV : the running md device DEV belongs to (e.g. assembled by udev at boot), empty when none.
md_holder() {
  local h
  for h in "/sys/class/block/$(basename "$1")/holders"/md*; do
    if [[ -e "$h" ]]; then
      printf '/dev/%s\n' "$(basename "$h")"
      return 0
    fi
  done
}

# md_superblock DEV : "ours", "other" (an md superblock of another array) or "none".
md_superblock() {
  local out
  if ! out=$(mdadm --examine --brief "$1" 2>/dev/null) || [[ -z "$out" ]]; then
    printf 'none\n'
  elif [[ "$out" =~ name=([^[:space:]]*:)?${LOCALSSD_MD_NAME}([[:space:]]|$) ]]; then
    printf 'ours\n'
  else
    printf 'other\n'
  fi
}

# ensure_array : assemble or create the RAID0 of DEVICES; prints the md device to use.
ensure_array() {
  local array=$LOCALSSD_MD_DEVICE holder d state ours=0 n=${#DEVICES[@]}
  if [[ -b "$array" ]]; then
    log "RAID0 $array already running; reusing it"
    printf '%s\n' "$array"
    return 0
  fi
  holder=$(md_holder "${DEVICES[0]}")
  if [[ -n "$holder" ]]; then
    log "${DEVICES[0]} is already part of running array $holder; reusing it"
    printf '%s\n' "$holder"
    return 0
  fi
  command -v mdadm >/dev/null 2>&1 || apt_install mdadm
  for d in "${DEVICES[@]}"; do
    state=$(md_superblock "$d")
    case "$state" in
      ours) ours=$((ours + 1)) ;;
      other) die "$d carries the superblock of another md array ($(mdadm --examine --brief "$d" 2>/dev/null | head -n1)); refusing to reuse it. Wipe it with 'mdadm --zero-superblock $d' if its data is expendable" ;;
      none)
        [[ -z "$(fs_type "$d")" ]] ||
          die "$d holds a $(fs_type "$d") file system, not an empty local SSD; refusing to overwrite it. Wipe it with 'wipefs -a $d' if its data is expendable, or narrow LOCALSSD_DEVICE_GLOB"
        ;;
    esac
  done
  if ((ours == n)); then
    # After a reboot the array is stopped but intact: assemble exactly our members (a bare --assemble --scan
    # would also start any other array on the host).
    log "re-assembling RAID0 $array from ${DEVICES[*]}"
    mdadm --assemble "$array" "${DEVICES[@]}" </dev/null >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "mdadm --assemble $array failed; see $CDKTF_SLURM_LOG_FILE ('mdadm --examine ${DEVICES[*]}' shows the members)"
  elif ((ours > 0)); then
    die "only $ours of $n local SSDs carry the '$LOCALSSD_MD_NAME' array superblock; a disk was replaced or wiped. The scratch data is lost either way: run 'mdadm --zero-superblock ${DEVICES[*]}' and re-run this step to rebuild the array"
  else
    log "creating RAID0 $array from $n local SSDs: ${DEVICES[*]}"
    if command -v modprobe >/dev/null 2>&1; then modprobe raid0 2>/dev/null || true; fi
    # --homehost=any: the array keeps its name whatever the host is called, so udev assembles it at boot as
    # /dev/md/<name>. --run: no confirmation prompt.
    mdadm --create "$array" --name="$LOCALSSD_MD_NAME" --homehost=any --level=0 --raid-devices="$n" --run \
      "${DEVICES[@]}" </dev/null >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "mdadm --create $array failed; see $CDKTF_SLURM_LOG_FILE (does the kernel have the md raid0 driver? 'cat /proc/mdstat')"
  fi
  wait_until 10 0.2 test -b "$array" || die "$array did not appear after mdadm started it; check 'cat /proc/mdstat'"
  printf '%s\n' "$array"
}

# ensure_fs DEV : ext4 labelled LOCALSSD_LABEL on DEV, made only when DEV is blank.
ensure_fs() {
  local dev=$1 type label
  type=$(fs_type "$dev")
  label=$(fs_label "$dev")
  if [[ -z "$type" ]]; then
    log "formatting $dev (ext4, label $LOCALSSD_LABEL)"
    mkfs.ext4 -q -m 0 -L "$LOCALSSD_LABEL" "$dev" </dev/null >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "mkfs.ext4 on $dev failed; see $CDKTF_SLURM_LOG_FILE"
  elif [[ "$type" == ext4 && "$label" == "$LOCALSSD_LABEL" ]]; then
    log "$dev already holds the ext4 file system '$LOCALSSD_LABEL'; keeping its data"
  else
    die "$dev holds a $type file system labelled '${label}', not the ext4 '$LOCALSSD_LABEL' this step makes; refusing to format it. Wipe it with 'wipefs -a $dev' if its data is expendable"
  fi
}

# ensure_fstab : exactly one line for the mount point, ours. Sets INSTALL_CHANGED.
ensure_fstab() {
  local fstab=$LOCALSSD_FSTAB line tmp have
  line="LABEL=$LOCALSSD_LABEL $LOCALSSD_MOUNT_POINT ext4 $MOUNT_OPTIONS 0 0"
  INSTALL_CHANGED=0
  have=""
  if [[ -f "$fstab" ]]; then
    have=$(awk -v mp="$LOCALSSD_MOUNT_POINT" '$1 !~ /^#/ && $2 == mp { $1 = $1; print }' "$fstab")
  fi
  [[ "$have" == "$line" ]] && return 0
  make_tmpdir tmp
  if [[ -f "$fstab" ]]; then
    awk -v mp="$LOCALSSD_MOUNT_POINT" '!($1 !~ /^#/ && $2 == mp)' "$fstab" >"$tmp/fstab"
  else
    : >"$tmp/fstab"
  fi
  printf '%s\n' "$line" >>"$tmp/fstab"
  INSTALL_QUIET=1 install_if_changed "$tmp/fstab" "$fstab" root:root 0644
  log "fstab ($fstab): $line"
  if have_systemd; then systemctl daemon-reload >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || true; fi
}

# ensure_mounted DEV
ensure_mounted() {
  local dev=$1 mp=$LOCALSSD_MOUNT_POINT src
  mkdir -p "$mp"
  src=$(findmnt -rn -o SOURCE --mountpoint "$mp" 2>/dev/null || true)
  if [[ -z "$src" ]]; then
    mount -t ext4 -o "$MOUNT_OPTIONS" "$dev" "$mp" || die "could not mount $dev at $mp; see 'dmesg | tail'"
    log "mounted $dev at $mp"
  elif [[ "$(readlink -f "$src")" == "$(readlink -f "$dev")" ]]; then
    log "$dev already mounted at $mp"
  else
    die "$mp already has $src mounted, not the local SSD scratch $dev; unmount it or set LOCALSSD_MOUNT_POINT elsewhere"
  fi
  # The enroot step makes its own world-writable directories below; the root of the scratch stays root's.
  chown root:root "$mp"
  chmod 0755 "$mp"
}

main() {
  load_node_env
  : "${LOCALSSD_DEVICE_GLOB:=/dev/disk/by-id/google-local-nvme-ssd-*}"
  : "${LOCALSSD_MOUNT_POINT:=/mnt/localssd}"
  : "${LOCALSSD_MD_NAME:=localssd}"
  : "${LOCALSSD_MD_DEVICE:=/dev/md/$LOCALSSD_MD_NAME}"
  : "${LOCALSSD_LABEL:=localssd}"
  : "${LOCALSSD_FSTAB:=/etc/fstab}"
  : "${LOCALSSD_REQUIRED:=0}"
  [[ "$LOCALSSD_MD_NAME" =~ ^[A-Za-z0-9_.-]{1,32}$ ]] || die "LOCALSSD_MD_NAME='$LOCALSSD_MD_NAME' must be 1-32 letters, digits or '_.-', e.g. localssd"
  [[ "$LOCALSSD_LABEL" =~ ^[A-Za-z0-9_.-]{1,16}$ ]] || die "LOCALSSD_LABEL='$LOCALSSD_LABEL' must be 1-16 letters, digits or '_.-' (ext4 labels hold 16 bytes), e.g. localssd"
  [[ "$LOCALSSD_MOUNT_POINT" =~ ^/[A-Za-z0-9/_.@+-]+$ && "$LOCALSSD_MOUNT_POINT" != */ ]] ||
    die "LOCALSSD_MOUNT_POINT='$LOCALSSD_MOUNT_POINT' must be an absolute path without spaces or a trailing '/', e.g. /mnt/localssd"

  find_devices
  if ((${#DEVICES[@]} == 0)); then
    [[ "$LOCALSSD_REQUIRED" == 1 ]] &&
      die "LOCALSSD_REQUIRED=1 but no local SSD matches $LOCALSSD_DEVICE_GLOB; give the instance local NVMe SSDs (a3-megagpu-8g comes with 16) or unset LOCALSSD_REQUIRED"
    log "no local SSD matches $LOCALSSD_DEVICE_GLOB; nothing to do (enroot data stays on the boot disk)"
    return 0
  fi

  local target
  if ((${#DEVICES[@]} == 1)); then
    target=${DEVICES[0]}
    log "one local SSD ($target): no RAID, the disk itself holds the file system"
  else
    target=$(ensure_array)
  fi
  ensure_fs "$target"
  ensure_fstab
  ensure_mounted "$target"
  log "local SSD scratch ready: ${#DEVICES[@]} device(s) as $target on $LOCALSSD_MOUNT_POINT ($(df -h --output=size "$LOCALSSD_MOUNT_POINT" | tail -n1 | tr -d ' '))"
}

# Sourced (tests), only the functions are defined.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
