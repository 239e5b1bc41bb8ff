/**
 * Executes the notebooks in `notebooks/` headless with Jupyter's nbconvert and the Deno kernel,
 * and fails (exit 1) naming the notebook, the cell and its error when any cell raises.
 *
 * ```sh
 * deno task notebooks                 # every notebook, full settings, into runs/notebooks-XXXX
 * deno task notebooks --quick         # EMO_NOTEBOOK_QUICK=1: tiny models, seconds per notebook
 * deno task notebooks --inplace       # refresh the committed outputs (only if no cell failed)
 * deno task notebooks 02-train        # only notebooks whose name contains "02-train"
 * ```
 *
 * Needs `jupyter nbconvert` and the Deno kernelspec (`deno task jupyter:install`).
 * @module
 */
import { parseCommandLine } from "../lib/util/cli.ts";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** One cell that raised while a notebook ran. */
export interface CellError {
  /** 0-based index of the cell in the notebook (markdown cells included). */
  cell: number;
  /** 1-based number among the code cells, as Jupyter counts them. */
  codeCell: number;
  /** First line of the cell's source, to find it. */
  firstLine: string;
  /** Error name (e.g. `TypeError`). */
  ename: string;
  /** Error message, ANSI colour codes removed. */
  evalue: string;
}

/** Outcome of one notebook. */
export interface NotebookRun {
  /** Notebook path as given. */
  notebook: string;
  /** True when nbconvert succeeded and no cell raised. */
  ok: boolean;
  /** Wall-clock seconds of the execution. */
  seconds: number;
  /** Cells that raised, in order. */
  errors: CellError[];
  /** Why the run failed when no cell error explains it (nbconvert exit status, its stderr tail). */
  message?: string;
  /** The executed copy (in the temp dir; the notebook itself under `inplace`). */
  output?: string;
  /**
   * 0-based indices of code cells that produced no output. Not an error (a cell may only define
   * things), but the Deno kernel has been seen to drop a cell's last display message now and
   * then, so `--inplace` lists them for a look before committing.
   */
  silentCells: number[];
}

/** Options of {@link runNotebooks}. */
export interface RunNotebooksOptions {
  /** Folder with the notebooks (default: the repository's `notebooks/`). */
  dir?: string;
  /** Only notebooks whose file name contains one of these strings. */
  only?: string[];
  /** Set EMO_NOTEBOOK_QUICK=1 for the kernel: the notebooks shrink their models and data. */
  quick?: boolean;
  /** Copy each executed notebook over its source when it ran without errors. */
  inplace?: boolean;
  /** Where executed copies go (default: a fresh temp dir under the repository's runs/). */
  outDir?: string;
  /** Per-cell timeout in seconds (default 1200). */
  cellTimeout?: number;
  /** Kernel name (default `deno`). */
  kernel?: string;
  /** Progress lines (default: console.log). */
  log?: (line: string) => void;
}

// The escape character is the point of this pattern.
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Default notebook folder of the repository. */
export const NOTEBOOK_DIR: string = join(REPO, "notebooks");

/** Strips ANSI colour codes (the Deno kernel colours error messages). */
export function stripAnsi(s: string): string {
  return s.replace(ANSI, "");
}

const joinSource = (s: unknown): string => (Array.isArray(s) ? s.join("") : String(s ?? ""));

/**
 * Lists the cells of an executed notebook (parsed .ipynb JSON) that produced an error output.
 * @throws when `nb` is not a notebook (no `cells` array)
 */
/** 0-based indices of the code cells of an executed notebook that have no output. */
export function silentCells(nb: { cells: { cell_type: string; outputs?: unknown[] }[] }): number[] {
  return nb.cells.flatMap((c, i) => (c.cell_type === "code" && !c.outputs?.length ? [i] : []));
}

export function cellErrors(nb: unknown, source = "notebook"): CellError[] {
  const cells = (nb as { cells?: unknown })?.cells;
  if (!Array.isArray(cells)) throw new Error(`${source}: not a Jupyter notebook (no cells array)`);
  const out: CellError[] = [];
  let codeCell = 0;
  cells.forEach((c, i) => {
    if (c?.cell_type !== "code") return;
    codeCell++;
    for (const o of c.outputs ?? []) {
      if (o?.output_type !== "error") continue;
      out.push({
        cell: i,
        codeCell,
        firstLine: joinSource(c.source).split("\n").find((l) => l.trim()) ?? "",
        ename: stripAnsi(String(o.ename ?? "Error")),
        evalue: stripAnsi(String(o.evalue ?? "")),
      });
    }
  });
  return out;
}

/** Formats a failed run for the terminal: notebook, cell, error. */
export function describeFailure(run: NotebookRun): string {
  const lines = [`${run.notebook}: FAILED`];
  for (const e of run.errors) {
    lines.push(
      `  cell ${e.cell} (code cell ${e.codeCell}, "${e.firstLine.slice(0, 70)}"): ${e.ename}: ${
        e.evalue.split("\n")[0]
      }`,
    );
  }
  if (run.message) lines.push(`  ${run.message.split("\n").join("\n  ")}`);
  return lines.join("\n");
}

async function output(cmd: string, args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
}

/**
 * Whether `jupyter nbconvert` and the kernelspec `kernel` are installed; `reason` says what is
 * missing otherwise.
 */
export async function jupyterAvailable(kernel = "deno"): Promise<{ ok: boolean; reason?: string }> {
  let specs: Deno.CommandOutput;
  try {
    specs = await output("jupyter", ["kernelspec", "list", "--json"]);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { ok: false, reason: "jupyter is not installed (Debian: jupyter-nbconvert …)" };
    }
    // Without --allow-run=jupyter Deno refuses before looking for the program.
    return { ok: false, reason: `cannot run jupyter: ${(e as Error).message}` };
  }
  if (!specs.success) return { ok: false, reason: "`jupyter kernelspec list` failed" };
  try {
    const list = JSON.parse(new TextDecoder().decode(specs.stdout));
    if (!list?.kernelspecs?.[kernel]) {
      return {
        ok: false,
        reason: `no '${kernel}' kernelspec (run \`deno task jupyter:install\`)`,
      };
    }
  } catch {
    return { ok: false, reason: "`jupyter kernelspec list --json` printed no JSON" };
  }
  const nbconvert = await output("jupyter", ["nbconvert", "--version"]).catch(() => null);
  if (!nbconvert?.success) {
    return { ok: false, reason: "jupyter nbconvert is not installed (Debian: jupyter-nbconvert)" };
  }
  return { ok: true };
}

/** Runs one notebook with nbconvert into `outDir` and collects its cell errors. */
export async function runNotebook(
  path: string,
  outDir: string,
  options: Pick<RunNotebooksOptions, "quick" | "cellTimeout" | "kernel"> = {},
): Promise<NotebookRun> {
  const name = basename(path);
  const env: Record<string, string> = { NO_COLOR: "1" };
  if (options.quick) env.EMO_NOTEBOOK_QUICK = "1";
  // Mesa's Vulkan driver (probed by WebGPU auto-detection) complains without one.
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    const xdg = join(outDir, ".xdg-runtime");
    await Deno.mkdir(xdg, { recursive: true, mode: 0o700 });
    env.XDG_RUNTIME_DIR = xdg;
  }
  const args = [
    "nbconvert",
    "--to",
    "notebook",
    "--execute",
    `--ExecutePreprocessor.kernel_name=${options.kernel ?? "deno"}`,
    `--ExecutePreprocessor.timeout=${options.cellTimeout ?? 1200}`,
    // Keep going after an error so the executed copy exists and names the failing cell.
    "--allow-errors",
    "--output-dir",
    outDir,
    "--output",
    name,
    path,
  ];
  const t0 = performance.now();
  const res = await new Deno.Command("jupyter", { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const seconds = (performance.now() - t0) / 1000;
  const out = join(outDir, name);
  const run: NotebookRun = {
    notebook: path,
    ok: false,
    seconds,
    errors: [],
    output: out,
    silentCells: [],
  };
  let executed: unknown;
  try {
    executed = JSON.parse(await Deno.readTextFile(out));
  } catch (e) {
    const tail = stripAnsi(new TextDecoder().decode(res.stderr)).trim().split("\n").slice(-15);
    run.message = `nbconvert exited with ${res.code} and wrote no readable notebook ` +
      `(${(e as Error).message}); its last output lines:\n${tail.join("\n")}`;
    return run;
  }
  run.errors = cellErrors(executed, out);
  run.silentCells = silentCells(executed as Parameters<typeof silentCells>[0]);
  if (!res.success && run.errors.length === 0) {
    const tail = stripAnsi(new TextDecoder().decode(res.stderr)).trim().split("\n").slice(-15);
    run.message = `nbconvert exited with ${res.code}:\n${tail.join("\n")}`;
  }
  run.ok = res.success && run.errors.length === 0;
  return run;
}

/** Lists `*.ipynb` in `dir` (sorted), optionally filtered by name fragments. */
export async function listNotebooks(dir: string, only: string[] = []): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".ipynb") && !e.name.startsWith(".")) names.push(e.name);
    }
  } catch (e) {
    throw new Error(`${dir}: cannot list notebooks (${(e as Error).message})`);
  }
  return names.sort()
    .filter((n) => only.length === 0 || only.some((o) => n.includes(o)))
    .map((n) => join(dir, n));
}

/**
 * Executes every notebook in order (later notebooks may use what earlier ones saved, e.g. the
 * model of 02-train) and returns one result per notebook.
 */
export async function runNotebooks(options: RunNotebooksOptions = {}): Promise<NotebookRun[]> {
  const log = options.log ?? console.log;
  const dir = options.dir ?? NOTEBOOK_DIR;
  const notebooks = await listNotebooks(dir, options.only);
  if (notebooks.length === 0) {
    throw new Error(`${dir}: no notebooks${options.only?.length ? " match the filter" : ""}`);
  }
  // The temp dir lives under the git-ignored runs/, so the task needs no write access elsewhere.
  let outDir = options.outDir;
  if (!outDir) {
    await Deno.mkdir(join(REPO, "runs"), { recursive: true });
    outDir = await Deno.makeTempDir({ dir: join(REPO, "runs"), prefix: "notebooks-" });
  } else {
    try {
      await Deno.mkdir(outDir, { recursive: true });
    } catch (e) {
      throw new Error(`${outDir}: cannot create the output folder (${(e as Error).message})`);
    }
  }
  log(`executed copies go to ${outDir}`);
  const runs: NotebookRun[] = [];
  for (const nb of notebooks) {
    const run = await runNotebook(nb, outDir, options);
    if (run.ok && options.inplace && run.output) {
      await Deno.copyFile(run.output, nb);
      run.output = nb;
    }
    log(
      run.ok
        ? `${basename(nb)}: ok (${run.seconds.toFixed(1)} s)` +
          (options.inplace && run.silentCells.length
            ? `; code cells without output: ${run.silentCells.join(", ")}`
            : "")
        : describeFailure({ ...run, notebook: basename(nb) }),
    );
    runs.push(run);
  }
  return runs;
}

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine(
    {
      allowPositionals: true,
      options: {
        quick: { type: "boolean", default: false },
        inplace: { type: "boolean", default: false },
        "out-dir": { type: "string" },
        dir: { type: "string" },
        timeout: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    },
    "usage: deno task notebooks [--quick] [--inplace] [--out-dir DIR] [--dir DIR] [--timeout S] [NAME…] (--help for more)",
  );
  if (values.help) {
    console.log(
      `deno task notebooks [--quick] [--inplace] [--out-dir DIR] [--dir DIR] [--timeout S] [NAME…]

Executes notebooks/*.ipynb (or those whose name contains a NAME) headless with nbconvert and
the Deno kernel; exits 1 naming the notebook and cell if any cell raises.
  --quick     EMO_NOTEBOOK_QUICK=1: tiny models and data (what the test runs)
  --inplace   write the executed notebooks over the sources when they ran without error
  --out-dir   where the executed copies go (default: a temp dir runs/notebooks-XXXX)
  --timeout   per-cell timeout in seconds (default 1200)`,
    );
    return 0;
  }
  const available = await jupyterAvailable();
  if (!available.ok) {
    console.error(`error: ${available.reason}`);
    return 2;
  }
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && !(timeout > 0)) {
    console.error(`error: --timeout must be a positive number of seconds (got ${values.timeout})`);
    return 2;
  }
  const t0 = performance.now();
  const runs = await runNotebooks({
    dir: values.dir,
    only: positionals,
    quick: values.quick,
    inplace: values.inplace,
    outDir: values["out-dir"],
    cellTimeout: timeout,
  });
  const failed = runs.filter((r) => !r.ok);
  console.log(
    `${runs.length - failed.length}/${runs.length} notebooks ran without errors in ${
      ((performance.now() - t0) / 1000).toFixed(0)
    } s`,
  );
  return failed.length ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
