"""The stack applied by the real Terraform CLI and AWS provider, against moto server (an AWS API
emulator): access control by token and none (API logging off in the second), side by side.

Each run: `terraform apply` of every resource moto can emulate, then a second plan that must be
empty but for moto's known storage gaps, then `terraform destroy`, after which neither the state
nor moto holds anything. What moto cannot emulate is left out by resource type, named below with
the reason. What this proves and what only AWS can is in the README ("What `make test` proves").

Run by scripts/check-terraform.sh with the test tools' Python (boto3 comes with moto):
  MOTO_SERVER=... LAMBDA_ZIP_DIR=... python terraform/tests/test_apply_moto.py
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = str(REPO / "scripts" / "terraform.sh")
REGION = "us-east-1"

# Left out of the apply, by resource type, because moto 5.2 does not emulate them.
NOT_EMULATED = {
    "aws_apigatewayv2_deployment": "moto has no API Gateway v2 CreateDeployment",
    "aws_apigatewayv2_stage": "moto has no API Gateway v2 stages (a stage needs a deployment too)",
    "aws_sqs_queue_redrive_allow_policy": "moto does not store RedriveAllowPolicy, so the provider waits for it forever",
}

# What moto does not store, so a second plan shows a change nobody made: (type, attribute).
STORAGE_GAPS = {
    ("aws_lambda_function", "logging_config"): "moto does not store a function's logging_config",
}

# JSON documents moto gives back with other whitespace or key order: compared as data.
JSON_ATTRIBUTES = {"redrive_policy", "policy", "assume_role_policy"}

ENDPOINTS = ["apigateway", "apigatewayv2", "cloudwatch", "dynamodb", "iam", "lambda", "logs", "sqs", "ssm", "sts", "kms"]

PRINT = threading.Lock()


def say(run, text):
    with PRINT:
        print(f"[{run}] {text}", flush=True)


class Moto:
    """A moto server on a free loopback port."""

    def __init__(self):
        binary = os.environ.get("MOTO_SERVER", str(REPO / "target/py/test/bin/moto_server"))
        self.process = subprocess.Popen(
            [binary, "-H", "127.0.0.1", "-p", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.time() + 60
        self.endpoint = None
        while self.endpoint is None:
            line = self.process.stderr.readline()
            if "Running on http://" in line:
                self.endpoint = line[line.index("http://"):].strip()
            elif not line and (self.process.poll() is not None or time.time() > deadline):
                raise RuntimeError(f"{binary} did not start")
        # Keep draining its log so it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.process.stderr], daemon=True).start()

    def client(self, service):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self):
        self.process.kill()
        self.process.wait()


class Stack:
    """A copy of terraform/ pointed at one moto server."""

    def __init__(self, name, moto, variables):
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"stocks-tf-{name}-"))
        shutil.copytree(
            REPO / "terraform",
            self.dir / "terraform",
            ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "tests", "*.tfvars"),
        )
        endpoints = "\n".join(f'    {e} = "{moto.endpoint}"' for e in ENDPOINTS)
        (self.dir / "terraform" / "moto_override.tf").write_text(
            f"""provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  endpoints {{
{endpoints}
  }}
}}
"""
        )
        self.vars = []
        for key, value in {"region": REGION, "lambda_zip_dir": os.environ["LAMBDA_ZIP_DIR"], **variables}.items():
            self.vars += ["-var", f"{key}={value}"]

    def terraform(self, *args, check=True):
        result = subprocess.run(
            [TERRAFORM, f"-chdir={self.dir / 'terraform'}", *args, "-no-color"],
            capture_output=True,
            text=True,
        )
        if check and result.returncode not in (0, 2):
            raise AssertionError(f"[{self.name}] terraform {args[0]} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result

    def plan_json(self, *args):
        self.terraform("plan", "-input=false", "-out=plan.bin", *self.vars, *args)
        return json.loads(self.terraform("show", "-json", "plan.bin").stdout)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def changed_attributes(change):
    """The attributes a resource change would change, JSON documents compared as data."""
    before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
    unknown = change["change"].get("after_unknown") or {}
    names = set(before) | set(after)
    out = []
    for name in sorted(names):
        b, a = before.get(name), after.get(name)
        if unknown.get(name) is True:
            continue
        if name in JSON_ATTRIBUTES and isinstance(b, str) and isinstance(a, str):
            try:
                if json.loads(b) == json.loads(a):
                    continue
            except ValueError:
                pass
        if b != a:
            out.append(name)
    return out


def managed_in_state(stack):
    """The resources (not data sources) the state holds."""
    listed = stack.terraform("state", "list").stdout.split()
    return [a for a in listed if not a.startswith("data.") and ".data." not in a]


def apply_plan_destroy(name, variables):
    """One whole run; returns what it found, for the assertions."""
    moto = Moto()
    stack = Stack(name, moto, variables)
    try:
        stack.terraform("init", "-input=false", "-backend=false")
        planned = stack.plan_json()
        managed = [rc for rc in planned["resource_changes"] if rc["mode"] == "managed"]
        left_out = sorted({rc["type"] for rc in managed if rc["type"] in NOT_EMULATED})
        targets = [rc["address"] for rc in managed if rc["type"] not in NOT_EMULATED]
        target_args = [f"-target={t}" for t in targets]
        say(name, f"applying {len(targets)} resources on moto (left out: {', '.join(left_out)})")
        started = time.time()
        stack.terraform("apply", "-input=false", "-auto-approve", *stack.vars, *target_args)
        applied = sorted(managed_in_state(stack))
        say(name, f"applied {len(applied)} in {time.time() - started:.0f} s; planning again")
        again = stack.plan_json(*target_args)
        drift = {}
        for rc in again.get("resource_changes", []):
            if rc["mode"] != "managed" or rc["change"]["actions"] in (["no-op"], ["read"]):
                continue
            attrs = [a for a in changed_attributes(rc) if (rc["type"], a) not in STORAGE_GAPS]
            if attrs or rc["change"]["actions"] != ["update"]:
                drift[rc["address"]] = (rc["change"]["actions"], attrs)
        say(name, "destroying")
        stack.terraform("destroy", "-input=false", "-auto-approve", *stack.vars, *target_args)
        remaining = managed_in_state(stack)
        left_in_moto = {
            "queues": moto.client("sqs").list_queues().get("QueueUrls", []),
            "functions": [f["FunctionName"] for f in moto.client("lambda").list_functions()["Functions"]],
            "tables": moto.client("dynamodb").list_tables()["TableNames"],
            "apis": [a["Name"] for a in moto.client("apigatewayv2").get_apis()["Items"]],
            "roles": [r["RoleName"] for r in moto.client("iam").list_roles()["Roles"] if r["RoleName"].startswith("stocks")],
            "log groups": [g["logGroupName"] for g in moto.client("logs").describe_log_groups()["logGroups"]],
            "alarms": [a["AlarmName"] for a in moto.client("cloudwatch").describe_alarms()["MetricAlarms"]],
        }
        say(name, f"done in {time.time() - started:.0f} s")
        return {
            "planned": [rc["address"] for rc in managed],
            "left_out": left_out,
            "applied": applied,
            "drift": drift,
            "remaining": remaining,
            "left_in_moto": {k: v for k, v in left_in_moto.items() if v},
        }
    finally:
        moto.stop()
        stack.remove()


RUNS = {
    "token": {"auth_mode": "token"},
    "none-no-logs": {"auth_mode": "none", "api_gateway_logging": "false"},
}


class ApplyOnMoto(unittest.TestCase):
    results = {}

    @classmethod
    def setUpClass(cls):
        # The two runs are mostly waiting on the provider and moto: side by side.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(RUNS)) as pool:
            futures = {name: pool.submit(apply_plan_destroy, name, variables) for name, variables in RUNS.items()}
            cls.results = {name: f.result() for name, f in futures.items()}

    def test_every_resource_moto_emulates_is_created_by_the_real_provider(self):
        for name, r in self.results.items():
            expected = sorted(a for a in r["planned"] if a.split("[")[0].split(".")[-2] not in NOT_EMULATED)
            self.assertEqual(r["applied"], expected, name)
            self.assertEqual(r["left_out"], sorted(NOT_EMULATED), f"{name}: only what moto cannot emulate is left out")

    def test_token_and_none_create_what_each_needs(self):
        token, none = self.results["token"]["applied"], self.results["none-no-logs"]["applied"]
        self.assertIn("aws_dynamodb_table.access[0]", token)
        self.assertIn("aws_apigatewayv2_authorizer.token[0]", token)
        self.assertIn('aws_lambda_function.this["authorizer"]', token)
        self.assertIn("aws_cloudwatch_log_group.api_access[0]", token)
        self.assertFalse([a for a in none if "access" in a or "authorizer" in a], none)
        for both in [token, none]:
            self.assertIn("aws_dynamodb_table.market", both)
            self.assertIn("aws_lambda_event_source_mapping.worker", both)

    def test_a_second_plan_changes_nothing_but_motos_known_gaps(self):
        for name, r in self.results.items():
            self.assertEqual(r["drift"], {}, name)

    def test_destroy_leaves_nothing(self):
        for name, r in self.results.items():
            self.assertEqual(r["remaining"], [], f"{name}: state")
            self.assertEqual(r["left_in_moto"], {}, f"{name}: moto")


if __name__ == "__main__":
    unittest.main(verbosity=2)
