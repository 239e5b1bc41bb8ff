/**
 * Deterministic weight initialisation computed in JavaScript, so that the same seed gives
 * bit-identical initial weights on every backend (tfjs random ops differ between backends).
 * The generators come from `util/random.ts`: each parameter draws from its own stream,
 * `new Random(nameSeed(seed, name))`, so adding a parameter never shifts the others' values.
 * @module
 */

/** Glorot/Xavier uniform values: U(−l, l) with l = √(6 / (fanIn + fanOut)). */
export function glorotUniform(
  size: number,
  fanIn: number,
  fanOut: number,
  rand: () => number,
): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = (2 * rand() - 1) * limit;
  return out;
}

/**
 * A `rows × cols` matrix (row-major) whose columns are orthonormal, from Gram–Schmidt on
 * Gaussian columns (Box–Muller), as the orthogonal initialiser of recurrent kernels.
 * Requires rows ≥ cols.
 */
export function orthogonal(rows: number, cols: number, rand: () => number): Float32Array {
  if (rows < cols) throw new Error(`orthogonal: rows ${rows} < cols ${cols}`);
  const gauss = () => {
    const u = 1 - rand(), v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const q: Float64Array[] = [];
  for (let c = 0; c < cols; c++) {
    const v = new Float64Array(rows);
    for (let r = 0; r < rows; r++) v[r] = gauss();
    // Two passes of modified Gram–Schmidt keep the columns orthogonal to float precision.
    for (let pass = 0; pass < 2; pass++) {
      for (const u of q) {
        let d = 0;
        for (let r = 0; r < rows; r++) d += u[r] * v[r];
        for (let r = 0; r < rows; r++) v[r] -= d * u[r];
      }
    }
    let n = 0;
    for (let r = 0; r < rows; r++) n += v[r] * v[r];
    n = Math.sqrt(n);
    for (let r = 0; r < rows; r++) v[r] /= n;
    q.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) out[r * cols + c] = q[c][r];
  return out;
}
