//! Configuration from the environment, read once per cold start.
//!
//! [`env`](mod@env) is the one list of variable names: the Lambdas read them through here, and the
//! Terraform tests check the functions are given exactly these.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::adapters::{ApiKey, CacheSettings, POLYGON_BASE_URL, QuotaSettings, SsmError, read_api_key};
use crate::domain::Rate;
use crate::domain::WindowDays;
use crate::handlers::WorkerSettings;
use crate::ports::CallbackUrl;

/// Environment variable names.
pub mod env {
    /// Jobs queue URL (ingress; worker, which sends deferred jobs back to it).
    pub const QUEUE_URL: &str = "QUEUE_URL";
    /// `@connections` base URL (ingress optional, worker required).
    pub const CALLBACK_URL: &str = "CALLBACK_URL";
    /// Default window length in days (ingress; default 30).
    pub const REPORT_WINDOW_DAYS: &str = "REPORT_WINDOW_DAYS";
    /// The Polygon key itself — local use only.
    pub const POLYGON_API_KEY: &str = "POLYGON_API_KEY";
    /// Name of the SSM SecureString holding the key (deployed worker).
    pub const POLYGON_API_KEY_PARAM: &str = "POLYGON_API_KEY_PARAM";
    /// Polygon endpoint (default `https://api.polygon.io`).
    pub const POLYGON_BASE_URL: &str = "POLYGON_BASE_URL";
    /// Must equal the jobs queue's redrive `maxReceiveCount` (worker).
    pub const MAX_RECEIVE_COUNT: &str = "MAX_RECEIVE_COUNT";
    /// Dead-letter queue URL (worker).
    pub const DLQ_URL: &str = "DLQ_URL";
    /// Market answers the worker keeps per instance (default 512; 0 keeps none).
    pub const MARKET_CACHE_ENTRIES: &str = "MARKET_CACHE_ENTRIES";
    /// Longest a kept answer lives, in seconds, if shorter than until the next market close
    /// (default 0: until the close).
    pub const MARKET_CACHE_MAX_AGE_SECS: &str = "MARKET_CACHE_MAX_AGE_SECS";
    /// The Polygon plan's requests a minute, for the whole worker fleet; 0 = no limiter of our
    /// own (Terraform passes `polygon_requests_per_minute` as it is).
    pub const POLYGON_REQUESTS_PER_MINUTE: &str = "POLYGON_REQUESTS_PER_MINUTE";
    /// The DynamoDB table the worker fleet shares: the market quota, the gate, answers and
    /// leases. Unset: each instance keeps its own (said once in its log).
    pub const MARKET_TABLE: &str = "MARKET_TABLE";
    /// Seconds to wait after a 429 without `Retry-After` (default
    /// [`QuotaSettings::DEFAULT_DEFER`](crate::adapters::QuotaSettings::DEFAULT_DEFER)).
    pub const QUOTA_DEFER_SECS: &str = "QUOTA_DEFER_SECS";
    /// Give up on quota this many seconds after the client's request (default
    /// [`WorkerSettings::DEFAULT_MAX_JOB_AGE`](crate::handlers::WorkerSettings::DEFAULT_MAX_JOB_AGE)).
    pub const MAX_JOB_AGE_SECS: &str = "MAX_JOB_AGE_SECS";
    /// The access table (tokens and per-token rate counters): authorizer and ingress. Unset or
    /// empty: access control is off (the ingress does no lookup at all).
    pub const ACCESS_TABLE: &str = "ACCESS_TABLE";
    /// Log filter, all functions.
    pub const RUST_LOG: &str = "RUST_LOG";

    /// What the deployed ingress function is given.
    pub const INGRESS: &[&str] = &[QUEUE_URL, CALLBACK_URL, REPORT_WINDOW_DAYS, ACCESS_TABLE, RUST_LOG];
    /// What the deployed worker function is given (`POLYGON_API_KEY` is for local runs only).
    pub const WORKER: &[&str] = &[
        QUEUE_URL,
        CALLBACK_URL,
        POLYGON_API_KEY_PARAM,
        POLYGON_BASE_URL,
        MAX_RECEIVE_COUNT,
        DLQ_URL,
        MARKET_CACHE_ENTRIES,
        MARKET_CACHE_MAX_AGE_SECS,
        POLYGON_REQUESTS_PER_MINUTE,
        MARKET_TABLE,
        QUOTA_DEFER_SECS,
        MAX_JOB_AGE_SECS,
        RUST_LOG,
    ];
    /// What `$connect` / `$disconnect` are given.
    pub const LIFECYCLE: &[&str] = &[RUST_LOG];
    /// What the `$connect` authorizer is given.
    pub const AUTHORIZER: &[&str] = &[ACCESS_TABLE, RUST_LOG];
}

/// Why a function cannot start: a setting missing or out of bounds, named.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable is set to something its setting cannot be.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with its value, and what it may be.
        reason: String,
    },
    /// Both ways of giving the Polygon key are set.
    #[error("set either {} or {}, not both", env::POLYGON_API_KEY, env::POLYGON_API_KEY_PARAM)]
    TwoKeys,
}

/// What the ingress needs.
#[derive(Clone, Debug)]
pub struct IngressConfig {
    /// `QUEUE_URL`: where accepted jobs go.
    pub queue_url: String,
    /// `CALLBACK_URL`; `None`: built from each event.
    pub callback_url: Option<CallbackUrl>,
    /// `REPORT_WINDOW_DAYS`.
    pub window_days: WindowDays,
    /// The access table, when access control is on.
    pub access_table: Option<String>,
}

/// What the `$connect` authorizer needs.
#[derive(Clone, Debug)]
pub struct AuthorizerConfig {
    /// `ACCESS_TABLE`: the tokens to check.
    pub access_table: String,
}

impl AuthorizerConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the environment through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            access_table: Vars(&get).required(env::ACCESS_TABLE)?,
        })
    }
}

/// Where the worker's Polygon key comes from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// `POLYGON_API_KEY`: the key itself.
    Literal(ApiKey),
    /// `POLYGON_API_KEY_PARAM`: an SSM SecureString name.
    Parameter(String),
}

/// What the worker needs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// `CALLBACK_URL`: where reports are posted.
    pub callback_url: CallbackUrl,
    /// The jobs queue, where deferred jobs wait.
    pub queue_url: String,
    /// `DLQ_URL`: where the worker parks jobs it gives up on.
    pub dlq_url: String,
    /// `MAX_RECEIVE_COUNT`: the queue's redrive count.
    pub max_receive_count: u32,
    /// `POLYGON_BASE_URL`.
    pub polygon_base_url: String,
    /// Where the Polygon key comes from.
    pub polygon_key: KeySource,
    /// `MARKET_CACHE_ENTRIES`, `MARKET_CACHE_MAX_AGE_SECS`.
    pub cache: CacheSettings,
    /// `POLYGON_REQUESTS_PER_MINUTE`, `QUOTA_DEFER_SECS`.
    pub quota: QuotaSettings,
    /// `MARKET_TABLE`: the store the fleet shares; `None`: this instance's own.
    pub market_table: Option<String>,
    /// `MAX_JOB_AGE_SECS`.
    pub max_job_age: Duration,
}

impl IngressConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the environment through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&get);
        Ok(Self {
            queue_url: vars.required(env::QUEUE_URL)?,
            callback_url: vars.optional(env::CALLBACK_URL).map(|u| callback(&u)).transpose()?,
            window_days: match vars.optional(env::REPORT_WINDOW_DAYS) {
                None => WindowDays::DEFAULT,
                Some(raw) => raw
                    .parse()
                    .ok()
                    .and_then(WindowDays::new)
                    .ok_or_else(|| ConfigError::Invalid {
                        name: env::REPORT_WINDOW_DAYS,
                        reason: format!("{raw:?} is not a whole number of days from 1 to {}", WindowDays::MAX),
                    })?,
            },
            access_table: vars.optional(env::ACCESS_TABLE),
        })
    }
}

impl WorkerConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the environment through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&get);
        let polygon_key = match (
            vars.optional(env::POLYGON_API_KEY),
            vars.optional(env::POLYGON_API_KEY_PARAM),
        ) {
            (Some(_), Some(_)) => return Err(ConfigError::TwoKeys),
            (Some(key), None) => KeySource::Literal(ApiKey::new(key).ok_or(ConfigError::Invalid {
                name: env::POLYGON_API_KEY,
                reason: "not a printable ASCII key".into(),
            })?),
            (None, Some(name)) => KeySource::Parameter(name),
            (None, None) => return Err(ConfigError::Missing(env::POLYGON_API_KEY_PARAM)),
        };
        let per_minute = vars.number_in(env::POLYGON_REQUESTS_PER_MINUTE, 0, QuotaSettings::REQUESTS_PER_MINUTE)?;
        Ok(Self {
            callback_url: callback(&vars.required(env::CALLBACK_URL)?)?,
            queue_url: vars.required(env::QUEUE_URL)?,
            dlq_url: vars.required(env::DLQ_URL)?,
            max_receive_count: vars.required_in(env::MAX_RECEIVE_COUNT, WorkerSettings::MAX_RECEIVE_COUNT)?,
            polygon_base_url: vars
                .optional(env::POLYGON_BASE_URL)
                .unwrap_or_else(|| POLYGON_BASE_URL.to_owned()),
            polygon_key,
            cache: CacheSettings {
                entries: vars.number_in(
                    env::MARKET_CACHE_ENTRIES,
                    CacheSettings::default().entries,
                    CacheSettings::ENTRIES,
                )?,
                max_age: match vars.number_in(env::MARKET_CACHE_MAX_AGE_SECS, 0, CacheSettings::MAX_AGE_SECS)? {
                    0 => None,
                    secs => Some(Duration::from_secs(secs)),
                },
            },
            quota: QuotaSettings {
                rate: (per_minute > 0).then(|| Rate::per_minute(per_minute)),
                defer_without_retry_after: vars.secs_in(
                    env::QUOTA_DEFER_SECS,
                    QuotaSettings::DEFAULT_DEFER,
                    QuotaSettings::DEFER_SECS,
                )?,
            },
            market_table: vars.optional(env::MARKET_TABLE),
            max_job_age: vars.secs_in(
                env::MAX_JOB_AGE_SECS,
                WorkerSettings::DEFAULT_MAX_JOB_AGE,
                WorkerSettings::MAX_JOB_AGE_SECS,
            )?,
        })
    }
}

impl KeySource {
    /// The key itself, reading SSM when configured to (once per cold start).
    pub async fn resolve(&self, aws: &aws_config::SdkConfig) -> Result<ApiKey, SsmError> {
        match self {
            Self::Literal(key) => Ok(key.clone()),
            Self::Parameter(name) => read_api_key(&aws_sdk_ssm::Client::new(aws), name).await,
        }
    }
}

/// Environment lookups where empty counts as unset (Terraform writes `""` for "none").
struct Vars<'a, F>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    /// A whole number in `range`, or `default` when unset.
    fn number_in<T>(&self, name: &'static str, default: T, range: RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => parse_in(name, &raw, &range),
        }
    }

    /// A whole number in `range`; refused when unset.
    fn required_in<T>(&self, name: &'static str, range: RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        parse_in(name, &self.required(name)?, &range)
    }

    /// Whole seconds in `range`, or `default` when unset.
    fn secs_in(
        &self,
        name: &'static str,
        default: Duration,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number_in(name, default.as_secs(), range).map(Duration::from_secs)
    }
}

/// `raw` as a whole number in `range`, or the refusal naming `name` and the range.
fn parse_in<T>(name: &'static str, raw: &str, range: &RangeInclusive<T>) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    raw.parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ConfigError::Invalid {
            name,
            reason: format!(
                "{raw:?} is not a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        })
}

fn callback(raw: &str) -> Result<CallbackUrl, ConfigError> {
    CallbackUrl::parse(raw).map_err(|e| ConfigError::Invalid {
        name: env::CALLBACK_URL,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn ingress_defaults() {
        let c = IngressConfig::from_lookup(lookup(&[("QUEUE_URL", "https://sqs/q")])).unwrap();
        assert_eq!(c.window_days, WindowDays::DEFAULT);
        assert!(c.callback_url.is_none());
        let c = IngressConfig::from_lookup(lookup(&[
            ("QUEUE_URL", "q"),
            ("CALLBACK_URL", "https://a.execute-api.eu-west-1.amazonaws.com/prod/"),
            ("REPORT_WINDOW_DAYS", "90"),
        ]))
        .unwrap();
        assert_eq!(c.window_days.get(), 90);
        assert_eq!(
            c.callback_url.unwrap().as_str(),
            "https://a.execute-api.eu-west-1.amazonaws.com/prod"
        );
    }

    #[test]
    fn access_control_is_on_when_a_table_is_named() {
        let off = IngressConfig::from_lookup(lookup(&[("QUEUE_URL", "q"), ("ACCESS_TABLE", "")])).unwrap();
        assert_eq!(off.access_table, None, "Terraform's empty string means off");
        let on = IngressConfig::from_lookup(lookup(&[("QUEUE_URL", "q"), ("ACCESS_TABLE", "stocks-access")])).unwrap();
        assert_eq!(on.access_table.as_deref(), Some("stocks-access"));
        assert_eq!(
            AuthorizerConfig::from_lookup(lookup(&[])).unwrap_err().to_string(),
            "ACCESS_TABLE is not set"
        );
    }

    #[test]
    fn ingress_refusals_name_the_variable() {
        let err = IngressConfig::from_lookup(lookup(&[])).unwrap_err();
        assert_eq!(err.to_string(), "QUEUE_URL is not set");
        for days in ["0", "-1", "x", "99999"] {
            let err =
                IngressConfig::from_lookup(lookup(&[("QUEUE_URL", "q"), ("REPORT_WINDOW_DAYS", days)])).unwrap_err();
            assert!(err.to_string().starts_with("REPORT_WINDOW_DAYS is invalid"), "{err}");
        }
    }

    #[test]
    fn worker_reads_key_from_one_place() {
        let base = [
            ("CALLBACK_URL", "http://127.0.0.1:8080/local"),
            ("QUEUE_URL", "q"),
            ("DLQ_URL", "d"),
            ("MAX_RECEIVE_COUNT", "3"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            WorkerConfig::from_lookup(lookup(&all))
        };
        let c = with(&[("POLYGON_API_KEY_PARAM", "/stocks/polygon")]).unwrap();
        assert!(matches!(c.polygon_key, KeySource::Parameter(ref n) if n == "/stocks/polygon"));
        assert_eq!(c.polygon_base_url, "https://api.polygon.io");
        assert_eq!(c.max_receive_count, 3);
        assert!(matches!(
            with(&[("POLYGON_API_KEY", "k")]).unwrap().polygon_key,
            KeySource::Literal(_)
        ));
        assert!(matches!(
            with(&[("POLYGON_API_KEY", "k"), ("POLYGON_API_KEY_PARAM", "p")]),
            Err(ConfigError::TwoKeys)
        ));
        assert!(matches!(with(&[]), Err(ConfigError::Missing("POLYGON_API_KEY_PARAM"))));
        assert!(matches!(
            with(&[("POLYGON_API_KEY", "k"), ("MAX_RECEIVE_COUNT", "0")]),
            Err(ConfigError::Invalid { .. })
        ));
        assert_eq!(c.cache, CacheSettings::default());
        let tuned = with(&[
            ("POLYGON_API_KEY", "k"),
            ("MARKET_CACHE_ENTRIES", "0"),
            ("MARKET_CACHE_MAX_AGE_SECS", "600"),
        ])
        .unwrap();
        assert_eq!(
            tuned.cache,
            CacheSettings {
                entries: 0,
                max_age: Some(std::time::Duration::from_secs(600))
            }
        );
        let negative = with(&[("POLYGON_API_KEY", "k"), ("MARKET_CACHE_ENTRIES", "-1")]);
        assert!(matches!(negative, Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn worker_quota_settings() {
        let base = [
            ("CALLBACK_URL", "http://h/s"),
            ("QUEUE_URL", "q"),
            ("DLQ_URL", "d"),
            ("MAX_RECEIVE_COUNT", "5"),
            ("POLYGON_API_KEY", "k"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            WorkerConfig::from_lookup(lookup(&all))
        };
        let defaults = with(&[]).unwrap();
        assert_eq!(
            defaults.quota,
            QuotaSettings::default(),
            "no limiter of our own unless asked"
        );
        assert_eq!(defaults.max_job_age, WorkerSettings::DEFAULT_MAX_JOB_AGE);
        assert_eq!(defaults.queue_url, "q");
        let tuned = with(&[
            ("POLYGON_REQUESTS_PER_MINUTE", "5"),
            ("QUOTA_DEFER_SECS", "30"),
            ("MAX_JOB_AGE_SECS", "3600"),
            ("MARKET_TABLE", "stocks-market"),
        ])
        .unwrap();
        assert_eq!(
            tuned.quota.rate,
            Some(Rate::per_minute(5)),
            "the plan's rate, for the fleet"
        );
        assert_eq!(tuned.market_table.as_deref(), Some("stocks-market"));
        assert_eq!(defaults.market_table, None, "each instance its own store");
        assert_eq!(tuned.quota.defer_without_retry_after, Duration::from_secs(30));
        assert_eq!(tuned.max_job_age, Duration::from_secs(3600));
        assert_eq!(with(&[("POLYGON_REQUESTS_PER_MINUTE", "0")]).unwrap().quota.rate, None);
        for (name, bad) in [
            ("POLYGON_REQUESTS_PER_MINUTE", "-1"),
            ("POLYGON_REQUESTS_PER_MINUTE", "five"),
            ("POLYGON_REQUESTS_PER_MINUTE", "2.5"),
            ("POLYGON_REQUESTS_PER_MINUTE", "1001"),
            ("MAX_JOB_AGE_SECS", "7201"),
            ("MAX_JOB_AGE_SECS", "59"),
            ("QUOTA_DEFER_SECS", "901"),
            ("QUOTA_DEFER_SECS", "0"),
        ] {
            let err = with(&[(name, bad)]).unwrap_err();
            assert!(err.to_string().starts_with(&format!("{name} is invalid")), "{err}");
        }
        assert!(matches!(with(&[]).map(drop), Ok(())));
        let mut no_queue = base.to_vec();
        no_queue.retain(|(k, _)| *k != "QUEUE_URL");
        assert_eq!(
            WorkerConfig::from_lookup(lookup(&no_queue)).unwrap_err().to_string(),
            "QUEUE_URL is not set"
        );
    }

    /// The names a config asks the environment for, whatever the answers.
    fn names_read(read: impl Fn(&dyn Fn(&str) -> Option<String>)) -> std::collections::BTreeSet<String> {
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        read(&|name: &str| {
            asked.borrow_mut().insert(name.to_owned());
            match name {
                env::CALLBACK_URL => Some("https://h/s".to_owned()),
                env::POLYGON_API_KEY_PARAM => Some("/p".to_owned()),
                env::POLYGON_API_KEY => None,
                _ => Some("1".to_owned()),
            }
        });
        asked.into_inner()
    }

    fn listed(names: &[&str]) -> std::collections::BTreeSet<String> {
        // RUST_LOG is read by the log filter, not by these structs.
        names
            .iter()
            .filter(|n| **n != env::RUST_LOG)
            .map(|n| n.to_string())
            .collect()
    }

    #[test]
    fn the_deployment_lists_are_exactly_what_the_code_reads() {
        let ingress = names_read(|get| drop(IngressConfig::from_lookup(get)));
        assert_eq!(ingress, listed(env::INGRESS));
        assert_eq!(
            names_read(|get| drop(AuthorizerConfig::from_lookup(get))),
            listed(env::AUTHORIZER)
        );
        let mut worker = names_read(|get| drop(WorkerConfig::from_lookup(get)));
        // The literal key is read too, but only ever set locally; Terraform must not set it.
        assert!(worker.remove(env::POLYGON_API_KEY));
        assert_eq!(worker, listed(env::WORKER));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let c = WorkerConfig::from_lookup(lookup(&[
            ("CALLBACK_URL", "http://h/s"),
            ("QUEUE_URL", "q"),
            ("DLQ_URL", "d"),
            ("MAX_RECEIVE_COUNT", "3"),
            ("POLYGON_API_KEY", "sekrit"),
        ]))
        .unwrap();
        assert!(!format!("{c:?}").contains("sekrit"));
    }
}
