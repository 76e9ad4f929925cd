//===- PlanFile.cpp - gpu_bench: launch plans as files --------------------===//

#include "PlanFile.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gpubench {

namespace {

/// Module and kernel names become file names and whitespace-separated
/// fields: MLIR symbol characters only.
bool isName(const std::string &s) {
  if (s.empty() || s.size() > 200 || s[0] == '.')
    return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
          c == '.' || c == '$' || c == '-'))
      return false;
  return true;
}

std::string label(const LayerShape &s) {
  return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
         std::to_string(s.k) + (s.normEps > 0 ? "-norm" : "");
}

std::string number(double v) {
  char b[64];
  std::snprintf(b, sizeof(b), "%.17g", v);
  return b;
}

bool makeDir(const std::string &dir, std::string &error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  return true;
}

bool writeText(const std::string &path, const std::string &text,
               std::string &error) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  if (!f) {
    error = "cannot write " + path;
    return false;
  }
  return true;
}

bool readText(const std::string &path, std::string &text,
              std::string &error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    error = "cannot read " + path;
    return false;
  }
  std::ostringstream os;
  os << f.rdbuf();
  text = os.str();
  return true;
}

} // namespace

bool writePlan(const std::string &dir, const KernelPlan &p,
               std::string &error) {
  if (!checkPlan(p, error) || !makeDir(dir, error))
    return false;
  std::ostringstream os;
  os << "onebit-gpu-plan 1\n"
     << "name " << (p.shape.name.empty() ? "layer" : p.shape.name) << "\n"
     << "shape " << p.shape.m << " " << p.shape.n << " " << p.shape.k << "\n"
     << "norm_eps " << number(p.shape.normEps) << "\n"
     << "seed " << p.seed << "\n"
     << "chip " << p.chip << "\n"
     << "features " << (p.features.empty() ? "-" : p.features) << "\n"
     << "compile_s " << number(p.compileSeconds) << "\n"
     << "model_count " << p.modelCount << "\n";
  for (const PlanBuffer &b : p.buffers) {
    os << "buffer " << b.argument << " " << (b.result ? 1 : 0) << " "
       << b.elementBytes << " " << b.offset << " " << b.shape.size();
    for (int64_t s : b.shape)
      os << " " << s;
    for (int64_t s : b.strides)
      os << " " << s;
    os << "\n";
  }
  os << "result " << p.resultBuffer << "\n";
  for (const auto &[name, ptx] : p.ptx) {
    if (!isName(name)) {
      error = "kernel module name '" + name + "' cannot be a file name";
      return false;
    }
    os << "module " << name << "\n";
    if (!writeText(dir + "/" + name + ".ptx", ptx, error))
      return false;
  }
  for (const PlanLaunch &l : p.launches) {
    if (!isName(l.kernel)) {
      error = "kernel name '" + l.kernel + "' has characters a plan cannot hold";
      return false;
    }
    os << "launch " << l.module << " " << l.kernel;
    for (unsigned g : l.grid)
      os << " " << g;
    for (unsigned b : l.block)
      os << " " << b;
    os << " " << l.buffers.size();
    for (int b : l.buffers)
      os << " " << b;
    os << "\n";
  }
  return writeText(dir + "/plan.txt", os.str(), error);
}

bool readPlan(const std::string &dir, KernelPlan &p, std::string &error) {
  p = KernelPlan();
  std::string path = dir + "/plan.txt", text;
  if (!readText(path, text, error))
    return false;
  std::istringstream in(text);
  std::string line;
  int lineNo = 0;
  bool header = false, haveShape = false, haveSeed = false, haveChip = false,
       haveResult = false;
  auto fail = [&](const std::string &what) {
    error = path + ":" + std::to_string(lineNo) + ": " + what;
    return false;
  };
  while (std::getline(in, line)) {
    ++lineNo;
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream f(line);
    std::string key;
    f >> key;
    if (!header) {
      int version = 0;
      if (key != "onebit-gpu-plan" || !(f >> version))
        return fail("not a gpu_bench plan (it must start with "
                    "'onebit-gpu-plan 1')");
      if (version != 1)
        return fail("plan version " + std::to_string(version) +
                    " (this gpu-bench-run reads version 1)");
      header = true;
      continue;
    }
    bool ok = true;
    if (key == "name") {
      ok = bool(f >> p.shape.name) && isName(p.shape.name);
    } else if (key == "shape") {
      ok = bool(f >> p.shape.m >> p.shape.n >> p.shape.k) && p.shape.m > 0 &&
           p.shape.n > 0 && p.shape.k > 0 && p.shape.m <= (1 << 20) &&
           p.shape.n <= (1 << 20) && p.shape.k <= (1 << 20);
      haveShape = ok;
    } else if (key == "norm_eps") {
      ok = bool(f >> p.shape.normEps) && p.shape.normEps >= 0 &&
           p.shape.normEps < 1;
    } else if (key == "seed") {
      ok = bool(f >> p.seed);
      haveSeed = ok;
    } else if (key == "chip") {
      ok = bool(f >> p.chip) && chipNumber(p.chip) >= 50;
      haveChip = ok;
    } else if (key == "features") {
      ok = bool(f >> p.features);
      if (p.features == "-")
        p.features.clear();
    } else if (key == "compile_s") {
      ok = bool(f >> p.compileSeconds) && p.compileSeconds >= 0;
    } else if (key == "model_count") {
      ok = bool(f >> p.modelCount) && p.modelCount >= 0 &&
           p.modelCount <= 1000;
    } else if (key == "buffer") {
      PlanBuffer b;
      int result = 0;
      size_t rank = 0;
      ok = bool(f >> b.argument >> result >> b.elementBytes >> b.offset >>
                rank) &&
           (result == 0 || result == 1) && rank >= 1 && rank <= 8;
      b.result = result == 1;
      b.shape.resize(ok ? rank : 0);
      b.strides.resize(ok ? rank : 0);
      for (int64_t &v : b.shape)
        ok = ok && bool(f >> v);
      for (int64_t &v : b.strides)
        ok = ok && bool(f >> v);
      if (ok)
        p.buffers.push_back(b);
    } else if (key == "result") {
      ok = bool(f >> p.resultBuffer);
      haveResult = ok;
    } else if (key == "module") {
      std::string name;
      ok = bool(f >> name) && isName(name);
      if (ok) {
        std::string ptx;
        if (!readText(dir + "/" + name + ".ptx", ptx, error))
          return fail(error);
        p.ptx[name] = std::move(ptx);
      }
    } else if (key == "launch") {
      PlanLaunch l;
      size_t count = 0;
      ok = bool(f >> l.module >> l.kernel >> l.grid[0] >> l.grid[1] >>
                l.grid[2] >> l.block[0] >> l.block[1] >> l.block[2] >>
                count) &&
           count <= 64;
      l.buffers.resize(ok ? count : 0);
      for (int &b : l.buffers)
        ok = ok && bool(f >> b);
      if (ok)
        p.launches.push_back(std::move(l));
    } else {
      return fail("unknown record '" + key + "'");
    }
    std::string extra;
    if (ok && (f >> extra))
      return fail("'" + key + "' record has extra fields ('" + extra + "')");
    if (!ok)
      return fail("malformed '" + key + "' record: '" + line + "'");
  }
  if (!header)
    return fail("empty file (not a gpu_bench plan)");
  if (!haveShape || !haveSeed || !haveChip || !haveResult) {
    error = path + ": missing record(s):" +
            std::string(haveShape ? "" : " shape") +
            (haveSeed ? "" : " seed") + (haveChip ? "" : " chip") +
            (haveResult ? "" : " result");
    return false;
  }
  if (p.resultBuffer >= 0 && size_t(p.resultBuffer) < p.buffers.size() &&
      !p.buffers[p.resultBuffer].result) {
    error = path + ": buffer " + std::to_string(p.resultBuffer) +
            " is the result but not marked as one";
    return false;
  }
  if (!checkPlan(p, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

bool writePlanSet(const std::string &dir, const std::vector<KernelPlan> &gemm,
                  const std::vector<KernelPlan> &model, std::string &error) {
  if (!makeDir(dir, error))
    return false;
  std::string index = "onebit-gpu-plans 1\n";
  for (const KernelPlan &p : gemm) {
    std::string sub = label(p.shape);
    if (!writePlan(dir + "/" + sub, p, error))
      return false;
    index += "gemm " + sub + "\n";
  }
  for (size_t i = 0; i < model.size(); ++i) {
    std::string sub = "model" + std::to_string(i);
    if (!writePlan(dir + "/" + sub, model[i], error))
      return false;
    index += "model " + sub + "\n";
  }
  return writeText(dir + "/plans.txt", index, error);
}

bool readPlanSet(const std::string &dir, std::vector<KernelPlan> &gemm,
                 std::vector<KernelPlan> &model, std::string &error) {
  gemm.clear();
  model.clear();
  std::string path = dir + "/plans.txt", text;
  if (!readText(path, text, error))
    return false;
  std::istringstream in(text);
  std::string line;
  int lineNo = 0;
  bool header = false;
  while (std::getline(in, line)) {
    ++lineNo;
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream f(line);
    std::string kind, sub, extra;
    f >> kind >> sub;
    if (!header) {
      if (kind != "onebit-gpu-plans" || sub != "1") {
        error = path + ":" + std::to_string(lineNo) +
                ": not a gpu_bench plan set (it must start with "
                "'onebit-gpu-plans 1')";
        return false;
      }
      header = true;
      continue;
    }
    if ((kind != "gemm" && kind != "model") || !isName(sub) || (f >> extra)) {
      error = path + ":" + std::to_string(lineNo) +
              ": expected 'gemm SUBDIR' or 'model SUBDIR', got '" + line + "'";
      return false;
    }
    KernelPlan p;
    if (!readPlan(dir + "/" + sub, p, error))
      return false;
    if (kind == "model" && p.modelCount < 1) {
      error = dir + "/" + sub + "/plan.txt: a model layer needs model_count >= 1";
      return false;
    }
    (kind == "gemm" ? gemm : model).push_back(std::move(p));
  }
  if (!header) {
    error = path + ": empty file (not a gpu_bench plan set)";
    return false;
  }
  if (gemm.empty() && model.empty()) {
    error = path + ": no plans listed";
    return false;
  }
  if (!model.empty() && model.size() != 3) {
    error = path + ": the decode model needs 3 layer kinds (dim x dim, ffn x "
                   "dim, dim x ffn), the set has " +
            std::to_string(model.size());
    return false;
  }
  return true;
}

} // namespace gpubench
