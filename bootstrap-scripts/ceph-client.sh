#!/usr/bin/env bash
# Mount a CephFS file system with the kernel client: install ceph-common (mount.ceph) when missing, fetch the
# client's cephx key from its secret reference into a root-only secret file, keep one /etc/fstab line for the
# mount point (`secretfile=` that file, `_netdev`) and mount it with retries, each attempt bounded by a timeout.
# Re-running does nothing when it is already mounted. The key is never printed, logged or put on a command line.
# Run by mounts.sh for each `ceph` line of the node's mount table.
# Inputs: CEPH_SOURCE (the kernel client's device string `<client-name>@<fsid>.<fsname>=<path>`, e.g.
#   slurm@6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e.cephfs=/), CEPH_MOUNT_POINT, CEPH_MOUNT_OPTIONS (fstab options;
#   must hold mon_addr=<ip[:port]>[/<ip[:port]>…]; `secretfile=` and `_netdev` are added), CEPH_SECRET_SOURCE
#   (file:/…, aws-secretsmanager:… or gcp-secretmanager:…; the value is the bare base64 key or a keyring with a
#   `key = …` line), CEPH_MOUNT_ATTEMPTS (default 6), CEPH_MOUNT_TIMEOUT (seconds per attempt, default 60),
#   CEPH_MOUNT_RETRY_DELAY (first delay, doubling, default 2).
# Paths for tests: CEPH_FSTAB (/etc/fstab), CEPH_SECRET_DIR (/etc/ceph; the key goes to
#   <dir>/<client-name>.<fsname>.secret, mode 0600).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

load_node_env
require_var CEPH_SOURCE "the CephFS device string, e.g. CEPH_SOURCE='slurm@<fsid>.cephfs=/'"
require_var CEPH_MOUNT_POINT "where to mount it, e.g. CEPH_MOUNT_POINT='/cephfs'"
require_var CEPH_MOUNT_OPTIONS "the monitors at least, e.g. CEPH_MOUNT_OPTIONS='mon_addr=10.0.0.1/10.0.0.2'"
require_var CEPH_SECRET_SOURCE "the client's cephx key as a secret reference, e.g. CEPH_SECRET_SOURCE='aws-secretsmanager:cephfs-slurm-key'"
src=$CEPH_SOURCE
mp=$CEPH_MOUNT_POINT
given=$CEPH_MOUNT_OPTIONS
attempts=${CEPH_MOUNT_ATTEMPTS:-6}
per_try=${CEPH_MOUNT_TIMEOUT:-60}
delay=${CEPH_MOUNT_RETRY_DELAY:-2}
fstab=${CEPH_FSTAB:-/etc/fstab}
secret_dir=${CEPH_SECRET_DIR:-/etc/ceph}

uuid='[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}'
source_re="^([A-Za-z0-9_.-]+)@(${uuid})\\.([A-Za-z0-9_.-]+)=(/|(/[A-Za-z0-9._-]+)+)\$"
[[ "$src" =~ $source_re ]] ||
  die "CEPH_SOURCE='$src' is not <client-name>@<fsid>.<fsname>=<path>; e.g. slurm@6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e.cephfs=/"
client=${BASH_REMATCH[1]}
fsname=${BASH_REMATCH[3]}
[[ "$mp" =~ ^(/[A-Za-z0-9._-]+)+$ && "$mp" != *"/.."* ]] ||
  die "CEPH_MOUNT_POINT='$mp' must be an absolute path of letters, digits, '.', '_' and '-', e.g. /cephfs"
[[ "$attempts" =~ ^[1-9][0-9]?$ ]] || die "CEPH_MOUNT_ATTEMPTS='$attempts' must be 1-99"
[[ "$per_try" =~ ^[1-9][0-9]{0,2}$ ]] || die "CEPH_MOUNT_TIMEOUT='$per_try' must be 1-999 seconds"
# A key in the options would land in fstab and the log: refuse without echoing the options.
[[ ",$given," != *,secret=* && ",$given," != *,secretfile=* ]] ||
  die "CEPH_MOUNT_OPTIONS must not carry secret= or secretfile=: the key comes from CEPH_SECRET_SOURCE"
[[ "$given" =~ ^[A-Za-z0-9_.=,:/+-]+$ ]] || die "CEPH_MOUNT_OPTIONS='$given' must be comma-separated fstab options without spaces"
mon_re='^mon_addr=[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9.-]+(:[0-9]+)?)*$'
have_mon=0
options=""
for o in ${given//,/ }; do
  if [[ "$o" == mon_addr=* ]]; then
    [[ "$o" =~ $mon_re ]] || die "CEPH_MOUNT_OPTIONS: '$o' is not mon_addr=<ip[:port]>[/<ip[:port]>…], e.g. mon_addr=10.0.0.1:3300/10.0.0.2:3300"
    have_mon=1
  fi
  [[ "$o" == _netdev ]] || options+="$o,"
done
((have_mon)) || die "CEPH_MOUNT_OPTIONS='$given' has no mon_addr=<ip[:port]>[/…]; the kernel client needs the monitors' addresses"

secret_file="$secret_dir/$client.$fsname.secret"
options+="secretfile=$secret_file,_netdev"

command -v mount.ceph >/dev/null 2>&1 || apt_install ceph-common
command -v mount.ceph >/dev/null 2>&1 || die "mount.ceph is still missing after installing ceph-common; see $CDKTF_SLURM_LOG_FILE"

# The key file holds the bare base64 key and nothing else. Work on private temp files only.
work=""
make_tmpdir work
fetch_secret "$CEPH_SECRET_SOURCE" "$work/fetched" root 0600
(
  umask 077
  if grep -Eq '^[[:space:]]*key[[:space:]]*=' "$work/fetched"; then
    # A keyring ([client.NAME] / key = AQ…==): take the key.
    sed -n 's/^[[:space:]]*key[[:space:]]*=[[:space:]]*//p' "$work/fetched" | head -n 1 | tr -d ' \t\r\n' >"$work/key"
  else
    tr -d ' \t\r\n' <"$work/fetched" >"$work/key"
  fi
)
grep -Eq '^[A-Za-z0-9+/]+={0,2}$' "$work/key" ||
  die "the value of $CEPH_SECRET_SOURCE is not a cephx key (base64, or a keyring with a 'key = …' line); store the output of 'ceph auth get-key client.$client'"
INSTALL_QUIET=1 install_if_changed "$work/key" "$secret_file" root:root 0600
((INSTALL_CHANGED)) && log "wrote the key of client.$client to $secret_file (0600)"

fstab_set "$fstab" "$mp" "$src $mp ceph $options 0 0"
((INSTALL_CHANGED)) && log "fstab: CephFS $src on $mp ($options)"

if mountpoint -q "$mp" 2>/dev/null; then
  have_type=$(findmnt -n -o FSTYPE --target "$mp" 2>/dev/null || true)
  have=$(findmnt -n -o SOURCE --target "$mp" 2>/dev/null || true)
  # Kernels before 5.17 show the old syntax (monitors:/path) even for a new-syntax mount: same type is enough
  # there; a new-syntax source must be ours.
  if [[ "$have_type" != ceph || ("$have" == *@*=* && "$have" != "$src") ]]; then
    die "$mp is already a mount point of '$have' (${have_type:-unknown type}), not CephFS $src; unmount it or choose another mount point"
  fi
  log "$mp already mounted from $have (CephFS)"
  exit 0
fi

mount_from_fstab "$fstab" "$mp" "$attempts" "$delay" "$per_try" "CephFS $src" \
  "check that this node reaches the monitors in mon_addr (TCP 3300/6789) and the OSDs/MDS, and that client.$client may read fs $fsname ('ceph auth get client.$client')"
