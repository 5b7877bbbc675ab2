//! Data-parallel training on several devices of one backend, gathering to the main device.
//!
//! One step on `n` devices: the global batch of `B` rows is split into `n` contiguous shards
//! ([`DataParallel::shards`]); the main device (`devices[0]`) computes shard 0 on the model
//! itself and every other device computes its shard on a replica (a copy of the model made
//! for this step, with its own module state), each on its own thread. Every shard returns the
//! gradients of its *mean* loss; they are moved to the main device
//! ([`GradientsParams::to_device`]), weighted by `|shard| / B` and summed
//! ([`GradientsAccumulator`]). The caller steps the optimiser on the main device; the next
//! step copies the updated model again. This is the `OptimMainDevice` strategy of burn-train's
//! multi-device learner, in a form our own training loops can call.
//!
//! **Equivalence.** For a loss that is a mean over rows, `L = (1/B) Σ_r ℓ_r`, and shards `S_k`,
//! `∇L = Σ_k (|S_k|/B) · ∇[(1/|S_k|) Σ_{r∈S_k} ℓ_r]`: the weighted sum of the shard-mean
//! gradients is the full-batch mean gradient. With equal shards the weights are `1/n` (the mean
//! of the shard means, what PyTorch DDP computes). Only the floating-point summation order
//! differs from one device on the full batch, so optimiser steps, learning-rate schedules and
//! checkpoints are those of one device. Terms that do not depend on the batch (GloRo's
//! Lipschitz constant K) enter every shard's mean with weight one and the total with weight
//! `Σ_k |S_k|/B = 1`. What is *not* equivalent: statistics over the batch inside the forward
//! pass (batch norm sees one shard, as in PyTorch DDP without SyncBatchNorm), and random draws
//! made inside the step on a replica's device (draws made on the main device before sharding
//! are unchanged).
//!
//! **Module state.** State a forward pass updates (Burn's `RunningState`: GloRo's power
//! iterates, batch-norm running statistics) is kept from the main device's shard; the
//! replicas' updates are discarded with the replicas, so every step starts all devices from the
//! same state. This is PyTorch DDP's default (`broadcast_buffers`: rank 0's buffers win). A
//! replica is a deep copy (`valid()`, `fork`, `train()`): `Module::fork` alone would share a
//! `RunningState` with the original, and the devices' threads would then advance one iterate
//! concurrently.
//!
//! **All-reduce.** Burn 0.22's `all_reduce` needs a transport between devices, which only its
//! CUDA runtime has; on the other backends this gather-to-main path copies gradients through
//! the host.

use crate::error::Error;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor};
use std::ops::Range;

/// Devices sharing each training step; the first is the main device, where the model, the
/// optimiser and the summed gradients live.
#[derive(Debug, Clone)]
pub struct DataParallel {
    devices: Vec<Device>,
}

impl DataParallel {
    /// Data parallelism over `devices` (made autodiff devices). A device may appear twice (two
    /// replicas on one device: the same arithmetic, no speed-up; useful in tests).
    pub fn new(devices: Vec<Device>) -> Result<Self, Error> {
        if devices.is_empty() {
            return Err(Error::NoDevice);
        }
        Ok(Self {
            devices: devices.into_iter().map(Device::autodiff).collect(),
        })
    }

    /// The main device (autodiff).
    pub fn main(&self) -> &Device {
        &self.devices[0]
    }

    /// Every device (autodiff), the main one first.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// How many devices share a step.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether there is only the main device (never empty).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Checks that a global batch of `batch` rows splits into equal shards; call it before any
    /// work. Returns the shard size.
    pub fn check_batch(&self, batch: usize) -> Result<usize, Error> {
        let n = self.len();
        if batch == 0 || !batch.is_multiple_of(n) {
            return Err(Error::Indivisible { batch, devices: n });
        }
        Ok(batch / n)
    }

    /// The rows of each device's shard of a batch of `batch` rows: contiguous, sizes differing
    /// by at most one (equal when `batch` passes [`Self::check_batch`]; an epoch's last, shorter
    /// batch may not), empty when `batch < n`.
    pub fn shards(&self, batch: usize) -> Vec<Range<usize>> {
        let n = self.len();
        let (q, r) = (batch / n, batch % n);
        let mut start = 0;
        (0..n)
            .map(|k| {
                let len = q + usize::from(k < r);
                let range = start..start + len;
                start += len;
                range
            })
            .collect()
    }

    /// The gradients of the mean loss over a batch of `batch` rows, on the main device, and each
    /// non-empty shard's output in shard order.
    ///
    /// `shard(model, device, rows)` runs on `device`'s thread with the model (main device) or a
    /// replica and must return the gradients of the *mean* loss over `rows` (and anything else
    /// to report). The first error, in shard order, is returned. With one device this is
    /// exactly `shard(model, main, 0..batch)`.
    pub fn gradients<M, O, E, F>(
        &self,
        model: &M,
        batch: usize,
        shard: F,
    ) -> Result<(GradientsParams, Vec<O>), E>
    where
        M: Module,
        O: Send,
        E: Send,
        F: Fn(&M, &Device, Range<usize>) -> Result<(GradientsParams, O), E> + Sync,
    {
        let shards: Vec<(usize, Range<usize>)> = self
            .shards(batch)
            .into_iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .collect();
        if shards.len() == 1 {
            let (k, rows) = shards[0].clone();
            let (g, o) = shard(model, &self.devices[k], rows)?;
            return Ok((g.to_device(self.main(), model), vec![o]));
        }
        // replicas are copied before the main shard starts updating the model's state
        let replicas: Vec<(usize, Range<usize>, M)> = shards
            .iter()
            .filter(|(k, _)| *k != 0)
            .map(|(k, r)| (*k, r.clone(), replicate(model, &self.devices[*k])))
            .collect();
        let results: Vec<(usize, ShardResult<O, E>)> = std::thread::scope(|s| {
            let handles: Vec<_> = replicas
                .into_iter()
                .map(|(k, rows, replica)| {
                    let device = &self.devices[k];
                    let shard = &shard;
                    s.spawn(move || {
                        let out = shard(&replica, device, rows);
                        (k, out)
                    })
                })
                .collect();
            let mut results = Vec::with_capacity(shards.len());
            if let Some((_, rows)) = shards.iter().find(|(k, _)| *k == 0) {
                results.push((0, shard(model, self.main(), rows.clone())));
            }
            for h in handles {
                results.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
            results
        });
        let mut accumulator = GradientsAccumulator::<M>::new();
        let mut outputs = Vec::with_capacity(results.len());
        for (k, result) in results {
            let (grads, out) = result?;
            let weight = self.shards(batch)[k].len() as f64 / batch as f64;
            let grads = scale(grads.to_device(self.main(), model), model, weight);
            accumulator.accumulate(model, grads);
            outputs.push(out);
        }
        Ok((accumulator.grads(), outputs))
    }
}

/// What one shard's closure returns: its gradients and output, or its error.
type ShardResult<O, E> = Result<(GradientsParams, O), E>;

/// A copy of `model` on `device` that shares nothing with it: parameters keep their ids (so
/// its gradients match the model's), module state is copied, and autodiff is on.
pub fn replicate<M: Module>(model: &M, device: &Device) -> M {
    model.valid().fork(&device.clone().autodiff()).train()
}

/// Multiplies every gradient of `model`'s parameters in `grads` by `factor`.
pub fn scale<M: Module>(mut grads: GradientsParams, model: &M, factor: f64) -> GradientsParams {
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, g.mul_scalar(self.factor));
            }
        }
    }
    if factor != 1.0 {
        model.visit(&mut Scale {
            grads: &mut grads,
            factor,
        });
    }
    grads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::float_values;
    use burn::module::RunningState;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::tensor::{Tensor, TensorData};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A linear layer with a running state that every forward pass overwrites with a function
    /// of the weights (as GloRo's power iterates are).
    #[derive(Module, Debug)]
    struct Net {
        linear: Linear,
        state: RunningState<Tensor<1>>,
    }

    /// `n` uniform draws in [−1, 1) from a host generator: the device's generator is one per
    /// process and the other unit tests draw from it concurrently, so runs that must see the
    /// same numbers cannot take them from it.
    fn host_uniform(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn tensor<const D: usize>(v: Vec<f32>, dims: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::from_data(TensorData::new(v, dims), device)
    }

    impl Net {
        fn new(device: &Device) -> Self {
            let mut linear = LinearConfig::new(4, 3).init(device);
            linear.weight = Param::from_tensor(tensor(host_uniform(12, 3), [4, 3], device));
            linear.bias = Some(Param::from_tensor(tensor(host_uniform(3, 4), [3], device)));
            Self {
                linear,
                state: RunningState::new(Tensor::zeros([3], device)),
            }
        }
        /// Mean squared error of the rows, plus a term from the state; advances the state.
        fn loss(&self, x: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
            let w = self.linear.weight.val();
            let s = self.state.value_sync().to_device(&w.device());
            self.state
                .update((s.clone() * 0.5 + w.clone().detach().sum_dim(0).reshape([3])).detach());
            let _ = self.state.value_sync();
            let pred = self.linear.forward(x) + s.reshape([1, 3]);
            (pred - y).powf_scalar(2.0).mean()
        }
    }

    fn data(b: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
        (
            tensor(host_uniform(b * 4, 11 + b as u64), [b, 4], device),
            tensor(host_uniform(b * 3, 101 + b as u64), [b, 3], device),
        )
    }

    fn rows(t: &Tensor<2>, r: Range<usize>, device: &Device) -> Tensor<2> {
        let idx: Vec<i64> = r.map(|i| i as i64).collect();
        let n = idx.len();
        let it = Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(idx, [n]), &t.device());
        t.clone().select(0, it).to_device(device)
    }

    /// Three SGD steps on `dp`, batches of `b` (the last one `last` rows).
    fn train(dp: &DataParallel, b: usize, last: usize) -> Net {
        let main = dp.main().clone();
        let mut model = Net::new(&main);
        let mut optim = SgdConfig::new().init();
        for (step, len) in [b, b, last].into_iter().enumerate() {
            let (x, y) = data(len + step, &main);
            let (x, y) = (rows(&x, 0..len, &main), rows(&y, 0..len, &main));
            let (grads, _) = dp
                .gradients(&model, len, |m: &Net, d: &Device, r: Range<usize>| {
                    let loss = m.loss(rows(&x, r.clone(), d), rows(&y, r, d));
                    Ok::<_, ()>((GradientsParams::from_grads(loss.backward(), m), ()))
                })
                .unwrap();
            model = optim.step(0.1, model, grads);
        }
        model
    }

    fn assert_close(a: &[Vec<f32>], b: &[Vec<f32>], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!((x - y).abs() <= tol, "{x} vs {y}");
        }
    }

    /// Two and three replicas (on one CPU device) follow one device on the full batch: SGD is
    /// sensitive to the gradient's scale, so a sum instead of the weighted mean fails, and the
    /// state is among the compared values and enters the loss (the main shard run on a copy,
    /// which leaves the model's state behind, fails). The last batch does not divide (shards of
    /// unequal size).
    #[test]
    fn replicas_on_one_device_match_one_device_on_the_full_batch() {
        let d = Device::default();
        let one = float_values(&train(&DataParallel::new(vec![d.clone()]).unwrap(), 6, 5));
        for n in [2, 3] {
            let dp = DataParallel::new(vec![d.clone(); n]).unwrap();
            let many = float_values(&train(&dp, 6, 5));
            assert_close(&one, &many, 1e-5);
        }
    }

    #[test]
    fn shards_cover_the_batch_and_indivisible_batches_are_refused() {
        let dp = DataParallel::new(vec![Device::default(); 3]).unwrap();
        assert_eq!(dp.shards(7), vec![0..3, 3..5, 5..7]);
        assert_eq!(dp.shards(2), vec![0..1, 1..2, 2..2]);
        assert_eq!(dp.check_batch(12).unwrap(), 4);
        let e = dp.check_batch(10).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Indivisible {
                    batch: 10,
                    devices: 3
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("10") && e.to_string().contains("3 equal shards"));
        assert!(matches!(DataParallel::new(vec![]).unwrap_err(), Error::NoDevice));
    }
}
