#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A stand-in for InfluxDB 2.x's write endpoint, for t-influxdb-v2.sh.

Written from the v2 API reference: POST /api/v2/write with the query
parameters org, bucket and precision, the token in an
"Authorization: Token ..." header, line protocol in the body; 204 when
written, 401 for a wrong token, 404 for an unknown org or bucket, 400
with {"code":"invalid","message":...} for a line it cannot parse, 429 or
503 with Retry-After when it wants the client to come back later.

Every request is logged as "# CODE METHOD TARGET auth=HEADER" and, when
written, its lines. Points are kept by (series, time) as InfluxDB does,
so a line sent twice is the same point (POINTS file, written at exit).

  influx-v2-server.py -p PORT -t TOKEN -o ORG -b BUCKET -l LOG
      [--busy N]        answer the first N writes 503, no Retry-After
      [--throttle N]    answer the first N writes 429, Retry-After: 2
      [--refuse F=V]    a request with field F = V in a line is refused
                        whole (400), as a schema would refuse the value
"""
import argparse
import http.server
import json
import re
import signal
import sys
import urllib.parse

# A field value: a float (no i/u suffix), a quoted string, a boolean.
FIELD = re.compile(r'^[a-z0-9_]+=(-?[0-9]+(\.[0-9]+)?)$')


def parse_line(line):
    """(series, fields, time) of a line, or raise ValueError."""
    # Split on the first two unescaped spaces.
    parts, cur, esc = [], '', False
    for ch in line:
        if esc:
            cur += '\\' + ch
            esc = False
        elif ch == '\\':
            esc = True
        elif ch == ' ' and len(parts) < 2:
            parts.append(cur)
            cur = ''
        else:
            cur += ch
    parts.append(cur)
    if len(parts) != 3:
        raise ValueError('want measurement,tags fields time')
    series, fields, t = parts
    if not t.isdigit():
        raise ValueError('bad time %r' % t)
    out = {}
    for f in fields.split(','):
        if not FIELD.match(f):
            raise ValueError('field %r is not a float' % f)
        k, v = f.split('=')
        out[k] = float(v)
    return series, out, int(t)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def reply(self, code, body=None, headers=()):
        data = json.dumps(body).encode() if body else b''
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        S.log.write('# %d %s %s auth=%s\n' % (
            code, self.command, self.path,
            self.headers.get('Authorization', '')))
        S.log.flush()

    def do_POST(self):
        n = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(n).decode('utf-8', 'replace')
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path != '/api/v2/write':
            return self.reply(404, {'code': 'not found',
                                    'message': 'path not found'})
        if self.headers.get('Authorization') != 'Token ' + S.token:
            return self.reply(401, {'code': 'unauthorized',
                                    'message': 'unauthorized access'})
        if q.get('org') != [S.org] or q.get('bucket') != [S.bucket]:
            return self.reply(404, {'code': 'not found',
                                    'message': 'bucket "%s" not found' %
                                    q.get('bucket', [''])[0]})
        if q.get('precision') != ['s']:
            return self.reply(400, {'code': 'invalid',
                                    'message': 'precision must be s here'})
        S.writes += 1
        if S.writes <= S.busy:
            return self.reply(503, {'code': 'unavailable',
                                    'message': 'busy'})
        if S.writes <= S.busy + S.throttle:
            return self.reply(429, {'code': 'too many requests',
                                    'message': 'slow down'},
                              [('Retry-After', '2')])
        points = []
        for line in body.splitlines():
            try:
                points.append(parse_line(line))
            except ValueError as e:
                return self.reply(400, {'code': 'invalid',
                                        'message': 'line %r: %s' %
                                        (line, e)})
        for series, fields, t in points:
            if S.refuse and fields.get(S.refuse[0]) == S.refuse[1]:
                return self.reply(400, {'code': 'invalid',
                                        'message': 'field %s=%g refused' %
                                        S.refuse})
        for series, fields, t in points:
            S.points.setdefault((series, t), {}).update(fields)
        self.reply(204)
        S.log.write(body if body.endswith('\n') else body + '\n')
        S.log.flush()


class S:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-p', type=int, required=True)
    ap.add_argument('-t', required=True)
    ap.add_argument('-o', required=True)
    ap.add_argument('-b', required=True)
    ap.add_argument('-l', required=True)
    ap.add_argument('--points', required=True)
    ap.add_argument('--busy', type=int, default=0)
    ap.add_argument('--throttle', type=int, default=0)
    ap.add_argument('--refuse', default=None)
    a = ap.parse_args()
    S.refuse = None
    if a.refuse:
        k, v = a.refuse.split('=')
        S.refuse = (k, float(v))
    S.token, S.org, S.bucket = a.t, a.o, a.b
    S.busy, S.throttle, S.writes, S.points = a.busy, a.throttle, 0, {}
    S.log = open(a.l, 'a')
    srv = http.server.HTTPServer(('127.0.0.1', a.p), Handler)

    def bye(*_):
        with open(a.points, 'w') as f:
            for (series, t), fields in sorted(S.points.items()):
                f.write('%s %d %s\n' % (series, t, ' '.join(
                    '%s=%r' % kv for kv in sorted(fields.items()))))
        sys.exit(0)
    signal.signal(signal.SIGTERM, bye)
    srv.serve_forever()


if __name__ == '__main__':
    main()
