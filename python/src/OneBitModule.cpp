//===- OneBitModule.cpp - the onebit Python extension (_onebit) -----------===//
//
// Binds the C++ libraries: model loading (MLIR text/bytecode, GGUF),
// printing and saving, quantization with its per-layer report. Every
// diagnostic the libraries emit is collected and raised as onebit.Error.
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Dialect/OneBit/Transforms/Quantize.h"
#include "onebit/Frontend/ModelLoader.h"
#include "onebit/Frontend/QuantizedImport.h"
#include "onebit/Runner/Runner.h"
#include "onebit/Runtime/Artifact.h"
#include "onebit/Runtime/Generator.h"
#include "onebit/Support/DiagnosticCapture.h"
#include "onebit/Target/Artifact/ArtifactWriter.h"
#include "onebit/Target/Artifact/CompileCache.h"
#include "onebit/Tokenizer/TokenizerLoader.h"
#include "onebit/Training/Evaluate.h"
#include "onebit/Training/TrainConsole.h"
#include "onebit/Training/Trainer.h"

#include "EnvOptions.h"
#include "TrainFlags.h"
#include "TrainRanks.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/ToolOutputFile.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>

namespace py = pybind11;
using namespace mlir;

namespace {

/// Raised for every compiler/importer error; carries the diagnostics.
PyObject *errorType = nullptr;

/// The target of a Python `device`: the extension does not carry the CUDA
/// runtime, so cpu and gpu-emulation only; onebit.Error otherwise.
/// The communicator of train() under an MPI launcher: MPI is initialised
/// once per process, so the first train() that needs it opens it and the
/// later ones reuse it; it is finalised when the module is unloaded at exit.
std::shared_ptr<::onebit::Communicator> &trainCommunicator() {
  static std::shared_ptr<::onebit::Communicator> comm;
  return comm;
}

::onebit::Target pythonTarget(const std::string &device) {
  ::onebit::Target t;
  if (!::onebit::parseTarget(device, t) || t == ::onebit::Target::Cuda) {
    PyErr_SetString(errorType, ("device '" + device +
                                "' is not available (supported: cpu, "
                                "gpu-emulation)")
                                   .c_str());
    throw py::error_already_set();
  }
  return t;
}

/// Collects diagnostics while alive; `raise()` throws them as onebit.Error.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(MLIRContext &ctx)
      : capture(ctx, ::onebit::DiagnosticCaptureOptions{
                         /*errorsOnly=*/false, /*withNotes=*/false,
                         /*compilerStyle=*/true}) {}
  [[noreturn]] void raise(const std::string &what) {
    std::string msg = what;
    for (const std::string &m : capture.messages())
      msg += "\n" + m;
    PyErr_SetString(errorType, msg.c_str());
    throw py::error_already_set();
  }

private:
  ::onebit::DiagnosticCapture capture;
};

std::shared_ptr<MLIRContext> makeContext() {
  DialectRegistry registry;
  ::onebit::registerModelDialects(registry);
  auto ctx = std::make_shared<MLIRContext>(registry);
  ctx->loadAllAvailableDialects();
  return ctx;
}

struct LayerStats {
  std::string name;
  int64_t outFeatures, inFeatures;
  unsigned iterations;
  double relError, bitsPerWeight;
};

/// A model: an MLIR module and the context that owns it (and its weights).
class Model {
public:
  Model(std::shared_ptr<MLIRContext> ctx, OwningOpRef<ModuleOp> module)
      : ctx(std::move(ctx)), module(std::move(module)) {}

  /// The import options of `load` and `loadQuantized`; raises for a missing
  /// file (through `diags`) or an unknown cache type.
  static ::onebit::ModelLoadOptions loadOptions(const std::string &path,
                                                int numLayers, bool kvCache,
                                                const std::string &kvCacheType,
                                                DiagnosticCollector &diags) {
    if (!llvm::sys::fs::exists(path))
      diags.raise("cannot load '" + path + "': no such file");
    auto cacheType = ::onebit::parseKVCacheType(kvCacheType);
    if (!cacheType)
      throw py::value_error("kv_cache_type must be 'f32' or 'f16', not '" +
                            kvCacheType + "'");
    ::onebit::ModelLoadOptions opts;
    opts.gguf.numLayers = numLayers;
    opts.gguf.kvCache = kvCache;
    opts.gguf.kvCacheType = *cacheType;
    if (kvCache)
      opts.onnx.kvCache = ::onebit::ONNXKVCache::Required;
    return opts;
  }

  static std::shared_ptr<Model> load(const std::string &path, int numLayers,
                                     bool kvCache,
                                     const std::string &kvCacheType) {
    auto ctx = makeContext();
    DiagnosticCollector diags(*ctx);
    ::onebit::ModelLoadOptions opts =
        loadOptions(path, numLayers, kvCache, kvCacheType, diags);
    OwningOpRef<ModuleOp> m = ::onebit::loadModel(path, *ctx, opts);
    if (!m || failed(verify(*m)))
      diags.raise("cannot load '" + path + "'");
    return std::make_shared<Model>(ctx, std::move(m));
  }

  /// Loads `path` with its linear layers quantized as they are imported
  /// (onebit-translate --quantize): a GGUF or ONNX model is never whole in
  /// FP32. An MLIR file is loaded, then quantized. Returns the model and the
  /// statistics `quantize` returns.
  static std::pair<std::shared_ptr<Model>, py::dict>
  loadQuantized(const std::string &path, int numLayers, bool kvCache,
                const std::string &kvCacheType,
                const onebit::QuantizeConfig &config) {
    llvm::StringRef p(path);
    if (!p.ends_with(".gguf") && !p.ends_with(".onnx")) {
      auto model = load(path, numLayers, kvCache, kvCacheType);
      return model->quantize(config);
    }
    auto ctx = makeContext();
    DiagnosticCollector diags(*ctx);
    ::onebit::ModelLoadOptions opts =
        loadOptions(path, numLayers, kvCache, kvCacheType, diags);
    onebit::QuantizeReport report;
    OwningOpRef<ModuleOp> m;
    {
      py::gil_scoped_release release;
      m = p.ends_with(".gguf")
              ? ::onebit::importQuantizedGGUF(p, *ctx, opts.gguf, config,
                                              &report)
              : ::onebit::importQuantizedONNX(p, *ctx, opts.onnx, config,
                                              &report);
    }
    if (!m || failed(verify(*m)))
      diags.raise("cannot load '" + path + "' quantized");
    return {std::make_shared<Model>(ctx, std::move(m)), reportDict(report)};
  }

  std::string str() {
    std::string s;
    llvm::raw_string_ostream os(s);
    module->print(os);
    return s;
  }

  void save(const std::string &path) {
    DiagnosticCollector diags(*ctx);
    std::string err;
    auto out = openOutputFile(path, &err);
    if (!out)
      diags.raise("cannot write '" + path + "': " + err);
    if (llvm::StringRef(path).ends_with(".mlirbc")) {
      if (failed(writeBytecodeToFile(*module, out->os())))
        diags.raise("cannot write bytecode to '" + path + "'");
    } else {
      module->print(out->os());
    }
    out->keep();
  }

  /// Compiles the model into a .onebit artifact (onebit-compile).
  void saveArtifact(const std::string &path, const std::string &targetCpu,
                    const std::vector<std::string> &entries) {
    DiagnosticCollector diags(*ctx);
    OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->getOperation()->clone()));
    ::onebit::ArtifactOptions options;
    options.targetCpu = targetCpu;
    options.entries = entries;
    options.compile = ::onebit::env::compileOptions();
    ::onebit::ArtifactStats stats;
    std::string error;
    bool ok;
    {
      py::gil_scoped_release release;
      ok = ::onebit::writeArtifact(std::move(copy), path, options, stats,
                                   error);
    }
    if (!ok)
      diags.raise(error);
  }

  /// Quantizes a copy; returns it and the per-layer statistics.
  std::pair<std::shared_ptr<Model>, py::dict>
  quantize(const onebit::QuantizeConfig &config) {
    DiagnosticCollector diags(*ctx);
    OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->getOperation()->clone()));
    FailureOr<onebit::QuantizeReport> report =
        onebit::quantizeLinearLayers(*copy, config);
    if (failed(report))
      diags.raise("quantization failed");
    return {std::make_shared<Model>(ctx, std::move(copy)), reportDict(*report)};
  }

  /// A quantization report as the dict Python's QuantizeStats is made from.
  static py::dict reportDict(const onebit::QuantizeReport &report) {
    py::list layers, skipped;
    for (const onebit::QuantizedLayer &l : report.quantized)
      layers.append(py::make_tuple(l.name, l.outFeatures, l.inFeatures,
                                   l.iterations, l.relError,
                                   l.bitsPerWeight));
    for (const onebit::SkippedLayer &l : report.skipped)
      skipped.append(
          py::make_tuple(l.name, l.outFeatures, l.inFeatures, l.reason));
    py::dict d;
    d["layers"] = layers;
    d["skipped"] = skipped;
    d["linear_bits_per_weight"] = report.linearBitsPerWeight;
    d["model_bits_per_weight"] = report.modelBitsPerWeight;
    d["bytes_before"] = report.constantBytesBefore;
    d["bytes_after"] = report.constantBytesAfter;
    return d;
  }

  /// A copy with the remaining FP linear layers (and, with `tables`, the
  /// embedding lookups) in weight-only int8 (--onebit-int8-weights).
  std::shared_ptr<Model> int8Weights(bool tables, int64_t minElements) {
    DiagnosticCollector diags(*ctx);
    OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->getOperation()->clone()));
    PassManager pm(ctx.get());
    onebit::OneBitInt8WeightsOptions opts;
    opts.tables = tables;
    opts.minElements = minElements;
    pm.addPass(onebit::createOneBitInt8Weights(opts));
    if (failed(pm.run(*copy)))
      diags.raise("int8 weights failed");
    return std::make_shared<Model>(ctx, std::move(copy));
  }

  /// The tokenizer the model carries (a GGUF import's), or None.
  std::unique_ptr<::onebit::BPETokenizer> tokenizer() {
    std::string error;
    auto t = ::onebit::tokenizerOf(*module, error);
    if (!error.empty()) {
      PyErr_SetString(errorType, error.c_str());
      throw py::error_already_set();
    }
    return t;
  }

  std::vector<std::string> functions() {
    std::vector<std::string> out;
    for (Operation &op : module->getBody()->getOperations())
      if (auto sym = op.getAttrOfType<StringAttr>("sym_name"))
        out.push_back(sym.str());
    return out;
  }

  std::shared_ptr<MLIRContext> ctx;
  OwningOpRef<ModuleOp> module;
};

const char *numpyFormat(::onebit::DType t) {
  switch (t) {
  case ::onebit::DType::F32:
    return "float32";
  case ::onebit::DType::F16:
    return "float16";
  case ::onebit::DType::F64:
    return "float64";
  case ::onebit::DType::I64:
    return "int64";
  case ::onebit::DType::I32:
    return "int32";
  case ::onebit::DType::I16:
    return "int16";
  case ::onebit::DType::I8:
    return "int8";
  case ::onebit::DType::Bool:
    return "bool";
  case ::onebit::DType::U8:
    return "uint8";
  case ::onebit::DType::U16:
    return "uint16";
  case ::onebit::DType::U32:
    return "uint32";
  case ::onebit::DType::U64:
    return "uint64";
  case ::onebit::DType::BF16:
    return "bfloat16";
  }
  return "float32";
}

/// The numpy dtype of `t`. numpy has no bfloat16: it is ml_dtypes'.
py::dtype numpyDType(::onebit::DType t) {
  if (t == ::onebit::DType::BF16)
    return py::dtype::from_args(
        py::module_::import("ml_dtypes").attr("bfloat16"));
  return py::dtype(numpyFormat(t));
}

/// A model compiled for the host CPU, callable on numpy arrays. It owns a
/// private copy of the IR: the JIT's lowering rewrites it.
class CompiledFunction {
public:
  static std::shared_ptr<CompiledFunction> compile(Model &m,
                                                   const std::string &device,
                                                   const std::string &entry) {
    return compileEntries(m, device,
                          entry.empty() ? std::vector<std::string>()
                                        : std::vector<std::string>{entry});
  }
  /// Several entries in one lowering and JIT (none: the only public one).
  static std::shared_ptr<CompiledFunction>
  compileEntries(Model &m, const std::string &device,
                 const std::vector<std::string> &entries) {
    const ::onebit::Target target = pythonTarget(device);
    DiagnosticCollector diags(*m.ctx);
    OwningOpRef<ModuleOp> copy(
        cast<ModuleOp>(m.module->getOperation()->clone()));
    std::string error;
    // Through the tools' compile cache (ONEBIT_CACHE_DIR, docs/artifacts.md)
    // on the CPU. The environment is read at every compile, so that a change
    // of os.environ applies to the next compilation.
    ::onebit::CacheResult cached;
    std::unique_ptr<::onebit::Executable> cm;
    if (target == ::onebit::Target::Cpu)
      cm = ::onebit::compileWithCache(
          std::move(copy), entries, target, ::onebit::env::compileOptions(),
          ::onebit::env::compileCacheOptions(), cached, error);
    else if (entries.empty())
      cm = ::onebit::CompiledModel::compile(std::move(copy), std::string(),
                                            error, target,
                                            ::onebit::env::compileOptions());
    else
      cm = ::onebit::CompiledModel::compile(std::move(copy), entries, error,
                                            target,
                                            ::onebit::env::compileOptions());
    if (!cm)
      diags.raise(error);
    auto f = std::make_shared<CompiledFunction>();
    f->ctx = m.ctx;
    f->entry = cm->entry();
    if (auto *jit = dynamic_cast<::onebit::CompiledModel *>(cm.get()))
      f->compileMs = jit->compileMillis();
    else
      f->compileMs = cached.seconds * 1e3;
    f->cacheHit = cached.hit;
    f->model = std::move(cm);
    return f;
  }

  py::object call(py::args args) {
    std::vector<::onebit::HostTensor> in, out;
    const auto &sigs = model->find(entry)->inputs;
    for (size_t i = 0; i < args.size(); ++i) {
      ::onebit::DType want =
          i < sigs.size() ? sigs[i].dtype : ::onebit::DType::F32;
      // Arrays of another dtype are an error, not a silent conversion.
      py::array a = py::array::ensure(args[i]);
      if (!a)
        throw py::type_error("argument " + std::to_string(i) +
                             " is not array-like");
      if (!a.dtype().is(numpyDType(want)))
        raiseError("argument " + std::to_string(i) + " has dtype " +
                   std::string(py::str(a.dtype())) + " but the model expects " +
                   (i < sigs.size() ? sigs[i].str() : "nothing"));
      a = py::array::ensure(a, py::array::c_style);
      ::onebit::HostTensor t;
      t.dtype = want;
      for (py::ssize_t d = 0; d < a.ndim(); ++d)
        t.shape.push_back(a.shape(d));
      t.data.assign(static_cast<const char *>(a.data()),
                    static_cast<const char *>(a.data()) + a.nbytes());
      in.push_back(std::move(t));
    }
    std::string error;
    {
      py::gil_scoped_release release;
      if (!model->run(entry, in, out, error)) {
        py::gil_scoped_acquire acquire;
        raiseError(error);
      }
    }
    py::list results;
    for (const ::onebit::HostTensor &t : out) {
      py::array a(numpyDType(t.dtype),
                  std::vector<py::ssize_t>(t.shape.begin(), t.shape.end()));
      std::memcpy(a.mutable_data(), t.data.data(), t.data.size());
      results.append(a);
    }
    if (results.size() == 1)
      return results[0];
    return py::tuple(results);
  }

  static void raiseError(const std::string &msg) {
    PyErr_SetString(errorType, msg.c_str());
    throw py::error_already_set();
  }

  std::shared_ptr<MLIRContext> ctx; ///< null for an artifact
  /// The JIT-compiled model or the loaded artifact; shared by the functions
  /// of one artifact.
  std::shared_ptr<::onebit::Executable> model;
  std::string entry; ///< what call() runs
  double compileMs = 0;
  bool cacheHit = false;
};

/// A compiled model loaded from a .onebit artifact (onebit-compile): its
/// entries run without compiling.
class ArtifactModel {
public:
  static std::shared_ptr<ArtifactModel> open(const std::string &path) {
    std::string error;
    auto a = std::make_shared<ArtifactModel>();
    std::unique_ptr<::onebit::Artifact> artifact =
        ::onebit::Artifact::open(path, error);
    if (!artifact)
      CompiledFunction::raiseError(error);
    if (!artifact->tokenizerBytes().empty()) {
      a->tokenizer_ =
          ::onebit::BPETokenizer::deserialize(artifact->tokenizerBytes(), error);
      if (!a->tokenizer_)
        CompiledFunction::raiseError(path + ": its tokenizer: " + error);
    }
    a->artifact_ = std::move(artifact);
    return a;
  }

  std::vector<std::string> functions() const {
    std::vector<std::string> names;
    for (const auto &e : artifact_->entries())
      names.push_back(e.name);
    return names;
  }

  /// The entry `entry` as a callable (empty: the only entry).
  std::shared_ptr<CompiledFunction> function(const std::string &device,
                                             const std::string &entry) {
    if (device != "cpu")
      CompiledFunction::raiseError("an artifact runs on the CPU it was "
                                   "compiled for, not on '" + device + "'");
    std::string name = entry;
    if (name.empty()) {
      if (artifact_->entries().size() != 1)
        CompiledFunction::raiseError(
            "the artifact has " + std::to_string(artifact_->entries().size()) +
            " entries; pick one with entry=");
      name = artifact_->entry();
    }
    if (!artifact_->find(name))
      CompiledFunction::raiseError("the artifact has no entry '" + name + "'");
    auto f = std::make_shared<CompiledFunction>();
    f->model = artifact_;
    f->entry = name;
    return f;
  }

  /// A copy of the tokenizer the artifact carries, or None.
  std::unique_ptr<::onebit::BPETokenizer> tokenizer() const {
    return tokenizer_ ? std::make_unique<::onebit::BPETokenizer>(*tokenizer_)
                      : nullptr;
  }

private:
  std::shared_ptr<::onebit::Artifact> artifact_;
  std::unique_ptr<::onebit::BPETokenizer> tokenizer_;
};

/// One generation over a model compiled with its KV-cache entries: the
/// prompt is prefilled by start(), then every next() chooses a token (and
/// first runs the decode step of the previous one), so Python can stream.
class Generation {
public:
  Generation(std::shared_ptr<CompiledFunction> f, int64_t context,
             const ::onebit::SamplingOptions &options)
      : function(std::move(f)), sampler(options) {
    std::string why = options.validate();
    if (!why.empty())
      throw py::value_error(why);
    std::string error;
    gen = ::onebit::Generator::create(*function->model, context, error);
    if (!gen)
      CompiledFunction::raiseError(error);
  }

  void start(const std::vector<int64_t> &prompt, int64_t maxTokens,
             int64_t eos) {
    std::string error;
    if (!gen->checkPrompt(prompt, maxTokens, error))
      CompiledFunction::raiseError(error);
    gen->reset();
    remaining = maxTokens;
    eosId = eos;
    pending = -1;
    run([&](std::string &error) { return gen->prefill(prompt, logits, error); });
  }

  /// The next token, or None when max_tokens were produced or EOS came.
  py::object next() {
    if (remaining <= 0)
      return py::none();
    if (pending >= 0)
      run([&](std::string &error) { return gen->decode(pending, logits, error); });
    int64_t id = sampler.pick(logits.data(), gen->vocab());
    if (id < 0)
      CompiledFunction::raiseError("the model returned no finite logit");
    --remaining;
    pending = id;
    if (id == eosId)
      remaining = 0;
    return py::int_(id);
  }

private:
  template <typename F> void run(F &&step) {
    std::string error;
    bool ok;
    {
      py::gil_scoped_release release;
      ok = step(error);
    }
    if (!ok)
      CompiledFunction::raiseError(error);
  }

  std::shared_ptr<CompiledFunction> function;
  std::unique_ptr<::onebit::Generator> gen;
  ::onebit::Sampler sampler;
  std::vector<float> logits;
  int64_t remaining = 0, eosId = -1, pending = -1;
};

} // namespace

PYBIND11_MODULE(_onebit, m) {
  m.doc() = "onebit: OneBit 1-bit LLM compiler (C++ extension)";
  errorType = PyErr_NewException("onebit.Error", PyExc_RuntimeError, nullptr);
  m.attr("Error") = py::handle(errorType);
  // ONEBIT_ISA, ONEBIT_DENSE_BACKEND, ...: once, when the module is imported.
  ::onebit::env::applyRuntimeEnvironment();

  // Byte-level BPE tokenizers (GGUF vocabularies, HF tokenizer.json).
  py::class_<::onebit::BPETokenizer>(m, "Tokenizer")
      .def(py::init([](const std::string &path) {
             std::string error;
             auto t = ::onebit::loadTokenizer(path, error);
             if (!t) {
               PyErr_SetString(errorType, error.c_str());
               throw py::error_already_set();
             }
             return t;
           }),
           py::arg("path"))
      .def(
          "encode",
          [](const ::onebit::BPETokenizer &t, const std::string &text,
             bool special) { return t.encode(text, special); },
          py::arg("text"), py::arg("parse_special") = true)
      .def("decode", &::onebit::BPETokenizer::decode, py::arg("ids"))
      .def_property_readonly("vocab_size", &::onebit::BPETokenizer::vocabSize)
      .def_property_readonly("bos_id", &::onebit::BPETokenizer::bosId)
      .def_property_readonly("eos_id", &::onebit::BPETokenizer::eosId);

  py::class_<onebit::QuantizeConfig>(m, "QuantizeConfig")
      .def(py::init<>())
      .def_readwrite("init", &onebit::QuantizeConfig::init)
      .def_readwrite("max_iters", &onebit::QuantizeConfig::maxIters)
      .def_readwrite("tolerance", &onebit::QuantizeConfig::tolerance)
      .def_readwrite("seed", &onebit::QuantizeConfig::seed)
      .def_readwrite("exclude", &onebit::QuantizeConfig::exclude)
      .def_readwrite("min_elements", &onebit::QuantizeConfig::minElements)
      .def_readwrite("keep_head", &onebit::QuantizeConfig::keepHead)
      .def_readwrite("post_norm", &onebit::QuantizeConfig::postNorm)
      .def_readwrite("norm_eps", &onebit::QuantizeConfig::normEps)
      .def_readwrite("value_type", &onebit::QuantizeConfig::valueType);

  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def_static("load", &Model::load, py::arg("path"),
                  py::arg("num_layers") = -1, py::arg("kv_cache") = false,
                  py::arg("kv_cache_type") = "f32")
      .def_static("load_quantized", &Model::loadQuantized, py::arg("path"),
                  py::arg("num_layers"), py::arg("kv_cache"),
                  py::arg("kv_cache_type"), py::arg("config"))
      .def("tokenizer", &Model::tokenizer)
      .def("compile_entries", &CompiledFunction::compileEntries,
           py::arg("device"), py::arg("entries"))
      .def("__str__", &Model::str)
      .def("save", &Model::save, py::arg("path"))
      .def("save_artifact", &Model::saveArtifact, py::arg("path"),
           py::arg("target_cpu") = "native",
           py::arg("entries") = std::vector<std::string>())
      .def("quantize", &Model::quantize, py::arg("config"))
      .def("int8_weights", &Model::int8Weights, py::arg("tables"),
           py::arg("min_elements"))
      .def("functions", &Model::functions)
      .def("compile", &CompiledFunction::compile, py::arg("device") = "cpu",
           py::arg("entry") = "");

  py::class_<CompiledFunction, std::shared_ptr<CompiledFunction>>(
      m, "CompiledFunction")
      .def("__call__", &CompiledFunction::call)
      .def_property_readonly("compile_ms",
                             [](CompiledFunction &f) { return f.compileMs; })
      .def_property_readonly("cache_hit",
                             [](CompiledFunction &f) { return f.cacheHit; });
  py::class_<ArtifactModel, std::shared_ptr<ArtifactModel>>(m, "Artifact")
      .def_static("open", &ArtifactModel::open, py::arg("path"))
      .def("functions", &ArtifactModel::functions)
      .def("tokenizer", &ArtifactModel::tokenizer)
      .def("function", &ArtifactModel::function, py::arg("device") = "cpu",
           py::arg("entry") = "");
  m.def("is_artifact", &::onebit::isArtifactPath, py::arg("path"));
  py::class_<Generation, std::shared_ptr<Generation>>(m, "Generation")
      .def(py::init([](std::shared_ptr<CompiledFunction> f, int64_t context,
                       double temperature, int64_t topK, double topP,
                       uint64_t seed) {
             ::onebit::SamplingOptions o;
             o.temperature = temperature;
             o.topK = topK;
             o.topP = topP;
             o.seed = seed;
             return std::make_shared<Generation>(std::move(f), context, o);
           }),
           py::arg("function"), py::arg("context"), py::arg("temperature"),
           py::arg("top_k"), py::arg("top_p"), py::arg("seed"))
      .def("start", &Generation::start, py::arg("prompt"),
           py::arg("max_tokens"), py::arg("eos"))
      .def("next", &Generation::next);
  m.def("set_num_threads", &::onebit::setNumThreads, py::arg("n"));
  m.def(
      "set_kernel_mode",
      [](const std::string &mode) {
        std::string error;
        if (!::onebit::setKernelMode(mode, error))
          throw py::value_error(error);
      },
      py::arg("mode"));
  m.def("has_fast_kernel", &::onebit::hasFastKernel);

  // Training: the runtime of onebit-train, with a per-step callback.
  m.def(
      "train",
      [](const std::string &teacher, const std::string &data, int64_t steps,
         const std::string &out, double lr, int64_t warmup, double alpha,
         const std::string &init, int64_t batch, int64_t seqLen,
         double weightDecay, int threads, bool resume, int64_t checkpointEvery,
         uint64_t seed, py::object callback, bool quiet,
         const std::string &trainable, const std::string &tokenizer,
         const std::string &device, bool mseLastLayer, int64_t gradAccum,
         const std::string &distributed, double collectiveTimeout,
         bool shardOptimizer, bool checkpointActivations, double bucketMB) {
        ::onebit::TrainOptions o;
        o.target = pythonTarget(device);
        o.compile = ::onebit::env::compileOptions();
        o.teacherPath = teacher;
        o.data = data;
        o.steps = steps;
        o.outDir = out;
        o.lr = lr;
        o.warmup = warmup;
        o.alpha = alpha;
        o.mseLastLayer = mseLastLayer;
        o.init = init;
        o.batch = batch;
        o.seqLen = seqLen;
        o.weightDecay = weightDecay;
        o.threads = threads;
        o.resume = resume;
        o.checkpointEvery = checkpointEvery;
        o.seed = seed;
        o.trainable = trainable;
        o.tokenizerPath = tokenizer;
        o.gradAccum = gradAccum;
        o.shardOptimizer = shardOptimizer;
        o.checkpointActivations = checkpointActivations;
        o.bucketMB = bucketMB;
        // Errors are worded with onebit-train's flags (TrainFlags.h), as
        // the keyword arguments mirror them.
        if (std::string bad = ::onebit::checkTrainFlags(o); !bad.empty()) {
          PyErr_SetString(errorType, bad.c_str());
          throw py::error_already_set();
        }
        // The other ranks, under mpirun or srun (as onebit-train).
        std::shared_ptr<::onebit::Communicator> comm;
        if (distributed != "none") {
          comm = trainCommunicator();
          if (!comm) {
            std::shared_ptr<::onebit::Communicator> abortOnError;
            std::string why;
            comm = ::onebit::openCommunicator(distributed, o.target,
                                              collectiveTimeout, abortOnError,
                                              why);
            if (!comm && !why.empty()) {
              if (abortOnError) {
                py::print("onebit.train: error:", why,
                          py::arg("file") =
                              py::module_::import("sys").attr("stderr"));
                abortOnError->abort(1);
              }
              PyErr_SetString(errorType, why.c_str());
              throw py::error_already_set();
            }
            trainCommunicator() = comm;
          } else {
            comm->setTimeoutSeconds(collectiveTimeout);
          }
        }
        o.communicator = comm.get();
        const int rank = comm ? comm->rank() : 0;
        const bool several = comm && comm->size() > 1;
        // An exception in the callback must not cross the C++ libraries
        // (built without exceptions): it stops the run and is re-raised.
        std::unique_ptr<py::error_already_set> pending;
        std::function<bool(const ::onebit::TrainStepInfo &)> onStep;
        if (!callback.is_none())
          onStep = [&](const ::onebit::TrainStepInfo &i) {
            py::gil_scoped_acquire gil;
            try {
              py::object r = callback(i.step, i.lr, i.loss, i.lossCE,
                                      i.lossMSE, i.seconds);
              return r.is_none() || r.cast<bool>();
            } catch (py::error_already_set &e) {
              pending = std::make_unique<py::error_already_set>(std::move(e));
              return false;
            } catch (py::cast_error &) {
              pending = std::make_unique<py::error_already_set>(
                  (PyErr_SetString(PyExc_TypeError,
                                   "the train callback must return None "
                                   "or a bool"),
                   py::error_already_set()));
              return false;
            }
          };
        ::onebit::TrainConsole console;
        ::onebit::TrainCallbacks callbacks;
        // Only rank 0 prints.
        if (quiet || rank != 0)
          callbacks.onStep = onStep;
        else
          callbacks = console.callbacks(onStep);
        ::onebit::TrainResult result;
        ::onebit::TrainError error;
        bool ok;
        {
          py::gil_scoped_release release;
          ok = ::onebit::runTraining(o, callbacks, result, error);
          if (!ok)
            console.end();
        }
        if (pending) {
          pending->restore();
          throw py::error_already_set();
        }
        if (!ok) {
          std::string message = ::onebit::trainFlagError(error);
          if (rank != 0 && message.rfind("rank ", 0) != 0)
            message = "rank " + std::to_string(rank) + ": " + message;
          // Other ranks may wait for this one in a collective: end the job
          // (as onebit-train), unless every rank stopped here together.
          if (several && !error.everyRank) {
            py::print("onebit.train: error:", message,
                      py::arg("file") =
                          py::module_::import("sys").attr("stderr"));
            comm->abort(1);
          }
          PyErr_SetString(errorType, message.c_str());
          throw py::error_already_set();
        }
        return py::make_tuple(result.modelPath, result.finalLoss);
      },
      py::arg("teacher"), py::arg("data"), py::arg("steps"), py::arg("out"),
      py::arg("lr"), py::arg("warmup"), py::arg("alpha"), py::arg("init"),
      py::arg("batch"), py::arg("seq_len"), py::arg("weight_decay"),
      py::arg("threads"), py::arg("resume"), py::arg("checkpoint_every"),
      py::arg("seed"), py::arg("callback"), py::arg("quiet"),
      py::arg("trainable") = "", py::arg("tokenizer") = "",
      py::arg("device") = "cpu", py::arg("mse_last_layer") = true,
      py::arg("grad_accum") = 1, py::arg("distributed") = "auto",
      py::arg("collective_timeout") = 300.0, py::arg("shard_optimizer") = false,
      py::arg("checkpoint_activations") = false, py::arg("bucket_mb") = 25.0);

  // Perplexity (GPTQ protocol) of a compiled model on token ids.
  m.def("evaluate_perplexity",
        [](CompiledFunction &f, const std::vector<int64_t> &tokens) {
          ::onebit::PerplexityResult r;
          std::string error;
          bool ok;
          {
            py::gil_scoped_release release;
            ok = ::onebit::evaluatePerplexity(*f.model, tokens, r, error);
          }
          if (!ok) {
            PyErr_SetString(errorType, error.c_str());
            throw py::error_already_set();
          }
          return py::make_tuple(r.perplexity, r.meanNll, r.windows,
                                r.predictedTokens);
        },
        py::arg("compiled"), py::arg("tokens"));
}
