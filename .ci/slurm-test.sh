#!/usr/bin/env bash
# CI: a real single-node Slurm from Debian's packages (slurm-wlm, munge). Starts munged,
# slurmctld and slurmd with a private configuration (proctrack/linuxproc, no cgroups,
# select/cons_tres over the CPUs slurmd detects), runs the smoke study once in one process, then
# submits it with the project's deploy/slurm/submit.sh (plan, one array task per trial, a
# dependent collect job), waits, and checks that the collected results equal the single-process
# ones (.ci/compare-runs.ts). Skips (exit 0, with the reason) only when the packages cannot be
# installed or it cannot run as root. Stops every daemon it started.
#
# usage: .ci/slurm-test.sh            (DENO: the deno command, default npx --yes deno@2.9.6)
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export NO_COLOR=1 DEBIAN_FRONTEND=noninteractive
t0=$(date +%s)
say() { echo "slurm-test [$(($(date +%s) - t0)) s]: $*"; }
skip() {
  echo "SKIP slurm test: $*"
  exit 0
}

[ "$(id -u)" -eq 0 ] || skip "needs root to start slurmd and munged (running as $(id -un))"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
  ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm munge"
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge; } \
    >/tmp/ci-slurm-apt.log 2>&1; then
    skip "apt-get install slurm-wlm munge failed: $(tail -3 /tmp/ci-slurm-apt.log | tr '\n' ' ')"
  fi
fi
say "slurm-wlm $(dpkg-query -W -f '${Version}' slurm-wlm 2>/dev/null)"

# The deno binary itself, so that jobs run it without npx.
read -r -a deno_cmd <<<"${DENO:-npx --yes deno@2.9.6}"
deno_bin=$("${deno_cmd[@]}" eval 'console.log(Deno.execPath())' 2>/dev/null | tail -1)
[ -x "$deno_bin" ] || {
  echo "slurm-test: cannot find the deno binary (${deno_cmd[*]})"
  exit 1
}
export DENO="$deno_bin" PATH="$(dirname "$deno_bin"):$PATH"

work=$(mktemp -d /tmp/ci-slurm.XXXXXX)
started_munge="" status=1
cleanup() {
  [ -f "$work/slurmctld.pid" ] && scancel --quiet --user=root 2>/dev/null
  for d in slurmd slurmctld; do
    [ -f "$work/$d.pid" ] || continue
    pid=$(cat "$work/$d.pid")
    kill "$pid" 2>/dev/null
    # Wait for it to exit: slurmctld writes its state folder while stopping, which raced rm.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  [ -n "$started_munge" ] && kill "$started_munge" 2>/dev/null
  if [ "$status" -eq 0 ]; then rm -rf "$work"; else echo "slurm-test: files kept in $work"; fi
}
trap cleanup EXIT

# munge: reuse a running munged, else start one (the package made /etc/munge/munge.key).
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    (umask 077 && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none)
    chown munge:munge /etc/munge/munge.key
  fi
  runuser -u munge -- /usr/sbin/munged || {
    echo "slurm-test: munged does not start"
    exit 1
  }
  started_munge=$(cat /run/munge/munged.pid 2>/dev/null)
  say "munged started (pid $started_munge)"
fi

# A one-node cluster on this machine: what slurmd detects (CPUs, memory), ports of our own.
node=$(hostname -s)
detected=$(slurmd -C | head -1) # NodeName=… CPUs=… RealMemory=…
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/state" "$work/spool" "$work/log"
cat >"$work/slurm.conf" <<EOF
ClusterName=ci
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
$detected NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"
say "node: $detected"
slurmctld -c || {
  echo "slurm-test: slurmctld does not start"
  cat "$work/log/slurmctld.log"
  exit 1
}
slurmd || {
  echo "slurm-test: slurmd does not start"
  cat "$work/log/slurmd.log"
  exit 1
}
for _ in $(seq 60); do
  state=$(sinfo -h -o %t 2>/dev/null)
  [ "$state" = "idle" ] && break
  sleep 1
done
[ "$state" = "idle" ] || {
  echo "slurm-test: node not idle ($state)"
  tail -20 "$work/log/"*.log
  exit 1
}
say "cluster up: $(sinfo -h -o '%P %D node(s) %c CPUs %t')"

say "single-process smoke run"
"$DENO" task reproduce --smoke --backend wasm --out "$work/plain" >"$work/plain.log" 2>&1 || {
  echo "slurm-test: the single-process run failed"
  tail -30 "$work/plain.log"
  exit 1
}

say "submitting the smoke study with deploy/slurm/submit.sh"
deploy/slurm/submit.sh --smoke --backend wasm --out "$work/dist" >"$work/submit.log" 2>&1 || {
  echo "slurm-test: submit.sh failed"
  tail -30 "$work/submit.log"
  exit 1
}
tail -6 "$work/submit.log"
arrays=$(sed -n 1p "$work/dist/slurm/jobs")
collect=$(sed -n 2p "$work/dist/slurm/jobs")
n=$(grep -c . "$work/dist/trials.jsonl")

job_state() { scontrol show job "$1" -o 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort | uniq -c | tr '\n' ' '; }
deadline=$(($(date +%s) + 1500))
while :; do
  state=$(scontrol show job "$collect" -o 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
  case "$state" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
  if [ "$(date +%s)" -gt "$deadline" ]; then
    echo "slurm-test: timed out waiting for collect job $collect ($state)"
    break
  fi
  sleep 5
done
for a in $arrays; do say "array job $a: $(job_state "$a")"; done
say "collect job $collect: $state"
if [ "$state" != "COMPLETED" ]; then
  for f in "$work/dist/slurm/"*.out; do
    echo "--- $f"
    tail -15 "$f"
  done
  tail -20 "$work/log/slurmctld.log"
  exit 1
fi
tail -12 "$work/dist/slurm/collect-$collect.out"

if "$DENO" run --allow-read .ci/compare-runs.ts "$work/plain" "$work/dist"; then
  status=0
  say "PASS: $n trials as a Slurm job array + collect = one reproduce process"
else
  say "FAIL: collected results differ from the single-process run"
fi
exit "$status"
