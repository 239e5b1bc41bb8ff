/**
 * Serves the browser page (web/) on this machine: bundles it in memory with one model and
 * serves it on 127.0.0.1 until interrupted.
 *
 *   deno task web [--model DIR] [--port N]
 *   deno task web --dir SITE [--port N]      (a folder written by `deno task web:build`)
 *
 * Without --model the committed EMO-DB model (docs/results/emodb/model) is served where it
 * exists; otherwise the page asks for a model folder. `--port 0` picks a free port; the first
 * line on stdout is always `serving http://127.0.0.1:PORT/`.
 * @module
 */
import { parseCommandLine, runMain } from "../lib/util/cli.ts";
import { buildSite, defaultModel, readSite, type Site, siteHandler } from "../web/site.ts";

const HELP = `usage: deno task web [--model DIR] [--port N]
       deno task web --dir SITE [--port N]

  --model DIR  model folder (model.json + weights.bin) the page loads at start
               (default: docs/results/emodb/model where it exists, else none: the page asks)
  --dir SITE   serve a folder written by \`deno task web:build\` as it is (no bundling)
  --port N     port on 127.0.0.1 (default 8123; 0 = any free port)

Open the printed address in a browser; Ctrl-C stops the server. To publish the page on a
static host, see \`deno task web:build\`.
`;

await runMain("web", async () => {
  const { values } = parseCommandLine({
    options: {
      model: { type: "string" },
      dir: { type: "string" },
      port: { type: "string", default: "8123" },
      help: { type: "boolean", short: "h", default: false },
    },
  }, HELP);
  if (values.help) {
    console.log(HELP);
    return;
  }
  const port = Number(values.port);
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new Error(`--port must be an integer in 0…65535, got ${values.port}`);
  }
  if (values.dir && values.model) throw new Error("--dir serves a built site: not with --model");
  let site: Site;
  let what: string;
  if (values.dir) {
    site = await readSite(values.dir);
    what = `site ${values.dir}`;
  } else {
    const model = values.model ?? await defaultModel();
    site = await buildSite(model);
    what = model ? `model ${model}` : "no model (the page asks for one)";
  }
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ port }) => {
      console.log(`serving http://127.0.0.1:${port}/`);
      console.log(`  ${what}; Ctrl-C stops`);
    },
  }, siteHandler(site));
  await server.finished;
});
