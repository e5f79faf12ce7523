"""tests/e2e/backends/echo_backend.py — an HTTP/1.1 test backend with its own
small parser (so it sees exactly the bytes the proxy forwards). Records every
request head it receives as a JSON line (--record). Endpoints:
  /echo              JSON: method, path, headers (as received), body sha256
  /upload            reads the body (Content-Length or chunked, trailers
                     kept), answers its sha256, length and trailers
  /download?n=N[&chunked=1][&eof=1]  N deterministic bytes (CL, chunked or close-delimited)
  /slow?s=S          answers after S seconds
  /hop               answers with hop-by-hop and patch headers to be stripped
  /trailers          chunked answer with a trailer
  /whoami            the server's --name
  /close             answers with Connection: close
"""
import argparse
import hashlib
import json
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--name", default="echo")
ap.add_argument("--record")
args = ap.parse_args()
lock = threading.Lock()

PATTERN = bytes(range(256)) * 256  # 64 KiB


def pattern_bytes(n):
    """The deterministic download body, in pieces."""
    while n > 0:
        k = min(n, len(PATTERN))
        yield PATTERN[:k]
        n -= k


def record(entry):
    if args.record:
        with lock, open(args.record, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(socketserver.StreamRequestHandler):
    def readline(self):
        line = self.rfile.readline(65537)
        return line

    def read_body(self, headers):
        """Yields body pieces; returns the trailers in self.trailers."""
        self.trailers = []
        te = headers.get("transfer-encoding", "").lower()
        if te == "chunked":
            while True:
                size = int(self.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        l = self.readline()
                        if l in (b"\r\n", b""):
                            break
                        k, _, v = l.decode("latin-1").partition(":")
                        self.trailers.append([k.strip(), v.strip()])
                    return
                left = size
                while left:
                    d = self.rfile.read(min(left, 65536))
                    if not d:
                        raise EOFError
                    left -= len(d)
                    yield d
                self.readline()
        elif "content-length" in headers:
            left = int(headers["content-length"])
            while left:
                d = self.rfile.read(min(left, 65536))
                if not d:
                    raise EOFError
                left -= len(d)
                yield d

    def send(self, status, headers, body=b""):
        h = [f"HTTP/1.1 {status} X"]
        names = {k.lower() for k, _ in headers}
        if "content-length" not in names and "transfer-encoding" not in names:
            headers = headers + [("Content-Length", str(len(body)))]
        h += [f"{k}: {v}" for k, v in headers]
        self.wfile.write(("\r\n".join(h) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()

    def handle(self):
        while True:
            line = self.readline()
            if not line:
                return
            raw = line
            hlist = []
            while True:
                l = self.readline()
                raw += l
                if l in (b"\r\n", b"\n", b""):
                    break
                k, _, v = l.decode("latin-1").partition(":")
                hlist.append([k, v.strip()])
            method, target, version = line.decode("latin-1").split()
            headers = {k.lower(): v for k, v in hlist}
            u = urllib.parse.urlsplit(target)
            q = dict(urllib.parse.parse_qsl(u.query))
            h = hashlib.sha256()
            n = 0
            for piece in self.read_body(headers):
                h.update(piece)
                n += len(piece)
            record({"method": method, "target": target, "version": version,
                    "headers": hlist, "raw": raw.decode("latin-1"), "body_len": n,
                    "trailers": self.trailers})
            path = u.path
            close = headers.get("connection", "").lower() == "close"
            if path == "/slow":
                time.sleep(float(q.get("s", "2")))
            if path == "/download":
                size = int(q.get("n", "0"))
                if q.get("eof"):
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                    for p in pattern_bytes(size):
                        self.wfile.write(p)
                    self.wfile.flush()
                    return
                if q.get("chunked"):
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    for p in pattern_bytes(size):
                        self.wfile.write(b"%x\r\n" % len(p) + p + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                    for p in pattern_bytes(size if method != "HEAD" else 0):
                        self.wfile.write(p)
                self.wfile.flush()
            elif path == "/hop":
                self.send(200, [("Connection", "X-Hop-Named"), ("X-Hop-Named", "1"),
                                ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
                                ("X-Session-Patch", '{"a": 1}'), ("Trailer", "X-T"),
                                ("X-End-To-End", "yes")], b"hop")
            elif path == "/trailers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n")
                self.wfile.flush()
            elif path == "/whoami":
                self.send(200, [("Content-Type", "text/plain")], args.name.encode())
            elif path == "/close":
                self.send(200, [("Connection", "close")], b"bye")
                return
            else:
                body = json.dumps({"method": method, "path": target, "headers": hlist,
                                   "sha256": h.hexdigest(), "length": n,
                                   "trailers": self.trailers, "server": args.name}).encode()
                self.send(200, [("Content-Type", "application/json")], body)
            if close:
                return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server(("127.0.0.1", args.port), Handler).serve_forever()
