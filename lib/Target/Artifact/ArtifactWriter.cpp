//===- ArtifactWriter.cpp - compile a model into a .onebit artifact -------===//

#include "onebit/Target/Artifact/ArtifactWriter.h"
#include "onebit/Runner/Lowering.h"
#include "onebit/Runner/ModelSize.h"
#include "onebit/Runtime/Allocator.h"
#include "onebit/Runtime/ArtifactFormat.h"
#include "onebit/Support/DiagnosticCapture.h"
#include "onebit/Target/GGUF/ImportGGUF.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <dlfcn.h>

#include <chrono>
#include <tuple>

using namespace mlir;

namespace onebit {
namespace {

/// Constants smaller than this stay in the code's read-only data.
constexpr uint64_t kMinExternalBytes = 256;

/// The bytes of a constant global's initializer, row-major as the code
/// reads them; empty when it is not a dense array of whole bytes.
ArrayRef<char> initializerBytes(LLVM::GlobalOp global) {
  auto elements = dyn_cast_or_null<ElementsAttr>(global.getValueOrNull());
  if (!elements)
    return {};
  Type et = elements.getElementType();
  if (!et.isIntOrFloat() || et.getIntOrFloatBitWidth() % 8 != 0)
    return {};
  const uint64_t bytes =
      uint64_t(elements.getNumElements()) * (et.getIntOrFloatBitWidth() / 8);
  ArrayRef<char> data;
  if (auto dense = dyn_cast<DenseElementsAttr>(elements)) {
    if (dense.isSplat())
      return {};
    data = dense.getRawData();
  } else if (auto res = dyn_cast<DenseResourceElementsAttr>(elements)) {
    if (AsmResourceBlob *blob = res.getRawHandle().getBlob())
      data = blob->getData();
  }
  return data.size() == bytes ? data : ArrayRef<char>();
}

/// Moves the large constant globals of the lowered `module` out of the code:
/// each becomes a slot of one table of addresses (kConstantTableSymbol),
/// which the loader fills with the constants' places in the mapped file.
/// Their bytes are appended to `constants`, in slot order.
void externalizeConstants(ModuleOp module,
                          std::vector<ArrayRef<char>> &constants) {
  // Every use of every symbol, in one walk (a walk per global is quadratic
  // in a model of hundreds of weights). Only addresses taken in functions
  // can become loads; any other use keeps its global in the code.
  llvm::DenseMap<StringAttr, std::vector<LLVM::AddressOfOp>> addresses;
  llvm::DenseSet<StringAttr> pinned;
  module.walk([&](Operation *op) {
    auto addr = dyn_cast<LLVM::AddressOfOp>(op);
    if (addr && op->getParentOfType<LLVM::LLVMFuncOp>()) {
      addresses[addr.getGlobalNameAttr().getAttr()].push_back(addr);
      return;
    }
    if (isa<LLVM::GlobalOp>(op) || op == module.getOperation())
      return;
    for (NamedAttribute a : op->getAttrs())
      a.getValue().walk([&](SymbolRefAttr ref) {
        pinned.insert(ref.getRootReference());
      });
  });
  std::vector<std::pair<LLVM::GlobalOp, ArrayRef<char>>> moved;
  for (auto global : module.getOps<LLVM::GlobalOp>()) {
    if (!global.getConstant() || pinned.contains(global.getSymNameAttr()))
      continue;
    ArrayRef<char> data = initializerBytes(global);
    if (data.size() >= kMinExternalBytes)
      moved.emplace_back(global, data);
  }
  if (moved.empty())
    return;
  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  b.setInsertionPointToStart(module.getBody());
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  auto tableType = LLVM::LLVMArrayType::get(ptrType, moved.size());
  auto table = LLVM::GlobalOp::create(
      b, module.getLoc(), tableType, /*isConstant=*/false,
      LLVM::Linkage::External, artifact::kConstantTableSymbol, Attribute());
  {
    Block *init = b.createBlock(&table.getInitializerRegion());
    b.setInsertionPointToStart(init);
    Value zero = LLVM::ZeroOp::create(b, module.getLoc(), tableType);
    LLVM::ReturnOp::create(b, module.getLoc(), zero);
  }
  for (auto [slot, m] : llvm::enumerate(moved)) {
    auto [global, data] = m;
    constants.push_back(data);
    for (LLVM::AddressOfOp addr : addresses.lookup(global.getSymNameAttr())) {
      b.setInsertionPoint(addr);
      Location loc = addr.getLoc();
      Value base = LLVM::AddressOfOp::create(b, loc, ptrType,
                                             artifact::kConstantTableSymbol);
      Value at = LLVM::GEPOp::create(
          b, loc, ptrType, tableType, base,
          ArrayRef<LLVM::GEPArg>{0, int32_t(slot)});
      Value p = LLVM::LoadOp::create(b, loc, ptrType, at);
      addr.getResult().replaceAllUsesWith(p);
      addr.erase();
    }
    global.erase();
  }
}

/// Adds `_mlir_NAME(void **args)` for each entry: the packed calling form
/// Executable uses (one pointer per lowered argument, then one to the
/// result), as mlir::ExecutionEngine makes it for the JIT.
bool addPackedWrappers(llvm::Module &m, const std::vector<std::string> &names,
                       std::vector<std::string> &symbols, std::string &error) {
  llvm::LLVMContext &ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type *ptr = b.getPtrTy();
  for (const std::string &name : names) {
    llvm::Function *fn = m.getFunction(name);
    if (!fn || fn->isDeclaration()) {
      error = "the lowered module has no function '" + name + "'";
      return false;
    }
    auto *wrapper = llvm::Function::Create(
        llvm::FunctionType::get(b.getVoidTy(), {ptr}, false),
        llvm::GlobalValue::ExternalLinkage, "_mlir_" + name, m);
    b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", wrapper));
    llvm::Value *list = wrapper->getArg(0);
    std::vector<llvm::Value *> args;
    for (llvm::Argument &arg : fn->args()) {
      llvm::Value *slot =
          b.CreateGEP(ptr, list, b.getInt64(arg.getArgNo()));
      args.push_back(b.CreateLoad(arg.getType(), b.CreateLoad(ptr, slot)));
    }
    llvm::Value *result = b.CreateCall(fn, args);
    if (!result->getType()->isVoidTy()) {
      llvm::Value *slot = b.CreateGEP(ptr, list, b.getInt64(fn->arg_size()));
      b.CreateStore(result, b.CreateLoad(ptr, slot));
    }
    b.CreateRetVoid();
    symbols.push_back("_mlir_" + name);
  }
  return true;
}

/// Gathers the static constructors (`llvm.global_ctors`, lowest priority
/// first) or destructors (`llvm.global_dtors`, highest first) of `m` into
/// one function `name` the loader calls itself, and drops the array, so
/// that dlopen runs none of them: a cuda artifact's constructors load the
/// kernels and upload the weights from the constant table, which the
/// loader fills after dlopen and only after it has checked the device.
void gatherStructors(llvm::Module &m, llvm::StringRef array,
                     llvm::StringRef name, bool descending) {
  // (priority, position in the array, function): equal priorities keep
  // their order.
  std::vector<std::tuple<uint64_t, size_t, llvm::Function *>> fns;
  if (llvm::GlobalVariable *gv = m.getNamedGlobal(array)) {
    if (auto *init =
            llvm::dyn_cast_or_null<llvm::ConstantArray>(gv->getInitializer()))
      for (llvm::Use &op : init->operands()) {
        auto *entry = llvm::dyn_cast<llvm::ConstantStruct>(op.get());
        if (!entry || entry->getNumOperands() < 2)
          continue;
        auto *prio = llvm::dyn_cast<llvm::ConstantInt>(entry->getOperand(0));
        auto *fn = llvm::dyn_cast<llvm::Function>(
            entry->getOperand(1)->stripPointerCasts());
        if (prio && fn)
          fns.emplace_back(prio->getZExtValue(), fns.size(), fn);
      }
    gv->eraseFromParent();
  }
  std::sort(fns.begin(), fns.end(), [&](const auto &a, const auto &b) {
    if (std::get<0>(a) != std::get<0>(b))
      return descending ? std::get<0>(a) > std::get<0>(b)
                        : std::get<0>(a) < std::get<0>(b);
    return std::get<1>(a) < std::get<1>(b);
  });
  llvm::LLVMContext &ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  auto *all = llvm::Function::Create(
      llvm::FunctionType::get(b.getVoidTy(), false),
      llvm::GlobalValue::ExternalLinkage, name, m);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", all));
  for (auto &[prio, position, fn] : fns)
    b.CreateCall(fn);
  b.CreateRetVoid();
}

/// A target machine for `cpu` ("native": this one) that emits
/// position-independent code for a shared object.
std::unique_ptr<llvm::TargetMachine>
makeTargetMachine(const std::string &cpu, unsigned optLevel,
                  std::string &cpuName, std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string why;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, why);
  if (!target) {
    error = "cannot target " + triple.str() + ": " + why;
    return nullptr;
  }
  std::string features;
  if (cpu == "native") {
    cpuName = llvm::sys::getHostCPUName().str();
    for (const auto &f : llvm::sys::getHostCPUFeatures())
      features += (features.empty() ? "" : ",") +
                  std::string(f.second ? "+" : "-") + f.first().str();
  } else {
    cpuName = cpu;
    std::unique_ptr<llvm::MCSubtargetInfo> sti(
        target->createMCSubtargetInfo(triple, "", ""));
    if (!sti || !sti->isCPUStringValid(cpuName)) {
      error = "unknown target CPU '" + cpu +
              "' (native, x86-64-v3, x86-64-v4, znver4, sapphirerapids, ... "
              "as in clang's -march)";
      return nullptr;
    }
  }
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, cpuName, features, options, llvm::Reloc::PIC_,
      llvm::CodeModel::Small, codeGenOptLevel(optLevel)));
  if (!tm)
    error = "cannot create a target machine for " + cpuName;
  return tm;
}

/// The CPU features of `tm` that the loader can check (knownCpuFeatures).
std::vector<std::string> requiredFeatures(llvm::TargetMachine &tm) {
  const llvm::MCSubtargetInfo *sti = tm.getMCSubtargetInfo();
  std::vector<std::string> out;
  for (const std::string &f : artifact::knownCpuFeatures())
    if (sti->checkFeatures("+" + f))
      out.push_back(f);
  return out;
}

/// The file of the loaded kernel library, which the shared object is linked
/// against (it records the library's soname, libonebit_runtime.so).
std::string runtimeLibraryPath() {
  Dl_info info;
  if (::dladdr(reinterpret_cast<void *>(&_mlir_memref_to_llvm_free), &info) &&
      info.dli_fname)
    return info.dli_fname;
  return {};
}

/// Links `object` into a shared object with the C compiler driver; its
/// bytes land in `so`.
bool linkSharedObject(const llvm::SmallVectorImpl<char> &object,
                      const std::string &linker, bool cuda, std::string &so,
                      std::string &error) {
  // The driver asked for, else the usual names on the PATH, else the C
  // compiler onebit was built with (a machine with clang-22 only has no cc).
  std::string driver;
  std::vector<std::string> names =
      linker.empty() ? std::vector<std::string>{"cc", "clang", "gcc",
                                                ONEBIT_C_COMPILER}
                     : std::vector<std::string>{linker};
  for (const std::string &name : names) {
    if (llvm::sys::path::is_absolute(name)) {
      if (llvm::sys::fs::can_execute(name)) {
        driver = name;
        break;
      }
      continue;
    }
    if (auto found = llvm::sys::findProgramByName(name)) {
      driver = *found;
      break;
    }
  }
  if (driver.empty()) {
    error = linker.empty() ? "no C compiler driver (cc, clang or gcc) on the "
                             "PATH to link the code; install one or name it "
                             "with --linker"
                           : "the linker '" + linker + "' was not found";
    return false;
  }
  const std::string runtime = runtimeLibraryPath();
  if (runtime.empty()) {
    error = "cannot find the loaded kernel library (libonebit_runtime.so)";
    return false;
  }
  llvm::SmallString<128> obj, out, log;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("onebit-artifact", "o", fd, obj) ||
      llvm::sys::fs::createTemporaryFile("onebit-artifact", "so", out) ||
      llvm::sys::fs::createTemporaryFile("onebit-artifact", "log", log)) {
    error = "cannot create temporary files to link the code";
    return false;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os.write(object.data(), object.size());
  }
  // A cuda artifact's host code calls the mgpu* runtime, which sits next to
  // the kernel library (the loader loads it from there before the code).
  std::string cudaRuntime;
  if (cuda) {
    llvm::SmallString<128> p(llvm::sys::path::parent_path(runtime));
    llvm::sys::path::append(p, "libonebit_cuda_runtime.so");
    if (!llvm::sys::fs::exists(p)) {
      error = "cannot find the CUDA runtime " + p.str().str() +
              " next to the kernel library (build onebit_cuda_runtime)";
      return false;
    }
    cudaRuntime = p.str().str();
  }
  std::vector<llvm::StringRef> argv = {
      driver, "-shared", "-o", out, obj, runtime, "-lm", "-Wl,-z,defs",
      "-Wl,-z,noexecstack"};
  if (cuda)
    argv.insert(argv.begin() + 6, cudaRuntime);
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, log.str(),
                                                log.str()};
  std::string why;
  int rc = llvm::sys::ExecuteAndWait(driver, argv, std::nullopt, redirects, 0,
                                     0, &why);
  auto buffer = llvm::MemoryBuffer::getFile(out, /*IsText=*/false);
  if (rc != 0 || !buffer) {
    auto text = llvm::MemoryBuffer::getFile(log);
    error = "linking the code with " + driver + " failed" +
            (why.empty() ? "" : ": " + why) +
            (text ? ":\n" + (*text)->getBuffer().str() : "");
  } else {
    so.assign((*buffer)->getBufferStart(), (*buffer)->getBufferSize());
  }
  llvm::sys::fs::remove(obj);
  llvm::sys::fs::remove(out);
  llvm::sys::fs::remove(log);
  return error.empty();
}

/// The serialized tokenizer an import attached to `module`, or empty.
std::string tokenizerBytes(ModuleOp module) {
  auto res = dyn_cast_or_null<DenseResourceElementsAttr>(
      module->getAttr(kTokenizerAttrName));
  AsmResourceBlob *blob = res ? res.getRawHandle().getBlob() : nullptr;
  if (!blob)
    return {};
  ArrayRef<char> data = blob->getData();
  return std::string(data.data(), data.size());
}

uint64_t alignTo(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

/// Writes the container: header, section table, metadata, tokenizer, code,
/// then the constants from where they lie in the context (not copied).
bool writeContainer(const std::string &path, const std::string &meta,
                    const std::string &tokenizer, const std::string &code,
                    const std::vector<ArrayRef<char>> &constants,
                    const std::vector<artifact::Constant> &places,
                    ArtifactStats &stats, std::string &error) {
  using namespace artifact;
  struct Part {
    SectionKind kind;
    const std::string *bytes;
    uint64_t offset, size;
  };
  std::vector<Part> parts = {{SectionKind::Metadata, &meta, 0, meta.size()},
                             {SectionKind::Code, &code, 0, code.size()}};
  if (!tokenizer.empty())
    parts.push_back({SectionKind::Tokenizer, &tokenizer, 0, tokenizer.size()});
  uint64_t constantsSize =
      places.empty() ? 0 : places.back().offset + places.back().size;
  if (!constants.empty())
    parts.push_back({SectionKind::Constants, nullptr, 0, constantsSize});
  uint64_t at = kHeaderSize + parts.size() * kSectionEntrySize;
  uint64_t sum = kChecksumSeed;
  for (Part &p : parts) {
    at = alignTo(at, p.kind == SectionKind::Constants ? kPageAlign : 64);
    p.offset = at;
    at += p.size;
    if (p.bytes)
      sum = checksum(p.bytes->data(), p.bytes->size(), sum);
  }
  const uint64_t fileSize = at;
  std::string head(kHeaderSize + parts.size() * kSectionEntrySize, '\0');
  std::memcpy(head.data(), kMagic, sizeof(kMagic));
  putU32(head.data() + 8, kFormatVersion);
  putU32(head.data() + 12, uint32_t(parts.size()));
  putU64(head.data() + 16, fileSize);
  putU64(head.data() + 24, sum);
  for (size_t i = 0; i < parts.size(); ++i) {
    char *e = head.data() + kHeaderSize + i * kSectionEntrySize;
    putU32(e, uint32_t(parts[i].kind));
    putU64(e + 8, parts[i].offset);
    putU64(e + 16, parts[i].size);
  }
  llvm::SmallString<128> tmp;
  int fd;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(
          path + ".tmp-%%%%%%", fd, tmp)) {
    error = "cannot write " + path + ": " + ec.message();
    return false;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    uint64_t pos = 0;
    auto padTo = [&](uint64_t to) {
      for (; pos < to; ++pos)
        os << '\0';
    };
    os << head;
    pos = head.size();
    for (const Part &p : parts) {
      padTo(p.offset);
      if (p.bytes) {
        os << *p.bytes;
        pos += p.bytes->size();
        continue;
      }
      for (size_t i = 0; i < constants.size(); ++i) {
        padTo(p.offset + places[i].offset);
        os.write(constants[i].data(), constants[i].size());
        pos += constants[i].size();
      }
    }
    os.close();
    if (os.has_error()) {
      error = "cannot write " + path + ": " + os.error().message();
      os.clear_error();
      llvm::sys::fs::remove(tmp);
      return false;
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, path)) {
    error = "cannot write " + path + ": " + ec.message();
    llvm::sys::fs::remove(tmp);
    return false;
  }
  stats.fileBytes = fileSize;
  stats.codeBytes = code.size();
  stats.metadataBytes = meta.size();
  stats.tokenizerBytes = tokenizer.size();
  stats.constantBytes = constantsSize;
  return true;
}

} // namespace

bool writeArtifact(OwningOpRef<ModuleOp> module, const std::string &path,
                   const ArtifactOptions &options, ArtifactStats &stats,
                   std::string &error) {
  auto t0 = std::chrono::steady_clock::now();
  MLIRContext *ctx = module->getContext();
  DiagnosticCapture diags(*ctx);
  std::vector<std::string> names = options.entries;
  if (names.empty())
    for (auto fn : module->getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isDeclaration())
        names.push_back(fn.getName().str());
  if (names.empty()) {
    error = "the module has no public function to compile";
    return false;
  }
  artifact::Metadata meta;
  if (!describeEntries(*module, names, meta.entries, error))
    return false;
  const std::string tokenizer = tokenizerBytes(*module);
  eraseNonEntries(*module, names);
  meta.parameters = measureModel(*module).parameters;
  auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
        .count();
  };
  const bool cuda = options.device == Target::Cuda;
  if (options.device == Target::GpuEmulation) {
    error = "artifacts hold code for the cpu or cuda, not gpu-emulation";
    return false;
  }
  if (cuda && options.compile.gpu.format != "isa") {
    // PTX: the driver JIT-compiles it for the GPU it finds (that chip or a
    // newer one); the loader checks the chip and the PTX ISA.
    error = "cuda artifacts hold PTX (format isa), not " +
            options.compile.gpu.format;
    return false;
  }
  int chipMajor, chipMinor;
  if (cuda && !artifact::parseCudaChip(options.compile.gpu.chip, chipMajor,
                                       chipMinor)) {
    error = "--chip " + options.compile.gpu.chip +
            ": not a CUDA chip name like sm_80 or sm_90";
    return false;
  }
  if (cuda && artifact::ptxIsaOf(options.compile.gpu.features) == 0) {
    error = "the GPU features '" + options.compile.gpu.features +
            "' name no PTX ISA (like +ptx80)";
    return false;
  }
  if (!lowerForTarget(*module, options.device, options.compile, diags, error))
    return false;
  readArgTables(*module, meta.entries);
  stats.lowerSeconds = since(t0);
  module->walk([&](Operation *op) {
    if (op->getName().getStringRef() == "gpu.binary")
      ++stats.gpuKernels;
  });

  std::vector<ArrayRef<char>> constants;
  externalizeConstants(*module, constants);
  uint64_t at = 0;
  for (ArrayRef<char> c : constants) {
    at = alignTo(at, artifact::kConstantAlign);
    meta.constants.push_back({at, c.size()});
    at += c.size();
  }

  const unsigned optLevel = std::min(options.compile.jitOptLevel, 3u);
  std::string cpuName;
  auto tm = makeTargetMachine(options.targetCpu, optLevel, cpuName, error);
  if (!tm)
    return false;
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext);
  if (!llvmModule) {
    error = "translation to LLVM IR failed:\n" + diags.text();
    return false;
  }
  llvmModule->setDataLayout(tm->createDataLayout());
  llvmModule->setTargetTriple(tm->getTargetTriple());
  if (!addPackedWrappers(*llvmModule, names, meta.symbols, error))
    return false;
  gatherStructors(*llvmModule, "llvm.global_ctors", artifact::kInitSymbol,
                  /*descending=*/false);
  gatherStructors(*llvmModule, "llvm.global_dtors", artifact::kFiniSymbol,
                  /*descending=*/true);
  // Strided copies call MLIR's memrefCopy; the kernel library has its own.
  if (llvm::Function *copy = llvmModule->getFunction("memrefCopy"))
    copy->setName("onebit_memref_copy");
  auto t1 = std::chrono::steady_clock::now();
  CompileOptions compile = options.compile;
  compile.perfMap = false;
  auto optimize = makeJitTransformer(tm.get(), optLevel, compile, nullptr);
  if (llvm::Error e = optimize(llvmModule.get())) {
    error = "optimisation failed: " + llvm::toString(std::move(e));
    return false;
  }
  llvm::SmallVector<char, 0> object;
  {
    llvm::raw_svector_ostream os(object);
    llvm::legacy::PassManager pm;
    if (tm->addPassesToEmitFile(pm, os, nullptr,
                                llvm::CodeGenFileType::ObjectFile)) {
      error = "the target cannot emit object files";
      return false;
    }
    pm.run(*llvmModule);
  }
  stats.codegenSeconds = since(t1);
  auto t2 = std::chrono::steady_clock::now();
  std::string code;
  if (!linkSharedObject(object, options.linker, cuda, code, error))
    return false;
  stats.linkSeconds = since(t2);

  meta.producer = std::string("onebit-compile ") + ONEBIT_VERSION_STRING +
                  " (LLVM " LLVM_VERSION_STRING ")";
  meta.target = cuda ? "cuda" : "cpu";
  meta.targetCpu = cpuName;
  meta.cpuFeatures = requiredFeatures(*tm);
  if (cuda) {
    meta.gpuChip = options.compile.gpu.chip;
    meta.gpuFeatures = options.compile.gpu.features;
    meta.ptxIsa = artifact::ptxIsaOf(meta.gpuFeatures);
  }
  // Host code's results are the kernel library's allocations; the GPU
  // pipeline's are managed memory (onebit-gpu-host-memory).
  meta.resultMemory.assign(names.size(), cuda
                                             ? artifact::ResultMemory::CudaManaged
                                             : artifact::ResultMemory::Host);
  if (!writeContainer(path, artifact::encodeMetadata(meta), tokenizer, code,
                      constants, meta.constants, stats, error))
    return false;
  stats.constants = constants.size();
  stats.entries = names.size();
  stats.targetCpu = cpuName;
  stats.cpuFeatures = meta.cpuFeatures;
  stats.seconds = since(t0);
  return true;
}

} // namespace onebit
