#!/usr/bin/env bash
# First step on AWS nodes, before bootstrap.sh: download the bootstrap scripts this node needs from the
# cluster's S3 bucket with the instance role, check each against the SHA-256 in the manifest cloud-init
# wrote, and install them under /opt/cdktf-slurm/bootstrap. Scripts travel this way because they do not fit
# EC2's 16 KiB user-data. curl signs the requests itself (SigV4), so no AWS CLI is needed yet. Files that
# already match are kept, so a re-run changes nothing.
# Inputs: the instance tag slurm:scripts-bucket (read through IMDSv2; SCRIPTS_BUCKET in the node env file
# overrides it), SCRIPTS_PREFIX (default bootstrap), AWS_REGION (default: from IMDSv2).
# Tests may set CDKTF_SLURM_ENV_FILE, CDKTF_SLURM_MANIFEST, CDKTF_SLURM_BOOTSTRAP_DIR, CDKTF_SLURM_LOG_DIR,
# AWS_EC2_METADATA_SERVICE_ENDPOINT, SCRIPTS_ENDPOINT and FETCH_ATTEMPTS (default 5).
set -euo pipefail

env_file=${CDKTF_SLURM_ENV_FILE:-/etc/cdktf-slurm/node.env}
manifest=${CDKTF_SLURM_MANIFEST:-/etc/cdktf-slurm/bootstrap.sha256}
dest=${CDKTF_SLURM_BOOTSTRAP_DIR:-/opt/cdktf-slurm/bootstrap}
log_dir=${CDKTF_SLURM_LOG_DIR:-/var/log/cdktf-slurm}
mkdir -p "$log_dir" && chmod 0750 "$log_dir"

log() { printf '%s [fetch] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" | tee -a "$log_dir/bootstrap.log" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
# attempt N CMD… : run CMD up to N times, 2 s, 4 s, 8 s … apart.
attempt() {
  local n=$1 i delay=2
  shift
  for ((i = 1; i <= n; i++)); do
    "$@" && return 0
    ((i < n)) || break
    log "attempt $i/$n of '$1' failed; retrying in $delay s"
    sleep "$delay"
    delay=$((delay * 2))
  done
  return 1
}

[[ -r "$env_file" ]] || die "node env file $env_file is missing; cloud-init writes it before this step"
[[ -r "$manifest" ]] || die "script manifest $manifest is missing; cloud-init writes it before this step"
set -a
# shellcheck source=/dev/null
. "$env_file"
set +a
prefix=${SCRIPTS_PREFIX:-bootstrap}
tries=${FETCH_ATTEMPTS:-5}

imds_base=${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}
imds() {
  local token
  token=$(curl -fsS --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds_base/latest/api/token") || return 1
  curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$imds_base/latest/$1"
}

region=${AWS_REGION:-}
[[ -n "$region" ]] || region=$(attempt "$tries" imds meta-data/placement/region) || die "cannot read the region from IMDSv2; set AWS_REGION in $env_file"
bucket=${SCRIPTS_BUCKET:-}
[[ -n "$bucket" ]] || bucket=$(attempt "$tries" imds meta-data/tags/instance/slurm:scripts-bucket) ||
  die "no slurm:scripts-bucket instance tag in IMDSv2; the launch template must tag instances with it and enable instance_metadata_tags"
role=$(attempt "$tries" imds meta-data/iam/security-credentials/) || die "this instance has no IAM role (IMDSv2 gave none); give the launch template the pool's instance profile"
role=$(printf '%s\n' "$role" | head -n 1)

work=$(umask 077 && mktemp -d)
trap 'rm -rf "$work"' EXIT
attempt "$tries" imds "meta-data/iam/security-credentials/$role" >"$work/creds.json" || die "cannot read role $role's credentials from IMDSv2"
# The keys go to curl through a 0600 config file, never on a command line.
/usr/bin/env python3 - "$work/creds.json" "$work/curl.conf" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1]))
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    f.write('user = "%s:%s"\n' % (c["AccessKeyId"], c["SecretAccessKey"]))
    f.write('header = "x-amz-security-token: %s"\n' % c["Token"])
PY
rm -f "$work/creds.json"

endpoint=${SCRIPTS_ENDPOINT:-https://$bucket.s3.$region.amazonaws.com}
fetched=0
kept=0
while read -r want rel; do
  [[ -n "$want" ]] || continue
  [[ "$rel" =~ ^[A-Za-z0-9_./-]+$ && "$rel" != *..* ]] || die "manifest entry '$rel' is not a plain relative path"
  target="$dest/$rel"
  if [[ -f "$target" ]] && [[ "$(sha256sum "$target" | cut -d' ' -f1)" == "$want" ]]; then
    kept=$((kept + 1))
    continue
  fi
  attempt "$tries" curl -fsS --max-time 60 --aws-sigv4 "aws:amz:$region:s3" -K "$work/curl.conf" \
    -o "$work/download" "$endpoint/$prefix/$rel" || die "cannot download s3://$bucket/$prefix/$rel; check the node role may s3:GetObject there"
  got=$(sha256sum "$work/download" | cut -d' ' -f1)
  [[ "$got" == "$want" ]] || die "s3://$bucket/$prefix/$rel has SHA-256 $got, the manifest wants $want; the bucket and this node's user-data are from different deploys: re-apply"
  install -D -m 0755 -o root -g root "$work/download" "$target"
  fetched=$((fetched + 1))
done <"$manifest"
log "bootstrap scripts: $fetched fetched, $kept already in place, from s3://$bucket/$prefix"
