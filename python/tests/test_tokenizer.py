"""onebit.Tokenizer: the C++ byte-level BPE tokenizer of onebit-eval and
onebit-train, from a Hugging Face tokenizer.json; evaluate(text=,
tokenizer=) tokenizes with it."""
import os

import pytest

import onebit

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TINY = os.path.join(ROOT, "test", "Tokenizer", "Inputs", "hf-tiny.json")


def test_encode_decode_tiny_vocabulary():
    tok = onebit.Tokenizer(TINY)
    assert tok.vocab_size == 6
    # "ab" merges to 2; " ab" to 4 (byte-level space is \u0120); the special
    # token is one id unless parse_special is off.
    assert tok.encode("ab ab") == [2, 4]
    assert tok.encode("ab<|endoftext|>") == [2, 5]
    assert tok.decode([2, 4, 1]) == "ab abb"


def test_tokenizer_errors(tmp_path):
    with pytest.raises(onebit.Error, match="missing.json"):
        onebit.Tokenizer(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(onebit.Error):
        onebit.Tokenizer(str(bad))
