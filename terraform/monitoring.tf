# ---------------------------------------------------------------------------- alarms

# Anything in the DLQ means clients got UPSTREAM_UNAVAILABLE (or a worker crashed): look with
# `stocksctl dlq list`, fix the cause, replay with `make replay-dlq`.
resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  alarm_name          = "${var.name}-dlq-not-empty"
  alarm_description   = "Jobs are in ${aws_sqs_queue.dlq.name}. Inspect with `stocksctl dlq list`, fix the cause, replay with `make replay-dlq`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Handled failures (Polygon down) do not count as Lambda errors; these are crashes, timeouts
# and bad configuration.
resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = local.functions

  alarm_name          = "${var.name}-${each.key}-errors"
  alarm_description   = "${var.name}-${each.key} failed invocations (crash, timeout or configuration). See its log group."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Jobs waiting too long: the worker is throttled, failing, or its concurrency is too low.
resource "aws_cloudwatch_metric_alarm" "jobs_waiting" {
  alarm_name          = "${var.name}-jobs-waiting"
  alarm_description   = "The oldest job in ${aws_sqs_queue.jobs.name} has waited over ${var.queue_age_alarm_seconds} s."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.jobs.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.queue_age_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ---------------------------------------------------------------------------- outcome metrics

# Each job ends in one `job done` log line with an `outcome`; these count them as metrics
# (namespace "<name>/worker"), e.g. how many clients left before their report.
resource "aws_cloudwatch_log_metric_filter" "outcomes" {
  for_each = toset(["reported", "no_results", "plan_limit", "client_gone", "dead_lettered", "retry", "duplicate", "deferred"])

  name           = "${var.name}-outcome-${each.key}"
  log_group_name = aws_cloudwatch_log_group.lambda["worker"].name
  pattern        = "{ $.outcome = \"${each.key}\" }"

  metric_transformation {
    name          = each.key
    namespace     = "${var.name}/worker"
    value         = "1"
    default_value = "0"
  }
}

# Why deferred jobs waited (`deferCause` on their `job done` line): the market quota, another
# instance fetching the same answer, or the market table out of reach.
resource "aws_cloudwatch_log_metric_filter" "defer_causes" {
  for_each = toset(["quota", "peer", "store_unavailable"])

  name           = "${var.name}-deferred-${each.key}"
  log_group_name = aws_cloudwatch_log_group.lambda["worker"].name
  pattern        = "{ $.outcome = \"deferred\" && $.deferCause = \"${each.key}\" }"

  metric_transformation {
    name          = "deferred_${each.key}"
    namespace     = "${var.name}/worker"
    value         = "1"
    default_value = "0"
  }
}

# The market table out of reach: jobs wait (never a call outside the limit), but they wait
# for nothing until it is back. Look at the worker's log group for the cause.
resource "aws_cloudwatch_metric_alarm" "market_store_unavailable" {
  alarm_name          = "${var.name}-market-store-unavailable"
  alarm_description   = "The worker could not reach ${aws_dynamodb_table.market.name}: jobs are deferred until it can. See the worker's log group."
  namespace           = "${var.name}/worker"
  metric_name         = "deferred_store_unavailable"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  depends_on = [aws_cloudwatch_log_metric_filter.defer_causes]
}
