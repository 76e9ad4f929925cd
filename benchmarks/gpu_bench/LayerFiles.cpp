//===- LayerFiles.cpp - gpu_bench: a layer and its reference as files -----===//

#include "LayerFiles.h"
#include "KernelPlan.h"

#include <cstdio>
#include <fstream>
#include <vector>

namespace gpubench {

namespace {

/// A version 1.0 .npy of a C-order array.
bool writeNpy(const std::string &path, const char *descr,
              const std::vector<int64_t> &shape, const void *data,
              size_t bytes) {
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i)
    header += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? ", " : "");
  header += "), }";
  // magic (6) + version (2) + length (2) + header + '\n', padded to 64.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  uint16_t length = uint16_t(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.write(reinterpret_cast<const char *>(&length), 2);
  f.write(header.data(), std::streamsize(header.size()));
  f.write(static_cast<const char *>(data), std::streamsize(bytes));
  return bool(f);
}

} // namespace

bool writeLayer(const std::string &dir, const LayerShape &s,
                const LayerData &d, std::string &error) {
  {
    std::ofstream f(dir + "/layer.mlir");
    f << layerSource(s);
    if (!f) {
      error = "cannot write " + dir + "/layer.mlir";
      return false;
    }
  }
  int64_t words = (s.k + 31) / 32;
  std::vector<double> ref, scale, l2;
  std::vector<int64_t> cols(s.n);
  for (int64_t n = 0; n < s.n; ++n)
    cols[n] = n;
  for (int64_t m = 0; m < s.m; ++m) {
    std::vector<double> r, sc, q;
    referenceRow(s, d, m, cols, r, sc, &q);
    ref.insert(ref.end(), r.begin(), r.end());
    scale.insert(scale.end(), sc.begin(), sc.end());
    l2.insert(l2.end(), q.begin(), q.end());
  }
  struct {
    const char *name, *descr;
    std::vector<int64_t> shape;
    const void *data;
    size_t bytes;
  } files[] = {
      {"x", "<f2", {s.m, s.k}, d.x.data(), d.x.size() * 2},
      {"signs", "<i4", {s.n, words}, d.signs.data(), d.signs.size() * 4},
      {"g", "<f2", {s.k}, d.g.data(), d.g.size() * 2},
      {"h", "<f2", {s.n}, d.h.data(), d.h.size() * 2},
      {"ref", "<f8", {s.m, s.n}, ref.data(), ref.size() * 8},
      {"scale", "<f8", {s.m, s.n}, scale.data(), scale.size() * 8},
      {"l2", "<f8", {s.m, s.n}, l2.data(), l2.size() * 8},
  };
  for (auto &file : files) {
    std::string path = dir + "/" + file.name + ".npy";
    if (!writeNpy(path, file.descr, file.shape, file.data, file.bytes)) {
      error = "cannot write " + path;
      return false;
    }
  }
  return true;
}

} // namespace gpubench
