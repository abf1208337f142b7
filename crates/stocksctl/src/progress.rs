//! Progress on stderr for the long-running commands: a spinner when the end is unknown, a bar
//! when it is.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub fn spinner(message: &str) -> ProgressBar {
    let p = ProgressBar::new_spinner();
    p.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
    p.enable_steady_tick(Duration::from_millis(100));
    p.set_message(message.to_owned());
    p
}

pub fn bar(len: u64, prefix: &str) -> ProgressBar {
    let p = ProgressBar::new(len);
    p.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    p.set_prefix(prefix.to_owned());
    p
}
