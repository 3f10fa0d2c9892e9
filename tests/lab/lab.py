#!/usr/bin/env python3
"""The lab's traffic: real gRPC services and clients, HTTP apps behind Envoy, NATS and
RabbitMQ publishers and consumers, each at a known rate with a known share of failures.

Each subcommand runs until killed and prints one line "ready ..." on standard output
once it serves (tests wait for it). The rates are paced against a monotonic clock, so
that a minute of traffic is the stated rate times 60 within a request or two.

    lab.py http-app --port P                      # the app behind a sidecar: 200 to all
    lab.py http-load --url U --rate R --fail-every K   # every K-th request asks the
                                                  # callee's Envoy fault filter for a 503
    lab.py grpc-server --port P --metrics-port M --service S --fail-every K
    lab.py grpc-client --target T --metrics-port M --service S --rate R
    lab.py nats-load --url U --rate R --backlog N
    lab.py rabbit-load --rate R --backlog N --reject-rate J
"""

import argparse
import asyncio
import http.server
import socketserver
import sys
import threading
import time
import urllib.request
from concurrent import futures


def ready(what):
    print(f"ready {what}", flush=True)


def paced(rate):
    """Yields the index of each tick, `rate` ticks a second, forever."""
    start = time.monotonic()
    i = 0
    while True:
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield i
        i += 1


def http_app(a):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    s = S(("127.0.0.1", a.port), H)
    ready(f"http-app {a.port}")
    s.serve_forever()


def http_load(a):
    ready(f"http-load {a.url}")
    for i in paced(a.rate):
        req = urllib.request.Request(a.url)
        if a.fail_every and i % a.fail_every == a.fail_every - 1:
            # Envoy's fault filter (header-controlled abort) answers this one 503.
            req.add_header("x-envoy-fault-abort-request", "503")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                r.read()
        except Exception:
            pass


def grpc_server(a):
    import grpc
    from prometheus_client import start_http_server
    from py_grpc_prometheus.prometheus_server_interceptor import PromServerInterceptor

    calls = [0]
    lock = threading.Lock()

    def handle(req, ctx):
        with lock:
            calls[0] += 1
            n = calls[0]
        time.sleep(0.002)
        if a.fail_every and n % a.fail_every == 0:
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "induced failure")
        return req

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        interceptors=(PromServerInterceptor(enable_handling_time_histogram=True),),
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                a.service, {"Call": grpc.unary_unary_rpc_method_handler(handle)}
            ),
        )
    )
    server.add_insecure_port(f"127.0.0.1:{a.port}")
    server.start()
    start_http_server(a.metrics_port, addr="127.0.0.1")
    ready(f"grpc-server {a.port}")
    server.wait_for_termination()


def grpc_client(a):
    import grpc
    import grpc_observability
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import start_http_server

    # gRPC's OpenTelemetry plugin: per-target client metrics (grpc_target), the
    # standard source of links from a gRPC client.
    provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    grpc_observability.OpenTelemetryPlugin(meter_provider=provider).register_global()
    start_http_server(a.metrics_port, addr="127.0.0.1")
    channel = grpc.insecure_channel(a.target)
    call = channel.unary_unary(f"/{a.service}/Call")
    ready(f"grpc-client {a.target}")
    for _ in paced(a.rate):
        try:
            call(b"payload-0123456789", timeout=5)
        except grpc.RpcError:
            pass


def nats_load(a):
    import nats

    async def main():
        nc = await nats.connect(a.url)
        js = nc.jetstream()
        # A stream whose one durable consumer never fetches: a backlog of exactly N.
        await js.add_stream(name="ORDERS", subjects=["orders.>"])
        await js.pull_subscribe("orders.>", durable="billing")
        for i in range(a.backlog):
            await js.publish("orders.new", b"order")
        # Core traffic outside the stream: R/s published, each delivered to one
        # subscriber.
        got = [0]

        async def cb(msg):
            got[0] += 1

        await nc.subscribe("events.>", cb=cb)
        await nc.flush()
        ready(f"nats-load {a.url}")
        start = time.monotonic()
        i = 0
        while True:
            due = start + i / a.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await nc.publish("events.tick", b"tick")
            i += 1

    asyncio.run(main())


def rabbit_load(a):
    import pika

    params = pika.ConnectionParameters("127.0.0.1", a.port)
    pub = pika.BlockingConnection(params)
    ch = pub.channel()
    ch.exchange_declare("dlx", "fanout")
    ch.queue_declare("dead")
    ch.queue_bind("dead", "dlx")
    ch.queue_declare("orders")
    ch.queue_declare("rejected", arguments={"x-dead-letter-exchange": "dlx"})
    ch.queue_declare("billing")
    # A queue nobody consumes: a backlog of exactly N ready messages.
    ch.queue_purge("billing")
    for _ in range(a.backlog):
        ch.basic_publish("", "billing", b"bill")

    def consume():
        c = pika.BlockingConnection(params)
        cc = c.channel()
        cc.basic_consume("orders", lambda ch, m, p, b: None, auto_ack=True)

        def reject(ch, m, p, b):
            ch.basic_reject(m.delivery_tag, requeue=False)

        cc.basic_consume("rejected", reject)
        # The dead letters are read too: the backlog stays the one queue nobody reads.
        cc.basic_consume("dead", lambda ch, m, p, b: None, auto_ack=True)
        cc.start_consuming()

    threading.Thread(target=consume, daemon=True).start()
    ready(f"rabbit-load {a.port}")
    # R/s to "orders" (consumed), and J/s of those to "rejected" (dead-lettered).
    every = round(a.rate / a.reject_rate) if a.reject_rate else 0
    for i in paced(a.rate):
        q = "rejected" if every and i % every == every - 1 else "orders"
        ch.basic_publish("", q, b"order")
        pub.process_data_events(0)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("http-app")
    s.add_argument("--port", type=int, required=True)
    s = sub.add_parser("http-load")
    s.add_argument("--url", required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--fail-every", type=int, default=0)
    s = sub.add_parser("grpc-server")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--metrics-port", type=int, required=True)
    s.add_argument("--service", required=True)
    s.add_argument("--fail-every", type=int, default=0)
    s = sub.add_parser("grpc-client")
    s.add_argument("--target", required=True)
    s.add_argument("--metrics-port", type=int, required=True)
    s.add_argument("--service", required=True)
    s.add_argument("--rate", type=float, required=True)
    s = sub.add_parser("nats-load")
    s.add_argument("--url", required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--backlog", type=int, default=0)
    s = sub.add_parser("rabbit-load")
    s.add_argument("--port", type=int, default=5672)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--backlog", type=int, default=0)
    s.add_argument("--reject-rate", type=float, default=0)
    a = p.parse_args()
    {
        "http-app": http_app,
        "http-load": http_load,
        "grpc-server": grpc_server,
        "grpc-client": grpc_client,
        "nats-load": nats_load,
        "rabbit-load": rabbit_load,
    }[a.cmd](a)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
