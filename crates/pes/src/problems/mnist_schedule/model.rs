//! The inner network of the MNIST schedule problem: an MLP 784-h₁-h₂-10 (ReLU, biases) per
//! particle in a batched layout, its initialisation and its hand-written backward pass.
//!
//! Layer 1 of all particles is ONE matrix product: `W₁` is stored as `[784, P·h₁]`, so
//! `x W₁` serves every particle (the input batch is shared); layers 2–3 are batched matrix
//! products over `[P, ·, ·]` weights. Gradients are written out by hand (no autodiff: ES/PES
//! only need forward evaluations of the inner training).

use crate::error::{PesError, Result};
use crate::problems::ParticleState;
use burn::tensor::activation::{log_softmax, relu, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Pixels of an MNIST image (28 × 28).
pub const INPUT: usize = 784;
/// Number of classes.
pub const CLASSES: usize = 10;

/// Initialisation of the shared starting network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Init {
    /// Haiku's default: truncated normal (±2σ), σ = 1/√fan_in, zero biases (the paper).
    TruncatedNormal,
    /// `N(0, 2/fan_in)`, zero biases (`jax_ref.py`).
    HeNormal,
}

/// The weight matrices `w1 [784×h1]`, `w2 [h1×h2]`, `w3 [h2×10]` (row-major, host) of the
/// one network every particle starts from, drawn from `seed`.
pub fn init_weights(hidden: [usize; 2], init: Init, seed: u64) -> [Vec<f32>; 3] {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut layer = |fan_in: usize, fan_out: usize| -> Vec<f32> {
        let n = fan_in * fan_out;
        match init {
            Init::HeNormal => {
                let d = Normal::new(0.0, (2.0 / fan_in as f64).sqrt()).unwrap();
                (0..n).map(|_| d.sample(&mut rng) as f32).collect()
            }
            Init::TruncatedNormal => {
                let sd = 1.0 / (fan_in as f64).sqrt();
                // Haiku rescales the truncated (±2) standard normal to unit variance.
                let d = Normal::new(0.0, 1.0).unwrap();
                (0..n)
                    .map(|_| {
                        loop {
                            let z: f64 = d.sample(&mut rng);
                            if z.abs() <= 2.0 {
                                break (z / 0.879_625_7 * sd) as f32;
                            }
                        }
                    })
                    .collect()
            }
        }
    };
    [
        layer(INPUT, hidden[0]),
        layer(hidden[0], hidden[1]),
        layer(hidden[1], CLASSES),
    ]
}

/// The per-particle networks and momenta.
#[derive(Debug, Clone)]
pub struct MlpState {
    /// `[784, P·h₁]`, `[1, P·h₁]`, `[P, h₁, h₂]`, `[P, 1, h₂]`, `[P, h₂, 10]`, `[P, 1, 10]`.
    pub params: MlpParams,
    /// Momentum buffers, same layout.
    pub momentum: MlpParams,
}

/// Parameters (or gradients, or momenta) of all particles in the batched layout.
#[derive(Debug, Clone)]
pub struct MlpParams {
    /// Layer-1 weights of all particles side by side, `[784, P·h₁]`.
    pub w1: Tensor<2>,
    /// Layer-1 biases, `[1, P·h₁]`.
    pub b1: Tensor<2>,
    /// Layer-2 weights, `[P, h₁, h₂]`.
    pub w2: Tensor<3>,
    /// Layer-2 biases, `[P, 1, h₂]`.
    pub b2: Tensor<3>,
    /// Layer-3 weights, `[P, h₂, 10]`.
    pub w3: Tensor<3>,
    /// Layer-3 biases, `[P, 1, 10]`.
    pub b3: Tensor<3>,
}

impl MlpParams {
    /// One particle's network from host weights ([`init_weights`]), zero biases.
    pub fn from_weights(weights: &[Vec<f32>; 3], hidden: [usize; 2], device: &Device) -> Self {
        let [h1, h2] = hidden;
        let m = |v: &Vec<f32>, r, c| Tensor::<2>::from_data(TensorData::new(v.clone(), [r, c]), device);
        Self {
            w1: m(&weights[0], INPUT, h1),
            b1: Tensor::zeros([1, h1], device),
            w2: m(&weights[1], h1, h2).unsqueeze_dim(0),
            b2: Tensor::zeros([1, 1, h2], device),
            w3: m(&weights[2], h2, CLASSES).unsqueeze_dim(0),
            b3: Tensor::zeros([1, 1, CLASSES], device),
        }
    }
    /// Number of particles held.
    pub fn particles(&self) -> usize {
        self.w2.dims()[0]
    }
    /// Width of the first hidden layer.
    pub fn hidden1(&self) -> usize {
        self.w2.dims()[1]
    }
    /// Applies `f2` to the rank-2 and `f3` to the rank-3 tensors.
    pub fn map2(self, f2: impl Fn(Tensor<2>) -> Tensor<2>, f3: impl Fn(Tensor<3>) -> Tensor<3>) -> Self {
        Self {
            w1: f2(self.w1),
            b1: f2(self.b1),
            w2: f3(self.w2),
            b2: f3(self.b2),
            w3: f3(self.w3),
            b3: f3(self.b3),
        }
    }
    /// `n` copies of a one-particle network.
    pub fn repeat(&self, n: usize) -> Self {
        let h1 = self.hidden1();
        let wide = |t: Tensor<2>| {
            let rows = t.dims()[0];
            t.reshape([rows, 1, h1]).repeat_dim(1, n).reshape([rows, n * h1])
        };
        Self {
            w1: wide(self.w1.clone()),
            b1: wide(self.b1.clone()),
            w2: self.w2.clone().repeat_dim(0, n),
            b2: self.b2.clone().repeat_dim(0, n),
            w3: self.w3.clone().repeat_dim(0, n),
            b3: self.b3.clone().repeat_dim(0, n),
        }
    }
    /// Particle `i` alone.
    pub fn particle(&self, i: usize) -> Self {
        let h1 = self.hidden1();
        Self {
            w1: self.w1.clone().narrow(1, i * h1, h1),
            b1: self.b1.clone().narrow(1, i * h1, h1),
            w2: self.w2.clone().narrow(0, i, 1),
            b2: self.b2.clone().narrow(0, i, 1),
            w3: self.w3.clone().narrow(0, i, 1),
            b3: self.b3.clone().narrow(0, i, 1),
        }
    }
    fn to_data(&self) -> Vec<TensorData> {
        vec![
            self.w1.clone().into_data(),
            self.b1.clone().into_data(),
            self.w2.clone().into_data(),
            self.b2.clone().into_data(),
            self.w3.clone().into_data(),
            self.b3.clone().into_data(),
        ]
    }
    fn from_data(mut d: Vec<TensorData>, device: &Device) -> Result<Self> {
        let ranks: Vec<usize> = d.iter().map(|t| t.shape().len()).collect();
        if ranks != [2, 2, 3, 3, 3, 3] {
            return Err(PesError::Config(format!(
                "saved MLP state has tensors of ranks {ranks:?}, expected [2, 2, 3, 3, 3, 3]"
            )));
        }
        let mut next = || d.remove(0);
        Ok(Self {
            w1: Tensor::from_data(next(), device),
            b1: Tensor::from_data(next(), device),
            w2: Tensor::from_data(next(), device),
            b2: Tensor::from_data(next(), device),
            w3: Tensor::from_data(next(), device),
            b3: Tensor::from_data(next(), device),
        })
    }
}

impl ParticleState for MlpState {
    fn particles(&self) -> usize {
        self.params.particles()
    }
    fn repeat(&self, n: usize) -> Self {
        Self {
            params: self.params.repeat(n),
            momentum: self.momentum.repeat(n),
        }
    }
    fn particle(&self, i: usize) -> Self {
        Self {
            params: self.params.particle(i),
            momentum: self.momentum.particle(i),
        }
    }
    fn detach(self) -> Self {
        let d2 = |t: Tensor<2>| t.without_autodiff();
        let d3 = |t: Tensor<3>| t.without_autodiff();
        Self {
            params: self.params.map2(d2, d3),
            momentum: self.momentum.map2(d2, d3),
        }
    }
    fn to_data(&self) -> Vec<TensorData> {
        let mut v = self.params.to_data();
        v.extend(self.momentum.to_data());
        v
    }
    fn from_data(mut data: Vec<TensorData>, device: &Device) -> Result<Self> {
        if data.len() != 12 {
            return Err(PesError::Config(format!(
                "saved MLP state has {} tensors, expected 12",
                data.len()
            )));
        }
        let momentum = data.split_off(6);
        Ok(Self {
            params: MlpParams::from_data(data, device)?,
            momentum: MlpParams::from_data(momentum, device)?,
        })
    }
}

/// The activations of a forward pass that the backward pass needs.
pub struct Forward {
    z1: Tensor<3>,
    a1: Tensor<3>,
    z2: Tensor<3>,
    a2: Tensor<3>,
    /// Logits `[P, B, 10]`.
    pub logits: Tensor<3>,
}

/// Forward pass of every particle: pre-activations of layers 1–2 (`[P, B, h]`), the
/// activations and the logits `[P, B, 10]`.
pub fn forward(p: &MlpParams, x: Tensor<2>) -> Forward {
    let (np, h1) = (p.particles(), p.hidden1());
    let b = x.dims()[0];
    let z1 = (x.matmul(p.w1.clone()) + p.b1.clone())
        .reshape([b, np, h1])
        .swap_dims(0, 1);
    let a1 = relu(z1.clone());
    let z2 = a1.clone().matmul(p.w2.clone()) + p.b2.clone();
    let a2 = relu(z2.clone());
    let logits = a2.clone().matmul(p.w3.clone()) + p.b3.clone();
    Forward {
        z1,
        a1,
        z2,
        a2,
        logits,
    }
}

/// Mean cross-entropy per particle, `[P, 1]`.
pub fn loss(logits: Tensor<3>, onehot: Tensor<3>) -> Tensor<2> {
    let np = logits.dims()[0];
    (log_softmax(logits, 2) * onehot)
        .sum_dim(2)
        .mean_dim(1)
        .reshape([np, 1])
        .neg()
}

/// Gradients of the mean cross-entropy ([`loss`]) with respect to every parameter, from
/// [`backward`]. Layer 1's weight gradient, `[784, P·h₁]` (the largest tensor of the step), is
/// kept as its two factors, so the optimiser can form the product where it is used
/// (`repro_core::fused_momentum::momentum_step_product`).
pub struct Gradients {
    /// `(xᵀ, δ₁)`, `[784, B]` and `[B, P·h₁]`: the gradient of `w1` is their product.
    pub w1: (Tensor<2>, Tensor<2>),
    /// Gradient of `b1`, `[1, P·h₁]`.
    pub b1: Tensor<2>,
    /// Gradient of `w2`, `[P, h₁, h₂]`.
    pub w2: Tensor<3>,
    /// Gradient of `b2`, `[P, 1, h₂]`.
    pub b2: Tensor<3>,
    /// Gradient of `w3`, `[P, h₂, 10]`.
    pub w3: Tensor<3>,
    /// Gradient of `b3`, `[P, 1, 10]`.
    pub b3: Tensor<3>,
}

/// Gradients of the mean cross-entropy ([`loss`]) with respect to every parameter, by hand.
pub fn backward(p: &MlpParams, f: Forward, x: Tensor<2>, onehot: Tensor<3>) -> Gradients {
    let [np, b, _] = f.logits.dims();
    let h1 = p.hidden1();
    let dlogits = (softmax(f.logits, 2) - onehot) / b as f64;
    let gw3 = f.a2.clone().swap_dims(1, 2).matmul(dlogits.clone());
    let gb3 = dlogits.clone().sum_dim(1);
    let dz2 = dlogits.matmul(p.w3.clone().swap_dims(1, 2)) * f.z2.greater_elem(0.0).float();
    let gw2 = f.a1.swap_dims(1, 2).matmul(dz2.clone());
    let gb2 = dz2.clone().sum_dim(1);
    let dz1 = dz2.matmul(p.w2.clone().swap_dims(1, 2)) * f.z1.greater_elem(0.0).float();
    let dz1 = dz1.swap_dims(0, 1).reshape([b, np * h1]);
    let gb1 = dz1.clone().sum_dim(0);
    Gradients {
        w1: (x.transpose(), dz1),
        b1: gb1,
        w2: gw2,
        b2: gb2,
        w3: gw3,
        b3: gb3,
    }
}
