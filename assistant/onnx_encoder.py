"""all-MiniLM-L6-v2 as an ONNX Runtime graph, fp32 or int8, for ingest.

Ingest time is embedding time. Exporting the model through torch is fragile
(the tracer bakes sequence lengths into the graph), so the graph is written
here directly from the bundled safetensors weights: the same BERT arithmetic
as `query_encoder`, as ONNX operators. The int8 variant is onnxruntime's
dynamic quantization of that graph's matrix products. Both are built once,
offline, into the models directory and reused.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

Precision = Literal["fp32", "int8"]
_GRAPH_VERSION = 1
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
    head_dim = hidden // heads
    w = load_file(str(model_dir / "model.safetensors"))
    w = {name.removeprefix("bert."): value for name, value in w.items()}

    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name + "_op", **attrs))
        return name

    def linear(x: str, prefix: str, out: str) -> str:
        weight = const(prefix + ".weight_t", np.ascontiguousarray(w[prefix + ".weight"].T))
        bias = const(prefix + ".bias", w[prefix + ".bias"])
        return node("Add", [node("MatMul", [x, weight], out + "_mm"), bias], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        gain = const(prefix + ".weight", w[prefix + ".weight"])
        bias = const(prefix + ".bias", w[prefix + ".bias"])
        return node("LayerNormalization", [x, gain, bias], out, axis=-1, epsilon=eps)

    # Embeddings: word + position + token type 0, then LayerNorm.
    words = node(
        "Gather", [const("word_emb", w["embeddings.word_embeddings.weight"]), "input_ids"], "words"
    )
    shape = node("Shape", ["input_ids"], "ids_shape")
    seq_len = node("Gather", [shape, const("one", np.array(1, dtype=np.int64))], "seq_len", axis=0)
    positions = node(
        "Range",
        [const("zero", np.array(0, dtype=np.int64)), seq_len, const("step", np.array(1, np.int64))],
        "positions",
    )
    pos = node(
        "Gather",
        [const("pos_emb", w["embeddings.position_embeddings.weight"]), positions],
        "pos",
    )
    token_type = const("type_emb", w["embeddings.token_type_embeddings.weight"][0])
    summed = node("Add", [node("Add", [words, pos], "words_pos"), token_type], "emb_sum")
    x = layer_norm(summed, "embeddings.LayerNorm", "emb")

    # Padding: a large negative bias on masked keys, shape (batch, 1, 1, seq).
    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inverted = node("Sub", [const("f_one", np.array(1.0, np.float32)), mask_f], "mask_inv")
    bias = node("Mul", [inverted, const("neg", np.array(-1e9, np.float32))], "mask_bias_2d")
    mask_bias = node("Unsqueeze", [bias, const("axes_12", np.array([1, 2], np.int64))], "mask_bias")
    split_heads = const("split_heads", np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = const("merge_heads", np.array([0, 0, hidden], np.int64))
    scale = const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    half = const("half", np.array(0.5, np.float32))
    inv_sqrt2 = const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))

    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        t = f"l{i}_"
        q = node("Reshape", [linear(x, p + "attention.self.query", t + "q"), split_heads], t + "qh")
        k = node("Reshape", [linear(x, p + "attention.self.key", t + "k"), split_heads], t + "kh")
        v = node("Reshape", [linear(x, p + "attention.self.value", t + "v"), split_heads], t + "vh")
        q = node("Transpose", [q], t + "qt", perm=[0, 2, 1, 3])
        k = node("Transpose", [k], t + "kt", perm=[0, 2, 3, 1])
        v = node("Transpose", [v], t + "vt", perm=[0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], t + "qk"), scale], t + "scaled")
        probs = node("Softmax", [node("Add", [scores, mask_bias], t + "masked")], t + "p", axis=-1)
        context = node(
            "Transpose", [node("MatMul", [probs, v], t + "ctx")], t + "ctx_t", perm=[0, 2, 1, 3]
        )
        context = node("Reshape", [context, merge_heads], t + "ctx_m")
        attn = linear(context, p + "attention.output.dense", t + "attn")
        x = layer_norm(
            node("Add", [attn, x], t + "res1"), p + "attention.output.LayerNorm", t + "x1"
        )
        up = linear(x, p + "intermediate.dense", t + "up")
        # Exact (erf) GELU, as BERT defines it.
        erf = node("Erf", [node("Mul", [up, inv_sqrt2], t + "up_s")], t + "erf")
        gelu = node(
            "Mul",
            [node("Mul", [up, half], t + "up_h"), node("Add", [erf, "f_one"], t + "erf1")],
            t + "gelu",
        )
        down = linear(gelu, p + "output.dense", t + "down")
        x = layer_norm(node("Add", [down, x], t + "res2"), p + "output.LayerNorm", t + "x2")

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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def model_file(model_dir: Path, cache_dir: Path, precision: Precision) -> Path:
    """The ONNX file for `precision`, built from the weights on first use."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    fp32 = cache_dir / f"minilm-v{_GRAPH_VERSION}-fp32.onnx"
    target = fp32 if precision == "fp32" else cache_dir / f"minilm-v{_GRAPH_VERSION}-int8.onnx"
    if target.exists():
        return target
    if not fp32.exists():
        import onnx

        tmp = fp32.with_suffix(".tmp")
        onnx.save(_build_graph(model_dir), str(tmp))
        tmp.replace(fp32)
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = target.with_suffix(".tmp")
        # The quantizer logs advice on the root logger; a user has no use for it.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            # Per-channel scales keep MiniLM's vectors at about 0.994 cosine
            # to fp32; one scale per tensor falls to about 0.94.
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)
        tmp.replace(target)
    return target


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
        self.session = _session(self.path)

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
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            summed = (hidden * mask[..., None]).sum(axis=1)
            pooled = summed / mask.sum(axis=1, keepdims=True)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled / norms
        return out


def _session(path: Path) -> Any:
    with _LOCK:
        if path not in _SESSIONS:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            # The arena keeps the largest batch's activations for good; without
            # it memory returns to the allocator between batches.
            options.enable_cpu_mem_arena = False
            _SESSIONS[path] = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        return _SESSIONS[path]
