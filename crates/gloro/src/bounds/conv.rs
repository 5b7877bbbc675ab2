//! Sound spectral-norm bounds of zero-padded, strided 2-D convolutions.
//!
//! Two methods, both proofs:
//! - **Exact**: the convolution materialised as a dense f64 matrix (its entries are the f32
//!   weights, exactly) and bounded by [`super::gram::spectral_norm_upper`]. Tight to ~10⁻⁹;
//!   memory and time grow with (input size × output size), so it serves small layers.
//! - **Fourier** (Sedghi, Gupta & Long, ICLR 2019, extended to strides by polyphase blocks):
//!   embed the n × n input with zeros in an N × N grid with N ≥ n + p and s | N. No tap then
//!   wraps around, so the zero-padded convolution equals the circular convolution on the
//!   grid followed by dropping outputs: ‖A_zero‖ ≤ ‖A_circ‖ (an isometric embedding, then a
//!   projection). Split the grid into s² phases (a permutation): the strided circular
//!   convolution becomes a sum of stride-1 circular convolutions on M × M grids, M = N/s,
//!   which the unitary 2-D DFT block-diagonalises into M² blocks H_f of size
//!   c_out × (c_in·s²), H_f[o, (c, a, b)] = Σ w[o, c, u, v]·e^{2πi(f₁d_u + f₂d_v)/M} over
//!   the taps with phase (a, b) = ((u − p) mod s, (v − p) mod s) and shift
//!   d_u = ⌊(u − p)/s⌋. So ‖A_zero‖ ≤ max_f σ₁(H_f). Each σ₁(H_f) is bounded through the
//!   real 2c_out × 2c_in·s² matrix [[Re, −Im], [Im, Re]] (same singular values), plus the
//!   error of computing H_f: each twiddle factor is within 10⁻¹⁴ of its exact value (an
//!   integer phase reduced mod M, then `sin`/`cos` within an ulp) and each entry sums at
//!   most k² terms, so ‖Ĥ_f − H_f‖₂ ≤ ‖Ĥ_f − H_f‖_F ≤ 10⁻¹²·Σ|w|.
//!   It over-estimates by what the circular wrap-around adds (measured in
//!   `docs/results/gloro.md`).
//!
//! [`ConvOperator::abs_norm_upper`] bounds ‖|A|‖₂ (the entrywise absolute operator), which the
//! floating-point error bound of [`crate::certify`] needs, by Schur's test:
//! ‖|A|‖₂ ≤ √(max row sum · max column sum).

use super::float::up;
use super::gram::{GramError, SpectralBound, spectral_norm_upper};
use nalgebra::DMatrix;
use rayon::prelude::*;

/// A convolution `[c_out, c_in, k, k]` (cross-correlation, as Burn and PyTorch compute it)
/// with stride and symmetric zero padding, on `c_in × h × w` inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvOperator {
    /// Weights, row-major `[c_out, c_in, k, k]`, exactly the f32 weights.
    pub weight: Vec<f64>,
    /// `[c_out, c_in, k, k]`.
    pub shape: [usize; 4],
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding (all sides).
    pub padding: usize,
    /// Input `[h, w]`.
    pub input: [usize; 2],
}

impl ConvOperator {
    fn w(&self, o: usize, c: usize, u: usize, v: usize) -> f64 {
        let [_, ci, k, _] = self.shape;
        self.weight[((o * ci + c) * k + u) * k + v]
    }

    /// Output `[h', w']`.
    pub fn output(&self) -> [usize; 2] {
        let k = self.shape[2];
        self.input.map(|n| (n + 2 * self.padding - k) / self.stride + 1)
    }

    /// Input and output dimensions of the operator as a matrix.
    pub fn dims(&self) -> (usize, usize) {
        let [co, ci, _, _] = self.shape;
        let [h, w] = self.input;
        let [ho, wo] = self.output();
        (ci * h * w, co * ho * wo)
    }

    /// The operator as a dense matrix `[c_out·h'·w', c_in·h·w]` (NCHW flattening).
    pub fn materialise(&self) -> DMatrix<f64> {
        let [co, ci, k, _] = self.shape;
        let [h, w] = self.input;
        let [ho, wo] = self.output();
        let (cols, rows) = self.dims();
        let mut a = DMatrix::zeros(rows, cols);
        for o in 0..co {
            for y in 0..ho {
                for x in 0..wo {
                    let row = (o * ho + y) * wo + x;
                    for c in 0..ci {
                        for u in 0..k {
                            let i = (y * self.stride + u) as isize - self.padding as isize;
                            if i < 0 || i >= h as isize {
                                continue;
                            }
                            for v in 0..k {
                                let j = (x * self.stride + v) as isize - self.padding as isize;
                                if j < 0 || j >= w as isize {
                                    continue;
                                }
                                a[(row, (c * h + i as usize) * w + j as usize)] = self.w(o, c, u, v);
                            }
                        }
                    }
                }
            }
        }
        a
    }

    /// The side N of the circular grid: N ≥ n + p, s | N, and room for every output.
    pub fn circular_grid(&self) -> [usize; 2] {
        let s = self.stride;
        let out = self.output();
        [0, 1].map(|a| {
            let need = (self.input[a] + self.padding).max(out[a] * s);
            need.div_ceil(s) * s
        })
    }

    /// The strided circular convolution on the `grid` (for tests of the Fourier bound): input
    /// `c_in × N₀ × N₁`, output `c_out × (N₀/s) × (N₁/s)`.
    pub fn materialise_circular(&self, grid: [usize; 2]) -> DMatrix<f64> {
        let [co, ci, k, _] = self.shape;
        let s = self.stride;
        let [n0, n1] = grid;
        let [m0, m1] = [n0 / s, n1 / s];
        let mut a = DMatrix::zeros(co * m0 * m1, ci * n0 * n1);
        for o in 0..co {
            for y in 0..m0 {
                for x in 0..m1 {
                    let row = (o * m0 + y) * m1 + x;
                    for c in 0..ci {
                        for u in 0..k {
                            let i = ((y * s + u) as isize - self.padding as isize).rem_euclid(n0 as isize);
                            for v in 0..k {
                                let j =
                                    ((x * s + v) as isize - self.padding as isize).rem_euclid(n1 as isize);
                                a[(row, (c * n0 + i as usize) * n1 + j as usize)] += self.w(o, c, u, v);
                            }
                        }
                    }
                }
            }
        }
        a
    }

    /// Sound bound by the materialised operator (see the module documentation).
    pub fn exact_bound(&self) -> Result<SpectralBound, GramError> {
        spectral_norm_upper(&self.materialise())
    }

    /// Sound bound by the polyphase Fourier blocks of the circular convolution on
    /// [`Self::circular_grid`] (see the module documentation).
    pub fn fourier_bound(&self) -> Result<SpectralBound, GramError> {
        if self.weight.iter().any(|v| !v.is_finite()) {
            return Err(GramError::NonFinite);
        }
        let [co, ci, k, _] = self.shape;
        let s = self.stride;
        let grid = self.circular_grid();
        let [m0, m1] = [grid[0] / s, grid[1] / s];
        // phase and coarse shift of each tap: u − p = s·d + a
        let tap = |u: usize| {
            let t = u as isize - self.padding as isize;
            (t.rem_euclid(s as isize) as usize, t.div_euclid(s as isize))
        };
        let taps: Vec<(usize, isize)> = (0..k).map(tap).collect();
        let l1: f64 = self.weight.iter().map(|v| v.abs()).sum();
        let twiddle_err = up(1e-12 * l1);
        let cols = ci * s * s;
        let results: Vec<Result<SpectralBound, GramError>> = (0..m0 * m1)
            .into_par_iter()
            .map(|f| {
                let (f0, f1) = ((f / m1) as isize, (f % m1) as isize);
                let mut re = DMatrix::<f64>::zeros(co, cols);
                let mut im = DMatrix::<f64>::zeros(co, cols);
                for (u, &(a, du)) in taps.iter().enumerate() {
                    for (v, &(b, dv)) in taps.iter().enumerate() {
                        let phase = (f0 * du).rem_euclid(m0 as isize) as f64 / m0 as f64
                            + (f1 * dv).rem_euclid(m1 as isize) as f64 / m1 as f64;
                        let theta = std::f64::consts::TAU * phase;
                        let (sin, cos) = theta.sin_cos();
                        for o in 0..co {
                            for c in 0..ci {
                                let col = (c * s + a) * s + b;
                                let wv = self.w(o, c, u, v);
                                re[(o, col)] += wv * cos;
                                im[(o, col)] += wv * sin;
                            }
                        }
                    }
                }
                let mut real = DMatrix::<f64>::zeros(2 * co, 2 * cols);
                real.view_mut((0, 0), (co, cols)).copy_from(&re);
                real.view_mut((co, cols), (co, cols)).copy_from(&re);
                real.view_mut((co, 0), (co, cols)).copy_from(&im);
                real.view_mut((0, cols), (co, cols)).copy_from(&(-&im));
                spectral_norm_upper(&real)
            })
            .collect();
        let mut best = SpectralBound {
            upper: 0.0,
            estimate: 0.0,
        };
        for r in results {
            let b = r?;
            best.upper = best.upper.max(b.upper);
            best.estimate = best.estimate.max(b.estimate);
        }
        best.upper = up(best.upper + twiddle_err);
        Ok(best)
    }

    /// Upper bound of ‖|A|‖₂ by Schur's test (rows: an output sums c_in·k² weights of its
    /// filter; columns: an input pixel meets each tap of each filter at most once).
    pub fn abs_norm_upper(&self) -> f64 {
        let [co, ci, k, _] = self.shape;
        let row = (0..co)
            .map(|o| {
                (0..ci)
                    .flat_map(|c| (0..k * k).map(move |t| (c, t)))
                    .map(|(c, t)| self.w(o, c, t / k, t % k).abs())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        let col = (0..ci)
            .map(|c| {
                (0..co)
                    .flat_map(|o| (0..k * k).map(move |t| (o, t)))
                    .map(|(o, t)| self.w(o, c, t / k, t % k).abs())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        up((up(row) * up(col)).sqrt())
    }
}

/// Bound of ‖|W|‖₂ for a dense matrix by Schur's test.
pub fn abs_norm_upper_dense(w: &DMatrix<f64>) -> f64 {
    let row = w
        .row_iter()
        .map(|r| r.iter().map(|v| v.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let col = w
        .column_iter()
        .map(|c| c.iter().map(|v| v.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    up((up(row) * up(col)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_conv(
        co: usize,
        ci: usize,
        k: usize,
        s: usize,
        p: usize,
        hw: [usize; 2],
        seed: u64,
    ) -> ConvOperator {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        ConvOperator {
            weight: (0..co * ci * k * k)
                .map(|_| rng.random_range(-1.0..1.0) as f32 as f64)
                .collect(),
            shape: [co, ci, k, k],
            stride: s,
            padding: p,
            input: hw,
        }
    }

    fn svd_max(a: &DMatrix<f64>) -> f64 {
        a.clone().svd(false, false).singular_values.max()
    }

    #[test]
    fn fourier_blocks_give_the_circular_operators_norm() {
        // the Fourier computation is exact for the circular operator: equality, not only ≥
        for (co, ci, k, s, p, hw) in [
            (3, 2, 3, 1, 1, [6, 6]),
            (4, 2, 4, 2, 1, [7, 8]),
            (2, 3, 5, 3, 2, [9, 7]),
            (3, 2, 3, 2, 0, [8, 8]),
        ] {
            let op = random_conv(co, ci, k, s, p, hw, (co * 100 + k) as u64);
            let circ = svd_max(&op.materialise_circular(op.circular_grid()));
            let f = op.fourier_bound().unwrap();
            assert!(f.upper >= circ, "k{k} s{s} p{p}: {} < {circ}", f.upper);
            assert!(
                (f.upper - circ).abs() < 1e-9 * circ,
                "k{k} s{s} p{p}: {} vs {circ}",
                f.upper
            );
        }
    }

    #[test]
    fn circular_embedding_reproduces_the_zero_padded_outputs() {
        // rows of the zero-padded operator are rows of the circular one restricted to the
        // embedded input's columns (no tap wraps around onto the image): the premise of
        // ‖A_zero‖ ≤ ‖A_circ‖
        for (k, s, p, hw) in [
            (3, 1, 1, [6, 6]),
            (4, 2, 1, [7, 7]),
            (5, 3, 2, [10, 9]),
            (3, 2, 0, [9, 8]),
        ] {
            let op = random_conv(2, 2, k, s, p, hw, 5);
            let zero = op.materialise();
            let grid = op.circular_grid();
            let circ = op.materialise_circular(grid);
            let [ho, wo] = op.output();
            let [m0, m1] = [grid[0] / s, grid[1] / s];
            for o in 0..2 {
                for y in 0..ho {
                    for x in 0..wo {
                        for c in 0..2 {
                            for i in 0..hw[0] {
                                for j in 0..hw[1] {
                                    let cv = circ[((o * m0 + y) * m1 + x, (c * grid[0] + i) * grid[1] + j)];
                                    let zv = zero[((o * ho + y) * wo + x, (c * hw[0] + i) * hw[1] + j)];
                                    assert_eq!(cv, zv, "k{k} s{s} p{p} at o{o} y{y} x{x} c{c} i{i} j{j}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn both_bounds_cover_the_zero_padded_operator() {
        let mut seed = 0;
        for k in [3, 4, 5] {
            for s in 1..=3 {
                for p in 0..=2 {
                    for hw in [[7, 7], [8, 9]] {
                        seed += 1;
                        if hw[0] + 2 * p < k {
                            continue;
                        }
                        let op = random_conv(5, 3, k, s, p, hw, seed);
                        let exact = svd_max(&op.materialise());
                        let e = op.exact_bound().unwrap();
                        let f = op.fourier_bound().unwrap();
                        assert!(
                            e.upper >= exact && e.upper <= exact * (1.0 + 1e-8),
                            "k{k} s{s} p{p}: exact {} vs {exact}",
                            e.upper
                        );
                        assert!(
                            f.upper >= exact,
                            "k{k} s{s} p{p} {hw:?}: Fourier {} < {exact}",
                            f.upper
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn abs_norm_bounds_the_absolute_operator() {
        for (k, s, p) in [(3, 1, 1), (4, 2, 1), (5, 3, 2)] {
            let op = random_conv(4, 3, k, s, p, [9, 9], 21);
            let abs = op.materialise().map(f64::abs);
            assert!(op.abs_norm_upper() >= svd_max(&abs));
        }
        let w = DMatrix::from_fn(6, 9, |i, j| ((i * 7 + j * 3) % 5) as f64 - 2.0);
        assert!(abs_norm_upper_dense(&w) >= svd_max(&w.map(f64::abs)));
    }
}
