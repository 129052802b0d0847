#!/usr/bin/env bash
# Mount the controller's shared directory (NFS v4, over the mesh) on a node: install nfs-common, keep one
# /etc/fstab line for the mount point (`_netdev,nofail`: a missing server never blocks boot), and mount it
# with retries, each attempt bounded by a timeout. Re-running does nothing when it is already mounted from
# the same source. Works without systemd (containers need CAP_SYS_ADMIN, which Docker pools have).
# Run by mounts.sh for each `nfs` line of the node's mount table.
# Inputs: NFS_SERVER (the server's name or address), NFS_REMOTE_PATH (the exported directory),
#   NFS_MOUNT_POINT (default NFS_REMOTE_PATH), NFS_MOUNT_OPTIONS (fstab options; default below, and `_netdev`
#   and `nofail` are always added), NFS_MOUNT_ATTEMPTS (default 6), NFS_MOUNT_TIMEOUT (seconds per attempt,
#   default 30), NFS_MOUNT_RETRY_DELAY (first delay, doubling, default 2). Paths for tests: NFS_FSTAB.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

load_node_env
require_var NFS_SERVER "the NFS server, e.g. NFS_SERVER='slurm-controller' (its mesh name)"
require_var NFS_REMOTE_PATH "the exported directory, e.g. NFS_REMOTE_PATH='/shared'"
server=$NFS_SERVER
remote=$NFS_REMOTE_PATH
mp=${NFS_MOUNT_POINT:-$remote}
attempts=${NFS_MOUNT_ATTEMPTS:-6}
per_try=${NFS_MOUNT_TIMEOUT:-30}
delay=${NFS_MOUNT_RETRY_DELAY:-2}
fstab=${NFS_FSTAB:-/etc/fstab}

[[ "$server" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] ||
  die "NFS_SERVER='$server' is not a host name or IPv4 address; use the controller's mesh name, e.g. slurm-controller"
for v in remote mp; do
  p=${!v}
  [[ "$p" =~ ^(/[A-Za-z0-9._-]+)+$ && "$p" != *"/.."* ]] ||
    die "$([[ $v == remote ]] && echo NFS_REMOTE_PATH || echo NFS_MOUNT_POINT)='$p' must be an absolute path of letters, digits, '.', '_' and '-', e.g. /shared"
done
[[ "$attempts" =~ ^[1-9][0-9]?$ ]] || die "NFS_MOUNT_ATTEMPTS='$attempts' must be 1-99"
[[ "$per_try" =~ ^[1-9][0-9]{0,2}$ ]] || die "NFS_MOUNT_TIMEOUT='$per_try' must be 1-999 seconds"

source_spec="$server:$remote"
# hard: a job's I/O waits out a server restart instead of failing; timeo/retrans bound each RPC's retries.
given=${NFS_MOUNT_OPTIONS:-vers=4.2,hard,timeo=600,retrans=2}
[[ "$given" =~ ^[A-Za-z0-9_.=,:/+-]+$ ]] || die "NFS_MOUNT_OPTIONS='$given' must be comma-separated fstab options without spaces"
# _netdev, nofail: a missing server never blocks boot, whatever else was asked for.
options=_netdev,nofail
for o in ${given//,/ }; do
  [[ "$o" == _netdev || "$o" == nofail ]] || options+=",$o"
done

apt_install nfs-common

fstab_set "$fstab" "$mp" "$source_spec $mp nfs4 $options 0 0"
((INSTALL_CHANGED)) && log "fstab: $source_spec on $mp ($options)"

if mountpoint -q "$mp" 2>/dev/null; then
  have=$(findmnt -n -o SOURCE --target "$mp" 2>/dev/null || true)
  [[ "$have" == "$source_spec" ]] ||
    die "$mp is already a mount point of '$have', not $source_spec; unmount it or choose another NFS_MOUNT_POINT"
  log "$mp already mounted from $source_spec"
  exit 0
fi

mount_from_fstab "$fstab" "$mp" "$attempts" "$delay" "$per_try" "$source_spec" \
  "check that the node is on the mesh ('tailscale status') and that $server exports $remote to the mesh (exportfs -s on the controller)"
