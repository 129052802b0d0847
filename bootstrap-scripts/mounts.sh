#!/usr/bin/env bash
# Mount the cluster file systems this host was given: read the mount table the library renders
# (/etc/cdktf-slurm/mounts.tab; one tab-separated line per mount: kind, source, mount point, fstab options or
# '-', secret reference or '-') and hand each line to its kind's client script, which installs the client,
# writes the fstab line and mounts with retries. Lines are checked before anything is mounted, so a bad table
# changes nothing. Re-running is safe: each client leaves an existing, identical mount alone.
# Inputs: CDKTF_SLURM_MOUNT_TABLE (common.sh's default /etc/cdktf-slurm/mounts.tab).
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

load_node_env
table=$CDKTF_SLURM_MOUNT_TABLE
if [[ ! -s "$table" ]]; then
  log "no mount table at $table: nothing to mount"
  exit 0
fi

kinds=() sources=() points=() options=() secrets=()
n=0
while IFS=$'\t' read -r kind source point opts secret extra || [[ -n "${kind:-}" ]]; do
  n=$((n + 1))
  [[ -z "$kind" || "$kind" == \#* ]] && continue
  [[ -n "$source" && -n "$point" && -n "$opts" && -n "$secret" && -z "${extra:-}" ]] ||
    die "$table line $n: expected 5 tab-separated fields (kind, source, mount point, options or -, secret or -); re-render the table with the library"
  case "$kind" in
    nfs) [[ "$source" == ?*:/?* ]] || die "$table line $n: NFS source '$source' is not server:/path" ;;
    *) die "$table line $n: no client for file system kind '$kind' in this bootstrap; update the bootstrap scripts with the library that rendered the table" ;;
  esac
  for p in "${points[@]}"; do
    [[ "$p" != "$point" ]] || die "$table line $n: mount point $point appears twice; each file system needs its own directory"
  done
  kinds+=("$kind") sources+=("$source") points+=("$point") options+=("$opts") secrets+=("$secret")
done <"$table"

log "${#kinds[@]} mount(s) in $table"
for i in "${!kinds[@]}"; do
  case "${kinds[$i]}" in
    nfs)
      src=${sources[$i]}
      NFS_SERVER=${src%%:*} NFS_REMOTE_PATH=${src#*:} NFS_MOUNT_POINT=${points[$i]} \
        NFS_MOUNT_OPTIONS=$([[ "${options[$i]}" == - ]] || printf '%s' "${options[$i]}") \
        LOG_TAG=nfs-client bash "$here/nfs-client.sh"
      ;;
  esac
done
