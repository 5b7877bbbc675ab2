//! Datasets: file readers, in-memory image datasets, batches, and where the files live.
//!
//! - [`idx`]: MNIST / Fashion-MNIST IDX files (gzip or raw).
//! - [`cifar`]: the CIFAR-10 binary format.
//! - [`stl10`]: the STL-10 binary format.
//! - [`tiny_imagenet`]: Tiny-ImageNet's folders of JPEGs (`tiny-imagenet-200/`).
//! - [`dataset`]: [`ImageDataset`], seeded shuffling and train/validation splits.
//! - [`batch`]: turning indices into normalised `[B, C, H, W]` tensors ([`ImageBatcher`]).
//! - [`locate`]: the one rule for finding data (`--data-dir`, `$REPRO_DATA_DIR`, `datasets/`)
//!   and the embedded MNIST subset.

pub mod batch;
pub mod cifar;
pub mod dataset;
pub mod idx;
pub mod locate;
pub mod stl10;
pub mod tiny_imagenet;

pub use batch::{ImageBatch, ImageBatcher, Normalization};
pub use dataset::{ImageDataset, ImageItem};
pub use locate::{DataArgs, DatasetName, Loaded, Split, load};
