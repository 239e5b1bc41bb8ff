/**
 * Training progress: a cli-progress bar on stderr in a terminal (plain periodic lines when
 * stderr is not a TTY), or a live display in a Jupyter cell, updated in place through
 * `Deno.jupyter.display(..., { display_id, update })`; in a kernel nothing but console output
 * and display messages reach the cell, so a terminal bar would never be seen there.
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

/**
 * Creates a reporter for `mode`.
 * @param display replaces `Deno.jupyter.display` in jupyter mode (for tests and custom
 *   frontends)
 */
export function createProgress(
  mode: ProgressMode = "auto",
  display?: DisplayFunction,
): ProgressReporter {
  if (mode === "none") return { update() {}, epochDone() {}, stop: () => Promise.resolve() };
  if (mode === "jupyter" || (mode === "auto" && inJupyter())) {
    return new JupyterProgress(
      display ?? ((bundle, options) => Deno.jupyter.display(bundle, options)),
    );
  }
  return new TerminalProgress();
}

function describe(u: ProgressUpdate): string {
  const of = u.batches ? `/${u.batches}` : "";
  return `epoch ${u.epoch}/${u.epochs} | batch ${u.batch}${of} | loss ${u.loss.toFixed(4)} | ` +
    `${u.windowsPerSecond.toFixed(0)} windows/s | ETA ${formatDuration(u.etaSeconds ?? NaN)}`;
}

class TerminalProgress implements ProgressReporter {
  // deno-lint-ignore no-explicit-any
  #bar: any;
  #epoch = -1;
  #tty = Boolean(process.stderr.isTTY);

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
        stream: process.stderr,
        noTTYOutput: !this.#tty,
        // Without a TTY every redraw is a new line: keep those rare.
        notTTYSchedule: 10_000,
        hideCursor: this.#tty,
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
    process.stderr.write(summary + "\n");
  }

  stop(): Promise<void> {
    this.#bar?.stop();
    this.#bar = undefined;
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
