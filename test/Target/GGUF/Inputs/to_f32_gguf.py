"""Rewrites a GGUF file with every tensor dequantized to F32 (same metadata),
so that llama.cpp computes in full precision and can serve as an exact
reference for the importer. usage: to_f32_gguf.py IN.gguf OUT.gguf
"""
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize


def main():
    src, dst = sys.argv[1], sys.argv[2]
    r = GGUFReader(src)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    w = GGUFWriter(dst, arch)
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vt = f.types[0]
        if key == "general.file_type":
            w.add_uint32(key, 0)  # all F32
            continue
        if vt == GGUFValueType.ARRAY:
            et = f.types[1]
            if et == GGUFValueType.STRING:
                vals = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
            else:
                vals = [f.parts[i][0].item() for i in f.data]
            w.add_array(key, vals)
        elif vt == GGUFValueType.STRING:
            w.add_string(key, bytes(f.parts[f.data[0]]).decode("utf-8"))
        else:
            w.add_key_value(key, f.parts[f.data[0]][0].item(), vt)
    for t in r.tensors:
        data = dequantize(t.data, t.tensor_type).astype(np.float32)
        shape = [int(d) for d in reversed(t.shape)]
        w.add_tensor(t.name, data.reshape(shape))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
