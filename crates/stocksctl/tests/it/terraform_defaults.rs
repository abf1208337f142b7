//! Terraform's defaults and validations are the code's constants: a setting's default or
//! bounds written once in Rust, and `terraform/variables.tf` checked against them here.

use std::collections::HashMap;

use hcl::{Block, Body, Expression};
use stocks_core::adapters::{CacheSettings, FETCH_BUDGET, OPERATION_TIMEOUT, QuotaSettings, WORKER_MIN_TIMEOUT};
use stocks_core::domain::WindowDays;
use stocks_core::handlers::WorkerSettings;

/// `variables.tf`'s variable blocks, by name.
fn variables() -> HashMap<String, Block> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../terraform/variables.tf");
    let body: Body = hcl::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    body.blocks()
        .filter(|b| b.identifier() == "variable")
        .map(|b| (b.labels()[0].as_str().to_owned(), b.clone()))
        .collect()
}

fn attribute<'a>(block: &'a Block, name: &str) -> &'a Expression {
    block
        .body()
        .attributes()
        .find(|a| a.key() == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", block.labels()))
        .expr()
}

fn default(vars: &HashMap<String, Block>, name: &str) -> u64 {
    match attribute(&vars[name], "default") {
        Expression::Number(n) => n.as_u64().unwrap(),
        other => panic!("{name}'s default is {other:?}"),
    }
}

fn text(vars: &HashMap<String, Block>, name: &str, attr: &str) -> String {
    match attribute(&vars[name], attr) {
        Expression::String(s) => s.clone(),
        other => panic!("{name}'s {attr} is {other:?}"),
    }
}

/// The `N..=M` of a `var.x >= N && var.x <= M` validation.
fn bounds(vars: &HashMap<String, Block>, name: &str) -> (u64, u64) {
    let validation = vars[name]
        .body()
        .blocks()
        .find(|b| b.identifier() == "validation")
        .unwrap_or_else(|| panic!("{name} has no validation"));
    let condition = attribute(validation, "condition").to_string();
    let number = |op: &str| -> u64 {
        let at = condition
            .find(&format!("var.{name} {op} "))
            .unwrap_or_else(|| panic!("{condition}"));
        let rest = &condition[at + format!("var.{name} {op} ").len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (number(">="), number("<="))
}

#[test]
fn the_defaults_are_the_codes() {
    let vars = variables();
    assert_eq!(
        default(&vars, "max_job_age_seconds"),
        WorkerSettings::DEFAULT_MAX_JOB_AGE.as_secs()
    );
    assert_eq!(
        default(&vars, "quota_defer_seconds"),
        QuotaSettings::DEFAULT_DEFER.as_secs()
    );
    assert_eq!(
        default(&vars, "market_cache_entries"),
        CacheSettings::default().entries as u64
    );
    assert_eq!(default(&vars, "market_cache_max_age_seconds"), 0, "until the close");
    assert_eq!(
        default(&vars, "report_window_days"),
        u64::from(WindowDays::DEFAULT.get())
    );
    assert_eq!(default(&vars, "worker_timeout_seconds"), WORKER_MIN_TIMEOUT.as_secs());
}

#[test]
fn the_validations_refuse_what_the_functions_refuse() {
    let vars = variables();
    let range = |r: std::ops::RangeInclusive<u64>| (*r.start(), *r.end());
    assert_eq!(
        bounds(&vars, "max_job_age_seconds"),
        range(WorkerSettings::MAX_JOB_AGE_SECS)
    );
    assert_eq!(bounds(&vars, "quota_defer_seconds"), range(QuotaSettings::DEFER_SECS));
    let per_minute = QuotaSettings::REQUESTS_PER_MINUTE;
    assert_eq!(
        bounds(&vars, "polygon_requests_per_minute"),
        (u64::from(*per_minute.start()), u64::from(*per_minute.end()))
    );
    let receives = WorkerSettings::MAX_RECEIVE_COUNT;
    assert_eq!(
        bounds(&vars, "max_receive_count"),
        (u64::from(*receives.start()), u64::from(*receives.end()))
    );
    assert_eq!(bounds(&vars, "report_window_days"), (1, u64::from(WindowDays::MAX)));
    assert_eq!(bounds(&vars, "worker_timeout_seconds").0, WORKER_MIN_TIMEOUT.as_secs());
}

#[test]
fn the_worker_timeouts_words_give_the_codes_budgets() {
    let vars = variables();
    let description = text(&vars, "worker_timeout_seconds", "description");
    let fetch = format!("bounded to {} s", FETCH_BUDGET.as_secs());
    assert!(description.contains(&fetch), "{description}");
    let call = format!("{} s", OPERATION_TIMEOUT.as_secs_f64());
    assert!(description.contains(&call), "{description}");
}
