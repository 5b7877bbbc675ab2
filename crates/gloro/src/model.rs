//! GloRo network bodies and the architectures of the reference code (2C2F, 4C3F, 6C2F, 8C2F).
//!
//! A [`GloroNet`] is a body of Lipschitz-bounded layers followed by a dense head `W`. The
//! body's bound `K` is the product of the per-layer bounds (activations and flatten count 1);
//! the head enters the margin bound through ‖w_j − w_i‖ (see [`crate::margin`]).
//!
//! Every body layer is a variant of [`Layer`], and [`Layer::bounded`] matches every variant
//! with no wildcard: a new layer kind without a Lipschitz bound does not compile.

use crate::lipschitz::{Init, LipConv2d, LipDense, LipschitzLayer};
use crate::minmax::MinMax;
use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, Relu};
use burn::tensor::{Device, Tensor};

/// One convolution of an architecture.
#[derive(Config, Debug, PartialEq)]
pub struct ConvSpec {
    /// Output channels.
    pub channels: usize,
    /// Square kernel size.
    pub kernel: usize,
    #[config(default = 1)]
    /// Stride.
    pub stride: usize,
    #[config(default = 1)]
    /// Zero padding.
    pub padding: usize,
}

/// The activation between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// Pairwise (min, max), Lipschitz 1 and gradient-norm preserving (reference library default).
    MinMax,
    /// ReLU, Lipschitz 1 (the ICML 2021 snapshot of the reference code).
    Relu,
}

/// A GloRo network: input shape, convolutions, hidden dense widths and number of classes.
#[derive(Config, Debug)]
pub struct GloroNetConfig {
    /// `[channels, height, width]`; a vector input of size n is `[n, 1, 1]`.
    pub input: [usize; 3],
    /// The convolutions, in order.
    pub convs: Vec<ConvSpec>,
    /// Hidden dense widths (the head to `num_classes` is added after them).
    pub dense: Vec<usize>,
    /// Classes m (the head has m outputs; ⊥ is appended at certification).
    pub num_classes: usize,
    #[config(default = "Activation::MinMax")]
    /// Activation after every body layer.
    pub activation: Activation,
    #[config(default = "Init::Orthogonal")]
    /// Weight initialisation.
    pub init: Init,
}

/// The architectures of the reference code (`tools/training/architectures.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// MNIST: conv16 k4 s2, conv32 k4 s2, dense 100.
    #[value(name = "2c2f")]
    #[serde(rename = "2c2f")]
    C2F2,
    /// MNIST: conv32 k3, conv32 k4 s2, conv64 k3, conv64 k4 s2, dense 512, 512.
    #[value(name = "4c3f")]
    #[serde(rename = "4c3f")]
    C4F3,
    /// CIFAR-10: conv32 k3 ×2, conv32 k4 s2, conv64 k3 ×2, conv64 k4 s2, dense 512.
    #[value(name = "6c2f")]
    #[serde(rename = "6c2f")]
    C6F2,
    /// Tiny-ImageNet: conv64 k3 ×2, conv64 k4 s2, conv128 k3 ×2, conv128 k4 s2, conv256 k3, conv256 k4 s2, dense 256.
    #[value(name = "8c2f")]
    #[serde(rename = "8c2f")]
    C8F2,
}

impl Architecture {
    /// The configuration of this architecture for `input` and `num_classes`.
    pub fn config(self, input: [usize; 3], num_classes: usize) -> GloroNetConfig {
        let c = |ch: usize, k: usize, s: usize| ConvSpec::new(ch, k).with_stride(s).with_padding(1);
        let (convs, dense) = match self {
            Architecture::C2F2 => (vec![c(16, 4, 2), c(32, 4, 2)], vec![100]),
            Architecture::C4F3 => (
                vec![c(32, 3, 1), c(32, 4, 2), c(64, 3, 1), c(64, 4, 2)],
                vec![512, 512],
            ),
            Architecture::C6F2 => (
                vec![
                    c(32, 3, 1),
                    c(32, 3, 1),
                    c(32, 4, 2),
                    c(64, 3, 1),
                    c(64, 3, 1),
                    c(64, 4, 2),
                ],
                vec![512],
            ),
            Architecture::C8F2 => (
                vec![
                    c(64, 3, 1),
                    c(64, 3, 1),
                    c(64, 4, 2),
                    c(128, 3, 1),
                    c(128, 3, 1),
                    c(128, 4, 2),
                    c(256, 3, 1),
                    c(256, 4, 2),
                ],
                vec![256],
            ),
        };
        GloroNetConfig::new(input, convs, dense, num_classes)
    }
}

/// Turns `[B, C, H, W]` into `[B, C·H·W]`; Lipschitz 1.
#[derive(Module, Debug, Default)]
pub struct Flatten;

/// One layer of a GloRo body.
#[derive(Module, Debug)]
pub enum Layer {
    /// A convolution with its bound.
    Conv(LipConv2d),
    /// A dense layer with its bound.
    Dense(LipDense),
    /// MinMax (Lipschitz 1).
    MinMax(MinMax),
    /// ReLU (Lipschitz 1).
    Relu(Relu),
    /// Flatten (an isometry).
    Flatten(Flatten),
}

/// An activation between layers, of image or vector shape.
enum Act {
    Image(Tensor<4>),
    Vector(Tensor<2>),
}

impl Layer {
    fn forward(&self, a: Act) -> Act {
        match (self, a) {
            (Layer::Conv(l), Act::Image(x)) => Act::Image(l.forward(x)),
            (Layer::Dense(l), Act::Vector(x)) => Act::Vector(l.forward(x)),
            (Layer::MinMax(m), Act::Image(x)) => Act::Image(m.forward(x)),
            (Layer::MinMax(m), Act::Vector(x)) => Act::Vector(m.forward(x)),
            (Layer::Relu(r), Act::Image(x)) => Act::Image(r.forward(x)),
            (Layer::Relu(r), Act::Vector(x)) => Act::Vector(r.forward(x)),
            (Layer::Flatten(_), Act::Image(x)) => Act::Vector(x.flatten(1, 3)),
            (Layer::Flatten(_), v @ Act::Vector(_)) => v,
            (Layer::Conv(_), Act::Vector(_)) => panic!("conv layer after flatten"),
            (Layer::Dense(_), Act::Image(_)) => panic!("dense layer before flatten"),
        }
    }

    /// This layer's Lipschitz bound and its power-iteration state, or `None` for layers whose
    /// constant is exactly 1. Exhaustive on purpose: see the module documentation.
    pub fn bounded(&self) -> Option<&dyn LipschitzLayer> {
        match self {
            Layer::Conv(l) => Some(l),
            Layer::Dense(l) => Some(l),
            Layer::MinMax(_) | Layer::Relu(_) | Layer::Flatten(_) => None,
        }
    }
}

/// See [`GloroNetConfig`].
#[derive(Module, Debug)]
pub struct GloroNet {
    /// The body: every layer before the head.
    pub layers: Vec<Layer>,
    /// The last layer; its rows w_i enter the ⊥ margin ‖w_j − w_i‖ (Eq. 5).
    pub head: Linear,
}

impl GloroNetConfig {
    /// Builds the network; iterates start random and unit-norm.
    pub fn init(&self, device: &Device) -> GloroNet {
        let act = || match self.activation {
            Activation::MinMax => Layer::MinMax(MinMax::new()),
            Activation::Relu => Layer::Relu(Relu::new()),
        };
        let mut layers = Vec::new();
        let [mut c, mut h, mut w] = self.input;
        for s in &self.convs {
            layers.push(Layer::Conv(LipConv2d::new(
                c,
                s.channels,
                s.kernel,
                s.stride,
                s.padding,
                [h, w],
                self.init,
                device,
            )));
            layers.push(act());
            c = s.channels;
            h = (h + 2 * s.padding - s.kernel) / s.stride + 1;
            w = (w + 2 * s.padding - s.kernel) / s.stride + 1;
        }
        layers.push(Layer::Flatten(Flatten));
        let mut d = c * h * w;
        for &width in &self.dense {
            layers.push(Layer::Dense(LipDense::new(d, width, self.init, device)));
            layers.push(act());
            d = width;
        }
        let head = crate::lipschitz::dense(d, self.num_classes, self.init, device);
        GloroNet { layers, head }
    }
}

impl GloroNet {
    /// The body's output (the head's input) `[B, d]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut a = Act::Image(x);
        for l in &self.layers {
            a = l.forward(a);
        }
        match a {
            Act::Vector(v) => v,
            Act::Image(x) => x.flatten(1, 3),
        }
    }

    /// Logits `y = f(x)`, `[B, m]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(x))
    }

    /// Logits and, per example, the sum of squares of the input of every affine layer (the
    /// body's conv and dense layers, then the head), as computed: `[B]` each. The rounding-error
    /// bound of [`crate::certify`] needs these norms.
    pub fn forward_traced(&self, x: Tensor<4>) -> (Tensor<2>, Vec<Tensor<1>>) {
        fn sum_squares<const D: usize>(t: &Tensor<D>) -> Tensor<1> {
            let b = t.dims()[0];
            // x·x is correctly rounded (powf need not be)
            let t2 = t.clone() * t.clone();
            t2.flatten::<2>(1, D - 1).sum_dim(1).reshape([b])
        }
        let mut norms = Vec::new();
        let mut a = Act::Image(x);
        for l in &self.layers {
            match (&a, l) {
                (Act::Image(t), Layer::Conv(_)) => norms.push(sum_squares(t)),
                (Act::Vector(t), Layer::Dense(_)) => norms.push(sum_squares(t)),
                _ => {}
            }
            a = l.forward(a);
        }
        let features = match a {
            Act::Vector(v) => v,
            Act::Image(x) => x.flatten(1, 3),
        };
        norms.push(sum_squares(&features));
        (self.head.forward(features), norms)
    }

    /// The head's weights with one row per class, `[m, d]` (row i is w_i).
    pub fn class_weights(&self) -> Tensor<2> {
        self.head.weight.val().transpose()
    }

    /// K, the body's Lipschitz bound, after advancing every iterate by `steps` power
    /// iterations; differentiable in the weights through the final ‖A v‖ only. `[1]`.
    pub fn lipschitz(&self, steps: usize) -> Tensor<1> {
        let device = self.head.weight.val().device();
        let mut k = Tensor::<1>::ones([1], &device);
        for l in self.layers.iter().filter_map(|l| l.bounded()) {
            if steps > 0 {
                l.advance(steps);
            }
            k = k * l.bound();
        }
        k
    }

    /// Runs every iterate towards convergence (relative tolerance `tol`, at most `max_iters`
    /// each) and returns the power-iteration estimate of K, or the first layer that did not
    /// converge. An estimate, not a certificate: see [`crate::bounds`].
    pub fn converge_lipschitz(&self, tol: f64, max_iters: usize) -> crate::Result<f64> {
        let mut k = 1.0;
        for (index, l) in self.layers.iter().filter_map(|l| l.bounded()).enumerate() {
            k *= l
                .converge(tol, max_iters)
                .map_err(|message| crate::GloroError::NotConverged { index, message })?;
        }
        Ok(k)
    }

    /// The per-layer bounds at the current iterates, in layer order.
    pub fn layer_bounds(&self) -> Vec<f64> {
        self.layers
            .iter()
            .filter_map(|l| l.bounded())
            .map(|l| l.bound().into_scalar::<f64>())
            .collect()
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;

    #[test]
    fn architectures_build_and_run() {
        let device = Device::flex();
        for (arch, input, m) in [
            (Architecture::C2F2, [1, 28, 28], 10),
            (Architecture::C4F3, [1, 28, 28], 10),
            (Architecture::C6F2, [3, 32, 32], 10),
        ] {
            let net = arch.config(input, m).init(&device);
            let y = net.forward(Tensor::zeros([2, input[0], input[1], input[2]], &device));
            assert_eq!(y.dims(), [2, m]);
            let k = net.lipschitz(2).into_scalar::<f64>();
            assert!(k.is_finite() && k > 0.0);
        }
    }
}
