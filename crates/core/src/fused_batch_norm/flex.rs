//! [`FusedBatchNorm`] on the flex backend: the [`kernels`] on `f32` storage.

use super::FusedBatchNorm;
use super::kernels::{self, Layout};
use crate::flex_buffers::{f32_tensor, f32_values};
use burn::backend::flex::FlexTensor;
use burn::backend::{Flex, TensorMetadata};

fn layout(x: &FlexTensor) -> Layout {
    let s = x.shape();
    assert!(
        s.num_dims() >= 2,
        "batch norm: input of rank {} (expected [B, C, …])",
        s.num_dims()
    );
    Layout {
        batch: s[0],
        channels: s[1],
        spatial: s.num_elements() / (s[0] * s[1]).max(1),
    }
}

impl FusedBatchNorm for Flex {
    fn fused_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let l = layout(&x);
        let values = f32_values(&x);
        let (mean, variance) = kernels::statistics(&l, &values);
        let y = kernels::normalise(
            &l,
            &values,
            &f32_values(&gamma),
            &f32_values(&beta),
            &mean,
            &variance,
            epsilon,
        );
        (
            f32_tensor(y, x.shape()),
            f32_tensor(mean, [l.channels]),
            f32_tensor(variance, [l.channels]),
        )
    }

    fn fused_batch_norm_train_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        grad: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let l = layout(&x);
        let (dx, d_gamma, d_beta) = kernels::backward(
            &l,
            &f32_values(&x),
            &f32_values(&gamma),
            &f32_values(&mean),
            &f32_values(&variance),
            epsilon,
            &f32_values(&grad),
        );
        (
            f32_tensor(dx, x.shape()),
            f32_tensor(d_gamma, [l.channels]),
            f32_tensor(d_beta, [l.channels]),
        )
    }
}
