#!/usr/bin/env bash
# Share a directory from the controller over NFS (v4) with the hosts on the mesh: install nfs-kernel-server,
# create the directory, export it ONLY to the given client ranges (the Tailscale mesh 100.64.0.0/10, and a
# VPC range when given) with rw,sync,no_subtree_check,root_squash, and apply the exports with `exportfs -ra`.
# Re-running changes nothing when the export is already in place. Works with or without systemd (without
# it, the distribution's init script starts the server).
# Inputs: NFS_EXPORT_PATH (absolute, e.g. /shared), NFS_EXPORT_CLIENTS (space-separated IPv4 CIDRs),
#   NFS_EXPORT_MODE (mode of a newly created directory; default 1777, sticky like /tmp: every user may create
#   their own files, none may delete another's). Paths for tests: NFS_EXPORTS_FILE.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

# The options every client gets: root on a client becomes nobody here (root_squash); writes reach the disk
# before the server replies (sync).
EXPORT_OPTIONS=rw,sync,no_subtree_check,root_squash

load_node_env
require_var NFS_EXPORT_PATH "the directory to share, e.g. NFS_EXPORT_PATH='/shared'"
require_var NFS_EXPORT_CLIENTS "the client ranges, e.g. NFS_EXPORT_CLIENTS='100.64.0.0/10' (the Tailscale mesh)"
path=$NFS_EXPORT_PATH
mode=${NFS_EXPORT_MODE:-1777}
exports_file=${NFS_EXPORTS_FILE:-/etc/exports.d/cdktf-slurm.exports}

[[ "$path" =~ ^(/[A-Za-z0-9._-]+)+$ && "$path" != *"/.."* && "$path" != *"/./"* ]] ||
  die "NFS_EXPORT_PATH='$path' must be an absolute path of letters, digits, '.', '_' and '-' (no trailing '/', no '..'), e.g. /shared"
case "$path" in
  /bin | /boot | /dev | /etc | /lib | /lib64 | /opt | /proc | /root | /run | /sbin | /sys | /tmp | /usr | /var | /etc/* | /proc/* | /sys/* | /dev/* | /run/*)
    die "NFS_EXPORT_PATH='$path' is a system directory; share a directory of its own, e.g. /shared" ;;
esac
[[ "$mode" =~ ^[0-7]{3,4}$ ]] || die "NFS_EXPORT_MODE='$mode' is not an octal mode; use e.g. 1777 or 0755"

octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
clients=()
# read -a splits on blanks without pathname expansion (an unquoted '*' would glob the working directory).
read -r -a given <<<"$NFS_EXPORT_CLIENTS"
for c in "${given[@]}"; do
  [[ "$c" =~ ^$octet(\.$octet){3}/([0-9]|[12][0-9]|3[0-2])$ ]] ||
    die "NFS_EXPORT_CLIENTS entry '$c' is not an IPv4 CIDR; give ranges such as 100.64.0.0/10 (never a wildcard or a host name)"
  [[ "${c#*/}" -ge 8 ]] || die "NFS_EXPORT_CLIENTS entry '$c' is wider than /8; export to the mesh (100.64.0.0/10) or the VPC range only"
  clients+=("$c")
done
((${#clients[@]} > 0)) || die "NFS_EXPORT_CLIENTS='$NFS_EXPORT_CLIENTS' names no range; give e.g. 100.64.0.0/10"

apt_install nfs-kernel-server

if [[ -d "$path" ]]; then
  log "$path exists; keeping its owner and mode"
else
  ensure_dir "$path" root:root "$mode"
  log "created $path (root:root $mode)"
fi

line="$path"
for c in "${clients[@]}"; do line+=" $c($EXPORT_OPTIONS)"; done
work=""
make_tmpdir work
printf '# Written by cdktf-slurm (nfs-server.sh); changes are overwritten on the next bootstrap.\n%s\n' "$line" >"$work/exports"
install_if_changed "$work/exports" "$exports_file" root:root 0644
exports_changed=$INSTALL_CHANGED

if have_systemd; then
  start_service nfs-kernel-server /run/nfs-kernel-server.pid
else
  command -v service >/dev/null 2>&1 || die "no systemd and no 'service' command to start nfs-kernel-server; run the controller on a VM image with systemd"
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
awk -v p="$path" '$1 == p { found = 1 } END { exit !found }' <<<"$active" || die "$path is not in the active exports after exportfs -ra; check $exports_file"
if ((exports_changed)); then
  log "exported $path to ${clients[*]} ($EXPORT_OPTIONS)"
else
  log "export of $path to ${clients[*]} unchanged"
fi
