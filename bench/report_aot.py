#!/usr/bin/env python3
"""One CPU benchmark run of the AOT backend against its baselines, side by side on one machine:
per model, hepinfer's TF backend (inline) and the AOT backend (bench_aot, C++, one thread,
interleaved with a plain read of as many bytes as the model's weights: the host's floor under a
batch-1 call, and with this core's peak rate of multiply-adds: the floor above batch 1 of a
model made of dense layers), then ONNX Runtime (one intra-op thread) and TF Python right after
(peer_onnxruntime.py), all of it in several rounds in turn, the median round reported; then the
demo job with its modules on AOT packages against the same job on the TF backend. Compiles the
packages itself; prints the Markdown tables docs/backends.md and the README show; writes all of it
as JSON.

Models: the MLP test model and a DeepJet-like tagger (bench/make_deepjet_like.py: four inputs,
Conv1D stacks, three LSTMs).

usage: report_aot.py BUILD_DIR OUTPUT_DIR [--seconds S] [--batches 1,64] [--events N]
                     [--target-cpus x86-64-v3,native] [--rounds 3] [--tune]
(BUILD_DIR: a build with TensorFlow and AOT, whose models/ and demo_models/*/model.aot exist)
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
sys.path.insert(0, str(here.parent / "tools"))
from report import machine  # noqa: E402

MODELS = {"mlp": "MLP 32→4×256→8", "deepjet_like": "DeepJet-like (4 inputs, Conv1D, 3 LSTMs)"}
# Models made of dense layers only: one multiply-add per weight matrix element and row, which gives
# the arithmetic floor under a call (convolutions and recurrent layers reuse their weights, so
# counting them once would be no floor worth showing).
DENSE_MODELS = {"mlp"}


def weight_bytes(saved_model, signature="serving_default"):
    """The bytes of the variables the signature reads: what a batch-1 call reads at least once."""
    import tensorflow as tf
    loaded = tf.saved_model.load(str(saved_model))  # kept: the signature's variables die with it
    return sum(variable.dtype.size * variable.shape.num_elements()
               for variable in loaded.signatures[signature].variables)


def dense_flops_per_row(saved_model, signature="serving_default"):
    """Two operations (a multiply and an add) per element of every weight matrix the signature reads."""
    import tensorflow as tf
    loaded = tf.saved_model.load(str(saved_model))
    return 2 * sum(variable.shape.num_elements() for variable in loaded.signatures[signature].variables
                   if variable.shape.rank == 2)


def median_of_rounds(rounds, measurements):
    """One benchmark's JSON from several rounds of it: per batch, each of `measurements` as in the
    round with its median median_us (all its figures from that round), with every round's median
    listed under rounds_median_us."""
    merged = dict(rounds[0])
    merged["results"] = []
    for per_round in zip(*(run["results"] for run in rounds)):
        result = {key: value for key, value in per_round[0].items() if key not in measurements}
        result.pop("median_ratio_tf_over_aot", None)  # a single round's; the report divides medians
        for key in measurements:
            if key not in per_round[0]:
                continue
            ordered = sorted((r[key] for r in per_round), key=lambda m: m["median_us"])
            result[key] = dict(ordered[(len(ordered) - 1) // 2],
                               rounds_median_us=[r[key]["median_us"] for r in per_round])
        merged["results"].append(result)
    return merged


def run_job(hepinfer, arguments, events, threads):
    result = subprocess.run([str(hepinfer), "run", *arguments, "--events", str(events), "--threads", str(threads),
                             "--json", "--quiet"], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("output")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--target-cpus", default="x86-64-v3,native",
                        help="CPU levels to compile and measure the AOT packages for (compile_aot.py's)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measure each backend this many times in turn and report the median round")
    parser.add_argument("--tune", action="store_true",
                        help="compile the packages as `hepinfer compile --tune` does (each batch size's fastest of "
                             "XLA's code-generation choices on this machine)")
    args = parser.parse_args()
    build, output = Path(args.build).resolve(), Path(args.output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    import compile_aot

    sources = {"mlp": build / "models" / "mlp" / "saved_model", "deepjet_like": output / "deepjet_like" / "saved_model"}
    if not sources["deepjet_like"].is_dir():
        subprocess.run([sys.executable, str(here / "make_deepjet_like.py"), str(output / "deepjet_like")], check=True)
    batches = [int(b) for b in args.batches.split(",")]
    merged = {"benchmark": "aot_cpu_vs_peers", "machine": machine(), "models": {}, "compile": {}}
    # The portable default and the host's own level: the gap between them is what portability costs
    # on this CPU (ONNX Runtime picks its kernels for the host at run time).
    levels = list(dict.fromkeys(compile_aot.resolve_cpu_level(level)[0] for level in args.target_cpus.split(",")))
    merged["target_cpus"] = levels
    merged["tuned"] = args.tune
    merged["rounds"] = args.rounds
    for name, saved_model in sources.items():
        weights = weight_bytes(saved_model)
        flops = dense_flops_per_row(saved_model) if name in DENSE_MODELS else 0
        for level in levels:
            package = output / f"{name}.{level}.aot"
            started = time.monotonic()
            manifest = compile_aot.compile_model(saved_model, package, batches, target_cpu=level, tuned=args.tune)
            merged["compile"].setdefault(name, {})[level] = {
                "seconds": round(time.monotonic() - started, 1), "batch_sizes": batches,
                "library_bytes": manifest["library"]["bytes"], "target": manifest["target"]["cpu"],
                "tuning": manifest.get("tuning", {}).get(level)}
        # Rounds of every measurement in turn, so that a host's slower spells fall on all of them.
        bench_rounds, peer_rounds = {level: [] for level in levels}, []
        for round_index in range(args.rounds):
            for level in levels:
                cpp_json = output / f"{name}.{level}_bench_aot.{round_index}.json"
                package = output / f"{name}.{level}.aot"
                subprocess.run([str(build / "bench" / "bench_aot"), str(saved_model), str(package), str(cpp_json),
                                "--seconds", str(args.seconds), "--batches", args.batches,
                                "--weight-bytes", str(weights), "--flops-per-row", str(flops)], check=True)
                bench_rounds[level].append(json.loads(cpp_json.read_text()))
            peer_json = output / f"{name}_peers.{round_index}.json"
            subprocess.run([sys.executable, str(here / "peer_onnxruntime.py"), str(saved_model), str(peer_json),
                            "--seconds", str(args.seconds / 2), "--batches", args.batches], check=True)
            peer_rounds.append(json.loads(peer_json.read_text()))
        per_level = {level: median_of_rounds(rounds, ("aot_backend", "tensorflow_backend_inline", "weight_read_floor",
                                                           "compute_floor"))
                     for level, rounds in bench_rounds.items()}
        peers = median_of_rounds(peer_rounds, ("onnxruntime", "tensorflow_python"))
        # The TF backend's figures come from the run next to the host's level (the last one).
        host = per_level[levels[-1]]
        by_batch = {r["batch"]: dict(r) for r in host["results"]}
        for level, cpp in per_level.items():
            for r in cpp["results"]:
                by_batch[r["batch"]].setdefault("aot_by_target", {})[level] = r["aot_backend"]
        for r in peers["results"]:
            by_batch[r["batch"]].update({"onnxruntime": r["onnxruntime"], "tensorflow_python": r["tensorflow_python"]})
        merged["models"][name] = {"threads": host["threads"], "onnxruntime": peers["onnxruntime"],
                                  "weight_bytes": weights, "flops_per_row": flops, "results": [by_batch[b] for b in sorted(by_batch)]}

    # The demo job, same events and threads: TF backend (batching on, the default, and off) vs AOT.
    hepinfer = build / "src" / "cli" / "hepinfer"
    threads = 2
    jobs = {
        "tensorflow_batching_on": run_job(hepinfer, ["--models", str(build / "demo_models")], args.events, threads),
        "tensorflow_batching_off": run_job(hepinfer, ["--models", str(build / "demo_models"), "--batching", "off"],
                                           args.events, threads),
        "aot": run_job(hepinfer, [str(here.parent / "examples" / "workflows" / "aot_job.yaml"), "--models",
                                  str(build / "demo_models")], args.events, threads),
    }
    merged["demo_job"] = {key: {"events_per_second": job["job"]["events_per_second"],
                                "cpu_efficiency": job["job"]["cpu_efficiency"],
                                "peak_rss_mib": job["job"]["peak_rss_mib"], "peak_threads": job["job"]["peak_threads"],
                                "failed_checks": sum(m["failed_checks"] for m in job["modules"])}
                          for key, job in jobs.items()}
    demo_manifest = build / "demo_models" / "jet_tagger" / "model.aot" / "manifest.json"
    # The level the backend loads here: the highest of the package's libraries this CPU can run.
    demo = json.loads(demo_manifest.read_text())
    runnable = [demo["target"]["cpu"]] + [variant["target"]["cpu"] for variant in demo.get("variants", [])
                                          if set(variant["target"]["cpu_features"]) <= compile_aot.host_cpu_features()]
    merged["demo_job_target_cpu"] = runnable[-1]
    (output / "report_aot.json").write_text(json.dumps(merged, indent=2))

    print(f"\nMachine: {merged['machine']}; one calling thread; ONNX Runtime "
          f"{next(iter(merged['models'].values()))['onnxruntime']} with one intra-op thread (Python, ~3-4 µs of "
          "each call is Python).\n")
    tuned = " tuned" if merged["tuned"] else ""
    aot_columns = " | ".join(f"AOT {level}{tuned} (µs)" for level in levels)
    print(f"| model | batch | {aot_columns} | TF backend (µs) | ONNX Runtime (µs) | TF Python (µs) "
          f"| TF backend ÷ AOT | ORT ÷ AOT | TF Python ÷ AOT |")
    print("|---|---:|" + "---:|" * len(levels) + "---:|---:|---:|---:|---:|---:|")
    for name, model in merged["models"].items():
        for r in model["results"]:
            aots = [r["aot_by_target"][level]["median_us"] for level in levels]
            aot = aots[-1]  # the host's level
            tf_backend = r["tensorflow_backend_inline"]["median_us"]
            ort = r["onnxruntime"]["median_us"]
            python = r["tensorflow_python"]["median_us"]
            print(f"| {MODELS[name]} | {r['batch']} | " + " | ".join(f"{a:.1f}" for a in aots) +
                  f" | {tf_backend:.1f} | {ort:.1f} | {python:.1f} "
                  f"| {tf_backend / aot:.2f} | {ort / aot:.2f} | {python / aot:.1f} |")
    print(f"\n(ratios against AOT {levels[-1]})")
    print("\nReading each model's weights once from this host's caches, interleaved with the runs above (a "
          "floor under a batch-1 call of a model that reads each weight once, as dense layers do; a recurrent "
          "model reads its weights once per step):\n")
    print(f"| model | batch | weights (KB) | read once (µs) | read (GB/s) | AOT {levels[-1]} ÷ read | TF backend ÷ read |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, model in merged["models"].items():
        first = model["results"][0]
        floor = first.get("weight_read_floor")
        if floor is None:
            continue
        aot = first["aot_by_target"][levels[-1]]["median_us"]
        tf_backend = first["tensorflow_backend_inline"]["median_us"]
        print(f"| {MODELS[name]} | {first['batch']} | {model['weight_bytes'] / 1024:.0f} | {floor['median_us']:.1f} "
              f"| {floor['gigabytes_per_second']:.0f} | {aot / floor['median_us']:.2f} "
              f"| {tf_backend / floor['median_us']:.2f} |")
    dense = [(name, r) for name, model in merged["models"].items() for r in model["results"]
             if r["batch"] > 1 and "compute_floor" in r]
    if dense:
        print("\nEach dense model's multiply-adds at this core's peak rate, timed interleaved with the runs above "
              "(a floor under its calls above batch 1, where arithmetic bounds them; ORT's figure includes "
              "Python):\n")
        print(f"| model | batch | GFLOP | peak GFLOP/s | floor (µs) | AOT {levels[-1]} ÷ floor | ORT ÷ floor "
              "| TF backend ÷ floor |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in dense:
            floor = r["compute_floor"]
            aot = r["aot_by_target"][levels[-1]]["median_us"]
            print(f"| {MODELS[name]} | {r['batch']} | {floor['flops'] / 1e9:.4f} | {floor['peak_gflops']:.0f} "
                  f"({floor['instruction_set']}) | {floor['median_us']:.1f} | {aot / floor['median_us']:.2f} "
                  f"| {r['onnxruntime']['median_us'] / floor['median_us']:.2f} "
                  f"| {r['tensorflow_backend_inline']['median_us'] / floor['median_us']:.2f} |")
    print("\n| package | CPU level | batch sizes | compile (s) | library (MB) | threads before → after load → after runs "
          "| tuned: chosen per batch |")
    print("|---|---|---|---:|---:|---|---|")
    for name, by_level in merged["compile"].items():
        t = merged["models"][name]["threads"]
        for level, compiled in by_level.items():
            tuning = compiled.get("tuning") or {}
            choices = "; ".join(f"{batch}: {tuned['chosen']}" for batch, tuned in tuning.items()
                                if isinstance(tuned, dict) and "chosen" in tuned)
            print(f"| {MODELS[name]} | {level} | {','.join(map(str, compiled['batch_sizes']))} | {compiled['seconds']:.1f} "
                  f"| {compiled['library_bytes'] / 1e6:.1f} | {t['before_aot_load']} → {t['after_aot_load']} → "
                  f"{t['after_runs']} | {choices or 'not tuned'} |")
    print(f"\n| demo job ({args.events} events, {threads} threads; packages loaded at {merged['demo_job_target_cpu']}) | events/s | CPU efficiency | peak RSS MiB | threads |")
    print("|---|---:|---:|---:|---:|")
    for key, job in merged["demo_job"].items():
        print(f"| {key.replace('_', ' ')} | {job['events_per_second']:.0f} | {100 * job['cpu_efficiency']:.0f}% "
              f"| {job['peak_rss_mib']:.0f} | {job['peak_threads']} |")


if __name__ == "__main__":
    main()
