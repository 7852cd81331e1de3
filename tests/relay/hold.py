#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
# hold.py: a LAN attacker for the relay's tests. From each source address
# given, open up to PER connections to ADDR:PORT and hold them for SECONDS:
# dripping one byte every DRIP seconds (slowloris), or sending BULK bytes
# once (buffers against a black-holed portal), or, with --churn, closing
# each one as soon as it is open and opening the next (a connection
# flood). Closed connections are opened again, at most ATTEMPTS times in
# all per address. Bounded in count and time whatever the relay does.
#
#   hold.py ADDR:PORT SRC[,SRC...] PER SECONDS [--drip S] [--bulk N]
#           [--churn] [--attempts N]
#
# Prints "held N opened M" (connections open and opened so far, all
# addresses) every second and
# "done held N opened M" at the end.
import argparse
import resource
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("to")
    ap.add_argument("sources")
    ap.add_argument("per", type=int)
    ap.add_argument("seconds", type=float)
    ap.add_argument("--drip", type=float, default=0)
    ap.add_argument("--bulk", type=int, default=0)
    ap.add_argument("--churn", action="store_true")
    ap.add_argument("--attempts", type=int, default=0)
    o = ap.parse_args()
    host, port = o.to.rsplit(":", 1)
    port = int(port)
    srcs = o.sources.split(",")
    attempts = o.attempts or o.per * 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    sel = selectors.DefaultSelector()
    conns = {}          # socket -> [src, connected, bytes left of bulk]
    opened = {s: 0 for s in srcs}
    count = {s: 0 for s in srcs}
    bulk = b"\x00" * o.bulk

    def open_one(src):
        if opened[src] >= attempts or count[src] >= o.per:
            return
        opened[src] += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
            s.connect_ex((host, port))
        except OSError:
            s.close()
            return
        conns[s] = [src, False, o.bulk]
        count[src] += 1
        sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)

    def close_one(s):
        src = conns.pop(s)[0]
        count[src] -= 1
        sel.unregister(s)
        s.close()

    t0 = time.monotonic()
    next_drip = t0 + o.drip if o.drip else None
    next_report = t0
    for src in srcs:
        for _ in range(o.per):
            open_one(src)
    while time.monotonic() - t0 < o.seconds:
        for key, ev in sel.select(timeout=0.1):
            s = key.fileobj
            st = conns.get(s)
            if st is None:
                continue
            if not st[1] and ev & selectors.EVENT_WRITE:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    close_one(s)
                    continue
                st[1] = True
                if o.churn:
                    close_one(s)
                    continue
            if st[1] and st[2] > 0 and ev & selectors.EVENT_WRITE:
                try:
                    st[2] -= s.send(bulk[:st[2]])
                except BlockingIOError:
                    pass
                except OSError:
                    close_one(s)
                    continue
            if st[1] and st[2] <= 0:
                sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if not d:
                    close_one(s)
        now = time.monotonic()
        if next_drip is not None and now >= next_drip:
            for s, st in list(conns.items()):
                if st[1]:
                    try:
                        s.send(b"x")
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        close_one(s)
            next_drip = now + o.drip
        for src in srcs:
            while count[src] < o.per and opened[src] < attempts:
                open_one(src)
        if now >= next_report:
            held = sum(1 for st in conns.values() if st[1])
            print("held %d opened %d" % (held, sum(opened.values())),
                  flush=True)
            next_report = now + 1
    held = sum(1 for st in conns.values() if st[1])
    print("done held %d opened %d" % (held, sum(opened.values())),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
