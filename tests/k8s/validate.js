#!/usr/bin/env node
// validate.js FILE.yaml...: validates every object of the YAML files that
// `glia render k8s` wrote against its schema: the Kubernetes API's
// (kubernetes-models), KEDA's (@kubernetes-models/keda) and the Gateway
// API's (@kubernetes-models/gateway-api), each model's validate(). The
// model is picked by apiVersion and kind; an object with no model fails.
//
// Prints one JSON document on stdout: {"objects": [{file, index,
// apiVersion, kind, name, error, object}]} (error: null when the object
// validates; object: the document as js-yaml read it, for the caller to
// compare field by field). Exit status 0 when every object validates, 1
// when one does not, 2 on a file that cannot be read or parsed.
"use strict";

const fs = require("fs");
const yaml = require("js-yaml");

// apiVersion -> the module holding its models
function modelModule(apiVersion) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  if (group === "keda.sh")
    return `@kubernetes-models/keda/keda.sh/${version}`;
  if (group === "gateway.networking.k8s.io")
    return `@kubernetes-models/gateway-api/gateway.networking.k8s.io/${version}`;
  return group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
}

function validate(doc) {
  if (!doc || typeof doc !== "object" || !doc.apiVersion || !doc.kind)
    return "not a Kubernetes object (apiVersion and kind are required)";
  let mod;
  try {
    mod = require(modelModule(doc.apiVersion));
  } catch (e) {
    return `no schema for apiVersion ${doc.apiVersion}`;
  }
  const Model = mod[doc.kind];
  if (typeof Model !== "function")
    return `no schema for ${doc.apiVersion} ${doc.kind}`;
  try {
    new Model(doc).validate();
  } catch (e) {
    const details = e.errors ? " " + JSON.stringify(e.errors) : "";
    return `${e.message}${details}`;
  }
  return null;
}

function main(files) {
  const objects = [];
  let failed = false;
  for (const file of files) {
    let docs;
    try {
      docs = yaml.loadAll(fs.readFileSync(file, "utf8"));
    } catch (e) {
      process.stderr.write(`validate.js: ${file}: ${e.message}\n`);
      process.exit(2);
    }
    docs.forEach((doc, index) => {
      if (doc === null || doc === undefined) return; // an empty document
      const error = validate(doc);
      if (error) failed = true;
      objects.push({
        file,
        index,
        apiVersion: doc.apiVersion,
        kind: doc.kind,
        name: doc.metadata && doc.metadata.name,
        error,
        object: doc,
      });
    });
  }
  process.stdout.write(JSON.stringify({ objects }) + "\n");
  process.exit(failed ? 1 : 0);
}

if (process.argv.length < 3) {
  process.stderr.write("usage: node validate.js FILE.yaml...\n");
  process.exit(2);
}
main(process.argv.slice(2));
