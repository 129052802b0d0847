#!/usr/bin/env bash
# Apptainer for jobs, unprivileged: containers run in user namespaces, no setuid helper (apptainer-suid is never
# installed). Idempotent: every part is skipped when already in place. Works with and without systemd.
#
#  1. Checks the kernel first: user.max_user_namespaces > 0 and, on Debian kernels, kernel.unprivileged_userns_clone
#     not 0. Without user namespaces unprivileged Apptainer cannot start a container, so the step fails here.
#  2. Apptainer APPTAINER_VERSION from its GitHub release .deb (amd64), checked against APPTAINER_SHA256 before apt
#     sees it, skipped when that version is installed. apt installs the .deb's dependencies (uidmap, fakeroot, …).
#  3. AppArmor: Ubuntu 24.04 lets only profiled programs create user namespaces
#     (kernel.apparmor_restrict_unprivileged_userns=1). The release .deb (>= 1.3.4) ships /etc/apparmor.d/apptainer,
#     which allows that for Apptainer's starter only; it is loaded with apparmor_parser -r when AppArmor 4 is enabled
#     and not loaded yet. The restriction itself stays on for everything else. AppArmor 3 (Debian 12, Ubuntu 22.04)
#     cannot parse that profile and does not restrict user namespaces, so it is left alone there.
#  4. With APPTAINER_REGISTRY, the containers-registries.conf drop-in cloud-init staged (rendered by
#     lib/cloudinit/apptainer.ts) goes to /etc/containers/registries.conf.d; without it, that drop-in is removed.
#
# Inputs (node.env or environment): APPTAINER_VERSION (e.g. 1.3.6), APPTAINER_SHA256 (of apptainer_<v>_amd64.deb),
# APPTAINER_REGISTRY (host[:port], optional), APPTAINER_REGISTRY_INSECURE (yes|no, with APPTAINER_REGISTRY).
# Test overrides: APPTAINER_BASE_URL, APPTAINER_REGISTRIES_STAGED (/etc/cdktf-slurm/apptainer-registries.conf),
# APPTAINER_REGISTRIES_CONF (/etc/containers/registries.conf.d/60-cdktf-slurm-registry.conf), APPARMOR_DIR
# (/etc/apparmor.d), APPARMOR_ENABLED_FILE (/sys/module/apparmor/parameters/enabled), APPARMOR_PROFILES_FILE
# (/sys/kernel/security/apparmor/profiles), PROC_SYS_DIR (/proc/sys), APPTAINER_RETRY_DELAY (5 seconds).
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"

# 1.3.3 added the AppArmor profile but its .deb broke on install; 1.3.4 is the first that works on Ubuntu 24.04.
APPTAINER_MIN_VERSION=1.3.4

: "${APPTAINER_BASE_URL:=https://github.com/apptainer/apptainer/releases/download}"
: "${APPTAINER_REGISTRIES_STAGED:=/etc/cdktf-slurm/apptainer-registries.conf}"
: "${APPTAINER_REGISTRIES_CONF:=/etc/containers/registries.conf.d/60-cdktf-slurm-registry.conf}"
: "${APPARMOR_DIR:=/etc/apparmor.d}"
: "${APPARMOR_ENABLED_FILE:=/sys/module/apparmor/parameters/enabled}"
: "${APPARMOR_PROFILES_FILE:=/sys/kernel/security/apparmor/profiles}"
: "${PROC_SYS_DIR:=/proc/sys}"
: "${APPTAINER_RETRY_DELAY:=5}"

CHANGED=0

# sysctl_value NAME : a kernel setting read from PROC_SYS_DIR (user/max_user_namespaces), empty when absent.
sysctl_value() {
  local f="$PROC_SYS_DIR/$1"
  [[ -r "$f" ]] || return 0
  tr -d '[:space:]' <"$f"
}

# userns_check : unprivileged Apptainer needs user namespaces; fail before downloading anything.
userns_check() {
  local max clone
  max=$(sysctl_value user/max_user_namespaces)
  [[ -n "$max" ]] ||
    die "$PROC_SYS_DIR/user/max_user_namespaces does not exist: this kernel has no user namespaces (CONFIG_USER_NS), which unprivileged Apptainer needs; boot a kernel with them (Ubuntu's and Debian's stock kernels have them)"
  [[ "$max" =~ ^[0-9]+$ ]] || die "$PROC_SYS_DIR/user/max_user_namespaces holds '$max', not a number"
  ((max > 0)) ||
    die "user.max_user_namespaces is 0, so no user can create a user namespace and unprivileged Apptainer cannot run containers; set it above 0 (e.g. 'user.max_user_namespaces = 65536' in /etc/sysctl.d/90-userns.conf, then sysctl --system) in the image or the launch template, and re-run bootstrap.sh"
  clone=$(sysctl_value kernel/unprivileged_userns_clone)
  [[ "$clone" != 0 ]] ||
    die "kernel.unprivileged_userns_clone is 0 (Debian's switch for unprivileged user namespaces), so unprivileged Apptainer cannot run containers; set it to 1 ('kernel.unprivileged_userns_clone = 1' in /etc/sysctl.d/90-userns.conf, then sysctl --system) and re-run bootstrap.sh"
  log "user namespaces available (user.max_user_namespaces=$max)"
}

# deb_version PKG : installed version of PKG, empty when not installed.
deb_version() {
  local v
  v=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null || true)
  if [[ "$v" == installed\ * ]]; then printf '%s\n' "${v#installed }"; fi
}

# install_apptainer VERSION : the release .deb, verified, unless that version is installed.
install_apptainer() {
  local version=$1 have sum url deb work got
  have=$(deb_version apptainer)
  if [[ -n "$have" && "$(_upstream_version "$have")" == "$version" ]]; then
    log "apptainer $version already installed ($have)"
    return 0
  fi
  sum=${APPTAINER_SHA256:-}
  [[ -n "$sum" ]] ||
    die "APPTAINER_SHA256 is not set: it must hold the SHA-256 of apptainer_${version}_amd64.deb. Copy it from the release's sha256sums asset ($APPTAINER_BASE_URL/v$version/sha256sums) or run sha256sum on the .deb fetched from a trusted machine, into node.env (ApptainerSettings.sha256 in cdktf-slurm)"
  [[ "$sum" =~ ^[0-9a-f]{64}$ ]] || die "APPTAINER_SHA256 must be 64 lower-case hex digits, got '$sum'"
  deb="apptainer_${version}_amd64.deb"
  url="$APPTAINER_BASE_URL/v$version/$deb"
  log "installing apptainer $version (installed: ${have:-none})"
  make_tmpdir work
  retry 5 "$APPTAINER_RETRY_DELAY" curl -fsSL --max-time 600 -o "$work/$deb" "$url" ||
    die "could not download $url after 5 attempts; check the node's route to github.com (NAT) or mirror the .deb and set APPTAINER_BASE_URL"
  got=$(sha256sum "$work/$deb" | cut -d' ' -f1)
  [[ "$got" == "$sum" ]] ||
    die "$url does not match APPTAINER_SHA256: expected $sum, got $got; refusing to install it. Fix APPTAINER_SHA256 or the download source"
  log "downloaded $deb (SHA256 $got verified)"
  # A fresh index, so apt can fetch the .deb's dependencies; force-confold keeps edited /etc/apptainer files.
  export DEBIAN_FRONTEND=noninteractive
  retry 5 "$APPTAINER_RETRY_DELAY" apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" update -q >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "apt-get update failed; see $CDKTF_SLURM_LOG_FILE (network or mirror problem)"
  retry 3 "$APPTAINER_RETRY_DELAY" apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$work/$deb" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "apt-get install of $deb failed; see $CDKTF_SLURM_LOG_FILE"
  have=$(deb_version apptainer)
  [[ "$(_upstream_version "${have:-none}")" == "$version" ]] ||
    die "after installing $deb, dpkg reports apptainer '${have:-none}', not $version"
  CHANGED=1
}

# apparmor_profile : load the .deb's AppArmor profile where AppArmor 4 is enabled, so Apptainer may create user
# namespaces under kernel.apparmor_restrict_unprivileged_userns=1.
apparmor_profile() {
  local profile="$APPARMOR_DIR/apptainer" restrict enabled=""
  restrict=$(sysctl_value kernel/apparmor_restrict_unprivileged_userns)
  [[ -r "$APPARMOR_ENABLED_FILE" ]] && enabled=$(tr -d '[:space:]' <"$APPARMOR_ENABLED_FILE")
  if [[ "$enabled" != Y ]]; then
    log "AppArmor is not enabled on this kernel; no profile to load"
    return 0
  fi
  if [[ ! -e "$APPARMOR_DIR/abi/4.0" ]]; then
    log "AppArmor without abi/4.0 (AppArmor 3) neither restricts user namespaces nor parses Apptainer's profile; leaving it unloaded"
    return 0
  fi
  if [[ ! -f "$profile" ]]; then
    [[ "$restrict" == 1 ]] &&
      die "kernel.apparmor_restrict_unprivileged_userns is 1 and $profile is missing, so Apptainer cannot create user namespaces; the GitHub release .deb (>= $APPTAINER_MIN_VERSION) installs it (the Ubuntu PPA package does not): reinstall from the release .deb"
    log "warning: $profile is missing; Apptainer will break if kernel.apparmor_restrict_unprivileged_userns is turned on"
    return 0
  fi
  if ((CHANGED == 0)) && [[ -r "$APPARMOR_PROFILES_FILE" ]] && grep -q '^apptainer (' "$APPARMOR_PROFILES_FILE"; then
    log "AppArmor profile apptainer already loaded"
    return 0
  fi
  if ! command -v apparmor_parser >/dev/null 2>&1; then
    [[ "$restrict" == 1 ]] && die "apparmor_parser is not installed, so $profile cannot be loaded and Apptainer cannot create user namespaces; install the apparmor package"
    log "warning: apparmor_parser is not installed; $profile not loaded"
    return 0
  fi
  if ! apparmor_parser -r "$profile" >>"$CDKTF_SLURM_LOG_FILE" 2>&1; then
    [[ "$restrict" == 1 ]] &&
      die "apparmor_parser -r $profile failed (see $CDKTF_SLURM_LOG_FILE), so Apptainer cannot create user namespaces; in a container the host must load the profile (it needs CAP_MAC_ADMIN)"
    log "warning: apparmor_parser -r $profile failed; see $CDKTF_SLURM_LOG_FILE"
    return 0
  fi
  log "loaded AppArmor profile $profile (kernel.apparmor_restrict_unprivileged_userns=${restrict:-absent})"
}

# registry_conf : install the staged registries.conf drop-in, or remove ours when no registry is configured.
registry_conf() {
  local host=${APPTAINER_REGISTRY:-} insecure=${APPTAINER_REGISTRY_INSECURE:-no} staged=$APPTAINER_REGISTRIES_STAGED
  if [[ -z "$host" ]]; then
    if [[ -f "$APPTAINER_REGISTRIES_CONF" ]]; then
      rm -f "$APPTAINER_REGISTRIES_CONF"
      log "removed $APPTAINER_REGISTRIES_CONF: no APPTAINER_REGISTRY any more"
      CHANGED=1
    fi
    return 0
  fi
  [[ "$host" =~ ^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$ ]] ||
    die "APPTAINER_REGISTRY='$host' is not host[:port] (no scheme, no path), e.g. 10.0.0.5:5000"
  [[ "$insecure" == yes || "$insecure" == no ]] || die "APPTAINER_REGISTRY_INSECURE='$insecure' must be yes or no"
  [[ -f "$staged" ]] ||
    die "$staged is missing; cloud-init stages it from renderApptainerRegistriesConf (lib/cloudinit/apptainer.ts)"
  # node.env and the staged file come from one ApptainerSettings; a mismatch means a hand edit of one of them.
  grep -qxF "location = \"$host\"" "$staged" ||
    die "$staged does not name APPTAINER_REGISTRY=$host; render both from the same ApptainerSettings.registry"
  if [[ "$insecure" == no ]] && grep -qx 'insecure = true' "$staged"; then
    die "$staged allows plain HTTP but APPTAINER_REGISTRY_INSECURE=no; render both from the same ApptainerSettings.registry"
  fi
  install_if_changed "$staged" "$APPTAINER_REGISTRIES_CONF" root:root 0644
  ((INSTALL_CHANGED)) && CHANGED=1
  log "docker:// pulls go through $host ($([[ "$insecure" == yes ]] && echo 'plain HTTP allowed' || echo HTTPS))"
}

main() {
  load_node_env
  require_var APPTAINER_VERSION "set it to an Apptainer release such as 1.3.6 (ApptainerSettings.version)"
  local version=$APPTAINER_VERSION arch
  [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "APPTAINER_VERSION='$version' is not a release like 1.3.6"
  version_ge "$version" "$APPTAINER_MIN_VERSION" ||
    die "APPTAINER_VERSION=$version is older than $APPTAINER_MIN_VERSION, the first release whose .deb carries a working AppArmor profile for Ubuntu 24.04; pin 1.3.6"
  arch=$(dpkg --print-architecture 2>/dev/null || true)
  [[ "$arch" == amd64 ]] ||
    die "this step installs Apptainer's amd64 release .deb; this host is '${arch:-unknown}' (dpkg --print-architecture)"

  userns_check
  install_apptainer "$version"
  apparmor_profile
  registry_conf
  log "apptainer $version ready, unprivileged ($( ((CHANGED)) && echo changed || echo unchanged))"
}

# Sourced (tests), only the functions are defined.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
