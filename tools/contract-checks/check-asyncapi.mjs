// Parses an AsyncAPI document with the AsyncAPI project's own parser and prints its
// diagnostics as JSON lines (severity: 0 error, 1 warning, 2 information, 3 hint).
// Exit status: 0 when it parses without an error, 1 otherwise.
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
if (!path) {
  console.error("usage: node check-asyncapi.mjs DOCUMENT.json");
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, "utf8"), {
  source: path,
});
for (const { code, message, path: where, severity } of diagnostics) {
  console.log(JSON.stringify({ severity, code, message, path: where }));
}
const errors = diagnostics.filter((diagnostic) => diagnostic.severity === 0).length;
console.error(`${errors} error(s), ${diagnostics.length} diagnostic(s); parsed: ${document !== undefined}`);
process.exit(errors === 0 && document !== undefined ? 0 : 1);
