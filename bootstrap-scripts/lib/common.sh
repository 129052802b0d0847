#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2034 # INSTALL_CHANGED, SERVICE_STARTED, SERVICE_ARGS are outputs for the callers.
# Shared helpers for the cdktf-slurm node bootstrap. Sourced by every step script, never executed.
#
# Paths tests (and unusual images) may override through the environment; nothing else is configurable
# here, the rest comes from the node env file:
#   CDKTF_SLURM_ENV_FILE     node env file              (default /etc/cdktf-slurm/node.env)
#   CDKTF_SLURM_STAGING_DIR  staged rendered Slurm files (default /etc/cdktf-slurm/slurm)
#   CDKTF_SLURM_MOUNT_TABLE  cluster file systems to mount (default /etc/cdktf-slurm/mounts.tab)
#   CDKTF_SLURM_EXPORT_TABLE directories this host serves over NFS (default /etc/cdktf-slurm/exports.tab)
#   CDKTF_SLURM_USERS_TABLE  the cluster's users and groups (default /etc/cdktf-slurm/users.tab)
#   CDKTF_SLURM_LOG_DIR      bootstrap log directory     (default /var/log/cdktf-slurm)
#   SLURM_CONF_DIR           where Slurm reads its config (default /etc/slurm)
#   MUNGE_KEY_FILE           where munged reads its key   (default /etc/munge/munge.key)
# Standard cloud SDK variables are honoured too: AWS_REGION / AWS_DEFAULT_REGION,
# AWS_EC2_METADATA_SERVICE_ENDPOINT, GCE_METADATA_HOST.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  echo "common.sh is a library: source it from a step script instead of running it" >&2
  exit 2
fi

# Sourced twice (bootstrap.sh and a step) must be harmless.
if [[ -n "${_CDKTF_SLURM_COMMON_LOADED:-}" ]]; then return 0; fi
_CDKTF_SLURM_COMMON_LOADED=1

: "${CDKTF_SLURM_ENV_FILE:=/etc/cdktf-slurm/node.env}"
: "${CDKTF_SLURM_STAGING_DIR:=/etc/cdktf-slurm/slurm}"
: "${CDKTF_SLURM_MOUNT_TABLE:=/etc/cdktf-slurm/mounts.tab}"
: "${CDKTF_SLURM_EXPORT_TABLE:=/etc/cdktf-slurm/exports.tab}"
: "${CDKTF_SLURM_USERS_TABLE:=/etc/cdktf-slurm/users.tab}"
: "${CDKTF_SLURM_LOG_DIR:=/var/log/cdktf-slurm}"
: "${SLURM_CONF_DIR:=/etc/slurm}"
: "${MUNGE_KEY_FILE:=/etc/munge/munge.key}"
export CDKTF_SLURM_ENV_FILE CDKTF_SLURM_STAGING_DIR CDKTF_SLURM_MOUNT_TABLE CDKTF_SLURM_EXPORT_TABLE CDKTF_SLURM_USERS_TABLE CDKTF_SLURM_LOG_DIR SLURM_CONF_DIR MUNGE_KEY_FILE

# cloud-init may run us with a PATH lacking sbin (daemons, admin tools) or /snap/bin (aws on Ubuntu
# 24.04): append what is missing, keeping the caller's order.
for _d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin /snap/bin; do
  [[ ":${PATH:-}:" == *":$_d:"* ]] || PATH="${PATH:+$PATH:}$_d"
done
unset _d
export PATH

CDKTF_SLURM_LOG_FILE="$CDKTF_SLURM_LOG_DIR/bootstrap.log"
# Name shown in log lines: the step script's name unless the caller sets it.
: "${LOG_TAG:=$(basename "${0:-bootstrap}" .sh)}"

_ensure_log_dir() {
  if [[ ! -d "$CDKTF_SLURM_LOG_DIR" ]]; then
    (umask 027 && mkdir -p "$CDKTF_SLURM_LOG_DIR") 2>/dev/null || return 0
    chmod 0750 "$CDKTF_SLURM_LOG_DIR" 2>/dev/null || true
  fi
}

# log MESSAGE… : timestamped line to stderr and to the bootstrap log.
log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) [$LOG_TAG] $*"
  printf '%s\n' "$line" >&2
  _ensure_log_dir
  printf '%s\n' "$line" >>"$CDKTF_SLURM_LOG_FILE" 2>/dev/null || true
}

# die MESSAGE… : log an error and exit 1. Messages say what is wrong, the bad value, and the fix.
die() {
  log "ERROR: $*"
  exit 1
}

# require_var NAME HINT : die unless NAME is set and non-empty.
require_var() {
  local name=$1 hint=${2:-}
  if [[ -z "${!name:-}" ]]; then
    die "$name is not set (checked the environment and $CDKTF_SLURM_ENV_FILE); ${hint:-add it to the node env file}"
  fi
}

# retry ATTEMPTS INITIAL_DELAY CMD… : run CMD until it succeeds, doubling the delay after each failure.
# Returns CMD's last exit status when every attempt failed. Delays may be fractional (seconds).
retry() {
  local attempts=$1 delay=$2
  shift 2
  [[ "$attempts" =~ ^[1-9][0-9]*$ ]] || die "retry: attempts must be a positive integer, got '$attempts'"
  [[ "$delay" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "retry: delay must be a number of seconds, got '$delay'"
  (($# > 0)) || die "retry: no command given"
  local n rc
  for ((n = 1; ; n++)); do
    rc=0
    "$@" || rc=$?
    if ((rc == 0)); then return 0; fi
    if ((n >= attempts)); then
      log "retry: '$*' failed (exit $rc) on attempt $n/$attempts; giving up"
      return "$rc"
    fi
    log "retry: '$*' failed (exit $rc) on attempt $n/$attempts; retrying in ${delay}s"
    sleep "$delay"
    delay=$(awk -v d="$delay" 'BEGIN { d = d * 2; if (d > 60) d = 60; print d }')
  done
}

# load_node_env : source the node env file, but variables already set in the environment win
# (that is how tests and operators override single values).
load_node_env() {
  local file=$CDKTF_SLURM_ENV_FILE line name
  if [[ ! -f "$file" ]]; then
    log "no node env file at $file; using the environment only"
    return 0
  fi
  [[ -r "$file" ]] || die "cannot read node env file $file; run as root"
  declare -A keep=()
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)= ]]; then
      name=${BASH_REMATCH[2]}
      if [[ -n "${!name+x}" ]]; then keep[$name]=${!name}; fi
    fi
  done <"$file"
  # set -a: values from the file reach the step scripts we start as child processes.
  set -a
  # shellcheck source=/dev/null
  source "$file" || {
    set +a
    die "node env file $file is not valid shell (KEY='value' lines expected); fix its syntax"
  }
  set +a
  for name in "${!keep[@]}"; do
    printf -v "$name" '%s' "${keep[$name]}"
    export "${name?}"
  done
}

have_systemd() { [[ -d /run/systemd/system ]]; }

# os_id : "<ID> <VERSION_ID>" from os-release, e.g. "ubuntu 24.04" or "debian 12".
os_id() {
  local ID="" VERSION_ID="" f
  for f in /etc/os-release /usr/lib/os-release; do
    if [[ -r "$f" ]]; then
      # shellcheck source=/dev/null
      ID=$(. "$f" && printf '%s' "${ID:-}")
      # shellcheck source=/dev/null
      VERSION_ID=$(. "$f" && printf '%s' "${VERSION_ID:-}")
      break
    fi
  done
  printf '%s %s\n' "${ID:-unknown}" "${VERSION_ID:-unknown}"
}

# _upstream_version DEBVERSION : "1:22.05.8-4+deb12u3" -> "22.05.8"
_upstream_version() {
  local v=$1
  v=${v#*:}
  v=${v%%-*}
  v=${v%%+*}
  v=${v%%~*}
  printf '%s\n' "$v"
}

# distro_slurm_version : upstream version of the distribution's Slurm (installed, else the apt
# candidate, else what a Slurm binary reports). Empty output when none is known.
distro_slurm_version() {
  local pkg v
  for pkg in slurm-client slurmd slurmctld slurmdbd slurm-wlm-basic-plugins; do
    v=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$pkg" 2>/dev/null || true)
    if [[ "$v" == installed\ * ]]; then
      _upstream_version "${v#installed }"
      return 0
    fi
  done
  if command -v apt-cache >/dev/null 2>&1; then
    v=$(apt-cache policy slurm-client 2>/dev/null | awk '/Candidate:/ { print $2; exit }')
    if [[ -n "$v" && "$v" != "(none)" ]]; then
      _upstream_version "$v"
      return 0
    fi
  fi
  # slurmd -V prints without a config; 22.05's sinfo -V tries to fetch one first.
  for pkg in slurmd slurmctld sinfo; do
    if command -v "$pkg" >/dev/null 2>&1; then
      v=$("$pkg" -V 2>/dev/null | awk '{ print $2; exit }' || true)
      if [[ -n "$v" ]]; then
        printf '%s\n' "$v"
        return 0
      fi
    fi
  done
  printf '\n'
}

# version_ge A B : true when version A >= version B.
version_ge() {
  [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" == "$2" ]]
}

# _normalize_owner OWNER : "user" -> "user:<primary group>", "user:group" unchanged.
_normalize_owner() {
  local owner=$1 group
  if [[ "$owner" == *:* ]]; then
    printf '%s\n' "$owner"
    return 0
  fi
  group=$(id -gn "$owner" 2>/dev/null) || die "user '$owner' does not exist on this host; install the package that creates it (slurm/munge) or fix the owner"
  printf '%s:%s\n' "$owner" "$group"
}

# install_if_changed SRC DEST OWNER MODE : copy SRC to DEST atomically when content, owner or mode
# differ. Sets INSTALL_CHANGED=1 when something changed, 0 otherwise (exit status is 0 either way so
# callers under set -e can test the variable).
INSTALL_CHANGED=0
install_if_changed() {
  local src=$1 dest=$2 owner mode=$3 want_mode have tmp
  owner=$(_normalize_owner "$3") || exit 1
  mode=$4
  INSTALL_CHANGED=0
  [[ -f "$src" ]] || die "install_if_changed: source file $src does not exist; it should have been staged by cloud-init"
  [[ "$mode" =~ ^0?[0-7]{3,4}$ ]] || die "install_if_changed: mode must be octal like 0644, got '$mode'"
  want_mode=$(printf '%o' "$((8#$mode))")
  if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
    have=$(stat -c '%U:%G %a' "$dest")
    if [[ "$have" == "$owner $want_mode" ]]; then
      return 0
    fi
    chown "$owner" "$dest"
    chmod "$want_mode" "$dest"
    [[ "${INSTALL_QUIET:-0}" == 1 ]] || log "fixed owner/mode of $dest ($have -> $owner $want_mode)"
    INSTALL_CHANGED=1
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  tmp=$(mktemp "$(dirname "$dest")/.$(basename "$dest").XXXXXX")
  # mktemp creates the file 0600, so secrets are never readable while we copy them.
  if ! { cat "$src" >"$tmp" && chown "$owner" "$tmp" && chmod "$want_mode" "$tmp" && mv -f "$tmp" "$dest"; }; then
    rm -f "$tmp"
    die "could not install $dest from $src (owner $owner mode $want_mode)"
  fi
  [[ "${INSTALL_QUIET:-0}" == 1 ]] || log "installed $dest (owner $owner mode $want_mode)"
  INSTALL_CHANGED=1
}

# make_tmpdir VAR : private (0700) temp dir, removed when the script exits however it exits (so a
# secret never outlives a failed step). Step scripts must not set their own EXIT trap.
_CDKTF_TMPDIRS=()
_cdktf_cleanup() {
  local d
  for d in "${_CDKTF_TMPDIRS[@]}"; do [[ -n "$d" ]] && rm -rf "$d"; done
  return 0
}
trap _cdktf_cleanup EXIT
make_tmpdir() {
  local d
  d=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/cdktf-slurm.XXXXXX") || die "cannot create a temp dir under ${TMPDIR:-/tmp}"
  _CDKTF_TMPDIRS+=("$d")
  printf -v "$1" '%s' "$d"
}

# ---------------------------------------------------------------------------------------------------
# Secrets. Values only ever travel through files created with umask 077 (and curl -H @file / --data
# @file), never through argv, the environment or the log.

_imds_aws() { # _imds_aws PATH : IMDSv2 GET
  local base=${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254} token
  token=$(curl -fsS --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$base/latest/api/token") || return 1
  curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$base/latest/$1"
}

_aws_region_for() { # _aws_region_for SECRET_ID
  local id=$1 region
  if [[ "$id" == arn:aws*:secretsmanager:* ]]; then
    region=$(cut -d: -f4 <<<"$id")
  fi
  region=${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}
  if [[ -z "$region" ]]; then
    region=$(retry 5 1 _imds_aws meta-data/placement/region) || die "cannot find the AWS region: the secret id is not an ARN, AWS_REGION is unset and IMDSv2 did not answer; use the secret ARN or set AWS_REGION in node.env"
  fi
  printf '%s\n' "$region"
}

# ensure_aws_cli : install the AWS CLI the way that works on this distribution.
ensure_aws_cli() {
  command -v aws >/dev/null 2>&1 && return 0
  local os
  os=$(os_id)
  case "$os" in
    "ubuntu 24."* | "ubuntu 25."*)
      # Ubuntu 24.04 dropped the awscli deb; the snap is AWS's supported channel there.
      command -v snap >/dev/null 2>&1 || die "aws CLI missing and snap is not available on $os; install snapd or bake aws-cli into the image"
      retry 5 5 snap install aws-cli --classic >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "snap install aws-cli failed on $os; see $CDKTF_SLURM_LOG_FILE"
      ;;
    debian* | ubuntu*)
      apt_install awscli
      ;;
    *) die "aws CLI missing and no install recipe for OS '$os'; bake the aws CLI into the image" ;;
  esac
  command -v aws >/dev/null 2>&1 || die "aws CLI still not on PATH after installing it on $os"
}

# _ssm_get REGION NAME DIR : one `aws ssm get-parameter`; the value (with the newline --output text adds) goes
# to DIR/value, aws's stderr to DIR/err. A parameter that does not exist is an answer, not a failure: returns 0
# and leaves DIR/missing. Other errors return aws's status (for retry).
_ssm_get() {
  local region=$1 name=$2 dir=$3 rc=0
  rm -f "$dir/missing"
  aws ssm get-parameter --region "$region" --name "$name" --query Parameter.Value --output text >"$dir/value" 2>"$dir/err" || rc=$?
  ((rc != 0)) || return 0
  if grep -q 'ParameterNotFound' "$dir/err"; then
    : >"$dir/missing"
    return 0
  fi
  return "$rc"
}

_ssm_name_ok() {
  [[ "$1" =~ ^(/[A-Za-z0-9_.-]+)+$ ]] || die "SSM parameter name '$1' is not a path like /cdktf-slurm/<cluster>/filesystems/<name>"
}

# fstab_set FSTAB MOUNT_POINT LINE : make LINE the only fstab entry for MOUNT_POINT, keeping every other line
# (comments included) as it was. INSTALL_CHANGED says whether the file changed.
fstab_set() {
  local fstab=$1 mp=$2 line=$3 work=""
  make_tmpdir work
  if [[ -f "$fstab" ]]; then
    awk -v mp="$mp" '$0 ~ /^[[:space:]]*#/ || $2 != mp' "$fstab" >"$work/fstab"
  else
    : >"$work/fstab"
  fi
  printf '%s\n' "$line" >>"$work/fstab"
  install_if_changed "$work/fstab" "$fstab" root:root 0644
}

# mount_from_fstab FSTAB MOUNT_POINT ATTEMPTS DELAY PER_TRY WHAT HINT : mount MOUNT_POINT as FSTAB says, each
# attempt bounded by PER_TRY seconds, ATTEMPTS times with doubling DELAY; dies with HINT (what to check) on failure.
mount_from_fstab() {
  local fstab=$1 mp=$2 attempts=$3 delay=$4 per_try=$5 what=$6 hint=$7
  [[ -d "$mp" ]] || ensure_dir "$mp" root:root 0755
  log "mounting $what on $mp (up to $attempts attempts, ${per_try}s each)"
  retry "$attempts" "$delay" timeout --kill-after=5 "$per_try" mount -T "$fstab" "$mp" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "could not mount $what on $mp after $attempts attempts; $hint, and the lines above in $CDKTF_SLURM_LOG_FILE"
  mountpoint -q "$mp" || die "mount reported success but $mp is not a mount point; see $CDKTF_SLURM_LOG_FILE"
  log "mounted $what on $mp"
}

# block_device_for NAME : the block device the cloud attached as NAME. Xen instances and Compute Engine
# (/dev/disk/by-id/google-<name>) show NAME itself. On Nitro instances an EBS volume is an NVMe namespace whose
# controller reports the name it was attached as (sdg, /dev/sdg or xvdg) in bytes 3072-3103 of its Identify
# Controller data, which is what Amazon's ebsnvme-id reads: each NVMe disk is asked with `nvme id-ctrl`. Prints
# the device and succeeds, or prints nothing and fails (not attached yet). Tests: BLOCK_DEVICE_NVME_GLOB.
block_device_for() {
  local want=$1 dev name
  if [[ -b "$want" ]]; then
    readlink -f "$want"
    return 0
  fi
  [[ "$want" =~ ^/dev/(sd|xvd)([a-z]+)$ ]] || return 1
  local letters=${BASH_REMATCH[2]}
  command -v nvme >/dev/null 2>&1 || return 1
  while IFS= read -r dev; do
    [[ -b "$dev" ]] || continue
    name=$(nvme id-ctrl --raw-binary "$dev" 2>/dev/null | tail -c +3073 | head -c 32 | tr -d '\0 ') || continue
    name=${name#/dev/}
    if [[ "$name" =~ ^(sd|xvd)([a-z]+)$ && "${BASH_REMATCH[2]}" == "$letters" ]]; then
      readlink -f "$dev"
      return 0
    fi
  done < <(compgen -G "${BLOCK_DEVICE_NVME_GLOB:-/dev/nvme[0-9]*n1}" || true)
  return 1
}

# mount_data_disk NAME LABEL DIR : put DIR on the disk the cloud attached as NAME (block_device_for), waiting up
# to DATA_DISK_WAIT_SECONDS (default 300; attachments land after boot). A disk with no filesystem is formatted
# ext4 with LABEL; one with another filesystem or label is refused, never formatted. While the disk is still
# empty and DIR holds files (/home with the image's default user, a package's spool), they are copied onto it
# first, owners, modes, ACLs and xattrs kept, so mounting over DIR hides nothing. Mounted by label through
# /etc/fstab (nofail: a lost disk does not stop boot). Re-running changes nothing. Tests: DATA_DISK_FSTAB.
mount_data_disk() {
  local want=$1 label=$2 dir=$3 wait=${DATA_DISK_WAIT_SECONDS:-300} fstab=${DATA_DISK_FSTAB:-/etc/fstab} device="" waited=0 have work=""
  device=$(blkid -c /dev/null -L "$label" 2>/dev/null || true)
  # -L may answer from udev's by-label links or a stale probe (a detached loop device): probe the device itself.
  [[ -n "$device" && "$(blkid -p -o value -s LABEL "$device" 2>/dev/null || true)" == "$label" ]] || device=""
  if [[ -z "$device" && "$want" =~ ^/dev/(sd|xvd)[a-z]+$ && ! -b "$want" ]] && ! command -v nvme >/dev/null 2>&1; then
    apt_install nvme-cli # Nitro instances name EBS volumes through the NVMe controller
  fi
  while [[ -z "$device" ]]; do
    device=$(block_device_for "$want" || true)
    [[ -n "$device" ]] && break
    ((waited < wait)) ||
      die "disk $want (for $dir) did not appear within ${wait}s; check that the volume is attached to this instance, then re-run bootstrap.sh"
    sleep 5
    waited=$((waited + 5))
  done
  if [[ -z "$(blkid -c /dev/null -o value -s TYPE "$device" 2>/dev/null || true)" ]]; then
    log "formatting $device (ext4, label $label) for $dir"
    mkfs.ext4 -q -L "$label" "$device" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "mkfs.ext4 $device failed; see $CDKTF_SLURM_LOG_FILE"
  elif [[ "$(blkid -c /dev/null -o value -s LABEL "$device" 2>/dev/null || true)" != "$label" ]]; then
    die "$device already holds a filesystem not labelled '$label'; refusing to format it. Label it with 'e2label $device $label' if it is the disk for $dir"
  fi
  if have=$(findmnt -rn -o SOURCE --mountpoint "$dir" 2>/dev/null) && [[ -n "$have" ]]; then
    [[ "$(readlink -f "$have")" == "$(readlink -f "$device")" ]] ||
      die "$dir is already a mount point of $have, not the disk $device (label $label); unmount it, then re-run bootstrap.sh"
    log "$dir already on $device"
    return 0
  fi
  if [[ -d "$dir" && -n "$(find "$dir" -mindepth 1 -maxdepth 1 -print -quit)" ]]; then
    make_tmpdir work
    mkdir "$work/disk"
    mount "$device" "$work/disk" || die "could not mount $device to seed it with the contents of $dir"
    if [[ -z "$(find "$work/disk" -mindepth 1 -maxdepth 1 ! -name lost+found -print -quit)" ]]; then
      log "copying the contents of $dir onto $device before mounting it there"
      cp -a "$dir/." "$work/disk/" || {
        umount "$work/disk"
        die "copying $dir onto $device failed; the disk is left unmounted, $dir untouched"
      }
    fi
    umount "$work/disk"
  fi
  mkdir -p "$dir"
  fstab_set "$fstab" "$dir" "LABEL=$label $dir ext4 defaults,nofail,x-systemd.device-timeout=60 0 2"
  ((INSTALL_CHANGED)) && log "fstab: LABEL=$label on $dir"
  # The device found above, not LABEL=: without udev, mount's label lookup can name a stale (detached) device.
  mount -t ext4 "$device" "$dir" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "could not mount $device (LABEL=$label) on $dir; see $CDKTF_SLURM_LOG_FILE"
  log "mounted $device at $dir"
}

# read_ssm_parameter NAME : the value of an SSM parameter in this instance's region (a cluster file system's
# mount source, published after apply or by the file system's server when it has booted). A parameter that does
# not exist yet is waited for: polled every SSM_WAIT_POLL seconds (default 15) for up to SSM_WAIT_SECONDS
# (default 1200), since servers publish theirs at first boot while the clients boot too. Other errors are
# retried (first delay SSM_RETRY_DELAY, default 2 s, doubling). Dies naming the parameter and the permission.
# Runs in a subshell (callers use it inside $(…), where the EXIT trap is not inherited): its own trap removes
# its temp dir, whichever way it ends.
read_ssm_parameter() (
  _CDKTF_TMPDIRS=()
  trap _cdktf_cleanup EXIT
  local name=$1 region value work start rc waited
  local wait_max=${SSM_WAIT_SECONDS:-1200} poll=${SSM_WAIT_POLL:-15}
  _ssm_name_ok "$name"
  [[ "$wait_max" =~ ^[0-9]+$ ]] || die "SSM_WAIT_SECONDS must be a whole number of seconds, got '$wait_max'"
  [[ "$poll" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "SSM_WAIT_POLL must be a number of seconds, got '$poll'"
  ensure_aws_cli
  region=$(_aws_region_for "$name") || exit 1
  make_tmpdir work
  start=$SECONDS
  while :; do
    rc=0
    retry 5 "${SSM_RETRY_DELAY:-2}" _ssm_get "$region" "$name" "$work" || rc=$?
    ((rc == 0)) ||
      die "could not read SSM parameter $name in $region; the instance role needs ssm:GetParameter on it (the library grants the cluster's /cdktf-slurm/<cluster>/filesystems/*); aws said: $(head -c 300 "$work/err")"
    [[ -e "$work/missing" ]] || break
    waited=$((SECONDS - start))
    ((waited < wait_max)) ||
      die "SSM parameter $name does not exist after ${waited}s in $region: has its server finished booting? (it publishes the parameter when its file system is ready; see that server's bootstrap log)"
    log "SSM parameter $name does not exist yet (waited ${waited}s of ${wait_max}s): its server publishes it when it has booted; checking again in ${poll}s"
    sleep "$poll"
  done
  value=$(cat "$work/value")
  [[ -n "$value" && "$value" != None ]] || die "SSM parameter $name is empty; was the file system created (terraform apply)?"
  printf '%s\n' "$value"
)

_ssm_put() { # _ssm_put REGION NAME VALUE ERRFILE
  aws ssm put-parameter --region "$1" --name "$2" --type String --overwrite --value "$3" >/dev/null 2>"$4"
}

# write_ssm_parameter NAME VALUE : publish VALUE (not a secret: it goes through argv and the log) as the String
# parameter NAME in this instance's region, e.g. a file system's mount source for its clients. Writes only when
# the parameter does not exist or holds another value (a re-run writes nothing). Retries (SSM_RETRY_DELAY);
# dies naming the permission it needs.
write_ssm_parameter() {
  local name=$1 value=$2 region work rc=0
  _ssm_name_ok "$name"
  [[ -n "$value" && "$value" != *$'\n'* ]] || die "write_ssm_parameter $name: the value must be one non-empty line"
  ensure_aws_cli
  region=$(_aws_region_for "$name") || exit 1
  make_tmpdir work
  retry 5 "${SSM_RETRY_DELAY:-2}" _ssm_get "$region" "$name" "$work" ||
    die "could not read SSM parameter $name in $region (to compare before writing it); this host's role needs ssm:GetParameter on it; aws said: $(head -c 300 "$work/err")"
  if [[ ! -e "$work/missing" && "$(cat "$work/value")" == "$value" ]]; then
    log "SSM parameter $name already holds $value"
    return 0
  fi
  retry 5 "${SSM_RETRY_DELAY:-2}" _ssm_put "$region" "$name" "$value" "$work/err" || rc=$?
  ((rc == 0)) ||
    die "could not write SSM parameter $name in $region; this host's role needs ssm:PutParameter on it; aws said: $(head -c 300 "$work/err")"
  log "published $value in SSM parameter $name ($region)"
}

# resolve_mount_source SOURCE : a mount table source as mount(8) takes it; `aws-ssm:<name>` is read from SSM.
resolve_mount_source() {
  case "$1" in
    aws-ssm:*) read_ssm_parameter "${1#aws-ssm:}" ;;
    *) printf '%s\n' "$1" ;;
  esac
}

# _aws_sm REGION ERRFILE ARGS… : aws secretsmanager call, stderr kept for inspection.
_aws_sm() {
  local region=$1 errfile=$2
  shift 2
  aws --region "$region" secretsmanager "$@" 2>"$errfile"
}

_gcp_token_file() { # writes "Authorization: Bearer …" to $1 (0600)
  local host=${GCE_METADATA_HOST:-metadata.google.internal} json token
  json=$(retry 5 1 curl -fsS --max-time 5 -H 'Metadata-Flavor: Google' \
    "http://$host/computeMetadata/v1/instance/service-accounts/default/token") ||
    die "cannot get an access token from the GCP metadata server ($host); is this a GCE VM with a service account?"
  token=$(sed -n 's/.*"access_token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$json")
  [[ -n "$token" ]] || die "GCP metadata server ($host) answered without an access_token"
  (umask 077 && printf 'Authorization: Bearer %s\n' "$token" >"$1")
}

_gcp_secret_path() { # projects/P/secrets/S[/versions/V] -> projects/P/secrets/S/versions/V
  local name=$1
  [[ "$name" =~ ^projects/[^/]+/secrets/[^/]+(/versions/[^/]+)?$ ]] ||
    die "GCP secret '$name' is not of the form projects/PROJECT/secrets/NAME[/versions/VERSION]; fix MUNGE_KEY_SOURCE/DB_PASSWORD_SOURCE"
  [[ "$name" == */versions/* ]] || name="$name/versions/latest"
  printf '%s\n' "$name"
}

_b64_decode_to() { # stdin base64 -> file $1
  tr -d '\n\r ' | base64 -d >"$1"
}

# fetch_secret [--allow-missing] SOURCE DEST OWNER MODE
#   SOURCE: file:/abs/path | aws-secretsmanager:<arn|name> | gcp-secretmanager:projects/P/secrets/S
#   Writes the secret atomically (INSTALL_CHANGED says whether DEST changed). With --allow-missing,
#   returns 3 when the secret store holds no value yet instead of failing.
fetch_secret() {
  local allow_missing=0
  if [[ "${1:-}" == --allow-missing ]]; then
    allow_missing=1
    shift
  fi
  local source=$1 dest=$2 owner=$3 mode=$4 kind ref work rc
  kind=${source%%:*}
  ref=${source#*:}
  [[ "$source" == *:* && -n "$ref" ]] || die "secret source '$source' has no scheme; use file:/abs/path, aws-secretsmanager:<arn> or gcp-secretmanager:projects/P/secrets/S"
  make_tmpdir work
  rc=0
  case "$kind" in
    file)
      [[ "$ref" == /* ]] || die "secret source '$source' must use an absolute path (file:/abs/path)"
      [[ -f "$ref" && -r "$ref" ]] || die "secret file '$ref' (from '$source') does not exist or is unreadable; check that it was uploaded to the node"
      (umask 077 && cat "$ref" >"$work/value")
      ;;
    aws-secretsmanager)
      local region
      ensure_aws_cli
      region=$(_aws_region_for "$ref") || exit 1
      (umask 077 && retry 4 2 _aws_sm "$region" "$work/err" get-secret-value --secret-id "$ref" \
        --query SecretBinary --output text >"$work/bin") || rc=$?
      if ((rc != 0)); then
        if grep -q 'ResourceNotFoundException' "$work/err" && grep -qi 'secret value\|staging label' "$work/err"; then
          ((allow_missing)) && return 3
          die "AWS secret '$ref' has no value yet; store one (aws secretsmanager put-secret-value) or use generate+ on the controller"
        fi
        die "could not read AWS secret '$ref': $(head -c 300 "$work/err"); check the instance role allows secretsmanager:GetSecretValue on it"
      fi
      if [[ "$(cat "$work/bin")" != "None" ]]; then
        (umask 077 && _b64_decode_to "$work/value" <"$work/bin")
      else
        (umask 077 && retry 4 2 _aws_sm "$region" "$work/err" get-secret-value --secret-id "$ref" \
          --query SecretString --output text >"$work/str") || die "could not read AWS secret '$ref': $(head -c 300 "$work/err")"
        # --output text appends one newline that is not part of the value.
        (umask 077 && head -c -1 "$work/str" >"$work/value")
      fi
      ;;
    gcp-secretmanager)
      local path code
      path=$(_gcp_secret_path "$ref")
      _gcp_token_file "$work/auth"
      code=$(retry 4 2 curl -sS --max-time 20 -o "$work/resp" -w '%{http_code}' -H @"$work/auth" \
        "https://secretmanager.googleapis.com/v1/$path:access") || die "could not reach Secret Manager for '$path'"
      if [[ "$code" == 404 ]]; then
        ((allow_missing)) && return 3
        die "GCP secret '$path' not found or has no version; add a version or use generate+ on the controller"
      fi
      [[ "$code" == 200 ]] || die "Secret Manager returned HTTP $code for '$path'; check the node's service account has roles/secretmanager.secretAccessor on it"
      (umask 077 && sed -n 's/.*"data"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$work/resp" | _b64_decode_to "$work/value")
      ;;
    *) die "unknown secret source scheme '$kind' in '$source'; use file:, aws-secretsmanager: or gcp-secretmanager:" ;;
  esac
  [[ -s "$work/value" ]] || die "secret from '$source' is empty; store a non-empty value"
  INSTALL_QUIET=1 install_if_changed "$work/value" "$dest" "$owner" "$mode"
  log "fetched $kind secret into $dest ($( ((INSTALL_CHANGED)) && echo changed || echo unchanged))"
}

# fetch_or_generate SOURCE DEST GENERATOR WHAT : like fetch_secret SOURCE DEST root 0600, but a
# `generate+<store>` SOURCE creates the secret on first use: when <store> has no value yet, GENERATOR FILE
# writes a new one, it is stored, and DEST gets what the store then holds (the same bytes on every host,
# even after a race between two first boots). Callers decide which hosts may generate.
fetch_or_generate() {
  local source=$1 dest=$2 generator=$3 what=$4 store rc=0 tmp
  if [[ "$source" != generate+* ]]; then
    fetch_secret "$source" "$dest" root 0600
    return
  fi
  store=${source#generate+}
  [[ "$store" == aws-secretsmanager:* || "$store" == gcp-secretmanager:* ]] ||
    die "'$source': generate+ works with aws-secretsmanager: or gcp-secretmanager: only"
  fetch_secret --allow-missing "$store" "$dest" root 0600 || rc=$?
  if ((rc == 3)); then
    log "secret $store has no value yet: generating $what and storing it"
    make_tmpdir tmp
    "$generator" "$tmp/new"
    store_secret "$store" "$tmp/new"
    fetch_secret "$store" "$dest" root 0600
  elif ((rc != 0)); then
    exit "$rc"
  fi
}

# new_password FILE : a generator for fetch_or_generate: 32 characters of [A-Za-z0-9] (~190 bits), safe in
# config files without quoting. A fixed chunk is filtered into a file and cut there: a `| head` after tr could
# end tr with SIGPIPE and trip pipefail.
new_password() {
  (umask 077 && head -c 4096 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' >"$1.chars" && head -c 32 "$1.chars" >"$1")
  [[ "$(stat -c %s "$1")" == 32 ]] || die "could not generate a 32-character password from /dev/urandom"
}

# store_secret SOURCE FILE : add FILE's bytes as the secret's new value (generate+ on the controller).
store_secret() {
  local source=$1 file=$2 kind ref work
  kind=${source%%:*}
  ref=${source#*:}
  make_tmpdir work
  case "$kind" in
    aws-secretsmanager)
      local region
      ensure_aws_cli
      region=$(_aws_region_for "$ref") || exit 1
      retry 4 2 _aws_sm "$region" "$work/err" put-secret-value --secret-id "$ref" \
        --secret-binary "fileb://$file" >/dev/null ||
        die "could not store a value in AWS secret '$ref': $(head -c 300 "$work/err"); the controller role needs secretsmanager:PutSecretValue on it"
      ;;
    gcp-secretmanager)
      local path code
      path=$(_gcp_secret_path "$ref")
      path=${path%/versions/*}
      _gcp_token_file "$work/auth"
      (umask 077 && printf '{"payload":{"data":"%s"}}' "$(base64 -w0 <"$file")" >"$work/body")
      code=$(retry 4 2 curl -sS --max-time 20 -o "$work/resp" -w '%{http_code}' -H @"$work/auth" \
        -H 'Content-Type: application/json' --data @"$work/body" \
        "https://secretmanager.googleapis.com/v1/$path:addVersion") || die "could not reach Secret Manager for '$path'"
      [[ "$code" == 200 ]] || die "Secret Manager returned HTTP $code adding a version to '$path'; the controller's service account needs roles/secretmanager.secretVersionAdder on it"
      ;;
    *) die "cannot store a secret in '$source'; generate+ supports aws-secretsmanager: and gcp-secretmanager: only" ;;
  esac
  log "stored a new value in $kind secret $ref"
}

# ---------------------------------------------------------------------------------------------------
# Packages

APT_LOCK_TIMEOUT=${APT_LOCK_TIMEOUT:-600}

pkg_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

# apt_install PKG… : install what is missing; does nothing (no apt call) when all are installed.
apt_install() {
  local missing=() p
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  if ((${#missing[@]} == 0)); then
    log "packages already installed: $*"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "packages missing (${missing[*]}) and apt-get is not available; use a Debian/Ubuntu image or preinstall them"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  retry 5 5 apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" update -q >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "apt-get update failed; see $CDKTF_SLURM_LOG_FILE (network or mirror problem)"
  retry 5 5 apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "apt-get install ${missing[*]} failed; see $CDKTF_SLURM_LOG_FILE"
}

# ---------------------------------------------------------------------------------------------------
# Services. Under systemd the distribution's units are used; without it (containers, chroots, the
# local test cluster) we start the daemons ourselves and track them by pidfile.

# pid_alive PIDFILE NAME : the pidfile names a running process whose command name is NAME.
pid_alive() {
  local pidfile=$1 name=$2 pid comm
  [[ -s "$pidfile" ]] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [[ -n "$pid" ]] || return 1
  [[ -r "/proc/$pid/comm" ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  # The kernel truncates comm to 15 characters.
  [[ "$comm" == "${name:0:15}" ]]
}

# set_default_option SERVICE VAR VALUE : write VAR="VALUE" into /etc/default/SERVICE (systemd units read
# it as EnvironmentFile). Sets INSTALL_CHANGED.
set_default_option() {
  local var=$2 value=$3 file="/etc/default/$1" tmp
  tmp=$(mktemp)
  if [[ -f "$file" ]]; then grep -v "^[[:space:]]*$var=" "$file" >"$tmp" || true; fi
  printf '%s="%s"\n' "$var" "$value" >>"$tmp"
  install_if_changed "$tmp" "$file" root 0644
  rm -f "$tmp"
}

SERVICE_USER=""
SERVICE_FOREGROUND=0
SERVICE_WRITE_PIDFILE=0
_parse_service_opts() {
  SERVICE_USER=""
  SERVICE_FOREGROUND=0
  SERVICE_WRITE_PIDFILE=0
  while (($# > 0)); do
    case "$1" in
      --user) SERVICE_USER=$2; shift 2 ;;
      --foreground) SERVICE_FOREGROUND=1; shift ;;
      --write-pidfile) SERVICE_WRITE_PIDFILE=1; SERVICE_FOREGROUND=1; shift ;;
      *) break ;;
    esac
  done
  SERVICE_ARGS=("$@")
}

# start_service [--user U] [--foreground] [--write-pidfile] NAME PIDFILE CMD… : start NAME unless it already runs.
#   systemd: systemctl enable + start the distribution unit NAME (CMD is ignored; options go through
#   /etc/default/NAME, see set_default_option).
#   otherwise: run CMD (which must daemonize, or pass --foreground to detach it) unless PIDFILE names a
#   live process called basename(CMD[0]); then wait for PIDFILE to appear. --write-pidfile is for daemons that
#   write none (exporters): CMD runs detached and PIDFILE gets its pid (it is exec'd, through setpriv with --user,
#   so the pid stays CMD's).
# Sets SERVICE_STARTED=1 when it started the daemon, 0 when it was already running.
SERVICE_STARTED=0
start_service() {
  _parse_service_opts "$@"
  set -- "${SERVICE_ARGS[@]}"
  local name=$1 pidfile=$2 proc i
  shift 2
  SERVICE_STARTED=0
  if have_systemd; then
    systemctl enable "$name" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "systemctl enable $name failed; see $CDKTF_SLURM_LOG_FILE"
    if systemctl is-active --quiet "$name"; then
      log "$name already running (systemd)"
      return 0
    fi
    systemctl start "$name" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "systemctl start $name failed; see 'journalctl -u $name'"
    SERVICE_STARTED=1
    log "started $name (systemd)"
    return 0
  fi
  (($# > 0)) || die "start_service $name: no command given for a host without systemd"
  proc=$(basename "$1")
  if pid_alive "$pidfile" "$proc"; then
    log "$name already running (pid $(tr -dc '0-9' <"$pidfile"))"
    return 0
  fi
  local -a cmd=("$@")
  if ((SERVICE_WRITE_PIDFILE)); then
    [[ -z "$SERVICE_USER" ]] || cmd=(setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups -- "${cmd[@]}")
    # Its output goes to a log of its own: an exporter's chatter would drown the bootstrap log.
    # shellcheck disable=SC2016 # $0/$$/$@ belong to the inner shell
    cmd=(env "SERVICE_LOG=$CDKTF_SLURM_LOG_DIR/$name.log" bash -c 'echo $$ >"$0" && exec "$@" >>"$SERVICE_LOG" 2>&1' "$pidfile" "${cmd[@]}")
  elif [[ -n "$SERVICE_USER" ]]; then
    cmd=(runuser -u "$SERVICE_USER" -- "${cmd[@]}")
  fi
  if ((SERVICE_FOREGROUND)); then cmd=(setsid -f "${cmd[@]}"); fi
  log "starting $name: ${cmd[*]}"
  "${cmd[@]}" </dev/null >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "$name failed to start (command: ${cmd[*]}); see $CDKTF_SLURM_LOG_FILE and the daemon's own log"
  for ((i = 0; i < ${SERVICE_START_TIMEOUT:-30} * 5; i++)); do
    if pid_alive "$pidfile" "$proc"; then
      SERVICE_STARTED=1
      log "started $name (pid $(tr -dc '0-9' <"$pidfile"))"
      return 0
    fi
    sleep 0.2
  done
  die "$name did not come up: $pidfile does not name a running $proc after ${SERVICE_START_TIMEOUT:-30}s; see the daemon's log"
}

# stop_service NAME PIDFILE PROC : stop a daemon we manage (systemctl stop under systemd).
stop_service() {
  local name=$1 pidfile=$2 proc=$3 pid i
  if have_systemd; then
    systemctl stop "$name" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "systemctl stop $name failed"
    return 0
  fi
  pid_alive "$pidfile" "$proc" || return 0
  pid=$(tr -dc '0-9' <"$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  log "$name (pid $pid) ignored SIGTERM for 30s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.5
}

# restart_service [--user U] [--foreground] NAME PIDFILE CMD… : stop (if running) then start.
restart_service() {
  _parse_service_opts "$@"
  local -a opts=()
  [[ -n "$SERVICE_USER" ]] && opts+=(--user "$SERVICE_USER")
  ((SERVICE_FOREGROUND)) && opts+=(--foreground)
  ((SERVICE_WRITE_PIDFILE)) && opts+=(--write-pidfile)
  set -- "${SERVICE_ARGS[@]}"
  if have_systemd; then
    systemctl enable "$1" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "systemctl enable $1 failed"
    systemctl restart "$1" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "systemctl restart $1 failed; see 'journalctl -u $1'"
    SERVICE_STARTED=1
    log "restarted $1 (systemd)"
    return 0
  fi
  (($# > 2)) || die "restart_service $1: no command given for a host without systemd"
  stop_service "$1" "$2" "$(basename "$3")"
  start_service "${opts[@]}" "$@"
}

# service_running NAME PIDFILE PROC
service_running() {
  if have_systemd; then systemctl is-active --quiet "$1"; else pid_alive "$2" "$3"; fi
}

# ---------------------------------------------------------------------------------------------------
# Slurm config helpers

# conf_get FILE KEY [DEFAULT] : last value of KEY (case-insensitive) in a Slurm-style config file.
conf_get() {
  local file=$1 key=$2 default=${3:-} v=""
  if [[ -f "$file" ]]; then
    v=$(awk -v k="$key" '
      { sub(/#.*/, "") }
      {
        line = $0
        sub(/^[ \t]+/, "", line)
        i = index(line, "=")
        if (i == 0) next
        name = substr(line, 1, i - 1); sub(/[ \t]+$/, "", name)
        if (tolower(name) != tolower(k)) next
        val = substr(line, i + 1); sub(/^[ \t]+/, "", val); sub(/[ \t]+$/, "", val)
        gsub(/^"|"$/, "", val)
        found = val
      }
      END { print found }' "$file")
  fi
  printf '%s\n' "${v:-$default}"
}

# ensure_dir DIR OWNER MODE : create DIR (and parents) and set its owner/mode.
ensure_dir() {
  local dir=$1 owner mode=$3
  owner=$(_normalize_owner "$2") || exit 1
  mkdir -p "$dir"
  chown "$owner" "$dir"
  chmod "$mode" "$dir"
}

# ensure_parent_dir FILE OWNER : make sure FILE's directory exists; only chown it when we created it
# (never take over shared directories such as /run or /var/log).
ensure_parent_dir() {
  local dir owner
  dir=$(dirname "$1")
  owner=$(_normalize_owner "$2") || exit 1
  if [[ ! -d "$dir" ]]; then
    mkdir -p "$dir"
    chown "$owner" "$dir"
    chmod 0755 "$dir"
  fi
}

# ensure_log_file FILE OWNER : log file exists and belongs to the daemon user (it reopens it after
# dropping privileges, e.g. on logrotate).
ensure_log_file() {
  [[ -n "$1" ]] || return 0
  local owner
  owner=$(_normalize_owner "$2") || exit 1
  ensure_parent_dir "$1" "$2"
  [[ -e "$1" ]] || : >"$1"
  chown "$owner" "$1"
  chmod 0640 "$1"
}

# wait_until TIMEOUT_S INTERVAL_S CMD… : poll CMD until it succeeds or the time is up (returns 1).
wait_until() {
  local timeout=$1 interval=$2 start
  shift 2
  start=$SECONDS
  while ((SECONDS - start < timeout)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep "$interval"
  done
  "$@" >/dev/null 2>&1
}
