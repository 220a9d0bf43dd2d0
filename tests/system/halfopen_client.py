#!/usr/bin/python3
"""A hostile HTTP client for the hardening tests: opens up to N connections
to HOST:PORT, sends half a request line on each and stalls, then watches
for HOLD seconds which of them the server closes.

    halfopen_client.py HOST PORT N OPEN_SECS HOLD_SECS [SOURCE_IP]

Prints "ready <opened>" once the opening phase is over (N opened, OPEN_SECS
spent, or connects failing), then at the end one JSON line:
{"opened", "failed", "closed_by_server", "first_close", "last_close"}
(times in seconds after "ready"). SOURCE_IP: the address to connect from
(another loopback address, 127.0.0.2, to be a peer other than the
cluster's own daemons)."""
import json
import resource
import select
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h; not in Python's socket module


def main():
    host, port, n, open_secs, hold = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                      float(sys.argv[4]), float(sys.argv[5]))
    src = sys.argv[6] if len(sys.argv) > 6 else None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    failed = 0
    deadline = time.monotonic() + open_secs
    while len(socks) < n and time.monotonic() < deadline and failed < 200:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            if src:
                # The port is picked at connect time, from the whole
                # 4-tuple: bind() alone would pick it among all ports of
                # src, slowly and colliding with the other attacker.
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((src, 0))
            s.connect((host, port))
            s.send(b"GET /health HT")  # half a request line, then nothing
        except OSError:
            failed += 1
            s.close()
            continue
        s.setblocking(False)
        socks.append(s)
    print(f"ready {len(socks)}", flush=True)
    t0 = time.monotonic()
    ep = select.epoll()
    by_fd = {}
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        by_fd[s.fileno()] = s
    closes = []
    while time.monotonic() - t0 < hold and by_fd:
        for fd, _ in ep.poll(0.2):
            s = by_fd.pop(fd, None)
            if s is None:
                continue
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                closes.append(time.monotonic() - t0)
                ep.unregister(fd)
                s.close()
    print(json.dumps({"opened": len(socks), "failed": failed, "closed_by_server": len(closes),
                      "first_close": min(closes) if closes else None,
                      "last_close": max(closes) if closes else None}), flush=True)
    for s in by_fd.values():
        s.close()


if __name__ == "__main__":
    main()
