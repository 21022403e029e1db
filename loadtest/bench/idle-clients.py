#!/usr/bin/env python3
"""idle-clients.py: hold N idle HTTP/1.1 keep-alive connections to a proxy, for idle-memory.sh.

Opens N connections to 127.0.0.1:PORT, sends one GET on each (BATCH connections at a time, so
the proxy never needs more than about BATCH upstream connections) and reads its response, then
keeps them all open without sending anything. Prints "ready OPEN" once every response is in
(OPEN: connections still open), then, every second, "open OPEN" after checking none was closed
by the server. Exits after HOLD seconds (idle-memory.sh stops it sooner). Standard library only.
"""

import selectors
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: idle-clients\r\n\r\n"


def read_response(sock):
    """Reads one response with a Content-Length body; False if the connection ended first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        body += chunk
    return head.startswith(b"HTTP/1.1 200")


def still_open(sockets):
    """The connections the server has not closed (a closed one reads as readable: EOF)."""
    sel = selectors.DefaultSelector()
    for s in sockets:
        sel.register(s, selectors.EVENT_READ)
    closed = {key.fileobj for key, _ in sel.select(timeout=0)}
    sel.close()
    return [s for s in sockets if s not in closed]


def main():
    """Usage: idle-clients.py PORT N BATCH HOLD."""
    port, count, batch, hold = (int(a) for a in sys.argv[1:5])
    sockets = []
    failed = 0
    for start in range(0, count, batch):
        group = []
        for _ in range(min(batch, count - start)):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(REQUEST)
            group.append(s)
        for s in group:
            if read_response(s):
                sockets.append(s)
            else:
                failed += 1
                s.close()
    if failed:
        print(f"failed {failed}", flush=True)
    print(f"ready {len(still_open(sockets))}", flush=True)
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        time.sleep(1)
        print(f"open {len(still_open(sockets))}", flush=True)


if __name__ == "__main__":
    main()
