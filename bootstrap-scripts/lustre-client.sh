#!/usr/bin/env bash
# Mount a Lustre file system (Amazon FSx for Lustre, Google Cloud Managed Lustre, any Lustre over TCP) on a
# node: make sure the Lustre client for the RUNNING kernel is there (installing it from the cloud's client
# repository when it is not), load the module, keep one /etc/fstab line for the mount point and mount it with
# retries, each attempt bounded by a timeout. Re-running does nothing when the file system is already mounted.
# Run by mounts.sh for each `lustre` line of the node's mount table.
#
# The client is kernel modules built per kernel: when the repository has no build for the running kernel
# (a new kernel in the image before the repository catches up), this fails at once, naming the kernel, the
# repository and the fix; it never waits for a package that will not appear.
#
# Inputs: LUSTRE_SOURCE (`<nid>[:<nid>…]:/<fsname>`, each nid `<host-or-ip>@tcp[N]`, fsname 1-8 of
#   [A-Za-z0-9_]), LUSTRE_MOUNT_POINT, LUSTRE_MOUNT_OPTIONS (fstab options, default `defaults,flock`;
#   `_netdev` is always added), LUSTRE_MOUNT_ATTEMPTS (default 6), LUSTRE_MOUNT_TIMEOUT (seconds per
#   attempt, default 60), LUSTRE_MOUNT_RETRY_DELAY (first delay, doubling, default 2), LUSTRE_CLIENT_REPO
#   (aws-fsx | gcp | none; default: detected from DMI, "Amazon EC2" -> aws-fsx, Google Compute Engine -> gcp,
#   else none = the distribution's own packages).
# Paths and URLs (tests, mirrors): LUSTRE_FSTAB (/etc/fstab), LUSTRE_DMI_DIR (/sys/class/dmi/id),
#   LUSTRE_OS_RELEASE (/etc/os-release), LUSTRE_KEYRING_DIR (/usr/share/keyrings), LUSTRE_APT_SOURCES_DIR
#   (/etc/apt/sources.list.d), LUSTRE_FSX_KEY_URL, LUSTRE_FSX_REPO_URL, LUSTRE_GCP_KEY_URL,
#   LUSTRE_GCP_REPO_URL (defaults below).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

load_node_env
require_var LUSTRE_SOURCE "the Lustre file system, e.g. LUSTRE_SOURCE='10.0.0.5@tcp:/lfs'"
require_var LUSTRE_MOUNT_POINT "where to mount it, e.g. LUSTRE_MOUNT_POINT='/lustre'"
src=$LUSTRE_SOURCE
mp=$LUSTRE_MOUNT_POINT
attempts=${LUSTRE_MOUNT_ATTEMPTS:-6}
per_try=${LUSTRE_MOUNT_TIMEOUT:-60}
delay=${LUSTRE_MOUNT_RETRY_DELAY:-2}
fstab=${LUSTRE_FSTAB:-/etc/fstab}
dmi=${LUSTRE_DMI_DIR:-/sys/class/dmi/id}
os_release=${LUSTRE_OS_RELEASE:-/etc/os-release}
keyrings=${LUSTRE_KEYRING_DIR:-/usr/share/keyrings}
apt_sources=${LUSTRE_APT_SOURCES_DIR:-/etc/apt/sources.list.d}
fsx_key_url=${LUSTRE_FSX_KEY_URL:-https://fsx-lustre-client-repo-public-keys.s3.amazonaws.com/fsx-ubuntu-public-key.asc}
fsx_repo_url=${LUSTRE_FSX_REPO_URL:-https://fsx-lustre-client-repo.s3.amazonaws.com/ubuntu}
gcp_key_url=${LUSTRE_GCP_KEY_URL:-https://us-apt.pkg.dev/doc/repo-signing-key.gpg}
gcp_repo_url=${LUSTRE_GCP_REPO_URL:-https://us-apt.pkg.dev/projects/lustre-client-binaries}

nid='[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?@tcp[0-9]*'
source_re="^${nid}(:${nid})*:/[A-Za-z0-9_]{1,8}\$"
[[ "$src" =~ $source_re ]] ||
  die "LUSTRE_SOURCE='$src' is not <nid>[:<nid>…]:/<fsname> (nid <host-or-ip>@tcp, fsname 1-8 letters, digits or '_'); e.g. 10.0.0.5@tcp:/lfs or fs-0abc.fsx.us-east-1.amazonaws.com@tcp:/abcdefgh"
fsname=${src##*:/}
[[ "$mp" =~ ^(/[A-Za-z0-9._-]+)+$ && "$mp" != *"/.."* ]] ||
  die "LUSTRE_MOUNT_POINT='$mp' must be an absolute path of letters, digits, '.', '_' and '-', e.g. /lustre"
[[ "$attempts" =~ ^[1-9][0-9]?$ ]] || die "LUSTRE_MOUNT_ATTEMPTS='$attempts' must be 1-99"
[[ "$per_try" =~ ^[1-9][0-9]{0,2}$ ]] || die "LUSTRE_MOUNT_TIMEOUT='$per_try' must be 1-999 seconds"

given=${LUSTRE_MOUNT_OPTIONS:-defaults,flock}
[[ "$given" =~ ^[A-Za-z0-9_.=,:/+-]+$ ]] || die "LUSTRE_MOUNT_OPTIONS='$given' must be comma-separated fstab options without spaces"
# _netdev: wait for the network at boot, whatever else was asked for. No nofail: a compute node whose Lustre
# mount failed is drained (mounts.sh records it, slurmd.sh drains), not silently left without it.
options=""
for o in ${given//,/ }; do
  [[ "$o" == _netdev ]] || options+="$o,"
done
options+=_netdev

kernel=$(uname -r)
log_file=$CDKTF_SLURM_LOG_FILE

client_present() {
  command -v mount.lustre >/dev/null 2>&1 && modinfo -k "$kernel" lustre >/dev/null 2>&1
}

# apt_has PKG : apt knows PKG and has a version to install.
apt_has() {
  local c
  c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2; exit }')
  [[ -n "$c" && "$c" != "(none)" ]]
}

os_field() { # os_field NAME : a value from os-release ('' when absent)
  [[ -r "$os_release" ]] || return 0
  # shellcheck source=/dev/null
  (. "$os_release" && printf '%s' "${!1:-}")
}

detect_repo() {
  local vendor product bios
  vendor=$(cat "$dmi/sys_vendor" 2>/dev/null || true)
  product=$(cat "$dmi/product_name" 2>/dev/null || true)
  bios=$(cat "$dmi/bios_version" 2>/dev/null || true)
  # Nitro instances say "Amazon EC2"; the older Xen ones (p3, g3) only say so in the BIOS version.
  if [[ "$vendor" == "Amazon EC2" || "$bios" == *amazon* ]]; then
    echo aws-fsx
  elif [[ "$vendor" == Google* || "$product" == "Google Compute Engine" ]]; then
    echo gcp
  else
    echo none
  fi
}

# add_apt_repo KEY_URL KEYRING LIST_FILE LINE : the repository's signing key (dearmored) and its sources line.
add_apt_repo() {
  local key_url=$1 keyring=$2 list=$3 line=$4 work=""
  make_tmpdir work
  command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
  command -v gpg >/dev/null 2>&1 || apt_install gnupg
  retry 5 2 curl -fsSL --max-time 60 -o "$work/key" "$key_url" >>"$log_file" 2>&1 ||
    die "could not download the Lustre repository key $key_url; check the node's outbound HTTPS access (NAT/proxy)"
  if grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$work/key"; then
    GNUPGHOME=$work gpg --batch --yes --dearmor -o "$work/key.gpg" "$work/key" >>"$log_file" 2>&1 ||
      die "gpg could not dearmor the key from $key_url; see $log_file"
  else
    cp "$work/key" "$work/key.gpg" # already binary
  fi
  install_if_changed "$work/key.gpg" "$keyring" root:root 0644
  printf '%s\n' "$line" >"$work/list"
  install_if_changed "$work/list" "$list" root:root 0644
  export DEBIAN_FRONTEND=noninteractive
  retry 5 5 apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" update -q >>"$log_file" 2>&1 ||
    die "apt-get update failed after adding $list ($line); see $log_file (network, proxy or a repository without this release)"
}

install_client() {
  local repo=${LUSTRE_CLIENT_REPO:-} how id codename modules where
  if [[ -n "$repo" ]]; then
    how="LUSTRE_CLIENT_REPO=$repo"
  else
    repo=$(detect_repo)
    how="detected from DMI ($dmi: '$(cat "$dmi/sys_vendor" 2>/dev/null || true)' / '$(cat "$dmi/product_name" 2>/dev/null || true)')"
  fi
  id=$(os_field ID)
  codename=$(os_field VERSION_CODENAME)
  [[ -n "$codename" ]] || codename=$(os_field UBUNTU_CODENAME)
  modules="lustre-client-modules-$kernel"
  case "$repo" in
    aws-fsx | gcp)
      [[ "$id" == ubuntu && -n "$codename" ]] ||
        die "the $repo Lustre client repository publishes Ubuntu builds only, this host is '${id:-unknown} ${codename:-}' ($os_release); use an Ubuntu image or bake the Lustre client for kernel $kernel into the image"
      ;;
  esac
  case "$repo" in
    aws-fsx)
      where="the AWS FSx Lustre client repository ($fsx_repo_url $codename)"
      add_apt_repo "$fsx_key_url" "$keyrings/fsx-ubuntu-public-key.gpg" "$apt_sources/fsxlustreclientrepo.list" \
        "deb [signed-by=$keyrings/fsx-ubuntu-public-key.gpg] $fsx_repo_url $codename main"
      ;;
    gcp)
      where="the Google Cloud Lustre client repository ($gcp_repo_url lustre-client-ubuntu-$codename)"
      add_apt_repo "$gcp_key_url" "$keyrings/gcp-lustre-client.gpg" "$apt_sources/gcp-lustre-client.list" \
        "deb [signed-by=$keyrings/gcp-lustre-client.gpg] $gcp_repo_url lustre-client-ubuntu-$codename main"
      ;;
    none)
      where="the distribution's repositories (no cloud Lustre repository: $how)"
      command -v apt-get >/dev/null 2>&1 ||
        die "the Lustre client for kernel $kernel is missing and apt-get is not available; bake the Lustre client into the image"
      export DEBIAN_FRONTEND=noninteractive
      retry 5 5 apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" update -q >>"$log_file" 2>&1 ||
        die "apt-get update failed; see $log_file (network or mirror problem)"
      ;;
    *) die "LUSTRE_CLIENT_REPO='$repo' is not supported; use aws-fsx, gcp or none" ;;
  esac
  log "Lustre client missing for kernel $kernel: installing from $where ($how)"
  # No retry here: a missing build for this kernel does not appear by waiting.
  apt_has "$modules" ||
    die "no Lustre client for the running kernel $kernel in $where: $modules has no install candidate. Pin the node image (or its kernel) to one the repository builds for, or bake the Lustre client into the image"
  local pkgs=("$modules")
  # The utilities (mount.lustre, lctl) are their own package in these repositories; the modules package may
  # or may not pull them in, so ask for them whenever apt knows them.
  apt_has lustre-client-utils && pkgs+=(lustre-client-utils)
  apt_install "${pkgs[@]}"
  client_present ||
    die "installed ${pkgs[*]} but the Lustre client is still incomplete (mount.lustre on PATH: $(command -v mount.lustre || echo no); modinfo -k $kernel lustre failed?); see $log_file"
  log "installed the Lustre client for kernel $kernel (${pkgs[*]})"
}

if client_present; then
  log "Lustre client present for kernel $kernel"
else
  install_client
fi
modprobe lustre >>"$log_file" 2>&1 ||
  die "could not load the lustre kernel module for kernel $kernel (modprobe lustre); see $log_file. On container nodes the host must load it"

fstab_set "$fstab" "$mp" "$src $mp lustre $options 0 0"
((INSTALL_CHANGED)) && log "fstab: Lustre $src on $mp ($options)"

if mountpoint -q "$mp" 2>/dev/null; then
  # Lustre shows the MGS by address in the mount table even when it was mounted by name, so the same file
  # system is: type lustre, same fsname.
  have_type=$(findmnt -n -o FSTYPE --target "$mp" 2>/dev/null || true)
  have=$(findmnt -n -o SOURCE --target "$mp" 2>/dev/null || true)
  [[ "$have_type" == lustre && "${have##*:/}" == "$fsname" ]] ||
    die "$mp is already a mount point of '$have' (${have_type:-unknown type}), not Lustre $src; unmount it or choose another mount point"
  log "$mp already mounted from $have (Lustre $fsname)"
  exit 0
fi

mount_from_fstab "$fstab" "$mp" "$attempts" "$delay" "$per_try" "Lustre $src" \
  "check that this node reaches the MGS (lctl ping ${src%%:*}; TCP 988 open in the security group/firewall) and the file system name '$fsname'"
