"""Sinks take records and write them: console, JSONL (the canonical record) and TensorBoard."""
