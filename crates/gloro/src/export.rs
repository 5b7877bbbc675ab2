//! Export of a trained GloRo Net as safetensors, for checking in another framework.
//!
//! Tensors (all `F32`, row-major, PyTorch layouts):
//!
//! | name | shape | meaning |
//! |---|---|---|
//! | `body.{n}.weight` | conv `[out, in, k, k]`, dense `[out, in]` | n-th Lipschitz-bounded body layer |
//! | `body.{n}.bias` | `[out]` | its bias |
//! | `body.{n}.lipschitz` | `[1]` | its sound spectral-norm bound ([`crate::bounds`]), rounded up to f32 |
//! | `head.weight` | `[m, d]` | last layer; row i is w_i |
//! | `head.bias` | `[m]` | |
//! | `lipschitz.body` | `[1]` | K, the product of the body bounds, rounded up to f32 |
//!
//! The metadata key `gloro` holds JSON with the input shape, the layer list (kind, stride,
//! padding), the activation and its channel pairing, the flatten order (NCHW, channel-major)
//! and ε, and the bound method of each layer. With these, y_⊥ = max_{i≠j} y_i + ε·K·‖w_j − w_i‖
//! can be recomputed; the f32 values of K and the layer bounds are rounded up, never to
//! nearest, so they remain upper bounds.

use crate::certify::Certifier;
use crate::error::{GloroError, Result};
use crate::model::Layer;
use std::collections::HashMap;
use std::path::Path;

fn floats<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// One exported tensor: name, shape, row-major values.
pub type ExportTensor = (String, Vec<usize>, Vec<f32>);

/// `x` as the smallest f32 that is ≥ `x`.
pub fn f32_up(x: f64) -> f32 {
    let f = x as f32;
    if (f as f64) < x { f.next_up() } else { f }
}

/// Collects the export's tensors `(name, shape, values)` and its metadata JSON, with the
/// certifier's per-layer bounds and K.
pub fn collect(certifier: &Certifier, input: [usize; 3]) -> (Vec<ExportTensor>, serde_json::Value) {
    let model = certifier.model;
    let mut out = Vec::new();
    let mut layers = Vec::new();
    let mut n = 0;
    for layer in &model.layers {
        match layer {
            Layer::Conv(c) => {
                let w = c.conv.weight.val();
                let shape = w.dims().to_vec();
                out.push((format!("body.{n}.weight"), shape, floats(w)));
                if let Some(b) = &c.conv.bias {
                    out.push((format!("body.{n}.bias"), b.val().dims().to_vec(), floats(b.val())));
                }
                layers.push(serde_json::json!({"kind": "conv2d", "index": n, "stride": c.stride, "padding": c.padding}));
            }
            Layer::Dense(d) => {
                let w = d.linear.weight.val().transpose(); // Burn stores [in, out]
                out.push((format!("body.{n}.weight"), w.dims().to_vec(), floats(w)));
                if let Some(b) = &d.linear.bias {
                    out.push((format!("body.{n}.bias"), b.val().dims().to_vec(), floats(b.val())));
                }
                layers.push(serde_json::json!({"kind": "dense", "index": n}));
            }
            Layer::MinMax(_) => layers
                .push(serde_json::json!({"kind": "minmax", "pairs": "channels (2k, 2k+1) -> (min, max)"})),
            Layer::Relu(_) => layers.push(serde_json::json!({"kind": "relu"})),
            Layer::Flatten(_) => {
                layers.push(serde_json::json!({"kind": "flatten", "order": "NCHW (channel-major)"}))
            }
        }
        if layer.bounded().is_some() {
            let b = &certifier.layers[n];
            out.push((format!("body.{n}.lipschitz"), vec![1], vec![f32_up(b.upper)]));
            if let Some(last) = layers.last_mut() {
                last["bound"] = serde_json::json!(b.method);
            }
            n += 1;
        }
    }
    let hw = model.class_weights();
    out.push(("head.weight".into(), hw.dims().to_vec(), floats(hw)));
    if let Some(b) = &model.head.bias {
        out.push(("head.bias".into(), b.val().dims().to_vec(), floats(b.val())));
    }
    out.push(("lipschitz.body".into(), vec![1], vec![f32_up(certifier.k)]));
    let meta = serde_json::json!({
        "format": "gloro-export-v1",
        "input": input,
        "eps": certifier.eps,
        "bound_method": certifier.options.bound,
        "certificate": certifier.options.is_certificate(),
        "layers": layers,
        "bot_logit": "y_bot = max_{i != j} y_i + eps * K * ||w_j - w_i||, j = argmax y",
    });
    (out, meta)
}

/// Writes the export of `certifier`'s model and bounds to `path` (atomically).
pub fn export(certifier: &Certifier, input: [usize; 3], path: &Path) -> Result<()> {
    let err = |message: String| GloroError::file(path, message);
    let (tensors, meta) = collect(certifier, input);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, s, v)| (n, s, v.iter().flat_map(|f| f.to_le_bytes()).collect()))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| err(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let info = HashMap::from([("gloro".to_string(), meta.to_string())]);
    let data = safetensors::serialize(views, Some(info)).map_err(|e| err(e.to_string()))?;
    repro_core::train::run_dir::write_atomic(path, &data).map_err(|e| err(e.to_string()))
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::certify::{CertifyOptions, Convergence};
    use crate::margin::{MarginForm, gloro_logits};
    use crate::model::{ConvSpec, GloroNetConfig};
    use burn::tensor::{Device, Distribution, Tensor};
    use safetensors::SafeTensors;

    fn read(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f64>) {
        let t = st.tensor(name).unwrap();
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect();
        (t.shape().to_vec(), v)
    }

    /// MinMax on channel pairs of `[c, n]` (n values per channel).
    fn minmax(h: &mut [f64], c: usize, n: usize) {
        for k in 0..c / 2 {
            for p in 0..n {
                let (a, b) = (h[2 * k * n + p], h[(2 * k + 1) * n + p]);
                h[2 * k * n + p] = a.min(b);
                h[(2 * k + 1) * n + p] = a.max(b);
            }
        }
    }

    #[test]
    fn export_recomputes_logits_and_bot_outside_burn() {
        let device = Device::flex();
        // conv 2→4 k3 s2 p1 on 5×5 (→ 3×3), MinMax, flatten (36), dense 6, MinMax, head 3
        let cfg = GloroNetConfig::new([2, 5, 5], vec![ConvSpec::new(4, 3).with_stride(2)], vec![6], 3);
        let model = cfg.init(&device);
        let eps = 0.2;
        let certifier = Certifier::new(&model, eps, CertifyOptions::sound(Convergence::default())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        export(&certifier, [2, 5, 5], &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let info: serde_json::Value =
            serde_json::from_str(&meta.metadata().as_ref().unwrap()["gloro"]).unwrap();
        let kinds: Vec<&str> = info["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["conv2d", "minmax", "flatten", "dense", "minmax"]);
        assert_eq!(info["bound_method"], "sound");
        assert_eq!(info["layers"][0]["bound"], "conv-exact");

        let (cs, cw) = read(&st, "body.0.weight");
        let (_, cb) = read(&st, "body.0.bias");
        let (ds, dw) = read(&st, "body.1.weight");
        let (_, db) = read(&st, "body.1.bias");
        let (hs, hw) = read(&st, "head.weight");
        let (_, hb) = read(&st, "head.bias");
        let (_, k) = read(&st, "lipschitz.body");
        assert_eq!(
            (cs.as_slice(), ds.as_slice(), hs.as_slice()),
            (&[4, 2, 3, 3][..], &[6, 36][..], &[3, 6][..])
        );
        // exported bounds are rounded up: never below the certifier's f64 values
        assert!(
            k[0] >= certifier.k && k[0] <= certifier.k * (1.0 + 1e-6),
            "{} vs {}",
            k[0],
            certifier.k
        );
        for (n, l) in certifier.layers.iter().enumerate() {
            assert!(read(&st, &format!("body.{n}.lipschitz")).1[0] >= l.upper);
        }

        let x = Tensor::<4>::random([4, 2, 5, 5], Distribution::Normal(0.0, 1.0), &device);
        let xv: Vec<f64> = x.to_data().convert::<f64>().try_to_vec::<f64>().unwrap();
        let burn = gloro_logits(
            model.forward(x),
            model.class_weights(),
            Tensor::from_floats([certifier.k as f32], &device),
            eps,
            MarginForm::Tight,
        )
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
        for (row, xr) in xv.chunks(50).enumerate() {
            // PyTorch layout [out, in, kh, kw], cross-correlation, stride 2, padding 1
            let mut h = vec![0.0; 36];
            for o in 0..4 {
                for y in 0..3 {
                    for xx in 0..3 {
                        let mut acc = cb[o];
                        for c in 0..2 {
                            for u in 0..3 {
                                for v in 0..3 {
                                    let (i, j) = ((2 * y + u) as isize - 1, (2 * xx + v) as isize - 1);
                                    if (0..5).contains(&i) && (0..5).contains(&j) {
                                        acc += cw[((o * 2 + c) * 3 + u) * 3 + v]
                                            * xr[(c * 5 + i as usize) * 5 + j as usize];
                                    }
                                }
                            }
                        }
                        h[(o * 3 + y) * 3 + xx] = acc; // NCHW flatten: channel-major
                    }
                }
            }
            minmax(&mut h, 4, 9);
            let mut z: Vec<f64> = (0..6)
                .map(|o| db[o] + (0..36).map(|i| dw[o * 36 + i] * h[i]).sum::<f64>())
                .collect();
            minmax(&mut z, 6, 1);
            let logits: Vec<f64> = (0..3)
                .map(|m| hb[m] + (0..6).map(|i| hw[m * 6 + i] * z[i]).sum::<f64>())
                .collect();
            let j = (0..3).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
            let dist = |i: usize| {
                (0..6)
                    .map(|d| (hw[j * 6 + d] - hw[i * 6 + d]).powi(2))
                    .sum::<f64>()
                    .sqrt()
            };
            let bot = (0..3)
                .filter(|&i| i != j)
                .map(|i| logits[i] + eps * k[0] * dist(i))
                .fold(f64::MIN, f64::max);
            for (m, expect) in logits.iter().chain([&bot]).enumerate() {
                let got = burn[row * 4 + m] as f64;
                assert!(
                    (got - expect).abs() < 1e-4 * (1.0 + expect.abs()),
                    "row {row} logit {m}: {got} vs {expect}"
                );
            }
        }
    }
}
