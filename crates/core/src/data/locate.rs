//! Where datasets live, and the one rule every crate uses to find them:
//! `--data-dir DIR`, else the environment variable [`DATA_DIR_ENV`], else the workspace's
//! `datasets/` folder. Layout under that root is what `cargo xtask fetch` writes:
//!
//! | dataset | files |
//! |---|---|
//! | `mnist` | `mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]` |
//! | `fashion-mnist` | `fashion-mnist/` with the same four names |
//! | `cifar10` | `cifar10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin` |
//! | `stl10` | `stl10/stl10_binary/{train,test,unlabeled}_X.bin`, `{train,test}_y.bin` |
//! | `tiny-imagenet` | `tiny-imagenet/tiny-imagenet-200/{wnids.txt,train/<wnid>/images/*.JPEG,val/images/*.JPEG,val/val_annotations.txt}` (`Split::Test` reads the official val set) |
//!
//! MNIST has an embedded default: a real subset compiled into the binary (see
//! `datasets/embedded/mnist/README.md`), used when the full set is absent, with a notice.

use super::dataset::ImageDataset;
use super::{cifar, idx, stl10, tiny_imagenet};
use crate::error::Error;
use std::path::{Path, PathBuf};

/// Environment variable naming the datasets root.
pub const DATA_DIR_ENV: &str = "REPRO_DATA_DIR";

/// The workspace's own `datasets/` folder.
pub fn workspace_datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// The datasets this workspace knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// MNIST handwritten digits (28×28, grayscale).
    Mnist,
    /// Fashion-MNIST (28×28, grayscale).
    FashionMnist,
    /// CIFAR-10 (32×32, colour).
    Cifar10,
    /// STL-10 (96×96, colour, with 100000 unlabeled images).
    Stl10,
    /// Tiny-ImageNet (200 classes, 64×64); its test split is the official val set.
    TinyImagenet,
}

impl DatasetName {
    /// The folder name under the datasets root, also the argument of `cargo xtask fetch`.
    pub fn dir_name(self) -> &'static str {
        match self {
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Cifar10 => "cifar10",
            DatasetName::Stl10 => "stl10",
            DatasetName::TinyImagenet => "tiny-imagenet",
        }
    }

    /// The command that fetches this dataset into `root`.
    pub fn fetch_command(self, root: &Path) -> String {
        let mut cmd = format!("cargo xtask fetch {}", self.dir_name());
        if root != workspace_datasets() {
            cmd.push_str(&format!(" --dir {}", root.display()));
        }
        cmd
    }
}

/// Which part of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training set.
    Train,
    /// The test set.
    Test,
    /// STL-10's unlabeled images (labels are all 0).
    Unlabeled,
}

/// Command-line flags for finding data, flattened into every binary that reads data.
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct DataArgs {
    /// Datasets root (default: $REPRO_DATA_DIR, else the workspace's datasets/).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Use the embedded MNIST subset even when the full MNIST is present.
    #[arg(long, global = true)]
    pub subset: bool,
}

impl DataArgs {
    /// The datasets root by the rule above.
    pub fn root(&self) -> PathBuf {
        self.data_dir
            .clone()
            .or_else(|| std::env::var_os(DATA_DIR_ENV).map(PathBuf::from))
            .unwrap_or_else(workspace_datasets)
    }
}

/// A loaded split, saying whether it is the embedded subset rather than the full set.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The images and labels.
    pub dataset: ImageDataset,
    /// True when MNIST was missing and the embedded subset was loaded instead.
    pub embedded_subset: bool,
}

/// Loads a split by the rule above. MNIST falls back to the embedded subset (with a notice
/// on stderr); every other missing dataset is an error carrying the fetch command.
pub fn load(name: DatasetName, split: Split, args: &DataArgs) -> Result<Loaded, Error> {
    let root = args.root();
    let dir = root.join(name.dir_name());
    let missing = |path: PathBuf| Error::Missing {
        dataset: name.dir_name().into(),
        path,
        command: name.fetch_command(&root),
    };
    match name {
        DatasetName::Mnist | DatasetName::FashionMnist => {
            let prefix = match split {
                Split::Train => "train",
                Split::Test => "t10k",
                Split::Unlabeled => {
                    return Err(Error::Malformed {
                        path: dir,
                        what: "this dataset has no unlabeled split".into(),
                    });
                }
            };
            let images = idx::find(&dir, &format!("{prefix}-images-idx3-ubyte"));
            let labels = idx::find(&dir, &format!("{prefix}-labels-idx1-ubyte"));
            match (images, labels) {
                (Some(i), Some(l)) if !(args.subset && name == DatasetName::Mnist) => {
                    let (imgs, labs) = idx::read_pair(&i, &l, 10)?;
                    let ds = ImageDataset::new(
                        &format!("{}/{prefix}", name.dir_name()),
                        imgs.pixels,
                        labs,
                        [1, imgs.rows, imgs.cols],
                        10,
                    );
                    Ok(Loaded {
                        dataset: ds,
                        embedded_subset: false,
                    })
                }
                _ if name == DatasetName::Mnist => {
                    if !args.subset {
                        eprintln!(
                            "note: full MNIST not found in {}; using the embedded subset \
                             (10000 train / 2000 test images). For the full set: {}",
                            dir.display(),
                            name.fetch_command(&root)
                        );
                    }
                    Ok(Loaded {
                        dataset: embedded_mnist(split)?,
                        embedded_subset: true,
                    })
                }
                (None, _) => Err(missing(dir.join(format!("{prefix}-images-idx3-ubyte[.gz]")))),
                (Some(_), _) => Err(missing(dir.join(format!("{prefix}-labels-idx1-ubyte[.gz]")))),
            }
        }
        DatasetName::Cifar10 => {
            let bin = dir.join("cifar-10-batches-bin");
            if !bin.is_dir() {
                return Err(missing(bin));
            }
            let ds = cifar::read_split(&bin, split == Split::Train)?;
            Ok(Loaded {
                dataset: ds,
                embedded_subset: false,
            })
        }
        DatasetName::Stl10 => {
            let bin = dir.join("stl10_binary");
            if !bin.is_dir() {
                return Err(missing(bin));
            }
            let which = match split {
                Split::Train => "train",
                Split::Test => "test",
                Split::Unlabeled => "unlabeled",
            };
            Ok(Loaded {
                dataset: stl10::read_split(&bin, which)?,
                embedded_subset: false,
            })
        }
        DatasetName::TinyImagenet => {
            let top = dir.join(tiny_imagenet::TOP_DIR);
            if !top.is_dir() {
                return Err(missing(top));
            }
            let train = match split {
                Split::Train => true,
                Split::Test => false,
                Split::Unlabeled => {
                    return Err(Error::Malformed {
                        path: top,
                        what:
                            "this dataset has no unlabeled split (test/images has no labels and is not read)"
                                .into(),
                    });
                }
            };
            Ok(Loaded {
                dataset: tiny_imagenet::read_split(&top, train)?,
                embedded_subset: false,
            })
        }
    }
}

const EMBEDDED_TRAIN_IMAGES: &[u8] =
    include_bytes!("../../../../datasets/embedded/mnist/train-images-idx3-ubyte.gz");
const EMBEDDED_TRAIN_LABELS: &[u8] =
    include_bytes!("../../../../datasets/embedded/mnist/train-labels-idx1-ubyte.gz");
const EMBEDDED_TEST_IMAGES: &[u8] =
    include_bytes!("../../../../datasets/embedded/mnist/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] =
    include_bytes!("../../../../datasets/embedded/mnist/t10k-labels-idx1-ubyte.gz");

fn gunzip(bytes: &[u8], name: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| Error::Malformed {
            path: name.into(),
            what: format!("embedded gzip is corrupt: {e}"),
        })?;
    Ok(out)
}

/// The embedded real-MNIST subset: the first 10000 training and 2000 test images.
pub fn embedded_mnist(split: Split) -> Result<ImageDataset, Error> {
    let (imgs, labs, prefix) = match split {
        Split::Test => (EMBEDDED_TEST_IMAGES, EMBEDDED_TEST_LABELS, "t10k"),
        _ => (EMBEDDED_TRAIN_IMAGES, EMBEDDED_TRAIN_LABELS, "train"),
    };
    let ipath = PathBuf::from(format!("<embedded>/mnist/{prefix}-images-idx3-ubyte.gz"));
    let lpath = PathBuf::from(format!("<embedded>/mnist/{prefix}-labels-idx1-ubyte.gz"));
    let images = idx::parse_images(&gunzip(imgs, &ipath)?, &ipath)?;
    let labels = idx::parse_labels(&gunzip(labs, &lpath)?, &lpath, 10)?;
    Ok(ImageDataset::new(
        &format!("mnist-subset/{prefix}"),
        images.pixels,
        labels,
        [1, images.rows, images.cols],
        10,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_subset_is_real_mnist() {
        let train = embedded_mnist(Split::Train).unwrap();
        let test = embedded_mnist(Split::Test).unwrap();
        assert_eq!((train.len(), test.len()), (10_000, 2_000));
        assert_eq!(train.shape, [1, 28, 28]);
        assert_eq!(&train.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        assert_eq!(&test.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    }

    #[test]
    fn missing_dataset_error_carries_the_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let args = DataArgs {
            data_dir: Some(dir.path().into()),
            subset: false,
        };
        let err = load(DatasetName::Cifar10, Split::Train, &args)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo xtask fetch cifar10 --dir"), "{err}");
        let err = load(DatasetName::FashionMnist, Split::Test, &args)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo xtask fetch fashion-mnist"), "{err}");
        let err = load(DatasetName::TinyImagenet, Split::Test, &args)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cargo xtask fetch tiny-imagenet --dir")
                && err.contains(
                    &dir.path()
                        .join("tiny-imagenet/tiny-imagenet-200")
                        .display()
                        .to_string()
                ),
            "{err}"
        );
        // MNIST falls back to the embedded subset instead.
        let loaded = load(DatasetName::Mnist, Split::Test, &args).unwrap();
        assert!(loaded.embedded_subset);
    }

    #[test]
    fn data_dir_flag_wins_and_reads_raw_idx() {
        let dir = tempfile::tempdir().unwrap();
        let fm = dir.path().join("fashion-mnist");
        std::fs::create_dir_all(&fm).unwrap();
        std::fs::write(
            fm.join("t10k-images-idx3-ubyte"),
            idx::encode_images(2, 2, 2, &[1; 8]),
        )
        .unwrap();
        std::fs::write(fm.join("t10k-labels-idx1-ubyte"), idx::encode_labels(&[3, 4])).unwrap();
        let args = DataArgs {
            data_dir: Some(dir.path().into()),
            subset: false,
        };
        let loaded = load(DatasetName::FashionMnist, Split::Test, &args).unwrap();
        assert_eq!(loaded.dataset.labels(), &[3, 4]);
        assert!(!loaded.embedded_subset);
    }

    #[test]
    fn tiny_imagenet_loads_through_the_rule_and_names_parse() {
        let dir = tempfile::tempdir().unwrap();
        tiny_imagenet::tests::fake_tree(&dir.path().join("tiny-imagenet"));
        let args = DataArgs {
            data_dir: Some(dir.path().into()),
            subset: false,
        };
        let train = load(DatasetName::TinyImagenet, Split::Train, &args).unwrap();
        assert_eq!((train.dataset.len(), train.dataset.shape), (6, [3, 64, 64]));
        let test = load(DatasetName::TinyImagenet, Split::Test, &args).unwrap();
        assert_eq!(test.dataset.labels(), &[2, 0, 1, 2]);
        assert!(load(DatasetName::TinyImagenet, Split::Unlabeled, &args).is_err());
        let name: DatasetName = serde_json::from_str("\"tiny-imagenet\"").unwrap();
        assert_eq!(name, DatasetName::TinyImagenet);
        assert_eq!(
            <DatasetName as clap::ValueEnum>::from_str("tiny-imagenet", false),
            Ok(DatasetName::TinyImagenet)
        );
    }

    /// Reads the real MNIST beside the repository (`../shared/datasets/mnist`) and checks it end
    /// to end. Skipped with a notice when absent, except under CI (`$CI` set), which provides
    /// it (see `.ci/run`): there a missing directory fails.
    #[test]
    fn real_mnist_from_shared_when_present() {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
        if !shared.join("mnist").is_dir() {
            let message = format!("no MNIST at {}", shared.join("mnist").display());
            assert!(
                std::env::var_os("CI").is_none(),
                "{message}: CI provides it (see .ci/run)"
            );
            eprintln!("skipped: {message}");
            return;
        }
        let args = DataArgs {
            data_dir: Some(shared),
            subset: false,
        };
        let train = load(DatasetName::Mnist, Split::Train, &args).unwrap();
        assert!(!train.embedded_subset);
        assert_eq!(train.dataset.len(), 60_000);
        let test = load(DatasetName::Mnist, Split::Test, &args).unwrap().dataset;
        assert_eq!(test.len(), 10_000);
        let sub = embedded_mnist(Split::Test).unwrap();
        assert_eq!(test.image(1999), sub.image(1999));
    }
}
