use std::path::PathBuf;

/// Everything that can be wrong with a dataset on disk. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The header's magic number is not the one of the expected kind of file.
    #[error("{path}: magic number {found:#010x}, expected {expected:#010x} ({what})")]
    Magic {
        /// The file.
        path: PathBuf,
        /// The magic number read.
        found: u32,
        /// The magic number of the expected kind.
        expected: u32,
        /// The expected kind of file.
        what: &'static str,
    },
    /// The file ends before the data its header announces.
    #[error("{path}: truncated: the header announces {expected} bytes of data, the file holds {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes of data the header announces.
        expected: usize,
        /// Bytes of data present.
        found: usize,
    },
    /// The file's size or dimensions disagree with the format.
    #[error("{path}: {what}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A text file has a bad line (1-based `line`).
    #[error("{path}:{line}: {what}")]
    Line {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A label outside `0..classes`.
    #[error("{path}: label {label} at record {index} is outside 0..{classes}")]
    LabelOutOfRange {
        /// The label file.
        path: PathBuf,
        /// The record, from 0.
        index: usize,
        /// The label read.
        label: u8,
        /// The number of classes.
        classes: usize,
    },
    /// Image and label files of one split hold different numbers of records.
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Images it holds.
        n_images: usize,
        /// The label file.
        labels: PathBuf,
        /// Labels it holds.
        n_labels: usize,
    },
    /// The dataset is not on disk.
    #[error("{dataset} not found: {path} does not exist.\n  fetch it with: {command}")]
    Missing {
        /// The dataset's name.
        dataset: String,
        /// Where it was looked for.
        path: PathBuf,
        /// The `cargo xtask fetch` command that puts it there.
        command: String,
    },
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}
