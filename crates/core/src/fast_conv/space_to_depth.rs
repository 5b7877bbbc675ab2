//! Strided convolutions whose kernel is a whole number of strides (GloRo's 4 × 4, stride-2
//! downsampling layers) as stride-1 convolutions over a space-to-depth rearrangement of their
//! input, all three products without im2col.
//!
//! With stride `s = (s₀, s₁)`, input pixel `(ih, iw)` of channel `c` lies in phase
//! `(a, b) = ((ih + p₀) mod s₀, (iw + p₁) mod s₁)` at cell `(r, q) = ((ih + p₀) div s₀, (iw + p₁) div s₁)`.
//! Tap `(i, j) = (u·s₀ + a, v·s₁ + b)` of output `(oh, ow)` reads cell `(oh + u, ow + v)` of
//! phase `(a, b)`: so the convolution is a stride-1 one with `kh/s₀ × kw/s₁` taps over
//! `C·s₀·s₁` channels ("cells", [`Cells`]), and a `k × k`, stride-`s` kernel with `s | k` loses
//! nothing to the rearrangement.
//!
//! The cells of a chunk of images are stored channel-major, `[C·s₀·s₁][images · rows · width]`,
//! each image's `rows × width` cells in one block (`rows = Ho + kh/s₀ − 1`,
//! `width = Wo + kw/s₁ − 1`). Over the "wide" output grid, column `b·rows·width + oh·width + ow`,
//! tap `(u, v)` is the cells shifted by `u·width + v`, as for `kernels::Planes` but across the
//! whole chunk at once: each product is `[O][C·s₀·s₁] × [C·s₀·s₁][images · rows · width]`, wide
//! enough for the `gemm` crate to run near its best even where a layer's planes are a few
//! pixels wide. The wide columns with `oh ≥ Ho` or `ow ≥ Wo` are discarded: they read the next
//! row, the next image, or the zero tail, never what a kept column needs; in the gradients they
//! carry a zero output gradient, so what they read does not count.

use super::direct::{self, Kernel};
use super::kernels::{Geometry, SUM_GROUPS, inner_parallelism, matmul, sum_in_groups};
use gemm::Parallelism;
use rayon::prelude::*;

impl Geometry {
    /// Whether [`forward`], [`backward_x`] and [`backward_w`] of this module compute the
    /// convolution: strided, each kernel side a multiple of its stride, padding not negative.
    pub(super) fn space_to_depth(&self) -> bool {
        self.stride != [1, 1]
            && self.kh.is_multiple_of(self.stride[0])
            && self.kw.is_multiple_of(self.stride[1])
            && self.padding[0] >= 0
            && self.padding[1] >= 0
    }
}

/// The cell layout of a geometry (see the module docs).
#[derive(Debug, Clone, Copy)]
struct Cells {
    /// Taps of the stride-1 convolution over the cells, `(kh/s₀, kw/s₁)`.
    taps: [usize; 2],
    /// Cell rows and columns per image.
    rows: usize,
    width: usize,
    /// Cell channels, `C·s₀·s₁`.
    channels: usize,
    /// Images per chunk.
    nb: usize,
}

impl Cells {
    fn new(g: &Geometry) -> Self {
        let [s0, s1] = g.stride;
        let taps = [g.kh.div_ceil(s0), g.kw.div_ceil(s1)];
        let (rows, width) = (g.ho + taps[0] - 1, g.wo + taps[1] - 1);
        let channels = g.c_in * s0 * s1;
        // wide enough products (≥ 2048 columns), a chunk's cells near the L2 cache (≤ 1 MiB),
        // and at least SUM_GROUPS chunks where the batch allows (the chunking depends on the
        // geometry only, so the weight gradient's grouping does not follow the thread count)
        let plane = rows * width;
        let by_width = 2048usize.div_ceil(plane);
        let by_memory = ((1 << 18) / (channels * plane)).max(1);
        let by_groups = g.batch.div_ceil(SUM_GROUPS).max(1);
        let nb = by_width.min(by_memory).min(by_groups).max(1);
        Self {
            taps,
            rows,
            width,
            channels,
            nb,
        }
    }

    fn plane(&self) -> usize {
        self.rows * self.width
    }

    /// Entries past the last wide column that the largest shift reads.
    fn tail(&self) -> usize {
        (self.taps[0] - 1) * self.width + self.taps[1] - 1
    }

    /// Row stride of the cells of `nb` images: their wide columns and the tail.
    fn row_stride(&self, nb: usize) -> usize {
        nb * self.plane() + self.tail()
    }

    /// The taps `(u, v)` with their shifts `u·width + v`, in order `t = u·taps₁ + v`.
    fn shifts(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.taps[0] * self.taps[1]).map(|t| (t, t / self.taps[1] * self.width + t % self.taps[1]))
    }

    /// Where each input row and column goes: `rows[ih] = a·s₁·rs + r·width` for input row
    /// `ih = r·s₀ + a − p₀`, `cols[iw] = b·rs + q` for `iw = q·s₁ + b − p₁`, with `rs` the row
    /// stride of the cells; `None` for the rows and columns past the last window, which no
    /// tap reads.
    fn targets(&self, g: &Geometry, rs: usize) -> (Vec<Option<usize>>, Vec<Option<usize>>) {
        let ([s0, s1], [p0, p1]) = (g.stride, g.padding);
        let rows = (0..g.h)
            .map(|ih| {
                let (r, a) = ((ih + p0 as usize) / s0, (ih + p0 as usize) % s0);
                (r < self.rows).then_some(a * s1 * rs + r * self.width)
            })
            .collect();
        let cols = (0..g.w)
            .map(|iw| {
                let (q, b) = ((iw + p1 as usize) / s1, (iw + p1 as usize) % s1);
                (q < self.width).then_some(b * rs + q)
            })
            .collect();
        (rows, cols)
    }

    /// `cells[(c·s₀ + a)·s₁ + b][m·plane + r·width + q] = x[m, c, r·s₀ + a − p₀, q·s₁ + b − p₁]`
    /// (zero outside the input) for the `nb` images of `x`, with row stride `rs` (at least
    /// [`Self::row_stride`]); everything else in `cells` is zero.
    fn fill(&self, g: &Geometry, x: &[f32], nb: usize, rs: usize, cells: &mut [f32]) {
        let (rows, cols) = self.targets(g, rs);
        let cols: Vec<(usize, usize)> = cols
            .iter()
            .enumerate()
            .filter_map(|(iw, c)| Some((iw, (*c)?)))
            .collect();
        let phases = g.stride[0] * g.stride[1];
        cells.fill(0.0);
        for m in 0..nb {
            for c in 0..g.c_in {
                let base = c * phases * rs + m * self.plane();
                let plane = &x[(m * g.c_in + c) * g.h * g.w..][..g.h * g.w];
                for (src, row) in plane.chunks_exact(g.w).zip(&rows) {
                    let Some(row) = row else { continue };
                    let dst = &mut cells[base + row..];
                    for &(iw, col) in &cols {
                        dst[col] = src[iw];
                    }
                }
            }
        }
    }

    /// The adjoint of [`Self::fill`] for `nb` images, from cells of row stride `rs`:
    /// `dx[m, c, ih, iw]` from the cell that holds it; pixels no cell holds get zero.
    fn unfill(&self, g: &Geometry, cells: &[f32], nb: usize, rs: usize, dx: &mut [f32]) {
        let (rows, cols) = self.targets(g, rs);
        let phases = g.stride[0] * g.stride[1];
        for m in 0..nb {
            for c in 0..g.c_in {
                let base = c * phases * rs + m * self.plane();
                let plane = &mut dx[(m * g.c_in + c) * g.h * g.w..][..g.h * g.w];
                for (dst, row) in plane.chunks_exact_mut(g.w).zip(&rows) {
                    let Some(row) = row else {
                        dst.fill(0.0);
                        continue;
                    };
                    let src = &cells[base + row..];
                    for (d, col) in dst.iter_mut().zip(&cols) {
                        *d = col.map_or(0.0, |col| src[col]);
                    }
                }
            }
        }
    }

    /// `wide[o·rw + lead + m·plane + oh·width + ow] = dy[m, o, oh, ow]` for `nb` images, with
    /// row stride `rw` and `lead` leading entries per row; zero everywhere else (the discarded
    /// columns, the leading entries and the row ends).
    fn widen(&self, g: &Geometry, dy: &[f32], nb: usize, rw: usize, lead: usize, wide: &mut [f32]) {
        wide.fill(0.0);
        for o in 0..g.c_out {
            for m in 0..nb {
                let src = &dy[(m * g.c_out + o) * g.l()..][..g.l()];
                let dst = &mut wide[o * rw + lead + m * self.plane()..][..self.plane()];
                for (d, s) in dst.chunks_exact_mut(self.width).zip(src.chunks_exact(g.wo)) {
                    d[..g.wo].copy_from_slice(s);
                }
            }
        }
    }

    /// `y[m, o, oh, ow] = wide[o·rw + m·plane + oh·width + ow]` for `nb` images.
    fn narrow(&self, g: &Geometry, wide: &[f32], nb: usize, rw: usize, y: &mut [f32]) {
        for m in 0..nb {
            for o in 0..g.c_out {
                let src = &wide[o * rw + m * self.plane()..][..g.ho * self.width];
                let dst = &mut y[(m * g.c_out + o) * g.l()..][..g.l()];
                for (d, s) in dst.chunks_exact_mut(g.wo).zip(src.chunks_exact(self.width)) {
                    d.copy_from_slice(&s[..g.wo]);
                }
            }
        }
    }

    /// The weights over the cells, `[O][taps][C·s₀·s₁]`:
    /// `w'[o][(u, v)][(c·s₀ + a)·s₁ + b] = w[o, c, u·s₀ + a, v·s₁ + b]`.
    fn kernel(&self, g: &Geometry, w: &[f32]) -> Vec<f32> {
        let (o_n, k) = (g.c_out, self.channels);
        let taps = self.taps[0] * self.taps[1];
        let mut out = vec![0.0f32; taps * o_n * k];
        self.for_each_tap(g, |t, c2, c, i, j| {
            for o in 0..o_n {
                out[(o * taps + t) * k + c2] = w[((o * g.c_in + c) * g.kh + i) * g.kw + j];
            }
        });
        out
    }

    /// Calls `f(cell tap, cell channel, c, i, j)` for every tap `(i, j)` and channel `c` of
    /// the original kernel.
    fn for_each_tap(&self, g: &Geometry, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
        let [s0, s1] = g.stride;
        for c in 0..g.c_in {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let (u, a, v, b) = (i / s0, i % s0, j / s1, j % s1);
                    f(u * self.taps[1] + v, (c * s0 + a) * s1 + b, c, i, j);
                }
            }
        }
    }

    /// Inner parallelism of the products of `chunks` chunks.
    fn par(&self, g: &Geometry) -> Parallelism {
        inner_parallelism(g.batch.div_ceil(self.nb))
    }
}

/// `y = conv2d(x, w)` without bias, `[B, O, Ho, Wo]`: per chunk of images, its cells, then
/// the stride-1 convolution over them by the direct micro-kernel the CPU runs
/// ([`direct::chosen`]), or else by one product per cell tap accumulated into the wide output.
pub(super) fn forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    forward_with(direct::chosen(), g, x, w)
}

fn forward_with(kernel: Option<Kernel>, g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    debug_assert!(g.space_to_depth());
    let cl = Cells::new(g);
    let (o, k, par) = (g.c_out, cl.channels, cl.par(g));
    let taps = cl.taps[0] * cl.taps[1];
    let wk = cl.kernel(g, w);
    let packed = kernel.map(|kernel| direct::pack(kernel, &wk, o, taps * k));
    let image_in = g.c_in * g.h * g.w;
    let mut y = vec![0.0f32; g.batch * o * g.l()];
    y.par_chunks_mut(cl.nb * o * g.l())
        .zip(x.par_chunks(cl.nb * image_in))
        .for_each(|(yc, xc)| {
            let nb = xc.len() / image_in;
            let n = nb * cl.plane();
            let rs = cl.row_stride(nb);
            match (kernel, &packed) {
                (Some(kernel), Some(packed)) => {
                    // the last block reads up to n_pad − n entries past the last row
                    let n_pad = n.next_multiple_of(kernel.nr());
                    let mut cells = vec![0.0f32; k * rs + (n_pad - n)];
                    let mut wide = vec![0.0f32; o * n_pad];
                    cl.fill(g, xc, nb, rs, &mut cells);
                    let offsets: Vec<usize> = cl
                        .shifts()
                        .flat_map(|(_, shift)| (0..k).map(move |c2| c2 * rs + shift))
                        .collect();
                    direct::conv(kernel, packed, &offsets, o, &cells, &mut wide, n_pad);
                    cl.narrow(g, &wide, nb, n_pad, yc);
                }
                _ => {
                    let mut cells = vec![0.0f32; k * rs];
                    let mut wide = vec![0.0f32; o * n];
                    cl.fill(g, xc, nb, rs, &mut cells);
                    for (t, shift) in cl.shifts() {
                        let lhs = (&wk[t * k..], taps * k, 1);
                        matmul(
                            o,
                            n,
                            k,
                            (&mut wide, n, 1),
                            t > 0,
                            lhs,
                            (&cells[shift..], rs, 1),
                            par,
                        );
                    }
                    cl.narrow(g, &wide, nb, n, yc);
                }
            }
        });
    y
}

/// Gradient with respect to `x`, `[B, C, H, W]`: per chunk, the wide output gradient, then
/// `∂cells[c'][q] = Σ_(t, o) w'[o][t][c'] · ∂wide[o][q − shift_t]`, a stride-1 convolution of
/// the wide gradient (by the direct micro-kernel, over rows with `tail` leading zeros), or else
/// one product per cell tap (`∂cells[:, q + shift] += w'ᵀ · ∂wide[:, q]`); then the cells back
/// to pixels.
pub(super) fn backward_x(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    backward_x_with(direct::chosen(), g, dy, w)
}

fn backward_x_with(kernel: Option<Kernel>, g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    debug_assert!(g.space_to_depth());
    let cl = Cells::new(g);
    let (o, k, par) = (g.c_out, cl.channels, cl.par(g));
    let taps = cl.taps[0] * cl.taps[1];
    let wk = cl.kernel(g, w);
    // w'ᵀ as [C'][(t, o)] for the direct kernel
    let packed = kernel.map(|kernel| {
        let mut wt = vec![0.0f32; k * taps * o];
        for oo in 0..o {
            for t in 0..taps {
                for c2 in 0..k {
                    wt[(c2 * taps + t) * o + oo] = wk[(oo * taps + t) * k + c2];
                }
            }
        }
        direct::pack(kernel, &wt, k, taps * o)
    });
    let image_in = g.c_in * g.h * g.w;
    let mut dx = vec![0.0f32; g.batch * image_in];
    dx.par_chunks_mut(cl.nb * image_in)
        .zip(dy.par_chunks(cl.nb * o * g.l()))
        .for_each(|(dxc, dyc)| {
            let nb = dxc.len() / image_in;
            let n = nb * cl.plane();
            match (kernel, &packed) {
                (Some(kernel), Some(packed)) => {
                    let (n_pad, lead) = (n.next_multiple_of(kernel.nr()), cl.tail());
                    let rd = lead + n_pad;
                    let mut wide = vec![0.0f32; o * rd];
                    cl.widen(g, dyc, nb, rd, lead, &mut wide);
                    let offsets: Vec<usize> = cl
                        .shifts()
                        .flat_map(|(_, shift)| (0..o).map(move |oo| oo * rd + lead - shift))
                        .collect();
                    let mut cells = vec![0.0f32; k * n_pad];
                    direct::conv(kernel, packed, &offsets, k, &wide, &mut cells, n_pad);
                    cl.unfill(g, &cells, nb, n_pad, dxc);
                }
                _ => {
                    let rs = cl.row_stride(nb);
                    let mut wide = vec![0.0f32; o * n];
                    let mut cells = vec![0.0f32; k * rs];
                    cl.widen(g, dyc, nb, n, 0, &mut wide);
                    for (t, shift) in cl.shifts() {
                        let lhs = (&wk[t * k..], 1, taps * k);
                        matmul(
                            k,
                            n,
                            o,
                            (&mut cells[shift..], rs, 1),
                            true,
                            lhs,
                            (&wide, n, 1),
                            par,
                        );
                    }
                    cl.unfill(g, &cells, nb, rs, dxc);
                }
            }
        });
    dx
}

/// Gradient with respect to `w`, `[O, C, kh, kw]`: per chunk, its cells and the wide output
/// gradient, one product per cell tap (`∂w'[t] += ∂wide · shifted cellsᵀ`); the chunks summed
/// in [`SUM_GROUPS`] fixed groups as in the other paths.
pub(super) fn backward_w(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    debug_assert!(g.space_to_depth());
    let cl = Cells::new(g);
    let (o, k, par) = (g.c_out, cl.channels, cl.par(g));
    let image_in = g.c_in * g.h * g.w;
    let taps = cl.taps[0] * cl.taps[1];
    let chunks = g.batch.div_ceil(cl.nb);
    let acc = sum_in_groups(chunks, taps * o * k, |units, acc| {
        for chunk in units {
            let (b0, b1) = (chunk * cl.nb, ((chunk + 1) * cl.nb).min(g.batch));
            let nb = b1 - b0;
            let (n, rs) = (nb * cl.plane(), cl.row_stride(nb));
            let mut cells = vec![0.0f32; k * rs];
            let mut wide = vec![0.0f32; o * n];
            cl.fill(g, &x[b0 * image_in..b1 * image_in], nb, rs, &mut cells);
            cl.widen(g, &dy[b0 * o * g.l()..b1 * o * g.l()], nb, n, 0, &mut wide);
            for (t, shift) in cl.shifts() {
                let dst = (&mut acc[t * k..], taps * k, 1);
                matmul(o, k, n, dst, true, (&wide, n, 1), (&cells[shift..], 1, rs), par);
            }
        }
    });
    let mut dw = vec![0.0f32; o * g.k()];
    cl.for_each_tap(g, |t, c2, c, i, j| {
        for oo in 0..o {
            dw[((oo * g.c_in + c) * g.kh + i) * g.kw + j] = acc[(oo * taps + t) * k + c2];
        }
    });
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast_conv::kernels::tests::{Case, dot, noise, reference};

    /// (x shape, weight shape, stride, padding): GloRo's two 4 × 4, stride-2 layers (one
    /// image more than a chunk, output channels not a multiple of a kernel block); unequal
    /// strides with taps only along one axis; stride 3 with two taps and a padding of 2;
    /// an input row and column no window reads; enough images for several chunks and a
    /// shorter last one.
    const CASES: [Case; 6] = [
        ([5, 1, 28, 28], [16, 1, 4, 4], [2, 2], [1, 1]),
        ([3, 4, 14, 14], [5, 4, 4, 4], [2, 2], [1, 1]),
        ([2, 3, 9, 11], [3, 3, 4, 2], [2, 1], [0, 2]),
        ([3, 2, 10, 9], [9, 2, 6, 3], [3, 3], [2, 0]),
        ([2, 2, 11, 10], [3, 2, 4, 4], [2, 2], [0, 0]),
        ([33, 2, 8, 8], [4, 2, 2, 2], [2, 2], [0, 0]),
    ];

    /// No kernel, then each direct micro-kernel this CPU runs.
    fn variants() -> Vec<Option<Kernel>> {
        let mut v = vec![None];
        for kernel in Kernel::ALL {
            if kernel.supported() {
                v.push(Some(kernel));
            } else {
                eprintln!("skipped: this CPU cannot run the {kernel:?} direct micro-kernel");
            }
        }
        v
    }

    fn geometry(case: Case) -> Geometry {
        let (xs, ws, s, p) = case;
        let g = Geometry::new(xs, ws, s, p).unwrap();
        assert!(g.space_to_depth(), "{g:?} does not take this path");
        g
    }

    #[test]
    fn forward_matches_the_definition() {
        for case in CASES {
            let g = geometry(case);
            let x = noise(g.batch * g.c_in * g.h * g.w, 51);
            let w = noise(g.c_out * g.k(), 52);
            let want = reference(&g, &x, &w);
            for kernel in variants() {
                let got = forward_with(kernel, &g, &x, &w);
                assert_eq!(got.len(), want.len());
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                        "{kernel:?} {case:?} at {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// ⟨conv(x, w), dy⟩ by the definition = ⟨x, backward_x(dy, w)⟩ = ⟨w, backward_w(x, dy)⟩:
    /// for random `x`, `w`, `dy` these hold only if both gradients are the adjoints.
    #[test]
    fn gradients_are_the_adjoints_of_the_definition() {
        for case in CASES {
            let g = geometry(case);
            let x = noise(g.batch * g.c_in * g.h * g.w, 53);
            let w = noise(g.c_out * g.k(), 54);
            let dy = noise(g.batch * g.c_out * g.l(), 55);
            let lhs = dot(&reference(&g, &x, &w), &dy);
            let tol = 1e-4 * (1.0 + lhs.abs());
            for kernel in variants() {
                let dx = backward_x_with(kernel, &g, &dy, &w);
                assert_eq!(dx.len(), x.len());
                let via_x = dot(&x, &dx);
                assert!((lhs - via_x).abs() < tol, "{kernel:?} {case:?}: {lhs} vs {via_x}");
            }
            let dw = backward_w(&g, &x, &dy);
            assert_eq!(dw.len(), w.len());
            let via_w = dot(&w, &dw);
            assert!((lhs - via_w).abs() < tol, "{case:?}: {lhs} vs {via_w}");
        }
    }
}
