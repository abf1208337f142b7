# ---------------------------------------------------------------------------- market table

# What the worker fleet shares (MARKET_TABLE): the market quota's ledger and the gate a 429
# closes (`quota#polygon`), market answers until the next close (`answer#...`) and the short
# leases that make identical requests on different instances one market call (`lease#...`).
# Answers and leases expire by TTL; losing the table loses nothing but cached answers.
resource "aws_dynamodb_table" "market" {
  #checkov:skip=CKV_AWS_28:Holds a cache of public market data and a one-minute quota ledger, rebuilt by use; point-in-time recovery would restore nothing worth having.
  #checkov:skip=CKV_AWS_119:Encrypted at rest with DynamoDB's AWS-managed key; the table holds public market data and call times, and a customer-managed key would add a key policy for the worker role to maintain.

  name         = "${var.name}-market"
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

  server_side_encryption {
    enabled = true
  }
}
