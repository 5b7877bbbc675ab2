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

/// `p ← p − η m` over a run of values sharing the step sizes `eta` (as [`run`]).
fn descend(p: &mut [f32], m: &[f32], eta: &[f32]) {
    if let [eta] = eta {
        for (p, m) in p.iter_mut().zip(m) {
            *p -= *m * *eta;
        }
    } else {
        for ((p, m), eta) in p.iter_mut().zip(m).zip(eta) {
            *p -= *m * *eta;
        }
    }
}

/// A 2-D tensor's storage from its first value, with its (row, column) strides; a contiguous
/// copy first when a stride is negative.
fn matrix(t: FlexTensor) -> FlexTensor {
    if t.layout().strides().iter().any(|&s| s < 0) {
        t.to_contiguous()
    } else {
        t
    }
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

/// `p ← p − η ⊙ m` in parallel, step sizes laid out as in [`FusedMomentum`].
fn descend_all(p: &mut [f32], m: &[f32], lr: &[f32], repeat: usize) {
    if repeat == 1 {
        let row = lr.len();
        let rows = (TASK / row).max(1) * row;
        p.par_chunks_mut(rows).zip(m.par_chunks(rows)).for_each(|(p, m)| {
            for (p, m) in p.chunks_mut(row).zip(m.chunks(row)) {
                descend(p, m, lr);
            }
        });
    } else {
        let blocks = (TASK / repeat).max(1);
        let task = blocks * repeat;
        p.par_chunks_mut(task)
            .zip(m.par_chunks(task))
            .enumerate()
            .for_each(|(t, (p, m))| {
                for (j, (p, m)) in p.chunks_mut(repeat).zip(m.chunks(repeat)).enumerate() {
                    descend(p, m, &[lr[(t * task / repeat + j) % lr.len()]]);
                }
            });
    }
}

impl FusedMomentum for Flex {
    fn fused_momentum_product_step(
        param: FlexTensor,
        momentum: FlexTensor,
        lhs: FlexTensor,
        rhs: FlexTensor,
        lr: FlexTensor,
        mu: f32,
        repeat: usize,
    ) -> (FlexTensor, FlexTensor) {
        let (mut param, mut momentum) = (whole(param), whole(momentum));
        let (lhs, rhs) = (matrix(lhs), matrix(rhs));
        let lr = f32_values(&lr);
        let (dims_l, dims_r) = (lhs.layout().shape().clone(), rhs.layout().shape().clone());
        let (r, k, c) = (dims_l[0], dims_l[1], dims_r[1]);
        let (sl, sr) = (lhs.layout().strides().to_vec(), rhs.layout().strides().to_vec());
        let m = momentum.storage_mut::<f32>();
        assert!(m.len() == r * c, "fused momentum step: momentum is not {r}×{c}");
        let lhs_data = &lhs.storage::<f32>()[lhs.layout().start_offset()..];
        let rhs_data = &rhs.storage::<f32>()[rhs.layout().start_offset()..];
        let reach = |d: &[usize], s: &[isize]| (d[0] - 1) * s[0] as usize + (d[1] - 1) * s[1] as usize;
        assert!(
            r * k * c == 0 || (reach(&dims_l, &sl) < lhs_data.len() && reach(&dims_r, &sr) < rhs_data.len()),
            "fused momentum step: a factor's strides reach past its storage"
        );
        if r * c > 0 {
            // SAFETY: `m` holds r×c values written at row stride c; the factors are read at
            // their own non-negative strides, inside their storage (asserted above).
            unsafe {
                gemm::gemm(
                    r,
                    c,
                    k,
                    m.as_mut_ptr(),
                    1,
                    c as isize,
                    true,
                    lhs_data.as_ptr(),
                    sl[1],
                    sl[0],
                    rhs_data.as_ptr(),
                    sr[1],
                    sr[0],
                    mu,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(0),
                );
            }
        }
        let p = param.storage_mut::<f32>();
        assert!(
            p.len() == m.len(),
            "fused momentum step: parameter and momentum of one size"
        );
        descend_all(p, m, &lr, repeat);
        (param, momentum)
    }

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
