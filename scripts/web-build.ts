/**
 * Writes the browser page (web/) as a folder any static web host can serve: index.html, the
 * bundle app.js, the tfjs wasm binaries and one model in model/.
 *
 *   deno task web:build --out DIR [--model DIR]
 *
 * Without --model the committed EMO-DB model (docs/results/emodb/model) is included where it
 * exists; otherwise the page asks its visitors for a model folder.
 * @module
 */
import { parseCommandLine, runMain } from "../lib/util/cli.ts";
import { buildSite, defaultModel, writeSite } from "../web/site.ts";

const HELP = `usage: deno task web:build --out DIR [--model DIR]

  --out DIR    folder to write (created; files of an earlier build are overwritten)
  --model DIR  model folder (model.json + weights.bin) to include as DIR/model/
               (default: docs/results/emodb/model where it exists, else none: the page asks)

Upload the folder as it is to any static host (GitHub Pages, an S3 bucket, nginx …); the page
needs no server code. \`deno task web --dir DIR\` previews it locally.
`;

await runMain("web:build", async () => {
  const { values } = parseCommandLine({
    options: {
      out: { type: "string" },
      model: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }, HELP);
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.out) throw new Error(`--out DIR is required\n\n${HELP}`);
  const model = values.model ?? await defaultModel();
  const site = await buildSite(model);
  await writeSite(values.out, site);
  let bytes = 0;
  for (const b of site.values()) bytes += b.byteLength;
  console.log(
    `wrote ${site.size} files (${(bytes / 1e6).toFixed(1)} MB) to ${values.out}; ` +
      (model ? `model: ${model}` : "no model (the page asks for one)"),
  );
});
