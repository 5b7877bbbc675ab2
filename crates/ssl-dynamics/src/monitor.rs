//! Collapse monitor (paper Sec. 6; SimSiam's "std of ℓ2-normalised output"): the standard
//! deviation over the batch of each coordinate of `z / ‖z‖`, averaged over coordinates.
//! About `1/√d` for outputs spread over the sphere, about 0 when all outputs coincide.

use crate::loss::l2_normalize;
use burn::tensor::Tensor;

/// Mean over coordinates of the batch standard deviation of the ℓ2-normalised rows of `z`.
pub fn normalized_std(z: Tensor<2>) -> f64 {
    let [b, _] = z.dims();
    let n = l2_normalize(z.detach());
    let mean = n.clone().mean_dim(0);
    let var = (n - mean).square().sum_dim(0).div_scalar((b.max(2) - 1) as f64);
    var.sqrt().mean().into_scalar::<f32>() as f64
}

/// The healthy reference value `1/√d`.
pub fn healthy_std(d: usize) -> f64 {
    1.0 / (d as f64).sqrt()
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn gaussian_outputs_give_one_over_sqrt_d() {
        // Each coordinate of z/‖z‖ has mean 0 and variance exactly 1/d; the batch std of one
        // coordinate has a relative standard error of 1/√(2(n−1)) ≈ 1.6 % (n = 2048), and the
        // mean over d = 64 nearly independent coordinates ≈ 0.2 %. Tolerance: 1 % (5 SE).
        let dev = Device::flex();
        dev.seed(3);
        let (n, d) = (2048, 64);
        let z = Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &dev);
        // Scaling rows changes nothing: the monitor normalises them first.
        let scales = Tensor::<2>::random([n, 1], Distribution::Uniform(0.1, 10.0), &dev);
        let s = normalized_std(z * scales);
        let rel = (s - healthy_std(d)).abs() / healthy_std(d);
        assert!(
            rel < 0.01,
            "{s} vs 1/√d = {}: {:.2} %",
            healthy_std(d),
            100.0 * rel
        );
    }

    #[test]
    fn collapsed_outputs_give_zero_and_two_antipodal_points_give_the_exact_value() {
        let dev = Device::flex();
        dev.seed(4);
        let d = 16;
        // Collapsed: every row the same direction (different scales).
        let row = Tensor::<2>::random([1, d], Distribution::Normal(0.0, 1.0), &dev);
        let scales = Tensor::<2>::random([256, 1], Distribution::Uniform(0.5, 2.0), &dev);
        let s = normalized_std(row.expand([256, d]) * scales);
        assert!(s < 1e-3, "{s}");
        // Rows ±c·e₀ (alternating signs, c > 0): coordinate 0 has batch std √(n/(n−1)), the
        // others 0, so the monitor is √(n/(n−1))/d: the std is over the batch, per coordinate,
        // then averaged over coordinates.
        let n = 256;
        let mut rows = vec![0f32; n * d];
        for i in 0..n {
            rows[i * d] = if i % 2 == 0 { 0.5 + i as f32 } else { -3.0 };
        }
        let z = Tensor::<2>::from_data(burn::tensor::TensorData::new(rows, [n, d]), &dev);
        let expect = (n as f64 / (n - 1) as f64).sqrt() / d as f64;
        let s = normalized_std(z);
        assert!((s - expect).abs() < 1e-6, "{s} vs {expect}");
    }
}
