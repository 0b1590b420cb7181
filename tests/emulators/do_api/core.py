"""Shared pieces of the DigitalOcean API v2 emulator: errors as the API words them, the state, pagination and
the validation helpers every resource uses."""

import collections
import datetime
import ipaddress
import re
import threading
import time
import uuid
from urllib.parse import urlencode

# https://docs.digitalocean.com/reference/api/api-reference/#section/Introduction/Links-and-Pagination
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 200
# specification/resources/tags/models/tags.yml: name pattern ^[a-zA-Z0-9_\-\:]+$, maxLength 255
TAG_RE = re.compile(r"^[a-zA-Z0-9_\-\:]+$")
TAG_MAX = 255
# specification/resources/droplets/models/droplet_single_create.yml: name pattern and maxLength 255
HOSTNAME_RE = re.compile(r"^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$")
HOSTNAME_MAX = 255


class ApiError(Exception):
    """An error answer: HTTP status, the API's error ``id`` and its ``message``.

    :meth:`body` is the answer in the spec's shape (specification/shared/models/error.yml: ``id`` and ``message``,
    and the optional ``request_id``), unless ``body`` was given (tags answer 400 in another shape)."""

    def __init__(self, status, error_id, message, body=None):
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self._body = body

    def body(self, request_id):
        if self._body is not None:
            return self._body
        return {"id": self.error_id, "message": self.message, "request_id": request_id}


def new_request_id():
    return str(uuid.uuid4())


def not_found():
    return ApiError(404, "not_found", "The resource you were accessing could not be found.")


def unprocessable(message):
    return ApiError(422, "unprocessable_entity", message)


def bad_request(message):
    return ApiError(400, "bad_request", message)


def invalid_payload(errors):
    """422 for a body that breaks the operation's schema in the vendored spec (spec/requests.json); the message
    starts like the example of specification/shared/responses/unprocessable_entity.yml."""
    return unprocessable("request payload validation failed: %s" % errors[0])


def tag_bad_request(message):
    """400 in the shape specification/resources/tags/responses/tags_bad_request.yml documents for tags_create
    (shared/models/error_with_root_causes.yml: ``error``, ``messages``, ``root_causes``)."""
    text = "Error validating resource tag: %s" % message
    body = {"error": text, "messages": None, "root_causes": ["InvalidArgument desc = " + text]}
    return ApiError(400, "bad_request", text, body=body)


class Request:
    """What a handler sees: path parameters, query (first value of each), JSON body and the server's base URL."""

    def __init__(self, path, params, query, body, base_url):
        self.path = path
        self.params = params
        self.query = query
        self.body = body
        self.base_url = base_url

    def json(self):
        if not isinstance(self.body, dict):
            raise bad_request("The request body must be a JSON object.")
        return self.body


class State:
    """Everything the emulated account holds. Handlers run under ``lock``, one at a time."""

    def __init__(self, tokens, droplet_limit=25, boot_seconds=1.0):
        self.lock = threading.Lock()
        self.tokens = tuple(tokens)
        self.droplet_limit = droplet_limit
        self.boot_seconds = boot_seconds
        self.droplets = {}
        self.actions = {}
        self.ssh_keys = {}
        self.vpcs = {}
        self.firewalls = {}
        self.tags = {}
        # what was asked, for tests that hold the requests to the spec (GET /_emulator/requests)
        self.requests = collections.deque(maxlen=10000)
        self._ids = {"droplet": 3164444, "action": 36804636, "ssh_key": 512189}

    def next_id(self, kind):
        self._ids[kind] += 1
        return self._ids[kind]

    @staticmethod
    def now():
        return time.monotonic()

    def counts(self):
        """How many of each resource kind exist (for "nothing left" checks)."""
        used_tags = {t for d in self.droplets.values() for t in d["tags"]}
        used_tags.update(t for f in self.firewalls.values() for t in f["tags"])
        return {
            "droplets": len(self.droplets),
            "ssh_keys": len(self.ssh_keys),
            "vpcs": sum(1 for v in self.vpcs.values() if not v["default"]),
            "default_vpcs": sum(1 for v in self.vpcs.values() if v["default"]),
            "firewalls": len(self.firewalls),
            "tags": len(self.tags),
            "tags_in_use": len(used_tags),
            "actions": len(self.actions),
        }


def timestamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_query(req, name, default):
    raw = req.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise unprocessable("%s must be an integer" % name) from None


def paginate(req, items, key):
    """One page of ``items`` under ``key``, with ``links.pages`` and ``meta.total`` as the API gives them."""
    per_page = min(max(_int_query(req, "per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(_int_query(req, "page", 1), 1)
    total = len(items)
    last = max((total + per_page - 1) // per_page, 1)
    start = (page - 1) * per_page

    def link(number):
        query = dict(req.query, page=str(number), per_page=str(per_page))
        return "%s%s?%s" % (req.base_url, req.path, urlencode(sorted(query.items())))

    pages = {}
    if page > 1:
        pages.update(first=link(1), prev=link(min(page - 1, last)))
    if page < last:
        pages.update(next=link(page + 1), last=link(last))
    return {key: items[start:start + per_page], "links": {"pages": pages}, "meta": {"total": total}}


def public(record):
    """A stored record without its private (underscore) fields, as the API would show it."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def require_str(body, name, error=unprocessable):
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise error("%s is required and must be a non-empty string." % name)
    return value


def check_bool(body, name):
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise unprocessable("%s must be a boolean." % name)
    return value


def check_tags(values, error=unprocessable):
    """A list of valid tag names (letters, digits, ``:``, ``-`` and ``_``, at most 255 characters)."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise error("tags must be an array of strings.")
    for tag in values:
        if not isinstance(tag, str) or not TAG_RE.match(tag) or len(tag) > TAG_MAX:
            raise error("Tag name %r is invalid: tags may contain letters, numbers, colons, dashes and underscores"
                        " and be at most 255 characters long." % (tag,))
    return list(dict.fromkeys(values))


def existing_tags(state, values, where="tags"):
    """Tag names that must already exist: specification/shared/attributes/existing_tags_array.yml ("Tag names must
    exist in order to be referenced in a request"), used by firewalls."""
    names = check_tags(values)
    missing = [n for n in names if n not in state.tags]
    if missing:
        raise unprocessable("%s: tag %s does not exist; create it first (POST /v2/tags)." % (where, missing[0]))
    return names


def ensure_tags(state, names):
    for name in names:
        state.tags.setdefault(name, {"name": name, "_last_droplet": None})


def cidr(value, field, error=unprocessable):
    try:
        return ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        raise error("%s: %r is not a valid IP address or CIDR." % (field, value)) from None
