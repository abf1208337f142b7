# The stocks WebSocket service: API Gateway WebSocket API -> ingress Lambda -> SQS -> worker
# Lambda -> Polygon.io -> @connections. Resources are split by concern:
#
#   api.tf         the WebSocket API, routes, the $connect authorizer, stage, access and
#                  execution logs, invoke permissions
#   upgrades.tf    what earlier versions managed and this one lets go of without destroying
#   access.tf      the access table: tokens and per-token rate counters
#   market.tf      the market table the worker fleet shares: quota, answers, leases
#   lambdas.tf     the functions (four, five with the authorizer) and their log groups
#   queues.tf      jobs queue, dead-letter queue, the worker's event source mapping
#   iam.tf         one least-privilege role per function
#   monitoring.tf  alarms and log-derived metrics for operators
#
# modules/api-gateway-logging is the region's API Gateway CloudWatch Logs role, applied once per
# account and region from bootstrap-logging/ (`make bootstrap-logging`), not by this stack.

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Service = var.name, ManagedBy = "terraform" }, var.tags)
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  # `id` is the region's name in every provider version we accept: 5.x has no `region`
  # attribute, and 6.x deprecates `name`.
  region = data.aws_region.current.id

  # Where `make build ARCH=...` leaves the zips (cargo lambda build --lambda-dir).
  lambda_zip_dir = coalesce(var.lambda_zip_dir, "${path.module}/../target/lambda/${var.architecture}")

  # The @connections endpoint. Built from the API id rather than taken from the request, so
  # custom domains in front of the API do not break posting back to clients.
  # The partition's DNS suffix: amazonaws.com, amazonaws.com.cn in China.
  callback_url = "https://${aws_apigatewayv2_api.websocket.id}.execute-api.${local.region}.${local.dns_suffix}/${var.stage_name}"

  # The SSM parameter holding the Polygon key. Terraform never reads its value (it would land
  # in the state); it only grants the worker access to it.
  polygon_key_parameter_arn = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(var.polygon_api_key_parameter_name, "/")}"

  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  # Tokens on $connect (the default), or the seed's open API.
  auth_on = var.auth_mode == "token"
}
