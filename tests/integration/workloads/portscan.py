"""A small port scanner, run by test_workloads.py inside the lab's internet router namespace
(`ip netns exec wm-lab-internet python3 portscan.py ...`): a TCP connect scan of a port range (non-blocking
connects under epoll, a bounded number in flight; ports that stay silent get a second, slower pass) and UDP probes
of a port list. Prints one JSON object per run: {target: {"tcp_open": [...], "tcp": {state: count},
"udp": {port: "closed" | "open" | "open|filtered" | "unreachable"}}}."""

import argparse
import errno
import json
import resource
import select
import socket
import time

UDP_WAIT = 1.5


def tcp_pass(target, ports, in_flight, timeout):
    """{port: "open" | "closed" | "unreachable" | "silent"} for one connect attempt per port."""
    states, pending, todo = {}, {}, list(ports)
    poller = select.epoll()
    try:
        while todo or pending:
            while todo and len(pending) < in_flight:
                port = todo.pop()
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # RST on close
                code = sock.connect_ex((target, port))
                if code not in (0, errno.EINPROGRESS):
                    states[port] = "closed" if code == errno.ECONNREFUSED else "unreachable"
                    sock.close()
                    continue
                pending[sock.fileno()] = (sock, port, time.monotonic() + timeout)
                poller.register(sock.fileno(), select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP)
            for fd, _event in poller.poll(0.05):
                sock, port, _deadline = pending.pop(fd)
                poller.unregister(fd)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                states[port] = ("open" if code == 0 else "closed" if code == errno.ECONNREFUSED
                                else "unreachable" if code in (errno.EHOSTUNREACH, errno.ENETUNREACH) else "silent")
                sock.close()
            now = time.monotonic()
            for fd, (sock, port, deadline) in list(pending.items()):
                if now > deadline:
                    states[port] = "silent"
                    poller.unregister(fd)
                    sock.close()
                    del pending[fd]
    finally:
        poller.close()
    return states


def udp_probe(target, port):
    """closed: ICMP port unreachable came back; open: a reply; open|filtered: silence (WireGuard ignores junk)."""
    for _attempt in range(2):  # ICMP errors are rate limited per destination: one retry after a pause
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(UDP_WAIT)
            try:
                sock.connect((target, port))
                sock.send(b"\0" * 8)
                sock.recv(2048)
                return "open"
            except ConnectionRefusedError:
                return "closed"
            except socket.timeout:
                continue
            except OSError as exc:
                if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                    return "unreachable"
                raise
    return "open|filtered"


def scan(target, ports, udp_ports, in_flight):
    states = tcp_pass(target, ports, in_flight, 1.0)
    silent = [p for p, state in states.items() if state == "silent"]
    if silent:  # a busy machine drops or delays some: ask those again, fewer at a time and more patiently
        states.update(tcp_pass(target, silent, max(1, in_flight // 8), 3.0))
    counts = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    return {"tcp_open": sorted(p for p, state in states.items() if state == "open"), "tcp": counts,
            "udp": {str(p): udp_probe(target, p) for p in udp_ports}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tcp", default="1-65535", help="FIRST-LAST")
    parser.add_argument("--udp", default="", help="comma-separated ports")
    parser.add_argument("--in-flight", type=int, default=512)
    parser.add_argument("targets", nargs="+")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.in_flight + 256)), hard))
    first, last = (int(x) for x in args.tcp.split("-"))
    udp_ports = [int(p) for p in args.udp.split(",") if p]
    print(json.dumps({t: scan(t, range(first, last + 1), udp_ports, args.in_flight) for t in args.targets}))


if __name__ == "__main__":
    main()
