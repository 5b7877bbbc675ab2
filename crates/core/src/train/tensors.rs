//! Plain tensors (state that is not a Burn module: PES particles, estimator buffers) in one
//! safetensors file, f32, named `<prefix>.000`, `<prefix>.001`, … in the order given, with a
//! `format` entry in the metadata naming what wrote them. Written atomically.

use super::run_dir::write_atomic;
use crate::error::Error;
use burn::tensor::TensorData;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

/// The metadata key naming the writer's format.
const FORMAT_KEY: &str = "format";

fn err(path: &Path, message: impl ToString) -> Error {
    Error::Record {
        path: path.into(),
        message: message.to_string(),
    }
}

fn name(i: usize) -> String {
    format!("tensors.{i:03}")
}

/// Writes `tensors` (converted to f32) to `path` atomically, tagged with `format`.
pub fn write_tensors(path: &Path, format: &str, tensors: &[TensorData]) -> Result<(), Error> {
    let mut named = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        let values = t
            .clone()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| err(path, format!("tensor {i}: {e:?}")))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        named.push((name(i), t.shape().to_vec(), bytes));
    }
    let views = named
        .iter()
        .map(|(n, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| err(path, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let info = HashMap::from([(FORMAT_KEY.to_string(), format.to_string())]);
    let bytes = safetensors::serialize(views, Some(info)).map_err(|e| err(path, e))?;
    write_atomic(path, &bytes).map_err(|source| Error::Write {
        path: path.into(),
        source,
    })
}

/// Reads a file written by [`write_tensors`] with the same `format`, in the order written.
pub fn read_tensors(path: &Path, format: &str) -> Result<Vec<TensorData>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| err(path, e))?;
    let found = metadata.metadata().as_ref().and_then(|m| m.get(FORMAT_KEY));
    if found.map(String::as_str) != Some(format) {
        return Err(err(
            path,
            format!("not a `{format}` tensor file (its format is {found:?})"),
        ));
    }
    let file = SafeTensors::deserialize(&bytes).map_err(|e| err(path, e))?;
    (0..file.len())
        .map(|i| {
            let n = name(i);
            let view = file
                .tensor(&n)
                .map_err(|e| err(path, format!("tensor `{n}`: {e}")))?;
            if view.dtype() != Dtype::F32 {
                return Err(err(
                    path,
                    format!("tensor `{n}` is {:?}, expected F32", view.dtype()),
                ));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            Ok(TensorData::new(values, view.shape().to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_order_with_shapes_and_a_format_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        // more than 10 tensors: names must sort numerically, not lexically
        let tensors: Vec<TensorData> = (0..12)
            .map(|i| TensorData::new(vec![i as f32, -0.5, f32::MIN_POSITIVE * i as f32], [3, 1]))
            .collect();
        write_tensors(&path, "test-v1", &tensors).unwrap();
        let back = read_tensors(&path, "test-v1").unwrap();
        assert_eq!(back, tensors);
        let e = read_tensors(&path, "other-v1").unwrap_err().to_string();
        assert!(e.contains("t.safetensors") && e.contains("other-v1"), "{e}");
        let e = read_tensors(&dir.path().join("none"), "test-v1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("none"), "{e}");
    }
}
