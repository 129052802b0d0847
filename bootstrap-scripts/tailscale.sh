#!/usr/bin/env bash
# Join the Tailscale (or headscale) mesh: install a pinned tailscale from Tailscale's apt repository, run
# tailscaled in kernel mode (systemd unit, or a plain daemon in containers), and `tailscale up` with the
# auth key read from a secret reference. The key only ever travels as a 0600 file (`--auth-key=file:`),
# never through argv, the environment or the log. Re-running does nothing when the node is already up under
# the same name.
# Inputs: TAILSCALE_AUTHKEY_SOURCE (file:/… | aws-secretsmanager:… | gcp-secretmanager:…),
#   TAILSCALE_HOSTNAME (default SLURMD_NODENAME, else the host name), TAILSCALE_VERSION, TAILSCALE_LOGIN_SERVER,
#   TAILSCALE_TAGS (comma-separated tag:… list). Paths for tests/unusual hosts: TAILSCALE_STATE_DIR,
#   TAILSCALE_RUN_DIR, TAILSCALE_TUN_DEVICE.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

# Tailscale's stable channel keeps older releases in its apt index, so a pin stays installable.
DEFAULT_TAILSCALE_VERSION=1.82.5

load_node_env
require_var TAILSCALE_AUTHKEY_SOURCE "a reference to the auth key, e.g. TAILSCALE_AUTHKEY_SOURCE='file:/etc/cdktf-slurm/secrets/tailscale-authkey'"
version=${TAILSCALE_VERSION:-$DEFAULT_TAILSCALE_VERSION}
want=${TAILSCALE_HOSTNAME:-${SLURMD_NODENAME:-$(hostname -s)}}
state_dir=${TAILSCALE_STATE_DIR:-/var/lib/tailscale}
run_dir=${TAILSCALE_RUN_DIR:-/run/tailscale}
sock="$run_dir/tailscaled.sock"
pidfile="$run_dir/tailscaled.pid"

[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "TAILSCALE_VERSION='$version' is not a release number; pin one such as $DEFAULT_TAILSCALE_VERSION"
[[ "$want" =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || die "TAILSCALE_HOSTNAME='$want' is not a valid mesh host name; use lower-case letters, digits and '-', e.g. 'gpu-0'"
if [[ -n "${TAILSCALE_LOGIN_SERVER:-}" && ! "$TAILSCALE_LOGIN_SERVER" =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^[:space:]]*)?$ ]]; then
  die "TAILSCALE_LOGIN_SERVER='$TAILSCALE_LOGIN_SERVER' must be an https:// URL of your headscale server, e.g. https://headscale.example.com"
fi
if [[ -n "${TAILSCALE_TAGS:-}" && ! "$TAILSCALE_TAGS" =~ ^tag:[A-Za-z0-9-]+(,tag:[A-Za-z0-9-]+)*$ ]]; then
  die "TAILSCALE_TAGS='$TAILSCALE_TAGS' must be a comma-separated list such as 'tag:slurm,tag:gpu'"
fi

installed_version() { tailscale version 2>/dev/null | head -n1 | tr -d '[:space:]'; }

install_tailscale() {
  local id codename work
  # shellcheck source=/dev/null
  id=$(. /etc/os-release && printf '%s' "${ID:-}")
  # shellcheck source=/dev/null
  codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
  case "$id" in
    ubuntu | debian) ;;
    *) die "no Tailscale install recipe for OS '$(os_id)'; use Ubuntu/Debian or bake tailscale $version into the image" ;;
  esac
  [[ -n "$codename" ]] || die "/etc/os-release has no VERSION_CODENAME; cannot pick Tailscale's apt suite"
  apt_install ca-certificates curl
  make_tmpdir work
  # The repository's signing key (binary keyring); apt then checks every package against it.
  retry 5 2 curl -fsSL --max-time 30 -o "$work/keyring.gpg" "https://pkgs.tailscale.com/stable/$id/$codename.noarmor.gpg" ||
    die "could not download Tailscale's apt signing key for $id $codename; check outbound HTTPS to pkgs.tailscale.com"
  install_if_changed "$work/keyring.gpg" /usr/share/keyrings/tailscale-archive-keyring.gpg root:root 0644
  printf 'deb [signed-by=/usr/share/keyrings/tailscale-archive-keyring.gpg] https://pkgs.tailscale.com/stable/%s %s main\n' \
    "$id" "$codename" >"$work/tailscale.list"
  install_if_changed "$work/tailscale.list" /etc/apt/sources.list.d/tailscale.list root:root 0644
  # iptables: tailscaled's netfilter rules in kernel mode.
  apt_install "tailscale=$version" iptables
}

have=$(installed_version || true)
if [[ "$have" == "$version" ]]; then
  log "tailscale $version already installed"
else
  log "installing tailscale $version (found '${have:-none}')"
  install_tailscale
  have=$(installed_version || true)
  [[ "$have" == "$version" ]] || die "tailscale reports version '${have:-none}' after installing $version; check $CDKTF_SLURM_LOG_FILE"
fi

# Kernel mode needs the TUN device: userspace networking would only proxy SOCKS/HTTP, which Slurm never uses.
tun=${TAILSCALE_TUN_DEVICE:-/dev/net/tun}
if [[ ! -c "$tun" ]]; then
  die "$tun is missing; in a container pass the device (--device /dev/net/tun) and NET_ADMIN, on a VM load the tun module"
fi

ts() { tailscale --socket="$sock" "$@"; }

if have_systemd; then
  sock=/run/tailscale/tailscaled.sock
  start_service tailscaled /run/tailscale/tailscaled.pid
elif pid_alive "$pidfile" tailscaled; then
  log "tailscaled already running (pid $(tr -dc '0-9' <"$pidfile"))"
else
  ensure_dir "$state_dir" root:root 0700
  ensure_dir "$run_dir" root:root 0755
  _ensure_log_dir
  log "starting tailscaled (kernel mode, state in $state_dir)"
  # The wrapper records tailscaled's pid (it writes none itself); setsid detaches it from this step.
  # shellcheck disable=SC2016 # $1/$@ belong to the inner shell
  setsid -f bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
    tailscaled --state="$state_dir/tailscaled.state" --socket="$sock" --tun=tailscale0 \
    </dev/null >>"$CDKTF_SLURM_LOG_DIR/tailscaled.log" 2>&1
  wait_until 30 0.2 pid_alive "$pidfile" tailscaled ||
    die "tailscaled did not stay up; see $CDKTF_SLURM_LOG_DIR/tailscaled.log"
fi
_sock_ready() { [[ -e "$sock" ]]; }
wait_until 30 0.2 _sock_ready || die "tailscaled's socket $sock did not appear within 30s; see $CDKTF_SLURM_LOG_DIR/tailscaled.log"

# json_field NAME : first "NAME": "value" in tailscale's pretty-printed status (Self precedes Peer).
json_field() { sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" | head -n1; }
status=$(ts status --json --peers=false 2>/dev/null || true)
backend=$(json_field BackendState <<<"$status")
current=$(json_field HostName <<<"$status")
if [[ "$backend" == Running && "$current" == "$want" ]]; then
  log "already on the mesh as $want ($(ts ip -4 2>/dev/null | head -n1 || echo 'address unknown'))"
  exit 0
fi
log "joining the mesh as $want (state was '${backend:-unknown}', name '${current:-none}')"

keydir=""
make_tmpdir keydir
fetch_secret "$TAILSCALE_AUTHKEY_SOURCE" "$keydir/authkey" root 0600
# --reset: settings not named here go back to their defaults, so a changed tag or server always applies.
args=(up --reset --auth-key="file:$keydir/authkey" --hostname="$want" --timeout=60s)
[[ -n "${TAILSCALE_LOGIN_SERVER:-}" ]] && args+=(--login-server="$TAILSCALE_LOGIN_SERVER")
[[ -n "${TAILSCALE_TAGS:-}" ]] && args+=(--advertise-tags="$TAILSCALE_TAGS")
retry 5 "${TAILSCALE_UP_RETRY_DELAY:-3}" ts "${args[@]}" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
  die "tailscale up failed for $want; check the auth key (reusable, not expired, allowed to use tags '${TAILSCALE_TAGS:-none}') and ${TAILSCALE_LOGIN_SERVER:-the Tailscale control plane}"
log "on the mesh as $want ($(ts ip -4 2>/dev/null | head -n1 || echo 'address unknown'))"
