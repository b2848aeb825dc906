#!/usr/bin/env python3
"""Which module imports which, in every crate of the workspace, and whether any import circle.

    python3 scripts/layers.py            # the layers, leaves first, and every circle
    python3 scripts/layers.py --check    # exit 1 if there is a circle (scripts/test.sh runs it)
    python3 scripts/layers.py --edges    # every import edge, with the file that makes it

A module is a top-level module of a crate (driver/src/report/ with everything under it is
`report`); a module's own file (mod.rs) and its children are one unit at that level. Inside each
module the same is done again for its children (report::build -> report::checks), so every level
of the tree is checked. An edge is any path in the code, `use` or inline, that names another
module: `crate::x::...`, `super::x`, `super::super::x`, or (in a crate root or mod.rs) a child's
name. Test code (`#[cfg(test)] mod tests { ... }`) counts too: a test that reaches up a layer is
a circle like any other.
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (crate name, source dir, root file) for each crate target that has modules.
CRATES = [
    ("nines-protocol", "protocol/src", "lib.rs"),
    ("nines-common", "common/src", "lib.rs"),
    ("nines-server (lib)", "server/src", "lib.rs"),
    ("nines-driver (lib)", "driver/src", "lib.rs"),
    ("nines (bin)", "driver/src/bin/nines", "main.rs"),
]

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'r#*"(?:.|\n)*?"#*|"(?:\\.|[^"\\])*"|b\'(?:\\.|[^\'\\])\'')
USE = re.compile(r"\buse\s+([^;]+);")
PATH = re.compile(r"\b((?:crate|super|self)(?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)+)")
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)
IDENT_PATH = re.compile(r"(?<![:\w])([a-z_][a-z0-9_]*)\s*::\s*[A-Za-z_]")


def strip(text):
    text = COMMENT.sub("", text)
    return STRING.sub('""', text)


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e'] (whitespace removed)."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, t):
        # split t at top-level commas
        depth, parts, cur = 0, [], ""
        for ch in t:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        for p in parts:
            m = re.match(r"^(.*?)\{(.*)\}$", p)
            if m:
                head = m.group(1).rstrip(":")
                walk(prefix + ([head] if head else []), m.group(2))
            else:
                p = re.sub(r"as[A-Za-z_][A-Za-z0-9_]*$", "", p) if "as" in p and "::" in p else p
                out.append("::".join(prefix + [p]))

    walk([], tree)
    return out


def module_files(src, root_file):
    """Maps module path (tuple) -> file, following `mod x;` declarations from the root."""
    files = {}

    def visit(path, file, dir_for_children):
        files[path] = file
        text = strip(open(file, encoding="utf-8").read())
        for name in MOD_DECL.findall(text):
            for cand in (os.path.join(dir_for_children, name + ".rs"),
                         os.path.join(dir_for_children, name, "mod.rs")):
                if os.path.exists(cand):
                    child_dir = (os.path.dirname(cand) if cand.endswith("mod.rs")
                                 else os.path.join(dir_for_children, name))
                    visit(path + (name,), cand, child_dir)
                    break

    visit((), os.path.join(src, root_file), src)
    return files


def resolve(mod_path, raw, children_of, reexports=None):
    """The absolute module path a path in module `mod_path` names (as far as it names modules).
    A name a module re-exports from a child (`pub use build::build`) resolves to that child."""
    segs = [s.strip() for s in raw.split("::") if s.strip()]
    if not segs:
        return None
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    elif segs[0] == "self":
        base, rest = mod_path, segs[1:]
    elif segs[0] == "super":
        base = mod_path
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
        rest = segs
    elif segs[0] in children_of.get(mod_path, ()):
        base, rest = mod_path, segs
    else:
        return None
    path = base
    for s in rest:
        if s in children_of.get(path, ()):
            path = path + (s,)
        else:
            if reexports is not None and s in reexports.get(path, {}):
                return reexports[path][s]
            break
    return path


def edges_of(files):
    children_of = defaultdict(set)
    for p in files:
        if p:
            children_of[p[:-1]].add(p[-1])
    # What each module re-exports from its children: name -> the child's module path.
    reexports = defaultdict(dict)
    for mod_path, file in files.items():
        text = strip(open(file, encoding="utf-8").read())
        for u in re.findall(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for raw in expand_use(u):
                name = raw.split("::")[-1]
                target = resolve(mod_path, raw, children_of)
                if target is not None and len(target) > len(mod_path):
                    reexports[mod_path][name] = target
    edges = []  # (from module path, to module path, file)
    for mod_path, file in files.items():
        text = strip(open(file, encoding="utf-8").read())
        raws = []
        for u in USE.findall(text):
            raws.extend(expand_use(u))
        raws.extend(m.group(1) for m in PATH.finditer(text))
        raws.extend(m.group(1) + "::x" for m in IDENT_PATH.finditer(text)
                    if m.group(1) in children_of.get(mod_path, ()))
        for raw in raws:
            target = resolve(mod_path, raw, children_of, reexports)
            if target is not None and target != mod_path:
                edges.append((mod_path, target, file))
    return edges, children_of


def level_graph(parent, edges):
    """Edges between the children of `parent`: a -> b when something under a names b (or below)."""
    n = len(parent)
    graph = defaultdict(dict)
    for src, dst, file in edges:
        if len(src) <= n or len(dst) <= n or src[:n] != parent or dst[:n] != parent:
            continue
        a, b = src[n], dst[n]
        if a != b:
            graph[a].setdefault(b, file)
    return graph


def cycles(nodes, graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                strong(w)
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
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out


def layers(nodes, graph):
    """Each module's layer: 0 for leaves, else one above the highest module it imports."""
    level = {}

    def depth(v, seen=()):
        if v in level:
            return level[v]
        if v in seen:
            return 0
        d = 0
        for w in graph.get(v, {}):
            d = max(d, depth(w, seen + (v,)) + 1)
        level[v] = d
        return d

    for v in nodes:
        depth(v)
    by = defaultdict(list)
    for v, d in level.items():
        by[d].append(v)
    return [sorted(by[d]) for d in sorted(by)]


def main():
    check = "--check" in sys.argv
    show_edges = "--edges" in sys.argv
    found = 0
    for name, src, root_file in CRATES:
        files = module_files(os.path.join(ROOT, src), root_file)
        edges, children_of = edges_of(files)
        parents = sorted({p for p in children_of}, key=lambda p: (len(p), p))
        for parent in parents:
            nodes = sorted(children_of[parent])
            if len(nodes) < 2:
                continue
            graph = level_graph(parent, edges)
            where = name + ("" if not parent else " " + "::".join(parent))
            circles = cycles(nodes, graph)
            found += len(circles)
            if not check or circles:
                print(f"{where}:")
                if not circles:
                    for i, layer in enumerate(layers(nodes, graph)):
                        print(f"  {i}: {' '.join(layer)}")
            for c in circles:
                print(f"  CIRCLE: {' <-> '.join(c)}")
                for a in c:
                    for b, file in sorted(graph.get(a, {}).items()):
                        if b in c:
                            print(f"    {a} -> {b}  ({os.path.relpath(file, ROOT)})")
            if show_edges:
                for a in sorted(graph):
                    for b, file in sorted(graph[a].items()):
                        print(f"    {a} -> {b}  ({os.path.relpath(file, ROOT)})")
    if found:
        print(f"{found} import circle(s)")
        return 1
    if check:
        print("no import circles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
