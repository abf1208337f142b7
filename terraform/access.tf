# ---------------------------------------------------------------------------- access table

# Tokens (only their SHA-256: `token#<hex>`) and per-token, per-minute request counters
# (`rate#<tokenId>#<minute>`, gone by TTL). Operators manage tokens with `stocksctl tokens`.
resource "aws_dynamodb_table" "access" {
  count = local.auth_on ? 1 : 0
  #checkov:skip=CKV_AWS_119:Encrypted at rest with DynamoDB's AWS-managed key; the table holds token hashes and counters, never a token, and a customer-managed key would add a key policy to maintain for every function role.

  name         = "${var.name}-access"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expiresAt"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}
