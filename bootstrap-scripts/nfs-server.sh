#!/usr/bin/env bash
# Serve directories over NFS v4 (the controller's /home, a mesh shared directory): read the export table the
# library renders (CDKTF_SLURM_EXPORT_TABLE, default /etc/cdktf-slurm/exports.tab; one tab-separated line per
# export: path, client CIDRs comma-separated, mode, device or '-', disk label or '-'), put each export with a
# device on its own disk (formatted only when blank; what the directory already held is copied onto a new disk
# first, so /home keeps the image's default user), create missing directories with their mode, write ONE
# exports file granting each path to its client ranges only (rw,sync,no_subtree_check,root_squash), start
# nfs-kernel-server and apply with `exportfs -ra`. Every line is checked before anything changes. Re-running
# changes nothing when all is in place. Works with or without systemd (without it, the init script).
# Paths for tests: NFS_EXPORTS_FILE.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

# root on a client becomes nobody here (root_squash); writes reach the disk before the server replies (sync).
EXPORT_OPTIONS=rw,sync,no_subtree_check,root_squash

load_node_env
table=$CDKTF_SLURM_EXPORT_TABLE
exports_file=${NFS_EXPORTS_FILE:-/etc/exports.d/cdktf-slurm.exports}
[[ -s "$table" ]] || die "no export table at $table; the library writes it on hosts that serve NFS (NfsShare, sharedDirectory)"

octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
paths=() clients=() modes=() devices=() labels=()
n=0
while IFS=$'\t' read -r path ranges mode device label extra || [[ -n "${path:-}" ]]; do
  n=$((n + 1))
  [[ -z "$path" || "$path" == \#* ]] && continue
  at="$table line $n"
  [[ -n "$ranges" && -n "$mode" && -n "$device" && -n "$label" && -z "${extra:-}" ]] ||
    die "$at: expected 5 tab-separated fields (path, client CIDRs, mode, device or -, label or -); re-render the table with the library"
  [[ "$path" =~ ^(/[A-Za-z0-9._-]+)+$ && "$path" != *"/.."* && "$path" != *"/./"* ]] ||
    die "$at: path '$path' must be an absolute path of letters, digits, '.', '_' and '-' (no trailing '/', no '..'), e.g. /home"
  case "$path" in
    /bin | /boot | /dev | /etc | /lib | /lib64 | /opt | /proc | /root | /run | /sbin | /sys | /tmp | /usr | /var | /etc/* | /proc/* | /sys/* | /dev/* | /run/* | /usr/* | /boot/*)
      die "$at: path '$path' is a system directory; share a directory of its own, e.g. /home or /shared" ;;
  esac
  [[ "$mode" =~ ^[0-7]{3,4}$ ]] || die "$at: mode '$mode' is not an octal mode; use e.g. 0755 or 1777"
  # read -a splits without pathname expansion (an unquoted '*' would glob the working directory).
  IFS=, read -r -a given <<<"$ranges"
  for c in "${given[@]}"; do
    [[ "$c" =~ ^$octet(\.$octet){3}/([0-9]|[12][0-9]|3[0-2])$ ]] ||
      die "$at: client '$c' is not an IPv4 CIDR; give ranges such as 10.0.0.0/16 (never a wildcard or a host name)"
    [[ "${c#*/}" -ge 8 ]] || die "$at: client '$c' is wider than /8; export to the cluster's subnets or the mesh (100.64.0.0/10) only"
  done
  if [[ "$device" == - ]]; then
    [[ "$label" == - ]] || die "$at: a label without a device; give both or neither"
  else
    [[ "$device" =~ ^/dev/[A-Za-z0-9][A-Za-z0-9/_.-]*$ && "$device" != *..* ]] ||
      die "$at: device '$device' is not a device path under /dev (/dev/sdg on EC2, /dev/disk/by-id/google-<name> on Compute Engine)"
    [[ "$label" =~ ^[a-z0-9][a-z0-9-]{0,15}$ ]] || die "$at: label '$label' is not an ext4 label (lower-case letters, digits, '-', at most 16)"
  fi
  for p in "${paths[@]}"; do
    [[ "$p" != "$path" && "$p" != "$path"/* && "$path" != "$p"/* ]] || die "$at: $path overlaps the export $p; export each directory once, none inside another"
  done
  paths+=("$path") clients+=("$ranges") modes+=("$mode") devices+=("$device") labels+=("$label")
done <"$table"
((${#paths[@]} > 0)) || die "$table lists no export"

apt_install nfs-kernel-server

for i in "${!paths[@]}"; do
  path=${paths[$i]}
  existed=0
  [[ -d "$path" ]] && existed=1
  [[ "${devices[$i]}" == - ]] || mount_data_disk "${devices[$i]}" "${labels[$i]}" "$path"
  # A directory that existed keeps its owner and mode (the disk took them over with its contents): users' files.
  if ((existed)); then
    log "$path exists; keeping its owner and mode"
  else
    ensure_dir "$path" root:root "${modes[$i]}"
    log "created $path (root:root ${modes[$i]})"
  fi
done

work=""
make_tmpdir work
{
  printf '# Written by cdktf-slurm (nfs-server.sh) from %s; changes are overwritten on the next bootstrap.\n' "$table"
  for i in "${!paths[@]}"; do
    line=${paths[$i]}
    IFS=, read -r -a given <<<"${clients[$i]}"
    for c in "${given[@]}"; do line+=" $c($EXPORT_OPTIONS)"; done
    printf '%s\n' "$line"
  done
} >"$work/exports"
ensure_parent_dir "$exports_file" root:root
install_if_changed "$work/exports" "$exports_file" root:root 0644
exports_changed=$INSTALL_CHANGED

if have_systemd; then
  start_service nfs-kernel-server /run/nfs-kernel-server.pid
else
  command -v service >/dev/null 2>&1 || die "no systemd and no 'service' command to start nfs-kernel-server; run the server on a VM image with systemd"
  if service nfs-kernel-server status >/dev/null 2>&1; then
    log "nfs-kernel-server already running"
  else
    log "starting nfs-kernel-server (init script)"
    service nfs-kernel-server start >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "could not start nfs-kernel-server; see $CDKTF_SLURM_LOG_FILE (the kernel needs the nfsd module)"
  fi
fi

# -r re-syncs the kernel's export table with the files (adds, changes, removes): idempotent.
exportfs -ra >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "exportfs -ra failed; check $exports_file and $CDKTF_SLURM_LOG_FILE"
active=$(exportfs -s 2>/dev/null || true)
for i in "${!paths[@]}"; do
  awk -v p="${paths[$i]}" '$1 == p { found = 1 } END { exit !found }' <<<"$active" ||
    die "${paths[$i]} is not in the active exports after exportfs -ra; check $exports_file"
  if ((exports_changed)); then
    log "exported ${paths[$i]} to ${clients[$i]} ($EXPORT_OPTIONS)"
  else
    log "export of ${paths[$i]} to ${clients[$i]} unchanged"
  fi
done
