//! The CIFAR-10 binary format (`cifar-10-batches-bin/`): each record is one label byte
//! followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each 32×32 row-major),
//! 10000 records per file; training is `data_batch_1.bin` … `data_batch_5.bin`, test is
//! `test_batch.bin`.

use super::dataset::ImageDataset;
use crate::error::Error;
use std::path::Path;

/// Bytes of one record: a label and a 3×32×32 image.
pub const RECORD: usize = 1 + 3 * 32 * 32;
/// Records in every file of the official release.
pub const RECORDS_PER_FILE: usize = 10_000;
/// Class names in label order.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The files of a split.
pub fn files(train: bool) -> Vec<String> {
    if train {
        (1..=5).map(|i| format!("data_batch_{i}.bin")).collect()
    } else {
        vec!["test_batch.bin".into()]
    }
}

/// Parses one batch file already in memory into `(labels, pixels)`.
pub fn parse_batch(bytes: &[u8], path: &Path) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let expected = RECORD * RECORDS_PER_FILE;
    if bytes.len() < expected {
        return Err(Error::Truncated {
            path: path.into(),
            expected,
            found: bytes.len(),
        });
    }
    if bytes.len() != expected {
        return Err(Error::Malformed {
            path: path.into(),
            what: format!(
                "{} bytes, expected {RECORDS_PER_FILE} records of {RECORD} bytes = {expected}",
                bytes.len()
            ),
        });
    }
    let mut labels = Vec::with_capacity(RECORDS_PER_FILE);
    let mut pixels = Vec::with_capacity(RECORDS_PER_FILE * (RECORD - 1));
    for (index, record) in bytes.chunks_exact(RECORD).enumerate() {
        if record[0] >= 10 {
            return Err(Error::LabelOutOfRange {
                path: path.into(),
                index,
                label: record[0],
                classes: 10,
            });
        }
        labels.push(record[0]);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok((labels, pixels))
}

/// Reads a split from the directory holding the `.bin` files.
pub fn read_split(dir: &Path, train: bool) -> Result<ImageDataset, Error> {
    let mut labels = Vec::new();
    let mut pixels = Vec::new();
    for name in files(train) {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(Error::read(&path))?;
        let (l, p) = parse_batch(&bytes, &path)?;
        labels.extend(l);
        pixels.extend(p);
    }
    let name = if train { "cifar10/train" } else { "cifar10/test" };
    Ok(ImageDataset::new(name, pixels, labels, [3, 32, 32], 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in the exact format, with labels `i % 10` and pixels derived from the index.
    pub(crate) fn synthetic_batch(seed: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD * RECORDS_PER_FILE);
        for i in 0..RECORDS_PER_FILE {
            out.push((i % 10) as u8);
            out.extend((0..RECORD - 1).map(|j| (i + j + seed as usize) as u8));
        }
        out
    }

    #[test]
    fn reads_a_generated_split_in_channel_major_order() {
        let dir = tempfile::tempdir().unwrap();
        for (k, name) in files(true).iter().enumerate() {
            std::fs::write(dir.path().join(name), synthetic_batch(k as u8)).unwrap();
        }
        let ds = read_split(dir.path(), true).unwrap();
        assert_eq!(ds.len(), 50_000);
        assert_eq!(ds.label(12_345), 5);
        // record 3 of file 2: first red pixel = 3 + 0 + 2, first green = 3 + 1024 + 2
        let img = ds.image(RECORDS_PER_FILE * 2 + 3);
        assert_eq!(img[0], 5);
        assert_eq!(img[1024], ((3 + 1024 + 2) % 256) as u8);
    }

    #[test]
    fn wrong_sizes_and_labels_name_the_file() {
        let good = synthetic_batch(0);
        let p = Path::new("data_batch_1.bin");
        let err = parse_batch(&good[..good.len() - 5], p).unwrap_err().to_string();
        assert!(
            err.contains("data_batch_1.bin") && err.contains("truncated"),
            "{err}"
        );
        let mut longer = good.clone();
        longer.extend_from_slice(&[0; RECORD]);
        assert!(
            parse_batch(&longer, p)
                .unwrap_err()
                .to_string()
                .contains("expected 10000 records")
        );
        let mut bad = good;
        bad[RECORD * 7] = 11;
        let err = parse_batch(&bad, p).unwrap_err();
        assert!(matches!(
            err,
            Error::LabelOutOfRange {
                index: 7,
                label: 11,
                ..
            }
        ));
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_split(dir.path(), false).unwrap_err().to_string();
        assert!(err.contains("test_batch.bin"), "{err}");
    }
}
