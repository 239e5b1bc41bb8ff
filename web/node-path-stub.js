// Stands in for node:path in the browser (see index.html's import map). Only the toolkit's
// file writer uses it, and the page never writes files.
export function dirname() {
  throw new Error("node:path is not available in the browser");
}
