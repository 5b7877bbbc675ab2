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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn gaussian_outputs_give_one_over_sqrt_d_and_collapsed_give_zero() {
        let dev = Device::flex();
        dev.seed(3);
        let d = 64;
        let z = Tensor::<2>::random([2048, d], Distribution::Normal(0.0, 1.0), &dev);
        let s = normalized_std(z);
        assert!((s - healthy_std(d)).abs() < 0.01 * healthy_std(d) * 10.0, "{s}");
        // Collapsed: every row the same direction (different scales).
        let row = Tensor::<2>::random([1, d], Distribution::Normal(0.0, 1.0), &dev);
        let scales = Tensor::<2>::random([256, 1], Distribution::Uniform(0.5, 2.0), &dev);
        let s = normalized_std(row.expand([256, d]) * scales);
        assert!(s < 1e-3, "{s}");
    }
}
