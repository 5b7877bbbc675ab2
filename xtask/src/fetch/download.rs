//! Streaming HTTP download into a `.part` file, with resume.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::verify::VerifyError;

/// Why one attempt at one URL failed. Displayed after the URL in error reports.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("HTTP status {status}")]
    Status { status: u16 },
    #[error("request failed: {0}")]
    Transport(String),
    #[error("connection lost after {received} bytes of an unknown length: {cause}")]
    Interrupted { received: u64, cause: String },
    #[error("truncated body: received {received} of {expected} bytes (Content-Length){}",
        cause.as_deref().map(|c| format!(": {c}")).unwrap_or_default())]
    Truncated {
        received: u64,
        expected: u64,
        cause: Option<String>,
    },
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// What a successful [`download`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes already in the `.part` file that the server was asked to continue from (0 if
    /// the download started from scratch).
    pub resumed_from: u64,
    /// Bytes received in this attempt.
    pub received: u64,
}

/// The HTTP agent used for all downloads: status codes are handled by the caller, and
/// reads time out so that a stalled server fails instead of hanging.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("icml21-burn-xtask/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .new_agent()
}

/// Start of the range in a `Content-Range: bytes START-END/TOTAL` header.
pub fn content_range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, _total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    start.trim().parse().ok()
}

/// Download `url` into `part`.
///
/// If `part` already holds data, the server is asked for the rest with
/// `Range: bytes=N-`; a `206` whose `Content-Range` starts at `N` is appended, anything
/// else successful restarts the file from zero. A `416` to a range request is taken to
/// mean that `part` is already complete (the caller verifies it). The bytes received
/// before a failure stay in `part` so that the next attempt can resume.
pub fn download(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    label: &str,
    show_progress: bool,
) -> Result<Downloaded, AttemptError> {
    let io_err = |source| AttemptError::Io {
        path: part.to_owned(),
        source,
    };
    let existing = match std::fs::metadata(part) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io_err(e)),
    };

    // Content-Encoding would make byte ranges and lengths refer to the encoded stream, and
    // the stored `.gz` must be the file itself, so ask for the identity encoding.
    let mut request = agent.get(url).header("Accept-Encoding", "identity");
    if existing > 0 {
        request = request.header("Range", format!("bytes={existing}-"));
    }
    let mut response = request
        .call()
        .map_err(|e| AttemptError::Transport(e.to_string()))?;

    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let encoded = header("content-encoding")
        .is_some_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("identity"));
    let content_range = header("content-range");

    let (mut file, start) = match status {
        206 if existing > 0 => {
            if !encoded && content_range.as_deref().and_then(content_range_start) == Some(existing) {
                let file = OpenOptions::new().append(true).open(part).map_err(io_err)?;
                (file, existing)
            } else {
                // A range we cannot use: drop the partial data and start again.
                drop(response);
                std::fs::remove_file(part).map_err(io_err)?;
                return download(agent, url, part, label, show_progress);
            }
        }
        416 if existing > 0 => {
            return Ok(Downloaded {
                resumed_from: existing,
                received: 0,
            });
        }
        200..=299 => (File::create(part).map_err(io_err)?, 0),
        _ => return Err(AttemptError::Status { status }),
    };

    // With a Content-Encoding the length is that of the encoded stream, not of what we read.
    let expected = if encoded {
        None
    } else {
        response.body().content_length()
    };
    let progress = progress_bar(label, expected.map(|len| start + len), start, show_progress);

    let mut reader = response.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0u64;
    let read_error = loop {
        match reader.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                file.write_all(&buf[..n]).map_err(io_err)?;
                received += n as u64;
                progress.inc(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e.to_string()),
        }
    };
    progress.finish_and_clear();
    file.flush().map_err(io_err)?;
    file.sync_all().map_err(io_err)?;

    match (expected, read_error) {
        (Some(expected), cause) if received < expected || cause.is_some() => Err(AttemptError::Truncated {
            received,
            expected,
            cause,
        }),
        (None, Some(cause)) => Err(AttemptError::Interrupted { received, cause }),
        _ => Ok(Downloaded {
            resumed_from: start,
            received,
        }),
    }
}

fn progress_bar(label: &str, total: Option<u64>, start: u64, show: bool) -> ProgressBar {
    let target = if show {
        // Hidden automatically when stderr is not a terminal.
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = match total {
        Some(total) => {
            let bar = ProgressBar::with_draw_target(Some(total), target);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg:32!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        }
        None => {
            let bar = ProgressBar::with_draw_target(None, target);
            if let Ok(style) = ProgressStyle::with_template("{msg:32!} {spinner} {bytes} {bytes_per_sec}") {
                bar.set_style(style);
            }
            bar
        }
    };
    bar.set_message(label.to_owned());
    bar.set_position(start);
    bar.reset_eta();
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_range() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("items 1-2/3"), None);
        assert_eq!(content_range_start("bytes */200"), None);
    }
}
