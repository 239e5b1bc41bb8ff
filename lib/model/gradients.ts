/**
 * Gradients of the tfjs kernels the model and its training objective use.
 *
 * `@tensorflow/tfjs-core` registers no gradients by itself: the union package `@tensorflow/tfjs`
 * imports `tfjs-core/dist/register_all_gradients`, whose unbundled ESM files use extensionless
 * imports that Deno cannot load. So we register our own gradient functions for the kernels
 * on the model's differentiable path, written with forward ops only (every backend has them).
 * A kernel that already has a gradient (e.g. in a browser bundle with the full registry) is
 * left alone.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { conv2dFilterGradNHWC, conv2dInputGradNHWC } from "./conv.ts";

type Attrs = Record<string, unknown>;
type Grad = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: Attrs) => Record<
  string,
  () => tf.Tensor
>;

/** Sums a broadcast gradient back to `shape`. */
function reduceTo(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = axes.length > 0 ? tf.sum(g, axes, true) : g;
  return tf.reshape(s, shape);
}

/** Normalises a reduction axis attribute (undefined/null = all axes, negatives allowed). */
function axesOf(axis: unknown, rank: number): number[] {
  if (axis === undefined || axis === null) return [...Array(rank).keys()];
  const list = Array.isArray(axis) ? axis as number[] : [axis as number];
  return list.map((a) => (a < 0 ? a + rank : a));
}

/** The shape of `x` with the reduced axes kept as size 1. */
function keptShape(shape: number[], axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

// A same-dtype cast still runs an Identity kernel; skip it (thousands per GRU step).
const f32 = (t: tf.Tensor) => (t.dtype === "float32" ? t : tf.cast(t, "float32"));

const grads: Record<string, { save?: string[]; outputs?: boolean[]; all?: boolean; fn: Grad }> = {
  Add: {
    save: ["a", "b"],
    fn: (dy, [a, b]) => ({
      a: () => reduceTo(dy as tf.Tensor, a.shape),
      b: () => reduceTo(dy as tf.Tensor, b.shape),
    }),
  },
  Sub: {
    save: ["a", "b"],
    fn: (dy, [a, b]) => ({
      a: () => reduceTo(dy as tf.Tensor, a.shape),
      b: () => tf.neg(reduceTo(dy as tf.Tensor, b.shape)),
    }),
  },
  Multiply: {
    save: ["a", "b"],
    fn: (dy, [a, b]) => ({
      a: () => reduceTo(tf.mul(dy as tf.Tensor, f32(b)), a.shape),
      b: () => reduceTo(tf.mul(dy as tf.Tensor, f32(a)), b.shape),
    }),
  },
  RealDiv: {
    save: ["a", "b"],
    fn: (dy, [a, b]) => ({
      a: () => reduceTo(tf.div(dy as tf.Tensor, b), a.shape),
      b: () => reduceTo(tf.neg(tf.div(tf.mul(dy as tf.Tensor, a), tf.square(b))), b.shape),
    }),
  },
  Minimum: {
    save: ["a", "b"],
    fn: (dy, [a, b]) => ({
      a: () => reduceTo(tf.mul(dy as tf.Tensor, tf.sub(1, tf.step(tf.sub(a, b)))), a.shape),
      b: () => reduceTo(tf.mul(dy as tf.Tensor, tf.step(tf.sub(a, b))), b.shape),
    }),
  },
  Maximum: {
    save: ["a", "b"],
    fn: (dy, [a, b]) => ({
      a: () => reduceTo(tf.mul(dy as tf.Tensor, tf.sub(1, tf.step(tf.sub(b, a)))), a.shape),
      b: () => reduceTo(tf.mul(dy as tf.Tensor, tf.step(tf.sub(b, a))), b.shape),
    }),
  },
  AddN: {
    all: true,
    fn: (dy, saved) => Object.fromEntries(saved.map((_, i) => [String(i), () => dy as tf.Tensor])),
  },
  Neg: { fn: (dy) => ({ x: () => tf.neg(dy as tf.Tensor) }) },
  Exp: { outputs: [true], fn: (dy, [y]) => ({ x: () => tf.mul(dy as tf.Tensor, y) }) },
  Log: { save: ["x"], fn: (dy, [x]) => ({ x: () => tf.div(dy as tf.Tensor, f32(x)) }) },
  Sqrt: {
    outputs: [true],
    fn: (dy, [y]) => ({ x: () => tf.div(dy as tf.Tensor, tf.mul(y, 2)) }),
  },
  Square: {
    save: ["x"],
    fn: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.mul(f32(x), 2)) }),
  },
  Abs: {
    save: ["x"],
    fn: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.sign(f32(x))) }),
  },
  Relu: {
    save: ["x"],
    fn: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.step(x)) }),
  },
  Sigmoid: {
    outputs: [true],
    fn: (dy, [y]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.mul(y, tf.sub(1, y))) }),
  },
  Tanh: {
    outputs: [true],
    fn: (dy, [y]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(y))) }),
  },
  Softmax: {
    outputs: [true],
    fn: (dy, [y], attrs) => {
      const dim = axesOf(attrs.dim ?? -1, y.rank);
      return {
        logits: () => {
          const p = tf.mul(dy as tf.Tensor, y);
          return tf.sub(p, tf.mul(tf.sum(p, dim, true), y));
        },
      };
    },
  },
  Cast: { fn: (dy) => ({ x: () => f32(dy as tf.Tensor) }) },
  Identity: { fn: (dy) => ({ x: () => dy as tf.Tensor }) },
  Reshape: {
    save: ["x"],
    fn: (dy, [x]) => ({ x: () => tf.reshape(dy as tf.Tensor, x.shape) }),
  },
  ExpandDims: {
    save: ["input"],
    fn: (dy, [x]) => ({ input: () => tf.reshape(dy as tf.Tensor, x.shape) }),
  },
  Squeeze: {
    save: ["x"],
    fn: (dy, [x]) => ({ x: () => tf.reshape(dy as tf.Tensor, x.shape) }),
  },
  Transpose: {
    fn: (dy, _s, attrs) => {
      const perm = attrs.perm as number[];
      const inv = new Array<number>(perm.length);
      perm.forEach((p, i) => (inv[p] = i));
      return { x: () => tf.transpose(dy as tf.Tensor, inv) };
    },
  },
  Slice: {
    save: ["x"],
    fn: (dy, [x], attrs) => {
      const [begin, size] = tf.slice_util.parseSliceParams(
        x,
        attrs.begin as number[],
        attrs.size as number[],
      );
      const pads = x.shape.map((d, i) => [begin[i], d - begin[i] - size[i]] as [number, number]);
      return { x: () => tf.pad(dy as tf.Tensor, pads) };
    },
  },
  PadV2: {
    save: ["x"],
    fn: (dy, [x], attrs) => {
      const begin = (attrs.paddings as [number, number][]).map((p) => p[0]);
      return { x: () => tf.slice(dy as tf.Tensor, begin, x.shape) };
    },
  },
  Concat: {
    all: true,
    fn: (dy, saved, attrs) => {
      const axis = axesOf(attrs.axis, saved[0].rank)[0];
      const sizes = saved.map((t) => t.shape[axis]);
      const parts = tf.split(dy as tf.Tensor, sizes, axis);
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
    },
  },
  Pack: {
    fn: (dy, _s, attrs) => {
      const parts = tf.unstack(dy as tf.Tensor, attrs.axis as number);
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
    },
  },
  Unpack: {
    save: ["value"],
    fn: (dy, [value], attrs) => {
      const axis = axesOf(attrs.axis, value.rank)[0];
      const part = value.shape.filter((_, j) => j !== axis);
      const list = (dy as (tf.Tensor | null)[]).map((g) => g ?? tf.zeros(part, "float32"));
      return { value: () => tf.stack(list, axis) };
    },
  },
  Sum: {
    save: ["x"],
    fn: (dy, [x], attrs) => {
      const axes = axesOf(attrs.axis, x.rank);
      return {
        x: () => tf.mul(tf.reshape(dy as tf.Tensor, keptShape(x.shape, axes)), tf.onesLike(f32(x))),
      };
    },
  },
  Mean: {
    save: ["x"],
    fn: (dy, [x], attrs) => {
      const axes = axesOf(attrs.axis, x.rank);
      const n = axes.reduce((p, a) => p * x.shape[a], 1);
      return {
        x: () =>
          tf.mul(tf.reshape(tf.div(dy as tf.Tensor, n), keptShape(x.shape, axes)), tf.onesLike(x)),
      };
    },
  },
  Max: {
    save: ["x"],
    outputs: [true],
    fn: (dy, [x, y], attrs) => {
      const kept = keptShape(x.shape, axesOf(attrs.reductionIndices, x.rank));
      return {
        // mask = [x == max] as 1 − step(max − x): wasm's broadcasting Equal is ~50× slower.
        x: () =>
          tf.mul(
            tf.reshape(dy as tf.Tensor, kept),
            tf.sub(1, tf.step(tf.sub(tf.reshape(y, kept), x))),
          ),
      };
    },
  },
  BatchMatMul: {
    save: ["a", "b"],
    fn: (dy, [a, b], attrs) => {
      const ta = attrs.transposeA === true, tb = attrs.transposeB === true;
      const g = dy as tf.Tensor;
      // wasm runs only the untransposed product fast (XNNPACK); its transposed variants are
      // ~20× slower than an explicit transpose followed by a plain matmul.
      const tr = (x: tf.Tensor) => {
        const perm = [...Array(x.rank).keys()];
        [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
        return tf.transpose(x, perm);
      };
      const mm = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y);
      let da: () => tf.Tensor, db: () => tf.Tensor;
      if (!ta && !tb) {
        da = () => mm(g, tr(b));
        db = () => mm(tr(a), g);
      } else if (!ta && tb) {
        da = () => mm(g, b);
        db = () => mm(tr(g), a);
      } else if (ta && !tb) {
        da = () => mm(b, tr(g));
        db = () => mm(a, g);
      } else {
        da = () => tr(mm(g, b));
        db = () => tr(mm(a, g));
      }
      return { a: () => reduceTo(da(), a.shape), b: () => reduceTo(db(), b.shape) };
    },
  },
  Conv2D: {
    save: ["x", "filter"],
    fn: (dy, [x, filter], attrs) => ({
      x: () =>
        conv2dInputGradNHWC(x as tf.Tensor4D, filter as tf.Tensor4D, dy as tf.Tensor4D, attrs),
      filter: () =>
        conv2dFilterGradNHWC(x as tf.Tensor4D, filter as tf.Tensor4D, dy as tf.Tensor4D, attrs),
    }),
  },
};

let done = false;

/**
 * Registers (once) our gradients for every kernel listed above that has none yet.
 * Called on import of the model module; safe to call again.
 * @returns the kernel names it registered.
 */
export function registerGradients(): string[] {
  if (done) return [];
  done = true;
  const added: string[] = [];
  for (const [kernelName, g] of Object.entries(grads)) {
    if (tf.getGradient(kernelName)) continue;
    const config: tf.GradConfig = {
      kernelName,
      gradFunc: g.fn as tf.GradConfig["gradFunc"],
    };
    if (g.save) config.inputsToSave = g.save;
    if (g.outputs) config.outputsToSave = g.outputs;
    if (g.all) config.saveAllInputs = true;
    tf.registerGradient(config);
    added.push(kernelName);
  }
  return added;
}

/** Kernel names {@link registerGradients} can supply. */
export const GRADIENT_KERNELS: readonly string[] = Object.keys(grads);
