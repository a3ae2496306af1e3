// Parses an AsyncAPI document with the official parser (@asyncapi/parser, the library AsyncAPI
// Studio, the CLI and the generators use) and prints its diagnostics.
// usage: node asyncapi.mjs FILE  ->  {"parsed": bool, "diagnostics": [{severity, code, path, message}]}
// severity: 0 error, 1 warning, 2 information, 3 hint.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const { document, diagnostics } = await new Parser().parse(readFileSync(process.argv[2], "utf8"));
const found = diagnostics.map((d) => ({
  severity: d.severity,
  code: d.code,
  path: d.path.join("."),
  message: d.message,
}));
process.stdout.write(JSON.stringify({ parsed: Boolean(document), diagnostics: found }) + "\n");
