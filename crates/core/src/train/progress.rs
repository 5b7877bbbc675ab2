//! Progress bars for loops longer than a few seconds: position, rate and ETA.
//! Hidden automatically when stderr is not a terminal (CI logs stay readable).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps labelled `what` (e.g. "epoch 3/30").
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}
