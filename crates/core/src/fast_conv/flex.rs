//! [`GemmConv`] on the flex backend: the [`kernels`] on `f32` storage, Burn's own conv ops for
//! other dtypes.

use super::kernels::{self, Geometry};
use super::{GemmConv, kernels_support};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::TensorData;
use burn::tensor::ops::ConvOptions;

fn f32_data(t: &FlexTensor) -> Vec<f32> {
    // contiguous views are read in place below; anything else is copied once
    t.to_contiguous()
        .as_slice::<f32>()
        .expect("contiguous f32 storage")
        .to_vec()
}

fn with_slice<R>(t: &FlexTensor, f: impl FnOnce(&[f32]) -> R) -> R {
    match t.as_slice::<f32>() {
        Some(s) => f(s),
        None => f(&f32_data(t)),
    }
}

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

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl GemmConv for Flex {
    fn gemm_conv2d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let Some(g) = geometry(&x, &weight, &options) else {
            return <Flex as ModuleOps<Flex>>::conv2d(x, weight, None, options);
        };
        let y = with_slice(&x, |xs| with_slice(&weight, |ws| kernels::forward(&g, xs, ws)));
        tensor(y, [g.batch, g.c_out, g.ho, g.wo])
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
        let dx = with_slice(&output_grad, |dy| {
            with_slice(&weight, |ws| kernels::backward_x(&g, dy, ws))
        });
        tensor(dx, [g.batch, g.c_in, g.h, g.w])
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
        let dw = with_slice(&x, |xs| {
            with_slice(&output_grad, |dy| kernels::backward_w(&g, xs, dy))
        });
        tensor(dw, [g.c_out, g.c_in, g.kh, g.kw])
    }
}
