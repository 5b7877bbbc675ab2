//! The MinMax activation (Anil et al. 2019) as one fused operation on the flex backend,
//! carried as a Burn backend extension.
//!
//! Channels `(2k, 2k+1)` of `x` `[B, C, …]` become `(min, max)` of the pair. Written with
//! Burn's tensor ops this is two slices, a `min_pair`, a `max_pair` and a concatenation, with
//! as many passes again in the backward; here the forward is one pass over `x` and the
//! backward one pass over `x` and the output gradient (routing each gradient to the input
//! that won). On other backends [`minmax`] is exactly that composition of Burn ops.

// The extension has one implementation, flex's (and autodiff over it): without the `flex`
// feature there is nothing to dispatch to and `minmax` is `minmax_reference`.
#[cfg(feature = "flex")]
mod autodiff;
#[cfg(feature = "flex")]
mod flex;

use burn::tensor::Tensor;
#[cfg(feature = "flex")]
use burn::{
    backend::{Backend, Dispatch, backend_extension, tensor::FloatTensor},
    tensor::{DType, Device},
};

/// MinMax over memory blocks of `2·half` values: the first `half` of each block pair with the
/// second `half`.
#[cfg(feature = "flex")]
#[backend_extension(Flex, Autodiff)]
pub trait FusedMinMax: Backend {
    /// Each block `[a, b]` (two runs of `half` values) becomes `[min(a, b), max(a, b)]`.
    fn fused_minmax(x: FloatTensor<Self>, half: usize) -> FloatTensor<Self>;
    /// Gradient with respect to `x` of [`Self::fused_minmax`] for the output gradient `grad`:
    /// `min`'s gradient goes to the smaller input (the first on ties), `max`'s to the other.
    fn fused_minmax_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>, half: usize)
    -> FloatTensor<Self>;
}

/// Whether [`minmax`] takes the fused path: `f32` on a flex device (plain or autodiff).
#[cfg(feature = "flex")]
fn accelerated<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && x.device().inner() == Device::flex()
}

/// MinMax with Burn's tensor operations: the definition, and the path off flex.
pub fn minmax_reference<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let dims = x.dims();
    let c = dims[1];
    let rest: usize = dims[2..].iter().product();
    let pairs = x.reshape([dims[0], c / 2, 2, rest]);
    let a = pairs.clone().narrow(2, 0, 1);
    let b = pairs.narrow(2, 1, 1);
    let lo = a.clone().min_pair(b.clone());
    let hi = a.max_pair(b);
    Tensor::cat(vec![lo, hi], 2).reshape(dims)
}

/// `[B, C, …]` → `[B, C, …]`: output channel `2k` = min, `2k+1` = max of inputs `2k, 2k+1`.
/// Panics on an odd channel count.
pub fn minmax<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let dims = x.dims();
    let c = dims[1];
    assert!(
        c.is_multiple_of(2),
        "MinMax needs an even number of channels, got {c}"
    );
    #[cfg(feature = "flex")]
    if accelerated(&x) {
        let half: usize = dims[2..].iter().product();
        return Tensor::from_dispatch(<Dispatch as FusedMinMax>::fused_minmax(x.into_dispatch(), half));
    }
    minmax_reference(x)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn matches_the_composition_of_burn_ops_with_gradients() {
        let ad = Device::flex().autodiff();
        ad.seed(5);
        let x = Tensor::<4>::random([3, 6, 4, 5], Distribution::Normal(0.0, 1.0), &ad).require_grad();
        let probe = Tensor::<4>::random([3, 6, 4, 5], Distribution::Normal(0.0, 1.0), &ad).detach();
        let ours = minmax(x.clone());
        let plain = minmax_reference(x.clone());
        assert_eq!(ours.to_data(), plain.to_data());
        let g1 = x.grad(&(ours * probe.clone()).sum().backward()).unwrap();
        let g2 = x.grad(&(plain * probe).sum().backward()).unwrap();
        assert_eq!(g1.to_data(), g2.to_data());
        // 2-D (dense) layout and a plain device
        let v = Tensor::<2>::from_floats([[3.0, 1.0, -1.0, 2.0]], &Device::flex());
        let out = minmax(v).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(out, vec![1.0, 3.0, -1.0, 2.0]);
    }

    #[test]
    fn ties_send_each_gradient_to_one_input() {
        let ad = Device::flex().autodiff();
        let x = Tensor::<2>::from_floats([[2.0, 2.0]], &ad).require_grad();
        let w = Tensor::<2>::from_floats([[10.0, 1.0]], &ad);
        let g = x.grad(&(minmax(x.clone()) * w).sum().backward()).unwrap();
        let g = g.into_data().try_to_vec::<f32>().unwrap();
        // the gradient is conserved: 10 + 1 in total, one share per input
        assert_eq!(g.iter().sum::<f32>(), 11.0);
        assert!(g.contains(&10.0) && g.contains(&1.0), "{g:?}");
    }
}
