"""Validates custom resources against the openAPIV3Schema of their CRD, as the API
server would with strict field validation (kubectl's default since 1.27): unknown
fields are errors. kubernetes-validate has schemas only for the built-in kinds.

    python validate_crd.py SCHEMA.json MANIFEST.yaml...

SCHEMA.json is one version's openAPIV3Schema. servicemonitor-v1.schema.json beside
this file is the ServiceMonitor's (monitoring.coreos.com/v1) from the Prometheus
Operator v0.93.0, example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
(Apache-2.0), with its "description" fields removed (they do not validate anything):

    import json, yaml
    crd = yaml.safe_load(open("monitoring.coreos.com_servicemonitors.yaml"))
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    strip = lambda x: ({k: strip(v) for k, v in x.items() if k != "description"}
                       if isinstance(x, dict) else
                       [strip(v) for v in x] if isinstance(x, list) else x)
    json.dump(strip(v1["schema"]["openAPIV3Schema"]), out, sort_keys=True,
              separators=(",", ":"))

Prints one line per resource (OK or ERROR with the path) and exits 1 on any error.
"""

import json
import sys

import jsonschema
import yaml


def strict(schema):
    """The API server's pruning as errors: an object schema with properties and no
    additionalProperties or x-kubernetes-preserve-unknown-fields allows no others."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(value) for value in schema]
    return schema


def main(argv):
    with open(argv[1]) as f:
        schema = strict(json.load(f))
    # Object metadata is the API server's, not the CRD's, to check.
    schema["properties"]["metadata"] = {"type": "object"}
    validator = jsonschema.Draft7Validator(schema)
    failed = False
    for path in argv[2:]:
        with open(path) as f:
            for resource in yaml.safe_load_all(f):
                if not resource:
                    continue
                name = "%s/%s" % (resource.get("kind"), resource.get("metadata", {}).get("name"))
                errors = sorted(validator.iter_errors(resource), key=lambda e: list(e.path))
                for error in errors:
                    where = ".".join(str(part) for part in error.path) or "(top)"
                    print("ERROR %s %s: %s: %s" % (path, name, where, error.message))
                if errors:
                    failed = True
                else:
                    print("OK %s %s" % (path, name))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
