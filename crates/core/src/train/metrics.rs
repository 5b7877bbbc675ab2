//! Metrics: classification accuracy and running means.

use burn::tensor::{Int, Tensor};

/// Number of rows whose argmax equals the target.
pub fn correct(logits: Tensor<2>, targets: Tensor<1, Int>) -> usize {
    let pred = logits.argmax(1).squeeze_dim::<1>(1);
    pred.equal(targets).int().sum().into_scalar::<i64>() as usize
}

/// Fraction of rows whose argmax equals the target.
pub fn accuracy(logits: Tensor<2>, targets: Tensor<1, Int>) -> f64 {
    let n = targets.dims()[0];
    correct(logits, targets) as f64 / n.max(1) as f64
}

/// A running mean, weighted by counts (e.g. a loss averaged over batches of unequal size).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Mean {
    /// Sum of `value · weight`.
    pub sum: f64,
    /// Sum of the weights.
    pub count: f64,
}

impl Mean {
    /// Adds `value` with weight `weight`.
    pub fn add(&mut self, value: f64, weight: f64) {
        self.sum += value * weight;
        self.count += weight;
    }

    /// The mean so far (0 before any value).
    pub fn value(&self) -> f64 {
        if self.count == 0.0 {
            0.0
        } else {
            self.sum / self.count
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn accuracy_counts_argmax_hits() {
        let d = Device::flex();
        let logits = Tensor::<2>::from_floats([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], &d);
        let targets = Tensor::<1, Int>::from_data(TensorData::from([1i64, 1, 1]), &d);
        assert_eq!(correct(logits.clone(), targets.clone()), 2);
        assert!((accuracy(logits, targets) - 2.0 / 3.0).abs() < 1e-12);
        let mut m = Mean::default();
        m.add(1.0, 1.0);
        m.add(4.0, 3.0);
        assert_eq!(m.value(), 13.0 / 4.0);
    }
}
