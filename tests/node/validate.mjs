// Reads a JSON list of objects on stdin; prints one line per object, "ok" or the
// schema's complaint, and exits 1 when any is invalid. Knows the kinds it imports.
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { readFileSync } from "node:fs";

const models = {
  "monitoring.coreos.com/v1 ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1 PrometheusRule": PrometheusRule,
};
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
