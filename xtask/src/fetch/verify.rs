//! Checksums and post-extraction checks.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::sources::{Checksum, ExpectedFile};

/// Why a file failed verification. Every message starts with the file it is about and
/// names the check that failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{file}: {check} is {actual}, expected {expected}")]
    Mismatch {
        file: String,
        check: &'static str,
        actual: String,
        expected: String,
    },
    #[error(
        "{file}: SHA-256 of decompressed content could not be computed: \
         the gzip stream is corrupt or truncated ({source})"
    )]
    Gzip { file: String, source: io::Error },
    #[error("{file}: cannot read: {source}")]
    Io { file: String, source: io::Error },
    #[error("{}: missing after extraction", path.display())]
    Missing { path: PathBuf },
    #[error("{}: size is {actual} bytes, expected {expected}", path.display())]
    Size {
        path: PathBuf,
        actual: u64,
        expected: u64,
    },
}

/// What a successful verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// A gzip file whose decompressed content has the expected SHA-256.
    Gzip,
    /// A file that is not gzip-compressed, whose content has the expected SHA-256 of the
    /// decompressed data (i.e. it *is* the decompressed data).
    Raw,
    /// The file matched its MD5.
    Md5,
    /// No checksum is known for this file; nothing was checked.
    Unchecked,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether the file starts with the gzip magic bytes.
pub fn is_gzip(path: &Path) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    let mut file = File::open(path)?;
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read == magic.len() && magic == GZIP_MAGIC)
}

/// Lowercase hex SHA-256 of everything `reader` yields.
pub fn sha256_hex(reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    copy_into(reader, |chunk| hasher.update(chunk))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Lowercase hex MD5 of everything `reader` yields.
pub fn md5_hex(reader: impl Read) -> io::Result<String> {
    let mut hasher = Md5::new();
    copy_into(reader, |chunk| hasher.update(chunk))?;
    Ok(format!("{:x}", hasher.finalize()))
}

fn copy_into(mut reader: impl Read, mut sink: impl FnMut(&[u8])) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => sink(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Check the file at `path` against `checksum`. `label` names the file in messages
/// (normally its final file name, not the `.part` it is being verified under).
pub fn verify_file(path: &Path, label: &str, checksum: &Checksum) -> Result<Verified, VerifyError> {
    let io_err = |source| VerifyError::Io {
        file: label.to_owned(),
        source,
    };
    match checksum {
        Checksum::None => Ok(Verified::Unchecked),
        Checksum::Md5(expected) => {
            let file = File::open(path).map_err(io_err)?;
            let actual = md5_hex(BufReader::new(file)).map_err(io_err)?;
            compare(label, checksum, actual, expected)?;
            Ok(Verified::Md5)
        }
        Checksum::Sha256Decompressed(expected) => {
            let gzip = is_gzip(path).map_err(io_err)?;
            let file = File::open(path).map_err(io_err)?;
            let actual = if gzip {
                sha256_hex(MultiGzDecoder::new(BufReader::new(file))).map_err(|source| VerifyError::Gzip {
                    file: label.to_owned(),
                    source,
                })?
            } else {
                sha256_hex(BufReader::new(file)).map_err(io_err)?
            };
            compare(label, checksum, actual, expected)?;
            Ok(if gzip { Verified::Gzip } else { Verified::Raw })
        }
    }
}

fn compare(label: &str, checksum: &Checksum, actual: String, expected: &str) -> Result<(), VerifyError> {
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch {
            file: label.to_owned(),
            check: checksum.describe(),
            actual,
            expected: expected.to_ascii_lowercase(),
        })
    }
}

/// Check that every expected file exists under `dir` (with its size, when known).
pub fn check_expected(dir: &Path, expected: &[ExpectedFile]) -> Result<(), VerifyError> {
    for file in expected {
        let path = dir.join(&file.name);
        let meta = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => meta,
            _ => return Err(VerifyError::Missing { path }),
        };
        if let Some(size) = file.size
            && meta.len() != size
        {
            return Err(VerifyError::Size {
                path,
                actual: meta.len(),
                expected: size,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn known_digests() {
        assert_eq!(
            sha256_hex(&b"abc"[..]).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(md5_hex(&b"abc"[..]).unwrap(), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn gzip_and_raw_verify_against_the_same_digest() {
        let dir = std::env::temp_dir().join(format!("xtask-verify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let raw = dir.join("x");
        let gz = dir.join("x.gz");
        std::fs::write(&raw, b"hello world").unwrap();
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::default());
        enc.write_all(b"hello world").unwrap();
        enc.finish().unwrap();
        let sum = Checksum::Sha256Decompressed(sha256_hex(&b"hello world"[..]).unwrap());
        assert_eq!(verify_file(&gz, "x.gz", &sum).unwrap(), Verified::Gzip);
        assert_eq!(verify_file(&raw, "x.gz", &sum).unwrap(), Verified::Raw);
        let wrong = Checksum::Sha256Decompressed("00".repeat(32));
        let err = verify_file(&gz, "x.gz", &wrong).unwrap_err().to_string();
        assert!(
            err.starts_with("x.gz: SHA-256 of decompressed content is "),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
