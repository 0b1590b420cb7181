"""DigitalOcean's published OpenAPI description of the endpoints we use, trimmed into ``requests.json`` (see
``vendor.py`` and the file's ``x-source``), and request validation against it.

The emulator checks every request body with :func:`body_errors` before its handlers run, and the tests check the
requests the modules send with :func:`request_errors`, so neither depends on the emulator's own idea of the API."""

import json
import os
import re
from urllib.parse import unquote

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "requests.json"), encoding="utf-8") as _handle:
    SPEC = json.load(_handle)
SOURCE = SPEC["x-source"]
# specification/shared/models/error.yml: {"id", "message"} required, "request_id" optional.
ERROR_SCHEMA = SPEC["error"]["schema"]


class Operation:
    """One vendored operation: its method, path template, operationId, spec file and schemas."""

    def __init__(self, key, raw):
        self.method, self.template = key.split(" ", 1)
        self.id = raw["operationId"]
        self.source = raw["source"]
        self.responses = raw["responses"]
        self.parameters = raw["parameters"]
        self.body = raw.get("requestBody")
        self.pattern = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template)) + "/?$")

    def __repr__(self):
        return "<%s %s %s>" % (self.id, self.method, self.template)


OPERATIONS = [Operation(key, raw) for key, raw in sorted(SPEC["operations"].items())]


def find(method, path):
    """The operation answering ``method path`` (``path`` without the query), or None when it is not vendored."""
    for op in OPERATIONS:
        if op.method == method.upper() and op.pattern.match(path):
            return op
    return None


def _where(error):
    where = ""
    for part in error.absolute_path:
        where += "[%d]" % part if isinstance(part, int) else ("." if where else "") + str(part)
    return where


def schema_errors(schema, value):
    """Texts (``where: what``) saying how ``value`` breaks ``schema``, the most relevant first; [] when valid."""
    # OpenAPI 3.0 schemas are JSON Schema draft wright-00 (draft 5), which draft 4 validators read the same way.
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(value))
    if not errors:
        return []
    best = jsonschema.exceptions.best_match(errors)
    return [_text(error) for error in [best] + [e for e in errors if e is not best]]


def _text(error):
    where = _where(error)
    message = error.message
    if error.validator in ("anyOf", "oneOf") and error.context:
        # say what each allowed form missed rather than repeating the whole value
        missed = list(dict.fromkeys(_text(sub) for sub in error.context))
        message = "matches none of the allowed forms (%s)" % "; ".join(missed)
    elif error.validator == "oneOf":
        forms = [s.get("title", "form %d" % n) for n, s in enumerate(error.validator_value, 1)]
        message = "matches more than one of the allowed forms (%s); it must match exactly one" % ", ".join(forms)
    return "%s: %s" % (where, message) if where else message


def body_errors(op, body):
    """How a request body breaks ``op``'s request schema ([] when it conforms or the operation takes none)."""
    if op is None or op.body is None:
        return []
    return schema_errors(op.body["schema"], body)


def _typed(value, schema):
    """A query or path value (a string) as the schema's type wants it, when it reads as one."""
    kinds = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", []) + schema.get("oneOf", [])]
    if "integer" in kinds and re.match(r"^-?\d+$", str(value)):
        return int(value)
    return value


def parameter_errors(op, path, query):
    """How the path and query parameters of a request break ``op`` (unknown query parameters included)."""
    errors = []
    values = dict({k: unquote(v) for k, v in op.pattern.match(path).groupdict().items()}, **query)
    known = {p["name"] for p in op.parameters}
    errors.extend("query parameter %s is not in the spec of %s" % (n, op.id) for n in sorted(set(query) - known))
    for param in op.parameters:
        if param["in"] not in ("path", "query"):
            continue
        if param["name"] not in values:
            if param["required"]:
                errors.append("%s parameter %s is required" % (param["in"], param["name"]))
            continue
        value = _typed(values[param["name"]], param["schema"])
        errors.extend("%s parameter %s: %s" % (param["in"], param["name"], text)
                      for text in schema_errors(param["schema"], value))
    return errors


def request_errors(method, path, query=None, body=None):
    """Everything wrong with one request by the spec: an operation that is not vendored, its parameters, its
    body. [] when the request conforms."""
    op = find(method, path)
    if op is None:
        return ["%s %s is not a vendored operation" % (method, path)]
    errors = parameter_errors(op, path, query or {})
    if op.body is not None:
        if body is None and op.body.get("required"):
            errors.append("%s needs a request body" % op.id)
        elif body is not None:
            errors.extend(body_errors(op, body))
    return errors
