"""all-MiniLM-L6-v2 as an ONNX Runtime graph, fp32 or int8, for ingest.

Ingest time is embedding time. Exporting the model through torch is fragile
(the tracer bakes sequence lengths into the graph), so the graph is written
here directly from the bundled safetensors weights: the same BERT arithmetic
as `query_encoder`, with onnxruntime's fused transformer operators for
embeddings, attention and GELU, and the standard LayerNormalization (faster
here than the fused residual one). Those keep the vectors of the plain-ONNX
graph (to 1e-7 cosine) but never hold a (batch, heads, seq, seq) score tensor
per step, which is what made the plain graph slow and large without a memory
arena.
The int8 variant is onnxruntime's dynamic quantization of that graph's
matrix products. Both are built once, offline, into the models directory
and reused.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from assistant.disk import disk_full, out_of_space, require_space

Precision = Literal["fp32", "int8"]
# 2: onnxruntime's fused transformer operators instead of plain ONNX ones.
# 3: the residual LayerNorms as Add + LayerNormalization, not SkipLayerNormalization.
GRAPH_VERSION = 3
# onnxruntime's own operators: fused embeddings, attention and GELU.
_FUSED_OPS = "com.microsoft"
_LOCK = threading.Lock()
_SESSIONS: dict[Path, Any] = {}


def _build_graph(model_dir: Path) -> Any:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    eps = float(config["layer_norm_eps"])
    w = load_file(str(model_dir / "model.safetensors"))
    w = {name.removeprefix("bert."): value for name, value in w.items()}

    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], name: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(
            helper.make_node(op, inputs, [name], name=name + "_op", domain=domain, **attrs)
        )
        return name

    def fused(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        return node(op, inputs, name, domain=_FUSED_OPS, **attrs)

    def matmul(x: str, prefix: str, out: str) -> str:
        weight = const(prefix + ".weight_t", np.ascontiguousarray(w[prefix + ".weight"].T))
        return node("MatMul", [x, weight], out)

    def bias(prefix: str) -> str:
        return const(prefix + ".bias", w[prefix + ".bias"])

    def residual_layer_norm(x: str, residual: str, dense: str, norm: str, out: str) -> str:
        # LayerNorm(x + dense bias + residual). onnxruntime's fused
        # SkipLayerNormalization does the same in one op but ran 3x slower on
        # this CPU than the two Adds and the standard LayerNormalization.
        summed = node("Add", [node("Add", [x, bias(dense)], out + "_b"), residual], out + "_r")
        gain = const(norm + ".weight", w[norm + ".weight"])
        return node("LayerNormalization", [summed, gain, bias(norm)], out, axis=-1, epsilon=eps)

    # Embeddings: word + position + token type 0, then LayerNorm, as one op.
    # Every token has type 0, so that row is folded into the position table.
    # The op also turns the mask into each row's length, which Attention takes
    # as its mask: `OnnxMiniLM.encode` pads on the right only.
    positions = (
        w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    )
    emb = "embeddings.LayerNorm"
    nodes.append(
        helper.make_node(
            "EmbedLayerNormalization",
            [
                node("Cast", ["input_ids"], "ids32", to=TensorProto.INT32),
                "",
                const("word_emb", w["embeddings.word_embeddings.weight"]),
                const("pos_emb", positions),
                "",
                const(emb + ".weight", w[emb + ".weight"]),
                bias(emb),
                node("Cast", ["attention_mask"], "mask32", to=TensorProto.INT32),
            ],
            ["emb", "lengths"],
            name="emb_op",
            domain=_FUSED_OPS,
            epsilon=eps,
        )
    )
    x = "emb"

    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        t = f"l{i}_"
        # Q, K and V projections packed side by side: one (hidden, 3 * hidden)
        # product, then scaled dot-product attention per head, in one op.
        qkv = [p + f"attention.self.{name}" for name in ("query", "key", "value")]
        qkv_weight = np.concatenate([w[name + ".weight"].T for name in qkv], axis=1)
        qkv_bias = np.concatenate([w[name + ".bias"] for name in qkv])
        context = fused(
            "Attention",
            [
                x,
                const(t + "qkv.weight_t", np.ascontiguousarray(qkv_weight)),
                const(t + "qkv.bias", qkv_bias),
                "lengths",
            ],
            t + "ctx",
            num_heads=heads,
        )
        dense = p + "attention.output.dense"
        attn = matmul(context, dense, t + "attn")
        x = residual_layer_norm(attn, x, dense, p + "attention.output.LayerNorm", t + "x1")
        # BiasGelu is the exact (erf) GELU, as BERT defines it, not FastGelu's tanh.
        up = p + "intermediate.dense"
        gelu = fused("BiasGelu", [matmul(x, up, t + "up"), bias(up)], t + "gelu")
        dense = p + "output.dense"
        down = matmul(gelu, dense, t + "down")
        x = residual_layer_norm(down, x, dense, p + "output.LayerNorm", t + "x2")

    nodes.append(helper.make_node("Identity", [x], ["hidden"], name="out"))
    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", hidden])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(_FUSED_OPS, 1)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def model_file(model_dir: Path, cache_dir: Path, precision: Precision) -> Path:
    """The ONNX file for `precision`, built from the weights on first use.

    A file is written under a temporary name and renamed when whole, beside a
    note of its size: a cached file of another size (cut short by a full disk or
    a copy) is built again rather than loaded.

    Raises:
        DiskFullError: no room to build it (what was half written is removed).
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    fp32 = cache_dir / f"minilm-v{GRAPH_VERSION}-fp32.onnx"
    target = fp32 if precision == "fp32" else cache_dir / f"minilm-v{GRAPH_VERSION}-int8.onnx"
    if is_whole(target):
        return target
    need = _BUILD_SPACE[precision] - (fp32.stat().st_size if is_whole(fp32) else 0)
    require_space(cache_dir, need)
    try:
        _build(model_dir, fp32, target, precision)
    except Exception as exc:
        _remove_partial(cache_dir)
        if out_of_space(exc, cache_dir):
            raise disk_full(cache_dir, need) from exc
        raise
    return target


# Room a first build takes: the fp32 file (86 MB), for int8 also the quantizer's
# shape-inferred copy of it (86 MB, removed after) and the int8 file (22 MB).
_BUILD_SPACE: dict[str, int] = {"fp32": 100 << 20, "int8": 220 << 20}


def _size_note(path: Path) -> Path:
    return path.with_name(path.name + ".size")


def is_whole(path: Path) -> bool:
    """Whether a built model file exists with the size recorded when it was built.

    A file built before size notes counts as whole: loading it checks it (see
    `OnnxMiniLM`), and a good one then gains its note.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return False
    try:
        return size == int(_size_note(path).read_text(encoding="ascii"))
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False


def discard(path: Path) -> None:
    """Remove a cached model file that does not load, so that it is built again."""
    path.unlink(missing_ok=True)
    _size_note(path).unlink(missing_ok=True)


def _finish(tmp: Path, path: Path) -> None:
    size = tmp.stat().st_size
    tmp.replace(path)
    _size_note(path).write_text(str(size), encoding="ascii")


def _remove_partial(cache_dir: Path) -> None:
    for pattern in ("*.tmp", "*-inferred.onnx"):
        for leftover in cache_dir.glob(pattern):
            leftover.unlink(missing_ok=True)


def _build(model_dir: Path, fp32: Path, target: Path, precision: Precision) -> None:
    if not is_whole(fp32):
        import onnx

        tmp = fp32.with_suffix(".tmp")
        onnx.save(_build_graph(model_dir), str(tmp))
        _finish(tmp, fp32)
    if precision == "int8":
        from onnx import TensorProto
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = target.with_suffix(".tmp")
        # The quantizer logs advice on the root logger; a user has no use for it.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            # Per-channel scales keep MiniLM's vectors at about 0.994 cosine
            # to fp32; one scale per tensor falls to about 0.94.
            quantize_dynamic(
                str(fp32),
                str(tmp),
                weight_type=QuantType.QInt8,
                per_channel=True,
                # ONNX's shape inference cannot type the outputs of
                # onnxruntime's own operators; all of them are float.
                extra_options={"DefaultTensorType": TensorProto.FLOAT},
            )
        finally:
            root.setLevel(level)
        _finish(tmp, target)


class OnnxMiniLM:
    """Batches of texts through ONNX Runtime, sorted by length to waste no padding."""

    def __init__(
        self, model_dir: Path, cache_dir: Path, precision: Precision, max_tokens: int = 256
    ) -> None:
        from tokenizers import Tokenizer

        self.path = model_file(model_dir, cache_dir, precision)
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer = tokenizer
        try:
            self.session = _session(self.path)
        except Exception:  # onnxruntime's own types: InvalidProtobuf, Fail, ...
            # A cached file damaged after it was built (or before size notes):
            # built again once from the bundled weights, then loaded.
            discard(self.path)
            if precision == "int8":
                discard(cache_dir / f"minilm-v{GRAPH_VERSION}-fp32.onnx")
            self.path = model_file(model_dir, cache_dir, precision)
            self.session = _session(self.path)
        if not _size_note(self.path).exists():
            _size_note(self.path).write_text(str(self.path.stat().st_size), encoding="ascii")

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length mean-pooled vectors in input order, float32."""
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(encodings), 384), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            hidden = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask}, _run_options()
            )[0]
            summed = (hidden * mask[..., None]).sum(axis=1)
            pooled = summed / mask.sum(axis=1, keepdims=True)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled / norms
        return out


def _run_options() -> Any:
    import onnxruntime as ort

    options = ort.RunOptions()
    # The memory arena reuses buffers within a batch (about 1.1x faster than
    # none) and, shrunk after each run, does not keep the largest batch's
    # activations for good.
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def _session(path: Path) -> Any:
    with _LOCK:
        if path not in _SESSIONS:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            _SESSIONS[path] = ort.InferenceSession(
                str(path),
                options,
                providers=["CPUExecutionProvider"],
                # Left alone, the optimizer fuses the residual LayerNorms back
                # into SkipLayerNormalization (see _build_graph).
                disabled_optimizers=["SkipLayerNormFusion"],
            )
        return _SESSIONS[path]
