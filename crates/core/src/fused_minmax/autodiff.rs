//! [`FusedMinMax`] under autodiff: the inner forward, recorded with the fused backward.

use super::FusedMinMax;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

#[derive(Debug)]
struct MinMaxBackward;

impl<B: Backend + FusedMinMax> Backward<B, 1> for MinMaxBackward {
    type State = (NodeId, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, half) = ops.state;
        if let Some(node) = node_x {
            let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
            grads.register::<B>(node.id, B::fused_minmax_backward(x, grad, half));
        }
    }
}

impl<B: Backend + FusedMinMax, C: CheckpointStrategy> FusedMinMax for Autodiff<B, C> {
    fn fused_minmax(x: FloatTensor<Self>, half: usize) -> FloatTensor<Self> {
        match MinMaxBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                prep.finish((x_state, half), B::fused_minmax(x.into_primitive(), half))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_minmax(x.into_primitive(), half)),
        }
    }

    /// Reached only when differentiating a gradient. For fixed `x` the backward is linear in
    /// `grad`: within each pair it is the identity or the swap, a symmetric map, so its own
    /// backward (for the incoming `g`) is the same routing applied to `g`. Its derivative in
    /// `x` is zero wherever it exists (the routing is piecewise constant).
    fn fused_minmax_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        half: usize,
    ) -> FloatTensor<Self> {
        let x = x.into_primitive();
        match RoutingBackward
            .prepare::<C>([grad.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::fused_minmax_backward(x.clone(), grad.into_primitive(), half);
                prep.finish((x, half), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_minmax_backward(x, grad.into_primitive(), half)),
        }
    }
}

#[derive(Debug)]
struct RoutingBackward;

impl<B: Backend + FusedMinMax> Backward<B, 1> for RoutingBackward {
    type State = (B::FloatTensorPrimitive, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_grad] = ops.parents;
        let g = grads.consume::<B>(&ops.node);
        let (x, half) = ops.state;
        if let Some(node) = node_grad {
            grads.register::<B>(node.id, B::fused_minmax_backward(x, g, half));
        }
    }
}
