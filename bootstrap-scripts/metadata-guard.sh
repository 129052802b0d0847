#!/usr/bin/env bash
# Metadata guard: the cloud's instance metadata endpoint (169.254.169.254: EC2's IMDS, the Compute Engine metadata
# server) answers root only, and the system users named in METADATA_ALLOWED_USERS. It hands out the host's cloud
# credentials, which may read the munge key: a user who reached it from a shell or a job could forge any identity
# in the cluster. ParallelCluster does the same with an iptables owner match ("Imds: Secured").
#
# Rules: an OUTPUT jump to the chain CDKTF_SLURM_METADATA for the endpoint (IPv4, and EC2's IPv6 fd00:ec2::254 where
# ip6tables exists), which RETURNs for root and each allowed uid and REJECTs the rest (a fast refusal, not a hang).
# The chain is rebuilt on every run, so a changed allow-list takes effect. The first boot also installs a oneshot
# unit that re-applies the rules on every later boot before logins (systemd-user-sessions), cron, sshd, sackd and
# slurmd start; without systemd (a container), the entrypoint re-runs the bootstrap, and with it this step, at
# every start. cloud-init's bootcmd applies the root-only chain even earlier on every boot (see node-bootstrap.ts).
#
# Inputs: METADATA_ALLOWED_USERS (space-separated user names; a name with no account here is skipped and logged).
# `--rules-only`: apply the rules and change nothing else (what the unit runs). Safe to re-run.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"
load_node_env

CHAIN=CDKTF_SLURM_METADATA
UNIT=cdktf-slurm-metadata-guard.service
rules_only=0
[[ "${1:-}" == --rules-only ]] && rules_only=1

if ! command -v iptables >/dev/null 2>&1; then
  ((rules_only)) && die "iptables is missing: the metadata endpoint is open to every user; install iptables and re-run $here/metadata-guard.sh"
  apt_install iptables
fi

# The uids that keep the endpoint: root, then each allowed user that exists here.
uids=(0)
for user in ${METADATA_ALLOWED_USERS:-}; do
  if uid=$(id -u "$user" 2>/dev/null); then
    uids+=("$uid")
  else
    log "METADATA_ALLOWED_USERS names '$user', which has no account here: skipped"
  fi
done

# guard TOOL DESTINATION: (re)build the chain, then make sure OUTPUT jumps to it first for DESTINATION.
guard() {
  local tool=$1 dest=$2 uid
  "$tool" -w -N "$CHAIN" 2>/dev/null || true
  "$tool" -w -F "$CHAIN"
  for uid in "${uids[@]}"; do
    "$tool" -w -A "$CHAIN" -m owner --uid-owner "$uid" -j RETURN
  done
  if [[ "$tool" == ip6tables ]]; then
    "$tool" -w -A "$CHAIN" -p tcp -j REJECT --reject-with tcp-reset
    "$tool" -w -A "$CHAIN" -j REJECT --reject-with icmp6-port-unreachable
  else
    "$tool" -w -A "$CHAIN" -p tcp -j REJECT --reject-with tcp-reset
    "$tool" -w -A "$CHAIN" -j REJECT --reject-with icmp-port-unreachable
  fi
  # First in OUTPUT: an ACCEPT added later by something else (Docker, a firewall) must not come before it.
  if "$tool" -w -C OUTPUT -d "$dest" -j "$CHAIN" 2>/dev/null; then
    [[ "$("$tool" -w -S OUTPUT | grep -m1 -e '^-A OUTPUT' || true)" == "-A OUTPUT -d $dest -j $CHAIN" ]] && return 0
    "$tool" -w -D OUTPUT -d "$dest" -j "$CHAIN"
  fi
  "$tool" -w -I OUTPUT 1 -d "$dest" -j "$CHAIN"
}

guard iptables 169.254.169.254/32
if command -v ip6tables >/dev/null 2>&1 && ip6tables -w -S OUTPUT >/dev/null 2>&1; then
  guard ip6tables fd00:ec2::254/128
fi
log "metadata endpoint limited to uids ${uids[*]} (chain $CHAIN)"

((rules_only)) && exit 0
if have_systemd; then
  make_tmpdir work
  cat >"$work/unit" <<EOF
[Unit]
Description=cdktf-slurm: the cloud metadata endpoint for root only, before logins and jobs
DefaultDependencies=no
After=local-fs.target
Before=network-pre.target systemd-user-sessions.service cron.service atd.service ssh.service sackd.service slurmd.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/env bash $here/metadata-guard.sh --rules-only

[Install]
WantedBy=sysinit.target
EOF
  install_if_changed "$work/unit" "/etc/systemd/system/$UNIT" root:root 0644
  ((INSTALL_CHANGED)) && systemctl daemon-reload
  systemctl enable "$UNIT" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "systemctl enable $UNIT failed; see 'systemctl status $UNIT'"
  log "$UNIT re-applies the rules at every boot"
fi
