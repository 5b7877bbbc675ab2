//! The symmetric BYOL/SimSiam loss (paper Eq. 4 with ℓ2-normalised outputs):
//! `L = −2 cos(p₁, t₂) − 2 cos(p₂, t₁)`, averaged over the batch (minimum −4). Up to a constant
//! it is the normalised squared error `‖p̂ − t̂‖²` of the reference's `regression_loss`.

use burn::tensor::Tensor;

/// Rows scaled to unit ℓ2 norm (`eps` guards zero rows).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Mean cosine similarity of matching rows.
pub fn mean_cosine(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    (l2_normalize(a) * l2_normalize(b)).sum_dim(1).mean()
}

/// `−2 cos(p₁, t₂) − 2 cos(p₂, t₁)`; the targets should already be detached where wanted.
pub fn symmetric_cosine_loss(p1: Tensor<2>, p2: Tensor<2>, t1: Tensor<2>, t2: Tensor<2>) -> Tensor<1> {
    mean_cosine(p1, t2).mul_scalar(-2.0) - mean_cosine(p2, t1).mul_scalar(2.0)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn identical_directions_give_minus_four_and_opposite_plus_four() {
        let d = Device::flex();
        let a = Tensor::<2>::from_floats([[1.0, 2.0], [0.0, -3.0]], &d);
        let l = symmetric_cosine_loss(a.clone(), a.clone(), a.clone().mul_scalar(5.0), a.clone());
        assert!((l.into_scalar::<f32>() + 4.0).abs() < 1e-6);
        let l = symmetric_cosine_loss(a.clone(), a.clone(), a.clone().neg(), a.clone().neg());
        assert!((l.into_scalar::<f32>() - 4.0).abs() < 1e-6);
    }
}
