"""The adapter format: adapter folders (artifacts), the Hub (model cards, download, upload),
atomic file writes, and ONNX export."""
