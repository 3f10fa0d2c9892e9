#!/usr/bin/env python3
"""Serve pre-rendered exposition bodies for benchmarks: PORT TARGETS SERIES.

/t/<i>/metrics is target i's body: SERIES series with node_exporter-like names."""
import sys, http.server, socketserver
port, targets, series = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
bodies = {}
for t in range(targets):
    lines = []
    for i in range(series):
        name = f"node_network_receive_bytes_{i % 50}_total"
        lines.append(f'{name}{{device="eth{i // 50}",target="t{t}"}} {t * 1000 + i * 7.5}\n')
    bodies[f"/t/{t}/metrics"] = "".join(lines).encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        b = bodies.get(self.path)
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
