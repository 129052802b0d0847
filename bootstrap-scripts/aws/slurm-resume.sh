#!/usr/bin/env bash
# Slurm ResumeProgram for AWS cloud pools: slurmctld runs it as SlurmUser with a hostlist
# (`gpu-[0-3],cpu-7`). For each node without a live instance, launch one from its pool's launch template,
# tagged Name / slurm:node-name / slurm:cluster (instance and volumes); the node reads its Slurm name back
# from those tags (node-name.sh). Nodes that cannot be launched are set DOWN with a reason, so slurmctld
# stops waiting for them and requeues their jobs.
#
# One run-instances call per node: `--count N` cannot tag instances with different names, and naming them
# after launch would race the node's boot. Calls run in parallel (RESUME_PARALLELISM, default 10), and a
# per-attempt client token keeps a retried call from launching a second instance.
# Capacity errors move on to the pool's next subnet; throttling and 5xx are retried on the same subnet.
# Log: /var/log/slurm/resume.log. Pool settings: see pool-env.sh.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
LOG_TAG=resume
# Run as SlurmUser: log beside slurmctld's log, not to the root-only bootstrap log.
: "${CDKTF_SLURM_LOG_DIR:=/var/log/slurm}"
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=pool-env.sh
source "$here/aws/pool-env.sh"
CDKTF_SLURM_LOG_FILE="$CDKTF_SLURM_LOG_DIR/resume.log"

(($# == 1)) || die "usage: slurm-resume.sh HOSTLIST (slurmctld passes the nodes to start, e.g. gpu-[0-3],cpu-7)"
[[ "${RESUME_PARALLELISM:-10}" =~ ^[1-9][0-9]*$ ]] || die "RESUME_PARALLELISM must be a positive integer, got '${RESUME_PARALLELISM}'"
[[ "${AWS_RETRY_DELAY:-2}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "AWS_RETRY_DELAY must be seconds, got '${AWS_RETRY_DELAY}'"

CAPACITY_ERRORS=' InsufficientInstanceCapacity InsufficientHostCapacity InsufficientReservedInstanceCapacity InsufficientFreeAddressesInSubnet Unsupported '
TRANSIENT_ERRORS=' RequestLimitExceeded Throttling InternalError ServiceUnavailable Unavailable '
ATTEMPTS_PER_SUBNET=3

make_tmpdir work
mkdir -p "$work/failed"
started=$(date +%s)

# fail_node NODE REASON : record that NODE could not be started (set DOWN at the end).
fail_node() {
  printf '%s\n' "$2" >"$work/failed/$1"
  log "$1: $2"
}

# launch_node NODE : start one instance for NODE with the current pool's settings. Always returns 0;
# failures land in $work/failed.
launch_node() {
  local node=$1 subnet code attempt token id err delay tried=() subnet_arg
  local -a tags_json market=() placement=()
  local tags="[{\"Key\":\"Name\",\"Value\":\"$node\"},{\"Key\":\"slurm:node-name\",\"Value\":\"$node\"},{\"Key\":\"slurm:cluster\",\"Value\":\"$CLUSTER_NAME\"}]"
  tags_json=("[{\"ResourceType\":\"instance\",\"Tags\":$tags},{\"ResourceType\":\"volume\",\"Tags\":$tags}]")
  if [[ "$CAPACITY_TYPE" == spot ]]; then
    market=(--instance-market-options '{"MarketType":"spot","SpotOptions":{"SpotInstanceType":"one-time","InstanceInterruptionBehavior":"terminate"}}')
  fi
  [[ -z "$PLACEMENT_GROUP" ]] || placement=(--placement "{\"GroupName\":\"$PLACEMENT_GROUP\"}")
  err="$work/$node.err"
  for subnet in $SUBNET_IDS; do
    tried+=("$subnet")
    delay=${AWS_RETRY_DELAY:-2}
    for ((attempt = 1; attempt <= ATTEMPTS_PER_SUBNET; attempt++)); do
      # Same token for retries of one attempt would be better, but a token is tied to its parameters and
      # a throttled call never launched anything: one token per call, unique per resume run.
      token=$(printf '%s/%s/%s/%s/%s' "$CLUSTER_NAME" "$node" "$started" "$subnet" "$attempt" | sha256sum | cut -c1-64)
      subnet_arg=(--subnet-id "$subnet")
      [[ "$NETWORK_INTERFACES_IN_TEMPLATE" == 1 ]] && subnet_arg=()
      if id=$(aws --region "$AWS_REGION" ec2 run-instances \
        --launch-template "LaunchTemplateId=$LAUNCH_TEMPLATE_ID,Version=$LAUNCH_TEMPLATE_VERSION" \
        "${subnet_arg[@]}" --count 1 --client-token "$token" \
        --tag-specifications "${tags_json[@]}" "${market[@]}" "${placement[@]}" \
        --query 'Instances[0].InstanceId' --output text 2>"$err"); then
        log "$node: launched $id in $subnet ($CAPACITY_TYPE, template $LAUNCH_TEMPLATE_ID v$LAUNCH_TEMPLATE_VERSION)"
        return 0
      fi
      code=$(aws_error_code "$err")
      if [[ "$CAPACITY_ERRORS" == *" $code "* ]]; then
        log "$node: $code in $subnet; trying the next subnet"
        break
      fi
      if [[ -z "$code" || "$TRANSIENT_ERRORS" == *" $code "* ]] && ((attempt < ATTEMPTS_PER_SUBNET)); then
        log "$node: run-instances in $subnet failed (${code:-no error code}: $(head -c 200 "$err")); retry $attempt/$((ATTEMPTS_PER_SUBNET - 1)) in ${delay}s"
        sleep "$delay"
        delay=$(awk -v d="$delay" 'BEGIN { print d * 2 }')
        continue
      fi
      fail_node "$node" "${code:-run-instances failed} in $subnet: $(head -c 200 "$err" | tr -d '"\n')"
      return 0
    done
  done
  fail_node "$node" "no capacity in ${tried[*]}"
  return 0
}

# Not a process substitution: a failed expansion must stop the program, not yield an empty list.
hosts=$(expand_hostlist "$1")
declare -A by_pool=()
while IFS= read -r node; do
  [[ -n "$node" ]] || continue
  pool=$(node_pool "$node") || {
    fail_node "$node" "name is not <pool>-<index>"
    continue
  }
  by_pool[$pool]+="$node "
done <<<"$hosts"
log "resume $1: pools ${!by_pool[*]}"

for pool in "${!by_pool[@]}"; do
  read -r -a nodes <<<"${by_pool[$pool]}"
  # A bad pool file fails that pool's nodes, not the whole run (die exits only the subshell).
  if ! (load_pool "$pool" && check_pool_launch "$pool") 2>/dev/null; then
    for node in "${nodes[@]}"; do fail_node "$node" "pool '$pool' settings unreadable or invalid (see pool-env.sh $pool)"; done
    continue
  fi
  load_pool "$pool"
  check_pool_launch "$pool"

  # slurmctld may resume a node again (ResumeTimeout, restart): never start a second instance for it.
  if ! live=$(ec2_instances_by_name "$AWS_REGION" "$CLUSTER_NAME" pending,running "${nodes[@]}"); then
    for node in "${nodes[@]}"; do fail_node "$node" "describe-instances failed in $AWS_REGION"; done
    continue
  fi
  declare -A has_instance=()
  while read -r id name; do
    [[ -n "${name:-}" ]] || continue
    has_instance[$name]=$id
  done <<<"$live"

  running=0
  for node in "${nodes[@]}"; do
    if [[ -n "${has_instance[$node]:-}" ]]; then
      log "$node: already has instance ${has_instance[$node]}; not launching another"
      continue
    fi
    launch_node "$node" &
    running=$((running + 1))
    if ((running >= ${RESUME_PARALLELISM:-10})); then
      wait -n || true
      running=$((running - 1))
    fi
  done
  wait
  unset has_instance
done

# Nodes that failed, grouped by reason: one scontrol call per reason.
declare -A by_reason=()
shopt -s nullglob
failed=("$work"/failed/*)
for f in "${failed[@]}"; do
  reason=$(head -c 180 "$f" | tr -d '"\n')
  by_reason[$reason]+="${by_reason[$reason]:+,}$(basename "$f")"
done
for reason in "${!by_reason[@]}"; do
  if ! scontrol update nodename="${by_reason[$reason]}" state=down reason="resume failed: $reason" >>"$CDKTF_SLURM_LOG_FILE" 2>&1; then
    log "could not set ${by_reason[$reason]} DOWN (scontrol failed); slurmctld will mark them down after ResumeTimeout"
  fi
done
if ((${#failed[@]})); then
  die "resume $1: ${#failed[@]} node(s) failed and were set DOWN: $(IFS=,; printf '%s' "${failed[*]##*/}")"
fi
log "resume $1: done"
