//! The one error type of `repro-core` and its [`Result`].
//!
//! Every variant names what it is about (the file, the field, the flag), so a message printed
//! by a binary is enough to fix the input. Variants are grouped by the module that raises them.

use crate::backend::{BackendKind, DeviceSpec};
use std::path::PathBuf;
use std::time::Duration;

/// `Result` with [`Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `repro-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // Files.
    /// A file or folder could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file or folder could not be written, created or renamed.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    // Configurations ([`crate::config`]).
    /// The JSON is malformed, has an unknown or missing field, or a value of the wrong type.
    #[error("{origin}: field `{field}` (line {line}, column {column}): {message}")]
    Parse {
        /// The file (or other origin) of the text.
        origin: String,
        /// Dotted path of the field the error is about (`.` for the document itself).
        field: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde's message, e.g. "unknown field `lr_rate`, expected one of …".
        message: String,
    },
    /// A field parsed but its value is out of range.
    #[error("{origin}: field `{field}`: {message}")]
    Invalid {
        /// The file (or other origin).
        origin: String,
        /// The field.
        field: String,
        /// What was expected.
        message: String,
    },

    // Datasets ([`crate::data`]).
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

    // Checkpoints ([`crate::train`]).
    /// A model, optimiser or tensor record could not be saved or loaded.
    #[error("{path}: {message}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// Burn's error, or what does not fit.
        message: String,
    },
    /// `checkpoint.json` is not a checkpoint index of the expected state type.
    #[error("{path}: not a checkpoint index: {source}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },

    // Plots ([`crate::plot`]).
    /// A plot could not be drawn or written.
    #[error("{path}: cannot draw plot: {message}")]
    Plot {
        /// The file being written.
        path: String,
        /// What went wrong.
        message: String,
    },

    // Devices ([`crate::backend`]).
    /// The backend exists but this binary was built without its Cargo feature.
    #[error(
        "--device {0}: this binary was built without the `{0}` feature; rebuild with `--features {0}` (compiled in: {1})"
    )]
    NotCompiled(BackendKind, String),
    /// wgpu is compiled in but no adapter could be opened.
    #[error("--device wgpu: no GPU adapter could be opened ({0})")]
    NoAdapter(String),
    /// A `--devices` entry is not a device name.
    #[error(
        "--devices: `{0}` is not a device (expected flex, ndarray, wgpu, wgpu:default, wgpu:cpu, wgpu:discrete:N, wgpu:integrated:N or wgpu:virtual:N)"
    )]
    BadSpec(String),
    /// `--devices` names devices of different backends (a step's gradients are summed on one
    /// backend).
    #[error("--devices: {0} and {1} are devices of different backends; data parallelism needs one backend")]
    MixedBackends(DeviceSpec, DeviceSpec),
    /// A listed device could not be opened.
    #[error("--devices: {0} cannot be opened ({1})")]
    Unavailable(DeviceSpec, String),
    /// Both `--device` and `--devices` were given and disagree.
    #[error("--device {0} and --devices {1} disagree; give one of them")]
    Conflict(BackendKind, DeviceSpec),

    // Data parallelism ([`crate::train::data_parallel`]).
    /// No device was given.
    #[error("data parallelism needs at least one device")]
    NoDevice,
    /// The global batch does not split into equal shards.
    #[error(
        "the global batch of {batch} does not divide into {devices} equal shards; choose a batch size that is a multiple of the number of devices"
    )]
    Indivisible {
        /// The global batch size.
        batch: usize,
        /// The number of devices.
        devices: usize,
    },

    // Killing a run at a checkpoint ([`crate::train::resume::kill_at_checkpoint`]).
    /// The command could not be started, killed or waited for.
    #[error("could not run the command: {source}")]
    Spawn {
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The command finished before writing the checkpoint (so nothing was killed).
    #[error("the run exited ({status}) before checkpoint {step} was written")]
    ExitedFirst {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The step waited for.
        step: usize,
    },
    /// No checkpoint of the step appeared in time.
    #[error("no checkpoint {step} within {timeout:?}")]
    Timeout {
        /// The step waited for.
        step: usize,
        /// How long.
        timeout: Duration,
    },
}

impl Error {
    /// An out-of-range value of `field` in the configuration from `origin`.
    pub fn invalid(
        origin: impl std::fmt::Display,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            origin: origin.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// A closure turning an I/O error reading `path` into [`Error::Read`].
    pub fn read(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A closure turning an I/O error writing `path` into [`Error::Write`].
    pub fn write(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}
