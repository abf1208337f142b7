#!/usr/bin/env python3
"""Writes the hostile-frame corpus (crates/stocks-testkit/fixtures/hostile-frames.json) as
seed inputs for `cargo fuzz run client_frame`, plus two valid requests. Used by `make fuzz`."""
import hashlib
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else root / "fuzz/corpus/client_frame")
out.mkdir(parents=True, exist_ok=True)
frames = json.loads((root / "crates/stocks-testkit/fixtures/hostile-frames.json").read_text())["frames"]
seeds = [f["frame"] for f in frames if len(f["frame"]) < 4096] + [
    '{"action":"stocksaction","ticker":"MSFT"}',
    '{"action":"stocksaction","ticker":"brk.a","from":"2024-10-01","to":"2024-10-31","disconnect":false}',
]
for seed in seeds:
    data = seed.encode()
    (out / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
print(f"{len(seeds)} seeds in {out}")
