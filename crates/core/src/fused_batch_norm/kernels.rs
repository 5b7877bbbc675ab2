//! The batch-norm kernels on plain `f32` slices laid out `[B, C, S]` (row-major, `S` the
//! trailing positions of each channel). Statistics are summed in `f64`, one channel per task.

use rayon::prelude::*;

/// Shape `[B, C, S]` of the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Batch `B`.
    pub batch: usize,
    /// Channels `C`.
    pub channels: usize,
    /// Positions per channel and image `S`.
    pub spatial: usize,
}

impl Layout {
    /// Values per channel, `M = B·S`.
    pub fn per_channel(&self) -> usize {
        self.batch * self.spatial
    }

    /// `f(block)` summed over the `B` blocks of channel `c`.
    fn sum_channel(&self, c: usize, f: impl Fn(usize) -> f64) -> f64 {
        (0..self.batch)
            .map(|b| f((b * self.channels + c) * self.spatial))
            .sum()
    }
}

/// `Σ f(a[i], b[i])` in `f64` over eight independent accumulators (so the loop vectorises
/// instead of waiting on one chain of additions).
fn sum_pairs(a: &[f32], b: &[f32], f: impl Fn(f64, f64) -> f64) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let (a_main, a_tail) = a.split_at(a.len() - a.len() % LANES);
    let (b_main, b_tail) = b.split_at(a_main.len());
    for (ca, cb) in a_main.chunks_exact(LANES).zip(b_main.chunks_exact(LANES)) {
        for j in 0..LANES {
            acc[j] += f(ca[j] as f64, cb[j] as f64);
        }
    }
    let tail: f64 = a_tail
        .iter()
        .zip(b_tail)
        .map(|(&u, &v)| f(u as f64, v as f64))
        .sum();
    acc.iter().sum::<f64>() + tail
}

/// Per-channel mean and biased variance (two passes, the second over `x − μ`).
pub fn statistics(l: &Layout, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let m = l.per_channel() as f64;
    let stats: Vec<(f32, f32)> = (0..l.channels)
        .into_par_iter()
        .map(|c| {
            let block = |start: usize| &x[start..start + l.spatial];
            let mean = l.sum_channel(c, |s| sum_pairs(block(s), block(s), |v, _| v)) / m;
            let var = l.sum_channel(c, |s| {
                sum_pairs(block(s), block(s), |v, _| (v - mean) * (v - mean))
            }) / m;
            (mean as f32, var as f32)
        })
        .collect();
    stats.into_iter().unzip()
}

/// `1 / √(σ² + ε)` per channel, in `f64`.
fn inv_std(variance: &[f32], epsilon: f64) -> Vec<f64> {
    variance
        .iter()
        .map(|&v| 1.0 / (v as f64 + epsilon).sqrt())
        .collect()
}

/// `y = γ (x − μ)/√(σ² + ε) + β`.
pub fn normalise(
    l: &Layout,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
) -> Vec<f32> {
    let inv = inv_std(variance, epsilon);
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(l.spatial)
        .zip(x.par_chunks(l.spatial))
        .enumerate()
        .for_each(|(i, (yb, xb))| {
            let c = i % l.channels;
            let scale = (gamma[c] as f64 * inv[c]) as f32;
            let shift = (beta[c] as f64 - mean[c] as f64 * gamma[c] as f64 * inv[c]) as f32;
            for (o, &v) in yb.iter_mut().zip(xb) {
                *o = v * scale + shift;
            }
        });
    y
}

/// `(∂x, ∂γ, ∂β)` for the output gradient `dy` (module docs of the parent for the formulas).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    l: &Layout,
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let inv = inv_std(variance, epsilon);
    let sums: Vec<(f64, f64)> = (0..l.channels)
        .into_par_iter()
        .map(|c| {
            let mu = mean[c] as f64;
            let (dyb, xb) = (|s: usize| &dy[s..s + l.spatial], |s: usize| &x[s..s + l.spatial]);
            let d_beta = l.sum_channel(c, |s| sum_pairs(dyb(s), dyb(s), |g, _| g));
            let d_gamma_raw = l.sum_channel(c, |s| sum_pairs(dyb(s), xb(s), |g, v| g * (v - mu)));
            (d_beta, d_gamma_raw * inv[c])
        })
        .collect();
    let m = l.per_channel() as f64;
    let mut dx = vec![0.0f32; x.len()];
    dx.par_chunks_mut(l.spatial)
        .zip(x.par_chunks(l.spatial).zip(dy.par_chunks(l.spatial)))
        .enumerate()
        .for_each(|(i, (db, (xb, gb)))| {
            let c = i % l.channels;
            let (d_beta, d_gamma) = sums[c];
            // ∂x = k·(dy − ∂β/M − x̂·∂γ/M) with x̂ = (x − μ)·inv: affine in (dy, x)
            let k = gamma[c] as f64 * inv[c];
            let a = (k) as f32; // coefficient of dy
            let b = (-k * inv[c] * d_gamma / m) as f32; // coefficient of x
            let c0 = (-k * d_beta / m + k * inv[c] * d_gamma / m * mean[c] as f64) as f32;
            for ((o, &g), &v) in db.iter_mut().zip(gb).zip(xb) {
                *o = a * g + b * v + c0;
            }
        });
    let d_gamma = sums.iter().map(|s| s.1 as f32).collect();
    let d_beta = sums.iter().map(|s| s.0 as f32).collect();
    (dx, d_gamma, d_beta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 1.0
            })
            .collect()
    }

    /// Σ y·dy as a function of (x, γ, β), in f64 from the definition.
    fn objective(l: &Layout, x: &[f64], gamma: &[f64], beta: &[f64], eps: f64, dy: &[f32]) -> f64 {
        let m = l.per_channel() as f64;
        let mut total = 0.0;
        for c in 0..l.channels {
            let idx: Vec<usize> = (0..l.batch)
                .flat_map(|b| (0..l.spatial).map(move |s| (b * l.channels + c) * l.spatial + s))
                .collect();
            let mean = idx.iter().map(|&i| x[i]).sum::<f64>() / m;
            let var = idx.iter().map(|&i| (x[i] - mean).powi(2)).sum::<f64>() / m;
            for &i in &idx {
                total += (gamma[c] * (x[i] - mean) / (var + eps).sqrt() + beta[c]) * dy[i] as f64;
            }
        }
        total
    }

    #[test]
    fn gradients_match_finite_differences_of_the_definition() {
        let l = Layout {
            batch: 3,
            channels: 2,
            spatial: 5,
        };
        let n = l.batch * l.channels * l.spatial;
        let (x, dy) = (noise(n, 1), noise(n, 2));
        let (gamma, beta) = (vec![1.5f32, -0.7], vec![0.3f32, 0.1]);
        let eps = 1e-5;
        let (mean, var) = statistics(&l, &x);
        let (dx, dg, db) = backward(&l, &x, &gamma, &mean, &var, eps, &dy);
        let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
        let (x64, g64, b64) = (f64s(&x), f64s(&gamma), f64s(&beta));
        let h = 1e-5;
        let fd = |xp: &[f64], gp: &[f64], bp: &[f64], xm: &[f64], gm: &[f64], bm: &[f64]| {
            (objective(&l, xp, gp, bp, eps, &dy) - objective(&l, xm, gm, bm, eps, &dy)) / (2.0 * h)
        };
        for i in [0, 7, n - 1] {
            let (mut xp, mut xm) = (x64.clone(), x64.clone());
            xp[i] += h;
            xm[i] -= h;
            let want = fd(&xp, &g64, &b64, &xm, &g64, &b64);
            assert!(
                (want - dx[i] as f64).abs() < 1e-3 * (1.0 + want.abs()),
                "∂x[{i}]: {want} vs {}",
                dx[i]
            );
        }
        for c in 0..2 {
            let (mut gp, mut gm) = (g64.clone(), g64.clone());
            gp[c] += h;
            gm[c] -= h;
            let want = fd(&x64, &gp, &b64, &x64, &gm, &b64);
            assert!(
                (want - dg[c] as f64).abs() < 1e-3 * (1.0 + want.abs()),
                "∂γ[{c}]: {want} vs {}",
                dg[c]
            );
            let (mut bp, mut bm) = (b64.clone(), b64.clone());
            bp[c] += h;
            bm[c] -= h;
            let want = fd(&x64, &g64, &bp, &x64, &g64, &bm);
            assert!(
                (want - db[c] as f64).abs() < 1e-3 * (1.0 + want.abs()),
                "∂β[{c}]: {want} vs {}",
                db[c]
            );
        }
    }
}
