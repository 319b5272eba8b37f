#!/usr/bin/env python3
"""Sizes a farm of inference servers for N CPU-only hepinfer jobs (docs/scale-out.md).

A seeded, bounded discrete-event simulation of jobs that send their modules' tensors to remote
inference servers (Open Inference Protocol / KServe v2 REST, Triton), plus the analytic queueing
formulas it is checked against.

The model (details in docs/scale-out.md):
  job     T threads; E events in flight (sync: E = T, a thread waits while its event's request is
          out; async: E = streams_per_thread * T, a thread runs another event meanwhile). An event
          is R modules in sequence; module k does cpu/R of the event's CPU work plus the client's
          per-request CPU, then sends one request of r rows and waits for the answer.
  batcher per job and model: the first request opens a batch, which leaves after D or when it
          holds B rows (hepinfer's DynamicBatcher: max_delay, max_batch_rows).
  network a fixed round trip (half each way).
  server  c slots, FCFS; a request of n rows takes (per_request + n * per_row) / gpu_speedup,
          times a gamma jitter (mean 1, cv service_cv). Each batch goes to a random server.
Sizing uses a decomposition: one job is simulated in detail against server waiting times
sampled from a simulated single server (c slots, Poisson arrivals: many independent jobs split
at random over the servers), at a grid of utilisations; the smallest S that keeps utilisation
<= max and p99 added latency per event <= target follows for every N. Utilisation 0 (no queueing)
is the latency floor: a target below it is reported as infeasible ("-" and the reason), not sized.
A full simulation of all jobs and servers (no decomposition) checks the result at small N.
--gpu-scenario SPEEDUP:all|rows:TARGET_MS also sizes (sizing only) for an assumed faster server.

usage: scale_out_sim.py [--measured FILE] [--out FILE] [--plots DIR] [--gpu-scenario S:SCOPE:MS ...] [options]
       scale_out_sim.py --self-test
Needs numpy (and matplotlib for --plots).
"""
import argparse
import heapq
import json
import math
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

# Placeholders for runs without --measured (docs/scale-out-measured.json holds bench/report_remote.py's).
DEFAULT_MEASURED = {
    "machine": "placeholder: 2 shared vCPUs (this project's build machine), not yet measured with bench/bench_remote",
    "server": "KServe (placeholder figures)",
    "model": "16x64 float32 input, binary tensor data",
    "service_us_per_request": 900.0,
    "service_us_per_row": 5.0,
    "client_cpu_us_per_request": 40.0,
    "single_request_latency_us": None,
    "network_rtt_us": 100.0,
}
MEASURED_KEYS = ("service_us_per_request", "service_us_per_row", "client_cpu_us_per_request",
                 "single_request_latency_us", "network_rtt_us")

# Event kinds of the simulation's heap.
SEG_END, TIMER, RESPONSE, SRV_ARRIVE, SRV_DONE = range(5)


@dataclass
class Params:
    service_us_per_request: float
    service_us_per_row: float
    client_cpu_us: float
    rtt_us: float
    threads: int = 8
    streams_per_thread: int = 2
    cpu_ms_per_event: float = 50.0
    cpu_cv: float = 0.5
    requests_per_event: int = 4
    models: int = 4
    rows: int = 16
    gpu_speedup: float = 1.0
    speedup_scope: str = "all"
    service_cv: float = 0.2
    batch_rows: int = 64
    batch_delay_us: float = 500.0
    max_utilisation: float = 0.7
    latency_target_ms: float = 10.0
    events: int = 10000
    server_requests: int = 40000
    seed: int = 1
    slots: list = field(default_factory=lambda: [1, 4])
    jobs: list = field(default_factory=lambda: [10, 50, 100, 500, 1000])

    def service_s(self, rows):
        """Server time (s) of one request of `rows` rows, before jitter."""
        a, b = self.service_us_per_request, self.service_us_per_row
        if self.speedup_scope == "rows":
            return (a + b * rows / self.gpu_speedup) * 1e-6
        return (a + b * rows) / self.gpu_speedup * 1e-6

    def streams(self, mode):
        return self.threads if mode == "sync" else self.threads * self.streams_per_thread


def rng_for(seed, *tags):
    """An independent generator per (seed, evaluation), so results do not depend on run order."""
    words = [seed] + [int.from_bytes(str(t).encode()[:8].ljust(8, b"\0"), "little") for t in tags]
    return np.random.default_rng(words)


class Draws:
    """Scalar draws taken from numpy in blocks (numpy's per-call overhead dominates otherwise)."""

    def __init__(self, fn, block=8192):
        self.fn, self.block, self.buf, self.i = fn, block, [], 0

    def __call__(self):
        if self.i >= len(self.buf):
            self.buf, self.i = self.fn(self.block).tolist(), 0
        self.i += 1
        return self.buf[self.i - 1]


def gamma_draws(rng, mean, cv):
    if cv <= 0:
        return lambda: mean
    k = 1.0 / (cv * cv)
    return Draws(lambda n: rng.gamma(k, mean / k, n))


# ---------------------------------------------------------------------------------------------
# Queues: FCFS with c slots, given arrival and service times.

def fcfs_waits(arrivals, services, c, vectorised=True):
    """Waiting time of each request (arrival to start of service) at a FCFS queue with c slots."""
    arrivals = np.asarray(arrivals, float)
    services = np.asarray(services, float)
    if c == 1 and vectorised:
        # Lindley, vectorised: D_n = C_n + max_{k<=n}(A_k - C_{k-1}), C = cumulative service.
        cum = np.cumsum(services)
        departures = cum + np.maximum.accumulate(arrivals - (cum - services))
        return departures - services - arrivals
    free = [0.0] * c
    waits = np.empty(len(arrivals))
    for i, (a, s) in enumerate(zip(arrivals.tolist(), services.tolist())):
        t = heapq.heappop(free)
        start = a if a > t else t
        waits[i] = start - a
        heapq.heappush(free, start + s)
    return waits


def des_queue_waits(arrivals, services, c):
    """The same queue through the event loop's server code (start/complete events on a heap):
    the self-test checks the farm simulation's server against the formulas with it."""
    servers = [ServerState()]
    heap, seq = [], 0
    for i, a in enumerate(arrivals.tolist()):
        heap.append((a, i, SRV_ARRIVE, 0, [i, a, 0.0]))
    heapq.heapify(heap)
    seq = len(arrivals)
    waits = np.empty(len(arrivals))
    svc = services.tolist()
    while heap:
        now, _, kind, s, req = heapq.heappop(heap)
        nxt = servers[s].arrive(req, c) if kind == SRV_ARRIVE else servers[s].complete()
        if nxt is not None:
            waits[nxt[0]] = now - nxt[1]
            seq += 1
            heapq.heappush(heap, (now + svc[nxt[0]], seq, SRV_DONE, s, nxt))
    return waits


class ServerState:
    """One server of the farm: busy slots and a FCFS queue of waiting requests."""
    __slots__ = ("busy", "queue")

    def __init__(self):
        self.busy, self.queue = 0, deque()

    def arrive(self, req, c):
        """Returns the request if it starts now, else queues it."""
        if self.busy < c:
            self.busy += 1
            return req
        self.queue.append(req)
        return None

    def complete(self):
        """A slot is free: returns the next request to start, if any."""
        if self.queue:
            return self.queue.popleft()
        self.busy -= 1
        return None


# ---------------------------------------------------------------------------------------------
# Analytic formulas.

def erlang_c(c, a):
    """Probability that an arrival waits in M/M/c with offered load a = lambda/mu (< c)."""
    term, total = 1.0, 1.0
    for k in range(1, c):
        term *= a / k
        total += term
    last = term * a / c / (1 - a / c)
    return last / (total + last)


def mgc_mean_wait(lam, es, es2, c):
    """Mean wait: Pollaczek-Khinchine for c = 1 (exact for M/G/1), Erlang C times (1 + cv^2)/2
    for c > 1 (Allen-Cunneen; exact for M/M/c)."""
    rho = lam * es / c
    if c == 1:
        return lam * es2 / (2 * (1 - rho))
    cv2 = es2 / es ** 2 - 1
    return erlang_c(c, lam * es) / (c / es - lam) * (1 + cv2) / 2


# ---------------------------------------------------------------------------------------------
# The job (and, with explicit servers, farm) simulation.

def simulate(p, n_jobs, mode, batching, rng, *, waits=None, servers=0, slots=1):
    """Simulates n_jobs jobs until p.events events are done after the warm-up.

    The round trip of a batch is either sampled (waits: server waiting times from server_waits)
    or simulated on `servers` explicit servers with `slots` slots each (full simulation).
    Returns rates, latencies and batch statistics measured after the warm-up."""
    T, E, R, M = p.threads, p.streams(mode), p.requests_per_event, p.models
    rows, B = p.rows, p.batch_rows
    D = p.batch_delay_us * 1e-6 if batching else 0.0
    client = p.client_cpu_us * 1e-6
    half_rtt = p.rtt_us * 1e-6 / 2
    cpu_draw = gamma_draws(rng, p.cpu_ms_per_event * 1e-3, p.cpu_cv)
    jitter = gamma_draws(rng, 1.0, p.service_cv)
    uniform = Draws(lambda n: rng.random(n))
    explicit = servers > 0
    if explicit:
        pick = Draws(lambda n: rng.integers(0, servers, n))
        farm = [ServerState() for _ in range(servers)]
    else:
        w = np.zeros(1) if waits is None else waits
        wait_draw = Draws(lambda n: w[rng.integers(0, len(w), n)])
    service_cache = {}

    def service(n):
        s = service_cache.get(n)
        if s is None:
            s = service_cache[n] = p.service_s(n)
        return s

    # Expected duration of an event, for the warm-up and the end of the run.
    event_s = p.cpu_ms_per_event * 1e-3 + R * (client + 2 * half_rtt + service(rows) + D)
    warm = 3 * event_s * max(1.0, E / T)
    rate_guess = n_jobs * min(T / (p.cpu_ms_per_event * 1e-3 + R * client), E / event_s)
    t_end = warm + p.events / rate_guess

    n_slots = n_jobs * E
    free_threads = [T] * n_jobs
    ready = [deque() for _ in range(n_jobs)]
    module = [0] * n_slots
    seg = [0.0] * n_slots
    ev_start = [0.0] * n_slots
    ev_lat = [0.0] * n_slots
    issued = [0.0] * n_slots
    open_batch = [None] * (n_jobs * M)
    heap, seq = [], 0

    lat_samples, done = [], 0
    batches = reqs_in_batches = batch_rows_sum = 0
    work = 0.0
    batch_rows_list, batch_wait_sum = [], 0.0
    srv_waits, srv_busy = [], 0.0

    def new_event(g, now):
        seg[g] = cpu_draw() / R + client
        module[g] = 0
        ev_start[g] = now
        ev_lat[g] = 0.0

    def make_ready(g, now, first=False):
        nonlocal seq
        j = g // E
        if free_threads[j] > 0:
            free_threads[j] -= 1
            seq += 1
            heapq.heappush(heap, (now + (seg[g] * uniform() if first else seg[g]), seq, SEG_END, g, None))
        else:
            ready[j].append(g)

    def flush(key, batch, now):
        nonlocal seq, batches, reqs_in_batches, batch_rows_sum, work, batch_wait_sum
        if open_batch[key] is batch:
            open_batch[key] = None
        n = batch[0]
        s = service(n) * jitter()
        batch[2] = s
        if now >= warm:
            batches += 1
            reqs_in_batches += len(batch[1])
            batch_rows_sum += n
            batch_rows_list.append(n)
            work += service(n)
            batch_wait_sum += sum(now - issued[g] for g in batch[1])
        seq += 1
        if explicit:
            batch.append(now + half_rtt)  # arrival time at the server
            heapq.heappush(heap, (now + half_rtt, seq, SRV_ARRIVE, pick(), batch))
        else:
            heapq.heappush(heap, (now + 2 * half_rtt + wait_draw() + s, seq, RESPONSE, 0, batch))

    def start_service(srv, batch, now):
        nonlocal seq, srv_busy
        seq += 1
        heapq.heappush(heap, (now + batch[2], seq, SRV_DONE, srv, batch))
        if now >= warm:
            srv_waits.append(now - batch[3])
            srv_busy += batch[2]

    for g in range(n_slots):
        new_event(g, 0.0)
        make_ready(g, 0.0, first=True)

    while heap:
        now, _, kind, a, b = heapq.heappop(heap)
        if now > t_end:
            break
        if kind == SEG_END:
            g = a
            j = g // E
            if ready[j]:
                make_ready_g = ready[j].popleft()
                seq += 1
                heapq.heappush(heap, (now + seg[make_ready_g], seq, SEG_END, make_ready_g, None))
            else:
                free_threads[j] += 1
            issued[g] = now
            key = j * M + module[g] % M
            if D <= 0:
                flush(key, [rows, [g], 0.0], now)
                continue
            batch = open_batch[key]
            if batch is not None and batch[0] + rows > B:
                flush(key, batch, now)
                batch = None
            if batch is None:
                batch = open_batch[key] = [0, [], 0.0]
                seq += 1
                heapq.heappush(heap, (now + D, seq, TIMER, key, batch))
            batch[0] += rows
            batch[1].append(g)
            if batch[0] >= B:
                flush(key, batch, now)
        elif kind == TIMER:
            if open_batch[a] is b:
                flush(a, b, now)
        elif kind == RESPONSE:
            for g in b[1]:
                ev_lat[g] += client + now - issued[g]
                module[g] += 1
                if module[g] == R:
                    if now >= warm:
                        done += 1
                        if ev_start[g] >= warm:
                            lat_samples.append(ev_lat[g])
                    new_event(g, now)
                make_ready(g, now)
        elif kind == SRV_ARRIVE:
            if farm[a].arrive(b, slots) is not None:
                start_service(a, b, now)
        else:  # SRV_DONE
            seq += 1
            heapq.heappush(heap, (now + half_rtt, seq, RESPONSE, 0, b))
            nxt = farm[a].complete()
            if nxt is not None:
                start_service(a, nxt, now)

    span = t_end - warm
    lat = np.array(lat_samples) if lat_samples else np.zeros(1)
    out = {
        "events_per_s_per_job": done / span / n_jobs,
        "event_latency_mean_ms": float(lat.mean() * 1e3),
        "event_latency_p99_ms": float(np.percentile(lat, 99) * 1e3),
        "events_measured": len(lat_samples),
        "batches_per_s_per_job": batches / span / n_jobs,
        "requests_per_batch": reqs_in_batches / max(batches, 1),
        "rows_per_batch": batch_rows_sum / max(batches, 1),
        "server_s_per_s_per_job": work / span / n_jobs,
        "batching_wait_ms_per_request": batch_wait_sum / max(reqs_in_batches, 1) * 1e3,
        "batch_rows": np.array(batch_rows_list, dtype=np.int64),
        "simulated_s": t_end,
    }
    if explicit:
        sw = np.array(srv_waits) if srv_waits else np.zeros(1)
        out["server_utilisation"] = srv_busy / (servers * slots * span)
        out["server_wait_mean_ms"] = float(sw.mean() * 1e3)
        out["server_wait_p99_ms"] = float(np.percentile(sw, 99) * 1e3)
    return out


def server_waits(p, rho, c, batch_rows, rng, n=None):
    """One server at utilisation rho: Poisson arrivals, service of the given batch-size
    distribution. Returns (waits in s, measured utilisation, E[s], E[s^2])."""
    n = n or p.server_requests
    rows = batch_rows[rng.integers(0, len(batch_rows), n)] if len(batch_rows) else np.full(n, p.rows)
    base = np.array([p.service_s(r) for r in range(int(rows.max()) + 1)])[rows]
    if p.service_cv > 0:
        k = 1 / p.service_cv ** 2
        s = base * rng.gamma(k, 1 / k, n)
    else:
        s = base
    es = float(base.mean())
    es2 = float(np.mean(base ** 2) * (1 + p.service_cv ** 2))
    lam = rho * c / es
    arrivals = np.cumsum(rng.exponential(1 / lam, n))
    w = fcfs_waits(arrivals, s, c)
    keep = slice(n // 10, None)  # warm-up
    util = s[keep].sum() / (c * (arrivals[-1] - arrivals[n // 10]))
    return w[keep], float(util), es, es2


# ---------------------------------------------------------------------------------------------
# Sizing.

# Utilisation 0 is the zero-load point: no server queueing, the latency floor of the configuration.
RHO_GRID = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def curve(p, c, batching, mode, rho_grid, rows_dist):
    """Simulated added latency and job rate against server utilisation (decomposition)."""
    points = []
    for rho in rho_grid:
        # Common random numbers: the same seeds at every utilisation, so the curves are smooth.
        if rho > 0:
            w = server_waits(p, rho, c, rows_dist, rng_for(p.seed, "B", c))[0]
        else:
            w = np.zeros(1)
        r = simulate(p, 1, mode, batching, rng_for(p.seed, "A", mode), waits=w)
        points.append({
            "utilisation": rho,
            "server_wait_mean_ms": float(w.mean() * 1e3),
            "server_wait_p99_ms": float(np.percentile(w, 99) * 1e3),
            "event_latency_mean_ms": r["event_latency_mean_ms"],
            "event_latency_p99_ms": r["event_latency_p99_ms"],
            "events_per_s_per_job": r["events_per_s_per_job"],
            "server_s_per_s_per_job": r["server_s_per_s_per_job"],
            "requests_per_batch": r["requests_per_batch"],
        })
    return points


def interp(points, key, rho):
    xs = [q["utilisation"] for q in points]
    ys = np.maximum.accumulate([q[key] for q in points]) if "latency" in key else [q[key] for q in points]
    return float(np.interp(rho, xs, ys))


def rho_for_latency(points, target):
    """Largest utilisation whose p99 added latency (made monotone) stays within the target; None when
    even the first point (utilisation 0: no queueing) is above it."""
    xs = [q["utilisation"] for q in points]
    ys = np.maximum.accumulate([q["event_latency_p99_ms"] for q in points])
    if ys[0] > target:
        return None
    for i in range(1, len(xs)):
        if ys[i] > target:
            return xs[i - 1] + (xs[i] - xs[i - 1]) * (target - ys[i - 1]) / (ys[i] - ys[i - 1])
    return xs[-1]


def infeasible_reason(p, points):
    """Why no number of servers meets the latency target (None if some does)."""
    floor = points[0]["event_latency_p99_ms"]
    if floor <= p.latency_target_ms:
        return None
    return (f"p99 added latency per event at zero load (utilisation {points[0]['utilisation']:g}) is "
            f"{floor:.1f} ms, above the {p.latency_target_ms:g} ms target: more servers cannot help")


def size(p, points, c, n_jobs):
    rho_lat = rho_for_latency(points, p.latency_target_ms)
    if rho_lat is None or rho_lat <= 0:
        return {"jobs": n_jobs, "servers": None, "limited_by": "latency floor",
                "reason": infeasible_reason(p, points) or "latency target met only at zero load",
                "zero_load_event_latency_p99_ms": round(points[0]["event_latency_p99_ms"], 2),
                "max_utilisation_for_latency": None}
    rho_cap = min(p.max_utilisation, rho_lat)
    work = interp(points, "server_s_per_s_per_job", rho_cap)
    servers = max(1, math.ceil(n_jobs * work / (c * rho_cap) - 1e-9))
    rho = n_jobs * work / (c * servers)
    return {
        "jobs": n_jobs,
        "servers": servers,
        "jobs_per_server": round(n_jobs / servers, 2),
        "utilisation": round(rho, 3),
        "event_latency_p99_ms": round(interp(points, "event_latency_p99_ms", rho), 2),
        "limited_by": "utilisation" if p.max_utilisation <= rho_lat else "latency",
        "max_utilisation_for_latency": round(rho_lat, 3),
    }


def size_farms(p):
    """Sizing of async jobs for every (slots, batching): the zero-load job simulation (batch
    statistics), the latency and rate curve against utilisation, and S for every N."""
    sizing, zero_load = [], {}
    for c in p.slots:
        for batching in (False, True):
            a0 = simulate(p, 1, "async", batching, rng_for(p.seed, "A0", c, batching))
            zero_load[batching] = a0
            points = curve(p, c, batching, "async", RHO_GRID, a0["batch_rows"])
            farm = [size(p, points, c, n) for n in p.jobs]
            sizing.append({"slots": c, "batching": batching, "mode": "async",
                           "requests_per_batch": round(a0["requests_per_batch"], 3),
                           "server_s_per_s_per_job": round(a0["server_s_per_s_per_job"], 4),
                           "zero_load_event_latency_p99_ms": round(points[0]["event_latency_p99_ms"], 2),
                           "feasible": infeasible_reason(p, points) is None,
                           "infeasible_reason": infeasible_reason(p, points),
                           "farm": farm, "curve": points, "_rows": a0["batch_rows"]})
    return sizing, zero_load


def parse_scenario(text):
    """--gpu-scenario SPEEDUP:SCOPE:TARGET_MS, e.g. 10:all:10."""
    try:
        speedup, scope, target = text.split(":")
        if scope not in ("all", "rows"):
            raise ValueError(scope)
        return {"gpu_speedup": float(speedup), "speedup_scope": scope, "latency_target_ms": float(target)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SPEEDUP:all|rows:TARGET_MS, got {text!r}") from None


def print_sizing(p, sizing, title):
    print(f"\n{title}; utilisation <= {p.max_utilisation:.0%}, p99 added latency per event "
          f"<= {p.latency_target_ms:g} ms)")
    print("  " + "jobs".rjust(6) + "".join(f"  c={cfg['slots']} batch {'on ' if cfg['batching'] else 'off'}"
                                          for cfg in sizing))
    for i, n in enumerate(p.jobs):
        cells = []
        for cfg in sizing:
            r = cfg["farm"][i]
            cells.append(f"{r['servers']:>5} ({r['limited_by'][:4]})" if r["servers"] else "-")
        print("  " + f"{n:6d}" + "".join(f"  {c:>16s}" for c in cells))
    for cfg in sizing:
        head = (f"  c={cfg['slots']} batching {'on ' if cfg['batching'] else 'off'}: {cfg['requests_per_batch']:.2f} "
                f"requests per server request, zero-load p99 {cfg['zero_load_event_latency_p99_ms']:.2f} ms, ")
        rho_lat = cfg["farm"][0]["max_utilisation_for_latency"]
        if rho_lat is None:
            print(head + "infeasible: " + cfg["farm"][0]["reason"])
        else:
            print(head + f"max utilisation for the latency target {'>= ' if rho_lat >= RHO_GRID[-1] else ''}"
                  f"{rho_lat:.2f}")


def sync_on_farm(p, sync_points, c, n_jobs, servers):
    """Utilisation and rate of sync jobs on a farm of the given size (fixed point)."""
    rho = 0.5
    for _ in range(30):
        rho_new = min(n_jobs * interp(sync_points, "server_s_per_s_per_job", rho) / (c * servers), RHO_GRID[-1])
        if abs(rho_new - rho) < 1e-4:
            break
        rho = rho_new
    return rho, interp(sync_points, "events_per_s_per_job", rho), interp(sync_points, "event_latency_p99_ms", rho)


# ---------------------------------------------------------------------------------------------
# Self-test.

def self_test(seed=1):
    rng = np.random.default_rng(seed)
    failures = 0
    n = 2_000_000
    print("self-test: simulated mean waiting time against the analytic one (service time 1)")
    for name, c, rho, det, tol, n_req, fn in [
        ("M/M/1", 1, 0.5, False, 0.03, n, fcfs_waits),
        ("M/M/1", 1, 0.8, False, 0.05, n, fcfs_waits),
        ("M/D/1", 1, 0.5, True, 0.03, n, fcfs_waits),
        ("M/D/1", 1, 0.8, True, 0.03, n, fcfs_waits),
        ("M/M/4", 4, 0.7, False, 0.05, 400_000, fcfs_waits),
        ("M/D/1 event loop", 1, 0.7, True, 0.05, 200_000, des_queue_waits),
        ("M/M/4 event loop", 4, 0.7, False, 0.05, 200_000, des_queue_waits),
    ]:
        s = np.ones(n_req) if det else rng.exponential(1.0, n_req)
        lam = rho * c
        a = np.cumsum(rng.exponential(1 / lam, n_req))
        w = fn(a, s, c)[n_req // 20:]
        exact = mgc_mean_wait(lam, 1.0, 1.0 if det else 2.0, c)
        err = w.mean() / exact - 1
        ok = abs(err) <= tol
        failures += not ok
        print(f"  {name:18s} rho={rho:.1f}: simulated {w.mean():.4f}, analytic {exact:.4f}, "
              f"error {err * 100:+.2f} % (limit {tol * 100:.0f} %) {'ok' if ok else 'FAIL'}")
    a = np.cumsum(rng.exponential(1.25, 20000))
    s = rng.exponential(1.0, 20000)
    same = (np.allclose(fcfs_waits(a, s, 1), des_queue_waits(a, s, 1), atol=1e-9)
            and np.allclose(fcfs_waits(a, s, 1), fcfs_waits(a, s, 1, vectorised=False), atol=1e-9))
    failures += not same
    print(f"  c=1: vectorised Lindley = slot loop = event loop, request by request: {'ok' if same else 'FAIL'}")
    # Sizing on a synthetic curve: p99 12 ms at zero load, +10 ms per 0.1 of utilisation; 0.1 s of
    # server time per second per job. 20 ms: rho 0.08 (latency binds); 100 ms: rho 0.7; 10 ms: none.
    pts = [{"utilisation": r, "event_latency_p99_ms": 12 + 100 * r, "server_s_per_s_per_job": 0.1}
           for r in RHO_GRID]
    q = Params(1.0, 0.0, 0.0, 0.0, max_utilisation=0.7)
    got = [size(replace(q, latency_target_ms=t), pts, 1, 100) for t in (20.0, 100.0, 10.0)]
    sized = (got[0]["servers"] == math.ceil(100 * 0.1 / 0.08) and got[0]["limited_by"] == "latency"
             and got[1]["servers"] == math.ceil(100 * 0.1 / 0.7 - 1e-9) and got[1]["limited_by"] == "utilisation"
             and got[2]["servers"] is None and "12.0 ms" in got[2]["reason"])
    failures += not sized
    print(f"  sizing on a synthetic curve (latency-bound, utilisation-bound, infeasible target reported): "
          f"{'ok' if sized else 'FAIL'}")
    print("self-test:", "passed" if failures == 0 else f"{failures} check(s) failed")
    return failures == 0


# ---------------------------------------------------------------------------------------------

def load_measured(path):
    figures = dict(DEFAULT_MEASURED)
    if path is None:
        return figures, "defaults (placeholders until bench/bench_remote numbers are pasted)", list(MEASURED_KEYS)
    given = json.loads(Path(path).read_text())
    assumed = [k for k in MEASURED_KEYS if given.get(k) is None]
    figures.update({k: v for k, v in given.items() if v is not None})
    return figures, f"measured: {path}", assumed


def plot(result, plots_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    plots_dir.mkdir(parents=True, exist_ok=True)
    note = ("placeholder inputs" if result["inputs"]["source"].startswith("defaults")
            else f"measured: {result['inputs']['figures'].get('server').split(' (')[0]} on CPU")
    if result["inputs"]["parameters"]["gpu_speedup"] != 1:
        note += f", service ÷{result['inputs']['parameters']['gpu_speedup']:g} assumed"
    params = result["inputs"]["parameters"]
    colors = {c: f"C{i}" for i, c in enumerate(params["slots"])}
    styles = {(c, b): (colors[c], "--" if b else "-") for c in params["slots"] for b in (False, True)}

    fig, ax = plt.subplots(figsize=(7.2, 6.0))
    plotted = 0
    sets = [(cfg, "o", 1.0, f"measured, p99 ≤ {params['latency_target_ms']:g} ms") for cfg in result["sizing"]]
    for i, sc in enumerate(result.get("gpu_scenarios", [])):
        tag = f"assumed ÷{sc['gpu_speedup']:g} {sc['speedup_scope']}, p99 ≤ {sc['latency_target_ms']:g} ms"
        sets += [(cfg, "sv^D"[i % 4], 0.6, tag) for cfg in sc["sizing"]]
    for cfg, marker, alpha, tag in sets:
        rows = [r for r in cfg["farm"] if r["servers"]]
        color, ls = styles[(cfg["slots"], cfg["batching"])]
        label = f"c={cfg['slots']}, batching {'on' if cfg['batching'] else 'off'}; {tag}"
        if not rows:
            label += f": none meets it (floor {cfg['zero_load_event_latency_p99_ms']:.1f} ms)"
        ax.plot([r["jobs"] for r in rows], [r["servers"] for r in rows], color=color, ls=ls, marker=marker,
                alpha=alpha, label=label)
        plotted += len(rows)
    if plotted:
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no server count meets the latency target", transform=ax.transAxes, ha="center")
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_xlabel(f"jobs ({params['threads']} threads each, async)")
    ax.set_ylabel("servers needed")
    ax.set_title(f"Servers for utilisation ≤ {params['max_utilisation']:.0%} and a p99 target: {note}"
                 + (" and assumed faster servers" if result.get("gpu_scenarios") else ""), fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6.5, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    fig.savefig(plots_dir / "scale_out_servers.png", dpi=100, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for cfg in result["sizing"]:
        color, ls = styles[(cfg["slots"], cfg["batching"])]
        pts = cfg["curve"]
        ax.plot([q["utilisation"] for q in pts], [q["event_latency_p99_ms"] for q in pts], color=color, ls=ls,
                marker="o", label=f"p99, c={cfg['slots']}, batching {'on' if cfg['batching'] else 'off'}")
        if not cfg["batching"]:
            ax.plot([q["utilisation"] for q in pts], [q["event_latency_mean_ms"] for q in pts], color=color,
                    ls=":", label=f"mean, c={cfg['slots']}, batching off")
    ax.axhline(params["latency_target_ms"], color="grey", lw=1)
    ax.axvline(params["max_utilisation"], color="grey", lw=1)
    ax.set_yscale("log")
    top = max(q["event_latency_p99_ms"] for cfg in result["sizing"] for q in cfg["curve"])
    bottom = min(q["event_latency_mean_ms"] for cfg in result["sizing"] for q in cfg["curve"])
    ax.set_yticks(sorted({t for t in (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000)
                          if bottom / 1.5 <= t <= top * 1.5} | {params["latency_target_ms"]}))
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("mean server utilisation")
    ax.set_ylabel("added latency per event (ms)")
    ax.set_title(f"Added latency per event ({params['requests_per_event']} sequential requests; {note})",
                 fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(plots_dir / "scale_out_latency.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    tp = result["sync_vs_async"]
    for c, color in colors.items():
        for mode, ls in (("async", "-"), ("sync", "--")):
            pts = tp["curves"][f"{mode}_c{c}"]
            ax.plot([q["utilisation"] for q in pts], [q["events_per_s_per_job"] for q in pts], color=color, ls=ls,
                    marker="o", label=f"{mode}, c={c}")
    ax.axhline(tp["cpu_limit_events_per_s"], color="grey", lw=1, label="CPU limit (no waiting)")
    ax.set_xlabel("mean server utilisation")
    ax.set_ylabel("events/s per job")
    ax.set_ylim(0, tp["cpu_limit_events_per_s"] * 1.1)
    ax.set_title(f"Throughput per job: sync vs async (batching off; {note})", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(plots_dir / "scale_out_throughput.png", dpi=100)
    plt.close(fig)


def csv_ints(text):
    return [int(x) for x in text.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--measured", type=Path, help="JSON of single-server figures (bench/bench_remote); "
                    "without it the documented placeholder defaults are used")
    ap.add_argument("--out", type=Path, help="write the result JSON here")
    ap.add_argument("--plots", type=Path, help="write scale_out_*.png here")
    ap.add_argument("--self-test", action="store_true", help="check the queue simulation against M/M/1, M/D/1, "
                    "M/M/4 and exit (non-zero on failure)")
    ap.add_argument("--jobs", type=csv_ints, default=[10, 50, 100, 500, 1000], help="job counts to size for")
    ap.add_argument("--slots", type=csv_ints, default=[1, 4], help="concurrent execution slots per server (c)")
    ap.add_argument("--threads", type=int, default=8, help="event-processing threads per job (T)")
    ap.add_argument("--streams-per-thread", type=int, default=2, help="async jobs: events in flight per thread")
    ap.add_argument("--cpu-ms-per-event", type=float, default=50.0, help="CPU work per event on one thread")
    ap.add_argument("--cpu-cv", type=float, default=0.5, help="coefficient of variation of CPU per event (gamma)")
    ap.add_argument("--requests-per-event", type=int, default=4, help="remote requests per event (R), in sequence")
    ap.add_argument("--models", type=int, default=None, help="distinct models (default: one per request)")
    ap.add_argument("--rows", type=int, default=16, help="rows per request (r)")
    ap.add_argument("--gpu-speedup", type=float, default=1.0, help="divide the measured (CPU-server) service "
                    "time by this")
    ap.add_argument("--speedup-scope", choices=["all", "rows"], default="all",
                    help="what --gpu-speedup divides: the whole service time, or only the per-row part")
    ap.add_argument("--gpu-scenario", type=parse_scenario, action="append", default=[], metavar="SPEEDUP:SCOPE:MS",
                    help="also size for an assumed faster (GPU) server: service time divided by SPEEDUP "
                         "(SCOPE all|rows as --speedup-scope), p99 target MS; sizing only (repeatable)")
    ap.add_argument("--service-cv", type=float, default=0.2, help="coefficient of variation of service time")
    ap.add_argument("--batch-rows", type=int, default=64, help="client batcher: most rows per request (B)")
    ap.add_argument("--batch-delay-us", type=float, default=500.0, help="client batcher: max delay (D)")
    ap.add_argument("--max-utilisation", type=float, default=0.7)
    ap.add_argument("--latency-target-ms", type=float, default=10.0, help="p99 added latency per event")
    ap.add_argument("--events", type=int, default=10000, help="events measured per job simulation (bound)")
    ap.add_argument("--server-requests", type=int, default=40000, help="requests per single-server simulation")
    ap.add_argument("--check-jobs", type=csv_ints, default=[10, 50], help="job counts for the full simulation check")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    if args.self_test:
        sys.exit(0 if self_test(args.seed) else 1)

    t0 = time.perf_counter()
    figures, source, assumed = load_measured(args.measured)
    p = Params(
        service_us_per_request=float(figures["service_us_per_request"]),
        service_us_per_row=float(figures["service_us_per_row"]),
        client_cpu_us=float(figures["client_cpu_us_per_request"]),
        rtt_us=float(figures["network_rtt_us"]),
        threads=args.threads, streams_per_thread=args.streams_per_thread, cpu_ms_per_event=args.cpu_ms_per_event,
        cpu_cv=args.cpu_cv, requests_per_event=args.requests_per_event,
        models=args.models or args.requests_per_event, rows=args.rows, gpu_speedup=args.gpu_speedup,
        speedup_scope=args.speedup_scope, service_cv=args.service_cv, batch_rows=args.batch_rows,
        batch_delay_us=args.batch_delay_us, max_utilisation=args.max_utilisation,
        latency_target_ms=args.latency_target_ms, events=args.events, server_requests=args.server_requests,
        seed=args.seed, slots=args.slots, jobs=args.jobs)

    print(f"inputs: {source}")
    if args.measured is None:
        print("  NOTE: no --measured file; using placeholder defaults (900 us/request + 5 us/row server time, "
              "40 us client CPU, 100 us RTT)")
    else:
        print(f"  machine: {figures.get('machine')}; server: {figures.get('server')}; model: {figures.get('model')}")
        if assumed:
            print(f"  not in the file, defaults used: {', '.join(assumed)}")
    s1 = p.service_s(p.rows)
    predicted_single = (p.client_cpu_us + p.rtt_us) * 1e-6 + s1
    print(f"  server time for {p.rows} rows: {s1 * 1e6:.0f} us (gpu speed-up {p.gpu_speedup:g}, scope {p.speedup_scope})"
          f" -> {1 / s1:.0f} requests/s per slot")
    measured_single = figures.get("single_request_latency_us")
    print(f"  single-request round trip, model: {predicted_single * 1e6:.0f} us; measured: "
          f"{'%.0f us' % measured_single if measured_single else 'not given'}")
    cpu_limit = p.threads / (p.cpu_ms_per_event * 1e-3 + p.requests_per_event * p.client_cpu_us * 1e-6)
    print(f"  job: {p.threads} threads, {p.cpu_ms_per_event:g} ms CPU/event -> at most {cpu_limit:.1f} events/s, "
          f"{cpu_limit * p.requests_per_event:.0f} requests/s of {p.rows} rows")

    # Sizing: async jobs, per (slots, batching).
    sizing, zero_load = size_farms(p)
    print_sizing(p, sizing, "servers needed (async jobs")

    # Assumed faster servers: sizing only, each with its own latency target.
    scenarios = []
    for sc in args.gpu_scenario:
        q = replace(p, **sc)
        label = (f"assumed: service time / {q.gpu_speedup:g} ({'whole request' if q.speedup_scope == 'all' else 'per-row part'})"
                 f", p99 <= {q.latency_target_ms:g} ms")
        sc_sizing, _ = size_farms(q)
        print_sizing(q, sc_sizing, f"{label}: {q.service_s(q.rows) * 1e6:.0f} us per {q.rows}-row request\n"
                     f"servers needed (async jobs")
        for cfg in sc_sizing:
            del cfg["_rows"]
        scenarios.append({**sc, "label": label, "status": "assumption, not a measurement",
                          "service_us_at_rows": round(q.service_s(q.rows) * 1e6, 1), "sizing": sc_sizing})

    # Analytic cross-check at one configuration: c=1 and the largest c, batching off, utilisation 0.7.
    analytic = []
    print("\nanalytic cross-check (one server, batching off, utilisation 0.70, mean wait per request):")
    for c in sorted({min(p.slots), max(p.slots)}):
        w, util, es, es2 = server_waits(p, 0.7, c, zero_load[False]["batch_rows"], rng_for(p.seed, "X", c),
                                        n=200_000)
        lam = 0.7 * c / es
        formula = ("Pollaczek-Khinchine M/G/1 (exact)" if c == 1
                   else f"Erlang C M/M/{c} x (1+cv^2)/2 (Allen-Cunneen, approximate for cv != 1)")
        exact = mgc_mean_wait(lam, es, es2, c)
        analytic.append({"slots": c, "utilisation": 0.7, "formula": formula, "simulated_mean_wait_ms": w.mean() * 1e3,
                         "analytic_mean_wait_ms": exact * 1e3, "difference": w.mean() / exact - 1})
        print(f"  c={c}: simulated {w.mean() * 1e3:.3f} ms   {formula}: {exact * 1e3:.3f} ms   "
              f"({(w.mean() / exact - 1) * 100:+.1f} %)")

    # Sync against async on the farms sized for async jobs (batching off).
    curves, loss = {}, []
    for c in p.slots:
        off = next(cfg for cfg in sizing if cfg["slots"] == c and not cfg["batching"])
        curves[f"async_c{c}"] = off["curve"]
        curves[f"sync_c{c}"] = curve(p, c, False, "sync", RHO_GRID, off["_rows"])
        for r in off["farm"]:
            if not r["servers"]:
                continue
            rho_s, rate_s, p99_s = sync_on_farm(p, curves[f"sync_c{c}"], c, r["jobs"], r["servers"])
            rate_a = interp(off["curve"], "events_per_s_per_job", r["utilisation"])
            loss.append({"slots": c, "jobs": r["jobs"], "servers": r["servers"],
                         "async_events_per_s_per_job": round(rate_a, 2), "async_utilisation": r["utilisation"],
                         "sync_events_per_s_per_job": round(rate_s, 2), "sync_utilisation": round(rho_s, 3),
                         "sync_event_latency_p99_ms": round(p99_s, 2), "sync_loss": round(1 - rate_s / rate_a, 4)})
    print("\nsync vs async on the farms above (batching off): events/s per job")
    for row in loss:
        print(f"  c={row['slots']} jobs={row['jobs']:5d} servers={row['servers']:4d}: async "
              f"{row['async_events_per_s_per_job']:.1f}, sync {row['sync_events_per_s_per_job']:.1f} "
              f"({row['sync_loss'] * 100:.1f} % fewer)")
    # What client-side batching buys: zero-load batch statistics against the job's request rate.
    sweep = []
    for cpu_ms in (p.cpu_ms_per_event, p.cpu_ms_per_event / 4, p.cpu_ms_per_event / 16):
        for delay in (p.batch_delay_us, 4 * p.batch_delay_us):
            q = Params(**{**asdict(p), "cpu_ms_per_event": cpu_ms, "batch_delay_us": delay})
            on = simulate(q, 1, "async", True, rng_for(p.seed, "sweep", cpu_ms, delay))
            off_work = q.requests_per_event * q.service_s(q.rows)
            per_event_on = on["server_s_per_s_per_job"] / on["events_per_s_per_job"]
            sweep.append({"cpu_ms_per_event": cpu_ms, "batch_delay_us": delay,
                          "requests_per_s_per_model_per_job": round(on["events_per_s_per_job"] * q.requests_per_event
                                                                    / q.models, 1),
                          "requests_per_batch": round(on["requests_per_batch"], 3),
                          "server_time_saved": round(1 - per_event_on / off_work, 4),
                          "batching_wait_ms_per_request": round(on["batching_wait_ms_per_request"], 3)})
    print("\nclient-side batching at zero server load (async, per job):")
    for row in sweep:
        print(f"  cpu {row['cpu_ms_per_event']:6.2f} ms/event, D {row['batch_delay_us']:5.0f} us: "
              f"{row['requests_per_s_per_model_per_job']:7.1f} req/s per model -> {row['requests_per_batch']:.2f} "
              f"requests/batch, server time saved {row['server_time_saved'] * 100:4.1f} %, waits "
              f"{row['batching_wait_ms_per_request']:.2f} ms/request")

    # Full simulation (every job and server, no decomposition) at the sized farms for small N.
    checks = []
    print("\nfull simulation check (all jobs and servers) at the sized farms:")
    for cfg in sizing:
        for n in args.check_jobs:
            r = next((x for x in cfg["farm"] if x["jobs"] == n), None)
            if r is None:
                r = size(p, cfg["curve"], cfg["slots"], n)
            if not r["servers"]:
                continue
            full = simulate(p, n, "async", cfg["batching"], rng_for(p.seed, "full", cfg["slots"], cfg["batching"], n),
                            servers=r["servers"], slots=cfg["slots"])
            checks.append({"slots": cfg["slots"], "batching": cfg["batching"], "jobs": n, "servers": r["servers"],
                           "predicted_utilisation": r["utilisation"],
                           "simulated_utilisation": round(full["server_utilisation"], 3),
                           "predicted_event_latency_p99_ms": r["event_latency_p99_ms"],
                           "simulated_event_latency_p99_ms": round(full["event_latency_p99_ms"], 2),
                           "simulated_server_wait_mean_ms": round(full["server_wait_mean_ms"], 3),
                           "events_measured": full["events_measured"]})
            print(f"  c={cfg['slots']} batching {'on ' if cfg['batching'] else 'off'} jobs={n:4d} servers="
                  f"{r['servers']:4d}: utilisation {r['utilisation']:.3f} predicted, "
                  f"{full['server_utilisation']:.3f} simulated; p99 {r['event_latency_p99_ms']:.2f} ms predicted, "
                  f"{full['event_latency_p99_ms']:.2f} ms simulated ({full['events_measured']} events)")

    for cfg in sizing:
        del cfg["_rows"]
    runtime = time.perf_counter() - t0
    result = {
        "tool": "tools/scale_out_sim.py",
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["tools/scale_out_sim.py"] + sys.argv[1:]),
        "inputs": {
            "source": source,
            "assumed_not_measured": assumed,
            "figures": figures,
            "parameters": {k: v for k, v in asdict(p).items()},
            "derived": {
                "service_us_per_request_at_rows": round(s1 * 1e6, 1),
                "requests_per_s_per_slot": round(1 / s1, 1),
                "single_request_round_trip_us_model": round(predicted_single * 1e6, 1),
                "job_cpu_limit_events_per_s": round(cpu_limit, 2),
            },
        },
        "sizing": sizing,
        "gpu_scenarios": scenarios,
        "analytic_check": analytic,
        "sync_vs_async": {"cpu_limit_events_per_s": cpu_limit, "on_sized_farms": loss, "curves": curves},
        "batching_sweep": sweep,
        "full_simulation_check": checks,
        "runtime_s": round(runtime, 1),
    }
    print(f"\nruntime {runtime:.1f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
        print(f"wrote {args.out}")
    if args.plots:
        plot(result, args.plots)
        print(f"wrote {args.plots}/scale_out_{{servers,latency,throughput}}.png")


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


if __name__ == "__main__":
    main()
