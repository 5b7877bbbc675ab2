//! Export of a trained GloRo Net as safetensors, for checking in another framework.
//!
//! Tensors (all `F32`, row-major, PyTorch layouts):
//!
//! | name | shape | meaning |
//! |---|---|---|
//! | `body.{n}.weight` | conv `[out, in, k, k]`, dense `[out, in]` | n-th Lipschitz-bounded body layer |
//! | `body.{n}.bias` | `[out]` | its bias |
//! | `body.{n}.lipschitz` | `[1]` | its converged spectral-norm bound (certified form) |
//! | `head.weight` | `[m, d]` | last layer; row i is w_i |
//! | `head.bias` | `[m]` | |
//! | `lipschitz.body` | `[1]` | K, the product of the body bounds |
//!
//! The metadata key `gloro` holds JSON with the input shape, the layer list (kind, stride,
//! padding), the activation and its channel pairing, the flatten order (NCHW, channel-major)
//! and ε. With these, y_⊥ = max_{i≠j} y_i + ε·K·‖w_j − w_i‖ can be recomputed exactly.

use crate::model::{GloroNet, Layer};
use std::collections::HashMap;
use std::path::Path;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {message}")]
    Write { path: String, message: String },
}

fn floats<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// One exported tensor: name, shape, row-major values.
pub type ExportTensor = (String, Vec<usize>, Vec<f32>);

/// Collects the export's tensors `(name, shape, values)` and its metadata JSON.
/// The model's power iterates must be converged (see [`GloroNet::certified_lipschitz`]).
pub fn collect(model: &GloroNet, eps: f64, input: [usize; 3]) -> (Vec<ExportTensor>, serde_json::Value) {
    let mut out = Vec::new();
    let mut layers = Vec::new();
    let mut n = 0;
    let mut k = 1.0;
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
        if let Some(b) = layer.bounded() {
            let bound = b.certified_bound();
            k *= bound;
            out.push((format!("body.{n}.lipschitz"), vec![1], vec![bound as f32]));
            n += 1;
        }
    }
    let hw = model.class_weights();
    out.push(("head.weight".into(), hw.dims().to_vec(), floats(hw)));
    if let Some(b) = &model.head.bias {
        out.push(("head.bias".into(), b.val().dims().to_vec(), floats(b.val())));
    }
    out.push(("lipschitz.body".into(), vec![1], vec![k as f32]));
    let meta = serde_json::json!({
        "format": "gloro-export-v1",
        "input": input,
        "eps": eps,
        "layers": layers,
        "bot_logit": "y_bot = max_{i != j} y_i + eps * K * ||w_j - w_i||, j = argmax y",
    });
    (out, meta)
}

/// Writes the export to `path` (atomically).
pub fn export(model: &GloroNet, eps: f64, input: [usize; 3], path: &Path) -> Result<(), ExportError> {
    let err = |message: String| ExportError::Write {
        path: path.display().to_string(),
        message,
    };
    let (tensors, meta) = collect(model, eps, input);
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
        .collect::<Result<Vec<_>, _>>()?;
    let info = HashMap::from([("gloro".to_string(), meta.to_string())]);
    let data = safetensors::serialize(views, Some(info)).map_err(|e| err(e.to_string()))?;
    repro_core::train::run_dir::write_atomic(path, &data).map_err(|e| err(e.to_string()))
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::certify::{Certifier, Convergence};
    use crate::model::GloroNetConfig;
    use burn::tensor::{Device, Distribution, Tensor};
    use safetensors::SafeTensors;

    fn read(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
        let t = st.tensor(name).unwrap();
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        (t.shape().to_vec(), v)
    }

    #[test]
    fn export_recomputes_logits_and_bot_outside_burn() {
        let device = Device::flex();
        let model = GloroNetConfig::new([4, 1, 1], vec![], vec![6], 3).init(&device);
        let eps = 0.2;
        let certifier = Certifier::new(&model, eps, Convergence::default());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        export(&model, eps, [4, 1, 1], &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let info: serde_json::Value =
            serde_json::from_str(&meta.metadata().as_ref().unwrap()["gloro"]).unwrap();
        assert_eq!(info["layers"][0]["kind"], "flatten");

        // plain-Rust forward: dense [6, 4] + bias, MinMax on pairs, head [3, 6] + bias
        let (ws, w) = read(&st, "body.0.weight");
        let (_, b) = read(&st, "body.0.bias");
        let (hs, hw) = read(&st, "head.weight");
        let (_, hb) = read(&st, "head.bias");
        let (_, k) = read(&st, "lipschitz.body");
        assert_eq!((ws.as_slice(), hs.as_slice()), (&[6, 4][..], &[3, 6][..]));
        assert!((k[0] as f64 - certifier.k).abs() < 1e-5 * certifier.k);
        let x = Tensor::<4>::random([5, 4, 1, 1], Distribution::Normal(0.0, 1.0), &device);
        let xv = x.to_data().try_to_vec::<f32>().unwrap();
        let burn_logits = model.forward(x).into_data().try_to_vec::<f32>().unwrap();
        for (row, xr) in xv.chunks(4).enumerate() {
            let mut h: Vec<f32> = (0..6)
                .map(|o| b[o] + (0..4).map(|i| w[o * 4 + i] * xr[i]).sum::<f32>())
                .collect();
            for p in 0..3 {
                let (a, c) = (h[2 * p], h[2 * p + 1]);
                h[2 * p] = a.min(c);
                h[2 * p + 1] = a.max(c);
            }
            for m in 0..3 {
                let y = hb[m] + (0..6).map(|i| hw[m * 6 + i] * h[i]).sum::<f32>();
                assert!((y - burn_logits[row * 3 + m]).abs() < 1e-5);
            }
        }
        // the per-pair bound recomputed from the export equals the certifier's
        let dist = |j: usize, i: usize| {
            (0..6)
                .map(|d| (hw[j * 6 + d] - hw[i * 6 + d]).powi(2))
                .sum::<f32>()
                .sqrt() as f64
        };
        assert!((k[0] as f64 * dist(0, 2) - certifier.k_ji(0, 2)).abs() < 1e-4);
    }
}
