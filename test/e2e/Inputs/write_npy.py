"""Writes a .npy file with a given header and raw data, for headers numpy
itself would not write (shapes that do not match the data).

usage: write_npy.py PATH DESCR SHAPE NBYTES   (SHAPE: comma-separated dims)
"""
import sys

path, descr, shape, nbytes = sys.argv[1:5]
dims = [d for d in shape.split(",") if d]
text = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr,
                                                                      text)
header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
with open(path, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little"))
    f.write(header.encode("latin1"))
    f.write(bytes(range(256)) * (int(nbytes) // 256) +
            bytes(range(int(nbytes) % 256)))
