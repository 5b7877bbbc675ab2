//! Meta-learning an MNIST learning-rate schedule (paper §5.3, Fig. 6).
//!
//! Inner problem: an MLP 784-100-100-10 (ReLU, biases) trained by SGD with momentum 0.9
//! (`m ← 0.9 m + g`, `p ← p − lr_t m`) on minibatches of 100, with the inverse-time-decay
//! schedule `lr_t = e^{θ₀} / (1 + t/5000)^{e^{θ₁}}`. The objective of an inner step is the
//! cross-entropy of the *updated* network on an objective batch (a fresh random training
//! batch in the paper's `train_sum_loss`; the step's own batch in the `pes-mnist-mlp`
//! benchmark); a truncation's loss is the sum over its steps.
//!
//! Every particle has its own network and momentum, all initialised identically, and all see
//! the same minibatches. Layer 1 of all particles is ONE matrix product: `W₁` is stored as
//! `[784, P·100]`, so `x W₁` serves every particle (the input batch is shared); layers 2–3
//! are batched matrix products over `[P, ·, ·]` weights. Gradients are written out by hand
//! (no autodiff: ES/PES only need forward evaluations of the inner training).

use crate::error::{PesError, Result};
use crate::estimator::{EstimatorConfig, EstimatorKind};
use crate::outer::OuterConfig;
use crate::problem::{ParticleState, UnrolledProblem, Window};
use burn::tensor::activation::{log_softmax, relu, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

const INPUT: usize = 784;
const CLASSES: usize = 10;
/// Time scale of the inverse-time decay (fixed by the paper's schedule).
pub const DECAY_STEPS: f64 = 5000.0;

/// Initialisation of the shared starting network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Haiku's default: truncated normal (±2σ), σ = 1/√fan_in, zero biases (the paper).
    TruncatedNormal,
    /// `N(0, 2/fan_in)`, zero biases (`jax_ref.py`).
    HeNormal,
}

/// Which batch the objective of an inner step is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectiveBatch {
    /// A fresh random training batch (the paper's `train_sum_loss`).
    Fresh,
    /// The batch the step trained on (`jax_ref.py`).
    Same,
}

/// Where minibatches come from.
#[derive(Debug, Clone)]
pub enum Batches {
    /// Random batches of a dataset, drawn from `(seed, episode, t)`: every particle, and
    /// every estimator, sees the same sequence within an episode.
    Sampled {
        /// Normalised images, `n × 784`.
        images: Vec<f32>,
        labels: Vec<u8>,
        seed: u64,
    },
    /// Fixed batches, batch `t mod len` at step `t` (the benchmark's synthetic data).
    Fixed {
        images: Vec<Vec<f32>>,
        labels: Vec<Vec<u8>>,
    },
}

/// The per-particle networks and momenta.
#[derive(Debug, Clone)]
pub struct MlpState {
    /// `[784, P·h₁]`, `[1, P·h₁]`, `[P, h₁, h₂]`, `[P, 1, h₂]`, `[P, h₂, 10]`, `[P, 1, 10]`.
    pub params: MlpParams,
    /// Momentum buffers, same layout.
    pub momentum: MlpParams,
}

/// Parameters of all particles in the batched layout.
#[derive(Debug, Clone)]
pub struct MlpParams {
    pub w1: Tensor<2>,
    pub b1: Tensor<2>,
    pub w2: Tensor<3>,
    pub b2: Tensor<3>,
    pub w3: Tensor<3>,
    pub b3: Tensor<3>,
}

impl MlpParams {
    fn particles(&self) -> usize {
        self.w2.dims()[0]
    }
    fn hidden1(&self) -> usize {
        self.w2.dims()[1]
    }
    fn map2(self, f2: impl Fn(Tensor<2>) -> Tensor<2>, f3: impl Fn(Tensor<3>) -> Tensor<3>) -> Self {
        Self {
            w1: f2(self.w1),
            b1: f2(self.b1),
            w2: f3(self.w2),
            b2: f3(self.b2),
            w3: f3(self.w3),
            b3: f3(self.b3),
        }
    }
    fn repeat(&self, n: usize) -> Self {
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
    fn particle(&self, i: usize) -> Self {
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

/// The MNIST learning-rate-schedule inner problem.
#[derive(Debug, Clone)]
pub struct MnistSchedule {
    pub hidden: [usize; 2],
    pub batch_size: usize,
    pub momentum: f64,
    /// Episode length `T` (`None`: never reset, as in the benchmark).
    pub horizon: Option<usize>,
    pub objective: ObjectiveBatch,
    pub batches: Batches,
    /// The shared initial network, host copies: `w1 [784×h1]`, `w2 [h1×h2]`, `w3 [h2×10]`.
    init: [Vec<f32>; 3],
}

/// One minibatch on the device: `x [B, 784]`, one-hot targets `[1, B, 10]`.
struct Batch {
    x: Tensor<2>,
    onehot: Tensor<3>,
}

impl MnistSchedule {
    /// Builds the problem; the initial network is drawn from `init_seed`.
    pub fn new(
        hidden: [usize; 2],
        batch_size: usize,
        horizon: Option<usize>,
        objective: ObjectiveBatch,
        batches: Batches,
        init: Init,
        init_seed: u64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(init_seed);
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
        let init = [
            layer(INPUT, hidden[0]),
            layer(hidden[0], hidden[1]),
            layer(hidden[1], CLASSES),
        ];
        Self {
            hidden,
            batch_size,
            momentum: 0.9,
            horizon,
            objective,
            batches,
            init,
        }
    }

    /// The learning rate of each particle at step `t`: `e^{θ₀} / (1 + t/5000)^{e^{θ₁}}`.
    fn learning_rates(thetas: Tensor<2>, t: usize) -> Tensor<2> {
        let lr0 = thetas.clone().narrow(1, 0, 1).exp();
        let power = thetas.narrow(1, 1, 1).exp();
        lr0 * (power * -(1.0 + t as f64 / DECAY_STEPS).ln()).exp()
    }

    fn batch(&self, episode: u64, t: usize, stream: u64, device: &Device) -> Batch {
        let b = self.batch_size;
        let (x, labels): (Vec<f32>, Vec<u8>) = match &self.batches {
            Batches::Fixed { images, labels } => {
                let i = t % images.len();
                (images[i].clone(), labels[i].clone())
            }
            Batches::Sampled { images, labels, seed } => {
                let n = labels.len();
                let key = crate::noise::mix(crate::noise::mix(*seed, episode), (t as u64) * 2 + stream);
                let mut rng = StdRng::seed_from_u64(key);
                let idx = rand::seq::index::sample(&mut rng, n, b.min(n));
                let mut x = Vec::with_capacity(b * INPUT);
                let mut y = Vec::with_capacity(b);
                for i in idx.iter() {
                    x.extend_from_slice(&images[i * INPUT..(i + 1) * INPUT]);
                    y.push(labels[i]);
                }
                (x, y)
            }
        };
        let rows = labels.len();
        let mut onehot = vec![0.0f32; rows * CLASSES];
        for (i, &l) in labels.iter().enumerate() {
            onehot[i * CLASSES + l as usize] = 1.0;
        }
        Batch {
            x: Tensor::from_data(TensorData::new(x, [rows, INPUT]), device),
            onehot: Tensor::from_data(TensorData::new(onehot, [1, rows, CLASSES]), device),
        }
    }

    /// Forward pass of every particle: pre-activations of layers 1–2 (`[P, B, h]`), the
    /// activations and the logits `[P, B, 10]`.
    fn forward(p: &MlpParams, x: Tensor<2>) -> Forward {
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
    fn loss(logits: Tensor<3>, onehot: Tensor<3>) -> Tensor<2> {
        let np = logits.dims()[0];
        (log_softmax(logits, 2) * onehot)
            .sum_dim(2)
            .mean_dim(1)
            .reshape([np, 1])
            .neg()
    }

    /// Gradients of the mean cross-entropy, by hand.
    fn backward(p: &MlpParams, f: Forward, x: Tensor<2>, onehot: Tensor<3>) -> MlpParams {
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
        let gw1 = x.transpose().matmul(dz1.clone());
        let gb1 = dz1.sum_dim(0);
        MlpParams {
            w1: gw1,
            b1: gb1,
            w2: gw2,
            b2: gb2,
            w3: gw3,
            b3: gb3,
        }
    }

    /// Mean training cross-entropy of each particle's network on `batch` (for evaluation).
    fn batch_loss(p: &MlpParams, batch: &Batch) -> Tensor<2> {
        Self::loss(Self::forward(p, batch.x.clone()).logits, batch.onehot.clone())
    }

    /// Sum of the per-step objectives of a full episode of `steps` steps for each θ
    /// (`thetas`: `n × 2`), all θ trained side by side as particles (heatmap and evaluation).
    pub fn meta_losses(&self, thetas: &[f64], steps: usize, device: &Device) -> Result<Vec<f64>> {
        let n = thetas.len() / 2;
        let (_, terms) = self.unroll(
            self.init_state(n, device),
            crate::problem::matrix(thetas, n, 2, device),
            Window {
                episode: u64::MAX,
                t0: 0,
                steps,
            },
        );
        crate::problem::row_sums(terms, "MNIST evaluation")
    }
}

struct Forward {
    z1: Tensor<3>,
    a1: Tensor<3>,
    z2: Tensor<3>,
    a2: Tensor<3>,
    logits: Tensor<3>,
}

impl UnrolledProblem for MnistSchedule {
    type State = MlpState;

    fn name(&self) -> &'static str {
        "mnist-schedule"
    }
    fn theta_dim(&self) -> usize {
        2
    }
    fn horizon(&self) -> Option<usize> {
        self.horizon
    }
    fn init_state(&self, particles: usize, device: &Device) -> MlpState {
        let [h1, h2] = self.hidden;
        let m = |v: &Vec<f32>, r, c| Tensor::<2>::from_data(TensorData::new(v.clone(), [r, c]), device);
        let one = MlpParams {
            w1: m(&self.init[0], INPUT, h1),
            b1: Tensor::zeros([1, h1], device),
            w2: m(&self.init[1], h1, h2).unsqueeze_dim(0),
            b2: Tensor::zeros([1, 1, h2], device),
            w3: m(&self.init[2], h2, CLASSES).unsqueeze_dim(0),
            b3: Tensor::zeros([1, 1, CLASSES], device),
        };
        let zero = one.clone().map2(|t| t.zeros_like(), |t| t.zeros_like());
        MlpState {
            params: one.repeat(particles),
            momentum: zero.repeat(particles),
        }
    }

    fn unroll(&self, state: MlpState, thetas: Tensor<2>, window: Window) -> (MlpState, Tensor<2>) {
        let thetas = thetas.without_autodiff();
        let device = thetas.device();
        let (np, h1) = (state.params.particles(), state.params.hidden1());
        let MlpState {
            mut params,
            momentum: mut mom,
        } = state;
        let mu = self.momentum;
        let mut terms = Vec::with_capacity(window.steps);
        for i in 0..window.steps {
            let t = window.t0 + i;
            let batch = self.batch(window.episode, t, 0, &device);
            let fwd = Self::forward(&params, batch.x.clone());
            let g = Self::backward(&params, fwd, batch.x.clone(), batch.onehot.clone());
            let lr = Self::learning_rates(thetas.clone(), t);
            let lr_wide = lr.clone().repeat_dim(1, h1).reshape([1, np * h1]);
            let lr3 = lr.reshape([np, 1, 1]);
            mom = MlpParams {
                w1: mom.w1 * mu + g.w1,
                b1: mom.b1 * mu + g.b1,
                w2: mom.w2 * mu + g.w2,
                b2: mom.b2 * mu + g.b2,
                w3: mom.w3 * mu + g.w3,
                b3: mom.b3 * mu + g.b3,
            };
            params = MlpParams {
                w1: params.w1 - mom.w1.clone() * lr_wide.clone(),
                b1: params.b1 - mom.b1.clone() * lr_wide,
                w2: params.w2 - mom.w2.clone() * lr3.clone(),
                b2: params.b2 - mom.b2.clone() * lr3.clone(),
                w3: params.w3 - mom.w3.clone() * lr3.clone(),
                b3: params.b3 - mom.b3.clone() * lr3,
            };
            let objective = match self.objective {
                ObjectiveBatch::Same => batch,
                ObjectiveBatch::Fresh => self.batch(window.episode, t, 1, &device),
            };
            terms.push(Self::batch_loss(&params, &objective));
        }
        let terms = if terms.is_empty() {
            Tensor::zeros([np, 0], &device)
        } else {
            Tensor::cat(terms, 1)
        };
        (
            MlpState {
                params,
                momentum: mom,
            },
            terms,
        )
    }
}

/// The §5.3 experiment. `full()` holds the paper's settings; `quick()` a scaled-down
/// version that runs in minutes on a laptop CPU.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MnistConfig {
    pub hidden: [usize; 2],
    pub batch_size: usize,
    /// Episode length T (inner training steps).
    pub horizon: usize,
    /// θ₀ = (log lr₀, log decay).
    pub theta0: [f64; 2],
    pub iterations: usize,
    pub outer: OuterConfig,
    pub methods: Vec<EstimatorConfig>,
    pub eval_every: usize,
    /// Heatmap resolution (cells per side) over log10 lr₀ × log10 decay.
    pub grid: usize,
    /// Heatmap ranges (log10 lr₀, log10 decay).
    pub grid_lr: (f64, f64),
    pub grid_decay: (f64, f64),
    /// Use at most this many training images (0: all 50 000).
    pub train_images: usize,
    pub seed: u64,
}

impl MnistConfig {
    /// The paper's settings (T = 5000, K ∈ {10, 100}, N = 1000, 5000 outer iterations).
    pub fn full() -> Self {
        let m = |kind, k| EstimatorConfig::new(kind, k, 1000, 0.1);
        Self {
            hidden: [100, 100],
            batch_size: 100,
            horizon: 5000,
            theta0: [0.003f64.ln(), 30f64.ln()],
            iterations: 5000,
            outer: OuterConfig::adam(1e-2, 0.9),
            methods: vec![
                m(EstimatorKind::Pes, 10),
                m(EstimatorKind::TruncatedEs, 10),
                m(EstimatorKind::Pes, 100),
                m(EstimatorKind::TruncatedEs, 100),
            ],
            eval_every: 500,
            grid: 40,
            grid_lr: (-4.0, 1.0),
            grid_decay: (-1.0, 2.5),
            train_images: 0,
            seed: 0,
        }
    }

    /// Scaled down for a 2-core CPU: T = 500, K = 10, N = 10, 200 outer iterations (4
    /// episodes), 8×8 heatmap, 10 000 training images; outer lr raised to 0.05 so θ moves
    /// visibly in 200 iterations.
    pub fn quick() -> Self {
        let m = |kind| EstimatorConfig::new(kind, 10, 10, 0.1);
        Self {
            horizon: 500,
            iterations: 200,
            outer: OuterConfig::adam(5e-2, 0.9),
            methods: vec![m(EstimatorKind::Pes), m(EstimatorKind::TruncatedEs)],
            eval_every: 25,
            grid: 8,
            train_images: 10_000,
            ..Self::full()
        }
    }
}

impl Default for MnistConfig {
    fn default() -> Self {
        Self::full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::matrix;

    fn tiny(objective: ObjectiveBatch) -> MnistSchedule {
        let mut rng = StdRng::seed_from_u64(1);
        let d = Normal::new(0.0, 1.0).unwrap();
        let images: Vec<f32> = (0..40 * INPUT).map(|_| d.sample(&mut rng) as f32).collect();
        let labels: Vec<u8> = (0..40).map(|i| (i * 7 % 10) as u8).collect();
        let batches = Batches::Sampled {
            images,
            labels,
            seed: 4,
        };
        MnistSchedule::new([6, 5], 8, Some(50), objective, batches, Init::TruncatedNormal, 2)
    }

    /// The hand-written backward pass equals autodiff of the batched cross-entropy.
    #[test]
    fn manual_gradients_match_autodiff() {
        let p = tiny(ObjectiveBatch::Same);
        let device = Device::flex();
        let state = p.init_state(3, &device);
        // Make the particles differ: one SGD step with different learning rates.
        let thetas = matrix(&[-1.0, 0.0, -2.0, 1.0, 0.0, 0.5], 3, 2, &device);
        let (state, _) = p.unroll(
            state,
            thetas,
            Window {
                episode: 0,
                t0: 0,
                steps: 2,
            },
        );
        let batch = p.batch(0, 5, 0, &device);
        let params = state.params.clone();
        let manual = MnistSchedule::backward(
            &params,
            MnistSchedule::forward(&params, batch.x.clone()),
            batch.x.clone(),
            batch.onehot.clone(),
        );
        let leaf2 = |t: Tensor<2>| t.autodiff().require_grad();
        let leaf3 = |t: Tensor<3>| t.autodiff().require_grad();
        let pa = params.map2(leaf2, leaf3);
        let loss = MnistSchedule::batch_loss(&pa, &batch).sum();
        let grads = loss.backward();
        let close = |a: Tensor<2>, b: Tensor<2>| {
            let a = a.into_data().try_to_vec::<f32>().unwrap();
            let b = b.into_data().try_to_vec::<f32>().unwrap();
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
            }
        };
        close(manual.w1, pa.w1.grad(&grads).unwrap());
        close(manual.b1, pa.b1.grad(&grads).unwrap());
        let flat = |t: Tensor<3>| {
            let [a, b, c] = t.dims();
            t.reshape([a * b, c])
        };
        close(flat(manual.w2), flat(pa.w2.grad(&grads).unwrap()));
        close(flat(manual.b2), flat(pa.b2.grad(&grads).unwrap()));
        close(flat(manual.w3), flat(pa.w3.grad(&grads).unwrap()));
        close(flat(manual.b3), flat(pa.b3.grad(&grads).unwrap()));
    }

    /// A particle's trajectory does not depend on the other particles in the batch, and
    /// `repeat`/`particle`/`to_data` round-trip.
    #[test]
    fn particles_are_independent_and_states_round_trip() {
        let p = tiny(ObjectiveBatch::Fresh);
        let device = Device::flex();
        let w = Window {
            episode: 3,
            t0: 7,
            steps: 4,
        };
        let (s3, l3) = p.unroll(
            p.init_state(3, &device),
            matrix(&[-1.0, 0.0, -2.0, 1.0, 0.0, 0.5], 3, 2, &device),
            w,
        );
        let (s1, l1) = p.unroll(p.init_state(1, &device), matrix(&[-2.0, 1.0], 1, 2, &device), w);
        let a = l3.narrow(0, 1, 1).into_data().try_to_vec::<f32>().unwrap();
        let b = l1.into_data().try_to_vec::<f32>().unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5 * (1.0 + y.abs()));
        }
        let one = s3.particle(1);
        let back = MlpState::from_data(one.to_data(), &device)
            .unwrap()
            .repeat(2)
            .particle(1);
        let x = back.params.w2.into_data().try_to_vec::<f32>().unwrap();
        let y = s1.params.w2.into_data().try_to_vec::<f32>().unwrap();
        for (x, y) in x.iter().zip(&y) {
            assert!((x - y).abs() < 1e-5);
        }
    }
}
