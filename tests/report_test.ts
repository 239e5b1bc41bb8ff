import assert from "node:assert/strict";
import {
  attentionFigureSpec,
  confusionMatrixSpec,
  renderSvg,
  svgToPng,
  trainingCurvesSpec,
} from "../lib/report/charts.ts";

Deno.test("attention figure renders to SVG and PNG with one panel per task", async () => {
  const samples = Float32Array.from({ length: 8000 }, (_, i) => Math.sin(i / 9) * (i / 8000));
  const flat = (n: number) => new Array(n).fill(1 / n);
  const spec = attentionFigureSpec([
    {
      title: "utt-one",
      samples,
      sampleRate: 16000,
      attention: { arousal: flat(47), valence: flat(47) },
    },
  ]);
  assert.equal(spec.hconcat.length, 1);
  assert.equal(spec.hconcat[0].vconcat.length, 3, "waveform + one row per task");
  const svg = await renderSvg(spec);
  assert.match(svg, /^<svg/);
  assert.match(svg, /utt-one/);
  assert.match(svg, /α arousal/);
  const png = await svgToPng(svg, 1);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
});

Deno.test("confusion matrix and training curves render", async () => {
  const svg = await renderSvg(confusionMatrixSpec([[3, 1], [0, 4]], ["low", "high"], "arousal2"));
  assert.match(svg, /arousal2/);
  assert.match(svg, />4</);
  const curves = await renderSvg(
    trainingCurvesSpec([{ epoch: 1, loss: 1.2, devUar: { valence: 0.41 } }, {
      epoch: 2,
      loss: 0.8,
      devUar: { valence: 0.52 },
    }]),
  );
  assert.match(curves, /dev UAR/);
});
