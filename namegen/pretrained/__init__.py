"""The pre-built models: ONNX exports (NAME.onnx, NAME.scorer.onnx) of built-in plugins fitted on
the bundled data, and manifest.json, which describes them. Load one with
`namegen.runtime.load_pretrained(NAME)`; scripts/build_pretrained.py rebuilds them."""
