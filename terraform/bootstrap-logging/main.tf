# One-time, per account and region: give API Gateway the CloudWatch Logs role every stage's
# logging needs (`make bootstrap-logging`). Kept apart from the service's stack, with its own
# state in this directory, so `make destroy` can never reset a setting other APIs rely on.
# `make preflight` says when a region needs it.

terraform {
  required_version = ">= 1.7.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }
}

variable "region" {
  description = "Region to set API Gateway's logging role in. Null uses the provider's usual sources (AWS_REGION, the profile)."
  type        = string
  default     = null
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { ManagedBy = "terraform", Purpose = "api-gateway-logging" }
  }
}

module "api_gateway_logging" {
  source = "../modules/api-gateway-logging"

  role_name_prefix = "apigateway-cloudwatch-logs"
}

output "cloudwatch_role_arn" {
  description = "The role API Gateway writes logs with in this region, for every API."
  value       = module.api_gateway_logging.cloudwatch_role_arn
}
