#!/usr/bin/env python3
"""Serve exposition bodies for benchmarks: PORT TARGETS SERIES [changing].

/t/<i>/metrics is target i's body: SERIES series with node_exporter-like names. With
`changing`, every request of a target gives its counters new values (each grows by a
per-series step and a little noise, as real counters do), so that chunks hold what
real scrapes hold; without it the bodies are pre-rendered and never change."""
import sys, http.server, socketserver, threading
port, targets, series = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
changing = len(sys.argv) > 4 and sys.argv[4] == "changing"
prefixes = {}
for t in range(targets):
    prefixes[f"/t/{t}/metrics"] = (t, [
        f'node_network_receive_bytes_{i % 50}_total{{device="eth{i // 50}",target="t{t}"}} '
        for i in range(series)
    ])
static = {
    path: "".join(f"{p}{t * 1000 + i * 7.5}\n" for i, p in enumerate(ps)).encode()
    for path, (t, ps) in prefixes.items()
} if not changing else {}
scrapes = {}
lock = threading.Lock()

def body(path):
    if not changing:
        return static.get(path)
    entry = prefixes.get(path)
    if entry is None:
        return None
    t, ps = entry
    with lock:
        n = scrapes.get(path, 0) + 1
        scrapes[path] = n
    # A step per series and a noise term that changes with each scrape.
    return "".join(
        f"{p}{t * 1000 + n * (i % 97 + 1) * 13 + (n * 7919 + i * 104729) % 61}\n"
        for i, p in enumerate(ps)
    ).encode()

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        b = body(self.path)
        if b is None:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S(("127.0.0.1", port), H).serve_forever()
