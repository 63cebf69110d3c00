#!/usr/bin/env bash
# Pebble and the mock CA under the same load, in the same run: both servers started
# here (each validating without contacting anyone), driven one after the other by the
# same release-built `acmespec load` with the same flows and concurrency, each measured
# through its own process's CPU accounting (--server-pid). Prints both reports and a
# table of flows/s, server CPU per flow, peak memory and the ratios.
# Then the whole conformance suite (`acmespec run`) against the built-in mock CA and
# against a really-validating Pebble (NOSLEEP): wall time, requests, and the harness's
# CPU per request next to Pebble's.
#   harness/benches/side_by_side.sh [FLOWS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/../.."
flows="${1:-2000}"
concurrency="${2:-4}"
command -v pebble >/dev/null || { echo "pebble is not installed (scripts/test installs it)" >&2; exit 2; }
cargo build --release --locked -p acmespec --quiet
acmespec=target/release/acmespec
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 100); do curl -sk --max-time 1 "$1" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# Pebble with a certificate of our own (the Debian package ships none).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" \
  -days 2 -subj "/CN=bench ca" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" -out "$work/leaf.csr" \
  -subj "/CN=localhost" 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" > "$work/ext.cnf"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -out "$work/cert.pem" -days 2 -extfile "$work/ext.cnf" 2>/dev/null
pebble_port=$(port)
cat > "$work/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$pebble_port", "managementListenAddress": "127.0.0.1:$(port)",
 "certificate": "$work/cert.pem", "privateKey": "$work/key.pem", "httpPort": $(port), "tlsPort": $(port),
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
  pebble -config "$work/pebble.json" > "$work/pebble.log" 2>&1 &
pids+=($!)
pebble_pid=$!
wait_for "https://127.0.0.1:$pebble_port/dir"

mock_port=$(port)
"$acmespec" serve --listen "127.0.0.1:$mock_port" --always-valid --ca-cert-out "$work/mock.pem" > "$work/mock.log" 2>&1 &
pids+=($!)
mock_pid=$!
wait_for "https://127.0.0.1:$mock_port/directory"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(dpkg-query -W -f='pebble ${Version}' pebble 2>/dev/null || true)"
echo "load: $flows flows, concurrency $concurrency, same acmespec load ($acmespec)"
"$acmespec" load --directory "https://127.0.0.1:$pebble_port/dir" --ca-cert "$work/ca.pem" \
  --flows "$flows" --concurrency "$concurrency" --server-pid "$pebble_pid" --json "$work/pebble-load.json" || true
"$acmespec" load --directory "https://127.0.0.1:$mock_port/directory" --ca-cert "$work/mock.pem" \
  --flows "$flows" --concurrency "$concurrency" --server-pid "$mock_pid" --json "$work/mock-load.json" || true
python3 - "$work/pebble-load.json" "$work/mock-load.json" <<'PY'
import json, sys
p, m = (json.load(open(f)) for f in sys.argv[1:3])
def flow(r, key):
    return next((l[key] for l in r.get("latency", []) if l["step"] == "flow"), None)
def server(r, key):
    return (r.get("server") or {}).get(key)
rows = [
    ("flows completed", lambda r: r["flows_completed"]),
    ("flows failed", lambda r: r["flows_failed"]),
    ("flows/s", lambda r: round(r["flows_per_second"], 1)),
    ("server CPU ms per flow", lambda r: server(r, "cpu_ms_per_flow") and round(server(r, "cpu_ms_per_flow"), 3)),
    ("server peak RSS MiB", lambda r: server(r, "peak_rss_kib") and round(server(r, "peak_rss_kib") / 1024, 1)),
    ("flow p50 ms", lambda r: flow(r, "p50_ms")),
    ("flow p99 ms", lambda r: flow(r, "p99_ms")),
    ("load generator CPU ms per flow", lambda r: (r.get("harness") or {}).get("cpu_ms_per_flow") and round(r["harness"]["cpu_ms_per_flow"], 3)),
]
print("\n| | Pebble | mock CA | mock CA / Pebble |\n|---|---|---|---|")
for name, get in rows:
    a, b = get(p), get(m)
    ratio = f"{b / a:.3f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a else "-"
    print(f"| {name} | {a} | {b} | {ratio} |")
PY

# The conformance suite: built-in mock CA (in-process), then Pebble validating for real
# against the run's own responders on free ports.
echo
echo "suite: built-in mock CA"
start=$(date +%s.%N)
"$acmespec" run --json "$work/suite-mock.json" | tail -2
echo "wall $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
http_port=$(port); tls_port=$(port); dns_port=$(port); suite_pebble_port=$(port)
cat > "$work/pebble-suite.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$suite_pebble_port", "managementListenAddress": "127.0.0.1:$(port)",
 "certificate": "$work/cert.pem", "privateKey": "$work/key.pem", "httpPort": $http_port, "tlsPort": $tls_port,
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
  pebble -config "$work/pebble-suite.json" -dnsserver "127.0.0.1:$dns_port" > "$work/pebble-suite.log" 2>&1 &
pids+=($!)
suite_pebble_pid=$!
wait_for "https://127.0.0.1:$suite_pebble_port/dir"
echo "suite: Pebble (PEBBLE_VA_NOSLEEP=1)"
start=$(date +%s.%N)
"$acmespec" run --directory "https://127.0.0.1:$suite_pebble_port/dir" --ca-cert "$work/ca.pem" \
  --http-listen "127.0.0.1:$http_port" --tls-alpn-listen "127.0.0.1:$tls_port" --dns-listen "127.0.0.1:$dns_port" \
  --capabilities fixtures/capabilities/pebble.toml --server-pid "$suite_pebble_pid" --json "$work/suite-pebble.json" | tail -2 || true
echo "wall $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
