//! Shared foundation of the ICML 2021 reproductions: everything the paper crates
//! (`gloro`, `ssl-dynamics`, `pes`) have in common.
//!
//! | module | what it holds |
//! |---|---|
//! | [`allocator`] | keeping freed buffers in the process (glibc thresholds), peak RSS |
//! | [`config`] | the one strict JSON configuration loader (unknown fields are errors naming file and field) |
//! | [`backend`] | choosing the Burn device at run time (`--device flex|ndarray|wgpu`) |
//! | [`flops`] | floating-point operations of a training step, counted from layer shapes |
//! | [`fast_conv`] | conv2d for the flex backend as GEMM products (im2col, or one per kernel tap on padded planes for stride 1) or a direct stride-1 micro-kernel (AVX-512 or AVX2, chosen at run time), and Winograd's F(2×2, 3×3) for the layers of callers that choose it (Lavin & Gray 2016); forward and backward (a Burn extension) |
//! | [`fused_batch_norm`] | training-mode batch norm as one pass for the statistics and one for the output, forward and backward, on flex (a Burn extension) |
//! | [`fused_minmax`] | the MinMax activation as one pass forward and backward on flex (a Burn extension) |
//! | [`fused_momentum`] | a step of SGD with momentum and per-block step sizes as one pass on flex, or with the gradient accumulated into the momentum by its product (a Burn extension) |
//! | [`error`] | the one error type of the crate, [`Error`], and its [`Result`] |
//! | [`data`] | IDX / CIFAR-10 / STL-10 / Tiny-ImageNet readers, in-memory datasets, batches, where data lives |
//! | [`augment`] | batched, on-device augmentations (crop, resized crop, flip, jitter, grayscale, noise) |
//! | [`models`] | MLP, layer-list conv net, ResNet-18 with the CIFAR stem |
//! | [`train`] | seeding, metrics, run directories, checkpoints and resume, progress bars |
//! | [`plot`] | line plots and heatmaps as PNG/SVG |
//! | [`reproduce`] | the `reproduce --quick|--full --out` flags shared by the paper binaries |

#![warn(missing_docs)]

pub mod allocator;
pub mod augment;
pub mod backend;
pub mod config;
pub mod data;
pub mod error;
pub mod fast_conv;
#[cfg(feature = "flex")]
mod flex_buffers;
pub mod flops;
pub mod fused_batch_norm;
pub mod fused_minmax;
pub mod fused_momentum;
pub mod models;
pub mod plot;
pub mod reproduce;
pub mod train;

pub use backend::{BackendKind, DeviceArgs, DevicesArgs};
pub use error::{Error, Result};
