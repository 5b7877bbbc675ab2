//! The library's one error type and its `Result`.

use crate::bounds::BoundError;
use std::path::PathBuf;

/// `Result` with [`GloroError`].
pub type Result<T, E = GloroError> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate's library code.
#[derive(Debug, thiserror::Error)]
pub enum GloroError {
    /// A configuration, dataset, checkpoint, record or figure could not be read, written or
    /// used (`repro-core`'s error names the file and field).
    #[error(transparent)]
    Core(#[from] repro_core::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// An I/O error without a file of its own (e.g. creating a run directory).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A layer's bound could not be proven (non-finite weights, no convergence, no Cholesky
    /// certificate): certification fails closed.
    #[error(transparent)]
    Bound(#[from] BoundError),
    /// A layer's power iteration did not converge (the training estimate of K).
    #[error("body layer {index}: {message}")]
    NotConverged {
        /// Position among the bounded body layers.
        index: usize,
        /// The residual it stopped at.
        message: String,
    },
    /// A certifier's inputs are unusable (ε, K or the head); certification fails closed.
    #[error("certifier: {0}")]
    Certifier(String),
    /// The training loss became NaN or infinite.
    #[error("non-finite loss {loss} at epoch {epoch}, step {step}: lower the learning rate or ε")]
    NonFinite {
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch.
        step: usize,
        /// The loss.
        loss: f64,
    },
    /// A dataset's image shape does not match the configuration's.
    #[error("dataset {dataset} has shape {found:?}, the configuration expects {expected:?}")]
    Shape {
        /// The dataset.
        dataset: String,
        /// Its `[C, H, W]`.
        found: [usize; 3],
        /// The configuration's `[C, H, W]`.
        expected: [usize; 3],
    },
}

impl GloroError {
    /// A file error naming `path`.
    pub fn file(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        Self::File {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
