//! Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2016, "Fast algorithms for
//! convolutional neural networks", §4) for 3 × 3, stride-1, padding-1 convolutions, all three
//! products.
//!
//! The output splits into 2 × 2 tiles; tile `t` reads a 4 × 4 input tile `d` and, for kernel
//! `g` (a correlation, as in CNNs), is
//!
//! `y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`,
//!
//! with `Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]`, `G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]`,
//! `Aᵀ = [1 1 1 0; 0 1 −1 −1]`. Summed over input channels, each of the 16 positions `ξ` of
//! the transformed tiles is one matrix product `M_ξ[O][T] = U_ξ[O][C] · V_ξ[C][T]` over the `T`
//! tiles of a chunk of images: 16 products of `O·C·T` instead of the 36 of the spatial
//! convolution (2.25 × fewer multiplications), plus the transforms, which are additions.
//!
//! - Input gradient: with stride 1 and padding 1 it is the same convolution of `dy` with the
//!   kernel flipped in space and transposed in channels, so [`forward`] again.
//! - Weight gradient: the forward is linear in `U = G g Gᵀ`, so per tile
//!   `∂g = Gᵀ [(Bᵀ d B) ⊙ (A dy Aᵀ)] G`; summed over tiles, each `ξ` is again one product
//!   `∂U_ξ[O][C] += (A dy Aᵀ)_ξ[O][T] · V_ξ[C][T]ᵀ`, and `Gᵀ ∂U G` is applied once at the end.
//!   The chunks follow the geometry only and are summed in fixed groups (as in the other
//!   weight-gradient paths), so results do not depend on the thread count.
//!
//! The products are the same sums as the spatial convolution's in exact arithmetic; in `f32`
//! the transforms add rounding of the order of the inputs' magnitude times a few units in the
//! last place (tests bound it against the definition). The conv layers that select this
//! ([`super::Algorithm::Winograd`]) say so; every other caller keeps the spatial products.

use super::kernels::{
    Geometry, flipped_kernel, group_parallelism, inner_parallelism, matmul, sum_in_groups, with_scratch,
};
use rayon::prelude::*;

/// Whether F(2×2, 3×3) computes this convolution: a 3 × 3 kernel, stride 1, padding 1, and at
/// least 16 input and output channels (with fewer, each of the 16 products is too thin for the
/// `gemm` crate to run well, and a network's first layer has no input gradient to gain).
pub fn applies(g: &Geometry) -> bool {
    g.kh == 3 && g.kw == 3 && g.stride == [1, 1] && g.padding == [1, 1] && g.c_in >= 16 && g.c_out >= 16
}

/// Tiles per image: `⌈Ho/2⌉ × ⌈Wo/2⌉`.
fn tiles(g: &Geometry) -> (usize, usize) {
    (g.ho.div_ceil(2), g.wo.div_ceil(2))
}

/// Images per chunk: about 2¹⁵ channel-tiles (`max(C, O)·T` ≤ 32 Ki, the 16 transformed
/// matrices of a chunk then take ≤ 2 MiB), at least one image; geometry only.
fn chunk(g: &Geometry) -> usize {
    let (th, tw) = tiles(g);
    let per_image = (th * tw * g.c_in.max(g.c_out)).max(1);
    ((1usize << 15) / per_image).clamp(1, g.batch.max(1))
}

/// `G p` for a 3-vector `p`, `G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]`.
fn g_times([a, b, e]: [f32; 3]) -> [f32; 4] {
    [a, 0.5 * (a + b + e), 0.5 * (a - b + e), e]
}

/// `Gᵀ p` for a 4-vector `p`, `Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1]`.
fn gt_times(p: [f32; 4]) -> [f32; 3] {
    [
        p[0] + 0.5 * (p[1] + p[2]),
        0.5 * (p[1] - p[2]),
        0.5 * (p[1] + p[2]) + p[3],
    ]
}

/// `U_ξ[O][C] = (G g Gᵀ)_ξ` for every output and input channel: `[16][O][C]`.
fn transform_kernel(g: &Geometry, w: &[f32]) -> Vec<f32> {
    let (o, c) = (g.c_out, g.c_in);
    let mut u = vec![0.0f32; 16 * o * c];
    for (oc, wk) in w.chunks_exact(c * 9).enumerate() {
        for (ic, k) in wk.chunks_exact(9).enumerate() {
            // G k: 4 × 3, then (G k) Gᵀ: 4 × 4
            let mut gk = [[0.0f32; 3]; 4];
            for j in 0..3 {
                for (i, v) in g_times([k[j], k[3 + j], k[6 + j]]).into_iter().enumerate() {
                    gk[i][j] = v;
                }
            }
            for (i, row) in gk.into_iter().enumerate() {
                for (j, v) in g_times(row).into_iter().enumerate() {
                    u[((i * 4 + j) * o + oc) * c + ic] = v;
                }
            }
        }
    }
    u
}

/// `V_ξ[C][T] = (Bᵀ d B)_ξ` for the tiles of the `nb` images of `x` (`[nb, C, H, W]`), into
/// `v` `[16][C][T]`; `pad` is scratch for one zero-padded plane.
fn transform_input(g: &Geometry, x: &[f32], nb: usize, v: &mut [f32], pad: &mut Vec<f32>) {
    let (th, tw) = tiles(g);
    let (c, t) = (g.c_in, nb * th * tw);
    // padded plane: rows 2·th + 2, columns 2·tw + 2, input (r, q) at (r + 1, q + 1)
    let (rows, cols) = (2 * th + 2, 2 * tw + 2);
    pad.clear();
    pad.resize(rows * cols, 0.0);
    let mut u = [
        vec![0.0f32; cols],
        vec![0.0f32; cols],
        vec![0.0f32; cols],
        vec![0.0f32; cols],
    ];
    let (mut even, mut odd) = (vec![0.0f32; tw + 1], vec![0.0f32; tw + 1]);
    for b in 0..nb {
        for ic in 0..c {
            let plane = &x[(b * c + ic) * g.h * g.w..][..g.h * g.w];
            for (r, src) in plane.chunks_exact(g.w).enumerate() {
                pad[(r + 1) * cols + 1..][..g.w].copy_from_slice(src);
            }
            for ti in 0..th {
                let row = |k: usize| &pad[(2 * ti + k) * cols..][..cols];
                let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                // Bᵀ d over the rows of every tile of this tile row at once
                for q in 0..cols {
                    u[0][q] = r0[q] - r2[q];
                    u[1][q] = r1[q] + r2[q];
                    u[2][q] = r2[q] - r1[q];
                    u[3][q] = r1[q] - r3[q];
                }
                let base = ic * t + (b * th + ti) * tw;
                for (i, ui) in u.iter().enumerate() {
                    for k in 0..=tw {
                        even[k] = ui[2 * k];
                        odd[k] = ui[2 * k + 1];
                    }
                    // (·) B over the columns: tile tj reads columns 2tj … 2tj + 3
                    let at = |j: usize| (i * 4 + j) * c * t + base;
                    let (s0, s1, s2, s3) = (at(0), at(1), at(2), at(3));
                    for (k, d) in v[s0..s0 + tw].iter_mut().enumerate() {
                        *d = even[k] - even[k + 1];
                    }
                    for (k, d) in v[s1..s1 + tw].iter_mut().enumerate() {
                        *d = odd[k] + even[k + 1];
                    }
                    for (k, d) in v[s2..s2 + tw].iter_mut().enumerate() {
                        *d = even[k + 1] - odd[k];
                    }
                    for (k, d) in v[s3..s3 + tw].iter_mut().enumerate() {
                        *d = odd[k] - odd[k + 1];
                    }
                }
            }
        }
    }
}

/// `y = Aᵀ M A` for the tiles of `nb` images, `m` `[16][O][T]`, into `y` `[nb, O, Ho, Wo]`.
fn transform_output(g: &Geometry, m: &[f32], nb: usize, y: &mut [f32]) {
    let (th, tw) = tiles(g);
    let (o, t) = (g.c_out, nb * th * tw);
    // rc[r][j]: row r of Aᵀ M for column j of the tiles of one tile row
    let mut rc = vec![vec![0.0f32; tw]; 8];
    for b in 0..nb {
        for oc in 0..o {
            let plane = &mut y[(b * o + oc) * g.ho * g.wo..][..g.ho * g.wo];
            for ti in 0..th {
                let base = oc * t + (b * th + ti) * tw;
                let at = |xi: usize| &m[xi * o * t + base..][..tw];
                // Aᵀ over the rows: row 0 = M₀ + M₁ + M₂, row 1 = M₁ − M₂ − M₃
                for j in 0..4 {
                    let (m0, m1, m2, m3) = (at(j), at(4 + j), at(8 + j), at(12 + j));
                    let (lo, hi) = rc.split_at_mut(4);
                    for k in 0..tw {
                        lo[j][k] = m0[k] + m1[k] + m2[k];
                        hi[j][k] = m1[k] - m2[k] - m3[k];
                    }
                }
                // (·) A over the columns: column 0 = c₀ + c₁ + c₂, column 1 = c₁ − c₂ − c₃
                for r in 0..2 {
                    let oh = 2 * ti + r;
                    if oh >= g.ho {
                        break;
                    }
                    let (c0, c1, c2, c3) = (&rc[4 * r], &rc[4 * r + 1], &rc[4 * r + 2], &rc[4 * r + 3]);
                    let dst = &mut plane[oh * g.wo..][..g.wo];
                    for (k, pair) in dst.chunks_mut(2).enumerate() {
                        pair[0] = c0[k] + c1[k] + c2[k];
                        if let Some(second) = pair.get_mut(1) {
                            *second = c1[k] - c2[k] - c3[k];
                        }
                    }
                }
            }
        }
    }
}

/// The convolution `y` `[B, O, Ho, Wo]` of `x` `[B, C, H, W]` with `w` `[O, C, 3, 3]`
/// ([`applies`] must hold).
pub fn forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    debug_assert!(applies(g));
    let u = transform_kernel(g, w);
    let (th, tw) = tiles(g);
    let (c, o, nb) = (g.c_in, g.c_out, chunk(g));
    let (image_in, image_out) = (c * g.h * g.w, o * g.ho * g.wo);
    let par = inner_parallelism(g.batch.div_ceil(nb));
    let mut y = vec![0.0f32; g.batch * image_out];
    y.par_chunks_mut(nb * image_out)
        .zip(x.par_chunks(nb * image_in))
        .for_each(|(yc, xc)| {
            let nb = xc.len() / image_in;
            let t = nb * th * tw;
            with_scratch(16 * c * t, 16 * o * t, |v, m| {
                let mut pad = Vec::new();
                transform_input(g, xc, nb, v, &mut pad);
                for xi in 0..16 {
                    matmul(
                        o,
                        t,
                        c,
                        (&mut m[xi * o * t..], t, 1),
                        false,
                        (&u[xi * o * c..], c, 1),
                        (&v[xi * c * t..], t, 1),
                        par,
                    );
                }
                transform_output(g, m, nb, yc);
            })
        });
    y
}

/// Gradient with respect to `x`: [`forward`] of `dy` with `w` flipped in space and transposed
/// in channels (stride 1, padding 1 keep the shape).
pub fn backward_x(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (o, c) = (g.c_out, g.c_in);
    let flipped = flipped_kernel(g, w);
    let gt = Geometry::new([g.batch, o, g.ho, g.wo], [c, o, 3, 3], [1, 1], [1, 1])
        .expect("a 3 × 3, padding-1 convolution keeps its shape");
    forward(&gt, dy, &flipped)
}

/// `D_ξ[O][T] = (A dy Aᵀ)_ξ` for the tiles of `nb` images of `dy` (`[nb, O, Ho, Wo]`), into
/// `d` `[16][O][T]` (output positions past `Ho`, `Wo` count as zero).
fn transform_output_grad(g: &Geometry, dy: &[f32], nb: usize, d: &mut [f32]) {
    let (th, tw) = tiles(g);
    let (o, t) = (g.c_out, nb * th * tw);
    let (mut a, mut bb) = (vec![0.0f32; tw], vec![0.0f32; tw]);
    let mut rows = [
        [vec![0.0f32; tw], vec![0.0f32; tw]],
        [vec![0.0f32; tw], vec![0.0f32; tw]],
    ];
    for b in 0..nb {
        for oc in 0..o {
            let plane = &dy[(b * o + oc) * g.ho * g.wo..][..g.ho * g.wo];
            for ti in 0..th {
                // the tile row's two output rows, split into even (a) and odd (b) columns
                for (r, row) in rows.iter_mut().enumerate() {
                    let oh = 2 * ti + r;
                    if oh >= g.ho {
                        row[0].fill(0.0);
                        row[1].fill(0.0);
                        continue;
                    }
                    let src = &plane[oh * g.wo..][..g.wo];
                    for k in 0..tw {
                        row[0][k] = src[2 * k];
                        row[1][k] = if 2 * k + 1 < g.wo { src[2 * k + 1] } else { 0.0 };
                    }
                }
                let base = oc * t + (b * th + ti) * tw;
                // A q over the rows: (q0, q0 + q1, q0 − q1, −q1), then (·) Aᵀ over the columns
                for i in 0..4 {
                    for k in 0..tw {
                        let (q0a, q0b, q1a, q1b) =
                            (rows[0][0][k], rows[0][1][k], rows[1][0][k], rows[1][1][k]);
                        let (ra, rb) = match i {
                            0 => (q0a, q0b),
                            1 => (q0a + q1a, q0b + q1b),
                            2 => (q0a - q1a, q0b - q1b),
                            _ => (-q1a, -q1b),
                        };
                        a[k] = ra;
                        bb[k] = rb;
                    }
                    let row = |j: usize| (i * 4 + j) * o * t + base;
                    let (s0, s1, s2, s3) = (row(0), row(1), row(2), row(3));
                    for k in 0..tw {
                        d[s0 + k] = a[k];
                        d[s1 + k] = a[k] + bb[k];
                        d[s2 + k] = a[k] - bb[k];
                        d[s3 + k] = -bb[k];
                    }
                }
            }
        }
    }
}

/// Gradient with respect to `w`: `[O, C, 3, 3]`.
pub fn backward_w(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    debug_assert!(applies(g));
    let (th, tw) = tiles(g);
    let (c, o, nb) = (g.c_in, g.c_out, chunk(g));
    let (image_in, image_out) = (c * g.h * g.w, o * g.ho * g.wo);
    let chunks = g.batch.div_ceil(nb);
    let par = group_parallelism(chunks);
    let du = sum_in_groups(chunks, 16 * o * c, |units, acc| {
        let mut pad = Vec::new();
        for chunk in units {
            let (b0, b1) = (chunk * nb, ((chunk + 1) * nb).min(g.batch));
            let nb = b1 - b0;
            let t = nb * th * tw;
            let xc = &x[b0 * image_in..b1 * image_in];
            let dyc = &dy[b0 * image_out..b1 * image_out];
            with_scratch(16 * c * t, 16 * o * t, |v, d| {
                transform_input(g, xc, nb, v, &mut pad);
                transform_output_grad(g, dyc, nb, d);
                for xi in 0..16 {
                    // ∂U_ξ[O][C] += D_ξ[O][T] · V_ξ[C][T]ᵀ
                    matmul(
                        o,
                        c,
                        t,
                        (&mut acc[xi * o * c..], c, 1),
                        true,
                        (&d[xi * o * t..], t, 1),
                        (&v[xi * c * t..], 1, t),
                        par,
                    );
                }
            });
        }
    });
    // ∂g = Gᵀ ∂U G per channel pair
    let mut dw = vec![0.0f32; o * c * 9];
    dw.par_chunks_mut(c * 9).enumerate().for_each(|(oc, dwo)| {
        for (ic, k) in dwo.chunks_exact_mut(9).enumerate() {
            let at = |i: usize, j: usize| du[((i * 4 + j) * o + oc) * c + ic];
            // columns first: for each row i of ∂U, Gᵀ over j gives 3 values
            let r: [[f32; 3]; 4] =
                std::array::from_fn(|i| gt_times([at(i, 0), at(i, 1), at(i, 2), at(i, 3)]));
            for j in 0..3 {
                let col = gt_times([r[0][j], r[1][j], r[2][j], r[3][j]]);
                for i in 0..3 {
                    k[i * 3 + j] = col[i];
                }
            }
        }
    });
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast_conv::kernels::tests::{dot, noise, reference};

    /// Odd and even planes, non-square, one tile row or column, several chunks, and channel
    /// counts on both sides of the products' blocking.
    const CASES: [([usize; 4], usize); 5] = [
        ([3, 16, 8, 8], 16),
        ([2, 17, 7, 5], 19),
        ([1, 16, 2, 9], 24),
        ([33, 16, 4, 4], 16),
        ([2, 40, 12, 3], 20),
    ];

    fn geometry(xs: [usize; 4], o: usize) -> Geometry {
        Geometry::new(xs, [o, xs[1], 3, 3], [1, 1], [1, 1]).unwrap()
    }

    /// Largest difference from the definition over the largest magnitude of the definition.
    fn rel_err(got: &[f32], want: &[f32]) -> f32 {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        got.iter()
            .zip(want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
            / scale
    }

    /// `∂w` of the definition in `f64`: `Σ_{b, oh, ow} dy[b, o, oh, ow] · x[b, c, oh + i − 1, ow + j − 1]`.
    fn weight_gradient_f64(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let (c, o, h, w) = (g.c_in, g.c_out, g.h, g.w);
        let mut dw = vec![0.0f32; o * c * 9];
        for oc in 0..o {
            for ic in 0..c {
                for k in 0..9 {
                    let (i, j) = (k / 3, k % 3);
                    let mut s = 0.0f64;
                    for b in 0..g.batch {
                        for oh in 0..g.ho {
                            let ih = oh + i;
                            if ih < 1 || ih > h {
                                continue;
                            }
                            for ow in 0..g.wo {
                                let iw = ow + j;
                                if iw < 1 || iw > w {
                                    continue;
                                }
                                let d = dy[((b * o + oc) * g.ho + oh) * g.wo + ow] as f64;
                                s += d * x[((b * c + ic) * h + ih - 1) * w + iw - 1] as f64;
                            }
                        }
                    }
                    dw[(oc * c + ic) * 9 + k] = s as f32;
                }
            }
        }
        dw
    }

    /// At the sizes of ResNet-18's first and last Winograd layers (sums over 576 and 4608
    /// products), the forward and weight gradient stay within 2·10⁻⁶ of the largest output
    /// of the `f64` definition, and within 4 × the spatial products' own difference from it.
    #[test]
    fn rounding_at_resnet_sizes_stays_near_the_spatial_products() {
        for (xs, o) in [([2, 64, 32, 32], 64), ([2, 512, 4, 4], 512)] {
            let g = geometry(xs, o);
            let x = noise(xs.iter().product(), 7);
            let w = noise(o * xs[1] * 9, 8);
            let dy = noise(g.batch * o * g.l(), 9);
            let products = [
                (
                    "forward",
                    forward(&g, &x, &w),
                    crate::fast_conv::kernels::forward(&g, &x, &w),
                    reference(&g, &x, &w),
                ),
                (
                    "weight gradient",
                    backward_w(&g, &x, &dy),
                    crate::fast_conv::kernels::backward_w(&g, &x, &dy),
                    weight_gradient_f64(&g, &x, &dy),
                ),
            ];
            for (name, winograd, spatial, want) in products {
                let (ours, spatial) = (rel_err(&winograd, &want), rel_err(&spatial, &want));
                assert!(
                    ours < 2e-6 && ours < 4.0 * spatial.max(1e-7),
                    "{xs:?}: {name} {ours} against spatial {spatial}"
                );
            }
        }
    }

    #[test]
    fn applies_only_to_3x3_stride_1_padding_1_with_enough_channels() {
        assert!(applies(&geometry([2, 16, 8, 8], 16)));
        assert!(!applies(&geometry([2, 3, 8, 8], 64)), "a network's first layer");
        assert!(!applies(&geometry([2, 64, 8, 8], 8)));
        let strided = Geometry::new([2, 16, 8, 8], [16, 16, 3, 3], [2, 2], [1, 1]).unwrap();
        let unpadded = Geometry::new([2, 16, 8, 8], [16, 16, 3, 3], [1, 1], [0, 0]).unwrap();
        let wide = Geometry::new([2, 16, 8, 8], [16, 16, 5, 5], [1, 1], [1, 1]).unwrap();
        assert!(!applies(&strided) && !applies(&unpadded) && !applies(&wide));
    }

    #[test]
    fn forward_matches_the_definition() {
        for (xs, o) in CASES {
            let g = geometry(xs, o);
            let x = noise(xs.iter().product(), 1);
            let w = noise(o * xs[1] * 9, 2);
            let err = rel_err(&forward(&g, &x, &w), &reference(&g, &x, &w));
            assert!(err < 2e-6, "{xs:?} → {o}: relative error {err}");
        }
    }

    /// The input gradient against the definition (the forward of the flipped, transposed
    /// kernel), and the weight gradient against `⟨conv(x, w), dy⟩ = ⟨w, ∂w⟩` entry by entry:
    /// `∂w` at a single-entry kernel `e` is `⟨conv(x, e), dy⟩`.
    #[test]
    fn gradients_match_the_definition() {
        for (xs, o) in CASES {
            let g = geometry(xs, o);
            let c = xs[1];
            let x = noise(xs.iter().product(), 3);
            let w = noise(o * c * 9, 4);
            let dy = noise(g.batch * o * g.l(), 5);
            let mut flipped = vec![0.0f32; c * o * 9];
            for oc in 0..o {
                for ic in 0..c {
                    for k in 0..9 {
                        flipped[(ic * o + oc) * 9 + 8 - k] = w[(oc * c + ic) * 9 + k];
                    }
                }
            }
            let gt = Geometry::new([g.batch, o, g.ho, g.wo], [c, o, 3, 3], [1, 1], [1, 1]).unwrap();
            let err = rel_err(&backward_x(&g, &dy, &w), &reference(&gt, &dy, &flipped));
            assert!(err < 2e-6, "{xs:?} → {o}: input gradient, relative error {err}");
            let dw = backward_w(&g, &x, &dy);
            let want: Vec<f32> = (0..o * c * 9)
                .map(|e| {
                    let mut unit = vec![0.0f32; o * c * 9];
                    unit[e] = 1.0;
                    dot(&reference(&g, &x, &unit), &dy) as f32
                })
                .collect();
            let err = rel_err(&dw, &want);
            assert!(err < 2e-6, "{xs:?} → {o}: weight gradient, relative error {err}");
        }
    }
}
