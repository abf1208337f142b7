//! The Terraform variables preflight needs, resolved the way `terraform plan` resolves them:
//! the defaults in `variables.tf`, then `TF_VAR_*` in the environment, then `terraform.tfvars`,
//! then `*.auto.tfvars` in name order, then each `--var-file` — later wins.
//!
//! Only literal values are read (tfvars files hold nothing else); anything this stack's
//! variables cannot be is refused with the file and the variable named.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hcl::{Body, Expression, Value};

/// What preflight checks against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploySettings {
    /// The prefix of every resource's name (the worker role is `<name>-worker-<region>`).
    pub name: String,
    /// `None`: the AWS SDK's usual sources (AWS_REGION, the profile).
    pub region: Option<String>,
    /// A customer-managed key on the Polygon key's parameter; `None`: SSM's own.
    pub polygon_api_key_kms_key_arn: Option<String>,
    pub polygon_api_key_parameter_name: String,
    pub api_gateway_logging: bool,
    pub manage_api_gateway_account: bool,
}

/// The variables read, by name.
const NAMES: [&str; 6] = [
    "name",
    "region",
    "polygon_api_key_kms_key_arn",
    "polygon_api_key_parameter_name",
    "api_gateway_logging",
    "manage_api_gateway_account",
];

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not valid HCL: {source}", path.display())]
    Parse { path: PathBuf, source: hcl::Error },
    #[error("{where_}: {name} must be {expected}")]
    Type {
        where_: String,
        name: &'static str,
        expected: &'static str,
    },
    #[error("{} declares no default for {name}", path.display())]
    NoDefault { path: PathBuf, name: &'static str },
}

impl DeploySettings {
    /// Reads `dir/variables.tf`, the tfvars files and `env` (the process environment, as
    /// `(name, value)` pairs).
    pub fn resolve(
        dir: &Path,
        var_files: &[PathBuf],
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut values = defaults(&dir.join("variables.tf"))?;
        for (key, value) in env {
            if let Some(name) = key
                .strip_prefix("TF_VAR_")
                .and_then(|n| NAMES.iter().find(|k| **k == n))
            {
                // Terraform reads TF_VAR_ values as strings for string variables and as HCL
                // for the others: `true`, `false`.
                let value = match value.as_str() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    _ => Some(Value::String(value)),
                };
                values.insert(name, (value, format!("TF_VAR_{name}")));
            }
        }
        let mut files = vec![dir.join("terraform.tfvars")];
        let mut auto: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| SettingsError::Read {
                path: dir.to_owned(),
                source,
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".auto.tfvars"))
            .collect();
        auto.sort();
        files.extend(auto);
        for (i, file) in files.iter().chain(var_files).enumerate() {
            // terraform.tfvars and the auto files are optional; a --var-file must exist.
            if i < files.len() && !file.exists() {
                continue;
            }
            for (name, value) in tfvars(file)? {
                values.insert(name, (value, file.display().to_string()));
            }
        }
        let get = |name: &'static str| values.get(name).cloned().unwrap_or((Some(Value::Null), String::new()));
        Ok(Self {
            name: string(get("name"), "name")?,
            region: optional_string(get("region"), "region")?,
            polygon_api_key_kms_key_arn: optional_string(
                get("polygon_api_key_kms_key_arn"),
                "polygon_api_key_kms_key_arn",
            )?,
            polygon_api_key_parameter_name: string(
                get("polygon_api_key_parameter_name"),
                "polygon_api_key_parameter_name",
            )?,
            api_gateway_logging: boolean(get("api_gateway_logging"), "api_gateway_logging")?,
            manage_api_gateway_account: boolean(get("manage_api_gateway_account"), "manage_api_gateway_account")?,
        })
    }
}

/// Each variable's value (`None`: not a literal) and where it came from.
type Values = HashMap<&'static str, (Option<Value>, String)>;

fn parse(path: &Path) -> Result<Body, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.to_owned(),
        source,
    })?;
    hcl::parse(&text).map_err(|source| SettingsError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// The `default` of each variable preflight reads, from `variable "name" { default = … }`.
fn defaults(path: &Path) -> Result<Values, SettingsError> {
    let body = parse(path)?;
    let mut values = Values::new();
    for name in NAMES {
        let default = body
            .blocks()
            .filter(|b| b.identifier() == "variable")
            .find(|b| b.labels().first().is_some_and(|l| l.as_str() == name))
            .and_then(|b| b.body().attributes().find(|a| a.key() == "default"))
            .ok_or(SettingsError::NoDefault {
                path: path.to_owned(),
                name,
            })?;
        values.insert(name, (literal(default.expr()), path.display().to_string()));
    }
    Ok(values)
}

/// A tfvars file's assignments to the variables preflight reads.
fn tfvars(path: &Path) -> Result<Vec<(&'static str, Option<Value>)>, SettingsError> {
    let body = parse(path)?;
    Ok(body
        .attributes()
        .filter_map(|a| {
            NAMES
                .iter()
                .find(|n| **n == a.key())
                .map(|name| (*name, literal(a.expr())))
        })
        .collect())
}

/// A literal's value; `None` for anything else (a reference, a call), which the type checks
/// below refuse.
fn literal(expr: &Expression) -> Option<Value> {
    match expr {
        Expression::Null => Some(Value::Null),
        Expression::Bool(b) => Some(Value::Bool(*b)),
        Expression::String(s) => Some(Value::String(s.clone())),
        Expression::Number(n) => Some(Value::Number(*n)),
        _ => None,
    }
}

fn type_error(where_: String, name: &'static str, expected: &'static str) -> SettingsError {
    SettingsError::Type { where_, name, expected }
}

fn optional_string(
    (value, where_): (Option<Value>, String),
    name: &'static str,
) -> Result<Option<String>, SettingsError> {
    match value {
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        _ => Err(type_error(where_, name, "a string or null")),
    }
}

fn string(value: (Option<Value>, String), name: &'static str) -> Result<String, SettingsError> {
    let where_ = value.1.clone();
    optional_string(value, name)?.ok_or_else(|| type_error(where_, name, "a string"))
}

fn boolean((value, where_): (Option<Value>, String), name: &'static str) -> Result<bool, SettingsError> {
    match value {
        Some(Value::Bool(b)) => Ok(b),
        _ => Err(type_error(where_, name, "true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real variables.tf, so a changed default shows up here.
    fn terraform_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../terraform")
    }

    /// A copy of terraform/variables.tf with these tfvars files beside it.
    fn with_files(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(terraform_dir().join("variables.tf"), dir.path().join("variables.tf")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn the_defaults_are_variables_tfs() {
        let settings = DeploySettings::resolve(&terraform_dir(), &[], []).unwrap();
        assert_eq!(
            settings,
            DeploySettings {
                name: "stocks".into(),
                region: None,
                polygon_api_key_kms_key_arn: None,
                polygon_api_key_parameter_name: "/stocks/polygon-api-key".into(),
                api_gateway_logging: true,
                manage_api_gateway_account: false,
            }
        );
    }

    #[test]
    fn later_sources_win_as_in_terraform() {
        let dir = with_files(&[
            (
                "terraform.tfvars",
                "region = \"eu-west-1\"\npolygon_api_key_parameter_name = \"/a\"\nname = \"x\"\n",
            ),
            ("b.auto.tfvars", "polygon_api_key_parameter_name = \"/b\"\n"),
            (
                "a.auto.tfvars",
                "polygon_api_key_parameter_name = \"/from-a\"\napi_gateway_logging = false\n",
            ),
            ("extra.tfvars", "region = \"us-east-2\"\n"),
        ]);
        let env = [
            ("TF_VAR_region".to_owned(), "ap-south-1".to_owned()),
            ("TF_VAR_manage_api_gateway_account".to_owned(), "true".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ];
        let settings = DeploySettings::resolve(dir.path(), &[dir.path().join("extra.tfvars")], env).unwrap();
        assert_eq!(
            settings,
            DeploySettings {
                name: "x".into(),
                region: Some("us-east-2".into()),
                polygon_api_key_kms_key_arn: None,
                polygon_api_key_parameter_name: "/b".into(),
                api_gateway_logging: false,
                manage_api_gateway_account: true,
            }
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_file_and_variable() {
        let dir = with_files(&[("terraform.tfvars", "api_gateway_logging = \"yes\"\n")]);
        let err = DeploySettings::resolve(dir.path(), &[], []).unwrap_err().to_string();
        assert!(
            err.ends_with("terraform.tfvars: api_gateway_logging must be true or false"),
            "{err}"
        );
        let dir = with_files(&[("terraform.tfvars", "region = var.other\n")]);
        let err = DeploySettings::resolve(dir.path(), &[], []).unwrap_err().to_string();
        assert!(err.contains("region must be a string or null"), "{err}");
        let dir = with_files(&[("terraform.tfvars", "region = \n")]);
        let err = DeploySettings::resolve(dir.path(), &[], []).unwrap_err().to_string();
        assert!(err.contains("is not valid HCL"), "{err}");
        let missing = PathBuf::from("/nonexistent/prod.tfvars");
        let err = DeploySettings::resolve(&terraform_dir(), &[missing], [])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read /nonexistent/prod.tfvars"), "{err}");
    }
}
