"""Minimal reader for the sorted-string-table ``.index`` file of a tensor bundle.

Test helper only: it lets the tests look at raw bundle entries (shard id, offset,
size) that TensorFlow's Python API does not expose.  Entries are decoded with
TensorFlow's own generated protobuf classes.  Block checksums are not checked.
"""

import struct

_MAGIC = 0xDB4775248B80FB57


def varint(buf, pos):
    """The varint at buf[pos]: (value, position after it)."""
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
    offset, pos = varint(buf, pos)
    size, pos = varint(buf, pos)
    return offset, size, pos


def _block_entries(block):
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    pos = 0
    key = b""
    while pos < end:
        shared, pos = varint(block, pos)
        non_shared, pos = varint(block, pos)
        value_len, pos = varint(block, pos)
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        value = block[pos:pos + value_len]
        pos += value_len
        yield key, value


def snappy_decompress(buf):
    """Decodes a raw Snappy block (old TF versions wrote Snappy-compressed index blocks)."""
    length, pos = varint(buf, 0)
    out = bytearray()
    while pos < len(buf):
        tag = buf[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            n = tag >> 2
            if n >= 60:
                extra = n - 59
                n = int.from_bytes(buf[pos:pos + extra], "little")
                pos += extra
            n += 1
            out += buf[pos:pos + n]
            pos += n
            continue
        if kind == 1:  # copy, 1-byte offset
            n = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | buf[pos]
            pos += 1
        else:  # copy, 2- or 4-byte offset
            width = 2 if kind == 2 else 4
            n = (tag >> 2) + 1
            offset = int.from_bytes(buf[pos:pos + width], "little")
            pos += width
        if offset == 0 or offset > len(out):
            raise ValueError("bad snappy copy offset")
        for _ in range(n):  # byte by byte: copies may overlap their own output
            out.append(out[-offset])
    if len(out) != length:
        raise ValueError("snappy length mismatch")
    return bytes(out)


def _read_block(data, offset, size):
    kind = data[offset + size]
    block = data[offset:offset + size]
    if kind == 0:
        return block
    if kind == 1:
        return snappy_decompress(block)
    raise ValueError("unknown block type %d" % kind)


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
