//! One step of SGD with heavy-ball momentum as one pass over memory on the flex backend,
//! carried as a Burn backend extension.
//!
//! `m' = μ·m + g`, `p' = p − η ⊙ m'`, with a step size `η` that may differ per block of
//! values (PES's inner problem gives every particle its own learning rate). Written with
//! Burn's tensor ops this is four passes (scale, add, multiply, subtract), each reading and
//! writing whole tensors; when the tensors do not fit in cache (PES's layer-1 weights of 100
//! particles are 31 MB) the step is bound by that memory traffic. Here each value of `p`, `m`
//! and `g` is read once and `p'`, `m'` written once, in place when `p` and `m` are not shared.
//! Off flex, and for step sizes that do not broadcast as one contiguous run of dimensions,
//! [`momentum_step`] is exactly [`momentum_step_reference`]. The arithmetic and its order are
//! the same on both paths (no fused multiply-add), so they agree bit for bit.
//!
//! When the gradient is a product, as a layer's weight gradient `xᵀ · δ` is,
//! [`momentum_step_product`] accumulates the product straight into the momentum
//! (`m' = μ·m + xᵀ·δ` as one `gemm` call), so the gradient is never stored: on flex every new
//! tensor is allocated zeroed and then copied to an aligned buffer, on one thread, and for PES's
//! 31 MB layer-1 gradient that and the extra pass cost more than the product's own writes.

#[cfg(feature = "flex")]
mod flex;

use burn::tensor::Tensor;
#[cfg(feature = "flex")]
use burn::{
    backend::{Backend, Dispatch, backend_extension, tensor::FloatTensor},
    tensor::{DType, Device},
};

/// The momentum step on flat `f32` storage.
#[cfg(feature = "flex")]
#[backend_extension(Flex)]
pub trait FusedMomentum: Backend {
    /// `(p', m')` for `param`, `momentum` and `grad` of one shape and step sizes `lr` laid out
    /// by [`StepSizes`]: value `k` takes `lr[(k / repeat) % lr.len()]`.
    fn fused_momentum_step(
        param: FloatTensor<Self>,
        momentum: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        lr: FloatTensor<Self>,
        mu: f32,
        repeat: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// As [`Self::fused_momentum_step`] with the gradient given as the product `lhs · rhs`
    /// (`[r, k] · [k, c]`, `param` `[r, c]`): the product is accumulated into the momentum's
    /// storage, `m' = μ m + lhs · rhs`, so the gradient is never stored.
    fn fused_momentum_product_step(
        param: FloatTensor<Self>,
        momentum: FloatTensor<Self>,
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        lr: FloatTensor<Self>,
        mu: f32,
        repeat: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// How step sizes of shape `lr` broadcast over values of shape `param` in row-major order:
/// `lr`'s dimensions other than 1 must be one contiguous run equal to `param`'s there; each of
/// its values then covers `repeat` consecutive values, and the sequence restarts after
/// `lr.len()` of them. `None` for any other broadcast.
pub fn step_sizes(param: &[usize], lr: &[usize]) -> Option<StepSizes> {
    if param.len() != lr.len() {
        return None;
    }
    let wide: Vec<usize> = (0..lr.len()).filter(|&i| lr[i] != 1).collect();
    let (first, last) = match (wide.first(), wide.last()) {
        (Some(&f), Some(&l)) => (f, l),
        _ => {
            return Some(StepSizes {
                repeat: param.iter().product(),
                len: 1,
            });
        }
    };
    if (first..=last).any(|i| lr[i] != param[i]) {
        return None;
    }
    Some(StepSizes {
        repeat: param[last + 1..].iter().product(),
        len: lr.iter().product(),
    })
}

/// The layout [`step_sizes`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepSizes {
    /// Consecutive values sharing one step size.
    pub repeat: usize,
    /// Step sizes before the sequence restarts.
    pub len: usize,
}

/// One momentum step with Burn's tensor operations: the definition, and the path off flex.
pub fn momentum_step_reference<const D: usize>(
    param: Tensor<D>,
    momentum: Tensor<D>,
    grad: Tensor<D>,
    lr: Tensor<D>,
    mu: f64,
) -> (Tensor<D>, Tensor<D>) {
    let momentum = momentum * mu + grad;
    (param - momentum.clone() * lr, momentum)
}

/// `(p − η ⊙ (μ m + g), μ m + g)`, `lr` broadcasting over `param` as in Burn's elementwise ops.
pub fn momentum_step<const D: usize>(
    param: Tensor<D>,
    momentum: Tensor<D>,
    grad: Tensor<D>,
    lr: Tensor<D>,
    mu: f64,
) -> (Tensor<D>, Tensor<D>) {
    #[cfg(feature = "flex")]
    {
        let flex = Device::flex();
        let all_f32 = [&param, &momentum, &grad, &lr]
            .iter()
            .all(|t| t.dtype() == DType::F32);
        let same = param.dims() == momentum.dims() && param.dims() == grad.dims();
        let on_flex = param.device() == flex;
        if let (true, true, true, Some(s)) = (all_f32, same, on_flex, step_sizes(&param.dims(), &lr.dims())) {
            let (p, m) = <Dispatch as FusedMomentum>::fused_momentum_step(
                param.into_dispatch(),
                momentum.into_dispatch(),
                grad.into_dispatch(),
                lr.into_dispatch(),
                mu as f32,
                s.repeat,
            );
            return (Tensor::from_dispatch(p), Tensor::from_dispatch(m));
        }
    }
    momentum_step_reference(param, momentum, grad, lr, mu)
}

/// [`momentum_step`] with the gradient given as the product `lhs · rhs` of two matrices, as a
/// layer's weight gradient is (`xᵀ · δ`). On flex the product is accumulated straight into the
/// momentum (`gemm` with the old momentum scaled by μ), so the gradient, as large as the
/// parameter, is never allocated, written or read back. The product's rounding then differs
/// from [`momentum_step`]'s on `lhs.matmul(rhs)` (μ·m is added inside the product's last
/// rounding): the two agree to rounding, not bit for bit. Off flex, or for step sizes that do
/// not broadcast as one run, it is exactly [`momentum_step`] on `lhs.matmul(rhs)`.
pub fn momentum_step_product(
    param: Tensor<2>,
    momentum: Tensor<2>,
    lhs: Tensor<2>,
    rhs: Tensor<2>,
    lr: Tensor<2>,
    mu: f64,
) -> (Tensor<2>, Tensor<2>) {
    let [r, k] = lhs.dims();
    let [k2, c] = rhs.dims();
    assert!(
        k == k2 && param.dims() == [r, c] && momentum.dims() == [r, c],
        "momentum step from a product: lhs {:?} · rhs {:?} must be the parameter's {:?}",
        lhs.dims(),
        rhs.dims(),
        param.dims()
    );
    #[cfg(feature = "flex")]
    {
        let flex = Device::flex();
        let all_f32 = [&param, &momentum, &lhs, &rhs, &lr]
            .iter()
            .all(|t| t.dtype() == DType::F32);
        let on_flex = param.device() == flex;
        if let (true, true, Some(s)) = (all_f32, on_flex, step_sizes(&param.dims(), &lr.dims())) {
            let (p, m) = <Dispatch as FusedMomentum>::fused_momentum_product_step(
                param.into_dispatch(),
                momentum.into_dispatch(),
                lhs.into_dispatch(),
                rhs.into_dispatch(),
                lr.into_dispatch(),
                mu as f32,
                s.repeat,
            );
            return (Tensor::from_dispatch(p), Tensor::from_dispatch(m));
        }
    }
    momentum_step(param, momentum, lhs.matmul(rhs), lr, mu)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn random<const D: usize>(dims: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(dims, Distribution::Normal(0.0, 1.0), device)
    }

    fn check<const D: usize>(dims: [usize; D], lr_dims: [usize; D]) {
        let d = Device::flex();
        d.seed(3);
        let (p, m, g) = (random(dims, &d), random(dims, &d), random(dims, &d));
        let lr = random(lr_dims, &d).abs() * 0.1;
        let (p1, m1) = momentum_step(p.clone(), m.clone(), g.clone(), lr.clone(), 0.9);
        let (p2, m2) = momentum_step_reference(p, m, g, lr, 0.9);
        assert_eq!(p1.into_data(), p2.into_data(), "parameters, lr {lr_dims:?}");
        assert_eq!(m1.into_data(), m2.into_data(), "momentum, lr {lr_dims:?}");
    }

    #[test]
    fn matches_burns_ops_for_every_step_size_layout() {
        // per column (PES layer 1: [784, particles·hidden] with [1, particles·hidden])
        check([7, 12], [1, 12]);
        // per leading block (PES layers 2, 3: [particles, h, h'] with [particles, 1, 1])
        check([5, 3, 4], [5, 1, 1]);
        // a middle run, a scalar, and every value its own
        check([2, 3, 4], [1, 3, 1]);
        check([2, 3, 4], [1, 1, 1]);
        check([2, 3, 4], [2, 3, 4]);
        // not one run: the reference path
        check([2, 3, 4], [2, 1, 4]);
    }

    /// The product form against the reference on the explicit gradient, with a transposed
    /// (strided) left factor as in a weight gradient `xᵀ · δ`, for both step-size layouts.
    #[test]
    fn product_step_matches_the_step_on_the_product() {
        let d = Device::flex();
        d.seed(5);
        for lr_dims in [[1, 12], [1, 1], [9, 12]] {
            let (p, m) = (random([9, 12], &d), random([9, 12], &d));
            let x = random([6, 9], &d);
            let delta = random([6, 12], &d);
            let lr = random(lr_dims, &d).abs() * 0.1;
            let g = x.clone().transpose().matmul(delta.clone());
            let (p1, m1) = momentum_step_product(p.clone(), m.clone(), x.transpose(), delta, lr.clone(), 0.9);
            let (p2, m2) = momentum_step_reference(p, m, g, lr, 0.9);
            for (got, want, what) in [(p1, p2, "parameters"), (m1, m2, "momentum")] {
                let (got, want) = (
                    got.into_data().try_to_vec::<f32>().unwrap(),
                    want.into_data().try_to_vec::<f32>().unwrap(),
                );
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                        "{what}, lr {lr_dims:?}, at {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn layouts_cover_each_value_with_its_own_step_size() {
        assert_eq!(
            step_sizes(&[784, 1000], &[1, 1000]),
            Some(StepSizes { repeat: 1, len: 1000 })
        );
        assert_eq!(
            step_sizes(&[10, 4, 5], &[10, 1, 1]),
            Some(StepSizes { repeat: 20, len: 10 })
        );
        assert_eq!(
            step_sizes(&[2, 3, 4], &[1, 3, 1]),
            Some(StepSizes { repeat: 4, len: 3 })
        );
        assert_eq!(
            step_sizes(&[2, 3], &[1, 1]),
            Some(StepSizes { repeat: 6, len: 1 })
        );
        assert_eq!(step_sizes(&[2, 3, 4], &[2, 1, 4]), None);
        assert_eq!(step_sizes(&[2, 3], &[2, 2]), None);
    }

    #[test]
    fn shared_inputs_are_left_untouched() {
        let d = Device::flex();
        let p = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &d);
        let m = Tensor::<2>::from_floats([[1.0, 1.0], [1.0, 1.0]], &d);
        let g = Tensor::<2>::from_floats([[0.5, 0.5], [0.5, 0.5]], &d);
        let lr = Tensor::<2>::from_floats([[1.0, 2.0]], &d);
        let (p1, m1) = momentum_step(p.clone(), m.clone(), g, lr, 0.5);
        assert_eq!(m1.into_data().try_to_vec::<f32>().unwrap(), vec![1.0; 4]);
        assert_eq!(
            p1.into_data().try_to_vec::<f32>().unwrap(),
            vec![0.0, 0.0, 2.0, 2.0]
        );
        // the clones kept their values: the step wrote to its own copies
        assert_eq!(
            p.into_data().try_to_vec::<f32>().unwrap(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(m.into_data().try_to_vec::<f32>().unwrap(), vec![1.0; 4]);
    }
}
