"""Pure text processing: windows and offsets, tables (CSV/JSONL/Parquet), QA span decoding and
SQuAD metrics. No torch, no gradio, no model: every function is tested with hand-built inputs."""
