// Reads a JSON list of objects on stdin; prints one line per object, "ok" or the
// schema's complaint, and exits 1 when any is invalid. Knows the kinds it imports.
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { readFileSync } from "node:fs";

const models = { "monitoring.coreos.com/v1 ServiceMonitor": ServiceMonitor };
let failed = false;
for (const obj of JSON.parse(readFileSync(0, "utf8"))) {
  const model = models[`${obj.apiVersion} ${obj.kind}`];
  if (!model) {
    console.log(`${obj.kind}/${obj.metadata?.name}: no model`);
    failed = true;
    continue;
  }
  try {
    new model(obj).validate();
    console.log(`${obj.kind}/${obj.metadata?.name}: ok`);
  } catch (e) {
    console.log(`${obj.kind}/${obj.metadata?.name}: invalid: ${e.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
