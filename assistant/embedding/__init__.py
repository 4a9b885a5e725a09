"""MiniLM, run offline: an ONNX graph for ingest, NumPy for questions."""
