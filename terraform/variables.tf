# ---------------------------------------------------------------------------- naming and placement

variable "name" {
  description = "Prefix for every resource name (functions, queues, API, alarms)."
  type        = string
  default     = "stocks"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name))
    error_message = "name must be lower-case letters, digits and '-', starting with a letter, at most 31 characters."
  }
}

variable "region" {
  description = "AWS region to deploy to. Null uses the provider's usual sources (AWS_REGION, the profile)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------- API

variable "stage_name" {
  description = "API Gateway stage: the last path segment of the wss:// URL."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.stage_name))
    error_message = "stage_name must be letters, digits, '-' or '_'."
  }
}

variable "throttling_burst_limit" {
  description = "Stage-wide burst limit for messages (API Gateway default route throttling)."
  type        = number
  default     = 100
}

variable "throttling_rate_limit" {
  description = "Stage-wide steady-state limit, messages per second."
  type        = number
  default     = 50
}

variable "auth_mode" {
  description = "Who may connect: \"token\" (the default) needs ?token= on $connect, checked by the authorizer against the access table, with a per-token request rate; \"none\" is the seed's open API."
  type        = string
  default     = "token"

  validation {
    condition     = contains(["token", "none"], var.auth_mode)
    error_message = "auth_mode must be \"token\" or \"none\"."
  }
}

variable "api_gateway_logging" {
  description = "Access logs (and execution logs, see execution_logging_level) for the stage. They need the region's API Gateway CloudWatch Logs role, set once per account and region: `make preflight` says whether it is, `make bootstrap-logging` sets it. false deploys without API logs."
  type        = bool
  default     = true
}

variable "execution_logging_level" {
  description = "API Gateway's own execution logs for the stage: OFF (the default; access logs and the functions' logs say what happened), ERROR or INFO. When on, the group API-Gateway-Execution-Logs_<api-id>/<stage> is created with log_retention_days."
  type        = string
  default     = "OFF"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.execution_logging_level)
    error_message = "execution_logging_level must be OFF, ERROR or INFO."
  }
}

variable "manage_api_gateway_account" {
  description = "Let this stack set the region's API Gateway CloudWatch Logs role (role <name>-apigateway-logs-<region>). Off by default: it is one setting for every API in the account and region, and destroying it resets it for all of them; set it once with `make bootstrap-logging` instead. Only for an account nothing else uses."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------- functions

variable "architecture" {
  description = "Lambda architecture; must match the build (`make build ARCH=...`)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "lambda_zip_dir" {
  description = "Directory holding <function>/bootstrap.zip; null means ../target/lambda/<architecture>, where `make build` writes."
  type        = string
  default     = null
}

variable "lifecycle_memory_mb" {
  description = "Memory of the $connect and $disconnect functions, MB."
  type        = number
  default     = 128
}

variable "lifecycle_timeout_seconds" {
  description = "Timeout of the $connect and $disconnect functions."
  type        = number
  default     = 5
}

variable "ingress_memory_mb" {
  description = "Memory of the ingress function, MB."
  type        = number
  default     = 128
}

variable "ingress_timeout_seconds" {
  description = "Timeout of the ingress function (it validates, posts the 202 and queues: well under a second)."
  type        = number
  default     = 10
}

variable "worker_memory_mb" {
  description = "Memory of the worker function, MB."
  type        = number
  default     = 256
}

variable "worker_timeout_seconds" {
  description = "Timeout of the worker. Its market fetch is bounded to 11 s and each AWS call to 2.5 s, so 20 is enough; the jobs queue's visibility timeout is six times this, and a failed job's last retry must still reach its client inside API Gateway's 10-minute idle timeout (see max_receive_count)."
  type        = number
  default     = 20

  validation {
    condition     = var.worker_timeout_seconds >= 20 && var.worker_timeout_seconds <= 900
    error_message = "worker_timeout_seconds must be 20..900 (one market fetch takes up to 11 s, and the report and queue calls up to 2.5 s each)."
  }
}

variable "log_level" {
  description = "RUST_LOG for every function (e.g. info, debug, warn,stocks_core=debug). The worker's `job done` lines, which the outcome metrics count, are written at any level (a `stocks::outcome=off` directive turns them off)."
  type        = string
  default     = "info"
}

variable "log_retention_days" {
  description = "Retention of the functions' and the API's log groups."
  type        = number
  default     = 365
}

variable "enable_xray_tracing" {
  description = "X-Ray active tracing on every function."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------- the report

variable "report_window_days" {
  description = "Default report window in days, ending yesterday (REPORT_WINDOW_DAYS)."
  type        = number
  default     = 30

  validation {
    condition     = var.report_window_days >= 1 && var.report_window_days <= 1826
    error_message = "report_window_days must be 1..1826."
  }
}

variable "polygon_api_key_parameter_name" {
  description = "Name of the SSM SecureString holding the Polygon API key. Create it yourself (see the README); Terraform never sees the key."
  type        = string
  default     = "/stocks/polygon-api-key"
}

variable "polygon_api_key_kms_key_arn" {
  description = "Customer-managed KMS key encrypting that parameter, if not the default aws/ssm key: its key ARN (arn:aws:kms:<region>:<account>:key/<id>), never an alias, which no kms:Decrypt grant matches."
  type        = string
  default     = null

  validation {
    condition     = var.polygon_api_key_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.polygon_api_key_kms_key_arn))
    error_message = "polygon_api_key_kms_key_arn must be a key ARN (arn:aws:kms:<region>:<account>:key/<key-id>); an alias ARN matches no kms:Decrypt grant, so the worker could not read the key. `aws kms describe-key --key-id alias/NAME --query KeyMetadata.Arn` gives the key ARN."
  }
}

variable "polygon_base_url" {
  description = "Polygon endpoint (POLYGON_BASE_URL)."
  type        = string
  default     = "https://api.polygon.io"
}

variable "market_cache_entries" {
  description = "Market answers each worker instance keeps until the next market close (identical concurrent requests always share one Polygon call). 0 keeps none."
  type        = number
  default     = 512
}

variable "market_cache_max_age_seconds" {
  description = "Keep a market answer at most this long, if sooner than the next market close. 0: until the close."
  type        = number
  default     = 0
}

variable "polygon_requests_per_minute" {
  description = "The Polygon plan's requests per minute (free plan: 5), for the whole worker fleet: the instances share one limiter in the market table, so at most this many market calls start in any minute, whichever instance makes them, and jobs beyond it wait in the queue; they do not fail. 0: no limiter of our own (paid plans)."
  type        = number
  default     = 5

  validation {
    condition     = var.polygon_requests_per_minute >= 0 && var.polygon_requests_per_minute <= 1000 && floor(var.polygon_requests_per_minute) == var.polygon_requests_per_minute
    error_message = "polygon_requests_per_minute must be a whole number from 0 (no limiter) to 1000."
  }
}

variable "quota_defer_seconds" {
  description = "How long jobs wait after a Polygon 429 that carries no Retry-After (QUOTA_DEFER_SECS), 1-900."
  type        = number
  default     = 60

  validation {
    condition     = var.quota_defer_seconds >= 1 && var.quota_defer_seconds <= 900
    error_message = "quota_defer_seconds must be 1..900 (SQS's longest DelaySeconds)."
  }
}

variable "max_job_age_seconds" {
  description = "The longest a job waits for market quota, counted from the client's request, before it is dead-lettered (QUOTA_EXHAUSTED) and the client told 503 (MAX_JOB_AGE_SECS). At most 7200: API Gateway closes every connection after 2 hours."
  type        = number
  default     = 7000

  validation {
    condition     = var.max_job_age_seconds >= 60 && var.max_job_age_seconds <= 7200
    error_message = "max_job_age_seconds must be 60..7200 (API Gateway's connection lifetime)."
  }
}

# ---------------------------------------------------------------------------- queues

variable "max_receive_count" {
  description = "Deliveries of a job before it is dead-lettered; the redrive policy and the worker (MAX_RECEIVE_COUNT) both use it. 5 is AWS's guidance for SQS-triggered functions, so receives Lambda itself throttles do not dead-letter jobs. Delivery N starts (N-1) visibility timeouts (6 x worker_timeout_seconds) after the first, and the last must end inside API Gateway's 10-minute idle timeout, or its client is gone before the answer: (max_receive_count - 1) x 6 x worker_timeout_seconds + worker_timeout_seconds must stay under 600."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be 1..1000."
  }
}

variable "jobs_retention_seconds" {
  description = "How long an undelivered job is kept. Clients disconnect within 2 hours, so a day is plenty."
  type        = number
  default     = 86400
}

variable "dlq_retention_seconds" {
  description = "How long dead jobs wait for an operator (SQS allows at most 14 days)."
  type        = number
  default     = 1209600
}

variable "worker_batch_size" {
  description = "Jobs per worker invocation (1-10)."
  type        = number
  default     = 10

  validation {
    condition     = var.worker_batch_size >= 1 && var.worker_batch_size <= 10
    error_message = "worker_batch_size must be 1..10."
  }
}

variable "worker_batching_window_seconds" {
  description = "How long the event source mapping may wait to fill a batch. 0 favours latency."
  type        = number
  default     = 0
}

variable "worker_max_concurrency" {
  description = "Most worker instances at once (the mapping's maximum_concurrency, 2-1000). The market quota is the fleet's, whatever this is: more instances handle more jobs at once, never more market calls than polygon_requests_per_minute."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_max_concurrency >= 2 && var.worker_max_concurrency <= 1000
    error_message = "worker_max_concurrency must be 2..1000 (an SQS mapping limit)."
  }
}

# ---------------------------------------------------------------------------- operations

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified when an alarm fires or clears; null for no notifications."
  type        = string
  default     = null
}

variable "queue_age_alarm_seconds" {
  description = "Alarm when the oldest job has waited this long (a stuck or throttled worker)."
  type        = number
  default     = 300
}
