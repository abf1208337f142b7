# ---------------------------------------------------------------------------- IAM: one role per function

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.functions

  # IAM names are account-wide: the region keeps two regions' stacks in one account apart.
  name               = "${var.name}-${each.key}-${local.region}"
  description        = "Runs the ${var.name}-${each.key} function in ${local.region}."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

locals {
  # `execute-api:ManageConnections` resources: this API, this stage, only the methods used.
  connections_arn = "${aws_apigatewayv2_api.websocket.execution_arn}/${var.stage_name}"
}

data "aws_iam_policy_document" "lambda" {
  for_each = local.functions

  # Logs: only the function's own group.
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]
  }

  # X-Ray accepts no resource-level permissions: "*" is the only valid resource here.
  dynamic "statement" {
    for_each = var.enable_xray_tracing ? [1] : []
    content {
      sid       = "Tracing"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }

  # Ingress: queue jobs; post the 202 / 400 / 503 to the client.
  dynamic "statement" {
    for_each = each.key == "ingress" ? [1] : []
    content {
      sid       = "QueueJobs"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.jobs.arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "ingress" ? [1] : []
    content {
      sid       = "AnswerClients"
      actions   = ["execute-api:ManageConnections"]
      resources = ["${local.connections_arn}/POST/@connections/*"]
    }
  }

  # Worker: what the event source mapping needs on the jobs queue, dead-lettering, posting the
  # report and closing the connection, and the one SSM parameter.
  dynamic "statement" {
    for_each = each.key == "worker" ? [1] : []
    content {
      sid       = "ConsumeJobs"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
      resources = [aws_sqs_queue.jobs.arn]
    }
  }

  # The authorizer reads token items; nothing else.
  dynamic "statement" {
    for_each = each.key == "authorizer" ? [1] : []
    content {
      sid       = "ReadTokens"
      actions   = ["dynamodb:GetItem"]
      resources = [aws_dynamodb_table.access[0].arn]
    }
  }

  # The ingress counts requests: only UpdateItem, only on rate items.
  dynamic "statement" {
    for_each = each.key == "ingress" && local.auth_on ? [1] : []
    content {
      sid       = "CountRequests"
      actions   = ["dynamodb:UpdateItem"]
      resources = [aws_dynamodb_table.access[0].arn]

      condition {
        test     = "ForAllValues:StringLike"
        variable = "dynamodb:LeadingKeys"
        values   = ["rate#*"]
      }
    }
  }

  # Jobs that meet a spent market quota wait in the jobs queue again (DelaySeconds).
  dynamic "statement" {
    for_each = each.key == "worker" ? [1] : []
    content {
      sid       = "DeferJobs"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.jobs.arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "worker" ? [1] : []
    content {
      sid       = "DeadLetterJobs"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.dlq.arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "worker" ? [1] : []
    content {
      sid       = "ReportToClients"
      actions   = ["execute-api:ManageConnections"]
      resources = ["${local.connections_arn}/POST/@connections/*", "${local.connections_arn}/DELETE/@connections/*"]
    }
  }

  # The fleet's market table: the quota ledger (GetItem, conditional PutItem), the gate a 429
  # closes (UpdateItem), answers (GetItem, PutItem) and leases (conditional PutItem, DeleteItem).
  dynamic "statement" {
    for_each = each.key == "worker" ? [1] : []
    content {
      sid       = "ShareTheMarket"
      actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
      resources = [aws_dynamodb_table.market.arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "worker" ? [1] : []
    content {
      sid       = "ReadPolygonKey"
      actions   = ["ssm:GetParameter"]
      resources = [local.polygon_key_parameter_arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "worker" && var.polygon_api_key_kms_key_arn != null ? [1] : []
    content {
      sid       = "DecryptPolygonKey"
      actions   = ["kms:Decrypt"]
      resources = [var.polygon_api_key_kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.${local.dns_suffix}"]
      }
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.functions

  name   = "${var.name}-${each.key}"
  role   = aws_iam_role.lambda[each.key].id
  policy = data.aws_iam_policy_document.lambda[each.key].json
}
