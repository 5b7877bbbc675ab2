//! The library's one error type and its `Result`.

use std::path::PathBuf;

/// `Result` with [`SslError`].
pub type Result<T, E = SslError> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate's library code.
#[derive(Debug, thiserror::Error)]
pub enum SslError {
    /// A numeric quantity became NaN or infinite.
    #[error("non-finite values in {0}")]
    NonFinite(String),
    /// A configuration, dataset, checkpoint, record or figure could not be read, written or
    /// used (`repro-core`'s error names the file and field).
    #[error(transparent)]
    Core(#[from] repro_core::Error),
    /// Training was asked for on a device without automatic differentiation.
    #[error("training needs an autodiff device, got {0}")]
    NotAutodiff(String),
    /// A training step failed earlier and the trainer no longer holds its networks.
    #[error("the trainer lost its networks in an earlier failed step")]
    Poisoned,
    /// Data-parallel training cannot run this configuration.
    #[error("data-parallel training: {0}")]
    NotParallel(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl SslError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SslError {
        let path = path.into();
        move |source| SslError::Io { path, source }
    }
}
