//! The IDX format of MNIST and Fashion-MNIST: a big-endian header (magic `0x0000_08_0N` for
//! unsigned bytes in N dimensions, then N `u32` sizes) followed by the raw bytes.
//! Files may be gzip-compressed; compression is recognised by content, not by name.

use crate::error::Error;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Magic number of an image file: unsigned bytes, three dimensions.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a label file: unsigned bytes, one dimension.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Images of an IDX file: `count` images of `rows × cols` bytes, row-major.
#[derive(Debug, Clone)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Height of each image.
    pub rows: usize,
    /// Width of each image.
    pub cols: usize,
    /// `count × rows × cols` bytes.
    pub pixels: Vec<u8>,
}

/// Reads a file, decompressing it when it starts with the gzip magic bytes.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, Error> {
    let raw = std::fs::read(path).map_err(Error::read(path))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::Malformed {
                path: path.to_path_buf(),
                what: format!("gzip stream is corrupt or truncated: {e}"),
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// `dir/name` if it exists, else `dir/name.gz`; `None` when neither does.
pub fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

fn header(bytes: &[u8], path: &Path, magic: u32, what: &'static str) -> Result<Vec<usize>, Error> {
    let dims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * dims;
    if bytes.len() < 4 {
        return Err(Error::Truncated {
            path: path.into(),
            expected: header_len,
            found: bytes.len(),
        });
    }
    let found = u32::from_be_bytes(bytes[0..4].try_into().unwrap());
    if found != magic {
        return Err(Error::Magic {
            path: path.into(),
            found,
            expected: magic,
            what,
        });
    }
    if bytes.len() < header_len {
        return Err(Error::Truncated {
            path: path.into(),
            expected: header_len,
            found: bytes.len(),
        });
    }
    Ok((0..dims)
        .map(|d| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().unwrap()) as usize)
        .collect())
}

fn body<'a>(bytes: &'a [u8], path: &Path, header_len: usize, expected: usize) -> Result<&'a [u8], Error> {
    let data = &bytes[header_len..];
    if data.len() < expected {
        return Err(Error::Truncated {
            path: path.into(),
            expected,
            found: data.len(),
        });
    }
    if data.len() > expected {
        return Err(Error::Malformed {
            path: path.into(),
            what: format!(
                "the header's dimensions announce {expected} bytes of data but the file holds {}",
                data.len()
            ),
        });
    }
    Ok(data)
}

/// Parses an image file already in memory.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages, Error> {
    let dims = header(
        bytes,
        path,
        IMAGES_MAGIC,
        "IDX images: unsigned bytes, 3 dimensions",
    )?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(Error::Malformed {
            path: path.into(),
            what: format!("image size {rows}x{cols} is empty"),
        });
    }
    let pixels = body(bytes, path, 16, count * rows * cols)?.to_vec();
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Parses a label file already in memory, checking every label against `classes`.
pub fn parse_labels(bytes: &[u8], path: &Path, classes: usize) -> Result<Vec<u8>, Error> {
    let dims = header(
        bytes,
        path,
        LABELS_MAGIC,
        "IDX labels: unsigned bytes, 1 dimension",
    )?;
    let labels = body(bytes, path, 8, dims[0])?.to_vec();
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l as usize >= classes) {
        return Err(Error::LabelOutOfRange {
            path: path.into(),
            index,
            label,
            classes,
        });
    }
    Ok(labels)
}

/// Reads an IDX image file (gzip or raw).
pub fn read_images(path: &Path) -> Result<IdxImages, Error> {
    parse_images(&read_maybe_gz(path)?, path)
}

/// Reads an IDX label file (gzip or raw).
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<u8>, Error> {
    parse_labels(&read_maybe_gz(path)?, path, classes)
}

/// Reads a matching pair of image and label files and checks their counts agree.
pub fn read_pair(images: &Path, labels: &Path, classes: usize) -> Result<(IdxImages, Vec<u8>), Error> {
    let imgs = read_images(images)?;
    let labs = read_labels(labels, classes)?;
    if imgs.count != labs.len() {
        return Err(Error::CountMismatch {
            images: images.into(),
            n_images: imgs.count,
            labels: labels.into(),
            n_labels: labs.len(),
        });
    }
    Ok((imgs, labs))
}

/// Serialises images in the IDX format (used by tests and by tools that write subsets).
pub fn encode_images(count: usize, rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [IMAGES_MAGIC, count as u32, rows as u32, cols as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Serialises labels in the IDX format.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn p() -> PathBuf {
        PathBuf::from("test-file")
    }

    #[test]
    fn round_trip_and_gzip_by_content() {
        let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let raw = encode_images(2, 3, 4, &pixels);
        let parsed = parse_images(&raw, &p()).unwrap();
        assert_eq!((parsed.count, parsed.rows, parsed.cols), (2, 3, 4));
        assert_eq!(parsed.pixels, pixels);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("imgs"); // no .gz suffix: detected by content
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        assert_eq!(read_images(&path).unwrap().pixels, pixels);
    }

    #[test]
    fn wrong_magic_names_file_and_expectation() {
        let raw = encode_labels(&[1, 2]);
        let err = parse_images(&raw, &p()).unwrap_err().to_string();
        assert!(
            err.contains("test-file") && err.contains("0x00000801") && err.contains("0x00000803"),
            "{err}"
        );
    }

    #[test]
    fn truncated_and_oversized_files_are_rejected() {
        let raw = encode_images(2, 2, 2, &[0; 8]);
        let err = parse_images(&raw[..raw.len() - 1], &p()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Truncated {
                    expected: 8,
                    found: 7,
                    ..
                }
            ),
            "{err}"
        );
        let err = parse_images(&raw[..10], &p()).unwrap_err();
        assert!(matches!(err, Error::Truncated { expected: 16, .. }), "{err}");
        let mut longer = raw.clone();
        longer.push(0);
        let err = parse_images(&longer, &p()).unwrap_err().to_string();
        assert!(
            err.contains("announce 8 bytes") && err.contains("holds 9"),
            "{err}"
        );
    }

    #[test]
    fn labels_out_of_range_and_count_mismatch() {
        let err = parse_labels(&encode_labels(&[0, 9, 10]), &p(), 10).unwrap_err();
        assert!(matches!(
            err,
            Error::LabelOutOfRange {
                index: 2,
                label: 10,
                ..
            }
        ));

        let dir = tempfile::tempdir().unwrap();
        let (i, l) = (dir.path().join("i"), dir.path().join("l"));
        std::fs::write(&i, encode_images(3, 1, 1, &[0, 1, 2])).unwrap();
        std::fs::write(&l, encode_labels(&[0, 1])).unwrap();
        let err = read_pair(&i, &l, 10).unwrap_err().to_string();
        assert!(err.contains("3 images") && err.contains("2 labels"), "{err}");
    }

    #[test]
    fn corrupt_gzip_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&encode_images(1, 28, 28, &[7; 784])).unwrap();
        let bytes = gz.finish().unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_images(&path).unwrap_err().to_string();
        assert!(err.contains("gzip"), "{err}");
    }
}
