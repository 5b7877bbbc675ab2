//! Particles sharded across devices: [`Sharded`] wraps one copy of an inner problem per device
//! and is itself an [`UnrolledProblem`], so every estimator runs on it unchanged.
//!
//! The `N` particles are split into contiguous shards, one per device (sizes differing by at
//! most one). Each unroll hands device `k` its rows of `θ + ε` and its particles' states, runs
//! the devices' unrolls on one thread each, and gathers the loss terms to the main device in
//! particle order. The estimators then form `ĝ = Σ_i L_i ξ_i / (N σ²)` (PES, Eq. 7) over all
//! particles, which is the sum of the devices' shares `Σ_{i∈S_k} L_i ξ_i / (N σ²)`: no particle
//! interacts with another inside an unroll, so sharded and unsharded estimates differ only in
//! floating-point summation order (`tests/multi_device.rs`). Perturbations, `ξ` and the outer
//! optimiser stay on the main device's host side, exactly as without sharding.
//!
//! Checkpoints are independent of the sharding: [`ParticleState::to_data`] writes all
//! particles in order, a restored state lives on the main device, and the next unroll splits
//! it over the devices at hand. Host problems (exact f64 dynamics) run on the host and are not
//! sharded.

use crate::error::{PesError, Result};
use crate::problems::{ParticleState, UnrolledProblem, Window};
use burn::tensor::{Device, Tensor, TensorData};
use std::ops::Range;

/// An inner problem with its particles sharded over devices of one backend (at least one
/// particle per device).
pub struct Sharded<P> {
    problems: Vec<P>,
    devices: Vec<Device>,
}

/// The particles' states, one part per device (or a single part on the main device, after a
/// restore or [`ParticleState::repeat`], until the next unroll splits it).
#[derive(Debug, Clone)]
pub struct ShardedState<S> {
    parts: Vec<S>,
}

impl<P: UnrolledProblem> Sharded<P> {
    /// `problems[k]` runs on `devices[k]` (the first device is the main one); the copies must
    /// be the same problem, each holding its data on its own device.
    pub fn new(problems: Vec<P>, devices: Vec<Device>) -> Result<Self> {
        if problems.is_empty() || problems.len() != devices.len() {
            return Err(PesError::Config(format!(
                "sharding needs one problem per device ({} problems, {} devices)",
                problems.len(),
                devices.len()
            )));
        }
        if problems.iter().any(|p| p.host().is_some()) {
            return Err(PesError::Config(
                "host problems run in f64 on the host and are not sharded".into(),
            ));
        }
        Ok(Self { problems, devices })
    }

    /// The particle rows of each device for `n` particles.
    pub fn shards(&self, n: usize) -> Vec<Range<usize>> {
        let k = self.devices.len();
        let (q, r) = (n / k, n % k);
        let mut start = 0;
        (0..k)
            .map(|i| {
                let len = q + usize::from(i < r);
                start += len;
                start - len..start
            })
            .collect()
    }

    /// `state` as one part per device, splitting or regrouping when it is held otherwise.
    fn spread(&self, state: ShardedState<P::State>) -> Result<Vec<P::State>> {
        let n = state.particles();
        let shards = self.shards(n);
        let sizes: Vec<usize> = state.parts.iter().map(ParticleState::particles).collect();
        let wanted: Vec<usize> = shards.iter().map(|r| r.len()).collect();
        if sizes == wanted {
            return Ok(state.parts);
        }
        // through the host, in particle order (a restored or repeated state)
        let axes = particle_axes(&state.parts[0]);
        let all = state.to_data();
        shards
            .iter()
            .zip(&self.devices)
            .map(|(rows, device)| {
                let part = all
                    .iter()
                    .zip(&axes)
                    .map(|(t, &axis)| particles_of(t, axis, n, rows.clone()))
                    .collect();
                P::State::from_data(part, device)
            })
            .collect()
    }
}

/// The axis of each of a state's tensors along which its particles lie, in contiguous blocks
/// (the leading one for the RNN; the columns of layer 1 for the MNIST MLP): the axis where
/// two particles' host data differs in shape from one particle's.
fn particle_axes<S: ParticleState>(state: &S) -> Vec<usize> {
    let one = state.particle(0);
    let two = one.repeat(2);
    one.to_data()
        .iter()
        .zip(two.to_data())
        .map(|(a, b)| {
            let differs = a.shape().iter().zip(b.shape().iter()).position(|(x, y)| x != y);
            differs.expect("a particle axis in every tensor of a particle state")
        })
        .collect()
}

/// Particles `rows` of a tensor's host data that holds `n` particles along `axis`.
fn particles_of(data: &TensorData, axis: usize, n: usize, rows: Range<usize>) -> TensorData {
    let mut shape = data.shape().to_vec();
    let bytes = data.as_bytes();
    // one contiguous chunk per index of the axes before `axis`, `n` particle blocks each
    let outer: usize = shape[..axis].iter().product();
    let chunk = (bytes.len() / outer.max(1)).max(1);
    let block = chunk / n;
    let out = bytes
        .chunks(chunk)
        .flat_map(|c| &c[rows.start * block..rows.end * block])
        .copied()
        .collect();
    shape[axis] = shape[axis] / n * rows.len();
    TensorData::from_bytes_vec(out, shape, data.dtype())
}

/// Several tensors' host data joined in order along `axis`.
fn concat(parts: Vec<TensorData>, axis: usize) -> TensorData {
    let mut shape = parts[0].shape().to_vec();
    shape[axis] = parts.iter().map(|p| p.shape()[axis]).sum();
    let outer: usize = shape[..axis].iter().product();
    let bytes: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
    let out = (0..outer)
        .flat_map(|o| {
            bytes.iter().flat_map(move |b| {
                let chunk = b.len() / outer;
                &b[o * chunk..(o + 1) * chunk]
            })
        })
        .copied()
        .collect();
    TensorData::from_bytes_vec(out, shape, parts[0].dtype())
}

impl<S: ParticleState> ParticleState for ShardedState<S> {
    fn particles(&self) -> usize {
        self.parts.iter().map(ParticleState::particles).sum()
    }
    fn repeat(&self, n: usize) -> Self {
        let one = self.parts.iter().find(|p| p.particles() > 0).expect("a particle");
        Self {
            parts: vec![one.particle(0).repeat(n)],
        }
    }
    fn particle(&self, mut i: usize) -> Self {
        for p in &self.parts {
            if i < p.particles() {
                return Self {
                    parts: vec![p.particle(i)],
                };
            }
            i -= p.particles();
        }
        panic!("particle index out of range")
    }
    fn detach(self) -> Self {
        Self {
            parts: self.parts.into_iter().map(ParticleState::detach).collect(),
        }
    }
    fn to_data(&self) -> Vec<TensorData> {
        if let [one] = self.parts.as_slice() {
            return one.to_data();
        }
        let axes = particle_axes(&self.parts[0]);
        let per_part: Vec<Vec<TensorData>> = self.parts.iter().map(ParticleState::to_data).collect();
        axes.iter()
            .enumerate()
            .map(|(t, &axis)| concat(per_part.iter().map(|p| p[t].clone()).collect(), axis))
            .collect()
    }
    fn from_data(data: Vec<TensorData>, device: &Device) -> Result<Self> {
        Ok(Self {
            parts: vec![S::from_data(data, device)?],
        })
    }
}

impl<P> UnrolledProblem for Sharded<P>
where
    P: UnrolledProblem + Sync,
    P::State: Send,
{
    type State = ShardedState<P::State>;

    fn name(&self) -> &'static str {
        self.problems[0].name()
    }
    fn theta_dim(&self) -> usize {
        self.problems[0].theta_dim()
    }
    fn horizon(&self) -> Option<usize> {
        self.problems[0].horizon()
    }
    fn init_state(&self, particles: usize, _device: &Device) -> Self::State {
        assert!(
            particles >= self.devices.len(),
            "{particles} particles cannot be sharded over {} devices",
            self.devices.len()
        );
        let parts = self
            .shards(particles)
            .into_iter()
            .zip(self.problems.iter().zip(&self.devices))
            .map(|(rows, (p, d))| p.init_state(rows.len(), d))
            .collect();
        ShardedState { parts }
    }
    fn unroll(&self, state: Self::State, thetas: Tensor<2>, window: Window) -> (Self::State, Tensor<2>) {
        let main = thetas.device();
        let parts = self
            .spread(state)
            .expect("particle states split over the devices");
        let shards = self.shards(thetas.dims()[0]);
        let results: Vec<(P::State, Tensor<2>)> = std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .into_iter()
                .zip(&shards)
                .zip(self.problems.iter().zip(&self.devices))
                .map(|((part, rows), (problem, device))| {
                    let thetas = thetas.clone().narrow(0, rows.start, rows.len()).to_device(device);
                    s.spawn(move || problem.unroll(part, thetas, window))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let (parts, terms): (Vec<_>, Vec<_>) = results.into_iter().unzip();
        let terms = Tensor::cat(terms.into_iter().map(|t| t.to_device(&main)).collect(), 0);
        (ShardedState { parts }, terms)
    }
}
