# API Gateway's account-level CloudWatch Logs role: the role API Gateway assumes to write any
# stage's access or execution logs. There is one setting per account and region, shared by
# every REST and WebSocket API there, so the service's own stack does not own it: apply this
# once per account and region (`make bootstrap-logging`), or let the stack manage it with
# manage_api_gateway_account = true in an account nothing else uses.
#
# Destroying aws_api_gateway_account resets the region's role (AWS provider 6.x), which stops
# logging for every API in the region: destroy this only on purpose.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }
}

variable "role_name_prefix" {
  description = "The role is named <prefix>-<region>, so one account can hold a role per region."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,48}$", var.role_name_prefix))
    error_message = "role_name_prefix must be 1-48 IAM name characters (the region is appended)."
  }
}

data "aws_region" "current" {}
data "aws_partition" "current" {}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.role_name_prefix}-${data.aws_region.current.id}"
  description        = "Lets API Gateway write access and execution logs to CloudWatch Logs in ${data.aws_region.current.id}."
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy_attachment" "this" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  cloudwatch_role_arn = aws_iam_role.this.arn

  # API Gateway checks it may assume the role when the setting is made.
  depends_on = [aws_iam_role_policy_attachment.this]
}

output "cloudwatch_role_arn" {
  description = "The role API Gateway now writes logs with in this region."
  value       = aws_api_gateway_account.this.cloudwatch_role_arn
}
