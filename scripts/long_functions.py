#!/usr/bin/env python3
"""Lists the functions of C++ sources longer than a limit (issue 25: no
function in lib/ over about 150 lines without a comment above it saying why).

A brace-matching scan, not a parser: comments, string and character literals
and preprocessor lines are blanked first, then every `{` opened at namespace
or class scope whose header ends like a function signature (`)` then
qualifiers, a trailing return type or a constructor's initializers) starts a
function that ends at the matching `}`. Lambdas and local classes count as
part of the function around them. A function's length runs from the first
line of its signature to its closing brace.

For each long function it prints the file, line, length and name, and the
comment directly above it (the reason it is long, if someone gave one).

usage: long_functions.py [--limit N] [--strict] [PATH ...]   (default: lib)
  --strict  exit 1 when a long function has no comment above it at all
"""
import argparse
import os
import re
import sys

SOURCE_SUFFIXES = (".cpp", ".cc", ".h", ".hpp")
CONTROL = re.compile(r"^\s*(if|for|while|switch|catch|do|else|try)\b")
SCOPE = re.compile(r"\b(namespace|class|struct|union|enum)\b")
# What may follow a signature's closing parenthesis before the body.
QUALIFIERS = re.compile(
    r"^\s*(const|override|final|noexcept(\s*\(.*\))?|mutable|volatile|&|&&"
    r"|->[^{;]*|\s)*$")


def blank(text):
    """Comments, literals and preprocessor lines as spaces, newlines kept."""
    out = []
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#":
            # A directive, with its backslash continuations.
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            continue
        if c == "\n":
            out.append(c)
            at_line_start = True
            i += 1
            continue
        if not c.isspace():
            at_line_start = False
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                out.append(" ")
                i += 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
            continue
        raw = re.match(r'R"([^(\s]*)\(', text[i:i + 20])
        if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            close = ")" + raw.group(1) + '"'
            end = text.find(close, i + raw.end())
            end = n if end < 0 else end + len(close)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:end]))
            i = end
            continue
        if c in "\"'":
            # A digit separator (1'000) is not a character literal.
            if c == "'" and i > 0 and text[i - 1].isalnum() and \
                    i + 1 < n and text[i + 1].isalnum() and \
                    re.match(r"[0-9a-fA-FxXbB']*$", text[i - 1]):
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def strip_templates(header):
    """The header without its leading `template <...>` parameter lists."""
    while True:
        m = re.match(r"\s*template\s*<", header)
        if not m:
            return header
        depth, k = 1, m.end()
        while k < len(header) and depth:
            depth += {"<": 1, ">": -1}.get(header[k], 0)
            k += 1
        header = header[k:]


def is_function_header(header):
    header = strip_templates(header).strip()
    if not header or "(" not in header or CONTROL.match(header):
        return False
    # `x = {...}` data, `[...](...) {` lambdas at namespace scope.
    head = header.split("(", 1)[0]
    if "=" in head and "operator" not in head:
        return False
    depth, close = 0, -1
    for k, ch in enumerate(header):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                close = k
    if close < 0:
        return False
    # The signature's parameter list is the first top-level (...) group
    # after the name; constructors may go on with `: member(init), ...`.
    tail = header[close + 1:]
    if QUALIFIERS.match(tail):
        return True
    first = header.find("(")
    depth = 0
    for k in range(first, len(header)):
        if header[k] == "(":
            depth += 1
        elif header[k] == ")":
            depth -= 1
            if depth == 0:
                rest = header[k + 1:]
                return bool(re.match(r"^\s*(noexcept\s*)?:[^:]", rest))
    return False


def function_name(header):
    head = header.split("(", 1)[0]
    m = re.search(r"([~\w:]+(\s*operator\s*\S+)?)\s*(<[^()]*>)?\s*$", head)
    return m.group(1) if m else head.strip()


def long_functions(path, limit):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    code = blank(text)
    lines = text.split("\n")
    line_of = []
    line = 1
    for ch in code:
        line_of.append(line)
        if ch == "\n":
            line += 1
    stack = []  # ("scope" | "func" | "block", start offset, header)
    header_start = 0
    found = []
    for i, ch in enumerate(code):
        if stack and stack[-1][0] == "hdr":
            # Inside braces that belong to a signature: all of it, lambdas
            # included, is still that signature.
            if ch == "{":
                stack.append(("hdr", i, ""))
            elif ch == "}":
                stack.pop()
            continue
        if ch == "{":
            header = code[header_start:i]
            inside = any(kind not in ("scope", "hdr") for kind, _, _ in stack)
            if inside:
                stack.append(("block", i, ""))
            elif header.count("(") > header.count(")") or \
                    re.search(r"[:,]\s*[\w:<>]+\s*$", header) and \
                    is_function_header(header + "{}"):
                # Part of a signature: a default argument (`T x = {}`) or a
                # constructor's brace initializer (`: member{...}`).
                stack.append(("hdr", i, ""))
                continue
            elif SCOPE.search(header) and "(" not in header.split("{")[0] \
                    or re.fullmatch(r'\s*extern\s*"\s*"\s*', header):
                stack.append(("scope", i, ""))
            elif is_function_header(header):
                start = header_start + (len(header) - len(header.lstrip()))
                stack.append(("func", start, header))
            else:
                stack.append(("block", i, ""))
            header_start = i + 1
        elif ch == "}":
            if stack:
                kind, start, header = stack.pop()
                if kind == "func":
                    first, last = line_of[start], line_of[i]
                    if last - first + 1 > limit:
                        found.append((first, last - first + 1,
                                      function_name(header)))
            header_start = i + 1
        elif ch == ";":
            header_start = i + 1
    results = []
    for first, length, name in found:
        # The comment block directly above the signature (template lines and
        # blank-free attributes belong to the signature, so skip them).
        k = first - 2
        while k >= 0 and lines[k].strip().startswith("template"):
            k -= 1
        comment = []
        while k >= 0 and lines[k].strip().startswith("//"):
            comment.insert(0, lines[k].strip())
            k -= 1
        results.append((path, first, length, name, comment))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=["lib"])
    parser.add_argument("--limit", type=int, default=150)
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    files = []
    for p in args.paths:
        if os.path.isfile(p):
            files.append(p)
            continue
        for root, _, names in os.walk(p):
            files += [os.path.join(root, n) for n in names
                      if n.endswith(SOURCE_SUFFIXES)]
    uncommented = 0
    for path in sorted(files):
        for path_, first, length, name, comment in long_functions(path,
                                                                  args.limit):
            print(f"{path_}:{first}: {length} lines: {name}")
            if comment:
                for c in comment:
                    print(f"    {c}")
            else:
                print("    (no comment above it)")
                uncommented += 1
    return 1 if args.strict and uncommented else 0


if __name__ == "__main__":
    sys.exit(main())
