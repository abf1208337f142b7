#!/usr/bin/env python3
"""Fails if any crate's modules import each other in a circle (`use crate::…` / `super::…`).

DESIGN.md: dependencies point one way and no module imports in a circle. Cargo enforces it
between crates; this checks it between the modules of each crate. Tests (`#[cfg(test)]` and
below) and comments are ignored. Usage: check-import-cycles.py CRATE_SRC_DIR...
"""
import os
import re
import sys


def modules(src):
    """Module path ('' for the crate root) -> source text."""
    found = {}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            text = open(path, encoding="utf-8").read()
            text = re.split(r"#\[cfg\(test\)\]", text)[0]
            text = re.sub(r"//.*", "", text)
            found["::".join(parts)] = text
    return found


def target(module, path, known):
    """The module a `crate::…`/`super::…` path lands in, or None."""
    here = module.split("::") if module else []
    segments = path.split("::")
    if segments[0] == "crate":
        base, segments = [], segments[1:]
    else:
        base = here
        while segments and segments[0] == "super":
            base, segments = base[:-1], segments[1:]
    candidate = base + segments
    while candidate:
        name = "::".join(candidate)
        if name in known:
            return name
        candidate = candidate[:-1]
    return None


def cycles(src):
    mods = modules(src)
    edges = {m: set() for m in mods}
    for module, text in mods.items():
        for path in re.findall(r"\b((?:crate|super)(?:::\w+)+)", text):
            to = target(module, path, mods)
            # A module may name its ancestors' items (they are namespaces, not peers).
            if to and to != module and not module.startswith(to + "::"):
                edges[module].add(to)
    found = set()

    def walk(node, trail):
        for nxt in edges[node]:
            if nxt in trail:
                found.add(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif len(trail) < 20:
                walk(nxt, trail + [nxt])

    for module in mods:
        walk(module, [module])
    return sorted(found)


failed = False
for crate in sys.argv[1:]:
    for cycle in cycles(crate):
        print(f"{crate}: import cycle {cycle}")
        failed = True
sys.exit(1 if failed else 0)
