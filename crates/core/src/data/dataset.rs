//! In-memory image datasets with seeded shuffling and splits.

use burn::data::dataset::{Dataset, DatasetError};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// One image as bytes in CHW order with its label.
#[derive(Debug, Clone)]
pub struct ImageItem {
    /// `C × H × W` bytes.
    pub pixels: Vec<u8>,
    /// Class index.
    pub label: u8,
}

/// A labelled image dataset held in memory as bytes (`N × C × H × W`, row-major).
#[derive(Debug, Clone)]
pub struct ImageDataset {
    /// Where it came from, e.g. `mnist/train` or `mnist-subset/train`.
    pub name: String,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Number of classes (labels are below it).
    pub num_classes: usize,
}

impl ImageDataset {
    /// Wraps pixels and labels; panics if their sizes disagree (readers check before this).
    pub fn new(name: &str, pixels: Vec<u8>, labels: Vec<u8>, shape: [usize; 3], num_classes: usize) -> Self {
        let per = shape.iter().product::<usize>();
        assert_eq!(
            pixels.len(),
            labels.len() * per,
            "{name}: pixel and label counts disagree"
        );
        Self {
            name: name.into(),
            pixels,
            labels,
            shape,
            num_classes,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_size(&self) -> usize {
        self.shape.iter().product()
    }

    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_size();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The label of image `i`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// A new dataset of the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize], name: &str) -> Self {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_size());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        Self::new(name, pixels, labels, self.shape, self.num_classes)
    }

    /// The first `n` images (all of them if there are fewer).
    pub fn take(&self, n: usize) -> Self {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.select(&idx, &self.name)
    }

    /// Splits off a validation set of `fraction` of the images, chosen by a seeded shuffle.
    pub fn split(&self, fraction: f64, seed: u64) -> (Self, Self) {
        assert!(
            (0.0..1.0).contains(&fraction),
            "validation fraction must be in [0, 1)"
        );
        let idx = shuffled(self.len(), seed);
        let n_val = (self.len() as f64 * fraction).round() as usize;
        let (val, train) = idx.split_at(n_val);
        (
            self.select(train, &format!("{}[train-split]", self.name)),
            self.select(val, &format!("{}[val-split]", self.name)),
        )
    }

    /// Per-channel mean and standard deviation of the pixels scaled to [0, 1].
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.shape;
        let plane = h * w;
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for img in self.pixels.chunks_exact(c * plane) {
            for ch in 0..c {
                for &p in &img[ch * plane..(ch + 1) * plane] {
                    let v = p as f64 / 255.0;
                    sum[ch] += v;
                    sq[ch] += v * v;
                }
            }
        }
        let n = (self.len() * plane) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / n - m * m).max(0.0)).sqrt() as f32)
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), std)
    }
}

/// A seeded permutation of `0..n` (the same seed always gives the same order).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(seed));
    idx
}

/// Index batches of one epoch: shuffled with `seed` (mixed with the epoch) unless `seed` is `None`.
pub fn epoch_batches(
    n: usize,
    batch_size: usize,
    seed: Option<u64>,
    epoch: usize,
    drop_last: bool,
) -> Vec<Vec<usize>> {
    let idx = match seed {
        Some(s) => shuffled(
            n,
            s.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(epoch as u64),
        ),
        None => (0..n).collect(),
    };
    idx.chunks(batch_size.max(1))
        .filter(|c| !drop_last || c.len() == batch_size)
        .map(|c| c.to_vec())
        .collect()
}

impl Dataset<ImageItem> for ImageDataset {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        // Out-of-bounds indices panic, as Burn's `Dataset` contract says.
        Ok(ImageItem {
            pixels: self.image(index).to_vec(),
            label: self.label(index),
        })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> ImageDataset {
        let pixels = (0..n * 4).map(|i| i as u8).collect();
        let labels = (0..n).map(|i| (i % 3) as u8).collect();
        ImageDataset::new("toy", pixels, labels, [1, 2, 2], 3)
    }

    /// `n` images whose four bytes are distinct for every index below 65536: the index as
    /// little-endian u16, then its label and a checksum byte.
    fn numbered(n: usize) -> ImageDataset {
        let label = |i: usize| (i % 7) as u8;
        let pixels = (0..n)
            .flat_map(|i| [i as u8, (i >> 8) as u8, label(i), (i.wrapping_mul(37) >> 3) as u8])
            .collect();
        let labels = (0..n).map(label).collect();
        ImageDataset::new("numbered", pixels, labels, [1, 2, 2], 7)
    }

    /// The indices `numbered` encoded in `ds`, checking each image against its label and checksum.
    fn indices(ds: &ImageDataset) -> Vec<usize> {
        (0..ds.len())
            .map(|k| {
                let img = ds.image(k);
                let i = img[0] as usize | (img[1] as usize) << 8;
                assert_eq!(img[2], ds.label(k), "{}: image {k} has another's label", ds.name);
                assert_eq!(
                    img[3],
                    (i.wrapping_mul(37) >> 3) as u8,
                    "{}: image {k} is garbled",
                    ds.name
                );
                i
            })
            .collect()
    }

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        // more than 256 images, so an index that wrapped at one byte would show
        let n = 600;
        let ds = numbered(n);
        let (train, val) = ds.split(0.2, 7);
        assert_eq!((train.len(), val.len()), (480, 120));
        let (train_idx, val_idx) = (indices(&train), indices(&val));
        // every image exactly once across the two parts
        let mut all: Vec<usize> = train_idx.iter().chain(&val_idx).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
        // shuffled, not the first or last fifth
        assert_ne!(val_idx, (0..120).collect::<Vec<_>>());
        assert_ne!(val_idx, (480..600).collect::<Vec<_>>());
        // the same seed gives the same split, another seed another one
        let (train2, val2) = ds.split(0.2, 7);
        assert_eq!(
            (indices(&train2), indices(&val2)),
            (train_idx.clone(), val_idx.clone())
        );
        let (_, val3) = ds.split(0.2, 8);
        assert_ne!(indices(&val3), val_idx);
    }

    #[test]
    fn epochs_reshuffle_and_cover_everything() {
        let e0 = epoch_batches(10, 3, Some(1), 0, false);
        let e1 = epoch_batches(10, 3, Some(1), 1, false);
        assert_eq!(e0.len(), 4);
        assert_ne!(e0, e1);
        let mut all: Vec<usize> = e0.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(epoch_batches(10, 3, None, 0, true).len(), 3);
    }

    #[test]
    fn burn_dataset_get_returns_the_item() {
        let ds = toy(3);
        let item = Dataset::get(&ds, 2).unwrap();
        assert_eq!((item.label, item.pixels[0]), (2, 8));
    }
}
