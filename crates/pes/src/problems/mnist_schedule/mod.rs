//! Meta-learning an MNIST learning-rate schedule (paper §5.3, Figs. 5–6): the inner problem.
//!
//! Inner problem: an MLP 784-100-100-10 ([`model`]) trained by SGD with momentum 0.9
//! (`m ← 0.9 m + g`, `p ← p − lr_t m`) on minibatches of 100 ([`sampler`]), with the
//! inverse-time-decay schedule `lr_t = e^{θ₀} / (1 + t/5000)^{e^{θ₁}}`. The objective of an
//! inner step is the cross-entropy of the *updated* network on an objective batch (a fresh
//! random training batch in the paper's `train_sum_loss`; the step's own batch in the
//! `pes-mnist-mlp` benchmark); a truncation's loss is the sum over its steps.
//!
//! Every particle has its own network and momentum, all initialised identically, and all see
//! the same minibatches.

pub mod model;
pub mod sampler;

pub use model::{Init, MlpParams, MlpState};
pub use sampler::Batches;

use crate::error::Result;
use crate::problems::{UnrolledProblem, Window, matrix, row_sums};
use burn::tensor::{Device, Tensor};
use model::{backward, forward, init_weights, loss};
use repro_core::fused_momentum::{momentum_step, momentum_step_product};
use sampler::Batch;
use serde::{Deserialize, Serialize};

/// Time scale of the inverse-time decay (fixed by the paper's schedule).
pub const DECAY_STEPS: f64 = 5000.0;

/// Which batch the objective of an inner step is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum ObjectiveBatch {
    /// A fresh random training batch (the paper's `train_sum_loss`).
    Fresh,
    /// The batch the step trained on (`jax_ref.py`).
    Same,
    /// The error rate (1 − accuracy) of the updated network on a batch of the held-out
    /// split ([`MnistSchedule::validation`]): the validation-accuracy objective of §5.3.
    ValidationError,
}

/// The MNIST learning-rate-schedule inner problem.
#[derive(Debug, Clone)]
pub struct MnistSchedule {
    /// Widths of the two hidden layers.
    pub hidden: [usize; 2],
    /// Minibatch size B.
    pub batch_size: usize,
    /// Momentum μ of the inner SGD.
    pub momentum: f64,
    /// Episode length `T` (`None`: never reset, as in the benchmark).
    pub horizon: Option<usize>,
    /// Which batch each step's objective is computed on.
    pub objective: ObjectiveBatch,
    /// Where minibatches come from.
    pub batches: Batches,
    /// Held-out images for [`ObjectiveBatch::ValidationError`] (drawn as stream 1).
    pub validation: Option<Batches>,
    /// The shared initial network, host copies: `w1 [784×h1]`, `w2 [h1×h2]`, `w3 [h2×10]`.
    init: [Vec<f32>; 3],
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
        Self {
            hidden,
            batch_size,
            momentum: 0.9,
            horizon,
            objective,
            batches,
            validation: None,
            init: init_weights(hidden, init, init_seed),
        }
    }

    /// The learning rate of each particle at step `t`: `e^{θ₀} / (1 + t/5000)^{e^{θ₁}}`.
    fn learning_rates(thetas: Tensor<2>, t: usize) -> Tensor<2> {
        let lr0 = thetas.clone().narrow(1, 0, 1).exp();
        let power = thetas.narrow(1, 1, 1).exp();
        lr0 * (power * -(1.0 + t as f64 / DECAY_STEPS).ln()).exp()
    }

    fn batch(&self, episode: u64, t: usize, stream: u64, device: &Device) -> Batch {
        self.batches.batch(self.batch_size, episode, t, stream, device)
    }

    /// Error rate `[P, 1]` of each particle's network on `batch`.
    fn batch_error(p: &MlpParams, batch: &Batch) -> Tensor<2> {
        let logits = forward(p, batch.x.clone()).logits;
        let [np, b, _] = logits.dims();
        let pred = logits.argmax(2);
        let target = batch.onehot.clone().argmax(2).repeat_dim(0, np);
        let correct = pred.equal(target).float().sum_dim(1).reshape([np, 1]);
        (correct / b as f64 - 1.0).neg()
    }

    /// Mean training cross-entropy of each particle's network on `batch` (for evaluation).
    fn batch_loss(p: &MlpParams, batch: &Batch) -> Tensor<2> {
        loss(forward(p, batch.x.clone()).logits, batch.onehot.clone())
    }

    /// Sum of the per-step objectives of a full episode of `steps` steps for each θ
    /// (`thetas`: `n × 2`), all θ trained side by side as particles (heatmap and evaluation).
    pub fn meta_losses(&self, thetas: &[f64], steps: usize, device: &Device) -> Result<Vec<f64>> {
        let n = thetas.len() / 2;
        let (_, terms) = self.unroll(
            self.init_state(n, device),
            matrix(thetas, n, 2, device),
            Window {
                episode: u64::MAX,
                t0: 0,
                steps,
            },
        );
        row_sums(terms, "MNIST evaluation")
    }
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
        let one = MlpParams::from_weights(&self.init, self.hidden, device);
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
            let fwd = forward(&params, batch.x.clone());
            let g = backward(&params, fwd, batch.x.clone(), batch.onehot.clone());
            let lr = Self::learning_rates(thetas.clone(), t);
            let lr_wide = lr.clone().repeat_dim(1, h1).reshape([1, np * h1]);
            let lr3 = lr.reshape([np, 1, 1]);
            // m ← μ m + g, p ← p − η m, one pass per tensor (the layer-1 tensors of all
            // particles are far larger than the cache); layer 1's gradient accumulated into
            // the momentum by its product, never stored
            let (gx, gd) = g.w1;
            let (w1, m_w1) = momentum_step_product(params.w1, mom.w1, gx, gd, lr_wide.clone(), mu);
            let (b1, m_b1) = momentum_step(params.b1, mom.b1, g.b1, lr_wide, mu);
            let (w2, m_w2) = momentum_step(params.w2, mom.w2, g.w2, lr3.clone(), mu);
            let (b2, m_b2) = momentum_step(params.b2, mom.b2, g.b2, lr3.clone(), mu);
            let (w3, m_w3) = momentum_step(params.w3, mom.w3, g.w3, lr3.clone(), mu);
            let (b3, m_b3) = momentum_step(params.b3, mom.b3, g.b3, lr3, mu);
            params = MlpParams {
                w1,
                b1,
                w2,
                b2,
                w3,
                b3,
            };
            mom = MlpParams {
                w1: m_w1,
                b1: m_b1,
                w2: m_w2,
                b2: m_b2,
                w3: m_w3,
                b3: m_b3,
            };
            terms.push(match self.objective {
                ObjectiveBatch::Same => Self::batch_loss(&params, &batch),
                ObjectiveBatch::Fresh => {
                    Self::batch_loss(&params, &self.batch(window.episode, t, 1, &device))
                }
                ObjectiveBatch::ValidationError => {
                    let held_out = self
                        .validation
                        .as_ref()
                        .expect("the validation objective needs held-out images");
                    let b = held_out.batch(self.batch_size, window.episode, t, 1, &device);
                    Self::batch_error(&params, &b)
                }
            });
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

#[cfg(test)]
mod tests {
    use super::model::INPUT;
    use super::*;
    use crate::problems::ParticleState;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand_distr::{Distribution, Normal};

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
        let manual = backward(
            &params,
            forward(&params, batch.x.clone()),
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
        let (gx, gd) = manual.w1;
        close(gx.matmul(gd), pa.w1.grad(&grads).unwrap());
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
