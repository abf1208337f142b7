# What earlier versions of this stack managed and this one lets go of without destroying it.

# Until this version the stack set API Gateway's account-wide CloudWatch Logs role itself
# (manage_api_gateway_account defaulted to true). Destroying that setting resets the region's
# role for every API in the account, so it is forgotten instead: the role stays set and keeps
# working, now outside Terraform. Adopt it into bootstrap-logging/ with `terraform import` if
# you want it managed, or leave it be.
removed {
  from = aws_api_gateway_account.this

  lifecycle {
    destroy = false
  }
}

removed {
  from = aws_iam_role.api_gateway_logs

  lifecycle {
    destroy = false
  }
}

removed {
  from = aws_iam_role_policy_attachment.api_gateway_logs

  lifecycle {
    destroy = false
  }
}
