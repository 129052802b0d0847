#!/usr/bin/env bash
# Controller/dbd step: install the HS256 key slurmctld and slurmdbd verify JWTs with (AuthAltTypes=auth/jwt),
# for slurmrestd. Input: JWT_KEY_SOURCE (file:, aws-secretsmanager:, gcp-secretmanager:, or generate+<store>
# on the controller: 32 random bytes made at first boot, so the key is never in Terraform). The key goes to
# the jwt_key= path of AuthAltParameters in slurm.conf (default /etc/slurm/jwt_hs256.key), 0400 SlurmUser.
# Safe to re-run: the file is rewritten only when the key changed.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$here/lib/common.sh"
load_node_env

if [[ -z "${JWT_KEY_SOURCE:-}" ]]; then
  log "JWT_KEY_SOURCE not set: no JWT authentication (slurmrestd stays off)"
  exit 0
fi
if [[ "$JWT_KEY_SOURCE" == generate+* && " ${CDKTF_SLURM_ROLES:-} " != *" controller "* ]]; then
  die "JWT_KEY_SOURCE='$JWT_KEY_SOURCE' uses generate+ but this host's roles are '${CDKTF_SLURM_ROLES:-}'; only the controller may create the key"
fi

conf="$CDKTF_SLURM_STAGING_DIR/slurm.conf"
[[ -f "$conf" ]] || conf="$SLURM_CONF_DIR/slurm.conf"
slurm_user=$(conf_get "$conf" SlurmUser slurm)
alt=$(conf_get "$conf" AuthAltParameters "")
key_file=/etc/slurm/jwt_hs256.key
if [[ "$alt" =~ (^|,)jwt_key=([^,]+) ]]; then key_file=${BASH_REMATCH[2]}; fi
[[ "$key_file" == /* ]] || die "jwt_key='$key_file' in AuthAltParameters of $conf must be an absolute path"

# new_jwt_key FILE : 32 random bytes, what SchedMD's JWT guide uses for HS256.
new_jwt_key() { (umask 077 && head -c 32 /dev/urandom >"$1"); }
make_tmpdir work
fetch_or_generate "$JWT_KEY_SOURCE" "$work/jwt.key" new_jwt_key "a 32-byte JWT key"
size=$(stat -c %s "$work/jwt.key")
((size >= 32)) || die "JWT key from '$JWT_KEY_SOURCE' is $size bytes; use at least 32 random bytes"

ensure_parent_dir "$key_file" root
install_if_changed "$work/jwt.key" "$key_file" "$slurm_user:$slurm_user" 0400
if ((INSTALL_CHANGED)); then log "installed the JWT key at $key_file (0400 $slurm_user)"; else log "JWT key at $key_file unchanged"; fi
