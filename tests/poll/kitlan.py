#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""kitlan.py: a LAN of Omnik kits for the discovery tests, in one process.

    kitlan.py CONFIG.json LOG

CONFIG holds
  "udp":  [{"from": IP, "text": REPLY, "query": Q or "any"}, ...]
          every datagram to UDP 48899 is logged; a query gets each reply
          whose "query" matches, sent from IP:48899
  "tcp":  [{"ip": IP, "reply": HEX} or {"ip": IP, "silent": true}
           or {"ip": IP, "close": true}, ...]   listeners on IP:8899
  "http": [{"ip": IP, "pages": {PATH: [STATUS, BODY]}}, ...]   IP:80

LOG gets one line per thing received, so a test can check that nothing
but the discovery queries, the 16-byte poll request and plain GETs ever
reached a kit:
  udp SRC HEX | tcp IP HEX | http IP METHOD PATH auth=yes|no
and "ready" once every socket listens.
"""
import binascii
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cfg = json.load(open(sys.argv[1]))
log = open(sys.argv[2], "a", buffering=1)
lock = threading.Lock()
deadline = time.monotonic() + float(cfg.get("limit", 120))


def note(line):
    with lock:
        log.write(line + "\n")


def udp_loop():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", 48899))
    senders = {}
    for r in cfg.get("udp", []):
        if r["from"] not in senders:
            o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            o.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            o.bind((r["from"], 48899))
            senders[r["from"]] = o
    ready.release()
    while True:
        data, src = s.recvfrom(2048)
        note("udp %s %s" % (src[0], binascii.hexlify(data).decode()))
        q = data.decode("latin-1")
        for r in cfg.get("udp", []):
            if r.get("query", "any") in ("any", q):
                senders[r["from"]].sendto(r["text"].encode("latin-1"),
                                          src)


def tcp_conn(c, k):
    c.settimeout(5)
    got = b""
    try:
        while len(got) < 16:
            b = c.recv(64)
            if not b:
                break
            got += b
        note("tcp %s %s" % (k["ip"], binascii.hexlify(got).decode()))
        if k.get("close"):
            return
        if k.get("silent"):
            time.sleep(8)
            return
        c.sendall(binascii.unhexlify(k["reply"]))
        # Anything after the request is logged too (an AT command would be).
        c.settimeout(1)
        try:
            more = c.recv(64)
            if more:
                note("tcp %s %s" % (k["ip"],
                                    binascii.hexlify(more).decode()))
        except socket.timeout:
            pass
    except OSError:
        pass
    finally:
        c.close()


def tcp_loop(k, s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_conn, args=(c, k), daemon=True).start()


class Page(BaseHTTPRequestHandler):
    pages = {}

    def do_GET(self):
        ip = self.server.server_address[0]
        auth = "yes" if "Authorization" in self.headers else "no"
        note("http %s GET %s auth=%s" % (ip, self.path, auth))
        st, body = self.server.pages.get(self.path, [404, "not found"])
        body = body.encode("latin-1")
        self.send_response(st)
        if st == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="USER LOGIN"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        note("http %s POST %s" % (self.server.server_address[0], self.path))
        self.send_response(405)
        self.end_headers()

    def log_message(self, *a):
        pass


ready = threading.Semaphore(0)
threading.Thread(target=udp_loop, daemon=True).start()
ready.acquire()
for k in cfg.get("tcp", []):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((k["ip"], 8899))
    s.listen(8)
    threading.Thread(target=tcp_loop, args=(k, s), daemon=True).start()
for h in cfg.get("http", []):
    srv = ThreadingHTTPServer((h["ip"], 80), Page)
    srv.pages = h["pages"]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
note("ready")
while time.monotonic() < deadline:
    time.sleep(0.5)
