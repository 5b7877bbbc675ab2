use std::path::PathBuf;

/// Everything that can be wrong with a dataset on disk. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The header's magic number is not the one of the expected kind of file.
    #[error("{path}: magic number {found:#010x}, expected {expected:#010x} ({what})")]
    Magic {
        path: PathBuf,
        found: u32,
        expected: u32,
        what: &'static str,
    },
    /// The file ends before the data its header announces.
    #[error("{path}: truncated: the header announces {expected} bytes of data, the file holds {found}")]
    Truncated {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
    /// The file's size or dimensions disagree with the format.
    #[error("{path}: {what}")]
    Malformed { path: PathBuf, what: String },
    /// A text file has a bad line (1-based `line`).
    #[error("{path}:{line}: {what}")]
    Line {
        path: PathBuf,
        line: usize,
        what: String,
    },
    /// A label outside `0..classes`.
    #[error("{path}: label {label} at record {index} is outside 0..{classes}")]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u8,
        classes: usize,
    },
    /// Image and label files of one split hold different numbers of records.
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        images: PathBuf,
        n_images: usize,
        labels: PathBuf,
        n_labels: usize,
    },
    /// The dataset is not on disk.
    #[error("{dataset} not found: {path} does not exist.\n  fetch it with: {command}")]
    Missing {
        dataset: String,
        path: PathBuf,
        command: String,
    },
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}
