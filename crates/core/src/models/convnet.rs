//! A conv net built from a layer list: conv blocks (conv, optional batch norm, ReLU,
//! optional max-pool), a flatten, then dense layers with ReLU between them.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor};

/// One conv block of [`ConvNetConfig`].
#[derive(Config, Debug)]
pub struct ConvBlockConfig {
    /// Output channels.
    pub channels: usize,
    /// Square kernel side.
    #[config(default = 3)]
    pub kernel: usize,
    /// Stride in both directions.
    #[config(default = 1)]
    pub stride: usize,
    /// Zero padding on every side.
    #[config(default = 1)]
    pub padding: usize,
    /// Batch norm between the convolution and the activation.
    #[config(default = false)]
    pub batch_norm: bool,
    /// Max-pool window after the activation; `None` for no pooling.
    #[config(default = "None")]
    pub pool: Option<usize>,
}

/// Input shape, conv blocks, then dense widths (the last is the output size).
#[derive(Config, Debug)]
pub struct ConvNetConfig {
    /// `[channels, height, width]` of the input.
    pub input: [usize; 3],
    /// The conv blocks, in order.
    pub convs: Vec<ConvBlockConfig>,
    /// Widths of the dense layers after the flatten; the last is the output size.
    pub dense: Vec<usize>,
}

/// One conv block of a [`ConvNet`].
#[derive(Module, Debug)]
pub struct ConvBlock {
    /// The convolution.
    pub conv: Conv2d,
    /// Batch norm after it, when configured.
    pub norm: Option<BatchNorm>,
    /// Max-pool after the activation, when configured.
    pub pool: Option<MaxPool2d>,
}

/// See [`ConvNetConfig`].
#[derive(Module, Debug)]
pub struct ConvNet {
    /// The conv blocks, in order.
    pub blocks: Vec<ConvBlock>,
    /// The dense layers after the flatten.
    pub dense: Vec<Linear>,
    /// ReLU after every conv block and between dense layers.
    pub activation: Relu,
}

impl ConvNetConfig {
    /// Spatial output `[channels, height, width]` of the conv stack.
    pub fn conv_output(&self) -> [usize; 3] {
        let [mut c, mut h, mut w] = self.input;
        for b in &self.convs {
            c = b.channels;
            h = (h + 2 * b.padding - b.kernel) / b.stride + 1;
            w = (w + 2 * b.padding - b.kernel) / b.stride + 1;
            if let Some(p) = b.pool {
                h /= p;
                w /= p;
            }
        }
        [c, h, w]
    }

    /// Builds the net on `device` with Burn's default initialisation.
    pub fn init(&self, device: &Device) -> ConvNet {
        let mut c_in = self.input[0];
        let blocks = self
            .convs
            .iter()
            .map(|b| {
                let conv = Conv2dConfig::new([c_in, b.channels], [b.kernel, b.kernel])
                    .with_stride([b.stride, b.stride])
                    .with_padding(PaddingConfig2d::Explicit(
                        b.padding, b.padding, b.padding, b.padding,
                    ))
                    .init(device);
                c_in = b.channels;
                ConvBlock {
                    conv,
                    norm: b
                        .batch_norm
                        .then(|| BatchNormConfig::new(b.channels).init(device)),
                    pool: b.pool.map(|p| MaxPool2dConfig::new([p, p]).init()),
                }
            })
            .collect();
        let flat: usize = self.conv_output().iter().product();
        let mut widths = vec![flat];
        widths.extend(&self.dense);
        let dense = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        ConvNet {
            blocks,
            dense,
            activation: Relu::new(),
        }
    }
}

impl ConvNet {
    /// Features after the conv stack, flattened: `[B, C·H·W]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = x;
        for b in &self.blocks {
            h = crate::fast_conv::forward(&b.conv, h);
            if let Some(n) = &b.norm {
                h = crate::fused_batch_norm::forward(n, h);
            }
            h = self.activation.forward(h);
            if let Some(p) = &b.pool {
                h = p.forward(h);
            }
        }
        h.flatten(1, 3)
    }

    /// Logits `[B, dense.last]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = self.features(x);
        let last = self.dense.len().saturating_sub(1);
        for (i, d) in self.dense.iter().enumerate() {
            h = d.forward(h);
            if i < last {
                h = self.activation.forward(h);
            }
        }
        h
    }
}
