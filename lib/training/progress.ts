/**
 * Training progress: a cli-progress bar on stderr in a terminal, plain periodic lines when
 * stderr is not a TTY (a Slurm or nohup log), or a live display in a Jupyter cell, updated in
 * place through `Deno.jupyter.display(..., { display_id, update })`; in a kernel nothing but
 * console output and display messages reach the cell, so a terminal bar would never be seen
 * there.
 *
 * The non-TTY lines are written from `update()` itself, by the clock, rather than by a timer:
 * cli-progress redraws a non-TTY bar only from a setTimeout schedule, and the training loop
 * rarely lets timers run (its awaits settle as microtasks), so a log showed the epoch's first
 * line and then nothing until the epoch ended.
 * @module
 */
import process from "node:process";
import cliProgress from "cli-progress";

/** Where progress goes. `auto` = Jupyter display inside a Deno kernel, else terminal. */
export type ProgressMode = "auto" | "terminal" | "jupyter" | "none";

/** One progress update within an epoch. */
export interface ProgressUpdate {
  /** 1-based epoch. */
  epoch: number;
  /** Total epochs planned. */
  epochs: number;
  /** Batches done in this epoch. */
  batch: number;
  /** Batches per epoch, when known. */
  batches?: number;
  /** Running mean training loss of this epoch. */
  loss: number;
  /** Windows (frames) processed per second in this epoch. */
  windowsPerSecond: number;
  /** Estimated seconds until training ends (all remaining epochs), when known. */
  etaSeconds?: number;
}

/** Receives progress; {@link createProgress} makes one. */
export interface ProgressReporter {
  /** Called after every batch. */
  update(u: ProgressUpdate): void;
  /** Called at the end of an epoch with a one-line summary. */
  epochDone(summary: string): void;
  /** Flushes and releases the output (timers, cursor). */
  stop(): Promise<void>;
}

/** Formats seconds as h:mm:ss or m:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (x: number) => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}

/** Whether this code runs inside a Deno Jupyter kernel. */
export function inJupyter(): boolean {
  // Outside `deno jupyter`, reading Deno.jupyter throws rather than returning undefined.
  try {
    return typeof (Deno as unknown as { jupyter?: unknown }).jupyter === "object";
  } catch {
    return false;
  }
}

/** The display call of a Jupyter kernel (`Deno.jupyter.display`). */
export type DisplayFunction = (
  bundle: Record<string, string>,
  options: { raw: boolean; display_id: string; update: boolean },
) => Promise<void>;

/** Where terminal-mode output is written (default: process.stderr). */
export interface ProgressStream {
  /** Writes a chunk of text. */
  write(text: string): unknown;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Replaces `Deno.jupyter.display` in jupyter mode (for tests and custom frontends). */
  display?: DisplayFunction;
  /** Terminal mode: seconds between plain progress lines when not on a TTY (default 30). */
  intervalSeconds?: number;
  /** Terminal mode: output stream (default process.stderr). */
  stream?: ProgressStream;
  /**
   * Terminal mode: whether to draw a bar in place (a TTY) or write plain lines (default:
   * process.stderr.isTTY without `stream`, false with one). A bar needs a terminal stream such
   * as process.stderr; cli-progress draws nothing on other streams.
   */
  tty?: boolean;
  /** Clock in milliseconds for the non-TTY interval (default performance.now; for tests). */
  now?: () => number;
}

/** Default seconds between progress lines in a log file: often enough for `tail -f`. */
export const DEFAULT_PROGRESS_INTERVAL_SECONDS = 30;

/**
 * Creates a reporter for `mode`.
 * @param options a display function (replaces `Deno.jupyter.display` in jupyter mode, for tests
 *   and custom frontends), or {@link ProgressOptions}
 */
export function createProgress(
  mode: ProgressMode = "auto",
  options?: DisplayFunction | ProgressOptions,
): ProgressReporter {
  const o: ProgressOptions = typeof options === "function" ? { display: options } : options ?? {};
  if (mode === "none") return { update() {}, epochDone() {}, stop: () => Promise.resolve() };
  if (mode === "jupyter" || (mode === "auto" && inJupyter())) {
    return new JupyterProgress(
      o.display ?? ((bundle, options) => Deno.jupyter.display(bundle, options)),
    );
  }
  const stream = o.stream ?? process.stderr;
  // A custom stream is not the terminal, so it is a TTY only when the caller says so.
  const tty = o.tty ?? (o.stream ? false : Boolean(process.stderr.isTTY));
  if (tty) return new TerminalProgress(stream);
  const interval = o.intervalSeconds ?? DEFAULT_PROGRESS_INTERVAL_SECONDS;
  if (!(interval >= 0)) {
    throw new Error(`createProgress: intervalSeconds must be ≥ 0, got ${o.intervalSeconds}`);
  }
  return new LineProgress(stream, interval * 1000, o.now ?? (() => performance.now()));
}

function describe(u: ProgressUpdate): string {
  const of = u.batches ? `/${u.batches}` : "";
  return `epoch ${u.epoch}/${u.epochs} | batch ${u.batch}${of} | loss ${u.loss.toFixed(4)} | ` +
    `${u.windowsPerSecond.toFixed(0)} windows/s | ETA ${formatDuration(u.etaSeconds ?? NaN)}`;
}

/** A cli-progress bar redrawn in place; only for a TTY. */
class TerminalProgress implements ProgressReporter {
  readonly #stream: ProgressStream;
  // deno-lint-ignore no-explicit-any
  #bar: any;
  #epoch = -1;

  constructor(stream: ProgressStream) {
    this.#stream = stream;
  }

  update(u: ProgressUpdate): void {
    const payload = {
      epoch: `${u.epoch}/${u.epochs}`,
      loss: u.loss.toFixed(4),
      wps: u.windowsPerSecond.toFixed(0),
      etaAll: formatDuration(u.etaSeconds ?? NaN),
    };
    const total = u.batches ?? Math.max(u.batch, 1);
    if (u.epoch !== this.#epoch) {
      this.#bar?.stop();
      this.#epoch = u.epoch;
      this.#bar = new cliProgress.SingleBar({
        format: "epoch {epoch} [{bar}] batch {value}/{total} | loss {loss} | {wps} windows/s" +
          " | ETA {etaAll}",
        stream: this.#stream,
        hideCursor: true,
        barsize: 24,
      }, cliProgress.Presets.shades_classic);
      this.#bar.start(total, u.batch, payload);
      return;
    }
    if (total !== this.#bar.getTotal()) this.#bar.setTotal(total);
    this.#bar.update(u.batch, payload);
  }

  epochDone(summary: string): void {
    this.#bar?.stop();
    this.#bar = undefined;
    this.#epoch = -1;
    this.#stream.write(summary + "\n");
  }

  stop(): Promise<void> {
    this.#bar?.stop();
    this.#bar = undefined;
    return Promise.resolve();
  }
}

/**
 * Plain lines for a log file: no ANSI codes, no carriage returns, at most one progress line per
 * interval (the first update prints at once, so a log shows early that training has started),
 * plus the epoch summaries.
 */
class LineProgress implements ProgressReporter {
  readonly #stream: ProgressStream;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #last = -Infinity;

  constructor(stream: ProgressStream, intervalMs: number, now: () => number) {
    this.#stream = stream;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  update(u: ProgressUpdate): void {
    const now = this.#now();
    if (now - this.#last < this.#intervalMs) return;
    this.#last = now;
    this.#stream.write(describe(u) + "\n");
  }

  epochDone(summary: string): void {
    this.#stream.write(summary + "\n");
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}

class JupyterProgress implements ProgressReporter {
  readonly #display: DisplayFunction;
  #id = `emo-train-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  #shown = false;
  #last = 0;
  #lines: string[] = [];
  #current = "";
  #pending: Promise<void> = Promise.resolve();

  constructor(display: DisplayFunction) {
    this.#display = display;
  }

  #render(): void {
    const text = [...this.#lines, this.#current].filter((l) => l).join("\n");
    const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
    const bundle = {
      "text/plain": text,
      "text/html": `<pre style="margin:0">${esc(text)}</pre>`,
    };
    const update = this.#shown;
    this.#shown = true;
    // Serialise the display messages so an update never overtakes the initial display.
    this.#pending = this.#pending.then(() =>
      this.#display(bundle, { raw: true, display_id: this.#id, update })
    ).catch(() => {});
  }

  update(u: ProgressUpdate): void {
    const frac = u.batches ? u.batch / u.batches : 0;
    const width = 24;
    const done = Math.round(frac * width);
    this.#current = `[${"█".repeat(done)}${"░".repeat(width - done)}] ${describe(u)}`;
    const now = Date.now();
    // A kernel message per batch would flood the frontend; 2 per second is enough to look live.
    if (now - this.#last >= 500 || (u.batches !== undefined && u.batch === u.batches)) {
      this.#last = now;
      this.#render();
    }
  }

  epochDone(summary: string): void {
    this.#lines.push(summary);
    this.#current = "";
    this.#render();
  }

  async stop(): Promise<void> {
    await this.#pending;
  }
}
