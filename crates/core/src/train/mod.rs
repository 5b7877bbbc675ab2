//! Training utilities shared by every paper crate.
//!
//! - [`seed`]: one `--seed` for every random source.
//! - [`metrics`]: accuracy and running means.
//! - [`run_dir`]: `runs/<crate>/<name>/` with `config.json`, `metrics.jsonl`, the report.
//! - [`checkpoint`]: atomic checkpoints of model, optimiser, plain tensors and loop state.
//! - [`data_parallel`]: one step's batch split over several devices, gradients gathered to
//!   the main device.
//! - [`resume`]: what a checkpoint's step means, how randomness resumes, the kill test.
//! - [`tensors`]: plain tensors in a safetensors file.
//! - [`progress`]: indicatif progress bars with rate and ETA.

pub mod checkpoint;
pub mod data_parallel;
pub mod metrics;
pub mod progress;
pub mod resume;
pub mod run_dir;
pub mod seed;
pub mod tensors;

pub use checkpoint::{Checkpoint, Checkpointer};
pub use data_parallel::DataParallel;
pub use metrics::{Mean, accuracy, correct};
pub use progress::progress_bar;
pub use resume::{float_values, kill_at_checkpoint, unit_seed};
pub use run_dir::{RunArgs, RunDir};
pub use seed::seed_everything;
