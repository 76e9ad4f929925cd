"""Writes a copy of an MLIR bytecode file whose attribute/type offset section
lists more attributes in its first dialect group than the section declares:
the input MLIR 22's reader writes out of bounds on (BytecodeCheck.h).
usage: overcount_bytecode.py IN OUT"""
import sys


def varint(d, i):
    b = d[i]
    if b & 1:
        return b >> 1, i + 1
    if b == 0:
        return int.from_bytes(d[i + 1:i + 9], "little"), i + 9
    n = (b & -b).bit_length() - 1
    return int.from_bytes(d[i:i + n + 1], "little") >> (n + 1), i + n + 1


def main():
    d = bytearray(open(sys.argv[1], "rb").read())
    assert d[:4] == b"ML\xefR", "not MLIR bytecode"
    _, i = varint(d, 4)
    i = d.index(0, i) + 1  # producer string
    while i < len(d):
        sid, i = d[i], i + 1
        length, i = varint(d, i)
        if sid & 0x80:
            align, i = varint(d, i)
            while i % align:
                i += 1
        if sid & 0x7F == 3:
            attrs, j = varint(d, i)
            _, j = varint(d, j)  # types
            _, j = varint(d, j)  # the first group's dialect
            count = attrs + 40
            assert d[j] & 1 and count < 128, "a one-byte count expected"
            d[j] = count << 1 | 1
            open(sys.argv[2], "wb").write(d)
            print(f"first group lists {count} of {attrs} attributes")
            return
        i += length
    sys.exit("no attribute/type offset section")


main()
