/**
 * Linear C-SVC on top of `libsvm-js` (libsvm 3.x compiled to WebAssembly).
 *
 * libsvm trains multi-class problems one-vs-one and predicts by voting, which is what the
 * paper's OS+SVM baseline (and openSMILE/WEKA-style baselines in general) use. Training without
 * probability estimates involves no random numbers, so the same data in the same order always
 * gives the same model.
 *
 * Loading quirks under Deno (measured with Deno 2.9.6, libsvm-js 0.2.1):
 * - the emscripten glue takes the browser path when `self` exists and then crashes on
 *   `document`; hiding `globalThis.self` during the import makes it take the Node path;
 * - on the Node path it still tries `fetch(<absolute file path>)` first (which Deno rejects,
 *   printing "wasm streaming compile failed"), so `fetch` is hidden too and the glue reads the
 *   `.wasm` file with `fs` instead (needs read permission on node_modules);
 * - models and training problems live in the wasm heap, which is not garbage collected:
 *   every trained model must be released with {@link LinearSvm.free}.
 *
 * @module
 */

/** The part of libsvm-js's `SVM` instance API that this module uses. */
export interface LibsvmInstance {
  /** Trains the model on feature rows and their integer class labels. */
  train(samples: ArrayLike<number>[], labels: number[]): void;
  /** The predicted class label of one feature row. */
  predictOne(sample: ArrayLike<number>): number;
  /** The class labels the model was trained on. */
  getLabels(): number[];
  /** Releases the model's memory in the libsvm heap. */
  free(): void;
}

/** libsvm-js's `SVM` class with its option constants. */
export interface LibsvmClass {
  /** Creates an untrained model from libsvm options (`type`, `kernel`, `cost`, …). */
  new (options: Record<string, unknown>): LibsvmInstance;
  /** Values of the `type` option (`C_SVC`, …). */
  SVM_TYPES: Record<string, string>;
  /** Values of the `kernel` option (`LINEAR`, …). */
  KERNEL_TYPES: Record<string, string>;
}

/** Which libsvm-js build to load. */
export type LibsvmBuild = "wasm" | "asm";

const loaded = new Map<LibsvmBuild, Promise<LibsvmClass>>();

/**
 * Loads libsvm-js once per build (later calls share the promise). The wasm build is the
 * default: it loads under Deno with the work-arounds described in the module doc and is the
 * faster one; the asm.js build is kept as a fallback for runtimes without WebAssembly.
 */
export function loadLibsvm(build: LibsvmBuild = "wasm"): Promise<LibsvmClass> {
  let p = loaded.get(build);
  if (!p) {
    p = importLibsvm(build);
    loaded.set(build, p);
    // A failed load must not poison later attempts (e.g. after fixing permissions).
    p.catch(() => loaded.delete(build));
  }
  return p;
}

async function importLibsvm(build: LibsvmBuild): Promise<LibsvmClass> {
  const g = globalThis as unknown as Record<string, unknown>;
  const hidden = ["self", "fetch"].map((name) => ({
    name,
    desc: Object.getOwnPropertyDescriptor(globalThis, name),
  }));
  for (const { name } of hidden) delete g[name];
  try {
    // The emscripten glue evaluates its environment checks synchronously during the import,
    // and the wasm build then instantiates from the ArrayBuffer it read; awaiting the module's
    // promise inside the hiding window keeps both under the Node path.
    const mod = build === "wasm"
      ? await import("libsvm-js/wasm.js")
      : await import("libsvm-js/asm.js");
    const SVM = (await mod.default) as LibsvmClass;
    if (typeof SVM !== "function" || !SVM.KERNEL_TYPES) {
      throw new Error(`libsvm-js (${build} build) did not export the SVM class`);
    }
    return SVM;
  } catch (e) {
    throw new Error(
      `could not load libsvm-js (${build} build): ${e instanceof Error ? e.message : e}` +
        " (it needs --allow-read on node_modules)",
      { cause: e },
    );
  } finally {
    for (const { name, desc } of hidden) {
      if (desc) Object.defineProperty(globalThis, name, desc);
    }
  }
}

/** Options of {@link trainLinearSvm}. */
export interface LinearSvmOptions {
  /** Cost parameter C of the C-SVC (> 0). */
  c: number;
  /** libsvm's stopping tolerance (`-e`); libsvm's default 1e-3. */
  tolerance?: number;
  /** Which libsvm-js build to use; default `wasm`. */
  build?: LibsvmBuild;
}

/** A trained linear C-SVC. Call {@link LinearSvm.free} when done with it. */
export interface LinearSvm {
  /** Class indices seen in training, in ascending order. */
  readonly classes: number[];
  /** Number of features the model was trained on. */
  readonly numFeatures: number;
  /** Predicts a class index for each row. */
  predict(rows: ArrayLike<number>[]): Int32Array;
  /** Releases the model's wasm memory; the model cannot predict afterwards. */
  free(): void;
}

/**
 * Trains a linear C-SVC (libsvm `-s 0 -t 0 -c C`). Labels are non-negative class indices;
 * all rows must have the same, non-zero length and finite values. A training set with a single
 * class gives a model that always predicts that class (libsvm itself only warns there).
 */
export async function trainLinearSvm(
  rows: ArrayLike<number>[],
  labels: ArrayLike<number>,
  options: LinearSvmOptions,
): Promise<LinearSvm> {
  const { c } = options;
  if (!(c > 0) || !Number.isFinite(c)) throw new Error(`trainLinearSvm: C must be > 0, got ${c}`);
  if (rows.length === 0) throw new Error("trainLinearSvm: no training rows");
  if (rows.length !== labels.length) {
    throw new Error(`trainLinearSvm: ${rows.length} rows but ${labels.length} labels`);
  }
  const numFeatures = rows[0].length;
  if (numFeatures === 0) throw new Error("trainLinearSvm: rows have no features");
  const labelList: number[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row.length !== numFeatures) {
      throw new Error(
        `trainLinearSvm: row ${i} has ${row.length} features, row 0 has ${numFeatures}`,
      );
    }
    for (let j = 0; j < numFeatures; j++) {
      if (!Number.isFinite(row[j])) {
        throw new Error(`trainLinearSvm: row ${i}, feature ${j} is ${row[j]}`);
      }
    }
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0) {
      throw new Error(`trainLinearSvm: label ${i} is ${y}; expected a class index >= 0`);
    }
    labelList.push(y);
    seen.add(y);
  }
  const classes = [...seen].sort((a, b) => a - b);

  const checkRow = (row: ArrayLike<number>, i: number) => {
    if (row.length !== numFeatures) {
      throw new Error(
        `LinearSvm.predict: row ${i} has ${row.length} features, the model ${numFeatures}`,
      );
    }
  };

  if (classes.length === 1) {
    const only = classes[0];
    return {
      classes,
      numFeatures,
      predict(xs) {
        xs.forEach(checkRow);
        return new Int32Array(xs.length).fill(only);
      },
      free() {},
    };
  }

  const SVM = await loadLibsvm(options.build ?? "wasm");
  const svm = new SVM({
    type: SVM.SVM_TYPES.C_SVC,
    kernel: SVM.KERNEL_TYPES.LINEAR,
    cost: c,
    tolerance: options.tolerance ?? 1e-3,
    shrinking: true,
    probabilityEstimates: false,
    // libsvm prints its optimisation log to stdout otherwise.
    quiet: true,
  });
  // libsvm numbers the classes in order of first appearance, and that order breaks ties in
  // the one-vs-one vote. Presenting the rows grouped by ascending label (stable, so the order
  // within a class is kept) makes ties go to the smaller class index whatever the input order,
  // as in scikit-learn's libsvm.
  const order = labelList.map((_, i) => i).sort((a, b) => labelList[a] - labelList[b] || a - b);
  try {
    svm.train(order.map((i) => rows[i]), order.map((i) => labelList[i]));
  } catch (e) {
    svm.free();
    throw e;
  }
  let freed = false;
  return {
    classes,
    numFeatures,
    predict(xs) {
      if (freed) throw new Error("LinearSvm.predict: the model was freed");
      const out = new Int32Array(xs.length);
      for (let i = 0; i < xs.length; i++) {
        checkRow(xs[i], i);
        out[i] = svm.predictOne(xs[i]);
      }
      return out;
    },
    free() {
      if (!freed) svm.free();
      freed = true;
    },
  };
}
