"""The Terraform module parsed once with python-hcl2, with helpers the tests share.

Expressions stay as `${...}` strings; these helpers only find and compare them.
"""

import pathlib
import re

import hcl2
from hcl2 import SerializationOptions

TERRAFORM_DIR = pathlib.Path(__file__).resolve().parent.parent
REPO_DIR = TERRAFORM_DIR.parent
# The service's stack, the one-time logging bootstrap, and the module they share.
BOOTSTRAP_DIR = TERRAFORM_DIR / "bootstrap-logging"
LOGGING_MODULE_DIR = TERRAFORM_DIR / "modules" / "api-gateway-logging"
ALL_DIRS = [TERRAFORM_DIR, BOOTSTRAP_DIR, LOGGING_MODULE_DIR]

META_ARGUMENTS = {"count", "for_each", "depends_on", "lifecycle", "provider"}


def _load(path):
    with open(path) as f:
        return hcl2.load(f, serialization_options=SerializationOptions(strip_string_quotes=True, explicit_blocks=False))


class Module:
    """Every top-level block of terraform/*.tf, by kind."""

    def __init__(self, directory=TERRAFORM_DIR):
        self.files = {p.name: _load(p) for p in sorted(directory.glob("*.tf"))}
        self.resources = {}  # (type, name) -> body
        self.data = {}  # (type, name) -> body
        self.variables = {}
        self.locals = {}
        self.outputs = {}
        self.modules = {}
        self.removed = []
        self.settings = []  # `terraform` blocks
        self.resource_files = {}
        for file_name, doc in self.files.items():
            for entry in doc.get("module", []):
                self.modules.update(entry)
            self.removed.extend(doc.get("removed", []))
            self.settings.extend(doc.get("terraform", []))
            for kind, target in (("resource", self.resources), ("data", self.data)):
                for entry in doc.get(kind, []):
                    for rtype, named in entry.items():
                        for name, body in named.items():
                            key = (rtype, name)
                            assert key not in target, f"{kind} {rtype}.{name} declared twice"
                            target[key] = body
                            self.resource_files[(kind, *key)] = file_name
            for entry in doc.get("variable", []):
                self.variables.update(entry)
            for entry in doc.get("locals", []):
                self.locals.update({k: v for k, v in entry.items() if k != "__comments__"})
            for entry in doc.get("output", []):
                self.outputs.update(entry)

    def resource(self, rtype, name):
        return self.resources[(rtype, name)]

    def all_strings(self):
        """Every string anywhere in the module, with the file it came from."""
        for file_name, doc in self.files.items():
            for s in _strings(doc):
                yield file_name, s


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            if k != "__comments__":
                yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def blocks(body, name):
    """A nested block's bodies (python-hcl2 gives blocks as lists of dicts)."""
    value = body.get(name, [])
    return value if isinstance(value, list) else [value]


def expressions(text):
    """The `${...}` expressions inside one string, outermost only."""
    out, depth, start = [], 0, None
    i = 0
    while i < len(text):
        if text.startswith("${", i) and depth == 0:
            depth, start = 1, i + 2
            i += 2
            continue
        if depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    out.append(text[start:i])
        i += 1
    return out


# References the tests resolve: resource, data, var, local.
REFERENCE = re.compile(r"(?<![\w.\"])(data\.aws_[a-z0-9_]+\.[a-z0-9_]+|aws_[a-z0-9_]+\.[a-z0-9_]+|var\.[a-z0-9_]+|local\.[a-z0-9_]+)")


def references(text):
    """Every reference in the expressions of a string, including inside string templates nested
    in those expressions; plain quoted text (such as "$request.body.action") is not a reference."""
    found = []
    for expr in expressions(text):
        literals = re.findall(r'"((?:[^"\\]|\\.)*)"', expr)
        for literal in literals:
            found.extend(references(literal.replace('\\"', '"')))
        unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
        found.extend(REFERENCE.findall(unquoted))
    return found


def rust_env_lists():
    """`env::INGRESS`, `env::WORKER`, `env::LIFECYCLE` from crates/stocks-core/src/config.rs:
    the variable names the code reads, so Terraform cannot drift from them."""
    source = (REPO_DIR / "crates/stocks-core/src/config.rs").read_text()
    consts = dict(re.findall(r'pub const ([A-Z_]+): &str = "([A-Z_]+)";', source))
    lists = {}
    for name, items in re.findall(r"pub const ([A-Z_]+): &\[&str\] = &\[([^\]]*)\];", source):
        lists[name] = {consts[item.strip()] for item in items.split(",") if item.strip()}
    return lists


def rust_worker_outcomes():
    """The outcome names the worker logs (the `outcomes!` list in
    crates/stocks-core/src/handlers/worker/mod.rs, which declares `Outcome` and its names):
    each must be a metric."""
    source = (REPO_DIR / "crates/stocks-core/src/handlers/worker/mod.rs").read_text()
    body = source[source.index("\noutcomes! {"):]
    body = body[: body.index("\n}\n")]
    return set(re.findall(r'^\s+[A-Z][A-Za-z]* => "([a-z_]+)",$', body, re.M))
