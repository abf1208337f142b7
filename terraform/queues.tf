# ---------------------------------------------------------------------------- queues

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-dlq"
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "jobs" {
  name                      = "${var.name}-jobs"
  message_retention_seconds = var.jobs_retention_seconds
  sqs_managed_sse_enabled   = true

  # AWS's guidance for Lambda sources: at least six times the function timeout, so a job is
  # never redelivered while a worker still holds it.
  visibility_timeout_seconds = var.worker_timeout_seconds * 6

  # The backstop for crashes and timeouts; the worker dead-letters failures itself, with the
  # reason attached, on the last of these deliveries.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  lifecycle {
    # A client hears nothing between the 202 and its answer, and API Gateway drops a connection
    # idle for 10 minutes: the last delivery, (max_receive_count - 1) visibility timeouts after
    # the first, must end before that, or its report or 503 goes to a closed connection.
    precondition {
      condition     = (var.max_receive_count - 1) * var.worker_timeout_seconds * 6 + var.worker_timeout_seconds < 600
      error_message = "With max_receive_count = ${var.max_receive_count} and worker_timeout_seconds = ${var.worker_timeout_seconds}, the last retry would end ${(var.max_receive_count - 1) * var.worker_timeout_seconds * 6 + var.worker_timeout_seconds} s after the request, past API Gateway's 600 s idle timeout: lower one of them (the defaults, 5 and 20, end at 500 s)."
    }
  }
}

# Only the jobs queue may use the DLQ, and operators may redrive back to it.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.jobs.arn]
  })
}

# Both queues refuse plain-HTTP access.
data "aws_iam_policy_document" "tls_only" {
  for_each = {
    jobs = aws_sqs_queue.jobs.arn
    dlq  = aws_sqs_queue.dlq.arn
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:PurgeQueue"]
    resources = [each.value]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "tls_only" {
  for_each = {
    jobs = aws_sqs_queue.jobs.id
    dlq  = aws_sqs_queue.dlq.id
  }

  queue_url = each.value
  policy    = data.aws_iam_policy_document.tls_only[each.key].json
}

resource "aws_lambda_event_source_mapping" "worker" {
  event_source_arn                   = aws_sqs_queue.jobs.arn
  function_name                      = aws_lambda_function.this["worker"].arn
  batch_size                         = var.worker_batch_size
  maximum_batching_window_in_seconds = var.worker_batching_window_seconds

  # The worker answers with the ids that failed; the rest of the batch is deleted.
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.worker_max_concurrency
  }
}
