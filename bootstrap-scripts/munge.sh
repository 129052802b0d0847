#!/usr/bin/env bash
# Install the cluster's munge key and run munged, then prove it works with a munge/unmunge round trip.
# Inputs (node.env or environment): MUNGE_KEY_SOURCE, CDKTF_SLURM_ROLES (generate+ needs controller).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

MUNGE_PIDFILE=/run/munge/munged.pid
MUNGE_MIN_BYTES=32
MUNGE_MAX_BYTES=1024

load_node_env
require_var MUNGE_KEY_SOURCE "e.g. MUNGE_KEY_SOURCE='aws-secretsmanager:arn:aws:secretsmanager:…'"
id munge >/dev/null 2>&1 || die "user 'munge' does not exist; install the munge package first (packages.sh)"

make_tmpdir work
key_tmp="$work/munge.key"

# new_munge_key FILE : the most random bytes munge accepts.
new_munge_key() { (umask 077 && head -c "$MUNGE_MAX_BYTES" /dev/urandom >"$1"); }
if [[ "$MUNGE_KEY_SOURCE" == generate+* && " ${CDKTF_SLURM_ROLES:-} " != *" controller "* ]]; then
  die "MUNGE_KEY_SOURCE='$MUNGE_KEY_SOURCE' uses generate+ but this host's roles are '${CDKTF_SLURM_ROLES:-}'; only the controller may create the key, other hosts must read it with '${MUNGE_KEY_SOURCE#generate+}'"
fi
fetch_or_generate "$MUNGE_KEY_SOURCE" "$key_tmp" new_munge_key "a ${MUNGE_MAX_BYTES}-byte munge key"

size=$(stat -c %s "$key_tmp")
if ((size < MUNGE_MIN_BYTES || size > MUNGE_MAX_BYTES)); then
  die "munge key from '$MUNGE_KEY_SOURCE' is $size bytes; munged needs ${MUNGE_MIN_BYTES}-${MUNGE_MAX_BYTES} bytes. Create one with: head -c 1024 /dev/urandom > munge.key, and store that"
fi

# Layout and modes as Debian's munge package uses them; munged refuses insecure key/log/seed dirs.
ensure_dir "$(dirname "$MUNGE_KEY_FILE")" munge:munge 0700
ensure_dir /run/munge munge:munge 0755
ensure_dir /var/lib/munge munge:munge 0711
ensure_dir /var/log/munge munge:munge 0700

install_if_changed "$key_tmp" "$MUNGE_KEY_FILE" munge:munge 0400
key_changed=$INSTALL_CHANGED

munged_cmd=(munged --key-file="$MUNGE_KEY_FILE")
if [[ "$MUNGE_KEY_FILE" != /etc/munge/munge.key ]] && have_systemd; then
  set_default_option munge OPTIONS "--key-file=$MUNGE_KEY_FILE"
  ((INSTALL_CHANGED)) && key_changed=1
fi

if ((key_changed)) && service_running munge "$MUNGE_PIDFILE" munged; then
  log "munge key changed: restarting munged"
  restart_service --user munge munge "$MUNGE_PIDFILE" "${munged_cmd[@]}"
else
  start_service --user munge munge "$MUNGE_PIDFILE" "${munged_cmd[@]}"
fi

_munge_roundtrip() { munge -n </dev/null | unmunge >/dev/null; }
retry 5 0.5 _munge_roundtrip ||
  die "munged is running but 'munge -n | unmunge' fails; check /var/log/munge/munged.log and that /run/munge is 0755"
log "munge OK (key ${size} bytes, $([[ $key_changed == 1 ]] && echo changed || echo unchanged))"
