//===- onebit-tokenize.cpp - tokenize text with a model's tokenizer -------===//
//
// onebit-tokenize (MODEL.gguf | --tokenizer FILE) (--text STRING | --file PATH)
//                 [--pieces] [--no-special] [--decode]
// The tokenizer is a GGUF model's (tokenizer.ggml.*) or a Hugging Face
// tokenizer.json (--tokenizer takes either, as does the positional file).
// Prints the token ids (one line, space separated); --pieces prints the
// pre-tokenizer's pieces instead; --decode checks that decoding the ids gives
// the input back and prints it.
//
//===----------------------------------------------------------------------===//

#include "onebit/Tokenizer/TokenizerLoader.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static cl::OptionCategory TokenizeCategory("onebit-tokenize options");

static cl::opt<std::string> modelPath(cl::Positional,
                                      cl::desc("<model.gguf|tokenizer.json>"),
                                      cl::cat(TokenizeCategory));
static cl::opt<std::string>
    tokenizerPath("tokenizer",
                  cl::desc("tokenizer file: a .gguf model or a Hugging Face "
                           "tokenizer.json"),
                  cl::cat(TokenizeCategory));
static cl::opt<std::string> text("text", cl::desc("text to tokenize"),
                                 cl::cat(TokenizeCategory));
static cl::opt<std::string> file("file",
                                 cl::desc("file whose text to tokenize"),
                                 cl::cat(TokenizeCategory));
static cl::opt<bool> pieces("pieces", cl::desc("print pre-tokenizer pieces"),
                            cl::cat(TokenizeCategory));
static cl::opt<bool> noSpecial("no-special",
                               cl::desc("treat special-token text as text"),
                               cl::cat(TokenizeCategory));
static cl::opt<bool> decode("decode", cl::desc("print the decoded ids"),
                            cl::cat(TokenizeCategory));

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(TokenizeCategory);
  cl::ParseCommandLineOptions(argc, argv, "onebit tokenizer\n");
  if (text.getNumOccurrences() == file.getNumOccurrences()) {
    errs() << "onebit-tokenize: give exactly one of --text or --file\n";
    return 1;
  }
  if (modelPath.empty() == tokenizerPath.empty()) {
    errs() << "onebit-tokenize: give exactly one of MODEL.gguf or "
              "--tokenizer FILE\n";
    return 1;
  }
  std::string input = text;
  if (!file.empty()) {
    auto buf = MemoryBuffer::getFile(file);
    if (!buf) {
      errs() << "onebit-tokenize: cannot read '" << file
             << "': " << buf.getError().message() << "\n";
      return 1;
    }
    input = (*buf)->getBuffer().str();
  }
  std::string error;
  auto tok = onebit::loadTokenizer(
      tokenizerPath.empty() ? modelPath : tokenizerPath, error);
  if (!tok) {
    errs() << "onebit-tokenize: " << error << "\n";
    return 1;
  }
  if (pieces) {
    for (const std::string &p : tok->preTokenize(input))
      outs() << "[" << p << "]";
    outs() << "\n";
    return 0;
  }
  std::vector<int32_t> ids = tok->encode(input, !noSpecial);
  for (size_t i = 0; i < ids.size(); ++i)
    outs() << (i ? " " : "") << ids[i];
  outs() << "\n";
  if (decode)
    outs() << tok->decode(ids) << "\n";
  return 0;
}
