//! The EMA target (BYOL, paper Eq. 3 in discrete time): `ξ ← m ξ + (1 − m) θ` over the
//! trainable parameters; batch-norm running statistics of the target are left alone, as in
//! the reference.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

struct Collect {
    /// Flattened online tensors, `None` for buffers (running statistics).
    tensors: Vec<Option<Tensor<1>>>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        if t.is_require_grad() {
            let n = t.shape().num_elements();
            self.tensors.push(Some(t.detach().reshape([n])));
        } else {
            self.tensors.push(None);
        }
    }
}

struct Blend {
    online: std::vec::IntoIter<Option<Tensor<1>>>,
    momentum: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.online.next() {
            Some(Some(online)) => {
                let m = self.momentum;
                param.map(|t| {
                    let shape = t.shape();
                    (t.detach().mul_scalar(m) + online.reshape(shape).mul_scalar(1.0 - m)).detach()
                })
            }
            Some(None) => param,
            None => panic!("EMA: the target has more tensors than the online network"),
        }
    }
}

/// Moves every trainable tensor of `target` towards the matching one of `online` (same
/// architecture; tensors are matched by visiting order).
pub fn ema_update<M: Module>(target: M, online: &M, momentum: f64) -> M {
    let mut c = Collect { tensors: vec![] };
    online.visit(&mut c);
    let mut blend = Blend {
        online: c.tensors.into_iter(),
        momentum,
    };
    target.map(&mut blend)
}

/// A copy of `online`'s trainable values into `target` (momentum 0).
pub fn copy_weights<M: Module>(target: M, online: &M) -> M {
    ema_update(target, online, 0.0)
}
