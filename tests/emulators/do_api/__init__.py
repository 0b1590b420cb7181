"""A DigitalOcean API v2 emulator for tests: a real HTTP server on a loopback address with in-memory state.

It answers the endpoints the DigitalOcean modules of this collection use (account, droplets with actions and
pagination, SSH keys, VPCs, firewalls, tags, regions, sizes, images) the way API v2 does: Bearer authentication
(401 ``Unauthorized``), 404 ``not_found``, 422 ``unprocessable_entity`` for bad input, 400 ``bad_request`` for a body
that is not a JSON object, errors in the spec's shape (``id``, ``message``, ``request_id``). Every request body is
first held to the schema DigitalOcean publishes for the operation (``spec/requests.json``, vendored from
github.com/digitalocean/openapi; see ``spec/vendor.py``). ``GET /_emulator/resources`` (no token) counts what the
account holds; ``GET /_emulator/requests`` (no token) lists the requests received (method, path, query, body).

In tests::

    server, base_url = start(tokens=["t0ken..."], droplet_limit=2, boot_seconds=0.2)
    ...
    server.shutdown(); server.server_close()

From a shell (in the repository root)::

    python -m tests.emulators.do_api --port 8500 --token TOKEN [--droplet-limit 25] [--boot-seconds 1]
"""

from .server import check_loopback, main, start

__all__ = ["check_loopback", "main", "start"]
