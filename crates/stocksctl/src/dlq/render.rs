//! What `stocksctl dlq` prints: tables for people, JSON for scripts.

use stocks_core::adapters::{MoveTask, Walk};
use stocks_core::domain::attribute;

use super::ops::{Outcome, Summary};
use super::policy::{DeadMessage, Decision};

/// `dlq list` as a table.
pub fn render_list(messages: &[DeadMessage]) -> String {
    let mut rows = vec![[
        "MESSAGE ID".to_owned(),
        "TICKER".into(),
        "WINDOW".into(),
        "CONNECTION".into(),
        "ENQUEUED".into(),
        "RECEIVES".into(),
        "REASON".into(),
    ]];
    for m in messages {
        let (ticker, window, connection, enqueued) = match &m.job {
            Some(j) => (
                j.ticker.to_string(),
                j.window.to_string(),
                j.connection_id.clone(),
                j.enqueued_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ),
            None => ("(not a job)".into(), "-".into(), "-".into(), "-".into()),
        };
        let reason = match (m.failure_reason(), m.attribute(attribute::FAILURE_DETAIL)) {
            (Some(r), Some(d)) => format!("{r}: {d}"),
            (Some(r), None) => r.to_owned(),
            _ => "(moved by SQS redrive: the worker crashed or timed out)".into(),
        };
        rows.push([
            m.id().to_owned(),
            ticker,
            window,
            connection,
            enqueued,
            m.receive_count().to_string(),
            reason,
        ]);
    }
    table(&rows)
}

/// `dlq list --json`: one object per message.
pub fn list_json(messages: &[DeadMessage]) -> serde_json::Value {
    serde_json::Value::Array(
        messages
            .iter()
            .map(|m| {
                let attrs: serde_json::Map<String, serde_json::Value> = m
                    .message
                    .message_attributes
                    .iter()
                    .filter_map(|(k, v)| v.string_value.as_deref().map(|s| (k.clone(), s.into())))
                    .collect();
                serde_json::json!({
                    "messageId": m.id(),
                    "body": m.body(),
                    "job": m.job,
                    "attributes": attrs,
                    "receiveCount": m.receive_count(),
                    "sentAt": m.sent_at(),
                })
            })
            .collect(),
    )
}

pub fn render_replay(summary: &Summary, outcomes: &[Outcome]) -> String {
    let mut rows = vec![[
        "MESSAGE ID".to_owned(),
        "TICKER".into(),
        "DECISION".into(),
        "RESULT".into(),
    ]];
    for o in outcomes {
        let result = match (&o.error, o.done, summary.dry_run) {
            (Some(e), _, _) => format!("FAILED: {e}"),
            (None, _, true) => "dry run".into(),
            (None, true, false) => "done".into(),
            (None, false, false) => "left in the DLQ".into(),
        };
        let decision = match o.decision {
            Decision::Replay => "replay",
            Decision::DropStale => "drop (stale: client gone)",
            Decision::SkipForeign => "skip (not a job)",
            Decision::SkipFiltered => "skip (filtered)",
            Decision::SkipOverMax => "skip (over --max)",
        };
        rows.push([
            o.message_id.clone(),
            o.ticker.clone().unwrap_or_else(|| "-".into()),
            decision.into(),
            result,
        ]);
    }
    let verb = if summary.dry_run { "would move" } else { "moved" };
    let mut out = table(&rows);
    out.push_str(&format!(
        "\n{verb} {}, dropped {} stale, skipped {} (filtered {}, not jobs {}, over --max {}), failed {}\n",
        summary.moved,
        summary.dropped_stale,
        summary.skipped_filtered + summary.skipped_foreign + summary.skipped_max,
        summary.skipped_filtered,
        summary.skipped_foreign,
        summary.skipped_max,
        summary.failed,
    ));
    if let Some(err) = &summary.release_error {
        out.push_str(&format!(
            "warning: could not release the messages left in the DLQ ({err}); they reappear within {} s\n",
            Walk::DEFAULT_HOLD.as_secs()
        ));
    }
    if summary.dry_run {
        out.push_str("This was a dry run: nothing changed. Add --execute to do it.\n");
    }
    out
}

pub fn render_status(tasks: &[MoveTask]) -> String {
    let mut rows = vec![[
        "STATUS".to_owned(),
        "MOVED".into(),
        "TO MOVE".into(),
        "RATE".into(),
        "STARTED".into(),
        "FAILURE".into(),
    ]];
    for t in tasks {
        rows.push([
            t.status.clone(),
            t.moved.to_string(),
            t.to_move.map_or_else(|| "-".into(), |n| n.to_string()),
            t.rate.map_or_else(|| "max".into(), |r| format!("{r}/s")),
            t.started_at
                .map_or_else(|| "-".into(), |s| s.format("%Y-%m-%d %H:%M:%S").to_string()),
            t.failure_reason.clone().unwrap_or_default(),
        ]);
    }
    table(&rows)
}

pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::policy::tests::{dead, foreign, with_reason};
    use super::*;

    #[test]
    fn list_table_shows_reason_or_says_sqs_moved_it() {
        let text = render_list(&[
            with_reason(dead("MSFT", 5), "UPSTREAM_UNAVAILABLE"),
            dead("KO", 5),
            foreign(1),
        ]);
        assert!(text.starts_with("MESSAGE ID"), "{text}");
        assert!(text.contains("UPSTREAM_UNAVAILABLE"), "{text}");
        assert!(text.contains("moved by SQS redrive"), "{text}");
        assert!(text.contains("(not a job)"), "{text}");
        assert!(text.contains("2026-10-01..2026-10-31"), "{text}");
    }

    #[test]
    fn the_replay_report_says_dry_run() {
        let summary = Summary {
            dry_run: true,
            moved: 2,
            skipped_foreign: 1,
            ..Summary::default()
        };
        let text = render_replay(&summary, &[]);
        assert!(text.contains("would move 2"), "{text}");
        assert!(
            text.contains("This was a dry run: nothing changed. Add --execute"),
            "{text}"
        );
    }
}
