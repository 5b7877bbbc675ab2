//! Networks of BYOL/SimSiam: encoder (ResNet-18 with the CIFAR stem, or a small conv net for
//! CPU runs) followed by the projector `Linear → BN (no affine) → ReLU → Linear`.
//!
//! Batch norms use batch statistics when the input lives on an autodiff device (training, and
//! the target network, which the reference also runs in train mode) and running statistics on
//! a plain device (`module.valid()`: evaluation).

use burn::module::{Module, RunningState};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};
use repro_core::fast_conv::Algorithm;
use repro_core::models::{ConvBlockConfig, ConvNet, ConvNetConfig, ResNet, ResNetConfig};
use serde::{Deserialize, Serialize};

/// Batch norm over features `[B, C]` without the learnable scale and shift
/// (`BatchNorm1d(affine=False)` of the reference projector and predictor).
#[derive(Module, Debug)]
pub struct PlainBatchNorm {
    /// Running mean (evaluation).
    pub running_mean: RunningState<Tensor<1>>,
    /// Running unbiased variance (evaluation).
    pub running_var: RunningState<Tensor<1>>,
    /// Weight of the new batch in the running statistics (PyTorch's 0.1).
    pub momentum: f64,
    /// Added to the variance.
    pub epsilon: f64,
}

impl PlainBatchNorm {
    /// Zero mean, unit variance running statistics for `features` channels.
    pub fn new(features: usize, device: &Device) -> Self {
        Self {
            running_mean: RunningState::new(Tensor::zeros([features], device)),
            running_var: RunningState::new(Tensor::ones([features], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// Normalises `[B, C]`: batch statistics on an autodiff device (updating the running
    /// ones), running statistics otherwise.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, c] = x.dims();
        let device = x.device();
        if device.is_autodiff() {
            let mean = x.clone().mean_dim(0);
            let centered = x - mean.clone();
            let var = centered.clone().square().mean_dim(0);
            let unbiased = var.clone().detach().mul_scalar(b as f64 / (b.max(2) - 1) as f64);
            let m = self.momentum;
            let rm = self.running_mean.value_sync().to_device(&device);
            let rv = self.running_var.value_sync().to_device(&device);
            self.running_mean
                .update((rm.mul_scalar(1.0 - m) + mean.detach().reshape([c]).mul_scalar(m)).detach());
            self.running_var
                .update((rv.mul_scalar(1.0 - m) + unbiased.reshape([c]).mul_scalar(m)).detach());
            centered / var.add_scalar(self.epsilon).sqrt()
        } else {
            let mean = self.running_mean.value().to_device(&device).reshape([1, c]);
            let var = self.running_var.value().to_device(&device).reshape([1, c]);
            (x - mean) / var.add_scalar(self.epsilon).sqrt()
        }
    }
}

/// `Linear(d_in → hidden) → BN (no affine) → ReLU → Linear(hidden → d_out)`: the projector and
/// the 2-layer predictor of the reference (`MLPHead`).
#[derive(Module, Debug)]
pub struct MlpHead {
    /// `d_in → hidden`.
    pub fc1: Linear,
    /// Batch norm without affine.
    pub bn: PlainBatchNorm,
    /// ReLU.
    pub relu: Relu,
    /// `hidden → d_out`.
    pub fc2: Linear,
}

impl MlpHead {
    /// A freshly initialised head.
    pub fn new(d_in: usize, hidden: usize, d_out: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(d_in, hidden).init(device),
            bn: PlainBatchNorm::new(hidden, device),
            relu: Relu::new(),
            fc2: LinearConfig::new(hidden, d_out).init(device),
        }
    }

    /// `[B, d_in] → [B, d_out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc2
            .forward(self.relu.forward(self.bn.forward(self.fc1.forward(x))))
    }
}

/// Which encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum EncoderKind {
    /// ResNet-18 with the CIFAR stem (3×3 stride-1 conv, no max-pool).
    Resnet18 {
        /// Channels of the first stage (64 is standard).
        width: usize,
        /// How its 3×3 stride-1 convolutions are computed on flex: `winograd` (the default;
        /// F(2×2, 3×3), faster) or `spatial`.
        #[serde(default = "winograd")]
        conv: Algorithm,
    },
    /// Conv blocks `3×3 conv → BN → ReLU` with the given channels and strides, then global
    /// average pooling: a small encoder for CPU runs.
    SmallConv {
        /// Output channels of each block.
        channels: Vec<usize>,
        /// Stride of each block (missing ones are 1).
        strides: Vec<usize>,
    },
}

/// The ResNet encoder's default convolution algorithm.
fn winograd() -> Algorithm {
    Algorithm::Winograd
}

impl EncoderKind {
    /// ResNet-18 of `width` with Winograd's 3×3 convolutions.
    pub fn resnet18(width: usize) -> Self {
        EncoderKind::Resnet18 {
            width,
            conv: Algorithm::Winograd,
        }
    }

    /// The small CPU encoder: 32, 64, 128 channels, each conv with stride 2 (28 → 14 → 7 → 4)
    /// → 128-d features (about 2.1 M multiply-adds per 28×28 image, like the earlier
    /// 16/32/64 stride-1/2/2 net, but with a 15-pixel instead of a 9-pixel receptive field, so the
    /// pooled features can describe a digit's shape rather than a bag of strokes).
    pub fn small() -> Self {
        EncoderKind::SmallConv {
            channels: vec![32, 64, 128],
            strides: vec![2, 2, 2],
        }
    }
}

/// Encoder + projector sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchConfig {
    /// The encoder.
    pub encoder: EncoderKind,
    /// Input channels (1 for MNIST, 3 for CIFAR/STL).
    pub in_channels: usize,
    /// Hidden width of the projector (512).
    pub projector_hidden: usize,
    /// Output width `d` of the projector (128).
    pub projector_out: usize,
}

/// The encoder: exactly one of the two networks is present.
#[derive(Module, Debug)]
pub struct Encoder {
    /// ResNet-18 (CIFAR stem).
    pub resnet: Option<ResNet>,
    /// The small conv net.
    pub conv: Option<ConvNet>,
}

impl Encoder {
    /// Pooled features `[B, feature_dim]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        if let Some(r) = &self.resnet {
            return r.features(x);
        }
        let net = self.conv.as_ref().expect("an encoder has a resnet or a conv net");
        let mut h = x;
        for b in &net.blocks {
            h = b.conv.forward(h);
            if let Some(n) = &b.norm {
                h = n.forward(h);
            }
            h = net.activation.forward(h);
        }
        let [b, c, _, _] = h.dims();
        h.mean_dim(3).mean_dim(2).reshape([b, c])
    }
}

/// One branch of the Siamese network: encoder then projector.
#[derive(Module, Debug)]
pub struct Branch {
    /// Pooled features.
    pub encoder: Encoder,
    /// `Linear → BN → ReLU → Linear`.
    pub projector: MlpHead,
}

impl BranchConfig {
    /// `encoder` on 3 input channels with the reference projector 512 → 128.
    pub fn new(encoder: EncoderKind) -> Self {
        Self {
            encoder,
            in_channels: 3,
            projector_hidden: 512,
            projector_out: 128,
        }
    }

    /// With `n` input channels.
    pub fn with_in_channels(self, n: usize) -> Self {
        Self {
            in_channels: n,
            ..self
        }
    }

    /// With a projector hidden width `n`.
    pub fn with_projector_hidden(self, n: usize) -> Self {
        Self {
            projector_hidden: n,
            ..self
        }
    }

    /// With projector outputs of width `n`.
    pub fn with_projector_out(self, n: usize) -> Self {
        Self {
            projector_out: n,
            ..self
        }
    }

    /// Range checks; the error names `origin` and the field (below the pre-training config).
    pub fn validate(&self, origin: &str) -> Result<(), repro_core::Error> {
        let invalid = |field: &str, message: &str| Err(repro_core::Error::invalid(origin, field, message));
        match &self.encoder {
            EncoderKind::Resnet18 { width: 0, .. } => {
                return invalid("ssl.branch.encoder.width", "at least 1");
            }
            EncoderKind::SmallConv { channels, strides } => {
                if channels.is_empty() || channels.contains(&0) {
                    return invalid("ssl.branch.encoder.channels", "one or more positive widths");
                }
                if strides.len() > channels.len() || strides.contains(&0) {
                    return invalid(
                        "ssl.branch.encoder.strides",
                        "positive, at most one per entry of channels",
                    );
                }
            }
            EncoderKind::Resnet18 { .. } => {}
        }
        for (field, v) in [
            ("ssl.branch.in_channels", self.in_channels),
            ("ssl.branch.projector_hidden", self.projector_hidden),
            ("ssl.branch.projector_out", self.projector_out),
        ] {
            if v == 0 {
                return invalid(field, "at least 1");
            }
        }
        Ok(())
    }

    /// Width of the encoder's pooled features.
    pub fn feature_dim(&self) -> usize {
        match &self.encoder {
            EncoderKind::Resnet18 { width, .. } => 8 * width,
            EncoderKind::SmallConv { channels, .. } => *channels.last().unwrap_or(&1),
        }
    }

    /// A freshly initialised branch on `device`.
    pub fn init(&self, device: &Device) -> Branch {
        let encoder = match &self.encoder {
            EncoderKind::Resnet18 { width, conv } => Encoder {
                resnet: Some(
                    ResNetConfig::new()
                        .with_in_channels(self.in_channels)
                        .with_width(*width)
                        .with_conv_algorithm(*conv)
                        .init(device),
                ),
                conv: None,
            },
            EncoderKind::SmallConv { channels, strides } => {
                let convs = channels
                    .iter()
                    .zip(strides.iter().chain(std::iter::repeat(&1)))
                    .map(|(&c, &s)| ConvBlockConfig::new(c).with_stride(s).with_batch_norm(true))
                    .collect();
                Encoder {
                    resnet: None,
                    conv: Some(ConvNetConfig::new([self.in_channels, 32, 32], convs, vec![]).init(device)),
                }
            }
        };
        Branch {
            encoder,
            projector: MlpHead::new(
                self.feature_dim(),
                self.projector_hidden,
                self.projector_out,
                device,
            ),
        }
    }
}

impl Branch {
    /// Projector output `[B, projector_out]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.projector.forward(self.encoder.forward(x))
    }
}
