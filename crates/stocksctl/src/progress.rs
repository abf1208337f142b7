//! Progress on stderr for the long-running commands: a spinner when the end is unknown, a bar
//! when it is.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner saying `message`, with the time it has taken.
pub fn spinner(message: &str) -> ProgressBar {
    let p = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        p.set_style(style);
    }
    p.enable_steady_tick(Duration::from_millis(100));
    p.set_message(message.to_owned());
    p
}

/// A bar of `len` steps, named `prefix`.
pub fn bar(len: u64, prefix: &str) -> ProgressBar {
    let p = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})") {
        p.set_style(style.progress_chars("=> "));
    }
    p.set_prefix(prefix.to_owned());
    p
}
