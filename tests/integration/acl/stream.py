"""Inside a lab host: one TCP stream to ADDRESS PORT, a line every 0.1 s, echoed back; prints the number of echoes
received so far every 0.5 s; stops after --seconds."""

import argparse
import socket
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    echoes, last_print = 0, 0.0
    deadline = time.monotonic() + args.seconds
    with socket.create_connection((args.address, args.port), timeout=5) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"x" * 64)
                echoes += len(sock.recv(4096)) // 64
            except socket.timeout:
                pass
            except OSError:
                break
            if time.monotonic() - last_print >= 0.5:
                print(echoes, flush=True)
                last_print = time.monotonic()
            time.sleep(0.1)
    print(echoes, flush=True)


if __name__ == "__main__":
    main()
