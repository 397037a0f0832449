"""Builds what the peer runtimes run: onesheet's own backbone, as its bundle ships it.

Writes into the (gitignored) build directory:

- ``mobilenet_v2_features.onnx``: an ONNX graph (NCHW, any height and width) written with
  ``onnx.helper`` from the weights, ending at the 1280-d global-average-pooled features, which is
  what onesheet's ``embedPixels`` returns. ONNX Runtime (Web and native) runs it.
- ``mobilenet_v2_features.safetensors``: the backbone's tensors, f32, torchvision key layout
  (the 1001-class classifier dropped: no runtime here uses it, so no runtime ships it).
  TensorFlow.js builds its graph from this file in the browser (``page/tfjs.js``).
- Their weights are the backbone weights of onesheet's bundle (f16 values, stored as f32):
  f16(pretrained) for the frozen blocks and the fine-tuned values for the blocks the trainer
  fine-tuned, so the peers compute onesheet's function and the parity check tests the graphs,
  not the weights. The graph itself is first checked against ../shared's reference features
  with the exact pretrained f32 weights. Timing does not depend on the values; download sizes
  do: the pretrained weights were dequantized from uint8 and gzip far better than fine-tuned
  ones (prepare.json records both sizes).
- ``input-WxH.f32``: one poster, resized (PIL bilinear) and normalised (x / 127.5 - 1), CHW,
  little-endian f32, for 224x224 and the bundle's own input size. Every runtime gets these
  exact bytes, so their outputs can be compared.
- ``prepare.json``: what was built, and the ONNX graph's own check against the reference.

Two properties of these weights matter (../shared/README.md) and are honoured here as in
onesheet: TensorFlow "SAME" padding on the stride-2 3x3 convolutions (0 top/left, 1
bottom/right for even sizes: ONNX ``auto_pad=SAME_UPPER``), and batch norms that are identities
folded into the convolutions (each norm's bias becomes its convolution's bias; a norm that is
not an identity is refused, as onesheet's loader refuses it).
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from safetensors.numpy import load_file, save_file

# Indices of torchvision's `features.N` blocks that downsample (MobileNetV2's (t, c, n, s) table:
# the first block of the 24-, 32-, 64- and 160-channel stages). The stem (features.0) is stride 2 too.
STRIDE_2_BLOCKS = {2, 4, 7, 14}
LAST_BLOCK = 17
EPS = 1e-5


def folded(weights, conv, norm):
    """A convolution's weight and the bias its (identity) batch norm folds into."""
    gamma = weights[f"{norm}.weight"].astype(np.float64)
    mean = weights[f"{norm}.running_mean"].astype(np.float64)
    var = weights[f"{norm}.running_var"].astype(np.float64)
    if not (np.all(gamma == 1) and np.all(mean == 0) and np.allclose(var + EPS, 1, atol=1e-6)):
        sys.exit(f"{norm} is not an identity batch norm: these are not the weights onesheet expects")
    return weights[f"{conv}.weight"], weights[f"{norm}.bias"]


def conv_norm_pairs(weights):
    """Each torchvision (convolution, batch norm) pair and the bundle's name for the convolution."""
    pairs = [("features.0.0", "features.0.1", "backbone.stem.conv")]
    for i in range(1, LAST_BLOCK + 1):
        p, block = f"features.{i}.conv", f"backbone.blocks.{i - 1}"
        if weights[f"{p}.0.0.weight"].shape[1] != 1:
            pairs += [(f"{p}.0.0", f"{p}.0.1", f"{block}.expand.conv"),
                      (f"{p}.1.0", f"{p}.1.1", f"{block}.depthwise.conv"),
                      (f"{p}.2", f"{p}.3", f"{block}.project")]
        else:
            pairs += [(f"{p}.0.0", f"{p}.0.1", f"{block}.depthwise.conv"),
                      (f"{p}.1", f"{p}.2", f"{block}.project")]
    return pairs + [("features.18.0", "features.18.1", "backbone.last.conv")]


def bundle_backbone(bundle_path, pretrained):
    """The bundle's backbone in torchvision's layout: its folded convolution weights and biases
    (f16, widened to f32) in place of the pretrained ones, behind the same identity norms."""
    bundle = load_file(bundle_path)
    weights = {k: v for k, v in pretrained.items() if k.startswith("features.")}
    for conv, norm, name in conv_norm_pairs(weights):
        folded(weights, conv, norm)  # the identity check, before the norm's bias is replaced
        for ours, theirs in ((f"{conv}.weight", f"{name}.weight"), (f"{norm}.bias", f"{name}.bias")):
            if bundle[theirs].shape != weights[ours].shape:
                sys.exit(f"{bundle_path}: {theirs} is {bundle[theirs].shape}, expected {weights[ours].shape}")
            weights[ours] = bundle[theirs].astype(np.float32)
    return weights


def build_graph(weights, opset=17):
    """The ONNX graph of the MobileNetV2 feature extractor (input NCHW, output [N, 1280])."""
    nodes, inits = [], []
    six = numpy_helper.from_array(np.array(6, np.float32), "six")
    zero = numpy_helper.from_array(np.array(0, np.float32), "zero")
    inits += [six, zero]

    def conv(x, name, w, b, *, stride=1, groups=1, relu6=True):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(w, np.float32), f"{name}.w"))
        inits.append(numpy_helper.from_array(np.ascontiguousarray(b, np.float32), f"{name}.b"))
        k = w.shape[-1]
        attrs = {"kernel_shape": [k, k], "strides": [stride, stride], "group": groups}
        if k == 3:
            # TF "SAME": for stride 2 the odd extra row/column goes to the bottom/right.
            attrs["auto_pad"] = "SAME_UPPER"
        out = f"{name}.conv"
        nodes.append(helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [out], name=name, **attrs))
        if not relu6:
            return out
        nodes.append(helper.make_node("Clip", [out, "zero", "six"], [f"{name}.relu6"], name=f"{name}.relu6"))
        return f"{name}.relu6"

    x = conv("input", "stem", *folded(weights, "features.0.0", "features.0.1"), stride=2)
    channels = weights["features.0.0.weight"].shape[0]
    for i in range(1, LAST_BLOCK + 1):
        p = f"features.{i}.conv"
        stride = 2 if i in STRIDE_2_BLOCKS else 1
        block_in = x
        if f"{p}.0.0.weight" in weights and weights[f"{p}.0.0.weight"].shape[1] != 1:
            # Expansion ratio 6: 1x1 expand, 3x3 depthwise, 1x1 project.
            x = conv(x, f"b{i}.expand", *folded(weights, f"{p}.0.0", f"{p}.0.1"))
            dw, pw, pn = (f"{p}.1.0", f"{p}.1.1"), f"{p}.2", f"{p}.3"
        else:
            # Expansion ratio 1 (the first block): no expand convolution.
            dw, pw, pn = (f"{p}.0.0", f"{p}.0.1"), f"{p}.1", f"{p}.2"
        w, b = folded(weights, *dw)
        x = conv(x, f"b{i}.depthwise", w, b, stride=stride, groups=w.shape[0])
        w, b = folded(weights, pw, pn)
        x = conv(x, f"b{i}.project", w, b, relu6=False)
        if stride == 1 and channels == w.shape[0]:
            nodes.append(helper.make_node("Add", [x, block_in], [f"b{i}.residual"], name=f"b{i}.residual"))
            x = f"b{i}.residual"
        channels = w.shape[0]
    x = conv(x, "last", *folded(weights, "features.18.0", "features.18.1"))
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))

    graph = helper.make_graph(
        nodes,
        "mobilenet_v2_1.0_features",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 1280])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="onesheet-bench")
    # IR 8 with opset 17: what ONNX Runtime Web of the pinned version and native ORT both load.
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def run(model_bytes, x):
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def relative(actual, expected):
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


def poster_input(path, width, height):
    """What onesheet's preprocessing computes (bilinear resize, x / 127.5 - 1), CHW f32."""
    image = Image.open(path).convert("RGB").resize((width, height), Image.BILINEAR)
    return (np.asarray(image, np.float32) / 127.5 - 1).transpose(2, 0, 1).copy()


def bundle_input(path):
    """The bundle manifest's input size, WxH (the safetensors header's metadata)."""
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    spec = json.loads(header["__metadata__"]["onesheet.manifest"])["input"]
    return f"{spec['width']}x{spec['height']}"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    shared = os.environ.get("ONESHEET_SHARED", os.path.join(here, "..", "..", "shared"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=os.path.join(shared, "weights/mobilenet_v2_1.0_224/mobilenet_v2_1.0_224.safetensors"))
    parser.add_argument("--reference", default=os.path.join(shared, "reference/mobilenet_v2/reference.safetensors"))
    parser.add_argument("--poster", required=True, help="the poster every runtime is given")
    parser.add_argument("--bundle", default=os.path.join(here, "..", "models", "onesheet.safetensors"),
                        help="onesheet's bundle: its manifest's input size is the poster size")
    parser.add_argument("--sizes", help="WxH inputs to write (default: 224x224 and the bundle's input)")
    parser.add_argument("--out", default=os.path.join(here, "build"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.time()

    pretrained = load_file(args.weights)
    backbone = {k: v for k, v in pretrained.items() if k.startswith("features.")}
    rounded = {k: v.astype(np.float16).astype(np.float32) for k, v in backbone.items()}
    # Norm statistics stay exact: the identity check needs them, and no runtime computes with them.
    for k in rounded:
        if "running_" in k or (k.endswith(".weight") and backbone[k].ndim == 1):
            rounded[k] = backbone[k]
    shipped = bundle_backbone(args.bundle, pretrained)

    # The graph's own check, with the exact f32 weights, against the float64 NumPy reference
    # (which documents about 1e-4 relative error for a correct f32 implementation).
    reference = load_file(args.reference)
    exact = build_graph(backbone).SerializeToString()
    checks = {}
    for key in sorted(k for k in reference if k.startswith("input.")):
        name = key[len("input."):]
        got = run(exact, reference[key][None].astype(np.float32))[0]
        checks[name] = relative(got, reference[f"features.{name}"].astype(np.float32))
    worst = max(checks.values())
    print(f"ONNX graph vs ../shared reference features (exact f32 weights): max relative error {worst:.2e}")
    if worst > 1e-3:
        sys.exit("the ONNX graph does not reproduce the reference features: refusing to benchmark it")

    onnx_path = os.path.join(args.out, "mobilenet_v2_features.onnx")
    onnx.save(build_graph(shipped), onnx_path)
    save_file(shipped, os.path.join(args.out, "mobilenet_v2_features.safetensors"))
    # What a peer shipping the exact f32 weights would download, against what the bench serves.
    gzip_sizes = {
        "exact_f32_onnx": len(gzip.compress(exact, 9)),
        "served_onnx": len(gzip.compress(build_graph(shipped).SerializeToString(), 9)),
    }

    inputs = {}
    sizes = args.sizes.split(",") if args.sizes else ["224x224", bundle_input(args.bundle)]
    for size in sizes:
        width, height = map(int, size.split("x"))
        x = poster_input(args.poster, width, height)
        x.astype("<f4").tofile(os.path.join(args.out, f"input-{width}x{height}.f32"))
        inputs[size] = {"file": f"input-{width}x{height}.f32"}
    # How far f16 rounding of the pretrained weights moves the features (what f16 storage costs).
    probe = reference[sorted(k for k in reference if k.startswith("input."))[0]][None].astype(np.float32)
    f16_effect = relative(run(build_graph(rounded).SerializeToString(), probe), run(exact, probe))

    info = {
        "weights": os.path.abspath(args.bundle),
        "weights_precision": "the bundle's backbone: f16 values, fine-tuned blocks included, stored f32",
        "gzip_bytes": gzip_sizes,
        "poster": os.path.abspath(args.poster),
        "inputs": inputs,
        "reference_check_max_rel": worst,
        "f16_rounding_effect_rel": f16_effect,
        "onnx": {"opset": 17, "ir_version": 8, "bytes": os.path.getsize(onnx_path)},
        "seconds": round(time.time() - started, 1),
    }
    with open(os.path.join(args.out, "prepare.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"f16 rounding of the weights moves the features by {f16_effect:.2e} (relative)")


if __name__ == "__main__":
    main()
