//! Tiny-ImageNet (CS231n, Stanford) as unzipped from the official `tiny-imagenet-200.zip`:
//!
//! | path under `tiny-imagenet-200/` | contents |
//! |---|---|
//! | `wnids.txt` | the 200 WordNet ids, one per line; a class's label is its line index |
//! | `words.txt` | optional: `wnid<TAB>names` for (many more than) the 200 ids |
//! | `train/<wnid>/images/<wnid>_<n>.JPEG` | 500 training images per class, 64×64 |
//! | `train/<wnid>/<wnid>_boxes.txt` | bounding boxes (ignored) |
//! | `val/images/val_<n>.JPEG`, `val/val_annotations.txt` | 10000 images; `file<TAB>wnid<TAB>4 box ints` per line |
//! | `test/images/` | 10000 images without labels (ignored) |
//!
//! The official validation set has labels and the test set does not, so [`read_split`] with
//! `train = false` reads `val/` (as the GloRo reference does: its "test" is this val set).
//! Every image becomes 3×64×64 bytes in CHW order; the few grayscale JPEGs of the release
//! become three equal channels. JPEGs are decoded in parallel.

use super::dataset::ImageDataset;
use crate::error::Error;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The folder the official archive unpacks into.
pub const TOP_DIR: &str = "tiny-imagenet-200";
/// Image side in pixels.
pub const SIDE: usize = 64;
/// Bytes of one image: 3×64×64.
pub const IMAGE: usize = 3 * SIDE * SIDE;
/// Classes of the official release.
pub const CLASSES: usize = 200;

/// Reads `wnids.txt` from the `tiny-imagenet-200` folder: the class ids in label order.
pub fn read_wnids(dir: &Path) -> Result<Vec<String>, Error> {
    let path = dir.join("wnids.txt");
    if !path.is_file() {
        return Err(Error::Malformed {
            path,
            what: format!(
                "missing: expected the WordNet ids of the {CLASSES} classes, one per line \
                 (is {} an extracted {TOP_DIR} folder?)",
                dir.display()
            ),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(Error::read(&path))?;
    let mut wnids: Vec<String> = Vec::new();
    let mut seen = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        if id.contains(char::is_whitespace) {
            return Err(Error::Line {
                path,
                line: i + 1,
                what: format!("expected one WordNet id, found {id:?}"),
            });
        }
        if let Some(first) = seen.insert(id.to_owned(), i + 1) {
            return Err(Error::Line {
                path,
                line: i + 1,
                what: format!("wnid {id} repeats line {first}"),
            });
        }
        wnids.push(id.to_owned());
    }
    if wnids.is_empty() || wnids.len() > 256 {
        return Err(Error::Malformed {
            path,
            what: format!(
                "{} class ids; expected between 1 and 256 ({CLASSES} in the official release)",
                wnids.len()
            ),
        });
    }
    Ok(wnids)
}

/// Class names from `words.txt` for `wnids`, in label order (`None` when the file is absent;
/// an id it does not list is named by the id itself).
pub fn read_class_names(dir: &Path, wnids: &[String]) -> Result<Option<Vec<String>>, Error> {
    let path = dir.join("words.txt");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(Error::read(&path))?;
    let words: HashMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(id, names)| (id.trim(), names.trim()))
        .collect();
    Ok(Some(
        wnids
            .iter()
            .map(|id| words.get(id.as_str()).map_or(id.clone(), |n| (*n).to_owned()))
            .collect(),
    ))
}

/// `n01443537_12.JPEG` sorts by its number, so files come in the release's order.
fn image_order(path: &Path) -> (u64, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
    let number = stem
        .rsplit_once('_')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(u64::MAX);
    (number, name)
}

fn is_jpeg(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jpeg") || e.eq_ignore_ascii_case("jpg"))
}

/// The training images with their labels: `train/<wnid>/images/*.JPEG` for each class in
/// `wnids.txt` order, each folder in file-number order.
fn train_items(dir: &Path, wnids: &[String]) -> Result<Vec<(PathBuf, u8)>, Error> {
    let mut items = Vec::new();
    for (label, id) in wnids.iter().enumerate() {
        let folder = dir.join("train").join(id).join("images");
        if !folder.is_dir() {
            return Err(Error::Malformed {
                path: folder,
                what: format!(
                    "missing folder: expected the training JPEGs of class {id} (line {} of wnids.txt)",
                    label + 1
                ),
            });
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map_err(Error::read(&folder))?
            .map(|e| e.map(|e| e.path()).map_err(Error::read(&folder)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|p| is_jpeg(p) && p.is_file())
            .collect();
        if files.is_empty() {
            return Err(Error::Malformed {
                path: folder,
                what: format!("no .JPEG images for class {id}"),
            });
        }
        files.sort_by_cached_key(|p| image_order(p));
        items.extend(files.into_iter().map(|p| (p, label as u8)));
    }
    Ok(items)
}

/// The validation images with their labels, in the order of `val/val_annotations.txt`.
fn val_items(dir: &Path, wnids: &[String]) -> Result<Vec<(PathBuf, u8)>, Error> {
    let path = dir.join("val").join("val_annotations.txt");
    if !path.is_file() {
        return Err(Error::Malformed {
            path,
            what: "missing: expected one `file<TAB>wnid<TAB>x0 y0 x1 y1` line per validation image".into(),
        });
    }
    let labels: HashMap<&str, u8> = wnids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i as u8))
        .collect();
    let text = std::fs::read_to_string(&path).map_err(Error::read(&path))?;
    let images = dir.join("val").join("images");
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_err = |what: String| Error::Line {
            path: path.clone(),
            line: i + 1,
            what,
        };
        let mut fields = line.split('\t').map(str::trim);
        let (Some(file), Some(id)) = (fields.next(), fields.next()) else {
            return Err(line_err(format!(
                "expected `file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1`, found {line:?}"
            )));
        };
        if file.is_empty() || file.contains(['/', '\\']) || file.starts_with('.') {
            return Err(line_err(format!("{file:?} is not a file name")));
        }
        let Some(&label) = labels.get(id) else {
            return Err(line_err(format!(
                "unknown wnid {id:?} for {file} (not in {})",
                dir.join("wnids.txt").display()
            )));
        };
        items.push((images.join(file), label));
    }
    if items.is_empty() {
        return Err(Error::Malformed {
            path,
            what: "no annotated validation images".into(),
        });
    }
    Ok(items)
}

/// Decodes one JPEG file into 3×64×64 CHW bytes, writing them into `out`.
pub fn decode_into(path: &Path, out: &mut [u8]) -> Result<(), Error> {
    let bytes = std::fs::read(path).map_err(Error::read(path))?;
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).map_err(|e| {
        Error::Malformed {
            path: path.into(),
            what: format!("not a decodable JPEG: {e}"),
        }
    })?;
    let (w, h) = (image.width() as usize, image.height() as usize);
    if (w, h) != (SIDE, SIDE) {
        return Err(Error::Malformed {
            path: path.into(),
            what: format!("image is {w}×{h}, expected {SIDE}×{SIDE}"),
        });
    }
    let rgb = image.to_rgb8();
    let plane = SIDE * SIDE;
    for (p, px) in rgb.as_raw().chunks_exact(3).enumerate() {
        out[p] = px[0];
        out[plane + p] = px[1];
        out[2 * plane + p] = px[2];
    }
    Ok(())
}

/// Decodes every item in parallel into one `N × 3 × 64 × 64` buffer; the first error in
/// item order wins, so a bad file is reported the same way on every run.
fn decode_all(items: &[(PathBuf, u8)]) -> Result<Vec<u8>, Error> {
    let mut pixels = vec![0u8; items.len() * IMAGE];
    let errors: Vec<(usize, Error)> = pixels
        .par_chunks_mut(IMAGE)
        .zip(items.par_iter())
        .enumerate()
        .filter_map(|(i, (out, (path, _)))| decode_into(path, out).err().map(|e| (i, e)))
        .collect();
    match errors.into_iter().min_by_key(|(i, _)| *i) {
        Some((_, e)) => Err(e),
        None => Ok(pixels),
    }
}

/// Reads the training split (`train = true`) or the labelled validation split from the
/// `tiny-imagenet-200` folder `dir`.
pub fn read_split(dir: &Path, train: bool) -> Result<ImageDataset, Error> {
    let wnids = read_wnids(dir)?;
    let items = if train {
        train_items(dir, &wnids)?
    } else {
        val_items(dir, &wnids)?
    };
    let pixels = decode_all(&items)?;
    let labels = items.iter().map(|(_, l)| *l).collect();
    let name = if train {
        "tiny-imagenet/train"
    } else {
        "tiny-imagenet/val"
    };
    Ok(ImageDataset::new(
        name,
        pixels,
        labels,
        [3, SIDE, SIDE],
        wnids.len(),
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::ColorType;
    use image::codecs::jpeg::JpegEncoder;

    /// Colour of image `k`: one RGB triple per 32×32 quadrant (TL, TR, BL, BR). Quadrant
    /// edges fall on 8×8 (and 16×16 chroma) block boundaries, so every JPEG block is flat and
    /// decodes to within a few levels of the original.
    pub(crate) fn quadrants(k: usize) -> [[u8; 3]; 4] {
        let v = |q: usize, c: usize| ((k * 37 + q * 53 + c * 67 + 13) % 200 + 28) as u8;
        [0, 1, 2, 3].map(|q| [v(q, 0), v(q, 1), v(q, 2)])
    }

    fn quadrant_of(x: usize, y: usize, side: usize) -> usize {
        usize::from(y >= side / 2) * 2 + usize::from(x >= side / 2)
    }

    /// A JPEG of `side`×`side` quadrants; grayscale (one component) with the red values.
    pub(crate) fn jpeg(k: usize, side: usize, gray: bool) -> Vec<u8> {
        let q = quadrants(k);
        let mut raw = Vec::new();
        for y in 0..side {
            for x in 0..side {
                let c = q[quadrant_of(x, y, side)];
                if gray {
                    raw.push(c[0]);
                } else {
                    raw.extend_from_slice(&c);
                }
            }
        }
        let mut out = Vec::new();
        let color = if gray { ColorType::L8 } else { ColorType::Rgb8 };
        JpegEncoder::new_with_quality(&mut out, 95)
            .encode(&raw, side as u32, side as u32, color)
            .unwrap();
        out
    }

    pub(crate) const WNIDS: [&str; 3] = ["n02000001", "n01000002", "n03000003"];

    /// A miniature official tree: 3 classes (not in sorted order) × 2 training images, the
    /// second image of class 1 grayscale, 4 validation images and an unlabelled test image.
    /// Training image `j` of class `c` has colour index `10·c + j`, validation image `v`
    /// colour index `100 + v`, with classes `[2, 0, 1, 2]`.
    pub(crate) fn fake_tree(root: &Path) -> PathBuf {
        let dir = root.join(TOP_DIR);
        let w = |p: PathBuf, bytes: &[u8]| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        w(
            dir.join("wnids.txt"),
            format!("{}\n", WNIDS.join("\n")).as_bytes(),
        );
        w(
            dir.join("words.txt"),
            b"n00000009\tentity\nn02000001\tgoldfish, Carassius auratus\nn01000002\tsalamander\n",
        );
        for (c, id) in WNIDS.iter().enumerate() {
            // Written in reverse so that listing order differs from the expected order.
            for j in (0..2).rev() {
                let gray = c == 1 && j == 1;
                w(
                    dir.join(format!("train/{id}/images/{id}_{j}.JPEG")),
                    &jpeg(10 * c + j, SIDE, gray),
                );
            }
            w(dir.join(format!("train/{id}/{id}_boxes.txt")), b"");
        }
        let mut ann = String::new();
        for (v, c) in [2usize, 0, 1, 2].into_iter().enumerate() {
            w(
                dir.join(format!("val/images/val_{v}.JPEG")),
                &jpeg(100 + v, SIDE, false),
            );
            ann.push_str(&format!("val_{v}.JPEG\t{}\t0\t0\t63\t63\n", WNIDS[c]));
        }
        w(dir.join("val/val_annotations.txt"), ann.as_bytes());
        w(dir.join("test/images/test_0.JPEG"), &jpeg(999, SIDE, false));
        dir
    }

    /// Largest difference between `img` (CHW) and the quadrant colours of index `k`.
    pub(crate) fn max_error(img: &[u8], k: usize, gray: bool) -> u8 {
        let q = quadrants(k);
        let plane = SIDE * SIDE;
        let mut worst = 0;
        for c in 0..3 {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let col = q[quadrant_of(x, y, SIDE)];
                    let want = if gray { col[0] } else { col[c] };
                    worst = worst.max(img[c * plane + y * SIDE + x].abs_diff(want));
                }
            }
        }
        worst
    }

    /// JPEG at quality 95 with flat blocks: a few levels from colour conversion and rounding.
    const TOLERANCE: u8 = 4;

    #[test]
    fn train_labels_follow_wnids_and_pixels_round_trip() {
        let root = tempfile::tempdir().unwrap();
        let dir = fake_tree(root.path());
        let ds = read_split(&dir, true).unwrap();
        assert_eq!(ds.name, "tiny-imagenet/train");
        assert_eq!(ds.shape, [3, 64, 64]);
        assert_eq!(ds.num_classes, 3);
        assert_eq!(ds.labels(), &[0, 0, 1, 1, 2, 2]);
        for c in 0..3 {
            for j in 0..2 {
                let gray = c == 1 && j == 1;
                let err = max_error(ds.image(2 * c + j), 10 * c + j, gray);
                assert!(err <= TOLERANCE, "class {c} image {j}: off by {err}");
                // A different image's colours are far off: the check can fail.
                assert!(max_error(ds.image(2 * c + j), 10 * c + (1 - j), gray) > 10);
            }
        }
        // The grayscale JPEG has three equal channels.
        let g = ds.image(3);
        let plane = SIDE * SIDE;
        assert_eq!(&g[..plane], &g[plane..2 * plane]);
        assert_eq!(&g[..plane], &g[2 * plane..]);
        // A colour image does not.
        let c = ds.image(2);
        assert_ne!(&c[..plane], &c[plane..2 * plane]);
    }

    #[test]
    fn val_labels_follow_the_annotations() {
        let root = tempfile::tempdir().unwrap();
        let dir = fake_tree(root.path());
        let ds = read_split(&dir, false).unwrap();
        assert_eq!(ds.name, "tiny-imagenet/val");
        assert_eq!(ds.labels(), &[2, 0, 1, 2]);
        for v in 0..4 {
            let err = max_error(ds.image(v), 100 + v, false);
            assert!(err <= TOLERANCE, "val_{v}: off by {err}");
        }
        let wnids = read_wnids(&dir).unwrap();
        let names = read_class_names(&dir, &wnids).unwrap().unwrap();
        assert_eq!(names, ["goldfish, Carassius auratus", "salamander", "n03000003"]);
    }

    fn err_of(dir: &Path, train: bool) -> String {
        read_split(dir, train).unwrap_err().to_string()
    }

    #[test]
    fn unknown_wnid_in_the_annotations_names_file_and_line() {
        let root = tempfile::tempdir().unwrap();
        let dir = fake_tree(root.path());
        let ann = dir.join("val/val_annotations.txt");
        let text = std::fs::read_to_string(&ann)
            .unwrap()
            .replace("val_2.JPEG\tn01000002", "val_2.JPEG\tn09999999");
        std::fs::write(&ann, text).unwrap();
        let err = err_of(&dir, false);
        assert!(
            err.contains(&format!("{}:3:", ann.display())) && err.contains("unknown wnid \"n09999999\""),
            "{err}"
        );
        // The training split does not read the annotations.
        assert!(read_split(&dir, true).is_ok());
    }

    #[test]
    fn wrong_size_and_corrupt_jpegs_name_the_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = fake_tree(root.path());
        let small = dir.join(format!("train/{}/images/{}_1.JPEG", WNIDS[2], WNIDS[2]));
        std::fs::write(&small, jpeg(5, 32, false)).unwrap();
        let err = err_of(&dir, true);
        assert!(
            err.contains(&small.display().to_string()) && err.contains("32×32, expected 64×64"),
            "{err}"
        );

        let corrupt = dir.join("val/images/val_1.JPEG");
        let mut bytes = jpeg(101, SIDE, false);
        bytes.truncate(20);
        std::fs::write(&corrupt, bytes).unwrap();
        let err = err_of(&dir, false);
        assert!(
            err.contains(&corrupt.display().to_string()) && err.contains("not a decodable JPEG"),
            "{err}"
        );
        std::fs::write(&corrupt, b"this is not a JPEG at all").unwrap();
        let err = err_of(&dir, false);
        assert!(err.contains(&corrupt.display().to_string()), "{err}");

        std::fs::remove_file(&corrupt).unwrap();
        let err = err_of(&dir, false);
        assert!(
            err.contains(&corrupt.display().to_string()) && err.contains("cannot read"),
            "{err}"
        );
    }

    #[test]
    fn missing_files_and_folders_are_named() {
        let root = tempfile::tempdir().unwrap();
        let dir = fake_tree(root.path());
        let images = dir.join(format!("train/{}/images", WNIDS[1]));
        std::fs::remove_dir_all(&images).unwrap();
        let err = err_of(&dir, true);
        assert!(
            err.contains(&images.display().to_string())
                && err.contains("missing folder")
                && err.contains("line 2 of wnids.txt"),
            "{err}"
        );
        std::fs::remove_file(dir.join("val/val_annotations.txt")).unwrap();
        let err = err_of(&dir, false);
        assert!(err.contains("val_annotations.txt: missing"), "{err}");
        std::fs::remove_file(dir.join("wnids.txt")).unwrap();
        for train in [true, false] {
            let err = err_of(&dir, train);
            assert!(
                err.contains(&dir.join("wnids.txt").display().to_string()) && err.contains("missing"),
                "{err}"
            );
        }
    }

    #[test]
    fn repeated_wnid_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let dir = fake_tree(root.path());
        std::fs::write(dir.join("wnids.txt"), "n1\nn2\nn1\n").unwrap();
        let err = read_wnids(&dir).unwrap_err().to_string();
        assert!(err.contains("wnids.txt:3: wnid n1 repeats line 1"), "{err}");
    }

    #[test]
    fn files_sort_by_number() {
        let mut names: Vec<PathBuf> = ["a_10.JPEG", "a_2.JPEG", "a_1.JPEG"]
            .iter()
            .map(PathBuf::from)
            .collect();
        names.sort_by_cached_key(|p| image_order(p));
        assert_eq!(names, ["a_1.JPEG", "a_2.JPEG", "a_10.JPEG"].map(PathBuf::from));
    }
}
