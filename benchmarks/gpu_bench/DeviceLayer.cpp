//===- DeviceLayer.cpp - gpu_bench: a compiled layer on the GPU -----------===//

#include "DeviceLayer.h"


namespace gpubench {

DeviceLayer::~DeviceLayer() {
  for (size_t i = 0; i < buffers.size(); ++i)
    if (owned[i] && buffers[i])
      d.cuMemFree(buffers[i]);
  for (CUmodule m : modules)
    d.cuModuleUnload(m);
}

bool DeviceLayer::init(const KernelPlan &p, std::string &error,
                       const DeviceLayer *shared) {
  plan = &p;
  if (shared) {
    functions = shared->functions;
  } else {
    for (const PlanLaunch &l : p.launches) {
      CUmodule module = nullptr;
      // The error log of the driver's PTX JIT.
      char log[4096] = {0};
      int options[] = {kJitErrorLogBuffer, kJitErrorLogBufferSizeBytes};
      void *values[] = {log, reinterpret_cast<void *>(sizeof(log))};
      const std::string &ptx = p.ptx.at(l.module);
      if (CUresult r = d.cuModuleLoadDataEx(&module, ptx.c_str(), 2, options,
                                            values)) {
        error = driverError(d, "cuModuleLoadDataEx", r) + " for " + l.module +
                (log[0] ? std::string(": ") + log : "");
        return false;
      }
      modules.push_back(module);
      CUfunction fn = nullptr;
      if (CUresult r = d.cuModuleGetFunction(&fn, module, l.kernel.c_str())) {
        error = driverError(d, "cuModuleGetFunction", r) + " for " + l.kernel;
        return false;
      }
      functions.push_back(fn);
    }
  }
  buffers.assign(p.buffers.size(), 0);
  owned.assign(p.buffers.size(), false);
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const PlanBuffer &b = p.buffers[i];
    bool weight = b.argument >= 1 && b.argument <= 3;
    if (shared && !weight) {
      buffers[i] = shared->buffers[i];
      continue;
    }
    if (CUresult r = d.cuMemAlloc(&buffers[i], size_t(b.bytes()))) {
      error = driverError(d, "cuMemAlloc", r) + " (" +
              std::to_string(b.bytes()) + " bytes)";
      return false;
    }
    owned[i] = true;
  }
  // Each memref operand is its descriptor, flattened: allocated and aligned
  // pointers, offset, sizes, strides (what convert-gpu-to-nvvm's kernel
  // signature expects, 8 bytes each).
  params.clear();
  paramPointers.clear();
  for (const PlanLaunch &l : p.launches) {
    std::vector<uint64_t> v;
    for (int bi : l.buffers) {
      const PlanBuffer &b = p.buffers[bi];
      v.push_back(buffers[bi]);
      v.push_back(buffers[bi]);
      v.push_back(uint64_t(b.offset));
      for (int64_t s : b.shape)
        v.push_back(uint64_t(s));
      for (int64_t s : b.strides)
        v.push_back(uint64_t(s));
    }
    params.push_back(std::move(v));
  }
  for (auto &v : params) {
    std::vector<void *> ptrs;
    for (auto &x : v)
      ptrs.push_back(&x);
    paramPointers.push_back(std::move(ptrs));
  }
  return true;
}

CUdeviceptr DeviceLayer::buffer(int argument) const {
  for (size_t i = 0; i < plan->buffers.size(); ++i)
    if (argument < 0 ? plan->buffers[i].result
                     : plan->buffers[i].argument == argument)
      return buffers[i];
  return 0;
}

int64_t DeviceLayer::weightBytes() const {
  int64_t total = 0;
  for (const PlanBuffer &b : plan->buffers)
    if (b.argument >= 1 && b.argument <= 3)
      total += b.bytes();
  return total;
}

bool DeviceLayer::upload(const LayerData &data, std::string &error) {
  struct {
    int argument;
    const void *host;
    size_t bytes;
  } parts[] = {{0, data.x.data(), data.x.size() * 2},
               {1, data.signs.data(), data.signs.size() * 4},
               {2, data.g.data(), data.g.size() * 2},
               {3, data.h.data(), data.h.size() * 2}};
  for (auto &part : parts) {
    for (size_t i = 0; i < plan->buffers.size(); ++i) {
      const PlanBuffer &b = plan->buffers[i];
      if (b.argument != part.argument)
        continue;
      if (size_t(b.bytes()) != part.bytes) {
        error = "argument " + std::to_string(part.argument) + " is " +
                std::to_string(b.bytes()) + " bytes on the device, " +
                std::to_string(part.bytes) + " on the host";
        return false;
      }
      if (CUresult r = d.cuMemcpyHtoD(buffers[i], part.host, part.bytes)) {
        error = driverError(d, "cuMemcpyHtoD", r);
        return false;
      }
    }
  }
  return true;
}

bool DeviceLayer::fillWeights(uint32_t signWord, std::string &error) {
  for (size_t i = 0; i < plan->buffers.size(); ++i) {
    const PlanBuffer &b = plan->buffers[i];
    CUresult r = 0;
    if (b.argument == 1)
      r = d.cuMemsetD32(buffers[i], signWord, size_t(b.bytes()) / 4);
    else if (b.argument == 2 || b.argument == 3) // g, h: 0.03125 in f16
      r = d.cuMemsetD16(buffers[i], 0x2800, size_t(b.bytes()) / 2);
    if (r) {
      error = driverError(d, "cuMemsetD32/D16", r);
      return false;
    }
  }
  return true;
}

bool DeviceLayer::run(std::string &error) {
  for (size_t i = 0; i < plan->launches.size(); ++i) {
    const PlanLaunch &l = plan->launches[i];
    if (CUresult r = d.cuLaunchKernel(
            functions[i], l.grid[0], l.grid[1], l.grid[2], l.block[0],
            l.block[1], l.block[2], 0, stream, paramPointers[i].data(),
            nullptr)) {
      error = driverError(d, "cuLaunchKernel", r) + " (" + l.kernel + ")";
      return false;
    }
  }
  return true;
}

bool DeviceLayer::download(std::vector<uint16_t> &y, std::string &error) {
  const PlanBuffer &b = plan->buffers[plan->resultBuffer];
  y.resize(size_t(b.bytes()) / 2);
  if (CUresult r = d.cuStreamSynchronize(stream)) {
    error = driverError(d, "cuStreamSynchronize", r);
    return false;
  }
  if (CUresult r = d.cuMemcpyDtoH(y.data(), buffer(-1), y.size() * 2)) {
    error = driverError(d, "cuMemcpyDtoH", r);
    return false;
  }
  return true;
}

} // namespace gpubench
