#!/usr/bin/env bash
# Entry point run by cloud-init (runcmd): read node.env and run the steps for this host's roles, in
# order. Safe to re-run: every step only changes what differs. Exits non-zero on the first failed step.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
LOG_TAG=bootstrap
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"

load_node_env
require_var CDKTF_SLURM_ROLES "space-separated roles of this host: controller dbd compute login"

has_role() { [[ " $CDKTF_SLURM_ROLES " == *" $1 "* ]]; }
for role in $CDKTF_SLURM_ROLES; do
  case "$role" in
    controller | dbd | compute | login) ;;
    *) die "unknown role '$role' in CDKTF_SLURM_ROLES='$CDKTF_SLURM_ROLES'; use controller, dbd, compute or login" ;;
  esac
done

# Step order: slurmdbd before slurmctld (with accounting, slurmctld registers with slurmdbd at start);
# GPU devices checked before slurmd reports them. Login nodes need only munge and the client tools.
steps=(packages)
# The mount table's file systems, once, just before the host's Slurm daemon (or the login setup) starts.
add_mounts() {
  [[ -s "$CDKTF_SLURM_MOUNT_TABLE" && " ${steps[*]} " != *" mounts "* ]] && steps+=(mounts)
  # The cluster's users right after: their homes may live on a file system mounted just before.
  [[ -s "$CDKTF_SLURM_USERS_TABLE" && " ${steps[*]} " != *" users "* ]] && steps+=(users)
  return 0
}
# Mesh first: on hybrid nodes slurmd reaches the controller (and munge's peers) only over the mesh.
[[ -n "${TAILSCALE_AUTHKEY_SOURCE:-}" ]] && steps+=(tailscale)
steps+=(munge)
# The JWT key must be in place before slurmdbd and slurmctld read AuthAltParameters.
[[ -n "${JWT_KEY_SOURCE:-}" ]] && { has_role controller || has_role dbd; } && steps+=(jwt-key)
has_role dbd && steps+=(slurmdbd)
if has_role controller; then
  steps+=(statesave)
  # AWS: pools publish their launch settings in SSM; the ResumeProgram reads the synced copies.
  [[ -n "${AWS_POOL_PARAMETERS:-}" ]] && steps+=(aws/pools-sync)
  # NFS exports (home, the mesh's shared directory), served before slurmctld hands out jobs that use them.
  [[ -s "$CDKTF_SLURM_EXPORT_TABLE" ]] && steps+=(nfs-server)
  add_mounts
  # Job mail (MailProg) must work before slurmctld sends the first one.
  [[ -n "${MAIL_RELAY:-}" ]] && steps+=(mail-relay)
  steps+=(slurmctld)
  [[ "${SLURMRESTD_ENABLED:-0}" == 1 ]] && steps+=(slurmrestd)
fi
# Hosts running slurmd or slurmctld already have the configuration.
if has_role login && ! has_role compute && ! has_role controller; then
  # srun loads pyxis on the submit host too, or --container-image is an unknown option.
  [[ -n "${ENROOT_VERSION:-}" ]] && steps+=(containers/enroot-pyxis)
  [[ -n "${APPTAINER_VERSION:-}" ]] && steps+=(containers/apptainer)
  add_mounts
  steps+=(login)
fi
if has_role compute; then
  steps+=(gpu)
  # EFA after the GPU check, before slurmd offers the node: NCCL jobs need the profile from the start.
  [[ "${EFA_ENABLED:-0}" == 1 ]] && steps+=(aws/efa)
  # Local NVMe SSDs as one RAID0 scratch (GCP), before anything puts data on it.
  [[ "${LOCALSSD_RAID:-0}" == 1 ]] && steps+=(gcp/localssd-raid)
  # GPUDirect-TCPXO (GCP A3 Mega): devices, plugin and the RxDM prolog in place before the first job.
  [[ "${TCPXO_ENABLED:-0}" == 1 ]] && steps+=(gcp/tcpxo)
  # enroot + pyxis: slurmd loads the SPANK plugin when it starts, so it must be in place first.
  [[ -n "${ENROOT_VERSION:-}" ]] && steps+=(containers/enroot-pyxis)
  [[ -n "${APPTAINER_VERSION:-}" ]] && steps+=(containers/apptainer)
  # Cluster file systems, mounted before slurmd takes jobs that read them.
  add_mounts
  steps+=(slurmd)
fi

# Exporters last: what they report on (slurmctld, slurmd, mounts) is up by then.
[[ -n "${EXPORTERS:-}" ]] && steps+=(exporters)
# The monitor on the controller (MonitoringStack onController): after the exporters it scrapes.
[[ "${MONITOR_ENABLED:-0}" == 1 ]] && has_role controller && steps+=(monitoring/monitoring-server)

# One bootstrap at a time (cloud-init and an operator re-running it by hand).
_ensure_log_dir
exec 9>>"$CDKTF_SLURM_LOG_DIR/.bootstrap.lock"
flock -w 900 9 || die "another bootstrap.sh still holds $CDKTF_SLURM_LOG_DIR/.bootstrap.lock after 15 min; check 'ps aux | grep bootstrap'"

# Nodes Slurm starts on AWS learn their Slurm name from the instance tag the ResumeProgram set.
if [[ "${SLURMD_NODENAME_FROM:-}" == aws-tag && -z "${SLURMD_NODENAME:-}" ]]; then
  SLURMD_NODENAME=$(bash "$here/aws/node-name.sh") || die "cannot read this instance's slurm:node-name tag; was it started by the ResumeProgram?"
  export SLURMD_NODENAME
  hostname "$SLURMD_NODENAME" 2>/dev/null || log "could not set the hostname to $SLURMD_NODENAME; slurmd still uses -N"
fi

log "bootstrap start: roles '$CDKTF_SLURM_ROLES', steps: ${steps[*]}, on $(hostname) ($(os_id))"
total_start=$SECONDS
for step in "${steps[@]}"; do
  start=$SECONDS
  log "step $step: start"
  rc=0
  LOG_TAG=$step bash "$here/$step.sh" 9>&- || rc=$?
  if ((rc != 0)); then
    die "step $step failed (exit $rc) after $((SECONDS - start))s; the lines above in $CDKTF_SLURM_LOG_FILE say why. Fix it and re-run: bash $here/bootstrap.sh"
  fi
  log "step $step: done in $((SECONDS - start))s"
done
log "bootstrap done in $((SECONDS - total_start))s"
