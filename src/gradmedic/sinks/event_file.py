"""A TensorBoard event file written from the caller's thread, in whole records.

TensorBoard's own writer hands records to a background thread, which prints a traceback when the disk
fills up or the folder disappears. This one has no thread: records are framed here (TFRecord: length,
masked CRC-32C of the length, data, masked CRC-32C of the data), gathered in memory and appended
with ``WholeFile`` at each flush, so a write error reaches the caller, who switches the sink off.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from pathlib import Path

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary

from .whole_file import WholeFile

_COUNTER = itertools.count()


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)  # Castagnoli polynomial, reflected
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The checksum as TFRecord stores it: rotated right by 15 bits, plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


class EventFile:
    """``logdir/events.out.tfevents.<time>.<host>.<pid>.<n>.gradmedic``, written in whole records.

    The ``.gradmedic`` suffix keeps the name apart from the files of another writer in the same folder
    (Lightning's or Keras's own TensorBoard logger, started in the same second by the same process).

    ``add`` keeps a summary in memory; ``flush`` appends what was kept, and runs by itself at the first
    ``add`` and then once ``flush_secs`` have passed since the last one.
    """

    def __init__(self, logdir: str | Path, flush_secs: float = 30.0) -> None:
        folder = Path(logdir)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_COUNTER)}.gradmedic"
        self._file = WholeFile(folder / name, exclusive=True)
        self.path = self._file.path
        self._pending = bytearray()
        self._flush_secs = flush_secs
        self._next_flush = 0.0
        self._add(Event(wall_time=time.time(), file_version="brain.Event:2"))  # written with the first flush

    def _add(self, event: Event) -> None:
        if self._file.closed:
            raise ValueError(f"{self.path} is closed")
        self._pending += tfrecord(event.SerializeToString())

    def add(self, summary: Summary, step: int) -> None:
        self._add(Event(wall_time=time.time(), step=step, summary=summary))
        if time.monotonic() >= self._next_flush:
            self.flush()

    def flush(self) -> None:
        """Append what was kept, whole; on a write error it stays kept, to be tried again at close."""
        if self._pending:
            self._file.write(bytes(self._pending))
            self._pending.clear()
        self._next_flush = time.monotonic() + self._flush_secs

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self.flush()
        finally:
            self._file.close()
