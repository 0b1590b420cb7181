# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A TCP forwarder from the machine's loopback into a lab host's network namespace (the browser's way into the
lab: the root namespace has no route into it).

    python3 tools/lab_forward.py start --netns wm-operator --listen 127.0.0.1:8480 --connect 10.4.0.2:8080 --pidfile .lab/F.pid
    python3 tools/lab_forward.py status --pidfile .lab/F.pid
    python3 tools/lab_forward.py stop --pidfile .lab/F.pid        (or: stop --all .lab  -- every forward-*.pid there)

It listens on a loopback address of the root namespace only, and opens each outgoing connection from a thread
that entered the given network namespace (setns), so the connection leaves from the lab host (the operator,
over its WireGuard interface) exactly as that host's own programs would. `start` runs it detached (its own
session, output in <pidfile>.log) and is idempotent: the same forwarding already running is left alone and
reported unchanged. `start`, `stop` and `status` print one JSON object.
"""

import argparse
import asyncio
import concurrent.futures
import ctypes
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
MAX_CLIENTS = 64
MARK = "lab_forward.py"


def address(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("%r is not HOST:PORT" % text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError("%r: the host must be an IP address" % text)
    return host, int(port)


def loopback(text):
    host, port = address(text)
    if not ipaddress.ip_address(host).is_loopback:
        raise argparse.ArgumentTypeError("%s: listens on loopback addresses only" % host)
    return host, port


def enter_netns(name):
    """Move the calling thread into network namespace ``name`` (/run/netns/<name>)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(os.path.join("/run/netns", name), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns %s: %s" % (name, os.strerror(err)))
    finally:
        os.close(fd)


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


async def serve(args):
    netns = concurrent.futures.ThreadPoolExecutor(max_workers=1, initializer=enter_netns, initargs=(args.netns,))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(netns, lambda: None)  # fail now, not at the first client, if the netns is wrong
    slots = asyncio.Semaphore(MAX_CLIENTS)

    async def client(reader, writer):
        if slots.locked():
            writer.close()
            return
        async with slots:
            sock = await loop.run_in_executor(netns, socket.socket, socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, args.connect), 10)
                up_reader, up_writer = await asyncio.open_connection(sock=sock)
            except (OSError, asyncio.TimeoutError) as exc:
                sock.close()
                print("connect %s:%d in %s: %s" % (*args.connect, args.netns, exc), flush=True)
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(client, *args.listen, reuse_address=True)
    record = {"pid": os.getpid(), "netns": args.netns, "listen": "%s:%d" % args.listen,
              "connect": "%s:%d" % args.connect}
    tmp = args.pidfile + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    os.replace(tmp, args.pidfile)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("forwarding %(listen)s -> %(connect)s from netns %(netns)s" % record, flush=True)
    async with server:
        await stop.wait()
    netns.shutdown(wait=False)


def read_record(pidfile):
    """The pidfile's record when its process is a live forwarder, else None."""
    try:
        with open(pidfile, encoding="utf-8") as handle:
            record = json.load(handle)
        with open("/proc/%d/cmdline" % record["pid"], "rb") as handle:
            cmdline = handle.read().split(b"\0")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not any(arg.endswith(MARK.encode()) for arg in cmdline) or b"serve" not in cmdline:
        return None  # the PID was reused by something else
    return record


def stop_one(pidfile):
    record = read_record(pidfile)
    if record:
        os.kill(record["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and os.path.exists("/proc/%d" % record["pid"]):
            time.sleep(0.05)
        if os.path.exists("/proc/%d" % record["pid"]):
            os.kill(record["pid"], signal.SIGKILL)
    for path in (pidfile, pidfile + ".tmp"):
        if os.path.exists(path):
            os.unlink(path)
    return bool(record)


def start(args):
    wanted = {"netns": args.netns, "listen": "%s:%d" % args.listen, "connect": "%s:%d" % args.connect}
    record = read_record(args.pidfile)
    if record and {k: record.get(k) for k in wanted} == wanted:
        return {"changed": False, "pid": record["pid"], **wanted}
    stop_one(args.pidfile)
    if not os.path.exists(os.path.join("/run/netns", args.netns)):
        return {"failed": True, "msg": "network namespace %s does not exist (is the lab up?)" % args.netns}
    os.makedirs(os.path.dirname(os.path.abspath(args.pidfile)), exist_ok=True)
    with open(args.pidfile + ".log", "ab") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, os.path.abspath(__file__), "serve", "--netns", args.netns,
             "--listen", wanted["listen"], "--connect", wanted["connect"], "--pidfile", args.pidfile],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        record = read_record(args.pidfile)
        if record and record["pid"] == proc.pid:
            return {"changed": True, "pid": proc.pid, **wanted}
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    with open(args.pidfile + ".log", encoding="utf-8", errors="replace") as log:
        tail = log.read()[-1500:]
    return {"failed": True, "msg": "the forwarder did not start: %s" % tail}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("start", "serve"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--netns", required=True, help="network namespace the connections leave from")
        cmd.add_argument("--listen", required=True, type=loopback, help="loopback HOST:PORT in this namespace")
        cmd.add_argument("--connect", required=True, type=address, help="HOST:PORT, seen from inside --netns")
        cmd.add_argument("--pidfile", required=True)
    status = sub.add_parser("status")
    status.add_argument("--pidfile", required=True)
    stop = sub.add_parser("stop")
    what = stop.add_mutually_exclusive_group(required=True)
    what.add_argument("--pidfile")
    what.add_argument("--all", metavar="DIR", help="stop every forwarder with a forward-*.pid in DIR")
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        asyncio.run(serve(args))
        return 0
    if args.cmd == "start":
        result = start(args)
    elif args.cmd == "status":
        record = read_record(args.pidfile)
        result = {"running": bool(record), **(record or {})}
    else:
        pidfiles = [args.pidfile] if args.pidfile else [
            os.path.join(args.all, f) for f in sorted(os.listdir(args.all))
            if f.startswith("forward-") and f.endswith(".pid")] if os.path.isdir(args.all or "") else []
        stopped = [stop_one(p) for p in pidfiles]   # every one, not just up to the first that ran
        result = {"changed": any(stopped), "stopped": pidfiles}
    print(json.dumps(result))
    return 1 if result.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
