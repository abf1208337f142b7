# ---------------------------------------------------------------------------- WebSocket API

resource "aws_apigatewayv2_api" "websocket" {
  name                       = "${var.name}-websocket"
  description                = "Stocks reports over WebSocket: send {\"action\":\"stocksaction\",\"ticker\":\"MSFT\"}."
  protocol_type              = "WEBSOCKET"
  route_selection_expression = "$request.body.action"
}

locals {
  # Route key -> the function behind it.
  routes = {
    "$connect"     = "connect"
    "$disconnect"  = "disconnect"
    "stocksaction" = "ingress"
    "$default"     = "ingress"
  }
}

resource "aws_apigatewayv2_integration" "lambda" {
  for_each = toset(distinct(values(local.routes)))

  api_id             = aws_apigatewayv2_api.websocket.id
  integration_type   = "AWS_PROXY"
  integration_method = "POST"
  integration_uri    = aws_lambda_function.this[each.key].invoke_arn
}

# Who may connect: with auth_mode = "token" (the default), API Gateway refuses a $connect without
# ?token= itself (401) and asks the authorizer about the rest (403 unless it allows).
resource "aws_apigatewayv2_authorizer" "token" {
  count = local.auth_on ? 1 : 0

  api_id           = aws_apigatewayv2_api.websocket.id
  name             = "${var.name}-token"
  authorizer_type  = "REQUEST"
  authorizer_uri   = aws_lambda_function.this["authorizer"].invoke_arn
  identity_sources = ["route.request.querystring.token"]
}

resource "aws_apigatewayv2_route" "connect" {
  api_id    = aws_apigatewayv2_api.websocket.id
  route_key = "$connect"
  target    = "integrations/${aws_apigatewayv2_integration.lambda["connect"].id}"

  # auth_mode = "none" is the seed's open API: anyone may connect.
  authorization_type = local.auth_on ? "CUSTOM" : "NONE"
  authorizer_id      = local.auth_on ? aws_apigatewayv2_authorizer.token[0].id : null
}

resource "aws_apigatewayv2_route" "this" {
  for_each = { for key, role in local.routes : key => role if key != "$connect" }
  #checkov:skip=CKV_AWS_309:WebSocket APIs authorize on $connect only; these routes run on connections $connect already authorized (auth_mode = "token").

  api_id    = aws_apigatewayv2_api.websocket.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.lambda[each.value].id}"

  authorization_type = "NONE"
}

resource "aws_apigatewayv2_deployment" "this" {
  api_id      = aws_apigatewayv2_api.websocket.id
  description = "Routes and integrations as of this apply."

  # A new deployment whenever a route or integration changes; without it the stage keeps
  # serving the old routes.
  triggers = {
    redeployment = sha1(jsonencode([
      [for k, r in aws_apigatewayv2_route.this : [k, r.target, r.authorization_type]],
      [aws_apigatewayv2_route.connect.target, aws_apigatewayv2_route.connect.authorization_type, aws_apigatewayv2_route.connect.authorizer_id],
      [for k, i in aws_apigatewayv2_integration.lambda : [k, i.integration_uri]],
      [for a in aws_apigatewayv2_authorizer.token : [a.authorizer_uri, a.identity_sources]],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_apigatewayv2_route.this, aws_apigatewayv2_route.connect]
}

resource "aws_apigatewayv2_stage" "this" {
  #checkov:skip=CKV2_AWS_51:A stage client certificate authenticates API Gateway to HTTP backends; every integration here is a Lambda (AWS_PROXY) invoked with IAM.
  api_id        = aws_apigatewayv2_api.websocket.id
  name          = var.stage_name
  deployment_id = aws_apigatewayv2_deployment.this.id

  default_route_settings {
    throttling_burst_limit   = var.throttling_burst_limit
    throttling_rate_limit    = var.throttling_rate_limit
    detailed_metrics_enabled = true
    # Execution logs need the account's API Gateway logging role, like access logs.
    logging_level      = var.api_gateway_logging ? var.execution_logging_level : "OFF"
    data_trace_enabled = false
  }

  # Access logs need the region's API Gateway CloudWatch Logs role (`make preflight` checks it,
  # `make bootstrap-logging` sets it); api_gateway_logging = false deploys without them.
  dynamic "access_log_settings" {
    for_each = var.api_gateway_logging ? [1] : []
    content {
      destination_arn = aws_cloudwatch_log_group.api_access[0].arn
      format = jsonencode({
        requestId          = "$context.requestId"
        connectionId       = "$context.connectionId"
        eventType          = "$context.eventType"
        routeKey           = "$context.routeKey"
        status             = "$context.status"
        requestTime        = "$context.requestTimeEpoch"
        sourceIp           = "$context.identity.sourceIp"
        integrationLatency = "$context.integration.latency"
        integrationStatus  = "$context.integration.status"
        error              = "$context.error.message"
      })
    }
  }

  # With manage_api_gateway_account = true the region's role must exist before the stage logs.
  depends_on = [module.api_gateway_account, aws_cloudwatch_log_group.api_execution]
}

resource "aws_cloudwatch_log_group" "api_access" {
  count = var.api_gateway_logging ? 1 : 0
  #checkov:skip=CKV_AWS_158:Encrypted at rest with CloudWatch Logs' own keys; access logs hold connection ids and IPs, no secrets, and a CMK would need a key policy for the logs service in every region.

  name              = "/aws/apigateway/${var.name}-websocket/${var.stage_name}"
  retention_in_days = var.log_retention_days
}

# Execution logs (off by default): API Gateway writes them to a group it names itself,
# API-Gateway-Execution-Logs_{api-id}/{stage} — for REST APIs in the developer guide
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-execution-logging.html),
# and for WebSocket APIs too in AWS's troubleshooting article for "REST API or WebSocket API"
# (https://repost.aws/knowledge-center/api-gateway-logs). Created here first, so it gets the
# retention set here instead of never expiring.
resource "aws_cloudwatch_log_group" "api_execution" {
  count = var.api_gateway_logging && var.execution_logging_level != "OFF" ? 1 : 0
  #checkov:skip=CKV_AWS_158:Encrypted at rest with CloudWatch Logs' own keys; execution logs at ERROR/INFO hold no payloads (data tracing stays off), and a CMK would need a key policy for the logs service.

  name              = "API-Gateway-Execution-Logs_${aws_apigatewayv2_api.websocket.id}/${var.stage_name}"
  retention_in_days = var.log_retention_days
}

# API Gateway's account-wide logging role, only when asked (see variables.tf): by default the
# region's role is set once with `make bootstrap-logging`, outside this stack's state.
module "api_gateway_account" {
  source = "./modules/api-gateway-logging"
  count  = var.manage_api_gateway_account ? 1 : 0

  role_name_prefix = "${var.name}-apigateway-logs"
}

# API Gateway may invoke each function only for its own route on this API's stage.
resource "aws_lambda_permission" "api" {
  for_each = local.routes

  statement_id  = "AllowApiGateway-${trimprefix(each.key, "$")}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.value].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.websocket.execution_arn}/${var.stage_name}/${each.key}"
}

# API Gateway may invoke the authorizer only as this API's authorizer.
resource "aws_lambda_permission" "authorizer" {
  count = local.auth_on ? 1 : 0

  statement_id  = "AllowApiGatewayAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["authorizer"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.websocket.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.token[0].id}"
}
