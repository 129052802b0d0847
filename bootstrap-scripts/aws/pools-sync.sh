#!/usr/bin/env bash
# Controller step on AWS: copy each pool's launch settings from SSM Parameter Store (published by Terraform,
# so they may hold apply-time IDs) to /etc/cdktf-slurm/pools/<pool>.env, where the ResumeProgram reads them.
# Input: AWS_POOL_PARAMETERS, the parameter path (e.g. /cdktf-slurm/hpc/pools). Safe to re-run.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"
load_node_env
require_var AWS_POOL_PARAMETERS "the SSM path the pools publish their launch settings under"

pools_dir=/etc/cdktf-slurm/pools
ensure_dir "$pools_dir" root:root 0755
ensure_aws_cli
region=${AWS_REGION:-$(retry 5 1 _imds_aws meta-data/placement/region)}
make_tmpdir tmp
retry 5 2 aws ssm get-parameters-by-path --region "$region" --path "$AWS_POOL_PARAMETERS" \
  --query 'Parameters[].[Name]' --output text >"$tmp/names"
while read -r name; do
  [[ -n "$name" && "$name" != None ]] || continue
  pool=${name##*/}
  [[ "$pool" =~ ^[a-z][a-z0-9-]*$ ]] || die "pool parameter '$name' has an unexpected name; expected $AWS_POOL_PARAMETERS/<pool>"
  retry 5 2 aws ssm get-parameter --region "$region" --name "$name" --query Parameter.Value --output text >"$tmp/$pool.env"
  grep -q '^AWS_REGION=' "$tmp/$pool.env" || printf "AWS_REGION='%s'\n" "$region" >>"$tmp/$pool.env"
  # slurmctld runs the ResumeProgram as SlurmUser; the settings hold IDs, not secrets.
  install_if_changed "$tmp/$pool.env" "$pools_dir/$pool.env" root:slurm 0640
  ((INSTALL_CHANGED)) && log "pool $pool: launch settings updated"
done <"$tmp/names"
