/**
 * GRU layer (sigmoid gates z, r; tanh candidate; reset applied before the recurrent matmul;
 * h' = z·h + (1 − z)·ĥ, TensorFlow's GRUCell convention) written with tfjs-core ops.
 *
 * {@link gruReference} lets autodiff differentiate the recurrence; {@link gru} computes the
 * same values with a hand-written backward pass through time. tfjs pays a fixed cost per
 * kernel call, so halving the number of small ops per time step matters: the hand-written
 * backward needs ~14 ops per step where autodiff records ~40, and batches every
 * step-independent product (gate derivatives, weight gradients) over all steps at once.
 *
 * On the wasm backend the recurrence itself — forward and backward through time — runs in
 * one JS loop per direction on our own GEMM (own_kernels.ts) instead of ~25 tfjs kernel calls
 * per time step and layer: at 300 windows that removes ~14,000 kernel calls (≈ 30 % of a
 * training step) from every step. The step-independent products stay single tfjs matmuls.
 *
 * On the webgpu backend the recurrence runs in WGSL programs of our own, one dispatch per
 * direction whatever the number of windows (gru_webgpu.ts), instead of one or more dispatches
 * per tfjs op and time step. `setOwnKernels(false)` turns both off.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { gruWebGpu } from "./gru_webgpu.ts";
import { ownKernels, ownWebGpuKernels } from "./own_kernels.ts";
import type { WasmGemm } from "./wasm_gemm.ts";

/** `[..., M, N]` → `[..., N, M]` as an explicit copy (wasm multiplies transposed operands slowly). */
function tr(x: tf.Tensor): tf.Tensor {
  const perm = [...Array(x.rank).keys()];
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
}

/** Reference GRU over `[B, W, D]` → `[B, W, U]`, differentiated by tfjs autodiff. */
export function gruReference(
  x: tf.Tensor3D,
  kernel: tf.Tensor2D,
  recurrent: tf.Tensor2D,
  bias: tf.Tensor1D,
): tf.Tensor3D {
  const [b, nw, d] = x.shape;
  const u = recurrent.shape[0];
  const proj = tf.add(tf.matMul(tf.reshape(x, [b * nw, d]), kernel), bias);
  const timeMajor = tf.transpose(tf.reshape(proj, [b, nw, 3 * u]), [1, 0, 2]);
  const xzr = tf.unstack(tf.slice(timeMajor, [0, 0, 0], [nw, b, 2 * u]));
  const xh = tf.unstack(tf.slice(timeMajor, [0, 0, 2 * u], [nw, b, u]));
  const uzr = tf.slice(recurrent, [0, 0], [u, 2 * u]);
  const uh = tf.slice(recurrent, [0, 2 * u], [u, u]);
  let h: tf.Tensor2D = tf.zeros([b, u]);
  const outs: tf.Tensor2D[] = [];
  for (let t = 0; t < nw; t++) {
    const zr = tf.sigmoid(tf.add(xzr[t], tf.matMul(h, uzr)));
    const z = tf.slice(zr, [0, 0], [b, u]);
    const r = tf.slice(zr, [0, u], [b, u]);
    const cand = tf.tanh(tf.add(xh[t], tf.matMul(tf.mul(r, h), uh)));
    h = tf.add(cand, tf.mul(z, tf.sub(h, cand)));
    outs.push(h);
  }
  return tf.transpose(tf.stack(outs), [1, 0, 2]) as tf.Tensor3D;
}

/**
 * GRU over `[B, W, D]` → `[B, W, U]` with a hand-written backward pass (same values and
 * gradients as {@link gruReference}). Weights: `kernel [D, 3U]`, `recurrent [U, 3U]`,
 * `bias [3U]`, gate blocks ordered z, r, candidate.
 */
export function gru(
  x: tf.Tensor3D,
  kernel: tf.Tensor2D,
  recurrent: tf.Tensor2D,
  bias: tf.Tensor1D,
): tf.Tensor3D {
  const own = ownKernels();
  if (own) return gruOwn(own.gemm, x, kernel, recurrent, bias);
  if (ownWebGpuKernels()) {
    return gruWebGpu(x, kernel, recurrent, bias);
  }
  const [b, nw, d] = x.shape;
  const u = recurrent.shape[0];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xx, kk, rr, bb] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    const [out, zs, rs, cs, hps] = tf.tidy(() => {
      const proj = tf.add(tf.matMul(tf.reshape(xx, [b * nw, d]), kk), bb);
      const timeMajor = tf.transpose(tf.reshape(proj, [b, nw, 3 * u]), [1, 0, 2]);
      const xzr = tf.unstack(tf.slice(timeMajor, [0, 0, 0], [nw, b, 2 * u]));
      const xh = tf.unstack(tf.slice(timeMajor, [0, 0, 2 * u], [nw, b, u]));
      const uzr = tf.slice(rr, [0, 0], [u, 2 * u]);
      const uh = tf.slice(rr, [0, 2 * u], [u, u]);
      let h: tf.Tensor = tf.zeros([b, u]);
      const hs: tf.Tensor[] = [], hp: tf.Tensor[] = [];
      const z: tf.Tensor[] = [], r: tf.Tensor[] = [], c: tf.Tensor[] = [];
      for (let t = 0; t < nw; t++) {
        hp.push(h);
        const zr = tf.sigmoid(tf.add(xzr[t], tf.matMul(h, uzr)));
        const zt = tf.slice(zr, [0, 0], [b, u]);
        const rt = tf.slice(zr, [0, u], [b, u]);
        const ct = tf.tanh(tf.add(xh[t], tf.matMul(tf.mul(rt, h), uh)));
        h = tf.add(ct, tf.mul(zt, tf.sub(h, ct)));
        z.push(zt);
        r.push(rt);
        c.push(ct);
        hs.push(h);
      }
      return [
        tf.transpose(tf.stack(hs), [1, 0, 2]),
        tf.stack(z),
        tf.stack(r),
        tf.stack(c),
        tf.stack(hp),
      ];
    });
    save([xx, kk, rr, zs, rs, cs, hps]);
    tf.dispose([zs, rs, cs, hps]); // the saved copies live on; these handles are not needed
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, sk, sr, zS, rS, cS, hpS] = saved;
          // Step-independent factors for all steps at once ([W, B, U] each).
          const oneMinusZ = tf.sub(1, zS);
          const dcFactor = tf.mul(oneMinusZ, tf.sub(1, tf.square(cS))); // ∂h'/∂ĥ · tanh'
          const dzFactor = tf.mul(tf.sub(hpS, cS), tf.mul(zS, oneMinusZ)); // ∂h'/∂z · σ'
          const drFactor = tf.mul(hpS, tf.mul(rS, tf.sub(1, rS))); // ∂(r·h)/∂r · σ'
          const dyT = tf.unstack(tf.transpose(dy, [1, 0, 2]));
          const [zL, rL, dcL, dzL, drL] = [zS, rS, dcFactor, dzFactor, drFactor].map((t) =>
            tf.unstack(t)
          );
          const uzrT = tr(tf.slice(sr, [0, 0], [u, 2 * u]));
          const uhT = tr(tf.slice(sr, [0, 2 * u], [u, u]));
          const dzrL: tf.Tensor[] = new Array(nw), dcpL: tf.Tensor[] = new Array(nw);
          let dh: tf.Tensor | undefined;
          for (let t = nw - 1; t >= 0; t--) {
            const g = dh ? tf.add(dyT[t], dh) : dyT[t];
            const dcp = tf.mul(g, dcL[t]);
            const drh = tf.matMul(dcp, uhT);
            const dzr = tf.concat([tf.mul(g, dzL[t]), tf.mul(drh, drL[t])], 1);
            dh = tf.add(tf.add(tf.mul(g, zL[t]), tf.mul(drh, rL[t])), tf.matMul(dzr, uzrT));
            dzrL[t] = dzr;
            dcpL[t] = dcp;
          }
          const dzrS = tf.stack(dzrL); // [W, B, 2U]
          const dcpS = tf.stack(dcpL); // [W, B, U]
          const flat = (t: tf.Tensor, n: number) => tf.reshape(t, [nw * b, n]);
          const dProj = tf.reshape(
            tf.transpose(tf.concat([dzrS, dcpS], 2), [1, 0, 2]),
            [b * nw, 3 * u],
          );
          return weightGradients(sx, sk, {
            hp: flat(hpS, u),
            rhp: flat(tf.mul(rS, hpS), u),
            dzr: flat(dzrS, 2 * u),
            dcp: flat(dcpS, u),
            dProj,
          });
        }),
    };
  });
  return f(x, kernel, recurrent, bias) as tf.Tensor3D;
}

/**
 * The step-independent gradients, each one matmul over all steps: dx, kernel, recurrent, bias.
 * `hp` (previous h), `rhp` (r ⊙ previous h), `dzr`, `dcp` are `[W·B, ·]` in any common row
 * order; `dProj` is the projection's gradient `[B·W, 3U]` in x's (batch-major) order.
 */
function weightGradients(
  x: tf.Tensor,
  kernel: tf.Tensor,
  g: { hp: tf.Tensor; rhp: tf.Tensor; dzr: tf.Tensor; dcp: tf.Tensor; dProj: tf.Tensor },
): tf.Tensor[] {
  const [b, nw, d] = x.shape;
  const dUzr = tf.matMul(tr(g.hp), g.dzr);
  const dUh = tf.matMul(tr(g.rhp), g.dcp);
  const dx = tf.reshape(tf.matMul(g.dProj, tr(kernel)), [b, nw, d]);
  const dk = tf.matMul(tr(tf.reshape(x, [b * nw, d])), g.dProj);
  return [dx, dk, tf.concat([dUzr, dUh], 1), tf.sum(g.dProj, 0)];
}

/** Columns [c0, c0 + n) of a row-major `[rows × ld]` matrix, transposed: `[n × rows]`. */
function columnsTransposed(a: Float32Array, rows: number, ld: number, c0: number, n: number) {
  const t = new Float32Array(n * rows);
  for (let i = 0; i < rows; i++) for (let j = 0; j < n; j++) t[j * rows + i] = a[i * ld + c0 + j];
  return t;
}

/** Columns [c0, c0 + n) of a row-major `[rows × ld]` matrix. */
function columns(a: Float32Array, rows: number, ld: number, c0: number, n: number) {
  const t = new Float32Array(n * rows);
  for (let i = 0; i < rows; i++) t.set(a.subarray(i * ld + c0, i * ld + c0 + n), i * n);
  return t;
}

/**
 * {@link gru} with the recurrence on our own GEMM (same values and gradients up to float
 * rounding). Saved for the backward pass, time-major `[W, B, U]`: z, r, ĥ and the previous h.
 */
function gruOwn(
  g: WasmGemm,
  x: tf.Tensor3D,
  kernel: tf.Tensor2D,
  recurrent: tf.Tensor2D,
  bias: tf.Tensor1D,
): tf.Tensor3D {
  const [b, nw, d] = x.shape;
  const u = recurrent.shape[0], u3 = 3 * u, bu = b * u;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xx, kk, rr, bb] = args as tf.Tensor[];
    // The backward pass reads the forward's JS copies of x, kernel and recurrent (dataSync
    // copies out of the wasm heap), not tensors saved through the GradSaveFunc, which the
    // engine would clone (another copy on wasm) and which would be read out again.
    const xd = xx.dataSync() as Float32Array, kd = kk.dataSync() as Float32Array;
    // The input projection [B·W, D]·[D, 3U] on our GEMM too (XNNPACK ran it at about half
    // the GEMM's rate): [B, W, 3U], batch-major.
    const p = g.gemm(xd, kd, b * nw, d, u3);
    const bd = bb.dataSync() as Float32Array;
    for (let i = 0; i < p.length; i += u3) for (let j = 0; j < u3; j++) p[i + j] += bd[j];
    const rd = rr.dataSync() as Float32Array;
    const Z = new Float32Array(nw * bu), R = new Float32Array(nw * bu);
    const C = new Float32Array(nw * bu), HP = new Float32Array(nw * bu);
    const out = new Float32Array(b * nw * u);
    const pzr = g.packB(columns(rd, u, u3, 0, 2 * u), u, 2 * u);
    const ph = g.packB(columns(rd, u, u3, 2 * u, u), u, u);
    const hb = g.alloc(bu), rhb = g.alloc(bu), azr = g.alloc(2 * bu), ah = g.alloc(bu);
    try {
      // Views after every allocation (memory may have grown); none happens inside the loop.
      const h = hb.data, rh = rhb.data, zr = azr.data, hc = ah.data;
      h.fill(0);
      for (let t = 0; t < nw; t++) {
        const o = t * bu;
        HP.set(h, o);
        g.multiply({ a: { buffer: hb, rowStride: u }, b: pzr, c: { buffer: azr }, m: b });
        for (let i = 0; i < b; i++) {
          const po = (i * nw + t) * u3;
          for (let j = 0; j < u; j++) {
            const z = 1 / (1 + Math.exp(-(p[po + j] + zr[i * 2 * u + j])));
            const r = 1 / (1 + Math.exp(-(p[po + u + j] + zr[i * 2 * u + u + j])));
            Z[o + i * u + j] = z;
            R[o + i * u + j] = r;
            rh[i * u + j] = r * h[i * u + j];
          }
        }
        g.multiply({ a: { buffer: rhb, rowStride: u }, b: ph, c: { buffer: ah }, m: b });
        for (let i = 0; i < b; i++) {
          const po = (i * nw + t) * u3 + 2 * u;
          for (let j = 0; j < u; j++) {
            const k = i * u + j;
            const c = Math.tanh(p[po + j] + hc[k]);
            C[o + k] = c;
            const hn = c + Z[o + k] * (h[k] - c);
            h[k] = hn;
            out[(i * nw + t) * u + j] = hn;
          }
        }
      }
    } finally {
      for (const buf of [hb, rhb, azr, ah, pzr.buffer, ph.buffer]) buf.free();
    }
    return {
      value: tf.tensor3d(out, [b, nw, u]),
      gradFunc: (dy: tf.Tensor) => {
        const dyd = dy.dataSync() as Float32Array; // [B, W, U]
        const r2 = rd;
        const dProj = new Float32Array(b * nw * u3); // [B, W, 3U]
        const dZR = new Float32Array(nw * 2 * bu), dCP = new Float32Array(nw * bu); // time-major
        const puzrT = g.packB(columnsTransposed(r2, u, u3, 0, 2 * u), 2 * u, u);
        const puhT = g.packB(columnsTransposed(r2, u, u3, 2 * u, u), u, u);
        const dcpb = g.alloc(bu), drhb = g.alloc(bu), dzrb = g.alloc(2 * bu), tb = g.alloc(bu);
        try {
          const dcp = dcpb.data, drh = drhb.data, dzr = dzrb.data, t2 = tb.data;
          const dh = new Float32Array(bu), gg = new Float32Array(bu);
          for (let t = nw - 1; t >= 0; t--) {
            const o = t * bu;
            for (let i = 0; i < b; i++) {
              for (let j = 0; j < u; j++) {
                const k = i * u + j;
                const gv = dyd[(i * nw + t) * u + j] + dh[k];
                gg[k] = gv;
                const z = Z[o + k], c = C[o + k];
                dcp[k] = gv * (1 - z) * (1 - c * c); // ∂h'/∂ĥ · tanh'
                dzr[i * 2 * u + j] = gv * (HP[o + k] - c) * z * (1 - z); // ∂h'/∂z · σ'
              }
            }
            g.multiply({ a: { buffer: dcpb, rowStride: u }, b: puhT, c: { buffer: drhb }, m: b });
            for (let i = 0; i < b; i++) {
              for (let j = 0; j < u; j++) {
                const k = i * u + j, r = R[o + k];
                dzr[i * 2 * u + u + j] = drh[k] * HP[o + k] * r * (1 - r); // ∂(r·h)/∂r · σ'
              }
            }
            g.multiply({
              a: { buffer: dzrb, rowStride: 2 * u },
              b: puzrT,
              c: { buffer: tb },
              m: b,
            });
            for (let i = 0; i < b; i++) {
              const po = (i * nw + t) * u3;
              for (let j = 0; j < u; j++) {
                const k = i * u + j;
                dh[k] = gg[k] * Z[o + k] + drh[k] * R[o + k] + t2[k];
                dProj[po + j] = dzr[i * 2 * u + j];
                dProj[po + u + j] = dzr[i * 2 * u + u + j];
                dProj[po + 2 * u + j] = dcp[k];
              }
            }
            dZR.set(dzr.subarray(0, 2 * bu), t * 2 * bu);
            dCP.set(dcp.subarray(0, bu), o);
          }
        } finally {
          for (const buf of [dcpb, drhb, dzrb, tb, puzrT.buffer, puhT.buffer]) buf.free();
        }
        // The step-independent products (weightGradients' four matmuls) on our GEMM, from the
        // arrays the loop filled: rows are (time, batch) for hp, rhp, dZR, dCP — any common
        // order works for the sums over rows — and (batch, time) for dProj and x.
        const rhp = new Float32Array(nw * bu);
        for (let k = 0; k < rhp.length; k++) rhp[k] = R[k] * HP[k];
        const rows = nw * b;
        const dUzr = g.gemm(HP, dZR, u, rows, 2 * u, { transA: true });
        const dUh = g.gemm(rhp, dCP, u, rows, u, { transA: true });
        const du = new Float32Array(u * u3);
        for (let i = 0; i < u; i++) {
          du.set(dUzr.subarray(i * 2 * u, (i + 1) * 2 * u), i * u3);
          du.set(dUh.subarray(i * u, (i + 1) * u), i * u3 + 2 * u);
        }
        const kT = new Float32Array(d * u3);
        for (let i = 0; i < d; i++) for (let j = 0; j < u3; j++) kT[j * d + i] = kd[i * u3 + j];
        const dx = g.gemm(dProj, kT, rows, u3, d);
        const dk = g.gemm(xd, dProj, d, rows, u3, { transA: true });
        const db = new Float64Array(u3);
        for (let i = 0; i < dProj.length; i += u3) {
          for (let j = 0; j < u3; j++) db[j] += dProj[i + j];
        }
        return [
          tf.tensor3d(dx, [b, nw, d]),
          tf.tensor2d(dk, [d, u3]),
          tf.tensor2d(du, [u, u3]),
          tf.tensor1d(Float32Array.from(db)),
        ];
      },
    };
  });
  return f(x, kernel, recurrent, bias) as tf.Tensor3D;
}
