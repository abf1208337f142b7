"""Structural tests of terraform/: the wiring the service depends on, checked offline.

No provider can be downloaded here, so `terraform validate`/`plan` cannot run; these tests
assert what they would catch for this module, and what a reviewer would check by hand.
Run: target/py/tf/bin/python -m unittest discover -s terraform/tests
"""

import re
import unittest

from tfmodule import (
    ALL_DIRS,
    BOOTSTRAP_DIR,
    LOGGING_MODULE_DIR,
    TERRAFORM_DIR,
    Module,
    blocks,
    expressions,
    references,
    rust_env_lists,
    rust_worker_outcomes,
)

M = Module()
BOOTSTRAP = Module(BOOTSTRAP_DIR)
LOGGING = Module(LOGGING_MODULE_DIR)


def unwrap(expression):
    """`${...}` -> `...`."""
    assert expression.startswith("${") and expression.endswith("}"), expression
    return expression[2:-1]


def evaluate(expression, **variables):
    """A Terraform arithmetic/boolean expression over `var.*`, evaluated with these values."""
    text = unwrap(expression)
    for name, value in variables.items():
        text = text.replace(f"var.{name}", repr(value))
    assert "var." not in text, f"a variable without a value in {text}"
    return eval(text.replace("&&", " and ").replace("||", " or "), {})


def validation_regex(variable):
    """The pattern of a `can(regex("...", var.x))` validation."""
    condition = blocks(variable, "validation")[0]["condition"]
    pattern = re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition).group(1)
    return pattern.replace("\\\\", "\\")


def policy_documents():
    for (rtype, name), body in M.data.items():
        if rtype == "aws_iam_policy_document":
            yield name, body


def statements(document):
    """Plain and dynamic `statement` blocks of a policy document."""
    for s in blocks(document, "statement"):
        yield s
    for dyn in blocks(document, "dynamic"):
        for block_name, spec in dyn.items():
            if block_name == "statement":
                for content in blocks(spec, "content"):
                    yield content


class References(unittest.TestCase):
    def test_every_reference_resolves_to_a_declaration(self):
        # `removed` blocks name what is no longer declared, on purpose.
        removed = {unwrap(r["from"]) for r in M.removed}
        for directory in ALL_DIRS:
            module = Module(directory)
            declared = {f"{t}.{n}" for t, n in module.resources} | {f"data.{t}.{n}" for t, n in module.data}
            declared |= {f"var.{v}" for v in module.variables} | {f"local.{l}" for l in module.locals}
            unresolved = []
            for file_name, text in module.all_strings():
                for ref in references(text):
                    if ref not in declared and not (directory == TERRAFORM_DIR and ref in removed):
                        unresolved.append(f"{directory.name}/{file_name}: {ref}")
            self.assertEqual(unresolved, [], "references to nothing")

    def test_every_variable_is_documented_and_used(self):
        for directory in ALL_DIRS:
            module = Module(directory)
            used = {r for _, text in module.all_strings() for r in references(text) if r.startswith("var.")}
            for name, body in module.variables.items():
                self.assertTrue(body.get("description"), f"{directory.name}: variable {name} has no description")
                self.assertIn("type", body, f"{directory.name}: variable {name} has no type")
                self.assertIn(f"var.{name}", used, f"{directory.name}: variable {name} is never used")

    def test_the_roots_need_terraform_1_7_for_removed_blocks(self):
        for module in [M, BOOTSTRAP]:
            self.assertEqual([s["required_version"] for s in module.settings if "required_version" in s], [">= 1.7.0"])
        for module in [M, BOOTSTRAP, LOGGING]:
            providers = [p for s in module.settings for p in s.get("required_providers", [])]
            self.assertEqual(providers, [{"aws": {"source": "hashicorp/aws", "version": ">= 5.100, < 7.0"}}])

    def test_every_output_is_documented(self):
        for name, body in M.outputs.items():
            self.assertTrue(body.get("description"), f"output {name} has no description")
        for required in ["websocket_url", "callback_url", "jobs_queue_url", "dlq_url", "dlq_arn", "function_names"]:
            self.assertIn(required, M.outputs)

    def test_every_validation_and_precondition_has_a_terraform_test_that_expects_it_to_fail(self):
        # The runs themselves are Terraform's (`terraform test`, tests/*.tftest.hcl); this makes
        # sure no new validation or precondition arrives without one.
        for directory, tests in [
            (TERRAFORM_DIR, TERRAFORM_DIR / "tests"),
            (LOGGING_MODULE_DIR, LOGGING_MODULE_DIR / "tests"),
        ]:
            module = Module(directory)
            text = "\n".join(p.read_text() for p in sorted(tests.glob("*.tftest.hcl")))
            expected = re.findall(r"expect_failures\s*=\s*\[([^\]]*)\]", text)
            failures = {e.strip() for group in expected for e in group.split(",")}
            for name, body in module.variables.items():
                if blocks(body, "validation"):
                    self.assertIn(f"var.{name}", failures, f"{directory.name}: no run expects var.{name}'s validation to fail")
            for (rtype, name), body in module.resources.items():
                if any(blocks(l, "precondition") for l in blocks(body, "lifecycle")):
                    self.assertIn(f"{rtype}.{name}", failures, f"{directory.name}: no run expects {rtype}.{name}'s precondition to fail")

    def test_tfvars_example_documents_every_variable(self):
        example = (TERRAFORM_DIR / "terraform.tfvars.example").read_text()
        for name in M.variables:
            self.assertRegex(example, rf"(?m)^#?\s*{name}\s*=", f"terraform.tfvars.example does not mention {name}")


class Api(unittest.TestCase):
    def test_websocket_api_routes_on_body_action(self):
        api = M.resource("aws_apigatewayv2_api", "websocket")
        self.assertEqual(api["protocol_type"], "WEBSOCKET")
        self.assertEqual(api["route_selection_expression"], "$request.body.action")

    def test_routes_and_their_functions(self):
        routes = M.locals["routes"]
        self.assertEqual(
            routes, {"$connect": "connect", "$disconnect": "disconnect", "stocksaction": "ingress", "$default": "ingress"}
        )
        route = M.resource("aws_apigatewayv2_route", "this")
        self.assertIn('key != "$connect"', route["for_each"], "every route but $connect")
        self.assertEqual(route["route_key"], "${each.key}")
        connect = M.resource("aws_apigatewayv2_route", "connect")
        self.assertEqual(connect["route_key"], "$connect")
        self.assertIn('aws_apigatewayv2_integration.lambda["connect"]', connect["target"])
        integration = M.resource("aws_apigatewayv2_integration", "lambda")
        self.assertEqual(integration["integration_type"], "AWS_PROXY")
        self.assertIn("aws_lambda_function.this[each.key].invoke_arn", integration["integration_uri"])

    def test_stage_is_throttled_logged_and_redeployed_on_change(self):
        stage = M.resource("aws_apigatewayv2_stage", "this")
        settings = blocks(stage, "default_route_settings")[0]
        self.assertEqual(settings["throttling_burst_limit"], "${var.throttling_burst_limit}")
        self.assertEqual(settings["throttling_rate_limit"], "${var.throttling_rate_limit}")
        access = [d["access_log_settings"] for d in blocks(stage, "dynamic") if "access_log_settings" in d][0]
        self.assertEqual(access["for_each"], "${var.api_gateway_logging ? [1] : []}")
        logs = blocks(access, "content")[0]
        self.assertEqual(logs["destination_arn"], "${aws_cloudwatch_log_group.api_access[0].arn}")
        self.assertIn("$context.connectionId", logs["format"])
        deployment = M.resource("aws_apigatewayv2_deployment", "this")
        trigger = deployment["triggers"]["redeployment"]
        self.assertIn("aws_apigatewayv2_route.this", trigger)
        self.assertIn("aws_apigatewayv2_route.connect", trigger)
        self.assertIn("aws_apigatewayv2_integration.lambda", trigger)
        self.assertIn("aws_apigatewayv2_authorizer.token", trigger)

    def test_execution_logs_are_off_by_default_and_kept_only_as_long_as_set_when_on(self):
        level = M.variables["execution_logging_level"]
        self.assertEqual(level["default"], "OFF")
        self.assertIn('["OFF", "ERROR", "INFO"]', blocks(level, "validation")[0]["condition"])
        settings = blocks(M.resource("aws_apigatewayv2_stage", "this"), "default_route_settings")[0]
        self.assertEqual(settings["logging_level"], '${var.api_gateway_logging ? var.execution_logging_level : "OFF"}')
        self.assertFalse(settings["data_trace_enabled"], "never full request bodies in logs")
        group = M.resource("aws_cloudwatch_log_group", "api_execution")
        # The name API Gateway writes execution logs to; see the citation in api.tf.
        self.assertEqual(group["name"], "API-Gateway-Execution-Logs_${aws_apigatewayv2_api.websocket.id}/${var.stage_name}")
        self.assertEqual(group["retention_in_days"], "${var.log_retention_days}")
        self.assertEqual(group["count"], '${var.api_gateway_logging && var.execution_logging_level != "OFF" ? 1 : 0}')
        self.assertIn("aws_cloudwatch_log_group.api_execution", M.resource("aws_apigatewayv2_stage", "this")["depends_on"][1])

    def test_invoke_permissions_are_scoped_to_this_api_stage_and_route(self):
        permission = M.resource("aws_lambda_permission", "api")
        self.assertEqual(permission["principal"], "apigateway.amazonaws.com")
        self.assertEqual(
            permission["source_arn"], "${aws_apigatewayv2_api.websocket.execution_arn}/${var.stage_name}/${each.key}"
        )
        self.assertEqual(permission["for_each"], "${local.routes}")


def functions():
    """Every function's definition: the four always there, and the authorizer."""
    return {**M.locals["core_functions"], **M.locals["auth_functions"]}


class AccessControl(unittest.TestCase):
    def test_tokens_by_default_or_the_open_api(self):
        mode = M.variables["auth_mode"]
        self.assertEqual(mode["default"], "token")
        self.assertIn('["token", "none"]', blocks(mode, "validation")[0]["condition"])
        self.assertEqual(M.locals["auth_on"], '${var.auth_mode == "token"}')
        self.assertEqual(
            M.locals["functions"], "${merge(local.core_functions, local.auth_on ? local.auth_functions : {})}"
        )

    def test_connect_is_authorized_by_the_request_authorizer_on_the_token_parameter(self):
        authorizer = M.resource("aws_apigatewayv2_authorizer", "token")
        self.assertEqual(authorizer["count"], "${local.auth_on ? 1 : 0}")
        self.assertEqual(authorizer["authorizer_type"], "REQUEST")
        self.assertEqual(authorizer["identity_sources"], ["route.request.querystring.token"])
        self.assertIn('aws_lambda_function.this["authorizer"].invoke_arn', authorizer["authorizer_uri"])
        connect = M.resource("aws_apigatewayv2_route", "connect")
        self.assertEqual(connect["authorization_type"], '${local.auth_on ? "CUSTOM" : "NONE"}')
        self.assertIn("aws_apigatewayv2_authorizer.token[0].id", connect["authorizer_id"])
        self.assertEqual(M.resource("aws_apigatewayv2_route", "this")["authorization_type"], "NONE")

    def test_the_authorizer_may_be_invoked_only_as_this_apis_authorizer(self):
        permission = M.resource("aws_lambda_permission", "authorizer")
        self.assertEqual(permission["principal"], "apigateway.amazonaws.com")
        self.assertEqual(
            permission["source_arn"],
            "${aws_apigatewayv2_api.websocket.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.token[0].id}",
        )

    def test_the_table_is_on_demand_expiring_recoverable_and_encrypted(self):
        table = M.resource("aws_dynamodb_table", "access")
        self.assertEqual((table["billing_mode"], table["hash_key"]), ("PAY_PER_REQUEST", "pk"))
        self.assertEqual(blocks(table, "attribute")[0], {"name": "pk", "type": "S"})
        self.assertEqual(blocks(table, "ttl")[0], {"attribute_name": "expiresAt", "enabled": True})
        self.assertTrue(blocks(table, "point_in_time_recovery")[0]["enabled"])
        self.assertTrue(blocks(table, "server_side_encryption")[0]["enabled"])
        self.assertIn("access_table_name", M.outputs)

    def test_the_authorizer_may_only_read_and_the_ingress_only_count(self):
        doc = M.data[("aws_iam_policy_document", "lambda")]
        grants = {}
        for dyn in blocks(doc, "dynamic"):
            content = blocks(dyn["statement"], "content")[0]
            grants[content["sid"]] = (dyn["statement"]["for_each"], content)
        when, read = grants["ReadTokens"]
        self.assertIn('each.key == "authorizer"', when)
        self.assertEqual((read["actions"], read["resources"]), (["dynamodb:GetItem"], ["${aws_dynamodb_table.access[0].arn}"]))
        when, count = grants["CountRequests"]
        self.assertIn('each.key == "ingress"', when)
        self.assertEqual(count["actions"], ["dynamodb:UpdateItem"])
        condition = blocks(count, "condition")[0]
        self.assertEqual(
            (condition["test"], condition["variable"], condition["values"]),
            ("ForAllValues:StringLike", "dynamodb:LeadingKeys", ["rate#*"]),
            "only the rate items",
        )
        access = [
            sid
            for sid, (_, c) in grants.items()
            if any(a.startswith("dynamodb:") for a in c["actions"]) and any("access" in r for r in c["resources"])
        ]
        self.assertEqual(sorted(access), ["CountRequests", "ReadTokens"], "nothing else touches the access table")

    def test_only_the_worker_shares_the_market_table_with_exactly_the_calls_it_makes(self):
        doc = M.data[("aws_iam_policy_document", "lambda")]
        grants = {}
        for dyn in blocks(doc, "dynamic"):
            content = blocks(dyn["statement"], "content")[0]
            grants[content["sid"]] = (dyn["statement"]["for_each"], content)
        when, share = grants["ShareTheMarket"]
        self.assertIn('each.key == "worker"', when)
        self.assertEqual(
            (sorted(share["actions"]), share["resources"]),
            (
                ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                ["${aws_dynamodb_table.market.arn}"],
            ),
        )
        market = [sid for sid, (_, c) in grants.items() if any("market" in r for r in c["resources"])]
        self.assertEqual(market, ["ShareTheMarket"])
        table = M.resource("aws_dynamodb_table", "market")
        self.assertEqual((table["hash_key"], table["billing_mode"]), ("pk", "PAY_PER_REQUEST"))
        self.assertEqual(blocks(table, "ttl")[0], {"attribute_name": "expiresAt", "enabled": True})
        self.assertTrue(blocks(table, "server_side_encryption")[0]["enabled"])

    def test_the_functions_get_the_table(self):
        self.assertEqual(functions()["authorizer"]["environment"]["ACCESS_TABLE"], "${one(aws_dynamodb_table.access[*].name)}")
        self.assertEqual(
            functions()["ingress"]["environment"]["ACCESS_TABLE"],
            '${local.auth_on ? one(aws_dynamodb_table.access[*].name) : ""}',
            "empty turns the rate check off",
        )


class Functions(unittest.TestCase):
    def test_functions_on_al2023_with_the_built_architecture(self):
        self.assertEqual(set(functions()), {"connect", "disconnect", "ingress", "worker", "authorizer"})
        f = M.resource("aws_lambda_function", "this")
        self.assertEqual((f["runtime"], f["handler"]), ("provided.al2023", "bootstrap"))
        self.assertEqual(f["architectures"], ["${var.architecture}"])
        arch = M.variables["architecture"]
        self.assertEqual(arch["default"], "arm64")
        self.assertIn('["arm64", "x86_64"]', blocks(arch, "validation")[0]["condition"])
        self.assertEqual(f["filename"], "${local.lambda_zip_dir}/stocks-${each.key}/bootstrap.zip")
        self.assertIn("filebase64sha256", f["source_code_hash"])
        precondition = blocks(f["lifecycle"][0], "precondition")[0]
        self.assertIn("fileexists(", precondition["condition"])
        self.assertIn("make build", precondition["error_message"])
        self.assertIn("target/lambda/${var.architecture}", M.locals["lambda_zip_dir"])

    def test_environment_is_exactly_what_the_code_reads(self):
        code = rust_env_lists()
        defined = functions()
        for role, expected in [
            ("connect", "LIFECYCLE"),
            ("disconnect", "LIFECYCLE"),
            ("ingress", "INGRESS"),
            ("worker", "WORKER"),
            ("authorizer", "AUTHORIZER"),
        ]:
            self.assertEqual(set(defined[role]["environment"]), code[expected], f"{role} environment")

    def test_callback_url_is_built_from_the_api_id_in_the_partitions_domain(self):
        self.assertEqual(
            M.locals["callback_url"],
            "https://${aws_apigatewayv2_api.websocket.id}.execute-api.${local.region}.${local.dns_suffix}/${var.stage_name}",
        )
        self.assertEqual(M.locals["dns_suffix"], "${data.aws_partition.current.dns_suffix}")
        for role in ["ingress", "worker"]:
            self.assertEqual(functions()[role]["environment"]["CALLBACK_URL"], "${local.callback_url}")

    def test_worker_environment_wiring(self):
        env = functions()["worker"]["environment"]
        self.assertEqual(env["MAX_RECEIVE_COUNT"], "${tostring(var.max_receive_count)}")
        self.assertEqual(env["DLQ_URL"], "${aws_sqs_queue.dlq.url}")
        self.assertEqual(env["POLYGON_API_KEY_PARAM"], "${var.polygon_api_key_parameter_name}")
        self.assertNotIn("POLYGON_API_KEY", env, "the key itself never goes in Terraform")
        self.assertEqual(env["QUEUE_URL"], "${aws_sqs_queue.jobs.url}", "deferred jobs go back to the jobs queue")
        self.assertEqual(
            env["POLYGON_REQUESTS_PER_MINUTE"],
            "${tostring(var.polygon_requests_per_minute)}",
            "the plan's rate, whole: the fleet shares one limiter",
        )
        self.assertEqual(env["MARKET_TABLE"], "${aws_dynamodb_table.market.name}")
        self.assertEqual(env["QUOTA_DEFER_SECS"], "${tostring(var.quota_defer_seconds)}")
        self.assertEqual(env["MAX_JOB_AGE_SECS"], "${tostring(var.max_job_age_seconds)}")

    def test_the_worker_timeout_fits_its_market_fetch(self):
        timeout = M.variables["worker_timeout_seconds"]
        self.assertEqual(timeout["default"], 20, "WORKER_MIN_TIMEOUT in crates/stocks-core/src/adapters/polygon/policy.rs")
        condition = blocks(timeout, "validation")[0]["condition"]
        self.assertTrue(evaluate(condition, worker_timeout_seconds=20))
        self.assertFalse(evaluate(condition, worker_timeout_seconds=19), "the worker would be killed mid-delivery")

    def test_the_outcome_metrics_do_not_depend_on_the_log_level(self):
        self.assertIn("any level", M.variables["log_level"]["description"])
        source = (TERRAFORM_DIR.parent / "crates/stocks-core/src/telemetry.rs").read_text()
        self.assertIn('OUTCOME_TARGET: &str = "stocks::outcome"', source)
        self.assertIn("stocks::outcome=off", M.variables["log_level"]["description"])

    def test_quota_variables_default_to_the_free_plan_and_stay_inside_the_connection_lifetime(self):
        self.assertEqual(M.variables["polygon_requests_per_minute"]["default"], 5)
        self.assertEqual(M.variables["quota_defer_seconds"]["default"], 60)
        age = M.variables["max_job_age_seconds"]
        self.assertEqual(age["default"], 7000)
        self.assertIn("<= 7200", blocks(age, "validation")[0]["condition"])

    def test_log_groups_with_retention_and_json_logs_kept(self):
        groups = M.resource("aws_cloudwatch_log_group", "lambda")
        self.assertEqual(groups["name"], "/aws/lambda/${var.name}-${each.key}")
        self.assertEqual(groups["retention_in_days"], "${var.log_retention_days}")
        config = blocks(M.resource("aws_lambda_function", "this"), "logging_config")[0]
        self.assertEqual(config["log_group"], "${aws_cloudwatch_log_group.lambda[each.key].name}")


class Queues(unittest.TestCase):
    def test_jobs_queue_redrives_to_the_dlq_after_max_receive_count(self):
        jobs = M.resource("aws_sqs_queue", "jobs")
        self.assertTrue(jobs["sqs_managed_sse_enabled"])
        policy = jobs["redrive_policy"]
        self.assertIn("deadLetterTargetArn = aws_sqs_queue.dlq.arn", policy)
        self.assertIn("maxReceiveCount = var.max_receive_count", policy)
        self.assertEqual(M.variables["max_receive_count"]["default"], 5, "AWS's guidance for SQS-triggered functions")

    def test_the_last_retry_must_reach_its_client_before_api_gateways_idle_timeout(self):
        jobs = M.resource("aws_sqs_queue", "jobs")
        precondition = blocks(jobs["lifecycle"][0], "precondition")[0]
        condition = precondition["condition"]
        defaults = {
            "max_receive_count": M.variables["max_receive_count"]["default"],
            "worker_timeout_seconds": M.variables["worker_timeout_seconds"]["default"],
        }
        self.assertTrue(evaluate(condition, **defaults), "the defaults must pass")
        # 4 redeliveries x 6 x 30 s + 30 s = 750 s: the client is gone after 600.
        self.assertFalse(evaluate(condition, max_receive_count=5, worker_timeout_seconds=30))
        self.assertFalse(evaluate(condition, max_receive_count=10, worker_timeout_seconds=20))
        self.assertTrue(evaluate(condition, max_receive_count=3, worker_timeout_seconds=40))
        self.assertIn("600 s idle timeout", precondition["error_message"])

    def test_visibility_timeout_is_six_times_the_worker_timeout(self):
        self.assertEqual(M.resource("aws_sqs_queue", "jobs")["visibility_timeout_seconds"], "${var.worker_timeout_seconds * 6}")
        self.assertEqual(functions()["worker"]["timeout"], "${var.worker_timeout_seconds}")

    def test_dlq_keeps_jobs_long_and_only_for_the_jobs_queue(self):
        dlq = M.resource("aws_sqs_queue", "dlq")
        self.assertTrue(dlq["sqs_managed_sse_enabled"])
        self.assertEqual(M.variables["dlq_retention_seconds"]["default"], 1209600)
        allow = M.resource("aws_sqs_queue_redrive_allow_policy", "dlq")["redrive_allow_policy"]
        self.assertIn('redrivePermission = "byQueue"', allow)
        self.assertIn("sourceQueueArns = [aws_sqs_queue.jobs.arn]", allow)

    def test_mapping_reports_batch_item_failures_with_bounded_concurrency(self):
        mapping = M.resource("aws_lambda_event_source_mapping", "worker")
        self.assertEqual(mapping["function_response_types"], ["ReportBatchItemFailures"])
        self.assertEqual(mapping["event_source_arn"], "${aws_sqs_queue.jobs.arn}")
        self.assertEqual(mapping["batch_size"], "${var.worker_batch_size}")
        self.assertEqual(mapping["maximum_batching_window_in_seconds"], "${var.worker_batching_window_seconds}")
        self.assertEqual(blocks(mapping, "scaling_config")[0]["maximum_concurrency"], "${var.worker_max_concurrency}")


class Iam(unittest.TestCase):
    def all_statements(self):
        for name, doc in policy_documents():
            for s in statements(doc):
                yield name, s

    def test_no_wildcard_action_anywhere(self):
        for name, s in self.all_statements():
            for action in s.get("actions", []):
                self.assertNotIn("*", action, f"policy {name} allows {action}")
        for _, text in M.all_strings():
            for expr in expressions(text):
                self.assertNotRegex(expr, r'(?i)"?Action"?\s*=\s*"\*"', "a jsonencode'd policy with Action *")

    def test_wildcard_resources_only_where_aws_allows_nothing_else(self):
        for name, s in self.all_statements():
            if "*" in s.get("resources", []) and s.get("effect", "Allow") == "Allow":
                self.assertTrue(all(a.startswith("xray:") for a in s["actions"]), f"{name}: {s}")

    def test_manage_connections_is_scoped_to_this_stage(self):
        self.assertEqual(
            M.locals["connections_arn"], "${aws_apigatewayv2_api.websocket.execution_arn}/${var.stage_name}"
        )
        seen = 0
        for name, s in self.all_statements():
            if "execute-api:ManageConnections" in s.get("actions", []):
                seen += 1
                for resource in s["resources"]:
                    self.assertRegex(resource, r"^\$\{local\.connections_arn\}/(POST|DELETE)/@connections/\*$")
        self.assertEqual(seen, 2, "ingress and worker")

    def test_each_function_gets_only_its_own_capabilities(self):
        doc = M.data[("aws_iam_policy_document", "lambda")]
        grants = {}
        for dyn in blocks(doc, "dynamic"):
            spec = dyn["statement"]
            condition = spec["for_each"]
            content = blocks(spec, "content")[0]
            grants[content["sid"]] = (condition, content["actions"], content["resources"])
        self.assertEqual(grants["QueueJobs"][1:], (["sqs:SendMessage"], ["${aws_sqs_queue.jobs.arn}"]))
        self.assertIn('each.key == "ingress"', grants["QueueJobs"][0])
        self.assertEqual(
            grants["ConsumeJobs"][1:],
            (["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], ["${aws_sqs_queue.jobs.arn}"]),
        )
        self.assertEqual(grants["DeadLetterJobs"][1:], (["sqs:SendMessage"], ["${aws_sqs_queue.dlq.arn}"]))
        self.assertEqual(grants["DeferJobs"][1:], (["sqs:SendMessage"], ["${aws_sqs_queue.jobs.arn}"]))
        self.assertEqual(grants["ReadPolygonKey"][1:], (["ssm:GetParameter"], ["${local.polygon_key_parameter_arn}"]))
        for sid in ["ConsumeJobs", "DeferJobs", "DeadLetterJobs", "ReportToClients", "ReadPolygonKey"]:
            self.assertIn('each.key == "worker"', grants[sid][0], sid)
        logs = blocks(doc, "statement")[0]
        self.assertEqual(logs["resources"], ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"])
        self.assertNotIn("logs:CreateLogGroup", logs["actions"])

    def test_one_role_per_function(self):
        role = M.resource("aws_iam_role", "lambda")
        self.assertEqual(role["for_each"], "${local.functions}")
        self.assertEqual(role["name"], "${var.name}-${each.key}-${local.region}")

    def test_account_wide_names_cannot_collide_across_regions(self):
        # IAM is global to the account: every role name carries the region (or a generated
        # suffix), so the same stack deploys to two regions of one account.
        for module in [M, LOGGING]:
            for (rtype, name), body in module.resources.items():
                if rtype in {"aws_iam_role", "aws_iam_policy", "aws_iam_user", "aws_iam_instance_profile"}:
                    self.assertTrue(
                        "name_prefix" in body or "region" in body.get("name", ""),
                        f"{rtype}.{name} is named {body.get('name')!r}, the same in every region",
                    )
        longest = f"{'n' * 31}-authorizer-ap-southeast-5"
        self.assertLessEqual(len(longest), 64, "IAM's role name limit, with the longest name and role")

    def test_only_service_principals_name_the_aws_domain(self):
        # Hosts are built from the partition's DNS suffix (amazonaws.com.cn in China).
        for directory in ALL_DIRS:
            for file_name, text in Module(directory).all_strings():
                if "amazonaws.com" in text:
                    self.assertRegex(text, r"^[a-z-]+\.amazonaws\.com$", f"{directory.name}/{file_name}: {text}")

    def test_a_kms_alias_is_refused_for_the_key_parameter(self):
        variable = M.variables["polygon_api_key_kms_key_arn"]
        pattern = re.compile(validation_regex(variable))
        self.assertIn("== null ||", blocks(variable, "validation")[0]["condition"], "null (aws/ssm) stays allowed")
        for good in [
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ]:
            self.assertRegex(good, pattern)
        for bad in [
            "arn:aws:kms:eu-west-1:123456789012:alias/stocks",
            "alias/stocks",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:123456789012:key/",
        ]:
            self.assertNotRegex(bad, pattern)
        statement = [
            blocks(d["statement"], "content")[0]
            for d in blocks(M.data[("aws_iam_policy_document", "lambda")], "dynamic")
            if blocks(d["statement"], "content")[0]["sid"] == "DecryptPolygonKey"
        ][0]
        self.assertEqual(blocks(statement, "condition")[0]["values"], ["ssm.${local.region}.${local.dns_suffix}"])
        self.assertEqual(M.resource("aws_lambda_function", "this")["role"], "${aws_iam_role.lambda[each.key].arn}")

    def test_the_parameter_value_is_never_read(self):
        self.assertNotIn("aws_ssm_parameter", {t for t, _ in M.data}, "a data source would put the key in state")
        self.assertNotIn("aws_ssm_parameter", {t for t, _ in M.resources}, "the key's value stays out of Terraform")


class ApiGatewayAccount(unittest.TestCase):
    """The region's API Gateway CloudWatch Logs role is one setting for every API in the
    account: the stack leaves it alone unless told, and never destroys what it once set."""

    def test_the_stack_does_not_own_the_account_setting_by_default(self):
        self.assertFalse(M.variables["manage_api_gateway_account"]["default"])
        self.assertNotIn("aws_api_gateway_account", {t for t, _ in M.resources})
        managed = M.modules["api_gateway_account"]
        self.assertEqual(managed["source"], "./modules/api-gateway-logging")
        self.assertEqual(managed["count"], "${var.manage_api_gateway_account ? 1 : 0}")
        self.assertIn("module.api_gateway_account", M.resource("aws_apigatewayv2_stage", "this")["depends_on"][0])

    def test_what_earlier_versions_set_is_forgotten_not_destroyed(self):
        forgotten = {unwrap(r["from"]): r["lifecycle"][0]["destroy"] for r in M.removed}
        self.assertEqual(
            forgotten,
            {
                "aws_api_gateway_account.this": False,
                "aws_iam_role.api_gateway_logs": False,
                "aws_iam_role_policy_attachment.api_gateway_logs": False,
            },
        )

    def test_bootstrap_logging_is_its_own_root_over_the_shared_module(self):
        self.assertEqual(
            BOOTSTRAP.modules["api_gateway_logging"],
            {"source": "../modules/api-gateway-logging", "role_name_prefix": "apigateway-cloudwatch-logs"},
        )
        self.assertIn("cloudwatch_role_arn", BOOTSTRAP.outputs)
        account = LOGGING.resource("aws_api_gateway_account", "this")
        self.assertEqual(account["cloudwatch_role_arn"], "${aws_iam_role.this.arn}")
        self.assertEqual(account["depends_on"], ["${aws_iam_role_policy_attachment.this}"])
        attachment = LOGGING.resource("aws_iam_role_policy_attachment", "this")
        self.assertTrue(attachment["policy_arn"].endswith(":iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"))
        self.assertEqual(LOGGING.resource("aws_iam_role", "this")["name"], "${var.role_name_prefix}-${data.aws_region.current.id}")

    def test_access_logs_can_be_turned_off_for_an_account_without_the_role(self):
        self.assertTrue(M.variables["api_gateway_logging"]["default"])
        self.assertEqual(M.resource("aws_cloudwatch_log_group", "api_access")["count"], "${var.api_gateway_logging ? 1 : 0}")
        self.assertIn("make bootstrap-logging", M.variables["api_gateway_logging"]["description"])


class Operations(unittest.TestCase):
    def test_dlq_alarm_watches_visible_messages(self):
        alarm = M.resource("aws_cloudwatch_metric_alarm", "dlq_not_empty")
        self.assertEqual((alarm["namespace"], alarm["metric_name"]), ("AWS/SQS", "ApproximateNumberOfMessagesVisible"))
        self.assertEqual(alarm["dimensions"], {"QueueName": "${aws_sqs_queue.dlq.name}"})
        self.assertEqual((alarm["threshold"], alarm["comparison_operator"]), (0, "GreaterThanThreshold"))
        self.assertEqual(alarm["alarm_actions"], "${local.alarm_actions}")

    def test_worker_errors_alarm(self):
        alarm = M.resource("aws_cloudwatch_metric_alarm", "function_errors")
        self.assertEqual(alarm["for_each"], "${local.functions}")
        self.assertEqual((alarm["namespace"], alarm["metric_name"]), ("AWS/Lambda", "Errors"))

    def test_every_worker_outcome_is_a_metric(self):
        metrics = M.resource("aws_cloudwatch_log_metric_filter", "outcomes")
        names = set(re.findall(r'"([a-z_]+)"', metrics["for_each"]))
        outcomes = rust_worker_outcomes()
        self.assertIn("deferred", outcomes)
        self.assertEqual(names, outcomes, "the metric filters and Outcome::as_str")

    def test_alarm_topic_is_optional(self):
        self.assertIsNone(M.variables["alarm_sns_topic_arn"]["default"])
        self.assertIn("var.alarm_sns_topic_arn == null ? []", M.locals["alarm_actions"])


if __name__ == "__main__":
    unittest.main()
