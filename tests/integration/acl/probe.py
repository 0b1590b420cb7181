"""Inside a lab host: try to open each flow given as JSON [[address, proto, port], ...] (tcp connect, a UDP
datagram answered, one ping), all at once, each bounded by --timeout; print {"address proto port": true|false}."""

import argparse
import json
import socket
import subprocess
import threading


def attempt(address, proto, port, timeout):
    try:
        if proto == "tcp":
            with socket.create_connection((address, port), timeout=timeout):
                return True
        if proto == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(timeout)
                sock.sendto(b"acl-probe", (address, port))
                return sock.recvfrom(64)[0] == b"acl-probe"
        if proto == "icmp":
            return subprocess.run(["ping", "-c", "1", "-W", str(int(timeout)), "-q", address], capture_output=True,
                                  timeout=timeout + 5, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    raise ValueError(proto)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("flows")
    parser.add_argument("--timeout", type=float, default=3)
    args = parser.parse_args()
    results = {}

    def run(address, proto, port):
        results["%s %s %d" % (address, proto, port)] = attempt(address, proto, port, args.timeout)

    threads = [threading.Thread(target=run, args=tuple(flow)) for flow in json.loads(args.flows)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.timeout + 10)
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
