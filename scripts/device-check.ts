/**
 * The TypeScript half of scripts/device-check.sh (GPU issue #11's device check); the shell script
 * runs the stages, this file does what is easier with structured data:
 *
 *   deno run --allow-env=XDG_RUNTIME_DIR scripts/device-check.ts probe
 *       one JSON line: the WebGPU adapter tfjs gets ({backend, device, adapter}) or {error}.
 *   deno run --allow-read scripts/device-check.ts modules
 *       the node_modules files Deno needs to run bench.ts and train.ts (see moduleFiles).
 *   deno run --allow-read --allow-write=OUT scripts/device-check.ts summary WORK OUT
 *       reads the stages' results in WORK and writes OUT/summary.json and OUT/summary.md.
 * @module
 */
import { join } from "node:path";
import { initBackend } from "../lib/model/backend.ts";

/** One stage of the shell script, as it appended it to stages.tsv. */
interface Stage {
  name: string;
  seconds: number;
  /** Exit status: 124 = stopped by its timeout; -1 = skipped (no time or no adapter). */
  rc: number;
  note: string;
}

/** Fields of bench.ts's --json line that the summary uses. */
interface BenchJson {
  device: string;
  adapter?: { vendor: string; architecture: string; description: string; software: boolean };
  batch: number;
  windows: number;
  steps: number;
  train_windows_per_s: number;
  infer_windows_per_s: number;
  train_s_per_step: number;
  /** The process's CPU seconds per training step (all threads: the host's share on a GPU). */
  train_cpu_s_per_step?: number;
  dispatches_per_step?: number;
  dispatches_per_infer_step?: number;
  row_groups?: number;
  passes_per_step?: number;
  binding_limit_bytes?: number;
  warmup?: boolean;
  /** The front-end's checkpoint threshold when set (`--checkpoint-above`). */
  checkpoint_above?: number;
  /** The timed step's other WebGPU calls (new buffers, bind groups, writes, submits, reads). */
  host_calls_per_step?: Record<string, number>;
  /** The webgpu buffer pool at the end of the bench. */
  gpu_memory?: { peak_in_use_bytes: number; allocated_bytes?: number; evicted_buffers: number };
}

/** The fields of a training run's epochs.jsonl lines the summary uses. */
interface EpochJson {
  epoch: number;
  seconds: number;
  windowsPerSecond: number;
}

/** One of bench-frontend-webgpu.ts's JSON lines (one register block). */
interface TilingJson {
  batch: number;
  windows: number;
  tiling: string;
  forward: { wall_s: number };
  forward_backward: { wall_s: number };
}

/** bench-webgpu-host.ts's JSON line: what one dispatch costs the host, four ways. */
interface HostJson {
  dispatches: number;
  rows: { way: string; record_us: number; submit_us: number; cpu_us: number }[];
}

/** profile-webgpu.ts's JSON line. */
interface ProfileJson {
  batch: number;
  windows: number;
  wall_ms: number;
  kernel_ms: number;
  dispatches: number;
  programs: { name: string; dispatches: number; ms: number }[];
}

/** pytorch_speed.py's JSON line. */
interface PeerJson {
  peer: string;
  device: string;
  batch: number;
  windows: number;
  train_windows_per_s: number;
  infer_windows_per_s: number;
}

/** What train.ts writes to results.json (the parts compared here). */
interface TrainResults {
  backend: string;
  bestEpoch?: number;
  dev: {
    meanUar: number;
    tasks: Record<string, { uar: number; ids: string[]; probabilities: number[][] }>;
  };
}

async function probe(): Promise<void> {
  try {
    const info = await initBackend("webgpu");
    console.log(JSON.stringify(info));
  } catch (e) {
    console.log(JSON.stringify({ error: (e as Error).message }));
  }
}

/**
 * The files of node_modules that travel: every file under 100 KB except source maps and type
 * declarations (package.json files, small modules, Deno's own .deno metadata), every package's
 * entry files named by `main`, `module` or `exports` (tfjs's bundles are 0.4–1.2 MB each), and
 * tfjs-backend-wasm's .wasm binaries. The unused alternative bundles and maps of tfjs (over 100
 * MB) stay behind. Symbolic links are listed too (tar keeps them as links).
 */
async function moduleFiles(root = "node_modules"): Promise<string[]> {
  const out = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isSymlink) {
        out.add(path);
      } else if (e.isDirectory) {
        await walk(path);
      } else if (e.isFile) {
        if (e.name === "package.json") await addEntries(dir, path, out);
        if (e.name.endsWith(".map") || e.name.endsWith(".d.ts")) continue;
        const big = (await Deno.stat(path)).size >= 100 * 1024;
        const tfjsWasm = e.name.endsWith(".wasm") && dir.includes("tfjs-backend-wasm");
        if (!big || tfjsWasm) out.add(path);
      }
    }
  };
  await walk(root);
  return [...out].sort();
}

/** Adds the files a package.json names as entry points (the strings of main/module/exports). */
async function addEntries(dir: string, packageJson: string, out: Set<string>): Promise<void> {
  let pkg: Record<string, unknown>;
  try {
    pkg = JSON.parse(await Deno.readTextFile(packageJson));
  } catch {
    return; // test fixtures inside packages can hold invalid package.json files
  }
  const names: string[] = [];
  const collect = (v: unknown) => {
    if (typeof v === "string") names.push(v);
    else if (v && typeof v === "object") Object.values(v).forEach(collect);
  };
  collect(pkg.main);
  collect(pkg.module);
  collect(pkg.exports);
  for (const name of names) {
    if (name.includes("*")) continue;
    const path = join(dir, name);
    try {
      if ((await Deno.stat(path)).isFile) out.add(path);
    } catch { /* an entry for another platform, absent from the package */ }
  }
}

/** The JSON lines of a file (lines that do not parse, such as a message, are left out). */
async function readJsonLines<T>(path: string): Promise<T[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return [];
  }
  const out: T[] = [];
  for (const line of text.split("\n")) {
    try {
      if (line.trim().startsWith("{")) out.push(JSON.parse(line) as T);
    } catch { /* not a JSON line */ }
  }
  return out;
}

/** A JSON file, or the last line of a log whose last line is JSON; undefined if neither. */
async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = (await Deno.readTextFile(path)).trim();
  } catch {
    return undefined;
  }
  for (const candidate of [text, text.slice(text.lastIndexOf("\n") + 1)]) {
    try {
      return JSON.parse(candidate) as T;
    } catch { /* not this form */ }
  }
  return undefined;
}

async function readStages(work: string): Promise<Stage[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(join(work, "stages.tsv"));
  } catch {
    return [];
  }
  return text.trim().split("\n").filter((l) => l.length > 0).map((l) => {
    const [name, seconds, rc, ...note] = l.split("\t");
    return { name, seconds: Number(seconds), rc: Number(rc), note: note.join(" ") };
  });
}

/**
 * Compares the two trainings' dev results: UAR per task, and the largest difference between the
 * two runs' probabilities for the same utterance — a continuous measure where UAR on a few
 * dozen utterances moves in steps of several points.
 */
function compareTrainings(gpu: TrainResults, cpu: TrainResults) {
  const tasks: Record<string, unknown> = {};
  let maxProbDiff = 0;
  for (const [name, g] of Object.entries(gpu.dev.tasks)) {
    const c = cpu.dev.tasks[name];
    if (!c) continue;
    const index = new Map(c.ids.map((id, i) => [id, i]));
    let diff = 0;
    g.ids.forEach((id, i) => {
      const j = index.get(id);
      if (j === undefined) return;
      g.probabilities[i].forEach((p, k) => {
        diff = Math.max(diff, Math.abs(p - c.probabilities[j][k]));
      });
    });
    maxProbDiff = Math.max(maxProbDiff, diff);
    tasks[name] = {
      webgpu_uar: g.uar,
      wasm_uar: c.uar,
      uar_difference: g.uar - c.uar,
      max_probability_difference: diff,
      utterances: g.ids.length,
    };
  }
  return {
    webgpu_mean_uar: gpu.dev.meanUar,
    wasm_mean_uar: cpu.dev.meanUar,
    webgpu_best_epoch: gpu.bestEpoch,
    wasm_best_epoch: cpu.bestEpoch,
    max_probability_difference: maxProbDiff,
    tasks,
  };
}

const pct = (x: number | undefined) => (x === undefined ? "–" : (100 * x).toFixed(1));
const num = (x: number | undefined, digits = 0) =>
  x === undefined ? "–" : x.toLocaleString("en-US", { maximumFractionDigits: digits });

async function summary(work: string, out: string): Promise<void> {
  const stages = await readStages(work);
  const probeResult = await readJson<Record<string, unknown>>(join(work, "probe.json"));
  const shapes = (await Deno.readTextFile(join(work, "shapes.txt")).catch(() => ""))
    .trim().split(/\s+/).filter((s) => s.length > 0);
  const rows: { shape: string; webgpu?: BenchJson; peer?: PeerJson }[] = await Promise.all(
    shapes.map(async (shape) => ({
      shape,
      webgpu: await readJson<BenchJson>(join(work, `bench-webgpu-${shape}.json`)),
      peer: await readJson<PeerJson>(join(work, `peer-${shape}.json`)),
    })),
  );
  // The bench with every batch a length of its own (`--vary-windows`), no peer beside it.
  const vshape = (await Deno.readTextFile(join(work, "vary-shape.txt")).catch(() => "")).trim();
  if (vshape) {
    rows.push({
      shape: `${vshape}, lengths vary`,
      webgpu: await readJson<BenchJson>(join(work, `bench-webgpu-${vshape}-vary.json`)),
    });
  }
  const gpuTrain = await readJson<TrainResults>(join(work, "train-webgpu", "results.json"));
  const cpuTrain = await readJson<TrainResults>(join(work, "train-wasm", "results.json"));
  const gpuEpochs = await readJsonLines<EpochJson>(join(work, "train-webgpu", "epochs.jsonl"));
  const cpuEpochs = await readJsonLines<EpochJson>(join(work, "train-wasm", "epochs.jsonl"));
  const training = gpuTrain && cpuTrain ? compareTrainings(gpuTrain, cpuTrain) : undefined;
  const meta = await readJson<Record<string, string>>(join(work, "meta.json"));
  const profile = await readJson<ProfileJson>(join(work, "profile.json"));
  const tilings = await readJsonLines<TilingJson>(join(work, "tilings.jsonl"));
  const host = await readJson<HostJson>(join(work, "host.json"));

  const result = {
    meta,
    probe: probeResult,
    stages,
    speed: rows.map((r) => ({
      shape: r.shape,
      webgpu: r.webgpu,
      peer: r.peer,
      train_ratio_webgpu_over_peer: r.webgpu && r.peer
        ? r.webgpu.train_windows_per_s / r.peer.train_windows_per_s
        : undefined,
      infer_ratio_webgpu_over_peer: r.webgpu && r.peer
        ? r.webgpu.infer_windows_per_s / r.peer.infer_windows_per_s
        : undefined,
    })),
    profile,
    tilings,
    host,
    training,
    training_runs: { webgpu: gpuTrain?.backend, wasm: cpuTrain?.backend },
    training_epochs: { webgpu: gpuEpochs, wasm: cpuEpochs },
  };
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeTextFile(join(out, "summary.json"), JSON.stringify(result, null, 2) + "\n");

  const md: string[] = [];
  md.push(`# Device check (${meta?.mode ?? "?"} mode), ${meta?.date ?? ""}`, "");
  md.push(`- machine: ${meta?.machine ?? "?"}`);
  md.push(`- GPU (nvidia-smi): ${meta?.gpu ?? "–"}`);
  md.push(`- Deno: ${meta?.deno ?? "?"}; PyTorch: ${meta?.torch ?? "–"}`);
  const adapter = probeResult as { device?: string; error?: string } | undefined;
  md.push(`- WebGPU: ${adapter?.device ?? `no adapter (${adapter?.error ?? "not probed"})`}`);
  const limit = result.speed.find((r) => r.webgpu?.binding_limit_bytes)?.webgpu
    ?.binding_limit_bytes;
  if (limit) md.push(`- maxStorageBufferBindingSize: ${(limit / 2 ** 20).toFixed(0)} MiB`);
  md.push(`- Vulkan: ${meta?.vulkan ?? "?"}`, "");
  md.push("## Speed (windows/s; webgpu = `bench --backend webgpu`, peer = pytorch_speed.py)", "");
  md.push(
    "| shape | webgpu train | s/step (CPU s) | webgpu infer | dispatches/step | dispatches/infer step | passes/step (row groups) | peer | peer train | peer infer | train ×peer |",
  );
  md.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |");
  for (const r of result.speed) {
    const w = r.webgpu, p = r.peer;
    md.push(
      `| ${r.shape}${w?.warmup === false ? " (no warm-up)" : ""}${
        w?.checkpoint_above ? ` (checkpoint above ${w.checkpoint_above})` : ""
      } | ${num(w?.train_windows_per_s, 1)} | ${num(w?.train_s_per_step, 3)} (${
        num(w?.train_cpu_s_per_step, 3)
      }) | ${num(w?.infer_windows_per_s, 1)} | ${num(w?.dispatches_per_step)} | ${
        num(w?.dispatches_per_infer_step)
      } | ${w?.passes_per_step ?? "–"}${w?.row_groups ? ` (${w.row_groups})` : ""} | ${
        p ? `${p.peer} ${p.device}` : "–"
      } | ${num(p?.train_windows_per_s, 1)} | ${num(p?.infer_windows_per_s, 1)} | ${
        num(r.train_ratio_webgpu_over_peer, 2)
      } |`,
    );
  }
  const gib = (b: number | undefined) => (b === undefined ? "–" : (b / 2 ** 30).toFixed(2));
  for (const r of result.speed) {
    const calls = r.webgpu?.host_calls_per_step, memory = r.webgpu?.gpu_memory;
    if (!calls && !memory) continue;
    md.push(
      "",
      `${r.shape}: WebGPU calls per training step besides dispatches: ` +
        Object.entries(calls ?? {}).map(([k, v]) => `${k} ${num(v, 1)}`).join(", ") + ". " +
        (memory
          ? `GPU memory: peak in use ${gib(memory.peak_in_use_bytes)} GiB, allocated at the end ` +
            `${gib(memory.allocated_bytes)} GiB, ${memory.evicted_buffers} free buffers destroyed.`
          : ""),
    );
  }
  md.push("", "## What one dispatch costs the host (`scripts/bench-webgpu-host.ts`)", "");
  if (host) {
    md.push(
      `${host.dispatches} dispatches per way, µs per dispatch: the JavaScript thread recording ` +
        "it, inside `queue.submit`, and the process's CPU (all threads).",
      "",
      "| way | recording µs | in submit µs | process CPU µs |",
      "| --- | ---: | ---: | ---: |",
    );
    for (const r of host.rows) {
      md.push(
        `| ${r.way} | ${num(r.record_us, 1)} | ${num(r.submit_us, 1)} | ${num(r.cpu_us, 1)} |`,
      );
    }
  } else {
    md.push("Not measured: see the stages below and log.txt.");
  }
  md.push("", "## Where a training step's GPU time goes (`scripts/profile-webgpu.ts`)", "");
  if (profile) {
    md.push(
      `${profile.batch} × ${profile.windows} windows, objective and gradients (no Adam): ` +
        `untimed ${num(profile.wall_ms, 1)} ms wall; the programs timed one by one ` +
        `${num(profile.kernel_ms, 1)} ms of GPU time in ${profile.dispatches} dispatches.`,
      "",
      "| program | dispatches | GPU ms | share |",
      "| --- | ---: | ---: | ---: |",
    );
    for (const p of profile.programs.slice(0, 15)) {
      md.push(
        `| ${p.name} | ${p.dispatches} | ${num(p.ms, 2)} | ${pct(p.ms / profile.kernel_ms)} % |`,
      );
    }
  } else {
    md.push("Not measured: see the stages below and log.txt.");
  }
  md.push("", "## conv2's register blocks, front-end alone (`bench-frontend-webgpu.ts`)", "");
  if (tilings.length > 0) {
    md.push(
      `${tilings[0].batch} × ${tilings[0].windows} windows, median of the timed passes; block = ` +
        "positions per invocation × lanes per channel group (4x16 is the default).",
      "",
      "| block | forward ms | forward + backward ms |",
      "| --- | ---: | ---: |",
    );
    for (const t of tilings) {
      md.push(
        `| ${t.tiling} | ${num(t.forward.wall_s * 1000, 1)} | ${
          num(t.forward_backward.wall_s * 1000, 1)
        } |`,
      );
    }
  } else {
    md.push("Not measured: see the stages below and log.txt.");
  }
  md.push(
    "",
    "## Short EMO-DB training, dev set: webgpu against wasm (same config, seed and workers)",
    "",
    "One engine on webgpu draws the wasm workers' dropout masks, so the two runs differ only by",
    "float rounding (grown over the epochs).",
    "",
  );
  if (training) {
    md.push("| task | webgpu UAR % | wasm UAR % | difference | max \\|Δp\\| | dev utterances |");
    md.push("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (const [name, t] of Object.entries(training.tasks)) {
      const v = t as {
        webgpu_uar: number;
        wasm_uar: number;
        uar_difference: number;
        max_probability_difference: number;
        utterances: number;
      };
      md.push(
        `| ${name} | ${pct(v.webgpu_uar)} | ${pct(v.wasm_uar)} | ${pct(v.uar_difference)} | ${
          v.max_probability_difference.toExponential(2)
        } | ${v.utterances} |`,
      );
    }
    md.push(
      "",
      `Mean dev UAR: webgpu ${pct(training.webgpu_mean_uar)} %, wasm ${
        pct(training.wasm_mean_uar)
      } %; best epochs ${training.webgpu_best_epoch} and ${training.wasm_best_epoch}.`,
    );
  } else {
    md.push(
      `Not compared: results missing (webgpu ${gpuTrain ? "ok" : "missing"}, wasm ${
        cpuTrain ? "ok" : "missing"
      }); see the stages below and log.txt.`,
    );
  }
  if (gpuEpochs.length > 0 || cpuEpochs.length > 0) {
    md.push(
      "",
      "Epochs (`epochs.jsonl`: seconds with the dev evaluation; training windows/s, real windows " +
        "only, at this run's batches of EMO-DB utterances):",
      "",
      "| epoch | webgpu s | webgpu windows/s | wasm s | wasm windows/s |",
      "| ---: | ---: | ---: | ---: | ---: |",
    );
    for (let e = 0; e < Math.max(gpuEpochs.length, cpuEpochs.length); e++) {
      const g = gpuEpochs[e], c = cpuEpochs[e];
      md.push(
        `| ${e + 1} | ${num(g?.seconds, 1)} | ${num(g?.windowsPerSecond)} | ${
          num(c?.seconds, 1)
        } | ${num(c?.windowsPerSecond)} |`,
      );
    }
    // The first epoch compiles the pipelines; the later ones are the steady rate.
    const steady = gpuEpochs.slice(1).map((e) => e.windowsPerSecond);
    if (steady.length > 0) {
      const rate = Math.max(...steady);
      md.push(
        "",
        `At webgpu's best later-epoch rate (${num(rate)} windows/s), the training part of an ` +
          `IEMOCAP-sized epoch (≈ 2.8 million windows) would take ≈ ${num(2.8e6 / rate)} s at ` +
          "these batches (batch 8, EMO-DB lengths; not measured on IEMOCAP).",
      );
    }
  }
  md.push("", "## Stages", "", "| stage | seconds | exit | note |", "| --- | ---: | ---: | --- |");
  for (const s of stages) {
    const exit = s.rc === 124 ? "124 (timed out)" : s.rc === -1 ? "skipped" : String(s.rc);
    md.push(`| ${s.name} | ${s.seconds.toFixed(1)} | ${exit} | ${s.note} |`);
  }
  await Deno.writeTextFile(join(out, "summary.md"), md.join("\n") + "\n");
  console.log(md.join("\n"));
}

if (import.meta.main) {
  const [command, ...rest] = Deno.args;
  if (command === "probe") await probe();
  else if (command === "modules") console.log((await moduleFiles()).join("\n"));
  else if (command === "summary" && rest.length === 2) await summary(rest[0], rest[1]);
  else {
    console.error("usage: device-check.ts probe | modules | summary WORK OUT");
    Deno.exit(2);
  }
}
