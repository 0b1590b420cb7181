# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What wg_interface does, without AnsibleModule: render and write the config file, bring the interface up
when it is down, otherwise bring the live state in line with as few, non-disruptive changes as possible."""

from __future__ import annotations

import time

from . import apply, conffile, diff, files, keyfile
from . import live as live_state
from .common import WireGuardError


def _secrets(private_key, preshared_keys):
    return [v for v in [private_key] + list((preshared_keys or {}).values()) if v]


def _peers(config):
    peers = sorted(config.get("peers") or [], key=lambda p: (p.get("name") or "", p.get("public_key") or ""))
    return [{"name": p.get("name"), "public_key": p.get("public_key"), "allowed_ips": list(p.get("allowed_ips") or [])}
            for p in peers]


def _result(params, actions, before, after, public_key=None, peers=(), warnings=()):
    return {
        "changed": bool(actions),
        "interface": params["name"],
        "config_path": params["config_path"],
        "public_key": public_key,
        "peers": list(peers),
        "actions": list(actions),
        "warnings": list(warnings),
        "diff": {"before": conffile.redact(before), "after": conffile.redact(after),
                 "before_header": params["config_path"], "after_header": params["config_path"]},
    }


def inherited_endpoints(config, live, names):
    """{new public key: endpoint} for the peers of ``config`` that have no endpoint of their own and replace a
    live peer of the same name under another key (a rotated key): the new entry starts at the endpoint the
    old one learned (a peer behind NAT is reachable at once, not only after it sends something)."""
    by_name = {}
    for pub, have in live["peers"].items():
        name = (names or {}).get(pub)
        if name and have.get("endpoint"):
            by_name[name] = have["endpoint"]
    wanted = set(p.get("public_key") for p in config.get("peers") or [])
    out = {}
    for peer in config.get("peers") or []:
        pub, name = peer.get("public_key"), peer.get("name")
        if peer.get("endpoint") or pub in live["peers"] or not name or name not in by_name:
            continue
        old = [k for k, n in (names or {}).items() if n == name and k in live["peers"] and k not in wanted]
        if old:
            out[pub] = by_name[name]
    return out


def with_endpoints(config, endpoints):
    """A copy of ``config`` whose peers listed in ``endpoints`` (public key -> endpoint) get that endpoint."""
    out = conffile.desired_config(config)
    out["peers"] = [dict(peer, endpoint=endpoints[peer["public_key"]]) if peer.get("public_key") in endpoints
                    else peer for peer in out["peers"]]
    return out


def wait_until(when, clock=None, sleep=time.sleep):
    """Sleep until the wall-clock instant ``when`` (seconds since the epoch); return how late we are (>= 0)."""
    left = when - (clock or time.time)()
    if left > 0:
        sleep(left)
        return 0.0
    return -left


AGENT_RETRIES, AGENT_PAUSE_S = 2, 0.5    # a failover agent's `wg set` racing ours: look again, apply again


def _converge(run, name, desired, live, names, text, secrets, resolver, apply_at=None, sleep=time.sleep,
              timing=None):
    """Apply the differences between ``live`` and ``desired`` (at the instant ``apply_at`` when given: one
    ``wg syncconf``, a single transaction, holds every WireGuard-level change); verify; return the actions."""
    changes = diff.compare(name, desired, live, names, resolver)
    if not changes:
        return []
    if desired["listen_port"] is None and live["listen_port"]:
        text = conffile.with_listen_port(text, live["listen_port"])
    if apply_at is not None:
        late = wait_until(apply_at, sleep=sleep)
        if timing is not None:
            timing["late_s"] = round(late, 3)
    apply.apply_changes(run, name, changes, text, secrets)
    if apply_at is not None and timing is not None:
        timing["applied_after_s"] = round(time.time() - apply_at, 3)
    for attempt in range(AGENT_RETRIES + 1):
        after = live_state.read(run, name)
        if after is None:
            raise WireGuardError("interface %s disappeared while it was being updated" % name)
        left = diff.compare(name, desired, after, names, resolver)
        # the failover agent may have been switching while wg syncconf ran: its `wg set` lands on top of ours
        racing = desired.get("moving") and all(c.action.startswith(diff.ALLOWED_UPDATE) for c in left)
        if not left or attempt == AGENT_RETRIES or not racing:
            break
        sleep(AGENT_PAUSE_S)
        apply.apply_changes(run, name, left, text, secrets)
    if left:
        raise WireGuardError("interface %s still differs after the update: %s"
                             % (name, "; ".join(c.action for c in left)))
    return [c.action for c in changes]


def present(run, params, check_mode=False, resolver=diff.resolve, sleep=time.sleep, on_secret=None):
    """Make interface ``params["name"]`` match ``params["config"]``. Returns the module result (no secrets).

    ``on_secret`` (e.g. ``module.no_log_values.add``) is called with the private key and every preshared key.
    With ``params["next_private_key_path"]`` holding a key (a staged rotation), that key is applied and then
    moved over ``private_key_path``; with ``params["apply_at"]`` (seconds since the epoch) the live changes
    wait for that instant, so that every host of a mesh switches together."""
    name, config_path = params["name"], params["config_path"]
    wanted = conffile.desired_config(params.get("config"), params.get("mtu"))
    psks = params.get("preshared_keys") or {}
    warnings = []
    key_path, next_path = params["private_key_path"], params.get("next_private_key_path")
    staged = bool(next_path) and files.read_text(next_path) is not None
    if staged:
        key_path = next_path
    private_key, valid = keyfile.read(key_path, on_secret)
    if private_key is None and check_mode:
        warnings.append("%s does not exist yet: the private key is left out of the comparison" % key_path)
    elif private_key is None or not valid:
        private_key = keyfile.load_private_key(key_path)  # raises with the reason
    secrets = _secrets(private_key, psks)
    for secret in secrets:
        if on_secret is not None:
            on_secret(secret)
    host_public = keyfile.public_key(run, private_key) if private_key else None
    desired = diff.desired_state(wanted, host_public, psks)
    text = conffile.render(wanted, private_key, psks)

    actions, before = conffile.sync(config_path, text, check_mode)
    names = conffile.peer_names(before)
    current = live_state.read(run, name)
    apply_at, timing = params.get("apply_at"), {}
    if current is None:
        up = params.get("up_command") or apply.default_up_command(name, config_path, params.get("setsid"))
        actions.append("bring up %s (%s)" % (name, " ".join(up)))
        if not check_mode:
            apply.run_command(run, up, "bring up %s" % name, secrets)
            if not apply.wait_for(lambda: live_state.read_link(run, name) is not None, sleep=sleep):
                raise WireGuardError("interface %s does not exist after %s" % (name, " ".join(up)))
            current = live_state.read(run, name)
            actions += _converge(run, name, desired, current, names, text, secrets, resolver)
    else:
        inherit = inherited_endpoints(wanted, current, names)
        sync_text = conffile.render(with_endpoints(wanted, inherit), private_key, psks) if inherit else text
        actions += ["keep the endpoint learned by %s's old key" % p["name"]
                    for p in wanted["peers"] if p.get("public_key") in inherit]
        if check_mode:
            actions += [c.action for c in diff.compare(name, desired, current, names, resolver)]
        else:
            actions += _converge(run, name, desired, current, names, sync_text, secrets, resolver, apply_at, sleep,
                                 timing)
    if staged:
        # the staged key is live now (or the interface was down and came up with it): it becomes the key
        actions.append("move %s to %s" % (next_path, params["private_key_path"]))
        if not check_mode:
            files.replace(next_path, params["private_key_path"])
    result = _result(params, actions, before, text, host_public, _peers(wanted), warnings)
    if apply_at is not None:
        result["timing"] = dict(timing, at=apply_at)
    return result


def absent(run, params, check_mode=False, sleep=time.sleep):
    """Bring interface ``params["name"]`` down (down_command) and remove its config file."""
    name, config_path = params["name"], params["config_path"]
    actions = []
    if live_state.read_link(run, name) is not None:
        down = params.get("down_command") or apply.default_down_command(name, config_path)
        actions.append("bring down %s (%s)" % (name, " ".join(down)))
        if not check_mode:
            apply.run_command(run, down, "bring down %s" % name)
            if not apply.wait_for(lambda: live_state.read_link(run, name) is None, sleep=sleep):
                raise WireGuardError("interface %s still exists after %s" % (name, " ".join(down)))
    before = files.read_text(config_path)
    if before is not None:
        actions.append("remove %s" % config_path)
        if not check_mode:
            files.remove(config_path)
    return _result(params, actions, before or "", "")
