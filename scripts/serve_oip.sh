#!/usr/bin/env bash
# Starts the Open Inference Protocol (KServe v2 REST) test server, tools/oip_server.py, in the
# background on a loopback port, waits until it and every model answer ready, and prints its PID.
#
#   scripts/serve_oip.sh MODEL --name NAME --port PORT [--model MODEL2 --name NAME2 ...]
#                        [--delay-ms N] [--log FILE] [--timeout S] [-- OIP_SERVER_OPTIONS...]
#   scripts/serve_oip.sh --stop PID
#
# MODEL is a SavedModel directory or a frozen GraphDef file; each --name names the model before it
# (MODEL, or the --model just before; without a --name, a model is named after its path). The server
# binds 127.0.0.1:PORT only. --delay-ms N makes every inference sleep N ms first (timeout tests).
# --log FILE receives the server's output (default: a new /tmp/serve_oip.*.log, named on stderr).
# --timeout S bounds the wait for readiness (default 60 s, or $HEPINFER_OIP_READY_TIMEOUT). Options
# after "--" go to tools/oip_server.py as they are (e.g. -- --signature KEY --intra-op-threads 1).
#
# On success it prints the server's PID alone on stdout and exits 0; the server runs in its own
# session and process group (setsid) and outlives this script. On failure (the server exits, the
# port is taken, or readiness times out) it prints the log's tail on stderr, kills what it started
# and exits 1.
#
# --stop PID sends SIGTERM to that server's process group, then SIGKILL if it is still there after
# 15 s, and exits 0 once it is gone (also when it was gone already). It refuses a PID that is not an
# oip_server.py process.
#
# Runs the Python of ${HEPINFER_KSERVE_VENV:-.venv-kserve} (scripts/setup_kserve.sh makes it).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${HEPINFER_KSERVE_VENV:-$repo/.venv-kserve}
python=$venv/bin/python
host=127.0.0.1

die() { echo "serve_oip: $*" >&2; exit 1; }

# Whether PID is a live process (a zombie, which no one may reap here, counts as gone).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*\) }
  [ "${stat%% *}" != Z ]
}

is_oip_server() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'oip_server\.py'; }

# Signals PID's process group when PID leads it (as setsid made it), else PID alone.
signal_server() {
  local sig=$1 pid=$2 pgid
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ') || true
  if [ "$pgid" = "$pid" ]; then
    kill "-$sig" -- "-$pid" 2>/dev/null || true
  else
    kill "-$sig" "$pid" 2>/dev/null || true
  fi
}

# Waits up to $2 seconds for PID $1 to be gone.
wait_gone() {
  local deadline=$((SECONDS + $2))
  while alive "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

stop_server() {
  local pid=$1
  alive "$pid" || return 0
  signal_server TERM "$pid"
  wait_gone "$pid" 15 && return 0
  echo "serve_oip: $pid still there 15 s after SIGTERM, sending SIGKILL" >&2
  signal_server KILL "$pid"
  wait_gone "$pid" 5
}

if [ "${1:-}" = --stop ]; then
  (($# == 2)) || die "usage: $0 --stop PID"
  pid=$2
  [[ $pid =~ ^[0-9]+$ ]] || die "--stop: not a PID: $pid"
  if ! alive "$pid"; then
    echo "serve_oip: $pid is not running" >&2
    exit 0
  fi
  is_oip_server "$pid" || die "--stop: process $pid is not an oip_server.py; not stopping it"
  stop_server "$pid" || die "--stop: $pid is still there after SIGKILL"
  echo "serve_oip: stopped $pid" >&2
  exit 0
fi

usage="usage: $0 MODEL --name NAME --port PORT [--model MODEL2 --name NAME2 ...] [--delay-ms N] [--log FILE] [--timeout S] [-- OPTIONS]"
models=() names=() port="" delay="" log="" extra=()
timeout=${HEPINFER_OIP_READY_TIMEOUT:-60}
named=() # named[i]=1 once model i has its --name
while (($#)); do
  case $1 in
    --model) (($# >= 2)) || die "$usage"; models+=("$2"); named+=(0); shift 2 ;;
    --name)
      (($# >= 2)) || die "$usage"
      ((${#models[@]})) || die "--name before any model"
      last=$((${#models[@]} - 1))
      [ "${named[$last]}" = 0 ] || die "two --name for model ${models[$last]}"
      names[$last]=$2; named[$last]=1; shift 2 ;;
    --port) (($# >= 2)) || die "$usage"; port=$2; shift 2 ;;
    --delay-ms) (($# >= 2)) || die "$usage"; delay=$2; shift 2 ;;
    --log) (($# >= 2)) || die "$usage"; log=$2; shift 2 ;;
    --timeout) (($# >= 2)) || die "$usage"; timeout=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -*) die "unknown option $1; $usage" ;;
    *) models+=("$1"); named+=(0); shift ;;
  esac
done
((${#models[@]})) || die "$usage"
[[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "--port: a port number is required; $usage"
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout: whole seconds, not $timeout"
[ -x "$python" ] || die "no $python: run scripts/setup_kserve.sh first"

server_args=()
for i in "${!models[@]}"; do
  [ -e "${models[$i]}" ] || die "no such model: ${models[$i]}"
  server_args+=(--model "${models[$i]}")
  if [ "${named[$i]}" = 1 ]; then
    server_args+=(--name "${names[$i]}")
  else
    m=${models[$i]%/}; m=${m##*/}; names[$i]=${m%.pb}
    server_args+=(--name "${names[$i]}")
  fi
done
server_args+=(--http-port "$port" --host "$host")
[ -z "$delay" ] || server_args+=(--delay-ms "$delay")
server_args+=("${extra[@]}")

# GET URL; status 0 when it answers 200 within 2 s.
probe() {
  if command -v curl >/dev/null; then
    curl -sf -o /dev/null --max-time 2 "$1"
  else
    "$python" -c 'import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
except Exception:
    sys.exit(1)' "$1"
  fi
}

base=http://$host:$port
if probe "$base/v2/health/live" || probe "$base/"; then
  die "something already answers on $base; choose another --port"
fi

if [ -z "$log" ]; then
  log=$(mktemp /tmp/serve_oip.XXXXXX.log)
fi
: >"$log"
echo "serve_oip: server log $log" >&2

# Not a job-control shell, so this child leads no process group and setsid runs the server in
# place (no fork): $! is the server's PID, and it leads its own session and process group.
setsid "$python" "$repo/tools/oip_server.py" "${server_args[@]}" </dev/null >>"$log" 2>&1 &
pid=$!

fail() {
  echo "serve_oip: $*" >&2
  echo "serve_oip: last lines of $log:" >&2
  tail -n 40 "$log" >&2 || true
  stop_server "$pid" || echo "serve_oip: could not stop $pid" >&2
  exit 1
}
trap 'fail "interrupted"' INT TERM

deadline=$((SECONDS + timeout))
ready=0
while ((SECONDS < deadline)); do
  alive "$pid" || fail "the server exited before it was ready"
  if grep -q '^oip_server: serving ' "$log" && probe "$base/v2/health/ready"; then
    ready=1
    for name in "${names[@]}"; do
      probe "$base/v2/models/$name/ready" || { ready=0; break; }
    done
    ((ready)) && break
  fi
  sleep 0.25
done
((ready)) || fail "not ready within $timeout s"
alive "$pid" || fail "the server exited"
trap - INT TERM
echo "serve_oip: $(grep -m1 '^oip_server: serving ' "$log") (PID $pid)" >&2
echo "$pid"
