//! The STL-10 binary format (`stl10_binary/`): `*_X.bin` holds N images of 3×96×96 bytes,
//! each channel stored column-major; `*_y.bin` holds one label byte per image in 1..=10.
//! Splits: `train` (5000), `test` (8000) and `unlabeled` (100000, no labels).

use super::dataset::ImageDataset;
use crate::error::Error;
use std::path::Path;

const SIDE: usize = 96;
const IMAGE: usize = 3 * SIDE * SIDE;

/// Converts the column-major channels of the file to the row-major CHW layout used everywhere.
fn to_row_major(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; raw.len()];
    for (src, dst) in raw
        .chunks_exact(SIDE * SIDE)
        .zip(out.chunks_exact_mut(SIDE * SIDE))
    {
        for col in 0..SIDE {
            for row in 0..SIDE {
                dst[row * SIDE + col] = src[col * SIDE + row];
            }
        }
    }
    out
}

/// Parses images and (optional) labels already in memory.
pub fn parse(
    images: &[u8],
    images_path: &Path,
    labels: Option<(&[u8], &Path)>,
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    if !images.len().is_multiple_of(IMAGE) {
        return Err(Error::Malformed {
            path: images_path.into(),
            what: format!(
                "{} bytes is not a whole number of 3x96x96 images ({IMAGE} bytes each)",
                images.len()
            ),
        });
    }
    let n = images.len() / IMAGE;
    let labels = match labels {
        None => vec![0; n],
        Some((bytes, path)) => {
            if bytes.len() != n {
                return Err(Error::CountMismatch {
                    images: images_path.into(),
                    n_images: n,
                    labels: path.into(),
                    n_labels: bytes.len(),
                });
            }
            let mut out = Vec::with_capacity(n);
            for (index, &l) in bytes.iter().enumerate() {
                if !(1..=10).contains(&l) {
                    return Err(Error::LabelOutOfRange {
                        path: path.into(),
                        index,
                        label: l,
                        classes: 11,
                    });
                }
                out.push(l - 1);
            }
            out
        }
    };
    Ok((to_row_major(images), labels))
}

/// Reads `train`, `test` or `unlabeled` from the `stl10_binary` directory.
pub fn read_split(dir: &Path, split: &str) -> Result<ImageDataset, Error> {
    let x = dir.join(format!("{split}_X.bin"));
    let images = std::fs::read(&x).map_err(Error::read(&x))?;
    let (pixels, labels) = if split == "unlabeled" {
        parse(&images, &x, None)?
    } else {
        let y = dir.join(format!("{split}_y.bin"));
        let labels = std::fs::read(&y).map_err(Error::read(&y))?;
        parse(&images, &x, Some((&labels, &y)))?
    };
    Ok(ImageDataset::new(
        &format!("stl10/{split}"),
        pixels,
        labels,
        [3, SIDE, SIDE],
        10,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_columns_and_shifts_labels() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = vec![0u8; 2 * IMAGE];
        raw[SIDE] = 200; // image 0, channel 0, column 1, row 0
        std::fs::write(dir.path().join("train_X.bin"), &raw).unwrap();
        std::fs::write(dir.path().join("train_y.bin"), [1u8, 10]).unwrap();
        let ds = read_split(dir.path(), "train").unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.image(0)[1], 200); // row 0, column 1 in row-major
        assert_eq!((ds.label(0), ds.label(1)), (0, 9));
    }

    #[test]
    fn bad_files_are_named() {
        let p = Path::new("train_X.bin");
        let err = parse(&[0; IMAGE + 1], p, None).unwrap_err().to_string();
        assert!(
            err.contains("train_X.bin") && err.contains("whole number"),
            "{err}"
        );
        let y = Path::new("train_y.bin");
        let err = parse(&[0; IMAGE], p, Some((&[0], y))).unwrap_err();
        assert!(matches!(err, Error::LabelOutOfRange { label: 0, .. }));
        let err = parse(&[0; IMAGE], p, Some((&[1, 2], y))).unwrap_err();
        assert!(matches!(
            err,
            Error::CountMismatch {
                n_images: 1,
                n_labels: 2,
                ..
            }
        ));
    }
}
