#!/usr/bin/env bash
# Login/submit node step: give the Slurm client commands their configuration. Slurm 23.11+ runs sackd, which
# fetches the configs from slurmctld (configless, like slurmd) and keeps them current. Older releases have no
# sackd: the controller's rendered files are staged in /etc/cdktf-slurm/slurm and installed into /etc/slurm.
# Input: SLURM_CONTROLLER (host[:port]). Safe to re-run.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"
load_node_env
require_var SLURM_CONTROLLER "host[:port] of slurmctld"

server=$SLURM_CONTROLLER
[[ "$server" == *:* ]] || server="$server:6817"

staged=$CDKTF_SLURM_STAGING_DIR
if command -v sackd >/dev/null 2>&1 && have_systemd; then
  # The packaged unit's options differ between distributions (Ubuntu 24.04 ships no /etc/default/sackd):
  # own the command line with a drop-in instead.
  dropin=/etc/systemd/system/sackd.service.d/cdktf-slurm.conf
  make_tmpdir work
  printf '[Service]\nExecStart=\nExecStart=/usr/sbin/sackd --systemd --conf-server %s\n' "$server" >"$work/dropin"
  ensure_parent_dir "$dropin" root
  install_if_changed "$work/dropin" "$dropin" root:root 0644
  if ((INSTALL_CHANGED)); then
    systemctl daemon-reload
    systemctl restart sackd >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "systemctl restart sackd failed; see 'journalctl -u sackd'"
  fi
  start_service sackd /run/sackd.pid
  log "sackd keeps the client configuration from $server"
elif [[ -f "$staged/slurm.conf" ]]; then
  for f in "$staged"/*.conf; do
    [[ "$(basename "$f")" == slurmdbd.conf ]] && continue
    install_if_changed "$f" "$SLURM_CONF_DIR/$(basename "$f")" root:root 0644
  done
  log "installed the client configuration from $staged (no sackd here)"
else
  die "no sackd under systemd (Slurm before 23.11, or no systemd) and no staged slurm.conf in $staged; give this login node the controller's files in its user-data"
fi

_clients_work() { sinfo -h -o '%P' >/dev/null 2>&1; }
wait_until "${LOGIN_WAIT_SECONDS:-60}" 2 _clients_work ||
  log "WARNING: sinfo does not answer yet; check that slurmctld at $server is reachable and munge keys match"
