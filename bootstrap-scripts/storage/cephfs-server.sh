#!/usr/bin/env bash
# A lab-scale CephFS server on one VM with MicroCeph (the snap): install and hold the snap, bootstrap a
# single-node cluster, add loop-file OSDs up to the wanted count, wait until Ceph is usable, create the data and
# metadata pools and the file system, authorize the Slurm client, store its cephx key in the cluster's secret
# store and publish the kernel client's mount source (`<client>@<fsid>.<fsname>=/`) in SSM, which
# mounts.sh/ceph-client.sh on the cluster's nodes read. Every step is skipped when it is already done, so a
# re-run creates and writes nothing. The key is never printed, logged or put on a command line.
# Loop-file OSDs share one disk: this is for labs and tests, not for data that matters.
#
# Inputs (node.env or environment):
#   CEPHFS_MON_IP            this host's address, the monitor's (required)
#   CEPHFS_KEY_SOURCE        where the client's key is written: generate+aws-secretsmanager:<name|arn> or
#                            generate+gcp-secretmanager:projects/P/secrets/S (required; the `generate+` says this
#                            host creates the value; the clients read the same store without it)
#   CEPHFS_SOURCE_PARAMETER  SSM parameter the mount source is published in (optional; e.g.
#                            /cdktf-slurm/<cluster>/filesystems/<name>)
#   CEPHFS_NAME              file system name (default cephfs); its pools are <name>_data and <name>_metadata
#   CEPHFS_CLIENT            client name without `client.` (default slurm)
#   CEPHFS_OSD_COUNT         loop-file OSDs (default 3; with fewer than 3 the pools' size is the OSD count and
#                            min_size 1, so a small lab is not stuck degraded)
#   CEPHFS_OSD_SIZE_GIB      size of each loop file in GiB (default 10)
#   MICROCEPH_CHANNEL        snap channel (default squid/stable); an installed snap is never switched
#   CEPHFS_WAIT_SECONDS      how long to wait for the OSDs, for health and for an active MDS (default 600)
#   CEPHFS_WAIT_POLL         seconds between those checks (default 5)
#   CEPHFS_CMD_TIMEOUT       bound on each ceph command in seconds (default 60; ceph waits forever for an
#                            absent monitor or manager)
#   CEPHFS_RETRY_DELAY       first delay of the retried steps in seconds, doubling (default 5)
# Needs systemd (snapd does). The ceph commands are MicroCeph's (microceph.ceph), run as root.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"

FS_NAME="" CLIENT="" OSD_COUNT=0 OSD_SIZE=0 MON_IP="" KEY_STORE="" SOURCE_PARAM="" CHANNEL=""
WAIT=600 POLL=5 CMD_TIMEOUT=60 RETRY_DELAY=5 OSD_TOTAL=0

# mceph ARGS… : a MicroCeph ceph command, bounded in time.
mceph() { timeout --kill-after=5 "$CMD_TIMEOUT" microceph.ceph "$@"; }

# _py CODE : run Python CODE with the JSON document on stdin bound to d (ceph's -f json output).
_py() { python3 -c "import json, sys; d = json.load(sys.stdin); $1"; }

validate_inputs() {
  FS_NAME=${CEPHFS_NAME:-cephfs}
  CLIENT=${CEPHFS_CLIENT:-slurm}
  OSD_COUNT=${CEPHFS_OSD_COUNT:-3}
  OSD_SIZE=${CEPHFS_OSD_SIZE_GIB:-10}
  CHANNEL=${MICROCEPH_CHANNEL:-squid/stable}
  SOURCE_PARAM=${CEPHFS_SOURCE_PARAMETER:-}
  WAIT=${CEPHFS_WAIT_SECONDS:-600}
  POLL=${CEPHFS_WAIT_POLL:-5}
  CMD_TIMEOUT=${CEPHFS_CMD_TIMEOUT:-60}
  RETRY_DELAY=${CEPHFS_RETRY_DELAY:-5}
  require_var CEPHFS_MON_IP "this host's address for the Ceph monitor, e.g. CEPHFS_MON_IP='10.0.1.10'"
  require_var CEPHFS_KEY_SOURCE "where the client key is stored, e.g. CEPHFS_KEY_SOURCE='generate+aws-secretsmanager:hpc/cephfs-slurm-key'"
  MON_IP=$CEPHFS_MON_IP

  [[ "$FS_NAME" =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "CEPHFS_NAME='$FS_NAME' must be 1-64 letters, digits, '.', '_' or '-', e.g. cephfs"
  [[ "$CLIENT" != client.* ]] || die "CEPHFS_CLIENT='$CLIENT' must be the name without 'client.', e.g. ${CLIENT#client.}"
  [[ "$CLIENT" =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "CEPHFS_CLIENT='$CLIENT' must be 1-64 letters, digits, '.', '_' or '-', e.g. slurm"
  [[ "$OSD_COUNT" =~ ^[1-9][0-9]?$ ]] || die "CEPHFS_OSD_COUNT='$OSD_COUNT' must be 1-99 (3 for a replicated lab cluster)"
  [[ "$OSD_SIZE" =~ ^[1-9][0-9]{0,4}$ ]] || die "CEPHFS_OSD_SIZE_GIB='$OSD_SIZE' must be a whole number of GiB, e.g. 10"
  [[ "$CHANNEL" =~ ^[a-z0-9.-]+(/[a-z0-9.-]+){0,2}$ ]] || die "MICROCEPH_CHANNEL='$CHANNEL' is not a snap channel like squid/stable"
  [[ "$WAIT" =~ ^[0-9]+$ ]] || die "CEPHFS_WAIT_SECONDS='$WAIT' must be a whole number of seconds"
  [[ "$POLL" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "CEPHFS_WAIT_POLL='$POLL' must be a number of seconds"
  [[ "$CMD_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "CEPHFS_CMD_TIMEOUT='$CMD_TIMEOUT' must be a whole number of seconds"
  [[ "$RETRY_DELAY" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "CEPHFS_RETRY_DELAY='$RETRY_DELAY' must be a number of seconds"

  local octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
  [[ "$MON_IP" =~ ^$octet(\.$octet){3}$ || ("$MON_IP" == *:* && "$MON_IP" =~ ^[0-9A-Fa-f:]+$) ]] ||
    die "CEPHFS_MON_IP='$MON_IP' is not an IPv4 or IPv6 address; give this host's address, e.g. 10.0.1.10"

  KEY_STORE=${CEPHFS_KEY_SOURCE#generate+}
  case "$KEY_STORE" in
    aws-secretsmanager:?*) ;;
    gcp-secretmanager:projects/?*/secrets/?*)
      [[ "$KEY_STORE" =~ ^gcp-secretmanager:projects/[^/]+/secrets/[^/]+$ ]] ||
        die "CEPHFS_KEY_SOURCE='$CEPHFS_KEY_SOURCE' must name the secret, not a version: generate+gcp-secretmanager:projects/P/secrets/S"
      ;;
    *) die "CEPHFS_KEY_SOURCE='$CEPHFS_KEY_SOURCE' must be generate+aws-secretsmanager:<name|arn> or generate+gcp-secretmanager:projects/P/secrets/S (the store client.$CLIENT's key is written to)" ;;
  esac
  if [[ -n "$SOURCE_PARAM" && ! "$SOURCE_PARAM" =~ ^(/[A-Za-z0-9_.-]+)+$ ]]; then
    die "CEPHFS_SOURCE_PARAMETER='$SOURCE_PARAM' is not an SSM parameter path like /cdktf-slurm/<cluster>/filesystems/<name>"
  fi
}

# ensure_microceph : the snap installed from CHANNEL and held (no automatic refresh under running jobs).
ensure_microceph() {
  local listing tracking notes
  command -v snap >/dev/null 2>&1 || apt_install snapd
  command -v snap >/dev/null 2>&1 || die "snap is still missing after installing snapd; see $CDKTF_SLURM_LOG_FILE"
  if listing=$(snap list microceph 2>/dev/null); then
    tracking=$(awk 'NR == 2 { print $4 }' <<<"$listing")
    if [[ -n "$tracking" && "$tracking" != "$CHANNEL" && "$tracking" != "latest/$CHANNEL" ]]; then
      log "warning: microceph tracks $tracking, not MICROCEPH_CHANNEL=$CHANNEL; a running cluster is not switched here (snap refresh microceph --channel=$CHANNEL in a maintenance window)"
    else
      log "microceph snap already installed ($tracking)"
    fi
  else
    log "installing the microceph snap from $CHANNEL"
    # On a first boot snapd may still be seeding its preinstalled snaps.
    retry 3 "$RETRY_DELAY" snap wait system seed.loaded >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "snapd did not finish seeding (snap wait system seed.loaded); check 'systemctl status snapd'"
    retry 5 "$RETRY_DELAY" snap install microceph --channel="$CHANNEL" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "snap install microceph --channel=$CHANNEL failed; see $CDKTF_SLURM_LOG_FILE (network, or a channel that does not exist)"
    listing=$(snap list microceph 2>/dev/null) || die "snap install microceph reported success but 'snap list microceph' does not show it"
  fi
  # snap list: Name Version Rev Tracking Publisher Notes; Notes is '-' or a comma-separated list such as "held".
  notes=$(awk 'NR == 2 { print $NF }' <<<"$listing")
  if [[ ",$notes," == *,held,* ]]; then
    log "microceph snap refreshes are already held"
  else
    snap refresh --hold microceph >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
      die "snap refresh --hold microceph failed (snapd 2.58 or later is needed); see $CDKTF_SLURM_LOG_FILE"
    log "held microceph snap refreshes: upgrade it by hand in a maintenance window"
  fi
}

# mon_ip_is_local : CEPHFS_MON_IP is one of this host's addresses.
mon_ip_is_local() {
  command -v ip >/dev/null 2>&1 || return 0
  ip -o addr show 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4 }' | grep -qxF "$MON_IP"
}

# ensure_bootstrapped : a MicroCeph cluster exists on this host (microceph status answers).
ensure_bootstrapped() {
  local start=$SECONDS out rc
  while :; do
    rc=0
    out=$(microceph status 2>&1) || rc=$?
    if ((rc == 0)); then
      log "MicroCeph is already bootstrapped"
      return 0
    fi
    # The daemon answers "Daemon not yet initialized" until the bootstrap; before it runs, nothing answers.
    [[ "$out" != *"not yet initialized"* && "$out" != *"not initialized"* ]] || break
    if ((SECONDS - start >= WAIT)); then
      log "microceph status still fails after ${WAIT}s ($(head -c 200 <<<"$out")); trying the bootstrap anyway"
      break
    fi
    sleep "$POLL"
  done
  mon_ip_is_local ||
    die "CEPHFS_MON_IP=$MON_IP is not an address of this host (it has: $(ip -o addr show 2>/dev/null | awk '{ sub(/\/.*/, "", $4); printf "%s ", $4 }')); set it to this host's private address"
  log "bootstrapping MicroCeph with its monitor on $MON_IP"
  microceph cluster bootstrap --mon-ip "$MON_IP" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "microceph cluster bootstrap --mon-ip $MON_IP failed; see $CDKTF_SLURM_LOG_FILE and 'snap logs microceph'"
  log "bootstrapped MicroCeph"
}

# ensure_osds : CEPHFS_OSD_COUNT OSDs; only the missing ones are added, as loop files.
ensure_osds() {
  local out have missing
  out=$(retry 6 "$RETRY_DELAY" mceph osd ls) || die "microceph.ceph osd ls failed: the monitor does not answer; see 'microceph status' and 'snap logs microceph'"
  have=$(grep -c '^[0-9][0-9]*$' <<<"$out" || true)
  missing=$((OSD_COUNT - have))
  if ((missing <= 0)); then
    log "$have OSD(s) present (CEPHFS_OSD_COUNT=$OSD_COUNT): adding none"
    return 0
  fi
  log "adding $missing loop-file OSD(s) of ${OSD_SIZE}GiB ($have of $OSD_COUNT present)"
  microceph disk add "loop,${OSD_SIZE}G,$missing" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "microceph disk add loop,${OSD_SIZE}G,$missing failed; see $CDKTF_SLURM_LOG_FILE (enough free space under /var/snap/microceph for $missing x ${OSD_SIZE}GiB?)"
}

# wait_for_osds : HEALTH_OK or HEALTH_WARN with all OSDs (at least CEPHFS_OSD_COUNT) up, within CEPHFS_WAIT_SECONDS.
wait_for_osds() {
  local start=$SECONDS health stat total up
  while :; do
    health=$(mceph health -f json 2>/dev/null |
      _py 'c = sorted(d.get("checks", {})); print(d.get("status", "unknown") + (" (" + ", ".join(c) + ")" if c else ""))' 2>/dev/null) ||
      health="unknown (no answer)"
    stat=$(mceph osd stat -f json 2>/dev/null | _py 'print(int(d.get("num_osds", 0)), int(d.get("num_up_osds", 0)))' 2>/dev/null) ||
      stat="0 0"
    read -r total up <<<"$stat"
    if [[ "$health" == HEALTH_OK* || "$health" == HEALTH_WARN* ]] && ((total >= OSD_COUNT && up == total)); then
      OSD_TOTAL=$total
      log "Ceph is usable: $health, $up of $total OSD(s) up"
      return 0
    fi
    if ((SECONDS - start >= WAIT)); then
      die "Ceph is not usable after ${WAIT}s: health $health, $up of $total OSD(s) up (want $OSD_COUNT); see 'microceph.ceph health detail', 'microceph disk list' and $CDKTF_SLURM_LOG_FILE"
    fi
    sleep "$POLL"
  done
}

# pool_get POOL KEY : a pool setting's value ("size: 3" -> 3).
pool_get() {
  retry 3 "$RETRY_DELAY" mceph osd pool get "$1" "$2" | awk -v k="$2:" '$1 == k { print $2 }'
}

# ensure_pools : <name>_metadata and <name>_data exist; with fewer than 3 OSDs their size is the OSD count.
ensure_pools() {
  local pools pool size min_size want
  pools=$(retry 3 "$RETRY_DELAY" mceph osd pool ls) || die "microceph.ceph osd pool ls failed; see 'microceph.ceph status'"
  for pool in "${FS_NAME}_metadata" "${FS_NAME}_data"; do
    if grep -qxF "$pool" <<<"$pools"; then
      log "pool $pool exists"
    else
      mceph osd pool create "$pool" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 || die "microceph.ceph osd pool create $pool failed; see $CDKTF_SLURM_LOG_FILE"
      log "created pool $pool"
    fi
    ((OSD_TOTAL < 3)) || continue
    want=$OSD_TOTAL
    size=$(pool_get "$pool" size) || die "cannot read the size of pool $pool"
    if [[ "$size" != "$want" ]]; then
      if ((want == 1)); then
        # Ceph refuses size 1 unless the monitors allow it and the caller insists.
        mceph config set global mon_allow_pool_size_one true >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
          die "microceph.ceph config set global mon_allow_pool_size_one true failed; see $CDKTF_SLURM_LOG_FILE"
        mceph osd pool set "$pool" size 1 --yes-i-really-mean-it >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
          die "microceph.ceph osd pool set $pool size 1 failed; see $CDKTF_SLURM_LOG_FILE"
      else
        mceph osd pool set "$pool" size "$want" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
          die "microceph.ceph osd pool set $pool size $want failed; see $CDKTF_SLURM_LOG_FILE"
      fi
      log "pool $pool: size $size -> $want (only $OSD_TOTAL OSD(s): no redundancy beyond that)"
    fi
    min_size=$(pool_get "$pool" min_size) || die "cannot read the min_size of pool $pool"
    if [[ "$min_size" != 1 ]]; then
      mceph osd pool set "$pool" min_size 1 >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
        die "microceph.ceph osd pool set $pool min_size 1 failed; see $CDKTF_SLURM_LOG_FILE"
      log "pool $pool: min_size $min_size -> 1"
    fi
  done
}

# ensure_fs : the file system exists.
ensure_fs() {
  local names
  names=$(retry 3 "$RETRY_DELAY" mceph fs ls -f json | _py 'print("\n".join(str(f.get("name", "")) for f in d))') ||
    die "microceph.ceph fs ls failed; see 'microceph.ceph status'"
  if grep -qxF "$FS_NAME" <<<"$names"; then
    log "file system $FS_NAME exists"
    return 0
  fi
  mceph fs new "$FS_NAME" "${FS_NAME}_metadata" "${FS_NAME}_data" >>"$CDKTF_SLURM_LOG_FILE" 2>&1 ||
    die "microceph.ceph fs new $FS_NAME ${FS_NAME}_metadata ${FS_NAME}_data failed; see $CDKTF_SLURM_LOG_FILE (are the pools used by another file system?)"
  log "created file system $FS_NAME (pools ${FS_NAME}_metadata, ${FS_NAME}_data)"
}

# ensure_client WORKDIR : client.CLIENT may read and write the whole file system. Its output holds the key: discarded.
ensure_client() {
  local work=$1
  if mceph auth get "client.$CLIENT" >/dev/null 2>&1; then
    log "client.$CLIENT exists: its caps are left as they are"
    return 0
  fi
  mceph fs authorize "$FS_NAME" "client.$CLIENT" / rw >/dev/null 2>"$work/err" ||
    die "microceph.ceph fs authorize $FS_NAME client.$CLIENT / rw failed: $(head -c 300 "$work/err")"
  log "authorized client.$CLIENT for rw on $FS_NAME:/"
}

# store_client_key WORKDIR : the store holds client.CLIENT's key; written only when it holds nothing or another value.
store_client_key() {
  local work=$1 rc=0
  (umask 077 && retry 3 "$RETRY_DELAY" mceph auth print-key "client.$CLIENT" >"$work/raw" 2>"$work/err") ||
    die "microceph.ceph auth print-key client.$CLIENT failed: $(head -c 300 "$work/err")"
  (umask 077 && tr -d ' \t\r\n' <"$work/raw" >"$work/key")
  grep -Eq '^[A-Za-z0-9+/]+={0,2}$' "$work/key" ||
    die "microceph.ceph auth print-key client.$CLIENT did not print a cephx key (base64); see 'microceph.ceph auth ls'"
  fetch_secret --allow-missing "$KEY_STORE" "$work/stored" "$(id -un)" 0600 || rc=$?
  if ((rc == 0)); then
    (umask 077 && tr -d ' \t\r\n' <"$work/stored" >"$work/stored.key")
    if cmp -s "$work/key" "$work/stored.key"; then
      log "the key of client.$CLIENT is already in $KEY_STORE"
      return 0
    fi
    log "$KEY_STORE holds another value than the key of client.$CLIENT: replacing it"
  elif ((rc == 3)); then
    log "$KEY_STORE has no value yet: storing the key of client.$CLIENT"
  else
    exit "$rc"
  fi
  store_secret "$KEY_STORE" "$work/key"
}

# publish_source : print the kernel client's mount source, and publish it in SSM when asked.
publish_source() {
  local fsid source
  fsid=$(retry 3 "$RETRY_DELAY" mceph fsid | tr -d ' \t\r\n') || die "microceph.ceph fsid failed"
  [[ "$fsid" =~ ^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$ ]] ||
    die "microceph.ceph fsid printed '$fsid', not a cluster UUID"
  source="$CLIENT@$fsid.$FS_NAME=/"
  log "mount source for the clients: $source (mon_addr=$MON_IP)"
  if [[ -n "$SOURCE_PARAM" ]]; then
    write_ssm_parameter "$SOURCE_PARAM" "$source"
  else
    log "CEPHFS_SOURCE_PARAMETER is not set: the mount source is not published"
  fi
}

# wait_for_mds : an MDS is active for the file system, within CEPHFS_WAIT_SECONDS.
wait_for_mds() {
  local start=$SECONDS states
  while :; do
    states=$(mceph fs status "$FS_NAME" -f json 2>/dev/null |
      _py 'print(" ".join(str(m.get("state", "?")) for m in d.get("mdsmap", [])))' 2>/dev/null) || states=""
    if [[ " $states " == *" active "* || " $states " == *" up:active "* ]]; then
      log "an MDS is active for $FS_NAME (MDS states: $states)"
      return 0
    fi
    if ((SECONDS - start >= WAIT)); then
      die "no MDS is active for file system $FS_NAME after ${WAIT}s (MDS states seen: ${states:-none}); see 'microceph.ceph fs status $FS_NAME' and check the mds service in 'microceph status'"
    fi
    sleep "$POLL"
  done
}

main() {
  local work=""
  load_node_env
  validate_inputs
  have_systemd ||
    die "MicroCeph is a snap and snapd needs systemd, which this host does not run (/run/systemd/system is missing); run the CephFS server on a VM booted with systemd"
  command -v python3 >/dev/null 2>&1 || apt_install python3
  log "CephFS $FS_NAME for client.$CLIENT: $OSD_COUNT loop-file OSD(s) of ${OSD_SIZE}GiB, monitor on $MON_IP"
  ensure_microceph
  ensure_bootstrapped
  ensure_osds
  wait_for_osds
  ensure_pools
  ensure_fs
  make_tmpdir work
  ensure_client "$work"
  store_client_key "$work"
  publish_source
  wait_for_mds
  log "CephFS $FS_NAME is ready"
}

# Sourced (tests), only the functions are defined.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
