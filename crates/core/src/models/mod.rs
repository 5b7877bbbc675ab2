//! Models shared by the paper crates, in Burn's idiom: an `XConfig` (`#[derive(Config)]`)
//! whose `init(&self, device)` builds the `#[derive(Module)]` struct.
//!
//! - [`mlp`]: multi-layer perceptron.
//! - [`convnet`]: a conv net built from a list of conv blocks and dense widths.
//! - [`resnet`]: ResNet-18 with the CIFAR stem (3×3 stride-1 conv, no max-pool).

pub mod convnet;
pub mod mlp;
pub mod resnet;

pub use convnet::{ConvBlockConfig, ConvNet, ConvNetConfig};
pub use mlp::{Mlp, MlpConfig};
pub use resnet::{ResNet, ResNetConfig};
