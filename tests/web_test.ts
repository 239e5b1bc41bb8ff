/**
 * The browser page (web/) in a real browser: `deno task web:build` writes the site with a model,
 * `deno task web --dir` serves it on 127.0.0.1, headless Debian Chromium (driven by
 * playwright-core) loads it, gets a wav through the file picker and must show the probabilities
 * and attention weights of `deno task predict --json` on the same file (within 1e-4). It also
 * takes the file again by drag and drop, records from Chromium's fake microphone, and loads a
 * model from picked files on a page without one. The page is saved to runs/web/screenshot.png.
 *
 * The model: docs/results/emodb/model (the committed EMO-DB model) where it exists, else one
 * trained here with the smoke settings. The wav: an EMO-DB file from ../shared where present,
 * else one of data.example/. Skips, saying why, only where Chromium is not installed
 * (.ci/browser-setup.sh installs it in CI).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const COMMITTED_MODEL = join(ROOT, "docs/results/emodb/model");
const EMODB_WAV = join(ROOT, "../shared/data/emodb/wav/03a01Fa.wav");
const EXAMPLE_WAV = join(
  ROOT,
  "data.example/Session5/sentences/wav/Ses05F_impro07/Ses05F_impro07_F002.wav",
);
const SCREENSHOT = join(ROOT, "runs/web/screenshot.png");
const TOLERANCE = 1e-4;

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
const haveChromium = await exists(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `skipping the browser test (tests/web_test.ts): Chromium is not installed at ${CHROMIUM} ` +
      "(`apt-get install chromium`, as .ci/browser-setup.sh does in CI)",
  );
}

const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as {
  tasks: Record<string, string>;
};

/** `deno run` with a task's own flags (so the test runs it with the task's permissions). */
function taskArgs(name: string, args: string[]): string[] {
  const words = config.tasks[name].split(/\s+/);
  const i = words.findIndex((w) => w.startsWith("scripts/"));
  assert.ok(i > 0 && words[0] === "deno" && words[1] === "run", `task ${name}: ${words}`);
  return [...words.slice(1, i + 1), ...args];
}

async function task(name: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("deno", {
    args: taskArgs(name, args),
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, `deno task ${name} failed:\n${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** Starts `deno task web --dir DIR --port 0` and returns its process and address. */
async function serve(dir: string): Promise<{ child: Deno.ChildProcess; url: string }> {
  const child = new Deno.Command("deno", {
    args: taskArgs("web", ["--dir", dir, "--port", "0"]),
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/serving (http:\S+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`deno task web ended before serving:\n${text}`);
    text += value;
  }
  // Keep draining stdout so the server never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })().catch(() => {});
  return { child, url: text.match(/serving (http:\S+)/)![1] };
}

interface TaskResult {
  class: string;
  probabilities: Record<string, number>;
  attention?: { windowStart: number[]; weight: number[] };
}
interface Prediction {
  seconds: number;
  windows: number;
  tasks: Record<string, TaskResult>;
}

/** Largest differences of the page's result from predict's, per kind; asserts the shape. */
function compare(page: Prediction, cli: Prediction) {
  assert.equal(page.windows, cli.windows, "windows");
  assert.ok(Math.abs(page.seconds - cli.seconds) < 1e-9, "seconds");
  assert.deepEqual(Object.keys(page.tasks).sort(), Object.keys(cli.tasks).sort(), "tasks");
  let prob = 0, att = 0, attWindows = 0;
  for (const [name, want] of Object.entries(cli.tasks)) {
    const got = page.tasks[name];
    assert.equal(got.class, want.class, `${name}: class`);
    for (const [c, p] of Object.entries(want.probabilities)) {
      prob = Math.max(prob, Math.abs(got.probabilities[c] - p));
    }
    assert.equal(!!got.attention, !!want.attention, `${name}: attention present on both`);
    if (want.attention && got.attention) {
      assert.equal(got.attention.weight.length, want.attention.weight.length);
      attWindows += want.attention.weight.length;
      want.attention.weight.forEach((w, i) => {
        att = Math.max(att, Math.abs(got.attention!.weight[i] - w));
        assert.ok(Math.abs(got.attention!.windowStart[i] - want.attention!.windowStart[i]) < 1e-9);
      });
    }
  }
  return { prob, att, attWindows };
}

async function waitForState(page: Page, states: string[], timeout = 120_000): Promise<string> {
  const sel = states.map((s) => `#status[data-state="${s}"]`).join(", ");
  await page.waitForSelector(sel, { timeout });
  return (await page.getAttribute("#status", "data-state"))!;
}

Deno.test("web: the page's code type-checks against the DOM and web:build writes a static site", async () => {
  // `deno task check` covers mod.ts and scripts/; the page is checked here, with the DOM library.
  const check = await new Deno.Command("deno", {
    args: ["check", "web/app.ts"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
  const tmp = await Deno.makeTempDir({ prefix: "web-build-test-" });
  try {
    // Without --model: the committed model where it exists, else a page that asks for one.
    const out = await task("web:build", ["--out", tmp]);
    assert.match(out, /wrote \d+ files/);
    for (const f of ["index.html", "app.js", "style.css", "node-path-stub.js"]) {
      assert.ok(await exists(join(tmp, f)), `web:build wrote ${f}`);
    }
    const js = await Deno.readTextFile(join(tmp, "app.js"));
    assert.doesNotMatch(js, /from\s*"npm:/, "no npm: imports left in the bundle");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/**
 * What a browser test needs: the committed EMO-DB model (else a smoke model trained in `tmp`), a
 * wav (EMO-DB's, else the example corpus's), the site built for them in `tmp/site`, and
 * `deno task predict`'s result for the wav on wasm, which the page must reproduce.
 */
async function siteAndReference(tmp: string) {
  let model = COMMITTED_MODEL;
  if (await exists(join(COMMITTED_MODEL, "model.json"))) {
    console.log("web_test: model docs/results/emodb/model (the committed EMO-DB model)");
  } else {
    model = join(tmp, "train/model");
    await task("train", ["--smoke", "--out", join(tmp, "train"), "--workers", "1"]);
    console.log("web_test: docs/results/emodb/model absent: a smoke model trained here");
  }
  const wav = (await exists(EMODB_WAV)) ? EMODB_WAV : EXAMPLE_WAV;
  console.log(`web_test: wav ${wav.replace(ROOT, "")}`);
  const site = join(tmp, "site");
  await task("web:build", ["--out", site, "--model", model]);
  const cli = JSON.parse(
    await task("predict", [wav, "--model", model, "--json", "--backend", "wasm"]),
  ) as { results: Prediction[] };
  return { model, wav, site, reference: cli.results[0] };
}

/** Headless Chromium with the flags every test here uses, plus `extra`. */
async function launchChromium(extra: string[]): Promise<Browser> {
  // Loaded here, not at the top: without Chromium the file loads no playwright code.
  // playwright-core's bundled is-wsl probes /proc/sys/fs/binfmt_misc/WSLInterop when it
  // loads, a path Deno opens only under --allow-all; with this variable set the probe is
  // deferred to a call (made only by its `open` helper, which launching never uses).
  Deno.env.set("__IS_WSL_TEST__", "1");
  const { chromium } = await import("playwright-core");
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extra,
    ],
  });
}

/** Closes the browser, stops the server and removes `tmp`, whatever a test got to. */
async function tearDown(
  browser: Browser | undefined,
  server: Deno.ChildProcess | undefined,
  tmp: string,
) {
  await browser?.close();
  if (server) {
    server.kill("SIGTERM");
    await server.status;
  }
  await Deno.remove(tmp, { recursive: true });
}

Deno.test({
  name: "web: the page in headless Chromium shows deno task predict's probabilities and attention",
  ignore: !haveChromium,
  // playwright-core keeps its pipes and timers to Chromium in Node's own bookkeeping.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t0 = performance.now();
    const tmp = await Deno.makeTempDir({ prefix: "web-test-" });
    let server: Deno.ChildProcess | undefined;
    let browser: Browser | undefined;
    try {
      const { model, wav, site, reference } = await siteAndReference(tmp);
      for (const f of ["index.html", "app.js", "tfjs-backend-wasm-simd.wasm", "model/model.json"]) {
        assert.ok(await exists(join(site, f)), `web:build wrote ${f}`);
      }

      const s = await serve(site);
      server = s.child;
      browser = await launchChromium([
        "--disable-gpu",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
      ]);
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(s.url);
      assert.equal(await waitForState(page, ["ready", "no-model", "error"]), "ready");
      const shown = await page.textContent("#backend");

      // A wav through the file picker: the toolkit's decoder, framing and model in the page.
      const b0 = performance.now();
      await page.setInputFiles("#wav-input", wav);
      assert.equal(await waitForState(page, ["done", "error"]), "done");
      const browserMs = performance.now() - b0;
      const result = await page.evaluate(() =>
        (globalThis as unknown as { __emoResult: unknown }).__emoResult
      ) as Prediction & { backend: string; device: string; decoder: string };
      const json = JSON.parse((await page.textContent("#result-json"))!);
      assert.deepEqual(json, result, "#result-json holds window.__emoResult");
      assert.equal(result.decoder, "toolkit-wav");
      assert.equal(result.device, shown, "the page shows the backend it used");
      const d = compare(result, reference);
      console.log(
        `web_test: backend ${result.device}; max |Δ| probabilities ${d.prob.toExponential(2)}, ` +
          `attention ${d.att.toExponential(2)} over ${d.attWindows} windows; ` +
          `${browserMs.toFixed(0)} ms from file to result`,
      );
      assert.ok(d.prob <= TOLERANCE, `probabilities differ by ${d.prob}`);
      assert.ok(d.att <= TOLERANCE, `attention differs by ${d.att}`);
      await Deno.mkdir(join(ROOT, "runs/web"), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // Drag and drop: a drop event on the drop zone carrying the same wav as a File.
      const b64 = Buffer.from(await Deno.readFile(wav)).toString("base64");
      await page.evaluate(`(() => {
        const bytes = Uint8Array.from(atob(${JSON.stringify(b64)}), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.wav", { type: "audio/wav" }));
        document.getElementById("drop-zone").dispatchEvent(
          new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }),
        );
      })()`);
      await page.waitForFunction(() =>
        (globalThis as unknown as { __emoResult?: { file?: string } }).__emoResult?.file ===
          "dropped.wav"
      );
      const dropped = await page.evaluate(() =>
        (globalThis as unknown as { __emoResult: unknown }).__emoResult
      ) as Prediction;
      compare(dropped, reference);

      // The microphone (Chromium's fake device: a beep), through MediaRecorder and the browser's
      // decoder, resampled by the toolkit.
      await page.click("#record");
      await waitForState(page, ["recording"]);
      await page.waitForTimeout(1200);
      await page.click("#record");
      assert.equal(await waitForState(page, ["done", "error"]), "done");
      const mic = await page.evaluate(() =>
        (globalThis as unknown as { __emoResult: unknown }).__emoResult
      ) as Prediction & { source: string; sampleRate: number };
      assert.equal(mic.source, "microphone");
      assert.ok(mic.seconds > 0.5 && mic.seconds < 5, `recorded ${mic.seconds} s`);
      for (const t of Object.values(mic.tasks)) {
        const sum = Object.values(t.probabilities).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, "probabilities sum to 1");
      }

      // A page without a model loads one from picked files and gives the same result.
      const empty = await browser.newPage();
      empty.on("pageerror", (e) => errors.push(e.message));
      await empty.goto(new URL("?model=./no-model-here/", s.url).href);
      assert.equal(await waitForState(empty, ["ready", "no-model", "error"]), "no-model");
      await empty.setInputFiles("#model-input", [
        join(model, "model.json"),
        join(model, "weights.bin"),
      ]);
      assert.equal(await waitForState(empty, ["ready", "error"]), "ready");
      await empty.setInputFiles("#wav-input", wav);
      assert.equal(await waitForState(empty, ["done", "error"]), "done");
      const picked = await empty.evaluate(() =>
        (globalThis as unknown as { __emoResult: unknown }).__emoResult
      ) as Prediction;
      compare(picked, reference);
      assert.deepEqual(errors, [], "no uncaught errors on the page");
      console.log(
        `web_test: screenshot ${SCREENSHOT.replace(ROOT, "")}; ` +
          `${((performance.now() - t0) / 1000).toFixed(1)} s in all`,
      );
    } finally {
      await tearDown(browser, server, tmp);
    }
  },
});

Deno.test({
  name: "web: the page on WebGPU (Chromium's SwiftShader, through Tint) gives predict's results",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // A second WGSL compiler and software GPU beside Deno's naga and lavapipe: the page's
    // inference runs our tiled front-end programs and the GRU's forward program. A conv1 program
    // that carried a running maximum across its loops passed on Deno and crashed Chromium's
    // GPU process here ("Instance dropped").
    const tmp = await Deno.makeTempDir({ prefix: "web-webgpu-test-" });
    let server: Deno.ChildProcess | undefined;
    let browser: Browser | undefined;
    try {
      const { wav, site, reference } = await siteAndReference(tmp);
      const s = await serve(site);
      server = s.child;
      browser = await launchChromium([
        "--enable-unsafe-webgpu",
        "--use-webgpu-adapter=swiftshader",
      ]);
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(new URL("?backend=webgpu", s.url).href);
      assert.equal(await waitForState(page, ["ready", "no-model", "error"]), "ready");
      const shown = (await page.textContent("#backend"))!;
      assert.match(shown, /^webgpu: .*swiftshader/i, `the page runs on SwiftShader's WebGPU`);
      const b0 = performance.now();
      await page.setInputFiles("#wav-input", wav);
      const state = await waitForState(page, ["done", "error"], 300_000);
      const result = await page.evaluate(() =>
        (globalThis as unknown as { __emoResult: unknown }).__emoResult
      ) as Prediction & { error?: string };
      assert.equal(state, "done", `webgpu in Chromium: ${result?.error ?? "no result"}`);
      const d = compare(result, reference);
      console.log(
        `web_test: ${shown}; max |Δ| probabilities ${d.prob.toExponential(2)}, attention ` +
          `${d.att.toExponential(2)}; ${
            (performance.now() - b0).toFixed(0)
          } ms from file to result`,
      );
      assert.ok(d.prob <= TOLERANCE, `probabilities differ by ${d.prob}`);
      assert.ok(d.att <= TOLERANCE, `attention differs by ${d.att}`);
      assert.deepEqual(errors, [], "no uncaught errors on the page");
    } finally {
      await tearDown(browser, server, tmp);
    }
  },
});
