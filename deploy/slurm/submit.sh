#!/usr/bin/env bash
# Plans a study and submits it to Slurm: one array task per trial (deploy/slurm/reproduce.sbatch)
# and a collect job that starts when every task succeeded (--dependency=afterok).
#
# usage: deploy/slurm/submit.sh --out DIR [reproduce options, e.g. --corpus iemocap --data PATH]
#          [-- sbatch options for every job, e.g. --partition=gpu --gres=gpu:1 --time=12:00:00]
#
# DIR must be on a file system every node mounts. Prints the job ids and writes them to
# DIR/slurm/jobs (array job ids on the first line, the collect job on the second); job logs
# go to DIR/slurm/. REPRO_ARRAY_THROTTLE=K runs at most K trials at once.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
read -r -a deno <<<"${DENO:-deno}"
out="" repro=() extra=()
while (($#)); do
  case "$1" in
    --) shift; extra=("$@"); break ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --trial* | --collect) echo "submit.sh: $1 is what the jobs run; give the experiment only" >&2; exit 2 ;;
    *) repro+=("$1"); shift ;;
  esac
done
[ -n "$out" ] || { echo "submit.sh: --out DIR is required (on a file system the nodes share)" >&2; exit 2; }
out=$(realpath -m "$out")

cd "$repo"
"${deno[@]}" task reproduce --plan "${repro[@]}" --out "$out"
n=$(grep -c . "$out/trials.jsonl")
workers=$("${deno[@]}" eval \
  "console.log(JSON.parse(Deno.readTextFileSync('$out/plan.json')).config.training.workers)")
max=$(scontrol show config 2>/dev/null | awk '$1 == "MaxArraySize" {print $3}')
max=${max:-1001}
mkdir -p "$out/slurm"
export REPRO_OUT="$out" REPRO_REPO="$repo"
common=(--parsable --chdir="$repo" --export=ALL "${extra[@]}")
arrays=()
for ((off = 0; off < n; off += max)); do
  len=$((n - off < max ? n - off : max))
  range="0-$((len - 1))${REPRO_ARRAY_THROTTLE:+%$REPRO_ARRAY_THROTTLE}"
  id=$(TRIAL_OFFSET=$off REPRO_MODE=trial sbatch "${common[@]}" --array="$range" \
    --cpus-per-task="$workers" --job-name=emo-e2e-trials \
    --output="$out/slurm/trial-%A_%a.out" deploy/slurm/reproduce.sbatch)
  arrays+=("${id%%;*}")
done
dependency="afterok$(printf ':%s' "${arrays[@]}")"
collect=$(REPRO_MODE=collect sbatch "${common[@]}" --dependency="$dependency" \
  --kill-on-invalid-dep=yes --cpus-per-task=1 --job-name=emo-e2e-collect \
  --output="$out/slurm/collect-%j.out" deploy/slurm/reproduce.sbatch)
collect=${collect%%;*}
printf '%s\n%s\n' "${arrays[*]}" "$collect" >"$out/slurm/jobs"
cat <<MSG
submitted $n trials as array job(s) ${arrays[*]} ($workers CPUs each) and collect job $collect
follow:  squeue -j ${arrays[*]// /,},$collect    (sacct -j … once it is done)
         tail -f $out/slurm/trial-${arrays[0]}_0.out
results: $out/results.json and $out/table.md once job $collect completed
         (its log: $out/slurm/collect-$collect.out)
a failed trial I: scancel $collect; REPRO_OUT=$out REPRO_REPO=$repo sbatch --export=ALL \\
         --array=I deploy/slurm/reproduce.sbatch; then the collect job again (see README)
MSG
