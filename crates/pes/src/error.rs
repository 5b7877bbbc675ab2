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
        what: String,
        particle: usize,
        value: f64,
    },
    /// An inconsistent estimator or problem setting.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A checkpoint or state file could not be read or written.
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Data(#[from] repro_core::data::DataError),
    #[error(transparent)]
    Plot(#[from] repro_core::plot::PlotError),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, PesError>;
