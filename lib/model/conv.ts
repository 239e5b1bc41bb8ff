/**
 * Trainable 1-D convolution whose gradients are computed with forward convolutions.
 *
 * tfjs's wasm backend ships no `Conv2DBackpropFilter` kernel, so `tf.conv1d` cannot be trained
 * there; the cpu backend has it but reads element by element (seconds per call). Both gradients
 * of a valid, stride-1 convolution are themselves convolutions, which every backend runs fast
 * (XNNPACK on wasm):
 *
 * - dX = conv(dY zero-padded by K−1 on both sides, kernel reversed in time, in/out swapped);
 * - dW[k, i, o] = Σ_n Σ_t X[n, t+k, i] · dY[n, t, o]: a convolution whose *batch* is the input
 *   channel i, whose *channels* are the examples n, and whose *filter* is dY.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** dX of a valid stride-1 conv1d, via a forward conv1d. */
export function conv1dInputGrad(dy: tf.Tensor3D, w: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const k = w.shape[0];
    const padded = tf.pad(dy, [[0, 0], [k - 1, k - 1], [0, 0]]);
    const flipped = tf.transpose(tf.reverse(w, 0), [0, 2, 1]) as tf.Tensor3D;
    return tf.conv1d(padded as tf.Tensor3D, flipped, 1, "valid");
  });
}

/** dW of a valid stride-1 conv1d `[K, Cin, Cout]`, via a forward conv2d. */
export function conv1dFilterGrad(x: tf.Tensor3D, dy: tf.Tensor3D, k: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [n, len, cin] = x.shape;
    const [, lout, cout] = dy.shape;
    // Examples become channels so that the whole reduction over (n, t) is one conv2d.
    const xin = tf.reshape(tf.transpose(x, [2, 1, 0]), [cin, 1, len, n]) as tf.Tensor4D;
    const filt = tf.reshape(tf.transpose(dy, [1, 0, 2]), [1, lout, n, cout]) as tf.Tensor4D;
    const out = tf.conv2d(xin, filt, 1, "valid"); // [cin, 1, k, cout]
    return tf.transpose(tf.reshape(out, [cin, k, cout]), [1, 0, 2]) as tf.Tensor3D;
  });
}

/**
 * Valid, stride-1 `conv1d(x [N, L, Cin], w [K, Cin, Cout]) → [N, L−K+1, Cout]` with gradients
 * from forward convolutions, so it trains on every backend (wasm included).
 *
 * With `inputGrad: false` the gradient for `x` is reported as zeros without being computed,
 * for inputs that are data (the raw signal).
 */
export function trainableConv1d(
  x: tf.Tensor3D,
  w: tf.Tensor3D,
  inputGrad = true,
): tf.Tensor3D {
  const k = w.shape[0];
  if (x.shape[1] < k) {
    throw new Error(`trainableConv1d: input length ${x.shape[1]} is shorter than kernel ${k}`);
  }
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xx, ww] = args as tf.Tensor[];
    (args[2] as tf.GradSaveFunc)([xx, ww]);
    return {
      value: tf.conv1d(xx as tf.Tensor3D, ww as tf.Tensor3D, 1, "valid"),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as tf.Tensor3D[];
        const dx = inputGrad ? conv1dInputGrad(dy as tf.Tensor3D, sw) : tf.zerosLike(sx);
        return [dx, conv1dFilterGrad(sx, dy as tf.Tensor3D, k)];
      },
    };
  });
  return f(x, w) as tf.Tensor3D;
}

let registered = false;

/**
 * Registers, once, a global `Conv2D` gradient that uses the backend's own backprop kernels
 * where it has them and forward convolutions otherwise (wasm), so that plain `tf.conv1d` /
 * `tf.conv2d` models can train on wasm. Only stride 1, dilation 1, NHWC, groups of one are
 * handled by the fallback; anything else throws a clear error on such a backend.
 * The model in this package does not need it (it uses {@link trainableConv1d}).
 */
export function registerConvGradientFallback(): void {
  if (registered) return;
  const original = tf.getGradient("Conv2D");
  if (!original) throw new Error("tfjs-core has no Conv2D gradient to wrap");
  tf.registerGradient({
    kernelName: "Conv2D",
    inputsToSave: ["x", "filter"],
    gradFunc: (dy, saved, attrs) => {
      const backendName = tf.getBackend();
      if (tf.getKernel("Conv2DBackpropFilter", backendName)) {
        return original.gradFunc(dy, saved, attrs);
      }
      const a = attrs as unknown as {
        strides: number | number[];
        pad: unknown;
        dilations: number | number[];
        dataFormat: string;
      };
      const ones = (v: number | number[]) => (Array.isArray(v) ? v : [v, v]).every((s) => s === 1);
      if (!ones(a.strides) || !ones(a.dilations) || (a.dataFormat ?? "NHWC") !== "NHWC") {
        throw new Error(
          `Conv2D gradient on '${backendName}': only stride 1, dilation 1, NHWC is supported`,
        );
      }
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const [fh, fw] = filter.shape;
      const [, h, w] = x.shape;
      const [, oh, ow] = (dy as tf.Tensor4D).shape;
      // Reconstruct the explicit padding the forward pass used ('same' puts the odd one after).
      const padH = oh + fh - 1 - h, padW = ow + fw - 1 - w;
      const top = Math.floor(padH / 2), left = Math.floor(padW / 2);
      return {
        x: () =>
          tf.tidy(() => {
            const dyp = tf.pad(dy as tf.Tensor4D, [
              [0, 0],
              [fh - 1, fh - 1],
              [fw - 1, fw - 1],
              [0, 0],
            ]);
            const k = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
            const full = tf.conv2d(dyp as tf.Tensor4D, k, 1, "valid");
            return tf.slice(full, [0, top, left, 0], x.shape);
          }),
        filter: () =>
          tf.tidy(() => {
            const xp = tf.pad(x, [[0, 0], [top, padH - top], [left, padW - left], [0, 0]]);
            const cin = xp.shape[3];
            const cout = filter.shape[3];
            const xin = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [cin, hp, wp, n]
            const f = tf.transpose(dy as tf.Tensor4D, [1, 2, 0, 3]) as tf.Tensor4D; // [oh,ow,n,co]
            const out = tf.conv2d(xin, f, 1, "valid"); // [cin, fh, fw, cout]
            return tf.reshape(tf.transpose(out, [1, 2, 0, 3]), [fh, fw, cin, cout]);
          }),
      };
    },
  });
  registered = true;
}
