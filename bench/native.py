"""Native throughput: `onesheet classify` against ONNX Runtime's CPU engine, same posters, threads.

onesheet is timed by its own `--bench` (posters/s on stderr: decode, resize, model and genre
head), once with `--batch 1` (as ORT is run here) and once with the CLI's default batch.
ONNX Runtime runs prepare.py's graph (the same weights, ending at the 1280-d features, so it
skips onesheet's tiny genre head) batch 1, timed two ways: end to end, with JPEG decode and
bilinear resize in Python (PIL, one thread whatever the model's threads), and model only, on
inputs prepared beforehand. Threads: RAYON_NUM_THREADS for onesheet (its decoding and flex
both), intra_op_num_threads for ORT.

Also runs ORT on the bench's input file(s) so the driver can check its features against
onesheet's. Prints one JSON object on stdout.
"""

import argparse
import json
import os
import re
import subprocess
import time

import numpy as np
import onnxruntime as ort
from PIL import Image


def onesheet_rate(binary, bundle, files, threads, batch):
    args = [binary, "classify", "--bench", "--model", bundle]
    if batch:
        args += ["--batch", str(batch)]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    run = subprocess.run(args + files, env=env, capture_output=True, text=True, check=True)
    # "100 posters in 8.41 s: 11.89 posters/s (batch 16, 0 failed)"
    match = re.search(r"(\d+) posters in ([\d.]+) s: ([\d.]+) posters/s \(batch (\d+), (\d+) failed\)", run.stderr)
    if not match:
        raise SystemExit(f"could not read onesheet classify --bench output: {run.stderr!r}")
    count, seconds, rate, used_batch, failed = match.groups()
    if int(failed):
        raise SystemExit(f"onesheet classify failed on {failed} posters")
    return {"posters": int(count), "seconds": float(seconds), "posters_per_s": float(rate), "batch": int(used_batch)}


def session(onnx_path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])


def preprocess(path, width, height):
    """onesheet's preprocessing in PIL: RGB, bilinear resize, x / 127.5 - 1, NCHW."""
    image = Image.open(path).convert("RGB").resize((width, height), Image.BILINEAR)
    return ((np.asarray(image, np.float32) / 127.5 - 1).transpose(2, 0, 1))[None].copy()


def ort_rates(onnx_path, files, threads, width, height):
    sess = session(onnx_path, threads)
    warm = preprocess(files[0], width, height)
    for _ in range(3):
        sess.run(None, {"input": warm})
    start = time.perf_counter()
    for f in files:
        sess.run(None, {"input": preprocess(f, width, height)})
    e2e = time.perf_counter() - start
    inputs = [preprocess(f, width, height) for f in files]
    start = time.perf_counter()
    for x in inputs:
        sess.run(None, {"input": x})
    model = time.perf_counter() - start
    n = len(files)
    return {
        "posters": n,
        "end_to_end_posters_per_s": n / e2e,
        "model_only_posters_per_s": n / model,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--onesheet", required=True, help="the onesheet binary")
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--posters", required=True, help="folder of posters; the first N sorted are used")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--size", required=True, help="WxH, the bundle's input")
    parser.add_argument("--parity-input", action="append", default=[], help="WxH=FILE.f32: ORT's features of it go in the output")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    files = sorted(os.path.join(args.posters, f) for f in os.listdir(args.posters) if f.lower().endswith(".jpg"))[: args.count]

    out = {"posters": len(files), "size": args.size, "onnxruntime": ort.__version__, "threads": {}}
    for threads in map(int, args.threads.split(",")):
        out["threads"][str(threads)] = {
            "onesheet_batch1": onesheet_rate(args.onesheet, args.bundle, files, threads, 1),
            "onesheet_default_batch": onesheet_rate(args.onesheet, args.bundle, files, threads, None),
            "ort": ort_rates(args.onnx, files, threads, width, height),
        }
    parity = {}
    sess = session(args.onnx, 1)
    for spec in args.parity_input:
        size, path = spec.split("=", 1)
        w, h = map(int, size.split("x"))
        x = np.fromfile(path, "<f4").reshape(1, 3, h, w)
        parity[size] = sess.run(None, {"input": x})[0][0].tolist()
    out["ort_features"] = parity
    print(json.dumps(out))


if __name__ == "__main__":
    main()
