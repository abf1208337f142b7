//! The deployed stack as the operators' commands find it: its Terraform directory and variable
//! files, its outputs, and the one region every command that talks to AWS uses.
//!
//! The region is resolved once, the same way everywhere (`make` targets ask `stocksctl region`):
//! `--region`, else the stack's `region` variable (`terraform.tfvars`, `*.auto.tfvars`,
//! `--var-file`, `TF_VAR_region`, as `terraform plan` reads them), else `AWS_REGION` or the
//! profile's, as the SDK finds it.

use anyhow::{Context, Result, anyhow, bail};
use aws_config::SdkConfig;
use stocks_core::adapters::sdk_config;

use crate::cli::{AwsArgs, StackArgs};
use crate::preflight::settings::DeploySettings;

/// Where a region came from, said beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The region, when any source gives one.
    pub name: Option<String>,
    /// `--region`, the Terraform variables, or the AWS configuration.
    pub from: &'static str,
}

impl StackArgs {
    /// The stack's variables, as `terraform plan` would read them.
    pub fn settings(&self) -> Result<DeploySettings> {
        DeploySettings::resolve(&self.terraform_dir, &self.var_file, std::env::vars()).map_err(|e| anyhow!("{e}"))
    }

    /// `terraform output -raw NAME` of the deployed stack, with the Terraform the operator uses.
    pub fn output(&self, name: &str) -> Result<String> {
        let output = std::process::Command::new(&self.terraform)
            .arg(format!("-chdir={}", self.terraform_dir.display()))
            .args(["output", "-raw", name])
            .output()
            .with_context(|| format!("{} could not be run to read the stack's {name}", self.terraform))?;
        let value = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() || value.is_empty() || value.contains(char::is_whitespace) {
            bail!(
                "`{} -chdir={} output {name}` has no value (is the stack deployed?)",
                self.terraform,
                self.terraform_dir.display()
            );
        }
        Ok(value)
    }
}

/// The region commands use: `--region`, else the stack's, else the AWS configuration's.
pub async fn region(aws: &AwsArgs, stack: &StackArgs) -> Result<Region> {
    if let Some(region) = &aws.region {
        return Ok(Region {
            name: Some(region.clone()),
            from: "--region",
        });
    }
    if let Some(region) = stack.settings()?.region {
        return Ok(Region {
            name: Some(region),
            from: "the stack's Terraform variables",
        });
    }
    let found = aws_config::meta::region::RegionProviderChain::default_provider()
        .region()
        .await;
    Ok(Region {
        name: found.map(|r| r.to_string()),
        from: "AWS_REGION or the AWS profile",
    })
}

/// SDK settings for the stack's region (and `--endpoint-url`, if given).
pub async fn aws_config(aws: &AwsArgs, stack: &StackArgs) -> Result<SdkConfig> {
    let region = region(aws, stack).await?;
    Ok(sdk_config(aws.endpoint_url.as_deref(), region.name.as_deref()).await)
}
