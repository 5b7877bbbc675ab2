//! MinMax activation (Anil et al. 2019; used by GloRo Nets, §3): channels are taken in
//! adjacent pairs `(2k, 2k+1)` and replaced by `(min, max)` of the pair. It is a permutation
//! of its inputs on every region where it is linear, so its Lipschitz constant is exactly 1,
//! and unlike ReLU it preserves the gradient norm.

use burn::module::Module;
use burn::tensor::Tensor;

/// See the module documentation. Needs an even channel (feature) count on dimension 1.
#[derive(Module, Debug, Default)]
pub struct MinMax;

impl MinMax {
    /// The activation (no parameters).
    pub fn new() -> Self {
        Self
    }

    /// `[B, C, …]` → `[B, C, …]`, output channel `2k` = min, `2k+1` = max of inputs `2k, 2k+1`
    /// ([`repro_core::fused_minmax::minmax`]: one fused pass on flex, Burn ops elsewhere).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        repro_core::fused_minmax::minmax(x)
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn pairs_adjacent_channels() {
        let d = Device::flex();
        let x = Tensor::<2>::from_floats([[3.0, 1.0, -1.0, 2.0]], &d);
        let y = MinMax.forward(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![1.0, 3.0, -1.0, 2.0]);
        // conv layout: per pixel, channels 0/1 paired
        let x = Tensor::<4>::from_floats([[[[5.0, 0.0]], [[1.0, 2.0]]]], &d);
        let y = MinMax.forward(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![1.0, 0.0, 5.0, 2.0]);
    }

    #[test]
    fn is_one_lipschitz_and_norm_preserving() {
        let d = Device::flex();
        let x = Tensor::<4>::random([8, 6, 3, 3], Distribution::Normal(0.0, 1.0), &d);
        let y = MinMax.forward(x.clone());
        let nx = x.clone().powf_scalar(2.0).sum().into_scalar::<f32>();
        let ny = y.powf_scalar(2.0).sum().into_scalar::<f32>();
        assert!((nx - ny).abs() < 1e-3 * nx);
        let x2 = x.clone() + Tensor::random([8, 6, 3, 3], Distribution::Normal(0.0, 0.1), &d);
        let dy = (MinMax.forward(x2.clone()) - MinMax.forward(x.clone()))
            .powf_scalar(2.0)
            .sum()
            .into_scalar::<f32>();
        let dx = (x2 - x).powf_scalar(2.0).sum().into_scalar::<f32>();
        assert!(dy <= dx * (1.0 + 1e-5));
    }
}
