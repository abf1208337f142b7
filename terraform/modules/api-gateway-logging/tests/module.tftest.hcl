# The region's API Gateway logging role, under Terraform's test framework with a mocked AWS
# provider: its one validation, and the role named for its region.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_region" {
    defaults = {
      id = "eu-west-1"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/apigateway-cloudwatch-logs-eu-west-1"
    }
  }
}

run "the_role_is_named_for_its_region" {
  command = apply

  variables {
    role_name_prefix = "apigateway-cloudwatch-logs"
  }

  assert {
    condition     = aws_iam_role.this.name == "apigateway-cloudwatch-logs-eu-west-1"
    error_message = "one role per region, in one account"
  }
  assert {
    condition     = aws_iam_role_policy_attachment.this.policy_arn == "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    error_message = "AWS's own policy for pushing logs"
  }
}

run "the_prefix_must_leave_room_for_the_region" {
  command = plan

  variables {
    role_name_prefix = "a-prefix-far-too-long-for-an-iam-role-name-with-a-region"
  }

  expect_failures = [var.role_name_prefix]
}
