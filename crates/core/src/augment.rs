//! Augmentations as batched tensor operations on the device: every sample of a
//! `[B, C, H, W]` batch in [0, 1] gets its own random parameters, drawn from the device's
//! seeded generator, and no Rust loop runs over the batch.
//!
//! Normalise *after* augmenting ([`normalize`]). The SSL recipes (BYOL/SimSiam) chain
//! [`random_resized_crop`], [`horizontal_flip`], [`color_jitter`], [`grayscale`] and, for
//! STL-10, [`gaussian_blur`]; the CIFAR recipes use [`random_crop`] and [`horizontal_flip`].

use crate::data::Normalization;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Bool, Device, Distribution, Int, Tensor, TensorData};

fn uniform(n: usize, low: f64, high: f64, device: &Device) -> Tensor<1> {
    if high <= low {
        return Tensor::full([n], low, device);
    }
    Tensor::random([n], Distribution::Uniform(low, high), device)
}

/// `[B]` booleans, each true with probability `p`.
fn coin(n: usize, p: f64, device: &Device) -> Tensor<1, Bool> {
    uniform(n, 0.0, 1.0, device).lower_elem(p)
}

fn per_sample_mask(mask: Tensor<1, Bool>, dims: [usize; 4]) -> Tensor<4, Bool> {
    mask.reshape([dims[0], 1, 1, 1]).expand(dims)
}

/// Gathers rows (`dim = 2`) or columns (`dim = 3`) with per-sample indices `[B, L]`.
fn gather_lines(x: Tensor<4>, dim: usize, idx: Tensor<2, Int>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let l = idx.dims()[1];
    let (shape, view) = if dim == 2 {
        ([b, c, l, w], [b, 1, l, 1])
    } else {
        ([b, c, h, l], [b, 1, 1, l])
    };
    x.gather(dim, idx.reshape(view).expand(shape))
}

/// Random crop of the original size after zero padding by `padding` on every side.
pub fn random_crop(x: Tensor<4>, padding: usize) -> Tensor<4> {
    let [b, _, h, w] = x.dims();
    let device = x.device();
    let padded = x.pad([(padding, padding), (padding, padding)], PadMode::Constant(0.0));
    let span = (2 * padding + 1) as f64;
    let offsets = |len: usize| {
        let off = uniform(b, 0.0, span, &device).floor().int().reshape([b, 1]);
        off + Tensor::<1, Int>::arange(0..len as i64, &device).reshape([1, len])
    };
    let rows = gather_lines(padded, 2, offsets(h));
    gather_lines(rows, 3, offsets(w))
}

/// Bilinear resampling of per-sample windows `[start, start + size)` (in pixels, `[B]` each)
/// of one axis to `out` samples.
fn resample_axis(x: Tensor<4>, dim: usize, start: Tensor<1>, size: Tensor<1>, out: usize) -> Tensor<4> {
    let dims = x.dims();
    let (b, len) = (dims[0], dims[dim]);
    let device = x.device();
    let centers = Tensor::<1, Int>::arange(0..out as i64, &device)
        .float()
        .add_scalar(0.5)
        .reshape([1, out]);
    let src = start.reshape([b, 1]) + centers * size.reshape([b, 1]).div_scalar(out as f64);
    let src = src.sub_scalar(0.5).clamp(0.0, (len - 1) as f64);
    let lo = src.clone().floor();
    let frac = src - lo.clone();
    let lo_i = lo.int();
    let hi_i = lo_i.clone().add_scalar(1).clamp_max(len as i64 - 1);
    let a = gather_lines(x.clone(), dim, lo_i);
    let c = gather_lines(x, dim, hi_i);
    let view = if dim == 2 { [b, 1, out, 1] } else { [b, 1, 1, out] };
    let frac = frac.reshape(view);
    a.clone() + (c - a) * frac
}

/// Random resized crop (Inception-style): a window of `scale` of the area and aspect ratio in
/// `ratio` (log-uniform), resized bilinearly to `size × size`. Windows larger than the image
/// are clipped to it instead of redrawn (torchvision redraws up to ten times).
pub fn random_resized_crop(x: Tensor<4>, size: usize, scale: (f64, f64), ratio: (f64, f64)) -> Tensor<4> {
    let [b, _, h, w] = x.dims();
    let device = x.device();
    let area = uniform(b, scale.0, scale.1, &device).mul_scalar((h * w) as f64);
    let log_r = uniform(b, ratio.0.ln(), ratio.1.ln(), &device).exp();
    let cw = (area.clone() * log_r.clone()).sqrt().clamp(1.0, w as f64);
    let ch = (area / log_r).sqrt().clamp(1.0, h as f64);
    let y0 = uniform(b, 0.0, 1.0, &device) * (ch.clone().neg().add_scalar(h as f64));
    let x0 = uniform(b, 0.0, 1.0, &device) * (cw.clone().neg().add_scalar(w as f64));
    let rows = resample_axis(x, 2, y0, ch, size);
    resample_axis(rows, 3, x0, cw, size)
}

/// Mirrors each image left-right with probability `p`.
pub fn horizontal_flip(x: Tensor<4>, p: f64) -> Tensor<4> {
    let dims = x.dims();
    let mask = per_sample_mask(coin(dims[0], p, &x.device()), dims);
    x.clone().mask_where(mask, x.flip([3]))
}

/// Luma `[B, 1, H, W]` of RGB images (ITU-R 601 weights); single-channel images are returned as is.
fn luma(x: &Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = x.dims();
    if c == 1 {
        return x.clone();
    }
    let wts = Tensor::<1>::from_floats([0.299, 0.587, 0.114], &x.device()).reshape([1, 3, 1, 1]);
    (x.clone() * wts).sum_dim(1)
}

/// Converts each image to grayscale (kept at C channels) with probability `p`.
pub fn grayscale(x: Tensor<4>, p: f64) -> Tensor<4> {
    let dims = x.dims();
    let gray = luma(&x).expand(dims);
    let mask = per_sample_mask(coin(dims[0], p, &x.device()), dims);
    x.mask_where(mask, gray)
}

/// Colour-jitter strengths, as torchvision's `ColorJitter(brightness, contrast, saturation, hue)`.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Jitter {
    /// Brightness factor drawn from `U(max(0, 1 − b), 1 + b)`.
    pub brightness: f64,
    /// Contrast factor (around the image's mean luma) drawn from `U(max(0, 1 − c), 1 + c)`.
    pub contrast: f64,
    /// Saturation factor (around each pixel's luma) drawn from `U(max(0, 1 − s), 1 + s)`.
    pub saturation: f64,
    /// Hue rotation of `2π·U(−h, h)`.
    pub hue: f64,
}

impl Jitter {
    /// BYOL/SimSiam's `ColorJitter(0.4, 0.4, 0.4, 0.1)`.
    pub fn byol() -> Self {
        Self {
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
        }
    }
}

/// Colour jitter applied to each image with probability `p`, in the fixed order brightness,
/// contrast, saturation, hue. Hue is a rotation of the chroma plane in YIQ space by
/// `2π·U(−hue, hue)` (a linear stand-in for the HSV shift of torchvision).
pub fn color_jitter(x: Tensor<4>, j: Jitter, p: f64) -> Tensor<4> {
    let dims @ [b, c, h, w] = x.dims();
    let device = x.device();
    let factor = |s: f64| uniform(b, (1.0 - s).max(0.0), 1.0 + s, &device).reshape([b, 1, 1, 1]);
    let mut y = (x.clone() * factor(j.brightness)).clamp(0.0, 1.0);
    let mean = luma(&y).mean_dims(&[1, 2, 3]);
    y = ((y - mean.clone()) * factor(j.contrast) + mean).clamp(0.0, 1.0);
    if c == 3 {
        let gray = luma(&y);
        y = ((y - gray.clone()) * factor(j.saturation) + gray).clamp(0.0, 1.0);
        if j.hue > 0.0 {
            y = hue_rotate(y, uniform(b, -j.hue, j.hue, &device)).clamp(0.0, 1.0);
        }
    }
    let mask = per_sample_mask(coin(b, p, &device), dims);
    let _ = (h, w);
    x.mask_where(mask, y)
}

/// Rotates the IQ chroma of RGB images by `2π·turns` (per sample, `[B]`).
fn hue_rotate(x: Tensor<4>, turns: Tensor<1>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let device = x.device();
    let to_yiq = [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ];
    // The exact inverse of `to_yiq` (the usual three-decimal table is off by up to 3e-3),
    // so a zero rotation is the identity and luma is kept, both to f32 rounding.
    let from_yiq = [
        [1.0, 0.956_170_7, 0.621_432_6],
        [1.0, -0.272_688_6, -0.646_813_2],
        [1.0, -1.103_744_1, 1.700_623_1],
    ];
    let m = |a: [[f32; 3]; 3]| Tensor::<2>::from_data(TensorData::new(a.concat(), [3, 3]), &device);
    let angle = turns.mul_scalar(std::f64::consts::TAU);
    let (cos, sin) = (angle.clone().cos(), angle.sin());
    // per-sample rotation diag(1, R(θ)) in YIQ, as [B, 3, 3]
    let one = Tensor::<1>::ones([b], &device);
    let zero = Tensor::<1>::zeros([b], &device);
    let rot = Tensor::stack::<2>(
        vec![
            one,
            zero.clone(),
            zero.clone(),
            zero.clone(),
            cos.clone(),
            sin.clone().neg(),
            zero,
            sin,
            cos,
        ],
        1,
    )
    .reshape([b, 3, 3]);
    let full = m(from_yiq)
        .unsqueeze::<3>()
        .matmul(rot)
        .matmul(m(to_yiq).unsqueeze::<3>());
    full.matmul(x.reshape([b, c, h * w])).reshape([b, c, h, w])
}

/// Gaussian blur with probability `p`, σ ~ U(σ_min, σ_max) per image, separable kernel of
/// odd size `kernel` (BYOL uses about a tenth of the image side).
pub fn gaussian_blur(x: Tensor<4>, kernel: usize, sigma: (f64, f64), p: f64) -> Tensor<4> {
    let dims @ [b, c, h, w] = x.dims();
    let device = x.device();
    let k = kernel | 1;
    let r = (k / 2) as i64;
    let sig = uniform(b, sigma.0, sigma.1, &device).reshape([b, 1]);
    let t = Tensor::<1, Int>::arange(-r..r + 1, &device)
        .float()
        .reshape([1, k]);
    let weights = (t.powf_scalar(2.0) / (sig.powf_scalar(2.0).mul_scalar(2.0)))
        .neg()
        .exp();
    let weights = weights.clone() / weights.sum_dim(1); // [B, k]
    // one group per (sample, channel): the batch folds into channels
    let wk = weights
        .reshape([b, 1, k])
        .expand([b, c, k])
        .reshape([b * c, 1, k]);
    let flat = x.clone().reshape([1, b * c, h, w]);
    let opts = |pad: [usize; 2]| ConvOptions::new([1, 1], pad, [1, 1], b * c);
    let y = conv2d(
        flat.pad([(r as usize, r as usize), (0, 0)], PadMode::Reflect),
        wk.clone().reshape([b * c, 1, k, 1]),
        None,
        opts([0, 0]),
    );
    let y = conv2d(
        y.pad([(0, 0), (r as usize, r as usize)], PadMode::Reflect),
        wk.reshape([b * c, 1, 1, k]),
        None,
        opts([0, 0]),
    );
    let y = y.reshape(dims);
    let mask = per_sample_mask(coin(b, p, &device), dims);
    x.mask_where(mask, y)
}

/// Adds `N(0, σ²)` noise to every pixel.
pub fn gaussian_noise(x: Tensor<4>, sigma: f64) -> Tensor<4> {
    let noise = x.random_like(Distribution::Normal(0.0, sigma));
    x + noise
}

/// Per-channel `(x - mean) / std` on the device.
pub fn normalize(x: Tensor<4>, n: &Normalization) -> Tensor<4> {
    let [_, c, _, _] = x.dims();
    let device = x.device();
    let pick = |v: &[f32]| -> Vec<f32> { (0..c).map(|i| v[i % v.len()]).collect() };
    let mean = Tensor::<1>::from_floats(pick(&n.mean).as_slice(), &device).reshape([1, c, 1, 1]);
    let std = Tensor::<1>::from_floats(pick(&n.std).as_slice(), &device).reshape([1, c, 1, 1]);
    (x - mean) / std
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;

    fn device() -> Device {
        let d = Device::flex();
        d.seed(3);
        d
    }

    fn ramp(b: usize, c: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
        let n = b * c * h * w;
        let v: Vec<f32> = (0..n).map(|i| (i % (h * w)) as f32 / (h * w) as f32).collect();
        Tensor::from_data(TensorData::new(v, [b, c, h, w]), device)
    }

    fn vals(x: Tensor<4>) -> Vec<f32> {
        x.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn random_crop_shifts_each_sample_by_an_integer_offset() {
        let d = device();
        let x = ramp(16, 1, 6, 6, &d);
        let y = random_crop(x.clone(), 2);
        assert_eq!(y.dims(), [16, 1, 6, 6]);
        let (xv, yv) = (vals(x), vals(y));
        let mut distinct = std::collections::HashSet::new();
        for s in 0..16 {
            let img = &yv[s * 36..(s + 1) * 36];
            // find the offset that explains the crop: every non-padded pixel matches the source
            let found = (-2i32..=2)
                .flat_map(|dy| (-2i32..=2).map(move |dx| (dy, dx)))
                .find(|&(dy, dx)| {
                    (0..6).all(|i| {
                        (0..6).all(|j| {
                            let (si, sj) = (i as i32 + dy, j as i32 + dx);
                            let want = if (0..6).contains(&si) && (0..6).contains(&sj) {
                                xv[s * 36 + (si * 6 + sj) as usize]
                            } else {
                                0.0
                            };
                            img[i * 6 + j] == want
                        })
                    })
                });
            distinct.insert(found.expect("crop is a shifted window"));
        }
        assert!(
            distinct.len() > 3,
            "offsets should vary across the batch: {distinct:?}"
        );
    }

    #[test]
    fn flip_with_p_one_mirrors_and_p_zero_keeps() {
        let d = device();
        let x = ramp(2, 1, 2, 3, &d);
        assert_eq!(vals(horizontal_flip(x.clone(), 1.0)), vals(x.clone().flip([3])));
        assert_eq!(vals(horizontal_flip(x.clone(), 0.0)), vals(x));
    }

    #[test]
    fn resized_crop_of_full_window_is_identity() {
        let d = device();
        let x = ramp(3, 3, 8, 8, &d);
        let y = random_resized_crop(x.clone(), 8, (1.0, 1.0), (1.0, 1.0));
        for (a, b) in vals(x).iter().zip(vals(y)) {
            assert!((a - b).abs() < 1e-5);
        }
        let small = random_resized_crop(ramp(4, 3, 32, 32, &d), 16, (0.08, 1.0), (0.75, 1.333));
        assert_eq!(small.dims(), [4, 3, 16, 16]);
        assert!(vals(small).iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn grayscale_and_jitter_keep_range_and_gray_has_equal_channels() {
        let d = device();
        let x = Tensor::<4>::random([4, 3, 5, 5], Distribution::Default, &d);
        let g = vals(grayscale(x.clone(), 1.0));
        for s in 0..4 {
            for p in 0..25 {
                let base = s * 75 + p;
                assert!((g[base] - g[base + 25]).abs() < 1e-6 && (g[base] - g[base + 50]).abs() < 1e-6);
            }
        }
        let j = vals(color_jitter(x.clone(), Jitter::byol(), 1.0));
        assert!(j.iter().all(|v| (-1e-6..=1.0 + 1e-6).contains(v)));
        assert_ne!(j, vals(x.clone()));
        assert_eq!(vals(color_jitter(x.clone(), Jitter::byol(), 0.0)), vals(x));
    }

    /// One RGB pixel rotated by `turns` in YIQ, computed independently of [`hue_rotate`] in f64.
    fn rotate_pixel(rgb: [f64; 3], turns: f64) -> [f64; 3] {
        let y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
        let i = 0.596 * rgb[0] - 0.274 * rgb[1] - 0.322 * rgb[2];
        let q = 0.211 * rgb[0] - 0.523 * rgb[1] + 0.312 * rgb[2];
        let (s, c) = (std::f64::consts::TAU * turns).sin_cos();
        let (i, q) = (c * i - s * q, s * i + c * q);
        // solve to_yiq · rgb' = (y, i, q) by Cramer's rule
        let m = [
            [0.299, 0.587, 0.114],
            [0.596, -0.274, -0.322],
            [0.211, -0.523, 0.312],
        ];
        let det = |a: [[f64; 3]; 3]| {
            a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
                - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
        };
        let rhs = [y, i, q];
        std::array::from_fn(|col| {
            let mut a = m;
            for (row, r) in a.iter_mut().enumerate() {
                r[col] = rhs[row];
            }
            det(a) / det(m)
        })
    }

    #[test]
    fn hue_rotation_by_zero_is_identity_and_preserves_luma() {
        // a 3×3 matrix product of values in [0, 1]: a few f32 ulps of 1
        const TOL: f32 = 1e-5;
        let d = device();
        let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Default, &d);
        let xv = vals(x.clone());
        let close = |got: Vec<f32>, want: &[f32], what: &str| {
            for (k, (a, b)) in got.iter().zip(want).enumerate() {
                assert!((a - b).abs() < TOL, "{what}: element {k}: {a} against {b}");
            }
        };
        close(
            vals(hue_rotate(x.clone(), Tensor::zeros([2], &d))),
            &xv,
            "zero turns",
        );
        close(
            vals(hue_rotate(x.clone(), Tensor::ones([2], &d))),
            &xv,
            "one full turn",
        );
        // half a turn negates the chroma: every channel becomes 2·luma − itself
        let y = vals(luma(&x));
        let mirrored: Vec<f32> = xv
            .iter()
            .enumerate()
            .map(|(k, v)| 2.0 * y[(k / 48) * 16 + k % 16] - v)
            .collect();
        close(
            vals(hue_rotate(x.clone(), Tensor::full([2], 0.5, &d))),
            &mirrored,
            "half a turn",
        );
        // a quarter turn (and a tenth the other way) against the rotation done by hand
        let turns = [0.25, -0.1];
        let turned = vals(hue_rotate(x.clone(), Tensor::from_floats(turns, &d)));
        for (s, t) in turns.into_iter().enumerate() {
            for p in 0..16 {
                let at = |c: usize| s * 48 + c * 16 + p;
                let want = rotate_pixel(std::array::from_fn(|c| xv[at(c)] as f64), t);
                for (c, w) in want.into_iter().enumerate() {
                    assert!(
                        (turned[at(c)] as f64 - w).abs() < 1e-5,
                        "sample {s} pixel {p} channel {c}: {} against {w}",
                        turned[at(c)]
                    );
                }
            }
        }
        let turned = Tensor::<1>::from_floats(turned.as_slice(), &d).reshape([2, 3, 4, 4]);
        close(vals(luma(&turned)), &y, "luma after turning");
    }

    #[test]
    fn blur_preserves_constants_and_smooths() {
        let d = device();
        let x = Tensor::<4>::ones([2, 3, 9, 9], &d).mul_scalar(0.5);
        for v in vals(gaussian_blur(x, 5, (0.5, 2.0), 1.0)) {
            assert!((v - 0.5).abs() < 1e-5);
        }
        let spike = Tensor::<4>::zeros([1, 1, 9, 9], &d)
            .slice_assign([0..1, 0..1, 4..5, 4..5], Tensor::ones([1, 1, 1, 1], &d));
        let blurred = vals(gaussian_blur(spike, 5, (1.0, 1.0), 1.0));
        let total: f32 = blurred.iter().sum();
        assert!((total - 1.0).abs() < 1e-4 && blurred[40] < 0.5 && blurred[41] > 0.0);
    }

    #[test]
    fn normalisation_and_noise_statistics() {
        let d = device();
        let x = Tensor::<4>::ones([1, 2, 2, 2], &d).mul_scalar(0.5);
        let n = Normalization {
            mean: vec![0.5, 0.25],
            std: vec![1.0, 0.5],
        };
        assert_eq!(
            vals(normalize(x, &n)),
            vec![0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5]
        );
        let z = gaussian_noise(Tensor::zeros([1, 1, 100, 100], &d), 0.1);
        let v = vals(z);
        let var = v.iter().map(|a| a * a).sum::<f32>() / v.len() as f32;
        assert!((var.sqrt() - 0.1).abs() < 0.005, "std {}", var.sqrt());
    }
}
