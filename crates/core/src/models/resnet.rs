//! ResNet-18 (He et al. 2016) with the CIFAR stem used by BYOL/SimSiam on small images:
//! a 3×3 stride-1 convolution and no max-pool, then four stages of two basic blocks.

use crate::fast_conv::{self, Algorithm};
use crate::fused_batch_norm;
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor};

/// ResNet-18 configuration.
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Input channels.
    #[config(default = 3)]
    pub in_channels: usize,
    /// Channels of the first stage (64 in ResNet-18); stages double it.
    #[config(default = 64)]
    pub width: usize,
    /// Basic blocks per stage.
    #[config(default = "[2, 2, 2, 2]")]
    pub blocks: [usize; 4],
    /// A final linear classifier; `None` returns the pooled features.
    #[config(default = "None")]
    pub num_classes: Option<usize>,
    /// How the 3×3 stride-1 convolutions are computed on flex: Winograd's F(2×2, 3×3) (its
    /// layers 1.2–1.9 × faster on an AVX2 CPU, last-bit rounding differences) or the spatial
    /// products.
    #[config(default = "Algorithm::Winograd")]
    pub conv_algorithm: Algorithm,
}

fn conv3(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// Two 3×3 convolutions with batch norm and a (possibly projected) shortcut.
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// First 3×3 convolution (carries the block's stride).
    pub conv1: Conv2d,
    /// Batch norm after `conv1`.
    pub bn1: BatchNorm,
    /// Second 3×3 convolution.
    pub conv2: Conv2d,
    /// Batch norm after `conv2`.
    pub bn2: BatchNorm,
    /// 1×1 projection with batch norm when the stride or width changes; identity otherwise.
    pub shortcut: Option<(Conv2d, BatchNorm)>,
    /// The activation.
    pub relu: Relu,
    /// How the convolutions are computed ([`ResNetConfig::conv_algorithm`]).
    #[module(skip)]
    pub conv_algorithm: Algorithm,
}

impl BasicBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, conv_algorithm: Algorithm, device: &Device) -> Self {
        let shortcut = (stride != 1 || c_in != c_out).then(|| {
            (
                Conv2dConfig::new([c_in, c_out], [1, 1])
                    .with_stride([stride, stride])
                    .with_bias(false)
                    .init(device),
                BatchNormConfig::new(c_out).init(device),
            )
        });
        Self {
            conv1: conv3(c_in, c_out, stride, device),
            bn1: BatchNormConfig::new(c_out).init(device),
            conv2: conv3(c_out, c_out, 1, device),
            bn2: BatchNormConfig::new(c_out).init(device),
            shortcut,
            relu: Relu::new(),
            conv_algorithm,
        }
    }

    /// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let conv = |c: &Conv2d, x| fast_conv::forward_with(c, x, self.conv_algorithm);
        let h = self
            .relu
            .forward(fused_batch_norm::forward(&self.bn1, conv(&self.conv1, x.clone())));
        let h = fused_batch_norm::forward(&self.bn2, conv(&self.conv2, h));
        let skip = match &self.shortcut {
            Some((c, bn)) => fused_batch_norm::forward(bn, conv(c, x)),
            None => x,
        };
        self.relu.forward(h + skip)
    }
}

/// See [`ResNetConfig`].
#[derive(Module, Debug)]
pub struct ResNet {
    /// The CIFAR stem: a 3×3 stride-1 convolution.
    pub stem: Conv2d,
    /// Batch norm after the stem.
    pub stem_bn: BatchNorm,
    /// The basic blocks of all four stages, in order.
    pub blocks: Vec<BasicBlock>,
    /// Global average pooling.
    pub pool: AdaptiveAvgPool2d,
    /// The classifier, when configured.
    pub fc: Option<Linear>,
    /// The activation.
    pub relu: Relu,
    /// How the convolutions are computed ([`ResNetConfig::conv_algorithm`]).
    #[module(skip)]
    pub conv_algorithm: Algorithm,
}

impl ResNetConfig {
    /// Width of the pooled features (8 × `width`).
    pub fn feature_dim(&self) -> usize {
        self.width * 8
    }

    /// Builds the network on `device` with Burn's default initialisation.
    pub fn init(&self, device: &Device) -> ResNet {
        let mut blocks = Vec::new();
        let mut c_in = self.width;
        for (stage, &n) in self.blocks.iter().enumerate() {
            let c_out = self.width << stage;
            for i in 0..n {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(c_in, c_out, stride, self.conv_algorithm, device));
                c_in = c_out;
            }
        }
        ResNet {
            stem: conv3(self.in_channels, self.width, 1, device),
            stem_bn: BatchNormConfig::new(self.width).init(device),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: self
                .num_classes
                .map(|k| LinearConfig::new(self.feature_dim(), k).init(device)),
            relu: Relu::new(),
            conv_algorithm: self.conv_algorithm,
        }
    }
}

impl ResNet {
    /// Pooled features `[B, 8·width]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = self.relu.forward(fused_batch_norm::forward(
            &self.stem_bn,
            fast_conv::forward_with(&self.stem, x, self.conv_algorithm),
        ));
        for b in &self.blocks {
            h = b.forward(h);
        }
        self.pool.forward(h).flatten(1, 3)
    }

    /// Logits if a classifier is configured, else the features.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let f = self.features(x);
        match &self.fc {
            Some(fc) => fc.forward(f),
            None => f,
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::models::{ConvBlockConfig, ConvNetConfig, MlpConfig};
    use burn::module::Module;

    #[test]
    fn resnet18_has_the_published_parameter_count_and_shapes() {
        let device = Device::flex();
        let cfg = ResNetConfig::new().with_num_classes(Some(10));
        let net = cfg.init(&device);
        // torchvision's resnet18 with a 3x3 stem and 10 classes has 11,173,962 trainable
        // parameters; Burn also counts the batch norms' running mean and variance
        // (2 × 4800 channels).
        assert_eq!(net.num_params(), 11_173_962 + 2 * 4_800);
        let small = ResNetConfig::new().with_width(8).init(&device);
        let f = small.features(Tensor::zeros([2, 3, 32, 32], &device));
        assert_eq!(f.dims(), [2, 64]);
    }

    /// The configured algorithm reaches every block: Winograd's features differ from the
    /// spatial ones in the last bits only.
    #[test]
    fn resnet_convolutions_follow_the_configured_algorithm() {
        let device = Device::flex();
        let config = ResNetConfig::new().with_width(16).with_blocks([1, 1, 1, 1]);
        assert_eq!(config.conv_algorithm, Algorithm::Winograd, "the default");
        let winograd = config.init(&device);
        assert!(
            winograd
                .blocks
                .iter()
                .all(|b| b.conv_algorithm == Algorithm::Winograd)
        );
        let mut spatial = winograd.clone();
        spatial.conv_algorithm = Algorithm::Spatial;
        for b in &mut spatial.blocks {
            b.conv_algorithm = Algorithm::Spatial;
        }
        let x = Tensor::<4>::random([2, 3, 16, 16], burn::tensor::Distribution::Default, &device);
        let (a, b) = (winograd.features(x.clone()), spatial.features(x));
        let diff = (a.clone() - b).abs().max().into_scalar::<f32>();
        let scale = a.abs().max().into_scalar::<f32>();
        assert!(diff > 0.0, "both took the same products");
        assert!(diff < 1e-4 * scale, "{diff} against {scale}");
        let chosen = ResNetConfig::new()
            .with_conv_algorithm(Algorithm::Spatial)
            .with_width(16);
        assert!(
            chosen
                .init(&device)
                .blocks
                .iter()
                .all(|b| b.conv_algorithm == Algorithm::Spatial)
        );
    }

    #[test]
    fn convnet_and_mlp_shapes() {
        let device = Device::flex();
        let cfg = ConvNetConfig::new(
            [1, 28, 28],
            vec![
                ConvBlockConfig::new(8).with_pool(Some(2)),
                ConvBlockConfig::new(16).with_stride(2).with_batch_norm(true),
            ],
            vec![32, 10],
        );
        assert_eq!(cfg.conv_output(), [16, 7, 7]);
        let net = cfg.init(&device);
        assert_eq!(
            net.forward(Tensor::zeros([3, 1, 28, 28], &device)).dims(),
            [3, 10]
        );
        let mlp = MlpConfig::new(784, vec![100, 100], 10).init(&device);
        assert_eq!(
            mlp.num_params(),
            784 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10
        );
        assert_eq!(
            mlp.forward(Tensor::<4>::zeros([5, 1, 28, 28], &device)).dims(),
            [5, 10]
        );
    }
}
