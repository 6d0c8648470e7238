#!/usr/bin/env python3
"""Import cycles among the files of each crate of the workspace.

Usage: python3 .ci/import_cycles.py [-v] [REPO] | --self-test    (REPO: this checkout)

Crates: src/lib.rs, src/main.rs, src/bin/* and fuzz_targets/* of the root package, crates/*,
fuzz/ and benches/peers/. A crate's files are those its `mod x;` lines reach (`a/b.rs` or
`a/b/mod.rs` is module `a::b`). File A has an edge to file B when A names something defined
in B: a `use` or a path in code starting with `crate::`, `super::`, `self::` or a child
module (groups like `use crate::{a, b::c}` expanded). A path goes to its longest prefix that
is a module, then on through that module's imports (`use`, `pub use`, globs whose module
defines the name) to the defining file: `use crate::Error` with `pub use error::Error` in
lib.rs is an edge to error.rs, not lib.rs. The root's `pub use` lines (its facade) and
`mod child;` are no edges. Each file on a cycle (a strongly connected component of more than
one file) is shown on a shortest cycle, `crate: a.rs -> b.rs -> a.rs` (-v: with the path
behind each edge), exit status 1; else it prints `no import cycles in N crates`, status 0.

Ignored: comments (doc links too), string and char literals, `#[cfg(test)] mod x { .. }`,
`pub(in path)`, a file naming itself. Test files (`tests.rs`, `use super::*`) keep their edges:
nothing imports a test module, so it closes no cycle and needs no exception. An inline
`mod x { .. }` is module `x` of its file. Limits: a text scan, not a compiler: `#[path]`,
`include!`, macro-made paths, `cfg` other than `test` and `#[macro_use]` are not understood;
a bare name counts only through the `use` that imported it; the root package's tests/,
examples/ and benches/*.rs are not checked.
"""

import argparse
import os
import re
import sys
import tomllib
from pathlib import Path

# Comments, raw strings, strings and char literals (a lifetime `'a` is none of them).
LITERAL = re.compile(r"""//[^\n]* | /\* | (?<!\w)[bc]?r(\#*)".*?"\1 | b?"(?:\\.|[^"\\])*"
    | b?'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^'\\\n])'""", re.S | re.X)
MOD_BLOCK = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?\bmod\s+(?:r#)?(\w+)\s*\{")
MOD_DECL = re.compile(r"(?<![\w$])mod\s+(?:r#)?(\w+)\s*;")
USE = re.compile(r"(?<![\w$])(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
PATH = re.compile(r"(?<![\w:.$])\$?(\w+(?:::\w+)+)")
VIS_IN = re.compile(r"\bpub\s*\(\s*in\s+[^)]*\)")
DEFINES = r"\b(?:struct|enum|union|fn|trait|type|const|static|mod|macro_rules!)\s+(?:r#)?{}\b"


def strip(text):
    """`text` without comments, with every string and char literal emptied."""
    out, pos = [], 0
    while m := LITERAL.search(text, pos):
        out.append(text[pos : m.start()])
        pos, depth = m.end(), m.group() == "/*"
        while depth and pos < len(text):  # block comments nest
            two = text[pos : pos + 2]
            depth += {"/*": 1, "*/": -1}.get(two, 0)
            pos += 2 if two in ("/*", "*/") else 1
        out.append(" " if m.group()[0] == "/" else "'_'" if m.group()[-1] == "'" else '""')
    return "".join(out) + text[pos:]


def chunks(code, module):
    """[(module, code)]: the file's own code, then each inline `mod x { }` but cfg(test) ones."""
    own, found, pos = [], [], 0
    while m := MOD_BLOCK.search(code, pos):
        end, depth = m.end(), 1
        while depth and end < len(code):
            depth += {"{": 1, "}": -1}.get(code[end], 0)
            end += 1
        own.append(code[pos : m.start()])
        if "cfg(test)" not in m.group(1).replace(" ", ""):
            found += chunks(code[m.end() : end - 1], module + (m.group(2),))
        pos = end
    return [(module, "".join(own) + code[pos:])] + found


def expand(tree):
    """`a::{b, c::d as e}` -> [(('a', 'b'), None), (('a', 'c', 'd'), 'e')]."""
    tree = " ".join(tree.split())
    if "{" not in tree:
        path, _, alias = tree.partition(" as ")
        return [(tuple(s.strip() for s in path.split("::") if s.strip()), alias.strip() or None)]
    head = tuple(s.strip() for s in tree[: tree.index("{")].split("::") if s.strip())
    parts, depth, start, body = [], 0, 0, tree[tree.index("{") + 1 : tree.rindex("}")] + ","
    for i, ch in enumerate(body):  # split at the commas outside braces
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts += [body[start:i]] if body[start:i].strip() else []
            start = i + 1
    return [(head + path, alias) for part in parts for path, alias in expand(part)]


def absolute(segs, module, modules, aliases):
    """The path from the crate root that `segs`, written in `module`, names; None if not ours."""
    if segs[0] in ("crate", "self"):
        return (module if segs[0] == "self" else ()) + segs[1:]
    if segs[0] == "super":
        ups = next((i for i, s in enumerate(segs) if s != "super"), len(segs))
        return module[: len(module) - ups] + segs[ups:] if ups <= len(module) else None
    if module + segs[:1] in modules or segs[0] in aliases.get(module, {}):
        return module + segs
    return None


def crate_edges(root, read):
    """{file: {file it names: the first path naming it}} of the crate whose root file is `root`;
    read(path relative to the crate's module directory) is the file's text or None."""
    modules, parsed, todo = {}, [], [((), root, read(root))]
    while todo:
        module, file, text = todo.pop()
        modules[module] = file
        for sub, code in chunks(strip(text), module):
            modules.setdefault(sub, file)
            parsed.append((file, sub, VIS_IN.sub("pub", code)))
            for name in MOD_DECL.findall(code):
                path = "/".join(sub + (name,))
                for file_name in (path + ".rs", path + "/mod.rs"):
                    if (child_text := read(file_name)) is not None:
                        todo.append((sub + (name,), file_name, child_text))
                        break
    code_of = {module: code for _, module, code in parsed}
    aliases, globs, named, in_code = {}, {}, [], []
    for file, module, code in parsed:  # imports first: code paths may go through them
        for m in USE.finditer(code):
            for segs, alias in expand(m.group(2)):
                glob = segs[-1] == "*"
                segs = segs[:-1] if segs[-1] in ("*", "self") else segs
                if not segs or (path := absolute(segs, module, modules, {})) is None:
                    continue
                if glob:
                    globs.setdefault(module, []).append(path)
                elif (alias or segs[-1]) != "_":
                    aliases.setdefault(module, {})[alias or segs[-1]] = path
                if not (m.group(1) and module == ()):  # the root's re-exports are no edges
                    named.append((file, path, "::".join(segs)))
        in_code += [(file, module, m.group(1)) for m in PATH.finditer(USE.sub(" ", code))]
    for file, module, text in in_code:  # once every alias is known
        named.append((file, absolute(tuple(text.split("::")), module, modules, aliases), text))

    def resolve(path, depth=0):
        n = max(i for i in range(len(path) + 1) if path[:i] in modules)
        module, rest = path[:n], path[n:]
        target = aliases.get(module, {}).get(rest[0]) if rest else None
        for glob in globs.get(module, []) if rest and target is None else []:
            if re.search(DEFINES.format(re.escape(rest[0])), code_of.get(glob, "")):
                target = glob + rest[:1]
        if target is None or target == path[: n + 1] or depth > 16:
            return modules[module]
        return resolve(target + rest[1:], depth + 1)

    edges = {file: {} for file in modules.values()}
    for file, path, why in named:
        if path is not None and (target := resolve(path)) != file:
            edges[file].setdefault(target, why)
    return edges


def shortest_cycle(start, edges):
    """[start, ..., start] by the fewest edges, or None when `start` is on no cycle."""
    seen, queue = {start}, [[start]]
    for path in queue:  # breadth first
        for nxt in sorted(edges[path[-1]]):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                queue.append(path + [nxt])
    return None


def cycles(label, root, read, verbose=False):
    """The report's lines for one crate: a shortest cycle through each file on a cycle."""
    edges, lines, shown = crate_edges(root, read), [], set()
    for file in sorted(edges):
        if file not in shown and (cycle := shortest_cycle(file, edges)):
            shown.update(cycle)
            lines.append(f"{label}: {' -> '.join(cycle)}")
            lines += [f"    {a} -> {b}: {edges[a][b]}" for a, b in zip(cycle, cycle[1:]) if verbose]
    return lines


def crates(repo):
    """(label, root file, directory of its modules) of every crate checked."""
    for package in [repo, *sorted(repo.glob("crates/*/")), repo / "fuzz", repo / "benches/peers"]:
        if not (package / "Cargo.toml").is_file():
            continue
        manifest = tomllib.loads((package / "Cargo.toml").read_text())
        name = manifest.get("package", {}).get("name", package.name)
        roots = [r for r in (package / "src/lib.rs", package / "src/main.rs") if r.is_file()]
        for n, root in enumerate(roots):
            yield name + (" (main.rs)" if n else ""), root, root.parent
        for pattern in ("src/bin/*.rs", "src/bin/*/main.rs", "fuzz_targets/*.rs"):
            for root in sorted(package.glob(pattern)):
                base = root.parent if root.name == "main.rs" else root.with_suffix("")
                yield f"{name} ({base.name})", root, base


def reader(base):
    """A file's text by its path relative to `base`, or None."""
    path = lambda rel: Path(os.path.normpath(base / rel))  # noqa: E731
    return lambda rel: path(rel).read_text() if path(rel).is_file() else None


def check(repo, verbose):
    lines, count = [], 0
    for count, (label, root, base) in enumerate(crates(repo), 1):
        lines += cycles(label, os.path.relpath(root, base), reader(base), verbose)
    print("\n".join(lines) if lines else f"no import cycles in {count} crates")
    return 1 if lines else 0


def self_test():
    run = lambda files: cycles("t", "lib.rs", files.get)  # noqa: E731
    assert run({  # through `crate::`, in a grouped import and in code; not in comments, strings
        "lib.rs": "mod a; mod b; mod c;",
        "a.rs": "use crate::{c, b::{B, self}};\npub struct A;",
        "b.rs": "pub struct B;\nfn f() -> crate::a::A { todo!() }",
        "c.rs": "// use crate::a::A;\nconst S: &str = \"crate::a::{A}\";",
    }) == ["t: a.rs -> b.rs -> a.rs"], "a cycle through crate::"
    assert run({  # through `super::`; a test module using `super::*` closes none
        "lib.rs": "mod p;",
        "p/mod.rs": "mod child;\n#[cfg(test)]\nmod tests;\n"
        "pub struct P;\nfn f() { child::make(); }",
        "p/child.rs": "use super::P;\npub fn make() {}",
        "p/tests.rs": "use super::*;\nuse crate::p::child::make;",
    }) == ["t: p/child.rs -> p/mod.rs -> p/child.rs"], "a cycle through super::"
    files = {  # names imported through the root's re-exports go to the defining file
        "lib.rs": "mod error;\nmod client;\nmod user;\npub use error::{Error, Kind};\n"
        "pub use client::*;\npub const V: u8 = 1;",
        "error.rs": "/// See [`Client`](crate::Client).\npub struct Error;\npub enum Kind {}\n"
        "#[cfg(test)]\nmod tests {\n    use crate::Client;\n    const C: char = '{';\n}",
        "client.rs": "use crate::{Error, Kind, V};\npub struct Client(Error, Kind);",
        "user.rs": "fn f(c: crate::Client) {}",
    }
    assert run(files) == [], "a re-export through lib.rs is no cycle"
    edges = crate_edges("lib.rs", files.get)
    assert edges["client.rs"] == {"error.rs": "crate::Error", "lib.rs": "crate::V"}, "edges"
    assert edges["user.rs"] == {"client.rs": "crate::Client"}, "an edge through a glob"
    up = {"lib.rs": "mod a;\nfn f() { a::g(); }", "a/b.rs": "pub(in crate::a) fn k() {}",
          "a.rs": "mod b;\nfn g() { b::k() }\nmod i { use super::h; }"}
    assert run(up) == [], "an inline module's super:: is its file; pub(in path) is no edge"
    print("self-test passed")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Import cycles among the files of each crate.")
    parser.add_argument("repo", nargs="?", type=Path, default=Path(__file__).parent.parent)
    parser.add_argument("-v", "--verbose", action="store_true", help="the path behind each edge")
    parser.add_argument("--self-test", action="store_true", help="check the script itself")
    args = parser.parse_args()
    sys.exit(self_test() if args.self_test else check(args.repo.resolve(), args.verbose))
