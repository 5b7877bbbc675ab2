//! Minibatches of the MNIST schedule problem: random batches of a dataset drawn from
//! `(seed, episode, t)`, or the benchmark's fixed synthetic batches.

use super::model::{CLASSES, INPUT};
use crate::noise::mix;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Where minibatches come from.
#[derive(Debug, Clone)]
pub enum Batches {
    /// Random batches of a dataset, drawn from `(seed, episode, t)`: every particle, and
    /// every estimator, sees the same sequence within an episode.
    Sampled {
        /// Normalised images, `n × 784`.
        images: Vec<f32>,
        /// Labels `0..10`, one per image.
        labels: Vec<u8>,
        /// Seed of the batch sequence.
        seed: u64,
    },
    /// Fixed batches, batch `t mod len` at step `t` (the benchmark's synthetic data).
    Fixed {
        /// Images of each batch, `B × 784` each.
        images: Vec<Vec<f32>>,
        /// Labels of each batch.
        labels: Vec<Vec<u8>>,
    },
}

/// One minibatch on the device: `x [B, 784]`, one-hot targets `[1, B, 10]`.
pub struct Batch {
    /// Inputs `[B, 784]`.
    pub x: Tensor<2>,
    /// One-hot targets `[1, B, 10]`.
    pub onehot: Tensor<3>,
}

impl Batches {
    /// The batch of `size` images at step `t` of `episode`; `stream` 0 is the training
    /// batch, 1 the fresh objective batch of the same step.
    pub fn batch(&self, size: usize, episode: u64, t: usize, stream: u64, device: &Device) -> Batch {
        let (x, labels): (Vec<f32>, Vec<u8>) = match self {
            Batches::Fixed { images, labels } => {
                let i = t % images.len();
                (images[i].clone(), labels[i].clone())
            }
            Batches::Sampled { images, labels, seed } => {
                let n = labels.len();
                let key = mix(mix(*seed, episode), (t as u64) * 2 + stream);
                let mut rng = StdRng::seed_from_u64(key);
                let idx = rand::seq::index::sample(&mut rng, n, size.min(n));
                let mut x = Vec::with_capacity(size * INPUT);
                let mut y = Vec::with_capacity(size);
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
}
