# The stack under Terraform's own test framework, with a mocked AWS provider (no account, no
# API calls): every variable's validation and every precondition refuses what it should and
# accepts what it should, and the main settings plan the resources and outputs they promise.
# `make test` runs it (scripts/check-terraform.sh), with -var lambda_zip_dir pointing at stand-in
# zips.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
  mock_data "aws_region" {
    defaults = {
      id = "eu-west-1"
    }
  }
  # ARNs other resources check the shape of.
  mock_resource "aws_apigatewayv2_api" {
    defaults = {
      id            = "abc123"
      arn           = "arn:aws:apigateway:eu-west-1::/apis/abc123"
      execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123"
      api_endpoint  = "wss://abc123.execute-api.eu-west-1.amazonaws.com"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/stocks-mock"
    }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn        = "arn:aws:lambda:eu-west-1:123456789012:function:stocks-mock"
      invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:stocks-mock/invocations"
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:stocks-mock"
      url = "https://sqs.eu-west-1.amazonaws.com/123456789012/stocks-mock"
    }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/stocks-mock"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:stocks-mock"
    }
  }
}

# ---------------------------------------------------------------------------- the defaults

run "the_defaults_deploy_tokens_on_arm64_with_api_logs" {
  command = apply

  assert {
    condition     = length(aws_dynamodb_table.access) == 1 && length(aws_apigatewayv2_authorizer.token) == 1
    error_message = "auth_mode = \"token\" (the default) has the access table and the $connect authorizer"
  }
  assert {
    condition     = aws_apigatewayv2_route.connect.authorization_type == "CUSTOM"
    error_message = "$connect is authorized by the token authorizer"
  }
  assert {
    condition     = toset(keys(aws_lambda_function.this)) == toset(["connect", "disconnect", "ingress", "worker", "authorizer"])
    error_message = "five functions with the authorizer"
  }
  assert {
    condition     = alltrue([for f in aws_lambda_function.this : f.architectures[0] == "arm64"])
    error_message = "arm64 by default"
  }
  assert {
    condition     = length(aws_cloudwatch_log_group.api_access) == 1 && length(aws_cloudwatch_log_group.api_execution) == 0
    error_message = "access logs on, execution logs off by default"
  }
  assert {
    condition     = output.access_table_name == "stocks-access" && output.market_table_name == "stocks-market"
    error_message = "the outputs name the tables"
  }
  assert {
    condition     = aws_lambda_function.this["worker"].environment[0].variables["POLYGON_REQUESTS_PER_MINUTE"] == "5"
    error_message = "the free plan's rate, whole, for the fleet"
  }
  assert {
    condition     = aws_lambda_function.this["worker"].environment[0].variables["MARKET_TABLE"] == "stocks-market"
    error_message = "the worker fleet shares the market table"
  }
  assert {
    condition     = aws_lambda_function.this["ingress"].environment[0].variables["ACCESS_TABLE"] == "stocks-access"
    error_message = "the ingress counts requests in the access table"
  }
  assert {
    condition     = aws_sqs_queue.jobs.visibility_timeout_seconds == 120 && jsondecode(aws_sqs_queue.jobs.redrive_policy).maxReceiveCount == 5
    error_message = "six worker timeouts of visibility, five deliveries before the DLQ"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.worker.scaling_config[0].maximum_concurrency == 2
    error_message = "two worker instances at most by default"
  }
  assert {
    condition     = output.callback_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    error_message = "the @connections URL is built from the API id, the region and the stage"
  }
  assert {
    condition     = contains(output.alarm_names, "stocks-market-store-unavailable") && contains(output.alarm_names, "stocks-dlq-not-empty")
    error_message = "the operators' alarms"
  }
}

run "auth_none_is_the_seeds_open_api" {
  command = apply

  variables {
    auth_mode = "none"
  }

  assert {
    condition     = length(aws_dynamodb_table.access) == 0 && length(aws_apigatewayv2_authorizer.token) == 0
    error_message = "no access table and no authorizer"
  }
  assert {
    condition     = aws_apigatewayv2_route.connect.authorization_type == "NONE"
    error_message = "anyone may connect"
  }
  assert {
    condition     = toset(keys(aws_lambda_function.this)) == toset(["connect", "disconnect", "ingress", "worker"])
    error_message = "four functions, no authorizer"
  }
  assert {
    condition     = aws_lambda_function.this["ingress"].environment[0].variables["ACCESS_TABLE"] == ""
    error_message = "an empty ACCESS_TABLE turns the rate check off"
  }
  assert {
    condition     = output.access_table_name == null
    error_message = "no table to name"
  }
}

run "without_api_logging_no_log_group_and_no_access_logs" {
  command = apply

  variables {
    api_gateway_logging = false
  }

  assert {
    condition     = length(aws_cloudwatch_log_group.api_access) == 0 && length(aws_apigatewayv2_stage.this.access_log_settings) == 0
    error_message = "no access log group, no access log settings"
  }
  assert {
    condition     = aws_apigatewayv2_stage.this.default_route_settings[0].logging_level == "OFF"
    error_message = "execution logs off too"
  }
}

run "execution_logs_get_their_group_and_retention" {
  command = apply

  variables {
    execution_logging_level = "INFO"
    log_retention_days      = 30
  }

  assert {
    condition     = length(aws_cloudwatch_log_group.api_execution) == 1 && aws_cloudwatch_log_group.api_execution[0].retention_in_days == 30
    error_message = "API Gateway's execution log group, created first with the retention set here"
  }
}

run "x86_64_builds_deploy_as_x86_64" {
  command = apply

  variables {
    architecture = "x86_64"
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : f.architectures[0] == "x86_64"])
    error_message = "every function on x86_64"
  }
}

run "a_customer_managed_key_lets_only_the_worker_decrypt_through_ssm" {
  command = plan

  variables {
    polygon_api_key_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }
}

run "the_stack_can_manage_the_accounts_logging_role_when_asked" {
  command = plan

  variables {
    manage_api_gateway_account = true
  }

  assert {
    condition     = length(module.api_gateway_account) == 1
    error_message = "the region's API Gateway logging role, managed here"
  }
}

# ---------------------------------------------------------------------------- preconditions

run "no_zips_no_deploy" {
  command = plan

  variables {
    lambda_zip_dir = "/nonexistent"
  }

  expect_failures = [aws_lambda_function.this]
}

run "a_last_retry_past_the_idle_timeout_is_refused" {
  command = plan

  variables {
    max_receive_count = 6
  }

  expect_failures = [aws_sqs_queue.jobs]
}

run "the_slowest_retry_schedule_that_still_reaches_its_client" {
  command = plan

  variables {
    max_receive_count      = 1
    worker_timeout_seconds = 599
  }
}

# ---------------------------------------------------------------------------- validations

run "name_must_be_lower_case_letters_digits_and_dashes" {
  command = plan
  variables {
    name = "Stocks_Prod"
  }
  expect_failures = [var.name]
}

run "name_of_31_characters_is_accepted" {
  command = plan
  variables {
    name = "s23456789012345678901234567890x"
  }
}

run "stage_name_must_be_a_path_segment" {
  command = plan
  variables {
    stage_name = "prod/v2"
  }
  expect_failures = [var.stage_name]
}

run "auth_mode_is_token_or_none" {
  command = plan
  variables {
    auth_mode = "open"
  }
  expect_failures = [var.auth_mode]
}

run "execution_logging_level_is_off_error_or_info" {
  command = plan
  variables {
    execution_logging_level = "DEBUG"
  }
  expect_failures = [var.execution_logging_level]
}

run "execution_logging_level_error_is_accepted" {
  command = plan
  variables {
    execution_logging_level = "ERROR"
  }
}

run "architecture_is_arm64_or_x86_64" {
  command = plan
  variables {
    architecture = "aarch64"
  }
  expect_failures = [var.architecture]
}

run "the_worker_timeout_must_fit_its_market_fetch" {
  command = plan
  variables {
    worker_timeout_seconds = 19
  }
  expect_failures = [var.worker_timeout_seconds]
}

run "the_worker_timeout_stays_within_lambdas" {
  command = plan
  variables {
    worker_timeout_seconds = 901
  }
  expect_failures = [var.worker_timeout_seconds]
}

run "report_window_days_is_at_least_one" {
  command = plan
  variables {
    report_window_days = 0
  }
  expect_failures = [var.report_window_days]
}

run "report_window_days_is_at_most_five_years" {
  command = plan
  variables {
    report_window_days = 1827
  }
  expect_failures = [var.report_window_days]
}

run "report_window_days_of_five_years_is_accepted" {
  command = plan
  variables {
    report_window_days = 1826
  }
}

run "a_kms_alias_matches_no_decrypt_grant" {
  command = plan
  variables {
    polygon_api_key_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:alias/polygon"
  }
  expect_failures = [var.polygon_api_key_kms_key_arn]
}

run "polygon_requests_per_minute_is_not_negative" {
  command = plan
  variables {
    polygon_requests_per_minute = -1
  }
  expect_failures = [var.polygon_requests_per_minute]
}

run "polygon_requests_per_minute_is_a_whole_number" {
  command = plan
  variables {
    polygon_requests_per_minute = 2.5
  }
  expect_failures = [var.polygon_requests_per_minute]
}

run "polygon_requests_per_minute_fits_the_ledger" {
  command = plan
  variables {
    polygon_requests_per_minute = 1001
  }
  expect_failures = [var.polygon_requests_per_minute]
}

run "polygon_requests_per_minute_0_turns_the_limiter_off" {
  command = apply
  variables {
    polygon_requests_per_minute = 0
  }
  assert {
    condition     = aws_lambda_function.this["worker"].environment[0].variables["POLYGON_REQUESTS_PER_MINUTE"] == "0"
    error_message = "0 reaches the worker as 0"
  }
}

run "quota_defer_seconds_is_at_least_one" {
  command = plan
  variables {
    quota_defer_seconds = 0
  }
  expect_failures = [var.quota_defer_seconds]
}

run "quota_defer_seconds_is_at_most_sqs_longest_delay" {
  command = plan
  variables {
    quota_defer_seconds = 901
  }
  expect_failures = [var.quota_defer_seconds]
}

run "quota_defer_seconds_of_900_is_accepted" {
  command = plan
  variables {
    quota_defer_seconds = 900
  }
}

run "max_job_age_seconds_is_at_least_a_minute" {
  command = plan
  variables {
    max_job_age_seconds = 59
  }
  expect_failures = [var.max_job_age_seconds]
}

run "max_job_age_seconds_is_inside_the_connection_lifetime" {
  command = plan
  variables {
    max_job_age_seconds = 7201
  }
  expect_failures = [var.max_job_age_seconds]
}

run "max_job_age_seconds_of_two_hours_is_accepted" {
  command = plan
  variables {
    max_job_age_seconds = 7200
  }
}

run "max_receive_count_is_at_least_one" {
  command = plan
  variables {
    max_receive_count = 0
  }
  expect_failures = [var.max_receive_count]
}

run "max_receive_count_is_at_most_sqs_limit" {
  command = plan
  variables {
    max_receive_count = 1001
  }
  expect_failures = [var.max_receive_count]
}

run "worker_batch_size_is_at_least_one" {
  command = plan
  variables {
    worker_batch_size = 0
  }
  expect_failures = [var.worker_batch_size]
}

run "worker_batch_size_is_at_most_ten" {
  command = plan
  variables {
    worker_batch_size = 11
  }
  expect_failures = [var.worker_batch_size]
}

run "worker_batch_size_of_one_is_accepted" {
  command = plan
  variables {
    worker_batch_size = 1
  }
}

run "worker_max_concurrency_is_at_least_two" {
  command = plan
  variables {
    worker_max_concurrency = 1
  }
  expect_failures = [var.worker_max_concurrency]
}

run "worker_max_concurrency_is_at_most_an_sqs_mappings" {
  command = plan
  variables {
    worker_max_concurrency = 1001
  }
  expect_failures = [var.worker_max_concurrency]
}

run "worker_max_concurrency_of_ten_is_accepted" {
  command = apply
  variables {
    worker_max_concurrency = 10
  }
  assert {
    condition     = aws_lambda_function.this["worker"].environment[0].variables["POLYGON_REQUESTS_PER_MINUTE"] == "5"
    error_message = "more instances, the same plan: the rate is the fleet's, not divided"
  }
}
