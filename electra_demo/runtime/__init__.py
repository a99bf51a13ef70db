"""Loading and running one slot: checkpoints (:mod:`.models`), backends (PyTorch, ONNX Runtime,
CUDA; :mod:`.backends`), the export cache, micro-batching, warm-up and the Hub's reachability."""
