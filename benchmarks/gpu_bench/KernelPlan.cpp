//===- KernelPlan.cpp - gpu_bench: a layer's launch plan, checked --------===//

#include "KernelPlan.h"

#include <cctype>
#include <sstream>

namespace gpubench {

int64_t PlanBuffer::bytes() const {
  // The extent of the strided view, in elements, from its offset.
  int64_t last = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0)
      return 0;
    last += (shape[i] - 1) * strides[i];
  }
  return (last + 1) * int64_t(elementBytes);
}

std::string KernelPlan::describe() const {
  std::ostringstream os;
  auto buffer = [&](int i) {
    const PlanBuffer &b = buffers[i];
    static const char *names[] = {"x", "signs", "g", "h"};
    std::string s = b.argument >= 0 && b.argument < 4 ? names[b.argument]
                    : b.result                         ? "y"
                                                       : "tmp";
    s += "[";
    for (size_t d = 0; d < b.shape.size(); ++d)
      s += (d ? "x" : "") + std::to_string(b.shape[d]);
    return s + "]";
  };
  for (const PlanLaunch &l : launches) {
    os << l.kernel << " grid " << l.grid[0] << "x" << l.grid[1] << "x"
       << l.grid[2] << " block " << l.block[0] << "x" << l.block[1] << "x"
       << l.block[2] << " (";
    for (size_t i = 0; i < l.buffers.size(); ++i)
      os << (i ? ", " : "") << buffer(l.buffers[i]);
    auto it = ptx.find(l.module);
    std::vector<std::string> params;
    if (it != ptx.end())
      entryParams(it->second, l.kernel, params);
    os << ") " << params.size() << " params, ptx "
       << (it == ptx.end() ? 0 : it->second.size()) << " B\n";
  }
  return os.str();
}

std::string KernelPlan::heading() const {
  return std::to_string(shape.m) + "x" + std::to_string(shape.n) + "x" +
         std::to_string(shape.k) + (shape.normEps > 0 ? " post-norm" : "") +
         " (" + chip + "):\n";
}

int chipNumber(const std::string &chip) {
  if (chip.rfind("sm_", 0) != 0)
    return -1;
  size_t i = 3;
  int n = 0;
  while (i < chip.size() && std::isdigit(static_cast<unsigned char>(chip[i])) &&
         n < 10000)
    n = n * 10 + (chip[i++] - '0');
  if (i == 3 || (i < chip.size() && chip.substr(i) != "a" && chip.substr(i) != "f"))
    return -1;
  return n;
}

std::string layerSource(const LayerShape &s) {
  int64_t words = (s.k + 31) / 32;
  std::ostringstream os;
  std::string x = "tensor<" + std::to_string(s.m) + "x" +
                  std::to_string(s.k) + "xf16>";
  std::string y = "tensor<" + std::to_string(s.m) + "x" +
                  std::to_string(s.n) + "xf16>";
  std::string sg = "tensor<" + std::to_string(s.n) + "x" +
                   std::to_string(words) + "xi32>";
  std::string g = "tensor<" + std::to_string(s.k) + "xf16>";
  std::string h = "tensor<" + std::to_string(s.n) + "xf16>";
  os << "func.func @main(%x: " << x << ", %s: " << sg << ", %g: " << g
     << ", %h: " << h << ") -> " << y << " {\n"
     << "  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, "
        "bit_order = lsb_first, negative = 1>";
  if (s.normEps > 0) {
    char eps[64];
    std::snprintf(eps, sizeof(eps), "%.9e", s.normEps);
    os << " norm_eps = " << eps;
  }
  os << " {onebit.name = \"" << s.name << "\"} : (" << x << ", " << sg
     << ", " << g << ", " << h << ") -> " << y << "\n"
     << "  return %y : " << y << "\n}\n";
  return os.str();
}

bool checkPlan(const KernelPlan &plan, std::string &error) {
  const LayerShape &s = plan.shape;
  if (s.m <= 0 || s.n <= 0 || s.k <= 0) {
    error = "shape dimensions must be positive";
    return false;
  }
  if (plan.launches.empty()) {
    error = "the plan has no kernel launch";
    return false;
  }
  int64_t words = (s.k + 31) / 32;
  // What @main's arguments and result must be (bytes, element size).
  struct Want {
    int64_t bytes;
    unsigned elementBytes;
  } args[] = {{2 * s.m * s.k, 2}, {4 * s.n * words, 4}, {2 * s.k, 2},
              {2 * s.n, 2}};
  static const char *argNames[] = {"x", "signs", "g", "h"};
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer &b = plan.buffers[i];
    std::string what = "buffer " + std::to_string(i);
    if (b.shape.size() != b.strides.size() || b.shape.empty() ||
        b.shape.size() > 8) {
      error = what + " has " + std::to_string(b.shape.size()) + " sizes and " +
              std::to_string(b.strides.size()) + " strides (1 to 8 each)";
      return false;
    }
    for (size_t d = 0; d < b.shape.size(); ++d)
      if (b.shape[d] <= 0 || b.strides[d] < 0 || b.shape[d] > (int64_t(1) << 40)) {
        error = what + " has a size or stride out of range";
        return false;
      }
    if (b.offset < 0 || (b.elementBytes != 1 && b.elementBytes != 2 &&
                         b.elementBytes != 4 && b.elementBytes != 8)) {
      error = what + " has a negative offset or an element of " +
              std::to_string(b.elementBytes) + " bytes";
      return false;
    }
    if (b.argument < -1 || b.argument > 3) {
      error = what + " is argument " + std::to_string(b.argument) +
              " (@main takes x, signs, g, h: 0 to 3)";
      return false;
    }
    if (b.argument >= 0 && (b.bytes() != args[b.argument].bytes ||
                            b.elementBytes != args[b.argument].elementBytes)) {
      error = std::string("argument ") + argNames[b.argument] + " is " +
              std::to_string(b.bytes()) + " bytes, the shape needs " +
              std::to_string(args[b.argument].bytes);
      return false;
    }
  }
  if (plan.resultBuffer < 0 || size_t(plan.resultBuffer) >= plan.buffers.size()) {
    error = "the plan has no result buffer";
    return false;
  }
  const PlanBuffer &y = plan.buffers[plan.resultBuffer];
  if (!y.result || y.argument != -1 || y.elementBytes != 2 ||
      y.bytes() != 2 * s.m * s.n) {
    error = "the result buffer is not an allocated f16 [" +
            std::to_string(s.m) + ", " + std::to_string(s.n) + "]";
    return false;
  }
  for (const PlanLaunch &l : plan.launches) {
    for (int d = 0; d < 3; ++d)
      if (!l.grid[d] || !l.block[d]) {
        error = "launch of " + l.kernel + " has a zero grid or block size";
        return false;
      }
    for (int b : l.buffers)
      if (b < 0 || size_t(b) >= plan.buffers.size()) {
        error = "launch of " + l.kernel + " names buffer " +
                std::to_string(b) + " of " +
                std::to_string(plan.buffers.size());
        return false;
      }
    auto it = plan.ptx.find(l.module);
    if (it == plan.ptx.end()) {
      error = "no PTX for kernel module " + l.module;
      return false;
    }
    // The launch passes each memref as its flattened descriptor, 8 bytes a
    // field: the kernel's PTX entry must take exactly that many 64-bit
    // parameters, or the launch would read garbage.
    size_t expected = 0;
    for (int b : l.buffers)
      expected += 3 + 2 * plan.buffers[b].shape.size();
    std::vector<std::string> params;
    if (!entryParams(it->second, l.kernel, params)) {
      error = "the PTX of " + l.module + " has no .entry " + l.kernel;
      return false;
    }
    size_t wide = 0;
    for (const std::string &p : params)
      wide += p.find(".u64") != std::string::npos ||
              p.find(".b64") != std::string::npos ||
              p.find(".s64") != std::string::npos;
    if (params.size() != expected || wide != expected) {
      error = ".entry " + l.kernel + " takes " +
              std::to_string(params.size()) + " parameters (" +
              std::to_string(wide) + " of 64 bits), the launch passes " +
              std::to_string(expected) + " 64-bit descriptor fields";
      return false;
    }
  }
  return true;
}

bool entryParams(const std::string &ptx, const std::string &kernel,
                 std::vector<std::string> &params) {
  params.clear();
  std::string head = ".entry " + kernel + "(";
  size_t at = ptx.find(head);
  if (at == std::string::npos)
    return false;
  size_t end = ptx.find(')', at);
  if (end == std::string::npos)
    return false;
  std::string list = ptx.substr(at + head.size(), end - at - head.size());
  size_t pos = 0;
  while ((pos = list.find(".param", pos)) != std::string::npos) {
    size_t next = list.find(',', pos);
    params.push_back(list.substr(pos, next == std::string::npos
                                          ? std::string::npos
                                          : next - pos));
    if (next == std::string::npos)
      break;
    pos = next + 1;
  }
  return true;
}

} // namespace gpubench
