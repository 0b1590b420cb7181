"""Rebuild ``requests.json`` from DigitalOcean's published OpenAPI description (github.com/digitalocean/openapi).

Only the operations the DigitalOcean side of this collection calls or the emulator answers are kept, each with its
path and query parameters, its request body schema and its documented status codes. ``$ref``s are resolved,
OpenAPI 3.0 ``nullable`` becomes a JSON Schema ``"null"`` type, and prose (descriptions, examples, code samples)
is dropped; nothing else is changed. Run from the repository root::

    python -m tests.emulators.do_api.spec.vendor --git-dir /path/to/openapi.git [--commit SHA]
    python -m tests.emulators.do_api.spec.vendor --root /path/to/openapi/checkout
"""

import argparse
import json
import os
import posixpath
import subprocess

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "requests.json")
TOP = "specification/DigitalOcean-public.v2.yaml"
# (method, path) of every operation kept; a path's other methods are left out.
OPERATIONS = [
    ("get", "/v2/account"),
    ("get", "/v2/account/keys"), ("post", "/v2/account/keys"),
    ("get", "/v2/account/keys/{ssh_key_identifier}"), ("put", "/v2/account/keys/{ssh_key_identifier}"),
    ("delete", "/v2/account/keys/{ssh_key_identifier}"),
    ("get", "/v2/droplets"), ("post", "/v2/droplets"), ("delete", "/v2/droplets"),
    ("get", "/v2/droplets/{droplet_id}"), ("delete", "/v2/droplets/{droplet_id}"),
    ("get", "/v2/firewalls"), ("post", "/v2/firewalls"),
    ("get", "/v2/firewalls/{firewall_id}"), ("put", "/v2/firewalls/{firewall_id}"),
    ("delete", "/v2/firewalls/{firewall_id}"),
    ("post", "/v2/firewalls/{firewall_id}/droplets"), ("delete", "/v2/firewalls/{firewall_id}/droplets"),
    ("post", "/v2/firewalls/{firewall_id}/tags"), ("delete", "/v2/firewalls/{firewall_id}/tags"),
    ("post", "/v2/firewalls/{firewall_id}/rules"), ("delete", "/v2/firewalls/{firewall_id}/rules"),
    ("get", "/v2/vpcs"), ("post", "/v2/vpcs"),
    ("get", "/v2/vpcs/{vpc_id}"), ("put", "/v2/vpcs/{vpc_id}"), ("patch", "/v2/vpcs/{vpc_id}"),
    ("delete", "/v2/vpcs/{vpc_id}"),
    ("get", "/v2/tags"), ("post", "/v2/tags"), ("get", "/v2/tags/{tag_id}"), ("delete", "/v2/tags/{tag_id}"),
    ("post", "/v2/tags/{tag_id}/resources"), ("delete", "/v2/tags/{tag_id}/resources"),
]
PROSE = ("description", "example", "examples", "externalDocs", "default")


class Reader:
    def __init__(self, root=None, git_dir=None, commit="HEAD"):
        self.root, self.git_dir = root, git_dir
        self.commit = self._git("rev-parse", commit).strip() if git_dir else commit
        self._cache = {}

    def _git(self, *args):
        return subprocess.run(["git", "-C", self.git_dir] + list(args), check=True, capture_output=True,
                              text=True).stdout

    def load(self, path):
        if path not in self._cache:
            if self.git_dir:
                text = self._git("show", "%s:%s" % (self.commit, path))
            else:
                with open(os.path.join(self.root, path), encoding="utf-8") as handle:
                    text = handle.read()
            self._cache[path] = yaml.safe_load(text)
        return self._cache[path]

    def resolve(self, node, where):
        """``node`` (found in file ``where``) with every $ref replaced by what it points at."""
        if isinstance(node, list):
            return [self.resolve(item, where) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target, _hash, pointer = node["$ref"].partition("#")
            path = posixpath.normpath(posixpath.join(posixpath.dirname(where), target)) if target else where
            value = self.load(path)
            for part in [p for p in pointer.split("/") if p]:
                value = value[part]
            return self.resolve(value, path)
        return {key: self.resolve(value, where) for key, value in node.items()}


def jsonschema_of(schema):
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable: true`` becomes a ``"null"`` type; prose is dropped."""
    if isinstance(schema, list):
        return [jsonschema_of(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "properties":  # a map of names to schemas: keep every name
            out[key] = {name: jsonschema_of(sub) for name, sub in value.items()}
        elif key not in PROSE and key != "nullable" and not key.startswith("x-"):
            out[key] = jsonschema_of(value)
    if schema.get("nullable") and isinstance(schema.get("type"), str):
        out["type"] = [schema["type"], "null"]
    return out


def operation(reader, method, path):
    ref = reader.load(TOP)["paths"][path][method]["$ref"]
    source = posixpath.normpath(posixpath.join("specification", ref))
    raw = reader.load(source)
    op = {"operationId": raw["operationId"], "source": source, "parameters": [],
          "responses": sorted(str(code) for code in raw.get("responses", {}))}
    for param in reader.resolve(raw.get("parameters", []), source):
        op["parameters"].append({"name": param["name"], "in": param["in"], "required": param.get("required", False),
                                 "schema": jsonschema_of(param.get("schema", {}))})
    body = raw.get("requestBody")
    if body:
        body = reader.resolve(body, source)
        op["requestBody"] = {"required": body.get("required", False),
                             "schema": jsonschema_of(body["content"]["application/json"]["schema"])}
    return op


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--root", help="a checkout of github.com/digitalocean/openapi")
    where.add_argument("--git-dir", help="a clone (bare or not) of github.com/digitalocean/openapi")
    parser.add_argument("--commit", default="HEAD", help="with --git-dir: the commit to read (default HEAD)")
    args = parser.parse_args(argv)
    reader = Reader(root=args.root, git_dir=args.git_dir, commit=args.commit)
    error = "specification/shared/models/error.yml"
    vendored = {
        "x-source": {
            "repository": "https://github.com/digitalocean/openapi",
            "commit": reader.commit if args.git_dir else "(working tree of %s)" % args.root,
            "files": "specification/DigitalOcean-public.v2.yaml and the files its operations below refer to",
            "note": "Trimmed by tests/emulators/do_api/spec/vendor.py: $refs resolved, prose dropped, OpenAPI"
                    " nullable turned into a JSON Schema null type. Do not edit by hand; rerun the script.",
        },
        "error": {"source": error, "schema": jsonschema_of(reader.resolve(reader.load(error), error))},
        "operations": {"%s %s" % (m.upper(), p): operation(reader, m, p) for m, p in OPERATIONS},
    }
    with open(OUTPUT, "w", encoding="utf-8") as handle:
        json.dump(vendored, handle, indent=1, sort_keys=True)
        handle.write("\n")
    print("wrote %s from %s" % (OUTPUT, vendored["x-source"]["commit"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
