#!/usr/bin/env bash
# The demo job with its modules on two KServe servers (scripts/serve_oip.sh), both killed during
# the job: every event must still be processed and pass its checks (agreement with Python TF
# included), the modules must move to the other server and then to their local fallback, and the
# job's report must say so. The first server is spoken to over TLS (tls_proxy.py in front of it,
# certificates from make_test_certificates.sh), from the TensorFlow-linked CLI: its TLS must run
# on hepinfer's own OpenSSL, not on the BoringSSL that TensorFlow's library exports.
#   job_failover_test.sh HEPINFER DEMO_MODELS_DIR
set -euo pipefail
hepinfer=$1
models=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
serve() {
  "$repo/scripts/serve_oip.sh" "$models/jet_tagger/saved_model" --name jet_tagger \
    --model "$models/event_classifier/frozen.pb" --name event_classifier \
    --model "$models/particle_flow/saved_model" --name particle_flow --port "$1" --log "$work/server_$1.log"
}
port_a=$(free_port)
port_b=$(free_port)
pid_a=$(serve "$port_a")
pids+=("$pid_a")
pid_b=$(serve "$port_b")
pids+=("$pid_b")

# Server a behind TLS, its certificate signed by a CA made for the test.
bash "$repo/tests/remote/make_test_certificates.sh" "$work/certs" > /dev/null
python3 "$repo/tests/remote/tls_proxy.py" "$work/certs/server.pem" "$work/certs/server.key" "$port_a" > "$work/proxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^port ' "$work/proxy.log" && break; sleep 0.1; done
tls_port=$(awk '/^port /{print $2}' "$work/proxy.log")
[ -n "$tls_port" ] || { echo "the TLS proxy did not start" >&2; cat "$work/proxy.log" >&2; exit 1; }

# Served models wherever a model path is accepted, over TLS too (the CLI trusts $SSL_CERT_FILE).
"$hepinfer" inspect "http://127.0.0.1:$port_a/v2/models/jet_tagger" | grep -q "Open Inference Protocol"
SSL_CERT_FILE=$work/certs/ca.pem "$hepinfer" inspect "https://127.0.0.1:$tls_port/v2/models/jet_tagger" > "$work/inspect_tls.txt"
grep -q "tls (.*): *OpenSSL 3" "$work/inspect_tls.txt" || { echo "TLS does not run on OpenSSL:" >&2; cat "$work/inspect_tls.txt" >&2; exit 1; }
if SSL_CERT_FILE=/dev/null "$hepinfer" inspect "https://127.0.0.1:$tls_port/v2/models/jet_tagger" > /dev/null 2> "$work/untrusted.txt"; then
  echo "a server with an untrusted certificate was accepted" >&2; exit 1
fi
grep -q "certificate was not accepted" "$work/untrusted.txt" || { cat "$work/untrusted.txt" >&2; exit 1; }
"$hepinfer" bench "http://127.0.0.1:$port_a/v2/models/event_classifier" --seconds 0.5 --requesters 4 --batching \
  --json > "$work/bench.json"
python3 - "$work/bench.json" <<'PY'
import json, sys
bench = json.load(open(sys.argv[1]))
assert bench["requests"] > 0 and bench["batcher"]["failed_requests"] == 0, bench
assert bench["device"].startswith("server "), bench
PY

cat > "$work/remote.yaml" <<YAML
policy: spread
servers:
  - {name: kserve-a, url: "https://127.0.0.1:$tls_port", ca_file: "$work/certs/ca.pem"}
  - {name: kserve-b, url: "http://127.0.0.1:$port_b"}
job: {events: 1500, seed: 12345}
modules:
  - name: jet_tagger
    model: jet_tagger/saved_model
    claim: {gpus: 0, remote: prefer, calls_per_second: 400}
    settings: {kind: jet_tagger, mode: async, batching: true, batch_rows: 256, batch_delay_us: 200}
  - name: event_classifier
    model: event_classifier/frozen.pb
    claim: {gpus: 0, remote: prefer, calls_per_second: 400}
    settings: {kind: event_classifier, mode: sync}
  - name: particle_flow
    model: particle_flow/saved_model
    claim: {gpus: 0, remote: only, calls_per_second: 10}
    settings: {kind: particle_flow, mode: sync, split_rows: 1024}
YAML

# The workflow names the test CA for kserve-a (ca_file); nothing else trusts it.
unset SSL_CERT_FILE SSL_CERT_DIR

# The plan: every module on a server, spread over both.
"$hepinfer" plan "$work/remote.yaml" --json > "$work/plan.json"
python3 - "$work/plan.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
first = {m["name"]: m["servers"][0] for m in plan["modules"]}
assert len(set(first.values())) == 2, f"modules not spread over both servers: {first}"
assert all(s["live"] for s in plan["servers"]), plan["servers"]
PY

# Runs the job (JSON report to $1) and kills the server $2 once a tenth of the events are done.
run_job_killing() {
  "$hepinfer" run "$work/remote.yaml" --models "$models" --json > "$1" 2> "$work/progress.txt" &
  local job=$! waited=0
  until [ "$(grep -c '^progress:' "$work/progress.txt" || true)" -ge 2 ]; do
    kill -0 "$job" 2>/dev/null || { echo "the job ended before the server was killed" >&2; cat "$work/progress.txt" >&2; exit 1; }
    ((waited++ < 1200)) || { echo "the job made no progress in 120 s" >&2; exit 1; }
    sleep 0.1
  done
  kill -9 "$2"
  wait "$job"
}

# First job: server a is killed mid-run; its modules (particle_flow among them, which may only run
# on a server) move to b.
run_job_killing "$work/run1.json" "$pid_a"
python3 - "$work/run1.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
job = report["job"]
assert job["succeeded"] and job["events_processed"] == 1500 and job["failed_checks"] == 0, job
moved = {m["name"]: m["failovers"] for m in report["modules"]}
assert any("kserve-a -> kserve-b" in line for lines in moved.values() for line in lines), moved
print("job 1: server a killed mid-run; all 1500 events checked; moves:", moved)
PY

# Second job, every module "prefer": b, the last server, is killed mid-run; every module finishes
# on its local fallback (the CPU).
sed -i 's/remote: only/remote: prefer/' "$work/remote.yaml"
run_job_killing "$work/run2.json" "$pid_b"
python3 - "$work/run2.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
job = report["job"]
assert job["succeeded"] and job["events_processed"] == 1500 and job["failed_checks"] == 0, job
local = {m["name"]: m["local_runs"] for m in report["modules"]}
assert all(n > 0 for n in local.values()), local
assert all(any("-> CPU" in line for line in m["failovers"]) for m in report["modules"]), report["modules"]
print("job 2: last server killed mid-run; all 1500 events checked; requests on the local fallback:", local)
PY
echo "job_failover_test: passed"
