//! [`GemmConv`] on the flex backend: the [`kernels`] on `f32` storage, Burn's own conv ops for
//! other dtypes.

use super::kernels::{self, Geometry};
use super::{GemmConv, kernels_support};
use crate::flex_buffers::{f32_tensor, f32_values};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::ops::ConvOptions;

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

fn geometry(x: &FlexTensor, w: &FlexTensor, options: &ConvOptions<2>) -> Option<Geometry> {
    if !(kernels_support(options, x.dtype()) && w.dtype() == x.dtype()) {
        return None;
    }
    Geometry::new(dims4(x), dims4(w), options.stride, options.padding_begin())
}

impl GemmConv for Flex {
    fn gemm_conv2d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else {
            return <Flex as ModuleOps<Flex>>::conv2d(x, weight, None, options);
        };
        let y = kernels::forward(&g, &f32_values(&x), &f32_values(&weight));
        f32_tensor(y, [g.batch, g.c_out, g.ho, g.wo])
    }

    fn gemm_conv2d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else {
            return <Flex as ModuleOps<Flex>>::conv2d_x_backward(x, weight, output_grad, options);
        };
        let dx = kernels::backward_x(&g, &f32_values(&output_grad), &f32_values(&weight));
        f32_tensor(dx, [g.batch, g.c_in, g.h, g.w])
    }

    fn gemm_conv2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else {
            return <Flex as ModuleOps<Flex>>::conv2d_weight_backward(x, weight, output_grad, options);
        };
        let dw = kernels::backward_w(&g, &f32_values(&x), &f32_values(&output_grad));
        f32_tensor(dw, [g.c_out, g.c_in, g.kh, g.kw])
    }
}
