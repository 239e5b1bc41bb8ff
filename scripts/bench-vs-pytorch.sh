#!/usr/bin/env bash
# Our training loop (deno task bench: one engine, two workers, and one engine on tfjs's own
# kernels instead of ours) and the PyTorch peer
# (../shared/peers/pytorch_speed.py, 2 and 1 threads) at the same shapes, interleaved, in one run,
# so that their ratio is measured under the same machine load. Needs Debian's python3-torch.
#   scripts/bench-vs-pytorch.sh [ROUNDS]
set -uo pipefail
cd "$(dirname "$0")/.."
peer=../shared/peers/pytorch_speed.py
[ -f "$peer" ] || { echo "error: $peer not found (needs ../shared)"; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "error: apt-get install python3-torch"; exit 1; }
echo "load before: $(cat /proc/loadavg)"
for _ in $(seq "${1:-2}"); do
  deno task bench --backend wasm --steps 3 --json 2>/dev/null | tail -1 | sed 's/^/ours-workers1 /'
  deno task bench --backend wasm --steps 3 --workers 2 --json 2>/dev/null | tail -1 | sed 's/^/ours-workers2 /'
  deno task bench --backend wasm --steps 3 --kernels tfjs --json 2>/dev/null | tail -1 | sed 's/^/ours-tfjs-kernels-workers1 /'
  /usr/bin/python3 "$peer" --threads 2 2>/dev/null | tail -1 | sed 's/^/pytorch-threads2 /'
  /usr/bin/python3 "$peer" --threads 1 2>/dev/null | tail -1 | sed 's/^/pytorch-threads1 /'
done
echo "load after: $(cat /proc/loadavg)"
