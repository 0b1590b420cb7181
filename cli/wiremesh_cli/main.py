# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``wiremesh``: showconf (what an external peer configures, a node's config, a leader exported as a peer),
graph (DOT/SVG) and status (handshakes and transfer per peer). Exit status 0 ok, 1 a check failed
(status: a ping pair did not answer), 2 bad usage, a missing state file or an unknown name."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from . import __version__
from .collection import mesh, plugin_utils
from . import status as status_mod


class CliError(Exception):
    pass


def _default_inventory():
    env = os.environ.get("WIREMESH_INVENTORY")
    if env:
        return env
    return "inventories/lab" if os.path.isdir("inventories/lab") else "."


def state_path(args):
    if args.state:
        return args.state
    return os.path.join(args.inventory, ".wiremesh", "%s.state.json" % args.group)


def state_bytes(path):
    """The stored bytes of a state file, or of the S3 state object ``s3://BUCKET/KEY`` (credentials, region and
    endpoint from the AWS SDK's environment: AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...)."""
    where = {"path": path}
    if path.startswith("s3://"):
        bucket, _slash, key = path[len("s3://"):].partition("/")
        if not bucket or not key:
            raise CliError("--state %s: an S3 state is s3://BUCKET/KEY" % path)
        where = {"s3": {"bucket": bucket, "key": key}}
    stores = plugin_utils("state_store")
    try:
        data = stores.open_store(**where).raw()
    except stores.StateError as exc:
        raise CliError(str(exc))
    if data is None:
        raise FileNotFoundError(path)
    return data


def exists(path):
    return path.startswith("s3://") or os.path.exists(path)


def read_state(path, password_file=None):
    """The state's text; a vault-encrypted one is decrypted with the password in ``password_file`` (or
    $ANSIBLE_VAULT_PASSWORD_FILE), like ``ansible-vault view``."""
    data = state_bytes(path)
    if not data.startswith(b"$ANSIBLE_VAULT;"):
        return data.decode("utf-8")
    password_file = password_file or os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    if not password_file:
        raise CliError("the state file %s is vault-encrypted: give --vault-password-file FILE (or set "
                       "$ANSIBLE_VAULT_PASSWORD_FILE)" % path)
    from ansible.errors import AnsibleError   # pylint: disable=import-outside-toplevel
    from ansible.parsing.dataloader import DataLoader   # pylint: disable=import-outside-toplevel
    from ansible.parsing.vault import VaultLib, get_file_vault_secret   # pylint: disable=import-outside-toplevel
    try:
        secret = get_file_vault_secret(filename=os.path.abspath(password_file), loader=DataLoader())
        secret.load()
        return VaultLib([("default", secret)]).decrypt(data).decode("utf-8")
    except AnsibleError as exc:
        raise CliError("cannot decrypt the state file %s with %s: %s" % (path, password_file, exc))


def load_plan(path, password_file=None):
    """The ``plan`` of a state file; nothing else of the file (its preshared keys) is kept in memory."""
    try:
        plan = json.loads(read_state(path, password_file)).get("plan")
    except FileNotFoundError:
        raise CliError("no state file %s: run playbooks/mesh.yml first, or give --state / --inventory" % path)
    except (OSError, ValueError, AttributeError) as exc:
        raise CliError("cannot read the state file %s: %s" % (path, exc))
    if not isinstance(plan, dict) or "nodes" not in plan:
        raise CliError("the state file %s holds no plan yet: rerun playbooks/mesh.yml with this version" % path)
    return plan


def dump(data, fmt):
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    import yaml   # pylint: disable=import-outside-toplevel
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=True)


def cmd_showconf(args):
    showconf = mesh("showconf")
    plan = showconf.StoredPlan(load_plan(state_path(args), args.vault_password_file))
    try:
        if args.kind == "peer":
            if args.format == "ini":
                return plan.peer_ini(args.name, args.interface)
            return dump(plan.peer_config(args.name), args.format)
        if args.as_peer:
            extra = [c.strip() for c in (args.allowed_ips or "").split(",") if c.strip()]
            if args.format == "ini":
                return plan.as_peer_ini(args.name, extra)
            entry = plan.as_peer(args.name, extra)
            return dump([entry] if args.format == "yaml" else entry, args.format)
        if args.allowed_ips:
            raise CliError("--allowed-ips only goes with --as-peer")
        if args.format == "ini":
            return plan.shown_node_ini(args.name)
        return dump(plan.node_config(args.name), args.format)
    except showconf.ShowconfError as exc:
        raise CliError(str(exc))


def to_svg(dot_text):
    binary = shutil.which("dot")
    if binary is None:
        raise CliError("--format svg needs Graphviz's `dot` (Debian: apt-get install graphviz); "
                       "--format dot writes the DOT text")
    proc = subprocess.run([binary, "-Tsvg"], input=dot_text, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CliError("dot -Tsvg failed: %s" % proc.stderr.strip())
    return proc.stdout


def cmd_graph(args):
    text = mesh("graph").to_dot(load_plan(state_path(args), args.vault_password_file), name=args.group,
                                flows=args.flows)
    if args.format == "svg":
        text = to_svg(text)
    if args.output and args.output != "-":
        directory = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(directory, exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        return "%s written to %s\n" % (args.format.upper(), os.path.abspath(args.output))
    return text


def cmd_status(args):
    path = state_path(args)
    now = int(time.time())
    if args.report:
        try:
            with open(args.report, encoding="utf-8") as handle:
                report = json.load(handle)
            plan = load_plan(path, args.vault_password_file) if exists(path) else {}
            text, failures = status_mod.render_report(report, now, plan)
        except (OSError, ValueError, KeyError) as exc:
            raise CliError("cannot read the report %s: %s" % (args.report, exc))
        return text + "\n", 1 if failures else 0
    plan = load_plan(path, args.vault_password_file)
    try:
        gathered = status_mod.gather(args.inventory, args.group, args.interface)
    except status_mod.StatusError as exc:
        raise CliError(str(exc))
    return status_mod.render_live(plan, gathered, now) + "\n", 0


def parser():
    top = argparse.ArgumentParser(prog="wiremesh", description=__doc__.split("\n\n", 1)[0])
    top.add_argument("--version", action="version", version="%(prog)s " + __version__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--inventory", "-i", default=_default_inventory(),
                        help="inventory directory (default: $WIREMESH_INVENTORY, else inventories/lab)")
    common.add_argument("--group", default="mesh", help="the mesh's inventory group (default: mesh)")
    common.add_argument("--state", help="state file, or s3://BUCKET/KEY for the S3 backend (AWS credentials, region and "
                                        "endpoint from the environment); default INVENTORY/.wiremesh/GROUP.state.json")
    common.add_argument("--vault-password-file", metavar="FILE",
                        help="password of a vault-encrypted state file (default: $ANSIBLE_VAULT_PASSWORD_FILE)")
    common.add_argument("--interface", default="wg0", help="WireGuard interface name (default: wg0)")
    subs = top.add_subparsers(dest="command", required=True)
    show = subs.add_parser("showconf", parents=[common], help="what a peer or node configures (no secrets)")
    show.add_argument("kind", choices=["peer", "node"])
    show.add_argument("name")
    show.add_argument("--format", choices=["ini", "json", "yaml"], default=None,
                      help="default: ini; yaml for node --as-peer")
    show.add_argument("--as-peer", action="store_true",
                      help="node: export it as an entry for another mesh's wireguard_peers (leaders only)")
    show.add_argument("--allowed-ips", help="node --as-peer: extra CIDRs, comma-separated")
    show.set_defaults(func=cmd_showconf)
    graph = subs.add_parser("graph", parents=[common], help="the mesh as Graphviz DOT or SVG")
    graph.add_argument("--format", choices=["dot", "svg"], default="dot")
    graph.add_argument("-o", "--output", help="write to this file (default: standard output)")
    graph.add_argument("--flows", action="store_true",
                       help="also draw the flows the access policy (wireguard_acls) lets open, as blue arrows")
    graph.set_defaults(func=cmd_graph)
    stat = subs.add_parser("status", parents=[common], help="handshake age and transfer per peer")
    stat.add_argument("--report", help="read playbooks/report.yml's JSON instead of asking the hosts; "
                                       "adds the ping matrix")
    stat.set_defaults(func=cmd_status)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command == "showconf" and args.format is None:
        args.format = "yaml" if args.as_peer else "ini"
    try:
        result = args.func(args)
    except (CliError, LookupError) as exc:
        print("wiremesh: %s" % exc, file=sys.stderr)
        return 2
    text, code = result if isinstance(result, tuple) else (result, 0)
    sys.stdout.write(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
