//! [`GemmConv`] on the flex backend: the [`kernels`] on `f32` storage, Burn's own conv ops for
//! other dtypes.

use super::kernels::{self, Geometry};
use super::{Algorithm, GemmConv, kernels_support, winograd};
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

/// Whether `algorithm` asks for Winograd and this convolution is one it computes.
fn winograd_applies(algorithm: Algorithm, g: &Geometry) -> bool {
    algorithm == Algorithm::Winograd && winograd::applies(g)
}

impl GemmConv for Flex {
    fn gemm_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        options: ConvOptions<2>,
        algorithm: Algorithm,
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else {
            return <Flex as ModuleOps<Flex>>::conv2d(x, weight, None, options);
        };
        let (x, w) = (f32_values(&x), f32_values(&weight));
        let y = if winograd_applies(algorithm, &g) {
            winograd::forward(&g, &x, &w)
        } else {
            kernels::forward(&g, &x, &w)
        };
        f32_tensor(y, [g.batch, g.c_out, g.ho, g.wo])
    }

    fn gemm_conv2d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
        algorithm: Algorithm,
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else {
            return <Flex as ModuleOps<Flex>>::conv2d_x_backward(x, weight, output_grad, options);
        };
        let (dy, w) = (f32_values(&output_grad), f32_values(&weight));
        let dx = if winograd_applies(algorithm, &g) {
            winograd::backward_x(&g, &dy, &w)
        } else {
            kernels::backward_x(&g, &dy, &w)
        };
        f32_tensor(dx, [g.batch, g.c_in, g.h, g.w])
    }

    fn gemm_conv2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
        algorithm: Algorithm,
    ) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else {
            return <Flex as ModuleOps<Flex>>::conv2d_weight_backward(x, weight, output_grad, options);
        };
        let (x, dy) = (f32_values(&x), f32_values(&output_grad));
        let dw = if winograd_applies(algorithm, &g) {
            winograd::backward_w(&g, &x, &dy)
        } else {
            kernels::backward_w(&g, &x, &dy)
        };
        f32_tensor(dw, [g.c_out, g.c_in, g.kh, g.kw])
    }
}
