# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pydo client, its errors turned into one clear text, paging and waiting.

Every failure is a :class:`DigitalOceanError` whose message starts with ``DigitalOcean:`` and never contains the
API token. Nothing here depends on AnsibleModule, so the inventory plugin can use it too."""

from __future__ import annotations

import ipaddress
import time
from urllib.parse import urlsplit

try:
    import pydo
    from azure.core.exceptions import AzureError, HttpResponseError
    from azure.core.pipeline.policies import SansIOHTTPPolicy
except ImportError:  # reported by the modules with missing_required_lib()
    HAS_PYDO = False
    SansIOHTTPPolicy = object
else:
    HAS_PYDO = True

TOKEN_ENV = ("DIGITALOCEAN_ACCESS_TOKEN", "DIGITALOCEAN_TOKEN", "DO_API_TOKEN")
BASE_URL_ENV = "DIGITALOCEAN_API_URL"
DEFAULT_BASE_URL = "https://api.digitalocean.com"
PER_PAGE = 200
MAX_PAGES = 500
TOKEN_HINT = "check the token option or the environment variables %s" % ", ".join(TOKEN_ENV)


class DigitalOceanError(Exception):
    """A failure to show as it is: starts with ``DigitalOcean:``, never holds the token."""

    def __init__(self, message, status=None, error_id=None):
        super().__init__(message if message.startswith("DigitalOcean:") else "DigitalOcean: " + message)
        self.status = status
        self.error_id = error_id


class _PlainHttpOnLoopback(SansIOHTTPPolicy):
    """azure-core refuses Bearer tokens over plain HTTP; allow it for loopback endpoints (API emulators) only.
    ``check_base_url`` makes sure no other plain-HTTP endpoint gets this far."""

    def on_request(self, request):
        request.context["enforce_https"] = False


def check_base_url(base_url):
    """``base_url`` without a trailing ``/`` or ``/v2``; HTTPS anywhere, plain HTTP only on a loopback address."""
    url = (base_url or DEFAULT_BASE_URL).strip().rstrip("/")
    if url.endswith("/v2"):
        url = url[:-3]
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DigitalOceanError("base_url %r is not an http(s) URL" % url)
    if parts.scheme == "http":
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if not loopback:
            raise DigitalOceanError("base_url %s: plain http is only allowed for a loopback address (an API"
                                    " emulator); the token would travel unencrypted" % url)
    return url


class Api:
    """A pydo client plus the calls that turn its answers and errors into results or DigitalOceanError."""

    def __init__(self, token, base_url=None, timeout=60):
        if not HAS_PYDO:
            raise DigitalOceanError("the pydo Python library is required (pip install pydo)")
        if not token:
            raise DigitalOceanError("no API token: set the token option or one of the environment variables "
                                    + ", ".join(TOKEN_ENV))
        self.base_url = check_base_url(base_url)
        self._token = token
        options = dict(endpoint=self.base_url, timeout=timeout, connection_timeout=timeout, read_timeout=timeout)
        if self.base_url.startswith("http:"):
            options["per_call_policies"] = [_PlainHttpOnLoopback()]
        self.client = pydo.Client(token, **options)

    def _scrub(self, text):
        return str(text).replace(self._token, "<token>") if self._token else str(text)

    def call(self, what, operation, *args, **kwargs):
        """Run ``operation`` (a bound pydo method); its JSON body, or ``None`` on 404 when ``missing_ok``.

        ``what`` says what was being done ("creating droplet web-1") and ends up in the error text.
        ``retry=False`` turns off azure-core's retries (creates that must not run twice)."""
        missing_ok = kwargs.pop("missing_ok", False)
        if not kwargs.pop("retry", True):
            kwargs["retry_total"] = 0
        try:
            status, body = operation(*args, cls=lambda response, body, headers: (
                response.http_response.status_code, body), **kwargs)
        except HttpResponseError as err:
            status, body = err.status_code, _json_or_text(err.response)
        except AzureError as err:
            raise DigitalOceanError("%s: cannot reach %s: %s" % (what, self.base_url, self._scrub(err))) from None
        if status == 404 and missing_ok:
            return None
        if status is not None and status >= 400:
            raise self.error(what, status, body)
        return body

    def error(self, what, status, body):
        error_id, message = "", body
        if isinstance(body, dict):
            # the API's error shape ({"id", "message", "request_id"}), or the one its tags endpoints answer 400
            # with ({"error", "messages", "root_causes"})
            error_id = body.get("id") or ("bad_request" if status == 400 and "error" in body else "")
            message = body.get("message") or body.get("error") or ""
        text = "%s %s: %s (%s)" % (status, error_id, self._scrub(message), what)
        if status == 401:
            text += "; " + TOKEN_HINT
        return DigitalOceanError(" ".join(text.split()), status, error_id)

    def paged(self, what, operation, key, **filters):
        """Every item of a paginated list (``key`` is the list's name in the answer, e.g. ``droplets``)."""
        items = []
        for page in range(1, MAX_PAGES + 1):
            body = self.call(what, operation, page=page, per_page=PER_PAGE, **filters)
            items.extend(body.get(key) or [])
            if not ((body.get("links") or {}).get("pages") or {}).get("next"):
                return items
        raise DigitalOceanError("%s: more than %d pages" % (what, MAX_PAGES))


def _json_or_text(response):
    try:
        return response.json()
    except (AttributeError, ValueError):
        return response.text() if response is not None else ""


def wait_until(what, fetch, done, timeout, first_sleep=1.0, max_sleep=5.0):
    """Call ``fetch()`` until ``done(result)`` or ``timeout`` seconds have passed; the last result.

    Sleeps grow from ``first_sleep`` to ``max_sleep``. Raises DigitalOceanError on timeout."""
    deadline = time.monotonic() + timeout
    sleep = first_sleep
    while True:
        result = fetch()
        if done(result):
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            raise DigitalOceanError("%s: still not done after %s seconds" % (what, timeout))
        time.sleep(min(sleep, left))
        sleep = min(sleep * 1.5, max_sleep)


def find_one(items, name, kind, key="name"):
    """The item whose ``key`` is ``name``, ``None`` when there is none; DigitalOceanError when several match."""
    found = [item for item in items if item.get(key) == name]
    if len(found) > 1:
        raise DigitalOceanError("%d %ss are named %s (ids %s); names must be unique for this module to manage them"
                                % (len(found), kind, name, ", ".join(str(i.get("id")) for i in found)))
    return found[0] if found else None
