"""Every argument and block in terraform/ checked against the AWS provider's schema.

The provider cannot be downloaded here, so `terraform validate` cannot run. Its schema is
available offline in another form: the PyPI wheel cdktf-cdktf-provider-aws (generated from
hashicorp/aws 6.25) holds, per resource type, a `<CamelType>Config.__init__` whose keyword
arguments are exactly the resource's arguments and blocks (required ones have no default), and
one class per nested block. The wheel is read with `ast`, never imported.

This catches what `validate` would: misspelt arguments, unknown blocks, missing required
arguments. `make test` downloads the wheel and passes its path in AWS_PROVIDER_SCHEMA_WHEEL.
"""

import ast
import functools
import os
import re
import unittest
import zipfile

from tfmodule import ALL_DIRS, META_ARGUMENTS, Module, blocks

WHEEL = os.environ.get("AWS_PROVIDER_SCHEMA_WHEEL")
PACKAGE = "cdktf_cdktf_provider_aws"


def camel(snake):
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


class Schema:
    def __init__(self, wheel_path):
        self.wheel = zipfile.ZipFile(wheel_path)

    @functools.lru_cache(maxsize=None)
    def module(self, module_name):
        path = f"{PACKAGE}/{module_name}/__init__.py"
        try:
            source = self.wheel.read(path).decode()
        except KeyError:
            return None
        tree = ast.parse(source)
        return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    @staticmethod
    def arguments(class_node, classes):
        """name -> (required, block class name or None). A block's class is named in the
        argument's annotation, quoted when declared later in the module, bare otherwise."""
        init = next(f for f in class_node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
        out = {}
        for arg, default in zip(init.args.kwonlyargs, init.args.kw_defaults):
            annotation = ast.unparse(arg.annotation) if arg.annotation else ""
            names = re.findall(r"\b([A-Z][A-Za-z0-9]*)\b", annotation)
            block = next((n for n in names if n in classes), None)
            out[arg.arg] = (default is None, block)
        return out

    def config(self, kind, rtype):
        """The classes of the module for a resource or data source type, and its config class."""
        short = rtype.removeprefix("aws_")
        module_name = short if kind == "resource" else f"data_aws_{short}"
        classes = self.module(module_name)
        if classes is None:
            return None, None
        return classes, classes.get(f"{camel(module_name)}Config")


def check_body(schema_classes, class_node, body, where, errors, top_level):
    arguments = Schema.arguments(class_node, schema_classes)
    given = {k for k in body if k != "__comments__"}
    for name in sorted(given):
        if top_level and name in META_ARGUMENTS:
            continue
        if name == "dynamic":
            for dyn in blocks(body, "dynamic"):
                for block_name, spec in dyn.items():
                    if block_name not in arguments or arguments[block_name][1] is None:
                        errors.append(f"{where}: dynamic block {block_name!r} is not a block of this type")
                        continue
                    for content in blocks(spec, "content"):
                        check_block(schema_classes, arguments[block_name][1], content, f"{where}.{block_name}", errors)
            continue
        if name not in arguments:
            errors.append(f"{where}: unknown argument or block {name!r}")
            continue
        block_class = arguments[name][1]
        if block_class and isinstance(body[name], list) and all(isinstance(b, dict) for b in body[name]):
            for i, nested in enumerate(body[name]):
                check_block(schema_classes, block_class, nested, f"{where}.{name}[{i}]", errors)
    for name, (required, _) in arguments.items():
        if required and name not in given and not (name in {b for d in blocks(body, "dynamic") for b in d}):
            errors.append(f"{where}: required argument {name!r} is missing")


def check_block(schema_classes, class_name, body, where, errors):
    class_node = schema_classes.get(class_name)
    if class_node is None:
        # A map-typed attribute written as a block, or a class this check does not know.
        errors.append(f"{where}: no schema class {class_name}")
        return
    check_body(schema_classes, class_node, body, where, errors, top_level=False)


class ProviderSchema(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not WHEEL:
            raise RuntimeError("set AWS_PROVIDER_SCHEMA_WHEEL to the cdktf-cdktf-provider-aws wheel (make test does)")
        cls.schema = Schema(WHEEL)
        cls.modules = [Module(directory) for directory in ALL_DIRS]

    def check(self, kind, items):
        errors = []
        for (rtype, name), body in items.items():
            classes, config = self.schema.config(kind, rtype)
            if config is None:
                errors.append(f"{kind} {rtype}: not a type of the AWS provider")
                continue
            check_body(classes, config, body, f"{kind} {rtype}.{name}", errors, top_level=True)
        return errors

    def test_resources_match_the_provider_schema(self):
        for module in self.modules:
            self.assertEqual(self.check("resource", module.resources), [])

    def test_data_sources_match_the_provider_schema(self):
        for module in self.modules:
            self.assertEqual(self.check("data", module.data), [])

    def test_the_check_catches_mistakes(self):
        # The check itself must fail on the mistakes it exists for.
        broken = {
            ("aws_sqs_queue", "typo"): {"name": "x", "visibility_timout_seconds": 30},
            ("aws_lambda_function", "missing_role"): {"function_name": "f"},
            ("aws_lambda_function", "bad_block"): {"function_name": "f", "role": "r", "environmnt": [{"variables": {}}]},
            ("aws_lambda_event_source_mapping", "bad_nested"): {
                "function_name": "f",
                "scaling_config": [{"maximum_concurency": 2}],
            },
            ("aws_not_a_thing", "x"): {},
        }
        errors = "\n".join(self.check("resource", broken))
        for expected in [
            "aws_sqs_queue.typo: unknown argument or block 'visibility_timout_seconds'",
            "aws_lambda_function.missing_role: required argument 'role' is missing",
            "aws_lambda_function.bad_block: unknown argument or block 'environmnt'",
            "aws_lambda_event_source_mapping.bad_nested.scaling_config[0]: unknown argument or block 'maximum_concurency'",
            "resource aws_not_a_thing: not a type of the AWS provider",
        ]:
            self.assertIn(expected, errors)


if __name__ == "__main__":
    unittest.main()
