# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, stop and inspect the two cloud API emulators the no-account demo and the tests use, on 127.0.0.1 only:
moto_server for AWS and tests/emulators/do_api for DigitalOcean.

  cloud_emulators.py start DIR       start both (free ports), wait until they answer, write DIR/env (and env.json)
  cloud_emulators.py stop DIR        stop what start started (by PID)
  cloud_emulators.py resources DIR   JSON: what each emulator still holds (non-default AWS resources, droplets...)

DIR/env holds the shell exports that point boto3/amazon.aws (AWS_ENDPOINT_URL, test credentials) and the
DigitalOcean modules and inventory (DIGITALOCEAN_API_URL, DIGITALOCEAN_ACCESS_TOKEN) at the emulators.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(os.path.abspath(sys.executable))
REGIONS = ("eu-central-1",)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return False


def wait_http(url, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("emulator for %s exited with %s before answering" % (url, proc.returncode))
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return   # it answered
        except OSError:
            time.sleep(0.2)
    raise SystemExit("no answer from %s within %.0f s" % (url, timeout))


def load(path):
    try:
        with open(os.path.join(path, "emulators.json")) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def spawn(argv, log_path):
    log = open(log_path, "ab")   # pylint: disable=consider-using-with
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
                            start_new_session=True)


def start(path):
    os.makedirs(path, mode=0o700, exist_ok=True)
    state = load(path)
    if state and all(alive(p) for p in state["pids"].values()):
        print("emulators already running: AWS %s, DigitalOcean %s" % (state["aws_url"], state["do_url"]))
        return state
    if state:
        stop(path)
    aws_port, do_port, token = free_port(), free_port(), "emulator-" + secrets.token_hex(16)
    # moto_server with the Ubuntu/Debian AMIs the inventories name (it knows only old ones by default)
    os.environ["MOTO_AMIS_PATH"] = os.path.join(ROOT, "tests", "emulators", "moto_amis.json")
    moto = spawn([os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(aws_port)],
                 os.path.join(path, "moto.log"))
    do_api = spawn([sys.executable, "-m", "tests.emulators.do_api", "--host", "127.0.0.1", "--port", str(do_port),
                    "--token", token, "--boot-seconds", "1"], os.path.join(path, "do_api.log"))
    state = {"pids": {"moto": moto.pid, "do_api": do_api.pid}, "aws_url": "http://127.0.0.1:%d" % aws_port,
             "do_url": "http://127.0.0.1:%d" % do_port}
    with open(os.path.join(path, "emulators.json"), "w") as handle:
        json.dump(state, handle)
    wait_http(state["aws_url"] + "/moto-api/", moto)
    wait_http(state["do_url"] + "/_emulator/resources", do_api)
    key = os.path.join(path, "id_ed25519")
    if not os.path.exists(key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wiremesh-emulated-clouds", "-f", key],
                       check=True)
    env = {"WIREMESH_CLOUD_SSH_PUBLIC_KEY_FILE": key + ".pub", "AWS_ENDPOINT_URL": state["aws_url"],
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": REGIONS[0], "AWS_EC2_METADATA_DISABLED": "true",
           "DIGITALOCEAN_API_URL": state["do_url"],
           "DIGITALOCEAN_ACCESS_TOKEN": token}
    for name, text in (("env", "".join("export %s=%s\n" % item for item in sorted(env.items()))),
                       ("env.json", json.dumps(env, indent=1, sort_keys=True) + "\n")):
        fd = os.open(os.path.join(path, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    print("emulators up: AWS %s (moto_server), DigitalOcean %s; environment in %s/env"
          % (state["aws_url"], state["do_url"], path))
    return state


def stop(path):
    state = load(path)
    if not state:
        return
    for name, pid in state["pids"].items():
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        print("%s (pid %d) stopped" % (name, pid))
    os.unlink(os.path.join(path, "emulators.json"))


def aws_resources(url):
    import boto3   # pylint: disable=import-outside-toplevel
    counts = {}
    for region in REGIONS:
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=url, aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        vpcs = [v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
        ids = {v["VpcId"] for v in vpcs}
        instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                     if i["State"]["Name"] != "terminated"]
        counts[region] = {
            "instances": len(instances), "vpcs": len(vpcs),
            "subnets": sum(1 for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] in ids),
            "security_groups": sum(1 for g in ec2.describe_security_groups()["SecurityGroups"]
                                   if g["GroupName"] != "default"),
            "key_pairs": len(ec2.describe_key_pairs()["KeyPairs"]),
            "internet_gateways": len(ec2.describe_internet_gateways()["InternetGateways"]),
            "route_tables": sum(1 for t in ec2.describe_route_tables()["RouteTables"]
                                if t["VpcId"] in ids and not any(a.get("Main") for a in t.get("Associations", [])))}
    return counts


def resources(path):
    state = load(path)
    if not state:
        raise SystemExit("no emulators recorded in %s (start them first)" % path)
    with urllib.request.urlopen(state["do_url"] + "/_emulator/resources", timeout=5) as resp:
        do_counts = json.load(resp)
    return {"aws": aws_resources(state["aws_url"]), "digitalocean": do_counts}


def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop", "resources"):
        raise SystemExit(__doc__)
    path = os.path.abspath(argv[2])
    if argv[1] == "start":
        start(path)
    elif argv[1] == "stop":
        stop(path)
    else:
        print(json.dumps(resources(path), indent=1, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
