//! [`FusedMomentum`] on flex: one parallel pass, in place when the tensors are not shared.

use super::FusedMomentum;
use crate::flex_buffers::f32_values;
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

/// Values per parallel task: about 64 Ki.
const TASK: usize = 64 * 1024;

/// `t` as a contiguous tensor that owns its whole storage from offset 0 (a copy otherwise), so
/// that its storage can be written as the result.
fn whole(t: FlexTensor) -> FlexTensor {
    let full = t.as_slice::<f32>().map(<[f32]>::len) == Some(t.storage::<f32>().len());
    if full { t } else { t.to_contiguous() }
}

/// `m ← μ m + g`, `p ← p − η m` over a run of values sharing the step sizes `eta` (one per
/// value, or one for all when `eta` has one value).
fn run(p: &mut [f32], m: &mut [f32], g: &[f32], eta: &[f32], mu: f32) {
    if let [eta] = eta {
        for ((p, m), g) in p.iter_mut().zip(m.iter_mut()).zip(g) {
            *m = *m * mu + *g;
            *p -= *m * *eta;
        }
    } else {
        for (((p, m), g), eta) in p.iter_mut().zip(m.iter_mut()).zip(g).zip(eta) {
            *m = *m * mu + *g;
            *p -= *m * *eta;
        }
    }
}

impl FusedMomentum for Flex {
    fn fused_momentum_step(
        param: FlexTensor,
        momentum: FlexTensor,
        grad: FlexTensor,
        lr: FlexTensor,
        mu: f32,
        repeat: usize,
    ) -> (FlexTensor, FlexTensor) {
        let (mut param, mut momentum) = (whole(param), whole(momentum));
        let (g, lr) = (f32_values(&grad), f32_values(&lr));
        let p = param.storage_mut::<f32>();
        let m = momentum.storage_mut::<f32>();
        assert!(
            p.len() == m.len() && p.len() == g.len(),
            "fused momentum step: parameter, momentum and gradient of one size"
        );
        if repeat == 1 {
            // rows of `lr.len()` values, each row taking the step sizes in order
            let row = lr.len();
            let rows = (TASK / row).max(1) * row;
            p.par_chunks_mut(rows)
                .zip(m.par_chunks_mut(rows))
                .zip(g.par_chunks(rows))
                .for_each(|((p, m), g)| {
                    for ((p, m), g) in p.chunks_mut(row).zip(m.chunks_mut(row)).zip(g.chunks(row)) {
                        run(p, m, g, &lr, mu);
                    }
                });
        } else {
            // blocks of `repeat` values, block `b` taking `lr[b % lr.len()]`
            let blocks = (TASK / repeat).max(1);
            let task = blocks * repeat;
            p.par_chunks_mut(task)
                .zip(m.par_chunks_mut(task))
                .zip(g.par_chunks(task))
                .enumerate()
                .for_each(|(t, ((p, m), g))| {
                    let blocks = p
                        .chunks_mut(repeat)
                        .zip(m.chunks_mut(repeat))
                        .zip(g.chunks(repeat));
                    for (j, ((p, m), g)) in blocks.enumerate() {
                        let eta = lr[(t * task / repeat + j) % lr.len()];
                        run(p, m, g, &[eta], mu);
                    }
                });
        }
        (param, momentum)
    }
}
