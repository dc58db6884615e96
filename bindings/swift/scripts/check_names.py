#!/usr/bin/env python3
"""Checks that llamette's C header maps to Swift cleanly and that the Swift sources call it right.

Run by bindings/swift/check.sh (needs clang and python3; no Swift toolchain):

  python3 bindings/swift/scripts/check_names.py [--clang clang]

1. Names: no parameter name, struct field or enumerator of include/llamette.h (or of the
   module's shim header) is a Swift reserved word, and no field is a member name Swift keeps
   for itself (`Type`, `self`, `init`, ...). Parameter names inside function-pointer types are
   checked too (taken from the header's text, which clang's AST does not keep).
2. Enumerators: their names are unique among all the header's names (as Swift imports an
   unannotated C enum: a struct plus global constants with the C names), and the names they
   would get if the enum were ever imported as a Swift enum (common prefix stripped,
   lowerCamelCase) are unique within each enum and are not reserved words.
3. Calls: every `llamette_*` / `cllamette_*` function the Swift sources (Sources/Llamette/*.swift)
   call exists, with the number of arguments used; every `LLAMETTE_*` constant and `Llamette*`
   C type they name exists; no C name equals a type the Swift module declares.

Declarations come from clang's JSON AST dump of the shim (which includes the header), cross-
checked against a plain regex scan of the header text. Exits 1 on any problem.
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
SWIFT_DIR = HERE.parent
ROOT = SWIFT_DIR.parent.parent
HEADER = ROOT / "include" / "llamette.h"
SHIM = SWIFT_DIR / "Sources" / "CLlamette" / "CLlamette.h"
SOURCES = sorted((SWIFT_DIR / "Sources" / "Llamette").glob("*.swift"))

# Swift's reserved words: usable as identifiers only in backticks (The Swift Programming
# Language, Lexical Structure, "Keywords and Punctuation": declarations, statements,
# expressions and types, patterns).
RESERVED = {
    # declarations
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import",
    "init", "inout", "internal", "let", "open", "operator", "private", "precedencegroup",
    "protocol", "public", "rethrows", "static", "struct", "subscript", "typealias", "var",
    # statements
    "break", "case", "catch", "continue", "default", "defer", "do", "else", "fallthrough",
    "for", "guard", "if", "in", "repeat", "return", "throw", "switch", "where", "while",
    # expressions and types
    "Any", "as", "await", "false", "is", "nil", "self", "Self", "super", "throws", "true",
    "try",
    # patterns
    "_",
}
# Names that can't be member names of an imported struct without trouble: `x.Type` and
# `x.Protocol` are metatypes, `x.self` is the value itself, `x.init` an initializer.
MEMBER_RESERVED = {"Type", "Protocol", "self", "Self", "init", "deinit", "subscript", "dynamicType"}
# Contextual keywords: fine as identifiers; reported for information only. `none`/`some` as
# enum case names would shadow Optional's cases if an enum were imported as a Swift enum.
CONTEXTUAL = {
    "actor", "any", "associativity", "async", "borrowing", "consuming", "convenience", "didSet",
    "dynamic", "each", "final", "get", "indirect", "infix", "isolated", "lazy", "left",
    "macro", "mutating", "none", "nonisolated", "nonmutating", "optional", "override",
    "package", "postfix", "precedence", "prefix", "required", "right", "set", "some",
    "unowned", "weak", "willSet",
}

problems = []
notes = []


def problem(msg):
    problems.append(msg)


def ast_decls(clang):
    """Top-level declarations of the shim and the header, from clang's JSON AST."""
    cmd = [clang, "-x", "c", "-std=c11", "-fsyntax-only", "-Xclang", "-ast-dump=json", str(SHIM)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    tu = json.loads(out)
    funcs, records, enums, typedefs = {}, {}, {}, set()
    for d in tu.get("inner", []):
        kind, name = d.get("kind"), d.get("name", "")
        if d.get("isImplicit"):
            continue
        if not re.match(r"(c?llamette_|Llamette|LLAMETTE_)", name):
            continue
        if kind == "FunctionDecl":
            params = [p.get("name", "") for p in d.get("inner", []) if p.get("kind") == "ParmVarDecl"]
            funcs[name] = params
        elif kind == "RecordDecl":
            fields = [f.get("name", "") for f in d.get("inner", []) if f.get("kind") == "FieldDecl"]
            if fields or name not in records:
                records[name] = fields
        elif kind == "EnumDecl":
            enums[name] = [e["name"] for e in d.get("inner", []) if e.get("kind") == "EnumConstantDecl"]
        elif kind == "TypedefDecl":
            typedefs.add(name)
    return funcs, records, enums, typedefs


def macros(clang):
    cmd = [clang, "-x", "c", "-std=c11", "-dM", "-E", str(SHIM)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {m.group(1) for m in re.finditer(r"^#define\s+(C?LLAMETTE_\w+)", out, re.M)}


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def regex_header_scan():
    """Function names and every parameter name in any parameter list, from the header text."""
    text = strip_c_comments(HEADER.read_text())
    funcs = set(re.findall(r"\b(llamette_\w+)\s*\(", text))
    param_names = set()
    # Parameter lists: the contents of parentheses that follow an identifier or `(*name)`.
    for m in re.finditer(r"(?:\w|\))\s*\(([^()]*)\)", text):
        inner = m.group(1).strip()
        if not inner or inner == "void":
            continue
        for part in inner.split(","):
            words = re.findall(r"[A-Za-z_]\w*", part)
            if len(words) >= 2:  # a type and a name (a lone word is an unnamed parameter)
                param_names.add(words[-1])
    return funcs, param_names


def camel(words):
    words = [w.lower() for w in words]
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def swift_enum_case_names(constants):
    """The names Swift would give the cases of an NS_ENUM-like import: the common prefix of
    whole words stripped, lowerCamelCase (the importer keeps a word more where the rest would
    start with a digit)."""
    split = [c.split("_") for c in constants]
    n = 0
    while all(len(s) > n + 1 for s in split) and len({s[n] for s in split}) == 1:
        n += 1
    names = {}
    for c, s in zip(constants, split):
        k = n
        while k > 0 and s[k][:1].isdigit():
            k -= 1
        names[c] = camel(s[k:])
    return names


def strip_swift_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def count_args(text, start):
    """Arguments of the call whose `(` is at text[start]: top-level commas + 1 (0 if empty),
    skipping nested brackets, closures and string literals. Returns (count, end index)."""
    depth, i, commas, nonblank = 0, start, 0, False
    while i < len(text):
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            nonblank = True
            continue
        if ch in "([{":
            depth += 1
            if depth > 1:
                nonblank = True
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return (commas + 1 if nonblank else 0), i
        elif ch == "," and depth == 1:
            commas += 1
        elif not ch.isspace() and depth >= 1:
            nonblank = True
        i += 1
    raise ValueError("unbalanced call at offset %d" % start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clang", default="clang")
    args = ap.parse_args()

    funcs, records, enums, typedefs = ast_decls(args.clang)
    defines = macros(args.clang) - {"LLAMETTE_H", "CLLAMETTE_H"}
    regex_funcs, regex_params = regex_header_scan()

    # The two parsers agree on the header's functions.
    ast_header_funcs = {f for f in funcs if f.startswith("llamette_")}
    if ast_header_funcs != regex_funcs:
        problem("clang's AST and the regex scan disagree on the header's functions: only in AST %s, only in text %s"
                % (sorted(ast_header_funcs - regex_funcs), sorted(regex_funcs - ast_header_funcs)))
    if len(ast_header_funcs) < 30:
        problem("only %d llamette_* functions found in %s: is the header intact?" % (len(ast_header_funcs), HEADER))

    # 1. Parameter names, fields, enumerators.
    n_params = 0
    for f, params in funcs.items():
        for p in params:
            n_params += 1
            if p in RESERVED:
                problem("parameter `%s` of %s is a Swift reserved word" % (p, f))
            elif p in CONTEXTUAL:
                notes.append("parameter `%s` of %s is a contextual Swift keyword (allowed)" % (p, f))
    for p in sorted(regex_params):
        if p in RESERVED:
            problem("parameter name `%s` (in the header's text, e.g. a function-pointer type) is a Swift reserved word" % p)
    n_fields = 0
    for r, fields in records.items():
        for fld in fields:
            n_fields += 1
            if fld in RESERVED or fld in MEMBER_RESERVED:
                problem("field `%s` of struct %s is a Swift reserved word or member name" % (fld, r))
            elif fld in CONTEXTUAL:
                notes.append("field `%s` of %s is a contextual Swift keyword (allowed)" % (fld, r))

    # 2. Enumerators.
    all_constants = [c for cs in enums.values() for c in cs]
    global_names = list(funcs) + all_constants + sorted(typedefs | set(records) | set(enums) | defines)
    seen = {}
    for name in list(funcs) + all_constants + sorted(defines):
        if name in seen:
            problem("`%s` is declared twice (%s and %s)" % (name, seen[name], "again"))
        seen[name] = True
    for c in all_constants:
        if c in RESERVED:
            problem("enumerator `%s` is a Swift reserved word" % c)
        if c in typedefs or c in records or c in enums:
            problem("enumerator `%s` has the name of a type" % c)
    for e, cs in enums.items():
        names = swift_enum_case_names(cs)
        by_name = {}
        for c, n in names.items():
            by_name.setdefault(n, []).append(c)
            if n in RESERVED:
                problem("enumerator %s of %s would import as case `%s`, a Swift reserved word" % (c, e, n))
            if n in ("none", "some"):
                notes.append("%s of %s would be case `.%s` in a Swift enum import (shadows Optional.%s); "
                             "imported today as the global constant %s" % (c, e, n, n, c))
        for n, cs2 in by_name.items():
            if len(cs2) > 1:
                problem("enumerators %s of %s would import to the same Swift case `%s`" % (cs2, e, n))

    # 3. The Swift sources' calls.
    swift_types = set()
    calls = 0
    used_funcs, used_consts, used_types = set(), set(), set()
    for src in SOURCES:
        text = strip_swift_comments(src.read_text())
        swift_types |= set(re.findall(r"\b(?:class|struct|enum|protocol|typealias|actor)\s+([A-Z]\w*)", text))
        for m in re.finditer(r"\b(c?llamette_\w+)\b", text):
            name = m.group(1)
            used_funcs.add(name)
            if name not in funcs:
                problem("%s: calls %s, which is not declared in the header or the shim" % (src.name, name))
                continue
            j = m.end()
            while j < len(text) and text[j] in " \t":
                j += 1
            if j < len(text) and text[j] == "(":
                n, _ = count_args(text, j)
                calls += 1
                want = len(funcs[name])
                if n != want:
                    line = text.count("\n", 0, m.start()) + 1
                    problem("%s:%d: %s called with %d arguments, the header declares %d (%s)"
                            % (src.name, line, name, n, want, ", ".join(funcs[name])))
        for c in re.findall(r"\b(LLAMETTE_\w+)\b", text):
            used_consts.add(c)
            if c not in all_constants and c not in defines:
                problem("%s: uses %s, which is neither an enumerator nor a macro of the header" % (src.name, c))
        for t in re.findall(r"\b(Llamette[A-Z]\w*)\b", text):
            used_types.add(t)
    for t in sorted(used_types - swift_types):
        if t not in typedefs and t not in records and t not in enums:
            problem("the Swift sources use the C type %s, which the header does not declare" % t)
    for name in global_names:
        if name in swift_types:
            problem("the C name %s is also a type of the Swift module Llamette" % name)

    print("check_names: %d functions (%d parameters), %d structs (%d fields), %d enums (%d enumerators), "
          "%d macros; %d parameter names in the header's text" % (
              len(funcs), n_params, len(records), n_fields, len(enums), len(all_constants),
              len(defines), len(regex_params)))
    print("check_names: Swift sources: %d files, %d calls of %d distinct C functions, %d constants, %d C types"
          % (len(SOURCES), calls, len(used_funcs), len(used_consts), len(used_types - swift_types)))
    unused = sorted(ast_header_funcs - used_funcs)
    if unused:
        print("check_names: header functions the Swift API does not wrap: %s" % ", ".join(unused))
    for n in notes:
        print("check_names: note: " + n)
    for p in problems:
        print("check_names: PROBLEM: " + p, file=sys.stderr)
    if problems:
        print("check_names: %d problem(s)" % len(problems), file=sys.stderr)
        return 1
    print("check_names: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
