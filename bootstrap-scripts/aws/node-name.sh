#!/usr/bin/env bash
# Print this instance's Slurm node name, read from its `slurm:node-name` tag through the instance metadata
# service (IMDSv2, session token). slurm-resume.sh sets the tag at launch; the launch template must enable
# tags in metadata (instance_metadata_tags = "enabled"). The node's bootstrap uses the name for the
# hostname and SLURMD_NODENAME.
# Honours AWS_EC2_METADATA_SERVICE_ENDPOINT (tests, IPv6 IMDS).
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
LOG_TAG=node-name
# shellcheck source-path=SCRIPTDIR/.. source=lib/common.sh
source "$here/lib/common.sh"

TAG_PATH='meta-data/tags/instance/slurm:node-name'

# IMDS may not answer in the first seconds of boot: retry before concluding anything.
name=$(retry "${IMDS_ATTEMPTS:-10}" 1 _imds_aws "$TAG_PATH") ||
  die "no slurm:node-name tag in instance metadata (${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}/latest/$TAG_PATH); launch the node with slurm-resume.sh and enable instance_metadata_tags in the launch template"
[[ "$name" =~ ^[a-z][a-z0-9-]*-[0-9]+$ ]] ||
  die "tag slurm:node-name is '$name', not a node name of the form <pool>-<index>; the instance was not launched by slurm-resume.sh"
printf '%s\n' "$name"
