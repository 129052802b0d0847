#!/usr/bin/env bash
# Controller step: run slurmrestd with JWT authentication, listening inside the cluster only (the security
# group opens its port to cluster members, never to the internet). slurmrestd refuses to run as root or as
# SlurmUser, so it runs as the system user 'slurmrestd'. Inputs: SLURMRESTD_LISTEN (default 0.0.0.0:6820).
# Needs the JWT key step first. Safe to re-run.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"
load_node_env

listen=${SLURMRESTD_LISTEN:-0.0.0.0:6820}
[[ "$listen" =~ ^[0-9.]+:[0-9]{1,5}$ ]] || die "SLURMRESTD_LISTEN='$listen' must be ADDRESS:PORT, e.g. 0.0.0.0:6820"
conf="$SLURM_CONF_DIR/slurm.conf"
[[ "$(conf_get "$conf" AuthAltTypes "")" == *auth/jwt* ]] ||
  die "slurm.conf ($conf) has no AuthAltTypes=auth/jwt; slurmrestd needs JWT: enable it in the cluster model (jwtAuth)"
command -v slurmrestd >/dev/null 2>&1 || die "slurmrestd is not installed; the packages step installs it when SLURMRESTD_ENABLED=1"

if ! id slurmrestd >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin slurmrestd
  log "created system user slurmrestd"
fi

opts=(-a rest_auth/jwt -u slurmrestd -f "$conf")
if have_systemd; then
  # Debian's unit listens on a unix socket; listen on TCP with JWT instead, and drop root.
  dropin=/etc/systemd/system/slurmrestd.service.d/cdktf-slurm.conf
  make_tmpdir work
  printf '[Service]\nEnvironment=SLURM_JWT=daemon\nExecStart=\nExecStart=/usr/sbin/slurmrestd %s %s\n' "${opts[*]}" "$listen" >"$work/dropin"
  ensure_parent_dir "$dropin" root
  install_if_changed "$work/dropin" "$dropin" root:root 0644
  if ((INSTALL_CHANGED)); then
    systemctl daemon-reload
    systemctl restart slurmrestd >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "systemctl restart slurmrestd failed; see 'journalctl -u slurmrestd'"
  fi
  start_service slurmrestd /run/slurmrestd.pid
else
  # slurmrestd stays in the foreground and writes no pidfile: record the pid of the detached process.
  pidfile=/run/slurmrestd.pid
  if pid_alive "$pidfile" slurmrestd; then
    log "slurmrestd already running (pid $(tr -dc '0-9' <"$pidfile"))"
  else
    log "starting slurmrestd on $listen (JWT, user slurmrestd)"
    # shellcheck disable=SC2016 # $$, $0 and $@ belong to the inner bash
    SLURM_JWT=daemon setsid -f bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" slurmrestd "${opts[@]}" "$listen" \
      </dev/null >>"$CDKTF_SLURM_LOG_FILE" 2>&1
    wait_until 15 0.5 pid_alive "$pidfile" slurmrestd || die "slurmrestd did not stay up; see $CDKTF_SLURM_LOG_FILE"
  fi
fi
port=${listen##*:}
host=${listen%:*}
[[ "$host" != 0.0.0.0 ]] || host=127.0.0.1
wait_until 15 0.5 bash -c "exec 3<>/dev/tcp/$host/$port" || die "slurmrestd does not answer on $host:$port; see $CDKTF_SLURM_LOG_FILE"
log "slurmrestd listening on $listen"
