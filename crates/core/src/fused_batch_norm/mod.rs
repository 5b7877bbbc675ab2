//! Training-mode batch norm (Ioffe & Szegedy 2015, Alg. 1 and its backward) as one pass for
//! the statistics and one for the output, forward and backward, as a backend extension.
//!
//! Burn 0.22's default `batch_norm_train` (which flex uses) reduces over the batch by swapping
//! the batch and channel axes and copying the tensor contiguous, once for the mean, once for the
//! variance, and twice more in the backward. On the ResNet-18 of BYOL those copies were about a
//! tenth of a training step. Here each channel's statistics are summed where the values lie
//! (`[B, C, S]`, `S` the trailing positions), in `f64`, and the output and gradients are
//! written in one parallel pass:
//!
//! - mean `μ_c = Σ x / M` and biased variance `σ²_c = Σ (x − μ_c)² / M` over the `M = B·S`
//!   values of channel `c`; `y = γ_c (x − μ_c) / √(σ²_c + ε) + β_c`;
//! - backward, with `x̂ = (x − μ_c)/√(σ²_c + ε)`: `∂β_c = Σ dy`, `∂γ_c = Σ dy·x̂`,
//!   `∂x = γ_c / √(σ²_c + ε) · (dy − ∂β_c / M − x̂ · ∂γ_c / M)`.
//!
//! [`forward`] replaces `BatchNorm::forward` for a Burn [`BatchNorm`] module: on a flex
//! autodiff device in training mode with `f32` values it runs the fused path and updates the
//! running statistics exactly as Burn does (momentum on the biased batch variance); everywhere
//! else it is `BatchNorm::forward`. Tests compare outputs, running statistics and all three
//! gradients with Burn's.

#[cfg(feature = "flex")]
mod autodiff;
#[cfg(feature = "flex")]
mod flex;
pub mod kernels;

use burn::nn::BatchNorm;
use burn::tensor::Tensor;
#[cfg(feature = "flex")]
use burn::{
    backend::{Backend, Dispatch, backend_extension, tensor::FloatTensor},
    tensor::{DType, Device},
};

/// Training-mode batch norm, implemented per backend.
#[cfg(feature = "flex")]
#[backend_extension(Flex, Autodiff)]
pub trait FusedBatchNorm: Backend {
    /// `(y, mean, biased variance)` of `x` `[B, C, …]` normalised per channel with `gamma`
    /// and `beta` `[C]`; the statistics are `[C]` and carry no gradient.
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// `(∂x, ∂gamma, ∂beta)` for the output gradient `grad`, given the statistics the forward
    /// returned.
    fn fused_batch_norm_train_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Whether [`forward`] takes the fused path: the training path of `bn` (an autodiff device and
/// training enabled, as `BatchNorm::forward` decides) on a flex device with `f32` values.
fn fused<const D: usize>(bn: &BatchNorm, x: &Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    {
        let device = x.device();
        device.is_autodiff()
            && bn.training.is_enabled()
            && x.dtype() == DType::F32
            && device.inner() == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (bn, x);
        false
    }
}

/// `bn.forward(x)`: the same outputs, gradients and running-statistics update, faster on flex
/// in training mode (module docs).
pub fn forward<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    if !fused(bn, &x) {
        return bn.forward(x);
    }
    #[cfg(feature = "flex")]
    {
        let device = x.device();
        let (y, mean, variance) = <Dispatch as FusedBatchNorm>::fused_batch_norm_train(
            x.into_dispatch(),
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
            bn.epsilon,
        );
        let (mean, variance) = (
            Tensor::<1>::from_dispatch(mean),
            Tensor::<1>::from_dispatch(variance),
        );
        let m = bn.momentum;
        let running_mean = bn.running_mean.value_sync().to_device(&device);
        let running_var = bn.running_var.value_sync().to_device(&device);
        let running_mean = running_mean.mul_scalar(1.0 - m).add(mean.detach().mul_scalar(m));
        let running_var = running_var
            .mul_scalar(1.0 - m)
            .add(variance.detach().mul_scalar(m));
        bn.running_mean.update(running_mean.detach());
        bn.running_var.update(running_var.detach());
        Tensor::<D>::from_dispatch(y)
    }
    #[cfg(not(feature = "flex"))]
    unreachable!("the fused path needs the flex backend")
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    fn max_rel<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

    fn check<const D: usize>(shape: [usize; D]) {
        let ad = Device::flex().autodiff();
        ad.seed(5);
        let c = shape[1];
        let mut ours = BatchNormConfig::new(c).init(&ad);
        // non-trivial affine parameters
        ours.gamma = ours
            .gamma
            .map(|g| g.random_like(Distribution::Normal(1.0, 0.5)).require_grad());
        ours.beta = ours
            .beta
            .map(|b| b.random_like(Distribution::Normal(0.0, 0.5)).require_grad());
        // a separate module with the same parameters (clones would share running statistics)
        let mut plain = BatchNormConfig::new(c).init(&ad);
        plain.gamma = plain.gamma.map(|_| ours.gamma.val().detach().require_grad());
        plain.beta = plain.beta.map(|_| ours.beta.val().detach().require_grad());
        // an offset mean, so that a mean-free shortcut would fail
        let x = (Tensor::<D>::random(shape, Distribution::Normal(0.0, 2.0), &ad) + 3.0).require_grad();
        let probe = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &ad).detach();
        assert!(fused(&ours, &x));
        let (y1, y2) = (forward(&ours, x.clone()), plain.forward(x.clone()));
        assert!(max_rel(y1.clone(), y2.clone()) < 1e-5, "{shape:?}: outputs");
        let g1 = (y1 * probe.clone()).sum().backward();
        let g2 = (y2 * probe).sum().backward();
        assert!(
            max_rel(x.grad(&g1).unwrap(), x.grad(&g2).unwrap()) < 1e-4,
            "{shape:?}: ∂x"
        );
        let gamma = |bn: &BatchNorm, g| bn.gamma.val().grad(g).unwrap();
        let beta = |bn: &BatchNorm, g| bn.beta.val().grad(g).unwrap();
        assert!(
            max_rel(gamma(&ours, &g1), gamma(&plain, &g2)) < 1e-4,
            "{shape:?}: ∂γ"
        );
        assert!(
            max_rel(beta(&ours, &g1), beta(&plain, &g2)) < 1e-4,
            "{shape:?}: ∂β"
        );
        let mean = |bn: &BatchNorm| bn.running_mean.value_sync();
        let var = |bn: &BatchNorm| bn.running_var.value_sync();
        assert!(
            max_rel(mean(&ours), mean(&plain)) < 1e-5,
            "{shape:?}: running mean"
        );
        assert!(
            max_rel(var(&ours), var(&plain)) < 1e-5,
            "{shape:?}: running variance"
        );
    }

    #[test]
    fn matches_burns_batch_norm_values_gradients_and_running_statistics() {
        check([6, 5, 7, 3]);
        check([64, 16, 4, 4]);
        check([9, 12]);
    }

    #[test]
    fn inference_and_other_devices_take_burns_path() {
        let ad = Device::flex().autodiff();
        let bn = BatchNormConfig::new(3).init(&ad);
        let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Default, &ad);
        assert!(fused(&bn, &x));
        assert!(!fused(&bn, &x.clone().inner()), "no autodiff: inference");
        let valid = BatchNormConfig::new(3).init(&Device::flex());
        assert!(!fused(&valid, &x.inner()));
    }
}
