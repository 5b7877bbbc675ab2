//! [`GemmConv`] under autodiff: the forward of the inner backend, recorded with a backward
//! step that calls the inner backend's two gradient products (only those whose operand
//! needs a gradient).

use super::{Algorithm, GemmConv};
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};
use burn::tensor::ops::ConvOptions;

#[derive(Debug)]
struct GemmConvBackward;

impl<B: Backend + GemmConv> Backward<B, 2> for GemmConvBackward {
    type State = (NodeId, NodeId, ConvOptions<2>, Algorithm);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, w_state, options, algorithm) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let w = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(w_state);
        if let Some(node) = node_x {
            let dx =
                B::gemm_conv2d_x_backward(x.clone(), w.clone(), grad.clone(), options.clone(), algorithm);
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_w {
            let dw = B::gemm_conv2d_weight_backward(x, w, grad, options, algorithm);
            grads.register::<B>(node.id, dw);
        }
    }
}

impl<B: Backend + GemmConv, C: CheckpointStrategy> GemmConv for Autodiff<B, C> {
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
        algorithm: Algorithm,
    ) -> FloatTensor<Self> {
        match GemmConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let out = B::gemm_conv2d(
                    x.into_primitive(),
                    weight.into_primitive(),
                    options.clone(),
                    algorithm,
                );
                prep.finish((x_state, w_state, options, algorithm), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::gemm_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                options,
                algorithm,
            )),
        }
    }

    // Called only when differentiating a gradient: Burn's own (differentiable) products.
    fn gemm_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        _algorithm: Algorithm,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv2d_x_backward(x, weight, output_grad, options)
    }

    fn gemm_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        _algorithm: Algorithm,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv2d_weight_backward(x, weight, output_grad, options)
    }
}
