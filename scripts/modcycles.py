#!/usr/bin/env python3
"""Reports import cycles among the modules of each crate (issue 18: a layer must not know the
layers above it).

Usage: scripts/modcycles.py [ROOT]   (ROOT defaults to the repository holding this script)

A crate is a folder with src/lib.rs or src/main.rs under crates/ (and tests/). Its modules are
the files of src/ (a/b.rs or a/b/mod.rs is module a::b, counted as a). Module M depends on N when
M's file, outside its `#[cfg(test)]` block, names `crate::N` (in a `use` or a path, including
`use crate::{N, ...}`) or, in a top-level module, `super::N`. main.rs and lib.rs are the root and
are left out: the root declares every module, which is no cycle.

Prints each cycle as `crate: a -> b -> a` and exits 1 when there is one; prints nothing and exits
0 otherwise.
"""

import os
import re
import sys


# What hides code from the dependency scan, matched in one left-to-right pass so that each
# starts where the previous one ended: a `//` or `r"` inside a string is text, not a comment or
# a raw string (a string ending in `r`, `"... for"`, once hid every `crate::` up to the next
# quote: issue 29). Lifetimes (`'a`) have no closing quote and are left alone.
HIDDEN = re.compile(
    r"//[^\n]*"
    r"|/\*.*?\*/"
    r'|\bb?r(#*)".*?"\1'
    r'|b?"(?:\\.|[^"\\])*"'
    r"|b?'(?:\\u\{[0-9a-fA-F]+\}|\\.|[^'\\\n])'",
    re.S,
)


def strip(text):
    """The text without comments, string and character literals, and the trailing test module."""
    m = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod \w+\s*\{", text, re.M)
    if m:
        text = text[: m.start()]
    return HIDDEN.sub(lambda m: " " if m.group(0)[0] in "/'" else '""', text)


def braces(text, i):
    """The text inside the braces opening at text[i] == '{'."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return text[i + 1 :]


def deps(text, modules, top_level):
    out = set()
    for m in re.finditer(r"\bcrate::(\w+)", text):
        out.add(m.group(1))
    for m in re.finditer(r"\bcrate::\{", text):
        inner = braces(text, m.end() - 1)
        # Only the first segment of each top-level item of the group.
        depth, item = 0, ""
        for ch in inner + ",":
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                name = re.match(r"\s*(\w+)", item)
                if name:
                    out.add(name.group(1))
                item = ""
            else:
                item += ch
    if top_level:
        for m in re.finditer(r"\bsuper::(\w+)", text):
            out.add(m.group(1))
        for m in re.finditer(r"\bsuper::\{", text):
            for name in re.findall(r"(?:^|,)\s*(\w+)", braces(text, m.end() - 1)):
                out.add(name)
    return {d for d in out if d in modules}


def crate_graph(src):
    files = {}
    for dirpath, _, names in os.walk(src):
        for n in names:
            if not n.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, n), src)
            parts = rel[:-3].split(os.sep)
            if parts == ["main"] or parts == ["lib"]:
                continue
            if parts[0] == "bin":
                continue
            files.setdefault(parts[0], []).append((os.path.join(dirpath, n), len(parts) == 1))
    modules = set(files)
    graph = {}
    for mod, paths in files.items():
        graph[mod] = set()
        for path, top in paths:
            with open(path, encoding="utf-8") as f:
                graph[mod] |= deps(strip(f.read()), modules, top)
        graph[mod].discard(mod)
    return graph


def cycles(graph):
    """Every elementary cycle's smallest representative, found by Tarjan's SCCs then one DFS
    path per strongly connected component."""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    found = []
    for comp in comps:
        members = set(comp)
        # A shortest cycle through each member, by BFS inside the component.
        seen_cycles = set()
        for start in comp:
            prev = {start: None}
            queue = [start]
            cycle = None
            while queue and cycle is None:
                v = queue.pop(0)
                for w in sorted(graph[v] & members):
                    if w == start:
                        path = [v]
                        while prev[path[-1]] is not None:
                            path.append(prev[path[-1]])
                        cycle = list(reversed(path))
                        break
                    if w not in prev:
                        prev[w] = v
                        queue.append(w)
            if cycle:
                i = cycle.index(min(cycle))
                key = tuple(cycle[i:] + cycle[:i])
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    found.append(list(key) + [key[0]])
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    crates = []
    for base in ("crates", "."):
        d = os.path.join(root, base)
        for name in sorted(os.listdir(d)) if base == "crates" else ["tests"]:
            src = os.path.join(d, name, "src")
            if os.path.isfile(os.path.join(src, "lib.rs")) or os.path.isfile(
                os.path.join(src, "main.rs")
            ):
                crates.append((name, src))
    status = 0
    for name, src in crates:
        for c in cycles(crate_graph(src)):
            print(f"{name}: {' -> '.join(c)}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
