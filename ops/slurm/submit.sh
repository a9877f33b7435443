#!/usr/bin/env bash
# Submits a night's batch on Slurm: plan → worker array → merge, each step after the previous one.
#
#   STORE=s3://nightly-runs/runs/$(date +%F) CONFIG=jobs/nightly.yaml bash ops/slurm/submit.sh
#
# The steps inherit this shell's environment (sbatch --export=ALL): the store URL, the config, the
# bot's keys the config references with {env: …}, and the AWS variables for the store
# (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, AWS_ENDPOINT_URL_S3 for MinIO/Ceph/R2).
set -euo pipefail
cd "$(dirname "$0")"
: "${STORE:?set STORE=s3://bucket/prefix}"
: "${CONFIG:?set CONFIG=path/to/job.yaml}"
export STORE CONFIG
plan=$(sbatch --parsable --export=ALL plan.sbatch)
workers=$(sbatch --parsable --export=ALL --dependency="afterok:$plan" workers.sbatch)
merge=$(sbatch --parsable --export=ALL --dependency="afterany:$workers" merge.sbatch)
echo "plan $plan → workers $workers → merge $merge   (watch: chatbot-tester status --store $STORE)"
