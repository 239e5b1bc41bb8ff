/**
 * `deno task corpus --corpus iemocap|emodb|manifest|example --data PATH [--json]`
 * Loads a corpus, checks every audio file and prints the load report.
 * @module
 */
import { parseCommandLine } from "../lib/util/cli.ts";
import {
  type CorpusKind,
  corpusReport,
  formatCorpusReport,
  loadCorpus,
  parseSessionSplit,
} from "../lib/corpus/mod.ts";

const USAGE = `usage: deno task corpus [--corpus iemocap|emodb|manifest|example] [--data PATH]
       [--tasks a,b] [--sessions train=1,2,3;dev=4;test=5] [--strict] [--json]

Loads a corpus, decodes every audio file once and prints utterances per partition and class,
total duration and every skipped file with its reason. --json prints one JSON object.`;

const { values } = parseCommandLine({
  options: {
    corpus: { type: "string", default: "example" },
    data: { type: "string" },
    tasks: { type: "string" },
    sessions: { type: "string" },
    strict: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
}, USAGE);
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
try {
  const corpus = await loadCorpus({
    corpus: values.corpus as CorpusKind,
    data: values.data,
    tasks: values.tasks?.split(",").map((t) => t.trim()).filter(Boolean),
    sessionSplit: values.sessions ? parseSessionSplit(values.sessions) : undefined,
    strict: values.strict,
  });
  const report = corpusReport(corpus);
  console.log(values.json ? JSON.stringify(report) : formatCorpusReport(report));
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  Deno.exit(1);
}
