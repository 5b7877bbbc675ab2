//! Errors of the library.

use std::path::PathBuf;

/// Why an estimator, problem or meta-training run could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum PesError {
    /// A particle's unroll produced NaN or ±∞; the estimate would be meaningless.
    #[error(
        "non-finite loss {value} for particle {particle} in {what} (θ diverged? try a smaller outer learning rate or σ)"
    )]
    NonFiniteLoss {
        /// The computation that produced it.
        what: String,
        /// The particle (row) whose loss is non-finite.
        particle: usize,
        /// The value.
        value: f64,
    },
    /// An inconsistent estimator or problem setting.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A checkpoint or state file could not be read or written.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A configuration, dataset, checkpoint, record or figure could not be read, written or
    /// used (`repro-core`'s error names the file and field).
    #[error(transparent)]
    Core(#[from] repro_core::Error),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A result could not be serialised as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, PesError>;
