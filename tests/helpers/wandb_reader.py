"""Reads the history rows of an offline W&B run (`run-*.wandb`) without network or wandb-core.

The file is a 7-byte header (":W&B", magic, version) followed by LevelDB-log framed records (32 KiB
blocks; each fragment: crc32 (4), length (2, little-endian), type (1: full, 2: first, 3: middle,
4: last)) holding `wandb_internal_pb2.Record` protobufs.
"""

import json
import time
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024


def _records(data: bytes):
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < 7:
            pos += left_in_block
            continue
        length = int.from_bytes(data[pos + 4:pos + 6], "little")
        kind = data[pos + 6]
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:  # zero padding
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0
            continue
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk
            pending = b""


def wait_complete(run_file: str | Path, timeout: float = 60.0) -> bytes:
    """The run file's bytes once W&B has written its exit record: the file is completed by W&B's
    own process, sometimes after `finish()` has returned (and later on a busy machine)."""
    deadline = time.monotonic() + timeout
    while True:
        data = Path(run_file).read_bytes()
        for raw in _records(data):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(raw)
            if record.WhichOneof("record_type") == "exit":
                return data
        if time.monotonic() > deadline:
            return data
        time.sleep(0.2)


def history(run_file: str | Path) -> list[dict]:
    rows = []
    for raw in _records(wait_complete(run_file)):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") == "history":
            rows.append({(item.key or "/".join(item.nested_key)): json.loads(item.value_json)
                         for item in record.history.item})
    return rows


def config(run_file: str | Path) -> dict:
    out = {}
    for raw in _records(wait_complete(run_file)):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") == "config":
            for item in record.config.update:
                out[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return out


def records(run_file: str | Path, kind: str) -> list:
    """Every record of one kind ("metric", "artifact", "summary", "history", ...) as protobufs."""
    out = []
    for raw in _records(wait_complete(run_file)):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") == kind:
            out.append(getattr(record, kind))
    return out
