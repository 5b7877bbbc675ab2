//! Reading and writing the `f32` storage of flex tensors, for the kernels carried as backend
//! extensions ([`crate::fast_conv`], [`crate::fused_minmax`], [`crate::fused_momentum`]).

use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};
use std::borrow::Cow;

/// The values of an `f32` tensor in row-major order: borrowed when contiguous, else copied.
pub(crate) fn f32_values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("a contiguous f32 tensor")
                .to_vec(),
        ),
    }
}

/// A contiguous tensor of `shape` holding `values`.
pub(crate) fn f32_tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}
