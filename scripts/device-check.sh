#!/usr/bin/env bash
# GPU issue #11's device check: on a lent GPU machine, in one command of under 5 minutes, the
# webgpu bench and the PyTorch peer (CUDA) at the same shapes, then a short EMO-DB training on
# webgpu and on wasm with the same config, compared on the dev set. docs/gpu-check.md explains it.
#
#   scripts/device-check.sh prepare      here: fill .gl/ and .device/ (ignored), print the run call
#   scripts/device-check.sh run [--small]
#                                        on the lent machine ($OUT set by the device tool);
#                                        --small: tiny shapes, for a machine without a GPU
#   scripts/device-check.sh simulate     here: copy exactly what travels to a scratch folder and
#                                        run it there with --small, offline (unshare -n)
#
# The lent machine has no Deno, no Vulkan loader, no internet and no ../shared: Deno travels
# xz-compressed, the node_modules files it needs as a tar.xz, the Vulkan loader as Debian .debs
# (the device README's recipe), the PyTorch peer and a subset of EMO-DB as copies.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEV=.device
SHARED=${SHARED:-../shared}
# EMO-DB subset per speaker (default split: train 03 08 09 11 12 14, dev 10 13, test 15 16).
TRAIN_PER_SPEAKER=8 DEV_PER_SPEAKER=16 TEST_PER_SPEAKER=4
# What travels is capped at 64 MiB (working tree + carried paths).
LIMIT_BYTES=$((64 * 1024 * 1024))

die() { echo "device-check: $*" >&2; exit 1; }

# Bytes of what the device tool sends: tracked and untracked-not-ignored files, plus carried paths.
travel_bytes() {
  local tree carried
  tree=$(git ls-files -co --exclude-standard -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
  carried=$(du -sb .gl "$DEV" 2>/dev/null | awk '{s+=$1} END {print s+0}')
  echo $((tree + carried))
}

# Every `per`-th file of a speaker, spread evenly over the speaker's sorted files (so texts and
# emotions are mixed), copied into .device/emodb/wav.
copy_speaker() {
  local speaker=$1 per=$2 src=$SHARED/data/emodb/wav
  local files
  mapfile -t files < <(ls "$src" | grep "^${speaker}.*\.wav$" | sort)
  local n=${#files[@]} i
  for ((i = 0; i < per && i < n; i++)); do
    cp "$src/${files[$(((2 * i + 1) * n / (2 * per)))]}" "$DEV/emodb/wav/"
  done
}

prepare() {
  command -v deno >/dev/null || die "deno not found"
  [ -d "$SHARED/data/emodb/wav" ] || die "$SHARED/data/emodb/wav not found"
  [ -f "$SHARED/peers/pytorch_speed.py" ] || die "$SHARED/peers/pytorch_speed.py not found"
  git check-ignore -q .gl/x && git check-ignore -q "$DEV/x" ||
    die ".gl/ and $DEV/ must be ignored (.gitignore) so that they travel only when carried"
  mkdir -p .gl "$DEV"
  # The device README's recipe: the Vulkan loader and GL libraries as amd64 .debs.
  if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p /tmp/amd64/partial
    local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o update >/dev/null &&
      (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2) ||
      die "apt-get download of the Vulkan loader failed"
  fi
  local deno_bin
  deno_bin=$(readlink -f "$(command -v deno)")
  if [ ! -f "$DEV/deno.xz" ] || [ "$deno_bin" -nt "$DEV/deno.xz" ]; then
    echo "compressing $deno_bin ($(deno --version | head -1))"
    xz -9 -T2 -c "$deno_bin" >"$DEV/deno.xz.tmp" && mv "$DEV/deno.xz.tmp" "$DEV/deno.xz"
  fi
  echo "packing the node_modules files Deno loads"
  deno run --allow-read scripts/device-check.ts modules >"$DEV/node_modules.txt" || die "modules list"
  tar -cf - -T "$DEV/node_modules.txt" | xz -6 -T2 >"$DEV/node_modules.tar.xz" || die "tar"
  rm -f "$DEV/node_modules.txt"
  mkdir -p "$DEV/peers"
  cp "$SHARED/peers/pytorch_speed.py" "$DEV/peers/"
  rm -rf "$DEV/emodb" && mkdir -p "$DEV/emodb/wav"
  local s
  for s in 03 08 09 11 12 14; do copy_speaker $s $TRAIN_PER_SPEAKER; done
  for s in 10 13; do copy_speaker $s $DEV_PER_SPEAKER; done
  for s in 15 16; do copy_speaker $s $TEST_PER_SPEAKER; done
  cat >"$DEV/emodb/SUBSET.md" <<EOF
A subset of $SHARED/data/emodb for the device check (scripts/device-check.sh prepare):
$TRAIN_PER_SPEAKER files per training speaker, $DEV_PER_SPEAKER per dev speaker and
$TEST_PER_SPEAKER per test speaker of the default split, evenly spaced in each speaker's sorted
file list. Not part of the repository (EMO-DB's README: do not copy the audio into it).
EOF
  (cd "$DEV/emodb/wav" && sha256sum ./*.wav >../sha256.txt)
  echo
  du -sb .gl "$DEV"/* | awk '{printf "%10.1f MiB  %s\n", $1 / 1048576, $2}'
  local total
  total=$(travel_bytes)
  printf "travels in all (tree + .gl + %s): %.1f MiB of 64 MiB\n" "$DEV" "$(awk -v t="$total" 'BEGIN {print t / 1048576}')"
  [ "$total" -le "$LIMIT_BYTES" ] || die "over the 64 MiB limit: shrink the EMO-DB subset"
  cat <<EOF

The device call (device tool 'run', one call, nothing else first):
  command:   bash scripts/device-check.sh run
  carry:     [".gl", "$DEV"]
  timeout_s: 420
It writes summary.md, summary.json and log.txt to \$OUT; docs/gpu-check.md says what to do next.
EOF
}

# ---------------------------------------------------------------------------------------------

STAGES=""
T0=$(date +%s)
elapsed() { echo $(($(date +%s) - T0)); }

# stage NAME MAX_SECONDS COMMAND...: runs COMMAND with a timeout of MAX_SECONDS or what is left
# of the budget (minus RESERVE for the stages after it), logs it, and records it in stages.tsv.
stage() {
  local name=$1 max=$2
  shift 2
  local left=$((BUDGET - $(elapsed) - RESERVE))
  local limit=$((max < left ? max : left))
  if [ "$limit" -lt 5 ]; then
    printf '%s\t0\t-1\tskipped: %ss of the budget left\n' "$name" "$left" >>"$STAGES"
    echo "== $name: skipped (budget)" >>"$LOG"
    return 0
  fi
  echo "== $name (limit ${limit}s): $*" >>"$LOG"
  local s rc
  s=$(date +%s.%N)
  # Through bash, so that COMMAND may be one of the exported functions below.
  timeout -k 5 "$limit" bash -c '"$@"' _ "$@" >>"$LOG" 2>&1
  rc=$?
  printf '%s\t%s\t%d\tlimit %ss\n' "$name" "$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')" \
    "$rc" "$limit" >>"$STAGES"
  echo "== $name: exit $rc after $(elapsed)s in all" >>"$LOG"
  return 0
}
skip() { printf '%s\t0\t-1\tskipped: %s\n' "$1" "$2" >>"$STAGES"; }

# to_json OUT COMMAND...: COMMAND's standard output (JSON lines) into OUT and the log; its status.
to_json() {
  local out=$1
  shift
  "$@" >"$out"
  local rc=$?
  cat "$out"
  return $rc
}

# deno_json OUT SCRIPT ARGS...: a bench script's --json output into OUT (its stderr to the log),
# with the bench tasks' permissions.
deno_json() {
  local out=$1 script=$2
  shift 2
  to_json "$out" "$DENO" run --cached-only --allow-read --allow-env=XDG_RUNTIME_DIR \
    --allow-sys=loadavg "$script" --json "$@"
}

peer_json() {
  local out=$1
  shift
  to_json "$out" "$PYTHON" "$DEV/peers/pytorch_speed.py" "$@"
}

train_run() {
  local backend=$1 workers=$2
  shift 2
  "$DENO" run --cached-only --allow-read --allow-write="$WORK" --allow-env=XDG_RUNTIME_DIR \
    scripts/train.ts --corpus emodb --data "$DEV/emodb" --system e2e-mtl-att --seed 1 \
    --backend "$backend" --workers "$workers" --progress none --no-resume \
    --out "$WORK/train-$backend" "$@"
}

run() {
  local small=0
  [ "${1:-}" = "--small" ] && small=1
  OUT=${OUT:-$ROOT/runs/device-check-out}
  WORK=${WORK:-/tmp/device-check}
  rm -rf "$WORK" && mkdir -p "$WORK" "$OUT" || die "cannot create $WORK or $OUT"
  LOG=$WORK/log.txt STAGES=$WORK/stages.tsv
  : >"$STAGES"
  # The device check must end in under 5 minutes; the stages share this budget. A software
  # adapter (--small, lavapipe) takes minutes for what a GPU does in seconds.
  BUDGET=${BUDGET:-$([ $small = 1 ] && echo 900 || echo 285)} RESERVE=0
  [ -f "$DEV/deno.xz" ] && [ -f "$DEV/node_modules.tar.xz" ] ||
    die "$DEV/ is incomplete: run scripts/device-check.sh prepare first (and carry $DEV)"
  exec 3>&1
  {
    echo "device check, $([ $small = 1 ] && echo small || echo full) mode, $(date -u)"
    echo "machine: $(uname -srm), $(nproc) CPUs"
  } >>"$LOG"

  # --- setup: Vulkan loader, Deno, node_modules ------------------------------------------------
  local s
  s=$(date +%s)
  if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    # The README's recipe; only where no loader exists, since the .debs overwrite system files.
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    echo "unpacked $(ls .gl/*.deb | wc -l) .debs from .gl" >>"$LOG"
  fi
  mkdir -p "$WORK/bin" "$WORK/xdg" && chmod 700 "$WORK/xdg"
  export XDG_RUNTIME_DIR=$WORK/xdg DENO_DIR=$WORK/deno-dir DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
  DENO=$WORK/bin/deno
  xz -dc "$DEV/deno.xz" >"$DENO" && chmod +x "$DENO" || die "cannot unpack $DEV/deno.xz"
  # node_modules arrives as a dangling link (the checkout's own is a link to another folder) or
  # not at all; a real folder that Deno can use is kept.
  if [ ! -d node_modules/.deno ]; then
    rm -rf node_modules
    tar -xJf "$DEV/node_modules.tar.xz" || die "cannot unpack node_modules"
  fi
  printf 'setup\t%d\t0\tloader, deno, node_modules\n' $(($(date +%s) - s)) >>"$STAGES"

  PYTHON=python3
  export DENO WORK PYTHON
  if [ $small = 1 ] && ! python3 -c "import torch" 2>/dev/null && [ -x /usr/bin/python3 ]; then
    PYTHON=/usr/bin/python3 # Debian's python3-torch where python3 is another interpreter
  fi
  local gpu torch vulkan
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
  torch=$("$PYTHON" -c "import torch; print(torch.__version__, 'cuda', torch.cuda.is_available())" 2>/dev/null)
  vulkan=$(ldconfig -p | grep -o 'libvulkan\.so\.1 .*' | head -1)

  # --- the adapter: as found, else with the NVIDIA ICD named explicitly -----------------------
  local probe_cmd=("$DENO" run --cached-only --allow-read --allow-env=XDG_RUNTIME_DIR scripts/device-check.ts probe)
  stage probe 60 bash -c '"$@" > '"$WORK/probe.json"'; cat '"$WORK/probe.json" _ "${probe_cmd[@]}"
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  # The device README's path; elsewhere (another image) look for the driver's manifest outside the
  # loader's default folders, which it searches itself.
  [ -f "$icd" ] || icd=$(find /usr/local /opt -maxdepth 6 -name 'nvidia_icd*.json' 2>/dev/null | head -1)
  if ! grep -q '"backend":"webgpu"' "$WORK/probe.json" 2>/dev/null ||
    grep -q '"software":true' "$WORK/probe.json"; then
    if [ -n "$icd" ] && [ -f "$icd" ]; then
      export VK_DRIVER_FILES=$icd
      export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
      vulkan="$vulkan; VK_DRIVER_FILES=$icd"
      stage probe-nvidia-icd 60 bash -c '"$@" > '"$WORK/probe.json"'; cat '"$WORK/probe.json" _ "${probe_cmd[@]}"
    fi
  fi
  local have_gpu=0
  grep -q '"backend":"webgpu"' "$WORK/probe.json" 2>/dev/null && have_gpu=1

  local meta
  meta=$(printf '{"mode":"%s","date":"%s","machine":"%s","gpu":"%s","deno":"%s","torch":"%s","vulkan":"%s"}' \
    "$([ $small = 1 ] && echo small || echo full)" "$(date -u +%FT%TZ)" "$(uname -srm), $(nproc) CPUs" \
    "${gpu:-none}" "$("$DENO" --version | head -1)" "${torch:-none}" "${vulkan:-none}")
  echo "$meta" >"$WORK/meta.json"

  # --- speed: webgpu bench and the PyTorch peer at the same shapes ----------------------------
  local shapes peer_device peer_threads
  if [ $small = 1 ]; then
    shapes="1x4 1x8" peer_device=cpu peer_threads=2
  else
    shapes="16x500 16x3500" peer_device=cuda peer_threads=8
  fi
  echo "$shapes" >"$WORK/shapes.txt"
  local have_peer=0
  "$PYTHON" -c "import torch" 2>/dev/null && have_peer=1
  local shape b w
  for shape in $shapes; do
    b=${shape%x*} w=${shape#*x}
    if [ $have_peer = 1 ]; then
      # The peer first: it is quick, and its time does not depend on the webgpu bench's outcome.
      stage "peer-$shape" 60 peer_json "$WORK/peer-$shape.json" --device "$peer_device" \
        --threads "$peer_threads" --batch "$b" --windows "$w" --steps $([ "$w" -ge 1000 ] && echo 1 || echo 3)
    else
      skip "peer-$shape" "no PyTorch for $PYTHON"
    fi
  done
  # With a warm-up epoch (steady-state dispatch counts; the first step also packs Adam's
  # moments and compiles every pipeline, whose keys hold the shapes), as the peer warms up too.
  if [ $have_gpu = 1 ]; then
    if [ $small = 1 ]; then
      stage bench-webgpu-1x4 150 deno_json "$WORK/bench-webgpu-1x4.json" scripts/bench.ts --backend webgpu --batch 1 --windows 4 --steps 1
      stage bench-webgpu-1x8 150 deno_json "$WORK/bench-webgpu-1x8.json" scripts/bench.ts --backend webgpu --batch 1 --windows 8 --steps 1
    else
      RESERVE=100 stage bench-webgpu-16x500 70 deno_json "$WORK/bench-webgpu-16x500.json" scripts/bench.ts \
        --backend webgpu --batch 16 --windows 500 --steps 4
    fi
    # Every batch a length of its own, as a corpus's are: buffers of new sizes each step.
    local vshape=$([ $small = 1 ] && echo 1x8 || echo 16x500)
    echo "$vshape" >"$WORK/vary-shape.txt"
    RESERVE=$([ $small = 1 ] && echo 0 || echo 150) stage "bench-webgpu-$vshape-vary" 60 deno_json \
      "$WORK/bench-webgpu-$vshape-vary.json" scripts/bench.ts --backend webgpu \
      --batch "${vshape%x*}" --windows "${vshape#*x}" --steps $([ $small = 1 ] && echo 3 || echo 4) \
      --vary-windows
    # What one dispatch costs the host (a few seconds).
    RESERVE=$([ $small = 1 ] && echo 0 || echo 100) stage host-per-dispatch 30 deno_json \
      "$WORK/host.json" scripts/bench-webgpu-host.ts \
      $([ $small = 1 ] && echo "--dispatches 300 --reps 1" || echo "--dispatches 2000 --reps 3")
    # Where the step's GPU time goes, per program (timestamp queries).
    local pshape=$([ $small = 1 ] && echo 1x8 || echo 16x500)
    RESERVE=$([ $small = 1 ] && echo 0 || echo 100) stage "profile-$pshape" 45 deno_json \
      "$WORK/profile.json" scripts/profile-webgpu.ts --batch "${pshape%x*}" --windows "${pshape#*x}"

  else
    skip bench-webgpu "no WebGPU adapter"
  fi

  # --- short EMO-DB training: webgpu and wasm side by side, same config and seed -----------
  # Same worker count too: wasm trains on that many Web Workers, webgpu runs their jobs in one
  # engine with their dropout masks (train.ts workerPoolSize), so the two differ only by float
  # rounding.
  local config=(--epochs 3 --patience 3)
  # --small: the smoke overlay (small model, one epoch) on 4 utterances per partition.
  [ $small = 1 ] && config=(--smoke --set data.limitPerPartition=4)
  local cpus wasm_workers
  cpus=$(nproc)
  wasm_workers=$((cpus > 9 ? 8 : (cpus > 1 ? cpus - 1 : 1)))
  if [ $have_gpu = 1 ]; then
    RESERVE=$([ $small = 1 ] && echo 0 || echo 60) stage train-webgpu+wasm 150 bash -c '
      "$1" webgpu '"$wasm_workers"' "${@:3}" > "$2/train-webgpu.log" 2>&1 & g=$!
      "$1" wasm '"$wasm_workers"' "${@:3}" > "$2/train-wasm.log" 2>&1; c=$?
      wait $g; gr=$?
      echo "--- webgpu training (exit $gr)"; cat "$2/train-webgpu.log"
      echo "--- wasm training (exit $c)"; cat "$2/train-wasm.log"
      exit $((gr > c ? gr : c))' _ train_run "$WORK" "${config[@]}"
  else
    stage train-wasm 120 train_run wasm "$wasm_workers" "${config[@]}"
  fi

  # --- the conv2 programs' register blocks, front-end alone: which one to keep on this GPU ------
  if [ $have_gpu = 1 ]; then
    local tshape=$([ $small = 1 ] && echo 1x8 || echo 16x500)
    RESERVE=$([ $small = 1 ] && echo 0 || echo 30) stage "tilings-$tshape" 40 deno_json \
      "$WORK/tilings.jsonl" scripts/bench-frontend-webgpu.ts --batch "${tshape%x*}" --windows "${tshape#*x}" --reps 3 \
      --tilings 4x16,8x16,8x8,4x32,2x32,4x8
  fi

  # --- the long shape last: it gets what is left of the budget --------------------------------
  if [ $have_gpu = 1 ] && [ $small = 0 ]; then
    # 56,000 windows: the default front-end budget (2 GiB, for any GPU) would recompute 7 chunks
    # in the backward pass; an H100/H200 keeps their 12 GB of activations, as the peer does.
    # A warm-up epoch (two steps: bench.ts runs two when --steps is 1), then one timed step:
    # without it the timed step would include compiling every pipeline at this shape (seconds,
    # against a step estimated at well under one) and the second step's growth of tfjs's pool.
    RESERVE=5 stage bench-webgpu-16x3500 120 deno_json "$WORK/bench-webgpu-16x3500.json" \
      scripts/bench.ts --backend webgpu --batch 16 --windows 3500 --steps 1 \
      --checkpoint-above 65536
  fi

  # --- summary -----------------------------------------------------------------------------
  "$DENO" run --cached-only --allow-read --allow-write="$OUT" scripts/device-check.ts summary "$WORK" "$OUT" >&3 2>>"$LOG"
  echo "total: $(elapsed)s" | tee -a "$LOG" >&3
  cp "$LOG" "$OUT/log.txt"
}
export -f to_json deno_json peer_json train_run
export DEV

simulate() {
  command -v unshare >/dev/null || die "unshare (util-linux) is needed to run without network"
  [ -f "$DEV/deno.xz" ] || die "run prepare first"
  local sim=${SIM:-/tmp/device-check-sim}
  rm -rf "$sim" && mkdir -p "$sim/repo" || die "cannot create $sim"
  # What the device tool sends: tracked and untracked-not-ignored files (the node_modules link
  # included, as a link) and the carried paths.
  git ls-files -co --exclude-standard -z | xargs -0 cp -P --parents -t "$sim/repo/"
  cp -rP --parents .gl "$DEV" "$sim/repo/"
  local total
  total=$(du -sb "$sim/repo" | cut -f1)
  printf "simulated device tree: %.1f MiB (limit 64 MiB)\n" "$(awk -v t="$total" 'BEGIN {print t / 1048576}')"
  [ "$total" -le "$LIMIT_BYTES" ] || die "the simulated tree is over the 64 MiB limit"
  # No network, no ../shared, a fresh DENO_DIR: as on the lent machine, minus the GPU.
  (cd "$sim/repo" && env -u DENO_DIR OUT="$sim/out" WORK="$sim/work" SHARED=/nonexistent \
    unshare -n bash scripts/device-check.sh run --small)
  echo "outputs: $(ls "$sim/out")"
}

case "${1:-}" in
prepare) prepare ;;
run) run "${2:-}" ;;
simulate) simulate ;;
*)
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
