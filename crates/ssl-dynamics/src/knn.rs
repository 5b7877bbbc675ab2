//! k-nearest-neighbour monitor on frozen features (cosine similarity, `k = 200`, votes
//! weighted by `exp(sim / 0.1)`, as in the InstDisc/SimSiam monitors).

use crate::loss::l2_normalize;
use crate::probe::Features;
use burn::tensor::{Device, Tensor, TensorData};

/// Accuracy of a weighted kNN classifier of `test` rows against `train` rows.
pub fn knn_accuracy(train: &Features, test: &Features, classes: usize, k: usize, device: &Device) -> f64 {
    let (train_labels, test_labels, dim) = (&train.labels, &test.labels, train.dim);
    let (train, test) = (&train.values, &test.values);
    let (n_tr, n_te) = (train_labels.len(), test_labels.len());
    if n_tr == 0 || n_te == 0 {
        return 0.0;
    }
    let k = k.min(n_tr);
    let tr = l2_normalize(Tensor::<2>::from_data(
        TensorData::new(train.to_vec(), [n_tr, dim]),
        device,
    ));
    let mut correct = 0usize;
    for (start, chunk) in test.chunks(512 * dim).enumerate() {
        let m = chunk.len() / dim;
        let te = l2_normalize(Tensor::<2>::from_data(
            TensorData::new(chunk.to_vec(), [m, dim]),
            device,
        ));
        let sim = te.matmul(tr.clone().transpose()); // [m, n_tr]
        let (vals, idx) = sim.topk_with_indices(k, 1);
        let vals: Vec<f32> = vals
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let idx: Vec<i64> = idx
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap_or_default();
        for i in 0..m {
            let mut votes = vec![0f64; classes];
            for j in 0..k {
                let nb = idx[i * k + j] as usize;
                votes[train_labels[nb] as usize] += (vals[i * k + j] as f64 / 0.1).exp();
            }
            let pred = (0..classes)
                .max_by(|&a, &b| votes[a].total_cmp(&votes[b]))
                .unwrap_or(0);
            if pred == test_labels[start * 512 + i] as usize {
                correct += 1;
            }
        }
    }
    correct as f64 / n_te as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_separates_two_directions() {
        let d = Device::flex();
        let train = Features {
            values: vec![1.0, 0.1, 0.9, -0.1, -0.1, 1.0, 0.1, 0.8],
            labels: vec![0, 0, 1, 1],
            dim: 2,
        };
        let test = Features {
            values: vec![0.7, 0.0, 0.0, 0.5],
            labels: vec![0, 1],
            dim: 2,
        };
        let acc = knn_accuracy(&train, &test, 2, 2, &d);
        assert_eq!(acc, 1.0);
    }
}
