#!/usr/bin/env bash
# Compute node: run slurmd against the controller, configless (slurmd fetches slurm.conf, gres.conf,
# cgroup.conf from slurmctld) or as a dynamic node (-Z, registers itself), and wait until the node
# has registered (a warning, not a failure, on timeout: the controller may come up later).
# Inputs: SLURM_CONTROLLER, SLURMD_MODE (configless|dynamic), SLURMD_DYNAMIC_CONF, SLURMD_NODENAME.
# A node whose cluster file systems did not all mount (mounts.sh lists them in MOUNT_FAILURES_FILE, default
# /run/cdktf-slurm/mount-failures) is drained once slurmd is up, and resumed by a later run that finds no
# failures, but only when the drain reason is ours ("mount failed: …"). MOUNT_DRAIN_RETRY_DELAY (default 2,
# doubling, 6 attempts) paces the scontrol calls while slurmctld may still be starting.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

load_node_env
require_var SLURM_CONTROLLER "host[:port] of slurmctld, e.g. SLURM_CONTROLLER='ctl-0:6817'"
mode=${SLURMD_MODE:-configless}
node=${SLURMD_NODENAME:-$(hostname -s)}
[[ "$SLURM_CONTROLLER" =~ ^[A-Za-z0-9._-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:]+\](:[0-9]+)?$ ]] ||
  die "SLURM_CONTROLLER='$SLURM_CONTROLLER' is not host[:port]; set it to the controller's name or address, e.g. 'ctl-0:6817'"

args=(--conf-server "$SLURM_CONTROLLER")
case "$mode" in
  configless) ;;
  dynamic)
    version=$(distro_slurm_version)
    if [[ -n "$version" ]] && ! version_ge "$version" 22.05; then
      die "SLURMD_MODE=dynamic needs Slurm >= 22.05 (slurmd -Z) but this host has Slurm $version ($(os_id)); use Ubuntu 24.04 or Debian 12 images, or SLURMD_MODE=configless with the node in slurm.conf"
    fi
    require_var SLURMD_DYNAMIC_CONF "the node's line for slurmd -Z --conf, e.g. 'CPUs=8 RealMemory=30000 Gres=gpu:l4:1 Feature=dyn'"
    [[ "$SLURMD_DYNAMIC_CONF" != *[\"\\]* ]] || die "SLURMD_DYNAMIC_CONF must not contain quotes or backslashes, got '$SLURMD_DYNAMIC_CONF'"
    args=(-Z --conf "$SLURMD_DYNAMIC_CONF" "${args[@]}")
    ;;
  *) die "SLURMD_MODE='$mode' is not supported; use 'configless' or 'dynamic'" ;;
esac
if [[ -n "${SLURMD_NODENAME:-}" ]]; then args+=(-N "$SLURMD_NODENAME"); fi

# Paths the fetched config will most likely name; slurmd creates its conf-cache inside the spool dir.
ensure_dir /var/spool/slurmd root:root 0755
[[ -d /var/log/slurm ]] || ensure_dir /var/log/slurm root:root 0755

# Job hooks: a cluster with Prolog=/etc/slurm/prolog.d/* (Epilog likewise) runs every script there. A glob that
# matches nothing counts as a failed prolog and drains the node, so every compute node has one no-op hook;
# features (TCPXO's RxDM) add their own beside it.
hook_work=""
make_tmpdir hook_work
printf '#!/bin/sh\n# Keeps the job-hook glob of slurm.conf matching on every node (cdktf-slurm). Does nothing.\nexit 0\n' >"$hook_work/noop"
for kind in prolog epilog; do
  ensure_dir "$SLURM_CONF_DIR/$kind.d" root:root 0755
  install_if_changed "$hook_work/noop" "$SLURM_CONF_DIR/$kind.d/00-cdktf-slurm.sh" root:root 0755
done

# Record the arguments so a re-run can tell whether slurmd must be restarted to pick up new ones.
state_dir="$(dirname "$CDKTF_SLURM_ENV_FILE")/state"
mkdir -p "$state_dir"
make_tmpdir work
printf '%q ' "${args[@]}" >"$work/slurmd.args"
install_if_changed "$work/slurmd.args" "$state_dir/slurmd.args" root:root 0644
changed=$INSTALL_CHANGED

if have_systemd; then
  # Debian/Ubuntu's unit refuses to start without /etc/slurm/slurm.conf, which configless nodes never
  # have: reset that condition. Dynamic mode needs a quoted --conf, which $SLURMD_OPTIONS (split on
  # spaces by systemd) cannot carry, so it gets its own ExecStart ('%' is a unit specifier: double it).
  {
    printf '# Written by cdktf-slurm bootstrap (slurmd.sh)\n[Unit]\nConditionPathExists=\n'
    if [[ "$mode" == dynamic ]]; then
      printf '[Service]\nExecStart=\nExecStart=/usr/sbin/slurmd -D -s'
      for a in "${args[@]}"; do a=${a//%/%%}; printf ' "%s"' "$a"; done
      printf '\n'
    fi
  } >"$work/override.conf"
  install_if_changed "$work/override.conf" /etc/systemd/system/slurmd.service.d/cdktf-slurm.conf root:root 0644
  if ((INSTALL_CHANGED)); then
    systemctl daemon-reload
    changed=1
  fi
  if [[ "$mode" == configless ]]; then
    set_default_option slurmd SLURMD_OPTIONS "${args[*]}"
  else
    set_default_option slurmd SLURMD_OPTIONS ""
  fi
  ((INSTALL_CHANGED)) && changed=1
fi

# The pidfile slurmd uses comes from the fetched config (cached by slurmd), else the built-in default.
slurmd_pidfile() {
  local f p
  for f in /run/slurm/conf/slurm.conf /var/spool/slurmd/conf-cache/slurm.conf; do
    if [[ -f "$f" ]]; then
      p=$(conf_get "$f" SlurmdPidFile /run/slurmd.pid)
      p=${p//%n/$node}
      p=${p//%h/$(hostname -s)}
      printf '%s\n' "$p"
      return 0
    fi
  done
  printf '/run/slurmd.pid\n'
}
pidfile=$(slurmd_pidfile)

if ((changed)) && service_running slurmd "$pidfile" slurmd; then
  log "slurmd arguments changed: restarting slurmd"
  restart_service slurmd "$pidfile" slurmd "${args[@]}"
else
  start_service slurmd "$pidfile" slurmd "${args[@]}"
fi

_registered() {
  local line state
  line=$(scontrol show node -o "$node" 2>/dev/null) || return 1
  state=$(sed -n 's/.*[[:space:]]State=\([^[:space:]]*\).*/\1/p' <<<"$line")
  [[ -n "$state" && "$state" != *UNKNOWN* && "$state" != *NOT_RESPONDING* ]]
}
timeout_s=${SLURMD_REGISTER_WAIT_SECONDS:-120}
if wait_until "$timeout_s" 1 _registered; then
  line=$(scontrol show node -o "$node" 2>/dev/null || true)
  state=$(sed -n 's/.*[[:space:]]State=\([^[:space:]]*\).*/\1/p' <<<"$line")
  reason=$(sed -n 's/.*[[:space:]]Reason=\(.*\)$/\1/p' <<<"$line")
  case "$state" in
    *DRAIN* | *INVAL* | *DOWN*) log "warning: node $node registered but is $state (Reason=${reason:-none}); check its hardware against slurm.conf" ;;
    *) log "node $node registered with $SLURM_CONTROLLER (State=$state)" ;;
  esac
else
  log "warning: node $node has not registered with $SLURM_CONTROLLER after ${timeout_s}s; slurmd keeps trying. Check the controller is up, port 6817/6818 is open and munge keys match (/var/log/slurm/slurmd.log)"
fi

# >>> mount failures: drain / resume (see the header)
mount_failures=${MOUNT_FAILURES_FILE:-/run/cdktf-slurm/mount-failures}
if [[ -s "$mount_failures" ]]; then
  first=$(awk -F'\t' 'NF { print $1; exit }' "$mount_failures")
  more=$(($(grep -c . "$mount_failures") - 1))
  drain_reason="mount failed: $first"
  ((more > 0)) && drain_reason+=" (+$more more)"
  drain_reason+=", see $CDKTF_SLURM_LOG_FILE"
  retry 6 "${MOUNT_DRAIN_RETRY_DELAY:-2}" scontrol update nodename="$node" state=drain reason="$drain_reason" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "node $node could not be drained after its mounts failed ($(tr '\t\n' ': ' <"$mount_failures")); drain it by hand: scontrol update nodename=$node state=drain reason='mount failed'"
  log "drained node $node: $drain_reason"
else
  line=$(scontrol show node -o "$node" 2>/dev/null || true)
  state=$(sed -n 's/.*[[:space:]]State=\([^[:space:]]*\).*/\1/p' <<<"$line")
  reason=$(sed -n 's/.*[[:space:]]Reason=\(.*\)$/\1/p' <<<"$line")
  if [[ "$state" == *DRAIN* && "$reason" == "mount failed:"* ]]; then
    retry 6 "${MOUNT_DRAIN_RETRY_DELAY:-2}" scontrol update nodename="$node" state=resume >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "node $node mounts everything now but could not be resumed; resume it by hand: scontrol update nodename=$node state=resume"
    log "resumed node $node: its mounts work now (it was drained for: $reason)"
  fi
fi
# <<< mount failures
