#!/usr/bin/env bash
# Controller: install the staged Slurm config, create the directories it names, run slurmctld and wait
# until it answers. Restarts slurmctld when its config changed (22.05 applies enable_configless and
# node changes only on restart; state is saved in StateSaveLocation, so running jobs survive).
# Inputs: staged files in $CDKTF_SLURM_STAGING_DIR (slurm.conf required; gres.conf, cgroup.conf, …).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

load_node_env
staged="$CDKTF_SLURM_STAGING_DIR"
[[ -f "$staged/slurm.conf" ]] ||
  die "no staged slurm.conf in $staged; cloud-init should have written it there for the controller (check write_files in the user-data)"

# Every staged config except slurmdbd.conf (which holds a password and belongs to slurmdbd.sh) is
# world-readable config, owned by root.
changed=0
for src in "$staged"/*.conf; do
  name=$(basename "$src")
  [[ "$name" == slurmdbd.conf ]] && continue
  install_if_changed "$src" "$SLURM_CONF_DIR/$name" root:root 0644
  ((INSTALL_CHANGED)) && changed=1
done

conf="$SLURM_CONF_DIR/slurm.conf"
export SLURM_CONF="$conf"
slurm_user=$(conf_get "$conf" SlurmUser root)
id "$slurm_user" >/dev/null 2>&1 ||
  die "SlurmUser '$slurm_user' in $conf does not exist on this host; install the slurm packages (they create 'slurm') or fix SlurmUser"
state_dir=$(conf_get "$conf" StateSaveLocation /var/spool/slurmctld)
pidfile=$(conf_get "$conf" SlurmctldPidFile /run/slurmctld.pid)
logfile=$(conf_get "$conf" SlurmctldLogFile "")
schedlog=$(conf_get "$conf" SlurmSchedLogFile "")

ensure_dir "$state_dir" "$slurm_user" 0750
ensure_parent_dir "$pidfile" root
ensure_log_file "$logfile" "$slurm_user"
ensure_log_file "$schedlog" "$slurm_user"

ctld_cmd=(slurmctld -f "$conf")
if have_systemd && [[ "$SLURM_CONF_DIR" != /etc/slurm ]]; then
  set_default_option slurmctld SLURMCTLD_OPTIONS "-f $conf"
  ((INSTALL_CHANGED)) && changed=1
fi

if ((changed)) && service_running slurmctld "$pidfile" slurmctld; then
  log "Slurm config changed: restarting slurmctld"
  restart_service slurmctld "$pidfile" "${ctld_cmd[@]}"
else
  start_service slurmctld "$pidfile" "${ctld_cmd[@]}"
fi

_ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
timeout_s=${SLURMCTLD_WAIT_SECONDS:-90}
wait_until "$timeout_s" 1 _ctld_up ||
  die "slurmctld did not answer 'scontrol ping' within ${timeout_s}s; see ${logfile:-syslog} and check munge and the SlurmctldHost line in $conf"
log "slurmctld is up ($(scontrol ping 2>/dev/null | head -n1))"

# Always-on cloud nodes (SLURM_POWER_UP_NODES, a hostlist; they are also in SuspendExcNodes) start out
# powered down: ask Slurm to resume those still down, which runs the ResumeProgram. Nodes already up or
# powering up are left alone, so a re-run changes nothing.
if [[ -n "${SLURM_POWER_UP_NODES:-}" ]]; then
  down=$(sinfo -h -N -n "$SLURM_POWER_UP_NODES" -t powered_down -o '%N' 2>/dev/null | sort -u | paste -sd, -)
  if [[ -n "$down" ]]; then
    log "powering up always-on nodes: $down"
    scontrol update nodename="$down" state=power_up ||
      log "WARNING: 'scontrol update nodename=$down state=power_up' failed; they will start with the first job that needs them"
  fi
fi
