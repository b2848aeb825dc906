#!/usr/bin/env python3
"""Strict-protocol traffic for scripts/soak.sh: for SECONDS, about ROUNDS_PER_S rounds a second
against a `nines-server --protocol ws` (WS_ADDR) and a `--protocol http` (HTTP_ADDR). Each round:

  - on one long-lived WebSocket connection, a text message in fragments cut at random points
    (often inside a code point), a ping between them, and a binary message in fragments: the
    echo must give the message back whole;
  - on a fresh WebSocket connection, one hostile message in turn (text not UTF-8 across
    fragments, a stray continuation, a new message mid-fragment, close code 1005, a close of one
    byte): the server must close with its code (1007 or 1002);
  - on one long-lived HTTP connection, a GET: 200;
  - on a fresh HTTP connection, one refused request in turn (two Content-Lengths, `+5`,
    Content-Length beside Transfer-Encoding, a 16 KiB head in one write, 65 header lines, a body
    over --max-frame): its status (400, 431, 413).

Writes OUT_JSON: rounds, each check's count and failures, the first failures described, and the
server counters the hostile traffic must have moved (by kind). Loopback only; stops by itself
at SECONDS, each socket wait bounded by 5 s.

Usage: strict_soak.py WS_ADDR HTTP_ADDR SECONDS OUT_JSON [ROUNDS_PER_S=20]
"""
import json
import os
import random
import socket
import struct
import sys
import time

WAIT_S = 5.0
UPGRADE = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
TEXT = "soak h\u00e9llo \u20ac \U0001F600 \u65e5\u672c ".encode() * 8


def frame(op, payload=b"", fin=True):
    mask = os.urandom(4)
    n = len(payload)
    b0 = (0x80 if fin else 0) | op
    head = bytes([b0, 0x80 | n]) if n < 126 else bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def close_frame(code, reason=b""):
    return frame(8, struct.pack(">H", code) + reason)


class Conn:
    """A socket with a read buffer; every wait bounded."""

    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=WAIT_S)
        self.buf = b""

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError:
            pass  # a refusal may close before all is written: the answer is what counts

    def more(self):
        try:
            b = self.s.recv(65536)
        except OSError:
            b = b""
        self.buf += b
        return bool(b)

    def head(self):
        """The next HTTP response head, or None."""
        while b"\r\n\r\n" not in self.buf:
            if not self.more():
                return None
        end = self.buf.index(b"\r\n\r\n") + 4
        head, self.buf = self.buf[:end], self.buf[end:]
        return head

    def frame(self):
        """The next server frame as (opcode, fin, payload), or None."""
        while True:
            b = self.buf
            if len(b) >= 2:
                n, at = b[1] & 0x7F, 2
                if n == 126 and len(b) >= 4:
                    n, at = struct.unpack(">H", b[2:4])[0], 4
                elif n == 127 and len(b) >= 10:
                    n, at = struct.unpack(">Q", b[2:10])[0], 10
                if n < 126 or at > 2:
                    if len(b) >= at + n:
                        self.buf = b[at + n:]
                        return b[0] & 0x0F, bool(b[0] & 0x80), b[at:at + n]
            if not self.more():
                return None

    def close(self):
        self.s.close()


def upgraded(addr):
    c = Conn(addr)
    c.send(UPGRADE)
    h = c.head()
    if not h or not h.startswith(b"HTTP/1.1 101"):
        raise OSError(f"upgrade refused: {h!r}")
    return c


def status(head):
    return int(head[9:12]) if head and len(head) >= 12 and head[9:12].isdigit() else 0


def cuts(data, pieces):
    points = sorted(random.sample(range(1, len(data)), pieces - 1))
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


def fragments(op, data, pieces):
    parts = cuts(data, pieces)
    return [frame(op if i == 0 else 0, p, fin=i == len(parts) - 1) for i, p in enumerate(parts)]


# Hostile WebSocket messages: (name, frames, close code, counter it moves).
WS_HOSTILE = [
    ("ws text not UTF-8 across fragments", lambda: frame(1, b"ok\xe2\x82", fin=False) + frame(0, b"\x28"),
     1007, "errors_ws_invalid_utf8"),
    ("ws stray continuation", lambda: frame(0, b"x"), 1002, "errors_ws_protocol"),
    ("ws new message mid-fragment", lambda: frame(1, b"a", fin=False) + frame(2, b"b"), 1002, "errors_ws_protocol"),
    ("ws close code 1005", lambda: close_frame(1005), 1002, "errors_ws_protocol"),
    ("ws close of one byte", lambda: frame(8, b"\x03"), 1002, "errors_ws_protocol"),
]

# Refused HTTP requests: (name, request, status, counter it moves).
HTTP_HOSTILE = [
    ("http two Content-Lengths", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nabcde",
     400, "errors_http_content_length"),
    ("http Content-Length +5", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nabcde",
     400, "errors_http_content_length"),
    ("http Content-Length and Transfer-Encoding",
     b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400, "errors_http_content_length"),
    ("http 16 KiB head in one write", b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 16000 + b"\r\n\r\n",
     431, "errors_http_head_too_large"),
    ("http 65 header lines", b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(65)) + b"\r\n",
     431, "errors_http_too_many_headers"),
    ("http body over --max-frame", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n\r\n",
     413, "errors_http_body_too_large"),
    ("http two Host lines", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "errors_http_host"),
]


def main():
    ws_addr, http_addr, secs, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    rate = float(sys.argv[5]) if len(sys.argv) > 5 else 20.0
    checks, failures, counters = {}, [], {}

    def check(name, ok, why=""):
        c = checks.setdefault(name, {"sent": 0, "failed": 0})
        c["sent"] += 1
        if not ok:
            c["failed"] += 1
            if len(failures) < 10:
                failures.append(f"{name}: {why}")

    ws = http = None
    deadline = time.monotonic() + secs
    rounds = 0
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            ws = ws or upgraded(ws_addr)
            frames = fragments(1, TEXT, random.randint(2, 6))
            frames.insert(1, frame(9, b"ping"))
            payload = os.urandom(300)
            ws.send(b"".join(frames + fragments(2, payload, random.randint(2, 4))))
            got = {1: b"", 2: b""}
            kind, pongs = None, 0
            while len(got[1]) < len(TEXT) or len(got[2]) < len(payload) or not pongs:
                f = ws.frame()
                if f is None:
                    raise OSError("the echo stopped")
                op, fin, p = f
                if op == 10:
                    pongs += 1
                    continue
                kind = op if op in (1, 2) else kind
                got[kind] += p
            check("ws fragmented text and binary echoed whole", got[1] == TEXT and got[2] == payload,
                  "echo differs")
        except (OSError, KeyError, TypeError) as e:
            check("ws fragmented text and binary echoed whole", False, str(e))
            ws = None
        name, make, code, counter = WS_HOSTILE[rounds % len(WS_HOSTILE)]
        try:
            c = upgraded(ws_addr)
            c.send(make())
            f = c.frame()
            while f and f[0] != 8:  # fragments echoed before the bad one
                f = c.frame()
            got_code = struct.unpack(">H", f[2][:2])[0] if f and f[0] == 8 and len(f[2]) >= 2 else None
            check(name, got_code == code, f"closed with {got_code}")
            counters[counter] = counters.get(counter, 0) + 1
            c.close()
        except OSError as e:
            check(name, False, str(e))
        try:
            http = http or Conn(http_addr)
            http.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            h = http.head()
            n = int(h.split(b"Content-Length: ")[1].split(b"\r\n")[0]) if h else 0
            while len(http.buf) < n and http.more():
                pass
            http.buf = http.buf[n:]
            check("http GET on a kept-alive connection", status(h) == 200, f"status {status(h)}")
        except (OSError, IndexError, ValueError) as e:
            check("http GET on a kept-alive connection", False, str(e))
            http = None
        name, request, want, counter = HTTP_HOSTILE[rounds % len(HTTP_HOSTILE)]
        try:
            c = Conn(http_addr)
            c.send(request)
            got = status(c.head())
            check(name, got == want, f"status {got}")
            counters[counter] = counters.get(counter, 0) + 1
            c.close()
        except OSError as e:
            check(name, False, str(e))
        rounds += 1
        time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - started)))
    counters["errors_bad_ws"] = sum(v for k, v in counters.items() if k.startswith("errors_ws_"))
    counters["errors_bad_http"] = sum(v for k, v in counters.items() if k.startswith("errors_http_"))
    json.dump({"rounds": rounds, "checks": checks, "failures": failures, "counters": counters},
              open(out, "w"), indent=1)


main()
