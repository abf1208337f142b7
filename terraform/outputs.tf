output "websocket_url" {
  description = "What clients connect to: `stocksctl get MSFT --url <this>`."
  value       = aws_apigatewayv2_stage.this.invoke_url
}

output "callback_url" {
  description = "The @connections endpoint the functions post to (CALLBACK_URL)."
  value       = local.callback_url
}

output "api_id" {
  description = "The WebSocket API's id."
  value       = aws_apigatewayv2_api.websocket.id
}

output "jobs_queue_url" {
  description = "The jobs queue (`stocksctl dlq replay --queue-url`)."
  value       = aws_sqs_queue.jobs.url
}

output "jobs_queue_arn" {
  description = "The jobs queue's ARN: where `stocksctl dlq redrive` sends dead letters (SQS cannot return the worker's own to a source queue)."
  value       = aws_sqs_queue.jobs.arn
}

output "dlq_url" {
  description = "The dead-letter queue (`stocksctl dlq list --dlq-url`)."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "The dead-letter queue's ARN (`stocksctl dlq redrive --dlq-arn`)."
  value       = aws_sqs_queue.dlq.arn
}

output "access_table_name" {
  description = "The access table (`stocksctl tokens --table`); null with auth_mode = \"none\"."
  value       = local.auth_on ? aws_dynamodb_table.access[0].name : null
}

output "market_table_name" {
  description = "The table the worker fleet shares: the market quota, answers and leases (MARKET_TABLE)."
  value       = aws_dynamodb_table.market.name
}

output "function_names" {
  description = "The functions, by role (five with the authorizer)."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "log_groups" {
  description = "The functions' log groups, by role, and the API's access and execution logs when they are on."
  value = merge(
    { for k, g in aws_cloudwatch_log_group.lambda : k => g.name },
    { for g in aws_cloudwatch_log_group.api_access : "api_access" => g.name },
    { for g in aws_cloudwatch_log_group.api_execution : "api_execution" => g.name },
  )
}

output "alarm_names" {
  description = "Alarms to subscribe to or watch."
  value = concat(
    [
      aws_cloudwatch_metric_alarm.dlq_not_empty.alarm_name,
      aws_cloudwatch_metric_alarm.jobs_waiting.alarm_name,
      aws_cloudwatch_metric_alarm.market_store_unavailable.alarm_name,
    ],
    [for a in aws_cloudwatch_metric_alarm.function_errors : a.alarm_name],
  )
}
