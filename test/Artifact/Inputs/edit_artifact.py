"""Writes a damaged or altered copy of a .onebit artifact, for the loader's
error tests (docs/artifacts.md has the layout):

  edit_artifact.py IN OUT --truncate N        the first N bytes
  edit_artifact.py IN OUT --format-version V  another container version
  edit_artifact.py IN OUT --corrupt-code      one byte of the code flipped
  edit_artifact.py IN OUT --add-feature NAME  one more required CPU feature
  edit_artifact.py IN OUT --runtime-abi N     another runtime ABI

The last two rewrite the metadata and lay the sections out again, with the
checksum recomputed, so that only the edited field is wrong.
"""
import argparse
import struct

HEADER, ENTRY, PAGE = 64, 24, 4096
META, CODE, CONSTANTS, TOKENIZER = 1, 2, 3, 4


def fnv1a(data, h):
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def sections(blob):
    count = struct.unpack_from("<I", blob, 12)[0]
    out = []
    for i in range(count):
        kind, _, off, size = struct.unpack_from("<IIQQ", blob, HEADER + i * ENTRY)
        out.append([kind, blob[off:off + size]])
    return out


def layout(version, parts):
    at = HEADER + len(parts) * ENTRY
    offsets = []
    for kind, data in parts:
        align = PAGE if kind == CONSTANTS else 64
        at = (at + align - 1) // align * align
        offsets.append(at)
        at += len(data)
    checksum = 0xcbf29ce484222325
    for kind, data in parts:
        if kind != CONSTANTS:
            checksum = fnv1a(data, checksum)
    out = bytearray(at)
    out[0:8] = b"ONEBITAF"
    struct.pack_into("<IIQQ", out, 8, version, len(parts), at, checksum)
    for i, ((kind, data), off) in enumerate(zip(parts, offsets)):
        struct.pack_into("<IIQQ", out, HEADER + i * ENTRY, kind, 0, off, len(data))
        out[off:off + len(data)] = data
    return bytes(out)


def edit_metadata(meta, feature=None, abi=None):
    """The metadata with another runtime ABI, or one more CPU feature."""
    meta = bytearray(meta)
    if abi is not None:
        struct.pack_into("<I", meta, 0, abi)
    if feature is None:
        return bytes(meta)
    pos = 4
    for _ in range(3):  # producer, target, target CPU
        pos += 8 + struct.unpack_from("<Q", meta, pos)[0]
    count = struct.unpack_from("<I", meta, pos)[0]
    struct.pack_into("<I", meta, pos, count + 1)
    at = pos + 4
    for _ in range(count):
        at += 8 + struct.unpack_from("<Q", meta, at)[0]
    name = feature.encode()
    return bytes(meta[:at]) + struct.pack("<Q", len(name)) + name + bytes(meta[at:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--truncate", type=int)
    ap.add_argument("--format-version", type=int)
    ap.add_argument("--corrupt-code", action="store_true")
    ap.add_argument("--add-feature")
    ap.add_argument("--runtime-abi", type=int)
    a = ap.parse_args()
    blob = open(a.input, "rb").read()
    if a.truncate is not None:
        blob = blob[:a.truncate]
    elif a.format_version is not None:
        blob = blob[:8] + struct.pack("<I", a.format_version) + blob[12:]
    elif a.corrupt_code:
        code = next(off for kind, _, off, _ in
                    (struct.unpack_from("<IIQQ", blob, HEADER + i * ENTRY)
                     for i in range(struct.unpack_from("<I", blob, 12)[0]))
                    if kind == CODE)
        blob = bytearray(blob)
        blob[code + 100] ^= 0xFF
        blob = bytes(blob)
    else:
        version = struct.unpack_from("<I", blob, 8)[0]
        parts = sections(blob)
        for p in parts:
            if p[0] == META:
                p[1] = edit_metadata(p[1], a.add_feature, a.runtime_abi)
        blob = layout(version, parts)
    open(a.output, "wb").write(blob)


if __name__ == "__main__":
    main()
