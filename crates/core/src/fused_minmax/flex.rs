//! [`FusedMinMax`] on flex: one pass forward, one pass backward, chunks in parallel.

use super::FusedMinMax;
use crate::flex_buffers::{f32_tensor, f32_values};
use burn::backend::flex::FlexTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::DType;
use rayon::prelude::*;

/// Blocks per parallel task: about 64 Ki values.
fn blocks_per_task(half: usize) -> usize {
    (32 * 1024 / half.max(1)).max(1)
}

impl FusedMinMax for Flex {
    fn fused_minmax(x: FlexTensor, half: usize) -> FlexTensor {
        assert_eq!(x.dtype(), DType::F32, "fused_minmax: f32 only");
        let shape = x.shape();
        let xs = f32_values(&x);
        let mut out = vec![0.0f32; xs.len()];
        let task = 2 * half * blocks_per_task(half);
        out.par_chunks_mut(task)
            .zip(xs.par_chunks(task))
            .for_each(|(o, x)| {
                for (o, x) in o.chunks_exact_mut(2 * half).zip(x.chunks_exact(2 * half)) {
                    let (a, b) = x.split_at(half);
                    let (lo, hi) = o.split_at_mut(half);
                    for i in 0..half {
                        lo[i] = a[i].min(b[i]);
                        hi[i] = a[i].max(b[i]);
                    }
                }
            });
        f32_tensor(out, shape)
    }

    fn fused_minmax_backward(x: FlexTensor, grad: FlexTensor, half: usize) -> FlexTensor {
        let shape = x.shape();
        let (xs, gs) = (f32_values(&x), f32_values(&grad));
        let mut out = vec![0.0f32; xs.len()];
        let task = 2 * half * blocks_per_task(half);
        out.par_chunks_mut(task)
            .zip(xs.par_chunks(task).zip(gs.par_chunks(task)))
            .for_each(|(o, (x, g))| {
                for (o, (x, g)) in o
                    .chunks_exact_mut(2 * half)
                    .zip(x.chunks_exact(2 * half).zip(g.chunks_exact(2 * half)))
                {
                    let (a, b) = x.split_at(half);
                    let (glo, ghi) = g.split_at(half);
                    let (da, db) = o.split_at_mut(half);
                    for i in 0..half {
                        // a is the min when a <= b
                        let first = a[i] <= b[i];
                        da[i] = if first { glo[i] } else { ghi[i] };
                        db[i] = if first { ghi[i] } else { glo[i] };
                    }
                }
            });
        f32_tensor(out, shape)
    }
}
