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
    /// A JSON configuration file could not be read, has an unknown or mistyped field, or an
    /// out-of-range value (names the file and the field).
    #[error(transparent)]
    ConfigFile(#[from] repro_core::config::ConfigError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A result could not be serialised as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A dataset could not be loaded.
    #[error(transparent)]
    Data(#[from] repro_core::data::DataError),
    /// A figure could not be drawn.
    #[error(transparent)]
    Plot(#[from] repro_core::plot::PlotError),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, PesError>;
