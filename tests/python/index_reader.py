"""Minimal reader for the sorted-string-table ``.index`` file of a tensor bundle.

Test helper only: it lets the tests look at raw bundle entries (shard id, offset,
size) that TensorFlow's Python API does not expose.  Entries are decoded with
TensorFlow's own generated protobuf classes.  Uncompressed blocks only.
"""

import struct

_MAGIC = 0xDB4775248B80FB57


def _varint(buf, pos):
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _block_handle(buf, pos):
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _block_entries(block):
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    pos = 0
    key = b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        value = block[pos:pos + value_len]
        pos += value_len
        yield key, value


def _read_block(data, offset, size):
    kind = data[offset + size]
    if kind != 0:
        raise ValueError("compressed block (type %d) not supported by this helper" % kind)
    return data[offset:offset + size]


def raw_entries(index_path):
    """Yields (key, value_bytes) for every entry of the table, in key order."""
    with open(index_path, "rb") as f:
        data = f.read()
    footer = data[-48:]
    lo, hi = struct.unpack_from("<II", footer, 40)
    if (hi << 32 | lo) != _MAGIC:
        raise ValueError("bad magic")
    _, _, pos = _block_handle(footer, 0)
    idx_off, idx_size, _ = _block_handle(footer, pos)
    for _, handle in _block_entries(_read_block(data, idx_off, idx_size)):
        off, size, _ = _block_handle(handle, 0)
        yield from _block_entries(_read_block(data, off, size))


def read_index(index_path):
    """Returns (header, {key_bytes: BundleEntryProto}) using TF's proto classes."""
    from tensorflow.core.protobuf import tensor_bundle_pb2

    header = None
    entries = {}
    for key, value in raw_entries(index_path):
        if key == b"":
            header = tensor_bundle_pb2.BundleHeaderProto.FromString(value)
        else:
            entries[key] = tensor_bundle_pb2.BundleEntryProto.FromString(value)
    return header, entries
