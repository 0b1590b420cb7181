"""Inside a lab host: echo on TCP and UDP ports of one address, for the access-policy test (stdlib only; runs
for at most --seconds, then exits)."""

import argparse
import socket
import threading
import time


def echo_tcp(conn):
    with conn:
        conn.settimeout(60)
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)
        except OSError:
            return


def serve_tcp(address, port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(64)
    while True:
        conn, _peer = server.accept()
        threading.Thread(target=echo_tcp, args=(conn,), daemon=True).start()


def serve_udp(address, port):
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((address, port))
    while True:
        data, peer = server.recvfrom(4096)
        server.sendto(data, peer)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("--tcp", type=int, nargs="*", default=[])
    parser.add_argument("--udp", type=int, nargs="*", default=[])
    parser.add_argument("--seconds", type=float, default=900)
    args = parser.parse_args()
    for port in args.tcp:
        threading.Thread(target=serve_tcp, args=(args.address, port), daemon=True).start()
    for port in args.udp:
        threading.Thread(target=serve_udp, args=(args.address, port), daemon=True).start()
    print("listening", flush=True)
    time.sleep(args.seconds)


if __name__ == "__main__":
    main()
