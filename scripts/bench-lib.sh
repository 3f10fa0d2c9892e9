# Shared by the benchmark scripts (sourced, not run): BIN and WORK must be set.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
free_display() { for n in $(seq 100 400); do [ -e /tmp/.X11-unix/X$n ] || [ -e /tmp/.X$n-lock ] || { echo $n; return; }; done; }

# start_mesh NODES SCRAPE_INTERVAL [simulate flags...]: a simulated mesh (SIM) and a collector
# scraping it (the mesh model loaded), in the background; sets SRC to the collector's API.
start_mesh() {
    local nodes="$1" scrape="$2"; shift 2
    local sp mp; sp=$(free_port); mp=$(free_port)
    "$BIN" simulate --nodes "$nodes" "$@" --listen "127.0.0.1:$sp" --targets-file "$WORK/t.json" >/dev/null 2>&1 &
    sleep 1
    printf "global:\n  scrape_interval: %s\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['%s']\n" "$scrape" "$WORK/t.json" > "$WORK/c.yml"
    "$BIN" collect --config.file "$WORK/c.yml" --storage.tsdb.path "$WORK/data" --web.listen-address "127.0.0.1:$mp" >"$WORK/c.log" 2>&1 &
    SRC="http://127.0.0.1:$mp"
    SIM="http://127.0.0.1:$sp"
}

# wait_model NODES: until the mesh model has every node's message rate (at most 2 min).
wait_model() {
    echo "== waiting for the mesh model" >&2
    for _ in $(seq 120); do
        curl -sf "$SRC/api/v1/query?query=count(node:mesh_messages_in:rate1m)" | grep -q "\"$1\"" && return; sleep 1
    done
}
