/**
 * The notebooks run headless (nbconvert + Deno kernel) without a cell error, in quick mode
 * (EMO_NOTEBOOK_QUICK=1: tiny models and data). Skips, saying why, where Jupyter or the Deno
 * kernelspec is missing; the error-report parsing is tested everywhere.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cellErrors,
  describeFailure,
  jupyterAvailable,
  listNotebooks,
  NOTEBOOK_DIR,
  runNotebook,
  runNotebooks,
  silentCells,
  stripAnsi,
} from "../scripts/run-notebooks.ts";

const available = await jupyterAvailable();
if (!available.ok) {
  console.warn(`notebooks_test: skipping notebook execution: ${available.reason}`);
}

function notebook(cells: { type: "code" | "markdown"; source: string; outputs?: unknown[] }[]) {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
    cells: cells.map((c, i) => ({
      id: `c${i}`,
      cell_type: c.type,
      metadata: {},
      source: c.source,
      ...(c.type === "code" ? { outputs: c.outputs ?? [], execution_count: null } : {}),
    })),
  };
}

Deno.test("cellErrors finds error outputs and numbers code cells as Jupyter does", () => {
  const nb = notebook([
    { type: "markdown", source: "# title" },
    { type: "code", source: "const a = 1;", outputs: [{ output_type: "stream", text: "x" }] },
    { type: "markdown", source: "text" },
    {
      type: "code",
      source: "\n// load\nawait load();",
      outputs: [{ output_type: "error", ename: "\x1b[31mTypeError\x1b[0m", evalue: "bad\nmore" }],
    },
  ]);
  const errors = cellErrors(nb);
  assert.equal(errors.length, 1);
  assert.deepEqual(errors[0], {
    cell: 3,
    codeCell: 2,
    firstLine: "// load",
    ename: "TypeError",
    evalue: "bad\nmore",
  });
  assert.deepEqual(silentCells(nb), []);
  assert.deepEqual(
    silentCells(notebook([{ type: "markdown", source: "" }, { type: "code", source: "1" }])),
    [1],
  );
  const text = describeFailure({
    notebook: "x.ipynb",
    ok: false,
    seconds: 1,
    errors,
    silentCells: [],
  });
  assert.match(text, /x\.ipynb: FAILED/);
  assert.match(text, /cell 3 \(code cell 2, "\/\/ load"\): TypeError: bad$/m);
  assert.equal(cellErrors(notebook([{ type: "code", source: "1" }])).length, 0);
  assert.throws(() => cellErrors({ worksheets: [] }, "old.ipynb"), /old\.ipynb: not a Jupyter/);
  assert.equal(stripAnsi("\x1b[1m\x1b[31mError\x1b[0m: x"), "Error: x");
});

Deno.test("the repository has the five notebooks, each on the Deno kernel, importing mod.ts only", async () => {
  const paths = await listNotebooks(NOTEBOOK_DIR);
  const names = paths.map((p) => p.split("/").pop());
  for (
    const n of ["01-data", "02-train", "03-attention", "04-results", "05-features"]
  ) assert.ok(names.some((x) => x?.startsWith(n)), `notebooks/${n}*.ipynb missing`);
  for (const p of paths) {
    const nb = JSON.parse(await Deno.readTextFile(p));
    assert.equal(nb.metadata?.kernelspec?.name, "deno", `${p}: kernel is not deno`);
    for (const c of nb.cells.filter((c: { cell_type: string }) => c.cell_type === "code")) {
      const src = Array.isArray(c.source) ? c.source.join("") : c.source;
      for (const m of src.matchAll(/from\s+"([^"]+)"/g)) {
        assert.equal(m[1], "../mod.ts", `${p}: imports ${m[1]}; notebooks use the public API only`);
      }
    }
    const size = (await Deno.stat(p)).size;
    assert.ok(size < 1_000_000, `${p}: ${size} bytes with outputs (keep it under 1 MB)`);
    assert.deepEqual(cellErrors(nb, p), [], `${p}: committed with a cell error`);
    assert.ok(
      nb.cells.some((c: { outputs?: unknown[] }) => c.outputs?.length),
      `${p}: committed without outputs (run deno task notebooks --inplace)`,
    );
  }
});

Deno.test({
  name: "a failing cell is reported with its notebook, cell and message",
  ignore: !available.ok,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "nbfail-" });
    try {
      const path = join(dir, "broken.ipynb");
      await Deno.writeTextFile(
        path,
        JSON.stringify(notebook([
          { type: "code", source: "const x = 41 + 1;" },
          { type: "code", source: 'throw new Error("deliberate failure " + x);' },
        ])),
      );
      const run = await runNotebook(path, join(dir, "out"));
      assert.equal(run.ok, false);
      assert.equal(run.errors.length, 1, describeFailure(run));
      assert.equal(run.errors[0].codeCell, 2);
      assert.match(run.errors[0].evalue, /deliberate failure 42/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "every notebook runs headless without a cell error (quick mode)",
  ignore: !available.ok,
  async fn() {
    const outDir = await Deno.makeTempDir({ prefix: "notebooks-test-" });
    try {
      const lines: string[] = [];
      const runs = await runNotebooks({ quick: true, outDir, log: (l) => lines.push(l) });
      console.log(lines.join("\n"));
      const failed = runs.filter((r) => !r.ok);
      assert.equal(failed.length, 0, failed.map(describeFailure).join("\n"));
      assert.equal(runs.length >= 5, true);
    } finally {
      await Deno.remove(outDir, { recursive: true });
    }
  },
});
