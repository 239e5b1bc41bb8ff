/**
 * Figures as Vega-Lite specifications, rendered to SVG without a DOM and to PNG with resvg.
 * The same specifications display in Jupyter (vega-lite MIME type) and land as files in a run.
 * @module
 */
import * as vega from "vega";
import * as vl from "vega-lite";

/** A Vega-Lite specification (kept loose: Vega-Lite's own types are very large). */
// deno-lint-ignore no-explicit-any
export type VegaLiteSpec = Record<string, any>;

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** Renders a Vega-Lite specification to an SVG string (no browser needed). */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  // deno-lint-ignore no-explicit-any
  const compiled = vl.compile(spec as any).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

let resvgReady: Promise<typeof import("@resvg/resvg-wasm")> | null = null;
const FONT_CANDIDATES = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/TTF/DejaVuSans.ttf",
  "/System/Library/Fonts/Supplemental/Arial.ttf",
  "C:\\Windows\\Fonts\\arial.ttf",
];
let fontBuffers: Uint8Array[] | null = null;

async function loadResvg() {
  const mod = await import("@resvg/resvg-wasm");
  const wasm = await Deno.readFile(new URL(import.meta.resolve("@resvg/resvg-wasm/index_bg.wasm")));
  await mod.initWasm(wasm);
  return mod;
}

/**
 * Rasterises an SVG to PNG bytes with resvg (WebAssembly). Text uses the first system font
 * found (DejaVu Sans on Debian); without one, the PNG has no text and a warning is printed.
 */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  resvgReady ??= loadResvg();
  const { Resvg } = await resvgReady;
  if (!fontBuffers) {
    fontBuffers = [];
    for (const f of FONT_CANDIDATES) {
      try {
        fontBuffers.push(await Deno.readFile(f));
        break;
      } catch { /* try the next one */ }
    }
    if (fontBuffers.length === 0) console.warn("svgToPng: no system font found; PNG text omitted");
  }
  const r = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: { fontBuffers, loadSystemFonts: false, defaultFontFamily: "DejaVu Sans" },
  });
  const png = r.render().asPng();
  r.free();
  return png;
}

/** One utterance of the attention figure. */
export interface AttentionItem {
  /** Title above the utterance's column (e.g. its id and labels). */
  title: string;
  /** Waveform samples. */
  samples: Float32Array;
  /** Sample rate of `samples`. */
  sampleRate: number;
  /** Attention weights per task over the real windows. */
  attention: Record<string, ArrayLike<number>>;
  /** Hop between windows in seconds (default 0.01). */
  hopSeconds?: number;
  /** Window length in seconds (default 0.04); weights are drawn at window centres. */
  windowSeconds?: number;
}

/** Min/max envelope of a waveform in `points` bins, for plotting long signals compactly. */
function envelope(samples: Float32Array, sampleRate: number, points: number) {
  const bins = Math.min(points, samples.length);
  const out: { t: number; lo: number; hi: number }[] = [];
  for (let b = 0; b < bins; b++) {
    const from = Math.floor((b * samples.length) / bins);
    const to = Math.max(from + 1, Math.floor(((b + 1) * samples.length) / bins));
    let lo = Infinity, hi = -Infinity;
    for (let i = from; i < to; i++) {
      if (samples[i] < lo) lo = samples[i];
      if (samples[i] > hi) hi = samples[i];
    }
    out.push({ t: from / sampleRate, lo, hi });
  }
  return out;
}

/**
 * The paper's Figure 2: per utterance, the waveform on top and below it the attention weights of
 * each task, on one time axis.
 */
export function attentionFigureSpec(items: AttentionItem[], width = 420): VegaLiteSpec {
  const columns = items.map((item) => {
    const hop = item.hopSeconds ?? 0.01, win = item.windowSeconds ?? 0.04;
    const duration = item.samples.length / item.sampleRate;
    const x = {
      field: "t",
      type: "quantitative",
      title: "time (s)",
      scale: { domain: [0, duration] },
    };
    const rows: VegaLiteSpec[] = [{
      title: item.title,
      width,
      height: 90,
      data: { values: envelope(item.samples, item.sampleRate, 1500) },
      mark: { type: "area", color: "#444", opacity: 0.8 },
      encoding: {
        x: { ...x, axis: { labels: false, title: null } },
        y: { field: "lo", type: "quantitative", title: "waveform" },
        y2: { field: "hi" },
      },
    }];
    const colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"];
    Object.entries(item.attention).forEach(([task, weights], k, all) => {
      const values = Array.from(weights, (w, i) => ({ t: i * hop + win / 2, w }));
      rows.push({
        width,
        height: 60,
        data: { values },
        mark: {
          type: "area",
          color: colors[k % colors.length],
          line: { color: colors[k % colors.length] },
          opacity: 0.6,
        },
        encoding: {
          x: k === all.length - 1 ? x : { ...x, axis: { labels: false, title: null } },
          y: { field: "w", type: "quantitative", title: `α ${task}` },
        },
      });
    });
    return { vconcat: rows, spacing: 4 };
  });
  return { $schema: SCHEMA, hconcat: columns, config: { view: { stroke: null } } };
}

/** One epoch of a training history. */
export interface CurvePoint {
  /** Epoch number (1-based). */
  epoch: number;
  /** Mean training loss. */
  loss: number;
  /** Dev UAR per task (fractions). */
  devUar: Record<string, number>;
}

/** Training loss and dev UAR per task over epochs, side by side. */
export function trainingCurvesSpec(history: CurvePoint[], title = "training"): VegaLiteSpec {
  const uarValues = history.flatMap((h) =>
    Object.entries(h.devUar).map(([task, u]) => ({ epoch: h.epoch, task, uar: u }))
  );
  return {
    $schema: SCHEMA,
    title,
    hconcat: [
      {
        width: 260,
        height: 180,
        data: { values: history.map((h) => ({ epoch: h.epoch, loss: h.loss })) },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "epoch", type: "quantitative" },
          y: {
            field: "loss",
            type: "quantitative",
            title: "training loss",
            scale: { zero: false },
          },
        },
      },
      {
        width: 260,
        height: 180,
        data: { values: uarValues },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "epoch", type: "quantitative" },
          y: { field: "uar", type: "quantitative", title: "dev UAR", axis: { format: ".0%" } },
          color: { field: "task", type: "nominal" },
        },
      },
    ],
  };
}

/** A confusion matrix as a heat map with counts, rows = true class, columns = predicted. */
export function confusionMatrixSpec(
  matrix: number[][],
  classes: string[],
  title = "confusion matrix",
): VegaLiteSpec {
  const values = matrix.flatMap((row, t) => {
    const n = row.reduce((a, b) => a + b, 0) || 1;
    return row.map((count, p) => ({
      truth: classes[t],
      predicted: classes[p],
      count,
      share: count / n,
    }));
  });
  const side = Math.max(120, 34 * classes.length);
  return {
    $schema: SCHEMA,
    title,
    width: side,
    height: side,
    data: { values },
    encoding: {
      x: { field: "predicted", type: "nominal", sort: classes },
      y: { field: "truth", type: "nominal", sort: classes, title: "true" },
    },
    layer: [
      {
        mark: "rect",
        encoding: {
          color: {
            field: "share",
            type: "quantitative",
            title: "row share",
            scale: { scheme: "blues", domain: [0, 1] },
          },
        },
      },
      {
        mark: { type: "text", fontSize: 11 },
        encoding: {
          text: { field: "count", type: "quantitative" },
          color: { condition: { test: "datum.share > 0.5", value: "white" }, value: "black" },
        },
      },
    ],
  };
}

/** Utterances per class, per partition, for one task (grouped bars). */
export function classDistributionSpec(
  counts: Record<string, Record<string, number>>,
  task: string,
  classes: string[],
): VegaLiteSpec {
  const values = Object.entries(counts).flatMap(([partition, byClass]) =>
    classes.map((c) => ({ partition, class: c, n: byClass[c] ?? 0 }))
  );
  return {
    $schema: SCHEMA,
    title: task,
    data: { values },
    mark: "bar",
    width: { step: 14 },
    height: 140,
    encoding: {
      column: { field: "class", type: "nominal", sort: classes, title: null },
      x: { field: "partition", type: "nominal", axis: null },
      y: { field: "n", type: "quantitative", title: "utterances" },
      color: { field: "partition", type: "nominal" },
    },
  };
}
