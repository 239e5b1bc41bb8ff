/**
 * Assembles the browser page (`web/`) into the files of a static site, in memory: `app.js` (the
 * bundle of web/app.ts and the toolkit code it imports, made by Deno's own bundler), the page's
 * static files, tfjs-backend-wasm's `.wasm` binaries, and optionally one model as `model/`.
 * Used by scripts/web.ts (serve) and scripts/web-build.ts (write a folder). Deno-side only: the
 * page itself never imports this file.
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** The page's own static files, copied as they are. */
const STATIC_FILES = ["index.html", "style.css", "node-path-stub.js"];
/** Where tfjs-backend-wasm keeps its binaries (the page's setWasmPaths points beside app.js). */
const WASM_DIST = join(ROOT, "node_modules/@tensorflow/tfjs-backend-wasm/dist");
const WASM_FILES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
];
/** Imports the bundle may keep, each resolved by the page's import map to a stub. */
const STUBBED_IMPORTS = ["node:path"];

/** A built site: relative path → bytes. */
export type Site = Map<string, Uint8Array<ArrayBuffer>>;

/** The part of Deno's unstable bundler API (`--unstable-bundle`) used here. */
interface BundleApi {
  (options: {
    entrypoints: string[];
    platform: "browser";
    format: "esm";
    minify: boolean;
    write: false;
  }): Promise<{
    success: boolean;
    errors: { text: string; location?: { file: string; line: number } }[];
    outputFiles?: { path: string; contents?: Uint8Array; text(): string }[];
  }>;
}

/** The model folder as the site's `model/`: model.json and the weights file it names. */
async function modelFiles(dir: string): Promise<Site> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, "model.json"));
  } catch (e) {
    throw new Error(`${dir}/model.json: cannot read (${(e as Error).message})`);
  }
  const json = JSON.parse(text) as {
    format?: string;
    config?: { input?: { kind?: string } };
    weightsManifest?: { paths?: string[] }[];
  };
  if (json.format !== "emo-e2e-model") {
    throw new Error(`${dir}/model.json: not an emo-e2e model (format '${json.format}')`);
  }
  if (json.config?.input?.kind !== "raw") {
    throw new Error(
      `${dir}: the page reads audio, but this model reads '${json.config?.input?.kind}' features`,
    );
  }
  const weights = json.weightsManifest?.[0]?.paths?.[0] ?? "weights.bin";
  if (!/^[\w.-]+$/.test(weights) || weights.startsWith(".")) {
    throw new Error(`${dir}/model.json: weights path '${weights}' is not a plain file name`);
  }
  return new Map([
    ["model/model.json", new TextEncoder().encode(text)],
    [`model/${weights}`, await Deno.readFile(join(dir, weights))],
  ]);
}

/** Bundles web/app.ts for the browser with Deno's bundler (esbuild). */
async function bundleApp(): Promise<Uint8Array<ArrayBuffer>> {
  const bundle = (Deno as unknown as { bundle?: BundleApi }).bundle;
  if (typeof bundle !== "function") {
    throw new Error("Deno.bundle is missing: run with --unstable-bundle (the deno.json tasks do)");
  }
  const result = await bundle({
    entrypoints: [join(ROOT, "web/app.ts")],
    platform: "browser",
    format: "esm",
    minify: true,
    write: false,
  });
  if (!result.success || !result.outputFiles?.length) {
    const errors = result.errors.map((e) =>
      e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text
    );
    throw new Error(`bundling web/app.ts failed:\n  ${errors.join("\n  ")}`);
  }
  const js = result.outputFiles[0].text();
  // A browser cannot load bare or node: imports; the bundle may keep only the stubbed ones.
  const kept = [...js.matchAll(/\bimport\s*(?:[\w${}\s,*]+?\s*from\s*)?["']([^"'./][^"']*)["']/g)]
    .map((m) => m[1]).filter((s) => !STUBBED_IMPORTS.includes(s));
  if (kept.length > 0) {
    throw new Error(
      `the bundle imports ${[...new Set(kept)].join(", ")}, which a browser cannot load: ` +
        "keep Deno and Node modules out of the code web/app.ts imports, or stub them in " +
        "web/index.html's import map and STUBBED_IMPORTS",
    );
  }
  return new TextEncoder().encode(js);
}

/**
 * Builds the site in memory.
 * @param model a model folder to include as `model/` (the page loads it at start), or none:
 *   the page then asks for a model folder
 */
export async function buildSite(model?: string): Promise<Site> {
  const site: Site = new Map();
  site.set("app.js", await bundleApp());
  for (const f of STATIC_FILES) site.set(f, await Deno.readFile(join(ROOT, "web", f)));
  for (const f of WASM_FILES) {
    try {
      site.set(f, await Deno.readFile(join(WASM_DIST, f)));
    } catch (e) {
      throw new Error(`${join(WASM_DIST, f)}: cannot read (${(e as Error).message})`);
    }
  }
  if (model) { for (const [p, b] of await modelFiles(model)) site.set(p, b); }
  return site;
}

/** The model a site gets when none is named: the committed EMO-DB model, where present. */
export async function defaultModel(): Promise<string | undefined> {
  const dir = join(ROOT, "docs/results/emodb/model");
  try {
    await Deno.stat(join(dir, "model.json"));
    return dir;
  } catch {
    return undefined;
  }
}

/** Reads a folder written by {@link writeSite} back into a site. */
export async function readSite(dir: string): Promise<Site> {
  const site: Site = new Map();
  async function walk(rel: string): Promise<void> {
    for await (const e of Deno.readDir(join(dir, rel))) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(p);
      else if (e.isFile) site.set(p, await Deno.readFile(join(dir, p)));
    }
  }
  await walk("");
  if (!site.has("index.html")) throw new Error(`${dir}: no index.html (not a built site)`);
  return site;
}

/** Writes a site into `dir` (created; files of an earlier build are overwritten). */
export async function writeSite(dir: string, site: Site): Promise<void> {
  for (const [p, bytes] of site) {
    await Deno.mkdir(dirname(join(dir, p)), { recursive: true });
    await Deno.writeFile(join(dir, p), bytes);
  }
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
  bin: "application/octet-stream",
  png: "image/png",
  svg: "image/svg+xml",
};

/** Answers GET and HEAD requests from a site (`/` and folders → their index.html). */
export function siteHandler(site: Site): (req: Request) => Response {
  return (req: Request) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url).pathname).replace(/^\/+/, "");
    } catch {
      return new Response("bad path", { status: 400 });
    }
    if (path === "" || path.endsWith("/")) path += "index.html";
    const body = site.get(path);
    if (!body) return new Response("not found", { status: 404 });
    const type = TYPES[path.slice(path.lastIndexOf(".") + 1)] ?? "application/octet-stream";
    return new Response(req.method === "HEAD" ? null : body, {
      headers: { "content-type": type, "cache-control": "no-cache" },
    });
  };
}
