// node render.mjs ASYNCAPI_FILE OUT_DIR: the contract as one HTML page, with AsyncAPI's own
// html-template, offline (the template is installed here by npm ci, not fetched).
import Generator from "@asyncapi/generator";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const template = require.resolve("@asyncapi/html-template/package.json").replace(/package\.json$/, "");
const [source, out] = process.argv.slice(2);
const generator = new Generator(template, out, {
  forceWrite: true,
  templateParams: { singleFile: "true" },
});
await generator.generateFromFile(source);
console.log(`wrote ${out}/index.html`);
