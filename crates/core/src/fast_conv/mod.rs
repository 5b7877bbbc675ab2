//! A faster conv2d for the `flex` CPU backend, carried as a Burn backend extension until
//! Burn's own kernels catch up.
//!
//! Burn 0.22's flex backend computes the weight gradient of a convolution as another
//! convolution whose kernel is the output gradient (`burn-backend`'s generic
//! `conv2d_weight_backward`), which flex runs with direct loops: on the GloRo and BYOL
//! workloads that was the largest single cost of a training step. Here all three products of a
//! convolution (forward, input gradient, weight gradient) are matrix products with the `gemm`
//! crate ([`kernels`]): im2col + one product per chunk of images, or, for stride-1 layers with
//! large planes, one product per kernel tap on padded planes without im2col. On CPUs with
//! AVX-512 or AVX2 + FMA, the stride-1 forward products with large planes run a
//! register-blocked direct convolution instead ([`direct`], the widest kernel the CPU runs).
//! Strided layers whose kernel sides are multiples of their strides (GloRo's 4 × 4, stride-2
//! downsampling) are rearranged space-to-depth into stride-1 convolutions over `C·s₀·s₁`
//! channels, all three products without im2col (`fast_conv/space_to_depth.rs`).
//! Callers that choose [`Algorithm::Winograd`] get Winograd's F(2×2, 3×3) ([`winograd`]) for
//! their 3 × 3, stride-1, padding-1 layers: 2.25 × fewer multiplications, with rounding that
//! differs from the spatial sums in the last bits. Behind [`conv2d`]:
//!
//! - on a flex device (plain or autodiff) with dilation 1, one group and `f32`, [`conv2d`] runs
//!   these kernels, with a hand-written backward (`fast_conv/autodiff.rs`);
//! - everywhere else (ndarray, wgpu, other dtypes) it is exactly `burn::tensor::module::conv2d`.
//!
//! Tests compare both paths: the kernels against the definition of convolution and their own
//! adjoint identities, and [`conv2d`]'s outputs and gradients against Burn's conv2d.

// The extension has one implementation, flex's (and autodiff over it): without the `flex`
// feature there is nothing to dispatch to and `conv2d` is Burn's conv2d.
#[cfg(feature = "flex")]
mod autodiff;
pub mod direct;
#[cfg(feature = "flex")]
mod flex;
pub mod kernels;
mod space_to_depth;
pub mod winograd;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;
#[cfg(feature = "flex")]
use burn::{
    backend::{Backend, Dispatch, backend_extension, tensor::FloatTensor},
    tensor::{DType, Device},
};

/// The three products of a bias-free convolution, implemented per backend.
#[cfg(feature = "flex")]
#[backend_extension(Flex, Autodiff)]
pub trait GemmConv: Backend {
    /// `conv2d(x, weight)` without bias.
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
        algorithm: Algorithm,
    ) -> FloatTensor<Self>;
    /// Gradient of the convolution with respect to `x` (whose shape it takes from `x`).
    fn gemm_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        algorithm: Algorithm,
    ) -> FloatTensor<Self>;
    /// Gradient of the convolution with respect to `weight`.
    fn gemm_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        algorithm: Algorithm,
    ) -> FloatTensor<Self>;
}

/// How the products of a 3 × 3, stride-1, padding-1 convolution are computed on flex (other
/// layers, and other backends, ignore it).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// Every output the sum of its `C·kh·kw` products in the spatial domain ([`kernels`]).
    #[default]
    Spatial,
    /// Winograd's F(2×2, 3×3) where [`winograd::applies`], the spatial products elsewhere.
    Winograd,
}

/// What the [`kernels`] handle: one group, dilation 1, symmetric padding, `f32`.
#[cfg(feature = "flex")]
fn kernels_support(options: &ConvOptions<2>, dtype: DType) -> bool {
    options.groups == 1 && options.dilation == [1, 1] && !options.is_asymmetric() && dtype == DType::F32
}

/// Whether [`conv2d`] takes the fast path for these operands.
pub fn accelerated(x: &Tensor<4>, options: &ConvOptions<2>) -> bool {
    #[cfg(feature = "flex")]
    {
        kernels_support(options, x.dtype()) && x.device().inner() == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, options);
        false
    }
}

/// 2-D convolution, `x` `[B, C, H, W]`, `weight` `[O, C, kh, kw]`, `bias` `[O]`: the same
/// result and gradients as `burn::tensor::module::conv2d`, faster on flex (module docs); the
/// spatial products ([`Algorithm::Spatial`]).
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    conv2d_with(x, weight, bias, options, Algorithm::Spatial)
}

/// [`conv2d`] with the products of 3 × 3, stride-1, padding-1 layers chosen by `algorithm`.
pub fn conv2d_with(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
    algorithm: Algorithm,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if accelerated(&x, &options) {
        let y = <Dispatch as GemmConv>::gemm_conv2d(
            x.into_dispatch(),
            weight.into_dispatch(),
            options,
            algorithm,
        );
        let y = Tensor::<4>::from_dispatch(y);
        return match bias {
            Some(b) => {
                let o = b.dims()[0];
                y + b.reshape([1, o, 1, 1])
            }
            None => y,
        };
    }
    #[cfg(not(feature = "flex"))]
    let _ = algorithm;
    burn::tensor::module::conv2d(x, weight, bias, options)
}

/// `conv.forward(x)` for a Burn [`Conv2d`] module, through [`conv2d`] when its padding is
/// explicit or valid (`Same` padding goes to the module itself).
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    forward_with(conv, x, Algorithm::Spatial)
}

/// [`forward`] through [`conv2d_with`].
pub fn forward_with(conv: &Conv2d, x: Tensor<4>, algorithm: Algorithm) -> Tensor<4> {
    let pairs = match conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => return conv.forward(x),
    };
    let options = ConvOptions::new_with_padding(conv.stride, pairs, conv.dilation, conv.groups);
    conv2d_with(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
        algorithm,
    )
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn max_rel(a: Tensor<4>, b: Tensor<4>) -> f32 {
        let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

    #[test]
    fn matches_burns_conv2d_values_and_gradients() {
        let ad = Device::flex().autodiff();
        ad.seed(3);
        // (x shape, weight shape, stride, padding)
        let cases = [
            ([4, 1, 28, 28], [16, 1, 4, 4], [2, 2], [1, 1]),
            ([3, 6, 9, 9], [8, 6, 3, 3], [1, 1], [1, 1]),
            ([2, 4, 11, 10], [6, 4, 4, 3], [2, 3], [1, 2]),
            // stride 1 on 256 pixels or more: the implicit products
            ([2, 8, 16, 17], [6, 8, 3, 3], [1, 1], [1, 1]),
        ];
        for (xs, ws, stride, padding) in cases {
            let options = ConvOptions::new(stride, padding, [1, 1], 1);
            let x = Tensor::<4>::random(xs, Distribution::Normal(0.0, 1.0), &ad).require_grad();
            let w = Tensor::<4>::random(ws, Distribution::Normal(0.0, 1.0), &ad).require_grad();
            let b = Tensor::<1>::random([ws[0]], Distribution::Normal(0.0, 1.0), &ad).require_grad();
            assert!(accelerated(&x, &options));
            let probe = Tensor::<4>::random(
                burn::tensor::module::conv2d(x.clone(), w.clone(), None, options.clone()).dims(),
                Distribution::Normal(0.0, 1.0),
                &ad,
            )
            .detach();
            let ours = conv2d(x.clone(), w.clone(), Some(b.clone()), options.clone());
            let plain = burn::tensor::module::conv2d(x.clone(), w.clone(), Some(b.clone()), options);
            assert!(
                max_rel(ours.clone(), plain.clone()) < 1e-5,
                "{xs:?} {ws:?}: values"
            );
            let g1 = (ours * probe.clone()).sum().backward();
            let g2 = (plain * probe).sum().backward();
            let (dx1, dx2) = (x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
            let (dw1, dw2) = (w.grad(&g1).unwrap(), w.grad(&g2).unwrap());
            let (db1, db2) = (b.grad(&g1).unwrap(), b.grad(&g2).unwrap());
            assert!(max_rel(dx1, dx2) < 1e-5, "{xs:?} {ws:?}: input gradient");
            assert!(max_rel(dw1, dw2) < 1e-5, "{xs:?} {ws:?}: weight gradient");
            let db = (db1 - db2.clone()).abs().max().into_scalar::<f32>();
            assert!(
                db < 1e-4 * db2.abs().max().into_scalar::<f32>(),
                "{xs:?}: bias gradient"
            );
        }
    }

    /// `Algorithm::Winograd` reaches the Winograd kernels in all three products (their rounding
    /// differs from the spatial sums'), and they agree with Burn's conv2d; other layers
    /// ignore it.
    #[test]
    fn winograd_is_taken_where_chosen_and_matches_burns_conv2d() {
        let ad = Device::flex().autodiff();
        ad.seed(5);
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let x = Tensor::<4>::random([3, 16, 10, 12], Distribution::Normal(0.0, 1.0), &ad).require_grad();
        let w = Tensor::<4>::random([24, 16, 3, 3], Distribution::Normal(0.0, 1.0), &ad).require_grad();
        let probe = Tensor::<4>::random([3, 24, 10, 12], Distribution::Normal(0.0, 1.0), &ad);
        let run = |algorithm| {
            let y = conv2d_with(x.clone(), w.clone(), None, options.clone(), algorithm);
            let g = (y.clone() * probe.clone()).sum().backward();
            (y.inner(), x.grad(&g).unwrap(), w.grad(&g).unwrap())
        };
        let (y_w, dx_w, dw_w) = run(Algorithm::Winograd);
        let (y_s, dx_s, dw_s) = run(Algorithm::Spatial);
        let y_b = burn::tensor::module::conv2d(x.clone(), w.clone(), None, options.clone());
        let g = (y_b.clone() * probe.clone()).sum().backward();
        let (dx_b, dw_b) = (x.grad(&g).unwrap(), w.grad(&g).unwrap());
        assert!(max_rel(y_w.clone(), y_b.inner()) < 1e-5, "values");
        assert!(max_rel(dx_w.clone(), dx_b) < 1e-5, "input gradient");
        assert!(max_rel(dw_w.clone(), dw_b) < 1e-5, "weight gradient");
        let differs = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_scalar::<f32>() > 0.0;
        assert!(differs(y_w, y_s), "the forward did not take Winograd");
        assert!(differs(dx_w, dx_s), "the input gradient did not take Winograd");
        assert!(differs(dw_w, dw_s), "the weight gradient did not take Winograd");
        // a strided layer is not Winograd's: both choices give the same bits
        let strided = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        let a = conv2d_with(x.clone(), w.clone(), None, strided.clone(), Algorithm::Winograd);
        let b = conv2d_with(x, w, None, strided, Algorithm::Spatial);
        assert!(!differs(a, b));
    }

    #[test]
    fn only_the_needed_gradients_and_plain_devices_work() {
        let ad = Device::flex().autodiff();
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        // constant input, trained weight (the first layer of a network)
        let x = Tensor::<4>::random([2, 3, 5, 5], Distribution::Default, &ad);
        let w = Tensor::<4>::random([4, 3, 3, 3], Distribution::Default, &ad).require_grad();
        let g = conv2d(x.clone(), w.clone(), None, options.clone())
            .sum()
            .backward();
        assert!(w.grad(&g).is_some() && x.grad(&g).is_none());
        // no autodiff at all
        let d = Device::flex();
        let y = conv2d(x.clone().inner(), w.clone().inner(), None, options.clone());
        let z = burn::tensor::module::conv2d(x.inner(), w.inner(), None, options);
        assert!(max_rel(y, z) < 1e-5);
        let _ = d;
    }

    #[test]
    fn module_forward_matches_the_module() {
        let d = Device::flex();
        let conv = burn::nn::conv::Conv2dConfig::new([3, 5], [3, 3])
            .with_stride([2, 2])
            .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&d);
        let x = Tensor::<4>::random([4, 3, 9, 9], Distribution::Default, &d);
        assert!(max_rel(forward(&conv, x.clone()), conv.forward(x)) < 1e-5);
    }
}
