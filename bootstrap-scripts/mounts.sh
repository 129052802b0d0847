#!/usr/bin/env bash
# Mount the cluster file systems this host was given: read the mount table the library renders
# (/etc/cdktf-slurm/mounts.tab; one tab-separated line per mount: kind, source, mount point, fstab options or
# '-', secret reference or '-') and hand each line to its kind's client script (nfs-client.sh,
# lustre-client.sh, ceph-client.sh), which installs the client, writes the fstab line and mounts with retries.
# Lines are checked before anything is mounted, so a bad table changes nothing. Re-running is safe: each client
# leaves an existing, identical mount alone.
#
# Failure policy, "drain, not hang": on a compute node (CDKTF_SLURM_ROLES holds compute but not controller) a
# mount that fails does not stop the bootstrap. It is recorded in MOUNT_FAILURES_FILE (one line per failed
# mount: mount point, a tab, a short reason; never a secret), the other mounts go on and this step succeeds;
# slurmd.sh then drains the node with the first mount point in the reason, and resumes it once a later run
# mounted everything (a run without failures removes the file). On controller and login hosts the first
# failed mount fails the step, as before.
# A source may be `aws-ssm:/<parameter>` (values known only after apply, e.g. an FSx file system's name): it is
# read from SSM just before its mount (common.sh's resolve_mount_source), and a failed read counts as a failed
# mount; the value must then have the kind's source shape.
# Inputs: CDKTF_SLURM_MOUNT_TABLE (common.sh's default /etc/cdktf-slurm/mounts.tab), CDKTF_SLURM_ROLES,
#   MOUNT_FAILURES_FILE (default /run/cdktf-slurm/mount-failures).
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

load_node_env
table=$CDKTF_SLURM_MOUNT_TABLE
failures_file=${MOUNT_FAILURES_FILE:-/run/cdktf-slurm/mount-failures}
if [[ ! -s "$table" ]]; then
  log "no mount table at $table: nothing to mount"
  rm -f "$failures_file"
  exit 0
fi

lustre_nid='[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?@tcp[0-9]*'
lustre_re="^${lustre_nid}(:${lustre_nid})*:/[A-Za-z0-9_]{1,8}\$"
ceph_re='^[A-Za-z0-9_.-]+@[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\.[A-Za-z0-9_.-]+=(/|(/[A-Za-z0-9._-]+)+)$'
ssm_re='^aws-ssm:(/[A-Za-z0-9_.-]+)+$'

# source_problem KIND SOURCE : why SOURCE is not a KIND source; nothing when it is one.
source_problem() {
  case "$1" in
    nfs) [[ "$2" == ?*:/?* ]] || echo "NFS source '$2' is not server:/path" ;;
    lustre)
      [[ "$2" =~ $lustre_re ]] ||
        echo "Lustre source '$2' is not <nid>[:<nid>…]:/<fsname> (nid <host-or-ip>@tcp, fsname 1-8 letters, digits or '_'), e.g. 10.0.0.5@tcp:/lfs"
      ;;
    ceph)
      [[ "$2" =~ $ceph_re ]] ||
        echo "CephFS source '$2' is not <client-name>@<fsid>.<fsname>=<path>, e.g. slurm@6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e.cephfs=/"
      ;;
  esac
  return 0
}

kinds=() sources=() points=() options=() secrets=()
n=0
while IFS=$'\t' read -r kind source point opts secret extra || [[ -n "${kind:-}" ]]; do
  n=$((n + 1))
  [[ -z "$kind" || "$kind" == \#* ]] && continue
  [[ -n "$source" && -n "$point" && -n "$opts" && -n "$secret" && -z "${extra:-}" ]] ||
    die "$table line $n: expected 5 tab-separated fields (kind, source, mount point, options or -, secret or -); re-render the table with the library"
  case "$kind" in
    nfs | lustre | ceph) ;;
    *) die "$table line $n: no client for file system kind '$kind' in this bootstrap; update the bootstrap scripts with the library that rendered the table" ;;
  esac
  if [[ "$source" == aws-ssm:* ]]; then
    [[ "$source" =~ $ssm_re ]] || die "$table line $n: '$source' is not an SSM parameter reference like aws-ssm:/cdktf-slurm/<cluster>/filesystems/<name>"
  else
    problem=$(source_problem "$kind" "$source")
    [[ -z "$problem" ]] || die "$table line $n: $problem"
  fi
  case "$kind" in
    lustre) [[ "$secret" == - ]] || die "$table line $n: Lustre mounts take no secret; the fifth field must be '-'" ;;
    ceph)
      # The options are not echoed: they must not, but might, hold a key.
      [[ ",$opts," != *,secret=* && ",$opts," != *,secretfile=* ]] ||
        die "$table line $n: CephFS options must not carry secret= or secretfile=; give the key as a secret reference in the fifth field"
      [[ ",$opts," == *,mon_addr=?* ]] ||
        die "$table line $n: CephFS options for $point have no mon_addr=<ip[:port]>[/<ip[:port]>…]; the kernel client needs the monitors' addresses"
      [[ "$secret" != - ]] ||
        die "$table line $n: CephFS mount $point has no secret reference (aws-secretsmanager:…, gcp-secretmanager:… or file:/…) for its cephx key"
      ;;
  esac
  for p in "${points[@]}"; do
    [[ "$p" != "$point" ]] || die "$table line $n: mount point $point appears twice; each file system needs its own directory"
  done
  kinds+=("$kind") sources+=("$source") points+=("$point") options+=("$opts") secrets+=("$secret")
done <"$table"

roles=" ${CDKTF_SLURM_ROLES:-} "
tolerant=0
[[ "$roles" == *" compute "* && "$roles" != *" controller "* ]] && tolerant=1

# mount_one INDEX : resolve the line's source and run its client script. Run in a subshell: die ends that mount.
mount_one() {
  local i=$1 src=${sources[$1]} opts problem
  if [[ "$src" == aws-ssm:* ]]; then
    # resolve_mount_source logs why it failed (that ERROR line becomes the recorded reason).
    src=$(resolve_mount_source "$src") || exit 1
    problem=$(source_problem "${kinds[$i]}" "$src")
    [[ -z "$problem" ]] || die "SSM parameter ${sources[$i]#aws-ssm:} holds no usable source for ${points[$i]}: $problem"
    log "source of ${points[$i]}: $src (from ${sources[$i]})"
  fi
  opts=$([[ "${options[$i]}" == - ]] || printf '%s' "${options[$i]}")
  case "${kinds[$i]}" in
    nfs)
      NFS_SERVER=${src%%:*} NFS_REMOTE_PATH=${src#*:} NFS_MOUNT_POINT=${points[$i]} NFS_MOUNT_OPTIONS=$opts \
        LOG_TAG=nfs-client bash "$here/nfs-client.sh"
      ;;
    lustre)
      LUSTRE_SOURCE=$src LUSTRE_MOUNT_POINT=${points[$i]} LUSTRE_MOUNT_OPTIONS=$opts \
        LOG_TAG=lustre-client bash "$here/lustre-client.sh"
      ;;
    ceph)
      CEPH_SOURCE=$src CEPH_MOUNT_POINT=${points[$i]} CEPH_MOUNT_OPTIONS=$opts CEPH_SECRET_SOURCE=${secrets[$i]} \
        LOG_TAG=ceph-client bash "$here/ceph-client.sh"
      ;;
  esac
}

log "${#kinds[@]} mount(s) in $table"
work=""
make_tmpdir work
: >"$work/failures"
for i in "${!kinds[@]}"; do
  rc=0
  # The client's messages still reach stderr (after it ends); its last ERROR line is the recorded reason.
  (mount_one "$i") 2>"$work/err" || rc=$?
  cat "$work/err" >&2
  ((rc == 0)) && continue
  reason=$(sed -n 's/^[^[]*\[[^]]*\] ERROR: //p' "$work/err" | tail -n 1 | tr -d '\t\r' | cut -c 1-200)
  [[ -n "$reason" ]] || reason="${kinds[$i]} client exited $rc"
  ((tolerant)) ||
    die "${kinds[$i]} mount on ${points[$i]} failed (exit $rc); on this host (roles: ${CDKTF_SLURM_ROLES:-none}) that stops the bootstrap: $reason"
  printf '%s\t%s\n' "${points[$i]}" "$reason" >>"$work/failures"
  log "warning: ${kinds[$i]} mount on ${points[$i]} failed (exit $rc); compute node: recorded in $failures_file, going on with the other mounts (slurmd.sh drains the node)"
done

if [[ -s "$work/failures" ]]; then
  mkdir -p "$(dirname "$failures_file")"
  INSTALL_QUIET=1 install_if_changed "$work/failures" "$failures_file" root:root 0644
  log "$(wc -l <"$work/failures") of ${#kinds[@]} mount(s) failed: $(cut -f1 "$work/failures" | paste -sd ' ' -); listed in $failures_file"
else
  [[ ! -e "$failures_file" ]] || log "all mounts succeeded: clearing the earlier failures in $failures_file"
  rm -f "$failures_file"
fi
