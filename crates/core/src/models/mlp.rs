//! Multi-layer perceptron with ReLU between layers.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};

/// An MLP `d_input → hidden… → d_output`.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input width.
    pub d_input: usize,
    /// Hidden widths, in order.
    pub hidden: Vec<usize>,
    /// Output width.
    pub d_output: usize,
}

/// See [`MlpConfig`].
#[derive(Module, Debug)]
pub struct Mlp {
    /// The linear layers, in order.
    pub layers: Vec<Linear>,
    /// ReLU between layers (not after the last).
    pub activation: Relu,
}

impl MlpConfig {
    /// Builds the MLP with Burn's default (Kaiming-uniform) initialisation.
    pub fn init(&self, device: &Device) -> Mlp {
        let mut widths = vec![self.d_input];
        widths.extend(&self.hidden);
        widths.push(self.d_output);
        let layers = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Mlp {
            layers,
            activation: Relu::new(),
        }
    }
}

impl Mlp {
    /// `[B, …]` is flattened to `[B, d_input]`; returns `[B, d_output]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<2> {
        let mut h: Tensor<2> = x.flatten(1, D - 1);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = self.activation.forward(h);
            }
        }
        h
    }
}
