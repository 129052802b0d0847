#!/usr/bin/env bash
# Pool settings shared by slurm-resume.sh and slurm-suspend.sh, which source this file. Run on its own,
# `pool-env.sh POOL` checks /etc/cdktf-slurm/pools/POOL.env and prints what the programs would use.
#
# One env file per cloud pool, written by the AWS backend, readable by SlurmUser (root:slurm 0640):
#   LAUNCH_TEMPLATE_ID       lt-…                         (required to resume)
#   LAUNCH_TEMPLATE_VERSION  a number, $Default or $Latest (required to resume; pin a number)
#   SUBNET_IDS               space-separated subnet-…, tried in order on capacity errors
#   CAPACITY_TYPE            on-demand | spot              (default on-demand)
#   PLACEMENT_GROUP          cluster placement group name  (optional)
#   AWS_REGION               e.g. eu-west-1                (required)
#   CLUSTER_NAME             Slurm ClusterName, tags every instance (required)
#   NETWORK_INTERFACES_IN_TEMPLATE  1 when the template defines the network interfaces (EFA pools): then
#                            the subnet is the template's and run-instances must not name one (default 0)
# Overrides for tests and unusual layouts: CDKTF_SLURM_POOLS_DIR (default /etc/cdktf-slurm/pools).
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# slurmctld runs these programs as SlurmUser: log next to slurmctld's own log, not to the root-only
# bootstrap log.
: "${CDKTF_SLURM_LOG_DIR:=/var/log/slurm}"
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"

: "${CDKTF_SLURM_POOLS_DIR:=/etc/cdktf-slurm/pools}"
# slurmctld starts programs with a bare environment; the AWS CLI wants a HOME (its config lives there).
export HOME="${HOME:-/nonexistent}"

POOL_KEYS=(LAUNCH_TEMPLATE_ID LAUNCH_TEMPLATE_VERSION SUBNET_IDS CAPACITY_TYPE PLACEMENT_GROUP AWS_REGION CLUSTER_NAME NETWORK_INTERFACES_IN_TEMPLATE)

# node_pool NODE : the pool of a node named <pool>-<index>; fails for other names.
node_pool() {
  [[ "$1" =~ ^([a-z][a-z0-9-]*)-([0-9]+)$ ]] || return 1
  printf '%s\n' "${BASH_REMATCH[1]}"
}

# expand_hostlist HOSTLIST : one node name per line, via Slurm's own parser.
expand_hostlist() {
  local out
  out=$(scontrol show hostnames "$1" 2>&1) || die "scontrol show hostnames '$1' failed: ${out:0:300}"
  [[ -n "$out" ]] || die "hostlist '$1' expands to no nodes"
  printf '%s\n' "$out"
}

# load_pool POOL : read and check POOL's env file into the POOL_KEYS variables (cleared first, so one
# pool's values never leak into the next). Only what both programs need is required here.
load_pool() {
  local pool=$1 file="$CDKTF_SLURM_POOLS_DIR/$1.env" key
  for key in "${POOL_KEYS[@]}"; do unset "$key"; done
  [[ -r "$file" ]] || die "pool '$pool': cannot read $file; the AWS backend writes one env file per cloud pool (readable by SlurmUser). Check the pool name and the file's owner/mode (root:slurm 0640)"
  # shellcheck source=/dev/null
  source "$file" || die "pool '$pool': $file is not valid shell (KEY='value' lines expected)"
  for key in "${POOL_KEYS[@]}"; do [[ -n "${!key:-}" ]] || printf -v "$key" '%s' ''; done
  [[ "$AWS_REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "pool '$pool': AWS_REGION='$AWS_REGION' in $file is not a region name; set e.g. AWS_REGION='eu-west-1'"
  [[ "$CLUSTER_NAME" =~ ^[a-z][a-z0-9_-]{0,39}$ ]] || die "pool '$pool': CLUSTER_NAME='$CLUSTER_NAME' in $file must be the Slurm ClusterName (lower-case, starts with a letter)"
}

# check_pool_launch POOL : the extra settings resuming needs.
check_pool_launch() {
  local pool=$1 file="$CDKTF_SLURM_POOLS_DIR/$1.env" s
  [[ "$LAUNCH_TEMPLATE_ID" =~ ^lt-[0-9a-f]{8,32}$ ]] || die "pool '$pool': LAUNCH_TEMPLATE_ID='$LAUNCH_TEMPLATE_ID' in $file is not a launch template id (lt-…)"
  [[ "$LAUNCH_TEMPLATE_VERSION" =~ ^([1-9][0-9]*|\$Default|\$Latest)$ ]] || die "pool '$pool': LAUNCH_TEMPLATE_VERSION='$LAUNCH_TEMPLATE_VERSION' in $file must be a version number (or \$Default/\$Latest)"
  [[ -n "$SUBNET_IDS" ]] || die "pool '$pool': SUBNET_IDS is empty in $file; list the pool's subnets, space-separated"
  for s in $SUBNET_IDS; do
    [[ "$s" =~ ^subnet-[0-9a-f]{8,32}$ ]] || die "pool '$pool': '$s' in SUBNET_IDS of $file is not a subnet id (subnet-…)"
  done
  CAPACITY_TYPE=${CAPACITY_TYPE:-on-demand}
  [[ "$CAPACITY_TYPE" == on-demand || "$CAPACITY_TYPE" == spot ]] || die "pool '$pool': CAPACITY_TYPE='$CAPACITY_TYPE' in $file must be on-demand or spot"
  [[ -z "$PLACEMENT_GROUP" || "$PLACEMENT_GROUP" =~ ^[A-Za-z0-9._:-]{1,255}$ ]] || die "pool '$pool': PLACEMENT_GROUP='$PLACEMENT_GROUP' in $file is not a placement group name"
  NETWORK_INTERFACES_IN_TEMPLATE=${NETWORK_INTERFACES_IN_TEMPLATE:-0}
  [[ "$NETWORK_INTERFACES_IN_TEMPLATE" == 0 || "$NETWORK_INTERFACES_IN_TEMPLATE" == 1 ]] || die "pool '$pool': NETWORK_INTERFACES_IN_TEMPLATE='$NETWORK_INTERFACES_IN_TEMPLATE' in $file must be 0 or 1"
  # EC2 refuses --subnet-id with a template that defines interfaces; the template's one subnet is used.
  if [[ "$NETWORK_INTERFACES_IN_TEMPLATE" == 1 && "$SUBNET_IDS" == *" "* ]]; then
    die "pool '$pool': NETWORK_INTERFACES_IN_TEMPLATE=1 needs exactly one subnet (the template's), SUBNET_IDS='$SUBNET_IDS' in $file"
  fi
}

# aws_error_code FILE : the AWS error code in a CLI error message ("An error occurred (Code) when …").
aws_error_code() {
  sed -n 's/.*An error occurred (\([A-Za-z0-9.]*\)).*/\1/p' "$1" | head -n1
}

# ec2_instances_by_name REGION CLUSTER STATES NODE… : "<instance-id> <node>" lines for the cluster's
# instances tagged with those node names, in the given states (comma-separated). Chunks of 100 names
# keep each filter well inside EC2's limits.
ec2_instances_by_name() {
  local region=$1 cluster=$2 states=$3 names i err
  shift 3
  local -a all=("$@")
  err=$(mktemp)
  for ((i = 0; i < ${#all[@]}; i += 100)); do
    names=$(IFS=,; printf '%s' "${all[*]:i:100}")
    # shellcheck disable=SC2016 # the backticks are JMESPath literals, not command substitution
    if ! retry 4 "${AWS_RETRY_DELAY:-2}" aws --region "$region" ec2 describe-instances \
      --filters "Name=tag:slurm:cluster,Values=$cluster" "Name=tag:slurm:node-name,Values=$names" \
      "Name=instance-state-name,Values=$states" \
      --query 'Reservations[].Instances[].[InstanceId, Tags[?Key==`slurm:node-name`].Value | [0]]' \
      --output text 2>"$err"; then
      log "describe-instances failed: $(head -c 300 "$err")"
      rm -f "$err"
      return 1
    fi
  done
  rm -f "$err"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  (($# == 1)) || die "usage: pool-env.sh POOL (checks $CDKTF_SLURM_POOLS_DIR/POOL.env)"
  load_pool "$1"
  check_pool_launch "$1"
  for key in "${POOL_KEYS[@]}"; do printf '%s=%q\n' "$key" "${!key}"; done
fi
