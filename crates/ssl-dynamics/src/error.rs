//! Errors of the library.

use std::path::PathBuf;

/// Everything that can go wrong in this crate's library code.
#[derive(Debug, thiserror::Error)]
pub enum SslError {
    /// A numeric quantity became NaN or infinite.
    #[error("non-finite values in {0}")]
    NonFinite(String),
    /// A configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON file could not be parsed.
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Data(#[from] repro_core::data::DataError),
    #[error(transparent)]
    Plot(#[from] repro_core::plot::PlotError),
    #[error(transparent)]
    Checkpoint(#[from] repro_core::train::CheckpointError),
}

impl SslError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SslError {
        let path = path.into();
        move |source| SslError::Io { path, source }
    }
}
