/// <reference lib="dom" />
/**
 * The browser page: a trained model from a model folder (model.json + weights.bin), a wav file
 * (picker or drag and drop) or a microphone recording, and per task the class probabilities
 * and the attention over the waveform. Everything the model computes is the toolkit's own code,
 * imported from lib/ and bundled by `deno task web` / `web:build` (web/site.ts): the wav decoder
 * and resampler (audio/), framing and standardisation with the model's statistics
 * (frames/, through training/predict.ts), the network (model/) and the backends
 * (model/backend.ts: WebGPU on a real GPU adapter, wasm otherwise).
 *
 * Query parameters: `?model=URL/` (a folder with model.json; default `./model/`),
 * `?backend=auto|webgpu|wasm|cpu` (default auto).
 *
 * For tests and other programs the page publishes its state and results: `#status[data-state]`
 * is `loading`, `ready`, `no-model`, `busy`, `done` or `error`; the last result is
 * `window.__emoResult` and, as JSON, `#result-json`.
 * @module
 */
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { decodeAudio, resample, TARGET_SAMPLE_RATE } from "../lib/audio/mod.ts";
import { type BackendInfo, initBackend, parseBackendName } from "../lib/model/backend.ts";
import type { EmotionModel } from "../lib/model/model.ts";
import { decodeModel, type ModelJson } from "../lib/model/persist.ts";
import { predictUtterance, type UtterancePrediction } from "../lib/training/predict.ts";

/** What the page shows and publishes for one analysed recording. */
export interface PageResult extends UtterancePrediction {
  /** File name, or `microphone`. */
  file: string;
  /** Where the audio came from. */
  source: "file" | "microphone";
  /** How it was decoded: the toolkit's wav decoder, or the browser's decoder (other formats). */
  decoder: "toolkit-wav" | "browser";
  /** The recording's own sample rate (before resampling to the model's). */
  sourceSampleRate: number;
  /** The model's sample rate the audio was resampled to. */
  sampleRate: number;
  /** tfjs backend and device. */
  backend: string;
  device: string;
  /** Where the model came from. */
  model: string;
  /** Milliseconds of the prediction (framing, standardisation, network). */
  elapsedMs: number;
}

interface Loaded {
  model: EmotionModel;
  meta: ModelJson;
  label: string;
}

declare global {
  interface Window {
    __emoResult?: PageResult | { error: string };
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusEl = $<HTMLDivElement>("status");
const recordButton = $<HTMLButtonElement>("record");

let backend: BackendInfo | undefined;
let loaded: Loaded | undefined;
let busy = false;

function setStatus(state: string, text: string): void {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

function publish(result: PageResult | { error: string }): void {
  globalThis.window.__emoResult = result;
  $<HTMLPreElement>("result-json").textContent = JSON.stringify(result, null, 1);
}

/** The model's sample rate (16 kHz for every model the toolkit trains). */
function modelRate(meta: ModelJson): number {
  return meta.window?.sampleRate ?? TARGET_SAMPLE_RATE;
}

// ---------------------------------------------------------------------------------------------
// Model

function describeModel(l: Loaded): void {
  const m = l.meta;
  $("model-name").textContent = l.label;
  const t = (m.training ?? {}) as Record<string, unknown>;
  const parts = [
    `${m.config.input.kind} input, ${m.config.pooling} pooling`,
    `tasks ${m.tasks.map((x) => `${x.name} (${x.classes.join("/")})`).join(", ")}`,
  ];
  if (typeof t.system === "string") parts.push(`system ${t.system}`);
  if (typeof t.corpus === "string") parts.push(`trained on ${t.corpus}`);
  const test = t.test as Record<string, number> | undefined;
  if (test && typeof test === "object") {
    const uars = Object.entries(test).filter(([, v]) => typeof v === "number")
      .map(([k, v]) => `${k} ${(100 * v).toFixed(1)} %`);
    if (uars.length > 0) parts.push(`test UAR ${uars.join(", ")}`);
  }
  $("model-info").textContent = parts.join(" · ");
}

function useModel(l: Loaded): void {
  loaded?.model.dispose();
  loaded = l;
  describeModel(l);
  recordButton.disabled = false;
  setStatus("ready", "Ready: drop a wav file, choose one, or record.");
}

/** Fetches `base`model.json and its weights file. Undefined when there is no model.json. */
async function fetchModel(base: string): Promise<Loaded | undefined> {
  const jsonUrl = new URL("model.json", base);
  const res = await fetch(jsonUrl);
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`${jsonUrl}: HTTP ${res.status}`);
  const json = await res.json() as ModelJson;
  const name = json.weightsManifest?.[0]?.paths?.[0] ?? "weights.bin";
  if (!/^[\w.-]+$/.test(name) || name.startsWith(".")) {
    throw new Error(`${jsonUrl}: weights path '${name}' must be a plain file name in the folder`);
  }
  const wres = await fetch(new URL(name, base));
  if (!wres.ok) throw new Error(`${new URL(name, base)}: HTTP ${wres.status}`);
  const { model, meta } = decodeModel(json, await wres.arrayBuffer(), base);
  return { model, meta, label: base };
}

/** A model from files the user picked (model.json and the weights file it names). */
async function modelFromFiles(files: FileList): Promise<Loaded> {
  const list = [...files];
  const jsonFile = list.find((f) => f.name === "model.json");
  if (!jsonFile) throw new Error("choose the folder's model.json and weights.bin together");
  const json = JSON.parse(await jsonFile.text()) as ModelJson;
  const name = json.weightsManifest?.[0]?.paths?.[0] ?? "weights.bin";
  const weights = list.find((f) => f.name === name);
  if (!weights) throw new Error(`model.json names its weights '${name}': choose that file too`);
  const { model, meta } = decodeModel(json, await weights.arrayBuffer(), "chosen model");
  return { model, meta, label: `${jsonFile.name} + ${weights.name} (chosen here)` };
}

// ---------------------------------------------------------------------------------------------
// Audio

interface Decoded {
  samples: Float32Array;
  sourceSampleRate: number;
  decoder: PageResult["decoder"];
}

/**
 * Decodes with the browser (any format it plays, e.g. a MediaRecorder's webm/opus), mixes down
 * by averaging and resamples with the toolkit's resampler, as the wav path does.
 */
async function decodeWithBrowser(bytes: ArrayBuffer, rate: number): Promise<Decoded> {
  // An offline context is not subject to autoplay rules; it decodes at its own rate (48 kHz),
  // from which our resampler takes it to the model's rate.
  const ctx = new OfflineAudioContext(1, 1, 48000);
  const buf = await ctx.decodeAudioData(bytes);
  const mono = new Float32Array(buf.length);
  for (let c = 0; c < buf.numberOfChannels; c++) {
    const ch = buf.getChannelData(c);
    for (let i = 0; i < mono.length; i++) mono[i] += ch[i];
  }
  if (buf.numberOfChannels > 1) {
    for (let i = 0; i < mono.length; i++) mono[i] /= buf.numberOfChannels;
  }
  return {
    samples: resample(mono, buf.sampleRate, rate),
    sourceSampleRate: buf.sampleRate,
    decoder: "browser",
  };
}

/** A wav through the toolkit's own decoder (as `deno task predict`); other formats via the browser. */
async function decodeFile(file: File, rate: number): Promise<Decoded> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const isRiff = bytes.length >= 12 && String.fromCharCode(...bytes.subarray(0, 4)) === "RIFF";
  if (isRiff) {
    const audio = decodeAudio(bytes, file.name, { sampleRate: rate });
    return {
      samples: audio.samples,
      sourceSampleRate: audio.sourceSampleRate,
      decoder: "toolkit-wav",
    };
  }
  try {
    return await decodeWithBrowser(bytes.buffer, rate);
  } catch (e) {
    throw new Error(`${file.name}: not a wav file, and the browser cannot decode it (${e})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Prediction and display

async function analyse(
  name: string,
  source: PageResult["source"],
  get: (rate: number) => Promise<Decoded>,
) {
  if (!loaded || !backend) {
    setStatus("no-model", "Load a model folder first.");
    return;
  }
  if (busy) return;
  busy = true;
  setStatus("busy", `Analysing ${name}…`);
  try {
    const { model, meta, label } = loaded;
    const rate = modelRate(meta);
    const audio = await get(rate);
    const t0 = performance.now();
    const prediction = await predictUtterance(model, meta, audio.samples);
    const elapsedMs = performance.now() - t0;
    const result: PageResult = {
      file: name,
      source,
      decoder: audio.decoder,
      sourceSampleRate: audio.sourceSampleRate,
      sampleRate: rate,
      backend: backend.backend,
      device: backend.device,
      model: label,
      elapsedMs,
      ...prediction,
    };
    show(result, audio.samples, meta);
    publish(result);
    setStatus(
      "done",
      `${name}: ${prediction.seconds.toFixed(2)} s, ${prediction.windows} windows, ` +
        `${elapsedMs.toFixed(0)} ms on ${backend.device}.`,
    );
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    publish({ error: message });
    setStatus("error", message);
  } finally {
    busy = false;
  }
}

function show(r: PageResult, samples: Float32Array, meta: ModelJson): void {
  $("results").hidden = false;
  $("result-title").textContent = `${r.file} (${r.seconds.toFixed(2)} s, ${r.windows} windows)`;
  const box = $("probabilities");
  box.replaceChildren();
  for (const [task, t] of Object.entries(r.tasks)) {
    const div = document.createElement("div");
    div.className = "task";
    div.dataset.task = task;
    const h = document.createElement("h3");
    h.textContent = `${task}: ${t.class}`;
    const table = document.createElement("table");
    for (const [cls, p] of Object.entries(t.probabilities)) {
      const tr = table.insertRow();
      if (cls === t.class) tr.className = "predicted";
      tr.insertCell().textContent = cls;
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("div");
      fill.style.width = `${(100 * p).toFixed(1)}%`;
      bar.append(fill);
      tr.insertCell().append(bar);
      tr.insertCell().textContent = p.toFixed(3);
    }
    div.append(h, table);
    box.append(div);
  }
  drawFigure($<HTMLCanvasElement>("figure"), r, samples, meta);
}

const TASK_COLOURS = ["#d6604d", "#4393c3", "#5aae61", "#9970ab", "#e08214", "#35978f"];

/** Waveform on top, one attention strip per task below it, on one time axis (Figure 2). */
function drawFigure(
  canvas: HTMLCanvasElement,
  r: PageResult,
  samples: Float32Array,
  meta: ModelJson,
) {
  const tasks = Object.entries(r.tasks).filter(([, t]) => t.attention);
  const dpr = globalThis.devicePixelRatio || 1;
  const cssWidth = canvas.parentElement?.clientWidth || 1000;
  const left = 90, right = 10, waveH = 120, stripH = 60, gap = 10, axisH = 28;
  const cssHeight = waveH + tasks.length * (stripH + gap) + axisH + 10;
  canvas.style.height = `${cssHeight}px`;
  canvas.width = Math.round(cssWidth * dpr);
  canvas.height = Math.round(cssHeight * dpr);
  const g = canvas.getContext("2d")!;
  g.scale(dpr, dpr);
  g.clearRect(0, 0, cssWidth, cssHeight);
  g.font = "12px system-ui, sans-serif";
  const plotW = cssWidth - left - right;
  const duration = samples.length / r.sampleRate;
  const x = (t: number) => left + (t / duration) * plotW;

  // Waveform: min and max of the samples under each pixel column.
  g.fillStyle = "#333";
  g.fillText("waveform", 4, waveH / 2);
  const mid = waveH / 2;
  let peak = 1e-9;
  for (const v of samples) peak = Math.max(peak, Math.abs(v));
  g.strokeStyle = "#555";
  g.beginPath();
  const perPx = samples.length / plotW;
  for (let px = 0; px < plotW; px++) {
    const a = Math.floor(px * perPx), b = Math.max(a + 1, Math.floor((px + 1) * perPx));
    let lo = Infinity, hi = -Infinity;
    for (let i = a; i < b && i < samples.length; i++) {
      lo = Math.min(lo, samples[i]);
      hi = Math.max(hi, samples[i]);
    }
    if (lo === Infinity) continue;
    g.moveTo(left + px + 0.5, mid - (hi / peak) * (mid - 4));
    g.lineTo(left + px + 0.5, mid - (lo / peak) * (mid - 4) + 0.5);
  }
  g.stroke();

  // Attention: one bar per window, centred on the window, one hop wide.
  const win = meta.config.input.kind === "raw" ? meta.config.input.windowSamples : 0;
  const hop = meta.config.input.kind === "raw" ? meta.config.input.hopSamples : 1;
  tasks.forEach(([task, t], k) => {
    const top = waveH + gap + k * (stripH + gap);
    const { windowStart, weight } = t.attention!;
    const max = Math.max(...weight, 1e-12);
    g.fillStyle = "#f7f7f7";
    g.fillRect(left, top, plotW, stripH);
    g.fillStyle = "#333";
    g.fillText(task, 4, top + stripH / 2 - 2);
    g.fillStyle = "#777";
    g.fillText(`max ${max.toExponential(1)}`, 4, top + stripH / 2 + 12);
    g.fillStyle = TASK_COLOURS[k % TASK_COLOURS.length];
    const w = Math.max(1, (hop / r.sampleRate / duration) * plotW);
    for (let i = 0; i < weight.length; i++) {
      const centre = windowStart[i] + win / 2 / r.sampleRate;
      const h = (weight[i] / max) * (stripH - 2);
      g.fillRect(x(centre) - w / 2, top + stripH - h, w, h);
    }
  });

  // Time axis.
  const axisTop = waveH + tasks.length * (stripH + gap) + gap;
  g.strokeStyle = "#999";
  g.fillStyle = "#333";
  g.beginPath();
  g.moveTo(left, axisTop);
  g.lineTo(left + plotW, axisTop);
  const step = niceStep(duration / 10);
  for (let t = 0; t <= duration + 1e-9; t += step) {
    g.moveTo(x(t), axisTop);
    g.lineTo(x(t), axisTop + 5);
    g.fillText(`${+t.toFixed(3)} s`, x(t) - 10, axisTop + 18);
  }
  g.stroke();
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-3)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

// ---------------------------------------------------------------------------------------------
// Inputs: file picker, drag and drop, microphone

function wireInputs(): void {
  const wavInput = $<HTMLInputElement>("wav-input");
  wavInput.addEventListener("change", () => {
    const f = wavInput.files?.[0];
    if (f) analyse(f.name, "file", (rate) => decodeFile(f, rate));
    wavInput.value = "";
  });

  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const f = e.dataTransfer?.files?.[0];
    if (f) analyse(f.name, "file", (rate) => decodeFile(f, rate));
  });

  const modelInput = $<HTMLInputElement>("model-input");
  modelInput.addEventListener("change", async () => {
    if (!modelInput.files || modelInput.files.length === 0) return;
    try {
      useModel(await modelFromFiles(modelInput.files));
    } catch (e) {
      setStatus("error", `Cannot load the model: ${(e as Error).message}`);
    }
    modelInput.value = "";
  });

  let recorder: MediaRecorder | undefined;
  let started = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  recordButton.addEventListener("click", async () => {
    if (recorder) {
      recorder.stop();
      return;
    }
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          channelCount: 1,
          echoCancellation: false,
          noiseSuppression: false,
          autoGainControl: false,
        },
      });
    } catch (e) {
      setStatus("error", `No microphone: ${(e as Error).message}`);
      return;
    }
    const chunks: Blob[] = [];
    const rec = new MediaRecorder(stream);
    recorder = rec;
    rec.ondataavailable = (e) => chunks.push(e.data);
    rec.onstop = () => {
      clearInterval(timer);
      for (const t of stream.getTracks()) t.stop();
      recorder = undefined;
      recordButton.classList.remove("recording");
      recordButton.textContent = "Record from the microphone";
      const blob = new Blob(chunks, { type: rec.mimeType });
      analyse(
        "microphone",
        "microphone",
        async (rate) => decodeWithBrowser(await blob.arrayBuffer(), rate),
      );
    };
    rec.start();
    started = performance.now();
    recordButton.classList.add("recording");
    recordButton.textContent = "Stop";
    setStatus("recording", "Recording… press Stop to analyse (at most 30 s).");
    timer = setInterval(() => {
      const s = (performance.now() - started) / 1000;
      setStatus("recording", `Recording… ${s.toFixed(1)} s (press Stop to analyse)`);
      if (s >= 30) rec.stop();
    }, 200);
  });
}

// ---------------------------------------------------------------------------------------------
// Start-up

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  wireInputs();
  try {
    const name = parseBackendName(params.get("backend") ?? "auto");
    if (name === "tensorflow") {
      throw new Error("the tensorflow backend is Node-only; use auto, webgpu, wasm or cpu");
    }
    // tfjs-backend-wasm fetches its .wasm binaries from beside the page.
    setWasmPaths(new URL("./", location.href).href);
    backend = await initBackend(name);
    $("backend").textContent = backend.device;
    $("backend").dataset.backend = backend.backend;
    const base = new URL(params.get("model") ?? "./model/", location.href).href;
    const l = await fetchModel(base.endsWith("/") ? base : `${base}/`);
    if (l) useModel(l);
    else {
      $("model-name").textContent = "none on this site";
      setStatus("no-model", "No model here: load a model folder (model.json and weights.bin).");
    }
  } catch (e) {
    setStatus("error", (e as Error).message ?? String(e));
  }
}

main();
