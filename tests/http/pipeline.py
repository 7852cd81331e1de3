#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
# pipeline.py: a LAN client for tests/http/ that pipelines COUNT requests
# for PATH to ADDR:PORT and then keeps sending junk, reading nothing, with
# a small receive window: how much the server takes in while its answers
# wait. Stops at LIMIT bytes, after SECONDS, or once a send has stalled
# for a second; then holds the connection HOLD seconds (0) before it
# closes it. Prints "sent N stalled S" (S: 1 if the server stopped
# taking bytes).
import socket
import sys
import time


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    count, limit, seconds = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    path = sys.argv[5] if len(sys.argv) > 5 else "/metrics"
    hold = float(sys.argv[6]) if len(sys.argv) > 6 else 0
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    s.settimeout(1.0)
    req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
    out = req * count
    junk = b"a" * 65536
    sent, stalled, t0 = 0, 0, time.time()
    while sent < limit and time.time() - t0 < seconds:
        buf = out if out else junk
        try:
            n = s.send(buf)
        except socket.timeout:
            stalled = 1
            break
        except OSError:
            break
        sent += n
        out = out[n:] if out else b""
    print("sent %d stalled %d" % (sent, stalled), flush=True)
    time.sleep(hold)
    s.close()


main()
