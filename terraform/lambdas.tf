# ---------------------------------------------------------------------------- functions

locals {
  # Each function's environment. The variable names are the ones crates/stocks-core/src/config.rs
  # reads; the Terraform tests check the two lists are the same.
  functions = merge(local.core_functions, local.auth_on ? local.auth_functions : {})

  # Only with auth_mode = "token".
  auth_functions = {
    authorizer = {
      description = "$connect REQUEST authorizer: the ?token= in, Allow or Deny out."
      memory      = var.lifecycle_memory_mb
      timeout     = var.lifecycle_timeout_seconds
      environment = {
        ACCESS_TABLE = one(aws_dynamodb_table.access[*].name)
        RUST_LOG     = var.log_level
      }
    }
  }

  core_functions = {
    connect = {
      description = "$connect: logs the connection and lets it in."
      memory      = var.lifecycle_memory_mb
      timeout     = var.lifecycle_timeout_seconds
      environment = { RUST_LOG = var.log_level }
    }
    disconnect = {
      description = "$disconnect: logs who left and why."
      memory      = var.lifecycle_memory_mb
      timeout     = var.lifecycle_timeout_seconds
      environment = { RUST_LOG = var.log_level }
    }
    ingress = {
      description = "stocksaction and $default: validate, answer 202, queue the job."
      memory      = var.ingress_memory_mb
      timeout     = var.ingress_timeout_seconds
      environment = {
        QUEUE_URL          = aws_sqs_queue.jobs.url
        CALLBACK_URL       = local.callback_url
        REPORT_WINDOW_DAYS = tostring(var.report_window_days)
        # Empty turns access control off in the code too: no lookup at all.
        ACCESS_TABLE = local.auth_on ? one(aws_dynamodb_table.access[*].name) : ""
        RUST_LOG     = var.log_level
      }
    }
    worker = {
      description = "SQS worker: Polygon daily bars in, a report out through @connections."
      memory      = var.worker_memory_mb
      timeout     = var.worker_timeout_seconds
      environment = {
        QUEUE_URL                 = aws_sqs_queue.jobs.url
        CALLBACK_URL              = local.callback_url
        POLYGON_API_KEY_PARAM     = var.polygon_api_key_parameter_name
        POLYGON_BASE_URL          = var.polygon_base_url
        MAX_RECEIVE_COUNT         = tostring(var.max_receive_count)
        DLQ_URL                   = aws_sqs_queue.dlq.url
        MARKET_CACHE_ENTRIES      = tostring(var.market_cache_entries)
        MARKET_CACHE_MAX_AGE_SECS = tostring(var.market_cache_max_age_seconds)
        # The plan's rate, whole: the fleet's instances share one limiter in the market table.
        POLYGON_REQUESTS_PER_MINUTE = tostring(var.polygon_requests_per_minute)
        MARKET_TABLE                = aws_dynamodb_table.market.name
        QUOTA_DEFER_SECS            = tostring(var.quota_defer_seconds)
        MAX_JOB_AGE_SECS            = tostring(var.max_job_age_seconds)
        RUST_LOG                    = var.log_level
      }
    }
  }
}

resource "aws_lambda_function" "this" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_117:No private resources to reach; the worker needs the internet (Polygon), which in a VPC would need a NAT gateway for no security gain.
  #checkov:skip=CKV_AWS_116:Never invoked asynchronously: API Gateway invokes synchronously and SQS failures go to the jobs queue's own DLQ.
  #checkov:skip=CKV_AWS_173:The environment holds only queue and endpoint URLs; the one secret (the Polygon key) stays in an SSM SecureString.
  #checkov:skip=CKV_AWS_272:Artifacts are built and deployed by the same `make deploy`; there is no separate publisher whose signature would add assurance.
  #checkov:skip=CKV_AWS_115:Reserving concurrency fails on new accounts (limit 10); the worker is bounded by the mapping's maximum_concurrency, the API by stage throttling.

  function_name = "${var.name}-${each.key}"
  description   = each.value.description
  role          = aws_iam_role.lambda[each.key].arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.architecture]
  filename      = "${local.lambda_zip_dir}/stocks-${each.key}/bootstrap.zip"

  # Guarded so `terraform destroy` works without a build; the precondition below stops a
  # plan that would deploy nothing.
  source_code_hash = fileexists("${local.lambda_zip_dir}/stocks-${each.key}/bootstrap.zip") ? filebase64sha256("${local.lambda_zip_dir}/stocks-${each.key}/bootstrap.zip") : null
  memory_size      = each.value.memory
  timeout          = each.value.timeout

  environment {
    variables = each.value.environment
  }

  # The functions already write JSON lines; Text keeps them as they are.
  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda[each.key].name
  }

  tracing_config {
    mode = var.enable_xray_tracing ? "Active" : "PassThrough"
  }

  lifecycle {
    precondition {
      condition     = fileexists("${local.lambda_zip_dir}/stocks-${each.key}/bootstrap.zip")
      error_message = "No ${local.lambda_zip_dir}/stocks-${each.key}/bootstrap.zip: run `make build ARCH=${var.architecture}` (make deploy does)."
    }
  }

  depends_on = [aws_iam_role_policy.lambda]
}

resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_158:Encrypted at rest with CloudWatch Logs' own keys; the functions never log secrets (tested), and a CMK would need a key policy for the logs service.

  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
}
