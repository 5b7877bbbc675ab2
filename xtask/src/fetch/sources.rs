//! The dataset catalogue: which files make up each dataset, where they can be downloaded
//! from, and how each one is verified.
//!
//! Everything here is plain data ([`DatasetSpec`]), so tests and other callers can build
//! their own catalogue entries (local mirrors, synthetic files) and hand them to
//! [`super::fetch`].

use std::fmt;

/// How a downloaded (or imported) file is checked before it is moved to its final name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// SHA-256 (lowercase hex) of the *decompressed* content of a gzip file.
    ///
    /// The file is stored gzip-compressed; verification streams it through a gzip decoder
    /// into SHA-256. A file that is not gzip at all is hashed as is and, if it matches, is
    /// gzip-compressed before being stored, so the final file is always a `.gz`.
    Sha256Decompressed(String),
    /// MD5 (lowercase hex) of the file exactly as stored.
    Md5(String),
    /// No published checksum. The file is accepted as downloaded; for archives the
    /// extracted files are checked against [`Extraction::expected`] instead.
    None,
}

impl Checksum {
    /// Short description of the check, as it appears in messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Checksum::Sha256Decompressed(_) => "SHA-256 of decompressed content",
            Checksum::Md5(_) => "MD5",
            Checksum::None => "no checksum",
        }
    }
}

/// One file of a dataset, as named on the mirrors and on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, appended to each mirror's base URL, and the name it is stored under.
    pub name: String,
    pub checksum: Checksum,
}

impl RemoteFile {
    pub fn new(name: impl Into<String>, checksum: Checksum) -> Self {
        Self {
            name: name.into(),
            checksum,
        }
    }
}

/// A file expected after extracting an archive, relative to [`Extraction::top_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedFile {
    pub name: String,
    /// Exact size in bytes, when known.
    pub size: Option<u64>,
}

impl ExpectedFile {
    pub fn new(name: impl Into<String>, size: Option<u64>) -> Self {
        Self {
            name: name.into(),
            size,
        }
    }
}

/// The kinds of archive [`Extraction`] unpacks, told apart by the archive's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `.tar.gz` / `.tgz`.
    TarGz,
    /// `.zip` (stored or deflated entries).
    Zip,
}

/// How a single-archive dataset is unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    /// Name of the archive, which must be one of [`DatasetSpec::files`]: a `.zip` or else a
    /// `.tar.gz` (see [`Extraction::format`]).
    pub archive: String,
    /// The directory the archive unpacks into (its single top-level directory), e.g.
    /// `cifar-10-batches-bin`. It ends up at `<dataset dir>/<top_dir>`.
    pub top_dir: String,
    /// Files that must exist inside `top_dir` after extraction (with their sizes, when known).
    pub expected: Vec<ExpectedFile>,
}

impl Extraction {
    /// `.zip` archives are unzipped; anything else is read as a gzip-compressed tar.
    pub fn format(&self) -> ArchiveFormat {
        if self.archive.to_ascii_lowercase().ends_with(".zip") {
            ArchiveFormat::Zip
        } else {
            ArchiveFormat::TarGz
        }
    }
}

/// Everything needed to fetch one dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Directory name under the datasets root, e.g. `mnist`.
    pub name: String,
    /// Base URLs, tried in order. A file's URL is `<base>/<file name>`.
    pub mirrors: Vec<String>,
    pub files: Vec<RemoteFile>,
    /// For archive datasets: how to unpack the archive after it has been verified.
    pub extraction: Option<Extraction>,
}

/// The datasets this workspace knows how to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    Mnist,
    FashionMnist,
    Cifar10,
    Stl10,
    TinyImagenet,
}

impl Dataset {
    pub const ALL: [Dataset; 5] = [
        Dataset::Mnist,
        Dataset::FashionMnist,
        Dataset::Cifar10,
        Dataset::Stl10,
        Dataset::TinyImagenet,
    ];

    /// The name used on the command line and as the directory under `datasets/`.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Cifar10 => "cifar10",
            Dataset::Stl10 => "stl10",
            Dataset::TinyImagenet => "tiny-imagenet",
        }
    }

    /// Parse a name as printed by [`Dataset::name`].
    pub fn from_name(name: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The built-in catalogue entry.
    pub fn spec(self) -> DatasetSpec {
        match self {
            Dataset::Mnist => mnist(),
            Dataset::FashionMnist => fashion_mnist(),
            Dataset::Cifar10 => cifar10(),
            Dataset::Stl10 => stl10(),
            Dataset::TinyImagenet => tiny_imagenet(),
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The four IDX files shared by MNIST and Fashion-MNIST, in the order
/// train images, train labels, test images, test labels.
const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

fn idx_dataset(name: &str, mirrors: &[&str], sha256: [&str; 4]) -> DatasetSpec {
    DatasetSpec {
        name: name.to_owned(),
        mirrors: mirrors.iter().map(|m| (*m).to_owned()).collect(),
        files: IDX_FILES
            .iter()
            .zip(sha256)
            .map(|(file, hash)| RemoteFile::new(*file, Checksum::Sha256Decompressed(hash.to_owned())))
            .collect(),
        extraction: None,
    }
}

/// MNIST (LeCun et al.), from the PyTorch and TensorFlow mirrors.
pub fn mnist() -> DatasetSpec {
    idx_dataset(
        "mnist",
        &[
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        [
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ],
    )
}

/// Fashion-MNIST (Xiao et al.), from Zalando's bucket.
pub fn fashion_mnist() -> DatasetSpec {
    idx_dataset(
        "fashion-mnist",
        &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        [
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ],
    )
}

/// One CIFAR-10 binary batch: 10 000 records of 1 label byte + 3×32×32 pixels.
const CIFAR10_BATCH_BYTES: u64 = 10_000 * (1 + 3 * 32 * 32);

/// CIFAR-10, binary version (Krizhevsky), verified by the MD5 published on its page.
pub fn cifar10() -> DatasetSpec {
    let archive = "cifar-10-binary.tar.gz";
    let mut expected: Vec<ExpectedFile> = (1..=5)
        .map(|i| ExpectedFile::new(format!("data_batch_{i}.bin"), Some(CIFAR10_BATCH_BYTES)))
        .collect();
    expected.push(ExpectedFile::new("test_batch.bin", Some(CIFAR10_BATCH_BYTES)));
    expected.push(ExpectedFile::new("batches.meta.txt", None));
    DatasetSpec {
        name: "cifar10".to_owned(),
        mirrors: vec!["https://www.cs.toronto.edu/~kriz/".to_owned()],
        files: vec![RemoteFile::new(
            archive,
            Checksum::Md5("c32a1d4ab5d03f1284b67883e8d87530".to_owned()),
        )],
        extraction: Some(Extraction {
            archive: archive.to_owned(),
            top_dir: "cifar-10-batches-bin".to_owned(),
            expected,
        }),
    }
}

/// Bytes of one STL-10 image: 3×96×96.
const STL10_IMAGE_BYTES: u64 = 3 * 96 * 96;

/// STL-10 (Coates et al.), verified by the archive's MD5, then the extracted files by name
/// and size. The dataset's page publishes no checksum; the MD5 is torchvision's
/// (`torchvision/datasets/stl10.py`, `tgz_md5`), which its downloader checks.
pub fn stl10() -> DatasetSpec {
    let archive = "stl10_binary.tar.gz";
    DatasetSpec {
        name: "stl10".to_owned(),
        mirrors: vec!["http://ai.stanford.edu/~acoates/stl10/".to_owned()],
        files: vec![RemoteFile::new(
            archive,
            Checksum::Md5("91f7769df0f17e558f3565bffb0c7dfb".to_owned()),
        )],
        extraction: Some(Extraction {
            archive: archive.to_owned(),
            top_dir: "stl10_binary".to_owned(),
            expected: vec![
                ExpectedFile::new("train_X.bin", Some(5_000 * STL10_IMAGE_BYTES)),
                ExpectedFile::new("train_y.bin", Some(5_000)),
                ExpectedFile::new("test_X.bin", Some(8_000 * STL10_IMAGE_BYTES)),
                ExpectedFile::new("test_y.bin", Some(8_000)),
                ExpectedFile::new("unlabeled_X.bin", Some(100_000 * STL10_IMAGE_BYTES)),
            ],
        }),
    }
}

/// Tiny-ImageNet (CS231n, Stanford; 200 classes of 64×64 JPEGs), the official zip verified by
/// the MD5 published with it. It unpacks into `tiny-imagenet-200/`; the reader
/// (`repro_core::data::tiny_imagenet`) checks the images themselves.
pub fn tiny_imagenet() -> DatasetSpec {
    let archive = "tiny-imagenet-200.zip";
    DatasetSpec {
        name: "tiny-imagenet".to_owned(),
        mirrors: vec!["http://cs231n.stanford.edu/".to_owned()],
        files: vec![RemoteFile::new(
            archive,
            Checksum::Md5("90528d7ca1a48142e341f4ef8d21d0de".to_owned()),
        )],
        extraction: Some(Extraction {
            archive: archive.to_owned(),
            top_dir: "tiny-imagenet-200".to_owned(),
            expected: ["wnids.txt", "words.txt", "val/val_annotations.txt"]
                .into_iter()
                .map(|name| ExpectedFile::new(name, None))
                .collect(),
        }),
    }
}

/// `<base>/<file>`, with exactly one slash in between.
pub fn file_url(base: &str, file: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(file_url("http://a/b/", "c.gz"), "http://a/b/c.gz");
        assert_eq!(file_url("http://a/b", "c.gz"), "http://a/b/c.gz");
    }

    #[test]
    fn catalogue_is_consistent_and_checks_every_file() {
        for dataset in Dataset::ALL {
            let spec = dataset.spec();
            assert_eq!(spec.name, dataset.name());
            assert_eq!(Dataset::from_name(&spec.name), Some(dataset));
            assert!(!spec.mirrors.is_empty());
            assert!(!spec.files.is_empty());
            for file in &spec.files {
                match &file.checksum {
                    Checksum::Sha256Decompressed(h) => assert_eq!(h.len(), 64),
                    Checksum::Md5(h) => assert_eq!(h.len(), 32),
                    Checksum::None => panic!("{}: {} has no checksum", spec.name, file.name),
                }
            }
            if let Some(ex) = &spec.extraction {
                assert!(spec.files.iter().any(|f| f.name == ex.archive));
            }
        }
        assert_eq!(Dataset::from_name("tiny-imagenet"), Some(Dataset::TinyImagenet));
    }

    #[test]
    fn archive_format_follows_the_name() {
        let format = |archive: &str| {
            Extraction {
                archive: archive.to_owned(),
                top_dir: "x".to_owned(),
                expected: vec![],
            }
            .format()
        };
        assert_eq!(format("tiny-imagenet-200.zip"), ArchiveFormat::Zip);
        assert_eq!(format("A.ZIP"), ArchiveFormat::Zip);
        assert_eq!(format("cifar-10-binary.tar.gz"), ArchiveFormat::TarGz);
        assert_eq!(tiny_imagenet().extraction.unwrap().format(), ArchiveFormat::Zip);
        assert_eq!(cifar10().extraction.unwrap().format(), ArchiveFormat::TarGz);
    }
}
