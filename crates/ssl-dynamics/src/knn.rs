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

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The monitor written out in `f64`: cosine similarity to every training row, the `k` most
    /// similar, votes `exp(sim / 0.1)`.
    fn reference(train: &Features, test: &Features, classes: usize, k: usize) -> usize {
        let unit = |r: &[f32]| {
            let n = r.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            r.iter().map(|&x| x as f64 / n).collect::<Vec<f64>>()
        };
        let tr: Vec<Vec<f64>> = train.values.chunks(train.dim).map(unit).collect();
        let mut correct = 0;
        for (row, &label) in test.values.chunks(test.dim).zip(&test.labels) {
            let q = unit(row);
            let mut sims: Vec<(f64, u8)> = tr
                .iter()
                .zip(&train.labels)
                .map(|(t, &l)| (t.iter().zip(&q).map(|(a, b)| a * b).sum(), l))
                .collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut votes = vec![0f64; classes];
            for &(s, l) in &sims[..k] {
                votes[l as usize] += (s / 0.1).exp();
            }
            let pred = (0..classes)
                .max_by(|&a, &b| votes[a].total_cmp(&votes[b]))
                .unwrap();
            correct += usize::from(pred == label as usize);
        }
        correct
    }

    /// Three overlapping classes around random directions in 8-d, rows scaled by random norms
    /// in [0.1, 10] (cosine similarity ignores them).
    fn clusters(n: usize, rng: &mut rand::rngs::StdRng, centres: &[Vec<f32>]) -> Features {
        let dim = centres[0].len();
        let mut values = vec![];
        let mut labels = vec![];
        for i in 0..n {
            let c = i % centres.len();
            let norm = rng.random_range(0.1f32..10.0);
            values.extend(
                centres[c]
                    .iter()
                    .map(|&m| norm * (m + rng.random_range(-1.2f32..1.2))),
            );
            labels.push(c as u8);
        }
        Features { values, labels, dim }
    }

    #[test]
    fn knn_matches_a_brute_force_reference_across_chunks() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let centres: Vec<Vec<f32>> = (0..3)
            .map(|_| (0..8).map(|_| rng.random_range(-1.0f32..1.0)).collect())
            .collect();
        let train = clusters(300, &mut rng, &centres);
        // 700 test rows: the monitor works in chunks of 512, so both chunks are checked.
        let test = clusters(700, &mut rng, &centres);
        let acc = knn_accuracy(&train, &test, 3, 20, &Device::flex());
        let want = reference(&train, &test, 3, 20);
        assert_eq!((acc * 700.0).round() as usize, want, "accuracy {acc}");
        // Neither trivial nor hopeless, so mistakes of either kind would show.
        assert!((350..665).contains(&want), "{want} of 700 correct");
    }

    #[test]
    fn votes_are_weighted_by_similarity() {
        // Query (1, 0): its 5 nearest are two of class 0 at ±0.1 rad (cos 0.995) and three of
        // class 1 at about 0.6 rad (cos ≈ 0.82). Votes 2·e^9.95 ≈ 4.2e4 against 3·e^8.2 ≈ 1.1e4:
        // class 0, although a plain majority of the 5 says class 1.
        let at = |a: f32, r: f32| [r * a.cos(), r * a.sin()];
        let points = [
            (0.1, 0),
            (-0.1, 0),
            (0.6, 1),
            (-0.6, 1),
            (0.65, 1),
            (3.1, 1),
            (-3.1, 1),
        ];
        let mut values = vec![];
        for (i, (a, _)) in points.iter().enumerate() {
            values.extend(at(*a, 1.0 + i as f32));
        }
        let train = Features {
            values,
            labels: points.iter().map(|p| p.1).collect(),
            dim: 2,
        };
        let test = Features {
            values: [at(0.0, 2.0), at(3.0, 0.5)].concat(),
            labels: vec![0, 1],
            dim: 2,
        };
        assert_eq!(reference(&train, &test, 2, 5), 2);
        assert_eq!(knn_accuracy(&train, &test, 2, 5, &Device::flex()), 1.0);
    }
}
