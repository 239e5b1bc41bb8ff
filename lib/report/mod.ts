/**
 * Report stage: the figures of a run (attention over an utterance, training curves, confusion
 * matrices, class distributions) as Vega-Lite specifications, rendered to SVG without a DOM and
 * to PNG with resvg.
 *
 * ```ts
 * import { confusionMatrixSpec, renderSvg } from "./lib/report/mod.ts";
 * const svg = await renderSvg(confusionMatrixSpec([[5, 1], [2, 4]], ["neu", "ang"]));
 * ```
 * @module
 */
export {
  attentionFigureSpec,
  type AttentionItem,
  classDistributionSpec,
  confusionMatrixSpec,
  type CurvePoint,
  renderSvg,
  svgToPng,
  trainingCurvesSpec,
  type VegaLiteSpec,
} from "./charts.ts";
